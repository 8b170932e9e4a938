"""Portfolio table and the ROI charts (asserted on their Vega-Lite dicts)."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.roi import charts, montecarlo, portfolio, value


@pytest.fixture(scope="module")
def cases():
    model = value.load_value_model(config.PARAMS_DIR / "value.yaml")
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
    assert summary["Initiative"].tolist() == frame["name"].tolist()
    assert "+" not in summary.set_index("Initiative").loc["Self-service portal", "IT demand (tickets/month)"]
    assert summary.set_index("Initiative").loc["Faster releases (CI/CD)", "Decision"] == "no decision yet"


def test_portfolio_refuses_unknown_or_repeated_initiatives(cases):
    with pytest.raises(ParamsError, match="decisions names unknown initiative.*'crm'"):
        portfolio.build_portfolio(cases, decisions={"crm": "ship"})
    with pytest.raises(ParamsError, match="more than once"):
        portfolio.build_portfolio([cases[0], cases[0]])


def test_waterfall_steps_add_up_to_npv(cases):
    case = next(c for c in cases if c.initiative == "chatbot")
    frame = charts.waterfall_frame(case)
    assert frame["step"].tolist()[0] == "Benefits (PV)" and frame["step"].tolist()[-1] == "NPV"
    assert_allclose(frame["amount"].iloc[:-1].sum(), case.point.npv)
    assert_allclose(frame["end"].iloc[-2], frame["amount"].iloc[-1])
    # benefit risk 20% of the gross PV; costs 10% on top of their PV
    assert_allclose(frame["amount"].iloc[1], -0.2 * frame["amount"].iloc[0])
    spec = charts.waterfall_chart(case).to_dict()
    bar = spec["layer"][0]
    assert bar["mark"]["type"] == "bar"
    assert bar["encoding"]["x"]["sort"] == frame["step"].tolist()
    assert bar["encoding"]["y2"]["field"] == "end"
    assert "Churn rate -0.3 pp" in spec["title"]["subtitle"][0]


def test_portfolio_chart_sorted_interval(cases):
    book = portfolio.build_portfolio(cases)
    spec = charts.portfolio_chart(book).to_dict()
    rule = spec["layer"][0]
    assert rule["mark"]["type"] == "rule"
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x2"]["field"]) == ("npv_p10", "npv_p90")
    assert rule["encoding"]["y"]["sort"] == book.to_frame()["name"].tolist()
    assert spec["layer"][1]["encoding"]["x"]["field"] == "npv_p50"
