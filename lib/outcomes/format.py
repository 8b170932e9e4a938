"""How every number of the kit is written: the one formatter of reports, tables and sentences.

Executive text (:func:`value` and the functions it dispatches to): amounts as "EUR 1.2m" /
"EUR 35k", rates (fractions) as "27%", changes in rates as percentage points ("+6.1 pp"),
durations as "45 minutes" / "2.5 hours" / "3.2 days", counts as whole numbers "1,615",
probabilities as "87%" / "more than 99%", payback as "14 months".

Statistical text (:func:`level`, :func:`change`, :func:`interval`, :func:`p_value`): about
three significant digits in the metric's unit ("8.00 hours", "+6.0 pp"), p-values as
"p = 0.003" or "p < 0.001", never in scientific notation.

Table cells (:func:`cell`): fixed decimals so columns line up ("81.2 %", "1,234,567").

A missing number (None, NaN, an infinity) is written :data:`NOT_AVAILABLE` unless the
caller names another word (``missing=``), e.g. a dash in a table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from outcomes.errors import OutcomesError

#: The word for a missing number.
NOT_AVAILABLE = "not available"
#: The word for a payback period that is not reached.
NOT_WITHIN_HORIZON = "not within the horizon"

#: Units whose values are fractions shown as percentages (changes as percentage points).
PERCENT_UNITS = frozenset({"fraction", "%", "percent", "rate"})
#: Things counted: a value in one of these units is a whole number followed by its noun ("9 tickets").
COUNTED_NOUNS = frozenset({"tickets", "customers", "orders"})
#: Units shown as whole numbers with thousands separators in tables.
COUNT_UNITS = frozenset({"count", "minutes"}) | COUNTED_NOUNS
#: Currency codes; a currency unit is written as money.
CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF"})

_SCALES = (("bn", 1e9), ("m", 1e6), ("k", 1e3), ("", 1.0))


class FormatError(OutcomesError, ValueError):
    """A number was asked to be written in a unit or scale the kit does not know."""


def is_missing(x: Any) -> bool:
    """True for None, NaN, infinities and anything that is not a number."""
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def _sign(x: float, signed: bool) -> str:
    if x < 0:
        return "-"
    return "+" if signed and x > 0 else ""


def _signed(x: float, text: str, signed: bool) -> str:
    """Prefix the sign of ``x`` unless ``text`` rounds to zero (no "-0", no "+0")."""
    zero = text.strip("0.,") == ""
    return ("" if zero else _sign(x, signed)) + text


# --------------------------------------------------------------------------- money


def _scale_for(a: float) -> tuple[str, float]:
    for suffix, div in _SCALES:
        if a >= div:
            return suffix, div
    return "", 1.0


def _scaled_text(a: float, suffix: str, div: float) -> str:
    scaled = a / div
    if suffix == "":
        decimals = 2 if 0 < a < 10 and round(a) != a else 0
    elif scaled == 0 or scaled >= 10:
        decimals = 0
    elif scaled < 0.1:
        decimals = 2
    else:
        decimals = 1
    return f"{scaled:,.{decimals}f}{suffix}"


def common_scale(*amounts: float | None) -> str:
    """The scale ("", "k", "m", "bn") of the largest amount, to write several amounts alike."""
    present = [abs(float(a)) for a in amounts if not is_missing(a)]  # type: ignore[arg-type]
    return _scale_for(max(present))[0] if present else ""


def money(
    x: float | None, currency: str = "EUR", *, scale: str | None = None, signed: bool = False, missing: str = NOT_AVAILABLE
) -> str:
    """An amount: "EUR 1.2m", "EUR 35k", "EUR 850", "-EUR 3.5k".

    Parameters
    ----------
    x : float or None
        The amount.
    currency : str
        Currency code written before the amount.
    scale : {"", "k", "m", "bn"}, optional
        Force a scale (to write several amounts alike); chosen from ``x`` otherwise.
    signed : bool
        Write "+" before a positive amount.
    missing : str
        Text for a missing amount.

    Returns
    -------
    str
    """
    if is_missing(x):
        return missing
    x = float(x)  # type: ignore[arg-type]
    a = abs(x)
    scales = dict(_SCALES)
    if scale is None:
        scale = _scale_for(a)[0]
        order = [s for s, _ in reversed(_SCALES)]
        text = _scaled_text(a, scale, scales[scale])
        if float(text.rstrip("kmbn").replace(",", "")) >= 1000 and scale != order[-1]:
            scale = order[order.index(scale) + 1]
    elif scale not in scales:
        raise FormatError(f"money scale {scale!r} is not known: use one of {list(scales)}")
    text = _scaled_text(a, scale, scales[scale])
    if text.strip("0.,kmbn") == "":
        return f"{currency} 0"
    return f"{_sign(x, signed)}{currency} {text}"


def money_range(low: float | None, high: float | None, currency: str = "EUR") -> str:
    """A range in one scale: "EUR 0.3m to EUR 2.0m"."""
    scale = common_scale(low, high)
    return f"{money(low, currency, scale=scale)} to {money(high, currency, scale=scale)}"


# --------------------------------------------------------------------------- shares


def exact(x: float | None, *, missing: str = NOT_AVAILABLE) -> str:
    """The shortest text that reads back as the number (for parameters and targets): 8, 0.999, 22.5, 1500000.

    Twelve significant digits at most (so 95.00000000000001 reads 95), never scientific notation.
    """
    if is_missing(x):
        return missing
    text = format(Decimal(repr(float(f"{float(x):.12g}"))), "f")  # type: ignore[arg-type]
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(
    x: float | None, *, decimals: int | None = None, signed: bool = False, exact_digits: bool = False, missing: str = NOT_AVAILABLE
) -> str:
    """A fraction as a percentage: 0.27 -> "27%", 3.29 -> "329%", 0.061 -> "6.1%".

    Parameters
    ----------
    x : float or None
        The fraction.
    decimals : int, optional
        Fixed decimals; by default none from 10% up (or when the tenth is zero), else one.
    signed : bool
        Write "+" before a positive share.
    exact_digits : bool
        Write every digit the number has (0.999 -> "99.9%"), for targets and levels.
    missing : str
        Text for a missing number.
    """
    if is_missing(x):
        return missing
    pct = 100.0 * float(x)  # type: ignore[arg-type]
    if exact_digits:
        text = exact(abs(pct))
    else:
        d = decimals if decimals is not None else (0 if abs(pct) >= 10 or round(pct, 1) == round(pct) else 1)
        text = f"{abs(pct):,.{d}f}"
    return f"{_signed(pct, text, signed)}%"


def confidence(alpha: float) -> str:
    """The confidence level of ``alpha`` as text: 0.05 -> "95%", 0.025 -> "97.5%"."""
    return percent(1 - alpha, exact_digits=True)


def probability(p: float | None, *, missing: str = NOT_AVAILABLE) -> str:
    """A probability: "87%", "more than 99%", "less than 1%"."""
    if is_missing(p):
        return missing
    p = float(p)  # type: ignore[arg-type]
    if p > 0.99:
        return "more than 99%"
    if p < 0.01:
        return "less than 1%"
    return f"{round(100 * p):.0f}%"


def pp(delta: float | None, *, decimals: int = 1, signed: bool = True, missing: str = NOT_AVAILABLE) -> str:
    """A change in a rate (fractions) as percentage points: 0.061 -> "+6.1 pp"."""
    if is_missing(delta):
        return missing
    points = 100.0 * float(delta)  # type: ignore[arg-type]
    return f"{_signed(points, f'{abs(points):.{decimals}f}', signed)} pp"


# --------------------------------------------------------------------------- durations and counts


def _plural(value_text: str, word: str) -> str:
    return f"{value_text} {word}" if value_text.lstrip("+-") == "1" else f"{value_text} {word}s"


def hours(h: float | None, *, signed: bool = False, missing: str = NOT_AVAILABLE) -> str:
    """A duration given in hours: "45 minutes", "2.5 hours", "1 hour", "3.2 days"."""
    if is_missing(h):
        return missing
    x = float(h)  # type: ignore[arg-type]
    a = abs(x)
    if a < 1:
        text, word = f"{a * 60:.0f}", "minute"
        if text == "60":
            text, word = "1", "hour"
    elif a < 48:
        text, word = f"{a:.1f}".removesuffix(".0"), "hour"
    else:
        d = a / 24
        text, word = (f"{d:,.0f}" if d >= 100 else f"{d:.1f}".removesuffix(".0")), "day"
    return _signed(x, _plural(text, word), signed) if text != "0" else _plural(text, word)


def _duration_scale(h: float) -> tuple[float, str]:
    """The factor from hours and the word that :func:`hours` uses for a duration of ``h`` hours."""
    a = abs(h)
    if a < 1:
        return 60.0, "minute"
    if a < 48:
        return 1.0, "hour"
    return 1 / 24, "day"


def hours_range(low: float, high: float, *, signed: bool = False) -> str:
    """Two durations in hours in one word: "-1.1 to -0.9 hours", "20 to 45 minutes", never "-1.1 hours to -53 minutes".

    The word is the one :func:`hours` would use for the bound farther from zero.
    """
    factor, word = _duration_scale(max(abs(float(low)), abs(float(high))))

    def bound(h: float) -> str:
        x = float(h) * factor
        text = f"{abs(x):.0f}" if word == "minute" or abs(x) >= 100 else f"{abs(x):.1f}".removesuffix(".0")
        return _signed(x, text, signed)

    return f"{bound(low)} to {_plural(bound(high), word)}"


def minutes(m: float | None, *, signed: bool = False, missing: str = NOT_AVAILABLE) -> str:
    """A duration given in minutes (written as :func:`hours` writes it)."""
    return missing if is_missing(m) else hours(float(m) / 60.0, signed=signed)  # type: ignore[arg-type]


def days(d: float | None, *, signed: bool = False, missing: str = NOT_AVAILABLE) -> str:
    """A duration given in days (written as :func:`hours` writes it)."""
    return missing if is_missing(d) else hours(float(d) * 24.0, signed=signed)  # type: ignore[arg-type]


def count(n: float | None, *, signed: bool = False, missing: str = NOT_AVAILABLE) -> str:
    """A count as a whole number: "1,615", "-40", "2.3 million", "1.2 billion" (never "8,144.0")."""
    if is_missing(n):
        return missing
    x = float(n)  # type: ignore[arg-type]
    a = abs(x)
    if a >= 999_500_000:
        text = f"{a / 1e9:,.1f} billion"
    elif a >= 999_500:
        text = f"{a / 1e6:.1f} million"
    else:
        text = f"{a:,.0f}"
    return _signed(x, text, signed)


def number(x: float | None, *, signed: bool = False, missing: str = NOT_AVAILABLE) -> str:
    """A plain number for executives: "1,615", "12.5", "2.5", "0.045" (two significant digits below 1)."""
    if is_missing(x):
        return missing
    v = float(x)  # type: ignore[arg-type]
    a = abs(v)
    if a >= 100:
        text = f"{a:,.0f}"
    elif a >= 1:
        text = f"{a:.1f}".removesuffix(".0")
    elif a == 0:
        text = "0"
    else:
        text = _fixed_significant(a, 2, zeros=True)
    return _signed(v, text, signed)


def _fixed_significant(a: float, digits: int, *, zeros: bool) -> str:
    """``a`` (0 < a < 1) with ``digits`` significant digits in fixed notation (no "e-05")."""
    decimals = digits - 1 - math.floor(math.log10(a))
    rounded = round(a, decimals)
    if rounded >= 1:
        return f"{rounded:.{digits - 1}f}"
    text = f"{rounded:.{decimals}f}"
    return text if zeros else text.rstrip("0").rstrip(".")


def significant(
    x: float | None, digits: int = 3, *, signed: bool = False, zeros: bool = False, missing: str = NOT_AVAILABLE
) -> str:
    """A number with about ``digits`` significant digits: 1,234 / 12.3 / 0.0456; never scientific notation.

    Parameters
    ----------
    x : float or None
        The number.
    digits : int
        Significant digits; from ``10 ** (digits - 1)`` up the number is written whole, with separators.
    signed : bool
        Write "+" before a positive number.
    zeros : bool
        Keep trailing zeros from 1 up ("8.00"), so the digits show the precision.
    missing : str
        Text for a missing number.
    """
    if is_missing(x):
        return missing
    v = float(x)  # type: ignore[arg-type]
    a = abs(v)
    if a >= 10 ** (digits - 1):
        text = f"{a:,.0f}"
    elif a >= 1 or a == 0:
        text = f"{a:#.{digits}g}" if zeros else f"{a:.{digits}g}"
        text = text.rstrip(".")
    else:
        text = _fixed_significant(a, digits, zeros=False)
    sign = "+" if signed and v >= 0 else ""
    return ("-" if v < 0 and text.strip("0.,") else sign) + text


def rounded(x: float | None, digits: int = 2, *, missing: str = NOT_AVAILABLE) -> str:
    """A rough figure, rounded to ``digits`` significant digits even when whole: 1,168 -> "1,200", 0.0553 -> "0.055".

    For figures whose precision is not worth more than a few digits (a return on an
    assumed cost, a value resting on an assumed price), so the text claims no more.
    """
    if is_missing(x):
        return missing
    v = float(x)  # type: ignore[arg-type]
    if v == 0:
        return "0"
    exponent = math.floor(math.log10(abs(v)))
    return significant(round(v, digits - 1 - exponent), digits)


def months(m: float | None) -> str:
    """A payback period: "14 months", "less than 1 month", "immediately"; missing: not within the horizon."""
    if is_missing(m):
        return NOT_WITHIN_HORIZON
    x = float(m)  # type: ignore[arg-type]
    if x < 1:
        return "less than 1 month" if x > 0 else "immediately"
    return _plural(f"{x:.0f}", "month")


# --------------------------------------------------------------------------- by unit

_PLAIN_UNITS = frozenset({None, "", "number", "score", "ratio"})
_VALUE_UNITS = PERCENT_UNITS | CURRENCIES | COUNTED_NOUNS | {"money", "hours", "minutes", "days", "count"}


def value(
    x: float | None,
    unit: str | None,
    *,
    signed: bool = False,
    change: bool = False,
    currency: str = "EUR",
    missing: str = NOT_AVAILABLE,
) -> str:
    """A metric value or change for executives, by its unit.

    Parameters
    ----------
    x : float or None
        The number.
    unit : str
        The catalog's or the narrative's unit: a rate ("rate", "fraction", "%") is a fraction,
        its level written as a percentage and its change in percentage points; "money" or a
        currency code ("EUR") money; "hours", "minutes", "days" durations; "count" a whole
        number; "tickets", "customers", "orders" (:data:`COUNTED_NOUNS`) a whole number with
        its noun ("-9 tickets", "1 customer"); "ratio" two decimals from 0.1 to 100, so a
        ratio near 1 reads "1.04" and "1.00" alike; "number", "score" or None a plain number;
        a unit "per" something ("tickets/customer") is written after a plain number.
    signed : bool
        Write "+" before positive numbers.
    change : bool
        ``x`` is a change (matters for rates).
    currency : str
        Currency of ``unit="money"``.
    missing : str
        Text for a missing number.

    Returns
    -------
    str

    Raises
    ------
    FormatError
        For a unit outside those above.
    """
    plain = unit in _PLAIN_UNITS or (unit is not None and "/" in unit)
    if not (plain or unit in _VALUE_UNITS):
        raise FormatError(
            f"unit must be one of {sorted(_VALUE_UNITS | _PLAIN_UNITS - {None})} or a unit per something "
            f"('tickets/customer'); got {unit!r}: set the metric's unit in the catalog to one of them"
        )
    if is_missing(x):
        return missing
    if unit in PERCENT_UNITS:
        return pp(x, signed=signed) if change else percent(x, signed=signed)
    if unit == "money" or unit in CURRENCIES:
        return money(x, currency if unit == "money" else unit, signed=signed)  # type: ignore[arg-type]
    if unit == "hours":
        return hours(x, signed=signed)
    if unit == "minutes":
        return minutes(x, signed=signed)
    if unit == "days":
        return days(x, signed=signed)
    if unit == "count":
        return count(x, signed=signed)
    if unit in COUNTED_NOUNS:
        return _plural(count(x, signed=signed), unit.removesuffix("s"))
    if unit == "ratio" and 0.1 <= abs(float(x)) < 100:  # type: ignore[arg-type]
        return _signed(float(x), f"{abs(float(x)):.2f}", signed)  # type: ignore[arg-type]
    text = number(x, signed=signed)
    return f"{text} {unit}" if unit not in _PLAIN_UNITS else text


def value_range(
    low: float | None,
    high: float | None,
    unit: str,
    *,
    signed: bool = False,
    change: bool = False,
    currency: str = "EUR",
    missing: str = NOT_AVAILABLE,
) -> str:
    """Two bounds as :func:`value` writes them, a duration's word once: "-1.1 to -0.9 hours", "+2.0 pp to +6.1 pp".

    Parameters are those of :func:`value`; ``missing`` is returned when either bound is missing.
    """
    if is_missing(low) or is_missing(high):
        return missing
    to_hours = {"hours": 1.0, "minutes": 1 / 60, "days": 24.0}.get(unit)
    if to_hours is not None:
        return hours_range(float(low) * to_hours, float(high) * to_hours, signed=signed)  # type: ignore[arg-type]
    kw = {"signed": signed, "change": change, "currency": currency}
    return f"{value(low, unit, **kw)} to {value(high, unit, **kw)}"  # type: ignore[arg-type]


def level(x: float | None, unit: str, *, missing: str = NOT_AVAILABLE) -> str:
    """A metric level for statistical text: "27.0%" for fractions, else "1.20 hours" (unit appended)."""
    if is_missing(x):
        return missing
    if unit in PERCENT_UNITS:
        return percent(x, decimals=1)
    text = significant(x, zeros=True)
    return f"{text} {unit}" if unit else text


def change(x: float | None, unit: str, *, decimals: int = 1, missing: str = NOT_AVAILABLE) -> str:
    """A signed difference for statistical text: "+6.0 pp" for fractions (``decimals`` of a point), else "-0.15 tickets"."""
    if is_missing(x):
        return missing
    if unit in PERCENT_UNITS:
        return f"{100 * float(x):+.{decimals}f} pp"  # type: ignore[arg-type]
    text = significant(x, signed=True, zeros=True)
    return f"{text} {unit}" if unit else text


def interval(low: float | None, high: float | None, unit: str, *, missing: str = NOT_AVAILABLE) -> str:
    """An interval's bounds for statistical text: "+4.0 to +8.2 pp", "-0.31 to -0.12 tickets"."""
    if is_missing(low) or is_missing(high):
        return missing
    if unit in PERCENT_UNITS:
        return f"{100 * float(low):+.1f} to {100 * float(high):+.1f} pp"  # type: ignore[arg-type]
    text = f"{significant(low, signed=True, zeros=True)} to {significant(high, signed=True, zeros=True)}"
    return f"{text} {unit}" if unit else text


def p_value(p: float | None, *, label: str = "p", missing: str = NOT_AVAILABLE) -> str:
    """A p-value: "p = 0.031", "p < 0.001" (never "2.7e-05"); ``label=""`` leaves the "p =" out for a table cell."""
    if is_missing(p):
        return f"{label} {missing}".strip()
    p = float(p)  # type: ignore[arg-type]
    text = "< 0.001" if p < 0.001 else f"= {p:.3f}"
    return f"{label} {text}" if label else text.removeprefix("= ")


def cell(x: Any, unit: str | None = None, digits: int = 1, *, missing: str = "–") -> str:
    """A table cell with fixed decimals, so a column lines up: "81.2 %", "1,234,567", "5.2".

    Fractions (:data:`PERCENT_UNITS`) are shown as percentages with ``digits`` decimals, counts
    (:data:`COUNT_UNITS`) and currencies as whole numbers with separators, other numbers with
    ``digits`` decimals; text is returned as it is and a missing number as ``missing``.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return missing
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return str(x)
    if unit in PERCENT_UNITS:
        return f"{x * 100:,.{digits}f} %"
    if unit in COUNT_UNITS or unit in CURRENCIES:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def join(items: Iterable[str], *, empty: str = "none") -> str:
    """Words as a list in a sentence: "a", "a and b", "a, b and c"; ``empty`` for none."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
