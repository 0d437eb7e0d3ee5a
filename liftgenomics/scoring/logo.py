"""``liftgenomics logo``: sequence logos of one region of a ``score`` output directory.

:func:`plot_region_logo` reads the region's row of ``ohe.npz`` and of a head's ``hyp.npz``
(found through ``score.json`` and ``regions.tsv``) and draws its actual contributions over its
hypothetical ones with :func:`liftgenomics.logos.plot_sequence_logos`, as
``logo.{region}.png`` in that directory by default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.scoring.writers import read_npz_rows


def plot_region_logo(
    scores_dir: str | os.PathLike,
    region: str,
    out: str | os.PathLike | None = None,
    target: int | str | None = None,
) -> Path:
    """Logos of one scored region: actual contributions over hypothetical ones.

    Args:
        scores_dir: A directory written by :func:`~liftgenomics.scoring.pipeline.score_regions`.
        region: The region's name (``regions.tsv``'s first column).
        out: PNG path; default ``scores_dir/logo.<region>.png``.
        target: Which head when several were scored (a task index, or a head name such as
            ``counts``); default the first.

    Raises:
        LiftGenomicsError: for a directory that is not a scoring output, an unknown region or an
            unscored target.
    """
    from liftgenomics.logos import plot_sequence_logos

    directory = Path(scores_dir)
    settings_path = directory / "score.json"
    table_path = directory / "regions.tsv"
    if not settings_path.is_file() or not table_path.is_file():
        raise LiftGenomicsError(
            f"{directory}: not a 'liftgenomics score' output (no score.json/regions.tsv)"
        )
    try:
        settings = json.loads(settings_path.read_text())
        heads = {str(h["name"]): str(h["files"]["hyp"]) for h in settings["heads"]}
        method, reference_text = str(settings["method"]), str(settings["references"])
    except (ValueError, KeyError, TypeError) as error:
        raise LiftGenomicsError(f"{settings_path}: not a valid score.json ({error})") from None
    if target is None:
        name = next(iter(heads))
    else:
        text = str(target)
        name = f"task{text}" if text.isdigit() else text
    if name not in heads:
        raise LiftGenomicsError(
            f"target {target} was not scored in {directory} (scored: {', '.join(heads)})"
        )
    index = _region_index(table_path, region)
    one_hot = read_npz_rows(directory / "ohe.npz", index, index + 1)[0]
    hyp = read_npz_rows(directory / heads[name], index, index + 1)[0]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in region)
    out = directory / f"logo.{safe}.png" if out is None else Path(out)
    title = f"{region} — {method}, references {reference_text}, {name}"
    return plot_sequence_logos(
        one_hot, {method: hyp * one_hot}, out, title=title, hypothetical={method: hyp}
    )


def _region_index(table_path: Path, region: str) -> int:
    with open(table_path, encoding="utf-8") as handle:
        next(handle)
        for index, line in enumerate(handle):
            if line.split("\t", 1)[0] == region:
                return index
    raise LiftGenomicsError(f"{table_path}: no region named {region!r}")
