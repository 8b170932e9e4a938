"""Tables for reports: a pandas frame shown as a styled HTML table, with units.

Rates are stored as fractions (0.27) and shown as percentages (27.0 %); money and
counts get thousands separators; every other unit is written in the column header.
Cell text is HTML-escaped, so labels from data or parameter files show as text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import partial

import pandas as pd
from IPython.display import HTML

from outcomes import format as fmt
from outcomes.report.text import escape


def header(column: str, unit: str | None) -> str:
    """The column header with its unit, e.g. ``mttr_hours (hours)`` or ``csat (%)``."""
    if not unit or unit == "count":
        return str(column)
    return f"{column} ({'%' if unit in fmt.PERCENT_UNITS else unit})"


def table(
    frame: pd.DataFrame,
    units: Mapping[str, str] | None = None,
    *,
    caption: str | None = None,
    digits: int = 1,
    index: bool = False,
) -> HTML:
    """Return a frame as a styled HTML table for a report.

    Parameters
    ----------
    frame : pandas.DataFrame
        Aggregates only (one row per segment, metric or arm), never customer rows.
    units : mapping, optional
        Column -> unit: ``fraction`` (shown as %), a currency code (``EUR``), ``count``,
        ``hours``, ``days``... Columns without a unit are shown as they are.
    caption : str, optional
        A sentence above the table (escaped).
    digits : int
        Decimals for non-count numbers.
    index : bool
        Whether to show the frame's index.

    Returns
    -------
    IPython.display.HTML
        A ``<table class="outcomes-table">`` inside a horizontally scrollable box that a
        keyboard can reach and scroll (``tabindex="0"``, ``role="region"``, labelled by the
        caption, else by the first columns: :func:`region_label`). A frame
        whose ``attrs["total_row"]`` is true (a portfolio total, say) shows its last row
        in bold under a rule.

    Raises
    ------
    KeyError
        When ``units`` names a column the frame does not have.
    """
    units = dict(units or {})
    unknown = sorted(set(units) - set(map(str, frame.columns)))
    if unknown:
        raise KeyError(f"units given for columns {unknown} that the table does not have; columns are {list(map(str, frame.columns))}")
    shown = frame.rename(columns={c: header(str(c), units.get(str(c))) for c in frame.columns})
    styler = shown.style.format(
        {header(str(c), units.get(str(c))): partial(fmt.cell, unit=units.get(str(c)), digits=digits) for c in frame.columns},
        escape="html",
    )
    styler = styler.format_index(escape="html", axis=1).format_index(escape="html", axis=0)
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(escape(caption))
    numeric = [header(str(c), units.get(str(c))) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    if frame.attrs.get("total_row") and len(frame):
        total = {"selector": "tbody tr:last-child td", "props": "font-weight: 600; border-top: 2px solid #1f2933;"}
        styler = styler.set_table_styles([total], overwrite=False)
    digest = hashlib.sha1(pd.util.hash_pandas_object(frame, index=True).values.tobytes()).hexdigest()[:10]
    styler = styler.set_uuid(f"t{digest}").set_table_attributes('class="outcomes-table"')
    label = escape(region_label(frame, caption))
    return HTML(f'<div class="outcomes-table-wrap" tabindex="0" role="region" aria-label="{label}">{styler.to_html()}</div>')


def region_label(frame: pd.DataFrame, caption: str | None = None) -> str:
    """The name a screen reader gives a table's scrollable box: its caption, else "Table of" its first columns.

    Examples
    --------
    >>> region_label(pd.DataFrame(columns=["Initiative", "Design", "Decision", "Effect"]))
    'Table of Initiative, Design, Decision and more'
    >>> region_label(pd.DataFrame(columns=["a"]), caption="Effects by arm")
    'Effects by arm'
    """
    if caption:
        return caption
    names = [str(c) for c in frame.columns]
    return "Table of " + ", ".join(names[:3]) + (" and more" if len(names) > 3 else "")
