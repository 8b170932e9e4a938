"""The reference for ingest: a plain DuckDB load of the same exports, as a careful analyst writes it.

Every source of the sources file is read with one ``read_csv`` / ``read_parquet`` over its
files (declared types: each mapped export column cast to its canonical column's type,
timestamps parsed with the source's date format) into a table of a new DuckDB database
file, with the export columns renamed to the canonical ones. Then, per canonical table,
three kinds of checks run as SQL queries over the loaded rows (the tables loaded by two
sources checked together):

* key uniqueness (rows less distinct keys),
* order of timestamps (the data model's row rules, ``resolved_at >= opened_at``...),
* sign (every column with a minimum, ``revenue >= 0``...).

What it leaves out, and the kit does: value maps, trimming and empty values, per-row
rejects with their messages, the plausible date range, the share of rows rejected, the
ingest log and the fingerprints. A CSV line that does not parse into the declared
types is set aside by DuckDB's ``store_rejects`` (so the load finishes, as a careful
analyst's does); a Parquet value that does not cast becomes empty (``TRY_CAST``). The mapping (which export column is which canonical column, the date
formats) is read from the sources file, so both read the same columns of the same files.

``run_pack.py`` runs :func:`plain_load` as its stage ``plain DuckDB load``, in its own
process, right after the kit's ingest.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import Any

import duckdb

from outcomes.ingest import readers
from outcomes.ingest.sources import Source, load_sources
from outcomes.warehouse.datamodel import TABLES
from outcomes.warehouse.store import SQL_TYPES
from outcomes.warehouse.store import quote as _q

def _declared(source: Source, header: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Export column -> canonical column, and export column -> declared DuckDB type, of the columns the source maps."""
    names, types = {}, {}
    for col in TABLES[source.table].columns:
        if col.name in source.derive or col.name in source.constants:
            continue
        export = source.columns.get(col.name, col.name)
        if export in header:
            names[export] = col.name
            types[export] = SQL_TYPES[col.type]
    return names, types


def _reader(source: Source, files: list[Path]) -> str:
    """SELECT of a source's files, every file in one read, the mapped columns typed and renamed."""
    listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    if source.file_format == "parquet":
        con = duckdb.connect()
        header = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{files[0]}')").fetchall()]
        con.close()
        names, types = _declared(source, header)
        items = ", ".join(f"TRY_CAST({_q(e)} AS {types[e]}) AS {_q(c)}" for e, c in names.items())
        return f"SELECT {items} FROM read_parquet({listed})"
    delim = source.delimiter or ","
    with files[0].open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader([fh.readline()], delimiter=delim))
    names, types = _declared(source, header)
    table = TABLES[source.table]
    formats = {}
    for col in table.columns:
        fmt = source.dates.get(col.name)
        if fmt and fmt != "excel":
            formats["timestampformat" if col.type == "timestamp" else "dateformat"] = fmt
    spec = "{" + ", ".join(f"'{h}': '{types.get(h, 'VARCHAR')}'" for h in header) + "}"
    options = "".join(f", {k}='{v}'" for k, v in formats.items())
    items = ", ".join(f"{_q(e)} AS {_q(c)}" for e, c in names.items())
    return (
        f"SELECT {items} FROM read_csv({listed}, header=true, delim='{delim}', columns={spec}, "
        f"auto_detect=false, store_rejects=true{options})"
    )


def checks(con: duckdb.DuckDBPyConnection, table: str, relations: list[str]) -> dict[str, int]:
    """Rows breaking key uniqueness, timestamp order and sign, over the sources' tables of one canonical table."""
    t = TABLES[table]
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {_q(r)}" for r in relations)
    out: dict[str, int] = {}
    present = {c for r in relations for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {_q(r)})").fetchall()}
    if t.key and all(k in present for k in t.key):
        key = ", ".join(_q(k) for k in t.key)
        out["duplicate keys"] = con.execute(
            f"SELECT count(*) - count(DISTINCT ({key})) FROM ({union})"
        ).fetchone()[0]
    conditions = [
        f"NOT coalesce(({r.sql}), TRUE)"
        for r in t.rules
        if all(c in present for c in t.column_names if re.search(rf"\b{re.escape(c)}\b", r.sql))
    ]
    conditions += [f"{_q(c.name)} < {c.min}" for c in t.columns if c.min is not None and c.name in present]
    if conditions:
        sums = ", ".join(f"count(*) FILTER (WHERE {c})" for c in conditions)
        for c, n in zip(conditions, con.execute(f"SELECT {sums} FROM ({union})").fetchone(), strict=True):
            out[c] = n
    return out


def plain_load(sources_yaml: Path, database: Path) -> dict[str, Any]:
    """Load every source's files into ``database`` with plain DuckDB, then run the checks.

    Returns
    -------
    dict
        ``compute_s`` (load and checks), ``load_s``, ``checks_s``, ``rows`` loaded and
        ``broken``: the rows breaking each check, per canonical table.
    """
    cfg = load_sources(sources_yaml)
    raw_dir = Path(cfg.raw_dir) if Path(cfg.raw_dir).is_absolute() else sources_yaml.parent.parent / cfg.raw_dir
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    began = time.perf_counter()
    con = duckdb.connect(str(database))
    con.execute("SET TimeZone = 'UTC'")
    by_table: dict[str, list[str]] = {}
    rows = 0
    for name, source in cfg.sources.items():
        _, files = readers.matching_files(source, raw_dir)
        con.execute(f"CREATE TABLE {_q(name)} AS {_reader(source, files)}")
        rows += con.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
        by_table.setdefault(source.table, []).append(name)
    loaded = time.perf_counter()
    broken = {table: checks(con, table, names) for table, names in by_table.items()}
    con.execute("CHECKPOINT")
    con.close()
    done = time.perf_counter()
    return {"compute_s": done - began, "load_s": loaded - began, "checks_s": done - loaded, "rows": rows, "broken": broken}
