"""Sensitivity of a case's NPV to each uncertain input: the tornado, its reading, results.json and chart."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from outcomes import config
from outcomes.value import model as value_model
from outcomes.value import montecarlo, sensitivity
from outcomes.report import value_charts
from value_models import ticket_initiative, ticket_model

ANNUITY = 1 / 1.1 + 1 / 1.21 + 1 / 1.331  # PV of 1 a year for 3 years at 10%


def test_swings_equal_a_hand_computation_and_are_sorted():
    # NPV = 10 a - 3 b + c; central a = 1, b = 2, c = 0, d = 5 (d does not enter and is fixed)
    def npv_at(v):
        return 10 * v["a"] - 3 * v["b"] + v["c"]

    central = {"a": 1.0, "b": 2.0, "c": 0.0, "d": 5.0}
    ranges = {"c": (-1.0, 1.0), "b": (1.0, 4.0), "a": (0.5, 2.0), "d": (5.0, 5.0)}
    t = sensitivity.tornado(npv_at, central, ranges, labels={"a": "the effect"}, currency="EUR")
    assert t.npv_central == 4.0
    assert [s.input for s in t.swings] == ["a", "b", "c"]  # d is fixed: no swing
    a, b, c = t.swings
    assert (a.npv_low, a.npv_high, a.swing) == (10 * 0.5 - 6, 10 * 2.0 - 6, 15.0)
    assert (b.npv_low, b.npv_high, b.swing) == (10 - 3, 10 - 12, 9.0)
    assert (c.npv_low, c.npv_high, c.swing) == (3.0, 5.0, 2.0)
    assert t.sentence() == "NPV moves most with the effect: from -EUR 1 at its P10 to EUR 14 at its P90."
    assert t.records(top=2) == [
        {"input": "a", "low": 0.5, "high": 2.0, "npv_low": -1.0, "npv_high": 14.0},
        {"input": "b", "low": 1.0, "high": 4.0, "npv_low": 7.0, "npv_high": -2.0},
    ]
    assert list(t.to_frame()["swing"]) == [15.0, 9.0, 2.0]
    fixed = sensitivity.tornado(npv_at, central, {"d": (5.0, 5.0)})
    assert fixed.swings == () and "No uncertain input moves the NPV" in fixed.sentence()


def _case(n: int = 20_000) -> montecarlo.InvestmentCase:
    model = ticket_model(
        {"deflect": ticket_initiative("Deflection", {"value": -0.1, "se": 0.05}, 1000)},
        cost_per_ticket={"value": 20, "low": 15, "high": 30},
        where="sensitivity test model",
    )
    return montecarlo.simulate(model, "deflect", n=n, seed=13)


def test_a_case_moves_each_input_to_its_p10_and_p90_with_the_others_central():
    # NPV = -12 x 1,000 x effect x cost per ticket x ANNUITY - 10,000 - 12 x 500 x ANNUITY (no risk adjustment)
    def hand(effect, cost_per_ticket):
        return -12 * 1000 * effect * cost_per_ticket * ANNUITY - 10_000 - 12 * 500 * ANNUITY

    case = _case()
    t = case.sensitivity
    assert_allclose(t.npv_central, hand(-0.1, 20))
    assert_allclose(t.npv_central, case.point.npv)
    by_input = {s.input: s for s in t.swings}
    assert set(by_input) == {"effect", "cost_per_ticket"}  # the costs are fixed numbers
    e, c = by_input["effect"], by_input["cost_per_ticket"]
    # P10 / P90 of the inputs' draws: normal N(-0.1, 0.05) and triangular (15, 20, 30)
    assert_allclose([e.low, e.high], [-0.1 - 1.2816 * 0.05, -0.1 + 1.2816 * 0.05], atol=0.003)
    tri_p10, tri_p90 = 15 + np.sqrt(0.1 * 15 * 5), 30 - np.sqrt(0.1 * 15 * 10)  # inverse CDF of triangular(15, 20, 30)
    assert_allclose([c.low, c.high], [tri_p10, tri_p90], atol=0.15)
    assert_allclose([e.npv_low, e.npv_high], [hand(e.low, 20), hand(e.high, 20)], rtol=1e-12)
    assert_allclose([c.npv_low, c.npv_high], [hand(-0.1, c.low), hand(-0.1, c.high)], rtol=1e-12)
    assert [s.input for s in t.swings] == ["effect", "cost_per_ticket"]  # 2 x 1.28 x 0.05 / 0.1 > (27.3 - 18.9) / 20
    assert e.swing > c.swing
    assert t.sentence().startswith("NPV moves most with the effect on tickets per customer: from EUR ")


@pytest.mark.parametrize("key", ["self-service-portal", "chatbot", "faster-releases"])
def test_the_central_npv_of_every_demo_case_is_its_point_case(key):
    model = value_model.load_value_model(config.project().params_dir / "value.yaml")
    case = montecarlo.simulate(model, key, n=500, seed=3)
    assert_allclose(case.sensitivity.npv_central, case.point.npv, rtol=1e-12)
    swings = [s.swing for s in case.sensitivity.swings]
    assert swings == sorted(swings, reverse=True) and len(swings) >= 3
    assert all(s.label and not s.label.startswith(("link:", "clv:", "cost:")) for s in case.sensitivity.swings)


def test_the_tornado_chart_has_the_bars_and_their_labels():
    case = _case(n=2_000)
    spec = value_charts.tornado_chart(case).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["bar", "text", "text", "rule"]
    bars, text = spec["layer"][0], spec["layer"][1]
    assert [layer["transform"][0]["filter"] for layer in spec["layer"][1:3]] == [
        "datum.npv < datum.central", "datum.npv >= datum.central"
    ]
    assert bars["encoding"]["x"]["field"] == "central" and bars["encoding"]["x2"]["field"] == "npv"
    assert text["encoding"]["text"]["field"] == "npv_text"
    assert bars["encoding"]["y"]["sort"] == ["the effect on tickets per customer", "the cost per ticket"]
    assert spec["layer"][3]["encoding"]["x"]["field"] == "central"
    (rows,) = spec["datasets"].values()
    assert {r["end"] for r in rows} == {"at its P10", "at its P90"} and len(rows) == 4
    assert spec["title"]["subtitle"] == [case.sensitivity.sentence()]
