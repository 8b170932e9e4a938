"""Portfolio table, the initiatives together (against the normal sum and by hand) and the ROI charts."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from outcomes import config
from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.report import results as report_results
from outcomes.report import value_charts
from outcomes.value import model as value_model
from outcomes.value import montecarlo, portfolio
from value_models import ticket_initiative, ticket_model


@pytest.fixture(scope="module")
def cases():
    model = value_model.load_value_model(config.project().params_dir / "value.yaml")
    return [montecarlo.simulate(model, key, n=2_000, seed=11) for key in model.initiatives]


def test_portfolio_sorted_by_median_npv_with_decisions_and_demand(cases):
    book = portfolio.build_portfolio(cases, decisions={"chatbot": "ship"}, it_demand={"self-service-portal": -290})
    frame = book.to_frame()
    assert list(frame.columns) == portfolio.COLUMNS
    assert frame["npv_p50"].is_monotonic_decreasing
    row = frame.set_index("initiative")
    assert row.loc["chatbot", "decision"] == "ship"
    assert row.loc["self-service-portal", "it_demand_tickets_per_month"] == -290
    summary = book.summary()
    assert summary["Initiative"].tolist() == [*frame["name"], portfolio.TOTAL_LABEL]
    # the total's IT demand is the sum of the demands stated (only the portal's here)
    assert summary["IT demand (tickets/month)"].iloc[-1] == "-290"
    assert "+" not in summary.set_index("Initiative").loc["Self-service portal", "IT demand (tickets/month)"]
    assert summary.set_index("Initiative").loc["Faster releases (CI/CD)", "Decision"] == "no decision yet"


def test_portfolio_refuses_unknown_or_repeated_initiatives(cases):
    with pytest.raises(ParamsError, match="decisions names unknown initiative.*'crm'"):
        portfolio.build_portfolio(cases, decisions={"crm": "ship"})
    with pytest.raises(ParamsError, match="more than once"):
        portfolio.build_portfolio([cases[0], cases[0]])


def test_waterfall_steps_add_up_to_npv(cases):
    case = next(c for c in cases if c.initiative == "chatbot")
    frame = value_charts.waterfall_frame(case)
    assert frame["step"].tolist()[0] == "Benefits (PV)" and frame["step"].tolist()[-1] == "NPV"
    assert_allclose(frame["amount"].iloc[:-1].sum(), case.point.npv)
    assert_allclose(frame["end"].iloc[-2], frame["amount"].iloc[-1])
    # benefit risk 20% of the gross PV; costs 10% on top of their PV
    assert_allclose(frame["amount"].iloc[1], -0.2 * frame["amount"].iloc[0])
    spec = value_charts.waterfall_chart(case).to_dict()
    bar = spec["layer"][0]
    assert bar["mark"]["type"] == "bar"
    assert bar["encoding"]["x"]["sort"] == frame["step"].tolist()
    assert bar["encoding"]["y2"]["field"] == "end"
    assert "Churn rate -0.3 pp" in spec["title"]["subtitle"][0]


def test_portfolio_chart_sorted_interval(cases):
    book = portfolio.build_portfolio(cases)
    spec = value_charts.portfolio_chart(book).to_dict()
    rule = spec["layer"][0]
    assert rule["mark"]["type"] == "rule"
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x2"]["field"]) == ("npv_p10", "npv_p90")
    assert rule["encoding"]["y"]["sort"] == [*book.to_frame()["name"], portfolio.TOTAL_LABEL]
    rows = [r for data in spec["datasets"].values() for r in data]
    total = next(r for r in rows if r.get("name") == portfolio.TOTAL_LABEL)
    assert total["decision"] == value_charts.TOTAL_DECISION
    assert total["npv_p50"] == pytest.approx(book.total().to_dict()["npv_p50"])
    assert spec["layer"][1]["encoding"]["x"]["field"] == "npv_p50"


# --------------------------------------------------------------------------- the initiatives together


def _two_initiatives(effect_a: dict, effect_b: dict, cost_per_ticket: float | dict = 20) -> value_model.ValueModel:
    """Two ticket-prevention initiatives: NPV_i = k_i x effect_i + c_i while cost per ticket is fixed."""
    initiatives = {"a": ticket_initiative("A", effect_a, 1000), "b": ticket_initiative("B", effect_b, 2000)}
    return ticket_model(initiatives, cost_per_ticket, where="two-initiative test model")


ANNUITY = 1 / 1.1 + 1 / 1.21 + 1 / 1.331  # PV of 1 a year for 3 years at 10%
COSTS_PV = 10_000 + 12 * 500 * ANNUITY


def test_total_of_independent_effects_is_the_normal_sum():
    # NPV_i = -12 x count_i x 20 x ANNUITY x effect_i - COSTS_PV, effect_i ~ N(mu_i, se_i) independent,
    # so the total is normal with mean m_a + m_b and sd sqrt(s_a^2 + s_b^2), narrower than s_a + s_b.
    model = _two_initiatives({"value": -0.02, "se": 0.03}, {"value": -0.01, "se": 0.015})
    cases = [montecarlo.simulate(model, k, n=200_000, seed=5) for k in ("a", "b")]
    k = {"a": -12 * 1000 * 20 * ANNUITY, "b": -12 * 2000 * 20 * ANNUITY}
    means = [k["a"] * -0.02 - COSTS_PV, k["b"] * -0.01 - COSTS_PV]
    sds = [abs(k["a"]) * 0.03, abs(k["b"]) * 0.015]
    mean, sd = sum(means), float(np.hypot(*sds))
    total = portfolio.build_portfolio(cases).total()
    assert abs(np.corrcoef(cases[0].npv, cases[1].npv)[0, 1]) < 0.01
    d = total.to_dict()
    for key, q in (("npv_p10", 0.1), ("npv_p50", 0.5), ("npv_p90", 0.9)):
        assert_allclose(d[key], stats.norm.ppf(q, mean, sd), atol=0.02 * sd)
    assert_allclose(d["prob_roi_positive"], stats.norm.cdf(mean / sd), atol=0.005)
    assert_allclose(d["roi_p50"], mean / (2 * COSTS_PV), rtol=0.01)
    # P(at least one loses) = 1 - P(both gain), independent normals
    both_gain = stats.norm.cdf(means[0] / sds[0]) * stats.norm.cdf(means[1] / sds[1])
    assert_allclose(d["prob_any_case_negative"], 1 - both_gain, atol=0.005)
    # the total's P10-P90 is narrower than the sum of the ranges
    width = [c.to_dict()["npv_p90"] - c.to_dict()["npv_p10"] for c in cases]
    assert d["npv_p90"] - d["npv_p10"] < 0.8 * sum(width)


def test_a_shared_input_takes_the_same_draw_in_every_case():
    # effects fixed, cost per ticket uncertain: both NPVs are linear in the same draw, so they move together
    model = _two_initiatives({"value": -0.02}, {"value": -0.01}, {"value": 20, "low": 10, "high": 30})
    cases = [montecarlo.simulate(model, k, n=5_000, seed=9) for k in ("a", "b")]
    assert_allclose(np.corrcoef(cases[0].npv, cases[1].npv)[0, 1], 1.0)
    total = portfolio.build_portfolio(cases).total()
    assert_allclose(total.npv.std(), cases[0].npv.std() + cases[1].npv.std())


def test_adding_an_initiative_leaves_the_other_cases_draws_unchanged():
    model = _two_initiatives({"value": -0.02, "se": 0.03}, {"value": -0.01, "se": 0.015}, {"value": 20, "low": 10, "high": 30})
    alone = model.model_copy(update={"initiatives": {"a": model.initiatives["a"]}})
    np.testing.assert_array_equal(
        montecarlo.simulate(alone, "a", n=1_000, seed=3).npv, montecarlo.simulate(model, "a", n=1_000, seed=3).npv
    )


def test_total_payback_and_investment_by_hand():
    # fixed inputs: A saves 0.02 x 1,000 customers x 20 = 400 a month, B 0.045 x 2,000 x 20 = 1,800;
    # each costs 10,000 up front and 500 a month.
    model = _two_initiatives({"value": -0.02}, {"value": -0.045})
    cases = [montecarlo.simulate(model, k, n=10, seed=1) for k in ("a", "b")]
    book = portfolio.build_portfolio(cases)
    d = book.total().to_dict()
    # net per year: A 12 x (400 - 500) = -1,200; B 12 x (1,800 - 500) = 15,600; together 14,400 a year
    # after 20,000 up front: payback at 20,000 / 14,400 years = 16.67 months
    assert_allclose(d["payback_months"], 12 * 20_000 / 14_400)
    assert_allclose(d["npv_p50"], 14_400 * ANNUITY - 20_000)
    assert d["prob_any_case_negative"] == 1.0  # A never pays for itself
    summary = book.summary()
    last = summary.iloc[-1]
    assert last["Initiative"] == portfolio.TOTAL_LABEL and last["Decision"] == ""
    assert last["Investment (PV)"] == fmt.money(2 * COSTS_PV)
    assert last["Payback"] == fmt.months(12 * 20_000 / 14_400)
    assert len(summary) == 3 and summary.attrs["total_row"] is True
    assert portfolio.build_portfolio(cases[:1]).summary().attrs["total_row"] is False


def test_total_is_a_valid_results_row_and_refuses_draws_that_do_not_line_up(cases):
    row = portfolio.build_portfolio(cases).total().to_dict()
    assert tuple(row) == portfolio.TOTAL_KEYS
    report_results.check_rows("portfolio", [row])
    model = value_model.load_value_model(config.project().params_dir / "value.yaml")
    other_seed = montecarlo.simulate(model, "chatbot", n=2_000, seed=12)
    fewer = montecarlo.simulate(model, "chatbot", n=1_000, seed=11)
    for odd, words in ((other_seed, "different seeds"), (fewer, "different numbers of draws")):
        rest = [c for c in cases if c.initiative != "chatbot"]
        with pytest.raises(ParamsError, match=words):
            portfolio.build_portfolio([*rest, odd]).total()
    with pytest.raises(ParamsError, match="no investment case"):
        portfolio.build_portfolio([]).total()
