"""Charts of the churn-drivers analysis, as unrendered Altair charts.

Each builder takes a result of :mod:`outcomes.casestudy.churn_drivers` and returns an Altair chart;
nothing is displayed or saved here and no theme is set (the report's house theme styles
them). Only aggregates are drawn, and groups the analysis suppressed are left out.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from outcomes.casestudy.churn_drivers import ChurnModel, ChurnValue
from outcomes.report.theme import INK

#: Width (pixels) of the longest group label before it is cut.
LABEL_LIMIT = 280


def _group(frame: pd.DataFrame) -> pd.Series:
    return frame["label"] + ": " + frame["level"].astype(str)


def churn_rate_chart(rates: pd.DataFrame, level: float = 0.95) -> alt.LayerChart:
    """Churn rate of every attribute level with its interval, one colour per attribute.

    Parameters
    ----------
    rates : DataFrame
        From :func:`outcomes.casestudy.churn_drivers.churn_rates`.
    level : float
        The intervals' confidence level (``1 - spec.alpha``), for the subtitle.

    Returns
    -------
    altair.LayerChart
        Points at the rate, rules from ``rate_low`` to ``rate_high``, a dashed rule at the
        overall rate.
    """
    data = rates[~rates["suppressed"] & (rates["attribute"] != "all")].assign(group=_group)
    overall = rates.loc[rates["attribute"] == "all", ["rate"]]
    order = list(data["group"])
    base = alt.Chart(data).encode(
        y=alt.Y("group:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
        color=alt.Color("label:N", title=None, legend=None),
    )
    points = base.mark_point().encode(
        x=alt.X("rate:Q", title="Share of customers who left", axis=alt.Axis(format=".0%")),
        tooltip=[
            "group:N",
            alt.Tooltip("customers:Q", format=",.0f"),
            alt.Tooltip("rate:Q", format=".1%", title="churn rate"),
            alt.Tooltip("rate_low:Q", format=".1%", title="interval low"),
            alt.Tooltip("rate_high:Q", format=".1%", title="interval high"),
        ],
    )
    rules = base.mark_rule().encode(x="rate_low:Q", x2="rate_high:Q")
    mean = alt.Chart(overall).mark_rule(strokeDash=[4, 4]).encode(x="rate:Q")
    return alt.layer(rules, points, mean).properties(
        title=alt.Title("Churn rate by attribute", subtitle=f"{level:.0%} Wilson intervals; dashed line: all customers")
    )


def effects_chart(model: ChurnModel) -> alt.LayerChart:
    """Average marginal effect of every attribute level on churn, in percentage points.

    Parameters
    ----------
    model : ChurnModel
        From :func:`outcomes.casestudy.churn_drivers.fit_churn_model`.

    Returns
    -------
    altair.LayerChart
        Points at the effect, rules over the interval, a rule at zero.
    """
    me = model.marginal_effects()
    data = me.assign(
        group=me["label"] + ": " + me["level"] + " vs " + me["reference"],
        ame_pp=me["ame"] * 100,
        low_pp=me["ci_low"] * 100,
        high_pp=me["ci_high"] * 100,
    )
    level = 1 - model.spec.alpha
    base = alt.Chart(data).encode(y=alt.Y("group:N", sort=list(data["group"]), title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)))
    points = base.mark_point().encode(
        x=alt.X("ame_pp:Q", title="Change in churn probability (percentage points)"),
        tooltip=[
            "group:N",
            alt.Tooltip("ame_pp:Q", format="+.1f", title="effect (pp)"),
            alt.Tooltip("low_pp:Q", format="+.1f", title="interval low"),
            alt.Tooltip("high_pp:Q", format="+.1f", title="interval high"),
            alt.Tooltip("odds_ratio:Q", format=".2f", title="odds ratio"),
        ],
    )
    rules = base.mark_rule().encode(x="low_pp:Q", x2="high_pp:Q")
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return alt.layer(zero, rules, points).properties(
        title=alt.Title(
            "Churn difference with controls (associations, not causes)",
            subtitle=f"Average marginal effect against the reference level, {level:.0%} intervals",
        )
    )


def value_chart(value: ChurnValue) -> alt.LayerChart:
    """Margin kept under the value scenario: model with controls and raw gap, with intervals.

    Parameters
    ----------
    value : ChurnValue
        From :func:`outcomes.casestudy.churn_drivers.value_at_stake` with a scenario.

    Returns
    -------
    altair.LayerChart
        Bars at the estimates, rules over the intervals.
    """
    data = value.scenario_table()
    s = value.scenario
    cur = f" ({value.currency})" if value.currency else ""
    horizon = s.horizon_months if s is not None else 12
    base = alt.Chart(data).encode(y=alt.Y("estimate:N", title=None, sort=list(data["estimate"])))
    bars = base.mark_bar(opacity=0.55).encode(
        x=alt.X("revenue_kept:Q", title=f"Margin kept over {horizon} months{cur}"),
        tooltip=[
            "estimate:N",
            alt.Tooltip("revenue_kept:Q", format=",.0f", title="margin kept"),
            alt.Tooltip("ci_low:Q", format=",.0f", title="interval low"),
            alt.Tooltip("ci_high:Q", format=",.0f", title="interval high"),
        ],
    )
    rules = base.mark_rule(color=INK, strokeWidth=2).encode(x="ci_low:Q", x2="ci_high:Q")
    subtitle = (
        f"Customers with {value.label} '{s.from_level}' churning like those with '{s.to_level}'; margin {s.margin:.0%} assumed"
        if s is not None
        else ""
    )
    return alt.layer(bars, rules).properties(title=alt.Title("Value at stake", subtitle=subtitle))


def churner_revenue_chart(value: ChurnValue, attribute: str) -> alt.Chart:
    """Monthly revenue of churners by level of one attribute.

    Parameters
    ----------
    value : ChurnValue
        From :func:`outcomes.casestudy.churn_drivers.value_at_stake`.
    attribute : str
        The attribute's column.

    Returns
    -------
    altair.Chart
        One bar per (unsuppressed) level.
    """
    table = value.churner_revenue
    data = table[(table["attribute"] == attribute) & table["churner_revenue_month"].notna()]
    cur = f" ({value.currency})" if value.currency else ""
    label = data["label"].iloc[0] if len(data) else attribute
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("level:N", title=None, sort=list(data["level"])),
            x=alt.X("churner_revenue_month:Q", title=f"Monthly revenue of customers who left{cur}"),
            tooltip=[
                "level:N",
                alt.Tooltip("churners:Q", format=",.0f"),
                alt.Tooltip("churner_revenue_month:Q", format=",.0f", title="monthly revenue"),
                alt.Tooltip("share:Q", format=".0%", title="share of churners' revenue"),
            ],
        )
        .properties(title=f"Revenue of customers who left, by {label}")
    )
