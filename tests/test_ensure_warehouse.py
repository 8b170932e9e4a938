"""``ensure_warehouse``: ingest once, again only when an export changes, one warehouse per raw folder.

The sources file maps the committed ServiceNow sample (10 incidents, one rejected) with the
ServiceNow preset; each test copies it into its own raw folder so it can change the file.
"""

from __future__ import annotations

import concurrent.futures as cf
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from ingest_exports import LENIENT

from outcomes.errors import IngestError
from outcomes.ingest.load import ensure_warehouse

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = "servicenow_incidents_sample.csv"
HEADER = "# ServiceNow incident list sample; written for the tests, the data come from tests/data/README.md."


def _sources(tmp_path: Path, raw: Path) -> Path:
    if raw.is_dir():
        shutil.copy(DATA / SAMPLE, raw / SAMPLE)
    doc = {
        "raw_dir": str(raw),
        "warehouse": str(tmp_path / "wh" / "tickets.duckdb"),
        "rejects_dir": str(tmp_path / "rejects"),
        "sources": {"tickets": {"preset": "servicenow", "path": SAMPLE, "constants": {"requester_type": "employee"}, **LENIENT}},
    }
    path = tmp_path / "sources.yaml"
    path.write_text(HEADER + "\n" + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    return _sources(tmp_path, raw)


def _count(warehouse: Path, sql: str = "SELECT count(*) FROM tickets") -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_a_missing_warehouse_is_ingested(sources: Path, tmp_path: Path) -> None:
    warehouse = ensure_warehouse(sources)
    assert warehouse == tmp_path / "wh" / "tickets.duckdb"
    assert _count(warehouse) == 9
    assert _count(warehouse, "SELECT count(*) FROM _ingest_log") == 1
    assert (tmp_path / "rejects" / "tickets.csv").is_file()


def test_an_unchanged_warehouse_is_left_alone(sources: Path) -> None:
    warehouse = ensure_warehouse(sources)
    inode, mtime = warehouse.stat().st_ino, warehouse.stat().st_mtime_ns
    assert ensure_warehouse(sources) == warehouse
    assert (warehouse.stat().st_ino, warehouse.stat().st_mtime_ns) == (inode, mtime)


def test_a_changed_export_is_ingested_again(sources: Path, tmp_path: Path) -> None:
    warehouse = ensure_warehouse(sources)
    export = tmp_path / "raw" / SAMPLE
    lines = export.read_text().splitlines(keepends=True)
    export.write_text("".join(lines[:4]))  # header and the first three incidents
    assert ensure_warehouse(sources) == warehouse
    assert _count(warehouse) == 3


def test_a_changed_mapping_is_ingested_again(sources: Path) -> None:
    warehouse = ensure_warehouse(sources)
    doc = yaml.safe_load(sources.read_text())
    doc["sources"]["tickets"]["constants"]["requester_type"] = "customer"
    sources.write_text(yaml.safe_dump(doc, sort_keys=False))
    ensure_warehouse(sources)
    assert _count(warehouse, "SELECT count(*) FROM tickets WHERE requester_type = 'customer'") == 9


def test_parallel_callers_ingest_once(sources: Path) -> None:
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: ensure_warehouse(sources), range(3)))
    assert len(set(paths)) == 1
    assert _count(paths[0], "SELECT count(*) FROM _ingest_log") == 1


def test_raw_dir_override_gets_its_own_warehouse(sources: Path, tmp_path: Path) -> None:
    own = ensure_warehouse(sources)
    other_raw = tmp_path / "excerpt"
    other_raw.mkdir()
    (other_raw / SAMPLE).write_text("".join((DATA / SAMPLE).read_text().splitlines(keepends=True)[:3]))
    other = ensure_warehouse(sources, raw_dir=other_raw)
    assert other != own and other.parent == own.parent
    assert other.name.startswith("tickets-") and other.suffix == ".duckdb"
    assert (_count(own), _count(other)) == (9, 2)
    assert (other.parent / f"{other.stem}-rejects" / "tickets.csv").is_file()
    assert ensure_warehouse(sources, raw_dir=tmp_path / "raw") == own  # the file's own folder: its own warehouse
    explicit = ensure_warehouse(sources, raw_dir=other_raw, warehouse=tmp_path / "mine.duckdb")
    assert explicit == tmp_path / "mine.duckdb" and _count(explicit) == 2


def test_a_missing_raw_folder_is_named_with_where_the_data_come_from(tmp_path: Path) -> None:
    sources = _sources(tmp_path, tmp_path / "absent")
    with pytest.raises(IngestError) as info:
        ensure_warehouse(sources)
    message = str(info.value)
    assert f"the raw data folder {tmp_path / 'absent'} does not exist" in message
    assert "written for the tests, the data come from tests/data/README.md" in message
    assert not (tmp_path / "wh" / "tickets.duckdb").exists()


def test_a_missing_export_is_named(sources: Path, tmp_path: Path) -> None:
    (tmp_path / "raw" / SAMPLE).unlink()
    with pytest.raises(IngestError, match=rf"no file matches {tmp_path / 'raw' / SAMPLE} \(source 'tickets'.*About this data"):
        ensure_warehouse(sources)


def test_one_folder_spelled_two_ways_is_ingested_once(sources: Path, tmp_path: Path) -> None:
    warehouse = ensure_warehouse(sources, raw_dir=tmp_path / "raw")
    inode, mtime = warehouse.stat().st_ino, warehouse.stat().st_mtime_ns
    assert warehouse == tmp_path / "wh" / "tickets.duckdb"  # the file's own folder: no hashed name
    again = ensure_warehouse(sources, raw_dir=tmp_path / "wh" / ".." / "raw")
    assert again == warehouse
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (inode, mtime)
