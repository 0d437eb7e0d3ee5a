"""Position probability matrices: the :class:`Motif` type, smoothing and log-odds.

A :class:`Motif` is a named ``(L, 4)`` float64 position probability matrix (columns A, C, G,
T). The DeepLIFT paper's motif-recovery metric smooths a motif (:func:`smooth`) and turns it
into a log-odds matrix against the background (:func:`log_odds`, checked by
:func:`check_background`; the paper's background is :data:`DEFAULT_BACKGROUND`). All logarithms
are natural logarithms.

Motifs are read from files in :mod:`liftgenomics.motifs.meme`; windows are scanned for hits in
:mod:`liftgenomics.motifs.scan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import ALPHABET

#: The paper's background base frequencies (A, C, G, T).
DEFAULT_BACKGROUND = (0.3, 0.2, 0.2, 0.3)
#: How far a probability row may sum from 1 (the compendium prints six digits).
ROW_SUM_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class Motif:
    """A named position probability matrix.

    ``probabilities`` is stored as a read-only float64 ``(L, 4)`` array (A, C, G, T). Motifs
    compare by identity (``eq=False``): compare their arrays with :func:`numpy.array_equal`.

    Attributes:
        name: The motif's identifier, e.g. ``"GATA_disc1"``.
        probabilities: ``(L, 4)`` probabilities; each row sums to 1.
        description: Free text from the source file's header.
    """

    name: str
    probabilities: np.ndarray
    description: str = ""

    def __post_init__(self) -> None:
        matrix = np.array(self.probabilities, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.shape[0] == 0:
            raise LiftGenomicsError(
                f"motif {self.name!r}: probabilities must have shape (L, 4) with L >= 1, got "
                f"{matrix.shape}"
            )
        if not np.isfinite(matrix).all() or (matrix < 0).any():
            raise LiftGenomicsError(
                f"motif {self.name!r}: probabilities must be finite and non-negative"
            )
        bad = np.flatnonzero(np.abs(matrix.sum(axis=1) - 1.0) > ROW_SUM_TOLERANCE)
        if bad.size:
            raise LiftGenomicsError(
                f"motif {self.name!r}: row {bad[0] + 1} sums to {matrix[bad[0]].sum():.6f}, not 1"
            )
        matrix.flags.writeable = False
        object.__setattr__(self, "probabilities", matrix)

    @property
    def width(self) -> int:
        """Number of positions (rows)."""
        return int(self.probabilities.shape[0])

    @property
    def consensus(self) -> str:
        """The most probable base at each position (ties resolve in A, C, G, T order)."""
        return "".join(ALPHABET[i] for i in self.probabilities.argmax(axis=1))


# --------------------------------------------------------------------------- scoring


def smooth(motif: Motif, pseudocount: float = 0.001) -> Motif:
    """Mix a motif with the uniform distribution: ``p * (1 - c) + c / 4``.

    Args:
        motif: The motif.
        pseudocount: ``c`` in ``[0, 1]``; the paper uses 0.001.

    Returns:
        A new motif with the same name and description.

    Raises:
        LiftGenomicsError: if ``pseudocount`` is outside ``[0, 1]``.
    """
    if not 0.0 <= pseudocount <= 1.0:
        raise LiftGenomicsError(f"pseudocount must be in [0, 1], got {pseudocount}")
    smoothed = motif.probabilities * (1.0 - pseudocount) + pseudocount / 4.0
    return Motif(motif.name, smoothed, motif.description)


def check_background(background: Sequence[float]) -> np.ndarray:
    """Validate base frequencies: four positive numbers (A, C, G, T) summing to 1 (+-1e-6).

    Returns:
        The background as a float64 array of shape ``(4,)``.

    Raises:
        LiftGenomicsError: naming what is wrong.
    """
    try:
        values = np.asarray(background, dtype=np.float64)
    except (TypeError, ValueError):
        raise LiftGenomicsError(
            f"background must be four numbers (A, C, G, T), got {background!r}"
        ) from None
    if values.shape != (4,):
        raise LiftGenomicsError(
            f"background must be four numbers (A, C, G, T), got shape {values.shape}"
        )
    if not np.isfinite(values).all() or (values <= 0).any():
        raise LiftGenomicsError(f"background frequencies must be positive, got {values.tolist()}")
    if abs(values.sum() - 1.0) > 1e-6:
        raise LiftGenomicsError(
            f"background frequencies must sum to 1, got {values.tolist()} (sum {values.sum():g})"
        )
    return values


def log_odds(motif: Motif, background: Sequence[float] = DEFAULT_BACKGROUND) -> np.ndarray:
    """The motif's log-odds matrix, ``ln(p) - ln(background)`` (natural logarithm).

    Smooth the motif first (:func:`smooth`): a zero probability gives ``-inf``.

    Args:
        motif: The motif.
        background: Base frequencies A, C, G, T.

    Returns:
        ``(L, 4)`` float64 log-odds.

    Raises:
        LiftGenomicsError: for an invalid background.
    """
    values = check_background(background)
    with np.errstate(divide="ignore"):
        return np.log(motif.probabilities) - np.log(values)
