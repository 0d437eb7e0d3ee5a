"""The report's result plots: the paper's figure-5 grid and false-negative bars.

:func:`plot_motif_recovery` draws each motif hit's log-odds against the total attribution over
it, tasks × methods, coloured by sequence class; :func:`plot_false_negatives` the task-0
false-negative rate per method and motif; :func:`plot_replicate_false_negatives` its spread
over seeds. Every function checks its input first, then draws one figure, saves it as a PNG
atomically (no file at all on a failure; :func:`liftgenomics.logos.save_figure`), closes it and
returns the path. Colours, orders and layout are fixed, so the same inputs give the same
picture. Logos are drawn by :mod:`liftgenomics.logos`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from liftgenomics.errors import LiftGenomicsError  # noqa: E402
from liftgenomics.logos import CLASS_COLOURS, motif_colours, save_figure
from liftgenomics.paper.recovery import STRONG_LOG_ODDS  # noqa: E402

HIT_COLUMNS = ("class", "motif", "log_odds", "method", "reference", "task", "score")
FALSE_NEGATIVE_COLUMNS = ("method", "reference", "task", "motif", "false_negative_rate")


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LiftGenomicsError(
            f"{what}: missing column(s) {missing}; has {[str(c) for c in frame.columns]}"
        )


def _in_order(values: Iterable) -> list:
    """Distinct values in order of first appearance (the order the workflow wrote them)."""
    return list(dict.fromkeys(values))


def _class_colour(name: str, extra: list[str]) -> str:
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    # Classes beyond the paper's four get tab10 colours in a fixed order.
    return matplotlib.colors.to_hex(plt.get_cmap("tab10")(extra.index(name) % 10))


def plot_motif_recovery(
    hits: pd.DataFrame,
    out: str | os.PathLike,
    reference: str,
    methods: Sequence[str] | None = None,
) -> Path:
    """The paper's figure 5: log-odds vs total score per hit, tasks × methods, by class.

    Every panel has its own y axis (limits and tick labels), as in the paper: methods' totals
    differ in scale (ISM's by far), and a shared axis would flatten the smaller ones.

    Args:
        hits: ``motif_hits.tsv`` rows (id, class, motif, start, log_odds, method, reference,
            task, score).
        out: PNG path.
        reference: The reference whose scores to draw.
        methods: Columns, in order; by default every method, in order of first appearance.

    Returns:
        ``out`` as a Path.

    Raises:
        LiftGenomicsError: on missing columns, no hit with log-odds > 0 for ``reference``, or a
            requested method without such hits.
    """
    _require_columns(hits, HIT_COLUMNS, "motif hits")
    chosen = hits[(hits["reference"] == reference) & (hits["log_odds"] > 0)]
    if chosen.empty:
        present = _in_order(hits["reference"])
        raise LiftGenomicsError(
            f"no motif hits with log-odds > 0 for reference {reference!r} "
            f"(references in the table: {present})"
        )
    available = _in_order(chosen["method"])
    methods = list(methods) if methods else available
    unknown = [m for m in methods if m not in available]
    if unknown:
        raise LiftGenomicsError(
            f"method(s) {unknown} have no motif hits for reference {reference!r} "
            f"(methods present: {available})"
        )
    tasks = sorted(chosen["task"].unique())
    present_classes = set(chosen["class"])
    extra = sorted(present_classes - set(CLASS_COLOURS))
    classes = [c for c in CLASS_COLOURS if c in present_classes] + extra
    figure, axes = plt.subplots(
        len(tasks),
        len(methods),
        figsize=(max(2.6 * len(methods), 6.0), 2.3 * len(tasks) + 0.8),
        squeeze=False,
        sharex=True,
        # Each panel its own y axis, as in the paper's figure 5: ISM's totals run to tens while
        # DeepLIFT's stay within a few units, and one shared axis would flatten the latter.
        sharey=False,
        layout="constrained",
    )
    # Small points for the paper-sized scatter (thousands per panel), larger for a small test set.
    largest = chosen.groupby(["task", "method"]).size().max()
    size = 3.0 if largest > 1500 else 8.0
    for row, task in enumerate(tasks):
        for column, method in enumerate(methods):
            axis = axes[row, column]
            panel = chosen[(chosen["task"] == task) & (chosen["method"] == method)]
            # Classes are drawn in legend order, so "both" (the cooperative case) lies on top.
            for name in classes:
                part = panel[panel["class"] == name]
                axis.scatter(
                    part["log_odds"],
                    part["score"],
                    s=size,
                    alpha=0.5,
                    linewidths=0,
                    color=_class_colour(name, extra),
                    rasterized=True,
                )
            axis.axhline(0.0, color="black", linewidth=0.6)
            axis.set_title(f"{method.replace('_', ' ')} · task {task}", fontsize=7.5)
            if column == 0:
                axis.set_ylabel("total score", fontsize=8)
            if row == len(tasks) - 1:
                axis.set_xlabel("log-odds", fontsize=8)
            axis.tick_params(labelsize=7)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=_class_colour(c, extra), label=c)
        for c in classes
    ]
    figure.suptitle(
        f"Motif hits: log-odds vs total attribution over the hit (reference {reference})",
        fontsize=10,
    )
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        title="sequence class",
        title_fontsize=8,
    )
    return save_figure(figure, out)


def plot_false_negatives(
    summary: pd.DataFrame,
    out: str | os.PathLike,
    reference: str,
    methods: Sequence[str] | None = None,
) -> Path:
    """Bars of the task-0 false-negative rate per method and motif (the paper's figure 5b).

    Args:
        summary: ``summary.tsv`` rows (method, reference, task, motif, false_negative_rate, ...).
        out: PNG path.
        reference: The reference to draw.
        methods: Bar groups, in order; by default every method with a rate, in order of first
            appearance.

    Returns:
        ``out`` as a Path.

    Raises:
        LiftGenomicsError: on missing columns, no task-0 rate for ``reference``, or a requested
            method without one.
    """
    _require_columns(summary, FALSE_NEGATIVE_COLUMNS, "summary")
    chosen = summary[
        (summary["reference"] == reference)
        & (summary["task"] == 0)
        & summary["false_negative_rate"].notna()
    ]
    if chosen.empty:
        raise LiftGenomicsError(
            f"no false-negative rates on task 0 for reference {reference!r} "
            f"(references in the summary: {_in_order(summary['reference'])})"
        )
    available = _in_order(chosen["method"])
    methods = list(methods) if methods else available
    unknown = [m for m in methods if m not in available]
    if unknown:
        raise LiftGenomicsError(
            f"method(s) {unknown} have no false-negative rate for reference {reference!r}"
        )
    motifs = _in_order(chosen["motif"])
    table = chosen.pivot_table(
        index="method", columns="motif", values="false_negative_rate", aggfunc="mean"
    ).reindex(index=methods, columns=motifs)
    figure, axis = plt.subplots(figsize=(1.6 + 1.0 * len(methods), 3.4))
    width = 0.8 / len(motifs)
    positions = np.arange(len(methods))
    colours = motif_colours(motifs)
    for k, motif in enumerate(motifs):
        values = table[motif].to_numpy(dtype=float)
        bars = axis.bar(
            positions + (k - (len(motifs) - 1) / 2) * width,
            np.nan_to_num(values),
            width,
            label=motif,
            color=colours[motif],
        )
        # A value over each bar: a rate of 0 must not look like a missing bar.
        labels = ["n/a" if np.isnan(v) else f"{v:.2f}" for v in values]
        axis.bar_label(bars, labels=labels, fontsize=6, padding=1)
    axis.set_xticks(positions)
    axis.set_xticklabels([m.replace("_", "\n") for m in methods], fontsize=7)
    axis.set_ylabel(f"false-negative rate\n(log-odds ≥ {STRONG_LOG_ODDS:g}, score ≤ 0)", fontsize=8)
    top = float(np.nanmax(table.to_numpy(dtype=float)))
    axis.set_ylim(0, max(0.05, top) * 1.18)
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axis.set_title(f"Strong motif hits missed on task 0 (reference {reference})", fontsize=9)
    figure.tight_layout()
    return save_figure(figure, out)


def plot_replicate_false_negatives(replicates: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Task-0 false-negative rates over seeds: one point per seed, a bar at the mean.

    One panel per reference; methods along x, one colour per motif (side by side).

    Args:
        replicates: ``replicates.tsv`` rows (method, reference, task, motif, metric, mean and
            one ``seed{s}`` column per seed).
        out: PNG path.

    Returns:
        ``out`` as a Path.

    Raises:
        LiftGenomicsError: on missing columns or no task-0 false-negative rate.
    """
    _require_columns(
        replicates, ("method", "reference", "task", "motif", "metric", "mean"), "replicates"
    )
    seed_columns = [c for c in replicates.columns if str(c).startswith("seed")]
    chosen = replicates[
        (replicates["metric"] == "false_negative_rate") & (replicates["task"].astype(str) == "0")
    ]
    if chosen.empty or not seed_columns:
        raise LiftGenomicsError("replicates: no per-seed false-negative rates on task 0")
    references = _in_order(chosen["reference"])
    methods = _in_order(chosen["method"])
    motifs = _in_order(chosen["motif"])
    colours = motif_colours(motifs)
    width = 0.8 / len(motifs)
    # One panel per reference, stacked, so that methods line up across references.
    figure, axes = plt.subplots(
        len(references), 1, figsize=(1.6 + 0.9 * len(methods), 0.6 + 2.6 * len(references)),
        sharex=True, squeeze=False,
    )  # fmt: skip
    # A small fixed jitter, so seeds with equal rates stay visible side by side.
    jitter = np.linspace(-0.3, 0.3, len(seed_columns)) * width
    for axis, reference in zip(axes[:, 0], references, strict=True):
        for k, motif in enumerate(motifs):
            offset = (k - (len(motifs) - 1) / 2) * width
            for i, method in enumerate(methods):
                row = chosen[
                    (chosen["reference"] == reference)
                    & (chosen["method"] == method)
                    & (chosen["motif"] == motif)
                ]
                if row.empty:
                    continue
                values = row[seed_columns].iloc[0].to_numpy(dtype=float)
                x = i + offset
                axis.scatter(x + jitter, values, s=12, color=colours[motif], alpha=0.8, lw=0)
                axis.hlines(float(row["mean"].iloc[0]), x - width / 2, x + width / 2, color="k")
        axis.set_xticks(np.arange(len(methods)))
        axis.set_xticklabels([m.replace("_", "\n") for m in methods], fontsize=7)
        axis.set_title(f"reference {reference}", fontsize=9)
        axis.tick_params(axis="y", labelsize=7)
        axis.set_ylabel(
            f"task-0 false-negative rate\n(log-odds ≥ {STRONG_LOG_ODDS:g}, score ≤ 0)",
            fontsize=8,
        )
    handles = [Line2D([], [], ls="", marker="o", color=colours[m], label=m) for m in motifs]
    handles.append(Line2D([], [], color="k", label="mean over seeds"))
    axes[0, 0].legend(
        handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    figure.suptitle(
        f"Strong motif hits missed on task 0: {len(seed_columns)} seeds (points), mean (bar)",
        fontsize=9,
    )
    figure.tight_layout()
    return save_figure(figure, out)
