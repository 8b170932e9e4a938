"""Charts of investment cases: a waterfall from the IT change to NPV, and the portfolio.

Builders return unrendered Altair charts; they never display or save them.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.report import narrative
from outcomes.value import finance
from outcomes.value.montecarlo import InvestmentCase
from outcomes.value.evidence import grade_sentence
from outcomes.value.portfolio import TOTAL_LABEL, Portfolio

#: The colour category of the portfolio's total row in :func:`portfolio_chart`.
TOTAL_DECISION = "all initiatives together"


def _pv_before_risk(lines: dict[str, np.ndarray], rate: float) -> float:
    return float(sum(finance.present_value(v, rate) for v in lines.values()))


#: The NPV bar's label: the figure itself is the case's NPV P50, shown beside the chart.
NPV_BAR_LABEL = "NPV (P50 in the table below)"


def waterfall_frame(case: InvestmentCase) -> pd.DataFrame:
    """The steps from gross benefits to NPV, in present values at the central inputs.

    Parameters
    ----------
    case : InvestmentCase
        The initiative's case.

    Returns
    -------
    pandas.DataFrame
        Columns ``step, amount, start, end, kind, label``: benefits before risk, the
        benefit risk adjustment, the initial investment, running costs, the cost risk
        adjustment (all signed) and the NPV total; ``start``/``end`` place the bars.
    """
    p = case.point
    gross_b, adj_b = _pv_before_risk(p.benefits, p.rate), p.pv_benefits
    initial = float(sum(v[0] for v in p.costs.values()))
    gross_c, adj_c = _pv_before_risk(p.costs, p.rate), p.pv_costs
    risk_b = max(p.benefit_risk.values(), default=0.0)
    risk_c = max(p.cost_risk.values(), default=0.0)
    steps = [
        ("Benefits (PV)", gross_b, "benefit"),
        (f"Benefit risk (-{fmt.percent(risk_b)})", adj_b - gross_b, "risk"),
        ("Initial investment", -initial, "cost"),
        ("Running costs (PV)", -(gross_c - initial), "cost"),
        (f"Cost risk (+{fmt.percent(risk_c)})", -(adj_c - gross_c), "risk"),
    ]
    frame = pd.DataFrame(steps, columns=["step", "amount", "kind"])
    frame["end"] = frame["amount"].cumsum()
    frame["start"] = frame["end"] - frame["amount"]
    total = pd.DataFrame([{"step": "NPV", "amount": p.npv, "kind": "total", "start": 0.0, "end": p.npv}])
    frame = pd.concat([frame, total], ignore_index=True)
    # the NPV is stated once, as the Monte Carlo median with its range; this bar is its central-input sketch
    frame["label"] = [
        fmt.money(a, case.currency, signed=True) if k != "total" else NPV_BAR_LABEL
        for a, k in zip(frame["amount"], frame["kind"], strict=True)
    ]
    return frame[["step", "amount", "start", "end", "kind", "label"]]


def chain_sentence(case: InvestmentCase) -> str:
    """The case's value chain in one line (IT change -> outcome -> money per month)."""
    chain = case.chain
    changes = chain[chain["step"].eq("IT metric change") | chain["step"].eq("Outcome change")]
    steps = [
        narrative.ChainStep(m, v, narrative.unit_for_metric(m))
        for m, v in zip(changes["what"], changes["value"], strict=True)
    ]
    if len(steps) == 2 and steps[0].metric == steps[1].metric:
        steps = steps[:1]
    unit_row = chain.iloc[-3]
    return narrative.value_chain_sentence(
        steps,
        units_per_month=float(case.steps.units_per_month),
        unit_label=str(unit_row["what"]),
        unit_value=float(case.steps.unit_value),
        value_per_month=float(case.steps.value_per_month),
        currency=case.currency,
    )


def waterfall_chart(case: InvestmentCase) -> alt.LayerChart:
    """Waterfall from the IT change's value to NPV (present values, central inputs).

    Parameters
    ----------
    case : InvestmentCase
        The initiative's case.

    Returns
    -------
    altair.LayerChart
        Bars from ``start`` to ``end`` per step, labelled with the amount; the subtitle
        states the value chain and what it rests on (its evidence grade).
    """
    data = waterfall_frame(case)
    order = list(data["step"])
    x = alt.X("step:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30, labelAlign="right", labelLimit=160))
    base = alt.Chart(data).encode(x=x)
    bars = base.mark_bar().encode(
        y=alt.Y("start:Q", title=f"{case.currency} (present value)", axis=alt.Axis(format="~s")),
        y2="end:Q",
        color=alt.Color(
            "kind:N",
            scale=alt.Scale(
                domain=["benefit", "risk", "cost", "total"], range=["#2e7d32", "#f9a825", "#c62828", "#1565c0"]
            ),
            legend=None,
        ),
        tooltip=["step:N", alt.Tooltip("label:N", title="amount")],
    )
    labels = base.mark_text(dy=-6).encode(y=alt.Y("top:Q"), text="label:N").transform_calculate(
        top="max(datum.start, datum.end)"
    )
    return alt.layer(bars, labels).properties(
        title=alt.TitleParams(f"{case.name}: from the IT change to NPV", subtitle=[chain_sentence(case), grade_sentence(case.grade)]),
        width=alt.Step(90),
    )


def portfolio_chart(portfolio: Portfolio) -> alt.LayerChart:
    """NPV interval per initiative (P10 to P90, dot at P50), highest median NPV on top.

    Parameters
    ----------
    portfolio : Portfolio
        The initiatives side by side.

    Returns
    -------
    altair.LayerChart
        A rule per initiative, a point at the median, a zero line; colour by decision. With
        two initiatives or more, a last row shows them together (:meth:`Portfolio.total`).
    """
    frame = portfolio.to_frame(with_total=True)
    currency = portfolio.cases[0].currency if portfolio.cases else "EUR"
    frame = frame.assign(
        decision=frame["recommendation"].where(frame["name"] != TOTAL_LABEL, TOTAL_DECISION),
        npv_text=[fmt.money(x, currency) for x in frame["npv_p50"]],
        range_text=[
            fmt.money_range(a, b, currency) for a, b in zip(frame["npv_p10"], frame["npv_p90"], strict=True)
        ],
        chance=[fmt.probability(p) for p in frame["prob_roi_positive"]],
    )
    order = list(frame["name"])
    y = alt.Y("name:N", sort=order, title=None)
    tooltip = [
        alt.Tooltip("name:N", title="initiative"),
        alt.Tooltip("npv_text:N", title="NPV P50"),
        alt.Tooltip("range_text:N", title="P10 to P90"),
        alt.Tooltip("chance:N", title="chance ROI > 0"),
        "decision:N",
    ]
    base = alt.Chart(frame).encode(y=y, color=alt.Color("decision:N", title="decision"), tooltip=tooltip)
    rules = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("npv_p10:Q", title=f"NPV, {currency} (P10 to P90, dot at P50)", axis=alt.Axis(format="~s")),
        x2="npv_p90:Q",
    )
    points = base.mark_point(filled=True, size=90).encode(x="npv_p50:Q")
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="#555").encode(x="x:Q")
    height = max(60, 40 * len(frame))
    return alt.layer(rules, points, zero).properties(title="Initiatives by NPV", height=height)


def tornado_frame(case: InvestmentCase, top: int = 8) -> pd.DataFrame:
    """The case's largest swings as bars from the central NPV to the NPV at each end of an input.

    Parameters
    ----------
    case : InvestmentCase
        The initiative's case (with its :attr:`~InvestmentCase.sensitivity`).
    top : int
        How many inputs, largest swing first.

    Returns
    -------
    pandas.DataFrame
        Two rows per input (``end`` "at its P10" and "at its P90"): ``label, end, central,
        npv, npv_text, swing``.
    """
    tornado = case.sensitivity
    rows = []
    for s in (tornado.swings if tornado is not None else ())[:top]:
        for end, npv in (("at its P10", s.npv_low), ("at its P90", s.npv_high)):
            rows.append(
                {"label": s.label, "end": end, "central": tornado.npv_central, "npv": npv,
                 "npv_text": fmt.money(npv, case.currency), "swing": s.swing}
            )
    return pd.DataFrame(rows, columns=["label", "end", "central", "npv", "npv_text", "swing"])


def tornado_chart(case: InvestmentCase, top: int = 8) -> alt.LayerChart:
    """NPV with each uncertain input at its P10 and P90, the others central, largest swing on top.

    Parameters
    ----------
    case : InvestmentCase
        The initiative's case.
    top : int
        How many inputs to show.

    Returns
    -------
    altair.LayerChart
        Per input a bar from the central NPV to the NPV at each end, labelled with that NPV;
        a rule at the central NPV; the subtitle reads the largest swing in a sentence.
    """
    frame = tornado_frame(case, top)
    order = list(dict.fromkeys(frame["label"]))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    base = alt.Chart(frame).encode(y=y)
    bars = base.mark_bar().encode(
        x=alt.X(
            "central:Q", title=f"NPV, {case.currency} (central inputs at the line)", axis=alt.Axis(format="~s"),
            scale=alt.Scale(padding=70),  # room for the labels beyond the outer bars
        ),
        x2="npv:Q",
        color=alt.Color(
            "end:N", title="input", legend=alt.Legend(orient="bottom"),
            scale=alt.Scale(domain=["at its P10", "at its P90"], range=["#c62828", "#2e7d32"]),
        ),
        tooltip=["label:N", "end:N", alt.Tooltip("npv_text:N", title="NPV")],
    )
    text = {"x": "npv:Q", "text": "npv_text:N", "detail": "end:N"}
    # each label sits beyond its bar's outer end, away from the central line
    left = base.mark_text(align="right", dx=-4).encode(**text).transform_filter("datum.npv < datum.central")
    right = base.mark_text(align="left", dx=4).encode(**text).transform_filter("datum.npv >= datum.central")
    centre = alt.Chart(frame).mark_rule(color="#555").encode(x="central:Q")
    return alt.layer(bars, left, right, centre).properties(
        title=alt.TitleParams(
            f"{case.name}: what moves the NPV most",
            subtitle=[case.sensitivity.sentence() if case.sensitivity else ""],
        ),
        height=alt.Step(28),
    )
