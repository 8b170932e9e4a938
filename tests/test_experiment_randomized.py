"""Whole initiatives on planted data: effects recovered, SRM, CUPED, conditions, spec and output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from outcomes.errors import ParamsError
from outcomes.experiment import InitiativeSpec, aggregate_table, analyze_aggregates, analyze_table
from outcomes.experiment.results import (
    EMPTY_ARM,
    SAMPLE_RATIO_MISMATCH,
    SEGMENT_CAVEAT,
    SEGMENT_SAMPLE_RATIO_MISMATCH,
    TOO_FEW_UNITS,
    ZERO_VARIANCE,
)
from outcomes.experiment.randomized.srm import segment_splits
from outcomes.params import load

EMAIL_YAML = """\
id: email-test
name: E-mail campaign test
hypothesis: E-mails raise two-week spend
design: randomized            # randomized | did | its
data:
  table: data/raw/email_test.csv
  unit: customer_id
  arm: segment                # any number of arms; each is compared with the control
  control: No E-Mail
metrics:
  - {column: spend, kind: mean, role: primary}
  - {column: conversion, kind: proportion, role: guardrail}
alpha: 0.05
"""


def portal_table(n: int = 20000, seed: int = 1, portal_share: float = 0.5) -> pd.DataFrame:
    """A planted self-service test: rate 21% -> 27%, tickets -0.3 per customer, csat unchanged."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.uniform(size=n) < portal_share, "portal", "control")
    portal = arm == "portal"
    pre_tickets = rng.gamma(3.0, 1.0, n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "arm": arm,
            "self_service": rng.binomial(1, np.where(portal, 0.27, 0.21)),
            "tickets": np.maximum(0.0, pre_tickets + rng.normal(0, 0.8, n) - 0.3 * portal),
            "pre_tickets": pre_tickets,
            "csat": rng.binomial(1, 0.80, n),
            "segment": rng.choice(["consumer", "smb", "enterprise"], n),
        }
    )


def portal_spec(**overrides) -> InitiativeSpec:
    doc = {
        "id": "self-service-portal",
        "name": "Self-service portal",
        "data": {"unit": "customer_id", "arm": "arm", "control": "control"},
        "metrics": [
            {"column": "self_service", "kind": "proportion", "role": "primary", "label": "self-service rate"},
            {"column": "tickets", "pre": "pre_tickets", "role": "secondary", "direction": "lower", "unit": "tickets"},
            {"column": "csat", "kind": "proportion", "role": "guardrail", "margin": 0.03},
        ],
        "expected_n": 20000,
    }
    doc.update(overrides)
    return InitiativeSpec.model_validate(doc)


def test_planted_lift_is_recovered_and_shipped():
    result = analyze_table(portal_table(), portal_spec())
    rate = result.effect("self_service", "portal")
    assert rate.ci_low <= 0.06 <= rate.ci_high
    assert rate.seq_ci_low <= 0.06 <= rate.seq_ci_high
    assert rate.ci_rel_low <= 0.06 / 0.21 <= rate.ci_rel_high
    tickets = result.effect("tickets", "portal")
    assert tickets.ci_low <= -0.3 <= tickets.ci_high
    assert result.effect("csat").ci_low <= 0.0 <= result.effect("csat").ci_high
    assert not result.srm_flag
    assert result.decision.action == "ship"
    assert result.decision.reason.startswith("The portal arm raised self-service rate from 21")
    assert result.decision.reason.endswith("no guardrail got worse; ship.")


def test_cuped_reduces_variance_on_correlated_pre_period():
    table = portal_table()
    with_pre = analyze_table(table, portal_spec()).effect("tickets")
    spec = portal_spec(metrics=[
        {"column": "self_service", "kind": "proportion", "role": "primary"},
        {"column": "tickets", "role": "secondary", "direction": "lower"},
    ])
    without = analyze_table(table, spec).effect("tickets")
    assert with_pre.method == "welch+cuped" and without.method == "welch"
    assert with_pre.variance_reduction > 0.5
    assert with_pre.se_abs**2 == pytest.approx(without.se_abs**2 * (1 - with_pre.variance_reduction), rel=0.01)
    assert "CUPED removed" in with_pre.sentence()
    constant = analyze_table(table.assign(pre_tickets=1.0), portal_spec()).effect("tickets")
    assert "cuped_not_applied" in [c.code for c in constant.conditions]
    assert constant.method == "welch" and constant.se_abs == pytest.approx(without.se_abs)


def test_srm_flagged_on_planted_52_48_split_and_not_on_fair_split():
    skewed = analyze_table(portal_table(n=40000, seed=2, portal_share=0.48), portal_spec())
    assert skewed.srm_flag and skewed.srm_p_value < 0.001
    assert skewed.decision.action == "stop"
    assert SAMPLE_RATIO_MISMATCH in skewed.decision.codes
    assert "planned 50.0%" in skewed.decision.reason
    fair = analyze_table(portal_table(n=40000, seed=2, portal_share=0.5), portal_spec())
    assert not fair.srm_flag and fair.srm_p_value > 0.001


def test_planned_unequal_split_is_respected():
    result = analyze_table(portal_table(n=40000, seed=3, portal_share=0.3), portal_spec(planned_split={"control": 7, "portal": 3}))
    assert not result.srm_flag


def test_every_arm_is_compared_with_control_and_the_best_is_shipped():
    table = portal_table(n=30000, seed=4)
    rng = np.random.default_rng(5)
    bot = rng.uniform(size=len(table)) < 1 / 3
    table.loc[bot, "arm"] = "chatbot"
    table.loc[bot, "self_service"] = rng.binomial(1, 0.24, bot.sum())
    result = analyze_table(table, portal_spec())
    assert {e.arm for e in result.primary} == {"portal", "chatbot"}
    assert all(e.control_arm == "control" for e in result.effects)
    assert result.decision.action == "ship" and result.decision.arm == "portal"
    goal = [e for e in result.effects if e.role != "guardrail"]
    assert all(e.p_value_adjusted >= e.p_value for e in goal)


def test_from_aggregates_equals_from_table():
    table, spec = portal_table(), portal_spec()
    from_table = analyze_table(table, spec)
    from_sums = analyze_aggregates(aggregate_table(table, spec), spec)
    assert from_table.to_dict()["metrics"] == from_sums.to_dict()["metrics"]


def test_ratio_metric_from_a_table():
    rng = np.random.default_rng(9)
    n = 6000
    arm = rng.choice(["control", "portal"], n)
    users = 1 + rng.poisson(3, n)
    tickets = rng.poisson(np.where(arm == "portal", 0.4, 0.5) * users)
    table = pd.DataFrame({"customer_id": np.arange(n), "arm": arm, "tickets": tickets, "users": users})
    spec = portal_spec(metrics=[{"numerator": "tickets", "denominator": "users", "kind": "ratio", "role": "primary", "direction": "lower"}])
    e = analyze_table(table, spec).effect("tickets_per_users")
    assert e.method == "welch-delta"
    assert e.ci_low <= -0.1 <= e.ci_high and e.ci_high < 0


def test_ratio_metric_with_its_pre_period_is_adjusted_and_keeps_its_level():
    rng = np.random.default_rng(10)
    n = 8000
    arm = rng.choice(["control", "portal"], n)
    rate = rng.gamma(2.0, 0.25, n)
    users = 1 + rng.poisson(3, n)
    pre_users = users + rng.poisson(0.5, n)
    table = pd.DataFrame({
        "customer_id": np.arange(n), "arm": arm, "users": users, "pre_users": pre_users,
        "pre_tickets": rng.poisson(rate * pre_users), "tickets": rng.poisson(rate * users * np.where(arm == "portal", 0.8, 1.0)),
    })
    metric = {"numerator": "tickets", "denominator": "users", "kind": "ratio", "role": "primary", "direction": "lower"}
    plain = analyze_table(table, portal_spec(metrics=[metric])).effect("tickets_per_users")
    adjusted = analyze_table(
        table, portal_spec(metrics=[{**metric, "pre": "pre_tickets", "pre_denominator": "pre_users"}])
    ).effect("tickets_per_users")
    assert adjusted.method == "welch-delta+cuped" and plain.method == "welch-delta"
    assert adjusted.control_mean == pytest.approx(plain.control_mean)  # levels stay the plain ratios
    assert adjusted.se_abs < 0.9 * plain.se_abs and adjusted.variance_reduction > 0.2
    assert "CUPED removed" in adjusted.sentence()
    # planted: 20% fewer tickets per user, -0.1 absolute at a rate of 0.5
    assert adjusted.ci_low <= -0.1 <= adjusted.ci_high
    # from aggregates, the same
    spec = portal_spec(metrics=[{**metric, "pre": "pre_tickets", "pre_denominator": "pre_users"}])
    assert analyze_aggregates(aggregate_table(table, spec), spec).to_dict()["metrics"] == analyze_table(table, spec).to_dict()["metrics"]


def test_segment_breakdown_carries_the_caveat():
    spec = portal_spec(data={"unit": "customer_id", "arm": "arm", "control": "control", "segments": ["segment"]})
    result = analyze_table(portal_table(), spec)
    assert len(result.segment_effects) == 3 * 3
    assert {e.segment for e in result.segment_effects} == {"segment=consumer", "segment=smb", "segment=enterprise"}
    caveat = [c for c in result.conditions if c.code == SEGMENT_CAVEAT]
    assert caveat and "not as grounds to ship" in caveat[0].message
    assert "not as grounds to ship" in result.summary()
    # the whole-population decision is unchanged by the breakdown
    assert result.decision == analyze_table(portal_table(), portal_spec()).decision


def test_segment_recorded_after_assignment_is_flagged_while_the_whole_stays_in_balance():
    # planted: the portal moves customers into an "engaged" segment after assignment, so each
    # segment is out of balance although the arms as a whole are 50/50
    table = portal_table(n=20000, seed=6)
    rng = np.random.default_rng(7)
    table["engagement"] = np.where(rng.uniform(size=len(table)) < np.where(table["arm"] == "portal", 0.45, 0.35), "engaged", "casual")
    spec = portal_spec(data={"unit": "customer_id", "arm": "arm", "control": "control", "segments": ["engagement", "segment"]})
    result = analyze_table(table, spec)
    assert not result.srm_flag
    flags = {x.segment: x.flagged for x in result.segment_splits}
    assert flags == {
        "engagement=engaged": True, "engagement=casual": True,
        "segment=consumer": False, "segment=smb": False, "segment=enterprise": False,
    }
    (condition,) = [c for c in result.conditions if c.code == SEGMENT_SAMPLE_RATIO_MISMATCH]
    assert condition.blocks is None
    assert "engagement=engaged: control" in condition.message and "recorded after assignment" in condition.message
    # the decision rests on the whole population
    assert result.decision == analyze_table(table, portal_spec()).decision
    entries = {x["segment"]: x for x in result.to_dict()["segment_splits"]}
    assert entries["engagement=engaged"]["flagged"] is True and entries["segment=smb"]["flagged"] is False


def test_segment_splits_equal_scipy_chisquare_and_statsmodels_holm():
    # reference: scipy.stats.chisquare per segment against the planned 70/30 split, then
    # statsmodels.stats.multitest.multipletests(p, method="holm") over the segments
    from statsmodels.stats.multitest import multipletests

    counts = {"north": (700, 300), "south": (520, 180), "east": (3, 2), "west": (1450, 550)}
    units = pd.DataFrame(
        [{"segment": f"region={r}", "arm": a, "n": n} for r, pair in counts.items() for a, n in zip(("control", "portal"), pair)]
    )
    splits, condition = segment_splits(units, ["control", "portal"], {"control": 7, "portal": 3})
    checked = [r for r in counts if r != "east"]
    raw = [stats.chisquare(counts[r], np.array([0.7, 0.3]) * sum(counts[r])).pvalue for r in checked]
    holm = multipletests(raw, method="holm")[1]
    by = {x.segment: x for x in splits}
    np.testing.assert_allclose([by[f"region={r}"].p_value for r in checked], raw, rtol=1e-12)
    np.testing.assert_allclose([by[f"region={r}"].p_value_adjusted for r in checked], holm, rtol=1e-12)
    # east: 1.5 units expected in the portal arm, too few to check
    assert np.isnan(by["region=east"].p_value) and not by["region=east"].flagged
    assert by["region=east"].units == {"control": 3, "portal": 2}
    # west is 72.5/27.5 on 2,000 units: p = 0.014 raw, not below 0.001 after Holm
    assert condition is None and not any(x.flagged for x in splits)


@pytest.mark.slow
def test_segment_split_check_false_alarms_and_power_by_simulation():
    # 2,000 balanced experiments with 6 segments of 2,000 units: Holm at 0.001 keeps the chance of any
    # false alarm at or below 0.001 (expected at most 2 of 2,000; Poisson P(more than 8) < 1e-3).
    rng = np.random.default_rng(20)
    arms = ["control", "portal"]

    def units(counts):
        return pd.DataFrame(
            [{"segment": f"s={i}", "arm": a, "n": n} for i, pair in enumerate(counts) for a, n in zip(arms, pair)]
        )

    false_alarms = 0
    for _ in range(2000):
        portal = rng.binomial(2000, 0.5, size=6)
        false_alarms += any(x.flagged for x in segment_splits(units([(2000 - p, p) for p in portal]), arms)[0])
    assert false_alarms <= 8
    # power: one segment of 10,000 loses 10% of its portal units (5,000 -> 4,500 of 9,500). Its p-value is
    # the smallest, so Holm flags it when p < 0.001 / 6: a noncentral chi-squared with 1 df and
    # lambda = (250 / sqrt(9,500 x 0.25))^2 = 26.3 gives the power; 400 experiments land within 0.07 of it.
    lam = (250 / np.sqrt(9500 * 0.25)) ** 2
    expected = stats.ncx2.sf(stats.chi2.isf(0.001 / 6, 1), 1, lam)
    hits = 0
    for _ in range(400):
        portal = rng.binomial(10_000, 0.5, size=6)
        broken = [(10_000 - p, p) for p in portal]
        broken[0] = (broken[0][0], rng.binomial(broken[0][1], 0.9))
        hits += segment_splits(units(broken), arms)[0][0].flagged
    assert abs(hits / 400 - expected) < 0.07


def test_data_problems_come_back_as_conditions():
    table = portal_table(n=2000)
    empty = analyze_table(table, portal_spec(planned_split={"control": 1, "portal": 1, "chatbot": 1}))
    assert EMPTY_ARM in [c.code for c in empty.conditions]
    assert empty.decision.action == "keep testing" and "'chatbot' arm has no units" in empty.decision.reason

    few = analyze_table(table.head(40), portal_spec())
    assert TOO_FEW_UNITS in [c.code for c in few.effect("self_service").conditions]
    assert few.decision.action == "keep testing"

    flat = table.assign(self_service=0)
    zero = analyze_table(flat, portal_spec())
    assert ZERO_VARIANCE in [c.code for c in zero.effect("self_service").conditions]
    assert zero.decision.action == "keep testing"

    only_control = analyze_table(table[table["arm"] == "control"], portal_spec())
    assert only_control.effects == ()
    assert only_control.decision.action == "keep testing"


def test_units_in_two_arms_stop_the_test():
    table = portal_table(n=2000)
    table.loc[:9, "customer_id"] = table.loc[10:19, "customer_id"].to_numpy()
    table.loc[:9, "arm"] = np.where(table.loc[10:19, "arm"] == "portal", "control", "portal")
    result = analyze_table(table, portal_spec())
    assert result.decision.action == "stop"
    assert "appear in more than one arm" in result.decision.reason


def test_the_briefs_yaml_loads(tmp_path):
    path = tmp_path / "email-test.yaml"
    path.write_text(EMAIL_YAML)
    spec = load(path, InitiativeSpec)
    assert spec.data.control == "No E-Mail" and spec.primary.id == "spend"
    rng = np.random.default_rng(12)
    n = 3000
    arm = rng.choice(["No E-Mail", "Mens E-Mail", "Womens E-Mail"], n)
    table = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "segment": arm,
            "spend": rng.exponential(np.where(arm == "No E-Mail", 1.0, 1.3)),
            "conversion": rng.binomial(1, 0.01, n),
        }
    )
    result = analyze_table(table, spec)
    assert {e.arm for e in result.primary} == {"Mens E-Mail", "Womens E-Mail"}


def test_spec_errors_name_the_key_and_the_rule(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(EMAIL_YAML.replace("role: guardrail", "role: primary").replace("alpha: 0.05", "alpha: 1.5"))
    with pytest.raises(ParamsError) as err:
        load(path, InitiativeSpec)
    assert "alpha" in str(err.value)
    path.write_text(EMAIL_YAML.replace("role: guardrail", "role: primary"))
    with pytest.raises(ParamsError, match="exactly one metric must have role 'primary', found 2"):
        load(path, InitiativeSpec)
    path.write_text(EMAIL_YAML.replace("kind: mean", "kind: ratio"))
    with pytest.raises(ParamsError, match="needs 'numerator' and 'denominator'"):
        load(path, InitiativeSpec)
    ratio = "{numerator: spend, denominator: visits, kind: ratio, role: primary, pre: spend_pre}"
    path.write_text(EMAIL_YAML.replace("{column: spend, kind: mean, role: primary}", ratio))
    with pytest.raises(ParamsError, match="needs both 'pre'.*and 'pre_denominator'"):
        load(path, InitiativeSpec)
    path.write_text(EMAIL_YAML.replace("kind: mean, role: primary", "kind: mean, role: primary, pre_denominator: visits"))
    with pytest.raises(ParamsError, match="'pre_denominator' is for ratio metrics"):
        load(path, InitiativeSpec)


def test_missing_or_text_columns_raise_with_the_columns_listed():
    table = portal_table(n=500)
    with pytest.raises(ParamsError, match=r"metrics\[2\].column = 'csat'.*Columns in the table"):
        analyze_table(table.drop(columns="csat"), portal_spec())
    with pytest.raises(ParamsError, match="must hold 0/1"):
        analyze_table(table.assign(csat=table["csat"] * 5), portal_spec())
    with pytest.raises(ParamsError, match="must be numeric; row 0 holds 'x'"):
        analyze_table(table.assign(tickets="x"), portal_spec())


def test_to_dict_matches_the_results_json_entry_schema():
    entry = analyze_table(portal_table(), portal_spec()).to_dict()
    json.dumps(entry, allow_nan=False)
    assert {"id", "design", "srm_p_value", "decision", "metrics"} <= set(entry)
    assert entry["decision"] in ("ship", "keep testing", "stop")
    keys = {"metric", "arm", "role", "estimate_abs", "estimate_rel", "ci_low", "ci_high", "p_value",
            "p_value_adjusted", "seq_ci_low", "seq_ci_high"}
    assert all(keys <= set(m) for m in entry["metrics"])
    frame = analyze_table(portal_table(), portal_spec()).to_frame()
    assert len(frame) == 3 and {"metric", "arm", "ci_low", "conditions"} <= set(frame.columns)


def test_cli_experiment_prints_the_decision_and_writes_json(tmp_path):
    from typer.testing import CliRunner

    from outcomes.cli import app

    portal_table(n=4000).to_csv(tmp_path / "portal.csv", index=False)
    spec = tmp_path / "portal.yaml"
    spec.write_text(
        f"id: portal\ndata: {{table: {tmp_path / 'portal.csv'}, unit: customer_id, arm: arm, control: control}}\n"
        "metrics:\n  - {column: self_service, kind: proportion, role: primary}\n"
    )
    out = tmp_path / "portal.json"
    result = CliRunner().invoke(app, ["experiment", str(spec), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Decision:" in result.output
    assert json.loads(out.read_text())["id"] == "portal"
