"""DORA's five software delivery metrics: hand-computed on a small table, and the demo's rework plant.

The small table (January 2025, 31 days) has two services:

========  ==========  ====  ======  ========  =========  ==========  =====================
id        service     lead  failed  restored  unplanned  fixes       rework
========  ==========  ====  ======  ========  =========  ==========  =====================
w1        web         10    no                no                     no
w2        web         30    yes     2 h       no                     no
w3        web          2    no                no         w2          yes (the link wins)
w4        web          6    yes     6 h       yes                    yes
a1        api         48    no                no                     no
a2        api         24    yes     24 h                             not recorded
========  ==========  ====  ======  ========  =========  ==========  =====================
"""

from __future__ import annotations

import math

from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
import yaml
from canonical_tables import make_warehouse

from outcomes import config
from outcomes.ingest.load import run_ingest
from outcomes.metrics import catalog, compute
from outcomes.metrics.support import metric_support
from outcomes.scorecard.card import build_scorecard

FIVE = ("deployment_frequency", "lead_time_hours", "time_to_restore_hours", "change_failure_rate", "deployment_rework_rate")
DEPLOYMENTS = [
    dict(deployment_id="w1", service="web", deployed_at="2025-01-03 10:00", lead_time_hours=10.0, failed=False,
         unplanned=False),
    dict(deployment_id="w2", service="web", deployed_at="2025-01-10 10:00", lead_time_hours=30.0, failed=True,
         restored_at="2025-01-10 12:00", unplanned=False),
    dict(deployment_id="w3", service="web", deployed_at="2025-01-11 09:00", lead_time_hours=2.0, failed=False,
         unplanned=False, fixes_deployment="w2"),
    dict(deployment_id="w4", service="web", deployed_at="2025-01-20 10:00", lead_time_hours=6.0, failed=True,
         restored_at="2025-01-20 16:00", unplanned=True),
    dict(deployment_id="a1", service="api", deployed_at="2025-01-05 10:00", lead_time_hours=48.0, failed=False,
         unplanned=False),
    dict(deployment_id="a2", service="api", deployed_at="2025-01-25 10:00", lead_time_hours=24.0, failed=True,
         restored_at="2025-01-26 10:00"),
]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    con = make_warehouse(tmp_path_factory.mktemp("dora") / "dora.duckdb", deployments=DEPLOYMENTS)
    return compute.compute(con, start="2025-01", end="2025-01", dims=("all", "service"), metrics=list(FIVE))


def _at(tidy: pd.DataFrame, metric: str, dim: str = "all", segment: str = "all") -> pd.Series:
    row = tidy[(tidy.metric == metric) & (tidy.segment_dim == dim) & (tidy.segment == segment)]
    assert len(row) == 1, (metric, dim, segment)
    return row.iloc[0]


@pytest.mark.parametrize(
    ("metric", "segment", "value", "n"),
    [
        ("deployment_frequency", "all", 6 / 31, 6),
        ("deployment_frequency", "web", 4 / 31, 4),
        ("deployment_frequency", "api", 2 / 31, 2),
        ("lead_time_hours", "all", (10 + 30 + 2 + 6 + 48 + 24) / 6, 6),
        ("lead_time_hours", "web", (10 + 30 + 2 + 6) / 4, 4),
        ("lead_time_hours", "api", (48 + 24) / 2, 2),
        ("time_to_restore_hours", "all", 6.0, 3),  # median of 2, 6 and 24 hours
        ("time_to_restore_hours", "web", 4.0, 2),  # median of 2 and 6 hours
        ("time_to_restore_hours", "api", 24.0, 1),
        ("change_failure_rate", "all", 3 / 6, 6),
        ("change_failure_rate", "web", 2 / 4, 4),
        ("change_failure_rate", "api", 1 / 2, 2),
        ("deployment_rework_rate", "all", 2 / 5, 5),  # a2 records neither, so it is left out
        ("deployment_rework_rate", "web", 2 / 4, 4),  # w3 (linked to w2) and w4 (unplanned)
        ("deployment_rework_rate", "api", 0 / 1, 1),
    ],
)
def test_each_of_the_five_on_a_small_table(small, metric, segment, value, n):
    row = _at(small, metric, "all" if segment == "all" else "service", segment)
    assert row.value == pytest.approx(value) and row.n == n


def test_rework_rate_needs_a_marker_and_says_which(tmp_path):
    bare = [{k: v for k, v in d.items() if k not in ("unplanned", "fixes_deployment")} for d in DEPLOYMENTS]
    con = make_warehouse(tmp_path / "bare.duckdb", deployments=bare)
    support = metric_support(con, ["change_failure_rate", "deployment_rework_rate"]).set_index("metric")
    assert bool(support.loc["change_failure_rate", "available"])
    assert not bool(support.loc["deployment_rework_rate", "available"])
    assert support.loc["deployment_rework_rate", "missing"] == "deployments.unplanned or deployments.fixes_deployment"
    tidy = compute.compute(con, start="2025-01", end="2025-01", dims=("all",), metrics=["deployment_rework_rate"])
    assert math.isnan(tidy.iloc[0]["value"]) and tidy.iloc[0]["n"] == 0


def test_catalog_holds_doras_five_grouped_with_cited_clusters():
    for metric in FIVE:
        m = catalog.get(metric)
        assert m.source == "DORA" and m.owner == "CIO" and m.target is not None and m.unit
        assert m.dimensions == ("all", "service") and "per service, not per region" in m.not_by["region"]
    groups = {m: catalog.get(m).group for m in FIVE}
    assert groups == {
        "deployment_frequency": "throughput", "lead_time_hours": "throughput", "time_to_restore_hours": "throughput",
        "change_failure_rate": "instability", "deployment_rework_rate": "instability",
    }
    for metric in FIVE[:4]:
        assert "[DORA24]" in catalog.get(metric).benchmark and "elite" in catalog.get(metric).benchmark
    assert "[RW]" in catalog.get("deployment_rework_rate").benchmark
    assert catalog.get("time_to_restore_hours").name == "Failed deployment recovery time"
    assert catalog.placed_name("deployment_rework_rate") == "Customer experience: delivery instability"
    glossary = catalog.render_glossary()
    assert "### deployment_rework_rate" in glossary and "area: Customer experience: delivery throughput" in glossary


def test_an_unknown_group_names_the_valid_ones():
    doc = catalog.load_catalog().model_dump()
    doc["metrics"][0]["group"] = "speed"
    with pytest.raises(ValueError, match=r"group 'speed' is not in groups; valid: \['instability', 'throughput'\]"):
        catalog.Catalog.model_validate(doc)


def test_servicenow_change_preset_marks_emergency_changes_as_rework(tmp_path):
    """tests/data/servicenow_changes_sample.csv: two of five changes are emergency changes; one names the change it fixes."""
    entry = {
        "preset": "servicenow_change",
        "path": "servicenow_changes_sample.csv",
        "dates": {"deployed_at": "%Y-%m-%d %H:%M:%S"},
        "columns": {"lead_time_hours": "u_lead_time_hours", "fixes_deployment": "u_fixes_change"},
    }
    cfg = tmp_path / "sources.yaml"
    doc = {
        "raw_dir": str(Path(__file__).parent / "data"),
        "warehouse": str(tmp_path / "warehouse.duckdb"),
        "rejects_dir": str(tmp_path / "rejects"),
        "sources": {"changes": entry},
    }
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    summary = run_ingest(cfg, validate=False)
    assert (summary.rows_loaded, summary.rows_rejected) == (5, 0)
    con = ibis.duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    rows = con.table("deployments").order_by("deployment_id").execute()
    assert rows["unplanned"].tolist() == [False, False, False, True, True]
    assert rows["failed"].tolist() == [False, False, True, False, False]
    assert rows["fixes_deployment"].tolist()[3] == "CHG0030003"
    tidy = compute.compute(con, start="2024-03", end="2024-03", dims=("all", "service"), metrics=list(FIVE))
    assert _at(tidy, "deployment_rework_rate").value == pytest.approx(2 / 5)
    assert _at(tidy, "deployment_rework_rate", "service", "Web Shop").value == pytest.approx(1 / 3)
    assert _at(tidy, "change_failure_rate").value == pytest.approx(1 / 5)


# --------------------------------------------------------------------------- the demo company's plant


@pytest.fixture(scope="module")
def rework_truth(ground_truth):
    return ground_truth["deployment_rework"]


@pytest.fixture(scope="module")
def raw(demo_warehouse):
    folder = config.project().raw_dir
    releases = pd.read_csv(folder / "deployments.csv")
    fixes = pd.read_csv(folder / "deployment_fixes.csv")
    for frame in (releases, fixes):
        frame["at"] = pd.to_datetime(frame["finished_at"], format="%Y-%m-%dT%H:%M:%SZ")
    return releases, fixes


def test_rework_plant_recovered_from_the_raw_rows(raw, rework_truth):
    releases, fixes = (frame.copy() for frame in raw)
    assert len(fixes) / (len(releases) + len(fixes)) == pytest.approx(rework_truth["overall"], abs=1e-6)
    slug = "payments"
    assert rework_truth["service"] == "Payments"
    share = (fixes.service == slug).sum() / ((releases.service == slug).sum() + (fixes.service == slug).sum())
    assert share == pytest.approx(rework_truth["service_rate"], abs=1e-6)
    # every fix names a release of the same service, and follows it within the planted window
    fixed = fixes.merge(releases, left_on="fixes", right_on="id", suffixes=("", "_release"), validate="one_to_one")
    assert len(fixed) == len(fixes) and (fixed.service == fixed.service_release).all()
    hours = (fixed["at"] - fixed["at_release"]).dt.total_seconds() / 3600
    lo, hi = rework_truth["fix_after_hours"]
    assert hours.between(lo, hi).all()
    # the pattern: Friday releases of the service are followed by a fix far more often (99.9% intervals)
    releases["fixed"] = releases["id"].isin(fixes["fixes"])
    risky = (releases.service == slug) & (releases["at"].dt.day_of_week == 4)
    for mask, planted in ((risky, rework_truth["risky_fix_probability"]), (~risky, rework_truth["background_fix_probability"])):
        p, n = releases.loc[mask, "fixed"].mean(), mask.sum()
        assert abs(p - planted) < 3.3 * math.sqrt(planted * (1 - planted) / n), (p, planted, n)


@pytest.fixture(scope="module")
def demo_panel(demo_warehouse):
    con = ibis.duckdb.connect(str(demo_warehouse), read_only=True)
    return compute.compute(con, start="2024-01", end="2025-12", dims=("all", "service"), metrics=list(FIVE))


def test_rework_plant_recovered_through_the_catalog_by_service(demo_panel, rework_truth):
    r = demo_panel[demo_panel.metric == "deployment_rework_rate"]
    pooled = r.assign(k=r.value * r.n).groupby("segment")[["k", "n"]].sum()
    rate = pooled.k / pooled.n
    assert rate["all"] == pytest.approx(rework_truth["overall"], abs=1e-6)
    assert rate["Payments"] == pytest.approx(rework_truth["service_rate"], abs=1e-6)
    assert rate.drop(["all"]).idxmax() == "Payments"
    others = pooled.drop(["all", "Payments"]).sum()
    assert others.k / others.n == pytest.approx(rework_truth["other_services_rate"], abs=1e-6)
    assert pooled.loc["all", "n"] == rework_truth["deployments"]


def test_the_five_on_the_scorecard_with_owner_target_and_group(demo_panel):
    card = build_scorecard(demo_panel, "2025-12", targets={})
    shown = card.formatted().set_index("metric")
    row = shown.loc["Deployment rework rate"]
    assert row["area"] == "Customer experience: delivery instability"
    assert row["owner"] == "CIO" and row["target"].startswith("10%")
    assert shown.loc["Failed deployment recovery time", "area"] == "Customer experience: delivery throughput"
    payments = build_scorecard(demo_panel, "2025-12", targets={}, segment_dim="service", segment="Payments")
    assert set(payments.table["metric"]) == set(FIVE)
    assert np.isfinite(payments.table.set_index("metric").loc["deployment_rework_rate", "value"])
