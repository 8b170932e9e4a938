"""Monte Carlo investment cases: analytic linear case, seeds, contract keys, overrides."""

from __future__ import annotations

import json

import jsonschema

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.value import model as value_model
from outcomes.value import montecarlo
from outcomes.value.model import Effect, Quantity, ValueModel
from value_models import ticket_initiative, ticket_model

ANNUITY = 1 / 1.1 + 1 / 1.21 + 1 / 1.331  # PV of 1 a year for 3 years at 10% = 2.486852


@pytest.fixture(scope="module")
def model() -> ValueModel:
    return value_model.load_value_model(config.project().params_dir / "value.yaml")


def _linear_model(effect: dict) -> ValueModel:
    """Tickets prevented with every input fixed but the effect: NPV is linear in the effect."""
    return ticket_model({"deflect": ticket_initiative("Deflection", effect, 1000)}, where="linear test model")


def test_linear_case_matches_normal_quantiles():
    # NPV = a x effect + b with a = -12 x 1,000 customers x 20 per ticket x ANNUITY and
    # b = -(10,000 + 12 x 500 x ANNUITY); effect ~ N(-0.1, 0.05) so NPV ~ N(a mu + b, |a| se).
    mu, se = -0.1, 0.05
    a = -12 * 1000 * 20 * ANNUITY
    b = -(10_000 + 12 * 500 * ANNUITY)
    mean, sd = a * mu + b, abs(a) * se
    case = montecarlo.simulate(_linear_model({"value": mu, "se": se}), "deflect", n=200_000, seed=7)
    assert_allclose(case.npv.mean(), mean, atol=4 * sd / np.sqrt(case.n_draws))
    d = case.to_dict()
    for key, q in (("npv_p10", 0.1), ("npv_p50", 0.5), ("npv_p90", 0.9)):
        assert_allclose(d[key], stats.norm.ppf(q, mean, sd), atol=0.02 * sd)
    # P(NPV > 0) = Phi(mean / sd)
    assert_allclose(d["prob_roi_positive"], stats.norm.cdf(mean / sd), atol=0.005)
    assert_allclose(d["roi_p50"], (mean) / (10_000 + 12 * 500 * ANNUITY), rtol=0.01)


def test_fixed_inputs_give_the_point_case_in_every_draw():
    case = montecarlo.simulate(_linear_model({"value": -0.1}), "deflect", n=50, seed=1)
    assert_allclose(case.npv, case.point.npv)
    assert_allclose(case.payback_months, case.point.payback_months)
    # monthly value 0.1 x 1,000 x 20 = 2,000; net yearly 24,000 - 6,000 = 18,000 after 10,000 up front
    # -> 10,000 / 18,000 x 12 = 6.667 months
    assert_allclose(case.to_dict()["payback_months"], 12 * 10_000 / 18_000)


def test_same_seed_same_numbers(model):
    one = montecarlo.simulate(model, "chatbot", n=2_000, seed=3)
    two = montecarlo.simulate(model, "chatbot", n=2_000, seed=3)
    other = montecarlo.simulate(model, "chatbot", n=2_000, seed=4)
    np.testing.assert_array_equal(one.npv, two.npv)
    assert one.to_dict() == two.to_dict()
    assert not np.array_equal(one.npv, other.npv)


def test_to_dict_is_a_valid_results_json_roi_entry(model):
    case = montecarlo.simulate(model, "faster-releases", n=2_000)
    d = case.to_dict()
    assert tuple(d) == montecarlo.RESULTS_KEYS
    assert d["initiative"] == "faster-releases"
    assert d["npv_p10"] <= d["npv_p50"] <= d["npv_p90"]
    assert 0 <= d["prob_roi_positive"] <= 1
    schema = json.loads((config.PACKAGE_DIR / "report" / "results_schema.json").read_text())
    jsonschema.validate(d, {**schema["$defs"]["roi_row"], "$defs": schema["$defs"]})
    details = case.details()
    assert {k: details[k] for k in montecarlo.RESULTS_KEYS} == d
    assert details["sources"] == {"effect": "assumption", "link:engineer_hours_per_change": "assumption"}
    json.dumps(details)  # plain types only


def test_payback_is_none_when_most_draws_never_pay_back():
    case = montecarlo.simulate(_linear_model({"value": -0.001, "se": 0.001}), "deflect", n=1_000, seed=2)
    d = case.details()
    assert d["payback_months"] is None
    assert d["prob_payback_within_horizon"] < 0.5
    assert "not within the horizon" in case.summary().set_index("measure").loc["Payback (P50)", "value"]


def _fully_causal(model: ValueModel, key: str) -> ValueModel:
    """The model with every link of ``key`` taken as wholly causal (causal share 1)."""
    ini = model.initiative(key)
    links = tuple(lk.model_copy(update={"causal_share": value_model.ShareRange(low=1, high=1)}) for lk in ini.links)
    return model.model_copy(update={"initiatives": {**model.initiatives, key: ini.model_copy(update={"links": links})}})


def test_measured_effect_and_driver_slope_replace_stated_ones(model):
    stated = montecarlo.simulate(model, "chatbot", n=1_000)
    measured = montecarlo.simulate(
        _fully_causal(model, "chatbot"),
        "chatbot",
        effect=Effect(value=-4.0, se=0.5, source="experiment"),
        link_slopes={"churn_rate": Quantity(value=0.0015, se=0.0002)},
        n=1_000,
    )
    assert stated.sources == {"effect": "assumption", "link:churn_rate": "assumption"}
    assert measured.sources == {"effect": "experiment", "link:churn_rate": "drivers"}
    # twice the effect, same slope: twice the value per month at the central values
    assert_allclose(measured.steps.value_per_month, 2 * stated.steps.value_per_month)
    assert list(measured.chain["source"][:2]) == ["experiment", "drivers"]
    with pytest.raises(ParamsError, match="link_slopes for \\['csat'\\].*its links go to: churn_rate"):
        montecarlo.simulate(model, "chatbot", link_slopes={"csat": Quantity(value=1)})


def test_ramp_and_risk_shape_the_yearly_table(model):
    case = montecarlo.simulate(model, "self-service-portal", n=100)
    table = case.to_frame()
    benefits = table.loc["Total benefits", ["Year 1", "Year 2", "Year 3"]].to_numpy()
    # ramp 0.6, 1, 1 and a 15% benefit cut on 6,369 a month: 12 x 6,369 x 0.85 = 64,963.8 a full year
    assert_allclose(benefits, [0.6 * 64_963.8, 64_963.8, 64_963.8])
    # initial 80,000 raised 10%
    assert table.loc["Total costs", "Initial"] == pytest.approx(88_000)
    assert case.details()["investment"] == pytest.approx(table.loc["Total costs", "Present value"])
