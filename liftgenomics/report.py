"""The HTML report: one self-contained page a scientist can open and read.

Figures are embedded as base64 data URIs and the style is inline, so the page needs no other
file and no network. All text from the inputs is escaped. The headline is the false-negative
table (method × motif per reference): the paper found the RevealCancel-based DeepLIFT variants
to miss the fewest strong motif instances.
"""

from __future__ import annotations

import base64
import html
import json
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import atomic_path
from liftgenomics.recovery import STRONG_LOG_ODDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = ("method", "reference", "task", "motif")
#: How to pick the best method in a group of summary rows, per metric column.
BEST_RULES = {
    "false_negative_rate": "min",
    "false_positive_ratio": "absmin",
    "auroc": "max",
    "auprc": "max",
}
MISSING = "–"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
  padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
td.best { font-weight: bold; background: #e8f5e9; }
tr.group-start td { border-top: 2px solid #888; }
p.note { font-size: 0.9em; color: #555; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #555; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_missing(value) -> bool:
    return value is None or (_is_number(value) and math.isnan(float(value)))


def _integer_column(values: pd.Series) -> bool:
    """Whether every present value is a whole number (counts, task indices), shown without
    the 3-significant-digit rounding (2000 must not print as 2e+03)."""
    present = [v for v in values if not _is_missing(v)]
    return bool(present) and all(_is_number(v) and float(v).is_integer() for v in present)


def _cell_text(value, integer: bool) -> str:
    if _is_missing(value):
        return MISSING
    if _is_number(value):
        return str(int(value)) if integer else f"{float(value):.3g}"
    return html.escape(str(value))


def _best_values(frame: pd.DataFrame, rules: dict[str, str]) -> dict[str, float]:
    best = {}
    for column, rule in rules.items():
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        if values.empty:
            continue
        if rule == "min":
            best[column] = values.min()
        elif rule == "max":
            best[column] = values.max()
        else:
            best[column] = values.abs().min()
    return best


def _is_best(value, column: str, best: dict[str, float], rules: dict[str, str]) -> bool:
    if column not in best or not _is_number(value) or _is_missing(value):
        return False
    shown = abs(value) if rules[column] == "absmin" else value
    return math.isclose(float(shown), float(best[column]), rel_tol=1e-12, abs_tol=1e-15)


def _table(
    frame: pd.DataFrame,
    rules: dict[str, str] | None = None,
    groups: Sequence[str] = (),
) -> str:
    """An HTML table of ``frame``.

    Args:
        frame: The rows to show, in order.
        rules: Column -> 'min', 'max' or 'absmin': the best value is highlighted, within each
            group of rows.
        groups: Columns whose consecutive equal values form a group (separated by a rule).
    """
    rules = rules or {}
    integer = {column: _integer_column(frame[column]) for column in frame.columns}
    keys = [tuple(row) for row in frame[list(groups)].itertuples(index=False)] if groups else []
    best_per_group: dict[tuple, dict[str, float]] = {}
    if rules:
        if groups:
            for key, part in frame.groupby(list(groups), sort=False, dropna=False):
                best_per_group[key if isinstance(key, tuple) else (key,)] = _best_values(
                    part, rules
                )
        else:
            best_per_group[()] = _best_values(frame, rules)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for position, values in enumerate(frame.itertuples(index=False)):
        key = keys[position] if groups else ()
        best = best_per_group.get(key, {})
        cells = []
        for column, value in zip(frame.columns, values, strict=True):
            classes = [] if _is_number(value) or _is_missing(value) else ["text"]
            if column in rules and _is_best(value, column, best, rules):
                classes.append("best")
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attribute}>{_cell_text(value, integer[column])}</td>")
        starts_group = groups and position > 0 and keys[position] != keys[position - 1]
        row_attribute = ' class="group-start"' if starts_group else ""
        rows.append(f"<tr{row_attribute}>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(caption: str, path: Path) -> str:
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: figure not found (caption {caption!r})")
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise LiftGenomicsError(f"{path}: figure is not a PNG file (caption {caption!r})")
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'


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
            + _table(table, rules)
            + "<p class='note'>Lowest mean false-negative rate: "
            + ", ".join(f"<b>{html.escape(m)}</b>" for m in winners)
            + f" ({lowest:.3g}).</p>"
        )
    return "".join(parts) or "<p>No false-negative rates were computed.</p>"


def _summary_section(summary: pd.DataFrame) -> str:
    """The whole summary, one table per reference, rows grouped by task and motif."""
    parts = []
    for reference, group in summary.groupby("reference", sort=False):
        # A stable sort keeps the workflow's method order inside each (task, motif) group.
        ordered = group.sort_values(["task", "motif"], kind="stable").drop(columns="reference")
        rules = {c: r for c, r in BEST_RULES.items() if c in ordered}
        parts.append(
            f"<h3>reference {html.escape(str(reference))}</h3>"
            + _table(ordered, rules, groups=("task", "motif"))
        )
    return "".join(parts) or "<p>The summary is empty.</p>"


def _model_section(model_metrics: dict) -> str:
    aurocs, auprcs = model_metrics.get("auroc") or {}, model_metrics.get("auprc") or {}
    if not isinstance(aurocs, dict) or not isinstance(auprcs, dict):
        raise LiftGenomicsError(
            "model metrics: 'auroc' and 'auprc' must map each task to a value (metrics.json)"
        )
    tasks = list(model_metrics.get("tasks") or dict.fromkeys([*aurocs, *auprcs]))
    table = pd.DataFrame(
        {
            "task": [str(t) for t in tasks],
            "auROC": [aurocs.get(t) for t in tasks],
            "auPRC": [auprcs.get(t) for t in tasks],
        }
    )
    note = ""
    if "n_sequences" in model_metrics:
        note = (
            f"<p class='note'>{html.escape(str(model_metrics['n_sequences']))} test sequences; "
            f"{MISSING} where a task's test labels are all one class.</p>"
        )
    return "<h2>Model (test set)</h2>" + _table(table) + note


def _embedded(path: Path, alt: str) -> str:
    """An <img> of a PNG as a data URI, or the missing mark when there is no such file."""
    if not path.is_file():
        return MISSING
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    source = f"data:image/png;base64,{encoded}"
    return f'<img alt="{html.escape(alt)}" style="height:70px" src="{source}">'


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
            cells.append(f"<td class='text'>{_embedded(logo, pattern)}<br>{pattern}</td>")
        label = html.escape(f"{method} / {reference} / task {task}")
        rows.append(f"<tr><td class='text'>{label}</td>{''.join(cells)}</tr>")
    truth = _embedded(root / "true_motifs.png", "the simulated motifs")
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
        + _table(
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
    images = [(caption, _image(caption, Path(path))) for caption, path in figures.items()]
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


# --- Replicates: the spread over seeds and the paired comparisons (liftgenomics.replicates) ---


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
    from liftgenomics.replicates import PAPER_AUROC

    model = summary[summary["metric"] == "test_auroc"]
    if model.empty:
        return "<p>No model metrics.</p>"
    table = model[["task", *_seed_columns(model), "mean", "sd"]].copy()
    table["paper"] = [PAPER_AUROC.get(_as_int(t)) for t in table["task"]]
    return _table(table.reset_index(drop=True))


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
            + _table(group[columns].reset_index(drop=True), {"mean": "min"}, groups=("motif",))
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
    return _table(shown.reset_index(drop=True), groups=("reference",))


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
            f"<figure>{_image(caption, replicates.figure)}"
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
