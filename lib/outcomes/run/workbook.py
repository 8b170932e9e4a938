"""The month's figures for finance: ``outcomes-<month>.xlsx`` written from ``results.json``.

One sheet per section a finance team reworks: the scorecard, the decisions with their
effects, the investment cases and the portfolio. Every figure is the number recorded in
``results.json`` (no second computation), stored as a number with a display format
(rates as percentages, money with thousands separators), so a spreadsheet can sum and
chart it. Only aggregates are written, as on the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from outcomes import format as fmt
from outcomes.metrics import catalog

#: Display formats by kind of number.
PERCENT, MONEY, WHOLE, DECIMAL, PLAIN = "0.0%", "#,##0", "#,##0", "#,##0.00", "General"


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its header, how a row gives its value, and its number format.

    Parameters
    ----------
    header : str
        The column's title in the sheet.
    value : callable
        Row -> cell value (a number, text, or None for an empty cell).
    number_format : str or callable
        An Excel number format, or row -> format (a scorecard value's format follows its unit).
    """

    header: str
    value: Callable[[Mapping[str, Any]], Any]
    number_format: str | Callable[[Mapping[str, Any]], str] = PLAIN


def unit_format(unit: str | None) -> str:
    """The Excel number format of a value in a catalog or result unit."""
    if unit in fmt.PERCENT_UNITS:
        return PERCENT
    if unit == "money" or unit in fmt.CURRENCIES:
        return MONEY
    if unit in fmt.COUNT_UNITS - {"minutes"}:
        return WHOLE
    return DECIMAL


def _key(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row.get(name)


def _metric_name(metric: str) -> str:
    return catalog.get(metric).name if metric in catalog.ids() else metric.replace("_", " ")


def _scorecard_unit(row: Mapping[str, Any]) -> str:
    return unit_format(row.get("unit"))


SCORECARD = (
    Column("Metric", lambda r: _metric_name(r["metric"])),
    Column("Metric id", _key("metric")),
    Column("Segment", lambda r: r.get("segment") or "whole business"),
    Column("This month", _key("value"), _scorecard_unit),
    Column("Last month", _key("previous"), _scorecard_unit),
    Column("Target", _key("target"), _scorecard_unit),
    Column("Target basis", _key("target_basis")),
    Column("Owner", _key("owner")),
    Column("Status", lambda r: str(r.get("status") or "").replace("_", " ")),
    Column("Unit", _key("unit")),
)

DECISIONS = (
    Column("Initiative", _key("initiative")),
    Column("Name", _key("name")),
    Column("Design", _key("design")),
    Column("Decision", _key("decision")),
    Column("What would change it", _key("what_would_change")),
    Column("Metric", lambda r: _metric_name(r["metric"])),
    Column("Role", _key("role")),
    Column("Arm", _key("arm")),
    Column("Effect", _key("estimate_abs"), DECIMAL),
    Column("Effect, relative", _key("estimate_rel"), PERCENT),
    Column("Interval low", _key("ci_low"), DECIMAL),
    Column("Interval high", _key("ci_high"), DECIMAL),
    Column("p-value", _key("p_value"), "0.000"),
    Column("Why", _key("decision_reason")),
)

#: The figures of an investment case, for one initiative or the portfolio.
CASE_FIGURES = (
    Column("NPV P10", _key("npv_p10"), MONEY),
    Column("NPV P50", _key("npv_p50"), MONEY),
    Column("NPV P90", _key("npv_p90"), MONEY),
    Column("ROI P50", _key("roi_p50"), PERCENT),
    Column("Payback (months)", _key("payback_months"), "0.0"),
    Column("Chance ROI > 0", _key("prob_roi_positive"), PERCENT),
)

ROI = (
    Column("Initiative", _key("initiative")),
    Column("Name", _key("name")),
    Column("Recommendation", _key("recommendation")),
    *CASE_FIGURES,
    Column("Value per customer kept", _key("value_per_customer_kept"), MONEY),
)

PORTFOLIO = (
    Column("Initiatives", lambda r: ", ".join(r.get("initiatives") or ())),
    *CASE_FIGURES,
    Column("Chance any case loses money", _key("prob_any_case_negative"), PERCENT),
)


def decision_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per initiative, metric and arm, with the initiative's decision, name and what would change it.

    The name and what would change the recommendation come from the initiative's ``roi`` row.
    """
    roi = {r["initiative"]: r for r in doc.get("roi", [])}
    return [
        {"initiative": i["id"], "name": roi.get(i["id"], {}).get("name") or i["id"], "design": i.get("design"),
         "decision": i.get("decision"), "what_would_change": roi.get(i["id"], {}).get("what_would_change"),
         "decision_reason": i.get("decision_reason"), **m}
        for i in doc.get("initiatives", [])
        for m in i.get("metrics", [])
    ]


def sheets(doc: Mapping[str, Any]) -> dict[str, tuple[Sequence[Column], list[Mapping[str, Any]]]]:
    """The workbook's sheets: name -> (columns, rows), from a results document."""
    return {
        "Scorecard": (SCORECARD, list(doc.get("scorecard", []))),
        "Decisions": (DECISIONS, decision_rows(doc)),
        "ROI cases": (ROI, list(doc.get("roi", []))),
        "Portfolio": (PORTFOLIO, list(doc.get("portfolio", []))),
    }


def _cell_value(value: Any) -> Any:
    """Numbers stay numbers; None and non-finite numbers become empty cells."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return None if fmt.is_missing(value) else value
    return str(value)


def write_workbook(doc: Mapping[str, Any], path: Path) -> Path:
    """Write the results document's figures as an Excel workbook.

    Parameters
    ----------
    doc : mapping
        A validated ``results.json`` document.
    path : Path
        The ``.xlsx`` file to write (replaced when it exists).

    Returns
    -------
    Path
        ``path``.
    """
    book = Workbook()
    about = book.active
    about.title = "About"
    about.append(["Period", doc.get("period") or ""])
    about.append(["Generated", doc.get("generated_at") or ""])
    about.append(["Source", "results.json of the same folder: every figure here is the number recorded there."])
    about.append(["Units", "Rates as percentages, money in the value model's currency, effects in each metric's unit."])
    about.column_dimensions["A"].width, about.column_dimensions["B"].width = 12, 90
    for title, (columns, rows) in sheets(doc).items():
        sheet = book.create_sheet(title)
        sheet.append([c.header for c in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for row in rows:
            sheet.append([_cell_value(c.value(row)) for c in columns])
            for cell, column in zip(sheet[sheet.max_row], columns, strict=True):
                cell.number_format = column.number_format(row) if callable(column.number_format) else column.number_format
        for i, column in enumerate(columns, start=1):
            longest = max([len(column.header), *(len(str(c.value)) for c in sheet[get_column_letter(i)][1:] if c.value)])
            sheet.column_dimensions[get_column_letter(i)].width = min(max(10, longest + 2), 60)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def workbook_name(folder: str) -> str:
    """The workbook's file name in a published folder: ``outcomes-<month>.xlsx``."""
    return f"outcomes-{folder}.xlsx"
