"""The statistics of the shuffled null: empirical p-values, BH q-values and the null file.

The null is the pooled scores of variants placed in dinucleotide-shuffled windows (built
elsewhere): every tested column (:func:`liftgenomics.variants.effects.tested_columns`) of a
real variant is compared with the same column over the whole pool.

- :func:`empirical_p`: p = (#{null ≥ observed} + 1) / (N_null + 1), the right tail, ties
  counted as at least as extreme: variant-scorer's ``get_pvals(obs, bg, tail="right")``. NaN
  scores in the null are left out of it (and of N_null); a NaN observed score has a NaN p;
- :func:`bh_q`: Benjamini–Hochberg q-values over the non-NaN p-values of one column;
- :func:`pvalue_columns`: ``{column}.pval`` and ``{column}.qval`` per tested column
  (chrombpnet's ``abs_logfc.pval`` naming; chrombpnet writes no q-values);
- :func:`write_null` / :func:`read_null`: the pool as one ``.npz``, an array per column and a
  JSON entry (:data:`META_KEY`) holding the format tag and the run's settings (the model's
  hash, the input length, the shuffles per variant, the seed, ...), so a later run can reuse
  it only when they match (:func:`check_meta`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.genome.sequence import ARRAY_FILE_ERRORS
from liftgenomics.io import atomic_path

#: The entry of a null file that holds its JSON header.
META_KEY = "__null_meta__"
#: The format tag of a null file.
NULL_FORMAT = "liftgenomics.variants.null"
NULL_VERSION = 1
#: Settings every null file records.
REQUIRED_META = ("model_hash", "length", "n_shuffles", "seed")


# --- p-values and q-values --------------------------------------------------------------------


def empirical_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Right-tailed empirical p-values of observed scores against a null sample.

    Args:
        observed: Scores, any shape.
        null: The null scores (flattened; NaNs left out).

    Returns:
        p = (#{null ≥ observed} + 1) / (N_null + 1), in the shape of ``observed``; NaN where
        the observed score is NaN. The smallest possible p is 1 / (N_null + 1), the largest 1.

    Raises:
        LiftGenomicsError: when the null holds no (non-NaN) score.
    """
    observed = np.asarray(observed, dtype=np.float64)
    pool = np.asarray(null, dtype=np.float64).ravel()
    pool = np.sort(pool[~np.isnan(pool)])
    if pool.size == 0:
        raise LiftGenomicsError("empirical p-values need a null distribution, and it is empty")
    at_least = pool.size - np.searchsorted(pool, observed, side="left")
    p = (at_least + 1) / (pool.size + 1)
    return np.where(np.isnan(observed), np.nan, p)


def bh_q(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (the BH-adjusted p-values).

    q of the p-value ranked i among the m non-NaN ones (ascending) is
    min over j ≥ i of min(1, m · p_(j) / j): monotone in p and capped at 1.

    Args:
        p: p-values in [0, 1], any shape; NaNs are kept as NaN and not counted in m.

    Returns:
        q-values in the shape of ``p``.

    Raises:
        LiftGenomicsError: for a p-value outside [0, 1].
    """
    p = np.asarray(p, dtype=np.float64)
    flat = p.ravel()
    valid = ~np.isnan(flat)
    values = flat[valid]
    if values.size and (values.min() < 0 or values.max() > 1):
        raise LiftGenomicsError(
            f"p-values must lie in [0, 1]; found {values.min():g} to {values.max():g}"
        )
    q = np.full(flat.shape, np.nan)
    m = values.size
    if m:
        order = np.argsort(values, kind="stable")
        scaled = values[order] * m / np.arange(1, m + 1)
        scaled = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        ranked = np.empty(m)
        ranked[order] = scaled
        q[valid] = ranked
    return q.reshape(p.shape)


def pvalue_columns(
    observed: Mapping[str, np.ndarray],
    null: Mapping[str, np.ndarray],
    tested: Sequence[str],
) -> dict[str, np.ndarray]:
    """``{column}.pval`` and ``{column}.qval`` of each tested column, in ``tested`` order.

    Args:
        observed: The real variants' score columns.
        null: The pooled null's score columns.
        tested: The columns to test (:func:`~liftgenomics.variants.effects.tested_columns`).

    Returns:
        Column name -> values, the p-value then the q-value of each tested column.

    Raises:
        LiftGenomicsError: for a tested column missing from either, or an empty null.
    """
    columns: dict[str, np.ndarray] = {}
    for name in tested:
        for where, table in (("variant scores", observed), ("null", null)):
            if name not in table:
                raise LiftGenomicsError(
                    f"column {name!r} is missing from the {where} (it has: "
                    f"{', '.join(table) or 'nothing'})"
                )
        try:
            p = empirical_p(observed[name], null[name])
        except LiftGenomicsError as error:
            raise LiftGenomicsError(f"{name}: {error}") from None
        columns[f"{name}.pval"] = p
        columns[f"{name}.qval"] = bh_q(p)
    return columns


# --- the null file ----------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """NumPy scalars and arrays as JSON takes them (for ``json.dumps(default=...)``)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def checked_columns(null_columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The null's columns as float64 1-D arrays of one length (refused otherwise)."""
    if not null_columns:
        raise LiftGenomicsError("a null file needs at least one score column")
    columns = {}
    for name, values in null_columns.items():
        if not isinstance(name, str) or not name or name == META_KEY:
            raise LiftGenomicsError(f"null column name {name!r} is not allowed")
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1:
            raise LiftGenomicsError(f"null column {name!r} must be 1-D, got shape {array.shape}")
        columns[name] = array
    lengths = {name: array.size for name, array in columns.items()}
    if len(set(lengths.values())) > 1:
        raise LiftGenomicsError(f"null columns differ in length: {lengths}")
    return columns


def missing_meta(meta: Mapping[str, Any]) -> list[str]:
    """The :data:`REQUIRED_META` keys ``meta`` lacks."""
    return [key for key in REQUIRED_META if key not in meta]


def write_null(
    path: str | os.PathLike, null_columns: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> None:
    """Write the pooled null scores and their settings to one ``.npz``, atomically.

    Args:
        path: The file to write (replaced when complete).
        null_columns: Column name -> (M,) null scores, all of one length.
        meta: The run's settings, JSON-serialisable, with at least :data:`REQUIRED_META`.

    Raises:
        LiftGenomicsError: for bad columns, missing settings or settings JSON cannot hold.
    """
    columns = checked_columns(null_columns)
    absent = missing_meta(meta)
    if absent:
        raise LiftGenomicsError(f"null file settings lack {', '.join(absent)}")
    header = {"format": NULL_FORMAT, "version": NULL_VERSION, "meta": dict(meta)}
    try:
        text = json.dumps(header, default=json_value, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise LiftGenomicsError(f"null file settings are not JSON: {first_line(error)}") from None
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **columns, **{META_KEY: np.array(text)})


def read_header(path: Path, archive) -> dict[str, Any]:
    """The checked JSON header of an open null file."""
    if META_KEY not in archive.files:
        raise LiftGenomicsError(f"{path}: not a liftgenomics variant null file (no header)")
    try:
        header = json.loads(str(archive[META_KEY][()]))
    except (ValueError, TypeError) as error:
        raise LiftGenomicsError(f"{path}: unreadable null header ({first_line(error)})") from None
    if not isinstance(header, dict) or header.get("format") != NULL_FORMAT:
        raise LiftGenomicsError(f"{path}: not a liftgenomics variant null file")
    if header.get("version") != NULL_VERSION:
        raise LiftGenomicsError(
            f"{path}: null file version {header.get('version')!r}; this liftgenomics reads "
            f"version {NULL_VERSION} (make the null again)"
        )
    meta = header.get("meta")
    if not isinstance(meta, dict):
        raise LiftGenomicsError(f"{path}: null header has no settings")
    absent = missing_meta(meta)
    if absent:
        raise LiftGenomicsError(f"{path}: null header lacks {', '.join(absent)}")
    return meta


def read_null(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a null file written by :func:`write_null`.

    Returns:
        (column name -> (M,) float64 null scores, the settings it was made with).

    Raises:
        LiftGenomicsError: for a missing or unreadable file, one that is not a null file, or
            one whose header or columns are damaged (one line naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: null file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = read_header(path, archive)
            columns = {name: archive[name] for name in archive.files if name != META_KEY}
    except ARRAY_FILE_ERRORS as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({first_line(error)})") from None
    try:
        return checked_columns(columns), meta
    except (LiftGenomicsError, TypeError, ValueError) as error:
        raise LiftGenomicsError(f"{path}: damaged null file ({first_line(error)})") from None


def check_meta(
    meta: Mapping[str, Any], expected: Mapping[str, Any], path: str | os.PathLike
) -> None:
    """Refuse a null made with other settings than this run's.

    Args:
        meta: The settings read from the null file.
        expected: The settings this run needs to match (e.g. ``model_hash``, ``length``).
        path: The null file, for the message.

    Raises:
        LiftGenomicsError: naming the first setting that differs.
    """
    for key, value in expected.items():
        if key not in meta or meta[key] != value:
            raise LiftGenomicsError(
                f"{path}: null was made with {key}={meta.get(key)!r}, this run has {value!r}; "
                "make the null again"
            )
