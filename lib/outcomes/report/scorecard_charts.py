"""Charts of the scorecard and the drivers model, as unrendered Altair charts.

Each builder takes a result (or a tidy frame) and returns an ``alt.Chart`` (or a layered
or faceted chart); nothing is displayed or saved here, and no theme is set: the report's
house theme styles them.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
from IPython.display import Markdown

from outcomes.metrics import catalog
from outcomes.scorecard.drivers import OK, DriversResult
from outcomes.scorecard.card import Scorecard


def _display(metric_id: str, values: pd.Series) -> pd.Series:
    """Values in display units: rates as percentages."""
    return values * 100 if catalog.get(metric_id).is_rate else values


def _unit(metric_id: str) -> str:
    m = catalog.get(metric_id)
    return "%" if m.is_rate else m.unit


def sparklines(scorecard: Scorecard, *, width: int = 150, height: int = 40, columns: int = 6) -> alt.VConcatChart:
    """Sparklines of every metric's monthly history, one block of small multiples per area.

    In each panel the line is the metric, the dashed rule its target and the last point
    is coloured by status. Rates are shown in %.
    """
    trend = scorecard.trend.copy()
    rate = trend["metric"].map(lambda m: catalog.get(m).is_rate)
    trend["shown"] = trend["value"].where(~rate, trend["value"] * 100)
    trend["target_shown"] = trend["target"].where(~rate, trend["target"] * 100)
    # A metric without a target gets an invisible rule at its own level: an empty layer
    # would give its panel an infinite y extent.
    trend["has_target"] = trend["target_shown"].notna().astype(int)
    trend["target_shown"] = trend["target_shown"].fillna(trend["shown"])
    trend["label"] = [f"{n} ({_unit(m)})" for n, m in zip(trend["name"], trend["metric"])]
    trend["status"] = trend["metric"].map(scorecard.table.set_index("metric")["status"])
    trend["is_last"] = trend["period"] == scorecard.period.timestamp
    blocks = []
    for area, title in catalog.load_catalog().areas.items():
        data = trend[trend["area"] == area]
        if data.empty:
            continue
        base = alt.Chart().encode(x=alt.X("period:T", axis=None))
        line = base.mark_line().encode(
            y=alt.Y("shown:Q", axis=None, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("period:T", format="%Y-%m"), alt.Tooltip("shown:Q", format=",.2f", title="value")],
        )
        target = base.mark_rule(strokeDash=[3, 3]).encode(
            y="mean(target_shown):Q",
            opacity=alt.Opacity("max(has_target):Q", scale=alt.Scale(domain=[0, 1], range=[0, 1]), legend=None),
        )
        last = (
            base.mark_point(filled=True, size=40)
            .encode(y="shown:Q", color=alt.Color("status:N", title="status"))
            .transform_filter(alt.datum.is_last)
        )
        block = (
            alt.layer(line, target, last, data=data)
            .properties(width=width, height=height)
            .facet(facet=alt.Facet("label:N", title=None), columns=columns, title=title)
            .resolve_scale(y="independent")
        )
        blocks.append(block)
    return alt.vconcat(*blocks)


def area_small_multiples(scorecard: Scorecard, area: str, *, columns: int = 4) -> alt.FacetChart:
    """One measurement area's metrics as small multiples (one panel per metric, wrapped)."""
    trend = scorecard.trend[scorecard.trend["area"] == area].copy()
    trend["shown"] = [v * 100 if catalog.get(m).is_rate else v for m, v in zip(trend["metric"], trend["value"])]
    trend["label"] = [f"{n} ({_unit(m)})" for n, m in zip(trend["name"], trend["metric"])]
    return (
        alt.Chart(trend)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=None, axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("shown:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=["label:N", alt.Tooltip("period:T", format="%Y-%m"), alt.Tooltip("shown:Q", format=",.2f")],
        )
        .properties(width=180, height=90)
        .facet(facet=alt.Facet("label:N", title=None), columns=columns)
        .resolve_scale(y="independent")
    )


def movers_chart(scorecard: Scorecard) -> alt.Chart:
    """Top movers: standardized change (z) per metric, coloured by better or worse."""
    movers = scorecard.movers.copy()
    movers["direction"] = movers["better"].map({True: "better", False: "worse"})
    return (
        alt.Chart(movers)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort=alt.EncodingSortField(field="z", op="max", order="descending"), title=None),
            x=alt.X("z:Q", title="change / usual monthly change"),
            color=alt.Color("direction:N", scale=alt.Scale(domain=["better", "worse"]), title=None),
            tooltip=["name:N", "sentence:N"],
        )
    )


def drivers_chart(result: DriversResult) -> alt.LayerChart:
    """Drivers coefficients: change in each outcome per unit better on the driver, with intervals.

    Rates are in percentage points; the vertical rule marks no association.
    """
    xm = catalog.get(result.x)
    step = -1.0 if xm.direction == "lower_is_better" else 1.0
    rows = []
    for e in result.estimates:
        if e.status != OK:
            continue
        scale = 100.0 if catalog.get(e.outcome).is_rate else 1.0
        lo, hi = sorted((e.fit.ci_low * step * scale, e.fit.ci_high * step * scale))
        rows.append(
            {
                "outcome": f"{catalog.get(e.outcome).name} ({'pp' if scale == 100 else catalog.get(e.outcome).unit})",
                "estimate": e.fit.estimate * step * scale,
                "low": lo,
                "high": hi,
            }
        )
    data = pd.DataFrame(rows, columns=["outcome", "estimate", "low", "high"])
    title = f"per {xm.unit.rstrip('s')} {'less' if step < 0 else 'more'} of {xm.name.lower()}"
    base = alt.Chart(data).encode(y=alt.Y("outcome:N", title=None))
    bars = base.mark_rule().encode(x=alt.X("low:Q", title=title), x2="high:Q")
    points = base.mark_point(filled=True, size=60).encode(
        x="estimate:Q", tooltip=["outcome:N", alt.Tooltip("estimate:Q", format="+.2f"), "low:Q", "high:Q"]
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return alt.layer(zero, bars, points)


def demand_capacity_chart(panel: pd.DataFrame, *, top: int = 8) -> alt.FacetChart | Markdown:
    """Ticket demand (opened) against capacity (resolved) per month and service.

    Uses the panel's ``service`` rows of ``ticket_volume`` (demand) and the ``n`` of
    ``demand_capacity_ratio`` (tickets resolved); the ``top`` services by demand are shown.
    A panel without any ticket in its months gives a sentence saying so instead of a chart.
    """
    opened = panel.loc[panel["metric"] == "ticket_volume", "value"]
    if opened.fillna(0).sum() == 0:
        return Markdown(
            "No ticket was opened in these months, so there is no demand and capacity to show: "
            "add a tickets export to params/sources.yaml."
        )
    svc = panel[panel["segment_dim"] == "service"]
    demand = svc[svc["metric"] == "ticket_volume"][["period", "segment", "value"]].rename(columns={"value": "opened"})
    capacity = svc[svc["metric"] == "demand_capacity_ratio"][["period", "segment", "n"]].rename(columns={"n": "resolved"})
    if demand.empty or capacity.empty:
        raise ValueError(
            "the panel has no service rows for ticket_volume and demand_capacity_ratio; "
            "build it with build_panel(..., segment='service') including both metrics"
        )
    data = demand.merge(capacity, on=["period", "segment"], how="outer").fillna({"opened": 0.0, "resolved": 0.0})
    keep = data.groupby("segment")["opened"].sum().nlargest(top).index
    data = data[data["segment"].isin(keep)]
    long = data.melt(id_vars=["period", "segment"], value_vars=["opened", "resolved"], var_name="flow", value_name="tickets")
    long["flow"] = long["flow"].map({"opened": "demand (opened)", "resolved": "capacity (resolved)"})
    return (
        alt.Chart(long)
        .mark_line()
        .encode(
            x=alt.X("period:T", title=None, axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("tickets:Q", title="tickets"),
            color=alt.Color("flow:N", title=None),
            tooltip=["segment:N", alt.Tooltip("period:T", format="%Y-%m"), "flow:N", "tickets:Q"],
        )
        .properties(width=220, height=110)
        .facet(facet=alt.Facet("segment:N", title=None), columns=4)
    )
