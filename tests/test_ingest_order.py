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

from ingest_exports import query, write_config, write_raw
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
    loaded = [r[0] for r in query(tmp_path, "SELECT ticket_id FROM tickets ORDER BY rowid")]
    rejected = query(tmp_path, "SELECT row_number, rule FROM _rejects ORDER BY rowid")
    (sla,) = query(tmp_path, "SELECT count(*) FILTER (WHERE sla_met), count(*) FILTER (WHERE NOT sla_met) FROM tickets")
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
    loaded = [r[0] for r in query(tmp_path, "SELECT order_id FROM orders ORDER BY rowid")]
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
    loaded = [r[0] for r in query(tmp_path, "SELECT ticket_id FROM tickets ORDER BY rowid")]
    assert loaded == [f"T1-{i}" for i in range(1, 2001)]


def test_parquet_columns_of_their_canonical_type_load_and_reject_as_their_text_does(tmp_path: Path) -> None:
    """A Parquet column already typed is read as it is; the same values written as CSV load and reject the same."""
    frame = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5", "O6", "O7", "O2", None],
            "customer_id": ["C1", "C2", "C3", None, "C5", "C6", "C7", "C8", "C9"],
            "ordered_at": pd.to_datetime(
                ["2024-01-01 10:00:00.250", "2024-01-02 00:00:00", None, "2024-01-04 08:00:00", "1999-12-31 00:00:00", "2099-01-01 00:00:00", "2024-01-07 00:00:00",
                 "2024-01-08 00:00:00", "2024-01-09 00:00:00"], format="ISO8601"
            ),
            "revenue": [10.5, float("inf"), 3.0, 4.0, 5.0, 6.0, -7.0, 8.0, 9.0],
            "margin": [1.0, 2.0, float("nan"), None, 5.0, 6.0, 7.0, 8.0, 9.0],
            "items": pd.array([1, 2, 3, None, 5, -6, 7, 8, 9], dtype="Int64"),
        }
    )
    (tmp_path / "pq" / "raw").mkdir(parents=True)
    (tmp_path / "csv" / "raw").mkdir(parents=True)
    frame.to_parquet(tmp_path / "pq" / "raw" / "orders.parquet")
    frame.to_csv(tmp_path / "csv" / "raw" / "orders.parquet", index=False)  # the same name, so messages match
    out = {}
    for kind in ("pq", "csv"):
        write_config(tmp_path / kind, {"orders": {"table": "orders", "path": "orders.parquet", "format": "parquet" if kind == "pq" else "csv"}})
        run_ingest(tmp_path / kind / "sources.yaml")
        out[kind] = (
            query(tmp_path / kind, "SELECT * FROM orders ORDER BY rowid"),
            query(tmp_path / kind, 'SELECT row_number, "column", rule FROM _rejects ORDER BY rowid'),
        )
    loaded, rejects = out["pq"]
    # O2's first row is rejected (revenue inf), so its second row is the first of its key, and is kept.
    assert [(r[0], r[3]) for r in loaded] == [("O1", 10.5), ("O2", 8.0)]
    assert loaded[0][2] == pd.Timestamp("2024-01-01 10:00:00.250")
    assert {rule for *_, rule in rejects} >= {"unparseable_float", "not_null", "before_earliest", "after_export_date", "min"}
    assert out["pq"] == out["csv"]


def test_only_parquet_columns_whose_text_nothing_maps_are_passed_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from outcomes.ingest import mapping

    seen: list[dict[str, str]] = []
    real = mapping._passed_through

    def record(ctx, export_cols, refs):
        seen.append(real(ctx, export_cols, refs))
        return seen[-1]

    monkeypatch.setattr(mapping, "_passed_through", record)
    (tmp_path / "raw").mkdir()
    pd.DataFrame(
        {"order_id": ["O1"], "customer_id": ["C1"], "ordered_at": [pd.Timestamp("2024-01-01")], "revenue": [1.0], "items": [2.0]}
    ).to_parquet(tmp_path / "raw" / "orders.parquet")
    write_config(tmp_path, {"orders": {"table": "orders", "path": "orders.parquet", "dates": {}, "values": {}}})
    run_ingest(tmp_path / "sources.yaml")
    # items is a DOUBLE for an int column: its text is parsed, so 2.0 is the whole number 2
    assert seen == [{"ordered_at": '"__native__ordered_at"', "revenue": '"__native__revenue"'}]
    write_config(tmp_path, {"orders": {"table": "orders", "path": "orders.parquet", "dates": {"ordered_at": "%Y-%m-%d %H:%M:%S"}}})
    run_ingest(tmp_path / "sources.yaml")
    assert seen[-1] == {"revenue": '"__native__revenue"'}


#: Every column of the warehouse's tables, with its type and whether it may be empty.
_COLUMNS = (
    "SELECT table_name, column_index, column_name, data_type, is_nullable FROM duckdb_columns() "
    "WHERE database_name = current_database() ORDER BY table_name, column_index"
)


def test_the_first_source_of_a_table_becomes_that_table_as_create_tables_declares_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first source of a table is written into the warehouse once; a second source is appended to it."""
    from outcomes.warehouse.store import create_tables

    taken: list[str] = []
    real = checks._take_place
    monkeypatch.setattr(checks, "_take_place", lambda ctx: (taken.append(ctx.name), real(ctx))[1])
    write_raw(tmp_path, "a.csv", "\n".join(_tickets(1, bad={5}, duplicate_of={10: "T1-3"}).splitlines()[:2001]) + "\n")
    write_raw(tmp_path, "b.csv", "\n".join(_tickets(2, bad={2}, duplicate_of={4: "T1-7"}).splitlines()[:1001]) + "\n")
    write_config(
        tmp_path,
        {"tickets": {"table": "tickets", "path": "a.csv"}, "web_tickets": {"table": "tickets", "path": "b.csv"}},
    )
    run_ingest(tmp_path / "sources.yaml")
    assert taken == ["tickets"]
    declared = duckdb.connect()
    create_tables(declared)
    # the same columns, types and NOT NULL as a table created empty, and no table of the load's own left
    expected_columns = declared.execute(_COLUMNS).fetchall()
    tables = {c[0] for c in expected_columns}
    found = query(tmp_path, _COLUMNS)
    assert [c for c in found if c[0] in tables] == expected_columns
    assert {c[0] for c in found} - tables == {"_fingerprints"}
    loaded = [r[0] for r in query(tmp_path, "SELECT ticket_id FROM tickets ORDER BY rowid")]
    expected = [f"T1-{i}" for i in range(1, 2001) if i not in (5, 10)] + [f"T2-{i}" for i in range(1, 1001) if i not in (2, 4)]
    assert loaded == expected
    assert query(tmp_path, "SELECT row_number, rule FROM _rejects ORDER BY rowid") == [
        (5, "unparseable_timestamp"), (10, "duplicate_key"), (2, "unparseable_timestamp"), (4, "duplicate_key")
    ]


def test_a_key_mapped_by_a_value_map_is_named_in_the_duplicate_key_message_by_its_text(tmp_path: Path) -> None:
    """Only a key whose text may differ from its value keeps its text; a text key is named by its value."""
    lines = [HEADER, "T1,2024-01-01 10:00,,customer,C1,email,high,phone,true",
             "old-1,2024-01-02 10:00,,customer,C2,email,high,phone,true",
             "T2,2024-01-03 10:00,,customer,C3,email,high,phone,true",
             " T2 ,2024-01-04 10:00,,customer,C4,email,high,phone,true"]
    write_raw(tmp_path, "t.csv", "\n".join(lines) + "\n")
    write_config(tmp_path, {"tickets": {"table": "tickets", "path": "t.csv", "values": {"ticket_id": {"old-1": "T1"}}}})
    run_ingest(tmp_path / "sources.yaml")
    found = query(tmp_path, 'SELECT row_number, value, message FROM _rejects ORDER BY rowid')
    assert [(n, v) for n, v, _ in found] == [(2, "old-1"), (4, "T2")]
    assert "duplicate key ticket_id 'old-1' (first seen in t.csv row 1" in found[0][2]
    assert "duplicate key ticket_id 'T2' (first seen in t.csv row 3" in found[1][2]
