"""The one formatter: every kind of number, its edge cases, and the unit dispatcher."""

from __future__ import annotations

import math

import numpy as np
import pytest

from outcomes import format as fmt

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("x", "kwargs", "text"),
    [
        (1_234_567, {}, "EUR 1.2m"),
        (35_530, {}, "EUR 36k"),
        (3_500, {}, "EUR 3.5k"),
        (850, {}, "EUR 850"),
        (2.5, {}, "EUR 2.50"),
        (0, {}, "EUR 0"),
        (-0.001, {}, "EUR 0"),
        (-42_000, {}, "-EUR 42k"),
        (999_960, {}, "EUR 1.0m"),  # rounding does not give "1,000k"
        (999.7, {}, "EUR 1.0k"),
        (2.04e9, {}, "EUR 2.0bn"),
        (12_000_000, {}, "EUR 12m"),
        (300_000, {"scale": "m"}, "EUR 0.3m"),
        (35_000, {"signed": True}, "+EUR 35k"),
        (1e6, {"currency": "USD"}, "USD 1.0m"),
        (math.nan, {}, "not available"),
        (None, {}, "not available"),
    ],
)
def test_fmt_money(x, kwargs, text):
    currency = kwargs.pop("currency", "EUR")
    assert fmt.money(x, currency, **kwargs) == text


def test_money_range_shares_one_scale():
    assert fmt.money_range(300_000, 2_000_000) == "EUR 0.3m to EUR 2.0m"
    assert fmt.money_range(-96_000, 21_000) == "-EUR 96k to EUR 21k"


@pytest.mark.parametrize(
    ("func", "x", "text"),
    [
        (fmt.percent, 0.27, "27%"),
        (fmt.percent, 3.29, "329%"),
        (fmt.percent, 0.061, "6.1%"),
        (fmt.percent, 0.0, "0%"),
        (fmt.percent, -0.23, "-23%"),
        (fmt.percent, math.nan, "not available"),
        (fmt.pp, 0.061, "+6.1 pp"),
        (fmt.pp, -0.003, "-0.3 pp"),
        (fmt.pp, 0.0, "0.0 pp"),
        (fmt.pp, -0.00001, "0.0 pp"),
        (fmt.pp, None, "not available"),
        (fmt.probability, 0.87, "87%"),
        (fmt.probability, 0.999, "more than 99%"),
        (fmt.probability, 0.001, "less than 1%"),
        (fmt.hours, 2.5, "2.5 hours"),
        (fmt.hours, 1.0, "1 hour"),
        (fmt.hours, 0.75, "45 minutes"),
        (fmt.hours, 0.999, "1 hour"),
        (fmt.hours, -2.0, "-2 hours"),
        (fmt.hours, 72.0, "3 days"),
        (fmt.hours, 0.0, "0 minutes"),
        (fmt.minutes, 90.0, "1.5 hours"),
        (fmt.count, 1615, "1,615"),
        (fmt.count, -40, "-40"),
        (fmt.count, 0, "0"),
        (fmt.count, 2_300_000, "2.3 million"),
        (fmt.count, math.inf, "not available"),
        (fmt.number, 0.045, "0.045"),
        (fmt.number, 2.5, "2.5"),
        (fmt.number, 1615.4, "1,615"),
        (fmt.months, 13.6, "14 months"),
        (fmt.months, 1.0, "1 month"),
        (fmt.months, 0.4, "less than 1 month"),
        (fmt.months, 0.0, "immediately"),
        (fmt.months, None, "not within the horizon"),
    ],
)
def test_formatters(func, x, text):
    assert func(x) == text


def test_signed_changes():
    assert fmt.count(290, signed=True) == "+290"
    assert fmt.hours(1.5, signed=True) == "+1.5 hours"
    assert fmt.percent(0.05, signed=True) == "+5%"
    assert fmt.value(0.02, "rate", signed=True, change=True) == "+2.0 pp"
    assert fmt.value(0.78, "rate") == "78%"
    with pytest.raises(ValueError, match="unit must be one of"):
        fmt.value(1, "furlongs")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "unit", "kwargs", "text"),
    [
        # money
        (1_234_567, "money", {}, "EUR 1.2m"),
        (35_000, "money", {"signed": True}, "+EUR 35k"),
        (-42_000, "EUR", {}, "-EUR 42k"),
        (1e6, "USD", {}, "USD 1.0m"),
        (2.04e12, "money", {}, "EUR 2,040bn"),
        (-0.0, "money", {}, "EUR 0"),
        # rates: levels as %, changes as pp
        (0.27, "rate", {}, "27%"),
        (0.061, "%", {}, "6.1%"),
        (-0.0, "fraction", {}, "0%"),
        (0.061, "rate", {"signed": True, "change": True}, "+6.1 pp"),
        (-0.00001, "%", {"signed": True, "change": True}, "0.0 pp"),
        # durations
        (0.75, "hours", {}, "45 minutes"),
        (2.5, "hours", {"signed": True}, "+2.5 hours"),
        (90, "minutes", {}, "1.5 hours"),
        (3.2, "days", {}, "3.2 days"),
        # counts are whole numbers
        (8144.0, "count", {}, "8,144"),
        (8144.4, "count", {}, "8,144"),
        (2_345_678, "count", {}, "2.3 million"),
        (-0.0, "count", {"signed": True}, "0"),
        # counted things carry their noun, singular for one
        (-9.0, "tickets", {"signed": True, "change": True}, "-9 tickets"),
        (4287, "tickets", {}, "4,287 tickets"),
        (1.0, "customers", {}, "1 customer"),
        (1.0, "orders", {"signed": True}, "+1 order"),
        # plain numbers
        (1615.2, "number", {}, "1,615"),
        (2.5, "score", {}, "2.5"),
        (0.0456, "ratio", {}, "0.046"),
        # a ratio near 1 keeps two decimals, so this month and last read alike
        (1.0, "ratio", {}, "1.00"),
        (1.04, "ratio", {}, "1.04"),
        (0.04, "ratio", {"signed": True, "change": True}, "+0.040"),
        (0.96, "ratio", {}, "0.96"),
        (0.32, "reassignments/ticket", {}, "0.32 reassignments/ticket"),
        (1e-9, None, {}, "0.0000000010"),
        (1.5, "tickets/customer", {}, "1.5 tickets/customer"),
        # missing
        (None, "money", {}, "not available"),
        (NAN, "rate", {}, "not available"),
        (INF, "count", {}, "not available"),
        (-INF, "hours", {}, "not available"),
        (NAN, "count", {"missing": "n/a"}, "n/a"),
        (np.float64(0.5), "rate", {}, "50%"),
    ],
)
def test_value_by_unit(x, unit, kwargs, text):
    assert fmt.value(x, unit, **kwargs) == text


@pytest.mark.parametrize(
    ("func", "x", "text"),
    [
        (fmt.probability, 0.87, "87%"),
        (fmt.probability, 0.9995, "more than 99%"),
        (fmt.probability, 0.995, "more than 99%"),
        (fmt.probability, 0.005, "less than 1%"),
        (fmt.probability, None, "not available"),
        (fmt.months, 14.2, "14 months"),
        (fmt.months, 0.4, "less than 1 month"),
        (fmt.months, NAN, "not within the horizon"),
        (fmt.p_value, 0.031, "p = 0.031"),
        (fmt.p_value, 0.003, "p = 0.003"),
        (fmt.p_value, 2.7e-05, "p < 0.001"),
        (fmt.p_value, 0.0, "p < 0.001"),
        (fmt.p_value, NAN, "p not available"),
        (fmt.confidence, 0.05, "95%"),
        (fmt.confidence, 0.025, "97.5%"),
        (fmt.confidence, 0.1, "90%"),
        (fmt.exact, 0.999, "0.999"),
        (fmt.exact, 8.0, "8"),
        (fmt.exact, 1.5e6, "1500000"),
        (fmt.exact, 1e-13, "0.0000000000001"),
        (fmt.exact, 100 * 0.95, "95"),
    ],
)
def test_single_kinds(func, x, text):
    assert func(x) == text


def test_p_value_in_a_table_cell_and_with_a_label():
    assert fmt.p_value(0.0312, label="") == "0.031"
    assert fmt.p_value(1e-12, label="") == "< 0.001"
    assert fmt.p_value(0.2, label="adjusted p") == "adjusted p = 0.200"
    assert fmt.p_value(None, label="", missing="n/a") == "n/a"


@pytest.mark.parametrize(
    ("x", "kwargs", "text"),
    [
        (1234.5, {}, "1,234"),  # three digits: whole from 100
        (123.4, {}, "123"),
        (12.34, {}, "12.3"),
        (8.0, {}, "8"),
        (8.0, {"zeros": True}, "8.00"),
        (0.0, {"zeros": True}, "0.00"),
        (0.15, {"zeros": True}, "0.15"),
        (2.7e-05, {}, "0.000027"),
        (1.23456e9, {}, "1,234,560,000"),
        (-0.0, {"signed": True}, "+0"),
        (-1.5, {"signed": True}, "-1.5"),
        (0.12345, {"digits": 4}, "0.1235"),
        (40.0, {"digits": 4}, "40"),
        (None, {"missing": "–"}, "–"),
    ],
)
def test_significant_digits_never_scientific(x, kwargs, text):
    assert fmt.significant(x, **kwargs) == text


@pytest.mark.parametrize(
    ("func", "args", "text"),
    [
        (fmt.level, (0.21, "fraction"), "21.0%"),
        (fmt.level, (8.0, "hours"), "8.00 hours"),
        (fmt.level, (NAN, "hours"), "not available"),
        (fmt.change, (0.06, "fraction"), "+6.0 pp"),
        (fmt.change, (-0.15, "tickets"), "-0.15 tickets"),
        (fmt.change, (-2.0, "hours"), "-2.00 hours"),
        (fmt.change, (0.0012, "%"), "+0.1 pp"),
        (fmt.interval, (0.04, 0.082, "fraction"), "+4.0 to +8.2 pp"),
        (fmt.interval, (-0.31, 0.12, "tickets"), "-0.31 to +0.12 tickets"),
        (fmt.interval, (NAN, 1.0, ""), "not available"),
    ],
)
def test_statistical_text(func, args, text):
    assert func(*args) == text


def test_change_in_points_takes_decimals():
    assert fmt.change(0.0012, "%", decimals=2) == "+0.12 pp"


def test_money_range_and_common_scale():
    assert fmt.money_range(300_000, 2_000_000) == "EUR 0.3m to EUR 2.0m"
    assert fmt.common_scale(None, NAN, 35_000) == "k"
    assert fmt.common_scale(None) == ""
    with pytest.raises(fmt.FormatError, match="money scale 'x' is not known"):
        fmt.money(1.0, scale="x")


def test_percent_options():
    assert fmt.percent(0.999) == "100%"
    assert fmt.percent(0.999, exact_digits=True) == "99.9%"
    assert fmt.percent(0.0123, decimals=2) == "1.23%"
    assert fmt.percent(-0.00001, signed=True) == "0%"  # no "-0%"
    assert fmt.percent(12.345) == "1,234%"


@pytest.mark.parametrize(
    ("x", "unit", "digits", "text"),
    [
        (0.8123, "%", 1, "81.2 %"),
        (1_234_567, "count", 1, "1,234,567"),
        (1234.5, "EUR", 2, "1,234"),
        (5.234, None, 1, "5.2"),
        (None, None, 1, "–"),
        (NAN, "%", 1, "–"),
        ("north", None, 1, "north"),
        (True, None, 1, "True"),
    ],
)
def test_table_cells(x, unit, digits, text):
    assert fmt.cell(x, unit, digits) == text


def test_join():
    assert fmt.join([]) == "none"
    assert fmt.join([], empty="nothing") == "nothing"
    assert fmt.join(["a"]) == "a"
    assert fmt.join(["a", "b"]) == "a and b"
    assert fmt.join(iter(["a", "b", "c"])) == "a, b and c"


def test_is_missing():
    assert fmt.is_missing(None) and fmt.is_missing(NAN) and fmt.is_missing(-INF) and fmt.is_missing("x")
    assert not fmt.is_missing(0) and not fmt.is_missing(np.float32(1.5))


def test_unknown_unit_says_which_units_exist():
    with pytest.raises(fmt.FormatError, match=r"unit must be one of .*got 'furlongs'"):
        fmt.value(1.0, "furlongs")
    with pytest.raises(fmt.FormatError):
        fmt.value(None, "furlongs")  # an unknown unit is an error even for a missing number


def test_format_is_an_edge_module():
    """It imports only the standard library, numpy/pandas and outcomes.errors."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(fmt.__file__).read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m for m in modules if m.startswith("outcomes")} == {"outcomes.errors"}


@pytest.mark.parametrize(
    ("x", "digits", "text"),
    [(1168.12, 2, "1,200"), (3056.23, 2, "3,100"), (-14056.0, 2, "-14,000"), (0.05531, 2, "0.055"), (11.64, 3, "11.6"),
     (0.0, 2, "0"), (None, 2, "not available")],
)
def test_rounded_keeps_only_the_digits_asked_for(x, digits, text):
    assert fmt.rounded(x, digits) == text


def test_value_range_writes_a_duration_word_once() -> None:
    """Both bounds of a duration in the word of the larger one, never "-1.1 hours to -53 minutes"."""
    assert fmt.value_range(-1.1, -0.88, "hours", signed=True, change=True) == "-1.1 to -0.9 hours"
    assert fmt.value_range(-0.5, -0.2, "hours", signed=True) == "-30 to -12 minutes"
    assert fmt.value_range(-12.0, 2.0, "hours", signed=True) == "-12 to +2 hours"
    assert fmt.value_range(30, 80, "hours") == "1.2 to 3.3 days"
    assert fmt.value_range(10, 50, "minutes") == "10 to 50 minutes"
    assert fmt.value_range(0.5, 1.5, "days") == "12 to 36 hours"
    assert fmt.value_range(0.0, 1.0, "hours") == "0 to 1 hour"


def test_value_range_other_units_as_value_writes_them() -> None:
    assert fmt.value_range(-0.05, 0.02, "%", signed=True, change=True) == "-5.0 pp to +2.0 pp"
    assert fmt.value_range(-759_000, -135_000, "money", signed=True) == "-EUR 759k to -EUR 135k"
    assert fmt.value_range(None, 1.0, "hours") == fmt.NOT_AVAILABLE
