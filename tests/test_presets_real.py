"""The ServiceNow and Jira presets, and the mappings of the real public datasets (config only).

The real datasets live in the repository's sibling ``../shared/data``; those tests skip
when it is absent. A committed excerpt of the UCI log (``tests/data``, CC BY 4.0) is
tested always.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import yaml
from ingest_exports import LENIENT

from outcomes import config
from outcomes.ingest.load import run_ingest

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).parents[2] / "shared" / "data"
UCI_LOG = SHARED / "uci_incident_event_log" / "incident_event_log.csv.gz"
RABOBANK = SHARED / "bpi2014_rabobank_itsm" / "detail_incident.csv.gz"


def _real_config(tmp_path: Path, name: str, raw_dir: Path, path: str | None = None) -> Path:
    """params/real/<name>.yaml with raw_dir, warehouse and rejects moved; the mapping itself untouched."""
    doc = yaml.safe_load((config.project().params_dir / "real" / f"{name}.yaml").read_text(encoding="utf-8"))
    doc.update(raw_dir=str(raw_dir), warehouse=str(tmp_path / "warehouse.duckdb"), rejects_dir=str(tmp_path / "rejects"))
    if path is not None:
        for source in doc["sources"].values():
            source["path"] = path
    out = tmp_path / f"{name}.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def _query(tmp_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _preset_config(tmp_path: Path, entry: dict) -> Path:
    cfg = tmp_path / "sources.yaml"
    doc = {
        "raw_dir": str(DATA),
        "warehouse": str(tmp_path / "warehouse.duckdb"),
        "rejects_dir": str(tmp_path / "rejects"),
        "sources": {"tickets": entry},
    }
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return cfg


def test_servicenow_preset_maps_every_priority_and_channel(tmp_path: Path) -> None:
    cfg = _preset_config(
        tmp_path,
        # The sample's tenth row is bad on purpose: 10% rejected.
        {"preset": "servicenow", "path": "servicenow_incidents_sample.csv", "constants": {"requester_type": "employee"},
         **LENIENT},
    )
    summary = run_ingest(cfg, validate=False)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (10, 9, 1)
    rows = _query(
        tmp_path,
        "SELECT ticket_id, priority, channel, reopened, sla_met, reassignment_count, service, region FROM tickets "
        "ORDER BY ticket_id",
    )
    assert rows == [
        ("INC0010001", "critical", "phone", False, True, 0, "Email", "North"),
        ("INC0010002", "high", "email", True, False, 2, "VPN", "South"),
        ("INC0010003", "medium", "chat", False, None, 1, "Laptop", "East"),
        ("INC0010004", "low", "portal", False, True, 0, "SAP ERP", "West"),
        ("INC0010005", "low", "portal", False, True, 0, "SAP ERP", "West"),
        ("INC0010006", "medium", "chatbot", False, True, 0, "Email", "Central"),
        ("INC0010007", "low", "walk_in", False, True, 0, "Printer", "North"),
        ("INC0010008", "medium", "walk_in", False, True, 1, "Laptop", "South"),
        ("INC0010009", "high", "phone", True, False, 3, "VPN", "East"),
    ]
    rejects = _query(tmp_path, 'SELECT row_number, "column", rule FROM _rejects ORDER BY rowid')
    assert rejects == [(10, "channel", "allowed_values"), (10, "resolved_at", "resolved_before_opened")]


def test_jira_preset(tmp_path: Path) -> None:
    cfg = _preset_config(
        tmp_path,
        {
            "preset": "jira",
            "path": "jira_service_management_sample.csv",
            "timezone": "Europe/Amsterdam",
            "constants": {"requester_type": "employee"},
        },
    )
    summary = run_ingest(cfg, validate=False)
    assert (summary.rows_loaded, summary.rows_rejected) == (5, 0)
    rows = _query(tmp_path, "SELECT ticket_id, opened_at, resolved_at, priority, channel FROM tickets ORDER BY ticket_id")
    assert rows == [
        ("ITSD-101", datetime(2024, 3, 4, 8, 5), datetime(2024, 3, 4, 10, 20), "high", "portal"),  # CET = UTC+1
        ("ITSD-102", datetime(2024, 3, 4, 9, 30), datetime(2024, 3, 6, 14, 45), "medium", "email"),
        ("ITSD-103", datetime(2024, 3, 5, 7, 0), datetime(2024, 3, 5, 7, 50), "critical", "phone"),
        ("ITSD-104", datetime(2024, 3, 5, 12, 15), datetime(2024, 3, 5, 12, 20), "low", "chatbot"),
        ("ITSD-105", datetime(2024, 3, 6, 15, 40), None, "low", "portal"),
    ]


def test_uci_excerpt_with_the_real_mapping(tmp_path: Path) -> None:
    cfg = _real_config(tmp_path, "uci_servicenow", DATA, path="uci_incident_event_log_excerpt.csv")
    summary = run_ingest(cfg)
    # Golden numbers, from an independent query of the excerpt:
    # duckdb.sql("SELECT priority, count(*) FROM (SELECT * FROM read_csv('tests/data/uci_incident_event_log_excerpt.csv',
    #   all_varchar=true) QUALIFY row_number() OVER (PARTITION BY number ORDER BY sys_mod_count::INT DESC) = 1) GROUP BY 1")
    # -> 313 events, 51 incidents; last-event priority 2 - High 2, 3 - Moderate 43, 4 - Low 6; one (4 - Low)
    # has category '?'.
    assert summary.rows_read == 313
    assert summary.rows_read - summary.rows_superseded == 51
    assert (summary.rows_loaded, summary.rows_rejected) == (50, 1)
    priorities = dict(_query(tmp_path, "SELECT priority, count(*) FROM tickets GROUP BY 1"))
    assert priorities == {"high": 2, "medium": 43, "low": 5}
    # The one rejected incident (INC0000358, 4 - Low) has no category at its last event, so no service.
    assert _query(tmp_path, 'SELECT row_number, "column", value, rule FROM _rejects') == [(313, "service", None, "not_null")]
    raw = (DATA / "uci_incident_event_log_excerpt.csv").read_text(encoding="utf-8").splitlines()
    assert raw[313].startswith("INC0000358,Closed,")
    assert _query(tmp_path, "SELECT count(*) FROM tickets WHERE requester_type = 'employee' AND channel = 'phone'") == [(50,)]
    assert _query(tmp_path, "SELECT ticket_id, opened_at, resolved_at FROM tickets ORDER BY ticket_id LIMIT 1") == [
        ("INC0000045", datetime(2016, 2, 29, 1, 16), datetime(2016, 2, 29, 11, 29))
    ]


@pytest.mark.shared_data
def test_uci_full_log_with_the_servicenow_preset(tmp_path: Path) -> None:
    if not UCI_LOG.is_file():
        pytest.skip(f"the UCI incident event log is not at {UCI_LOG}")
    summary = run_ingest(_real_config(tmp_path, "uci_servicenow", UCI_LOG.parent), validate=False)
    # Reference numbers from ../shared/data/uci_incident_event_log/README.md: 141,712 events,
    # 24,918 incidents; last-event priority Moderate 23,466, Low 774, High 408, Critical 270.
    assert summary.rows_read == 141_712
    assert summary.rows_read - summary.rows_superseded == 24_918
    assert summary.rows_loaded + summary.rows_rejected == 24_918
    loaded = Counter(dict(_query(tmp_path, "SELECT priority, count(*) FROM tickets GROUP BY 1")))
    # Every rejected incident is explained: its last event has no category ('?'), hence no service.
    rejects = _query(tmp_path, 'SELECT row_number, "column", rule FROM _rejects ORDER BY row_number')
    assert {(c, r) for _, c, r in rejects} == {("service", "not_null")}
    numbers = {n for n, _, _ in rejects}
    with gzip.open(UCI_LOG, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        raw = [(r["category"], r["priority"]) for n, r in enumerate(reader, start=1) if n in numbers]
    assert len(raw) == summary.rows_rejected == 7
    assert {c for c, _ in raw} == {"?"}
    names = {"1 - Critical": "critical", "2 - High": "high", "3 - Moderate": "medium", "4 - Low": "low"}
    rejected = Counter(names[p] for _, p in raw)
    assert loaded + rejected == {"medium": 23_466, "low": 774, "high": 408, "critical": 270}
    # made_sla is True for 15,803 incidents at their last event (README); one rejected incident is among them.
    sla = _query(tmp_path, "SELECT count(*) FILTER (sla_met) FROM tickets")[0][0]
    assert 15_803 - summary.rows_rejected <= sla <= 15_803


@pytest.mark.shared_data
def test_rabobank_incidents_with_a_generic_mapping(tmp_path: Path) -> None:
    if not RABOBANK.is_file():
        pytest.skip(f"the BPI 2014 Rabobank export is not at {RABOBANK}")
    summary = run_ingest(_real_config(tmp_path, "bpi2014_rabobank", RABOBANK.parent), validate=False)
    # README: 46,809 rows, 46,606 with an Incident ID, 203 blank rows at the end;
    # priorities 1 -> 3, 2 -> 697, 3 -> 6,703, 4 -> 22,717, 5 -> 16,486.
    incidents = next(r for r in summary.sources if r.table == "tickets")
    assert (incidents.rows_read, incidents.rows_loaded, incidents.rows_rejected) == (46_809, 46_606, 203)
    assert dict(_query(tmp_path, "SELECT priority, count(*) FROM tickets GROUP BY 1")) == {
        "critical": 3,
        "high": 697,
        "medium": 6_703,
        "low": 22_717 + 16_486,
    }
    # The blank rows are rejected, not dropped: each lacks its key.
    assert _query(tmp_path, "SELECT min(row_number), count(*) FROM _rejects WHERE \"column\" = 'ticket_id'") == [
        (46_607, 203)
    ]
