"""The same catalog gives the same numbers on Spark (local mode, through ibis.pyspark) and DuckDB.

The example tables are registered in a session of their own (``newSession()``: its own
temporary views, one shuffle partition) on the worker's shared Spark session
(``spark_session_plugin``), which ``tests/test_engine_spark.py`` uses too: one JVM per worker.

Medians and percentiles are exact on both engines (DuckDB ``percentile_cont`` and Spark
``percentile`` both interpolate linearly), so every value is compared at 1e-9.

The last tests read the same example warehouse through a month-partitioned Parquet export
(``spark.data.partition_by_month``): the same metrics as DuckDB, and the months outside the
window pruned. They reuse the worker's Spark session (``store.connect`` finds the running
session; starting one takes tens of seconds); the one-file export is compared on the demo
warehouse by ``tests/test_engine_spark.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from canonical_tables import example_rows, load, make_warehouse

from outcomes.metrics import compute
from outcomes.periods import Window
from outcomes.warehouse import store
from outcomes.warehouse.datamodel import PARTITION_COLUMN
from outcomes.warehouse.spark_backend import EngineSettings

pytestmark = [pytest.mark.spark, pytest.mark.slow]
pytest_plugins = ["spark_session_plugin"]  # the worker's Spark session, shared with test_engine_spark.py

# channel is cut like service (a plain ticket column); leaving it out keeps the Spark run short
DIMS = ("all", "region", "customer_segment", "service")


@pytest.fixture(scope="module")
def spark_con(spark_session):
    """The example tables on the worker's Spark session, in a session of their own (one shuffle partition).

    ``newSession()`` shares the JVM of ``spark_session`` and keeps its own temporary views,
    so the example tables never meet the demo warehouse's views of ``test_engine_spark.py``.
    """
    import ibis

    session = spark_session.newSession()
    session.conf.set("spark.sql.shuffle.partitions", "1")
    con = ibis.pyspark.connect(session)
    load(con, example_rows())
    return con


def test_every_metric_matches_duckdb(spark_con, tmp_path):
    duck = make_warehouse(tmp_path / "example.duckdb", **example_rows())
    kwargs = dict(start="2025-01", end="2025-03", dims=DIMS, min_customers=1)
    expected = compute.compute(duck, **kwargs)
    got = compute.compute(spark_con, **kwargs)
    keys = ["period", "segment_dim", "segment", "metric"]
    merged = expected.merge(got, on=keys, how="outer", suffixes=("_duckdb", "_spark"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys]
    assert len(expected) == len(got)
    for col in ("value", "n"):
        a, b = merged[f"{col}_duckdb"].to_numpy(float), merged[f"{col}_spark"].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
        assert not bad.any(), merged.loc[bad, keys + [f"{col}_duckdb", f"{col}_spark"]].to_string()
    pd.testing.assert_series_equal(merged["suppressed_duckdb"], merged["suppressed_spark"], check_names=False)
    assert set(expected["metric"]) == set(got["metric"])


def test_the_cost_allocation_and_demand_sources_match_duckdb(spark_con, tmp_path):
    from outcomes.metrics import allocation
    from outcomes.metrics.allocation import AllocationRules, PoolRule
    from outcomes.metrics.demand import demand_sources
    from outcomes.periods import Window

    duck = make_warehouse(tmp_path / "example.duckdb", **example_rows())
    rules = AllocationRules(
        pools=(
            PoolRule(cost_centre="service_desk", cost_line="staff", driver="tickets"),
            PoolRule(cost_centre="service_desk", driver="fixed", shares={"web": 2, "mail": 1}),
            PoolRule(cost_centre="web", driver="deployments"),
            PoolRule(driver="direct"),
        )
    )
    window = Window("2025-01", "2025-03")
    expected = allocation.allocation_frame(duck, window, rules)
    assert expected["cents"].sum() == 199_900
    pd.testing.assert_frame_equal(allocation.allocation_frame(spark_con, window, rules), expected)
    pd.testing.assert_frame_equal(demand_sources(spark_con, window), demand_sources(duck, window))


# --------------------------------------------------------------------------- a month-partitioned export

PARTITIONED_DIMS = ("all", "region")
KEYS = ["period", "segment_dim", "segment", "metric"]
#: Metrics of every family reading a partitioned table: tickets opened, resolved and open at a
#: month's end (read from before the window), ticket surveys, customer surveys and orders, the
#: orders joined to customers. The other tables stay one file, compared by test_engine_spark.py.
PARTITIONED_METRICS = [
    "ticket_volume",
    "first_response_p90_hours",
    "mttr_hours",
    "backlog_size",
    "ticket_happiness",
    "csat",
    "nps",
    "revenue",
    "arpu",
]
PARTITIONED_KWARGS = dict(start="2025-01", end="2025-03", dims=PARTITIONED_DIMS, metrics=PARTITIONED_METRICS, min_customers=1)


@pytest.fixture(scope="module")
def example_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("partitioned-spark") / "example.duckdb"
    make_warehouse(db, **example_rows()).disconnect()
    return db


@pytest.fixture(scope="module")
def partitioned_con(spark_session, example_warehouse: Path):
    """The example warehouse on the worker's Spark session, through a month-partitioned export.

    ``store.connect`` joins the running session and registers the export's views there;
    the connection is not disconnected, which would stop the session the worker shares.
    """
    scratch = example_warehouse.parent
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
    return store.connect(example_warehouse, engine="spark", spark_settings=settings)


def test_partitioned_export_gives_the_same_metrics(partitioned_con, example_warehouse: Path) -> None:
    assert (example_warehouse.parent / "parquet" / "tickets.parquet").is_dir()
    assert PARTITION_COLUMN in partitioned_con.table("tickets").columns
    expected = compute.compute(store.connect(example_warehouse), **PARTITIONED_KWARGS)
    got = compute.compute(partitioned_con, **PARTITIONED_KWARGS)
    assert set(got["metric"]) == set(PARTITIONED_METRICS) and got["value"].notna().sum() > len(got) / 2
    merged = expected.merge(got, on=KEYS, how="outer", suffixes=("_duckdb", "_spark"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", KEYS].to_string()
    for col in ("value", "n"):
        a, b = merged[f"{col}_duckdb"].to_numpy(float), merged[f"{col}_spark"].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)
        assert not bad.any(), merged.loc[bad, [*KEYS, f"{col}_duckdb", f"{col}_spark"]].to_string()


def test_spark_prunes_the_months_outside_the_window(partitioned_con) -> None:
    scope = compute.Scope(Window("2025-02", "2025-02"), ("all",))
    expr = scope.monthly(partitioned_con.table("orders"), "ordered_at")
    plan = partitioned_con._session.sql(str(partitioned_con.compile(expr)))._jdf.queryExecution().executedPlan().toString()
    pruned = [line for line in plan.splitlines() if "PartitionFilters: [" in line]
    assert pruned and all(PARTITION_COLUMN in line and "2025-02" in line for line in pruned), plan
