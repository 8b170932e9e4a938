"""Event logs aggregated per record at ingest (``dedupe.aggregate``), and the Volvo IT incident log mapping.

The generic tests run on tiny hand-written event logs. The BPI Challenge 2013 log itself
(``../shared/data/bpi2013_volvo_incidents``) is read only where it is present; its terms of
use name no licence that allows redistributing it, so the always-run test of
``params/real/bpi2013_volvo.yaml`` uses invented rows in the export's columns.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import yaml
from ingest_exports import LENIENT

from outcomes import config
from outcomes.errors import IngestError
from outcomes.ingest.load import run_ingest

VOLVO_FILE = "vinst_incidents_ibm.csv.gz"

EVENTS = """number,at,state,team,svc,impact,flag,hours
T1,2024-01-01 09:00,open,B,email,High,false,1.5
T1,2024-01-01 10:00,open,B,email,High,,2
T1,2024-01-01 11:00,open,,email,High,true,
T1,2024-01-01 12:00,resolved,A,email,High,false,0.5
T1,2024-01-02 08:00,open,B,email,High,,
T1,2024-01-02 09:00,resolved,C,email,High,,
T2,2024-01-03 10:00,open,,vpn,Low,,
T2,2024-01-03 11:00,open,,vpn,Low,,
"""


def _event_log(tmp_path: Path, aggregate: dict, *, text: str = EVENTS, **dedupe) -> Path:
    """A sources file mapping ``text`` (one row per event) onto tickets, one ticket per number."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "events.csv").write_text(text, encoding="utf-8")
    source = {
        "table": "tickets",
        "path": "events.csv",
        "columns": {
            "ticket_id": "number",
            "opened_at": "at",
            "service": "svc",
            "priority": "impact",
            "assignment_group": "team",
            "category": "team",
            "reopened": "flag",
            "sla_target_hours": "hours",
        },
        "derive": {"resolved_at": """CASE WHEN "state" = 'resolved' THEN "at" END"""},
        "constants": {"requester_type": "employee", "requester_id": None, "channel": "phone"},
        "values": {"priority": {"High": "high", "Low": "low"}},
        "dedupe": {"key": ["ticket_id"], "keep": "last", **dedupe, "aggregate": aggregate},
        **LENIENT,
    }
    doc = {
        "raw_dir": str(raw),
        "warehouse": str(tmp_path / "warehouse.duckdb"),
        "rejects_dir": str(tmp_path / "rejects"),
        "sources": {"events": source},
    }
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return cfg


def _query(tmp_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# Expected values read off EVENTS by hand. T1's non-empty teams in order: B, B, A, B, C.
@pytest.mark.parametrize(
    ("column", "spec", "t1"),
    [
        ("category", "first(assignment_group)", "B"),
        ("category", "last(assignment_group)", "C"),
        ("category", "min(assignment_group)", "A"),
        ("category", "max(assignment_group)", "C"),
        ("reassignment_count", "changes(assignment_group)", 3),  # B->A, A->B, B->C; the empty team is skipped
        ("reassignment_count", "count_distinct(assignment_group)", 3),
        ("sla_target_hours", "sum", 4.0),
        ("reopened", "any", True),
        ("reopened", "all", False),
        ("resolved_at", "min", datetime(2024, 1, 1, 12)),
        ("resolved_at", "max", datetime(2024, 1, 2, 9)),
    ],
)
def test_each_aggregation_over_a_records_versions(tmp_path: Path, column: str, spec: str, t1: object) -> None:
    summary = run_ingest(_event_log(tmp_path, {"opened_at": "min", column: spec}), validate=False)
    assert (summary.rows_read, summary.rows_superseded, summary.rows_loaded, summary.rows_rejected) == (8, 6, 2, 0)
    rows = _query(tmp_path, f"SELECT ticket_id, opened_at, assignment_group, {column} FROM tickets ORDER BY 1")
    # opened_at is the first event's time; the team not aggregated is the last version's (keep: last);
    # T2's versions are all empty in the aggregated column, so its value is empty.
    assert rows == [
        ("T1", datetime(2024, 1, 1, 9), "C", t1),
        ("T2", datetime(2024, 1, 3, 10), None, None),
    ]


def test_without_aggregate_the_kept_version_is_unchanged(tmp_path: Path) -> None:
    run_ingest(_event_log(tmp_path, {}), validate=False)
    assert _query(tmp_path, "SELECT ticket_id, opened_at, resolved_at, reassignment_count FROM tickets ORDER BY 1") == [
        ("T1", datetime(2024, 1, 2, 9), datetime(2024, 1, 2, 9), None),
        ("T2", datetime(2024, 1, 3, 11), None, None),
    ]


def test_versions_follow_order_by_not_the_file(tmp_path: Path) -> None:
    header, *rows = EVENTS.splitlines()
    shuffled = "\n".join([header, *reversed(rows)]) + "\n"
    aggregate = {"opened_at": "min", "reassignment_count": "changes(assignment_group)", "category": "first(assignment_group)"}
    run_ingest(_event_log(tmp_path, aggregate, text=shuffled, order_by="opened_at"), validate=False)
    assert _query(tmp_path, "SELECT ticket_id, reassignment_count, category, assignment_group FROM tickets ORDER BY 1") == [
        ("T1", 3, "B", "C"),
        ("T2", None, None, None),
    ]


def test_an_unparseable_version_rejects_the_record(tmp_path: Path) -> None:
    text = EVENTS.replace("T1,2024-01-01 10:00,", "T1,not a date,")
    summary = run_ingest(_event_log(tmp_path, {"opened_at": "min"}), validate=False)
    assert summary.rows_rejected == 0
    summary = run_ingest(_event_log(tmp_path, {"opened_at": "min"}, text=text), validate=False)
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 1)
    # Reported on the kept (last) row of T1, with the value that broke the aggregate.
    rejects = _query(tmp_path, 'SELECT row_number, "column", value, rule FROM _rejects')
    assert rejects == [(6, "opened_at", "not a date", "unparseable_timestamp")]


def test_rows_without_a_key_are_not_grouped(tmp_path: Path) -> None:
    text = EVENTS + ",2024-01-04 10:00,open,A,vpn,Low,,\n,2024-01-04 11:00,open,B,vpn,Low,,\n"
    summary = run_ingest(_event_log(tmp_path, {"reassignment_count": "changes(assignment_group)"}, text=text), validate=False)
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 2)
    assert _query(tmp_path, 'SELECT row_number, "column", rule FROM _rejects ORDER BY 1') == [
        (9, "ticket_id", "not_null"),
        (10, "ticket_id", "not_null"),
    ]


@pytest.mark.parametrize(
    ("aggregate", "message"),
    [
        ({"opened_at": "median"}, "aggregate.opened_at is 'median', which is not an aggregation; write one of min, max"),
        (
            {"reassignment_count": "changes(asignment_group)"},
            "names 'asignment_group', which is not a column of table 'tickets' (did you mean 'assignment_group'?)",
        ),
        (
            {"reopened": "any(assignment_group)"},
            "is 'any(assignment_group)', which reads assignment_group (string) into reopened (bool); any aggregates "
            "a boolean column into a boolean column",
        ),
        ({"category": "min(opened_at)"}, "min aggregates a column into a column of the same type"),
    ],
)
def test_a_wrong_aggregation_is_named(tmp_path: Path, aggregate: dict, message: str) -> None:
    with pytest.raises(IngestError, match="dedupe") as info:
        run_ingest(_event_log(tmp_path, aggregate), validate=False)
    assert message in str(info.value)
    assert not (tmp_path / "warehouse.duckdb").exists()


# ---------------------------------------------------------------------- the Volvo IT mapping
VOLVO_HEADER = (
    "SR Number,Change Date+Time,Status,Sub Status,Activity,Activity Level,Involved ST Function Div,"
    "Involved Org line 3,Involved ST,Involved ST 2,ST Level,SR Latest Impact,Product,Country,Owner Country,"
    "Owner First Name,Resource"
)


def _volvo_row(sr: str, at: str, status: str, sub: str, team: str, impact: str, product: str) -> str:
    """One invented event in the export's 17 columns (the IBM-derived ones filled consistently)."""
    level = {"2nd": "L2", "3rd": "L3"}.get(team.rsplit(" ", 1)[-1], "L1")
    return ",".join(
        [sr, at, status, sub, f"{status}-{sub}", f"{status}-{sub}-{level}", "A2_1", "Org line A2", team,
         team.split(" ")[0], level, impact, product, "se", "Sweden", "Anna", "se-Anna"]
    )  # fmt: skip


VOLVO_ROWS = [
    # 1-100: opened by the desk (V30), queued to a 2nd-level team, resolved, then closed.
    _volvo_row("1-100", "2011-01-01T10:00:00+01:00", "Accepted", "In Progress", "V30", "High", "PROD1"),
    _volvo_row("1-100", "2011-01-01T11:00:00+01:00", "Queued", "Awaiting Assignment", "G1 2nd", "High", "PROD1"),
    _volvo_row("1-100", "2011-01-01T12:00:00+01:00", "Accepted", "In Progress", "G1 2nd", "High", "PROD1"),
    _volvo_row("1-100", "2011-01-02T09:00:00+01:00", "Completed", "Resolved", "G1 2nd", "High", "PROD1"),
    _volvo_row("1-100", "2011-01-10T09:00:00+01:00", "Completed", "Closed", "G1 2nd", "High", "PROD1"),
    # 1-200: solved during the call (summer time, +02:00).
    _volvo_row("1-200", "2011-07-01T08:00:00+02:00", "Accepted", "In Progress", "V30", "Major", "PROD2"),
    _volvo_row("1-200", "2011-07-01T08:20:00+02:00", "Completed", "In Call", "V30", "Major", "PROD2"),
    # 1-300: still waiting for the user at the end of the log.
    _volvo_row("1-300", "2012-05-01T10:00:00+02:00", "Queued", "Awaiting Assignment", "V5 3rd", "Low", "PROD3"),
    _volvo_row("1-300", "2012-05-01T11:00:00+02:00", "Accepted", "In Progress", "V5 3rd", "Low", "PROD3"),
    _volvo_row("1-300", "2012-05-02T11:00:00+02:00", "Accepted", "Wait - User", "V5 3rd", "Low", "PROD3"),
    # 1-400: cancelled, never resolved.
    _volvo_row("1-400", "2012-05-03T10:00:00+02:00", "Accepted", "In Progress", "D2", "Medium", "PROD3"),
    _volvo_row("1-400", "2012-05-03T10:05:00+02:00", "Completed", "Cancelled", "D2", "Medium", "PROD3"),
]


def _volvo_config(tmp_path: Path, raw_dir: Path) -> Path:
    """params/real/bpi2013_volvo.yaml with raw_dir, warehouse and rejects moved; the mapping itself untouched."""
    doc = yaml.safe_load((config.project().params_dir / "real" / "bpi2013_volvo.yaml").read_text(encoding="utf-8"))
    doc.update(raw_dir=str(raw_dir), warehouse=str(tmp_path / "warehouse.duckdb"), rejects_dir=str(tmp_path / "rejects"))
    out = tmp_path / "bpi2013_volvo.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def test_volvo_mapping_on_invented_rows(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    # Like the original: UTF-8 with a byte-order mark, gzip-compressed.
    with gzip.open(raw / VOLVO_FILE, "wt", encoding="utf-8-sig", newline="") as fh:
        fh.write("\n".join([VOLVO_HEADER, *VOLVO_ROWS]) + "\n")
    summary = run_ingest(_volvo_config(tmp_path, raw))
    assert (summary.rows_read, summary.rows_superseded, summary.rows_loaded, summary.rows_rejected) == (12, 8, 4, 0)
    rows = _query(
        tmp_path,
        "SELECT ticket_id, opened_at, resolved_at, priority, service, assignment_group, reassignment_count, "
        "first_contact_resolved, requester_type, channel FROM tickets ORDER BY 1",
    )
    assert rows == [
        ("1-100", datetime(2011, 1, 1, 9), datetime(2011, 1, 2, 8), "high", "PROD1", "G1 2nd", 1, False, "employee", "phone"),
        ("1-200", datetime(2011, 7, 1, 6), datetime(2011, 7, 1, 6, 20), "critical", "PROD2", "V30", 0, True, "employee", "phone"),
        ("1-300", datetime(2012, 5, 1, 8), None, "low", "PROD3", "V5 3rd", 0, None, "employee", "phone"),
        ("1-400", datetime(2012, 5, 3, 8), None, "medium", "PROD3", "D2", 0, None, "employee", "phone"),
    ]


def _incidents_from_csv(path: Path) -> tuple[Counter, Counter, dict[str, dict]]:
    """Status and impact counts over events, and per incident what the mapping should give, read with csv."""
    statuses, impacts, incidents = Counter(), Counter(), {}
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            statuses[r["Status"]] += 1
            impacts[r["SR Latest Impact"]] += 1
            at = datetime.fromisoformat(r["Change Date+Time"])
            inc = incidents.setdefault(
                r["SR Number"], {"opened": at, "resolved": None, "fcr": None, "changes": 0, "team": None}
            )
            inc["opened"] = min(inc["opened"], at)
            done = r["Status"] == "Completed" and r["Sub Status"] != "Cancelled"
            if done and inc["resolved"] is None:
                inc["resolved"], inc["fcr"] = at, r["Sub Status"] == "In Call"
            if inc["team"] is not None and r["Involved ST"] != inc["team"]:
                inc["changes"] += 1
            inc["team"], inc["impact"] = r["Involved ST"], r["SR Latest Impact"]
    return statuses, impacts, incidents


@pytest.mark.shared_data
def test_volvo_full_log(tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "bpi2013_volvo_incidents" / VOLVO_FILE
    if not path.is_file():
        pytest.skip(f"the BPI Challenge 2013 incident log is not at {path}")
    summary = run_ingest(_volvo_config(tmp_path, path.parent))
    # ../shared/data/bpi2013_volvo_incidents/README.md: 65,533 events, 7,554 incidents; statuses Accepted
    # 40,117, Completed 13,867, Queued 11,544, Unmatched 5; impact (events) Medium 34,905, Low 27,877,
    # High 2,707, Major 44.
    statuses, impacts, incidents = _incidents_from_csv(path)
    assert statuses == {"Accepted": 40_117, "Completed": 13_867, "Queued": 11_544, "Unmatched": 5}
    assert impacts == {"Medium": 34_905, "Low": 27_877, "High": 2_707, "Major": 44}
    assert summary.rows_read == 65_533
    assert summary.rows_read - summary.rows_superseded == len(incidents) == 7_554
    # Every incident loads: no event lacks a number, time, product, team or impact.
    assert (summary.rows_loaded, summary.rows_rejected) == (7_554, 0)
    assert _query(tmp_path, "SELECT count(*) FROM _rejects") == [(0,)]
    assert (tmp_path / "rejects" / "volvo_incidents.csv").read_text(encoding="utf-8").count("\n") == 1
    # Incident-level figures, against the csv reading above and as golden numbers (the same reading on
    # the README's file: 7,554 incidents; impact Medium 4,045, Low 3,245, High 261, Major 3; 7,546 resolved,
    # 2,018 of them first in the call; 9,454 team changes).
    priority = dict(_query(tmp_path, "SELECT priority, count(*) FROM tickets GROUP BY 1"))
    names = {"Major": "critical", "High": "high", "Medium": "medium", "Low": "low"}
    assert priority == {names[k]: v for k, v in Counter(i["impact"] for i in incidents.values()).items()}
    assert priority == {"medium": 4_045, "low": 3_245, "high": 261, "critical": 3}
    (resolved, fcr, changes, first, last) = _query(
        tmp_path,
        "SELECT count(resolved_at), count(*) FILTER (WHERE first_contact_resolved), sum(reassignment_count), "
        "min(opened_at), max(opened_at) FROM tickets",
    )[0]
    assert resolved == sum(i["resolved"] is not None for i in incidents.values()) == 7_546
    assert fcr == sum(bool(i["fcr"]) for i in incidents.values()) == 2_018
    assert changes == sum(i["changes"] for i in incidents.values()) == 9_454
    assert (first, last) == (datetime(2010, 3, 31, 14, 59, 42), datetime(2012, 5, 6, 5, 27, 59))
    one = min(incidents)
    want = incidents[one]
    assert _query(tmp_path, f"SELECT opened_at, resolved_at, reassignment_count FROM tickets WHERE ticket_id = '{one}'") == [
        (_utc(want["opened"]), _utc(want["resolved"]) if want["resolved"] else None, want["changes"])
    ]


def _utc(at: datetime) -> datetime:
    """A time with an offset as naive UTC (how the warehouse stores it)."""
    return at.astimezone(UTC).replace(tzinfo=None)
