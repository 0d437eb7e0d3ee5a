"""TOMTOM: name discovered patterns by comparing them with a MEME motif database.

:func:`match_patterns` compares every pattern's trimmed position probability matrix with every
motif of a database (:func:`load_database`: a MEME file, or the whole ENCODE compendium) by
memelite's ``tomtom`` (the "complete score" TOMTOM, both strands). We call ``tomtom`` ourselves
instead of modisco-lite's report path because that path either shells out to the MEME suite's
``tomtom`` binary or, in its "tomtom-lite" branch, returns p-values of the top few targets only;
we need a q-value for every target (to grade named motifs) and no external program. q-values are
Benjamini-Hochberg over all targets of one query (:func:`benjamini_hochberg`), as MEME's TOMTOM
reports them per query; a match counts below :data:`Q_THRESHOLD`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from liftgenomics.motifs.meme import load_encode_compendium, read_meme
from liftgenomics.motifs.modisco import Pattern
from liftgenomics.motifs.pwm import Motif

#: TOMTOM q-value below which a pattern is said to match a motif.
Q_THRESHOLD = 0.05


#: tomtom.tsv keeps, per pattern, every target with a q-value at or below this (and the top
#: matches regardless), so that any named motif's q-value can be looked up later.
KEEP_Q = 0.5


def load_database(path: str | os.PathLike | None) -> dict[str, Motif]:
    """The MEME database, or the whole ENCODE compendium when ``path`` is None."""
    return load_encode_compendium() if path is None else read_meme(path)


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
