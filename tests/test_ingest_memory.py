"""The DuckDB memory limit an ingest chooses from the machine, and ``params/engine.yaml`` overriding it."""

from __future__ import annotations

import duckdb
import pytest

from outcomes.ingest import load
from outcomes.warehouse.sizing import ingest_memory_limit
from outcomes.warehouse.spark_backend import DuckDBSettings, EngineSettings


@pytest.mark.parametrize(
    ("available", "cores", "expected"),
    [
        (24 << 30, 2, "1024MB"),  # a quarter would be 6 GB: capped
        (2 << 30, 2, "512MB"),  # a quarter of what is available
        (1 << 30, 8, "2048MB"),  # at least 256 MB per core
    ],
)
def test_limit_is_a_quarter_of_available_memory_capped_and_floored(available: int, cores: int, expected: str) -> None:
    assert ingest_memory_limit(available=available, cores=cores) == expected


def _limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def _as_duckdb_shows(size: str) -> str:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{size}'")
    return _limit(con)


def test_ingest_connection_takes_the_chosen_limit_not_duckdbs_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "load_settings", lambda: EngineSettings())
    con = duckdb.connect()
    default = _limit(con)
    load.configure_connection(con)
    assert _limit(con) == _as_duckdb_shows(ingest_memory_limit()) != default


def test_engine_yaml_memory_limit_overrides_the_chosen_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "load_settings", lambda: EngineSettings(duckdb=DuckDBSettings(memory_limit="300MB")))
    con = duckdb.connect()
    load.configure_connection(con)
    assert _limit(con) == _as_duckdb_shows("300MB")
