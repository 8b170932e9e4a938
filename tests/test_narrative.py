"""Executive sentences: gains, losses, inconclusive, missing; never a false 'clear'."""

from __future__ import annotations

import math

import pytest

from outcomes.report import narrative as n
from outcomes.report.narrative import MetricChange
from outcomes.value.words import roi_sentence


def test_gain_is_called_a_clear_improvement():
    c = MetricChange("First response time", -2.0, -2.6, -1.4, unit="hours", better="down")
    assert c.verdict == "gain"
    assert n.metric_change_sentence(c) == (
        "First response time fell by 2 hours (95% interval -2.6 to -1.4 hours): a clear improvement."
    )


def test_loss_is_called_a_clear_deterioration():
    c = MetricChange("Churn", 0.004, 0.001, 0.007, unit="rate", better="down")
    assert c.verdict == "loss"
    assert n.metric_change_sentence(c) == "Churn rose by 0.4 pp (95% interval +0.1 pp to +0.7 pp): a clear deterioration."


def test_baseline_is_stated_in_levels():
    c = MetricChange("CSAT", 0.021, 0.008, 0.034, unit="rate", baseline=0.78)
    assert n.metric_change_sentence(c).startswith("CSAT rose by 2.1 pp from 78% (95% interval +0.8 pp to +3.4 pp)")


@pytest.mark.parametrize(
    "change",
    [
        MetricChange("CSAT", 0.03, -0.001, 0.061, unit="rate"),  # large estimate, interval spans zero
        MetricChange("CSAT", -0.004, -0.012, 0.004, unit="rate"),
        MetricChange("CSAT", 0.0, -0.01, 0.01, unit="rate"),
        MetricChange("CSAT", 0.03, 0.0, 0.06, unit="rate"),  # touches zero: not clear
    ],
)
def test_interval_spanning_zero_is_never_called_clear(change):
    text = n.metric_change_sentence(change)
    assert change.verdict == "inconclusive"
    assert "inconclusive" in text
    assert "clear" not in text and "significant" not in text


def test_no_interval_is_never_called_clear():
    c = MetricChange("NPS", 3.0)
    assert not c.is_clear
    assert n.metric_change_sentence(c) == "NPS rose by 3 (no interval available), so it cannot be called a clear change."


def test_missing_data_is_said_plainly():
    assert n.metric_change_sentence(MetricChange("NPS", None, reason_missing="no survey answers in the treated regions")) == (
        "NPS: not available (no survey answers in the treated regions)."
    )
    assert n.metric_change_sentence(MetricChange("NPS", math.nan)) == "NPS: not available (no data for this period)."


def test_balance_metric_change_is_neither_gain_nor_loss():
    c = MetricChange("Cost per ticket", 3.0, 1.0, 5.0, unit="money", better="balance")
    assert n.metric_change_sentence(c).endswith(": a clear change.")


ROI = {"npv_p50": 1.2e6, "npv_p10": 3e5, "npv_p90": 2.0e6, "prob_roi_positive": 0.87, "roi_p50": 1.4, "payback_months": 13.6}


def test_roi_sentence_always_states_uncertainty():
    assert roi_sentence(ROI) == (
        "NPV EUR 1.2m (P10 EUR 0.3m to P90 EUR 2.0m); 87% chance ROI is positive; median ROI 140%, "
        "payback in 14 months. Whether it pays off is uncertain."
    )


def test_roi_sentence_for_losses_gains_and_missing():
    loss = {"npv_p50": -2e5, "npv_p10": -5e5, "npv_p90": -4e4, "prob_roi_positive": 0.02, "payback_months": None}
    assert roi_sentence(loss) == (
        "NPV -EUR 200k (P10 -EUR 500k to P90 -EUR 40k); 2% chance ROI is positive; payback not within the horizon. "
        "It is likely to lose money."
    )
    gain = {**ROI, "prob_roi_positive": 0.97}
    assert roi_sentence(gain).endswith("It is likely to pay off.")
    assert roi_sentence(None) == "Value not available: no investment case has been computed."
    assert roi_sentence({"npv_p50": math.nan}) == "Value not available: no investment case has been computed."


def test_value_chain_sentence_and_metric_units():
    assert n.unit_for_metric("churn_rate") == "rate"
    assert n.unit_for_metric("first_response_mean_hours") == "hours"
    assert n.unit_for_metric("outage_minutes") == "minutes"
    assert n.unit_for_metric("clv") == "money"
    assert n.unit_for_metric("ticket_volume") == "number"
    text = n.value_chain_sentence(
        [n.ChainStep("first_response_mean_hours", -2.0, "hours"), n.ChainStep("churn_rate", -0.003, "rate")],
        units_per_month=28.95,
        unit_label="customers kept",
        unit_value=2562.18,
        value_per_month=74_175.0,
    )
    assert text == (
        "First response, mean -2 hours -> Churn rate -0.3 pp -> 29 customers kept per month "
        "x EUR 2.6k = EUR 74k per month"
    )
    outside = n.value_chain_sentence([n.ChainStep("tickets_per_customer", -0.023)], 464, "tickets prevented", 22.0, 10_208.0)
    assert outside.startswith("Tickets per customer -0.023 -> 464 tickets prevented per month")
