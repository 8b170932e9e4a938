"""Months and windows of months: parsing, arithmetic, windows, and agreement with the
formulas the kit used before it had one period type."""

from __future__ import annotations

import calendar
import datetime as dt
import re

import pandas as pd
import pytest

from outcomes.errors import ParamsError
from outcomes.periods import Month, Window, is_month_text, months_beginning

#: 1998-11 to 2027-02: every month of the year and many year ends.
MONTHS = [Month(1998, 11) + i for i in range(340)]


def _message(value: object) -> str:
    return f"period {value!r} is not a month; write it as YYYY-MM, e.g. 2025-12"


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "value",
    [
        "2025-12",
        " 2025-12 ",
        dt.date(2025, 12, 31),
        dt.datetime(2025, 12, 1, 23, 59),
        pd.Timestamp("2025-12-15 08:00"),
        pd.Timestamp("2025-12-15 08:00", tz="UTC"),
        Month(2025, 12),
    ],
    ids=repr,
)
def test_every_accepted_form_parses_to_its_month(value: object) -> None:
    assert Month.parse(value) == Month(2025, 12)


@pytest.mark.parametrize("value", ["2025-13", "25-12", "2025/12", "", "2025-00", "2025-1", "December 2025", "2025-12-01"])
def test_what_is_not_a_month_gets_the_one_message(value: str) -> None:
    with pytest.raises(ParamsError, match=re.escape(_message(value))):
        Month.parse(value)


def test_non_text_values_get_the_same_message() -> None:
    for value in (None, 202512, pd.NaT):
        with pytest.raises(ParamsError, match=re.escape(_message(value))):
            Month.parse(value)  # type: ignore[arg-type]
    with pytest.raises(ParamsError, match=re.escape(_message("2025-13"))):
        Month(2025, 13)


def test_text_forms() -> None:
    m = Month.parse("2025-12")
    assert str(m) == "2025-12" and m.label == "December 2025"
    assert str(Month(987, 3)) == "0987-03"
    assert Month.of(pd.Timestamp("2024-02-29")) == Month(2024, 2)
    assert is_month_text("2025-12") and not is_month_text("2025-13") and not is_month_text(" 2025-12")
    assert not is_month_text("case-study")


# --------------------------------------------------------------------------- arithmetic


def test_arithmetic_across_year_ends() -> None:
    dec = Month(2025, 12)
    assert dec.next() == Month(2026, 1) and Month(2026, 1).previous() == dec
    assert dec + 1 == Month(2026, 1) and dec - 12 == Month(2024, 12) and dec + 25 == Month(2028, 1)
    assert Month(2026, 2) - Month(2024, 11) == 15 and dec - dec == 0
    assert dec.start == dt.date(2025, 12, 1) and dec.end_exclusive == dt.date(2026, 1, 1)
    assert Month(2024, 2).last_day == dt.date(2024, 2, 29) and Month(2025, 2).last_day == dt.date(2025, 2, 28)
    assert dec.timestamp == pd.Timestamp("2025-12-01")
    assert sorted([Month(2026, 1), dec, Month(2025, 2)]) == [Month(2025, 2), dec, Month(2026, 1)]
    assert len({Month(2025, 12), Month.parse("2025-12")}) == 1


def test_a_month_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Month(2025, 12).month = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- windows


def test_window_months_and_bounds() -> None:
    w = Window("2025-11", "2026-02")
    assert [str(m) for m in w] == ["2025-11", "2025-12", "2026-01", "2026-02"] and len(w) == 4
    assert w.months == tuple(w) and w.first_month == Month(2025, 11) and w.last_month == Month(2026, 2)
    assert w.start == dt.date(2025, 11, 1) and w.end_exclusive == dt.date(2026, 3, 1)
    assert (w.start_timestamp, w.end_timestamp) == (dt.datetime(2025, 11, 1), dt.datetime(2026, 3, 1))
    assert w.contains("2026-01") and "2025-11" in w and Month(2026, 2) in w
    assert not w.contains(dt.date(2025, 10, 31)) and "2026-03" not in w
    assert str(w) == "2025-11 to 2026-02" and len(Window("2025-06", "2025-06")) == 1


def test_window_last_n_months() -> None:
    w = Window.last(24, ending="2025-12")
    assert (w.first_month, w.last_month) == (Month(2024, 1), Month(2025, 12)) and len(w) == 24
    assert Window.last(1, ending=Month(2025, 3)) == Window("2025-03", "2025-03")
    with pytest.raises(ParamsError, match="at least 1 month, got 0"):
        Window.last(0, ending="2025-12")
    with pytest.raises(ParamsError, match=re.escape(_message("2025-13"))):
        Window.last(3, ending="2025-13")


def test_window_refuses_an_end_before_its_start() -> None:
    with pytest.raises(ParamsError, match="end month 2025-01 is before start month 2025-03; swap them"):
        Window("2025-03", "2025-01")


def test_months_beginning_in_a_span_of_days() -> None:
    assert months_beginning(dt.date(2025, 7, 1), dt.date(2025, 11, 1)) == tuple(Window("2025-07", "2025-10"))
    assert months_beginning(dt.date(2025, 12, 15), dt.date(2026, 2, 2)) == (Month(2026, 1), Month(2026, 2))
    assert months_beginning(dt.date(2025, 7, 2), dt.date(2025, 7, 30)) == ()


# --------------------------------------------------------------------------- the former formulas


@pytest.mark.parametrize("month", MONTHS, ids=str)
def test_equal_to_the_former_helpers(month: Month) -> None:
    first = month.start
    text = f"{first:%Y-%m}"
    # the former next month of metrics.compute and experiment.aggregates
    assert month.end_exclusive == dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    # the former pandas offsets of scorecard.card and casestudy.ticket_groups
    ts = pd.Timestamp(first)
    assert month.previous().timestamp == ts - pd.offsets.MonthBegin(1)
    assert month.next().timestamp == ts + pd.offsets.MonthBegin(1)
    assert (month - 12).timestamp == ts - pd.DateOffset(years=1)
    # the former history window of metrics.panel and report.investment
    for n in (1, 12, 24):
        w = Window.last(n, ending=text)
        start = ts - pd.DateOffset(months=n - 1)
        assert (str(w.first_month), str(w.last_month)) == (f"{start:%Y-%m}", text)
        assert [m.start for m in w] == [p.date() for p in pd.date_range(start, ts, freq="MS")]
    # the former run.pages label and run.monthly default months
    assert month.label == f"{calendar.month_name[first.month]} {first.year}"
    now = dt.datetime.combine(first + dt.timedelta(days=9), dt.time(12), tzinfo=dt.UTC)
    assert str(Month.of(now).previous()) == (now.date().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    former_end = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    assert month.last_day == former_end


def test_periods_imports_only_the_standard_library_pandas_and_errors() -> None:
    import ast
    import sys
    from pathlib import Path

    import outcomes.periods

    tree = ast.parse(Path(outcomes.periods.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    outside = {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names | {"__future__", "pandas"}}
    assert outside == {"outcomes.errors"}
