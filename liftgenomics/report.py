"""The HTML report: one self-contained page a scientist can open and read.

Figures are embedded as base64 data URIs and the style is inline, so the page needs no other
file and no network. All text is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path

import pandas as pd

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import write_text_atomic

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
td.best { font-weight: bold; background: #e8f5e9; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; } pre { background: #f7f7f7; padding: 1em; }
"""


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int | float):
        return f"{value:.3g}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame, best: dict[str, str] | None = None) -> str:
    """An HTML table; ``best`` maps a column to 'min' or 'max' to highlight per column."""
    best = best or {}
    marks = {}
    for column, rule in best.items():
        if column in frame and frame[column].notna().any():
            marks[column] = frame[column].min() if rule == "min" else frame[column].max()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            classes = [] if numeric else ["text"]
            if column in marks and numeric and value == marks[column]:
                classes.append("best")
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attribute}>{_number(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(path: Path) -> str:
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: figure not found")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _false_negative_tables(summary: pd.DataFrame) -> str:
    chosen = summary[summary["false_negative_rate"].notna()]
    parts = []
    for reference, group in chosen.groupby("reference", sort=False):
        table = group.pivot_table(
            index="method", columns="motif", values="false_negative_rate"
        ).reset_index()
        best = {column: "min" for column in table.columns if column != "method"}
        parts.append(f"<h3>reference {html.escape(str(reference))}</h3>" + _table(table, best))
    return "".join(parts) or "<p>No false-negative rates were computed.</p>"


def write_report(
    out_html: str | os.PathLike,
    *,
    summary: pd.DataFrame,
    figures: dict[str, str | os.PathLike],
    settings: dict,
    model_metrics: dict | None = None,
    title: str = "liftgenomics: DeepLIFT on simulated GATA1/TAL1 data",
) -> Path:
    """Write the report page.

    Args:
        out_html: Output path.
        summary: ``summary.tsv`` (method, reference, task, motif, n_hits, false_negative_rate,
            false_positive_ratio, auroc, auprc).
        figures: Caption -> PNG path, in display order.
        settings: The run's settings, shown verbatim.
        model_metrics: The model's ``metrics.json`` (auroc/auprc per task).
        title: Page title.

    Raises:
        LiftGenomicsError: if a figure file is missing.
    """
    images = [(caption, _image(Path(path))) for caption, path in figures.items()]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<p>The DeepLIFT paper's DNA experiment (Shrikumar, Greenside &amp; Kundaje, ICML 2017, "
        "section 4.2): simulated sequences with GATA_disc1 and TAL1_known1 instances, the "
        "paper's multi-task CNN, and attributions of its logits by DeepLIFT and its rivals "
        "against several references. A good method scores strong motif instances above zero on "
        "the tasks they drive (low false-negative rate), not on the task that ignores them (a "
        "false-positive ratio near zero), and its per-base scores single out the embedded "
        "instances (auROC/auPRC).</p>",
    ]
    if model_metrics:
        rows = [
            {
                "task": task,
                "auROC": model_metrics.get("auroc", {}).get(task),
                "auPRC": model_metrics.get("auprc", {}).get(task),
            }
            for task in model_metrics.get("auroc", {})
        ]
        sections += ["<h2>Model (test set)</h2>", _table(pd.DataFrame(rows))]
    sections += [
        "<h2>False-negative rate on task 0 (strong hits, log-odds ≥ 7, scored ≤ 0)</h2>",
        _false_negative_tables(summary),
        "<h2>Summary per method, reference, task and motif</h2>",
        _table(summary, {"false_negative_rate": "min", "auroc": "max", "auprc": "max"}),
        "<h2>Figures</h2>",
    ]
    sections += [
        f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, image in images
    ]
    sections += [
        "<h2>Settings</h2>",
        f"<pre>{html.escape(json.dumps(settings, indent=2, sort_keys=True))}</pre>",
    ]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    write_text_atomic(out_html, page)
    return Path(out_html)
