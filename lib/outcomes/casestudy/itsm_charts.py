"""Charts of the service-management case study, as unrendered Altair charts.

Each builder takes a tidy frame or a result object and returns a chart; nothing is
displayed or saved, and the report's house theme styles them. Monthly axes tick once a
month (a short window would otherwise repeat a month's label at weekly ticks), and labels
of groups, segments and metrics are never cut short.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from outcomes.metrics import catalog
from outcomes.casestudy.change_linkage import ChangeLinkage
from outcomes.casestudy.ticket_groups import GroupShares


#: A time axis with one tick per month, labelled "Mar 16".
MONTH_AXIS = alt.Axis(format="%b %y", tickCount={"interval": "month", "step": 1}, labelOverlap=True)


def _label(metric_id: str) -> str:
    """Metric name with its display unit, e.g. ``Reopen rate (%)``."""
    m = catalog.get(metric_id)
    return f"{m.name} ({'%' if m.is_rate else m.unit})"


def trend_chart(panel: pd.DataFrame, metrics: list[str], *, columns: int = 3) -> alt.FacetChart:
    """Monthly values of ``metrics`` for the whole company, one small panel per metric.

    Parameters
    ----------
    panel : pandas.DataFrame
        Tidy panel (:func:`outcomes.metrics.panel.build_panel`).
    metrics : list of str
        Metric ids, in panel order; rates are shown in %.
    columns : int
        Panels per row.
    """
    rows = panel[(panel["segment_dim"] == "all") & panel["metric"].isin(metrics)].copy()
    rate = rows["metric"].map(lambda m: catalog.get(m).is_rate)
    rows["shown"] = rows["value"].where(~rate, rows["value"] * 100)
    rows["label"] = rows["metric"].map(_label)
    order = [rows.loc[rows["metric"] == m, "label"].iloc[0] for m in metrics if (rows["metric"] == m).any()]
    return (
        alt.Chart(rows[["period", "label", "shown"]])
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=None, axis=MONTH_AXIS),
            y=alt.Y("shown:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("period:T", format="%Y-%m"), "label:N", alt.Tooltip("shown:Q", format=",.2f")],
        )
        .properties(width=200, height=110)
        .facet(facet=alt.Facet("label:N", title=None, sort=order, header=alt.Header(labelLimit=0)), columns=columns)
        .resolve_scale(y="independent")
    )


def segment_trend_chart(panel: pd.DataFrame, metric: str, *, top: int = 6) -> alt.Chart:
    """One metric's monthly values per segment, for the ``top`` segments by tickets behind them."""
    rows = panel[(panel["segment_dim"] != "all") & (panel["metric"] == metric)].copy()
    keep = rows.groupby("segment")["n"].sum().nlargest(top).index
    rows = rows[rows["segment"].isin(keep)]
    m = catalog.get(metric)
    rows["shown"] = rows["value"] * 100 if m.is_rate else rows["value"]
    return (
        alt.Chart(rows[["period", "segment", "shown"]])
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=None, axis=MONTH_AXIS),
            y=alt.Y("shown:Q", title=f"{m.name} ({'%' if m.is_rate else m.unit})"),
            color=alt.Color("segment:N", title=None, legend=alt.Legend(labelLimit=0)),
            tooltip=[alt.Tooltip("period:T", format="%Y-%m"), "segment:N", alt.Tooltip("shown:Q", format=",.2f")],
        )
        .properties(width=520, height=220)
    )


def mix_chart(mix: pd.DataFrame, *, title: str = "share of tickets opened") -> alt.Chart:
    """Stacked monthly shares by group (:func:`outcomes.casestudy.ticket_groups.ticket_mix`)."""
    return (
        alt.Chart(mix.assign(pct=mix["share"] * 100))
        .mark_bar()
        .encode(
            x=alt.X("period:T", title=None, timeUnit="yearmonth", axis=MONTH_AXIS),
            y=alt.Y("pct:Q", title=f"{title} (%)", stack="zero"),
            color=alt.Color("group:N", title=None, legend=alt.Legend(labelLimit=0)),
            tooltip=[alt.Tooltip("period:T", format="%Y-%m"), "group:N", alt.Tooltip("pct:Q", format=".1f", title="%")],
        )
        .properties(width=520, height=200)
    )


def shares_chart(shares: GroupShares, *, top: int = 10) -> alt.Chart:
    """Share of tickets, of the month-end backlog and of excess resolution hours, per group."""
    rows = shares.top(top).melt(
        id_vars="group",
        value_vars=["ticket_share", "backlog_share", "excess_share"],
        var_name="measure",
        value_name="share",
    )
    rows["measure"] = rows["measure"].map(
        {"ticket_share": "tickets", "backlog_share": "month-end backlog", "excess_share": "excess resolution hours"}
    )
    rows["pct"] = rows["share"] * 100
    order = list(shares.top(top)["group"])
    return (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            y=alt.Y("group:N", sort=order, title=shares.group, axis=alt.Axis(labelLimit=0)),
            x=alt.X("pct:Q", title="share (%)"),
            yOffset=alt.YOffset("measure:N", sort=["tickets", "month-end backlog", "excess resolution hours"]),
            color=alt.Color(
                "measure:N", title=None, sort=["tickets", "month-end backlog", "excess resolution hours"],
                legend=alt.Legend(labelLimit=0),
            ),
            tooltip=["group:N", "measure:N", alt.Tooltip("pct:Q", format=".1f", title="%")],
        )
        .properties(width=420, height=alt.Step(9))
    )


def change_failure_chart(linkage: ChangeLinkage) -> alt.LayerChart:
    """Share of deployments followed by a ticket on the same item, per item type, with 95% Wilson intervals."""
    rows = linkage.by_type.assign(
        pct=linkage.by_type["rate"] * 100, low=linkage.by_type["ci_low"] * 100, high=linkage.by_type["ci_high"] * 100
    )
    # An explicit order: "-x" would sort each layer by its own x field, and Vega warns of the conflict.
    order = list(rows.sort_values("pct", ascending=False)["ci_type"])
    base = alt.Chart(rows).encode(
        y=alt.Y("ci_type:N", sort=order, title="configuration item type", axis=alt.Axis(labelLimit=0))
    )
    bars = base.mark_bar().encode(
        x=alt.X("pct:Q", title=f"deployments followed by a ticket within {linkage.window_days} days (%, not a failure rate)"),
        tooltip=["ci_type:N", "deployments:Q", "followed:Q", alt.Tooltip("pct:Q", format=".1f", title="%")],
    )
    rules = base.mark_rule().encode(x="low:Q", x2="high:Q")
    return (bars + rules).properties(width=420)
