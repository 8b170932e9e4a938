"""Numbers and sentences for executives, built from result numbers only.

Formatting rules: amounts as "EUR 1.2m" / "EUR 35k", rates as "27%", changes in rates
as percentage points ("+6.1 pp"), durations as "45 minutes" / "2.5 hours" / "3.2 days",
counts as "1,615"; a missing or NaN number is written "not available".

Sentence rules: a change is called clear (statistically significant) only when its
interval excludes zero; an interval that spans zero is called inconclusive, and a change
without an interval is never called clear. Every value statement carries its uncertainty
(P10 to P90 and the chance of a positive ROI).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

NOT_AVAILABLE = "not available"
NOT_WITHIN_HORIZON = "not within the horizon"

Unit = Literal["rate", "hours", "minutes", "money", "count", "number", "score"]
Better = Literal["up", "down", "balance"]

_SCALES = (("bn", 1e9), ("m", 1e6), ("k", 1e3), ("", 1.0))


def is_missing(x: Any) -> bool:
    """True for None and NaN (and other non-finite numbers)."""
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


def fmt_money(x: float | None, currency: str = "EUR", *, unit: str | None = None, signed: bool = False) -> str:
    """Format an amount: "EUR 1.2m", "EUR 35k", "EUR 850", "-EUR 3.5k".

    Parameters
    ----------
    x : float or None
        The amount.
    currency : str
        Currency code written before the amount.
    unit : {"", "k", "m", "bn"}, optional
        Force a scale (to write several amounts alike); chosen from ``x`` otherwise.
    signed : bool
        Write "+" before a positive amount.

    Returns
    -------
    str
        "not available" when ``x`` is missing.
    """
    if is_missing(x):
        return NOT_AVAILABLE
    x = float(x)  # type: ignore[arg-type]
    a = abs(x)
    scales = dict(_SCALES)
    if unit is None:
        unit = _scale_for(a)[0]
        order = [s for s, _ in reversed(_SCALES)]
        text = _scaled_text(a, unit, scales[unit])
        if float(text.rstrip("kmbn").replace(",", "")) >= 1000 and unit != order[-1]:
            unit = order[order.index(unit) + 1]
    elif unit not in scales:
        raise ValueError(f"unit must be one of {list(scales)}, got {unit!r}")
    text = _scaled_text(a, unit, scales[unit])
    if text.strip("0.,kmbn") == "":
        return f"{currency} 0"
    return f"{_sign(x, signed)}{currency} {text}"


def common_unit(*amounts: float | None) -> str:
    """The scale ("", "k", "m", "bn") of the largest amount, to write a range alike."""
    present = [abs(float(a)) for a in amounts if not is_missing(a)]  # type: ignore[arg-type]
    return _scale_for(max(present))[0] if present else ""


def fmt_money_range(low: float | None, high: float | None, currency: str = "EUR") -> str:
    """Format a range in one scale: "EUR 0.3m to EUR 2.0m"."""
    unit = common_unit(low, high)
    return f"{fmt_money(low, currency, unit=unit)} to {fmt_money(high, currency, unit=unit)}"


def _decimals(value: float, decimals: int | None) -> int:
    if decimals is not None:
        return decimals
    return 0 if abs(value) >= 10 or round(value, 1) == round(value) else 1


def fmt_percent(x: float | None, *, decimals: int | None = None, signed: bool = False) -> str:
    """Format a fraction as a percentage: 0.27 -> "27%", 3.29 -> "329%", 0.061 -> "6.1%"."""
    if is_missing(x):
        return NOT_AVAILABLE
    pct = 100.0 * float(x)  # type: ignore[arg-type]
    d = _decimals(pct, decimals)
    text = f"{abs(pct):,.{d}f}"
    return f"{_sign(pct, signed) if float(text.replace(',', '')) else ''}{text}%"


def fmt_probability(p: float | None) -> str:
    """Format a probability: "87%", "more than 99%", "less than 1%"."""
    if is_missing(p):
        return NOT_AVAILABLE
    p = float(p)  # type: ignore[arg-type]
    if p > 0.99:
        return "more than 99%"
    if p < 0.01:
        return "less than 1%"
    return f"{round(100 * p):.0f}%"


def fmt_pp(delta: float | None, *, decimals: int = 1, signed: bool = True) -> str:
    """Format a change in a rate (fractions) as percentage points: 0.061 -> "+6.1 pp"."""
    if is_missing(delta):
        return NOT_AVAILABLE
    pp = 100.0 * float(delta)  # type: ignore[arg-type]
    text = f"{abs(pp):.{decimals}f}"
    return f"{_sign(pp, signed) if float(text) else ''}{text} pp"


def _plural(value_text: str, word: str) -> str:
    return f"{value_text} {word}" if value_text == "1" else f"{value_text} {word}s"


def fmt_hours(hours: float | None, *, signed: bool = False) -> str:
    """Format a duration given in hours: "45 minutes", "2.5 hours", "1 hour", "3.2 days"."""
    if is_missing(hours):
        return NOT_AVAILABLE
    h = float(hours)  # type: ignore[arg-type]
    a = abs(h)
    if a < 1:
        text, word = f"{a * 60:.0f}", "minute"
        if text == "60":
            text, word = "1", "hour"
    elif a < 48:
        text, word = f"{a:.1f}".removesuffix(".0"), "hour"
    else:
        days = a / 24
        text, word = (f"{days:,.0f}" if days >= 100 else f"{days:.1f}".removesuffix(".0")), "day"
    sign = _sign(h, signed) if text != "0" else ""
    return sign + _plural(text, word)


def fmt_minutes(minutes: float | None, *, signed: bool = False) -> str:
    """Format a duration given in minutes (see :func:`fmt_hours`)."""
    if is_missing(minutes):
        return NOT_AVAILABLE
    return fmt_hours(float(minutes) / 60.0, signed=signed)  # type: ignore[arg-type]


def fmt_count(n: float | None, *, signed: bool = False) -> str:
    """Format a count: "1,615", "-40", "2.3 million", "1.2 billion"."""
    if is_missing(n):
        return NOT_AVAILABLE
    x = float(n)  # type: ignore[arg-type]
    a = abs(x)
    if a >= 999_500_000:
        text = f"{a / 1e9:,.1f} billion"
    elif a >= 999_500:
        text = f"{a / 1e6:.1f} million"
    else:
        text = f"{a:,.0f}"
    return f"{_sign(x, signed) if text != '0' else ''}{text}"


def fmt_number(x: float | None, *, signed: bool = False) -> str:
    """Format a plain number sensibly: "1,615", "2.5", "0.045"."""
    if is_missing(x):
        return NOT_AVAILABLE
    v = float(x)  # type: ignore[arg-type]
    a = abs(v)
    if a >= 100:
        text = f"{a:,.0f}"
    elif a >= 1:
        text = f"{a:.1f}".removesuffix(".0")
    elif a == 0:
        text = "0"
    else:
        text = f"{a:.{1 - math.floor(math.log10(a))}f}"
    return f"{_sign(v, signed) if text != '0' else ''}{text}"


def fmt_months(months: float | None) -> str:
    """Format a payback period: "14 months", "less than 1 month"; None or NaN: not within the horizon."""
    if is_missing(months):
        return NOT_WITHIN_HORIZON
    m = float(months)  # type: ignore[arg-type]
    if m < 1:
        return "less than 1 month" if m > 0 else "immediately"
    return _plural(f"{m:.0f}", "month")


def fmt_value(x: float | None, unit: Unit, *, signed: bool = False, change: bool = False, currency: str = "EUR") -> str:
    """Format a metric value or change by its unit.

    Parameters
    ----------
    x : float or None
        The number.
    unit : {"rate", "hours", "minutes", "money", "count", "number", "score"}
        A rate is a fraction: a level is written as a percentage, a change in percentage points.
    signed : bool
        Write "+" before positive numbers.
    change : bool
        ``x`` is a change (matters for rates).
    currency : str
        For money.

    Returns
    -------
    str
    """
    if unit == "rate":
        return fmt_pp(x, signed=signed) if change else fmt_percent(x, signed=signed)
    if unit == "hours":
        return fmt_hours(x, signed=signed)
    if unit == "minutes":
        return fmt_minutes(x, signed=signed)
    if unit == "money":
        return fmt_money(x, currency, signed=signed)
    if unit == "count":
        return fmt_count(x, signed=signed)
    if unit in ("number", "score"):
        return fmt_number(x, signed=signed)
    raise ValueError(f"unit must be one of rate, hours, minutes, money, count, number, score; got {unit!r}")


@dataclass(frozen=True)
class MetricChange:
    """A measured change in one metric, as plain numbers.

    Attributes
    ----------
    label : str
        Name shown to readers ("CSAT", "First response time").
    estimate : float or None
        The change (treatment - control, or after - before); None when not measured.
    ci_low, ci_high : float, optional
        Interval bounds of the change at ``level``.
    unit : str
        How to write it (see :func:`fmt_value`); "rate" for fractions.
    better : {"up", "down", "balance"}
        Which direction is a gain.
    level : float
        Confidence level of the interval.
    baseline : float, optional
        The level before (or in control).
    reason_missing : str, optional
        Why there is no estimate (said to the reader).
    currency : str
        For money.
    """

    label: str
    estimate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    unit: Unit = "number"
    better: Better = "up"
    level: float = 0.95
    baseline: float | None = None
    reason_missing: str | None = None
    currency: str = "EUR"

    @property
    def has_interval(self) -> bool:
        """Both bounds are present."""
        return not (is_missing(self.ci_low) or is_missing(self.ci_high))

    @property
    def is_clear(self) -> bool:
        """The interval excludes zero (never true without an interval or an estimate)."""
        if is_missing(self.estimate) or not self.has_interval:
            return False
        return float(self.ci_low) > 0 or float(self.ci_high) < 0  # type: ignore[arg-type]

    @property
    def verdict(self) -> Literal["gain", "loss", "change", "inconclusive", "missing"]:
        """Gain or loss when clear (by the better direction), change for balance metrics, else inconclusive."""
        if is_missing(self.estimate):
            return "missing"
        if not self.is_clear:
            return "inconclusive"
        if self.better == "balance":
            return "change"
        up = float(self.estimate) > 0  # type: ignore[arg-type]
        return "gain" if up == (self.better == "up") else "loss"


def _fmt(change: MetricChange, x: float | None, *, signed: bool, is_change: bool) -> str:
    return fmt_value(x, change.unit, signed=signed, change=is_change, currency=change.currency)


def interval_text(change: MetricChange) -> str:
    """"95% interval -2.6 to -1.4 hours", or "no interval available"."""
    if not change.has_interval:
        return "no interval available"
    lo = _fmt(change, change.ci_low, signed=True, is_change=True)
    hi = _fmt(change, change.ci_high, signed=True, is_change=True)
    return f"{fmt_percent(change.level)} interval {lo} to {hi}"


def metric_change_sentence(change: MetricChange) -> str:
    """One sentence on a measured change, with its interval and what it means.

    Parameters
    ----------
    change : MetricChange
        The numbers.

    Returns
    -------
    str
        E.g. "First response time fell by 2 hours (95% interval -2.6 to -1.4 hours): a clear
        improvement." A change whose interval spans zero is called inconclusive; one
        without an interval is never called clear.
    """
    if is_missing(change.estimate):
        reason = change.reason_missing or "no data for this period"
        return f"{change.label}: {NOT_AVAILABLE} ({reason})."
    est = float(change.estimate)  # type: ignore[arg-type]
    size = _fmt(change, abs(est), signed=False, is_change=True)
    verb = "rose by" if est > 0 else "fell by" if est < 0 else "did not change"
    frm = "" if is_missing(change.baseline) else f" from {_fmt(change, change.baseline, signed=False, is_change=False)}"
    head = f"{change.label} {verb} {size}{frm}" if est != 0 else f"{change.label} did not change{frm}"
    detail = f" ({interval_text(change)})"
    verdict = change.verdict
    if verdict == "gain":
        tail = ": a clear improvement."
    elif verdict == "loss":
        tail = ": a clear deterioration."
    elif verdict == "change":
        tail = ": a clear change."
    elif change.has_interval:
        tail = ": the interval includes zero, so the result is inconclusive (it could be a gain, a loss or nothing)."
    else:
        tail = ", so it cannot be called a clear change."
    return head + detail + tail


def roi_sentence(roi: Mapping[str, Any] | None, currency: str | None = None) -> str:
    """The value of an initiative with its uncertainty.

    Parameters
    ----------
    roi : mapping or None
        A results.json ``roi`` entry (``npv_p50, npv_p10, npv_p90, prob_roi_positive``
        and optionally ``roi_p50, payback_months, currency``).
    currency : str, optional
        Overrides the entry's currency (default EUR).

    Returns
    -------
    str
        E.g. "NPV EUR 1.2m (P10 EUR 0.3m to P90 EUR 2.0m); 87% chance ROI is positive;
        median ROI 140%, payback in 14 months. Whether it pays off is uncertain." (likely
        to pay off from a 90% chance, likely to lose money up to 10%).
    """
    if roi is None or is_missing(roi.get("npv_p50")):
        return f"Value {NOT_AVAILABLE}: no investment case has been computed."
    cur = currency or roi.get("currency") or "EUR"
    p10, p50, p90 = roi.get("npv_p10"), roi["npv_p50"], roi.get("npv_p90")
    unit = common_unit(p10, p50, p90)
    text = (
        f"NPV {fmt_money(p50, cur, unit=unit)} (P10 {fmt_money(p10, cur, unit=unit)} to P90 "
        f"{fmt_money(p90, cur, unit=unit)}); {fmt_probability(roi.get('prob_roi_positive'))} chance ROI is positive"
    )
    extras = []
    if not is_missing(roi.get("roi_p50")):
        extras.append(f"median ROI {fmt_percent(roi['roi_p50'])}")
    if "payback_months" in roi:
        pb = roi["payback_months"]
        extras.append("payback " + ("in " + fmt_months(pb) if not is_missing(pb) else NOT_WITHIN_HORIZON))
    text += ("; " + ", ".join(extras) if extras else "") + "."
    prob = roi.get("prob_roi_positive")
    if not is_missing(prob):
        if prob >= 0.9:
            text += " It is likely to pay off."
        elif prob <= 0.1:
            text += " It is likely to lose money."
        else:
            text += " Whether it pays off is uncertain."
    return text


_DECISIONS = {
    "ship": "roll it out",
    "roll out": "roll it out",
    "rollout": "roll it out",
    "scale": "roll it out",
    "stop": "stop it",
    "roll back": "stop it",
    "rollback": "stop it",
    "keep testing": "keep testing until the result is clear",
    "continue": "keep testing until the result is clear",
    "inconclusive": "keep testing until the result is clear",
}


def recommendation_sentence(decision: str | None, prob_roi_positive: float | None = None) -> str:
    """What we recommend, from the statistics engine's decision (a string).

    Parameters
    ----------
    decision : str or None
        The decision; common ones ("ship", "stop", "keep testing"...) are put in plain
        words, others are quoted as they are.
    prob_roi_positive : float, optional
        Added as the business case's chance of a positive ROI.

    Returns
    -------
    str
    """
    if decision is None or not str(decision).strip():
        return "No recommendation yet: the evaluation has not reached a decision."
    words = _DECISIONS.get(str(decision).strip().lower(), str(decision).strip())
    text = f"We recommend: {words}."
    if not is_missing(prob_roi_positive):
        text += f" Chance of a positive ROI: {fmt_probability(prob_roi_positive)}."
    return text


def headline(
    *,
    customers: MetricChange | None,
    it: MetricChange | None,
    roi: Mapping[str, Any] | None,
    decision: str | None,
) -> list[str]:
    """The four headline sentences of an initiative.

    Parameters
    ----------
    customers : MetricChange or None
        What changed for customers.
    it : MetricChange or None
        What IT delivered.
    roi : mapping or None
        The results.json ``roi`` entry.
    decision : str or None
        The statistics engine's decision.

    Returns
    -------
    list of str
        "For customers: ...", "IT delivered: ...", "Worth: ...", "We recommend: ...".
    """
    missing = "no measured change yet."
    return [
        "For customers: " + (metric_change_sentence(customers) if customers else missing),
        "IT delivered: " + (metric_change_sentence(it) if it else missing),
        "Worth: " + roi_sentence(roi),
        recommendation_sentence(decision, None if roi is None else roi.get("prob_roi_positive")),
    ]


_MONEY_METRICS = {"revenue", "arpu", "aov", "clv", "cac", "cost_per_ticket"}
_RATE_METRICS = {"csat", "availability", "sla_attainment", "self_service_rate", "fcr_rate", "reopen_rate"}


def unit_for_metric(metric: str) -> Unit:
    """How to write a metric by the kit's naming conventions.

    Rates (``*_rate``, csat, availability, sla_attainment) are fractions, ``*_hours`` are
    hours, ``*_minutes`` minutes, revenue/arpu/aov/clv/cac/cost_per_ticket money, nps a
    score; anything else a plain number.
    """
    if metric in _RATE_METRICS or metric.endswith("_rate"):
        return "rate"
    if metric.endswith("_hours"):
        return "hours"
    if metric.endswith("_minutes"):
        return "minutes"
    if metric in _MONEY_METRICS:
        return "money"
    if metric == "nps":
        return "score"
    return "number"


def _metric_name(metric: str) -> str:
    """The catalog's name of a metric, or its id in words when the catalog has none."""
    from outcomes.metrics import catalog

    return catalog.get(metric).name if metric in catalog.ids() else metric.replace("_", " ").capitalize()


@dataclass(frozen=True)
class ChainStep:
    """One metric change along a value chain."""

    metric: str
    change: float | None
    unit: Unit = "number"


def value_chain_sentence(
    steps: list[ChainStep],
    units_per_month: float | None,
    unit_label: str,
    unit_value: float | None,
    value_per_month: float | None,
    currency: str = "EUR",
) -> str:
    """The chain from an IT change to money per month, in one line.

    Returns
    -------
    str
        E.g. "First response, mean -2 hours -> Churn rate -0.3 pp -> 29 customers kept
        per month x EUR 2.6k = EUR 74k per month". Metrics are named as the catalog names
        them; an id outside the catalog is written in words.
    """
    parts = [f"{_metric_name(s.metric)} {fmt_value(s.change, s.unit, signed=True, change=True, currency=currency)}" for s in steps]
    money = (
        f"{fmt_count(units_per_month) if abs(units_per_month or 0) >= 10 else fmt_number(units_per_month)} "
        f"{unit_label} per month x {fmt_money(unit_value, currency)} = {fmt_money(value_per_month, currency)} per month"
    )
    return " -> ".join([*parts, money])
