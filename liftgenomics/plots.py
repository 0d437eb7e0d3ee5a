"""Pictures: the paper's figure-5 grid, false-negative bars, sequence and motif logos.

Every function draws one figure, saves it as a PNG atomically (no half-written file on a
failure), closes it and returns the path. Colours and layout are fixed, so the same inputs give
the same picture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import logomaker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from liftgenomics.errors import LiftGenomicsError  # noqa: E402
from liftgenomics.io import atomic_path  # noqa: E402

DPI = 110
CLASS_COLOURS = {
    "neither": "#9e9e9e",
    "gata_only": "#1f77b4",
    "tal_only": "#d62728",
    "both": "#2ca02c",
}
MOTIF_COLOURS = ("#ff7f0e", "#9467bd", "#8c564b", "#17becf")
BASE_COLOURS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


def _save(figure: plt.Figure, out: str | os.PathLike) -> Path:
    try:
        with atomic_path(out, suffix=".png") as tmp:
            figure.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)
    return Path(out)


def _class_colour(name: str, order: list[str]) -> str:
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    return plt.get_cmap("tab10")(order.index(name) % 10)


def plot_motif_recovery(
    hits: pd.DataFrame,
    out: str | os.PathLike,
    reference: str,
    methods: Sequence[str] | None = None,
) -> Path:
    """The paper's figure 5: log-odds vs total score per hit, methods × tasks, by class.

    Args:
        hits: ``motif_hits.tsv`` rows (id, class, motif, start, log_odds, method, reference,
            task, score).
        out: PNG path.
        reference: The reference whose scores to draw.
        methods: Columns, in order; by default every method present.
    """
    chosen = hits[(hits["reference"] == reference) & (hits["log_odds"] > 0)]
    if chosen.empty:
        raise LiftGenomicsError(f"no motif hits with log-odds > 0 for reference {reference!r}")
    methods = list(methods) if methods else sorted(chosen["method"].unique())
    tasks = sorted(chosen["task"].unique())
    classes = list(dict.fromkeys(list(CLASS_COLOURS) + sorted(chosen["class"].unique())))
    classes = [c for c in classes if c in set(chosen["class"])]
    figure, axes = plt.subplots(
        len(tasks),
        len(methods),
        figsize=(2.6 * len(methods), 2.3 * len(tasks)),
        squeeze=False,
        sharex=True,
        sharey="row",
    )
    for row, task in enumerate(tasks):
        for column, method in enumerate(methods):
            axis = axes[row, column]
            panel = chosen[(chosen["task"] == task) & (chosen["method"] == method)]
            for name in classes:
                part = panel[panel["class"] == name]
                axis.scatter(
                    part["log_odds"],
                    part["score"],
                    s=3,
                    alpha=0.5,
                    linewidths=0,
                    color=_class_colour(name, classes),
                    label=name,
                    rasterized=True,
                )
            axis.axhline(0.0, color="black", linewidth=0.6)
            if row == 0:
                axis.set_title(method.replace("_", " "), fontsize=8)
            if column == 0:
                axis.set_ylabel(f"task {task}\ntotal score", fontsize=8)
            if row == len(tasks) - 1:
                axis.set_xlabel("log-odds", fontsize=8)
            axis.tick_params(labelsize=7)
    handles = [Patch(color=_class_colour(c, classes), label=c) for c in classes]
    figure.legend(
        handles=handles,
        loc="upper center",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 1.02),
    )
    figure.suptitle(
        f"Motif hits: log-odds vs total attribution (reference {reference})", y=1.06, fontsize=10
    )
    figure.tight_layout()
    return _save(figure, out)


def plot_false_negatives(summary: pd.DataFrame, out: str | os.PathLike, reference: str) -> Path:
    """Bars of the task-0 false-negative rate per method and motif (the paper's figure 5b)."""
    chosen = summary[(summary["reference"] == reference) & summary["false_negative_rate"].notna()]
    if chosen.empty:
        raise LiftGenomicsError(f"no false-negative rates for reference {reference!r}")
    table = chosen.pivot_table(index="method", columns="motif", values="false_negative_rate")
    figure, axis = plt.subplots(figsize=(1.0 + 0.9 * len(table), 3.2))
    width = 0.8 / max(1, table.shape[1])
    positions = np.arange(len(table))
    for k, motif in enumerate(table.columns):
        axis.bar(
            positions + (k - (table.shape[1] - 1) / 2) * width,
            table[motif],
            width,
            label=motif,
            color=MOTIF_COLOURS[k % len(MOTIF_COLOURS)],
        )
    axis.set_xticks(positions)
    axis.set_xticklabels([m.replace("_", "\n") for m in table.index], fontsize=7)
    axis.set_ylabel("false-negative rate\n(log-odds ≥ 7, score ≤ 0)", fontsize=8)
    axis.set_ylim(0, max(0.05, float(np.nanmax(table.to_numpy())) * 1.15))
    axis.legend(fontsize=7, frameon=False)
    axis.set_title(f"Strong motif hits missed on task 0 (reference {reference})", fontsize=9)
    figure.tight_layout()
    return _save(figure, out)


def _check_track(name: str, array: np.ndarray, length: int) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.shape != (4, length):
        raise LiftGenomicsError(f"track {name!r}: expected shape (4, {length}), got {array.shape}")
    return array


def _logo(axis: plt.Axes, scores: np.ndarray) -> None:
    frame = pd.DataFrame(scores.T, columns=list("ACGT"))
    logomaker.Logo(frame, ax=axis, color_scheme=BASE_COLOURS, flip_below=False)
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

    Args:
        one_hot: (4, L) the sequence.
        tracks: method -> (4, L) actual contributions.
        out: PNG path.
        instances: (start, end, motif) boxes drawn on every row.
        title: Figure title.
        hypothetical: method -> (4, L) hypothetical contributions, drawn under each track.
    """
    one_hot = np.asarray(one_hot)
    if one_hot.ndim != 2 or one_hot.shape[0] != 4:
        raise LiftGenomicsError(f"one_hot must have shape (4, L), got {one_hot.shape}")
    if not tracks:
        raise LiftGenomicsError("plot_sequence_logos needs at least one track")
    length = one_hot.shape[1]
    rows: list[tuple[str, np.ndarray]] = []
    for name, scores in tracks.items():
        rows.append((name, _check_track(name, scores, length)))
        if hypothetical is not None and name in hypothetical:
            rows.append((f"{name}\n(hypothetical)", _check_track(name, hypothetical[name], length)))
    motifs = sorted({m for _, _, m in instances or []})
    figure, axes = plt.subplots(
        len(rows), 1, figsize=(max(10.0, length / 12), 1.1 * len(rows)), sharex=True, squeeze=False
    )
    for axis, (name, scores) in zip(axes[:, 0], rows, strict=True):
        _logo(axis, scores)
        low, high = axis.get_ylim()
        for start, end, motif in instances or []:
            colour = MOTIF_COLOURS[motifs.index(motif) % len(MOTIF_COLOURS)]
            axis.add_patch(
                Rectangle(
                    (start - 0.5, low),
                    end - start,
                    high - low,
                    fill=False,
                    edgecolor=colour,
                    linewidth=1.0,
                )
            )
        axis.set_ylabel(name.replace("_", " "), fontsize=7, rotation=0, ha="right", va="center")
        axis.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("position", fontsize=8)
    handles = [
        Patch(edgecolor=MOTIF_COLOURS[k % len(MOTIF_COLOURS)], fill=False, label=m)
        for k, m in enumerate(motifs)
    ]
    if handles:
        axes[0, 0].legend(
            handles=handles,
            fontsize=7,
            frameon=False,
            loc="upper right",
            bbox_to_anchor=(1.0, 1.6),
            ncol=len(handles),
        )
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, out)


def information_content(probabilities: np.ndarray, background: Sequence[float]) -> np.ndarray:
    """Per-letter heights p·KL(p‖background) in bits, (W, 4)."""
    p = np.asarray(probabilities, dtype=float)
    q = np.asarray(background, dtype=float)
    relative = np.sum(p * np.log2(np.where(p > 0, p, 1.0) / q), axis=1, keepdims=True)
    return p * np.clip(relative, 0.0, None)


def plot_pwm_logos(
    motifs: dict[str, np.ndarray],
    out: str | os.PathLike,
    background: Sequence[float] = (0.3, 0.2, 0.2, 0.3),
) -> Path:
    """Information-content logos (bits relative to ``background``), one row per motif."""
    if not motifs:
        raise LiftGenomicsError("plot_pwm_logos needs at least one motif")
    for name, matrix in motifs.items():
        if np.asarray(matrix).ndim != 2 or np.asarray(matrix).shape[1] != 4:
            raise LiftGenomicsError(
                f"motif {name!r}: expected (W, 4), got {np.asarray(matrix).shape}"
            )
    width = max(np.asarray(m).shape[0] for m in motifs.values())
    figure, axes = plt.subplots(
        len(motifs), 1, figsize=(max(4.0, width * 0.35), 1.4 * len(motifs)), squeeze=False
    )
    for axis, (name, matrix) in zip(axes[:, 0], motifs.items(), strict=True):
        heights = information_content(matrix, background)
        logomaker.Logo(
            pd.DataFrame(heights, columns=list("ACGT")), ax=axis, color_scheme=BASE_COLOURS
        )
        axis.set_title(name, fontsize=8)
        axis.set_ylabel("bits", fontsize=7)
        axis.tick_params(labelsize=6)
    figure.tight_layout()
    return _save(figure, out)
