"""Tests of the HTML report: self-contained, complete, escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.plots import plot_pwm_logos
from liftgenomics.report import write_report


def test_report_is_self_contained_and_complete(tmp_path):
    figure = plot_pwm_logos({"M": np.eye(4)}, tmp_path / "m.png")
    summary = pd.DataFrame(
        {
            "method": ["deeplift_genomics", "grad_input"],
            "reference": "flat",
            "task": 0,
            "motif": "GATA_disc1",
            "n_hits": 10,
            "false_negative_rate": [0.0123, 0.5],
            "false_positive_ratio": np.nan,
            "auroc": [0.91, 0.6],
            "auprc": [0.8, 0.3],
        }
    )
    out = write_report(
        tmp_path / "r.html",
        summary=summary,
        figures={"PWM <logos>": figure},
        settings={"seed": 7},
        model_metrics={"auroc": {"task0": 0.99}, "auprc": {"task0": 0.98}},
    )
    page = out.read_text()
    assert 'src="http' not in page and 'href="http' not in page
    assert "data:image/png;base64," in page
    assert "PWM &lt;logos&gt;" in page  # captions are escaped
    assert "0.0123" in page and "0.99" in page and "&quot;seed&quot;: 7" in page
    assert "deeplift_genomics" in page


def test_missing_figure_is_an_error(tmp_path):
    summary = pd.DataFrame(columns=["method", "reference", "task", "motif", "false_negative_rate"])
    with pytest.raises(LiftGenomicsError, match="figure not found"):
        write_report(
            tmp_path / "r.html",
            summary=summary,
            figures={"x": tmp_path / "missing.png"},
            settings={},
        )
    assert not (tmp_path / "r.html").exists()
