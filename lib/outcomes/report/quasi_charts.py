"""Altair charts of quasi-experimental results (returned, never displayed or saved).

The charts carry no styling of their own beyond marks and encodings: the house theme,
enabled once per notebook, gives fonts and colours.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from outcomes import format as fmt
from outcomes.errors import OutcomesError
from outcomes.experiment.quasi.analysis import QuasiResult
from outcomes.metrics import catalog
from outcomes.report.bounds import CLIPPED_NOTE, UNCLIPPED_NOTE, clip_level


def _require(frame: pd.DataFrame | None, what: str, result: QuasiResult) -> pd.DataFrame:
    """Return ``frame`` or explain why the result has none."""
    if frame is None:
        reason = "; ".join(c.message for c in result.conditions if c.blocks is not None)
        design = result.design_name
        raise OutcomesError(
            f"this {design} result of {result.metric!r} has no {what}"
            + (f": {reason}" if reason else " (only difference-in-differences results have an event study)")
        )
    return frame


def event_study_chart(result: QuasiResult) -> alt.LayerChart:
    """Event-study coefficients with their intervals, by period relative to the start.

    Parameters
    ----------
    result : QuasiResult
        A difference-in-differences result.

    Returns
    -------
    altair.LayerChart
        Points and interval rules per relative period, a zero line and a dashed rule
        between the reference period (-1) and the start (0).

    Raises
    ------
    OutcomesError
        When the result has no event study (an ITS result, or a blocked analysis).
    """
    frame = _require(result.event_study, "event study", result)
    level = fmt.confidence(result.alpha)
    x = alt.X("rel:Q", title="Periods since the start (-1 = reference)")
    tooltip = [
        alt.Tooltip("rel:Q", title="Period"),
        alt.Tooltip("estimate:Q", title="Effect", format=".3~g"),
        alt.Tooltip("ci_low:Q", title=f"{level} CI low", format=".3~g"),
        alt.Tooltip("ci_high:Q", title=f"{level} CI high", format=".3~g"),
        alt.Tooltip("phase:N", title="Phase"),
    ]
    base = alt.Chart(frame)
    bars = base.mark_rule().encode(x=x, y=alt.Y("ci_low:Q", title=f"Effect on {result.name}"), y2="ci_high:Q")
    points = base.mark_point(filled=True).encode(x=x, y="estimate:Q", shape=alt.Shape("phase:N", title="Phase"),
                                                 tooltip=tooltip)
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(strokeDash=[2, 2]).encode(y="y:Q")
    start = alt.Chart(pd.DataFrame({"x": [-0.5]})).mark_rule(strokeDash=[6, 3]).encode(x="x:Q")
    return alt.layer(zero, start, bars, points).properties(
        title=f"Event study: {result.name} of treated against untreated units"
    )


def its_chart(result: QuasiResult) -> alt.LayerChart:
    """Observed outcome against the counterfactual (what would have happened).

    Works for both designs: for an interrupted time series the counterfactual is the
    pre-period trend and season extended past the start, with its interval band; for
    difference-in-differences it is the treated units' fitted path without the change,
    and the untreated units' mean is drawn too.

    Parameters
    ----------
    result : QuasiResult
        A result with a :attr:`~QuasiResult.counterfactual` frame.

    Returns
    -------
    altair.LayerChart
        Lines per series (long format, ``series`` colour), an interval band when
        available (clipped to [0, 1] for a rate of the catalog, as its tooltip says) and
        a dashed rule at the start.

    Raises
    ------
    OutcomesError
        When the analysis was blocked and has no counterfactual.
    """
    frame = _require(result.counterfactual, "counterfactual series", result)
    names = {"observed": "observed", "counterfactual": "without the change", "untreated": "untreated units"}
    present = [c for c in names if c in frame.columns]
    long = frame.melt(id_vars=["period"], value_vars=present, var_name="series", value_name="value")
    long["series"] = long["series"].map(names)
    temporal = pd.api.types.is_datetime64_any_dtype(frame["period"])
    x = alt.X("period:T" if temporal else "period:Q", title="Period")
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=result.name, scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", title=None, sort=[names[c] for c in present]),
            strokeDash=alt.StrokeDash("series:N", title=None, sort=[names[c] for c in present]),
            tooltip=[x, alt.Tooltip("series:N"), alt.Tooltip("value:Q", format=".3~g")],
        )
    )
    start = pd.DataFrame({"period": [result.start]})
    rule = alt.Chart(start).mark_rule(strokeDash=[6, 3]).encode(x=x)
    layers: list[alt.Chart] = [lines, rule]
    band = frame.dropna(subset=["cf_low", "cf_high"])
    if not band.empty:
        band = band.copy()
        rate = result.metric in catalog.ids() and catalog.get(result.metric).is_rate
        clipped = [clip_level(lo, hi) if rate else (lo, hi, False) for lo, hi in zip(band["cf_low"], band["cf_high"])]
        band["cf_low"], band["cf_high"] = [c[0] for c in clipped], [c[1] for c in clipped]
        band["interval"] = [CLIPPED_NOTE if c[2] else UNCLIPPED_NOTE for c in clipped]
        layers.insert(0, alt.Chart(band).mark_area(opacity=0.2).encode(
            x=x, y="cf_low:Q", y2="cf_high:Q",
            tooltip=[x, alt.Tooltip("cf_low:Q", format=".3~g", title="low"), alt.Tooltip("cf_high:Q", format=".3~g", title="high"),
                     alt.Tooltip("interval:N", title="Note")],
        ))
    title = {"its": "Observed", "synthetic_control": "Treated unit"}.get(result.design, "Treated units")

    return alt.layer(*layers).properties(title=f"{title} against the counterfactual: {result.name}")
