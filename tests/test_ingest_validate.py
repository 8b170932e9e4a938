"""What ingest validates at the end: the loaded tables' structure; their values are guaranteed by the rejects."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from ingest_exports import HEADER, query, tickets

from outcomes.errors import IngestError
from outcomes.ingest import checks
from outcomes.ingest.load import run_ingest
from outcomes.warehouse import schemas, store

#: One row breaking each data check of the tickets schema, after two good rows.
BAD_ROWS = [
    "T1,2024-01-01 10:00,2024-01-01 12:00,customer,C1,email,high,phone,1",
    "T2,2024-01-02 09:00,,employee,E7,vpn,low,portal,0",
    "T3,2024-01-03 09:00,,customer,C2,email,urgent,phone,0",  # priority not allowed
    "T4,2024-01-03 09:00,,customer,C2,email,low,phone,-3",  # reassignment_count below its minimum
    "T5,2024-01-03 09:00,2024-01-02 09:00,customer,C2,email,low,phone,0",  # resolved before opened
    "T1,2024-01-04 09:00,,customer,C3,email,low,phone,0",  # duplicate key
    "T6,,,customer,C3,email,low,phone,0",  # empty required value
]


def test_rows_breaking_each_schema_check_are_rejected_so_the_table_passes_the_full_schema(tmp_path: Path) -> None:
    cfg = tickets(tmp_path, [HEADER + ",reassignment_count", *BAD_ROWS])
    summary = run_ingest(cfg)
    assert summary.rows_loaded == 2
    rules = {r for (r,) in query(tmp_path, "SELECT DISTINCT rule FROM _rejects")}
    assert {"allowed_values", "min", "resolved_before_opened", "duplicate_key", "not_null"} <= rules
    con = store.connect(tmp_path / "warehouse.duckdb")
    schemas.validate(con.table("tickets"), "tickets")


def test_validate_tables_still_refuses_a_table_of_other_types(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    store.create_tables(con)
    con.execute("ALTER TABLE tickets ALTER reassignment_count TYPE VARCHAR")
    with pytest.raises(IngestError) as info:
        checks.validate_tables(con, ["tickets"])
    assert "the loaded table 'tickets' breaks the data model" in str(info.value)
    assert "reassignment_count" in str(info.value)
