"""The DuckDB section of ``params/engine.yaml``: memory and threads of each reader's connection."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from outcomes.warehouse import spark_backend
from outcomes.warehouse import store
from outcomes.errors import ParamsError


def _warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    return path


def test_settings_reach_the_connection(tmp_path: Path) -> None:
    settings = tmp_path / "engine.yaml"
    settings.write_text("duckdb:\n  memory_limit: 512MB\n  threads: 1\n")
    con = store.connect(_warehouse(tmp_path), spark_settings=settings)
    limit, threads = con.raw_sql("SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()[0]
    assert limit == "488.2 MiB" and int(threads) == 1  # DuckDB reports 512 MB in MiB


def test_defaults_leave_duckdb_alone() -> None:
    assert spark_backend.EngineSettings().duckdb.config() == {}
    assert spark_backend.load_settings(spark_backend.engine_params_path()).duckdb.config() == {}


@pytest.mark.parametrize(
    ("text", "named"),
    [("duckdb:\n  memory_limt: 1GB\n", "memory_limt"), ("duckdb:\n  memory_limit: lots\n", "memory_limit")],
)
def test_a_wrong_key_or_size_is_named(tmp_path: Path, text: str, named: str) -> None:
    settings = tmp_path / "engine.yaml"
    settings.write_text(text)
    with pytest.raises(ParamsError) as err:
        spark_backend.load_settings(settings)
    assert named in str(err.value) and "engine.yaml" in str(err.value)


def test_each_process_spills_to_its_own_folder(tmp_path: Path) -> None:
    """Parallel notebooks open one warehouse file; DuckDB's default spill folder would be shared."""
    import os

    con = store.connect(_warehouse(tmp_path))
    (folder,) = con.raw_sql("SELECT current_setting('temp_directory')").fetchall()[0]
    assert folder == str(store.spill_directory()) and str(os.getpid()) in folder
    assert not folder.startswith(str(tmp_path))
