"""The paper's figure-5b false-negative rates beside a run's in the report."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from liftgenomics.logos import plot_pwm_logos
from liftgenomics.paper.published import FIGURE_5B_FALSE_NEGATIVES
from liftgenomics.report.html import published_table, write_report


def summary_rows(reference: str = "flat") -> pd.DataFrame:
    rates = {
        ("ism", "TAL1_known1"): 0.25,
        ("ism", "GATA_disc1"): 0.0,
        ("grad_input", "TAL1_known1"): 0.125,
        ("grad_input", "GATA_disc1"): 0.05,
    }
    rows = [
        {"method": m, "reference": reference, "task": task, "motif": motif,
         "false_negative_rate": rate if task == 0 else np.nan}
        for (m, motif), rate in rates.items()
        for task in (0, 1)
    ]  # fmt: skip
    # A non-flat reference must not leak into the flat column.
    rows.append({"method": "grad_input", "reference": "dinuc20", "task": 0,
                 "motif": "TAL1_known1", "false_negative_rate": 0.9})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_published_numbers_are_the_papers():
    assert FIGURE_5B_FALSE_NEGATIVES["grad_input"] == (11.6, 3.8)
    assert FIGURE_5B_FALSE_NEGATIVES["integrated_gradients"] == (8.0, 6.4)
    assert FIGURE_5B_FALSE_NEGATIVES["deeplift_rescale"] == (7.0, 4.5)
    for method in ("deeplift_revealcancel", "guided_backprop", "deeplift_genomics"):
        assert FIGURE_5B_FALSE_NEGATIVES[method] == (0.0, 0.0)
    assert "ism" not in FIGURE_5B_FALSE_NEGATIVES


def test_table_puts_ours_in_percent_beside_the_papers():
    table = published_table(summary_rows()).set_index("method")
    assert list(table.columns) == [
        "TAL1 ours (%)", "TAL1 paper (%)", "GATA ours (%)", "GATA paper (%)"
    ]  # fmt: skip
    # The run's methods first, in its order, then the paper's others.
    assert list(table.index) == [
        "ism", "grad_input", "integrated_gradients", "deeplift_rescale",
        "deeplift_revealcancel", "guided_backprop", "deeplift_genomics",
    ]  # fmt: skip
    assert table.loc["grad_input"].tolist() == pytest.approx([12.5, 11.6, 5.0, 3.8])
    ism = table.loc["ism"].tolist()
    assert ism[0] == 25.0 and ism[2] == 0.0 and math.isnan(ism[1]) and math.isnan(ism[3])
    rescale = table.loc["deeplift_rescale"].tolist()
    assert math.isnan(rescale[0]) and rescale[1] == 7.0


def test_without_a_flat_reference_ours_are_missing():
    table = published_table(summary_rows("dinuc20"))
    assert table["TAL1 ours (%)"].isna().all() and table["GATA ours (%)"].isna().all()
    assert table["TAL1 paper (%)"].notna().sum() == 6


def test_every_report_shows_the_table(tmp_path):
    figure = plot_pwm_logos({"M": np.eye(4)}, tmp_path / "m.png")
    path = write_report(
        tmp_path / "r.html",
        summary=summary_rows(),
        figures={"logo": figure},
        settings={},
        model_metrics={
            "tasks": ["task0"],
            "auroc": {"task0": 0.989},
            "auprc": {"task0": 0.97},
            "accuracy": {"task0": 0.9475},
            "source": "the authors' <model>",
        },
    )
    page = path.read_text(encoding="utf-8")
    assert "figure 5b" in page and "ICML 2017" in page
    section = page.split("figure 5b beside this run")[1].split("<h2>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", section)
    assert cells[:5] == ["ism", "25", "–", "0", "–"]
    assert cells[5:10] == ["grad_input", "12.5", "11.6", "5", "3.8"]
    assert "<th>accuracy</th>" in page and "0.948" in page
    assert "Model: the authors&#x27; &lt;model&gt;." in page
