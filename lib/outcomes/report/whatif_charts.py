"""The what-if chart: sliders that pick a row of a case's precomputed grid, offline.

The chart embeds the whole grid of :func:`outcomes.value.whatif.what_if_grid` and binds
Vega-Lite parameters to range inputs and checkboxes; a filter keeps the row at the
reader's settings and shows its NPV P10/P50/P90 and chance of a positive ROI as text.
No kernel and no network are needed: the browser only filters rows.
"""

from __future__ import annotations

import altair as alt

from outcomes.value.whatif import SHARE_RANGE, WhatIf

#: Tolerance when a slider's value is matched to the grid's numbers.
_EPS = 1e-6


def what_if_chart(what_if: WhatIf) -> alt.Chart:
    """Return the case's what-if chart: one text line per figure, chosen by sliders.

    Parameters
    ----------
    what_if : WhatIf
        The case's grid (:func:`outcomes.value.whatif.what_if_grid`).

    Returns
    -------
    altair.Chart
        Unrendered; parameters ``rate`` and ``overrun`` (sliders), and, where they apply,
        ``fixed_share`` (checkbox) with ``share`` (slider) and ``extrapolate`` (checkbox).
        At the defaults it shows the figures of the case on the page.
    """
    d = what_if.default
    rates = what_if.rates
    step = round(rates[1] - rates[0], 6) if len(rates) > 1 else 0.01
    rate = alt.param(name="rate", value=d["discount_rate"], bind=alt.binding_range(
        min=min(rates), max=max(rates), step=step, name="Discount rate "))
    overruns = what_if.overruns_pct
    overrun = alt.param(name="overrun", value=d["overrun_pct"], bind=alt.binding_range(
        min=min(overruns), max=max(overruns), step=overruns[1] - overruns[0] if len(overruns) > 1 else 1,
        name="Cost overrun (%) "))
    params = [rate, overrun]
    tests = [f"abs(datum.discount_rate - rate) < {_EPS}", f"abs(datum.overrun_pct - overrun) < {_EPS}"]
    if what_if.shares:
        fixed = alt.param(name="fixed_share", value=False, bind=alt.binding_checkbox(
            name="Take a fixed share of the association as cause "))
        share = alt.param(name="share", value=0.5, bind=alt.binding_range(
            min=0, max=1, step=0.25, name="Share taken as cause "))
        params += [fixed, share]
        tests.append(f"datum.share == (fixed_share ? format(share, '.2f') : '{SHARE_RANGE}')")
    if len(what_if.extrapolations) > 1:
        extrapolate = alt.param(name="extrapolate", value=d["extrapolate"], bind=alt.binding_checkbox(
            name="Apply the effect to every unit (extrapolate) "))
        params.append(extrapolate)
        tests.append("datum.extrapolate == extrapolate")
    frame = what_if.grid.drop(columns=["default"])
    return (
        alt.Chart(frame, title=alt.Title(f"What if: {what_if.name}", anchor="start"))
        .transform_filter(" && ".join(tests))
        .transform_fold(["npv_text", "chance_text"], as_=["line", "text"])
        .mark_text(align="left", baseline="middle", fontSize=14)
        .encode(
            x=alt.value(0),
            y=alt.Y("line:N", axis=None, sort=["npv_text", "chance_text"]),
            text=alt.Text("text:N"),
        )
        .add_params(*params)
        .properties(width=520, height=60, view=alt.ViewBackground(stroke=None))
    )
