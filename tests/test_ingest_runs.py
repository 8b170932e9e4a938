"""Files read together in one pass (``readers.batches``) load exactly what files read one at a time load.

Each scenario is ingested three ways: runs of CSV files mapped where they lie in one pass
(the default, ``open_csv_run``), runs of files read as text first, and every file read
alone (``readers.batches`` giving one file per run); the tables, the rejects with their messages (file and row), the
ingest log's row counts, and any error must be the same. The runs really are formed:
``open_csv_run`` and ``read_batch`` are counted.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ingest_exports import write_config, write_raw
from outcomes.errors import IngestError
from outcomes.ingest import load, readers
from outcomes.ingest.load import run_ingest

HEADER = "ticket_id,opened_at,resolved_at,requester_type,requester_id,service,priority,channel,reopens"


def _raw(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "raw" / Path(name).parent).mkdir(parents=True, exist_ok=True)
    write_raw(tmp_path, name, text)


def _month(month: int, rows: int = 3, bad: dict[int, str] | None = None) -> str:
    lines = [HEADER]
    for i in range(1, rows + 1):
        line = f"T{month}-{i}, 2024-{month:02d}-0{i} 10:00 ,2024-{month:02d}-0{i} 12:00,customer,C{i},email,high,phone,{i % 2}"
        lines.append((bad or {}).get(i, line))
    return "\n".join(lines) + "\n"


def _ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> dict[str, object]:
    """Ingest the sources of ``tmp_path``; return the tables, rejects, log counts and the runs read.

    ``mode`` is ``"lie"`` (the default: runs of CSV files mapped where they lie, in one
    pass), ``"runs"`` (every run read as text first) or ``"alone"`` (every file read alone).
    """
    runs: list[int] = []
    lying: list[int] = []
    read_batch, open_csv_run = readers.read_batch, readers.open_csv_run

    def counted(ctx, files):
        runs.append(len(files))
        return read_batch(ctx, files)

    def opened(ctx, files):
        if mode != "lie":
            return False
        lying.append(len(files))
        return open_csv_run(ctx, files)

    with monkeypatch.context() as mp:
        mp.setattr(readers, "read_batch", counted)
        mp.setattr(readers, "open_csv_run", opened)
        if mode == "alone":
            mp.setattr(readers, "batches", lambda ctx, files, first=0, limit=None: [{first + i: p} for i, p in enumerate(files)])
        try:
            run_ingest(tmp_path / "sources.yaml")
        except IngestError as exc:
            return {"error": str(exc), "runs": runs, "lying": lying}
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        out: dict[str, object] = {
            name: con.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall()
            for name in ("tickets", "orders", "_rejects")
        }
        out["log"] = con.execute("SELECT source, file, rows_read, rows_loaded, rows_rejected FROM _ingest_log ORDER BY rowid").fetchall()
    finally:
        con.close()
    (tmp_path / "warehouse.duckdb").unlink()
    out["runs"] = runs
    out["lying"] = lying
    return out


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, object], dict[str, object]]:
    """Ingest three ways and check they load the same; return the result and the runs each way formed.

    ``runs``: the runs read as text when no file is mapped where it lies; ``lying``: the
    runs mapped where they lie by default, and ``fallback``: those read as text then.
    """
    lie = _ingest(tmp_path, monkeypatch, "lie")
    together = _ingest(tmp_path, monkeypatch, "runs")
    alone = _ingest(tmp_path, monkeypatch, "alone")
    assert alone["runs"] == [] and alone.pop("lying") == [] and together.pop("lying") == []
    seen = {"runs": together.pop("runs"), "lying": lie.pop("lying"), "fallback": lie.pop("runs")}
    alone.pop("runs")
    assert lie == together
    assert together == alone
    return together, seen


def _tickets(tmp_path: Path, **entry: object) -> None:
    write_config(
        tmp_path,
        {
            "tickets": {
                "table": "tickets",
                "path": "tickets/*.csv",
                "columns": {"reopened": "reopens"} if "derive" not in entry else {},
                "dates": {"opened_at": "%Y-%m-%d %H:%M", "resolved_at": "%Y-%m-%d %H:%M"},
                **entry,
            }
        },
    )


def test_bad_rows_in_later_files_of_a_run_are_named_by_their_own_file_and_row(tmp_path, monkeypatch) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    _raw(tmp_path, "tickets/t2.csv", _month(2, bad={2: "T2-2,not a date,,customer,C2,email,high,phone,1"}))
    _raw(tmp_path, "tickets/t3.csv", _month(3, bad={3: "T1-1,2024-03-03 10:00,,customer,C3,email,high,phone,0"}))
    _tickets(tmp_path)
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["runs"] == [3]
    # mapped in one pass; t2, whose row 2 is flagged, is read again for that row's text
    assert seen["lying"] == [3] and seen["fallback"] == []
    messages = [r[-1] for r in result["_rejects"]]
    assert any(m.startswith("t2.csv row 2: ") for m in messages)
    assert any(m.startswith("t3.csv row 3: ") and "duplicate key" in m and "t1.csv row 1" in m for m in messages)
    assert len(result["tickets"]) == 7
    assert [r[2:] for r in result["log"]] == [(3, 3, 0), (3, 2, 1), (3, 2, 1)]


def test_a_file_with_another_header_is_read_alone_and_splits_the_run(tmp_path, monkeypatch) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    _raw(tmp_path, "tickets/t2.csv", _month(2))
    reordered = pd.read_csv(pd.io.common.StringIO(_month(3)), dtype=str, keep_default_na=False)
    _raw(tmp_path, "tickets/t3.csv", reordered[list(reversed(reordered.columns))].to_csv(index=False))
    _raw(tmp_path, "tickets/t4.csv", _month(4))
    _tickets(tmp_path)
    result, seen = _both(tmp_path, monkeypatch)
    # t1-t2 together; t3 (reversed columns) starts a run of its own, and t4 another
    assert seen["runs"] == [2]
    assert seen["lying"] == [2, 1, 1] and seen["fallback"] == []
    assert len(result["tickets"]) == 12


def test_derive_inputs_typed_differently_per_file_are_mapped_file_by_file(tmp_path, monkeypatch) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    # every reopen count of the second file is text: alone it is a text column, with the first a number column
    words = {i: f"T2-{i},2024-02-0{i} 10:00,,customer,C{i},email,high,phone,many" for i in (1, 2, 3)}
    _raw(tmp_path, "tickets/t2.csv", _month(2, bad=words))
    _tickets(tmp_path, derive={"reopened": "\"reopens\" = 'many' OR \"reopens\" = '1'"})
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["runs"] == [2]
    # the run cannot be mapped in one pass either: it is read as text, then file by file
    assert seen["lying"] == [2] and seen["fallback"] == [2]
    assert [r for r in result["tickets"] if r[0].startswith("T2-")]


def test_a_repeated_header_in_the_second_file_of_a_run_names_that_file(tmp_path, monkeypatch) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    reordered = ",".join(reversed(HEADER.split(",")))
    _raw(tmp_path, "tickets/t2.csv", _month(2, bad={2: reordered}))
    _tickets(tmp_path)
    result, _ = _both(tmp_path, monkeypatch)
    assert "t2.csv row 2 repeats the header" in str(result["error"])


@pytest.mark.parametrize("allow_empty", [False, True])
def test_a_header_only_file_in_a_run(tmp_path, monkeypatch, allow_empty: bool) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    _raw(tmp_path, "tickets/t2.csv", HEADER + "\n")
    _raw(tmp_path, "tickets/t3.csv", _month(3))
    _tickets(tmp_path, allow_empty=allow_empty)
    result, _ = _both(tmp_path, monkeypatch)
    if allow_empty:
        assert len(result["tickets"]) == 6 and [r[2] for r in result["log"]] == [3, 0, 3]
    else:
        assert "t2.csv has a header and no rows" in str(result["error"])


def test_parquet_files_are_read_together_with_their_own_row_numbers(tmp_path, monkeypatch) -> None:
    for month in (1, 2, 3):
        frame = pd.DataFrame(
            {
                "order_id": [f"O{month}-{i}" for i in range(1, 5)],
                "customer_id": ["C1", "C2", "C3", "C4"],
                "ordered_at": pd.to_datetime([f"2024-0{month}-0{i} 10:00" for i in range(1, 5)]),
                "revenue": [10.0, -5.0 if month == 2 else 20.0, 30.0, 40.0],
            }
        )
        (tmp_path / "raw" / "orders").mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp_path / "raw" / "orders" / f"o{month}.parquet")
    write_config(tmp_path, {"orders": {"table": "orders", "path": "orders/*.parquet"}})
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["runs"] == [3] and seen["lying"] == []
    assert [r[-1][:14] for r in result["_rejects"]] == ["o2.parquet row"]
    assert "row 2:" in result["_rejects"][0][-1]
    assert len(result["orders"]) == 11


def test_parquet_files_are_read_in_one_run_whatever_their_size(tmp_path, monkeypatch) -> None:
    # A run of Parquet files is a view over the files, not a copy, so it needs no byte limit.
    for month in (1, 2, 3):
        frame = pd.DataFrame({"order_id": [f"O{month}"], "customer_id": ["C1"], "ordered_at": pd.to_datetime([f"2024-0{month}-01"]), "revenue": [1.0]})
        (tmp_path / "raw" / "orders").mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp_path / "raw" / "orders" / f"o{month}.parquet")
    write_config(tmp_path, {"orders": {"table": "orders", "path": "orders/*.parquet"}})
    monkeypatch.setattr(readers, "BATCH_BYTES", 1)
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["runs"] == [3]
    assert len(result["orders"]) == 3


def test_a_malformed_line_in_a_later_file_is_named_as_when_read_as_text(tmp_path, monkeypatch) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    _raw(tmp_path, "tickets/t2.csv", _month(2, bad={2: 'T2-2,"2024-02-02 10:00,,customer,C2,email,high,phone,1'}))
    _tickets(tmp_path)
    result, seen = _both(tmp_path, monkeypatch)
    # the one pass fails as DuckDB parses t2, and the run is read as text, whose error names the file
    assert seen["lying"] == [2] and seen["fallback"] == [2]
    assert "t2.csv cannot be parsed as CSV" in str(result["error"])


def test_a_derive_failing_on_one_row_of_a_later_file_rejects_that_row(tmp_path, monkeypatch) -> None:
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    _raw(tmp_path, "tickets/t2.csv", _month(2, bad={2: "T2-2,2024-02-02 10:00,,customer,C2,oops,high,phone,1"}))
    _tickets(tmp_path, derive={"reopened": "CASE WHEN \"service\" = 'oops' THEN CAST(\"service\" AS INTEGER) ELSE \"reopens\" END > 0"})
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["lying"] == [2] and seen["fallback"] == [2]
    assert [(r[2], r[5]) for r in result["_rejects"]] == [(2, "derive_error")]
    assert result["_rejects"][0][-1].startswith("t2.csv row 2: ")
    assert len(result["tickets"]) == 5


def test_a_header_repeated_in_order_and_a_value_named_like_a_column(tmp_path, monkeypatch) -> None:
    # t2 row 2 repeats the header as it is: a bad row like any other. t3 row 1's id is a
    # column name: its file is read again to tell, and the row is loaded.
    _raw(tmp_path, "tickets/t1.csv", _month(1))
    _raw(tmp_path, "tickets/t2.csv", _month(2, bad={2: HEADER}))
    _raw(tmp_path, "tickets/t3.csv", _month(3, bad={1: "service,2024-03-01 10:00,,customer,C1,email,high,phone,0"}))
    _tickets(tmp_path)
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["lying"] == [3] and seen["fallback"] == []
    assert {r[-1].split(":")[0] for r in result["_rejects"]} == {"t2.csv row 2"}
    assert "service" in [r[0] for r in result["tickets"]]
    assert [r[2:] for r in result["log"]] == [(3, 3, 0), (3, 2, 1), (3, 3, 0)]


def test_a_header_repeated_in_another_order_where_every_mapped_column_is_text(tmp_path, monkeypatch) -> None:
    # No cell of the repeated header fails to parse, so no rule flags its row: its first
    # cell, a column name, is what sends its file to be read again and refused.
    header = "service,journey,capability,region"
    rows = {1: "web-shop,checkout,payments,north", 2: "app,browse,search,south"}
    _raw(tmp_path, "map/m1.csv", "\n".join([header, *rows.values()]) + "\n")
    _raw(tmp_path, "map/m2.csv", "\n".join([header, "region,capability,journey,service", "api,order,stock,east"]) + "\n")
    write_config(tmp_path, {"map": {"table": "service_map", "path": "map/*.csv", "constants": {"customer_facing": True}}})
    result, seen = _both(tmp_path, monkeypatch)
    assert seen["lying"] == [2]
    assert "m2.csv row 1 repeats the header with the columns in another order" in str(result["error"])


def test_a_failed_ingest_does_not_hash_the_rest_of_its_exports(tmp_path, monkeypatch) -> None:
    """The exports' SHA-256 is computed on a background thread; a failure cancels what is left of it."""
    release, hashed, real = threading.Event(), [], load._sha256

    def held(path: Path) -> str:
        hashed.append(path.name)
        release.wait(10)
        return real(path)

    monkeypatch.setattr(load, "_sha256", held)
    for month in (1, 2, 3):
        _raw(tmp_path, f"tickets/t{month}.csv", _month(month))
    _tickets(tmp_path, columns={"reopened": "no_such_column"})
    with pytest.raises(IngestError):
        run_ingest(tmp_path / "sources.yaml")
    release.set()
    load._hasher().submit(int).result()  # every hash the ingest left queued has run or been cancelled
    assert len(hashed) <= 1  # at most the file being hashed when the ingest failed
