"""Ingest: load every export listed in ``params/sources.yaml`` into the warehouse.

This module runs the steps of the modules named below for each source, builds the
warehouse in a temporary file and swaps it in, and keeps the exports' fingerprints
(:func:`run_ingest`, :func:`ensure_warehouse`).

How a source is loaded
----------------------
DuckDB does the work, so an export of 10 million tickets never sits in pandas memory:

1. **Read** (:mod:`outcomes.ingest.readers`). The file is read with every column as
   text (``read_csv(all_varchar=true)``, ``read_parquet`` cast to text, or Excel
   streamed through openpyxl in batches; the network is closed, so DuckDB's Excel
   extension is not used). Each row keeps its file's index and its ``row_number``, the
   1-based data row in the file (the header is not counted). Consecutive files with the
   same format and header are read, mapped and checked together in one pass
   (:func:`outcomes.ingest.readers.batches`); a file that differs is read alone.
2. **Map** (:mod:`outcomes.ingest.mapping`). Values are trimmed; empty strings and the
   source's ``null_values`` become empty. Each canonical column takes, in this order of
   precedence, a ``derive`` expression, a ``constants`` value, the export column named
   under ``columns``, or the export column of the same name; an optional column found
   nowhere is left empty. ``values`` maps are applied, then the text is parsed into the
   canonical type (``try_strptime``/``TRY_CAST``), dates by their ``dates`` format.
3. **Dedupe** (:mod:`outcomes.ingest.dedupe`; event logs only). One version per key, as
   ``dedupe`` says; columns under ``dedupe.aggregate`` take an aggregate over all the
   key's versions instead (the first event's time, the number of team changes...).
4. **Check** (:mod:`outcomes.ingest.checks`). Every rule a row breaks becomes a line of
   ``_rejects``: an unparseable value, an empty required value or key, a value outside
   the column's allowed values (after value maps), a number below ``min`` or above
   ``max``, a broken row rule of the data model (``resolved_at >= opened_at``...), and a
   duplicate key (the first row, in file order, is kept; the later ones are rejected).
5. **Load** (:mod:`outcomes.ingest.checks`). Rows that broke no rule are inserted into
   the canonical table, typed.

Then every loaded table's columns and types are validated against its pandera schema
(:mod:`outcomes.warehouse.schemas`) inside DuckDB; the rejects of step 4 already enforce
the schema's checks of values.

What stops ingest
-----------------
A file that cannot be used at all raises one :class:`~outcomes.errors.IngestError`
naming the file, the column, what was expected, what was found and what to do: no file
matches the path, an empty file, a header and no rows (unless ``allow_empty``), two
columns of the same name, the header repeated mid-file in another column order, a file
that parses to one column (wrong delimiter), a required column missing (with the
``skip_rows`` to set when the header lies below a title), text that is not in the
declared encoding, a malformed CSV, a numeric column holding numbers written in another
convention than the source's ``decimal``/``thousands``, an unknown preset, sheet or time
zone, a mapping key that is not a canonical column, a ``%y`` date format without
``year_pivot``, a ``derive`` expression that cannot be evaluated (or raises on more
than ``DERIVE_ERROR_ROWS`` rows of a file; on fewer, those rows are rejected). Everything else is a
row problem and rejects the row only (docs/ingest.md states these invariants; the fuzz
test checks them), unless a source rejects a larger share of its rows than its
``max_reject_share`` (default 5%): then the mapping is wrong, and ingest stops with the
counts, the rules broken most, an example row and what to do
(:mod:`outcomes.ingest.reject_share`); that source's rejects are still written to
``<rejects_dir>/<source>.csv`` for inspection.

Atomic and idempotent
---------------------
A full ingest (:func:`run_ingest`; ``outcomes ingest --full``) builds the whole warehouse
in a temporary file next to the target and moves it over it
with :func:`os.replace` (under the warehouse lock, :mod:`outcomes.warehouse.lock`) only when every source loaded, so a failed ingest leaves the
previous warehouse byte-identical. Each run rebuilds every table from the exports, so
running twice gives the same tables. ``outcomes ingest`` without ``--full`` reads only
the exports that changed and gives the same result (:mod:`outcomes.ingest.refresh`). The rejects of each source are also written to
``<rejects_dir>/<source>.csv`` (a header only when nothing was rejected). The temporary
files of an ingest that was killed are removed by the next one
(:func:`remove_stale_temporaries`).
:func:`ensure_warehouse` ingests only when the warehouse is missing or stale (the
exports' SHA-256 differ from its ``_ingest_log``), under a file lock, so notebooks run
in parallel can all call it.

Dates, time zones, Excel
------------------------
* Timestamps are stored as naive ``TIMESTAMP`` in UTC.
* A timestamp that carries a UTC offset (``2024-03-01T10:00:00+01:00``, ``...Z``) is
  converted with its own offset; one without an offset is read in the source's
  ``timezone``. A column may mix both: each value follows this rule.
* ``dates: {column: "%d/%m/%Y %H:%M"}`` parses with a strftime format (add ``%z`` for
  an offset); ``dates: {column: excel}`` reads Excel serial day numbers
  (days since 1899-12-30; a fraction is the time of day). Without an entry, ISO 8601.
* A ``month`` column accepts a date or ``YYYY-MM`` and is stored as the first day of
  its month.

Encodings
---------
``encoding`` defaults to UTF-8; a UTF-8 byte-order mark is accepted. Another encoding
(``latin-1``, ``cp1252``, ``utf-16``...) is transcoded to UTF-8 in a streaming pass.
Gzip-compressed CSV (``.csv.gz``) is read directly.

Not enforced at ingest
----------------------
Foreign keys (a ticket's ``service`` in ``service_map``, an order's ``customer_id`` in
``customers``...) are not checked: exports arrive from different tools at different
times, and the analyses state how many rows do not join.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
from rich.table import Table as RichTable

from outcomes import config
from outcomes.errors import IngestError, ParamsError
from outcomes.ingest import checks, dedupe, mapping, readers, reject_share
from outcomes.ingest.context import SourceContext
from outcomes.warehouse.sql import literal as lit
from outcomes.ingest.reject_share import RejectShareBreach
from outcomes.warehouse.sizing import ingest_memory_limit
from outcomes.ingest.sources import PRESETS_DIR, Source, SourcesConfig, load_sources
from outcomes.warehouse import lock as warehouse_lock
from outcomes.warehouse.datamodel import TABLES
from outcomes.warehouse.spark_backend import load_settings
from outcomes.warehouse.store import LOG_TABLE, SQL_TYPES, create_tables, quote, store_fingerprints

#: Called after each export file is read: the source's name, the file, its rows.
Progress = Callable[[str, Path, int], None]


@dataclass(frozen=True)
class SourceResult:
    """What ingest did with one source.

    Parameters
    ----------
    source : str
        Source name in ``params/sources.yaml``.
    table : str
        Canonical table it loads.
    files : tuple of str
        The files read.
    rows_read : int
        Data rows in the files.
    rows_superseded : int
        Older versions of a record dropped by ``dedupe``.
    rows_rejected : int
        Rows that broke at least one rule (see ``_rejects``).
    rows_loaded : int
        Rows inserted into the table.
    rejects_file : Path
        The CSV listing the rejects.
    """

    source: str
    table: str
    files: tuple[str, ...]
    rows_read: int
    rows_superseded: int
    rows_rejected: int
    rows_loaded: int
    rejects_file: Path


@dataclass(frozen=True)
class IngestSummary:
    """The result of :func:`run_ingest`.

    Parameters
    ----------
    warehouse : Path
        The warehouse file written.
    sources : tuple of SourceResult
        One result per source, in the order of ``params/sources.yaml``.
    """

    warehouse: Path
    sources: tuple[SourceResult, ...]

    @property
    def rows_read(self) -> int:
        """Data rows read over all sources."""
        return sum(s.rows_read for s in self.sources)

    @property
    def rows_superseded(self) -> int:
        """Older record versions dropped over all sources."""
        return sum(s.rows_superseded for s in self.sources)

    @property
    def rows_rejected(self) -> int:
        """Rows rejected over all sources."""
        return sum(s.rows_rejected for s in self.sources)

    @property
    def rows_loaded(self) -> int:
        """Rows loaded over all sources."""
        return sum(s.rows_loaded for s in self.sources)

    def to_table(self) -> RichTable:
        """Return the summary as a rich table: one line per source and a total."""
        out = RichTable(title=f"Ingest into {self.warehouse}")
        for name in ("source", "table", "rows read", "superseded", "rejected", "loaded"):
            out.add_column(name, justify="left" if name in ("source", "table") else "right")
        for s in self.sources:
            out.add_row(
                s.source,
                s.table,
                f"{s.rows_read:,}",
                f"{s.rows_superseded:,}",
                f"{s.rows_rejected:,}",
                f"{s.rows_loaded:,}",
            )
        out.add_section()
        out.add_row(
            "total",
            "",
            f"{self.rows_read:,}",
            f"{self.rows_superseded:,}",
            f"{self.rows_rejected:,}",
            f"{self.rows_loaded:,}",
            style="bold",
        )
        return out


def _label(path: Path) -> str:
    """Show ``path`` relative to the project root when it lies inside it."""
    try:
        return str(path.resolve().relative_to(config.project().root))
    except ValueError:
        return str(path)


def _sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(readers.CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def _hasher() -> ThreadPoolExecutor:
    """The thread that hashes exports while DuckDB reads them (``hashlib`` and file reads release the GIL)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="outcomes-sha256")


@dataclass(frozen=True)
class MappedSource:
    """A source's exports read, mapped and checked into an open connection (by :func:`map_source`).

    The mapped rows are in the temporary table ``_kept`` and one line per rule a row
    broke in ``_rej``; nothing is loaded into a canonical table yet.

    Parameters
    ----------
    files : tuple of Path
        The files read, in the order their rows were staged.
    rows_read : tuple of int
        Data rows read from each file.
    rows_superseded : int
        Older versions of a record dropped by ``dedupe``.
    digests : tuple of Future
        The SHA-256 of each file, computed on a background thread from when the source's
        files were found, so that hashing overlaps the reading (:meth:`sha256` waits for them).
    """

    files: tuple[Path, ...]
    rows_read: tuple[int, ...]
    rows_superseded: int
    digests: tuple[Future[str], ...] = field(repr=False, compare=False)

    def sha256(self) -> list[str]:
        """The SHA-256 of each file's bytes, in the order of :attr:`files`."""
        return [f.result() for f in self.digests]

    @property
    def rows_checked(self) -> int:
        """Rows the checks judged: those read, less the older versions dropped."""
        return sum(self.rows_read) - self.rows_superseded


def map_source(
    ctx: SourceContext,
    scratch: Path,
    target_has_rows: bool = False,
    progress: Progress | None = None,
    skip: int = 0,
) -> MappedSource:
    """Read, map, dedupe and check one source's exports into ``ctx.con``: steps 1 to 4 of ingest.

    Parameters
    ----------
    ctx : SourceContext
        The source and the connection (set up by :func:`prepare_connection`).
    scratch : Path
        Folder for the transcoded copy of a CSV file that is not UTF-8.
    target_has_rows : bool
        Whether an earlier source already loaded rows into the table, so that a key
        loaded there is a duplicate too.
    progress : callable, optional
        Called after each file with the source's name, the file and its rows read.
    skip : int
        Leave out the first ``skip`` files the source matches (in name order), already
        in the warehouse; the others keep their index among all the source's files, so
        file order, and with it which row of a key is first, is that of a full ingest.

    Returns
    -------
    MappedSource
        The files read and the row counts; the rows are in ``_kept``, the rejects in ``_rej``.

    Raises
    ------
    IngestError
        When the mapping or an export cannot be used at all.
    """
    mapping.check_mapping(ctx)
    files = readers.source_files(ctx)[skip:]
    digests = tuple(_hasher().submit(_sha256, path) for path in files)
    try:
        rows_read, superseded = _stage_files(ctx, files, scratch, skip, target_has_rows, progress)
    except BaseException:
        for digest in digests:
            digest.cancel()  # a failed ingest does not wait for the rest of its exports to be hashed
        raise
    return MappedSource(files=tuple(files), rows_read=tuple(rows_read), rows_superseded=superseded, digests=digests)


def _stage_files(
    ctx: SourceContext, files: list[Path], scratch: Path, skip: int, target_has_rows: bool, progress: Progress | None
) -> tuple[list[int], int]:
    """Steps 1 to 4 of :func:`map_source` over its files; return the data rows read per file and the versions superseded."""
    con = ctx.con
    mapping.create_typed(ctx, dict(enumerate(files, start=skip)))
    rows_read: list[int] = []
    # CSV files are first mapped where they lie, a run of them in one pass (for a source
    # without dedupe); a run that cannot be is read as text, in runs of BATCH_BYTES.
    # Parquet files are always read where they lie (a view), so a run of them needs no limit.
    where_they_lie = ctx.source.file_format == "csv" and mapping.keeps_text_of_flagged_rows_only(ctx)
    unlimited = where_they_lie or ctx.source.file_format == "parquet"
    for run in readers.batches(ctx, files, first=skip, limit=math.inf if unlimited else None):
        counts = _stage_where_they_lie(ctx, run, scratch) if where_they_lie else None
        if counts is None:
            counts = []
            for part in readers.batches(ctx, list(run.values()), first=min(run)) if where_they_lie else [run]:
                found = _stage_together(ctx, part) if len(part) > 1 else None
                counts += found or [_stage_alone(ctx, fidx, path, scratch) for fidx, path in part.items()]
        rows_read += counts
        if progress is not None:
            for path, n in zip(run.values(), counts, strict=True):
                progress(ctx.name, path, n)
    kept_before = _count(con, "_typed")
    dedupe.dedupe(ctx)
    superseded = kept_before - _count(con, "_kept")
    checks.check_rows(ctx, target_has_rows=target_has_rows)
    return rows_read, superseded


def _stage_where_they_lie(ctx: SourceContext, run: dict[int, Path], scratch: Path) -> list[int] | None:
    """Map a run of CSV files in one pass, from the files themselves (:func:`outcomes.ingest.mapping.stage_unnumbered`).

    Returns
    -------
    list of int or None
        Data rows per file; None when the files must be read as text instead (a file
        read alone by :func:`outcomes.ingest.readers.read_export`, a header that does not
        fit the mapping, or :func:`~outcomes.ingest.mapping.stage_unnumbered` declining):
        nothing of them is in ``_typed`` then.
    """
    if len(run) == 1 and not readers.readable_together(ctx, next(iter(run.values()))):
        return None
    if not readers.open_csv_run(ctx, run):
        return None
    export_cols = readers.export_columns(ctx)
    try:
        mapping.check_columns(ctx, next(iter(run.values())), export_cols)
    except (IngestError, duckdb.Error):
        # Said again, with the file's own rows, when the run is read as text.
        readers.drop_raw(ctx)
        return None

    def reread(fidx: int) -> None:
        readers.read_export(ctx, fidx, run[fidx], scratch)

    counts = mapping.stage_unnumbered(ctx, run, export_cols, checks.broken(ctx), reread)
    readers.drop_raw(ctx)
    return counts


def _stage_alone(ctx: SourceContext, fidx: int, path: Path, scratch: Path) -> int:
    """Read, check and map one file into ``_typed``; return its data rows."""
    (rows,) = readers.read_export(ctx, fidx, path, scratch)
    export_cols = readers.export_columns(ctx)
    mapping.check_columns(ctx, path, export_cols)
    mapping.stage(ctx, {fidx: path}, export_cols, broken=_broken(ctx))
    return rows


def _broken(ctx: SourceContext) -> str | None:
    """The condition of a row breaking a check, for :func:`outcomes.ingest.mapping.stage` to flag as it maps.

    None for a source with ``dedupe``: its rows are checked after one version per key is
    kept, with the values aggregated over the versions.
    """
    return checks.broken(ctx) if mapping.keeps_text_of_flagged_rows_only(ctx) else None


def _stage_together(ctx: SourceContext, run: dict[int, Path]) -> list[int] | None:
    """Read, check and map a run of files in one pass (:func:`outcomes.ingest.readers.batches`).

    Returns
    -------
    list of int or None
        Data rows per file; None when the files must be mapped one at a time instead
        (nothing of them is in ``_typed`` then).
    """
    counts = readers.read_batch(ctx, run)
    if counts is None:
        return None
    export_cols = readers.export_columns(ctx)
    mapping.check_columns(ctx, next(iter(run.values())), export_cols)
    try:
        mapping.stage(ctx, run, export_cols, broken=_broken(ctx))
    except mapping.MixedRun:
        return None
    return counts


def _ingest_source(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    cfg_label: str,
    raw_dir: Path,
    scratch: Path,
    rejects: Path,
    progress: Progress | None = None,
) -> tuple[SourceResult, RejectShareBreach | None]:
    """Load one source into the open warehouse; return what happened and its breach of ``max_reject_share``."""
    ctx = SourceContext(con, name, source, cfg_label, raw_dir)
    mapped = map_source(ctx, scratch, target_has_rows=_count(con, quote(source.table)) > 0, progress=progress)
    files = mapped.files
    loaded, rejected = checks.row_counts(ctx, len(files))
    too_many = reject_share.breach(ctx, mapped.rows_checked, sum(rejected))
    checks.load_accepted(ctx)
    log_files(con, name, mapped, loaded, rejected)
    _drop_temporaries(ctx)
    result = SourceResult(
        source=name,
        table=source.table,
        files=tuple(str(p) for p in files),
        rows_read=sum(mapped.rows_read),
        rows_superseded=mapped.rows_superseded,
        rows_rejected=sum(rejected),
        rows_loaded=sum(loaded),
        rejects_file=rejects / f"{name}.csv",
    )
    return result, too_many


def log_files(
    con: duckdb.DuckDBPyConnection, source: str, mapped: MappedSource, loaded: list[int], rejected: list[int]
) -> None:
    """Record each file read in ``_ingest_log``: its rows read, loaded and rejected, its SHA-256, size and modification time.

    The size and modification time (``mtime_ns``) let a refresh skip hashing a file
    that has both unchanged (:func:`outcomes.ingest.refresh.file_changes`).
    """
    # Literals, not parameters: binding Python parameters makes DuckDB import pandas, half a
    # second of a monthly refresh that needs it nowhere else.
    lines = zip(mapped.files, mapped.rows_read, loaded, rejected, mapped.sha256(), strict=True)
    for path, read, ok, bad, sha in lines:
        st = path.stat()
        numbers = ", ".join(str(int(n)) for n in (read, ok, bad))
        con.execute(
            f"INSERT INTO {LOG_TABLE} VALUES ({lit(source)}, {lit(str(path))}, {numbers}, {lit(sha)}, "
            f"now()::TIMESTAMP, {int(st.st_size)}, {int(st.st_mtime_ns)})"
        )


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    """Number of rows of a table or view (``relation`` is SQL: quote names that need it)."""
    return con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]


def _drop_temporaries(ctx: SourceContext) -> None:
    """Drop the temporary tables of one source."""
    readers.drop_raw(ctx)
    for name in ("_typed", "_kept", "_suspect", "_rej", "_files"):
        ctx.con.execute(f"DROP TABLE IF EXISTS {name}")


def configure_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the DuckDB settings of ``params/engine.yaml``, UTC, and no progress bar, to a connection ingest writes with.

    Without a ``memory_limit`` there, the limit is chosen from the machine
    (:func:`outcomes.warehouse.sizing.ingest_memory_limit`) rather than DuckDB's 80% of it.
    """
    settings = {"memory_limit": ingest_memory_limit(), **load_settings().duckdb.config()}
    for name, value in settings.items():
        con.execute(f"SET {name} = {lit(str(value))}")
    con.execute("SET TimeZone = 'UTC'")
    # PRAGMA, not SET: inside a Jupyter kernel without ipywidgets, SET enable_progress_bar raises
    con.execute("PRAGMA disable_progress_bar")


def prepare_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Set up a new warehouse (a file, or in memory): the DuckDB settings, UTC, and the empty tables of the data model."""
    configure_connection(con)
    con.execute("BEGIN TRANSACTION")
    create_tables(con)
    con.execute("COMMIT")


def run_ingest(
    sources_path: str | Path | None = None,
    *,
    validate: bool = True,
    raw_dir: str | Path | None = None,
    warehouse: str | Path | None = None,
    rejects_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Load every source of ``params/sources.yaml`` into a fresh warehouse, atomically.

    Parameters
    ----------
    sources_path : str or Path, optional
        The source mappings; defaults to ``params/sources.yaml``. Its ``warehouse``,
        ``raw_dir`` and ``rejects_dir`` (relative to the project root) say where to
        write and read.
    validate : bool
        Validate the loaded tables' columns and types against their pandera schemas
        at the end (the default; the rows' values were checked one by one before
        loading, see :mod:`outcomes.warehouse.schemas`).
    raw_dir, warehouse, rejects_dir : str or Path, optional
        Override the file's keys of the same name (relative to the project root).
    progress : callable, optional
        Called after each export file is read, with the source's name, the file and its
        rows (a progress bar; see :data:`Progress`).

    Returns
    -------
    IngestSummary
        Rows read, superseded, rejected and loaded per source.

    Raises
    ------
    IngestError
        When an export or the mapping cannot be used at all, or a source rejected a
        larger share of its rows than its ``max_reject_share``; the previous warehouse
        is then left untouched.
    """
    targets = ingest_targets(sources_path, raw_dir=raw_dir, warehouse=warehouse, rejects_dir=rejects_dir)
    cfg, cfg_label = targets.cfg, targets.cfg_label
    warehouse, raw_dir, rejects_dir = targets.warehouse, targets.raw_dir, targets.rejects_dir
    tmp = targets.temporary
    tmp_csvs: dict[Path, Path] = {}
    _remove(tmp)
    con = duckdb.connect(str(tmp))
    try:
        prepare_connection(con)
        ingested = [
            _ingest_source(con, name, src, cfg_label, raw_dir, warehouse.parent, rejects_dir, progress)
            for name, src in cfg.sources.items()
        ]
        results = [result for result, _ in ingested]
        refuse_breaches(con, [too_many for _, too_many in ingested if too_many is not None], targets, tmp_csvs)
        if validate:
            checks.validate_tables(con, sorted({r.table for r in results if r.rows_loaded}))
        for r in results:
            part = rejects_dir / f".{r.source}.csv.{os.getpid()}.tmp"
            checks.export_rejects(con, r.source, part)
            tmp_csvs[part] = r.rejects_file
        store_fingerprints(con)
        con.execute("CHECKPOINT")
        con.close()
        with warehouse_lock.exclusive(warehouse):
            replace_warehouse(tmp, warehouse)
            for part, final in tmp_csvs.items():
                os.replace(part, final)
    except BaseException:
        con.close()
        _remove(tmp)
        for part in tmp_csvs:
            part.unlink(missing_ok=True)
        raise
    return IngestSummary(warehouse=warehouse, sources=tuple(results))


def refuse_breaches(
    con: duckdb.DuckDBPyConnection, breaches: list[RejectShareBreach], targets: IngestTargets, parts: dict[Path, Path]
) -> None:
    """Stop ingest when sources rejected too large a share of their rows, after writing their rejects.

    The rejects of each source over its limit are written to ``<rejects_dir>/<source>.csv``
    for inspection (each temporary file is recorded in ``parts`` until moved into place);
    the warehouse is left as it was. Nothing happens when ``breaches`` is empty.

    Raises
    ------
    IngestError
        Naming every source over its ``max_reject_share`` (:func:`outcomes.ingest.reject_share.refusal`).
    """
    if not breaches:
        return
    for b in breaches:
        part = targets.rejects_dir / f".{b.source}.csv.{os.getpid()}.tmp"
        parts[part] = targets.rejects_dir / f"{b.source}.csv"
        checks.export_rejects(con, b.source, part)
        os.replace(part, parts[part])
    raise reject_share.refusal(breaches, targets.cfg_label, _label(targets.rejects_dir))


@dataclass(frozen=True)
class IngestTargets:
    """Where an ingest reads and writes: the sources file read, and its folders resolved.

    Parameters
    ----------
    path : Path
        The sources file.
    cfg : SourcesConfig
        Its content.
    cfg_label : str
        The sources file as messages name it.
    warehouse, raw_dir, rejects_dir : Path
        Absolute paths (the warehouse's and rejects' folders exist).
    """

    path: Path
    cfg: SourcesConfig
    cfg_label: str
    warehouse: Path
    raw_dir: Path
    rejects_dir: Path

    @property
    def temporary(self) -> Path:
        """The file this process builds the new warehouse in, next to the warehouse."""
        return self.warehouse.with_name(f".{self.warehouse.name}.{os.getpid()}.tmp")

    @property
    def mappings(self) -> list[Path]:
        """The sources file and the preset files it uses: a warehouse older than one of them is stale."""
        return [self.path, *_preset_files(self.cfg)]


def ingest_targets(
    sources_path: str | Path | None = None,
    *,
    raw_dir: str | Path | None = None,
    warehouse: str | Path | None = None,
    rejects_dir: str | Path | None = None,
) -> IngestTargets:
    """Read the sources file and resolve where to read and write (see :func:`run_ingest`).

    Creates the warehouse's and rejects' folders and removes the temporaries of killed
    ingests (:func:`remove_stale_temporaries`).

    Raises
    ------
    IngestError
        When the sources file is invalid.
    """
    path = Path(sources_path) if sources_path is not None else config.project().params_dir / "sources.yaml"
    try:
        cfg: SourcesConfig = load_sources(path)
    except ParamsError as exc:
        raise IngestError(str(exc), file=str(path), fix=f"edit {path}") from None
    target = config.resolve(warehouse if warehouse is not None else cfg.warehouse)
    rejects = config.resolve(rejects_dir if rejects_dir is not None else cfg.rejects_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    rejects.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target, rejects)
    return IngestTargets(
        path=path,
        cfg=cfg,
        cfg_label=_label(path),
        warehouse=target,
        raw_dir=config.resolve(raw_dir if raw_dir is not None else cfg.raw_dir),
        rejects_dir=rejects,
    )


def replace_warehouse(built: Path, warehouse: Path) -> None:
    """Move a finished warehouse file over ``warehouse`` in one rename, under the warehouse's lock.

    A reader holding the lock (a report run copying the file) finishes first; readers that
    opened the old file keep reading it.

    Parameters
    ----------
    built : Path
        The new DuckDB file, closed and checkpointed, in the same folder as ``warehouse``.
    warehouse : Path
        The warehouse it replaces (it may not exist yet).
    """
    with warehouse_lock.exclusive(warehouse):
        os.replace(built, warehouse)


def ensure_warehouse(
    sources: str | Path, *, raw_dir: str | Path | None = None, warehouse: str | Path | None = None
) -> Path:
    """Return a warehouse holding the sources file's exports, ingesting only when needed.

    The warehouse is (re)built with :func:`run_ingest` when it is missing or stale, and
    left as it is otherwise, so notebooks can call this at their top on every run. It is
    stale when the files its sources match (names and SHA-256 of their bytes) differ from
    its ``_ingest_log``, when a canonical table's columns differ from the data model, or
    when the sources file or a preset it uses is newer than it. A file lock next to the
    warehouse makes concurrent callers (notebooks run in parallel) wait for one ingest
    instead of running several; the ingest itself is atomic.

    Parameters
    ----------
    sources : str or Path
        A source mappings file (``params/real/<name>.yaml``), relative to the project
        root unless absolute.
    raw_dir : str or Path, optional
        Folder the exports are read from, overriding the file's ``raw_dir`` (e.g. a
        committed excerpt instead of the full data).
    warehouse : str or Path, optional
        The warehouse file. Defaults to the file's ``warehouse``; when ``raw_dir``
        overrides the file's folder, a short hash of the resolved folder is added to the
        name (``uci_servicenow-1a2b3c4d.duckdb``) so excerpt and full data never share
        a warehouse. Rejects then go to ``<warehouse stem>-rejects/`` beside it.

    Returns
    -------
    Path
        The warehouse file, absolute.

    Raises
    ------
    IngestError
        When the raw folder or an export does not exist (the message names it and quotes
        the sources file's header comment, which says where the data come from), or
        when ingest fails (the previous warehouse is then left untouched).
    """
    path = config.resolve(sources)
    try:
        cfg: SourcesConfig = load_sources(path)
    except ParamsError as exc:
        raise IngestError(str(exc), file=str(path), fix=f"edit {path}") from None
    # Resolved, so one folder spelled two ways (``a/../b``, symlinks) is one set of files.
    own_raw = config.resolve(cfg.raw_dir).resolve()
    raw = config.resolve(raw_dir).resolve() if raw_dir is not None else own_raw
    rejects: Path | None = None
    if warehouse is not None:
        target = config.resolve(warehouse)
        rejects = target.with_name(f"{target.stem}-rejects")
    else:
        target = config.resolve(cfg.warehouse)
        if raw != own_raw:
            tag = hashlib.sha256(str(raw).encode("utf-8")).hexdigest()[:8]
            target = target.with_name(f"{target.stem}-{tag}{target.suffix}")
            rejects = target.with_name(f"{target.stem}-rejects")
    expected = _expected_log(cfg, raw, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with warehouse_lock.exclusive(target):
        if not _is_current(target, expected, [path, *_preset_files(cfg)]):
            run_ingest(path, raw_dir=raw, warehouse=target, rejects_dir=rejects)
    return target


def _about(path: Path) -> str:
    """The comment lines heading a parameters file, joined (where its data come from)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(t for t in lines if t)


def _expected_log(cfg: SourcesConfig, raw_dir: Path, path: Path) -> set[tuple[str, str, str]]:
    """(source, file, sha256) of every file the sources match; raise when a folder or file is missing."""
    label = _label(path)
    about = _about(path)
    where = (
        f" About this data ({label}): {about}"
        if about
        else f" The comments of {label} should say where the data come from."
    )
    if not raw_dir.is_dir():
        raise IngestError(
            f"the raw data folder {raw_dir} does not exist (raw_dir of {label}); put the exports there, or pass "
            f"raw_dir= to read them from elsewhere.{where}",
            file=str(raw_dir),
            expected="an existing folder",
            found="no folder",
            fix=f"download the data into {raw_dir}",
        )
    out = set()
    for name, src in cfg.sources.items():
        pattern, files = readers.matching_files(src, raw_dir)
        if not files:
            raise IngestError(
                f"no file matches {pattern} (source '{name}' of {label}; relative paths start at raw_dir "
                f"{raw_dir}); put the export there or fix sources.{name}.path.{where}",
                file=str(pattern),
                expected="an existing file",
                found="no file",
                fix=f"download the data into {raw_dir}",
            )
        out.update((name, str(f), _sha256(f)) for f in files)
    return out


def _preset_files(cfg: SourcesConfig) -> list[Path]:
    """The preset files the sources use."""
    return sorted({PRESETS_DIR / f"{name}.yaml" for s in cfg.sources.values() for name in s.preset_names})


def _is_current(warehouse: Path, expected: set[tuple[str, str, str]], mappings: list[Path]) -> bool:
    """Whether ``warehouse`` was ingested from exactly these files, with today's data model and mappings."""
    logged = ingested_files(warehouse, mappings)
    return logged is not None and {(source, file, sha) for source, file, sha, *_ in logged} == expected


#: A line of ``_ingest_log`` as :func:`ingested_files` returns it: source, file, sha256, rows read, loaded,
#: rejected, the file's size and modification time (``st_mtime_ns``) when it was read.
LoggedFile = tuple[str, str, str, int, int, int, int, int]


def stale_reason(warehouse: Path, mappings: list[Path]) -> str | None:
    """Why ``warehouse`` cannot be kept and refreshed, or None when it was built with today's data model and mappings.

    Parameters
    ----------
    warehouse : Path
        The warehouse file.
    mappings : list of Path
        The sources file and the presets it uses (:attr:`IngestTargets.mappings`).

    Returns
    -------
    str or None
        In words: no warehouse, a mapping file newer than it, an unreadable file or
        log, or a canonical table whose columns (names, order or types) differ from the
        data model. A refresh relies on this: it does not validate the tables it only
        appends to, whose columns an append cannot change.
    """
    if not warehouse.is_file():
        return f"there is no warehouse at {warehouse} yet"
    built = warehouse.stat().st_mtime
    newer = [m for m in mappings if m.is_file() and m.stat().st_mtime > built]
    if newer:
        return f"{_label(newer[0])} changed after the warehouse was built, so every source may map differently"
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        return f"the warehouse {warehouse} cannot be opened ({exc})"
    try:
        con.execute(f"SELECT source, file, sha256, size, mtime_ns FROM {LOG_TABLE} LIMIT 0")
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY table_name, ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append((column, kind))
    except duckdb.Error as exc:
        return f"the warehouse {warehouse} has no readable {LOG_TABLE} ({exc})"
    finally:
        con.close()
    changed = [t.name for t in TABLES.values() if columns.get(t.name) != [(c.name, SQL_TYPES[c.type]) for c in t.columns]]
    if changed:
        return f"table {changed[0]} was built with other columns or types than today's data model"
    return None


def ingested_files(warehouse: Path, mappings: list[Path]) -> list[LoggedFile] | None:
    """The files ``warehouse`` was ingested from, in the order read; None when it is stale (:func:`stale_reason`)."""
    if stale_reason(warehouse, mappings) is not None:
        return None
    return logged_files(warehouse)


def logged_files(warehouse: Path) -> list[LoggedFile]:
    """The lines of a warehouse file's ``_ingest_log``, in the order they were written (:func:`read_log`)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return read_log(con)
    finally:
        con.close()


def read_log(con: duckdb.DuckDBPyConnection) -> list[LoggedFile]:
    """The lines of an open warehouse's ``_ingest_log``, in the order they were written."""
    return [
        tuple(r)
        for r in con.execute(
            f"SELECT source, file, sha256, rows_read, rows_loaded, rows_rejected, size, mtime_ns FROM {LOG_TABLE} "
            "ORDER BY rowid"
        ).fetchall()
    ]


def _temporaries(warehouse: Path, rejects_dir: Path) -> list[tuple[Path, int]]:
    """The temporary files an ingest writes (warehouse, write-ahead log, transcoded CSV, rejects), with their pid."""
    patterns = [
        (warehouse.parent, rf"\.{re.escape(warehouse.name)}\.(\d+)\.tmp(\.wal)?"),
        (warehouse.parent, r"\..+\.(\d+)\.utf8\.csv"),
        (rejects_dir, r"\..+\.csv\.(\d+)\.tmp"),
    ]
    found = []
    for folder, pattern in patterns:
        for path in folder.glob(".*") if folder.is_dir() else []:
            match = re.fullmatch(pattern, path.name)
            if match:
                found.append((path, int(match.group(1))))
    return found


def _running(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(warehouse: Path, rejects_dir: Path) -> list[Path]:
    """Delete the temporary files of ingests that were killed (their process no longer runs).

    An ingest killed with ``kill -9`` cannot clean up after itself; the next one does,
    leaving alone the files of an ingest still running.

    Parameters
    ----------
    warehouse : Path
        The warehouse file; its temporaries lie next to it.
    rejects_dir : Path
        The rejects folder.

    Returns
    -------
    list of Path
        The files deleted.
    """
    stale = [path for path, pid in _temporaries(warehouse, rejects_dir) if not _running(pid)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _remove(db: Path) -> None:
    """Delete a DuckDB file and its write-ahead log, if present."""
    db.unlink(missing_ok=True)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)


__all__ = [
    "IngestSummary",
    "IngestTargets",
    "LoggedFile",
    "MappedSource",
    "SourceResult",
    "configure_connection",
    "ensure_warehouse",
    "ingest_targets",
    "ingested_files",
    "log_files",
    "logged_files",
    "map_source",
    "prepare_connection",
    "read_log",
    "refuse_breaches",
    "remove_stale_temporaries",
    "run_ingest",
    "stale_reason",
]
