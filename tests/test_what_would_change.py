"""What would change a recommendation, and by when: the test's remaining plan and the break-even running cost."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes.experiment import InitiativeSpec, analyze_table
from outcomes.experiment.randomized.power import plan
from outcomes.periods import Month
from outcomes.report.review import remaining_test
from outcomes.value import finance, montecarlo
from outcomes.value.recommendation import CASE_DECIDES, SETTLED, from_results, recommend, settled_case, what_would_change


def _spec(**extra: object) -> InitiativeSpec:
    doc = {
        "id": "pilot",
        "name": "Pilot",
        "design": "randomized",
        "data": {"table": "pilot.csv", "unit": None, "arm": "arm", "control": "A"},
        "metrics": [{"column": "y", "kind": "mean", "role": "primary", "mde": 0.5}],
        **extra,
    }
    return InitiativeSpec.model_validate(doc)


def _table(n_per_arm: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "arm": ["A"] * n_per_arm + ["B"] * n_per_arm,
        "y": np.concatenate([rng.normal(10, 2, n_per_arm), rng.normal(10.1, 2, n_per_arm)]),
    })


def test_break_even_running_cost_makes_the_npv_zero() -> None:
    pv_b, initial, years, rate, risk = 500_000.0, 80_000.0, 3, 0.10, 0.10
    m = finance.break_even_monthly_cost(pv_b, initial * (1 + risk), years, rate, risk)
    _, costs = montecarlo.yearly_flows(0.0, initial, m, (1.0,) * years)
    case = finance.tei([0.0] * (years + 1), costs, rate=rate, cost_risk=risk)
    assert_allclose(pv_b - case.pv_costs, 0.0, atol=1e-6)


def test_break_even_needs_a_year_of_running_costs() -> None:
    with pytest.raises(Exception, match="at least one year"):
        finance.break_even_monthly_cost(1.0, 0.0, 0)


def test_a_clear_effect_with_a_negative_case_says_stop_or_cut_its_cost() -> None:
    rec = recommend("ship", 0.2, break_even_monthly_cost=12_400.0)
    assert rec.text == "roll out only after cutting its costs"
    assert rec.change == "stop, or cut its cost below EUR 12k a month"
    never = recommend("ship", 0.01, break_even_monthly_cost=-3_000.0).change
    assert never.startswith("stop: even with no running cost")


def test_a_case_that_pays_off_or_a_stop_has_nothing_to_change() -> None:
    assert recommend("ship", 0.9, break_even_monthly_cost=12_400.0).change == ""
    assert recommend("stop", 0.1, break_even_monthly_cost=12_400.0).change == ""
    assert what_would_change("keep testing", True) == ""


def test_an_inconclusive_test_says_how_many_more_units_and_around_when() -> None:
    rec = recommend("keep testing", 0.3, more_units=4_200, by_month="March 2026")
    assert rec.change == "keep testing until about 4,200 more units, around March 2026"
    assert what_would_change("keep testing", False, more_units=10) == "keep testing until about 10 more units"
    assert "next monthly look" in what_would_change("keep testing", False, more_units=0)


def test_an_open_test_whose_case_is_settled_says_the_case_decides_it() -> None:
    # the demo portal: its test has its planned units, its case under 1% chance of a positive ROI
    stop = recommend("keep testing", 0.004, more_units=0)
    # the case decides: stop, although the decision rule's own action is still "keep testing"
    assert stop.text == "stop" and stop.action == "keep testing" and stop.change == CASE_DECIDES["fails"]
    assert "next monthly look" not in stop.change and "would not pay off" in stop.change
    assert recommend("keep testing", 0.97, more_units=4_200, by_month="March 2026").change == CASE_DECIDES["pays"]
    # an open case leaves the test's plan in charge; a settled case does not touch a test that is settled
    assert "next monthly look" in recommend("keep testing", SETTLED, more_units=0).change
    assert recommend("keep testing", 1 - SETTLED, more_units=10).change == "keep testing until about 10 more units"
    assert recommend("stop", 0.001).change == "" and recommend("ship", 0.99, break_even_monthly_cost=1.0).change == ""
    assert [settled_case(p) for p in (0.049, 0.05, 0.95, 0.951, math.nan, None)] == ["fails", None, None, "pays", None, None]


def test_pages_after_the_roi_page_read_what_would_change_from_its_row() -> None:
    row = {"initiative": "p", "prob_roi_positive": 0.2, "what_would_change": "stop, or cut its cost below EUR 1k a month"}
    assert from_results("p", "ship", [row]).change == row["what_would_change"]
    assert from_results("p", "ship", [{**row, "what_would_change": None}]).change == ""
    assert from_results("q", "ship", [row]).change == ""


def test_the_remaining_plan_counts_the_units_still_needed_and_the_month_they_arrive() -> None:
    spec = _spec(units_per_month=100)
    table = _table()
    result = analyze_table(table, spec)
    e = result.primary[0]
    sd = math.sqrt(e.se_abs**2 / (1 / e.n_control + 1 / e.n_treatment))
    full = plan(0.5, sd, 0.05, 0.8, 2, 1.0, 100.0)
    left = remaining_test(spec, result, "2025-12")
    assert left is not None and left.more_units == full.n_total - len(table) > 0
    assert left.by_month == (Month.parse("2025-12") + math.ceil(left.more_units / 100)).label
    assert remaining_test(_spec(), result, "2025-12").by_month is None  # no monthly intake: no month


def test_no_plan_without_a_minimum_worthwhile_effect() -> None:
    spec = _spec()
    bare = spec.model_copy(update={"metrics": [spec.metrics[0].model_copy(update={"mde": None})]})
    assert remaining_test(bare, analyze_table(_table(), bare), "2025-12") is None
