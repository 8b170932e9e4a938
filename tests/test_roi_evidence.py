"""The value model claims no more than its evidence: grades, causal share, direct measurement,
extrapolation as a scenario, the TEI horizon and plausibility bounds (small models, hand numbers)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from outcomes.params import validate
from outcomes.report import investment, results, value_charts
from outcomes.value import horizon, montecarlo, plausibility
from outcomes.value.evidence import GRADES, combine_outcome, weakest
from outcomes.value.model import Effect, Quantity, ValueModel
from outcomes.value.words import roi_sentence

DOC = Path(__file__).resolve().parents[1] / "docs" / "results-schema.md"
SEED = 11


def _churn_model(link: dict | None = None, **initiative: object) -> ValueModel:
    """One churn chain on one segment (1,000 customers, CLV 100 fixed, churn 2% a month), fixed inputs."""
    chain = {
        "name": "Chatbot",
        "metric": "first_response_mean_hours",
        "effect": {"value": -2.0},
        "links": [{"to": "churn_rate", "per_unit": 0.001, "source": "assumption", **(link or {})}],
        "money": "churn_avoided",
        "population": {"description": "customers", "segments": ["all"]},
        "costs": {"initial": 10_000, "recurring_monthly": 500},
        **initiative,
    }
    return validate(
        ValueModel,
        {
            "inputs": {
                "cost_per_ticket": 20,
                "agent_hourly_rate": 40,
                "employee_hourly_rate": 60,
                "outage_revenue_per_minute": 500,
                "revenue_per_conversion": 100,
                "conversion_margin": 0.3,
                "service_desk_yearly_cost": 1_000,
            },
            "segments": {"all": {"customers": 1000, "arpu_monthly": 4, "gross_margin": 0.5, "churn_rate": 0.02, "clv": 100}},
            "initiatives": {"chatbot": chain},
        },
        "test model",
    )


# --------------------------------------------------------------------------- 1. grades


def test_every_link_and_case_has_a_grade_from_the_one_enum():
    assert GRADES == ("measured", "chained", "associational", "assumed")
    stated = montecarlo.simulate(_churn_model(), "chatbot", n=200, seed=SEED)
    assert stated.grades == {"effect": "assumed", "link:churn_rate": "assumed"} and stated.grade == "assumed"
    drivers = montecarlo.simulate(
        _churn_model(),
        "chatbot",
        effect=Effect(value=-1.0, se=0.2, source="experiment"),
        link_slopes={"churn_rate": Quantity(value=0.001, se=0.0002)},
        n=200,
        seed=SEED,
    )
    assert drivers.grades == {"effect": "measured", "link:churn_rate": "associational"}
    assert drivers.grade == "associational"
    experiment_link = _churn_model({"source": "experiment"})
    chained = montecarlo.simulate(experiment_link, "chatbot", effect=Effect(value=-1.0, source="experiment"), n=200)
    assert chained.grade == "chained"
    assert weakest(["measured", "chained"]) == "chained" and weakest([]) == "assumed"
    assert drivers.details()["evidence"] == "associational"
    assert drivers.details()["evidence_by_step"] == drivers.grades


def test_the_documented_grades_are_the_enum_and_the_schema():
    doc = DOC.read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `evidence` |"))
    assert tuple(re.findall(r"`([^`]+)`", row.split("|")[2])) == GRADES
    assert tuple(results.schema()["$defs"]["evidence_grade"]["enum"]) == GRADES


def test_the_sentence_says_the_grade_and_no_near_certainty_from_an_association():
    entry = {"npv_p50": 7.4e6, "npv_p10": 5e6, "npv_p90": 9e6, "prob_roi_positive": 0.995, "evidence": "associational"}
    text = roi_sentence(entry)
    assert "rests on an association, not proof of cause" in text
    assert "It is likely to pay off." not in text and "only if what it rests on holds" in text
    measured = roi_sentence({**entry, "evidence": "measured"})
    assert "It is likely to pay off." in measured and "own measurement" in measured


# --------------------------------------------------------------------------- 2. causal share, direct measurement


def test_an_associational_link_draws_its_causal_share_on_top_of_the_slope():
    """Effect and slope fixed, CLV fixed: value per month / its value at share 1 is the share, uniform on [0.2, 0.6]."""
    model = _churn_model({"causal_share": {"low": 0.2, "high": 0.6}})
    slope = {"churn_rate": Quantity(value=0.001)}
    case = montecarlo.simulate(model, "chatbot", link_slopes=slope, n=20_000, seed=SEED)
    full = 2.0 * 0.001 * 1000 * 100  # -effect x slope x customers x CLV at share 1 = 200 a month
    share = case.value_per_month / full
    assert 0.2 <= share.min() and share.max() <= 0.6
    assert stats.kstest(share, stats.uniform(0.2, 0.4).cdf).pvalue > 0.01
    assert float(case.steps.value_per_month) == pytest.approx(0.4 * full)
    # a stated (assumed) slope takes no causal share
    stated = montecarlo.simulate(model, "chatbot", n=200, seed=SEED)
    assert_allclose(stated.value_per_month, full)


def test_agreeing_estimates_are_weighted_by_precision_by_hand():
    """Chained N(-0.001, 0.0005), direct -0.002 with se 0.001: z = 0.001 / sqrt(1.25e-6) = 0.894 < 1.96;
    w = 2.5e-7 / 1.25e-6 = 0.2; mean = 0.8 x -0.001 + 0.2 x -0.002 = -0.0012; sd = sqrt(1 / (4e6 + 1e6)) = 4.472e-4."""
    z = stats.norm.ppf((np.arange(200_000) + 0.5) / 200_000)  # exact quantiles: mean 0, sd ~1
    chained, direct = -0.001 + 0.0005 * z / z.std(), -0.002 + 0.001 * np.random.default_rng(SEED).permutation(z)
    draws, ev = combine_outcome(chained, direct, -0.002, 0.001)
    assert ev.how == "combined"
    assert ev.weight_direct == pytest.approx(0.2, rel=1e-9)
    assert ev.z == pytest.approx(0.894427, rel=1e-5)
    assert ev.mean == pytest.approx(-0.0012, rel=1e-9)
    assert draws.mean() == pytest.approx(-0.0012, rel=1e-3)
    assert draws.std() == pytest.approx(4.472136e-4, rel=1e-2)


def test_estimates_that_disagree_leave_the_measurement_alone():
    """Direct +0.003: z = 0.004 / sqrt(1.25e-6) = 3.58 > 1.96, so the value uses the measurement alone."""
    rng = np.random.default_rng(SEED)
    chained, direct = rng.normal(-0.001, 0.0005, 50_000), rng.normal(0.003, 0.001, 50_000)
    draws, ev = combine_outcome(chained, direct, 0.003, 0.001)
    assert ev.how == "direct" and ev.weight_direct == 1.0 and ev.z == pytest.approx(3.58, abs=0.05)
    assert draws is direct
    assert combine_outcome(chained, None, None, None)[1].how == "chained"


def test_a_direct_measurement_enters_the_case_and_a_disagreeing_one_makes_it_measured():
    model = _churn_model({"causal_share": {"low": 0.0, "high": 0.5}})
    slopes = {"churn_rate": Quantity(value=0.001, se=0.0001)}
    effect = Effect(value=-2.0, se=0.1, source="experiment")
    agree = montecarlo.simulate(
        model,
        "chatbot",
        effect=effect,
        link_slopes=slopes,
        n=4_000,
        seed=SEED,
        outcome_measured=Effect.from_ci(-0.0005, -0.0035, 0.0025),
    )
    assert agree.outcome.how == "combined" and agree.grade == "associational"
    assert agree.grades["outcome"] == "measured"
    # central outcome = (1 - w) x chained + w x direct, chained = -2 x 0.001 x 0.25 (mean causal share)
    w = agree.outcome.weight_direct
    assert float(agree.steps.outcome_change) == pytest.approx((1 - w) * -0.0005 + w * -0.0005)
    disagree = montecarlo.simulate(
        model,
        "chatbot",
        effect=effect,
        link_slopes=slopes,
        n=4_000,
        seed=SEED,
        outcome_measured=Effect.from_ci(0.004, 0.003, 0.005),
    )
    assert disagree.outcome.how == "direct" and disagree.grade == "measured"
    assert float(disagree.steps.outcome_change) == pytest.approx(0.004)


# --------------------------------------------------------------------------- 3. extrapolation


def test_the_base_case_is_the_measured_population_and_all_units_a_scenario():
    measured = _churn_model(population={"description": "customers", "segments": ["all"], "measured_share": 0.4})
    base = montecarlo.simulate(measured, "chatbot", n=200, seed=SEED)
    everyone = montecarlo.simulate(measured, "chatbot", n=200, seed=SEED, extrapolate=True)
    assert float(base.steps.population) == pytest.approx(400) and float(everyone.steps.population) == 1000
    assert_allclose(base.value_per_month, 0.4 * everyone.value_per_month)
    assert not base.extrapolated and everyone.extrapolated
    stated = _churn_model(population={"description": "customers", "segments": ["all"], "measured_share": 0.4}, extrapolate=True)
    assert float(montecarlo.simulate(stated, "chatbot", n=200).steps.population) == 1000


# --------------------------------------------------------------------------- 4. horizon


def test_a_kept_customer_counts_inside_the_horizon_by_hand():
    """Churn 2% a month, 3 years: year 1 share = 1 - (1/12) sum_{n=25..36} 0.98^n = 1 - 0.98^25 (1 - 0.98^12) / 0.24."""
    share = horizon.share_inside(0.02, 3)
    by_hand = [1 - 0.98**k * (1 - 0.98**12) / 0.24 for k in (25, 13, 1)]
    assert_allclose(share[0], by_hand, rtol=1e-12)
    assert_allclose(share[0], [0.45868, 0.31018, 0.12093], atol=5e-5)
    case = montecarlo.simulate(_churn_model(), "chatbot", n=200, seed=SEED)
    # 2 hours x 0.001 x 1,000 customers = 2 kept a month, CLV 100: 2,400 a year at full CLV
    benefits = case.point.benefits["Value of customers kept"]
    assert_allclose(benefits[1:], 2400 * np.array(by_hand), rtol=1e-9)
    beyond = 2400 * (1 - np.array(by_hand)) / 1.1 ** np.arange(1, 4)
    assert case.details()["pv_beyond_horizon_p50"] == pytest.approx(beyond.sum())


# --------------------------------------------------------------------------- 5. plausibility


def test_a_benefit_larger_than_its_pool_is_flagged():
    assert plausibility.Bound("service_desk_cost", 1_000, 1_500).flagged
    assert not plausibility.Bound("service_desk_cost", 1_000, 900).flagged
    with pytest.raises(ValueError, match="unknown plausibility pool"):
        plausibility.check(1.0, {"marketing": 1.0})
    desk = _churn_model(cost_base="service_desk")
    case = montecarlo.simulate(desk, "chatbot", n=200, seed=SEED)
    bounds = {b["pool"]: b for b in case.details()["plausibility"]}
    # largest yearly benefit 2,400 x 0.45868 = 1,101 > the desk's 1,000; churn puts 1,000 x 2% x 12 x 100 = 24,000 at risk
    assert bounds["service_desk_cost"]["flagged"] and bounds["service_desk_cost"]["benefit_yearly"] == pytest.approx(1100.84, rel=1e-5)
    assert bounds["revenue_at_risk"]["pool_yearly"] == pytest.approx(24_000) and not bounds["revenue_at_risk"]["flagged"]
    assert "service_desk_cost" not in {b.pool for b in montecarlo.simulate(_churn_model(), "chatbot", n=200).bounds}


def test_the_waterfall_says_what_the_value_rests_on():
    case = montecarlo.simulate(_churn_model(), "chatbot", n=200, seed=SEED)
    subtitle = value_charts.waterfall_chart(case).to_dict()["title"]["subtitle"]
    assert subtitle[-1] == "This value rests on stated assumptions, not measurements."


def test_caveats_name_the_grade_the_implausible_benefit_and_the_scenario():
    model = _churn_model(cost_base="service_desk")
    case = montecarlo.simulate(model, "chatbot", n=200, seed=SEED)
    row = {
        "initiative": "chatbot",
        **investment.case_evidence(case),
        "scenario_all_units": {"npv_p50": 1.0, "npv_p10": 0.0, "npv_p90": 2.0, "prob_roi_positive": 0.6},
    }
    text = " ".join(investment.grade_caveats(model, [row]))
    assert "The value of Chatbot rests on stated assumptions, not measurements" in text
    assert "Implausible: Chatbot's yearly benefit (EUR 1.1k) is larger than the service desk's whole yearly cost" in text
    assert "applying it to all customers is shown as a separate scenario" in text
