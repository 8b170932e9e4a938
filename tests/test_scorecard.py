"""Scorecard: status, targets, movers and their decomposition, prescriptions, goals, records, charts."""

from __future__ import annotations

import json
import math

import altair as alt
import jsonschema
import numpy as np
import pandas as pd
import pytest

from outcomes import config
from outcomes.metrics import catalog
from outcomes.estimate import Estimate
from outcomes.scorecard.drivers import DriverEffect, DriversResult
from outcomes.errors import ParamsError
from outcomes.scorecard.card import (
    NO_DATA,
    NO_TARGET,
    OFF,
    ON,
    SUPPRESSED,
    Targets,
    build_scorecard,
    decompose,
    load_targets,
    scorecard_records,
    status_of,
)
from outcomes.report.summary import scorecard_sentences
from outcomes.report.scorecard_charts import (
    area_small_multiples,
    demand_capacity_chart,
    drivers_chart,
    movers_chart,
    sparklines,
)

MONTHS = pd.date_range("2024-01-01", "2025-03-01", freq="MS")


def rows(metric, dim, segment, values, n):
    return pd.DataFrame(
        dict(period=MONTHS, segment_dim=dim, segment=segment, metric=metric, value=values, n=n, suppressed=False, note=None)
    )


@pytest.fixture(scope="module")
def panel():
    """Two regions; the company rows are their sums (counts) and n-weighted means (rates)."""
    k = np.arange(len(MONTHS), dtype=float)
    north_t, south_t = 100 + 2 * k, 50 + k
    north_t[-1] += 40  # March 2025 jump, all in the north
    north_c, south_c = 0.80 - 0.001 * k, 0.70 + 0.001 * k
    n_north, n_south = np.full(len(k), 300.0), np.full(len(k), 100.0)
    frt = 5.0 - 0.1 * k  # a clean linear trend
    parts = [
        rows("ticket_volume", "region", "north", north_t, north_t),
        rows("ticket_volume", "region", "south", south_t, south_t),
        rows("ticket_volume", "all", "all", north_t + south_t, north_t + south_t),
        rows("csat", "region", "north", north_c, n_north),
        rows("csat", "region", "south", south_c, n_south),
        rows("csat", "all", "all", (north_c * 300 + south_c * 100) / 400, 400.0),
        rows("first_response_mean_hours", "all", "all", frt, 1000.0),
        rows("churn_rate", "all", "all", np.full(len(k), 0.03), 10000.0),
        rows("active_customers", "all", "all", np.full(len(k), 10000.0), 10000.0),
        rows("clv", "all", "all", np.full(len(k), 2000.0), 10000.0),
        rows("demand_capacity_ratio", "all", "all", np.full(len(k), 1.2), 100.0),
        rows("nps", "all", "all", np.full(len(k), np.nan), 0.0),
    ]
    return pd.concat(parts, ignore_index=True)


def drivers(coef=0.004):
    return DriversResult(
        "first_response_mean_hours",
        (DriverEffect("churn_rate", "first_response_mean_hours", Estimate(coef, 0.001, coef - 0.002, coef + 0.002, 0.01, 4, "OLS", n=120), 5),),
        "region",
    )


@pytest.mark.parametrize(
    ("metric", "value", "target", "tol", "expected"),
    [
        ("csat", 0.81, 0.80, None, ON),
        ("csat", 0.79, 0.80, None, OFF),
        ("churn_rate", 0.02, 0.02, None, ON),
        ("churn_rate", 0.021, 0.02, None, OFF),
        ("demand_capacity_ratio", 1.04, 1.0, 0.05, ON),
        ("demand_capacity_ratio", 0.94, 1.0, 0.05, OFF),
        ("revenue", 10.0, None, None, NO_TARGET),
        ("csat", float("nan"), 0.8, None, NO_DATA),
    ],
)
def test_status_follows_the_better_direction(metric, value, target, tol, expected):
    assert status_of(metric, value, target, tol) == expected


def test_table_values_targets_and_areas(panel):
    card = build_scorecard(panel, "2025-03", targets={"csat": 0.76})
    t = card.table.set_index("metric")
    assert t.loc["ticket_volume", "value"] == 100 + 28 + 40 + 50 + 14
    assert t.loc["ticket_volume", "previous"] == 100 + 26 + 50 + 13
    assert t.loc["ticket_volume", "last_year"] == 100 + 4 + 50 + 2
    assert t.loc["csat", "target"] == 0.76  # override
    assert t.loc["first_response_mean_hours", "target"] == 4.0  # catalog default
    assert t.loc["demand_capacity_ratio", "status"] == OFF  # 1.2 outside 1 +/- 0.05
    assert t.loc["nps", "status"] == NO_DATA
    areas = list(dict.fromkeys(card.table["area"]))
    assert areas == [a for a in ("cost_revenue", "utilization", "user_experience", "customer_experience") if a in areas]
    assert set(card.by_area()) == {"Cost & revenue", "Utilization", "User experience", "Customer experience"}
    assert card.trend["period"].max() == pd.Timestamp("2025-03-01")


def test_formatted_table_shows_units(panel):
    f = build_scorecard(panel, "2025-03").formatted().set_index("metric")
    assert f.loc["Customer satisfaction (CSAT)", "this month"].endswith("%")
    assert f.loc["Net Promoter Score", "this month"] == "n/a"
    assert f.loc["Churn rate", "status"] in ("on target", "off target")


def test_sum_decomposition_adds_up_to_the_change(panel):
    dec = decompose(panel, "ticket_volume", "2025-03", "region").set_index("segment")
    assert dec.loc["north", "contribution"] == pytest.approx(42.0)
    assert dec.loc["south", "contribution"] == pytest.approx(1.0)
    assert dec["contribution"].sum() == pytest.approx(43.0)  # the company change
    assert dec.index[0] == "north"


def test_mean_decomposition_adds_up_to_the_change_of_the_weighted_mean(panel):
    dec = decompose(panel, "csat", "2025-03", "region")
    company = panel[(panel.metric == "csat") & (panel.segment_dim == "all")].set_index("period")["value"]
    change = company[pd.Timestamp("2025-03-01")] - company[pd.Timestamp("2025-02-01")]
    assert dec["contribution"].sum() == pytest.approx(change)
    assert dec["share"].sum() == pytest.approx(1.0)


def test_top_movers_name_the_segment_behind_the_move(panel):
    card = build_scorecard(panel, "2025-03")
    top = card.movers.iloc[0]
    assert top["metric"] == "ticket_volume"
    assert top["driver_segment"] == "north" and top["driver_dim"] == "region"
    assert not top["better"]  # more tickets is worse
    assert "region north contributed +42" in top["sentence"]


def test_prescriptions_price_the_gap_with_the_drivers_estimate(panel):
    card = build_scorecard(panel, "2025-03", drivers=drivers(), targets={"churn_rate": 0.02})
    p = card.prescriptions.set_index("metric")
    # first response 3.6 h against 4.0 h target is on target; churn 3% vs 2% is off
    assert "first_response_mean_hours" not in p.index
    assert p.loc["churn_rate", "customers_at_stake"] == pytest.approx(0.01 * 10000)
    assert p.loc["churn_rate", "value_at_stake_eur"] == pytest.approx(100 * 2000)
    slow = build_scorecard(panel, "2025-03", drivers=drivers(), targets={"first_response_mean_hours": 2.6, "churn_rate": 0.02})
    q = slow.prescriptions.set_index("metric")
    # 1 hour over target x 0.004 churn per hour x 10,000 customers = 40 customers, x EUR 2,000
    assert q.loc["first_response_mean_hours", "customers_at_stake"] == pytest.approx(40.0)
    assert q.loc["first_response_mean_hours", "value_at_stake_eur"] == pytest.approx(80000.0)
    assert list(slow.prescriptions["metric"][:2]) == ["churn_rate", "first_response_mean_hours"]
    assert "Actions:" in q.loc["first_response_mean_hours", "sentence"]
    assert "association" in q.loc["first_response_mean_hours", "sentence"]


def test_prescriptions_price_a_customer_kept_as_given(panel):
    # in a report run, a customer kept is worth what the ROI page puts on one, not the month's CLV
    card = build_scorecard(panel, "2025-03", drivers=drivers(), targets={"churn_rate": 0.02}, value_per_customer=1500.0)
    p = card.prescriptions.set_index("metric")
    assert p.loc["churn_rate", "value_at_stake_eur"] == pytest.approx(100 * 1500)
    assert "worth about EUR 150k" in p.loc["churn_rate", "sentence"]


def test_reading_tables_speak_words_not_column_ids(panel):
    card = build_scorecard(panel, "2025-03", drivers=drivers(), targets={"first_response_mean_hours": 2.6, "churn_rate": 0.02})
    priorities = card.priority_table()
    assert list(priorities.columns) == ["rank", "metric", "value at stake", "what to do"]
    assert list(priorities["rank"][:2]) == ["1", "2"]
    assert list(priorities["value at stake"][:2]) == ["EUR 200k", "EUR 80k"]
    assert priorities["metric"][0] == catalog.get("churn_rate").name
    assert list(card.movers_table().columns) == ["metric", "what moved"]
    assert list(card.goals_table().columns) == ["metric", "goal for next month"]
    shown = " ".join(" ".join(map(str, t.columns)) for t in (priorities, card.movers_table(), card.goals_table()))
    assert "_" not in shown


def test_goals_follow_the_trend(panel):
    card = build_scorecard(panel, "2025-03", goal_months=12)
    g = card.goals.set_index("metric")
    # first response falls by 0.1 h a month without noise: forecast and goal 3.5 h
    assert g.loc["first_response_mean_hours", "forecast"] == pytest.approx(3.5)
    assert g.loc["first_response_mean_hours", "goal"] == pytest.approx(3.5)
    assert g.loc["first_response_mean_hours", "months"] == 12
    # balance metric: halfway from the forecast (1.2) to the target (1.0)
    assert g.loc["demand_capacity_ratio", "goal"] == pytest.approx(1.1)
    assert math.isnan(g.loc["nps", "goal"])


def test_records_are_json_ready(panel):
    card = build_scorecard(panel, "2025-03")
    records = scorecard_records(card)
    json.dumps(records, allow_nan=False)
    rec = {r["metric"]: r for r in records}
    assert rec["nps"]["value"] is None and rec["csat"]["segment"] is None
    schema = json.loads((config.PACKAGE_DIR / "report" / "results_schema.json").read_text())
    row = {"$defs": schema["$defs"], **schema["$defs"]["scorecard_row"]}
    for r in records:
        jsonschema.validate(r, row)


def test_suppressed_values_get_their_own_status(panel):
    hidden = panel.copy()
    mask = (hidden.metric == "csat") & (hidden.segment_dim == "all") & (hidden.period == MONTHS[-1])
    hidden.loc[mask, ["value", "suppressed"]] = [np.nan, True]
    card = build_scorecard(hidden, "2025-03")
    assert card.table.set_index("metric").loc["csat", "status"] == SUPPRESSED


def test_missing_period_is_explained(panel):
    with pytest.raises(ValueError, match="rebuild it with an end month"):
        build_scorecard(panel, "2026-01")


def test_targets_file_is_valid_and_checked(tmp_path):
    targets = load_targets(config.project().params_dir / "targets.yaml")
    assert isinstance(targets, Targets) and targets.targets
    bad = tmp_path / "targets.yaml"
    bad.write_text("targets:\n  cast: 0.8\n")
    with pytest.raises(ParamsError, match="did you mean 'csat'"):
        load_targets(bad)
    bad.write_text("target:\n  csat: 0.8\n")
    with pytest.raises(ParamsError, match="valid keys are: targets, tolerances"):
        load_targets(bad)


def test_targets_say_who_agreed_them_and_who_owns_the_metric(panel, tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  csat: 0.76\n"
        "  churn_rate: {value: 0.02, agreed: false, owner: Head of Retention}\n"
    )
    card = build_scorecard(panel, "2025-03", targets=path)
    t = card.table.set_index("metric")
    assert (t.loc["csat", "target_basis"], t.loc["csat", "owner"]) == ("agreed", "CMO")
    assert (t.loc["churn_rate", "target"], t.loc["churn_rate", "target_basis"]) == (0.02, "proposed")
    assert t.loc["churn_rate", "owner"] == "Head of Retention"
    assert t.loc["first_response_mean_hours", "target_basis"] == "default"
    assert t.loc["ticket_volume", "target_basis"] == "none"
    f = card.formatted().set_index("metric")
    assert f.loc["Churn rate", "target"] == "2% (proposed)"
    assert f.loc["First response, mean", "target"] == "4 hours (catalog default)"
    assert f.loc["Customer satisfaction (CSAT)", "target"] == "76%"
    assert f.loc["Ticket volume", "status"] == "no target set"
    off = f[f["status"] == "off target"]
    assert len(off) and (off["next step"] != "").all() and (f.loc[f["status"] != "off target", "next step"] == "").all()
    rows = {r["metric"]: r for r in card.records()}
    assert (rows["churn_rate"]["target_basis"], rows["churn_rate"]["owner"]) == ("proposed", "Head of Retention")
    path.write_text("targets:\n  csat: {value: 0.8, agred: true}\n")
    with pytest.raises(ParamsError, match="agreed"):
        load_targets(path)


def test_charts_are_unrendered_altair_specs(panel):
    card = build_scorecard(panel, "2025-03")
    spark = sparklines(card).to_dict()
    titles = ["Cost & revenue", "Utilization", "User experience", "Customer experience"]
    assert [block["title"] for block in spark["vconcat"]] == titles
    assert spark["vconcat"][0]["facet"]["field"] == "label"
    assert isinstance(movers_chart(card), alt.Chart)
    assert movers_chart(card).to_dict()["encoding"]["x"]["field"] == "z"
    assert area_small_multiples(card, "user_experience").to_dict()["spec"]["encoding"]["x"]["type"] == "temporal"
    layers = drivers_chart(drivers()).to_dict()["layer"]
    assert layers[2]["encoding"]["x"]["field"] == "estimate"
    svc = pd.concat(
        [
            rows("ticket_volume", "service", "web", np.full(len(MONTHS), 10.0), 10.0),
            rows("demand_capacity_ratio", "service", "web", np.full(len(MONTHS), 1.25), 8.0),
        ]
    )
    spec = demand_capacity_chart(svc).to_dict()
    assert spec["spec"]["encoding"]["color"]["field"] == "flow"
    with pytest.raises(ValueError, match="segment='service'"):
        demand_capacity_chart(panel)


def test_the_summary_says_when_a_met_target_was_never_agreed():
    rows = [
        {"metric": "csat", "segment": None, "value": 0.85, "previous": 0.84, "target": 0.82, "status": "on_target",
         "target_basis": "agreed", "owner": "CMO"},
        {"metric": "nps", "segment": None, "value": 40, "previous": 38, "target": 10, "status": "on_target",
         "target_basis": "default", "owner": "CMO"},
        {"metric": "churn_rate", "segment": None, "value": 0.021, "previous": 0.02, "target": 0.015,
         "status": "off_target", "target_basis": "agreed", "owner": "Head of Retention"},
    ]
    head, miss = scorecard_sentences(rows, "2025-12")
    assert head.startswith("2 of 3 metrics with a target met it in 2025-12; 1 missed it.")
    assert "1 of those met rest on a target no one has agreed yet" in head
    assert miss.endswith("Owner: Head of Retention.")
