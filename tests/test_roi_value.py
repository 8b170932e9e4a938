"""The value model: params/value.yaml, quantities, warehouse inputs and the chain to money."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.params import validate
from outcomes.value import model as value_model
from outcomes.value.model import Effect, Quantity, ValueInputs, ValueModel


@pytest.fixture(scope="module")
def model() -> ValueModel:
    return value_model.load_value_model(config.project().params_dir / "value.yaml")


def test_value_yaml_validates_and_names_its_sources(model):
    assert model.currency == "EUR" and model.horizon_years == 3 and model.discount_rate == 0.10
    assert set(model.initiatives) == {"self-service-portal", "chatbot", "faster-releases", "priority-routing"}
    text = (config.project().params_dir / "value.yaml").read_text()
    for key in ("cost_per_ticket", "agent_hourly_rate", "employee_hourly_rate", "outage_revenue_per_minute"):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{key}:"))
        above = text[: text.index(line)].splitlines()[-1]
        assert above.strip().startswith("#"), f"{key} needs a comment saying where it comes from"


def test_unknown_key_names_file_key_and_valid_keys(tmp_path):
    path = tmp_path / "value.yaml"
    text = (config.project().params_dir / "value.yaml").read_text().replace("discount_rate:", "discount_rte:")
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"value.yaml: unknown key 'discount_rte' \(did you mean 'discount_rate'\?\)"):
        value_model.load_value_model(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"value": 1, "low": 3, "high": 2}, "must not exceed"),
        ({"value": 5, "low": 1, "high": 2}, "must lie within"),
        ({"value": 1, "low": 0}, "needs both low and high"),
        ({"value": 1, "distribution": "normal"}, "needs se"),
        ({"value": 1, "se": 0.1, "distribution": "fixed"}, "takes no se"),
    ],
)
def test_quantity_rules(raw, message):
    with pytest.raises(ParamsError, match=message):
        validate(Quantity, raw, "test")


def test_quantity_distributions_are_inferred_and_sampled():
    rng = np.random.default_rng(1)
    assert validate(Quantity, {"value": 22}, "t").kind == "fixed"
    assert Quantity.model_validate(22).value == 22
    tri = Quantity(value=2, low=1, high=6)
    assert tri.kind == "triangular"
    # triangular mean = (1 + 2 + 6) / 3 = 3
    assert_allclose(tri.sample(rng, 200_000).mean(), 3.0, atol=0.02)
    uni = Quantity(value=2, low=1, high=3, distribution="uniform")
    draws = uni.sample(rng, 200_000)
    assert draws.min() >= 1 and draws.max() <= 3
    assert_allclose(draws.mean(), 2.0, atol=0.01)
    # normal from a 95% interval: sd = (high - low) / (2 x 1.959964) = 2 / 3.919928 = 0.510214
    eff = Effect.from_ci(-2.0, -3.0, -1.0)
    assert eff.kind == "normal" and eff.source == "experiment" and eff.origin == "experiment"
    assert_allclose(eff.sd, 0.510214, atol=1e-6)
    assert_allclose(eff.sample(rng, 200_000).std(), 0.510214, rtol=0.01)


def test_simple_clv():
    # 35 a month x 40% margin / 2% monthly churn = 14 / 0.02 = 700
    assert_allclose(value_model.simple_clv(35, 0.40, 0.02), 700.0)
    with pytest.raises(ParamsError, match="churn_rate must be above 0"):
        value_model.simple_clv(35, 0.4, 0.0)


def test_warehouse_inputs_replace_stated_numbers(model):
    updated = value_model.with_inputs(
        model, ValueInputs(cost_per_ticket=11.0, clv_by_segment={"smb": 4000.0}, customers_by_segment={"consumer": 100})
    )
    cpt = updated.inputs.cost_per_ticket
    # stated 22 in [15, 30]; halved to 11 keeps the relative range: [7.5, 15]
    assert (cpt.value, cpt.low, cpt.high, cpt.origin) == (11.0, 7.5, 15.0, "warehouse")
    assert updated.segments["smb"].clv_quantity().value == 4000.0
    assert updated.segments["smb"].clv_quantity().origin == "warehouse"
    assert updated.segments["consumer"].customers == 100
    assert value_model.with_inputs(model, None) is model
    with pytest.raises(ParamsError, match="unknown segment.*'retail'.*consumer, smb, enterprise"):
        value_model.with_inputs(model, ValueInputs(customers_by_segment={"retail": 5}))


def test_chatbot_chain_hand_worked(model):
    q = value_model.chain_quantities(model, "chatbot")
    steps = value_model.chain_value(model, "chatbot", {k: v.value for k, v in q.items()})
    # -2 hours x 0.0015 churn per hour = -0.003 churn per month
    assert_allclose(steps.outcome_change, -0.003)
    # customers 8,000 + 1,500 + 150 = 9,650; kept per month = 0.003 x 9,650 = 28.95
    assert_allclose(steps.units_per_month, 28.95)
    # CLV 700, 5,250, 75,000 weighted by churners (customers x churn rate):
    # 8,000 x 0.020 = 160, 1,500 x 0.012 = 18, 150 x 0.006 = 0.9; 178.9 churners a month
    # (160 x 700 + 18 x 5,250 + 0.9 x 75,000) / 178.9 = 274,000 / 178.9 = 1,531.58
    assert_allclose(steps.unit_value, 274_000 / 178.9)
    # money per month = 28.95 x 274,000 / 178.9 = 44,339.30
    assert_allclose(steps.value_per_month, 28.95 * 274_000 / 178.9)
    assert_allclose(steps.value_per_month, 44_339.30, atol=0.01)


def test_portal_chain_and_signs(model):
    q = value_model.chain_quantities(model, "self-service-portal")
    assert set(q) == {"effect", "cost_per_ticket", "cost:initial", "cost:recurring_monthly"}
    steps = value_model.chain_value(model, "self-service-portal", {k: v.value for k, v in q.items()})
    # -0.03 tickets per customer-month x 9,650 customers = 289.5 tickets prevented x 22 = 6,369
    assert_allclose(steps.units_per_month, 289.5)
    assert_allclose(steps.value_per_month, 6_369.0)
    # more tickets per customer is a cost, not a gain
    worse = value_model.chain_value(model, "self-service-portal", {**{k: v.value for k, v in q.items()}, "effect": 0.03})
    assert_allclose(worse.value_per_month, -6_369.0)


def _initiative(**over):
    base = {
        "name": "x",
        "metric": "conversion_rate",
        "effect": {"value": 0.01},
        "money": "conversions_gained",
        "population": {"description": "visits per month", "count": 10_000},
        "costs": {"initial": 0, "recurring_monthly": 0},
    }
    return {**base, **over}


def test_conversions_rise_is_a_gain_and_rules_are_checked(model):
    data = model.model_dump()
    data["initiatives"] = {"checkout": _initiative()}
    m = validate(ValueModel, data, "test")
    q = value_model.chain_quantities(m, "checkout")
    steps = value_model.chain_value(m, "checkout", {k: v.value for k, v in q.items()})
    # +1 pp of 10,000 visits = 100 conversions x 120 revenue x 35% margin = 4,200
    assert_allclose(steps.value_per_month, 4_200.0)
    data["initiatives"] = {"checkout": _initiative(money="hours_saved")}
    with pytest.raises(ParamsError, match="hours_saved needs rate"):
        validate(ValueModel, data, "test")
    data["initiatives"] = {"checkout": _initiative(money="churn_avoided")}
    with pytest.raises(ParamsError, match="churn_avoided needs population.segments"):
        validate(ValueModel, data, "test")
    data["initiatives"] = {"checkout": _initiative(ramp=[0.5, 1.0])}
    with pytest.raises(ParamsError, match="ramp has 2 values, horizon_years is 3"):
        validate(ValueModel, data, "test")
    with pytest.raises(ParamsError, match="initiative 'nope' is not in the value model; initiatives are: checkout"):
        m.initiative("nope")
