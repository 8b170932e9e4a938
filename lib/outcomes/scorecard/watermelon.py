"""The watermelon check: services whose SLA is green while their users' experience is red.

A service-month is a *watermelon* when its SLA attainment is on its SLA target while its
ticket happiness is below its XLA target or its perceived lost time per ticket above it
(targets from the ``xla`` section of ``params/targets.yaml``, :mod:`outcomes.scorecard.xla`).
Experience is judged only where the month has at least ``min_responses`` survey answers.

:func:`find_watermelons` reads the panel by service (:func:`outcomes.metrics.panel.build_panel`
with ``segment="service"``) and, to say what drives each flag, the breakdown by ticket
category and assignment group (:func:`outcomes.metrics.experience.experience_breakdown`). The
result holds aggregates only: services, categories, groups, counts and rates, never a
ticket or a requester.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from outcomes import format as fmt
from outcomes.metrics import catalog
from outcomes.periods import Month, MonthLike
from outcomes.scorecard.card import OFF, ON, Targets, load_targets, status_of, target_of
from outcomes.scorecard.xla import LEVEL_METRICS

#: Drivers named per breakdown dimension.
TOP_DRIVERS = 2
DIMENSION_WORDS = {"category": "category", "assignment_group": "group"}


@dataclass(frozen=True)
class Driver:
    """A ticket category or assignment group behind a watermelon.

    Attributes
    ----------
    dimension : {"category", "assignment_group"}
        What ``value`` is.
    value : str
        The category or group.
    responses : int
        Survey answers about its tickets in the month.
    ticket_happiness : float
        Their happiness.
    lost_time_hours : float or None
        Their mean perceived lost time (None when no answer gives it).
    """

    dimension: str
    value: str
    responses: int
    ticket_happiness: float
    lost_time_hours: float | None


@dataclass(frozen=True)
class Watermelon:
    """One service and month whose SLA is on target while its experience is not.

    Attributes
    ----------
    service : str
        The IT service.
    period : str
        The month, ``YYYY-MM``.
    sla_attainment, sla_target : float
        SLA attainment and its target (met).
    ticket_happiness, happiness_target : float
        Ticket happiness and its XLA target.
    lost_time_hours, lost_time_target : float or None
        Mean perceived lost time per ticket and its XLA target.
    responses : int
        Survey answers behind the happiness.
    off : tuple of str
        The experience metrics off their target (``ticket_happiness``, ``lost_time_hours``).
    drivers : tuple of Driver
        The categories and groups contributing most to the gap, worst first.
    """

    service: str
    period: str
    sla_attainment: float
    sla_target: float
    ticket_happiness: float
    happiness_target: float | None
    lost_time_hours: float | None
    lost_time_target: float | None
    responses: int
    off: tuple[str, ...]
    drivers: tuple[Driver, ...] = ()

    @property
    def sentence(self) -> str:
        """The flag in one sentence, with the numbers and what drives it."""
        sla = catalog.get("sla_attainment").unit
        parts = []
        if "ticket_happiness" in self.off:
            parts.append(
                f"ticket happiness was {_value('ticket_happiness', self.ticket_happiness)} against a target of "
                f"{_value('ticket_happiness', self.happiness_target)}"
            )
        if "lost_time_hours" in self.off:
            parts.append(
                f"users lost {_value('lost_time_hours', self.lost_time_hours)} per ticket against a target of "
                f"{_value('lost_time_hours', self.lost_time_target)}"
            )
        text = (
            f"{self.service} in {Month.parse(self.period).label}: SLA attainment {fmt.value(self.sla_attainment, sla)} "
            f"met its {fmt.value(self.sla_target, sla)} target, but {' and '.join(parts)} ({self.responses} answers)"
        )
        if self.drivers:
            named = [f"{DIMENSION_WORDS.get(d.dimension, d.dimension)} {d.value}" for d in self.drivers]
            text += f"; most of the gap comes from {fmt.join(named)}"
        return text + "."


def _value(metric: str, value: float | None) -> str:
    return fmt.value(value, catalog.get(metric).unit)


@dataclass(frozen=True)
class WatermelonCheck:
    """The watermelon check of a month: what was judged and what was flagged.

    Attributes
    ----------
    period : str
        The reported month, ``YYYY-MM``.
    months : tuple of str
        The months checked (the reported month and the ones before it).
    judged : int
        Service-months with an SLA value and enough survey answers to judge experience.
    found : tuple of Watermelon
        The flags, latest month first, then by service.
    """

    period: str
    months: tuple[str, ...]
    judged: int
    found: tuple[Watermelon, ...]

    def records(self) -> list[dict[str, Any]]:
        """One results.json ``watermelons`` row per flag (see ``docs/results-schema.md``)."""
        rows = []
        for w in self.found:
            row = asdict(w)
            row["off"] = list(w.off)
            row["drivers"] = [asdict(d) for d in w.drivers]
            row["sentence"] = w.sentence
            rows.append(_clean(row))
        return rows

    def sentence(self) -> str:
        """What the check found, in one sentence (also when it found nothing)."""
        if not self.judged:
            return (
                f"No service could be checked for watermelons in {_span(self.months)}: none had both an SLA "
                "attainment and enough per-ticket survey answers."
            )
        if not self.found:
            return (
                f"No watermelon in {_span(self.months)}: no service met its SLA while its users' experience "
                f"missed its target ({self.judged} service-months judged)."
            )
        return watermelon_sentence(self.records(), pointer=False) or ""

    def table(self) -> pd.DataFrame:
        """The flags for reading: service, month, SLA, happiness, lost time and what drives it."""
        sla = catalog.get("sla_attainment").unit
        return pd.DataFrame(
            {
                "service": [w.service for w in self.found],
                "month": [Month.parse(w.period).label for w in self.found],
                "SLA attainment (target)": [
                    f"{fmt.value(w.sla_attainment, sla)} ({fmt.value(w.sla_target, sla)})" for w in self.found
                ],
                "ticket happiness (target)": [
                    f"{_value('ticket_happiness', w.ticket_happiness)} ({_value('ticket_happiness', w.happiness_target)})"
                    for w in self.found
                ],
                "lost time per ticket (target)": [
                    f"{_value('lost_time_hours', w.lost_time_hours)} ({_value('lost_time_hours', w.lost_time_target)})"
                    for w in self.found
                ],
                "answers": [str(w.responses) for w in self.found],
                "driven by": [
                    fmt.join([f"{DIMENSION_WORDS.get(d.dimension, d.dimension)} {d.value}" for d in w.drivers])
                    for w in self.found
                ],
            }
        )


def _clean(row: Any) -> Any:
    """NaN as None, recursively (results.json has no NaN)."""
    if isinstance(row, dict):
        return {k: _clean(v) for k, v in row.items()}
    if isinstance(row, list):
        return [_clean(v) for v in row]
    if isinstance(row, float) and math.isnan(row):
        return None
    return row


def _span(months: Sequence[str]) -> str:
    labels = [Month.parse(m).label for m in months]
    return labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"


def watermelon_sentence(rows: Sequence[Mapping[str, Any]], *, pointer: bool = True) -> str | None:
    """The executive summary's sentence about watermelons, from results.json ``watermelons`` rows.

    Parameters
    ----------
    rows : sequence of mapping
        The rows :meth:`WatermelonCheck.records` writes.
    pointer : bool
        End by pointing to the scorecard page (for pages other than the scorecard).

    Returns
    -------
    str or None
        One sentence naming the services, the months and the latest flag's numbers; None
        when there is no row.
    """
    if not rows:
        return None
    latest = max(rows, key=lambda r: (str(r["period"]), str(r["service"])))
    services = sorted({str(r["service"]) for r in rows})
    months = sorted({str(r["period"]) for r in rows})
    word = "Watermelon" if len(services) == 1 else "Watermelons"
    sla = catalog.get("sla_attainment").unit
    return (
        f"{word} on {fmt.join(services)} in {_span(months)}: the SLA was met while users were unhappy "
        f"({latest['service']} in {Month.parse(str(latest['period'])).label}: SLA attainment "
        f"{fmt.value(latest['sla_attainment'], sla)} against its {fmt.value(latest['sla_target'], sla)} target, "
        f"ticket happiness {_value('ticket_happiness', latest['ticket_happiness'])} against "
        f"{_value('ticket_happiness', latest['happiness_target'])}, lost time "
        f"{_value('lost_time_hours', latest['lost_time_hours'])} per ticket against "
        f"{_value('lost_time_hours', latest['lost_time_target'])})"
        + ("; details on the scorecard page." if pointer else ".")
    )


def _drivers(breakdown: pd.DataFrame | None, service: str, when: pd.Timestamp, happiness_target: float | None,
             lost_target: float | None, off: tuple[str, ...]) -> tuple[Driver, ...]:
    """The categories and groups contributing most to the gap: answers x distance from the target."""
    if breakdown is None or breakdown.empty:
        return ()
    rows = breakdown[(breakdown["service"] == service) & (pd.to_datetime(breakdown["period"]) == when)].copy()
    if rows.empty:
        return ()
    if "ticket_happiness" in off and happiness_target is not None:
        rows["gap"] = rows["responses"] * (happiness_target - rows["ticket_happiness"])
    else:
        rows["gap"] = rows["responses"] * (rows["lost_time_hours"] - (lost_target or 0.0))
    out = []
    for dim in dict.fromkeys(rows["dimension"]):
        part = rows[(rows["dimension"] == dim) & (rows["gap"] > 0)].sort_values(["gap", "value"], ascending=[False, True])
        for _, r in part.head(TOP_DRIVERS).iterrows():
            lost = None if pd.isna(r["lost_time_hours"]) else float(r["lost_time_hours"])
            out.append(Driver(str(dim), str(r["value"]), int(r["responses"]), float(r["ticket_happiness"]), lost))
    return tuple(out)


def find_watermelons(
    panel: pd.DataFrame,
    period: MonthLike,
    *,
    targets: Targets | str | Path | None = None,
    breakdown: pd.DataFrame | None = None,
    months: int = 3,
) -> WatermelonCheck:
    """Flag the services and months whose SLA is on target while their experience is off target.

    Parameters
    ----------
    panel : pandas.DataFrame
        The panel by service (``segment_dim == "service"`` rows) holding ``sla_attainment``,
        ``ticket_happiness`` and ``lost_time_hours``.
    period : str or date
        The reported month, ``YYYY-MM``.
    targets : Targets, path or None
        The targets (default ``params/targets.yaml``); its ``xla`` section gives each
        service's levels, the scorecard targets fill those it leaves out.
    breakdown : pandas.DataFrame, optional
        :func:`~outcomes.metrics.experience.experience_breakdown` of the months, to name what
        drives each flag.
    months : int
        How many months to check, ending with ``period`` (3: the last quarter).

    Returns
    -------
    WatermelonCheck

    Raises
    ------
    ValueError
        When the panel lacks a metric the check needs (a panel without service rows,
        because no ticket names a service, is checked and judges nothing).
    """
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if not isinstance(targets, Targets):
        targets = load_targets(targets)
    month = Month.parse(period)
    checked = [month - k for k in range(months - 1, -1, -1)]
    missing = [m for m in LEVEL_METRICS if m not in set(panel["metric"])]
    if missing:
        raise ValueError(
            f"the panel has no rows of {', '.join(missing)}; build it with segment='service' and "
            f"metrics={list(LEVEL_METRICS)}"
        )
    view = panel[(panel["segment_dim"] == "service") & panel["metric"].isin(LEVEL_METRICS)]
    if view.empty:  # no ticket has a service in these months: nothing to judge
        return WatermelonCheck(str(month), tuple(str(m) for m in checked), 0, ())
    wide = view.pivot_table(index=["period", "segment"], columns="metric", values=["value", "n"], aggfunc="first", dropna=False)
    xla = targets.xla
    judged, found = 0, []
    for m in reversed(checked):
        when = m.timestamp
        for service in sorted(view.loc[view["period"] == when, "segment"].unique()):
            key = (when, service)
            if key not in wide.index:
                continue
            row = wide.loc[key]
            value = {mid: row[("value", mid)] for mid in LEVEL_METRICS}
            answers = row[("n", "ticket_happiness")]
            if pd.isna(value["sla_attainment"]) or pd.isna(value["ticket_happiness"]) or pd.isna(answers):
                continue
            if answers < xla.min_responses:
                continue
            judged += 1
            levels = xla.levels(service)
            goal = {
                mid: getattr(levels, mid) if getattr(levels, mid) is not None else target_of(mid, targets)[0]
                for mid in LEVEL_METRICS
            }
            if status_of("sla_attainment", float(value["sla_attainment"]), goal["sla_attainment"]) != ON:
                continue
            off = tuple(
                mid for mid in LEVEL_METRICS[1:]
                if not pd.isna(value[mid]) and status_of(mid, float(value[mid]), goal[mid]) == OFF
            )
            if not off:
                continue
            lost = None if pd.isna(value["lost_time_hours"]) else float(value["lost_time_hours"])
            found.append(
                Watermelon(
                    service=str(service),
                    period=str(m),
                    sla_attainment=float(value["sla_attainment"]),
                    sla_target=float(goal["sla_attainment"]),
                    ticket_happiness=float(value["ticket_happiness"]),
                    happiness_target=goal["ticket_happiness"],
                    lost_time_hours=lost,
                    lost_time_target=goal["lost_time_hours"],
                    responses=int(answers),
                    off=off,
                    drivers=_drivers(breakdown, str(service), when, goal["ticket_happiness"], goal["lost_time_hours"], off),
                )
            )
    return WatermelonCheck(str(month), tuple(str(m) for m in checked), judged, tuple(found))


__all__ = ["Driver", "Watermelon", "WatermelonCheck", "find_watermelons", "watermelon_sentence"]
