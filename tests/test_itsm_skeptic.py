"""The service-management page under a skeptical reading: placebo windows, data checks, definitions.

- The event-window placebo (:mod:`outcomes.experiment.quasi.event_window`): counts by hand,
  its paired interval against statsmodels, its calibration by simulation, and planted data
  where changed items are incident-prone (no effect: the after-rate is high, the difference
  is not) and where changes add incidents.
- The change linkage's finding is the after-minus-before difference (on the committed synthetic
  Rabobank-like files: ``tests/test_itsm_case.py::test_linkage_recovers_what_the_synthetic_files_plant``).
- The data checks (:mod:`outcomes.casestudy.ticket_quality`) catch tickets closed without a
  resolution time and name the group holding them; backlog and delay are recomputed without them.
- Every metric sentence states its population and window; counts are whole numbers; a zero
  rate is not a finding.

The last tests read the public files in ``../shared/data`` (skipped when absent) and check the
numbers a skeptical reader found there.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.weightstats import DescrStatsW

from outcomes.casestudy import (
    change_counts, change_linkage, interactions, itsm_charts, panel_summary, ticket_groups, ticket_quality,
)
from outcomes.experiment.quasi import event_window
from outcomes.ingest.load import ensure_warehouse
from outcomes.metrics import catalog, panel
from outcomes.warehouse import datamodel, store
from outcomes.warehouse.store import create_tables

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
UCI_EXCERPT = ROOT / "tests" / "data" / "case_study" / "uci_incident_event_log"
COUNT_WITH_DECIMALS = re.compile(r"\b\d{1,3}(,\d{3})+\.\d|\b\d+\.\d+ (tickets|incidents|changes)\b")


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _warehouse(path: Path, **tables: pd.DataFrame) -> Path:
    con = duckdb.connect(str(path))
    create_tables(con)
    for name, frame in tables.items():
        cols = [c for c in datamodel.table(name).column_names if c in frame.columns]
        con.register("_frame", frame[cols])
        con.execute(f"INSERT INTO {name} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _frame")
        con.unregister("_frame")
    con.close()
    return path


def _tickets(rows: list[dict]) -> pd.DataFrame:
    base = {"requester_type": "employee", "requester_id": None, "service": "svc", "priority": "medium", "channel": "phone"}
    return pd.DataFrame([{**base, **r} for r in rows])


# ----------------------------------------------------------------------------- the event-window placebo


def _windows(events: list[tuple[str, str, str]], outcomes: list[tuple[str, str]], window_days: int = 7):
    con = ibis.duckdb.connect()
    e = con.create_table("e", pd.DataFrame(events, columns=["event_id", "key", "at"]).astype({"at": "datetime64[us]"}))
    o = con.create_table("o", pd.DataFrame(outcomes, columns=["key", "at"]).astype({"at": "datetime64[us]"}))
    return event_window.event_windows(e, o, window_days=window_days)


def test_event_windows_by_hand_and_against_statsmodels() -> None:
    # E1 (A, 01-10): outcome 01-12 after, 01-05 before -> both. E2 (A, 01-30): 01-25 before only.
    # E3 (B, 01-10): 01-17 00:00 exactly 7 days after (in); nothing before. E4 (C, 01-10): same instant only: neither.
    # Key D has outcomes and no event: 2 before the events' span (01-10 to 01-30, left out), 1 inside it.
    events = [("E1", "A", "2024-01-10"), ("E2", "A", "2024-01-30"), ("E3", "B", "2024-01-10"), ("E4", "C", "2024-01-10")]
    outcomes = [
        ("A", "2024-01-05"), ("A", "2024-01-12"), ("A", "2024-01-25"), ("B", "2024-01-17"), ("C", "2024-01-10"),
        ("D", "2024-01-02"), ("D", "2024-01-03"), ("D", "2024-01-20"),
    ]
    res = _windows(events, outcomes)
    assert (res.events, res.after, res.before, res.both) == (4, 2, 2, 1)
    assert res.difference == 0.0 and res.never_keys == 1
    # blocks of 7 days since the epoch: 2024-01-10 (day 19732) .. 2024-01-30 (19752) span blocks 2818 .. 2821 (4).
    assert (res.never_blocks, res.blocks) == (1, 4) and res.never_rate == 1 / 4
    # Golden: DescrStatsW(np.array([0, -1, 1, 0])).zconfint_mean(alpha=0.05) -> (-0.8001..., 0.8001...)
    d = np.array([1 - 1, 0 - 1, 1 - 0, 0 - 0], dtype=float)
    assert_allclose(res.difference_ci, DescrStatsW(d).zconfint_mean(alpha=0.05), rtol=1e-12)
    assert "no more frequent after an event" in res.sentence()


def test_event_windows_rejects_bad_arguments_and_returns_no_events_as_a_value() -> None:
    con = ibis.duckdb.connect()
    e = con.create_table("e", pd.DataFrame({"event_id": ["x"], "key": pd.Series([None], dtype="string"), "at": [pd.Timestamp("2024-01-01")]}))
    o = con.create_table("o", pd.DataFrame({"key": ["A"], "at": [pd.Timestamp("2024-01-01")]}))
    assert event_window.event_windows(e, o, window_days=7).error == event_window.NO_EVENTS
    with pytest.raises(ValueError, match="window_days must be at least 1"):
        event_window.event_windows(e, o, window_days=0)
    with pytest.raises(ValueError, match=r"outcomes lacks columns \['at'\]"):
        event_window.event_windows(e, o.rename(when="at"), window_days=7)


def test_paired_interval_is_calibrated_without_an_effect() -> None:
    """2,000 studies of 400 events, after and before independent Bernoulli(0.1) (seed 20261206): ~95% coverage."""
    rng = np.random.default_rng(20261206)
    a = rng.random((2000, 400)) < 0.1
    b = rng.random((2000, 400)) < 0.1
    covered = 0
    for after, before in zip(a, b):
        r = event_window.EventWindowCheck(7, 400, int(after.sum()), int(before.sum()), int((after & before).sum()), 0, 0, 1)
        low, high = r.difference_ci
        covered += low <= 0 <= high
    assert 0.935 <= covered / 2000 <= 0.965


def _planted(effect: float, seed: int) -> tuple[list, list]:
    """200 items over 200 days; incident-prone items (daily rate 1% to 5%) are changed more often.

    With ``effect`` > 0, each change adds an incident on its item within 7 days with that probability.
    """
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00")
    rate = rng.uniform(0.01, 0.05, 200)
    days = rng.random((200, 200)) < rate[:, None]
    item, day = np.nonzero(days)
    outcomes = [(f"I{i}", start + np.timedelta64(int(d * 1440 + 600), "m")) for i, d in zip(item, day)]
    changes = rng.random((200, 200)) < (rate[:, None] * 0.5)
    changes[100:] = False  # half the items are never changed
    ci, cd = np.nonzero(changes)
    events = [(f"E{k}", f"I{i}", start + np.timedelta64(int(d * 1440 + 300), "m")) for k, (i, d) in enumerate(zip(ci, cd))]
    added = rng.random(len(events)) < effect
    lag = rng.integers(1, 7 * 1440, len(events))
    outcomes += [(key, at + np.timedelta64(int(m), "m")) for (_, key, at), m, add in zip(events, lag, added) if add]
    return [(i, k, pd.Timestamp(t)) for i, k, t in events], [(k, pd.Timestamp(t)) for k, t in outcomes]


def test_planted_no_effect_on_incident_prone_items_fails_no_placebo() -> None:
    events, outcomes = _planted(0.0, seed=7)
    res = _windows(events, outcomes)
    # The after-rate is far above the never-changed background, yet no higher than the before-rate.
    assert res.after_rate > 0.1 and res.never_rate < res.after_rate
    low, high = res.difference_ci
    assert low <= 0 <= high


def test_planted_effect_shows_in_the_difference() -> None:
    events, outcomes = _planted(0.3, seed=8)
    res = _windows(events, outcomes)
    low, high = res.difference_ci
    assert low > 0.15 and "more outcomes follow an event" in res.sentence()


# ----------------------------------------------------------------------------- changes and first contact


def test_first_contact_resolution_from_interactions(tmp_path: Path) -> None:
    path = tmp_path / "detail_interaction.csv"
    path.write_text(
        "Interaction ID;Open Time (First Touch);First Call Resolution\n"
        "SD1;1-10-2013 9:00;Y\nSD2;15-10-2013 9:00;N\nSD3;31-10-2013 23:59;Y\nSD4;1-11-2013 0:00;Y\nSD5;2-10-2013 8:00;\n"
    )
    res = interactions.first_contact_resolution(path, start="2013-10", end="2013-10")
    assert (res.resolved, res.recorded) == (2, 3)
    assert "interactions (calls and mails to the desk) first touched in 2013-10" in res.sentence()
    missing = interactions.first_contact_resolution(tmp_path / "none.csv", start="2013-10", end="2013-10")
    assert missing.error and missing.findings("d") == [] and "not measured" in missing.sentence()


# ----------------------------------------------------------------------------- the data checks


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ticket_quality.TicketQuality]:
    """March to May 2016; the log runs to 2016-12. Group 70 holds 6 tickets closed without a resolution time.

    G1: 20 tickets resolved (median 44 h in March, 3 h in May: a 15-fold drop); G70: 10 resolved in 10 h and 6 never;
    one G1 ticket resolved before it opened. Channel is "phone" on every ticket.
    """
    rows = []
    for i in range(10):
        rows.append({"ticket_id": f"M{i}", "assignment_group": "G1", "opened_at": _ts("2016-03-02 00:00"), "resolved_at": _ts("2016-03-02 00:00") + dt.timedelta(hours=44)})
        rows.append({"ticket_id": f"Y{i}", "assignment_group": "G1", "opened_at": _ts("2016-05-02 00:00"), "resolved_at": _ts("2016-05-02 00:00") + dt.timedelta(hours=3)})
        rows.append({"ticket_id": f"S{i}", "assignment_group": "G70", "opened_at": _ts("2016-04-02 00:00"), "resolved_at": _ts("2016-04-02 10:00")})
    rows += [{"ticket_id": f"U{i}", "assignment_group": "G70", "opened_at": _ts("2016-03-20 00:00"), "resolved_at": None} for i in range(6)]
    rows.append({"ticket_id": "N1", "assignment_group": "G1", "opened_at": _ts("2016-04-10 00:00"), "resolved_at": _ts("2016-04-09 00:00")})
    rows.append({"ticket_id": "L1", "assignment_group": "G1", "opened_at": _ts("2016-12-01 00:00"), "resolved_at": _ts("2016-12-01 02:00")})
    path = _warehouse(tmp_path_factory.mktemp("flagged") / "flagged.duckdb", tickets=_tickets(rows))
    return path, ticket_quality.check_tickets(store.connect(path), start="2016-03", end="2016-05")


def test_data_checks_catch_and_name_the_artifact(flagged: tuple[Path, ticket_quality.TicketQuality]) -> None:
    path, q = flagged
    con = store.connect(path)
    closed = q.flag("closed_without_resolution")
    assert closed is not None and closed.rows == 6 and "6 of them in assignment_group G70" in closed.detail
    assert q.flag("impossible_duration").rows == 1
    assert "drops 15-fold in 2 months" in q.flag("level_shift").detail
    assert set(q.caveats()) >= {"mttr_hours", "median_time_to_resolve_hours", "backlog_size"}
    single = {f.column: f for f in q.flags if f.check == "single_value"}
    assert "self_service_rate" in single["channel"].metrics and "self_service_rate" in q.withheld()
    assert q.dropped == 7 and len(q.table()) == len(q.flags)
    before = ticket_groups.group_shares(con, "assignment_group", start="2016-03", end="2016-05", min_tickets=1)
    after = ticket_groups.group_shares(con, "assignment_group", start="2016-03", end="2016-05", min_tickets=1, quality=q)
    share = lambda r: r.table.set_index("group").loc["G70", "backlog_share"]  # noqa: E731
    assert share(before) == 1.0 and share(after) == 0.0  # the whole backlog was the artifact
    assert after.dropped == 7 and "G70" in " ".join(after.sentences())


def test_group_sentence_sets_excess_against_tickets(flagged: tuple[Path, ticket_quality.TicketQuality]) -> None:
    path, q = flagged
    con = store.connect(path)
    res = ticket_groups.group_shares(con, "assignment_group", start="2016-03", end="2016-05", min_tickets=1, quality=q)
    text = res.sentences(n=1)[0]
    # G1 holds 20 of 30 tickets and all excess hours beyond the median: more than its share.
    assert "67% of the tickets and 100% of the hours" in text and "more than their share of tickets" in text
    assert "Of the 30 tickets opened 2016-03 to 2016-05 (after the data checks left out 7)" in text
    backlog = res.findings("d", n=1)[1]["sentence"]
    assert "average month-end backlog of the tickets opened 2016-03 to 2016-05 (after the data checks left out 7)" in backlog


def test_clean_data_raises_no_flag(tmp_path: Path) -> None:
    rows = [
        {"ticket_id": f"T{i}", "assignment_group": "G", "channel": ch, "opened_at": _ts("2024-01-05"), "resolved_at": _ts("2024-01-05") + dt.timedelta(hours=1 + i)}
        for i, ch in enumerate(["phone", "email", "portal"] * 4)
    ]
    q = ticket_quality.check_tickets(store.connect(_warehouse(tmp_path / "ok.duckdb", tickets=_tickets(rows))), start="2024-01", end="2024-01")
    assert [f.check for f in q.flags] == ["single_value"]  # requester_type is "employee" on every ticket
    assert q.dropped == 0 and not q.caveats()


def test_uci_excerpt_checks_run_before_the_findings() -> None:
    path = ensure_warehouse(ROOT / "params/real/uci_servicenow.yaml", raw_dir=UCI_EXCERPT)
    con = store.connect(path)
    q = ticket_quality.check_tickets(con, start="2016-03", end="2016-05")
    closed = q.flag("closed_without_resolution")
    assert closed is not None and "in assignment_group Group 70" in closed.detail
    metrics = ["ticket_volume", "mttr_hours", "median_time_to_resolve_hours", "backlog_size", "self_service_rate", "reopen_rate"]
    summary = panel_summary.summarise(panel.build_panel(con, start="2016-03", end="2016-05", segment="channel", metrics=metrics))
    _assert_sentences_state_window_and_population(
        panel_summary.findings(summary, dataset="d", section="itsm", period="2016-03 to 2016-05", withheld=q.withheld(), caveats=q.caveats()),
        "2016-03 to 2016-05",
    )
    table = panel_summary.formatted(summary, withheld=q.withheld(), caveats=q.caveats())
    assert not any(COUNT_WITH_DECIMALS.search(v) for v in table["value"])


def _assert_sentences_state_window_and_population(rows: list[dict], period: str) -> None:
    assert rows
    for r in rows:
        m = catalog.get(r["metric"])
        assert period in r["sentence"] and "Population:" in r["sentence"] and m.n in r["sentence"], r["sentence"]
        assert not COUNT_WITH_DECIMALS.search(r["sentence"]), r["sentence"]


def test_metric_sentences_state_window_population_and_whole_counts() -> None:
    frame = pd.DataFrame(
        {
            "period": list(pd.to_datetime(["2024-01-01", "2024-02-01"])) * 3,
            "segment_dim": "all", "segment": "all",
            "metric": ["ticket_volume"] * 2 + ["mttr_hours"] * 2 + ["self_service_rate"] * 2,
            "value": [8143.0, 8145.0, 90.0, 110.0, 0.0, 0.0], "n": [8143.0, 8145.0, 50.0, 50.0, 8143.0, 8145.0],
            "suppressed": False, "note": None,
        }
    )
    summary = panel_summary.summarise(frame)
    rows = panel_summary.findings(summary, dataset="d", section="itsm", period="2024-01 to 2024-02")
    assert [r["metric"] for r in rows] == ["ticket_volume", "mttr_hours"]  # a zero rate is not a finding
    _assert_sentences_state_window_and_population(rows, "2024-01 to 2024-02")
    assert "8,144 tickets" in rows[0]["sentence"] and "tickets resolved in the month" in rows[1]["sentence"]
    table = panel_summary.formatted(summary).set_index("metric")
    assert table.loc["Ticket volume", "value"] == "8,144 tickets"
    assert table.loc["Self-service rate", "value"] == "not reported (see note)"
    assert "does not record it" in panel_summary.notes(summary)


# ----------------------------------------------------------------------------- the full public files


@pytest.fixture(scope="module")
def full() -> dict[str, Path]:
    if not (SHARED / "uci_incident_event_log").is_dir() or not (SHARED / "bpi2014_rabobank_itsm").is_dir():
        pytest.skip(f"public datasets not found in {SHARED}")
    return {
        "uci": ensure_warehouse(ROOT / "params/real/uci_servicenow.yaml"),
        "rabobank": ensure_warehouse(ROOT / "params/real/bpi2014_rabobank.yaml"),
    }


@pytest.mark.slow  # about 25 s: checks, and rebuilds when stale, the full warehouses
def test_full_uci_group_70_artifact_is_caught_named_and_removed(full: dict[str, Path]) -> None:
    con = store.connect(full["uci"])
    q = ticket_quality.check_tickets(con, start="2016-03", end="2016-05")
    closed = q.flag("closed_without_resolution")
    assert closed.rows == 1_537 and "1,521 of them in assignment_group Group 70" in closed.detail
    assert "drops 16-fold" in q.flag("level_shift").detail  # 44.2 h in 2016-03, 2.8 h in 2016-05
    shares = ticket_groups.group_shares(con, "assignment_group", start="2016-03", end="2016-05", quality=q)
    assert_allclose(shares.table.set_index("group").loc["Group 70", "backlog_share"], 0.116, atol=0.001)


@pytest.mark.slow  # about 6 s on the full files
def test_full_rabobank_placebo_changes_and_first_contact(full: dict[str, Path]) -> None:
    con = store.connect(full["rabobank"])
    res = change_linkage.link_changes(con, window_days=7)
    p = res.placebo
    assert_allclose([p.after_rate, p.before_rate], [0.0728, 0.0730], atol=0.0005)
    low, high = p.difference_ci
    assert low < 0 < high  # the after-window is no worse than the before-window
    ratio_before = np.exp(res.effect_before.fit.estimate)
    assert 1.4 < ratio_before < 1.6  # incidents before a change take longer too (+50%)
    changes = change_counts.count_changes(con, start="2013-10", end="2014-03")
    assert (changes.changes, changes.rows) == (16_272, 26_128)
    assert "26,128" in changes.caveats()["change_failure_rate"]
    every = interactions.first_contact_resolution(SHARED / "bpi2014_rabobank_itsm/detail_interaction.csv.gz", start="2000-01", end="2030-12")
    assert (every.resolved, every.recorded) == (93_996, 147_004)  # README: First Call Resolution Y 93,996 / N 53,008
    q = ticket_quality.check_tickets(con, start="2013-10", end="2014-03", group="service")
    assert "self_service_rate" in q.withheld()  # channel is "phone" on every incident


def test_month_axes_tick_monthly_and_labels_are_not_cut() -> None:
    frame = pd.DataFrame(
        {
            "period": list(pd.to_datetime(["2016-03-01", "2016-04-01", "2016-05-01"])) * 2,
            "segment_dim": ["all"] * 3 + ["channel"] * 3, "segment": ["all"] * 3 + ["a very long channel name indeed"] * 3,
            "metric": "reassignments_per_ticket", "value": [1.0, 1.2, 1.1] * 2, "n": [10.0] * 6,
        }
    )
    trend = itsm_charts.trend_chart(frame, ["reassignments_per_ticket"]).to_dict()
    assert trend["spec"]["encoding"]["x"]["axis"]["tickCount"] == {"interval": "month", "step": 1}
    assert trend["facet"]["header"]["labelLimit"] == 0
    seg = itsm_charts.segment_trend_chart(frame, "reassignments_per_ticket").to_dict()
    assert seg["encoding"]["color"]["legend"]["labelLimit"] == 0
    mix = pd.DataFrame({"period": pd.to_datetime(["2016-03-01"]), "group": ["medium"], "tickets": [3], "share": [1.0]})
    assert itsm_charts.mix_chart(mix).to_dict()["encoding"]["x"]["axis"]["tickCount"] == {"interval": "month", "step": 1}
