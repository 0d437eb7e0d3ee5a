"""De novo motif discovery: TF-MoDISco on contribution scores, patterns named by TOMTOM.

:func:`discover_motifs` runs modisco-lite in process (:mod:`liftgenomics.motifs.modisco`) on a
one-hot file and a hypothetical-score file, both ``(N, 4, L)`` (the layout of ``liftgenomics
score`` and of the workflow's ``task{t}.hyp.npz``; :func:`load_inputs` checks them), trims every
pattern of both metaclusters and compares its trimmed position probability matrix with every
motif of a MEME database by TOMTOM (:mod:`liftgenomics.motifs.tomtom`). The result is a
:class:`Discovery`.

Outputs (:func:`write_discovery`, all at once, staged in a sibling temporary folder):
``modisco.h5`` (modisco-lite's own format), ``patterns.tsv`` (:func:`patterns_table`),
``seqlets.tsv`` (:func:`seqlets_table`), ``tomtom.tsv``, ``logos/{pattern}.cwm.png`` and
``.pwm.png``, ``motifs.html``. Grading the patterns against a known truth is in
:mod:`liftgenomics.motifs.grading`.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.genome.sequence import ARRAY_FILE_ERRORS
from liftgenomics.locks import output_lock
from liftgenomics.motifs.modisco import (
    DiscoveryOptions,
    Pattern,
    collect_patterns,
    run_modisco,
    trimmed_span,
)
from liftgenomics.motifs.pwm import Motif
from liftgenomics.motifs.tomtom import match_patterns

PATTERN_COLUMNS = ("pattern", "sign", "rank", "n_seqlets", "trim_start", "trim_end", "consensus")
SEQLET_COLUMNS = ("region", "row", "start", "end", "strand", "pattern")


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
    except ARRAY_FILE_ERRORS as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({first_line(error)})") from None
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

    from liftgenomics.logos import draw_logo, information_content, save_figure

    for kind, matrix, label in (
        ("cwm", pattern.cwm, "contribution"),
        ("pwm", information_content(pattern.ppm, np.full(4, 0.25)), "bits"),
    ):
        figure, axis = plt.subplots(figsize=(max(4.0, 0.3 * len(matrix)), 1.6))
        frame = pd.DataFrame(matrix, columns=list("ACGT"))
        draw_logo(frame, axis)
        axis.axvspan(pattern.trim[0] - 0.5, pattern.trim[1] - 0.5, color="#eeeeee", zorder=-1)
        axis.axhline(0.0, color="black", linewidth=0.4)
        axis.set_title(f"{pattern.name} ({len(pattern.seqlets)} seqlets), {kind.upper()}")
        axis.set_ylabel(label, fontsize=7)
        save_figure(figure, directory / f"{pattern.name}.{kind}.png")


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
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        # Staging folders a killed run left (a SIGKILL skips the ``finally``): we hold the
        # lock, so no live run is writing them.
        left = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}\.part")
        for stale in out.parent.iterdir():
            if left.fullmatch(stale.name) and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        _write_staged(result, out, staging, window, source)
    return out


def _write_staged(result: Discovery, out: Path, staging: Path, window: int, source: str) -> None:
    """Write every output into ``staging``, then move them into ``out``."""
    from modiscolite.io import save_hdf5

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
