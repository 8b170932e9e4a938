"""Incremental refresh (`outcomes ingest`): each outcome equals a full ingest of the same files, failures change nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner
from ingest_exports import LENIENT

from outcomes.cli import app
from outcomes.errors import IngestError
from outcomes.ingest import readers, refresh
from outcomes.ingest.load import run_ingest
from outcomes.ingest.refresh import refresh_ingest

HEADER = "ticket_id,opened_at,resolved_at,requester_type,requester_id,service,priority,channel,reassignment_count"
JAN = [
    "T1,2024-01-01 10:00,2024-01-01 12:00,customer,C1,email,high,phone,0",
    "T2,2024-01-02 09:00,,employee,E7,vpn,low,portal,1",
    "T3,2024-01-03 09:00,2024-01-02 09:00,customer,C2,email,low,portal,0",
]
#: February: one row rejected (negative reassignments), no key seen in January.
FEB = [
    "T4,2024-02-01 08:00,2024-02-01 08:30,customer,C3,vpn,medium,chat,-1",
    "T5,2024-02-02 08:00,,customer,C1,email,low,email,0",
    "T6,2024-02-03 08:00,2024-02-03 09:00,employee,E2,vpn,high,phone,2",
]
SURVEYS = """response,customer,at,kind,score,version
R1,C1,2024-01-05T10:00:00Z,csat,5,1
R1,C1,2024-01-05T10:00:00Z,csat,4,2
R2,C2,2024-01-06T10:00:00Z,nps,9,1
"""


def _csv(lines: list[str]) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Monthly ticket CSVs (January only so far), costs in Parquet, a survey event log with ``dedupe``; the config."""
    raw = tmp_path / "raw"
    (raw / "tickets").mkdir(parents=True)
    (raw / "surveys").mkdir()
    (raw / "tickets" / "2024-01.csv").write_text(_csv(JAN), encoding="utf-8")
    (raw / "surveys" / "2024-01.csv").write_text(SURVEYS, encoding="utf-8")
    pd.DataFrame(
        {"month": pd.to_datetime(["2024-01-01", "2024-02-01"]), "service": ["email", "vpn"], "line": ["a", "b"], "eur": [1.0, 2.0]}
    ).to_parquet(raw / "costs.parquet")
    doc = {
        "raw_dir": str(raw),
        "warehouse": str(tmp_path / "data" / "warehouse.duckdb"),
        "rejects_dir": str(tmp_path / "data" / "rejects"),
        "sources": {
            "tickets": {"table": "tickets", "path": "tickets/*.csv", **LENIENT},
            "costs": {"table": "it_costs", "path": "costs.parquet", "columns": {"cost_line": "line", "amount": "eur"}},
            "surveys": {
                "table": "customer_surveys",
                "path": "surveys/*.csv",
                "columns": {"response_id": "response", "customer_id": "customer", "responded_at": "at"},
                "dedupe": {"key": ["response_id"], "keep": "last"},
                **LENIENT,
            },
        },
    }
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    run_ingest(cfg, validate=False)
    return cfg


def _raw(cfg: Path) -> Path:
    return cfg.parent / "raw"


def _wh(cfg: Path) -> Path:
    return cfg.parent / "data" / "warehouse.duckdb"


def _content(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table's rows in the order stored; bookkeeping per source in the order written, without ``ingested_at``."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        order = {"_rejects": "source, rowid", "_ingest_log": "source, rowid", "_fingerprints": "table_name"}
        return {
            name: con.execute(
                f'SELECT * {"EXCLUDE (ingested_at)" if name == "_ingest_log" else ""} FROM "{name}" '
                f"ORDER BY {order.get(name, 'rowid')}"
            ).fetchall()
            for name in names
        }
    finally:
        con.close()


def _assert_equals_full_ingest(cfg: Path, result: refresh.RefreshResult) -> None:
    """The refreshed warehouse, rejects files and summary equal those of a full ingest of the same files."""
    other = cfg.parent / "full"
    summary = run_ingest(cfg, validate=False, warehouse=other / "warehouse.duckdb", rejects_dir=other / "rejects")
    assert _content(_wh(cfg)) == _content(other / "warehouse.duckdb")
    for csv in (other / "rejects").glob("*.csv"):
        assert (cfg.parent / "data" / "rejects" / csv.name).read_bytes() == csv.read_bytes(), csv.name
    assert [(s.source, s.files, s.rows_read, s.rows_superseded, s.rows_rejected, s.rows_loaded) for s in summary.sources] == [
        (s.source, s.files, s.rows_read, s.rows_superseded, s.rows_rejected, s.rows_loaded) for s in result.summary.sources
    ]


def _state(cfg: Path) -> dict[str, str]:
    """SHA-256 of the warehouse and of every file beside it (rejects included)."""
    root = cfg.parent / "data"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _actions(result: refresh.RefreshResult) -> dict[str, str]:
    return {t.table: t.action for t in result.report.tables}


def test_new_month_is_appended_and_equals_a_full_ingest(project: Path) -> None:
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    read: list[str] = []
    result = refresh_ingest(project, progress=lambda source, path, rows: read.append(path.name))
    assert result.report.mode == "refresh"
    assert read == ["2024-02.csv"]
    assert _actions(result) == {"tickets": "append", "it_costs": "keep", "customer_surveys": "keep"}
    assert "tickets: new file " + str(_raw(project) / "tickets" / "2024-02.csv") in result.report.lines()
    _assert_equals_full_ingest(project, result)


def test_a_new_row_whose_key_is_stored_reloads_the_table(project: Path) -> None:
    """T1 again in February: a full ingest rejects it naming January's row, so the table is reloaded."""
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv([*FEB, JAN[0].replace("phone", "email")]), encoding="utf-8")
    result = refresh_ingest(project, validate=False)
    assert _actions(result)["tickets"] == "reload"
    _assert_equals_full_ingest(project, result)
    con = duckdb.connect(str(_wh(project)), read_only=True)
    assert con.execute("SELECT count(*) FROM _rejects WHERE message LIKE '%first seen in%2024-01.csv row 1%'").fetchone() == (1,)
    con.close()


def test_changed_month_then_removed_file_are_named_and_reloaded(project: Path) -> None:
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    refresh_ingest(project, validate=False)
    changed = _raw(project) / "tickets" / "2024-01.csv"
    changed.write_text(_csv([JAN[0], JAN[1].replace("low", "high")]), encoding="utf-8")
    result = refresh_ingest(project, validate=False)
    assert result.report.changes == (refresh.FileChanges(source="tickets", changed=(str(changed),)),)
    assert f"tickets: {changed} changed since it was ingested (other bytes)" in result.report.lines()
    assert _actions(result) == {"tickets": "reload", "it_costs": "keep", "customer_surveys": "keep"}
    _assert_equals_full_ingest(project, result)
    changed.unlink()
    result = refresh_ingest(project, validate=False)
    assert f"tickets: {changed} was ingested and is no longer there; its rows are removed" in result.report.lines()
    assert _actions(result)["tickets"] == "reload"
    _assert_equals_full_ingest(project, result)


def test_dedupe_source_is_reloaded_so_a_later_version_supersedes_a_stored_one(project: Path) -> None:
    (_raw(project) / "surveys" / "2024-02.csv").write_text(
        "response,customer,at,kind,score,version\nR2,C2,2024-01-06T10:00:00Z,nps,3,2\n", encoding="utf-8"
    )
    result = refresh_ingest(project, validate=False)
    assert _actions(result) == {"tickets": "keep", "it_costs": "keep", "customer_surveys": "reload"}
    _assert_equals_full_ingest(project, result)
    con = duckdb.connect(str(_wh(project)), read_only=True)
    assert con.execute("SELECT score FROM customer_surveys WHERE response_id = 'R2'").fetchall() == [(3.0,)]
    con.close()


def test_unchanged_refresh_reads_no_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(project)
    inode = _wh(project).stat().st_ino

    def no_read(*args: object) -> None:
        raise AssertionError("an export was read")

    monkeypatch.setattr(readers, "read_export", no_read)
    monkeypatch.setattr(readers, "read_batch", no_read)
    read: list[str] = []
    result = refresh_ingest(project, progress=lambda source, path, rows: read.append(path.name))
    assert (result.report.mode, read) == ("unchanged", [])
    assert result.report.lines() == ["no export changed since the warehouse was built; nothing was read"]
    assert [s.rows_loaded for s in result.summary.sources] == [2, 2, 2]
    assert _state(project) == before and _wh(project).stat().st_ino == inode


def test_only_files_whose_size_or_modification_time_changed_are_hashed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    sha256 = refresh._sha256

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return sha256(path)

    monkeypatch.setattr(refresh, "_sha256", counting)
    assert refresh_ingest(project).report.mode == "unchanged"
    assert hashed == []
    touched = _raw(project) / "tickets" / "2024-01.csv"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert refresh_ingest(project).report.mode == "unchanged"
    assert hashed == ["2024-01.csv"]


def test_failure_after_rows_were_appended_leaves_everything_as_it_was(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    before = _state(project)

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(refresh, "log_files", fail)  # after the rows were inserted into the copy
    with pytest.raises(RuntimeError, match="disk full"):
        refresh_ingest(project, validate=False)
    assert _state(project) == before
    assert sorted(p.name for p in (project.parent / "data").iterdir()) == ["rejects", "warehouse.duckdb"]


def test_reject_share_breach_in_the_new_file_refuses_as_a_full_ingest_does(project: Path) -> None:
    doc = yaml.safe_load(project.read_text(encoding="utf-8"))
    doc["sources"]["tickets"]["max_reject_share"] = 0.5
    project.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    run_ingest(project, validate=False)  # the mapping changed: rebuilt once
    bad = [f"B{i},2024-02-0{i} 08:00,,customer,C1,email,urgent,chat,0" for i in range(1, 6)]
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(bad), encoding="utf-8")
    warehouse = hashlib.sha256(_wh(project).read_bytes()).hexdigest()
    others = {n: (project.parent / "data" / "rejects" / n).read_bytes() for n in ("costs.csv", "surveys.csv")}
    with pytest.raises(IngestError) as refused:
        refresh_ingest(project, validate=False)
    other = project.parent / "full"
    with pytest.raises(IngestError) as full:
        run_ingest(project, validate=False, warehouse=other / "warehouse.duckdb", rejects_dir=other / "rejects")
    assert str(refused.value).replace(str(project.parent / "data"), "X") == str(full.value).replace(str(other), "X")
    assert "rejected 6 of 8 rows" in str(refused.value)
    assert hashlib.sha256(_wh(project).read_bytes()).hexdigest() == warehouse
    assert {n: (project.parent / "data" / "rejects" / n).read_bytes() for n in others} == others


def test_full_rebuild_when_mappings_change_sources_are_unlisted_or_asked(project: Path) -> None:
    doc = yaml.safe_load(project.read_text(encoding="utf-8"))
    doc["sources"] = {"tickets": doc["sources"]["tickets"]}
    only_tickets = project.with_name("tickets-only.yaml")
    only_tickets.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    built = _wh(project).stat().st_mtime
    os.utime(only_tickets, (built - 60, built - 60))
    result = refresh_ingest(only_tickets, validate=False, warehouse=project.parent / "data" / "warehouse.duckdb")
    assert (result.report.mode, result.report.reason) == (
        "full",
        f"the warehouse holds source costs, which {only_tickets} does not list",
    )
    project.write_text(project.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    result = refresh_ingest(project, validate=False)
    assert result.report.mode == "full"
    assert result.report.reason == f"{project} changed after the warehouse was built, so every source may map differently"
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    inode = _wh(project).stat().st_ino
    read: list[str] = []
    result = refresh_ingest(project, full=True, validate=False, progress=lambda s, p, n: read.append(p.name))
    assert (result.report.mode, result.report.reason) == ("full", "asked for (--full)")
    assert sorted(read) == ["2024-01.csv", "2024-01.csv", "2024-02.csv", "costs.parquet"]
    assert _wh(project).stat().st_ino != inode


def test_warehouse_replaced_during_the_refresh_is_not_overwritten(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    appended = refresh._append

    def append_while_another_ingest_runs(*args: object, **kwargs: object) -> bool:
        swapped_in = _wh(project).with_name("other.duckdb")
        shutil.copyfile(_wh(project), swapped_in)
        os.replace(swapped_in, _wh(project))  # as another ingest swaps its new file in
        return appended(*args, **kwargs)

    monkeypatch.setattr(refresh, "_append", append_while_another_ingest_runs)
    with pytest.raises(IngestError, match="was replaced by another ingest while this refresh ran"):
        refresh_ingest(project, validate=False)
    assert sorted(p.name for p in (project.parent / "data").iterdir()) == ["rejects", "warehouse.duckdb"]


def test_cli_names_the_changed_file(project: Path) -> None:
    changed = _raw(project) / "tickets" / "2024-01.csv"
    changed.write_text(_csv(JAN[:2]), encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "--sources", str(project)])
    assert result.exit_code == 0, result.output
    assert "2024-01.csv changed since it was ingested" in result.output
    assert "table tickets: reloaded" in result.output and "total" in result.output
    result = CliRunner().invoke(app, ["ingest", "--sources", str(project), "--full"])
    assert result.exit_code == 0, result.output
    assert "full rebuild: asked for (--full)" in result.output



@pytest.fixture
def two_sources(project: Path) -> Path:
    """The project with a second source loading tickets after the first (as a demand surge's export would)."""
    (_raw(project) / "extra").mkdir()
    extra = ["X1,2024-01-04 10:00,,customer,C9,email,high,phone,0", "X2,2024-01-05 10:00,,customer,C8,vpn,low,chat,-3"]
    (_raw(project) / "extra" / "2024-01.csv").write_text(_csv(extra), encoding="utf-8")
    doc = yaml.safe_load(project.read_text(encoding="utf-8"))
    sources = list(doc["sources"].items())
    extra_source = ("tickets_extra", {"table": "tickets", "path": "extra/*.csv", **LENIENT})
    doc["sources"] = dict([sources[0], extra_source, *sources[1:]])
    project.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    run_ingest(project, validate=False)
    return project


def test_a_new_month_of_the_first_of_two_sources_is_appended_before_the_second_sources_rows(two_sources: Path) -> None:
    (_raw(two_sources) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    read: list[str] = []
    result = refresh_ingest(two_sources, progress=lambda source, path, rows: read.append(path.name))
    assert read == ["2024-02.csv"]
    assert _actions(result) == {"tickets": "append", "it_costs": "keep", "customer_surveys": "keep"}
    con = duckdb.connect(str(_wh(two_sources)), read_only=True)
    ids = [r[0] for r in con.execute("SELECT ticket_id FROM tickets ORDER BY rowid").fetchall()]
    con.close()
    assert ids == ["T1", "T2", "T5", "T6", "X1"]  # T3, T4 and X2 are rejected
    _assert_equals_full_ingest(two_sources, result)
    # the second source's next month lands after every row, a month after that of the first source before them
    (_raw(two_sources) / "extra" / "2024-02.csv").write_text(_csv(["X3,2024-02-04 10:00,,customer,C7,vpn,low,chat,0"]), encoding="utf-8")
    assert _actions(refresh_ingest(two_sources))["tickets"] == "append"
    (_raw(two_sources) / "tickets" / "2024-03.csv").write_text(_csv(["T7,2024-03-01 10:00,,customer,C1,email,low,chat,0"]), encoding="utf-8")
    result = refresh_ingest(two_sources)
    assert _actions(result)["tickets"] == "append"
    _assert_equals_full_ingest(two_sources, result)


def test_new_files_in_both_sources_or_a_key_the_later_source_holds_reload_the_table(two_sources: Path) -> None:
    (_raw(two_sources) / "tickets" / "2024-02.csv").write_text(_csv([*FEB, "X1,2024-02-09 10:00,,customer,C1,email,low,chat,0"]), encoding="utf-8")
    result = refresh_ingest(two_sources)
    # X1 is stored from the second source; a full ingest keeps the first source's X1 and rejects the second's
    assert _actions(result)["tickets"] == "reload"
    _assert_equals_full_ingest(two_sources, result)
    (_raw(two_sources) / "tickets" / "2024-03.csv").write_text(_csv(["T8,2024-03-01 10:00,,customer,C1,email,low,chat,0"]), encoding="utf-8")
    (_raw(two_sources) / "extra" / "2024-03.csv").write_text(_csv(["X4,2024-03-04 10:00,,customer,C7,vpn,low,chat,0"]), encoding="utf-8")
    result = refresh_ingest(two_sources)
    assert _actions(result)["tickets"] == "reload"
    assert any("several of its sources have new files" in line for line in result.report.lines())
    _assert_equals_full_ingest(two_sources, result)


def test_an_append_before_a_later_sources_rows_updates_the_fingerprint_without_reading_the_table(
    two_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The later source's rows, set aside and appended again, leave the stored fingerprint and re-enter it."""
    from outcomes.warehouse import store

    recomputed: list[list[str] | None] = []
    real = store.store_fingerprints
    monkeypatch.setattr(store, "store_fingerprints", lambda con, changed=None: (recomputed.append(changed), real(con, changed))[1])
    (_raw(two_sources) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    result = refresh_ingest(two_sources)
    assert _actions(result)["tickets"] == "append"
    assert recomputed == []
    _assert_equals_full_ingest(two_sources, result)


def test_a_table_whose_column_type_differs_from_the_data_model_is_rebuilt(project: Path) -> None:
    # An append does not validate the table it appends to: the data model's types are checked first.
    con = duckdb.connect(str(_wh(project)))
    try:
        con.execute("ALTER TABLE tickets ALTER COLUMN reassignment_count TYPE VARCHAR")
    finally:
        con.close()
    (_raw(project) / "tickets" / "2024-02.csv").write_text(_csv(FEB), encoding="utf-8")
    result = refresh_ingest(project)
    assert (result.report.mode, result.report.reason) == (
        "full",
        "table tickets was built with other columns or types than today's data model",
    )
    con = duckdb.connect(str(_wh(project)), read_only=True)
    try:
        assert con.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'tickets' AND column_name = 'reassignment_count'"
        ).fetchone() == ("BIGINT",)
    finally:
        con.close()
