"""chrombpnet's variant SHAP ``.h5`` layout: both alleles' scores in one file, stacked.

kundajelab/variant-scorer's ``variant_shap.py`` stores a variant set's allele attributions in
chrombpnet's interpretation layout (``raw``/``shap``/``projected_shap``, each with one ``seq``
dataset (rows, 4, L)) so that ``finemo extract-regions-h5`` and its hit caller
(``hitcaller_variant.py``) read it as they read peak scores. The 2N rows are the N allele1
windows followed by the N allele2 windows (the hit caller takes row ``i`` for allele2 when
``i >= N``); ``variant_ids`` and ``alleles`` name every row. :func:`write_variant_shap_h5`
writes that layout (atomically) and :func:`read_variant_shap_h5` reads it back per allele.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from liftgenomics.errors import LiftGenomicsError, printable
from liftgenomics.io import atomic_path

#: Dataset names of the layout, in the order they are written.
DATASETS = ("raw/seq", "shap/seq", "projected_shap/seq", "variant_ids", "alleles")
#: ``alleles`` codes: 0 for allele1 (the reference), 1 for allele2 (the alternate).
ALLELE1, ALLELE2 = 0, 1
#: Scores are stored as chrombpnet stores them.
SCORE_DTYPE = np.float16
FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass
class VariantShap:
    """A variant SHAP file read back, split by allele (rows in the file's order).

    Attributes:
        variant_ids: The N variant names.
        X1, X2: (N, 4, L) int8 one-hot allele windows (``raw/seq``).
        hyp1, hyp2: (N, 4, L) float16 hypothetical contributions (``shap/seq``).
        contrib1, contrib2: (N, 4, L) float16 actual contributions (``projected_shap/seq``).
    """

    variant_ids: list[str]
    X1: np.ndarray
    X2: np.ndarray
    hyp1: np.ndarray
    hyp2: np.ndarray
    contrib1: np.ndarray
    contrib2: np.ndarray


def write_variant_shap_h5(
    path: str | os.PathLike,
    variant_ids: Sequence[str],
    contrib1,
    contrib2,
    X1,
    X2,
    hyp1,
    hyp2,
) -> Path:
    """Write both alleles' attributions in chrombpnet's variant SHAP layout, atomically.

    With N variants and windows of length L, the file holds (rows 0..N-1 allele1, rows
    N..2N-1 allele2, in ``variant_ids`` order; gzip-compressed):

    - ``raw/seq``: (2N, 4, L) int8, the one-hot windows (``X1`` then ``X2``);
    - ``shap/seq``: (2N, 4, L) float16, hypothetical contributions (``hyp1`` then ``hyp2``);
    - ``projected_shap/seq``: (2N, 4, L) float16, actual contributions (``contrib1`` then
      ``contrib2``: hypothetical × one-hot);
    - ``variant_ids``: (2N,) fixed-length UTF-8 byte strings, each id twice;
    - ``alleles``: (2N,) int8, 0 for allele1 rows and 1 for allele2 rows.

    Channels are A, C, G, T (axis 1) and positions run along the last axis, the variant's
    first base at L // 2, as ``finemo extract-regions-h5`` reads them.

    Args:
        path: The ``.h5`` file to write (its folder is created).
        variant_ids: The N variant names.
        contrib1, contrib2: (N, 4, L) actual contributions of allele1 and allele2.
        X1, X2: (N, 4, L) one-hot windows of allele1 and allele2.
        hyp1, hyp2: (N, 4, L) hypothetical contributions of allele1 and allele2.

    Returns:
        ``path`` as a Path.

    Raises:
        LiftGenomicsError: for arrays of different shapes, a count of ids that is not N, or a
            score beyond float16's range (which chrombpnet's layout would store as inf).
    """
    arrays = {
        "contrib1": contrib1,
        "contrib2": contrib2,
        "X1": X1,
        "X2": X2,
        "hyp1": hyp1,
        "hyp2": hyp2,
    }
    arrays = check_arrays(arrays)
    ids = [str(name) for name in variant_ids]
    n = arrays["X1"].shape[0]
    if len(ids) != n:
        raise LiftGenomicsError(f"variant SHAP file: {len(ids)} variant ids for {n} variants")
    for name in ("hyp1", "hyp2", "contrib1", "contrib2"):
        check_float16_range(name, arrays[name])
    encoded = [name.encode("utf-8") for name in ids]
    width = max([1] + [len(name) for name in encoded])
    contents = {
        "raw/seq": np.concatenate([arrays["X1"], arrays["X2"]]).astype(np.int8),
        "shap/seq": np.concatenate([arrays["hyp1"], arrays["hyp2"]]).astype(SCORE_DTYPE),
        "projected_shap/seq": np.concatenate([arrays["contrib1"], arrays["contrib2"]]).astype(
            SCORE_DTYPE
        ),
        "variant_ids": np.array(encoded + encoded, dtype=f"S{width}"),
        "alleles": np.repeat(np.array([ALLELE1, ALLELE2], dtype=np.int8), n),
    }
    # HDF5's own file lock would clash with the flock atomic_path holds on its temporary file,
    # which no other process opens.
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w", locking=False) as handle:
        for name in DATASETS:
            data = contents[name]
            handle.create_dataset(name, data=data, compression="gzip" if data.size else None)
        handle.attrs["layout"] = "chrombpnet variant SHAP: rows 0..N-1 allele1, N..2N-1 allele2"
    return Path(path)


def check_arrays(arrays: dict[str, object]) -> dict[str, np.ndarray]:
    """The arrays as NumPy, after checking they share one (N, 4, L) shape."""
    converted = {name: np.asarray(array) for name, array in arrays.items()}
    first_name, first = next(iter(converted.items()))
    if first.ndim != 3 or first.shape[1] != 4:
        raise LiftGenomicsError(
            f"variant SHAP file: {first_name} has shape {first.shape}; expected (N, 4, L)"
        )
    for name, array in converted.items():
        if array.shape != first.shape:
            raise LiftGenomicsError(
                f"variant SHAP file: {name} has shape {array.shape}, {first_name} "
                f"{first.shape}; all six arrays must share one (N, 4, L) shape"
            )
    return converted


def check_float16_range(name: str, scores: np.ndarray) -> None:
    """Refuse scores float16 cannot hold (non-finite, or beyond ±65504)."""
    values = np.asarray(scores, dtype=np.float64)
    bad = ~np.isfinite(values) | (np.abs(values) > FLOAT16_MAX)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise LiftGenomicsError(
            f"variant SHAP file: {name} of variant {row} holds a non-finite score or one beyond "
            f"float16's range (±{FLOAT16_MAX:g})"
        )


def read_variant_shap_h5(path: str | os.PathLike) -> VariantShap:
    """Read a variant SHAP file (this layout, rows in any allele order) back per allele.

    Raises:
        LiftGenomicsError: for a missing or unreadable file, a missing dataset, or alleles whose
            rows do not name the same variants in the same order.
    """
    try:
        with h5py.File(path, "r") as handle:
            missing = [name for name in DATASETS if name not in handle]
            if missing:
                raise LiftGenomicsError(
                    f"{printable(str(path))}: not a variant SHAP file (missing "
                    f"{', '.join(missing)})"
                )
            contents = {name: handle[name][()] for name in DATASETS}
    except OSError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise LiftGenomicsError(f"{printable(str(path))}: cannot read ({first})") from None
    alleles = np.asarray(contents["alleles"])
    ids = [bytes(name).decode("utf-8") for name in np.asarray(contents["variant_ids"])]
    rows1, rows2 = np.flatnonzero(alleles == ALLELE1), np.flatnonzero(alleles == ALLELE2)
    ids1, ids2 = [ids[i] for i in rows1], [ids[i] for i in rows2]
    if ids1 != ids2 or len(rows1) + len(rows2) != len(alleles):
        raise LiftGenomicsError(
            f"{printable(str(path))}: allele1 and allele2 rows do not name the same variants"
        )
    raw, hyp, contrib = (contents[name] for name in DATASETS[:3])
    return VariantShap(
        ids1, raw[rows1], raw[rows2], hyp[rows1], hyp[rows2], contrib[rows1], contrib[rows2]
    )
