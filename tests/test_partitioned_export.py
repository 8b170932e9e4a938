"""The month-partitioned Parquet export: its layout, and the same metrics read back from it.

The export is read back here by DuckDB with Hive partitioning, which gives the tables the
string column ``month`` as Spark does; ``tests/test_spark_partitioned.py`` reads it on Spark.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pytest
from canonical_tables import example_rows, make_warehouse
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.metrics import compute
from outcomes.periods import Window
from outcomes.warehouse import spark_backend
from outcomes.warehouse.datamodel import MONTH_PARTITIONS, PARTITION_COLUMN, TABLES

DIMS = ("all", "region")
KEYS = ["period", "segment_dim", "segment", "metric"]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example warehouse and its month-partitioned export."""
    folder = tmp_path_factory.mktemp("partitioned")
    db = folder / "example.duckdb"
    make_warehouse(db, **example_rows()).disconnect()
    spark_backend.export_parquet(db, folder / "parquet", partition_by_month=True)
    return db, folder / "parquet"


def _read_back(folder: Path) -> ibis.BaseBackend:
    """The export as DuckDB views, partitioned tables with their ``month`` column (a string)."""
    con = ibis.duckdb.connect()
    for name in TABLES:
        path = folder / f"{name}.parquet"
        source = (
            f"read_parquet('{path}/*/*.parquet', hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': VARCHAR}})"
            if path.is_dir()
            else f"read_parquet('{path}')"
        )
        con.raw_sql(f"CREATE VIEW {name} AS SELECT * FROM {source}")
    return con


def test_event_tables_are_split_by_month(example: tuple[Path, Path]) -> None:
    db, folder = example
    warehouse = duckdb.connect(str(db), read_only=True)
    manifest = json.loads((folder / spark_backend.EXPORT_MANIFEST).read_text())
    assert manifest["partitioned_by_month"] is True
    for name, at in MONTH_PARTITIONS.items():
        months = {
            r[0] for r in warehouse.execute(f"SELECT DISTINCT strftime({at}, '%Y-%m') FROM {name}").fetchall()
        }
        assert months, f"the example has no {name}"
        written = sorted(p.name for p in (folder / f"{name}.parquet").iterdir())
        assert written == sorted(f"{PARTITION_COLUMN}={m}" for m in months)
        for month in months:
            rows = duckdb.sql(f"SELECT strftime({at}, '%Y-%m') FROM '{folder}/{name}.parquet/month={month}/*.parquet'")
            assert {r[0] for r in rows.fetchall()} == {month}
        assert manifest["rows"][name] == warehouse.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    assert (folder / "service_map.parquet").is_file()
    # a one-file export is not current for a partitioned reader, nor the reverse
    assert spark_backend.export_is_current(folder, db, partition_by_month=True)
    assert not spark_backend.export_is_current(folder, db)


def test_metrics_from_the_partitions_equal_the_warehouse(example: tuple[Path, Path]) -> None:
    db, folder = example
    kwargs = dict(start="2025-01", end="2025-03", dims=DIMS, min_customers=1)
    expected = compute.compute(ibis.duckdb.connect(str(db), read_only=True), **kwargs)
    parts = _read_back(folder)
    assert PARTITION_COLUMN in parts.table("tickets").columns
    got = compute.compute(parts, **kwargs)
    merged = expected.merge(got, on=KEYS, how="outer", suffixes=("_warehouse", "_parts"), indicator=True)
    assert (merged["_merge"] == "both").all()
    for col in ("value", "n"):
        a, b = merged[f"{col}_warehouse"].to_numpy(float), merged[f"{col}_parts"].to_numpy(float)
        assert np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True), col


def test_the_metrics_filter_the_partition_column(example: tuple[Path, Path]) -> None:
    _, folder = example
    parts = _read_back(folder)
    scope = compute.Scope(Window("2025-02", "2025-03"), ("all",))
    orders = str(ibis.to_sql(scope.monthly(parts.table("orders"), "ordered_at")))
    assert f"\"{PARTITION_COLUMN}\" <= '2025-03'" in orders and f"\"{PARTITION_COLUMN}\" >= '2025-02'" in orders
    # tickets resolved in the months may have been opened before them: only later months are skipped
    t = parts.table("tickets")
    resolved = scope.within_partitions(t, "opened_at", t.resolved_at.notnull(), since_start=False)
    sql = str(ibis.to_sql(t.filter(resolved)))
    assert f"\"{PARTITION_COLUMN}\" <= '2025-03'" in sql and ">= '2025-02'" not in sql
    # the warehouse has no partition column: the filter is left as it is
    plain = ibis.duckdb.connect()
    plain.create_table("orders", parts.table("orders").drop(PARTITION_COLUMN).to_pyarrow())
    assert PARTITION_COLUMN not in str(ibis.to_sql(scope.monthly(plain.table("orders"), "ordered_at")))


def test_cli_writes_the_partitioned_layout(tmp_path: Path) -> None:
    db = tmp_path / "small.duckdb"
    make_warehouse(db, **example_rows()).disconnect()
    out = tmp_path / "parquet"
    result = CliRunner().invoke(app, ["export-parquet", "--warehouse", str(db), "--out", str(out), "--partition-by-month"])
    assert result.exit_code == 0, result.output
    assert (out / "tickets.parquet").is_dir() and (out / "customers.parquet").is_file()
    assert spark_backend.export_is_current(out, db, partition_by_month=True)
