"""Demand against supply per service: is IT too busy for it now, and will it be over the next three months?

Read from the panel's ``service`` rows (as the scorecard's demand and capacity chart is):
``ticket_volume`` is the demand (tickets opened) and the ``n`` of ``demand_capacity_ratio``
the capacity (tickets resolved). Each service's monthly demand is forecast three months ahead
with an exponential smoothing state-space model (statsmodels ``ETSModel``, additive errors):

- ETS(A,N,N), a local level, when the history is shorter than :data:`SEASONAL_MONTHS`
  (three years). Two years give only two observations of each calendar month, too few to
  estimate twelve seasonal states and a trend on top without chasing noise, and a local level
  adapts to a step in demand (a surge) within a few months.
- ETS(A,N,A) with a twelve-month season from three years of history on.

The prediction interval (80% by default) is the model's analytic one; its coverage is
checked by simulation in the tests. A service is **too busy** when, in the month, it
received more tickets than it resolved beyond the ``demand_capacity_ratio`` tolerance
(``params/targets.yaml``, default 5%), or when even the low end of the interval of the
busiest forecast month exceeds what it resolved a month over the last three by more than
that tolerance (a forecast mean above capacity alone is too often noise: a service whose
demand equals its capacity would be called busy about one month in five).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from outcomes import format as fmt
from outcomes.periods import Month
from outcomes.scorecard.card import Targets, target_of

#: Months of history from which the forecast models a twelve-month season.
SEASONAL_MONTHS = 36
#: Fewest months of history a forecast is made from.
MIN_MONTHS = 6
HORIZON = 3
LEVEL = 0.80
#: Months of resolved tickets averaged into a service's capacity.
CAPACITY_MONTHS = 3
#: What the outlook says when the months hold no ticket about any service.
NO_SERVICE_TICKETS = "Not known whether IT is too busy for any service: no ticket was opened in these months."
#: Condition codes of a service's outlook.
OK, TOO_SHORT, NO_TICKETS = "ok", "too_short", "no_tickets"


@dataclass(frozen=True)
class Forecast:
    """A demand forecast.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``period``, ``mean``, ``lower``, ``upper``: one row per month ahead (bounds at ``level``,
        the lower one not below zero).
    model : str
        The model, e.g. ``"ETS(A,N,N)"``.
    level : float
        Coverage of the interval.
    """

    frame: pd.DataFrame
    model: str
    level: float


def forecast_demand(history: pd.Series, *, horizon: int = HORIZON, level: float = LEVEL) -> Forecast:
    """Forecast monthly demand ``horizon`` months ahead, with a prediction interval.

    Parameters
    ----------
    history : pandas.Series
        Tickets per month, indexed by the months' first days (consecutive months).
    horizon : int
        Months ahead.
    level : float
        Coverage of the prediction interval, in (0, 1).

    Returns
    -------
    Forecast
        See the module docstring for the model chosen.

    Raises
    ------
    ValueError
        When ``level`` is outside (0, 1), ``horizon`` below 1, or fewer than
        :data:`MIN_MONTHS` months are given.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), bounds excluded; got {level!r} (0.8 gives an 80% interval)")
    if horizon < 1:
        raise ValueError(f"horizon must be at least one month, got {horizon!r}")
    if len(history) < MIN_MONTHS:
        raise ValueError(f"a forecast needs at least {MIN_MONTHS} months of history, got {len(history)}")
    y = pd.Series(
        np.asarray(history, dtype=float),
        index=pd.DatetimeIndex(pd.to_datetime(history.index), freq="MS"),
    )
    seasonal = len(y) >= SEASONAL_MONTHS
    model = ETSModel(y, error="add", trend=None, seasonal="add" if seasonal else None, seasonal_periods=12 if seasonal else None)
    with warnings.catch_warnings():
        # a flat or very short series trips the optimiser's convergence warning; the fit is still usable
        warnings.simplefilter("ignore")
        fit = model.fit(disp=False)
        pred = fit.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(alpha=1 - level)
    frame = pd.DataFrame(
        {
            "period": pd.DatetimeIndex(pred.index).astype("datetime64[ns]"),
            "mean": pred["mean"].to_numpy(float),
            "lower": np.maximum(pred["pi_lower"].to_numpy(float), 0.0),
            "upper": pred["pi_upper"].to_numpy(float),
        }
    )
    return Forecast(frame, "ETS(A,N,A)" if seasonal else "ETS(A,N,N)", level)


def flows(panel: pd.DataFrame) -> pd.DataFrame:
    """Tickets opened (demand) and resolved (capacity) per month and service, from the panel.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``segment`` (the service), ``opened``, ``resolved``.

    Raises
    ------
    ValueError
        When the panel has no service rows of both metrics.
    """
    svc = panel[panel["segment_dim"] == "service"]
    demand = svc[svc["metric"] == "ticket_volume"][["period", "segment", "value"]].rename(columns={"value": "opened"})
    capacity = svc[svc["metric"] == "demand_capacity_ratio"][["period", "segment", "n"]].rename(columns={"n": "resolved"})
    if demand.empty or capacity.empty:
        raise ValueError(
            "the panel has no service rows for ticket_volume and demand_capacity_ratio; "
            "build it with build_panel(..., segment='service') including both metrics"
        )
    return demand.merge(capacity, on=["period", "segment"], how="outer").fillna({"opened": 0.0, "resolved": 0.0})


@dataclass(frozen=True)
class ServiceOutlook:
    """One service's demand against supply.

    Attributes
    ----------
    service : str
        The IT service.
    period : pandas.Timestamp
        The month reported.
    opened, resolved : float
        Tickets opened and resolved in the month.
    capacity : float
        Tickets resolved a month, averaged over the last :data:`CAPACITY_MONTHS` months.
    forecast : Forecast or None
        Demand over the next months (``None`` with a condition other than ``ok``).
    busy : bool or None
        Whether IT is too busy for the service (``None`` when not known).
    condition : str
        ``ok``, ``too_short`` (fewer than :data:`MIN_MONTHS` months) or ``no_tickets``.
    sentence : str
        The answer in one sentence.
    """

    service: str
    period: pd.Timestamp
    opened: float
    resolved: float
    capacity: float
    forecast: Forecast | None
    busy: bool | None
    condition: str
    sentence: str


def _judge(
    service: str, period: pd.Timestamp, opened: float, resolved: float, capacity: float, forecast: Forecast, tolerance: float
) -> tuple[bool, str]:
    """Whether IT is too busy for ``service`` and the sentence saying why."""
    peak = forecast.frame.loc[forecast.frame["mean"].idxmax()]
    when = Month.parse(pd.Timestamp(period).strftime("%Y-%m")).label
    until = Month.parse(pd.Timestamp(peak["period"]).strftime("%Y-%m")).label
    pct = fmt.percent(forecast.level, exact_digits=True)
    expect = (
        f"{fmt.count(peak['mean'])} tickets expected in {until} "
        f"({pct} interval {fmt.count(peak['lower'])} to {fmt.count(peak['upper'])})"
    )
    now_over = opened > resolved * (1 + tolerance)
    ahead_over = float(peak["lower"]) > capacity * (1 + tolerance)
    kept = f"it resolved {fmt.count(resolved)} tickets in {when} while {fmt.count(opened)} were opened"
    if now_over and ahead_over:
        return True, (
            f"IT is too busy for {service}, because {kept}, and the {expect} exceed the {fmt.count(capacity)} "
            "it resolves a month even at the interval's low end."
        )
    if now_over:
        return True, (
            f"IT is too busy for {service}, because {kept}; the {expect} are not clearly above the "
            f"{fmt.count(capacity)} it resolves a month."
        )
    if ahead_over:
        return True, (
            f"IT is too busy for {service}, because the {expect} exceed the {fmt.count(capacity)} it resolves a month "
            f"even at the interval's low end, though {kept}."
        )
    return False, (
        f"IT is not too busy for {service}, because {kept}, and the {expect} are not clearly above the "
        f"{fmt.count(capacity)} it resolves a month."
    )


@dataclass(frozen=True)
class DemandOutlook:
    """Demand against supply for every service, in the month reported.

    Attributes
    ----------
    services : tuple of ServiceOutlook
        One per service, the busiest first (too busy, then by tickets opened).
    tolerance : float
        The accepted excess of demand over capacity.
    """

    services: tuple[ServiceOutlook, ...]
    tolerance: float
    level: float = LEVEL
    horizon: int = HORIZON

    def sentences(self) -> list[str]:
        """One sentence per service: "IT is/is not too busy for <service>, because ..."."""
        if not self.services:
            return [NO_SERVICE_TICKETS]
        return [s.sentence for s in self.services]

    def table(self) -> pd.DataFrame:
        """The outlook as a display table: service, this month, capacity, forecast and answer."""
        rows = []
        if not self.services:
            return pd.DataFrame([{"service": NO_SERVICE_TICKETS}])
        for s in self.services:
            f = s.forecast.frame if s.forecast is not None else None
            peak = f.loc[f["mean"].idxmax()] if f is not None else None
            rows.append(
                {
                    "service": s.service,
                    "opened": fmt.count(s.opened),
                    "resolved": fmt.count(s.resolved),
                    "resolved a month (3 months)": fmt.count(s.capacity),
                    "forecast peak": fmt.count(peak["mean"]) if peak is not None else fmt.NOT_AVAILABLE,
                    f"{fmt.percent(self.level, exact_digits=True)} interval": (
                        f"{fmt.count(peak['lower'])} to {fmt.count(peak['upper'])}" if peak is not None else fmt.NOT_AVAILABLE
                    ),
                    "too busy": {True: "yes", False: "no", None: "not known"}[s.busy],
                }
            )
        return pd.DataFrame(rows)

    def records(self) -> list[dict[str, Any]]:
        """Plain values for ``results.json``."""
        out = []
        for s in self.services:
            rec: dict[str, Any] = {
                "service": s.service, "period": s.period.strftime("%Y-%m"), "opened": s.opened, "resolved": s.resolved,
                "capacity": s.capacity, "busy": s.busy, "condition": s.condition, "sentence": s.sentence,
            }
            if s.forecast is not None:
                rec["model"] = s.forecast.model
                rec["forecast"] = [
                    {"period": p.strftime("%Y-%m"), "mean": float(m), "lower": float(lo), "upper": float(hi)}
                    for p, m, lo, hi in s.forecast.frame[["period", "mean", "lower", "upper"]].itertuples(index=False)
                ]
            out.append(rec)
        return out


def demand_outlook(
    panel: pd.DataFrame, *, targets: Targets | None = None, horizon: int = HORIZON, level: float = LEVEL
) -> DemandOutlook:
    """Is IT too busy for each service, now and over the next ``horizon`` months?

    Parameters
    ----------
    panel : pandas.DataFrame
        A panel with ``service`` rows of ``ticket_volume`` and ``demand_capacity_ratio``; its
        last month is the month reported.
    targets : Targets, optional
        For the tolerance of ``demand_capacity_ratio`` (default the catalog's).
    horizon : int
        Months forecast.
    level : float
        Coverage of the prediction intervals.

    Returns
    -------
    DemandOutlook
        One :class:`ServiceOutlook` per service; a service with too short a history or no
        ticket comes back with its condition and a sentence saying the answer is not known.
    """
    _, tolerance = target_of("demand_capacity_ratio", targets)
    tolerance = float(tolerance or 0.0)
    svc = panel[(panel["segment_dim"] == "service") & (panel["metric"] == "ticket_volume")]
    if svc.empty or svc["value"].fillna(0).sum() == 0:
        return DemandOutlook((), tolerance, level, horizon)
    data = flows(panel).sort_values(["segment", "period"])
    last = data["period"].max()
    outlooks = []
    for service, rows in data.groupby("segment", sort=True):
        months = pd.date_range(rows["period"].min(), last, freq="MS")
        rows = rows.set_index("period").reindex(months, fill_value=0.0).rename_axis("period").reset_index()
        rows["segment"] = service
        opened, resolved = float(rows["opened"].iloc[-1]), float(rows["resolved"].iloc[-1])
        capacity = float(rows["resolved"].tail(CAPACITY_MONTHS).mean())
        if rows["opened"].sum() == 0:
            outlooks.append(ServiceOutlook(service, last, opened, resolved, capacity, None, None, NO_TICKETS,
                                           f"Not known whether IT is too busy for {service}: no ticket was opened about it in these months."))
            continue
        if len(rows) < MIN_MONTHS:
            outlooks.append(ServiceOutlook(service, last, opened, resolved, capacity, None, None, TOO_SHORT,
                                           f"Not known whether IT will be too busy for {service}: fewer than {MIN_MONTHS} months of tickets to forecast from."))
            continue
        forecast = forecast_demand(rows.set_index("period")["opened"], horizon=horizon, level=level)
        busy, sentence = _judge(str(service), last, opened, resolved, capacity, forecast, tolerance)
        outlooks.append(ServiceOutlook(service, last, opened, resolved, capacity, forecast, busy, OK, sentence))
    outlooks.sort(key=lambda s: (not bool(s.busy), -s.opened, s.service))
    return DemandOutlook(tuple(outlooks), tolerance, level, horizon)


def demand_sources_table(sources: pd.DataFrame, *, top: int = 8) -> pd.DataFrame:
    """Where the month's demand comes from: tickets by journey and customer segment against the months before.

    Parameters
    ----------
    sources : pandas.DataFrame
        :func:`outcomes.metrics.demand.demand_sources` over the month reported and at least
        the three before it.
    top : int
        Rows kept (the largest by tickets this month); the rest are summed into "all others".

    Returns
    -------
    pandas.DataFrame
        ``journey``, ``customer segment``, ``tickets`` (this month), ``monthly mean, 3 months before``
        (the mean of the three months before), ``change`` (relative, as %).
    """
    if sources.empty:
        return pd.DataFrame([{"journey": "No ticket was opened in these months."}])
    last = sources["period"].max()
    before = sources[(sources["period"] < last) & (sources["period"] >= last - pd.DateOffset(months=3))]
    now = sources[sources["period"] == last].groupby(["journey", "customer_segment"])["tickets"].sum()
    prior = before.groupby(["journey", "customer_segment"])["tickets"].sum() / 3.0
    frame = pd.DataFrame({"now": now, "prior": prior}).fillna(0.0).sort_values("now", ascending=False)
    if len(frame) > top:
        rest = frame.iloc[top:].sum()
        frame = pd.concat([frame.iloc[:top], pd.DataFrame([rest], index=pd.MultiIndex.from_tuples([("all others", "")]))])
    change = frame["now"] / frame["prior"].where(frame["prior"] > 0) - 1
    return pd.DataFrame(
        {
            "journey": [j for j, _ in frame.index],
            "customer segment": [s for _, s in frame.index],
            "tickets": [fmt.count(v) for v in frame["now"]],
            "monthly mean, 3 months before": [fmt.count(v) for v in frame["prior"]],
            "change": [fmt.percent(c, signed=True) if pd.notna(c) else fmt.NOT_AVAILABLE for c in change],
        }
    )
