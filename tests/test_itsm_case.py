"""The service-management case study: change linkage, its estimate, metric support, group shares.

Unit tests run on small hand-made warehouses with counts worked by hand; the statistics
are checked against scipy and statsmodels. The committed Rabobank-like files are synthetic
(``tests/data/case_study/make_rabobank_like.py``): the linkage must recover what they plant.
The last tests read the public datasets in ``../shared/data`` (skipped when absent) and
check the counts their READMEs give.
"""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from outcomes.metrics import catalog
from outcomes.casestudy import change_counts
from outcomes.casestudy import change_linkage
from outcomes.warehouse import datamodel
from outcomes.metrics import support as metric_support
from outcomes.casestudy import panel_summary
from outcomes.casestudy import ticket_groups
from outcomes.warehouse import store
from outcomes.warehouse.store import create_tables

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[1]


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _tickets(rows: list[dict]) -> pd.DataFrame:
    base = {"requester_type": "employee", "requester_id": None, "service": "svc", "priority": "medium", "channel": "phone"}
    return pd.DataFrame([{**base, **r} for r in rows])


def _deployments(rows: list[dict]) -> pd.DataFrame:
    base = {"service": "svc", "lead_time_hours": 1.0, "failed": False}
    return pd.DataFrame([{**base, **r} for r in rows])


def _warehouse(path: Path, **tables: pd.DataFrame) -> Path:
    """A warehouse file with the canonical tables, filled with ``tables`` (other columns NULL)."""
    con = duckdb.connect(str(path))
    create_tables(con)
    for name, frame in tables.items():
        cols = [c for c in datamodel.table(name).column_names if c in frame.columns]
        con.register("_frame", frame[cols])
        con.execute(f"INSERT INTO {name} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _frame")
        con.unregister("_frame")
    con.close()
    return path


# ----------------------------------------------------------------------------- linkage


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """Four deployments and six tickets on items A (app), B (db), C (app, no tickets).

    Window 7 days, a ticket follows a deployment when deployed_at < opened_at <= deployed_at + 7 days:
    D1 (A, 01-01 10:00) is followed by T1 (01-03) and T2 (01-08 09:00, 23 h before the window closes);
    D2 (A, 01-20 10:00) by nothing (T4 opens an hour before it); D3 (B, 01-05 00:00) by T5
    (01-12 00:00, exactly 7 days: included) but not T6 (same instant: not after); D4 (C) by nothing.
    D5 and T7 name no item and are left out. Hence 4 deployments, 2 followed; 6 tickets, 3 preceded.
    With 14 days, T3 (01-15) also follows D1: 4 preceded.
    """
    deployments = _deployments(
        [
            {"deployment_id": "D1", "configuration_item": "A", "ci_type": "app", "deployed_at": _ts("2024-01-01 10:00")},
            {"deployment_id": "D2", "configuration_item": "A", "ci_type": "app", "deployed_at": _ts("2024-01-20 10:00")},
            {"deployment_id": "D3", "configuration_item": "B", "ci_type": "db", "deployed_at": _ts("2024-01-05 00:00")},
            {"deployment_id": "D4", "configuration_item": "C", "ci_type": "app", "deployed_at": _ts("2024-01-03 00:00")},
            {"deployment_id": "D5", "configuration_item": None, "ci_type": "app", "deployed_at": _ts("2024-01-02 00:00")},
        ]
    )
    tickets = _tickets(
        [
            {"ticket_id": "T1", "configuration_item": "A", "ci_type": "app", "opened_at": _ts("2024-01-03 00:00"), "resolved_at": _ts("2024-01-03 08:00")},
            {"ticket_id": "T2", "configuration_item": "A", "ci_type": "app", "opened_at": _ts("2024-01-08 09:00"), "resolved_at": _ts("2024-01-09 09:00")},
            {"ticket_id": "T3", "configuration_item": "A", "ci_type": "app", "opened_at": _ts("2024-01-15 00:00"), "resolved_at": _ts("2024-01-15 02:00")},
            {"ticket_id": "T4", "configuration_item": "A", "ci_type": "app", "opened_at": _ts("2024-01-20 09:00"), "resolved_at": _ts("2024-01-20 12:00")},
            {"ticket_id": "T5", "configuration_item": "B", "ci_type": "db", "opened_at": _ts("2024-01-12 00:00"), "resolved_at": _ts("2024-01-12 05:00")},
            {"ticket_id": "T6", "configuration_item": "B", "ci_type": "db", "opened_at": _ts("2024-01-05 00:00"), "resolved_at": _ts("2024-01-05 01:00")},
            {"ticket_id": "T7", "configuration_item": None, "ci_type": "app", "opened_at": _ts("2024-01-04 00:00"), "resolved_at": None},
        ]
    )
    return _warehouse(tmp_path / "linked.duckdb", deployments=deployments, tickets=tickets)


def test_link_changes_counts_worked_by_hand(linked: Path) -> None:
    res = change_linkage.link_changes(store.connect(linked), window_days=7, min_deployments=1)
    assert (res.deployments, res.followed, res.tickets, res.preceded) == (4, 2, 6, 3)
    assert res.failure_rate == 0.5
    by_type = res.by_type.set_index("ci_type")
    assert by_type.loc["app", ["deployments", "followed"]].tolist() == [3, 1]
    assert by_type.loc["db", ["deployments", "followed"]].tolist() == [1, 1]
    # Wilson interval of 2 out of 4, from statsmodels:
    # proportion_confint(2, 4, alpha=0.05, method="wilson") -> (0.15003898915214947, 0.8499610108478506)
    assert_allclose(res.failure_rate_ci, (0.15003898915214947, 0.8499610108478506), rtol=1e-12)
    assert res.error is None
    rows = res.findings("bpi2014_rabobank_itsm")
    # The finding is the after-minus-before difference: 2 of 4 followed (D1, D3), 1 of 4 preceded (D2, by T3 and T4).
    assert [r["metric"] for r in rows] == ["change_incidents_after_minus_before", "resolution_after_minus_before_change"]
    assert rows[0]["estimate"] == 25.0 and rows[0]["unit"] == "pp"


def test_link_changes_window_and_pooling(linked: Path) -> None:
    res = change_linkage.link_changes(store.connect(linked), window_days=14, min_deployments=2)
    assert (res.followed, res.preceded) == (2, 4)
    assert res.by_type["ci_type"].tolist() == ["app", change_linkage.OTHER_TYPES]


def test_link_changes_effect_is_welch_within_the_comparable_type(linked: Path) -> None:
    # app: preceded T1 (8 h), T2 (24 h) against T3 (2 h), T4 (3 h); db has one ticket per group: dropped.
    res = change_linkage.link_changes(store.connect(linked), window_days=7)
    e = res.effect
    assert (e.types_used, e.types_dropped, e.n_preceded, e.n_not_preceded) == (1, 1, 2, 2)
    welch = stats.ttest_ind(np.log([8.0, 24.0]), np.log([2.0, 3.0]), equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert_allclose([e.fit.ci_low, e.fit.ci_high], [ci.low, ci.high], rtol=1e-10)
    assert_allclose(e.ratio[0], math.sqrt(8 * 24) / math.sqrt(2 * 3), rtol=1e-12)
    assert "association" in e.sentence()


def test_link_changes_without_items_returns_an_error_value(tmp_path: Path) -> None:
    path = _warehouse(
        tmp_path / "none.duckdb",
        deployments=_deployments([{"deployment_id": "D1", "deployed_at": _ts("2024-01-01 00:00")}]),
        tickets=_tickets([{"ticket_id": "T1", "opened_at": _ts("2024-01-02 00:00")}]),
    )
    res = change_linkage.link_changes(store.connect(path))
    assert res.error == change_linkage.NO_LINKABLE_DEPLOYMENTS
    assert res.effect.error == change_linkage.NO_COMPARABLE_TYPES
    assert res.findings("x") == []
    with pytest.raises(ValueError, match="window_days must be at least 1"):
        change_linkage.link_changes(store.connect(path), window_days=0)


# ----------------------------------------------------------------------------- the estimate


def _cells(groups: dict[tuple[str, bool], np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"stratum": s, "treated": t, "n": len(y), "sum": y.sum(), "sum_squares": (y**2).sum()}
            for (s, t), y in groups.items()
        ]
    )


def test_one_stratum_is_welch() -> None:
    rng = np.random.default_rng(7)
    y1, y0 = rng.normal(1.3, 2.0, 40), rng.normal(1.0, 0.7, 90)
    res = change_linkage.stratified_difference(_cells({("s", True): y1, ("s", False): y0}), alpha=0.1)
    # Reference: scipy.stats.ttest_ind(y1, y0, equal_var=False).confidence_interval(0.9)
    welch = stats.ttest_ind(y1, y0, equal_var=False)
    ci = welch.confidence_interval(0.9)
    assert_allclose([res.fit.estimate, res.fit.ci_low, res.fit.ci_high], [y1.mean() - y0.mean(), ci.low, ci.high], rtol=1e-10)
    assert_allclose(res.fit.df, welch.df, rtol=1e-10)


def test_strata_are_weighted_by_treated_counts() -> None:
    rng = np.random.default_rng(11)
    data = {
        ("a", True): rng.normal(2.0, 1.0, 30), ("a", False): rng.normal(1.5, 1.2, 60),
        ("b", True): rng.normal(0.0, 0.5, 10), ("b", False): rng.normal(0.4, 0.8, 25),
        ("c", True): rng.normal(0.0, 0.5, 1), ("c", False): rng.normal(0.4, 0.8, 25),
    }
    res = change_linkage.stratified_difference(_cells(data))
    # Reference per stratum: statsmodels CompareMeans(DescrStatsW(y1), DescrStatsW(y0)).std_meandiff_separatevar
    w = np.array([30, 10]) / 40
    diffs, ses = [], []
    for s in ("a", "b"):
        cm = CompareMeans(DescrStatsW(data[(s, True)]), DescrStatsW(data[(s, False)]))
        diffs.append(data[(s, True)].mean() - data[(s, False)].mean())
        ses.append(cm.std_meandiff_separatevar)
    assert_allclose(res.fit.estimate, np.dot(w, diffs), rtol=1e-12)
    assert_allclose(res.fit.se, math.sqrt(np.dot(w**2, np.square(ses))), rtol=1e-10)
    assert (res.types_used, res.types_dropped, res.n_preceded) == (2, 1, 40)


def test_interval_covers_a_planted_effect() -> None:
    # 4,000 simulated studies at once, two strata with different variances; planted effect 0.3.
    rng = np.random.default_rng(2024)
    reps = 4000
    sizes = {("a", True): (0.3, 1.0, 20), ("a", False): (0.0, 2.0, 50), ("b", True): (1.3, 0.5, 30), ("b", False): (1.0, 1.0, 15)}
    sums = {}
    for key, (mu, sd, n) in sizes.items():
        y = rng.normal(mu, sd, (reps, n))
        sums[key] = (np.full(reps, n), y.sum(axis=1), (y**2).sum(axis=1))

    def arm(treated: bool, i: int) -> np.ndarray:
        return np.stack([sums[("a", treated)][i], sums[("b", treated)][i]], axis=-1)

    res = change_linkage.combine_strata(*(arm(True, i) for i in range(3)), *(arm(False, i) for i in range(3)))
    coverage = np.mean((res["ci_low"] <= 0.3) & (0.3 <= res["ci_high"]))
    assert 0.94 <= coverage <= 0.96
    assert abs(res["estimate"].mean() - 0.3) < 0.01


def test_no_comparable_stratum_is_a_value_not_an_exception() -> None:
    res = change_linkage.stratified_difference(_cells({("a", True): np.array([1.0]), ("a", False): np.array([1.0, 2.0])}))
    assert res.error == change_linkage.NO_COMPARABLE_TYPES and math.isnan(res.fit.estimate)
    assert "No comparison" in res.sentence()
    with pytest.raises(ValueError, match="alpha must be in"):
        change_linkage.stratified_difference(_cells({("a", True): np.ones(3)}), alpha=1.5)


# ----------------------------------------------------------------------------- metric support


def test_requirements_cover_the_catalog_with_canonical_fields() -> None:
    assert set(metric_support.REQUIRES) == set(catalog.ids())
    reqs = {**metric_support.REQUIRES, **change_linkage.REQUIRES}
    for field in {f for r in reqs.values() for alt in r for f in alt}:
        table, column = field.split(".")
        datamodel.table(table).column(column)


def test_unavailable_metrics_name_the_missing_field(tmp_path: Path) -> None:
    tickets = _tickets(
        [
            {"ticket_id": "T1", "opened_at": _ts("2024-01-01"), "resolved_at": _ts("2024-01-02"), "sla_target_hours": 8.0},
            {"ticket_id": "T2", "opened_at": _ts("2024-01-03"), "resolved_at": None, "reopened": True},
        ]
    )
    con = store.connect(_warehouse(tmp_path / "support.duckdb", tickets=tickets))
    support = metric_support.metric_support(
        con,
        ["ticket_volume", "first_response_mean_hours", "sla_attainment", "reopen_rate", "self_service_rate", "change_failure_rate"],
        constants=["tickets.channel"],
        extra=change_linkage.REQUIRES,
    ).set_index("metric")
    assert support["available"].to_dict() == {
        "ticket_volume": True, "first_response_mean_hours": False, "sla_attainment": True, "reopen_rate": True,
        "self_service_rate": False, "change_failure_rate": False, "change_linkage": False,
    }
    assert support.loc["first_response_mean_hours", "missing"] == "tickets.first_response_at"
    assert support.loc["first_response_mean_hours", "reason"] == "tickets.first_response_at is empty in every row"
    assert support.loc["self_service_rate", "reason"] == "tickets.channel is a constant set in the source mapping, not observed"
    assert support.loc["change_failure_rate", "missing"] == "deployments.failed"
    assert support.loc["change_failure_rate", "reason"] == "table deployments is empty"
    assert support.loc["change_linkage", "missing"].startswith("deployments.configuration_item; deployments.deployed_at")
    assert metric_support.available(support.reset_index()) == ["ticket_volume", "sla_attainment", "reopen_rate"]
    assert list(metric_support.unavailable(support.reset_index())["metric"]) == [
        "first_response_mean_hours", "self_service_rate", "change_failure_rate", "change_linkage",
    ]


def test_constant_columns_come_from_the_mapping() -> None:
    assert metric_support.constant_columns(ROOT / "params" / "real" / "bpi2014_rabobank.yaml") == (
        "tickets.channel", "tickets.requester_id", "tickets.requester_type",
    )


# ----------------------------------------------------------------------------- groups and summary


def test_group_shares_by_hand(tmp_path: Path) -> None:
    # X: resolved in 1, 3 and 10 hours; Y: 20 hours; Z: opened 2024-01-30, never resolved.
    rows = [("X1", "X", 1), ("X2", "X", 3), ("X3", "X", 10), ("Y1", "Y", 20)]
    tickets = _tickets(
        [{"ticket_id": i, "assignment_group": g, "opened_at": _ts("2024-01-10 00:00"), "resolved_at": _ts("2024-01-10 00:00") + dt.timedelta(hours=h)} for i, g, h in rows]
        + [{"ticket_id": "Z1", "assignment_group": "Z", "opened_at": _ts("2024-01-30 00:00"), "resolved_at": None}]
    )
    con = store.connect(_warehouse(tmp_path / "groups.duckdb", tickets=tickets))
    res = ticket_groups.group_shares(con, "assignment_group", start="2024-01", end="2024-02", min_tickets=2, reference_hours=2.0)
    table = res.table.set_index("group")
    # excess over 2 h: X 0 + 1 + 8 = 9, Y 18; Z open; Y and Z pooled (one ticket each)
    other = "other (2 groups under 2 tickets)"
    assert res.pooled == 2 and list(table.index) == [other, "X"]
    assert_allclose(table.loc["X", "excess_share"], 9 / 27)
    # backlog: Z open at both month ends, nothing else: 2 ticket-months over 2 months
    assert table.loc[other, "backlog"] == 1.0 and table.loc["X", "backlog_share"] == 0.0
    assert res.top()["group"].tolist() == ["X"]
    assert res.unresolved == 1 and "1 of 5 tickets (20.0%) have no resolution time" in res.sentences()[1]
    default = ticket_groups.group_shares(con, "assignment_group", start="2024-01", end="2024-01", min_tickets=1)
    assert default.reference_hours == 6.5  # median of 1, 3, 10, 20
    mix = ticket_groups.ticket_mix(con, "assignment_group", start="2024-01", end="2024-01")
    assert_allclose(mix.set_index("group")["share"].to_dict()["X"], 3 / 5)
    with pytest.raises(KeyError, match="tickets has no column 'team'"):
        ticket_groups.group_shares(con, "team", start="2024-01", end="2024-01")


def test_panel_summary_pools_rates_and_averages_counts() -> None:
    period = pd.to_datetime(["2024-01-01", "2024-02-01"])
    panel = pd.DataFrame(
        {
            "period": list(period) * 2,
            "segment_dim": "all", "segment": "all",
            "metric": ["reopen_rate"] * 2 + ["ticket_volume"] * 2,
            "value": [0.1, 0.4, 100.0, 300.0], "n": [90.0, 10.0, 100.0, 300.0],
            "suppressed": False, "note": None,
        }
    )
    summary = panel_summary.summarise(panel).set_index("metric")
    assert_allclose(summary.loc["reopen_rate", "value"], (0.1 * 90 + 0.4 * 10) / 100)
    assert summary.loc["ticket_volume", "value"] == 200.0
    rows = panel_summary.findings(summary.reset_index(), dataset="d", section="itsm", period="2024-01 to 2024-02")
    assert rows[0]["unit"] == "%"
    assert_allclose(rows[0]["estimate"], 13.0, rtol=1e-12)


# ----------------------------------------------------------------------------- the synthetic Rabobank-like files

SYNTHETIC = ROOT / "tests" / "data" / "case_study" / "bpi2014_rabobank_itsm"


@pytest.fixture(scope="module")
def rabobank_like() -> ModuleType:
    """The seeded generator of the committed files (a script, loaded from its path)."""
    path = ROOT / "tests" / "data" / "case_study" / "make_rabobank_like.py"
    spec = importlib.util.spec_from_file_location("make_rabobank_like", path)
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def planted(rabobank_like: ModuleType):
    return rabobank_like.build()


def test_synthetic_files_are_the_seeded_generators_output(rabobank_like: ModuleType, planted) -> None:
    for name, text in rabobank_like.texts(planted).items():
        assert gzip.decompress((SYNTHETIC / name).read_bytes()).decode("ascii") == text, name
    truth = planted.truth
    assert truth["items"] == 80 and 1_900 <= truth["incidents"] <= 2_100 and 400 <= truth["change_lines"] <= 500
    assert set(planted.incidents["CI Name (aff)"]) == set(planted.changes["CI Name (aff)"])


def test_synthetic_files_keep_the_real_exports_columns_and_vocabularies_but_none_of_its_ids(planted) -> None:
    real = SHARED / "bpi2014_rabobank_itsm"
    if not real.is_dir():
        pytest.skip(f"the BPI 2014 Rabobank export is not at {real}")
    ids = {"detail_incident.csv.gz": ["CI Name (aff)", "Service Component WBS (aff)", "Incident ID"],
           "detail_change.csv.gz": ["CI Name (aff)", "Change ID"]}
    vocab = {
        "detail_incident.csv.gz": (
            planted.incidents,
            ["CI Type (aff)", "CI Subtype (aff)", "Status", "Impact", "Urgency", "Priority", "Category",
             "Alert Status", "Closure Code", "CI Type (CBy)", "CI Subtype (CBy)"],
        ),
        "detail_change.csv.gz": (
            planted.changes,
            ["CI Type (aff)", "CI Subtype (aff)", "Change Type", "Risk Assessment", "Emergency Change",
             "CAB-approval needed", "Originated from"],
        ),
    }
    for name, (frame, columns) in vocab.items():
        with gzip.open(real / name, "rt", encoding="ascii", newline="") as f:
            header = f.readline()
        with gzip.open(SYNTHETIC / name, "rt", encoding="ascii", newline="") as f:
            assert f.readline() == header, name
        original = pd.read_csv(real / name, sep=";", dtype=str, keep_default_na=False, usecols=columns + ids[name])
        for column in columns:
            assert set(frame[column]) <= set(original[column]), (name, column)
        for column in ids[name]:
            assert not set(frame[column]) & set(original[column]), (name, column)


def test_linkage_recovers_what_the_synthetic_files_plant(planted, tmp_path: Path) -> None:
    from outcomes.ingest.load import ensure_warehouse

    path = ensure_warehouse(
        ROOT / "params/real/bpi2014_rabobank.yaml", raw_dir=SYNTHETIC, warehouse=tmp_path / "rabobank_like.duckdb"
    )
    con = duckdb.connect(str(path), read_only=True)
    log = {s: (r, loaded, j) for s, r, loaded, j in con.execute("SELECT source, rows_read, rows_loaded, rows_rejected FROM _ingest_log").fetchall()}
    truth = planted.truth
    assert log == {
        "rabobank_incidents": (truth["incidents"], truth["incidents"], 0),
        "rabobank_changes": (truth["change_lines"], truth["change_lines"], 0),
    }
    # The tool's own link: change lines whose record lists an incident.
    recorded = con.execute("SELECT count(*) FILTER (WHERE failed) FROM deployments").fetchone()[0]
    assert recorded == truth["recorded_lines"]
    con.close()
    res = change_linkage.link_changes(store.connect(path), window_days=7)
    assert (res.deployments, res.followed, res.tickets, res.preceded) == (
        truth["change_lines"], truth["failed_lines"], truth["incidents"], truth["caused_incidents"],
    )
    # Planted exactly within each item type, up to whole seconds and daylight-saving hours.
    e = res.effect
    assert e.error is None and abs(e.fit.estimate - math.log(truth["effect"])) < 0.005
    assert e.fit.ci_low < math.log(truth["effect"]) < e.fit.ci_high
    # The finding is the after-minus-before difference (the placebo window turned backwards), paired over change lines.
    p = res.placebo
    assert p.events == res.deployments and p.after == res.followed
    rows = res.findings("bpi2014_rabobank_itsm")
    assert rows[0]["metric"] == "change_incidents_after_minus_before" and rows[0]["unit"] == "pp"
    assert_allclose(rows[0]["estimate"], 100 * (p.after - p.before) / p.events, rtol=1e-12)
    # The files keep unrelated incidents out of the week after a change, so the week before is busier.
    assert rows[0]["ci_high"] < 0 and "fewer incidents follow" in rows[0]["sentence"]
    d = res.resolution_difference
    assert rows[1]["metric"] == "resolution_after_minus_before_change" and "(placebo)" in rows[1]["sentence"]
    assert_allclose(d.estimate, e.fit.estimate - res.effect_before.fit.estimate, rtol=1e-12)
    assert_allclose(d.se, math.hypot(e.fit.se, res.effect_before.fit.se), rtol=1e-12)
    # Changes are counted as changes, not change-and-item rows.
    con = duckdb.connect(str(path), read_only=True)
    rows_, changes = con.execute(
        "SELECT count(*), count(DISTINCT split_part(deployment_id, '/', 1)) FROM deployments "
        "WHERE deployed_at >= '2013-10-01' AND deployed_at < '2014-04-01'"
    ).fetchone()
    con.close()
    counted = change_counts.count_changes(store.connect(path), start="2013-10", end="2014-03")
    assert (counted.changes, counted.rows, counted.days) == (changes, rows_, 182) and "deployment_frequency" in counted.withheld()


# ----------------------------------------------------------------------------- the full public files


@pytest.fixture(scope="module")
def full() -> dict[str, Path]:
    if not (SHARED / "uci_incident_event_log").is_dir() or not (SHARED / "bpi2014_rabobank_itsm").is_dir():
        pytest.skip(f"public datasets not found in {SHARED}")
    from outcomes.ingest.load import ensure_warehouse

    # The mappings' own raw_dir (../shared/data/<dataset>, as params/case_study.yaml passes it) and warehouses
    # (data/real/, rebuilt only when stale): the notebook and a second run reuse them.
    return {
        "uci": ensure_warehouse(ROOT / "params/real/uci_servicenow.yaml"),
        "rabobank": ensure_warehouse(ROOT / "params/real/bpi2014_rabobank.yaml"),
    }


def test_full_uci_counts_match_the_readme(full: dict[str, Path]) -> None:
    con = duckdb.connect(str(full["uci"]), read_only=True)
    read, loaded, rejected = con.execute("SELECT rows_read, rows_loaded, rows_rejected FROM _ingest_log").fetchone()
    assert read == 141_712  # README: 141,712 events
    assert loaded + rejected == 24_918  # README: 24,918 incidents, one row each after dedupe
    # README, at each incident's last event: made_sla true 15,803; priorities; the rejected rows can miss from each
    readme = {"sla": 15_803, "medium": 23_466, "low": 774, "high": 408, "critical": 270}
    got = dict(con.execute("SELECT priority, count(*) FROM tickets GROUP BY 1").fetchall())
    got["sla"] = con.execute("SELECT count(*) FROM tickets WHERE sla_met").fetchone()[0]
    for key, value in readme.items():
        assert 0 <= value - got[key] <= rejected, key
    support = metric_support.metric_support(store.connect(full["uci"]), extra=change_linkage.REQUIRES).set_index("metric")
    assert not support.loc["first_response_median_hours", "available"]
    assert not support.loc["change_linkage", "available"]
    assert support.loc["sla_attainment", "available"] and support.loc["reopen_rate", "available"]


def test_full_rabobank_counts_match_the_readme(full: dict[str, Path]) -> None:
    con = duckdb.connect(str(full["rabobank"]), read_only=True)
    log = {s: (r, loaded) for s, r, loaded in con.execute("SELECT source, rows_read, rows_loaded FROM _ingest_log").fetchall()}
    assert log["rabobank_incidents"] == (46_809, 46_606)  # README: 46,809 rows, 46,606 with an Incident ID
    assert log["rabobank_changes"][0] == 30_275  # README: 30,275 change x CI rows
    got = dict(con.execute("SELECT priority, count(*) FROM tickets GROUP BY 1").fetchall())
    # README priorities 1 -> 3, 2 -> 697, 3 -> 6,703, 4 -> 22,717, 5 -> 16,486 (4 and 5 map to low)
    assert got == {"critical": 3, "high": 697, "medium": 6_703, "low": 22_717 + 16_486}
    changes = con.execute("SELECT count(DISTINCT split_part(deployment_id, '/', 1)) FROM deployments").fetchone()[0]
    assert changes <= 18_000  # 18,000 distinct change ids in the file; only implemented ones are deployments
    res = change_linkage.link_changes(store.connect(full["rabobank"]), window_days=7)
    assert res.deployments == log["rabobank_changes"][1] and 0 < res.failure_rate < 1
    assert res.effect.error is None and res.effect.fit.ci_low < res.effect.fit.estimate < res.effect.fit.ci_high


def test_charts_are_built_from_the_results(linked: Path) -> None:
    from outcomes.casestudy import itsm_charts

    con = store.connect(linked)
    spec = itsm_charts.change_failure_chart(change_linkage.link_changes(con, min_deployments=1)).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "rule"]
    shares = ticket_groups.group_shares(con, "ci_type", start="2024-01", end="2024-01", min_tickets=1)
    bars = itsm_charts.shares_chart(shares).to_dict()
    assert bars["encoding"]["y"]["sort"] == list(shares.top()["group"])
    mix = itsm_charts.mix_chart(ticket_groups.ticket_mix(con, "priority", start="2024-01", end="2024-01")).to_dict()
    assert mix["encoding"]["y"]["stack"] == "zero"
