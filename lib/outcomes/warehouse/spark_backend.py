"""The Spark engine: settings, the Spark session and the canonical tables on Spark.

The metric catalog and the panel are Ibis expressions, so the same definitions run on
the embedded DuckDB warehouse (the default) and on Apache Spark. This module holds
what Spark needs besides those expressions:

``params/engine.yaml``
    Validated into :class:`EngineSettings`: where Spark runs (``master``), how much
    memory and how many shuffle partitions it uses, extra Spark configuration, and
    where the canonical tables live for Spark (:class:`SparkData`).
:func:`spark_session`
    Builds the ``SparkSession`` (session time zone UTC, web UI off unless asked for).
:func:`export_parquet`
    Writes every canonical table of the DuckDB warehouse to one Parquet file per table
    with DuckDB's ``COPY ... TO``, into a new folder that replaces the old one at once;
    with ``partition_by_month`` the event tables that grow with the business
    (:data:`~outcomes.warehouse.datamodel.MONTH_PARTITIONS`) become folders of Hive-style
    month partitions (``tickets.parquet/month=2025-03/``), which Spark prunes by month.
:func:`connect`
    Returns an ibis ``pyspark`` backend with the canonical tables registered under their
    canonical names, so ``build_panel(con, ...)`` runs unchanged. It is what
    ``outcomes.warehouse.store.connect(engine="spark")`` calls.

Aggregation runs in the engine; only aggregates (one row per month, segment and
metric) come back to the Python process, where the statistics run. Timestamps are naive
UTC in the warehouse; Spark reads them as instants in its UTC session time zone, so
month boundaries and durations are the same on both engines.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from outcomes import config
from outcomes.errors import ParamsError, WarehouseError
from outcomes.params import Params, load
from outcomes.warehouse.sql import literal, quote
from outcomes.warehouse.datamodel import MONTH_PARTITIONS, PARTITION_COLUMN, TABLES

if TYPE_CHECKING:
    import ibis
    from pyspark.sql import SparkSession
    from rich.table import Table as RichTable

#: Environment variable naming another settings file (a test's or a scheduled run's); the
#: kernels of ``outcomes run`` inherit it.
ENGINE_PARAMS_ENV = "OUTCOMES_ENGINE_PARAMS"
#: Written last into an export folder: the source warehouse and the rows per table.
EXPORT_MANIFEST = "_export.json"
#: Spark settings the kit fixes; ``conf`` may not change them.
FIXED_CONF: dict[str, str] = {
    # Durations and month boundaries are computed on UTC instants, as in DuckDB.
    "spark.sql.session.timeZone": "UTC",
    # The warehouse stores naive UTC timestamps (Parquet isAdjustedToUTC=false); read them
    # as TIMESTAMP instants in the UTC session time zone rather than TIMESTAMP_NTZ.
    "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
    # Month partitions (month=2025-03) stay strings, as the kit compares them.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}

_MASTER = re.compile(
    r"local(\[(\d+|\*)(,\d+)?\])?"  # local, local[4], local[*], local[4,2] (with retries)
    r"|spark://[^\s/]+(:\d+)?(,[^\s/]+(:\d+)?)*"  # standalone cluster (several masters for HA)
    r"|yarn"
    r"|k8s://\S+"  # Kubernetes API server
)
_MEMORY = re.compile(r"\d+[kmgt]", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*:/", re.IGNORECASE)


class SparkData(Params):
    """Where Spark finds the canonical tables: a Parquet export or a catalog database.

    Give exactly one of ``parquet`` and ``database``.

    Parameters
    ----------
    parquet : str, optional
        A folder holding ``<table>.parquet`` (a file or a folder of Parquet files) for
        every canonical table. A local folder (relative to the project root) is written
        by :func:`export_parquet` and refreshed by :func:`connect` whenever the DuckDB
        warehouse is newer; a URL (``hdfs://``, ``s3a://``, ``abfss://``, ``gs://``,
        ``dbfs:/``) is read as it is.
    database : str, optional
        A database (``name``, or ``catalog.name`` in Unity Catalog) of the Spark
        session's catalog that already holds the canonical tables under their
        canonical names.
    partition_by_month : bool
        Write the local export's event tables (:data:`~outcomes.warehouse.datamodel.MONTH_PARTITIONS`)
        as Hive-style month partitions, ``<table>.parquet/month=YYYY-MM/``, so Spark reads
        only the months a panel asks for (the metrics filter the partition column too).
        Off by default: one file per table.
    """

    parquet: str | None = "data/parquet"
    database: str | None = None
    partition_by_month: bool = False

    @model_validator(mode="before")
    @classmethod
    def _one_location(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("database") is not None and "parquet" not in data:
            data = {**data, "parquet": None}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SparkData:
        if (self.parquet is None) == (self.database is None):
            raise ValueError(
                "give exactly one of 'parquet' (a folder of Parquet files) and 'database' "
                "(a Spark catalog database holding the canonical tables)"
            )
        return self

    @property
    def is_remote(self) -> bool:
        """Whether ``parquet`` is a URL (read as it is, never written by the kit)."""
        return self.parquet is not None and _URL.match(self.parquet) is not None

    def parquet_location(self) -> str:
        """The Parquet folder as Spark reads it: an absolute local path, or the URL."""
        if self.parquet is None:
            raise ValueError("these settings name a database, not a Parquet folder")
        return self.parquet.rstrip("/") if self.is_remote else str(config.resolve(self.parquet))


class SparkSettings(Params):
    """The ``spark`` section of ``params/engine.yaml``: how the Spark session is built.

    Parameters
    ----------
    master : str, optional
        ``local[N]`` / ``local[*]`` (one machine, N cores), ``spark://host:7077``
        (standalone cluster), ``yarn`` or ``k8s://https://host:443``. ``null`` leaves
        the master to the platform: ``spark-submit --master``, or the session a
        Databricks job already has.
    app_name : str
        Application name shown by the cluster manager.
    driver_memory : str
        ``spark.driver.memory`` (``512m``, ``4g``); the driver only collects aggregates.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions``; about 2-3 per core of the cluster.
    ui : bool
        Start the Spark web UI (port 4040); off by default (tests, scheduled runs).
    conf : dict
        Any other Spark setting, ``key: value`` (``spark.executor.memory: 8g``).
    data : SparkData
        Where the canonical tables are.
    """

    master: str | None = "local[*]"
    app_name: str = Field(default="outcomes", min_length=1)
    driver_memory: str = "2g"
    shuffle_partitions: int = Field(default=8, ge=1)
    ui: bool = False
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    data: SparkData = Field(default_factory=SparkData)

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str | None) -> str | None:
        if value is not None and not _MASTER.fullmatch(value):
            raise ValueError(
                "is not a Spark master URL; valid forms are local[N], local[*], spark://host:7077, "
                "yarn, k8s://https://host:443, or null to take the master from spark-submit"
            )
        return value

    @field_validator("driver_memory")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if not _MEMORY.fullmatch(value):
            raise ValueError("is not a memory size; write a number and a unit k, m, g or t, e.g. 512m or 4g")
        return value

    @field_validator("conf")
    @classmethod
    def _no_fixed_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not key.startswith("spark."):
                raise ValueError(f"key '{key}' is not a Spark setting; Spark settings start with 'spark.'")
            if key in FIXED_CONF:
                raise ValueError(f"'{key}' is fixed to {FIXED_CONF[key]!r} so that both engines agree; remove it")
        return value

    def spark_conf(self) -> dict[str, str]:
        """Every Spark setting the session is built with (``conf`` and the named fields)."""
        out = {
            "spark.app.name": self.app_name,
            "spark.driver.memory": self.driver_memory,
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            "spark.ui.enabled": str(self.ui).lower(),
            # progress bars would fill notebook outputs and run logs
            "spark.ui.showConsoleProgress": "false",
        }
        if self.master is not None:
            out["spark.master"] = self.master
        out.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.conf.items()})
        out.update(FIXED_CONF)
        return out


class DuckDBSettings(Params):
    """How each reader's embedded DuckDB connection may use the machine.

    Every notebook of a run opens its own connection, and notebooks run in parallel, so
    the pack's peak memory is about ``memory_limit`` times the notebooks running at once
    plus each kernel's own Python memory. DuckDB spills to disk beyond the limit.

    Parameters
    ----------
    memory_limit : str, optional
        DuckDB's ``memory_limit`` (``1GB``, ``512MB``); None keeps DuckDB's default
        (80 % of the machine's memory).
    threads : int, optional
        Worker threads per connection; None keeps DuckDB's default (one per core).
    """

    memory_limit: str | None = None
    threads: int | None = Field(default=None, ge=1)

    @field_validator("memory_limit")
    @classmethod
    def _duckdb_size(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value, re.IGNORECASE):
            raise ValueError("is not a DuckDB memory size; write a number and KB, MB, GB or TB, e.g. 1GB or 512MB")
        return value

    def config(self) -> dict[str, Any]:
        """The settings DuckDB's ``connect(config=...)`` takes (only those given)."""
        return {k: v for k, v in {"memory_limit": self.memory_limit, "threads": self.threads}.items() if v is not None}


class EngineSettings(Params):
    """``params/engine.yaml``: how the query engines run.

    The engine itself is chosen per run (``engine:`` in ``params/monthly.yaml``,
    ``outcomes run --engine``, ``warehouse.connect(engine=...)``).

    Parameters
    ----------
    duckdb : DuckDBSettings
        Memory and threads of each embedded DuckDB connection (ingest's and every
        reader's).
    spark : SparkSettings
        The Spark session and where Spark finds the canonical tables.
    """

    duckdb: DuckDBSettings = Field(default_factory=DuckDBSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)


def engine_params_path() -> Path:
    """The engine settings file: the one named by :data:`ENGINE_PARAMS_ENV`, else the project's ``params/engine.yaml``."""
    named = os.environ.get(ENGINE_PARAMS_ENV)
    return config.resolve(named) if named else config.project().params_dir / "engine.yaml"


def load_settings(path: str | Path | None = None) -> EngineSettings:
    """Read and check ``params/engine.yaml``.

    Parameters
    ----------
    path : str or Path, optional
        The settings file; default the file named by :data:`ENGINE_PARAMS_ENV` when it
        is set, else the project's ``params/engine.yaml`` (:func:`engine_params_path`).

    Returns
    -------
    EngineSettings
        The validated settings.

    Raises
    ------
    ParamsError
        Naming the file, the key and the valid keys.
    """
    return load(config.resolve(path) if path is not None else engine_params_path(), EngineSettings)


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ParquetExport:
    """What :func:`export_parquet` wrote.

    Parameters
    ----------
    folder : Path
        The export folder (one ``<table>.parquet`` per canonical table).
    warehouse : Path
        The DuckDB file it was exported from.
    rows : dict
        Table name -> rows written.
    seconds : float
        Time taken.
    """

    folder: Path
    warehouse: Path
    rows: dict[str, int]
    seconds: float

    def to_table(self) -> RichTable:
        """Return the export as a rich table: one line per table and a total."""
        from rich.table import Table as RichTable

        out = RichTable(title=f"Parquet export of {self.warehouse} into {self.folder}")
        out.add_column("table")
        out.add_column("rows", justify="right")
        for name, rows in self.rows.items():
            out.add_row(name, f"{rows:,}")
        out.add_section()
        out.add_row("total", f"{sum(self.rows.values()):,}", style="bold")
        return out


def _stamp(warehouse: Path) -> dict[str, Any]:
    """Identify one state of the DuckDB file (its path, size and modification time)."""
    st = warehouse.stat()
    return {"warehouse": str(warehouse.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_stamp(warehouse: str | Path | None = None, settings: EngineSettings | str | Path | None = None) -> dict[str, Any] | None:
    """Identify the state of the tables Spark reads, or None when it cannot be known.

    A local Parquet export is refreshed from the DuckDB file on connect, so its state is
    the file's (path, size, modification time). A catalog database or a remote Parquet
    folder changes without the kit knowing: None.

    Parameters
    ----------
    warehouse : str or Path, optional
        The DuckDB file; default the project's warehouse (:attr:`outcomes.config.Project.warehouse`).
    settings : EngineSettings, str or Path, optional
        The settings or their YAML file; default ``params/engine.yaml``.

    Returns
    -------
    dict or None
        ``engine``, ``parquet`` (the export folder) and the DuckDB file's stamp.
    """
    if not isinstance(settings, EngineSettings):
        settings = load_settings(settings)
    data = settings.spark.data
    warehouse = config.resolve(warehouse) if warehouse is not None else config.project().warehouse
    if data.parquet is None or data.is_remote or not warehouse.is_file():
        return None
    return {"engine": "spark", "parquet": data.parquet_location(), **_stamp(warehouse)}


def export_is_current(
    folder: str | Path, warehouse: str | Path | None = None, *, partition_by_month: bool = False
) -> bool:
    """Whether ``folder`` holds a complete export of the warehouse file as it is now.

    Parameters
    ----------
    folder : str or Path
        The export folder.
    warehouse : str or Path, optional
        The DuckDB file; default the project's warehouse (:attr:`outcomes.config.Project.warehouse`).
    partition_by_month : bool
        The layout wanted (see :func:`export_parquet`); an export in the other layout is not current.

    Returns
    -------
    bool
        False when the folder or its manifest is missing, the warehouse changed since, or
        the export's layout is not the one wanted.
    """
    warehouse = config.resolve(warehouse) if warehouse is not None else config.project().warehouse
    manifest = Path(folder) / EXPORT_MANIFEST
    if not (manifest.is_file() and warehouse.is_file()):
        return False
    written = json.loads(manifest.read_text(encoding="utf-8"))
    if bool(written.get("partitioned_by_month", False)) != partition_by_month:
        return False
    return {k: written.get(k) for k in ("warehouse", "size", "mtime_ns")} == _stamp(warehouse)


def export_parquet(
    warehouse: str | Path | None = None, folder: str | Path | None = None, *, partition_by_month: bool = False
) -> ParquetExport:
    """Write every canonical table of the DuckDB warehouse to Parquet, atomically.

    Each table goes to ``<folder>/<table>.parquet`` through DuckDB's
    ``COPY (SELECT * FROM table) TO ... (FORMAT parquet)``, keeping the warehouse types
    (naive UTC ``TIMESTAMP``, ``DATE``, ``BOOLEAN``, ``BIGINT``, ``DOUBLE``). With
    ``partition_by_month``, a table of :data:`~outcomes.warehouse.datamodel.MONTH_PARTITIONS`
    holding rows becomes a folder of Hive-style partitions by the month of its event
    timestamp, ``<table>.parquet/month=YYYY-MM/*.parquet`` (``COPY ... (FORMAT parquet,
    PARTITION_BY (month))``); Spark reads the folder as one table with a string column
    ``month`` and skips the months a query's filter on it excludes. Everything
    is written into a new sibling folder first, with ``_export.json`` (the source file's
    size and modification time, rows per table) last; the new folder then replaces the
    old one with two renames, so readers never see a half-written export.

    Parameters
    ----------
    warehouse : str or Path, optional
        The DuckDB file; default the project's warehouse (:attr:`outcomes.config.Project.warehouse`).
    folder : str or Path, optional
        The export folder; default ``spark.data.parquet`` of ``params/engine.yaml``
        (relative paths from the project root).
    partition_by_month : bool
        Split the event tables into month partitions (``spark.data.partition_by_month``).

    Returns
    -------
    ParquetExport
        The folder and the rows written per table.

    Raises
    ------
    WarehouseError
        When the warehouse file is missing or lacks a canonical table.
    """
    import duckdb

    started = time.perf_counter()
    warehouse = config.resolve(warehouse) if warehouse is not None else config.project().warehouse
    if folder is None:
        data = load_settings().spark.data
        if data.parquet is None or data.is_remote:
            raise ParamsError(
                f"{engine_params_path()}: spark.data names no local Parquet folder to export to; "
                "pass the folder (outcomes export-parquet --out data/parquet)"
            )
        folder = data.parquet_location()
    folder = config.resolve(folder)
    if not warehouse.is_file():
        raise WarehouseError(
            f"warehouse {warehouse} not found; run `outcomes ingest` to build it before exporting it to Parquet"
        )
    stamp = _stamp(warehouse)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the export is read by Spark executors too
    rows: dict[str, int] = {}
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            missing = [t for t in TABLES if t not in present]
            if missing:
                raise WarehouseError(
                    f"warehouse {warehouse} has no table {', '.join(missing)}; rebuild it with `outcomes ingest`"
                )
            for name in TABLES:
                rows[name] = int(con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0])
                target = literal(str(staging / f"{name}.parquet"))
                if partition_by_month and name in MONTH_PARTITIONS and rows[name]:
                    month = f"strftime({quote(MONTH_PARTITIONS[name])}, '%Y-%m') AS {quote(PARTITION_COLUMN)}"
                    con.execute(
                        f"COPY (SELECT *, {month} FROM {quote(name)}) TO {target} "
                        f"(FORMAT parquet, PARTITION_BY ({quote(PARTITION_COLUMN)}))"
                    )
                else:
                    con.execute(f"COPY (SELECT * FROM {quote(name)}) TO {target} (FORMAT parquet)")
        manifest = {
            **stamp,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "partitioned_by_month": partition_by_month,
            "rows": rows,
        }
        (staging / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _swap(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ParquetExport(folder, warehouse, rows, time.perf_counter() - started)


def _swap(new: Path, folder: Path) -> None:
    """Put the folder ``new`` in place of ``folder`` (which may not exist)."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        folder.rename(old)
    new.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def refresh_export(
    folder: str | Path, warehouse: str | Path | None = None, *, partition_by_month: bool = False
) -> bool:
    """Export the warehouse to ``folder`` unless a current export in that layout is already there.

    A lock file beside the folder keeps notebooks that start together from exporting
    twice.

    Parameters
    ----------
    folder : str or Path
        The local export folder.
    warehouse : str or Path, optional
        The DuckDB file; default the project's warehouse (:attr:`outcomes.config.Project.warehouse`).
    partition_by_month : bool
        The layout (see :func:`export_parquet`).

    Returns
    -------
    bool
        Whether a new export was written.
    """
    folder = config.resolve(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if export_is_current(folder, warehouse, partition_by_month=partition_by_month):
                return False
            export_parquet(warehouse, folder, partition_by_month=partition_by_month)
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- session


def spark_session(settings: SparkSettings) -> SparkSession:
    """Build (or join) the process's ``SparkSession`` with the given settings.

    Spark allows one session per process: when one is already running, Spark returns it
    and only the runtime settings (shuffle partitions, time zone, ``spark.sql.*``)
    apply; the master and the driver memory stay as they were.

    Parameters
    ----------
    settings : SparkSettings
        The ``spark`` section of ``params/engine.yaml``.

    Returns
    -------
    pyspark.sql.SparkSession
        The session, time zone UTC.

    Raises
    ------
    WarehouseError
        When PySpark or Java is missing.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise WarehouseError(
            "engine 'spark' needs PySpark; install it with `pip install -e '.[spark]'` (PySpark 4.0, Java 17)"
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise WarehouseError(
            "engine 'spark' needs a Java 17 runtime and none was found (no `java` on PATH, JAVA_HOME unset); "
            "install one (apt-get install openjdk-17-jre-headless) or use engine='duckdb'"
        )
    # Spark's Python workers run this interpreter, the one holding pandas and pyarrow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in settings.spark_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # A session that was already running keeps its settings: set again those that can change.
    for key, value in settings.spark_conf().items():
        if key.startswith("spark.sql.") and session.conf.isModifiable(key):
            session.conf.set(key, value)
    return session


def connect(
    warehouse: str | Path | None = None, settings: EngineSettings | str | Path | None = None
) -> ibis.BaseBackend:
    """Open the canonical tables on Spark as an ibis ``pyspark`` backend.

    With ``spark.data.parquet`` a local folder, the folder is first brought up to date
    with the DuckDB warehouse (:func:`refresh_export`); each ``<table>.parquet`` is then
    registered as a temporary view named after the table. With ``spark.data.database``,
    that database becomes the session's current one, so the tables are found by name.

    Parameters
    ----------
    warehouse : str or Path, optional
        The DuckDB file a local Parquet export is made from; default
        the project's warehouse (:attr:`outcomes.config.Project.warehouse`). Without it, an existing export is used
        as it is.
    settings : EngineSettings, str or Path, optional
        The settings, or the YAML file holding them; default ``params/engine.yaml``.

    Returns
    -------
    ibis.BaseBackend
        ``con.table("tickets")`` gives an ibis table on Spark; ``con.disconnect()``
        stops the session.

    Raises
    ------
    WarehouseError
        When Spark cannot start, or the tables are not where the settings say.
    """
    import ibis

    if not isinstance(settings, EngineSettings):
        settings = load_settings(settings)
    spark = settings.spark
    warehouse = config.resolve(warehouse) if warehouse is not None else config.project().warehouse
    if spark.data.parquet is not None and not spark.data.is_remote:
        folder = Path(spark.data.parquet_location())
        if warehouse.is_file():
            refresh_export(folder, warehouse, partition_by_month=spark.data.partition_by_month)
        elif not (folder / EXPORT_MANIFEST).is_file():
            raise WarehouseError(
                f"neither the warehouse {warehouse} nor a Parquet export in {folder} exists; "
                "run `outcomes ingest` (Spark then reads its export, made on first use)"
            )
    session = spark_session(spark)
    if spark.data.database is not None:
        _use_database(session, spark.data.database)
    else:
        _register_parquet(session, spark.data.parquet_location())
    return ibis.pyspark.connect(session)


def _use_database(session: SparkSession, database: str) -> None:
    """Make ``database`` (``name`` or ``catalog.name``) the session's current database."""
    catalog_api = session.catalog
    catalog, _, name = database.rpartition(".")
    if catalog:
        catalog_api.setCurrentCatalog(catalog)
    if not catalog_api.databaseExists(name):
        known = [d.name for d in catalog_api.listDatabases()]
        raise WarehouseError(
            f"Spark catalog has no database '{database}' (params/engine.yaml spark.data.database); "
            f"databases are: {', '.join(known) or 'none'}; load the canonical tables there (docs/scaling.md) "
            "or set spark.data.parquet"
        )
    catalog_api.setCurrentDatabase(name)


def _register_parquet(session: SparkSession, location: str) -> None:
    """Register ``<location>/<table>.parquet`` as a temporary view for every canonical table."""
    from pyspark.errors import AnalysisException

    for name in TABLES:
        path = f"{location}/{name}.parquet"
        try:
            session.read.parquet(path).createOrReplaceTempView(name)
        except AnalysisException as exc:
            raise WarehouseError(
                f"Spark cannot read table '{name}' from {path} ({str(exc).splitlines()[0]}); "
                "write it there with `outcomes export-parquet` and copy the folder, or fix spark.data.parquet "
                "in params/engine.yaml"
            ) from None


__all__ = [
    "ENGINE_PARAMS_ENV",
    "EXPORT_MANIFEST",
    "FIXED_CONF",
    "EngineSettings",
    "ParquetExport",
    "SparkData",
    "SparkSettings",
    "connect",
    "engine_params_path",
    "export_is_current",
    "export_parquet",
    "load_settings",
    "refresh_export",
    "source_stamp",
    "spark_session",
]
