"""Scanning one-hot DNA for motif hits: window scores and the top non-overlapping hits.

The DeepLIFT paper's motif-recovery metric scores every forward-strand window of each sequence
with a motif's log-odds matrix (:func:`scan`; the matrix from
:func:`~liftgenomics.motifs.pwm.log_odds`) and keeps the top non-overlapping hits
(:func:`top_hits`, chosen greedily by score, returned as :class:`Hits`, best first).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from liftgenomics.errors import LiftGenomicsError


class Hits(NamedTuple):
    """The top motif hits of a batch, best first; missing hits are padded.

    Attributes:
        starts: ``(N, n)`` int64 0-based window starts; ``-1`` where fewer than ``n`` windows
            were admissible.
        scores: ``(N, n)`` float64 log-odds of those windows; NaN where ``starts`` is ``-1``.
    """

    starts: np.ndarray
    scores: np.ndarray


def scan(X: np.ndarray, log_odds_matrix: np.ndarray) -> np.ndarray:
    """Log-odds score of every forward-strand window of a one-hot batch.

    The score of the window starting at ``s`` is ``sum_j sum_c X[n, c, s + j] * M[j, c]``, so
    all-zero (``N``) columns contribute 0.

    Args:
        X: ``(N, 4, L)`` one-hot sequences (A, C, G, T).
        log_odds_matrix: ``(W, 4)`` finite log-odds (:func:`log_odds` of a smoothed motif).

    Returns:
        ``(N, L - W + 1)`` float64 scores indexed by window start.

    Raises:
        LiftGenomicsError: for wrong shapes, a non-finite matrix, or sequences shorter than
            the motif.
    """
    X = np.asarray(X)
    matrix = np.asarray(log_odds_matrix, dtype=np.float64)
    if X.ndim != 3 or X.shape[1] != 4:
        raise LiftGenomicsError(f"scan expects one-hot sequences of shape (N, 4, L), got {X.shape}")
    if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.shape[0] == 0:
        raise LiftGenomicsError(f"scan expects a (W, 4) log-odds matrix, got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise LiftGenomicsError(
            "log-odds matrix has infinite entries (a zero probability); smooth the motif first"
        )
    width = matrix.shape[0]
    if X.shape[2] < width:
        raise LiftGenomicsError(
            f"sequences of length {X.shape[2]} are shorter than the motif (width {width})"
        )
    # Same dtype on both sides and no einsum "optimize": otherwise numpy copies the strided
    # (N, 4, P, W) view into a dense array first, ~25x slower and W times the memory.
    windows = np.lib.stride_tricks.sliding_window_view(X.astype(np.float64), width, axis=2)
    return np.einsum("ncpw,wc->np", windows, matrix)


def top_hits(scores: np.ndarray, width: int, n: int = 5) -> Hits:
    """The best ``n`` non-overlapping hits per sequence, chosen greedily by score.

    After each pick, every window whose start is within half a motif width of it
    (``|start - chosen| < width / 2``) is excluded, as in the paper's motif-recovery metric.
    Ties go to the leftmost window.

    Args:
        scores: ``(N, P)`` window scores from :func:`scan`.
        width: The motif's width.
        n: Hits per sequence.

    Returns:
        :class:`Hits` with ``(N, n)`` starts and scores, best first, padded with ``-1`` / NaN
        when fewer than ``n`` windows are admissible.

    Raises:
        LiftGenomicsError: for a non-2-D ``scores``, or a non-positive ``width`` or ``n``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise LiftGenomicsError(f"top_hits expects (N, P) scores, got shape {scores.shape}")
    if width < 1 or n < 1:
        raise LiftGenomicsError(f"top_hits needs width >= 1 and n >= 1, got {width} and {n}")
    count, positions = scores.shape
    starts = np.full((count, n), -1, dtype=np.int64)
    best = np.full((count, n), np.nan)
    available = np.ones_like(scores, dtype=bool)
    rows = np.arange(count)
    offsets = np.arange(positions)
    for k in range(n):
        masked = np.where(available, scores, -np.inf)
        choice = masked.argmax(axis=1) if positions else np.zeros(count, dtype=np.int64)
        found = available[rows, choice] if positions else np.zeros(count, dtype=bool)
        starts[found, k] = choice[found]
        best[found, k] = scores[rows[found], choice[found]]
        near = np.abs(offsets[None, :] - choice[:, None]) < width / 2
        available &= ~(near & found[:, None])
    return Hits(starts, best)
