"""DuckDB memory chosen from the machine for the kernels of a run; threads stay DuckDB's."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from outcomes.warehouse import sizing, store

GIB = 2**30


@pytest.mark.parametrize(
    ("total_gib", "available_gib", "parallel", "expected"),
    [
        (24, 20, 2, "614MB"),  # the 2-core, 24 GB machine of the benchmarks
        (64, 60, 4, "819MB"),
        (4, 3, 2, "256MB"),  # the floor
        (1024, 1000, 1, "8192MB"),  # the ceiling
        (64, 2, 1, "1024MB"),  # half of what is free, when little is
        (24, 20, 4, "307MB"),  # more kernels than cores
    ],
)
def test_derive_shares_the_machine_memory_between_kernels(total_gib, available_gib, parallel, expected):
    got = sizing.derive(parallel, total_bytes=total_gib * GIB, available_bytes=available_gib * GIB)
    assert got == {"memory_limit": expected}


def test_derive_refuses_no_kernel():
    with pytest.raises(ValueError, match="parallel must be at least 1"):
        sizing.derive(0)


def test_settings_written_in_engine_yaml_win():
    env = {sizing.DUCKDB_SHARE_ENV: json.dumps({"memory_limit": "300MB", "threads": 1})}
    assert sizing.effective({}, env) == {"memory_limit": "300MB", "threads": 1}
    assert sizing.effective({"memory_limit": "2GB"}, env) == {"memory_limit": "2GB", "threads": 1}
    assert sizing.effective({"threads": 3}, {}) == {"threads": 3}


def _normalised(name: str, value: str) -> str:
    """DuckDB's own reading of a setting (it shows 300MB as MiB)."""
    con = duckdb.connect()
    con.execute(f"SET {name} = '{value}'")
    return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def test_a_kernel_connection_receives_its_share(demo_warehouse: Path, tmp_path: Path, monkeypatch):
    settings = tmp_path / "engine.yaml"
    settings.write_text("duckdb:\n  memory_limit: null\n  threads: null\n", encoding="utf-8")
    monkeypatch.setenv(sizing.DUCKDB_SHARE_ENV, json.dumps({"memory_limit": "300MB", "threads": 1}))
    con = store.connect(demo_warehouse, spark_settings=settings)
    assert con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0] == _normalised("memory_limit", "300MB")
    assert con.raw_sql("SELECT current_setting('threads')").fetchone()[0] == 1
    con.disconnect()

    settings.write_text("duckdb:\n  memory_limit: 700MB\n  threads: null\n", encoding="utf-8")
    con = store.connect(demo_warehouse, spark_settings=settings)
    assert con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0] == _normalised("memory_limit", "700MB")
    con.disconnect()


def test_the_run_gives_each_kernel_its_share_and_the_history_folder(tmp_path: Path):
    from types import SimpleNamespace

    from outcomes.metrics import history
    from outcomes.run import monthly

    warehouse = tmp_path / "data" / "warehouse.duckdb"
    plan = SimpleNamespace(context=SimpleNamespace(engine="duckdb", warehouse=warehouse))
    env = monthly.kernel_environment(plan, 2)
    share = json.loads(env[sizing.DUCKDB_SHARE_ENV])
    assert share == sizing.derive(2) and set(share) == {"memory_limit"}
    assert env[history.HISTORY_DIR_ENV] == str(tmp_path / "data" / "cache" / "history")
    assert monthly.kernel_environment(SimpleNamespace(context=SimpleNamespace(engine="spark", warehouse=warehouse)), 2) == {}


def test_a_second_connection_after_a_query_spilled_to_disk(tmp_path: Path):
    """Connections to one file in one process share its database; once a query spilled, DuckDB
    refuses to set the spill folder again (even to the same one), so connect sets it once."""
    db = tmp_path / "warehouse.duckdb"
    raw = duckdb.connect(str(db))
    raw.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(1000000)")
    raw.close()
    settings = tmp_path / "engine.yaml"
    settings.write_text("duckdb:\n  memory_limit: 30MB\n  threads: 1\n", encoding="utf-8")
    first = store.connect(db, spark_settings=settings)
    first.raw_sql("PRAGMA disable_progress_bar")
    spilled = "SELECT count(*) FROM (SELECT s, row_number() OVER (ORDER BY s) AS r FROM t) WHERE r % 7 = 0"
    assert first.raw_sql(spilled).fetchone()[0] == 142857
    assert any(store.spill_directory().iterdir())  # the query did spill
    second = store.connect(db, spark_settings=settings)
    assert second.raw_sql("SELECT count(*) FROM t").fetchone()[0] == 1_000_000
    second.disconnect()
    first.disconnect()
