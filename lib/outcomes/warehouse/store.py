"""The embedded warehouse: one DuckDB file holding the canonical tables.

``outcomes ingest`` builds the file (:mod:`outcomes.ingest.load`); every other step opens it
read-only through :func:`connect` and works on ibis expressions. Besides the canonical
tables of :mod:`outcomes.warehouse.datamodel` the file holds two bookkeeping tables:

``_rejects``
    One line per rule a row of an export broke: ``source, table, row_number, column,
    value, rule, message``. ``row_number`` is the 1-based data row in the export file
    (the header and blank lines are not counted; in Excel, the sheet row minus one).
``_ingest_log``
    One line per file read: ``source, file, rows_read, rows_loaded, rows_rejected,
    sha256, ingested_at``.
``_fingerprints``
    Row count and content hash of every other table (see :func:`fingerprints`), computed
    once by ingest so a report run does not re-read every row to record them.

Timestamps are stored as naive ``TIMESTAMP`` in UTC, dates and months as ``DATE`` (a
month on its first day), booleans as ``BOOLEAN``, integers as ``BIGINT`` and floats as
``DOUBLE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from outcomes import config
from outcomes.errors import WarehouseError
from outcomes.warehouse import sizing, spark_backend
from outcomes.warehouse.datamodel import TABLES, Column, LogicalType
from outcomes.warehouse.sql import literal, quote

if TYPE_CHECKING:
    import duckdb
    import ibis


Engine = Literal["duckdb", "spark"]

#: DuckDB type of each logical type of the data model.
SQL_TYPES: dict[LogicalType, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "month": "DATE",
}

REJECTS_TABLE = "_rejects"
LOG_TABLE = "_ingest_log"
FINGERPRINTS_TABLE = "_fingerprints"

_BOOKKEEPING_DDL = {
    REJECTS_TABLE: (
        'source VARCHAR NOT NULL, "table" VARCHAR NOT NULL, row_number BIGINT NOT NULL, '
        '"column" VARCHAR NOT NULL, value VARCHAR, rule VARCHAR NOT NULL, message VARCHAR NOT NULL'
    ),
    LOG_TABLE: (
        "source VARCHAR NOT NULL, file VARCHAR NOT NULL, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL, "
        "rows_rejected BIGINT NOT NULL, sha256 VARCHAR NOT NULL, ingested_at TIMESTAMP NOT NULL, "
        "size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL"
    ),
}


def required(col: Column, key: tuple[str, ...] = ()) -> bool:
    """Whether a canonical column is declared ``NOT NULL``: it is not nullable, or it is part of the table's key."""
    return not col.nullable or col.name in key


def column_ddl(col: Column, key: tuple[str, ...] = ()) -> str:
    """Return the DuckDB column definition of a canonical column (``NOT NULL`` when :func:`required`)."""
    not_null = " NOT NULL" if required(col, key) else ""
    return f"{quote(col.name)} {SQL_TYPES[col.type]}{not_null}"


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical table and the bookkeeping tables, empty.

    Keys are not declared as SQL primary keys (an index would cost memory at tens of
    millions of rows); ingest rejects duplicate keys and :mod:`outcomes.warehouse.schemas` checks
    uniqueness on the loaded tables.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable connection.
    """
    for t in TABLES.values():
        cols = ", ".join(column_ddl(c, t.key) for c in t.columns)
        con.execute(f"CREATE TABLE {quote(t.name)} ({cols})")
    for name, ddl in _BOOKKEEPING_DDL.items():
        con.execute(f"CREATE TABLE {quote(name)} ({ddl})")


def connect(
    path: str | Path | None = None,
    *,
    read_only: bool = True,
    engine: Engine = "duckdb",
    spark_settings: spark_backend.EngineSettings | str | Path | None = None,
) -> ibis.BaseBackend:
    """Open the warehouse as an ibis backend.

    Parameters
    ----------
    path : str or Path, optional
        The DuckDB file, relative paths from the project folder; defaults to the project's
        warehouse (:attr:`outcomes.config.Project.warehouse`).
    read_only : bool
        Open read-only (the default for every reader; only ingest writes).
    engine : {"duckdb", "spark"}
        The query engine. ``spark`` opens the canonical tables on Spark as
        ``params/engine.yaml`` says (:func:`outcomes.warehouse.spark_backend.connect`): from a Parquet
        export of ``path``, refreshed when the file is newer, or from a Spark catalog
        database. Spark connections are read-only.
    spark_settings : EngineSettings, str or Path, optional
        The engine settings or their YAML file (default ``params/engine.yaml``): the
        Spark session for ``engine="spark"``, memory and threads for DuckDB.

    Returns
    -------
    ibis.BaseBackend
        The connection; ``con.table("tickets")`` gives an ibis table expression.

    Raises
    ------
    WarehouseError
        When the file does not exist, the engine is unknown, or Spark cannot reach the tables.
    """
    if engine == "spark":
        return spark_backend.connect(path, spark_settings)
    if engine != "duckdb":
        raise WarehouseError(f"engine '{engine}' is not supported; valid engines are: duckdb, spark")
    path = config.resolve(path) if path is not None else config.project().warehouse
    if not path.is_file():
        raise WarehouseError(
            f"warehouse {path} not found; run `outcomes ingest` to build it from the exports "
            "listed in params/sources.yaml"
        )
    import ibis

    settings = spark_settings if isinstance(spark_settings, spark_backend.EngineSettings) else spark_backend.load_settings(spark_settings)
    con = ibis.duckdb.connect(str(path), read_only=read_only)
    # Set on the open database rather than passed to connect(): DuckDB refuses a second
    # connection to a file with a different connect() configuration in one process. Settings
    # left empty take the run's share of the machine (outcomes.warehouse.sizing).
    for name, value in sizing.effective(settings.duckdb.config()).items():
        con.raw_sql(f"SET {name} = {literal(str(value))}")
    # Connections to one file in one process share its database, and DuckDB refuses to switch
    # the spill folder once a query has spilled into it, even to the same folder: set it once.
    spill = str(spill_directory())
    if con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0] != spill:
        con.raw_sql(f"SET temp_directory = {literal(spill)}")
    return con


def spill_directory() -> Path:
    """Where this process's DuckDB connections spill to disk: one folder per process.

    DuckDB's default, ``<warehouse>.tmp``, is shared by every process that opens the file,
    and notebooks of a run open it at the same time: their spill files would collide.
    """
    import atexit
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"outcomes-duckdb-{os.getpid()}"
    if folder not in _SPILL_FOLDERS:
        _SPILL_FOLDERS.add(folder)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


_SPILL_FOLDERS: set[Path] = set()


def source_stamp(
    engine: Engine | str = "duckdb",
    path: str | Path | None = None,
    spark_settings: spark_backend.EngineSettings | str | Path | None = None,
) -> dict[str, Any] | None:
    """Identify the state of the tables an engine reads, without opening them.

    What is computed from the warehouse can be reused while this stamp stays the same
    (:mod:`outcomes.cache` keys on it). Rebuilding the warehouse changes the DuckDB
    file's size or modification time, hence the stamp.

    Parameters
    ----------
    engine : {"duckdb", "spark"}
        The query engine.
    path : str or Path, optional
        The DuckDB file, relative paths from the project folder; defaults to the project's
        warehouse (:attr:`outcomes.config.Project.warehouse`).
    spark_settings : EngineSettings, str or Path, optional
        For ``engine="spark"``: the settings or their YAML file.

    Returns
    -------
    dict or None
        ``engine``, ``warehouse`` (the resolved path), ``size`` and ``mtime_ns`` (for
        Spark also the Parquet folder); None when there is no such file, or Spark reads
        tables whose state the kit cannot know (a catalog database, a remote folder).
    """
    if engine == "spark":
        return spark_backend.source_stamp(path, spark_settings)
    path = config.resolve(path) if path is not None else config.project().warehouse
    if engine != "duckdb" or not path.is_file():
        return None
    st = path.stat()
    return {"engine": "duckdb", "warehouse": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def fingerprints(con: ibis.BaseBackend) -> dict[str, dict[str, int | str]]:
    """Row count and content hash of every table of the warehouse file, for the report manifest.

    Temporary tables and views of the connection (the in-memory tables ibis registers) are
    not part of the warehouse and are left out, so the fingerprints of one file do not depend
    on what ran on the connection before.

    The hash does not depend on row order: it is the sum over rows of DuckDB's 64-bit
    ``hash`` of the row, written as 32 hexadecimal digits (about 30 times as fast as an
    MD5 of the row cast to text, whose cast dominated ingest; the hash may change with
    a DuckDB release, which makes the fingerprints of unchanged data differ once, never
    those of changed data equal). ``_ingest_log`` is
    left out because it records when ingest ran; two ingests of the same exports
    therefore give the same fingerprints. The values ingest stored in ``_fingerprints``
    are used while every table still has the row count stored with it (the warehouse is
    written by ingest only); otherwise they are computed, which reads every row.

    Parameters
    ----------
    con : ibis.BaseBackend
        A DuckDB connection from :func:`connect`.

    Returns
    -------
    dict
        Table name -> ``{"rows": int, "hash": str}``, tables in alphabetical order.
    """
    return stored_fingerprints(con.raw_sql) or table_fingerprints(con.raw_sql)


def table_fingerprints(execute: Any, names: list[str] | None = None) -> dict[str, dict[str, int | str]]:
    """Compute :func:`fingerprints` by reading every row.

    Parameters
    ----------
    execute : callable
        ``sql -> cursor`` of a DuckDB connection (``duckdb.DuckDBPyConnection.execute``
        or an ibis backend's ``raw_sql``).
    names : list of str, optional
        Only these tables; default every table but the ingest log and the fingerprints.
    """
    out: dict[str, dict[str, int | str]] = {}
    for name in _data_tables(execute) if names is None else names:
        rows, total = row_sums(execute, name)
        out[name] = {"rows": rows, "hash": f"{total % (1 << 128):032x}"}
    return out


def row_sums(execute: Any, name: str, where: str = "TRUE") -> tuple[int, int]:
    """Rows of a table matching ``where`` (SQL), and the sum of their row hashes (:func:`fingerprints`)."""
    rows, total = execute(
        f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) "
        f"FROM {quote(name)} AS t WHERE {where}"
    ).fetchall()[0]
    return int(rows), int(total)


def add_appended_fingerprint(
    con: duckdb.DuckDBPyConnection, name: str, after_rowid: int, removed: tuple[int, int] = (0, 0)
) -> None:
    """Add the rows appended to a table since ``after_rowid`` to its stored fingerprint.

    The hash is a sum over rows, so the rows appended add their own sum, and rows deleted
    before (``removed``) take theirs away; the table is not read again. Should the stored
    row count then differ from the table's, the table's fingerprint is computed from every
    row instead.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse being written; it holds ``_fingerprints``.
    name : str
        The table.
    after_rowid : int
        The largest ``rowid`` of the table before the rows were appended (-1 when it was empty).
    removed : tuple of int
        Rows of the stored fingerprint deleted since (those of a later source, set aside to
        be appended again after the new rows), and the sum of their hashes (:func:`row_sums`).
    """
    rows, total = row_sums(con.execute, name, f"rowid > {int(after_rowid)}")
    # Literals, not parameters, here and below: binding Python parameters makes DuckDB
    # import pandas, half a second of a monthly refresh that needs it nowhere else.
    stored = con.execute(f"SELECT rows, hash FROM {FINGERPRINTS_TABLE} WHERE table_name = {literal(name)}").fetchone()
    count = con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
    if stored is None or stored[0] - removed[0] + rows != count:
        store_fingerprints(con, [name])
        return
    digest = f"{(int(stored[1], 16) - removed[1] + total) % (1 << 128):032x}"
    con.execute(
        f"UPDATE {FINGERPRINTS_TABLE} SET rows = {int(count)}, hash = {literal(digest)} WHERE table_name = {literal(name)}"
    )


def store_fingerprints(con: duckdb.DuckDBPyConnection, changed: list[str] | None = None) -> None:
    """Compute the fingerprints of a warehouse being built and store them in ``_fingerprints``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse being written.
    changed : list of str, optional
        Recompute only these tables' fingerprints and keep the others' (a refresh that
        left the rest untouched); default every table, replacing what was stored.
    """
    found = table_fingerprints(con.execute, changed)
    if changed is not None:
        listed = ", ".join(literal(t) for t in changed)
        con.execute(f"DELETE FROM {FINGERPRINTS_TABLE} WHERE list_contains([{listed}]::VARCHAR[], table_name)")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {FINGERPRINTS_TABLE} (table_name VARCHAR, rows BIGINT, hash VARCHAR)")
    if found:
        rows = ", ".join(f"({literal(k)}, {int(v['rows'])}, {literal(str(v['hash']))})" for k, v in found.items())
        con.execute(f"INSERT INTO {FINGERPRINTS_TABLE} VALUES {rows}")


def stored_fingerprints(execute: Any) -> dict[str, dict[str, int | str]] | None:
    """The fingerprints ingest stored, or None when absent or no longer matching the row counts."""
    tables = _data_tables(execute)
    if FINGERPRINTS_TABLE not in _all_tables(execute):
        return None
    stored = {
        name: {"rows": int(rows), "hash": digest}
        for name, rows, digest in execute(f"SELECT table_name, rows, hash FROM {FINGERPRINTS_TABLE}").fetchall()
    }
    if sorted(stored) != tables:
        return None
    for name in tables:
        if execute(f"SELECT count(*) FROM {quote(name)}").fetchall()[0][0] != stored[name]["rows"]:
            return None
    return {name: stored[name] for name in tables}


def _all_tables(execute: Any) -> list[str]:
    """Every table of the warehouse file's main schema, alphabetically.

    Temporary tables and views a connection holds (the in-memory tables ibis registers,
    named at random, the views ingest reads exports through) are not part of the warehouse.
    """
    listing = execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in listing]


def _data_tables(execute: Any) -> list[str]:
    """The tables whose content is fingerprinted (all but the ingest log and the fingerprints)."""
    return [t for t in _all_tables(execute) if t not in (LOG_TABLE, FINGERPRINTS_TABLE)]


__all__ = ["SQL_TYPES", "REJECTS_TABLE", "LOG_TABLE", "FINGERPRINTS_TABLE", "connect", "create_tables", "fingerprints", "table_fingerprints", "store_fingerprints", "stored_fingerprints", "add_appended_fingerprint", "row_sums", "quote", "column_ddl", "source_stamp", "spill_directory"]
