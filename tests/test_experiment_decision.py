"""The one decision rule: actions and the wording of their reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from outcomes.experiment.decision import clear_direction, combine, decide, within_margin
from outcomes.experiment.results import EMPTY_ARM, SAMPLE_RATIO_MISMATCH, Condition, MetricEffect


def effect(
    est: float,
    low: float,
    high: float,
    *,
    p: float,
    control: float = 0.21,
    metric: str = "self_service_rate",
    role: str = "primary",
    direction: str = "higher",
    arm: str = "portal",
    seq: tuple[float, float] = (math.nan, math.nan),
    **kw,
) -> MetricEffect:
    return MetricEffect(
        metric=metric, arm=arm, control_arm="control", role=role, kind="proportion", direction=direction,
        unit="fraction", control_mean=control, treatment_mean=control + est, n_control=5000, n_treatment=5000,
        estimate_abs=est, ci_low=low, ci_high=high, p_value=p, p_value_adjusted=p,
        seq_ci_low=seq[0], seq_ci_high=seq[1], **kw,
    )


GAIN = effect(0.06, 0.04, 0.082, p=1e-8)
CSAT_FLAT = effect(0.001, -0.01, 0.012, p=0.8, metric="csat", role="guardrail", control=0.80)


def test_gain_ships_with_numbers_in_the_sentence():
    d = decide(GAIN, [CSAT_FLAT], subject="The portal")
    assert d.action == "ship"
    assert d.reason == (
        "The portal raised self service rate from 21.0% to 27.0% (+6.0 pp, 95% CI +4.0 to +8.2 pp); "
        "no guardrail got worse; ship."
    )
    assert d.arm == "portal"


def test_loss_stops():
    loss = effect(-0.03, -0.05, -0.01, p=0.003)
    d = decide(loss, [CSAT_FLAT])
    assert d.action == "stop"
    assert d.reason == (
        "The portal arm lowered self service rate from 21.0% to 18.0% (-3.0 pp, 95% CI -5.0 to -1.0 pp), "
        "a change for the worse; stop."
    )


def test_lower_is_better_metric_reads_a_drop_as_a_gain():
    faster = effect(-2.0, -3.0, -1.0, p=1e-4, metric="first_response_mean_hours", direction="lower", control=10.0)
    faster = MetricEffect(**{**faster.__dict__, "unit": "hours"})
    d = decide(faster, subject="The chatbot")
    assert d.action == "ship"
    assert d.reason.startswith("The chatbot lowered first response mean hours from 10.0 hours to 8.00 hours (-2.00 hours")
    assert "no guardrail metrics were set; ship." in d.reason


def test_inconclusive_keeps_testing_and_never_claims_an_effect():
    flat = effect(0.004, -0.01, 0.018, p=0.6)
    d = decide(flat, [CSAT_FLAT])
    assert d.action == "keep testing"
    assert d.reason.endswith("which does not yet rule out no change; keep testing.")
    assert "significant" not in d.reason


def test_inconclusive_inside_mde_stops():
    tight = effect(0.001, -0.004, 0.006, p=0.7)
    d = decide(tight, [CSAT_FLAT], mde=0.02)
    assert d.action == "stop"
    assert "rules out an effect as large as the minimum worthwhile 2.0 pp; stop." in d.reason


def test_guardrail_harm_stops():
    harm = effect(-0.03, -0.045, -0.015, p=1e-4, metric="csat", role="guardrail", control=0.80)
    d = decide(GAIN, [harm], subject="The portal")
    assert d.action == "stop"
    assert d.reason == (
        "The portal raised self service rate from 21.0% to 27.0% (+6.0 pp, 95% CI +4.0 to +8.2 pp); "
        "but csat (-3.0 pp, 95% CI -4.5 to -1.5 pp) got worse; stop."
    )


def test_guardrail_not_shown_within_margin_keeps_testing():
    wide = effect(-0.01, -0.03, 0.01, p=0.33, metric="csat", role="guardrail", control=0.80,
                  margin=0.01, p_value_noninferiority=0.5)
    d = decide(GAIN, [wide])
    assert d.action == "keep testing"
    assert "csat (-1.0 pp, 95% CI -3.0 to +1.0 pp) is not yet shown to be worse by less than its margin of 1.0 pp" in d.reason
    shown = MetricEffect(**{**wide.__dict__, "p_value_noninferiority": 0.01})
    assert within_margin(shown, "fixed") is True
    assert decide(GAIN, [shown]).action == "ship"


def test_srm_stops_whatever_the_effect():
    srm = Condition(SAMPLE_RATIO_MISMATCH, "The arm sizes differ from the planned split (52.0% vs 48.0%)", "stop")
    d = decide(GAIN, [CSAT_FLAT], [srm])
    assert d.action == "stop"
    assert d.reason == "The arm sizes differ from the planned split (52.0% vs 48.0%); stop."
    assert d.codes == (SAMPLE_RATIO_MISMATCH,)


def test_empty_arm_keeps_testing_and_stop_beats_keep_testing():
    empty = Condition(EMPTY_ARM, "The 'portal' arm has no units yet", "keep testing")
    assert decide(GAIN, [], [empty]).action == "keep testing"
    srm = Condition(SAMPLE_RATIO_MISMATCH, "Mismatch", "stop")
    d = decide(GAIN, [], [empty, srm])
    assert d.action == "stop" and set(d.codes) == {EMPTY_ARM, SAMPLE_RATIO_MISMATCH}


def test_interval_and_adjusted_p_must_both_agree():
    # interval excludes zero but the family-adjusted p-value does not pass: not a clear effect
    disagree = MetricEffect(**{**GAIN.__dict__, "p_value_adjusted": 0.08})
    assert clear_direction(disagree, "fixed") == 0
    assert decide(disagree, [CSAT_FLAT]).action == "keep testing"


def test_sequential_interval_is_used_when_available():
    seq_wide = effect(0.03, 0.005, 0.055, p=0.02, seq=(-0.004, 0.064))
    d = decide(seq_wide, [CSAT_FLAT])
    assert d.action == "keep testing"
    assert "95% anytime-valid CI -0.4 to +6.4 pp" in d.reason
    assert decide(seq_wide, [CSAT_FLAT], interval="fixed").action == "ship"


def test_quasi_effect_without_arms_reads_the_initiative():
    quasi = MetricEffect(
        metric="first_response_mean_hours", arm="treated", control_arm="untreated", direction="lower", unit="hours",
        control_mean=6.0, treatment_mean=5.0, estimate_abs=-1.0, ci_low=-1.5, ci_high=-0.5, p_value=0.001,
    )
    d = decide(quasi, interval="fixed")
    assert d.action == "ship" and d.reason.startswith("The initiative lowered first response mean hours")


def test_combine_ships_the_best_arm_else_keeps_testing():
    small = effect(0.02, 0.01, 0.03, p=1e-3, arm="bot")
    pairs = [(small, decide(small)), (GAIN, decide(GAIN))]
    assert combine(pairs).arm == "portal"
    flat = effect(0.0, -0.01, 0.01, p=0.9, arm="bot")
    loss = effect(-0.03, -0.05, -0.01, p=0.003)
    assert combine([(loss, decide(loss)), (flat, decide(flat))]).action == "keep testing"
    with pytest.raises(ValueError, match="at least one"):
        combine([])


def test_bad_arguments_raise_with_the_constraint():
    with pytest.raises(ValueError, match="interval must be 'sequential' or 'fixed'"):
        decide(GAIN, interval="bayes")
    with pytest.raises(ValueError, match="mde must be a positive number"):
        decide(GAIN, mde=-0.01)


def test_ship_always_rests_on_a_clear_gain_on_random_inputs():
    rng = np.random.default_rng(21)
    for _ in range(500):
        est = rng.normal(0, 0.02)
        half = rng.uniform(0.001, 0.03)
        seq_half = half * rng.uniform(1.0, 1.8)
        p_adj = float(rng.uniform(0, 0.2))
        primary = MetricEffect(
            **{**effect(est, est - half, est + half, p=p_adj, seq=(est - seq_half, est + seq_half)).__dict__,
               "p_value_adjusted": p_adj, "direction": str(rng.choice(["higher", "lower"]))}
        )
        d = decide(primary, [CSAT_FLAT])
        better = est if primary.direction == "higher" else -est
        if d.action == "ship":
            assert p_adj < 0.05 and better > 0
            assert (est - seq_half > 0) or (est + seq_half < 0)
        if d.action == "stop":
            assert p_adj < 0.05 and better < 0
