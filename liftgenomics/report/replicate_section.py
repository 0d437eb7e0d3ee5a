"""The report's replicate section: the metrics' spread over seeds and the paired method tests.

:func:`replicate_section` renders the outputs of :mod:`liftgenomics.paper.replicates`
(:class:`ReplicateResults`): the replicate false-negative figure, the method comparisons with
their sign-flip tests and verdicts, the task-0 false-negative rates' mean, sd and range over
seeds per reference, and the model's test auROC per task and seed beside the paper's model.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.report.tables import html_table, image_block


@dataclass(frozen=True)
class ReplicateResults:
    """The replicate step's outputs, for the report.

    Attributes:
        summary: ``replicates.tsv``.
        comparisons: ``comparisons.tsv``.
        figure: The per-seed false-negative PNG, or None.
    """

    summary: pd.DataFrame
    comparisons: pd.DataFrame
    figure: Path | None = None

    @classmethod
    def read(
        cls,
        summary: str | os.PathLike,
        comparisons: str | os.PathLike | None,
        figure: str | os.PathLike | None = None,
    ) -> ReplicateResults:
        """Read the two tables (both required) and note the figure's path."""
        if comparisons is None:
            raise LiftGenomicsError("--replicates needs --comparisons (comparisons.tsv)")
        tables = []
        for path in (summary, comparisons):
            if not Path(path).is_file():
                raise LiftGenomicsError(f"{path}: not found (run 'replicates' first)")
            tables.append(pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""]))
        return cls(tables[0], tables[1], Path(figure) if figure else None)


def _seed_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if str(c).startswith("seed")]


def _replicate_model_table(summary: pd.DataFrame) -> str:
    """The model's test auROC per task and seed, beside the paper's released model."""
    from liftgenomics.paper.replicates import PAPER_AUROC

    model = summary[summary["metric"] == "test_auroc"]
    if model.empty:
        return "<p>No model metrics.</p>"
    table = model[["task", *_seed_columns(model), "mean", "sd"]].copy()
    table["paper"] = [PAPER_AUROC.get(_as_int(t)) for t in table["task"]]
    return html_table(table.reset_index(drop=True))


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _replicate_false_negative_table(summary: pd.DataFrame) -> str:
    """Task-0 false-negative rates: mean, sd and min-max over seeds, per reference."""
    chosen = summary[(summary["metric"] == "false_negative_rate")]
    columns = ["method", "motif", "n_seeds", "mean", "sd", "min", "max", *_seed_columns(summary)]
    parts = []
    for (reference, task), group in chosen.groupby(["reference", "task"], sort=False):
        parts.append(
            f"<h4>reference {html.escape(str(reference))}, task {html.escape(str(task))}</h4>"
            + html_table(group[columns].reset_index(drop=True), {"mean": "min"}, groups=("motif",))
        )
    return "".join(parts) or "<p>No false-negative rates.</p>"


def _comparison_table(comparisons: pd.DataFrame) -> str:
    if comparisons.empty:
        return "<p>No comparison: the configured methods include none of the paper's pairs.</p>"
    shown = comparisons[
        ["reference", "motif", "method", "baseline", "claim", *_seed_columns(comparisons)]
        + ["mean_difference", "p_one_sided", "p_two_sided", "verdict"]
    ].copy()
    # The paper's figure 5b used the flat reference only; other references test the same claim.
    shown["claim"] = [
        claim + ("" if reference == "flat" else " (paper: flat reference)")
        for claim, reference in zip(shown["claim"], shown["reference"], strict=True)
    ]
    return html_table(shown.reset_index(drop=True), groups=("reference",))


def replicate_section(replicates: ReplicateResults) -> str:
    """The report's replicate section: figure, comparisons with verdicts, spread, auROC."""
    summary, comparisons = replicates.summary, replicates.comparisons
    seeds = [c.removeprefix("seed") for c in _seed_columns(summary)]
    n = len(seeds)
    alpha = float(comparisons["alpha"].iloc[0]) if not comparisons.empty else 0.05
    parts = [
        f"<h2>Replicates: {n} seeds ({html.escape(', '.join(seeds))})</h2>",
        "<p class='note'>Each seed ran the whole chain (simulation, training, attribution "
        "references, as configured in <code>replicates.vary</code>); the tables above show "
        "the first seed. Below: the spread over seeds and paired comparisons.</p>",
    ]
    if replicates.figure is not None:
        caption = "Task-0 false-negative rates: one point per seed, the bar at the mean."
        parts.append(
            f"<figure>{image_block(caption, replicates.figure)}"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts += [
        "<h3>The paper's claims, seed by seed</h3>",
        "<p class='note'>Per seed: the difference of false-negative rates, method − baseline "
        "(the paper claims it is negative). Test: exact sign-flip permutation test on the "
        f"per-seed differences (all 2^{n} = {2**n} sign patterns), <b>one-sided</b> in the "
        f"paper's direction, at α = {alpha:g}: <i>holds</i> when p_one_sided ≤ α, "
        "<i>reversed</i> when the opposite one-sided p ≤ α, else <i>not shown</i>. With "
        f"{n} seeds the smallest one-sided p is 1/{2**n} = {1 / 2**n:.3g} and the smallest "
        f"two-sided p 2/{2**n} = {2 / 2**n:.3g} (shown for reference, not used for the "
        "verdict). A seed with no strong hit for either method is left out; a zero "
        "difference counts as both signs.</p>",
        _comparison_table(comparisons),
        "<h3>False-negative rates over seeds</h3>",
        _replicate_false_negative_table(summary),
        "<h3>Model test auROC per seed</h3>",
        "<p class='note'>The paper's released model: 0.989 / 0.988 / 0.997 (tasks 0 / 1 / 2).</p>",
        _replicate_model_table(summary),
        "<p class='note'>All metrics over seeds (false-positive ratios and per-base auROC "
        "too) are in <code>results/metrics/replicates.tsv</code>, the comparisons in "
        "<code>results/metrics/comparisons.tsv</code>.</p>",
    ]
    return "\n".join(parts)
