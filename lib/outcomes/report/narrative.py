"""Numbers and sentences for executives, built from result numbers only.

Numbers are written by :mod:`outcomes.format` (amounts as "EUR 1.2m", rates as "27%",
changes in rates as "+6.1 pp", durations as "2.5 hours"; a missing number "not available").

Sentence rules: a change is called clear (statistically significant) only when its
interval excludes zero; an interval that spans zero is called inconclusive, and a change
without an interval is never called clear. Every value statement carries its uncertainty
(P10 to P90 and the chance of a positive ROI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from outcomes import format as fmt
from outcomes.metrics import catalog

Unit = Literal["rate", "hours", "minutes", "money", "count", "number", "score"]
Better = Literal["up", "down", "balance"]


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
        How to write it (see :func:`outcomes.format.value`); "rate" for fractions.
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
        return not (fmt.is_missing(self.ci_low) or fmt.is_missing(self.ci_high))

    @property
    def is_clear(self) -> bool:
        """The interval excludes zero (never true without an interval or an estimate)."""
        if fmt.is_missing(self.estimate) or not self.has_interval:
            return False
        return float(self.ci_low) > 0 or float(self.ci_high) < 0  # type: ignore[arg-type]

    @property
    def verdict(self) -> Literal["gain", "loss", "change", "inconclusive", "missing"]:
        """Gain or loss when clear (by the better direction), change for balance metrics, else inconclusive."""
        if fmt.is_missing(self.estimate):
            return "missing"
        if not self.is_clear:
            return "inconclusive"
        if self.better == "balance":
            return "change"
        up = float(self.estimate) > 0  # type: ignore[arg-type]
        return "gain" if up == (self.better == "up") else "loss"


def _value(change: MetricChange, x: float | None, *, signed: bool, is_change: bool) -> str:
    return fmt.value(x, change.unit, signed=signed, change=is_change, currency=change.currency)


def bounds_text(change: MetricChange) -> str:
    """An interval's bounds, a duration's word once: "-2.6 to -1.4 hours", or "not available"."""
    return fmt.value_range(change.ci_low, change.ci_high, change.unit, signed=True, change=True, currency=change.currency)


def interval_text(change: MetricChange) -> str:
    """"95% interval -2.6 to -1.4 hours", or "no interval available"."""
    if not change.has_interval:
        return "no interval available"
    return f"{fmt.percent(change.level)} interval {bounds_text(change)}"


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
    if fmt.is_missing(change.estimate):
        reason = change.reason_missing or "no data for this period"
        return f"{change.label}: {fmt.NOT_AVAILABLE} ({reason})."
    est = float(change.estimate)  # type: ignore[arg-type]
    size = _value(change, abs(est), signed=False, is_change=True)
    verb = "rose by" if est > 0 else "fell by" if est < 0 else "did not change"
    frm = "" if fmt.is_missing(change.baseline) else f" from {_value(change, change.baseline, signed=False, is_change=False)}"
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
    parts = [f"{_metric_name(s.metric)} {fmt.value(s.change, s.unit, signed=True, change=True, currency=currency)}" for s in steps]
    money = (
        f"{fmt.count(units_per_month) if abs(units_per_month or 0) >= 10 else fmt.number(units_per_month)} "
        f"{unit_label} per month x {fmt.money(unit_value, currency)} = {fmt.money(value_per_month, currency)} per month"
    )
    return " -> ".join([*parts, money])
