"""The panel's months kept across runs: recomputed only when the data they read change.

The demo warehouse is copied once per module (``pristine``, never written); tests that
change data work on their own copy. ``seed`` is a history folder holding the months of
``START``..``END`` and the month fingerprints of the pristine copy, and ``reference`` the
panels computed without history on it, so each full-window computation runs once.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest

from outcomes.metrics import compute, history
from outcomes.metrics.panel import build_panel
from outcomes.periods import Month
from outcomes.scorecard.drivers import drivers_panel
from outcomes.warehouse import datamodel, store

METRICS = ["ticket_volume", "active_customers", "availability"]
START, END = "2025-07", "2025-09"


@pytest.fixture(scope="module")
def pristine(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo warehouse shared by the module's tests; never written."""
    copy = tmp_path_factory.mktemp("pristine") / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, copy)
    return copy


@pytest.fixture(scope="module")
def seed(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history folder holding the region panel of ``START``..``END`` on the pristine copy."""
    root = tmp_path_factory.mktemp("seed") / "history"
    _panel(pristine, root)
    return root


@pytest.fixture(scope="module")
def reference(pristine: Path) -> Callable[[str, str], pd.DataFrame]:
    """The region panel of a window within ``START``..2025-10 without history on the pristine copy.

    One computation of ``START``..2025-10; a window's panel is its months (every region
    has rows in every month, so the panel of a shorter window has the same segments).
    """
    whole = _panel(pristine, None, START, "2025-10")

    def panel(start: str, end: str) -> pd.DataFrame:
        months = whole["period"].between(pd.Timestamp(Month.parse(start).start), pd.Timestamp(Month.parse(end).start))
        return whole[months].reset_index(drop=True)

    return panel


@pytest.fixture()
def warehouse(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the pristine warehouse the test may change."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(pristine, copy)
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


def _history(seed: Path, tmp_path: Path, *, months: bool) -> Path:
    """A history folder for one test: the seed's month fingerprints, and its months when ``months``."""
    root = tmp_path / "history"
    shutil.copytree(seed / "fingerprints", root / "fingerprints")
    if months:
        shutil.copytree(seed / "panel", root / "panel")
    return root


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


def test_months_are_read_back_until_their_data_change(warehouse: Path, tmp_path: Path, seed: Path, reference, windows):
    root = _history(seed, tmp_path, months=False)
    first = _panel(warehouse, root)
    assert windows == [(START, END)]
    pd.testing.assert_frame_equal(first, reference(START, END))

    windows.clear()
    again = _panel(warehouse, root)
    assert windows == []  # an unchanged warehouse: nothing computed
    pd.testing.assert_frame_equal(again, first)

    windows.clear()
    later = _panel(warehouse, root, start="2025-08", end="2025-10")
    assert windows == [("2025-10", "2025-10")]  # the next month's run computes the new month only
    windows.clear()
    pd.testing.assert_frame_equal(later, reference("2025-08", "2025-10"))

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


def test_a_month_after_the_window_changes_nothing_in_it(warehouse: Path, tmp_path: Path, seed: Path, windows):
    root = _history(seed, tmp_path, months=True)
    _panel(warehouse, root)
    _change(warehouse, "tickets", "DELETE FROM tickets WHERE opened_at >= '2025-11-01' AND opened_at < '2025-12-01'")
    windows.clear()
    _panel(warehouse, root)
    assert windows == []


def test_rows_referring_to_a_later_month_key_the_table_whole(warehouse: Path, tmp_path: Path, seed: Path):
    root = _history(seed, tmp_path, months=False)
    con = store.connect(warehouse)
    state = history.data_state(con, root)
    con.disconnect()
    assert "customers" in state["monthly"] and "customers" not in state["whole"]
    # a ticket raised in June 2025 by a customer who signs up in December
    _change(warehouse, "customers", "UPDATE customers SET signup_date = DATE '2025-12-01' WHERE customer_id = "
            "(SELECT min(requester_id) FROM tickets WHERE requester_type = 'customer' AND opened_at >= '2025-06-01' AND opened_at < '2025-07-01')")
    con = store.connect(warehouse)
    assert history.forward_references(con, "tickets", "requester_id", "customers", "customer_id") >= 1
    state = history.data_state(con, root)
    con.disconnect()
    assert "customers" in state["whole"] and "customers" not in state["monthly"]


def test_month_columns_are_temporal_columns_of_their_tables():
    for table, column in history.MONTH_COLUMNS.items():
        assert datamodel.TABLES[table].column(column).type in datamodel.TEMPORAL_TYPES
    for child, column, parent, key in history.REFERENCES:
        assert {child, parent} <= set(history.MONTH_COLUMNS)
        datamodel.TABLES[child].column(column), datamodel.TABLES[parent].column(key)


def test_month_fingerprints_count_every_row(pristine: Path):
    con = store.connect(pristine)
    months = history.month_fingerprints(con, "tickets")
    total = con.raw_sql("SELECT count(*) FROM tickets").fetchone()[0]
    con.disconnect()
    assert sum(int(v.split(":")[0]) for v in months.values()) == total
    assert all(m == "none" or Month.parse(m) for m in months)


def test_a_run_keeps_the_shared_panels_months(pristine: Path, tmp_path: Path, seed: Path, monkeypatch, windows):
    from outcomes.metrics.panel import shared_panel

    warehouse = pristine
    root = _history(seed, tmp_path, months=False)
    monkeypatch.setenv(history.HISTORY_DIR_ENV, str(root))
    first = shared_panel(start=START, end=END, metrics=METRICS, warehouse_path=warehouse)
    assert len(list((root / "panel").glob("*.parquet"))) == 3
    windows.clear()
    pd.testing.assert_frame_equal(shared_panel(start=START, end=END, metrics=METRICS, warehouse_path=warehouse), first)
    assert windows == []
    monkeypatch.delenv(history.HISTORY_DIR_ENV)
    pd.testing.assert_frame_equal(shared_panel(start=START, end=END, metrics=METRICS, warehouse_path=warehouse), first)
    assert windows == [(START, END)]  # outside a run: computed whole


def _with_temporary_tables(con: ibis.BaseBackend, count: int) -> ibis.BaseBackend:
    """``con`` after running queries on in-memory tables (ibis names them at random, as a notebook's cells do)."""
    for i in range(count):
        con.execute(ibis.memtable(pd.DataFrame({"x": [i]})))
    return con


def test_temporary_tables_of_a_connection_are_not_warehouse_tables(pristine: Path, tmp_path: Path, seed: Path):
    root = _history(seed, tmp_path, months=False)
    con = store.connect(pristine)
    before, state = store.fingerprints(con), history.data_state(con, root)
    _with_temporary_tables(con, 2)
    assert store.fingerprints(con) == before == store.stored_fingerprints(con.raw_sql)
    assert history.data_state(con, root) == state
    con.disconnect()


def test_the_next_period_computes_only_its_new_month(pristine: Path, tmp_path: Path, windows):
    """The service panels of the scorecard and the drivers panel, as two consecutive monthly runs call them."""
    root = tmp_path / "history"
    calls = {
        "service volume": lambda con, start, end: build_panel(
            con, start=start, end=end, segment="service", metrics=["ticket_volume", "demand_capacity_ratio"], history_dir=root),
        "drivers": lambda con, start, end: drivers_panel(con, start=start, end=end, history_dir=root),
    }
    for name, call in calls.items():
        for run, (start, end) in enumerate((("2025-08", "2025-09"), ("2025-09", "2025-10"))):
            windows.clear()
            con = _with_temporary_tables(store.connect(pristine), 1 + 2 * run)  # each run's kernel holds others
            call(con, start, end)
            con.disconnect()
            assert windows == [(start, end) if run == 0 else ("2025-10", "2025-10")], name


def test_a_months_figures_read_no_later_month(pristine: Path, tmp_path: Path, windows):
    """Months kept from a warehouse ending with them equal a fresh computation once later months arrive."""
    cut = tmp_path / "cut.duckdb"
    shutil.copyfile(pristine, cut)
    raw = duckdb.connect(str(cut))
    for table, column in history.MONTH_COLUMNS.items():
        raw.execute(f'DELETE FROM "{table}" WHERE "{column}" >= DATE \'2025-09-01\'')
    store.store_fingerprints(raw, list(history.MONTH_COLUMNS))  # the other tables keep their stored fingerprints
    raw.close()
    # every catalog metric; the segment dimensions change which rows a month groups, not which months it reads
    root, arguments = tmp_path / "history", {"start": "2025-08", "end": "2025-08", "dims": ["all", "region"], "metrics": None}
    for path in (cut, pristine):
        con = store.connect(path)
        served = history.compute_with_history(con, root, **arguments)
        con.disconnect()
    assert windows == [("2025-08", "2025-08")]  # computed on the cut warehouse, read back on the full one
    con = store.connect(pristine)
    pd.testing.assert_frame_equal(served, compute.compute(con, **arguments))
    con.disconnect()


def test_the_value_models_inputs_keep_their_months(pristine: Path, tmp_path: Path, monkeypatch, windows):
    """The ROI page's inputs (12 months of costs, revenue, churn) read unchanged months back in a run, and equal them."""
    from outcomes.report.investment import warehouse_inputs

    def inputs(period: str):
        con = store.connect(pristine)
        try:
            return warehouse_inputs(con, period, months=3)
        finally:
            con.disconnect()

    def same(a, b, exact: bool) -> None:
        # Two computations of a sum of doubles may differ in the last digit: DuckDB adds the
        # threads' partial sums in the order they finish. What is read back is exact.
        scalars = [{k: v for k, v in vars(x).items() if k != "segments"} for x in (a, b)]
        assert scalars[0].keys() == scalars[1].keys()
        for k, v in scalars[0].items():
            w = scalars[1][k]
            assert v == (w if exact or not isinstance(w, float) else pytest.approx(w, rel=1e-12, nan_ok=True)), k
        pd.testing.assert_frame_equal(a.segments, b.segments, check_exact=exact, rtol=1e-12)

    whole = inputs("2025-09")  # outside a run: computed whole
    assert windows == [("2025-07", "2025-09")]
    monkeypatch.setenv(history.HISTORY_DIR_ENV, str(tmp_path / "history"))
    windows.clear()
    first = inputs("2025-09")
    same(first, whole, exact=False)
    assert windows == [("2025-07", "2025-09")]
    windows.clear()
    same(inputs("2025-09"), first, exact=True)  # every month read back, to the last digit
    assert windows == []
    following = inputs("2025-10")
    assert windows == [("2025-10", "2025-10")]  # the next month's run computes its new month only
    monkeypatch.delenv(history.HISTORY_DIR_ENV)
    same(following, inputs("2025-10"), exact=False)


def test_a_quasi_experiments_panel_keeps_its_months(pristine: Path, tmp_path: Path, monkeypatch, windows):
    """The panel of a difference-in-differences review reads its unchanged months back in a run, and equals them."""
    from outcomes import config, params
    from outcomes.experiment import aggregates
    from outcomes.experiment.spec import InitiativeSpec

    spec = params.load(config.project().params_dir / "initiatives" / "chatbot.yaml", InitiativeSpec)
    metric = next(m.metric for m in spec.metrics if m.metric not in aggregates.TICKET_MEANS)
    con = store.connect(pristine)
    try:
        window = aggregates.analysis_window(con, spec, "2025-09")
        whole = aggregates.quasi_panel(con, spec, metric, window)
        monkeypatch.setenv(history.HISTORY_DIR_ENV, str(tmp_path / "history"))
        first = aggregates.quasi_panel(con, spec, metric, window)
        pd.testing.assert_frame_equal(first, whole, rtol=1e-12)  # two computations: see the value model's test
        windows.clear()
        pd.testing.assert_frame_equal(aggregates.quasi_panel(con, spec, metric, window), first, check_exact=True)
        assert windows == []
    finally:
        con.disconnect()
    assert whole["unit"].nunique() > 1 and whole["period"].nunique() > 6
