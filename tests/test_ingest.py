"""End-to-end ingest on a tiny config: tables, rejects, summary, idempotence, atomic swap, docs."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pandera.errors
import pytest
import yaml
from typer.testing import CliRunner
from ingest_exports import LENIENT

from outcomes import config
from outcomes.run import docs as docs_gen
from outcomes.warehouse import schemas
from outcomes.warehouse import store
from outcomes.cli import app
from outcomes.warehouse.datamodel import TABLES
from outcomes.errors import IngestError, WarehouseError
from outcomes.ingest.load import run_ingest

TICKETS_JAN = """ticket_id,opened_at,resolved_at,requester_type,requester_id,service,priority,channel,reassignment_count
T1,2024-01-01 10:00,2024-01-01 12:00,customer,C1,email,high,phone,0
T2,2024-01-02 09:00,,employee,E7,vpn,low,portal,1
T3,2024-01-03 09:00,2024-01-02 09:00,customer,C2,email,low,portal,0
"""
TICKETS_FEB = """ticket_id,opened_at,resolved_at,requester_type,requester_id,service,priority,channel,reassignment_count
T4,2024-02-01 08:00,2024-02-01 08:30,customer,C3,vpn,medium,chat,-1
T1,2024-02-02 08:00,,customer,C1,email,low,email,0
"""
SURVEY_EVENTS = """response,customer,at,kind,score,version
R1,C1,2024-01-05T10:00:00Z,csat,5,1
R1,C1,2024-01-05T10:00:00Z,csat,4,2
R2,C2,2024-01-06T10:00:00Z,nps,9,1
R3,C3,2024-01-07T10:00:00Z,csat,7,1
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project: two monthly ticket CSVs (a glob), costs in Parquet, a survey event log; returns the config."""
    raw = tmp_path / "raw"
    (raw / "tickets").mkdir(parents=True)
    (raw / "tickets" / "2024-01.csv").write_text(TICKETS_JAN, encoding="utf-8")
    (raw / "tickets" / "2024-02.csv").write_text(TICKETS_FEB, encoding="utf-8")
    (raw / "surveys.csv").write_text(SURVEY_EVENTS, encoding="utf-8")
    costs = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
            "service": ["email", "vpn", "email"],
            "line": ["licences", "staff", "licences"],
            "eur": [1200.0, 800.0, 1250.0],
        }
    )
    costs.to_parquet(raw / "costs.parquet")
    doc = {
        "raw_dir": str(raw),
        "warehouse": str(tmp_path / "data" / "warehouse.duckdb"),
        "rejects_dir": str(tmp_path / "data" / "rejects"),
        "sources": {
            # Hand-made exports, bad on purpose: 3 of 5 tickets and 1 of 3 survey answers rejected.
            "tickets": {"table": "tickets", "path": "tickets/*.csv", **LENIENT},
            "costs": {"table": "it_costs", "path": "costs.parquet", "columns": {"cost_line": "line", "amount": "eur"}},
            "surveys": {
                "table": "customer_surveys",
                "path": "surveys.csv",
                "columns": {"response_id": "response", "customer_id": "customer", "responded_at": "at"},
                "dedupe": {"key": ["response_id"], "keep": "last"},
                **LENIENT,
            },
        },
    }
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return cfg


def _wh(cfg: Path) -> Path:
    return cfg.parent / "data" / "warehouse.duckdb"


def _query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_end_to_end(project: Path) -> None:
    """With the final pandera check of the loaded tables (the other tests skip it to stay fast)."""
    summary = run_ingest(project)
    wh = _wh(project)
    assert summary.warehouse == wh
    counts = {s.source: (s.rows_read, s.rows_superseded, s.rows_rejected, s.rows_loaded) for s in summary.sources}
    # tickets: T3 resolved before opened, T4 negative reassignments, the second T1 a duplicate key.
    # surveys: R1's first version superseded; R3 a csat score of 7.
    assert counts == {"tickets": (5, 0, 3, 2), "costs": (3, 0, 0, 3), "surveys": (4, 1, 1, 2)}
    assert (summary.rows_read, summary.rows_superseded, summary.rows_rejected, summary.rows_loaded) == (12, 1, 4, 7)
    assert _query(wh, "SELECT ticket_id, opened_at, resolved_at, reassignment_count FROM tickets ORDER BY 1") == [
        ("T1", datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 12), 0),
        ("T2", datetime(2024, 1, 2, 9), None, 1),
    ]
    assert _query(wh, "SELECT month, service, cost_line, amount FROM it_costs ORDER BY 1, 2") == [
        (date(2024, 1, 1), "email", "licences", 1200.0),
        (date(2024, 1, 1), "vpn", "staff", 800.0),
        (date(2024, 2, 1), "email", "licences", 1250.0),
    ]
    assert _query(wh, "SELECT response_id, score FROM customer_surveys ORDER BY 1") == [("R1", 4), ("R2", 9)]
    # Every canonical table exists and is typed, even without a source.
    assert _query(wh, "SELECT count(*) FROM orders") == [(0,)]
    types = dict(_query(wh, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'tickets'"))
    assert (types["opened_at"], types["reassignment_count"], types["reopened"]) == ("TIMESTAMP", "BIGINT", "BOOLEAN")
    rejects = _query(wh, 'SELECT source, "table", row_number, "column", rule FROM _rejects ORDER BY rowid')
    assert rejects == [
        ("tickets", "tickets", 3, "resolved_at", "resolved_before_opened"),
        ("tickets", "tickets", 1, "reassignment_count", "min"),
        ("tickets", "tickets", 2, "ticket_id", "duplicate_key"),
        ("surveys", "customer_surveys", 4, "kind", "csat_scale"),
    ]
    messages = [m for (m,) in _query(wh, "SELECT message FROM _rejects ORDER BY rowid")]
    assert messages[2] == (
        "2024-02.csv row 2: duplicate key ticket_id 'T1' (first seen in 2024-01.csv row 1, which is kept); remove the "
        "duplicate from the export, or set sources.tickets.dedupe to keep one version per key"
    )
    assert messages[3] == (
        "surveys.csv row 4: a csat score must be between 1 and 5 (kind 'csat', score '7'); correct the row in the export"
    )
    log = _query(wh, "SELECT source, file, rows_read, rows_loaded, rows_rejected, sha256 FROM _ingest_log ORDER BY rowid")
    jan = project.parent / "raw" / "tickets" / "2024-01.csv"
    assert log[0] == ("tickets", str(jan), 3, 2, 1, hashlib.sha256(jan.read_bytes()).hexdigest())
    assert [row[2:5] for row in log] == [(3, 2, 1), (2, 0, 2), (3, 3, 0), (4, 2, 1)]


def test_rejects_csv_written(project: Path) -> None:
    run_ingest(project, validate=False)
    rejects = project.parent / "data" / "rejects"
    tickets = pd.read_csv(rejects / "tickets.csv")
    assert list(tickets.columns) == ["source", "table", "row_number", "column", "value", "rule", "message"]
    assert tickets["rule"].tolist() == ["resolved_before_opened", "min", "duplicate_key"]
    assert tickets["value"].tolist() == ["2024-01-02 09:00", "-1", "T1"]
    costs = pd.read_csv(rejects / "costs.csv")
    assert costs.empty and list(costs.columns)[0] == "source"
    assert sorted(p.name for p in rejects.iterdir()) == ["costs.csv", "surveys.csv", "tickets.csv"]


def test_summary_table(project: Path) -> None:
    table = run_ingest(project, validate=False).to_table()
    assert [c.header for c in table.columns] == ["source", "table", "rows read", "superseded", "rejected", "loaded"]
    assert list(table.columns[0].cells) == ["tickets", "costs", "surveys", "total"]
    assert list(table.columns[4].cells) == ["3", "0", "1", "4"]
    assert list(table.columns[5].cells) == ["2", "3", "2", "7"]


def test_idempotent(project: Path) -> None:
    run_ingest(project, validate=False)
    first = store.fingerprints(store.connect(_wh(project)))
    run_ingest(project, validate=False)
    second = store.fingerprints(store.connect(_wh(project)))
    assert first == second
    assert first["tickets"]["rows"] == 2 and first["_rejects"]["rows"] == 4
    assert "_ingest_log" not in first and set(TABLES) < set(first)


def test_fingerprints_ignore_row_order_but_see_values(tmp_path: Path) -> None:
    paths = []
    for name, rows in (("a", "(1, 'x'), (2, 'y')"), ("b", "(2, 'y'), (1, 'x')"), ("c", "(2, 'y'), (1, 'z')")):
        path = tmp_path / f"{name}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {rows}) v(n, s)")
        con.close()
        paths.append(path)
    a, b, c = (store.fingerprints(store.connect(p))["t"] for p in paths)
    assert a == b != c


def test_fingerprints_are_stored_at_ingest_and_recomputed_after_a_change(project: Path) -> None:
    run_ingest(project, validate=False)
    wh = _wh(project)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        stored = store.stored_fingerprints(con.execute)
        assert stored == store.table_fingerprints(con.execute)
        assert store.FINGERPRINTS_TABLE not in stored and "_ingest_log" not in stored
    finally:
        con.close()
    con = duckdb.connect(str(wh))
    try:
        con.execute("DELETE FROM tickets WHERE rowid = (SELECT min(rowid) FROM tickets)")
        assert store.stored_fingerprints(con.execute) is None  # row count changed: not trusted
        assert store.table_fingerprints(con.execute)["tickets"]["rows"] == stored["tickets"]["rows"] - 1
    finally:
        con.close()
    assert store.fingerprints(store.connect(wh))["tickets"]["rows"] == stored["tickets"]["rows"] - 1


def test_atomic_swap(project: Path) -> None:
    run_ingest(project, validate=False)
    wh = _wh(project)
    before = hashlib.sha256(wh.read_bytes()).hexdigest()
    rejects_before = (wh.parent / "rejects" / "tickets.csv").read_bytes()
    # The last source fails after the first ones were loaded into the new file.
    doc = yaml.safe_load(project.read_text(encoding="utf-8"))
    doc["sources"]["surveys"]["path"] = "missing.csv"
    project.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(IngestError, match="no file matches .*missing.csv"):
        run_ingest(project, validate=False)
    assert hashlib.sha256(wh.read_bytes()).hexdigest() == before
    assert (wh.parent / "rejects" / "tickets.csv").read_bytes() == rejects_before
    assert sorted(p.name for p in wh.parent.rglob("*")) == ["costs.csv", "rejects", "surveys.csv", "tickets.csv", "warehouse.duckdb"]
    # A successful ingest replaces the file as a whole (a new inode), never in place.
    doc["sources"].pop("surveys")
    project.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    inode = wh.stat().st_ino
    run_ingest(project, validate=False)
    assert wh.stat().st_ino != inode
    assert _query(wh, "SELECT count(*) FROM customer_surveys") == [(0,)]


def test_schemas_catch_a_table_that_breaks_the_model(tmp_path: Path) -> None:
    """The pandera schemas, run inside DuckDB through ibis, are the final enforcement of the data model."""
    path = tmp_path / "bad.duckdb"
    raw = duckdb.connect(str(path))
    store.create_tables(raw)
    columns = "ticket_id, opened_at, resolved_at, requester_type, requester_id, service, priority, channel, reassignment_count"
    raw.execute(
        f"INSERT INTO tickets ({columns}) VALUES "
        "('T1', '2024-01-02 10:00', '2024-01-01 10:00', 'customer', 'C1', 'email', 'urgent', 'phone', -2), "
        "('T1', '2024-01-02 10:00', NULL, 'customer', 'C1', 'email', 'low', 'phone', 0)"
    )
    raw.close()
    con = store.connect(path)
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.validate(con.table("tickets"), "tickets")
    failed = sorted(str(e.check) for e in info.value.schema_errors)
    assert failed == [
        "<Check greater_than_or_equal_to: greater_than_or_equal_to(0)>",
        "<Check isin: isin(['critical', 'high', 'medium', 'low'])>",
        "<Check resolved_before_opened: resolved_at must not be before opened_at>",
        "multiple_fields_uniqueness",
    ]


def test_schemas_pass_on_an_ingested_warehouse(project: Path) -> None:
    run_ingest(project, validate=False)
    con = store.connect(_wh(project))
    for name in TABLES:
        schemas.validate(con.table(name), name)


def test_connect_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    with pytest.raises(WarehouseError) as info:
        store.connect(missing)
    assert str(info.value) == (
        f"warehouse {missing} not found; run `outcomes ingest` to build it from the exports listed in params/sources.yaml"
    )
    with pytest.raises(WarehouseError, match="engine 'flink' is not supported; valid engines are: duckdb, spark"):
        store.connect(missing, engine="flink")  # type: ignore[arg-type]


def test_cli_ingest(project: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "--sources", str(project)])
    assert result.exit_code == 0, result.output
    assert "tickets" in result.output and "total" in result.output
    doc = yaml.safe_load(project.read_text(encoding="utf-8"))
    doc["sources"]["tickets"]["preset"] = "remedy"
    project.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "--sources", str(project)])
    assert result.exit_code == 2
    assert "names preset 'remedy', which does not exist" in result.output


def test_data_model_doc_is_fresh() -> None:
    page = config.project().docs_dir / "data-model.md"
    assert page.read_text(encoding="utf-8") == docs_gen.render_data_model(), (
        "docs/data-model.md is stale: run `outcomes docs` and commit the result"
    )


def test_cli_docs_writes_the_pages(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["docs", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data-model.md").read_text(encoding="utf-8") == docs_gen.render_data_model()
    assert "### `tickets`" in docs_gen.render_data_model()
