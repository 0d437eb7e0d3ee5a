"""HTML building blocks of the report: tables, embedded images and the inline style.

:func:`html_table` renders a data frame as an HTML table, escaping every cell, showing whole
numbers without decimals, missing values as :data:`MISSING`, and highlighting the best value of
each column given a rule (``min``, ``max``, ``absmin``) within each group of rows.
:func:`embedded_image` and :func:`image_block` embed a PNG as a base64 data URI, so the page
needs no other file; :data:`STYLE` is the page's inline CSS.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from liftgenomics.errors import LiftGenomicsError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
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


def html_table(
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


def image_block(caption: str, path: Path) -> str:
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: figure not found (caption {caption!r})")
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise LiftGenomicsError(f"{path}: figure is not a PNG file (caption {caption!r})")
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'


def embedded_image(path: Path, alt: str) -> str:
    """An <img> of a PNG as a data URI, or the missing mark when there is no such file."""
    if not path.is_file():
        return MISSING
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    source = f"data:image/png;base64,{encoded}"
    return f'<img alt="{html.escape(alt)}" style="height:70px" src="{source}">'
