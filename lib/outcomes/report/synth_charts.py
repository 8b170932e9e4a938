"""Altair charts of a synthetic control (returned, never displayed or saved).

One figure for the review page: the treated unit against its synthetic control, the gap
between them in every period, and the donors' weights.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from outcomes.errors import OutcomesError
from outcomes.experiment.quasi.analysis import QuasiResult
from outcomes.experiment.quasi.donors import SyntheticFit
from outcomes.report.quasi_charts import its_chart

#: Donors drawn in the weights chart (the largest weights).
TOP_DONORS = 10


def _fit(result: QuasiResult) -> SyntheticFit:
    """The result's synthetic control, or an error saying why it has none."""
    if result.synthetic is None:
        reason = "; ".join(c.message for c in result.conditions if c.blocks is not None)
        raise OutcomesError(
            f"this {result.design_name} result of {result.metric!r} has no synthetic control"
            + (f": {reason}" if reason else " (only synthetic-control results have one)")
        )
    return result.synthetic


def gap_chart(result: QuasiResult) -> alt.LayerChart:
    """The treated unit minus its synthetic control in every period, with the start marked.

    Parameters
    ----------
    result : QuasiResult
        A synthetic-control result.

    Returns
    -------
    altair.LayerChart
        Bars of the gap coloured by phase (pre: the fit's misses; post: the effect), a
        zero rule and a dashed rule at the start.

    Raises
    ------
    OutcomesError
        When the result has no synthetic control (another design, or a blocked analysis).
    """
    gaps = _fit(result).gaps
    temporal = pd.api.types.is_datetime64_any_dtype(gaps["period"])
    x = alt.X("period:T" if temporal else "period:Q", title="Period")
    bars = alt.Chart(gaps).mark_bar().encode(
        x=x, y=alt.Y("gap:Q", title=f"Gap in {result.name} (treated - synthetic)"),
        color=alt.Color("phase:N", title="Phase", sort=["pre", "post"]),
        tooltip=[x, alt.Tooltip("gap:Q", title="Gap", format="+.3~g"), alt.Tooltip("phase:N")],
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule().encode(y="y:Q")
    start = alt.Chart(pd.DataFrame({"period": [result.start]})).mark_rule(strokeDash=[6, 3]).encode(x=x)
    return alt.layer(bars, zero, start).properties(title="Gap: the effect in each period after the start")


def weights_chart(result: QuasiResult, top: int = TOP_DONORS) -> alt.Chart:
    """The donors' weights in the synthetic control, largest first (at most ``top``).

    Parameters
    ----------
    result : QuasiResult
        A synthetic-control result.
    top : int
        Donors drawn.

    Returns
    -------
    altair.Chart
        Horizontal bars, one per donor.
    """
    weights = _fit(result).weights
    shown = weights.head(top).rename_axis("donor").reset_index()
    shown["donor"] = shown["donor"].astype(str)
    rest = len(weights) - len(shown)
    title = "Donor weights" + (f" (top {len(shown)}; {rest} more)" if rest else "")
    return alt.Chart(shown).mark_bar().encode(
        y=alt.Y("donor:N", sort=None, title=None),
        x=alt.X("weight:Q", title="Weight in the synthetic control", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("donor:N"), alt.Tooltip("weight:Q", format=".1%")],
    ).properties(title=title)


def synthetic_chart(result: QuasiResult) -> alt.VConcatChart:
    """Treated against synthetic, the gap, and the donor weights, stacked.

    Parameters
    ----------
    result : QuasiResult
        A synthetic-control result.

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    OutcomesError
        When the result has no synthetic control.
    """
    _fit(result)
    return alt.vconcat(its_chart(result), gap_chart(result), weights_chart(result))
