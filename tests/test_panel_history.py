"""The panel's months kept across runs: recomputed only when the data they read change."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from outcomes.metrics import compute, history
from outcomes.metrics.panel import build_panel
from outcomes.periods import Month
from outcomes.warehouse import datamodel, store

METRICS = ["ticket_volume", "active_customers", "availability"]
START, END = "2025-07", "2025-09"


@pytest.fixture()
def warehouse(demo_warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, copy)
    return copy


@pytest.fixture()
def windows(monkeypatch) -> list[tuple[str, str]]:
    """The windows compute_wide is asked for (a spy)."""
    seen: list[tuple[str, str]] = []
    real = compute.compute_wide

    def spy(con, metric_ids, scope):
        seen.append((str(scope.window.first_month), str(scope.window.last_month)))
        return real(con, metric_ids, scope)

    monkeypatch.setattr(compute, "compute_wide", spy)
    return seen


def _panel(path: Path, root: Path | None, start: str = START, end: str = END) -> pd.DataFrame:
    con = store.connect(path)
    try:
        return build_panel(con, start=start, end=end, segment="region", metrics=METRICS, history_dir=root)
    finally:
        con.disconnect()


def _change(path: Path, table: str, sql: str) -> None:
    """Change a table as ingest would: its rows, then its stored fingerprint."""
    con = duckdb.connect(str(path))
    con.execute(sql)
    store.store_fingerprints(con, [table])
    con.close()


def test_months_are_read_back_until_their_data_change(warehouse: Path, tmp_path: Path, windows):
    root = tmp_path / "history"
    first = _panel(warehouse, root)
    assert windows == [(START, END)]
    pd.testing.assert_frame_equal(first, _panel(warehouse, None))

    windows.clear()
    again = _panel(warehouse, root)
    assert windows == []  # an unchanged warehouse: nothing computed
    pd.testing.assert_frame_equal(again, first)

    windows.clear()
    later = _panel(warehouse, root, start="2025-08", end="2025-10")
    assert windows == [("2025-10", "2025-10")]  # the next month's run computes the new month only
    windows.clear()
    pd.testing.assert_frame_equal(later, _panel(warehouse, None, start="2025-08", end="2025-10"))

    # a changed historical month: that month and the later ones (their look-back reads it)
    _change(warehouse, "tickets", "UPDATE tickets SET resolved_at = resolved_at + INTERVAL 1 HOUR WHERE ticket_id = "
            "(SELECT min(ticket_id) FROM tickets WHERE opened_at >= '2025-08-01' AND opened_at < '2025-09-01' AND resolved_at IS NOT NULL)")
    windows.clear()
    changed = _panel(warehouse, root)
    assert windows == [("2025-08", END)]
    windows.clear()
    pd.testing.assert_frame_equal(changed, _panel(warehouse, None))

    # a table without months: every month
    _change(warehouse, "service_map", "DELETE FROM service_map WHERE rowid = (SELECT min(rowid) FROM service_map)")
    windows.clear()
    _panel(warehouse, root)
    assert windows == [(START, END)]


def test_a_month_after_the_window_changes_nothing_in_it(warehouse: Path, tmp_path: Path, windows):
    root = tmp_path / "history"
    _panel(warehouse, root)
    _change(warehouse, "tickets", "DELETE FROM tickets WHERE opened_at >= '2025-11-01' AND opened_at < '2025-12-01'")
    windows.clear()
    _panel(warehouse, root)
    assert windows == []


def test_rows_referring_to_a_later_month_key_the_table_whole(warehouse: Path, tmp_path: Path):
    con = store.connect(warehouse)
    state = history.data_state(con, tmp_path / "history")
    con.disconnect()
    assert "customers" in state["monthly"] and "customers" not in state["whole"]
    # a ticket raised in June 2025 by a customer who signs up in December
    _change(warehouse, "customers", "UPDATE customers SET signup_date = DATE '2025-12-01' WHERE customer_id = "
            "(SELECT min(requester_id) FROM tickets WHERE requester_type = 'customer' AND opened_at >= '2025-06-01' AND opened_at < '2025-07-01')")
    con = store.connect(warehouse)
    assert history.forward_references(con, "tickets", "requester_id", "customers", "customer_id") >= 1
    state = history.data_state(con, tmp_path / "history")
    con.disconnect()
    assert "customers" in state["whole"] and "customers" not in state["monthly"]


def test_month_columns_are_temporal_columns_of_their_tables():
    for table, column in history.MONTH_COLUMNS.items():
        assert datamodel.TABLES[table].column(column).type in datamodel.TEMPORAL_TYPES
    for child, column, parent, key in history.REFERENCES:
        assert {child, parent} <= set(history.MONTH_COLUMNS)
        datamodel.TABLES[child].column(column), datamodel.TABLES[parent].column(key)


def test_month_fingerprints_count_every_row(warehouse: Path):
    con = store.connect(warehouse)
    months = history.month_fingerprints(con, "tickets")
    total = con.raw_sql("SELECT count(*) FROM tickets").fetchone()[0]
    con.disconnect()
    assert sum(int(v.split(":")[0]) for v in months.values()) == total
    assert all(m == "none" or Month.parse(m) for m in months)


def test_a_run_keeps_the_shared_panels_months(warehouse: Path, tmp_path: Path, monkeypatch, windows):
    from outcomes.metrics.panel import shared_panel

    root = tmp_path / "history"
    monkeypatch.setenv(history.HISTORY_DIR_ENV, str(root))
    first = shared_panel(start=START, end=END, metrics=METRICS, warehouse_path=warehouse)
    assert len(list((root / "panel").glob("*.parquet"))) == 3
    windows.clear()
    pd.testing.assert_frame_equal(shared_panel(start=START, end=END, metrics=METRICS, warehouse_path=warehouse), first)
    assert windows == []
    monkeypatch.delenv(history.HISTORY_DIR_ENV)
    pd.testing.assert_frame_equal(shared_panel(start=START, end=END, metrics=METRICS, warehouse_path=warehouse), first)
    assert windows == [(START, END)]  # outside a run: computed whole
