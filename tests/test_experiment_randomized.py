"""Whole initiatives on planted data: effects recovered, SRM, CUPED, conditions, spec and output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from outcomes.errors import ParamsError
from outcomes.experiment import InitiativeSpec, aggregate_table, analyze_aggregates, analyze_table
from outcomes.experiment.results import (
    EMPTY_ARM,
    SAMPLE_RATIO_MISMATCH,
    SEGMENT_CAVEAT,
    TOO_FEW_UNITS,
    ZERO_VARIANCE,
)
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
