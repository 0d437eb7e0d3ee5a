"""modisco-lite, in process: running TF-MoDISco, seeding it, and trimming its patterns.

:func:`run_modisco` runs ``modiscolite.tfmodisco.TFMoDISco`` on ``(N, 4, L)`` one-hot and
hypothetical arrays (modisco wants ``(N, L, 4)``, so both are transposed) with the settings of
:class:`DiscoveryOptions`; :func:`collect_patterns` turns its (positive, negative) lists into our
:class:`Pattern` view, largest first. Every pattern is trimmed like modisco's own report does
(:func:`trim_bounds`: the span whose summed absolute CWM reaches :data:`TRIM_THRESHOLD` (30%) of
its maximum); :func:`trimmed_span` places that core inside each seqlet.

Determinism: modisco-lite seeds its own random steps with constants (the Laplace null of seqlet
calling and the subsample of seqlets when patterns are merged use ``RandomState(1234)``; the
Leiden runs use seeds 100, 200, ...). :class:`DiscoveryOptions.seed` shifts the Leiden seeds
(:func:`seeded_leiden`; seed 0 keeps modisco-lite's); the two 1234 draws are fixed inside
modisco-lite and cannot be varied from outside. Its numba kernels parallelise over independent
rows, so the result does not depend on the thread count; same inputs, options and library
versions give the same patterns. :func:`cache_kernels` lets numba cache those kernels on disk.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError

#: Fraction of the largest per-position |CWM| that a position must reach to survive trimming
#: (modisco-lite's report uses the same 0.3).
TRIM_THRESHOLD = 0.3


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
