"""Tests of the HTML report: self-contained, complete, escaped, and atomic."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.logos import plot_pwm_logos
from liftgenomics.report.html import write_report


@pytest.fixture(scope="module")
def figure(tmp_path_factory):
    return plot_pwm_logos({"M": np.eye(4)}, tmp_path_factory.mktemp("fig") / "m.png")


@pytest.fixture
def summary() -> pd.DataFrame:
    rows = []
    fn = {
        ("deeplift_genomics", "GATA_disc1"): 0.0123456,
        ("deeplift_genomics", "TAL1_known1"): 0.25,
        ("grad_input", "GATA_disc1"): 0.5,
        ("grad_input", "TAL1_known1"): 0.125,
    }
    for reference in ("flat", "dinuc:20"):
        for (method, motif), rate in fn.items():
            for task in (0, 1):
                rows.append(
                    {
                        "method": method,
                        "reference": reference,
                        "task": task,
                        "motif": motif,
                        "n_hits": 2345,
                        "false_negative_rate": rate if task == 0 else np.nan,
                        "false_positive_ratio": np.nan if task == 0 else -0.0731,
                        "auroc": 0.912345 if method == "grad_input" else 0.6,
                        "auprc": 0.3,
                    }
                )
    return pd.DataFrame(rows)


def write(tmp_path, summary, figure, **overrides):
    arguments = {
        "summary": summary,
        "figures": {"PWM <logos> & more": figure},
        "settings": {"seed": 7, "methods": ["deeplift_genomics", "grad_input"]},
        "model_metrics": {
            "tasks": ["task0", "task1", "task2"],
            "n_sequences": 800,
            "auroc": {"task0": 0.989, "task1": 0.988, "task2": None},
            "auprc": {"task0": 0.97, "task1": 0.96, "task2": None},
        },
    }
    arguments.update(overrides)
    return write_report(tmp_path / "r.html", **arguments)


def test_report_is_self_contained(tmp_path, summary, figure):
    page = write(tmp_path, summary, figure).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script" not in page
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    embedded = base64.b64decode(sources[0].removeprefix("data:image/png;base64,"))
    assert embedded == figure.read_bytes()


def test_report_contents(tmp_path, summary, figure):
    page = write(tmp_path, summary, figure).read_text(encoding="utf-8")
    assert "PWM &lt;logos&gt; &amp; more" in page  # captions are escaped
    assert "&quot;seed&quot;: 7" in page and "<pre>" in page  # settings as JSON
    assert "0.989" in page and "0.988" in page  # model metrics
    assert "0.0123" in page and "0.0123456" not in page  # 3 significant digits
    assert "2345" in page and "2.35e+03" not in page  # counts stay whole
    assert "-0.0731" in page and "0.912" in page
    for reference in ("flat", "dinuc:20"):
        assert f"<h3>reference {reference}</h3>" in page
    assert page.count("Lowest mean false-negative rate: <b>deeplift_genomics</b>") == 2


def test_false_negative_table_is_method_by_motif(tmp_path, summary, figure):
    page = write(tmp_path, summary, figure).read_text(encoding="utf-8")
    headline = page.split("False-negative rate on task 0")[1].split("<h3>reference dinuc:20")[0]
    header = re.search(r"<thead>(.*?)</thead>", headline).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["method", "GATA_disc1", "TAL1_known1", "mean"]
    # The lowest rate per motif column is highlighted, and only that one.
    best = re.findall(r'<td class="best">([^<]*)</td>', headline)
    # Row by row: deeplift_genomics has the best GATA rate and mean (0.0123 + 0.25) / 2,
    # grad_input the best TAL1 rate.
    assert best == ["0.0123", "0.131", "0.125"]


def test_tied_lowest_false_negative_rates_are_all_named(tmp_path, summary, figure):
    tied = summary.assign(false_negative_rate=summary["false_negative_rate"].notna() * 0.5)
    tied.loc[tied["task"] != 0, "false_negative_rate"] = np.nan
    page = write(tmp_path, tied, figure).read_text(encoding="utf-8")
    assert "rate: <b>deeplift_genomics</b>, <b>grad_input</b> (0.5)" in page


def test_summary_highlights_best_method_per_task_and_motif(tmp_path, summary, figure):
    page = write(tmp_path, summary, figure).read_text(encoding="utf-8")
    table = page.split("Summary per reference")[1].split("<h3>reference dinuc:20")[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1])
    assert len(rows) == 8  # 2 methods × 2 tasks × 2 motifs
    best_auroc = [r for r in rows if '<td class="best">0.912</td>' in r]
    assert len(best_auroc) == 4 and all("grad_input" in r for r in best_auroc)
    assert table.count('class="group-start"') == 3  # a rule between the 4 (task, motif) groups


def test_text_is_escaped(tmp_path, summary, figure):
    hostile = summary.assign(method=summary["method"].replace("grad_input", "<script>x</script>"))
    page = write(tmp_path, hostile, figure, settings={"note": "<b>&"}, title="A <title>").read_text(
        encoding="utf-8"
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;&amp;" in page and "A &lt;title&gt;" in page


def test_missing_or_bad_figure_is_an_error_and_writes_nothing(tmp_path, summary, figure):
    out = tmp_path / "r.html"
    out.write_text("previous report")
    with pytest.raises(LiftGenomicsError, match=r"missing\.png: figure not found") as error:
        write(tmp_path, summary, figure, figures={"x": tmp_path / "missing.png"})
    assert "\n" not in str(error.value)
    not_png = tmp_path / "notes.png"
    not_png.write_text("hello")
    with pytest.raises(LiftGenomicsError, match="not a PNG"):
        write(tmp_path, summary, figure, figures={"x": not_png})
    assert out.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.png", "r.html"]


def test_summary_without_key_columns_is_an_error(tmp_path, summary, figure):
    with pytest.raises(LiftGenomicsError, match=r"missing column\(s\) \['motif'\]"):
        write(tmp_path, summary.drop(columns="motif"), figure)
    assert not (tmp_path / "r.html").exists()


def test_minimal_inputs(tmp_path, figure):
    """Only the key columns, no model metrics, no figures: still a valid page."""
    summary = pd.DataFrame(columns=["method", "reference", "task", "motif"])
    page = write(tmp_path, summary, figure, figures={}, model_metrics=None, settings={})
    text = page.read_text(encoding="utf-8")
    assert "No false-negative rates were computed." in text and "Model (test set)" not in text
