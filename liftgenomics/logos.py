"""Drawing primitives shared by every figure: colours, atomic PNG saving, and logos.

:func:`save_figure` saves a figure as a PNG atomically (no file at all on a failure) and closes
it. The colours are fixed (:data:`CLASS_COLOURS` per sequence class, :func:`motif_colours` per
motif, :data:`BASE_COLOURS` per base), so the same inputs give the same picture.
:func:`plot_sequence_logos` draws contribution logos of one sequence, one row per method,
embedded instances boxed; :func:`plot_pwm_logos` draws information-content logos of motifs
(:func:`information_content`). Each plotting function checks its input first, then draws one
figure, saves it and returns the path.

The figure-5 grid and the false-negative bars are in :mod:`liftgenomics.report.plots`.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import logomaker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.text import TextPath  # noqa: E402
from matplotlib.transforms import Affine2D, blended_transform_factory  # noqa: E402

from liftgenomics.errors import LiftGenomicsError  # noqa: E402
from liftgenomics.genome.sequence import ALPHABET  # noqa: E402
from liftgenomics.io import atomic_path  # noqa: E402

DPI = 110
#: One fixed colour per sequence class, in the order the legend lists them.
CLASS_COLOURS = {
    "neither": "#9e9e9e",
    "gata_only": "#1f77b4",
    "tal_only": "#d62728",
    "both": "#2ca02c",
}
#: The paper's motifs keep one colour in every figure, matching their classes' colours.
PAPER_MOTIF_COLOURS = {"GATA_disc1": CLASS_COLOURS["gata_only"], "TAL1_known1": "#d62728"}
#: Other motifs, in sorted order of name.
MOTIF_COLOURS = ("#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2")
BASE_COLOURS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}
#: Widest sequence-logo figure in inches; longer sequences get narrower letters.
MAX_LOGO_WIDTH = 30.0


def save_figure(figure: plt.Figure, out: str | os.PathLike) -> Path:
    try:
        with atomic_path(out, suffix=".png") as tmp:
            figure.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)
    return Path(out)


def motif_colours(motifs: Iterable[str]) -> dict[str, str]:
    """A fixed colour per motif: the paper's motifs by name, others by sorted name."""
    motifs = list(motifs)
    others = sorted(m for m in motifs if m not in PAPER_MOTIF_COLOURS)
    return {
        m: PAPER_MOTIF_COLOURS.get(m) or MOTIF_COLOURS[others.index(m) % len(MOTIF_COLOURS)]
        for m in motifs
    }


def _check_scores(name: str, array: np.ndarray, length: int) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.shape != (4, length):
        raise LiftGenomicsError(f"track {name!r}: expected shape (4, {length}), got {array.shape}")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise LiftGenomicsError(
            f"track {name!r}: non-finite score at base {ALPHABET[bad[0]]}, position {bad[1]}"
        )
    return array


def _check_instances(
    instances: Sequence[tuple[int, int, str]] | None, length: int
) -> list[tuple[int, int, str]]:
    checked = []
    for instance in instances or []:
        if len(instance) != 3:
            raise LiftGenomicsError(f"instance {instance!r}: expected (start, end, motif)")
        start, end, motif = instance
        if not 0 <= int(start) < int(end) <= length:
            raise LiftGenomicsError(
                f"instance {motif!r} [{start}, {end}): outside the sequence of length {length} "
                "or empty (need 0 <= start < end <= L)"
            )
        checked.append((int(start), int(end), str(motif)))
    return checked


def draw_logo(frame: pd.DataFrame, axis: plt.Axes, **options) -> None:
    with warnings.catch_warnings():
        # An all-zero logo (a uniform motif, a silent track) makes logomaker warn about equal
        # y-limits; the picture is still right.
        warnings.filterwarnings("ignore", message=".*identical low and high ylims.*")
        logomaker.Logo(frame, ax=axis, color_scheme=BASE_COLOURS, **options)


def _label_levels(boxes: Sequence[tuple[int, int, str]], positions_per_point: float) -> list[int]:
    """A text row per instance label so that labels of nearby instances do not overlap."""
    spans = []
    for start, end, motif in boxes:
        half = len(motif) * 4.2 / 2 * positions_per_point + 1.0
        centre = (start + end - 1) / 2
        spans.append((centre - half, centre + half))
    levels = [0] * len(boxes)
    right_edges: list[float] = []  # per level, the right edge of its last label
    for index in sorted(range(len(boxes)), key=lambda i: spans[i][0]):
        left, right = spans[index]
        level = next((k for k, edge in enumerate(right_edges) if edge < left), len(right_edges))
        if level == len(right_edges):
            right_edges.append(right)
        right_edges[level] = right
        levels[index] = level
    return levels


@functools.cache
def _unit_glyph(base: str) -> MplPath:
    """The outline of ``base`` in a bold sans font, scaled to fill the unit square."""
    path = TextPath((0, 0), base, size=1, prop=FontProperties(family="sans-serif", weight="bold"))
    extents = path.get_extents()
    to_unit = Affine2D().translate(-extents.x0, -extents.y0).scale(
        1 / extents.width, 1 / extents.height
    )
    return to_unit.transform_path(path)


def stacked_glyphs(scores: np.ndarray, width: float = 0.95) -> dict[str, list[tuple]]:
    """Where each letter of a contribution logo goes: base -> [(x0, y0, width, height)].

    At every position the positive scores are stacked upward from zero and the negative ones
    downward, the largest farthest from zero (logomaker's order); zero scores get no glyph.

    Args:
        scores: (4, L) scores, rows A C G T.
        width: Letter width, in positions.
    """
    boxes: dict[str, list[tuple]] = {base: [] for base in ALPHABET}
    for position in range(scores.shape[1]):
        column = scores[:, position]
        for sign in (1.0, -1.0):
            y = 0.0
            for row in np.argsort(sign * column, kind="stable"):
                value = float(column[row])
                if sign * value <= 0:
                    continue
                height = abs(value)
                y0 = y if sign > 0 else y - height
                boxes[ALPHABET[row]].append((position - width / 2, y0, width, height))
                y += sign * height
    return boxes


def _logo(axis: plt.Axes, scores: np.ndarray) -> None:
    """A contribution logo drawn as one compound path per base.

    logomaker builds a text path for every glyph (~8 ms each); a 200-bp hypothetical row has
    800 of them and a seven-method figure fourteen rows, so this draws the same letters from one
    cached outline per base, about 100 times faster.
    """
    for base, placed in stacked_glyphs(scores).items():
        if not placed:
            continue
        glyph = _unit_glyph(base)
        pieces = [
            Affine2D().scale(w, h).translate(x0, y0).transform_path(glyph)
            for x0, y0, w, h in placed
        ]
        # add_artist, not add_patch: the limits are set below, and add_patch would walk
        # every Bezier segment of every letter to find them (seconds per figure).
        axis.add_artist(
            PathPatch(MplPath.make_compound_path(*pieces), facecolor=BASE_COLOURS[base],
                      edgecolor="none")
        )  # fmt: skip
    low = min(0.0, float(np.minimum(scores, 0).sum(axis=0).min()))
    high = max(0.0, float(np.maximum(scores, 0).sum(axis=0).max()))
    pad = 0.05 * (high - low) or 1.0
    axis.set_xlim(-0.5, scores.shape[1] - 0.5)
    axis.set_ylim(low - (pad if low < 0 else 0), high + pad)
    axis.axhline(0.0, color="black", linewidth=0.4)


def plot_sequence_logos(
    one_hot: np.ndarray,
    tracks: dict[str, np.ndarray],
    out: str | os.PathLike,
    instances: Sequence[tuple[int, int, str]] | None = None,
    title: str = "",
    hypothetical: dict[str, np.ndarray] | None = None,
) -> Path:
    """Logos of actual (and optionally hypothetical) contributions, one row per method.

    Letters are scaled by their score, negative scores drawn below zero. Hypothetical rows
    have a grey background. Embedded instances are shaded on every row and named above the top
    row.

    Args:
        one_hot: (4, L) the sequence.
        tracks: method -> (4, L) actual contributions (hypothetical × one-hot).
        out: PNG path.
        instances: (start, end, motif) half-open, 0-based windows to shade.
        title: Figure title.
        hypothetical: method -> (4, L) hypothetical contributions, drawn under that method's
            actual row; every key must be a track name.

    Returns:
        ``out`` as a Path.

    Raises:
        LiftGenomicsError: on a wrong shape, a non-finite score, an unknown hypothetical track
            or an instance outside the sequence.
    """
    one_hot = np.asarray(one_hot)
    if one_hot.ndim != 2 or one_hot.shape[0] != 4 or one_hot.shape[1] == 0:
        raise LiftGenomicsError(f"one_hot must have shape (4, L) with L > 0, got {one_hot.shape}")
    if not tracks:
        raise LiftGenomicsError("plot_sequence_logos needs at least one track")
    hypothetical = hypothetical or {}
    unknown = [name for name in hypothetical if name not in tracks]
    if unknown:
        raise LiftGenomicsError(
            f"hypothetical track(s) {unknown} have no actual track (tracks: {list(tracks)})"
        )
    length = one_hot.shape[1]
    rows: list[tuple[str, np.ndarray, bool]] = []
    for name, scores in tracks.items():
        rows.append((name.replace("_", " "), _check_scores(name, scores, length), False))
        if name in hypothetical:
            scores = _check_scores(f"{name} (hypothetical)", hypothetical[name], length)
            rows.append((f"{name.replace('_', ' ')}\n(hypothetical)", scores, True))
    boxes = _check_instances(instances, length)
    motifs = sorted({m for _, _, m in boxes})
    colours = motif_colours(motifs)
    width = min(MAX_LOGO_WIDTH, max(10.0, length / 12))
    figure, axes = plt.subplots(
        len(rows),
        1,
        figsize=(width, 1.15 * len(rows) + 0.7),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for axis, (label, scores, is_hypothetical) in zip(axes[:, 0], rows, strict=True):
        _logo(axis, scores)
        if is_hypothetical:
            axis.set_facecolor("#f3f3f3")
        for start, end, motif in boxes:
            # Outlined as well as shaded, so abutting instances stay two boxes.
            axis.axvspan(
                start - 0.5,
                end - 0.5,
                facecolor=matplotlib.colors.to_rgba(colours[motif], 0.15),
                edgecolor=matplotlib.colors.to_rgba(colours[motif], 0.7),
                linewidth=0.6,
            )
        axis.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
        axis.tick_params(labelsize=6)
    top = axes[0, 0]
    above = blended_transform_factory(top.transData, top.transAxes)
    # Letters at 7 pt are about 4.2 pt wide; the axis spans about 85% of the figure width.
    positions_per_point = length / (width * 72 * 0.85)
    for (start, end, motif), level in zip(
        boxes, _label_levels(boxes, positions_per_point), strict=True
    ):
        top.text(
            (start + end - 1) / 2,
            1.03 + 0.22 * level,
            motif,
            transform=above,
            ha="center",
            va="bottom",
            fontsize=7,
            color=colours[motif],
            fontweight="bold",
        )
    axes[-1, 0].set_xlabel("position (0-based)", fontsize=8)
    axes[-1, 0].set_xlim(-0.5, length - 0.5)
    if motifs:
        figure.legend(
            handles=[Patch(color=colours[m], alpha=0.4, label=m) for m in motifs],
            fontsize=7,
            frameon=False,
            loc="outside upper right",
            ncol=len(motifs),
        )
    if title:
        figure.suptitle(title, fontsize=9, x=0.02, ha="left")
    return save_figure(figure, out)


def information_content(probabilities: np.ndarray, background: Sequence[float]) -> np.ndarray:
    """Per-letter heights p·KL(p‖background) in bits, (W, 4).

    Args:
        probabilities: (W, 4) rows of probabilities.
        background: The four background probabilities.

    Returns:
        (W, 4) letter heights; each row sums to the position's relative entropy (≥ 0).
    """
    p = np.asarray(probabilities, dtype=float)
    q = np.asarray(background, dtype=float)
    relative = np.sum(p * np.log2(np.where(p > 0, p, 1.0) / q), axis=1, keepdims=True)
    return p * np.clip(relative, 0.0, None)


def _check_probabilities(name: str, matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.shape[0] == 0:
        raise LiftGenomicsError(f"motif {name!r}: expected (W, 4) with W > 0, got {matrix.shape}")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise LiftGenomicsError(f"motif {name!r}: probabilities must be finite and non-negative")
    totals = matrix.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise LiftGenomicsError(
            f"motif {name!r}: position {int(np.flatnonzero(totals[:, 0] <= 0)[0]) + 1} sums to 0"
        )
    # Compendium matrices are rounded; renormalise rather than reject rows summing to 0.999.
    return matrix / totals


def plot_pwm_logos(
    motifs: dict[str, np.ndarray],
    out: str | os.PathLike,
    background: Sequence[float] = (0.3, 0.2, 0.2, 0.3),
) -> Path:
    """Information-content logos (bits relative to ``background``), one row per motif.

    Args:
        motifs: name -> (W, 4) position probability matrix (rows renormalised to sum to 1).
        out: PNG path.
        background: A C G T background probabilities.

    Returns:
        ``out`` as a Path.

    Raises:
        LiftGenomicsError: on no motifs, a wrong shape, negative or non-finite probabilities,
            or a bad background.
    """
    if not motifs:
        raise LiftGenomicsError("plot_pwm_logos needs at least one motif")
    q = np.asarray(background, dtype=float)
    if q.shape != (4,) or not np.isfinite(q).all() or (q <= 0).any():
        raise LiftGenomicsError(
            f"background must be four positive probabilities (A, C, G, T), got {background!r}"
        )
    heights = {
        name: information_content(_check_probabilities(name, m), q / q.sum())
        for name, m in motifs.items()
    }
    width = max(h.shape[0] for h in heights.values())
    # One y scale for all rows, so the motifs' information can be compared by eye.
    top = max(0.25, max(float(h.sum(axis=1).max()) for h in heights.values())) * 1.05
    figure, axes = plt.subplots(
        len(heights), 1, figsize=(max(4.0, width * 0.38), 1.5 * len(heights)), squeeze=False
    )
    for axis, (name, letters) in zip(axes[:, 0], heights.items(), strict=True):
        frame = pd.DataFrame(
            letters, columns=list(ALPHABET), index=np.arange(1, letters.shape[0] + 1)
        )
        draw_logo(frame, axis)
        axis.set_ylim(0, top)
        axis.set_xticks(frame.index)
        axis.set_title(name, fontsize=8)
        axis.set_ylabel("bits", fontsize=7)
        axis.tick_params(labelsize=6)
    figure.tight_layout()
    return save_figure(figure, out)
