"""The Spark engine: engine.yaml validation, the Parquet export, and the demo panel on Spark.

The Spark tests run on the worker's local Spark session (``spark_session_plugin``: it
takes tens of seconds to start, so ``tests/test_spark_parity.py`` shares it) and compare
the whole catalog on the demo warehouse, every segment dimension, against DuckDB. Medians and percentiles have the same definition on both engines
(linear interpolation: DuckDB ``quantile_cont``, Spark ``percentile``), so every value
is held to the same tolerance: 1e-9 relative, room for sums of doubles added in another
order and nothing more. (Durations once differed by up to 5e-7: Spark reads the literal
``3600.0`` as a DECIMAL and rounded hours to six decimals; metrics cast to float64 first.)
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from canonical_tables import make_warehouse
from typer.testing import CliRunner

from outcomes.metrics import catalog
from outcomes.warehouse import spark_backend
from outcomes.metrics import compute
from outcomes.metrics import panel
from outcomes.warehouse import store
from outcomes.cli import app
from outcomes.metrics.catalog import DIMENSIONS
from outcomes.warehouse.datamodel import TABLES
from outcomes.warehouse.spark_backend import EngineSettings, SparkSettings
from outcomes.errors import ParamsError, WarehouseError

pytestmark = pytest.mark.slow
pytest_plugins = ["spark_session_plugin"]  # the worker's Spark session, shared with test_spark_parity.py

MONTHS = ("2025-02", "2025-03")
KEYS = ["period", "segment_dim", "segment", "metric"]
RTOL = 1e-9

TICKETS = [
    {
        "ticket_id": "T1",
        "opened_at": "2025-01-31 23:30:00",
        "first_response_at": "2025-02-01 01:00:00",
        "resolved_at": "2025-02-01 03:00:00",
        "requester_type": "employee",
        "requester_id": "E1",
        "service": "service_desk",
        "category": "access",
        "priority": "low",
        "channel": "portal",
        "reassignment_count": 0,
        "reopened": False,
        "first_contact_resolved": True,
        "sla_target_hours": 8.0,
    },
]


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _settings(parquet: Path, **spark: object) -> EngineSettings:
    base = {"master": "local[2]", "driver_memory": "1g", "shuffle_partitions": 2, "data": {"parquet": str(parquet)}}
    return EngineSettings.model_validate({"spark": {**base, **spark}})


# --------------------------------------------------------------------------- settings


def test_shipped_file_holds_the_defaults() -> None:
    assert spark_backend.load_settings() == EngineSettings()
    conf = EngineSettings().spark.spark_conf()
    assert conf["spark.master"] == "local[*]"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.ui.enabled"] == "false"


def test_unknown_key_names_file_key_and_valid_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, {"spark": {"mastr": "local[2]"}})
    with pytest.raises(ParamsError) as info:
        spark_backend.load_settings(path)
    assert str(info.value) == (
        f"{path}: unknown key 'spark.mastr' (did you mean 'master'?); "
        "valid keys are: app_name, conf, data, driver_memory, master, shuffle_partitions, ui"
    )
    path = _write(tmp_path, {"spark": {"data": {"databse": "analytics"}}})
    with pytest.raises(ParamsError, match=r"unknown key 'spark.data.databse' \(did you mean 'database'\?\); "
                       r"valid keys are: database, parquet"):
        spark_backend.load_settings(path)
    path = _write(tmp_path, {"sparks": {}})
    with pytest.raises(ParamsError, match=r"unknown key 'sparks' \(did you mean 'spark'\?\); valid keys are: duckdb, spark$"):
        spark_backend.load_settings(path)


@pytest.mark.parametrize(
    ("spark", "key", "rule"),
    [
        ({"master": "local[two]"}, "spark.master", "is not a Spark master URL; valid forms are local[N]"),
        ({"master": "mesos://host:5050"}, "spark.master", "is not a Spark master URL"),
        ({"driver_memory": "2 GB"}, "spark.driver_memory", "is not a memory size"),
        ({"shuffle_partitions": 0}, "spark.shuffle_partitions", "greater than or equal to 1"),
        ({"conf": {"executor.memory": "1g"}}, "spark.conf", "is not a Spark setting; Spark settings start with 'spark.'"),
        (
            {"conf": {"spark.sql.session.timeZone": "Europe/Paris"}},
            "spark.conf",
            "'spark.sql.session.timeZone' is fixed to 'UTC' so that both engines agree; remove it",
        ),
        ({"data": {"parquet": "data/parquet", "database": "analytics"}}, "spark.data", "give exactly one of 'parquet'"),
        ({"data": {"parquet": None}}, "spark.data", "give exactly one of 'parquet'"),
    ],
)
def test_invalid_values_name_file_key_and_rule(tmp_path: Path, spark: dict, key: str, rule: str) -> None:
    path = _write(tmp_path, {"spark": spark})
    with pytest.raises(ParamsError) as info:
        spark_backend.load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: key '{key}' has value ")
    assert rule in message


@pytest.mark.parametrize(
    "master",
    ["local", "local[2]", "local[*]", "local[4,2]", "spark://a:7077,b:7077", "yarn", "k8s://https://api.example.org:443"],
)
def test_cluster_masters_are_accepted(master: str) -> None:
    assert SparkSettings(master=master).spark_conf()["spark.master"] == master


def test_platform_master_and_database_location() -> None:
    spark = SparkSettings.model_validate(
        {
            "master": None,
            "data": {"database": "main.outcomes"},
            "conf": {"spark.executor.memory": "8g", "spark.dynamicAllocation.enabled": True},
        }
    )
    conf = spark.spark_conf()
    assert "spark.master" not in conf
    assert conf["spark.executor.memory"] == "8g" and conf["spark.dynamicAllocation.enabled"] == "true"
    assert spark.data.parquet is None and spark.data.database == "main.outcomes"
    remote = SparkSettings.model_validate({"data": {"parquet": "s3a://bucket/outcomes/"}}).data
    assert remote.is_remote and remote.parquet_location() == "s3a://bucket/outcomes"


# --------------------------------------------------------------------------- export


def test_export_parquet_is_complete_typed_and_atomic(tmp_path: Path) -> None:
    db = tmp_path / "small.duckdb"
    make_warehouse(db, tickets=TICKETS).disconnect()
    folder = tmp_path / "parquet"
    first = spark_backend.export_parquet(db, folder)
    assert first.rows == {name: (1 if name == "tickets" else 0) for name in TABLES}
    assert sorted(p.name for p in folder.iterdir()) == sorted([spark_backend.EXPORT_MANIFEST, *(f"{t}.parquet" for t in TABLES)])
    assert spark_backend.export_is_current(folder, db)
    con = duckdb.connect()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM '{folder}/tickets.parquet'").fetchall()}
    assert types["opened_at"] == "TIMESTAMP" and types["reopened"] == "BOOLEAN" and types["reassignment_count"] == "BIGINT"
    assert con.execute(f"SELECT opened_at::VARCHAR FROM '{folder}/tickets.parquet'").fetchone() == ("2025-01-31 23:30:00",)

    with duckdb.connect(str(db)) as writer:
        writer.execute("DELETE FROM tickets")
    assert not spark_backend.export_is_current(folder, db)
    assert spark_backend.refresh_export(folder, db) is True
    assert spark_backend.refresh_export(folder, db) is False
    manifest = json.loads((folder / spark_backend.EXPORT_MANIFEST).read_text())
    assert manifest["rows"]["tickets"] == 0 and manifest["warehouse"] == str(db.resolve())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".parquet.") and p.is_dir()] == []


def test_export_of_a_missing_warehouse(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    with pytest.raises(WarehouseError, match="not found; run `outcomes ingest` to build it before exporting"):
        spark_backend.export_parquet(missing, tmp_path / "parquet")
    assert not (tmp_path / "parquet").exists()


def test_cli_export_parquet(tmp_path: Path) -> None:
    db = tmp_path / "small.duckdb"
    make_warehouse(db, tickets=TICKETS).disconnect()
    result = CliRunner().invoke(app, ["export-parquet", "--warehouse", str(db), "--out", str(tmp_path / "parquet")])
    assert result.exit_code == 0, result.output
    assert "tickets" in result.output and "total" in result.output
    assert spark_backend.export_is_current(tmp_path / "parquet", db)
    result = CliRunner().invoke(app, ["export-parquet", "--warehouse", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "run `outcomes ingest`" in result.output


def test_connect_errors_before_spark_starts(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    settings = _settings(tmp_path / "parquet")
    with pytest.raises(WarehouseError, match=r"neither the warehouse .*none.duckdb nor a Parquet export in .*parquet exists"):
        store.connect(missing, engine="spark", spark_settings=settings)
    with pytest.raises(WarehouseError, match="engine 'flink' is not supported; valid engines are: duckdb, spark"):
        store.connect(missing, engine="flink")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Spark


@pytest.fixture(scope="module")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> EngineSettings:
    """Small local Spark (two cores, 1 GB, as the worker's session runs) and the export in a scratch folder.

    The session already runs (``spark_session``): its catalog folder is the shared session's.
    """
    return _settings(tmp_path_factory.mktemp("spark") / "parquet")


@pytest.fixture(scope="module")
def spark_con(demo_warehouse: Path, spark_settings: EngineSettings, spark_session):
    """The demo warehouse on the worker's Spark session (``spark_session_plugin``).

    ``store.connect`` joins the running session and registers the export's views there; the
    connection is not disconnected, which would stop the session the worker shares.
    """
    return store.connect(demo_warehouse, engine="spark", spark_settings=spark_settings)


@pytest.fixture(scope="module")
def duck_con(demo_warehouse: Path):
    con = store.connect(demo_warehouse)
    yield con
    con.disconnect()


def _assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    merged = expected.merge(got, on=KEYS, how="outer", suffixes=("_duckdb", "_spark"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", KEYS].to_string()
    assert len(expected) == len(got)
    for col in ("value", "n"):
        a, b = merged[f"{col}_duckdb"].to_numpy(float), merged[f"{col}_spark"].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True)
        assert not bad.any(), merged.loc[bad, [*KEYS, f"{col}_duckdb", f"{col}_spark"]].to_string()
    for col in ("suppressed", "note"):
        pd.testing.assert_series_equal(merged[f"{col}_duckdb"], merged[f"{col}_spark"], check_names=False)


@pytest.mark.spark
def test_every_metric_and_segment_matches_duckdb(spark_con, duck_con) -> None:
    kwargs = dict(start=MONTHS[0], end=MONTHS[-1], dims=DIMENSIONS)
    expected = compute.compute(duck_con, **kwargs)
    got = compute.compute(spark_con, **kwargs)
    assert set(got["metric"]) == set(catalog.ids())
    assert set(got["segment_dim"]) == set(DIMENSIONS)
    assert got["value"].notna().sum() > len(got) / 2
    _assert_same(expected, got)


@pytest.mark.spark
def test_build_panel_runs_unchanged(spark_con, duck_con) -> None:
    kwargs = dict(start=MONTHS[0], end=MONTHS[-1], segment="channel", metrics=["ticket_volume", "self_service_rate"])
    _assert_same(panel.build_panel(duck_con, **kwargs), panel.build_panel(spark_con, **kwargs))


@pytest.mark.spark
def test_timestamps_are_the_same_utc_instants(spark_con, duck_con) -> None:
    assert spark_con._session.conf.get("spark.sql.session.timeZone") == "UTC"
    def types(con):
        schema = con.table("tickets").schema()
        return {name: (type(dtype).__name__, getattr(dtype, "timezone", None)) for name, dtype in schema.items()}

    assert types(spark_con) == types(duck_con)

    def edges(con):
        t = con.table("tickets")
        return t.aggregate(first=t.opened_at.min(), last=t.opened_at.max(), s=t.opened_at.epoch_seconds().sum()).execute()

    pd.testing.assert_frame_equal(edges(spark_con), edges(duck_con), check_dtype=False)


@pytest.mark.spark
def test_tables_from_a_catalog_database(spark_con, spark_settings: EngineSettings) -> None:
    session = spark_con._session
    export = spark_settings.spark.data.parquet_location()
    expected = spark_con.table("tickets").count().execute()
    session.sql("CREATE DATABASE IF NOT EXISTS outcomes_test")
    for name in TABLES:
        session.sql(f"CREATE TABLE outcomes_test.{name} USING parquet LOCATION '{export}/{name}.parquet'")
        session.catalog.dropTempView(name)  # the views of the Parquet export would hide the catalog's tables
    in_database = spark_settings.model_copy(
        update={"spark": spark_settings.spark.model_copy(update={"data": spark_backend.SparkData(database="outcomes_test")})}
    )
    try:
        con = spark_backend.connect(None, in_database)
        assert con.current_database == "outcomes_test"
        assert set(TABLES) <= set(con.list_tables())
        assert con.table("tickets").count().execute() == expected
        nowhere = in_database.model_copy(
            update={"spark": in_database.spark.model_copy(update={"data": spark_backend.SparkData(database="nowhere")})}
        )
        with pytest.raises(WarehouseError, match="Spark catalog has no database 'nowhere'.* databases are: .*outcomes_test"):
            spark_backend.connect(None, nowhere)
    finally:
        session.catalog.setCurrentDatabase("default")
