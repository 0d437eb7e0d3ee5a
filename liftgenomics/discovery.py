"""De novo motif discovery: TF-MoDISco on contribution scores, patterns named by TOMTOM.

:func:`discover_motifs` runs modisco-lite (``modiscolite.tfmodisco.TFMoDISco``, in process) on a
one-hot file and a hypothetical-score file, both ``(N, 4, L)`` (the layout of ``liftgenomics
score`` and of the workflow's ``task{t}.hyp.npz``; modisco wants ``(N, L, 4)``, so both are
transposed). Every pattern of both metaclusters is trimmed like modisco's own report does (the
span whose summed absolute CWM reaches 30% of its maximum) and its trimmed position probability
matrix is compared with every motif of a MEME database by memelite's ``tomtom`` (the
"complete score" TOMTOM, both strands). We call ``tomtom`` ourselves instead of modisco-lite's
report path because that path either shells out to the MEME suite's ``tomtom`` binary or, in its
"tomtom-lite" branch, returns p-values of the top few targets only; we need a q-value for every
target (to grade named motifs) and no external program. q-values are Benjamini-Hochberg over all
targets of one query, as MEME's TOMTOM reports them per query.

Determinism: modisco-lite seeds its own random steps with constants (the Laplace null of seqlet
calling and the subsample of seqlets when patterns are merged use ``RandomState(1234)``; the
Leiden runs use seeds 100, 200, ...). :class:`DiscoveryOptions.seed` shifts the Leiden seeds
(seed 0 keeps modisco-lite's); the two 1234 draws are fixed inside modisco-lite and cannot be
varied from outside. Its numba kernels parallelise over independent rows, so the result does not
depend on the thread count; same inputs, options and library versions give the same patterns.

Outputs (:func:`write_discovery`): ``modisco.h5`` (modisco-lite's own format), ``patterns.tsv``,
``seqlets.tsv``, ``tomtom.tsv``, ``logos/{pattern}.cwm.png`` and ``.pwm.png``, ``motifs.html``.
"""

from __future__ import annotations

import contextlib
import html
import os
import shutil
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.motifs import Motif, load_encode_compendium, read_meme

#: Fraction of the largest per-position |CWM| that a position must reach to survive trimming
#: (modisco-lite's report uses the same 0.3).
TRIM_THRESHOLD = 0.3
#: TOMTOM q-value below which a pattern is said to match a motif.
Q_THRESHOLD = 0.05
#: tomtom.tsv keeps, per pattern, every target with a q-value at or below this (and the top
#: matches regardless), so that any named motif's q-value can be looked up later.
KEEP_Q = 0.5
PATTERN_COLUMNS = ("pattern", "sign", "rank", "n_seqlets", "trim_start", "trim_end", "consensus")
SEQLET_COLUMNS = ("region", "row", "start", "end", "strand", "pattern")


@dataclass
class DiscoveryOptions:
    """TF-MoDISco and TOMTOM settings (the modisco-lite defaults unless said otherwise).

    Attributes:
        window: Seqlet core width (modisco's ``sliding_window_size``).
        flank: Bases added to each side of a seqlet core (``flank_size``).
        max_seqlets: Most seqlets per metacluster (``max_seqlets_per_metacluster``).
        min_seqlets: A metacluster needs more seqlets than this to be clustered
            (``min_metacluster_size``).
        min_pattern_seqlets: Fewest seqlets a final pattern keeps (``final_min_cluster_size``).
        leiden_runs: Leiden runs per clustering; the best partition wins (``n_leiden_runs``;
            modisco-lite's command line uses 2, its Python default is 50).
        seed: Shifts the Leiden seeds; 0 gives modisco-lite's own.
        top_matches: TOMTOM matches listed per pattern in ``patterns.tsv``.
        trim_threshold: See :data:`TRIM_THRESHOLD`.
        extra: Further keyword arguments for ``TFMoDISco`` (e.g. ``trim_to_window_size``).
    """

    window: int = 21
    flank: int = 10
    max_seqlets: int = 20000
    min_seqlets: int = 100
    min_pattern_seqlets: int = 20
    leiden_runs: int = 2
    seed: int = 0
    top_matches: int = 3
    trim_threshold: float = TRIM_THRESHOLD
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        """Raise :class:`LiftGenomicsError` for a setting out of range."""
        for name in ("window", "max_seqlets", "min_pattern_seqlets", "leiden_runs", "top_matches"):
            if getattr(self, name) < 1:
                raise LiftGenomicsError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("flank", "min_seqlets", "seed"):
            if getattr(self, name) < 0:
                raise LiftGenomicsError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.trim_threshold <= 1.0:
            raise LiftGenomicsError(f"trim_threshold must be in (0, 1], got {self.trim_threshold}")


@dataclass
class Pattern:
    """One TF-MoDISco pattern.

    Attributes:
        name: ``pos_{i}`` or ``neg_{i}`` (modisco's ``pattern_{i}`` in that metacluster).
        sign: ``"+"`` (positive metacluster) or ``"-"``.
        ppm: ``(W, 4)`` position probability matrix (A, C, G, T).
        cwm: ``(W, 4)`` mean actual contributions.
        hcwm: ``(W, 4)`` mean hypothetical contributions.
        trim: ``(start, end)`` of the trimmed core within the pattern.
        seqlets: ``(row, start, end, is_revcomp)`` of every seqlet, the full pattern width.
    """

    name: str
    sign: str
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    trim: tuple[int, int]
    seqlets: list[tuple[int, int, int, bool]]

    @property
    def trimmed_ppm(self) -> np.ndarray:
        """The PPM of the trimmed core (what TOMTOM sees)."""
        return self.ppm[self.trim[0] : self.trim[1]]

    @property
    def consensus(self) -> str:
        """Argmax base of each trimmed position."""
        return "".join("ACGT"[i] for i in self.trimmed_ppm.argmax(axis=1))


@dataclass
class Discovery:
    """What :func:`discover_motifs` found.

    Attributes:
        patterns: Patterns by decreasing seqlet count (positive first on ties).
        patterns_table: ``patterns.tsv`` rows.
        seqlets_table: ``seqlets.tsv`` rows (trimmed-core coordinates).
        matches: ``tomtom.tsv`` rows (pattern, target, p_value, q_value, match_rank).
        raw: modisco's (positive, negative) pattern lists, for ``save_hdf5``.
    """

    patterns: list[Pattern]
    patterns_table: pd.DataFrame
    seqlets_table: pd.DataFrame
    matches: pd.DataFrame
    raw: tuple


# --------------------------------------------------------------------------- inputs


def _load_array(path: str | os.PathLike, kind: str) -> np.ndarray:
    """The first array of an ``np.savez_compressed`` file, checked to be (N, 4, L).

    Read here rather than with the attribution package's reader so that ``liftgenomics motifs``
    does not import torch (seconds of start-up for nothing).
    """
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: {kind} file not found")
    try:
        with np.load(path) as archive:
            array = archive[archive.files[0]]
    except (OSError, ValueError, IndexError, EOFError) as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({error})") from None
    if array.ndim != 3 or array.shape[1] != 4 or array.shape[0] == 0:
        raise LiftGenomicsError(f"{path}: expected a {kind} array (N, 4, L), found {array.shape}")
    return array.astype(np.float32, copy=False)


def load_inputs(ohe_path: str | os.PathLike, hyp_path: str | os.PathLike) -> tuple:
    """The one-hot and hypothetical arrays, checked to be ``(N, 4, L)`` of equal shape."""
    one_hot = _load_array(ohe_path, "one-hot")
    hypothetical = _load_array(hyp_path, "hypothetical-score")
    if one_hot.shape != hypothetical.shape:
        raise LiftGenomicsError(
            f"{hyp_path}: hypothetical scores {hypothetical.shape} do not match the one-hot "
            f"sequences {one_hot.shape} of {ohe_path}"
        )
    if not np.isfinite(hypothetical).all():
        raise LiftGenomicsError(f"{hyp_path}: hypothetical scores contain NaN or infinity")
    return one_hot, hypothetical


def region_names(ohe_path: str | os.PathLike, n: int) -> list[str]:
    """Names of the ``n`` rows: a ``score`` output's ``regions.tsv`` beside ``ohe.npz``, or the
    simulation's ``{split}.classes.tsv`` beside ``{split}.ohe.npz``, else ``row{i}``."""
    path = Path(ohe_path)
    candidates = [path.parent / "regions.tsv"]
    if path.name.endswith(".ohe.npz"):
        candidates.insert(0, path.parent / (path.name[: -len(".ohe.npz")] + ".classes.tsv"))
    for candidate in candidates:
        if candidate.is_file():
            table = pd.read_csv(candidate, sep="\t", dtype=str, usecols=[0])
            if len(table) == n:
                return table.iloc[:, 0].tolist()
    return [f"row{i}" for i in range(n)]


def labelled_rows(
    names: Sequence[str], labels_path: str | os.PathLike, column: str
) -> np.ndarray:
    """Indices of the rows labelled 1 in ``column`` (a name, or the 0-based index of a label
    column) of a labels TSV (first column: row names, as ``simulate`` writes
    ``{split}.labels.tsv``), in the rows' order.

    TF-MoDISco is run on the sequences where the task is active, as on peaks.

    Raises:
        LiftGenomicsError: for an unreadable file, a missing column, values other than 0/1,
            or names that do not match the rows.
    """
    path = Path(labels_path)
    try:
        table = pd.read_csv(path, sep="\t", dtype={0: str})
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise LiftGenomicsError(f"{path}: not a readable labels TSV ({error})") from None
    columns = list(table.columns[1:])
    if column not in columns and column.isdigit() and int(column) < len(columns):
        column = columns[int(column)]  # a task index, as the workflow names tasks
    if column not in columns:
        raise LiftGenomicsError(
            f"{path}: no label column {column!r} (columns: {columns}, or their index)"
        )
    values = table[column]
    if not values.isin([0, 1]).all():
        raise LiftGenomicsError(f"{path}: column {column!r} must hold only 0 and 1")
    labels = dict(zip(table.iloc[:, 0].astype(str), values.astype(int), strict=True))
    missing = [name for name in names if name not in labels]
    if missing:
        raise LiftGenomicsError(
            f"{path}: {len(missing)} of the {len(names)} rows have no label (first: "
            f"{missing[0]!r}); the first column must name the rows of the one-hot file"
        )
    return np.array([row for row, name in enumerate(names) if labels[name] == 1], dtype=int)


def load_database(path: str | os.PathLike | None) -> dict[str, Motif]:
    """The MEME database, or the whole ENCODE compendium when ``path`` is None."""
    return load_encode_compendium() if path is None else read_meme(path)


# --------------------------------------------------------------------------- modisco


@contextlib.contextmanager
def seeded_leiden(seed: int) -> Iterator[None]:
    """Run modisco-lite's Leiden clustering with seeds shifted by ``seed``.

    modisco-lite tries seeds 100, 200, ..., 100 n and keeps the partition of best quality; here
    run k uses ``100 (seed n + k)``, so seed 0 is modisco-lite's own choice. Both modules that
    cluster look ``cluster.LeidenCluster`` up at call time, so swapping the attribute suffices.
    """
    from modiscolite import cluster

    original = cluster.LeidenCluster

    def leiden(affinity_mat, n_seeds=2, n_leiden_iterations=-1):
        import igraph as ig
        import leidenalg

        n_vertices = affinity_mat.shape[0]
        sources = np.repeat(np.arange(n_vertices, dtype=np.int32), np.diff(affinity_mat.indptr))
        graph = ig.Graph(directed=None)
        graph.add_vertices(n_vertices)
        graph.add_edges(zip(sources, affinity_mat.indices, strict=True))
        best, best_quality = None, None
        for k in range(1, n_seeds + 1):
            partition = leidenalg.find_partition(
                graph=graph,
                partition_type=leidenalg.ModularityVertexPartition,
                weights=affinity_mat.data,
                n_iterations=n_leiden_iterations,
                initial_membership=None,
                seed=100 * (seed * n_seeds + k),
            )
            quality = partition.quality()
            if best_quality is None or quality > best_quality:
                best, best_quality = np.array(partition.membership), quality
        return best

    cluster.LeidenCluster = original if seed == 0 else leiden
    try:
        yield
    finally:
        cluster.LeidenCluster = original


def cache_kernels() -> None:
    """Let numba cache modisco-lite's kernels on disk.

    modisco-lite compiles its numba kernels without ``cache=True``, so every process spends
    most of a small run (tens of seconds) compiling them again. Turning caching on before the
    first call makes the next processes load them from numba's cache (``__pycache__`` beside
    the package, or ``NUMBA_CACHE_DIR``). Where there is nowhere to write, nothing changes.
    """
    from modiscolite import affinitymat, gapped_kmer, util
    from numba.core.dispatcher import Dispatcher

    for module in (affinitymat, gapped_kmer, util):
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher) and not kernel.overloads:
                with contextlib.suppress(Exception):
                    kernel.enable_caching()


def run_modisco(one_hot: np.ndarray, hypothetical: np.ndarray, options: DiscoveryOptions) -> tuple:
    """modisco-lite's ``TFMoDISco`` on ``(N, 4, L)`` arrays; returns (positive, negative),
    ``(None, None)`` when the scores hold too little signal for any seqlet."""
    from modiscolite.tfmodisco import TFMoDISco

    options.check()
    cache_kernels()
    # modisco's layout is (N, L, 4); float32 contiguous arrays for its numba kernels.
    X = np.ascontiguousarray(one_hot.transpose(0, 2, 1), dtype=np.float32)
    H = np.ascontiguousarray(hypothetical.transpose(0, 2, 1), dtype=np.float32)
    settings = {
        "sliding_window_size": options.window,
        "flank_size": options.flank,
        "max_seqlets_per_metacluster": options.max_seqlets,
        "min_metacluster_size": options.min_seqlets,
        "final_min_cluster_size": options.min_pattern_seqlets,
        "n_leiden_runs": options.leiden_runs,
        **options.extra,
    }
    with seeded_leiden(options.seed), np.errstate(all="ignore"):
        try:
            return TFMoDISco(one_hot=X, hypothetical_contribs=H, **settings)
        except (ZeroDivisionError, IndexError) as error:
            # modisco-lite's seqlet thresholds divide by, or take quantiles of, a null
            # distribution that is empty when the scores hold (almost) no signal: nothing to
            # find. The same errors anywhere else are bugs and propagate.
            if not _raised_in(error, "extract_seqlets.py"):
                raise
            return None, None


def _raised_in(error: BaseException, filename: str) -> bool:
    """Whether ``error`` passed through a frame of a file named ``filename``."""
    frames = traceback.extract_tb(error.__traceback__)
    return any(Path(frame.filename).name == filename for frame in frames)


def trim_bounds(cwm: np.ndarray, threshold: float = TRIM_THRESHOLD) -> tuple[int, int]:
    """``[start, end)`` from the first to the last position whose summed |CWM| reaches
    ``threshold`` times the maximum (modisco-lite's report trimming)."""
    score = np.abs(np.asarray(cwm)).sum(axis=1)
    passing = np.flatnonzero(score >= score.max() * threshold)
    if passing.size == 0:  # an all-zero CWM: keep everything
        return 0, len(score)
    return int(passing[0]), int(passing[-1]) + 1


def trimmed_span(start: int, end: int, revcomp: bool, trim: tuple[int, int]) -> tuple[int, int]:
    """Sequence coordinates of a pattern's trimmed core inside one seqlet ``[start, end)``.

    A reverse-complement seqlet reads the sequence backwards, so its pattern offsets count
    from ``end`` (as ``modiscolite.core.Seqlet.trim`` does).
    """
    if revcomp:
        return end - trim[1], end - trim[0]
    return start + trim[0], start + trim[1]


def collect_patterns(raw: tuple, trim_threshold: float = TRIM_THRESHOLD) -> list[Pattern]:
    """Our :class:`Pattern` view of modisco's (positive, negative) lists, largest first."""
    patterns = []
    for sign, prefix, group in (("+", "pos", raw[0]), ("-", "neg", raw[1])):
        for index, pattern in enumerate(group or []):
            ppm = np.asarray(pattern.sequence, dtype=np.float64)
            ppm = ppm / np.maximum(ppm.sum(axis=1, keepdims=True), 1e-12)
            cwm = np.asarray(pattern.contrib_scores, dtype=np.float64)
            seqlets = [
                (int(s.example_idx), int(s.start), int(s.end), bool(s.is_revcomp))
                for s in pattern.seqlets
            ]
            patterns.append(
                Pattern(
                    name=f"{prefix}_{index}",
                    sign=sign,
                    ppm=ppm,
                    cwm=cwm,
                    hcwm=np.asarray(pattern.hypothetical_contribs, dtype=np.float64),
                    trim=trim_bounds(cwm, trim_threshold),
                    seqlets=seqlets,
                )
            )
    # Stable: positive before negative among equal counts.
    return sorted(patterns, key=lambda p: -len(p.seqlets))


# --------------------------------------------------------------------------- TOMTOM


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of one set of p-values (same order as given)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.clip(q_sorted, 0.0, 1.0)
    return q


def match_patterns(
    patterns: Sequence[Pattern], database: Mapping[str, Motif], top: int = 3
) -> pd.DataFrame:
    """TOMTOM (memelite) of every pattern's trimmed PPM against every database motif.

    Returns:
        Rows pattern, target, p_value, q_value, match_rank (1: the pattern's best p-value), kept
        when q <= :data:`KEEP_Q` or rank <= ``top``; sorted by pattern order then rank.
    """
    columns = ["pattern", "target", "p_value", "q_value", "match_rank"]
    if not patterns:
        return pd.DataFrame(columns=columns)
    from memelite import tomtom

    names = list(database)
    targets = [np.ascontiguousarray(database[n].probabilities.T) for n in names]
    queries = [np.ascontiguousarray(p.trimmed_ppm.T) for p in patterns]
    p_values = np.asarray(tomtom(queries, targets, n_jobs=1)[0], dtype=np.float64)
    frames = []
    for pattern, row in zip(patterns, p_values, strict=True):
        q = benjamini_hochberg(row)
        order = np.lexsort((np.arange(len(names)), row))  # by p, ties in database order
        ranks = np.empty(len(names), dtype=np.int64)
        ranks[order] = np.arange(1, len(names) + 1)
        keep = np.flatnonzero((q <= KEEP_Q) | (ranks <= top))
        keep = keep[np.argsort(ranks[keep])]
        frames.append(
            pd.DataFrame(
                {
                    "pattern": pattern.name,
                    "target": [names[i] for i in keep],
                    "p_value": row[keep],
                    "q_value": q[keep],
                    "match_rank": ranks[keep],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- tables


def patterns_table(
    patterns: Sequence[Pattern], matches: pd.DataFrame, top: int = 3
) -> pd.DataFrame:
    """``patterns.tsv``: one row per pattern with its ``top`` TOMTOM matches and q-values."""
    rows = []
    for rank, pattern in enumerate(patterns, start=1):
        row = {
            "pattern": pattern.name,
            "sign": pattern.sign,
            "rank": rank,
            "n_seqlets": len(pattern.seqlets),
            "trim_start": pattern.trim[0],
            "trim_end": pattern.trim[1],
            "consensus": pattern.consensus,
        }
        best = matches[matches["pattern"] == pattern.name].nsmallest(top, "match_rank")
        for k in range(top):
            present = k < len(best)
            row[f"match{k + 1}"] = best["target"].iloc[k] if present else ""
            row[f"q{k + 1}"] = float(best["q_value"].iloc[k]) if present else float("nan")
        rows.append(row)
    columns = list(PATTERN_COLUMNS)
    for k in range(1, top + 1):
        columns += [f"match{k}", f"q{k}"]
    return pd.DataFrame(rows, columns=columns)


def seqlets_table(
    patterns: Sequence[Pattern], names: Sequence[str], rows: Sequence[int] | None = None
) -> pd.DataFrame:
    """``seqlets.tsv``: each seqlet's trimmed core in sequence coordinates (0-based, end
    exclusive), strand ``-`` for reverse-complement seqlets. ``rows`` maps the rows TF-MoDISco
    saw back to the input's (all of them by default)."""
    table = []
    for pattern in patterns:
        for row, start, end, revcomp in pattern.seqlets:
            core_start, core_end = trimmed_span(start, end, revcomp, pattern.trim)
            original = int(rows[row]) if rows is not None else row
            table.append(
                (names[original], original, core_start, core_end, "-" if revcomp else "+",
                 pattern.name)
            )  # fmt: skip
    return pd.DataFrame(table, columns=list(SEQLET_COLUMNS))


# --------------------------------------------------------------------------- run + write


def discover_motifs(
    one_hot: np.ndarray,
    hypothetical: np.ndarray,
    database: Mapping[str, Motif],
    options: DiscoveryOptions | None = None,
    names: Sequence[str] | None = None,
    allow_empty: bool = False,
    rows: Sequence[int] | None = None,
) -> Discovery:
    """TF-MoDISco, then TOMTOM of every pattern against ``database``.

    Args:
        one_hot: ``(N, 4, L)`` one-hot sequences.
        hypothetical: ``(N, 4, L)`` hypothetical contributions.
        database: Motifs to name patterns by.
        options: TF-MoDISco and TOMTOM settings.
        names: Row names for ``seqlets.tsv`` (default ``row{i}``).
        allow_empty: Return an empty result instead of raising when nothing is found.
        rows: Only these rows (indices into ``one_hot``; see :func:`labelled_rows`);
            ``seqlets.tsv`` keeps the names and row numbers of the whole input.

    Raises:
        LiftGenomicsError: when no metacluster had enough seqlets or no pattern survived (unless
            ``allow_empty``).
    """
    options = options or DiscoveryOptions()
    options.check()
    names = list(names) if names is not None else [f"row{i}" for i in range(len(one_hot))]
    rows = np.arange(len(one_hot)) if rows is None else np.asarray(rows, dtype=int)
    if rows.size == 0:
        raise LiftGenomicsError("no sequences to discover motifs in: no row was selected")
    raw = run_modisco(one_hot[rows], hypothetical[rows], options)
    patterns = collect_patterns(raw, options.trim_threshold)
    if not patterns and not allow_empty:
        raise LiftGenomicsError(
            f"TF-MoDISco found no pattern in {len(rows)} sequences (too few seqlets: a "
            f"metacluster needs more than {options.min_seqlets}, a pattern "
            f"{options.min_pattern_seqlets}); score more sequences or lower --min-seqlets"
        )
    matches = match_patterns(patterns, database, options.top_matches)
    return Discovery(
        patterns=patterns,
        patterns_table=patterns_table(patterns, matches, options.top_matches),
        seqlets_table=seqlets_table(patterns, names, rows),
        matches=matches,
        raw=raw,
    )


def _draw_pattern_logos(pattern: Pattern, directory: Path) -> None:
    import matplotlib.pyplot as plt

    from liftgenomics.plots import _draw_logo, _save, information_content

    for kind, matrix, label in (
        ("cwm", pattern.cwm, "contribution"),
        ("pwm", information_content(pattern.ppm, np.full(4, 0.25)), "bits"),
    ):
        figure, axis = plt.subplots(figsize=(max(4.0, 0.3 * len(matrix)), 1.6))
        frame = pd.DataFrame(matrix, columns=list("ACGT"))
        _draw_logo(frame, axis)
        axis.axvspan(pattern.trim[0] - 0.5, pattern.trim[1] - 0.5, color="#eeeeee", zorder=-1)
        axis.axhline(0.0, color="black", linewidth=0.4)
        axis.set_title(f"{pattern.name} ({len(pattern.seqlets)} seqlets), {kind.upper()}")
        axis.set_ylabel(label, fontsize=7)
        _save(figure, directory / f"{pattern.name}.{kind}.png")


def _html_page(result: Discovery, source: str) -> str:
    rows = []
    for record in result.patterns_table.to_dict("records"):
        name = html.escape(record["pattern"])
        matches = "<br>".join(
            f"{html.escape(str(record[f'match{k}']))} (q={record[f'q{k}']:.2g})"
            for k in range(1, 100)
            if f"match{k}" in record and record[f"match{k}"]
        )
        rows.append(
            f"<tr><td>{record['rank']}</td><td>{name}</td><td>{record['sign']}</td>"
            f"<td>{record['n_seqlets']}</td><td><img src='logos/{name}.cwm.png'></td>"
            f"<td><img src='logos/{name}.pwm.png'></td><td>{matches or '–'}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='7'>No pattern was found.</td></tr>"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>TF-MoDISco "
        "patterns</title><style>body{font-family:sans-serif}td,th{border:1px solid #ccc;"
        "padding:4px}table{border-collapse:collapse}img{height:90px}</style></head><body>"
        f"<h1>TF-MoDISco patterns</h1><p>{html.escape(source)}. Grey: the trimmed core "
        "matched by TOMTOM (q: Benjamini-Hochberg over the database).</p><table><tr><th>rank"
        "</th><th>pattern</th><th>sign</th><th>seqlets</th><th>CWM</th><th>PWM</th><th>TOMTOM "
        f"matches</th></tr>{body}</table></body></html>\n"
    )


def write_discovery(
    result: Discovery, out_dir: str | os.PathLike, window: int, source: str = ""
) -> Path:
    """Write every output into ``out_dir`` at once: staged in a sibling temporary folder and
    moved in only when all are written, so a failure leaves ``out_dir`` untouched."""
    from modiscolite.io import save_hdf5

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_hdf5(str(staging / "modisco.h5"), result.raw[0], result.raw[1], window)
        result.patterns_table.to_csv(
            staging / "patterns.tsv", sep="\t", index=False, float_format="%.4g"
        )
        result.seqlets_table.to_csv(staging / "seqlets.tsv", sep="\t", index=False)
        result.matches.to_csv(staging / "tomtom.tsv", sep="\t", index=False, float_format="%.4g")
        (staging / "logos").mkdir()
        for pattern in result.patterns:
            _draw_pattern_logos(pattern, staging / "logos")
        (staging / "motifs.html").write_text(_html_page(result, source), encoding="utf-8")
        out.mkdir(exist_ok=True)
        for item in sorted(staging.iterdir()):
            target = out / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- grading


GRADE_COLUMNS = (
    "motif",
    "recovered",
    "pattern",
    "rank",
    "q_value",
    "n_seqlets",
    "seqlet_precision",
    "instance_recall",
    "n_patterns",
    "spurious_patterns",
)


def assign_patterns(
    patterns: pd.DataFrame, matches: pd.DataFrame, motifs: Sequence[str], q: float = Q_THRESHOLD
) -> dict[str, str | None]:
    """Each pattern's ground-truth motif: of ``motifs`` matched with TOMTOM q < ``q``, the one
    with the lowest q-value (then p-value); None when it matches none of them.

    One pattern names at most one motif, so a composite pattern (TAL1_known1 contains a GATA
    site) does not count as the discovery of both.
    """
    assigned: dict[str, str | None] = {}
    for name in patterns["pattern"]:
        hits = matches[
            (matches["pattern"] == name)
            & matches["target"].isin(list(motifs))
            & (matches["q_value"] < q)
        ]
        best = hits.sort_values(["q_value", "p_value"], kind="stable")
        assigned[name] = str(best["target"].iloc[0]) if len(best) else None
    return assigned


def _overlaps(
    seqlets: pd.DataFrame, instances: pd.DataFrame, motif: str | None = None
) -> np.ndarray:
    """For each seqlet row, whether it overlaps an instance (of ``motif``) in its region."""
    chosen = instances if motif is None else instances[instances["motif"] == motif]
    spans: dict[str, list[tuple[int, int]]] = {}
    for region, start, end in zip(chosen["id"], chosen["start"], chosen["end"], strict=True):
        spans.setdefault(str(region), []).append((int(start), int(end)))
    return np.array(
        [
            any(start < e and s < end for s, e in spans.get(str(region), ()))
            for region, start, end in zip(
                seqlets["region"], seqlets["start"], seqlets["end"], strict=True
            )
        ],
        dtype=bool,
    )


def grade_discovery(
    patterns: pd.DataFrame,
    seqlets: pd.DataFrame,
    matches: pd.DataFrame,
    instances: pd.DataFrame,
    positive_ids: Sequence[str],
    motifs: Sequence[str],
    q: float = Q_THRESHOLD,
) -> pd.DataFrame:
    """How well one TF-MoDISco run rediscovered the embedded motifs, one row per motif.

    Args:
        patterns: ``patterns.tsv`` (pattern, rank, n_seqlets).
        seqlets: ``seqlets.tsv`` (region, start, end, pattern), trimmed cores.
        matches: ``tomtom.tsv`` (pattern, target, p_value, q_value).
        instances: The embedded instances (id, start, end, motif), ``test.motifs.tsv``.
        positive_ids: Sequences positive for the task the scores explain.
        motifs: The ground-truth motif names.
        q: TOMTOM q-value threshold.

    Returns:
        Columns :data:`GRADE_COLUMNS`: ``recovered`` when a pattern is assigned the motif
        (:func:`assign_patterns`); of those, the lowest-q one (then the largest) gives
        ``pattern``, its ``rank`` among all patterns (by seqlet count), ``q_value``,
        ``n_seqlets`` and ``seqlet_precision`` (fraction of its seqlets overlapping an embedded
        instance of the motif by at least one base); ``instance_recall`` is the fraction of the
        motif's instances in positive sequences overlapped by a seqlet of any pattern;
        ``spurious_patterns`` counts the patterns assigned no motif.
    """
    assigned = assign_patterns(patterns, matches, motifs, q)
    spurious = sum(motif is None for motif in assigned.values())
    positive = set(map(str, positive_ids))
    rows = []
    for motif in motifs:
        row = {column: float("nan") for column in GRADE_COLUMNS}
        row.update(motif=motif, recovered=False, pattern="", n_patterns=len(assigned))
        row["spurious_patterns"] = spurious
        owners = [name for name, m in assigned.items() if m == motif]
        if owners:
            candidates = matches.loc[
                matches["pattern"].isin(owners) & (matches["target"] == motif),
                ["pattern", "q_value"],
            ].merge(patterns[["pattern", "rank", "n_seqlets"]], on="pattern")
            best = candidates.sort_values(
                ["q_value", "n_seqlets"], ascending=[True, False], kind="stable"
            ).iloc[0]
            own = seqlets[seqlets["pattern"] == best["pattern"]]
            row.update(
                recovered=True,
                pattern=str(best["pattern"]),
                rank=int(best["rank"]),
                q_value=float(best["q_value"]),
                n_seqlets=int(best["n_seqlets"]),
                seqlet_precision=float(_overlaps(own, instances, motif).mean())
                if len(own)
                else float("nan"),
            )
        targets = instances[
            (instances["motif"] == motif) & instances["id"].astype(str).isin(positive)
        ]
        if len(targets):
            # Recall asks the reverse question: which instances does some seqlet touch?
            flipped = targets.rename(columns={"id": "region"})
            cores = seqlets.rename(columns={"region": "id"}).assign(motif=motif)
            row["instance_recall"] = float(_overlaps(flipped, cores).mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=list(GRADE_COLUMNS))


def task_positive_ids(simulation_dir: str | os.PathLike, task: int) -> tuple[list[str], list[str]]:
    """(ids of the test sequences positive for ``task``, the simulation's motif names)."""
    import yaml

    directory = Path(simulation_dir)
    settings = yaml.safe_load((directory / "simulation.yaml").read_text())
    task_motifs = list(settings["tasks"].values())
    if not 0 <= task < len(task_motifs):
        raise LiftGenomicsError(f"task {task} does not exist ({len(task_motifs)} tasks)")
    wanted = set(task_motifs[task])
    classes = pd.read_csv(directory / "test.classes.tsv", sep="\t", dtype={"id": str})
    class_motifs = {name: set(c["motifs"]) for name, c in settings["classes"].items()}
    pairs = zip(classes["id"], classes["class"], strict=True)
    ids = [name for name, kind in pairs if wanted <= class_motifs[kind]]
    return ids, list(settings["motifs"])


def read_run(directory: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(patterns, seqlets, matches) tables of a ``liftgenomics motifs`` output directory."""
    directory = Path(directory)
    tables = []
    for name in ("patterns.tsv", "seqlets.tsv", "tomtom.tsv"):
        path = directory / name
        if not path.is_file():
            raise LiftGenomicsError(f"{path}: not found (is {directory} a 'motifs' output?)")
        tables.append(pd.read_csv(path, sep="\t", dtype={"region": str, "pattern": str}))
    return tables[0], tables[1], tables[2]


def discovery_table(
    simulation_dir: str | os.PathLike,
    runs: Mapping[tuple[str, str, int], str | os.PathLike],
) -> pd.DataFrame:
    """The workflow's ``discovery.tsv``: :func:`grade_discovery` of every run.

    Args:
        simulation_dir: The ``simulate`` output (test.motifs.tsv, test.classes.tsv,
            simulation.yaml).
        runs: (method, reference, task) -> ``liftgenomics motifs`` output directory.
    """
    instances = pd.read_csv(Path(simulation_dir) / "test.motifs.tsv", sep="\t", dtype={"id": str})
    frames = []
    for (method, reference, task), directory in runs.items():
        positive, motifs = task_positive_ids(simulation_dir, task)
        patterns, seqlets, matches = read_run(directory)
        graded = grade_discovery(patterns, seqlets, matches, instances, positive, motifs)
        graded.insert(0, "task", task)
        graded.insert(0, "reference", reference)
        graded.insert(0, "method", method)
        frames.append(graded)
    return pd.concat(frames, ignore_index=True)


def draw_true_motifs(simulation_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Information-content logos of the simulation's motifs (what discovery should find)."""
    import yaml

    from liftgenomics.motifs import get_motif
    from liftgenomics.plots import plot_pwm_logos

    settings = yaml.safe_load((Path(simulation_dir) / "simulation.yaml").read_text())
    source = read_meme(settings["motif_file"]) if settings.get("motif_file") else None
    motifs = {name: get_motif(name, source).probabilities for name in settings["motifs"]}
    return plot_pwm_logos(motifs, out, np.full(4, 0.25))
