"""One decision vocabulary, one executive wording, one recommendation per initiative; one name from the register."""

from __future__ import annotations

import math

import pytest

from outcomes import config
from outcomes.experiment.decision import decision_interval
from outcomes.experiment.results import ACTIONS, Decision
from outcomes.report import investment
from outcomes.value.recommendation import COSTS_FIRST, WORDS, from_results, recommend


def test_every_action_of_the_vocabulary_has_one_executive_wording():
    assert tuple(WORDS) == ACTIONS == ("ship", "keep testing", "stop")
    assert [recommend(a).text for a in ACTIONS] == ["roll out", "keep testing", "stop"]
    with pytest.raises(ValueError, match="'do_not_ship' is not one of the decision vocabulary"):
        recommend("do_not_ship")


def test_a_clear_effect_whose_case_is_unlikely_to_pay_off_is_rolled_out_only_after_cutting_costs():
    weak = recommend("ship", 0.32)
    assert weak.text == f"roll out {COSTS_FIRST}" and weak.reason == "the effect is clear but the case is not"
    assert weak.clause("Faster releases") == "roll out Faster releases only after cutting its costs"
    assert recommend("ship", 0.5).text == "roll out" and recommend("ship", math.nan).text == "roll out"
    # only a ship is qualified by its case, unless the case is settled whatever the test shows: an open test
    # whose case has under 5% chance of paying off is stopped (tests/test_what_would_change.py)
    assert recommend("keep testing", 0.2).text == "keep testing" and recommend("stop", 0.9).text == "stop"
    assert recommend("keep testing", 0.01).text == "stop"
    assert recommend(None).text == "no decision yet"
    assert recommend(None).clause("Portal") == "decide on Portal once it is evaluated"


def test_pages_after_the_roi_page_read_the_chance_from_its_rows():
    roi = [{"initiative": "a", "prob_roi_positive": 0.2}, {"initiative": "b", "prob_roi_positive": 0.9}]
    assert from_results("a", "ship", roi).text == "roll out only after cutting its costs"
    assert from_results("b", "ship", roi).text == "roll out"
    assert from_results("c", "ship", roi).text == "roll out"  # no case: the decision alone


def test_the_decision_interval_is_the_anytime_valid_one_when_there_is_one():
    assert decision_interval(0.05, 0.08, 0.04, 0.09) == (0.04, 0.09, True)
    assert decision_interval(0.05, 0.08, None, None) == (0.05, 0.08, False)
    assert decision_interval(0.05, 0.08, 0.04, 0.09, "fixed") == (0.05, 0.08, False)


def test_grounds_drop_the_action_the_reason_ends_with():
    d = Decision("ship", "The portal raised self-service (+6 pp, 95% CI +4 to +8 pp); no guardrail got worse; ship.")
    assert d.grounds() == "The portal raised self-service (+6 pp, 95% CI +4 to +8 pp); no guardrail got worse."


def test_the_value_model_in_a_run_names_each_initiative_as_the_register_does():
    names = investment.register_names()
    assert names["chatbot"] == "Virtual agent for customer tickets"
    model = investment.load_model(config.project().params_dir / "value.yaml")
    assert {k: ini.name for k, ini in model.initiatives.items()} == {k: names[k] for k in model.initiatives}
