"""The priority-routing pilot planted in the demo company: queues randomized, only the slow tail moved.

The generated rows (``data/raw/priority_routing.csv`` and the ticket exports, through the
warehouse) are analysed with the kit's own cluster and quantile machinery and checked
against ``ground_truth.json``, whose truth comes from both potential outcomes of every
pilot ticket (:mod:`outcomes.simulate.routing`). Demo company: scale 1, seed 42.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from page_text import visible_text

from outcomes import config, params
from outcomes.experiment.randomized.analysis import analyze_table, read_table
from outcomes.experiment.spec import InitiativeSpec
from outcomes.simulate import routing

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture

SPEC = config.project().params_dir / "initiatives" / f"{routing.ROUTING}.yaml"


@pytest.fixture(scope="module")
def spec() -> InitiativeSpec:
    return params.load(SPEC, InitiativeSpec)


@pytest.fixture(scope="module")
def pilot(demo_warehouse: Path, spec: InitiativeSpec) -> pd.DataFrame:
    return read_table(spec)


@pytest.fixture(scope="module")
def truth(ground_truth: dict) -> dict:
    return next(i for i in ground_truth["initiatives"] if i["id"] == routing.ROUTING)


def test_ground_truth_states_the_pilot_next_to_the_other_initiatives(ground_truth: dict, truth: dict) -> None:
    ids = [i["id"] for i in ground_truth["initiatives"]]
    assert ids == ["self-service-portal", "chatbot", "faster-releases", routing.ROUTING]
    assert (truth["design"], truth["unit"], truth["cluster"], truth["clusters"]) == ("randomized", "ticket", "queue", 40)
    assert truth["arms"] == {"control": 20, "routing": 20}
    effects = {e["metric"]: e for e in truth["effects"]}
    p90, mean = effects["first_response_p90_hours"]["abs"], effects["first_response_hours"]["abs"]
    # tail-only: the P90 moves by more than three times the mean
    assert p90 < 3 * mean < 0
    assert 0 < truth["icc_at_or_below_p90"] < truth["icc_first_response_hours"] < 0.05


def test_pilot_rows_are_the_warehouse_employee_tickets_of_the_window(
    demo_warehouse: Path, pilot: pd.DataFrame, truth: dict
) -> None:
    """Every pilot row is an employee ticket of the window, with the same first response as the warehouse.

    The warehouse's ``assignments`` table holds each pilot ticket's arm (the routing tool's export).
    """
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    con.register("pilot", pilot[["number", "first_response_hours"]])
    joined = con.execute(
        """
        SELECT p.first_response_hours, t.requester_type, t.opened_at,
               (epoch(t.first_response_at) - epoch(t.opened_at)) / 3600.0 AS hours
        FROM pilot p JOIN tickets t ON t.ticket_id = p.number
        """
    ).df()
    assigned = con.execute(
        "SELECT arm, count(*) AS n FROM assignments WHERE initiative_id = 'priority-routing' GROUP BY arm"
    ).df()
    con.close()
    assert dict(zip(assigned["arm"], assigned["n"])) == pilot["arm"].value_counts().to_dict()
    assert len(joined) == len(pilot) == truth["tickets"]
    assert set(joined["requester_type"]) == {"employee"}
    assert joined["opened_at"].min() >= pd.Timestamp(truth["start_date"])
    assert joined["opened_at"].max() < pd.Timestamp(truth["end_date"]) + pd.Timedelta(days=1)
    np.testing.assert_allclose(joined["first_response_hours"], joined["hours"], atol=1e-6)
    arms = pilot.groupby("queue")["arm"].agg(["nunique", "first"])
    assert (arms["nunique"] == 1).all() and arms["first"].value_counts().to_dict() == {"control": 20, "routing": 20}


def test_cluster_quantile_analysis_recovers_the_planted_p90_and_beats_the_mean(
    spec: InitiativeSpec, pilot: pd.DataFrame, truth: dict
) -> None:
    result = analyze_table(pilot, spec)
    effects = {e["metric"]: e["abs"] for e in truth["effects"]}
    p90, mean = result.effect("first_response_p90_hours"), result.effect("first_response_hours")
    assert p90.method == "cluster-robust-quantile" and mean.method == "cluster-robust"
    assert p90.df == mean.df == 38  # clusters - 2
    assert p90.ci_low < effects["first_response_p90_hours"] < p90.ci_high
    assert p90.seq_ci_low < effects["first_response_p90_hours"] < p90.seq_ci_high  # the interval the decision uses
    assert mean.ci_low < effects["first_response_hours"] < mean.ci_high
    assert abs(p90.estimate_abs / p90.se_abs) > abs(mean.estimate_abs / mean.se_abs)
    assert p90.p_value < 0.05 and result.decision.action == "ship"
    assert not result.srm_flag  # 20 queues in each arm, however unequal their tickets
    # the unit-level interval of the same percentile is narrower than the cluster-robust one
    naive = analyze_table(pilot, spec.model_copy(update={"data": spec.data.model_copy(update={"cluster": None})}))
    assert naive.effect("first_response_p90_hours").se_abs < p90.se_abs
    note = result.notes[0]
    assert "Clustered by queue (40 clusters: 20 in 'routing', 20 in 'control')" in note
    assert "Intra-cluster correlation of the primary metric (a unit at or below its arm's P90)" in note
    assert "design effect of" in note


@pytest.mark.slow
def test_the_monthly_pack_reviews_the_pilot_with_its_clusters(demo_month: Path) -> None:
    results = json.loads((demo_month / "results.json").read_text())
    entry = next(i for i in results["initiatives"] if i["id"] == routing.ROUTING)
    primary = next(m for m in entry["metrics"] if m["role"] == "primary")
    assert primary["metric"] == "first_response_p90_hours" and primary["ci_high"] < 0
    assert routing.ROUTING in {r["initiative"] for r in results["roi"]}
    text = visible_text((demo_month / f"02_initiative_review--{routing.ROUTING}.html").read_text())
    for phrase in ("cluster-robust t intervals", "Clustered by queue (40 clusters", "Intra-cluster correlation",
                   "design effect of", "P90 first response (employee tickets)"):
        assert phrase in " ".join(text.split()), phrase
