"""The HTML report: one self-contained page a scientist can open and read.

:func:`write_report` assembles the page: the model's test metrics, the headline false-negative
table (method × motif per reference: the paper found the RevealCancel-based DeepLIFT variants
to miss the fewest strong motif instances), the full summary, with several seeds the replicate
section (:mod:`liftgenomics.report.replicate_section`), extra sections such as de novo
discovery (:func:`discovery_section`), the figures and the run's settings.

Figures are embedded as base64 data URIs and the style is inline
(:mod:`liftgenomics.report.tables`), so the page needs no other file and no network. All text
from the inputs is escaped.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import atomic_path
from liftgenomics.paper.published import (
    FIGURE_5B_FALSE_NEGATIVES,
    FIGURE_5B_MOTIFS,
    FIGURE_5B_REFERENCE,
    FIGURE_5B_SOURCE,
    FIGURE_5B_TASK,
)
from liftgenomics.paper.recovery import STRONG_LOG_ODDS
from liftgenomics.report.replicate_section import ReplicateResults, replicate_section
from liftgenomics.report.tables import MISSING, STYLE, embedded_image, html_table, image_block

SUMMARY_KEYS = ("method", "reference", "task", "motif")
#: How to pick the best method in a group of summary rows, per metric column.
BEST_RULES = {
    "false_negative_rate": "min",
    "false_positive_ratio": "absmin",
    "auroc": "max",
    "auprc": "max",
}


def _check_summary(summary: pd.DataFrame) -> None:
    missing = [c for c in SUMMARY_KEYS if c not in summary.columns]
    if missing:
        raise LiftGenomicsError(
            f"summary: missing column(s) {missing}; has {[str(c) for c in summary.columns]}"
        )


def _false_negative_section(summary: pd.DataFrame) -> str:
    """Method × motif tables of the task-0 false-negative rate, one per reference."""
    if "false_negative_rate" not in summary:
        return "<p>No false-negative rates were computed.</p>"
    chosen = summary[(summary["task"] == 0) & summary["false_negative_rate"].notna()]
    parts = []
    for reference, group in chosen.groupby("reference", sort=False):
        methods = list(dict.fromkeys(group["method"]))
        motifs = list(dict.fromkeys(group["motif"]))
        table = group.pivot_table(
            index="method", columns="motif", values="false_negative_rate", aggfunc="mean"
        ).reindex(index=methods, columns=motifs)
        table["mean"] = table.mean(axis=1)
        lowest = float(table["mean"].min())
        winners = [str(m) for m, v in table["mean"].items() if math.isclose(v, lowest)]
        table = table.reset_index()
        table.columns = [str(c) for c in table.columns]
        rules = {column: "min" for column in table.columns if column != "method"}
        parts.append(
            f"<h3>reference {html.escape(str(reference))}</h3>"
            + html_table(table, rules)
            + "<p class='note'>Lowest mean false-negative rate: "
            + ", ".join(f"<b>{html.escape(m)}</b>" for m in winners)
            + f" ({lowest:.3g}).</p>"
        )
    return "".join(parts) or "<p>No false-negative rates were computed.</p>"


def published_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The paper's figure-5b false-negative rates (%) beside this run's, per method.

    Ours: the summary's task-0 false-negative rate against the flat reference, in percent
    (missing where the run has no such row). Rows: the run's methods in its order, then the
    paper's methods the run did not score; the paper's columns are missing for ISM.
    """
    chosen = summary[
        (summary["task"] == FIGURE_5B_TASK) & (summary["reference"] == FIGURE_5B_REFERENCE)
    ]
    ours = {}
    if "false_negative_rate" in chosen:
        ours = {
            (row.method, row.motif): 100.0 * float(row.false_negative_rate)
            for row in chosen.itertuples(index=False)
        }
    methods = list(dict.fromkeys([*summary["method"], *FIGURE_5B_FALSE_NEGATIVES]))
    rows = []
    for method in methods:
        published = FIGURE_5B_FALSE_NEGATIVES.get(method)
        row: dict[str, object] = {"method": method}
        for key, label in (("tal1", "TAL1"), ("gata", "GATA")):
            row[f"{label} ours (%)"] = ours.get((method, FIGURE_5B_MOTIFS[key]), math.nan)
            row[f"{label} paper (%)"] = getattr(published, key) if published else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _published_section(summary: pd.DataFrame) -> str:
    """The paper's figure-5b table beside ours."""
    note = (
        f"<p class='note'>False-negative rate (%) of strong TAL1_known1 and GATA_disc1 hits in "
        f"both-motif sequences on task {FIGURE_5B_TASK}, reference "
        f"{FIGURE_5B_REFERENCE}. Paper: {html.escape(FIGURE_5B_SOURCE)}; {MISSING} where the "
        "paper did not score the method (ISM) or this run has no such score.</p>"
    )
    return (
        "<h2>The paper's figure 5b beside this run</h2>"
        + html_table(published_table(summary))
        + note
    )


def _summary_section(summary: pd.DataFrame) -> str:
    """The whole summary, one table per reference, rows grouped by task and motif."""
    parts = []
    for reference, group in summary.groupby("reference", sort=False):
        # A stable sort keeps the workflow's method order inside each (task, motif) group.
        ordered = group.sort_values(["task", "motif"], kind="stable").drop(columns="reference")
        rules = {c: r for c, r in BEST_RULES.items() if c in ordered}
        parts.append(
            f"<h3>reference {html.escape(str(reference))}</h3>"
            + html_table(ordered, rules, groups=("task", "motif"))
        )
    return "".join(parts) or "<p>The summary is empty.</p>"


def _model_section(model_metrics: dict) -> str:
    aurocs, auprcs = model_metrics.get("auroc") or {}, model_metrics.get("auprc") or {}
    if not isinstance(aurocs, dict) or not isinstance(auprcs, dict):
        raise LiftGenomicsError(
            "model metrics: 'auroc' and 'auprc' must map each task to a value (metrics.json)"
        )
    tasks = list(model_metrics.get("tasks") or dict.fromkeys([*aurocs, *auprcs]))
    columns = {
        "task": [str(t) for t in tasks],
        "auROC": [aurocs.get(t) for t in tasks],
        "auPRC": [auprcs.get(t) for t in tasks],
    }
    accuracy = model_metrics.get("accuracy")
    if isinstance(accuracy, dict):
        columns["accuracy"] = [accuracy.get(t) for t in tasks]
    table = pd.DataFrame(columns)
    note = ""
    if model_metrics.get("source"):
        note += f"<p class='note'>Model: {html.escape(str(model_metrics['source']))}.</p>"
    if "n_sequences" in model_metrics:
        note += (
            f"<p class='note'>{html.escape(str(model_metrics['n_sequences']))} test sequences; "
            f"{MISSING} where a task's test labels are all one class.</p>"
        )
    return "<h2>Model (test set)</h2>" + html_table(table) + note


def discovery_section(table: pd.DataFrame, root: str | os.PathLike) -> str:
    """De novo discovery (TF-MoDISco + TOMTOM) per method: headline, logos, the table.

    Args:
        table: ``discovery.tsv`` (method, reference, task, motif, recovered, pattern, ...).
        root: The workflow's ``results/discovery`` folder: ``{method}/{reference}/task{t}/logos``
            and ``true_motifs.png``.
    """
    root = Path(root)
    recovered = table.assign(recovered=table["recovered"].astype(str).str.lower() == "true")
    on_task0 = recovered[recovered["task"] == 0]
    motifs = list(dict.fromkeys(table["motif"]))
    both = [
        f"{method} ({reference})"
        for (method, reference), group in on_task0.groupby(["method", "reference"], sort=False)
        if group["recovered"].all()
    ]
    headline = (
        "Methods whose scores let TF-MoDISco rediscover "
        + " and ".join(html.escape(m) for m in motifs)
        + " on task 0: "
        + (", ".join(f"<b>{html.escape(m)}</b>" for m in both) if both else "<b>none</b>")
        + "."
    )
    head = "".join(f"<th>{html.escape(m)} (discovered PWM)</th>" for m in motifs)
    rows = []
    for (method, reference, task), group in recovered.groupby(
        ["method", "reference", "task"], sort=False
    ):
        cells = []
        for motif in motifs:
            match = group[group["motif"] == motif]
            pattern = str(match["pattern"].iloc[0]) if len(match) else ""
            if not len(match) or not match["recovered"].iloc[0] or pattern in ("", "nan"):
                cells.append(f"<td>{MISSING}</td>")
                continue
            logo = root / method / reference / f"task{task}" / "logos" / f"{pattern}.pwm.png"
            cells.append(f"<td class='text'>{embedded_image(logo, pattern)}<br>{pattern}</td>")
        label = html.escape(f"{method} / {reference} / task {task}")
        rows.append(f"<tr><td class='text'>{label}</td>{''.join(cells)}</tr>")
    truth = embedded_image(root / "true_motifs.png", "the simulated motifs")
    return (
        "<h2>De novo motif discovery (TF-MoDISco + TOMTOM)</h2>"
        f"<p>{headline}</p>"
        "<p class='note'>TF-MoDISco (modisco-lite) clusters high-scoring seqlets of each "
        "method's scores into patterns; TOMTOM names each trimmed pattern against the ENCODE "
        "compendium. Recovered: a pattern matches the motif with q &lt; 0.05 (each pattern "
        "names at most one motif, its best); precision: fraction of that pattern's seqlets on "
        "an embedded instance of the motif; recall: fraction of the motif's instances in "
        "task-positive sequences touched by any seqlet; spurious: patterns matching neither "
        "motif.</p>"
        f"<p>True motifs:<br>{truth}</p>"
        f"<table><thead><tr><th>run</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table>"
        + html_table(
            table,
            {"seqlet_precision": "max", "instance_recall": "max", "spurious_patterns": "min"},
            groups=("task", "motif"),
        )
    )


def write_report(
    out_html: str | os.PathLike,
    *,
    summary: pd.DataFrame,
    figures: dict[str, str | os.PathLike],
    settings: dict,
    model_metrics: dict | None = None,
    title: str = "liftgenomics: DeepLIFT on simulated GATA1/TAL1 data",
    replicates: ReplicateResults | None = None,
    extra_sections: Sequence[str] = (),
) -> Path:
    """Write the report page.

    Args:
        out_html: Output path.
        summary: ``summary.tsv`` (method, reference, task, motif, and any of n_hits,
            false_negative_rate, false_positive_ratio, auroc, auprc).
        figures: Caption -> PNG path, in display order.
        settings: The run's settings, shown as JSON.
        model_metrics: The model's ``metrics.json`` (``auroc``/``auprc``: task -> value).
        title: Page title.
        replicates: With several seeds, the replicate tables and figure (their own section).
        extra_sections: Ready HTML sections placed before the figures (e.g.
            :func:`discovery_section`).

    Returns:
        ``out_html`` as a Path.

    Raises:
        LiftGenomicsError: if a figure file is missing or not a PNG, or the summary lacks a
            key column; nothing is written then.
    """
    _check_summary(summary)
    images = [(caption, image_block(caption, Path(path))) for caption, path in figures.items()]
    replicate_html = replicate_section(replicates) if replicates is not None else ""
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<p>The DeepLIFT paper's DNA experiment (Shrikumar, Greenside &amp; Kundaje, ICML 2017, "
        "section 4.2): simulated sequences with GATA_disc1 and TAL1_known1 instances, the "
        "paper's multi-task CNN (task 0: both motifs, task 1: GATA, task 2: TAL1), and "
        "attributions of its logits by DeepLIFT and its rivals against several references. "
        "Each sequence is scanned for its top motif hits, and each hit's attribution is summed "
        "over its window. A good method scores strong motif instances above zero on the tasks "
        "they drive (a low false-negative rate), not on the task that ignores them (a "
        "false-positive ratio near zero), and its per-base scores single out the embedded "
        "instances (auROC/auPRC).</p>",
    ]
    if model_metrics:
        sections.append(_model_section(model_metrics))
    sections += [
        f"<h2>False-negative rate on task 0 (strong hits: log-odds ≥ {STRONG_LOG_ODDS:g}, "
        "total score ≤ 0)</h2>",
        "<p class='note'>Lower is better; the best value per column is highlighted. The paper "
        "found the RevealCancel-based DeepLIFT variants to have the lowest false-negative "
        "rates.</p>",
        _false_negative_section(summary),
        _published_section(summary),
        "<h2>Summary per reference, task, motif and method</h2>",
        "<p class='note'>Highlighted: the best method within each task and motif (lowest "
        "false-negative rate, false-positive ratio closest to 0, highest auROC/auPRC). "
        f"{MISSING}: not defined for that task and motif.</p>",
        _summary_section(summary),
        replicate_html,
        *extra_sections,
        "<h2>Figures</h2>",
    ]
    sections += [
        f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, image in images
    ]
    sections += [
        "<h2>Settings</h2>",
        "<pre>"
        + html.escape(json.dumps(settings, indent=2, ensure_ascii=False, default=str))
        + "</pre>",
    ]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    # Explicit UTF-8: the page has non-ASCII text (≥, –) and the locale may not be UTF-8.
    with atomic_path(out_html, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out_html)
