"""Charts of the delivery analysis, as unrendered Altair charts.

Each builder takes a result of :mod:`outcomes.casestudy.delivery` and returns an Altair chart;
nothing is displayed or saved here and no theme is set (the report's house theme styles
them). The charts show aggregates only; suppressed groups (too few orders) are left out.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from outcomes import format as fmt
from outcomes.casestudy.delivery import LateEffects, Punctuality

STATUS_ORDER = ["on time", "late"]


def score_distribution(summary: Punctuality) -> alt.Chart:
    """Grouped bars: the share of each review score, on-time orders next to late ones.

    Parameters
    ----------
    summary : Punctuality
        From :func:`outcomes.casestudy.delivery.punctuality`.

    Returns
    -------
    altair.Chart
        x the score, y the share of the status's orders, colour the status.
    """
    data = summary.distribution.dropna(subset=["share"])
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("score:O", title="Review score (1-5 stars)"),
            xOffset=alt.XOffset("status:N", sort=STATUS_ORDER),
            y=alt.Y("share:Q", title="Share of the orders", axis=alt.Axis(format="%")),
            color=alt.Color("status:N", sort=STATUS_ORDER, title="Delivery"),
            tooltip=[
                alt.Tooltip("status:N", title="Delivery"),
                alt.Tooltip("score:O", title="Score"),
                alt.Tooltip("orders:Q", title="Orders", format=","),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
        .properties(title=alt.Title("Review scores of on-time and late orders", subtitle="Share of each group's orders"))
    )


def satisfied_by_delay(summary: Punctuality) -> alt.Chart:
    """Share of satisfied reviews (top box) by days late, with its interval.

    Parameters
    ----------
    summary : Punctuality
        From :func:`outcomes.casestudy.delivery.punctuality`.

    Returns
    -------
    altair.Chart
        One point per days-late bucket (in order) with an error bar for its Wilson interval.
    """
    data = summary.by_bucket[~summary.by_bucket["suppressed"]]
    order = list(summary.by_bucket["bucket"])
    level = fmt.confidence(summary.alpha)
    top = f"{summary.top_box_from:g}"
    base = alt.Chart(data).encode(x=alt.X("bucket:N", sort=order, title="Delivery against the promised date"))
    bars = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("top_box_low:Q", title=f"Share scoring {top} or more", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y2="top_box_high:Q",
    )
    points = base.mark_point(size=80).encode(
        y="top_box_share:Q",
        tooltip=[
            alt.Tooltip("bucket:N", title="Delivery"),
            alt.Tooltip("orders:Q", title="Orders", format=","),
            alt.Tooltip("top_box_share:Q", title="Satisfied", format=".1%"),
            alt.Tooltip("top_box_low:Q", title=f"{level} CI low", format=".1%"),
            alt.Tooltip("top_box_high:Q", title=f"{level} CI high", format=".1%"),
        ],
    )
    return (bars + points).properties(
        title=alt.Title(
            f"Satisfied reviews ({top}-5 stars) by days late",
            subtitle=f"Share of orders with {level} Wilson intervals; groups under the minimum size are not shown",
        )
    )


def effects_frame(effects: LateEffects) -> pd.DataFrame:
    """The late-delivery gaps (unadjusted, with controls) as rows of a chart."""
    frame = effects.to_frame()
    frame = frame[(frame["driver"] == "late") & (frame["status"] == "ok")]
    return frame[["label", "coef", "ci_low", "ci_high", "n", "n_exposed"]].reset_index(drop=True)


def effect_estimates(effects: LateEffects) -> alt.Chart:
    """The score gap of a late delivery, unadjusted and with controls, with intervals.

    Parameters
    ----------
    effects : LateEffects
        From :func:`outcomes.casestudy.delivery.fit_late_effects`.

    Returns
    -------
    altair.Chart
        One point and interval per fit, with a rule at zero (no gap).
    """
    data = effects_frame(effects)
    level = fmt.percent(effects.adjusted.fit.level, exact_digits=True)
    base = alt.Chart(data).encode(y=alt.Y("label:N", title=None, sort=["unadjusted", "with controls"]))
    interval = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("ci_low:Q", title="Review score, late minus on time (points on the 1-5 scale)"), x2="ci_high:Q"
    )
    point = base.mark_point(size=100).encode(
        x="coef:Q",
        tooltip=[
            alt.Tooltip("label:N", title="Fit"),
            alt.Tooltip("coef:Q", title="Gap", format="+.2f"),
            alt.Tooltip("ci_low:Q", title=f"{level} CI low", format="+.2f"),
            alt.Tooltip("ci_high:Q", title=f"{level} CI high", format="+.2f"),
            alt.Tooltip("n:Q", title="Orders", format=","),
            alt.Tooltip("n_exposed:Q", title="Late orders", format=","),
        ],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return (interval + point + zero).properties(
        height=110,
        title=alt.Title(
            "Review score gap of a late delivery",
            subtitle=f"OLS estimate with {level} robust interval; an association, not proof of cause",
        ),
    )


__all__ = ["effect_estimates", "effects_frame", "satisfied_by_delay", "score_distribution"]
