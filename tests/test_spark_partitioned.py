"""Spark reads the month-partitioned export: the same metrics as DuckDB, and months pruned.

One local session for the module (it takes tens of seconds to start), on the example
warehouse of ``canonical_tables``; the one-file export is compared on the demo warehouse
by ``tests/test_engine_spark.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from canonical_tables import example_rows, make_warehouse

from outcomes.metrics import compute
from outcomes.periods import Window
from outcomes.warehouse import store
from outcomes.warehouse.datamodel import PARTITION_COLUMN
from outcomes.warehouse.spark_backend import EngineSettings

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DIMS = ("all", "region")
KEYS = ["period", "segment_dim", "segment", "metric"]
#: Metrics of every family reading a partitioned table: tickets opened, resolved and open at a
#: month's end (read from before the window), ticket surveys, customer surveys and orders, the
#: orders joined to customers. The other tables stay one file, compared by test_engine_spark.py.
METRICS = [
    "ticket_volume", "first_response_p90_hours", "mttr_hours", "backlog_size", "ticket_happiness",
    "csat", "nps", "revenue", "arpu",
]
KWARGS = dict(start="2025-01", end="2025-03", dims=DIMS, metrics=METRICS, min_customers=1)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("partitioned-spark") / "example.duckdb"
    make_warehouse(db, **example_rows()).disconnect()
    return db


@pytest.fixture(scope="module")
def spark_con(warehouse: Path):
    """The example warehouse on local Spark, through a month-partitioned export."""
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Spark needs a Java 17 runtime (apt-get install openjdk-17-jre-headless)")
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
    scratch = warehouse.parent
    settings = EngineSettings.model_validate(
        {
            "spark": {
                "master": "local[2]",
                "driver_memory": "1g",
                "shuffle_partitions": 2,
                "conf": {"spark.sql.warehouse.dir": str(scratch / "catalog")},
                "data": {"parquet": str(scratch / "parquet"), "partition_by_month": True},
            }
        }
    )
    con = store.connect(warehouse, engine="spark", spark_settings=settings)
    yield con
    con.disconnect()


def test_partitioned_export_gives_the_same_metrics(spark_con, warehouse: Path) -> None:
    assert (warehouse.parent / "parquet" / "tickets.parquet").is_dir()
    assert PARTITION_COLUMN in spark_con.table("tickets").columns
    expected = compute.compute(store.connect(warehouse), **KWARGS)
    got = compute.compute(spark_con, **KWARGS)
    assert set(got["metric"]) == set(METRICS) and got["value"].notna().sum() > len(got) / 2
    merged = expected.merge(got, on=KEYS, how="outer", suffixes=("_duckdb", "_spark"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", KEYS].to_string()
    for col in ("value", "n"):
        a, b = merged[f"{col}_duckdb"].to_numpy(float), merged[f"{col}_spark"].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)
        assert not bad.any(), merged.loc[bad, [*KEYS, f"{col}_duckdb", f"{col}_spark"]].to_string()


def test_spark_prunes_the_months_outside_the_window(spark_con) -> None:
    scope = compute.Scope(Window("2025-02", "2025-02"), ("all",))
    expr = scope.monthly(spark_con.table("orders"), "ordered_at")
    plan = spark_con._session.sql(str(spark_con.compile(expr)))._jdf.queryExecution().executedPlan().toString()
    pruned = [line for line in plan.splitlines() if "PartitionFilters: [" in line]
    assert pruned and all(PARTITION_COLUMN in line and "2025-02" in line for line in pruned), plan
