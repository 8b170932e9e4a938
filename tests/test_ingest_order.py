"""Ingest loads the accepted rows in file order without sorting them when they lie in that order.

``checks.load_accepted`` inserts ``_kept`` as it lies when every row sits where file order
puts it (``checks._in_file_order``), and sorts it otherwise. The mapping keeps the order
read only if its SQL holds no join: DuckDB turns a long ``IN (...)`` list (booleans, allowed
values, null values) into one, which stored rows out of order at a row group's boundary
(122,880 rows) before the mapping used ``list_contains``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ingest_exports import write_config, write_raw
from outcomes.ingest import checks
from outcomes.ingest.load import run_ingest

HEADER = "ticket_id,opened_at,resolved_at,requester_type,requester_id,service,priority,channel,sla_met"
#: Rows per file: more than a DuckDB row group, so that two threads map each file.
ROWS = 150_000


def _tickets(month: int, bad: set[int], duplicate_of: dict[int, str]) -> str:
    lines = [HEADER]
    for i in range(1, ROWS + 1):
        key = duplicate_of.get(i, f"T{month}-{i}")
        opened = "not a date" if i in bad else f"2024-{month:02d}-01 10:00"
        lines.append(f"{key},{opened},,customer,C{i % 97},email,high,phone,{'true' if i % 3 else 'no'}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What ``_in_file_order`` answered for each source loaded."""
    answers: list[bool] = []
    real = checks._in_file_order

    def record(con: duckdb.DuckDBPyConnection) -> bool:
        answers.append(real(con))
        return answers[-1]

    monkeypatch.setattr(checks, "_in_file_order", record)
    return answers


def test_rows_of_csv_files_read_together_load_in_file_order_without_a_sort(tmp_path: Path, recorded: list[bool]) -> None:
    (tmp_path / "raw" / "tickets").mkdir(parents=True)
    write_raw(tmp_path, "tickets/2024-01.csv", _tickets(1, bad={5, 130_000}, duplicate_of={}))
    write_raw(tmp_path, "tickets/2024-02.csv", _tickets(2, bad={7}, duplicate_of={10: "T1-3", 140_000: "T1-140000"}))
    write_config(tmp_path, {"tickets": {"table": "tickets", "path": "tickets/*.csv"}})
    run_ingest(tmp_path / "sources.yaml")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        loaded = [r[0] for r in con.execute("SELECT ticket_id FROM tickets ORDER BY rowid").fetchall()]
        rejected = con.execute("SELECT row_number, rule FROM _rejects ORDER BY rowid").fetchall()
        sla = con.execute("SELECT count(*) FILTER (WHERE sla_met), count(*) FILTER (WHERE NOT sla_met) FROM tickets").fetchone()
    finally:
        con.close()
    expected = [f"T1-{i}" for i in range(1, ROWS + 1) if i not in (5, 130_000)]
    expected += [f"T2-{i}" for i in range(1, ROWS + 1) if i not in (7, 10, 140_000)]
    assert loaded == expected
    assert rejected == [(5, "unparseable_timestamp"), (130_000, "unparseable_timestamp"), (7, "unparseable_timestamp"),
                        (10, "duplicate_key"), (140_000, "duplicate_key")]
    assert sum(sla) == len(expected) and sla[1] > 0
    assert recorded == [True], "the mapped rows should lie in file order, so that the load need not sort them"


def test_rows_of_parquet_files_load_in_file_order_without_a_sort(tmp_path: Path, recorded: list[bool]) -> None:
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    for month in (1, 2):
        pd.DataFrame(
            {
                "order_id": [f"O{month}-{i}" for i in range(ROWS)],
                "customer_id": [f"C{i % 101}" for i in range(ROWS)],
                "ordered_at": pd.Timestamp(f"2024-{month:02d}-01 09:00") + pd.to_timedelta(range(ROWS), unit="s"),
                "revenue": [float(i % 50) - (1.0 if i == 17 else 0.0) * 100 for i in range(ROWS)],
            }
        ).to_parquet(tmp_path / "raw" / "orders" / f"2024-{month:02d}.parquet")
    write_config(tmp_path, {"orders": {"table": "orders", "path": "orders/*.parquet"}})
    run_ingest(tmp_path / "sources.yaml")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        loaded = [r[0] for r in con.execute("SELECT order_id FROM orders ORDER BY rowid").fetchall()]
    finally:
        con.close()
    assert loaded == [f"O{m}-{i}" for m in (1, 2) for i in range(ROWS) if i != 17]
    assert recorded == [True]


def _kept(rows: list[tuple[int, int]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE _kept (_fidx INTEGER, _row BIGINT)")
    con.executemany("INSERT INTO _kept VALUES (?, ?)", rows)
    return con


@pytest.mark.parametrize(
    ("rows", "ordered"),
    [
        ([(0, 1), (0, 2), (1, 1), (1, 2), (1, 3)], True),
        ([(3, 1), (3, 2), (4, 1)], True),  # a refresh numbers its files after the ones stored
        ([(0, 1), (1, 1), (0, 2), (1, 2)], False),  # files interleaved
        ([(0, 2), (0, 1), (1, 1)], False),  # rows of a file swapped
        ([(0, 1), (0, 3), (0, 4)], False),  # a gap: an Excel sheet's empty row
    ],
)
def test_in_file_order_is_true_only_for_rows_where_file_order_puts_them(rows: list[tuple[int, int]], ordered: bool) -> None:
    con = _kept(rows)
    assert checks._in_file_order(con) is ordered


def test_rows_out_of_file_order_are_sorted_by_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_in_file_order", lambda con: False)
    write_raw(tmp_path, "t.csv", "\n".join([HEADER, *_tickets(1, set(), {}).splitlines()[1:2001]]) + "\n")
    write_config(tmp_path, {"tickets": {"table": "tickets", "path": "t.csv"}})
    run_ingest(tmp_path / "sources.yaml")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        loaded = [r[0] for r in con.execute("SELECT ticket_id FROM tickets ORDER BY rowid").fetchall()]
    finally:
        con.close()
    assert loaded == [f"T1-{i}" for i in range(1, 2001)]
