"""Ingest: load every export listed in ``params/sources.yaml`` into the warehouse.

How a source is loaded
----------------------
DuckDB does the work, so an export of 10 million tickets never sits in pandas memory:

1. **Read.** The file is read with every column as text (``read_csv(all_varchar=true)``,
   ``read_parquet`` cast to text, or Excel streamed through openpyxl in batches; the
   network is closed, so DuckDB's Excel extension is not used). Each row keeps its
   ``row_number``, the 1-based data row in the file (the header is not counted).
2. **Map.** Values are trimmed; empty strings and the source's ``null_values`` become
   empty. Each canonical column takes, in this order of precedence, a ``derive``
   expression, a ``constants`` value, the export column named under ``columns``, or the
   export column of the same name; an optional column found nowhere is left empty.
   ``values`` maps are applied, then the text is parsed into the canonical type
   (``try_strptime``/``TRY_CAST``), dates by their ``dates`` format.
3. **Dedupe** (event logs only): one version per key, as ``dedupe`` says; columns
   under ``dedupe.aggregate`` take an aggregate over all the key's versions instead
   (the first event's time, the number of team changes...).
4. **Check.** Every rule a row breaks becomes a line of ``_rejects``: an unparseable
   value, an empty required value or key, a value outside the column's allowed values
   (after value maps), a number below ``min`` or above ``max``, a broken row rule of the
   data model (``resolved_at >= opened_at``...), and a duplicate key (the first row, in
   file order, is kept; the later ones are rejected).
5. **Load.** Rows that broke no rule are inserted into the canonical table, typed.

Then every loaded table is validated against its pandera schema
(:mod:`outcomes.warehouse.schemas`) inside DuckDB, as the final enforcement of the data model.

What stops ingest
-----------------
A file that cannot be used at all raises one :class:`~outcomes.errors.IngestError`
naming the file, the column, what was expected, what was found and what to do: no file
matches the path, an empty file, a file that parses to one column (wrong delimiter), a
required column missing, text that is not in the declared encoding, a malformed CSV, an
unknown preset, sheet or time zone, a mapping key that is not a canonical column, a
``derive`` expression that cannot be evaluated.

Atomic and idempotent
---------------------
The whole warehouse is built in a temporary file next to the target and moved over it
with :func:`os.replace` only when every source loaded, so a failed ingest leaves the
previous warehouse byte-identical. Each run rebuilds every table from the exports, so
running twice gives the same tables. The rejects of each source are also written to
``<rejects_dir>/<source>.csv`` (a header only when nothing was rejected).
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

import codecs
import csv
import difflib
import glob
import gzip
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from outcomes import config
from outcomes.warehouse.datamodel import TABLES, Column, Table
from outcomes.errors import IngestError, ParamsError
from outcomes.ingest.sources import Dedupe, Source, SourcesConfig, load_sources
from outcomes.warehouse.store import LOG_TABLE, REJECTS_TABLE, SQL_TYPES, create_tables, quote, store_fingerprints

if TYPE_CHECKING:
    from rich.table import Table as RichTable

_EXCEL_BATCH_ROWS = 50_000
_CHUNK_BYTES = 1 << 20
_DELIMITER_CANDIDATES = (",", ";", "\t", "|")
_BOOL_TRUE = ("true", "t", "yes", "y", "1")
_BOOL_FALSE = ("false", "f", "no", "n", "0")
# A value ending in a UTC offset after a time of day: "10:00+02:00", "10:00:00Z", "10:00:00.5 -0500".
_OFFSET_RE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?)$"
_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "a boolean (true/false, yes/no, 1/0)",
    "date": "a date",
    "timestamp": "a timestamp",
    "month": "a month",
}


def _lit(value: str) -> str:
    """Return ``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


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
        from rich.table import Table as RichTable

        out = RichTable(title=f"Ingest into {self.warehouse}")
        for name in ("source", "table", "rows read", "superseded", "rejected", "loaded"):
            out.add_column(name, justify="left" if name in ("source", "table") else "right")
        for s in self.sources:
            out.add_row(
                s.source, s.table, f"{s.rows_read:,}", f"{s.rows_superseded:,}", f"{s.rows_rejected:,}", f"{s.rows_loaded:,}"
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


def _close_match(name: str, candidates: list[str]) -> str:
    """Return " (did you mean 'x'?)" for a candidate spelt almost like ``name``, or an empty string."""

    def norm(text: str) -> str:
        return re.sub(r"[^0-9a-z]", "", text.lower())

    same = [c for c in candidates if norm(c) == norm(name)]
    hint = same or difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def _sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _matching_files(source: Source, raw_dir: Path) -> tuple[Path, list[Path]]:
    """The source's path or glob (relative paths under ``raw_dir``) and the files it matches, in name order."""
    pattern = Path(source.path)
    pattern = pattern if pattern.is_absolute() else raw_dir / pattern
    if glob.has_magic(str(pattern)):
        return pattern, sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    return pattern, [pattern] if pattern.is_file() else []


def _open_binary(path: Path):
    """Open a file for reading bytes, decompressing ``.gz``."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _column_names(header: list[str]) -> list[str]:
    """Usable column names: trimmed, an empty name becomes ``columnN``, a repeat ``name_N``."""
    names: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip() or f"column{i}"
        base, n = name, 0
        while name in names or name == "_row":
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _cell_text(value: object) -> str | None:
    """Render an Excel cell as the text a CSV export would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class _SourceLoader:
    """Load one source into an open warehouse connection (see the module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, source: Source, cfg_label: str, raw_dir: Path):
        self.con = con
        self.name = name
        self.source = source
        self.table: Table = TABLES[source.table]
        self.cfg_label = cfg_label
        self.raw_dir = raw_dir
        self.where = f"sources.{name}"

    # ------------------------------------------------------------------ checks of the mapping
    def check_mapping(self) -> None:
        """Check that the mapping names canonical columns, known formats and a known time zone."""
        s = self.source
        names = self.table.column_names
        sections = {
            "columns": s.columns,
            "constants": s.constants,
            "derive": s.derive,
            "dates": s.dates,
            "values": s.values,
        }
        for section, mapping in sections.items():
            for key in mapping:
                if key not in names:
                    raise IngestError(
                        f"{self.cfg_label}: {self.where}.{section} names '{key}', which is not a column of table "
                        f"'{self.table.name}'{_close_match(key, names)}; columns are {names}; the keys under "
                        f"{section} are canonical column names",
                        file=self.cfg_label,
                        column=key,
                        expected=f"a column of {self.table.name}",
                        found=key,
                        fix=f"rename the key under {self.where}.{section}",
                    )
        for key, fmt in s.dates.items():
            if fmt != "excel" and "%" not in fmt:
                raise IngestError(
                    f"{self.cfg_label}: {self.where}.dates.{key} is '{fmt}', which is neither a strftime format "
                    "(such as '%d/%m/%Y %H:%M') nor 'excel'; set one of those",
                    file=self.cfg_label,
                    column=key,
                    expected="a strftime format or 'excel'",
                    found=fmt,
                    fix=f"edit {self.where}.dates.{key}",
                )
        if s.dedupe is not None:
            for key in [*s.dedupe.key, *([s.dedupe.order_by] if s.dedupe.order_by else [])]:
                if key not in names:
                    raise IngestError(
                        f"{self.cfg_label}: {self.where}.dedupe names '{key}', which is not a column of table "
                        f"'{self.table.name}'{_close_match(key, names)}; columns are {names}",
                        file=self.cfg_label,
                        column=key,
                        expected=f"a column of {self.table.name}",
                        found=key,
                        fix=f"edit {self.where}.dedupe",
                    )
            for column in s.dedupe.aggregate:
                self._check_aggregation(s.dedupe, column)
        try:
            self.con.execute(f"SELECT timezone({_lit(s.timezone)}, TIMESTAMP '2000-01-01')").fetchall()
        except duckdb.Error:
            raise IngestError(
                f"{self.cfg_label}: {self.where}.timezone is '{s.timezone}', which is not a known time zone; "
                "use an IANA name such as UTC or Europe/Amsterdam",
                file=self.cfg_label,
                expected="an IANA time zone",
                found=s.timezone,
                fix=f"edit {self.where}.timezone",
            ) from None

    def _check_aggregation(self, d: Dedupe, column: str) -> None:
        """Check one ``dedupe.aggregate`` entry: canonical columns, and an aggregation that suits their types."""
        names = self.table.column_names
        func, arg = d.aggregation(column)
        spec = f"{self.where}.dedupe.aggregate.{column}"
        for name in (column, arg):
            if name not in names:
                raise IngestError(
                    f"{self.cfg_label}: {spec} names '{name}', which is not a column of table "
                    f"'{self.table.name}'{_close_match(name, names)}; columns are {names}",
                    file=self.cfg_label,
                    column=name,
                    expected=f"a column of {self.table.name}",
                    found=name,
                    fix=f"edit {spec}",
                )
        out, src = self.table.column(column).type, self.table.column(arg).type
        numeric = ("int", "float")
        needs = {
            "any": (src == "bool" and out == "bool", "a boolean column into a boolean column"),
            "all": (src == "bool" and out == "bool", "a boolean column into a boolean column"),
            "sum": (src in numeric and out in numeric, "a numeric column into a numeric column"),
            "count_distinct": (out in numeric, "any column into a numeric column"),
            "changes": (out in numeric, "any column into a numeric column"),
        }
        fits, what = needs.get(func, (src == out, "a column into a column of the same type"))
        if not fits:
            raise IngestError(
                f"{self.cfg_label}: {spec} is '{d.aggregate[column]}', which reads {arg} ({src}) into "
                f"{column} ({out}); {func} aggregates {what}",
                file=self.cfg_label,
                column=column,
                expected=f"{func} of {what}",
                found=f"{arg} ({src}) into {column} ({out})",
                fix=f"edit {spec}",
            )

    # ------------------------------------------------------------------ files
    def files(self) -> list[Path]:
        """The files the source's path or glob matches, in name order."""
        pattern, found = _matching_files(self.source, self.raw_dir)
        if not found:
            raise IngestError(
                f"no file matches {pattern} (source '{self.name}'); check {self.where}.path in {self.cfg_label} "
                f"(relative paths start at raw_dir {self.raw_dir}), or run the export first",
                file=str(pattern),
                expected="an existing file",
                found="no file",
                fix=f"edit {self.where}.path",
            )
        return found

    # ------------------------------------------------------------------ reading into _raw (text + _row)
    def read(self, path: Path, scratch: Path) -> None:
        """Read one file into the temporary table ``_raw`` (text columns plus ``_row``)."""
        fmt = self.source.file_format
        self.drop_raw()
        if fmt == "csv":
            self._read_csv(path, scratch)
            self.con.execute("CREATE TEMP VIEW _raw AS SELECT rowid + 1 AS _row, * FROM _raw0")
            return
        if fmt == "parquet":
            self._read_parquet(path)
        else:
            self._read_excel(path)
        self.con.execute("CREATE TEMP VIEW _raw AS SELECT * FROM _raw0")

    def drop_raw(self) -> None:
        """Drop the previous file's ``_raw`` view and its table."""
        self.con.execute("DROP VIEW IF EXISTS _raw")
        self.con.execute("DROP TABLE IF EXISTS _raw0")

    def _read_parquet(self, path: Path) -> None:
        try:
            self.con.execute(
                "CREATE TEMP TABLE _raw0 AS SELECT file_row_number + 1 AS _row, "
                "CAST(COLUMNS(* EXCLUDE (file_row_number)) AS VARCHAR) "
                f"FROM read_parquet({_lit(str(path))}, file_row_number=true)"
            )
        except duckdb.Error as exc:
            raise IngestError(
                f"{path.name} cannot be read as Parquet ({str(exc).splitlines()[0]}); check the file, or set "
                f"{self.where}.format in {self.cfg_label}",
                file=path.name,
                expected="a Parquet file",
                found=str(exc).splitlines()[0],
                fix=f"check {self.where}.format",
            ) from None

    def _read_csv(self, path: Path, scratch: Path) -> None:
        with _open_binary(path) as fh:
            head = fh.read(1 << 16)
        if not head.removeprefix(codecs.BOM_UTF8).strip():
            raise IngestError(
                f"{path.name} is empty: no header and no rows; export it again with a header row "
                f"(the columns of table '{self.table.name}'), or remove {self.where} from {self.cfg_label}",
                file=path.name,
                expected="a header row",
                found="an empty file",
                fix="export the file again",
            )
        try:
            encoding = codecs.lookup(self.source.encoding).name
        except LookupError:
            raise IngestError(
                f"{self.cfg_label}: {self.where}.encoding is '{self.source.encoding}', which is not a known text "
                "encoding; use utf-8, latin-1, cp1252 or utf-16",
                file=self.cfg_label,
                expected="a text encoding",
                found=self.source.encoding,
                fix=f"edit {self.where}.encoding",
            ) from None
        target = path if encoding == "utf-8" else self._transcode(path, encoding, scratch)
        delim = self.source.delimiter or ","
        try:
            names = self._csv_header(target, delim)
            spec = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
            self.con.execute(
                f"CREATE TEMP TABLE _raw0 AS SELECT * FROM read_csv({_lit(str(target))}, auto_detect=false, "
                f"header=true, delim={_lit(delim)}, quote='\"', escape='\"', columns={spec}, encoding='utf-8')"
            )
        except duckdb.Error as exc:
            if "unicode" in str(exc).lower():
                raise self._encoding_error(path) from None
            text = str(exc)
            line = re.search(r"CSV Error on Line: (\d+)", text)
            what = re.search(r"Expected Number of Columns: \d+ Found: \d+", text)
            detail = "; ".join(
                [f"line {line.group(1)}"] * bool(line) + [what.group(0)] * bool(what)
            ) or text.splitlines()[0]
            raise IngestError(
                f"{path.name} cannot be parsed as CSV with delimiter {delim!r}: {detail}; check the delimiter "
                f"({self.where}.delimiter in {self.cfg_label}) and the quoting of that line",
                file=path.name,
                expected=f"CSV with delimiter {delim!r}",
                found=detail,
                fix=f"set {self.where}.delimiter or fix the file",
            ) from None
        finally:
            if target != path:
                target.unlink(missing_ok=True)

    @staticmethod
    def _csv_header(path: Path, delim: str) -> list[str]:
        """Column names from the header line (a UTF-8 BOM dropped).

        The header is read here rather than sniffed by DuckDB, so that a malformed line
        further down cannot be mistaken for the header.
        """
        with _open_binary(path) as fh:
            head = fh.read(1 << 16).decode("utf-8-sig", errors="replace")
        return _column_names(next(csv.reader(io.StringIO(head), delimiter=delim, quotechar='"'), []))

    def _encoding_error(self, path: Path) -> IngestError:
        """Locate the first byte that is not UTF-8 and explain the ``encoding`` option."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        line, found = 1, ""
        with _open_binary(path) as fh:
            for raw in fh:
                try:
                    decoder.decode(raw)
                except UnicodeDecodeError as exc:
                    found = f"byte 0x{raw[exc.start]:02x} on line {line}"
                    break
                line += 1
        return IngestError(
            f"{path.name} is not valid {self.source.encoding} text ({found} cannot be decoded); set "
            f"{self.where}.encoding in {self.cfg_label} to the file's encoding (e.g. latin-1 or cp1252 for "
            "Western European exports from Excel)",
            file=path.name,
            expected=f"{self.source.encoding} text",
            found=found,
            fix=f"set {self.where}.encoding",
        )

    def _transcode(self, path: Path, encoding: str, scratch: Path) -> Path:
        """Copy a text file to UTF-8 in a streaming pass and return the copy's path."""
        out = scratch / f".{self.name}.{os.getpid()}.utf8.csv"
        decoder = codecs.getincrementaldecoder(encoding)()
        offset = 0
        try:
            with _open_binary(path) as src, out.open("w", encoding="utf-8", newline="") as dst:
                for chunk in iter(lambda: src.read(_CHUNK_BYTES), b""):
                    dst.write(decoder.decode(chunk))
                    offset += len(chunk)
                dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            out.unlink(missing_ok=True)
            raise IngestError(
                f"{path.name} is not valid {self.source.encoding} text (byte {offset + exc.start} cannot be decoded); "
                f"set {self.where}.encoding in {self.cfg_label} to the file's encoding",
                file=path.name,
                expected=f"{self.source.encoding} text",
                found=f"undecodable byte at offset {offset + exc.start}",
                fix=f"set {self.where}.encoding",
            ) from None
        return out

    def _read_excel(self, path: Path) -> None:
        import openpyxl
        import pyarrow as pa

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several unrelated types for a bad file
            raise IngestError(
                f"{path.name} cannot be opened as an Excel workbook ({type(exc).__name__}: {exc}); save it as .xlsx, "
                f"or set {self.where}.format in {self.cfg_label}",
                file=path.name,
                expected="an .xlsx workbook",
                found=type(exc).__name__,
                fix=f"check {self.where}.format",
            ) from None
        try:
            sheet_name = self.source.sheet or book.sheetnames[0]
            if sheet_name not in book.sheetnames:
                raise IngestError(
                    f"sheet '{sheet_name}' not found in {path.name}; sheets are {book.sheetnames}; set "
                    f"{self.where}.sheet in {self.cfg_label}",
                    file=path.name,
                    expected=f"sheet '{sheet_name}'",
                    found=str(book.sheetnames),
                    fix=f"set {self.where}.sheet",
                )
            rows = book[sheet_name].iter_rows(values_only=True)
            header = next(rows, None)
            if header is None or all(v is None for v in header):
                raise IngestError(
                    f"{path.name} is empty: sheet '{sheet_name}' has no header row; export it again with a header "
                    f"row (the columns of table '{self.table.name}')",
                    file=path.name,
                    expected="a header row",
                    found="an empty sheet",
                    fix="export the file again",
                )
            names = _column_names(["" if v is None else str(v) for v in header])
            cols = ", ".join(f"{quote(n)} VARCHAR" for n in names)
            self.con.execute(f"CREATE TEMP TABLE _raw0 (_row BIGINT, {cols})")
            for batch in self._excel_batches(rows, len(names)):
                texts = {f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(batch[1:])}
                arrow = pa.table({"_row": pa.array(batch[0], pa.int64()), **texts})
                self.con.register("_excel_batch", arrow)
                self.con.execute("INSERT INTO _raw0 SELECT * FROM _excel_batch")
                self.con.unregister("_excel_batch")
        finally:
            book.close()

    @staticmethod
    def _excel_batches(rows: Iterator[tuple], width: int) -> Iterator[list[list]]:
        """Yield column-wise batches ``[row_numbers, col0, col1, ...]``; all-empty rows are skipped."""
        batch: list[list] = [[] for _ in range(width + 1)]
        for number, row in enumerate(rows, start=1):
            texts = [_cell_text(v) for v in row[:width]]
            if all(t is None for t in texts):
                continue
            texts += [None] * (width - len(texts))
            batch[0].append(number)
            for i, text in enumerate(texts, start=1):
                batch[i].append(text)
            if len(batch[0]) >= _EXCEL_BATCH_ROWS:
                yield batch
                batch = [[] for _ in range(width + 1)]
        if batch[0]:
            yield batch

    # ------------------------------------------------------------------ mapping into _typed
    def export_columns(self) -> list[str]:
        """The export's column names (from ``_raw``)."""
        return [r[0] for r in self.con.execute("DESCRIBE _raw").fetchall() if r[0] != "_row"]

    def _needed_export_columns(self) -> dict[str, str]:
        """Canonical column -> the export column it is read from (columns not derived or constant)."""
        s = self.source
        out = {}
        for col in self.table.columns:
            if col.name in s.derive or col.name in s.constants:
                continue
            out[col.name] = s.columns.get(col.name, col.name)
        return out

    def check_columns(self, path: Path, export_cols: list[str]) -> None:
        """Raise for a file that parses to one column or lacks a required column."""
        s = self.source
        needed = self._needed_export_columns()
        required_missing = []
        for canonical, export in needed.items():
            col = self.table.column(canonical)
            if export in export_cols:
                continue
            if canonical in s.columns or col.required:
                required_missing.append((canonical, export))
        if not required_missing:
            return
        if len(export_cols) == 1:
            header = export_cols[0]
            seen = [d for d in _DELIMITER_CANDIDATES if d in header and d != (s.delimiter or ",")]
            guess = f"; the header looks {seen[0]!r}-separated: set {self.where}.delimiter: {seen[0]!r}" if seen else ""
            raise IngestError(
                f"{path.name} parses to a single column {header!r} with delimiter {(s.delimiter or ',')!r}{guess} "
                f"in {self.cfg_label}",
                file=path.name,
                expected=f"columns separated by {(s.delimiter or ',')!r}",
                found="one column",
                fix=f"set {self.where}.delimiter",
            )
        canonical, export = required_missing[0]
        others = [e for _, e in required_missing[1:]]
        also = f" (also missing: {others})" if others else ""
        hint = _close_match(export, export_cols)
        if canonical in s.columns:
            mapped = f" (mapped to {canonical})" if export != canonical else ""
            what = f"column '{export}'{mapped} not found in {path.name}{hint}{also}; columns are {export_cols}"
            fix = f"fix {self.where}.columns.{canonical} in {self.cfg_label}"
            if not self.table.column(canonical).required:
                fix += f", or set {self.where}.constants.{canonical}: null to leave this optional column empty"
        else:
            what = f"column '{export}' not found in {path.name}{hint}{also}; columns are {export_cols}"
            fix = f"map it in {self.cfg_label} under {self.where}.columns, or give it under {self.where}.constants"
        raise IngestError(
            f"{what}; {fix}",
            file=path.name,
            column=export,
            expected=f"a column for {self.table.name}.{canonical}",
            found=str(export_cols),
            fix=fix,
        )

    def _text_expr(self, col: Column, export_cols: list[str], typed_refs: set[str]) -> str:
        """SQL text of one canonical column, before value maps."""
        s = self.source
        if col.name in s.derive:
            return f"CAST(({s.derive[col.name]}) AS VARCHAR)"
        if col.name in s.constants:
            value = s.constants[col.name]
            if value is None:
                return "CAST(NULL AS VARCHAR)"
            return _lit(("true" if value else "false") if isinstance(value, bool) else str(value))
        export = s.columns.get(col.name, col.name)
        if export in typed_refs:
            return quote("__text__" + export)
        return quote(export) if export in export_cols else "CAST(NULL AS VARCHAR)"

    def _mapped(self, col: Column) -> str:
        """SQL of the column's text after its value map."""
        src = quote(f"{col.name}__src")
        mapping = self.source.values.get(col.name)
        if not mapping:
            return src
        whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in mapping.items())
        return f"(CASE {src} {whens} ELSE {src} END)"

    def _to_utc(self, naive: str) -> str:
        """SQL turning a naive timestamp in the source's time zone into naive UTC."""
        tz = self.source.timezone
        if tz.upper() in ("UTC", "ETC/UTC", "Z"):
            return naive
        return f"timezone('UTC', timezone({_lit(tz)}, {naive}))"

    def _typed_expr(self, col: Column) -> str:
        """SQL parsing the mapped text into the column's canonical type (NULL when unparseable)."""
        t = self._mapped(col)
        fmt = self.source.dates.get(col.name)
        kind = col.type
        if kind == "string":
            return t
        if kind == "int":
            return f"(CASE WHEN TRY_CAST({t} AS DOUBLE) = TRY_CAST({t} AS BIGINT) THEN TRY_CAST({t} AS BIGINT) END)"
        if kind == "float":
            return f"(CASE WHEN isfinite(TRY_CAST({t} AS DOUBLE)) THEN TRY_CAST({t} AS DOUBLE) END)"
        if kind == "bool":
            trues = ", ".join(_lit(v) for v in _BOOL_TRUE)
            falses = ", ".join(_lit(v) for v in _BOOL_FALSE)
            return f"(CASE WHEN lower({t}) IN ({trues}) THEN TRUE WHEN lower({t}) IN ({falses}) THEN FALSE END)"
        if kind in ("date", "month"):
            if fmt == "excel":
                day = f"CAST(DATE '1899-12-30' + CAST(floor(TRY_CAST({t} AS DOUBLE)) AS INTEGER) AS DATE)"
            elif fmt:
                day = f"CAST(try_strptime({t}, {_lit(fmt)}) AS DATE)"
            elif kind == "month":
                day = f"coalesce(TRY_CAST({t} AS DATE), TRY_CAST({t} || '-01' AS DATE))"
            else:
                day = f"TRY_CAST({t} AS DATE)"
            return f"CAST(date_trunc('month', {day}) AS DATE)" if kind == "month" else day
        # timestamp
        if fmt == "excel":
            naive = (
                f"(TIMESTAMP '1899-12-30' + to_milliseconds(CAST(round(TRY_CAST({t} AS DOUBLE) * 86400000) AS BIGINT)))"
            )
            return self._to_utc(naive)
        if fmt and ("%z" in fmt or "%Z" in fmt):
            return f"timezone('UTC', try_strptime({t}, {_lit(fmt)}))"
        if fmt:
            return self._to_utc(f"try_strptime({t}, {_lit(fmt)})")
        with_offset = f"timezone('UTC', TRY_CAST({t} AS TIMESTAMPTZ))"
        naive = self._to_utc(f"TRY_CAST({t} AS TIMESTAMP)")
        return f"(CASE WHEN regexp_matches({t}, {_lit(_OFFSET_RE)}) THEN {with_offset} ELSE {naive} END)"

    def create_typed(self) -> None:
        """Create the temporary table ``_typed`` that collects the mapped rows of every file."""
        cols = ", ".join(
            f"{quote(c.name + '__src')} VARCHAR, {quote(c.name)} {SQL_TYPES[c.type]}" for c in self.table.columns
        )
        self.con.execute(f"CREATE TEMP TABLE _typed (_fidx INTEGER, _file VARCHAR, _row BIGINT, {cols})")

    def _derive_error(self, path: Path, export_cols: list[str], canonical: str, detail: str) -> IngestError:
        expr = self.source.derive[canonical]
        return IngestError(
            f"{self.cfg_label}: {self.where}.derive.{canonical} = {expr} cannot be evaluated on {path.name}: "
            f"{detail}; columns are {export_cols}; fix the expression (quote export column names as in the export)",
            file=path.name,
            column=canonical,
            expected="an SQL expression over the export's columns",
            found=detail,
            fix=f"edit {self.where}.derive.{canonical}",
        )

    def _derive_refs(self, path: Path, export_cols: list[str]) -> list[str]:
        """The export columns that the ``derive`` expressions read."""
        import sqlglot
        from sqlglot import exp

        refs: list[str] = []
        for canonical, expr in self.source.derive.items():
            try:
                tree = sqlglot.parse_one(expr, read="duckdb")
            except sqlglot.errors.ParseError as exc:
                raise self._derive_error(path, export_cols, canonical, str(exc).splitlines()[0]) from None
            refs += [c.name for c in tree.find_all(exp.Column) if c.name in export_cols and c.name not in refs]
        return refs

    def _derive_types(self, refs: list[str]) -> dict[str, str]:
        """Types of the export columns that ``derive`` expressions read.

        In a derive expression, an export column whose values are all ``true``/``false``
        is a BOOLEAN, all whole numbers a BIGINT, all numbers a DOUBLE, otherwise text
        (empty values do not count), so that ``"reopen_count" > 0`` compares numbers.
        """
        if not refs:
            return {}
        probes = []
        for c in refs:
            q = quote(c)
            probes += [
                f"bool_and({q} IS NULL OR lower({q}) IN ('true', 'false'))",
                f"bool_and({q} IS NULL OR coalesce(TRY_CAST({q} AS DOUBLE) = TRY_CAST({q} AS BIGINT), FALSE))",
                f"bool_and({q} IS NULL OR TRY_CAST({q} AS DOUBLE) IS NOT NULL)",
                f"count({q}) > 0",
            ]
        flags = self.con.execute(f"SELECT {', '.join(probes)} FROM _src").fetchall()[0]
        types = {}
        for i, c in enumerate(refs):
            is_bool, is_int, is_num, any_value = flags[4 * i : 4 * i + 4]
            if any_value and (is_bool or is_int or is_num):
                types[c] = "BOOLEAN" if is_bool else "BIGINT" if is_int else "DOUBLE"
        return types

    def stage(self, fidx: int, path: Path, export_cols: list[str]) -> None:
        """Map ``_raw`` (one file) onto the canonical columns and append it to ``_typed``.

        Only the export columns the mapping reads are cleaned and carried along.
        """
        s = self.source
        refs = self._derive_refs(path, export_cols)
        mapped = [e for e in self._needed_export_columns().values() if e in export_cols]
        used = [c for c in export_cols if c in refs or c in mapped]
        nulls = ", ".join(_lit(v.strip()) for v in ["", *s.null_values])
        cleaned = "".join(
            f", CASE WHEN trim({quote(c)}) IN ({nulls}) THEN NULL ELSE trim({quote(c)}) END AS {quote(c)}" for c in used
        )
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW _src AS SELECT _row{cleaned} FROM _raw")
        typed_refs = self._derive_types(refs)
        replace = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in typed_refs.items())
        keep_text = "".join(f", {quote(c)} AS {quote('__text__' + c)}" for c in typed_refs)
        inner = f"SELECT *{f' REPLACE ({replace})' if replace else ''}{keep_text} FROM _src"
        for canonical, expr in s.derive.items():
            try:
                self.con.execute(f"SELECT count(CAST(({expr}) AS VARCHAR)) FROM ({inner})").fetchall()
            except duckdb.Error as exc:
                raise self._derive_error(path, export_cols, canonical, str(exc).splitlines()[0]) from None
        texts = ", ".join(
            f"{self._text_expr(c, export_cols, set(typed_refs))} AS {quote(c.name + '__src')}" for c in self.table.columns
        )
        outer = ", ".join(f"{quote(c.name + '__src')}, {self._typed_expr(c)} AS {quote(c.name)}" for c in self.table.columns)
        self.con.execute(
            f"INSERT INTO _typed SELECT {fidx}, {_lit(path.name)}, _row, {outer} FROM (SELECT _row, {texts} FROM ({inner}))"
        )
        self.con.execute("DROP VIEW _src")

    # ------------------------------------------------------------------ dedupe, rules, load
    def dedupe(self) -> None:
        """Create ``_kept``: one version per key when the source asks for it, else every row."""
        d = self.source.dedupe
        if d is None:
            self.con.execute("ALTER TABLE _typed RENAME TO _kept")
            return
        last = d.keep == "last"
        part = ", ".join(quote(k) for k in d.key)
        order = f"{quote(d.order_by)} {'DESC' if last else 'ASC'} NULLS LAST, " if d.order_by else ""
        order += "_fidx DESC, _row DESC" if last else "_fidx, _row"
        null_key = " OR ".join(f"{quote(k)} IS NULL" for k in d.key)
        kept = f"SELECT * FROM _typed QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {order}) = 1 OR {null_key}"
        if d.aggregate:
            replace = ", ".join(
                f"CASE WHEN a._grouped THEN a.{quote(c)} ELSE k.{quote(c)} END AS {quote(c)}"
                for col in d.aggregate
                for c in (col, col + "__src")
            )
            join = " AND ".join(f"k.{quote(k)} = a.{quote(k)}" for k in d.key)
            kept = f"SELECT k.* REPLACE ({replace}) FROM ({kept}) k LEFT JOIN ({self._aggregates(d, null_key)}) a ON {join}"
        self.con.execute(f"CREATE TEMP TABLE _kept AS {kept}")
        self.con.execute("DROP TABLE _typed")

    def _aggregates(self, d: Dedupe, null_key: str) -> str:
        """SQL of one row per key with the ``dedupe.aggregate`` columns (value and text), over every version.

        A version whose value of the aggregated column cannot be parsed makes the
        record's value empty and its text that value, so the record is rejected as
        unparseable instead of aggregating over the rest.
        """
        part = ", ".join(quote(k) for k in d.key)
        asc, desc = "_fidx, _row", "_fidx DESC, _row DESC"
        if d.order_by:
            asc, desc = f"{quote(d.order_by)} ASC NULLS LAST, {asc}", f"{quote(d.order_by)} DESC NULLS LAST, {desc}"
        steps, outs = [], []
        for i, column in enumerate(d.aggregate):
            func, arg = d.aggregation(column)
            a, a_src = quote(arg), quote(arg + "__src")
            if func == "changes":
                steps.append(f"{a} <> lag({a} IGNORE NULLS) OVER (PARTITION BY {part} ORDER BY {asc}) AS _changed{i}")
            value = {
                "min": f"min({a})",
                "max": f"max({a})",
                "sum": f"sum({a})",
                "any": f"bool_or({a})",
                "all": f"bool_and({a})",
                "count_distinct": f"count(DISTINCT {a})",
                "changes": f"count(*) FILTER (WHERE _changed{i})",
                "first": f"first({a} ORDER BY {asc}) FILTER (WHERE {a} IS NOT NULL)",
                "last": f"first({a} ORDER BY {desc}) FILTER (WHERE {a} IS NOT NULL)",
            }[func]
            bad = f"first({a_src} ORDER BY {asc}) FILTER (WHERE {a_src} IS NOT NULL AND {a} IS NULL)"
            sql_type = SQL_TYPES[self.table.column(column).type]
            outs += [
                f"CASE WHEN {bad} IS NULL AND count({a}) > 0 THEN CAST({value} AS {sql_type}) END AS {quote(column)}",
                f"coalesce({bad}, CAST(CASE WHEN count({a}) > 0 THEN {value} END AS VARCHAR)) AS {quote(column + '__src')}",
            ]
        versions = f"SELECT *{''.join(', ' + s for s in steps)} FROM _typed WHERE NOT ({null_key})"
        return f"SELECT {part}, TRUE AS _grouped, {', '.join(outs)} FROM ({versions}) GROUP BY {part}"

    def _reject_select(self, where: str, column: str, value: str, rule: str, message: str, ord_: int) -> str:
        """One SELECT of reject lines: rows of ``_kept`` matching ``where``."""
        return (
            f"SELECT _fidx, _row, {ord_} AS _ord, {_lit(column)} AS col, {value} AS value, {_lit(rule)} AS rule, "
            f"{message} AS message FROM _kept WHERE {where}"
        )

    def _row_prefix(self) -> str:
        return "_file || ' row ' || CAST(_row AS VARCHAR) || ': '"

    def _value_checks(self) -> list[str]:
        """SELECTs of the reject lines of the column-level rules and the row rules."""
        t, where = self.table, self.where
        prefix = self._row_prefix()
        selects: list[str] = []
        for i, col in enumerate(t.columns):
            src, val = quote(col.name + "__src"), quote(col.name)
            shown = f"'''' || {src} || ''''"
            if col.type != "string":
                fmt = self.source.dates.get(col.name)
                what = _TYPE_WORDS[col.type]
                if fmt == "excel":
                    what += " as an Excel serial day number"
                    fix = f"correct the value in the export, or change {where}.dates.{col.name}"
                    fix_sql = _lit(fix)
                elif fmt:
                    what += f" in the format {fmt}"
                    fix = f"correct the value in the export, or change the format under {where}.dates.{col.name}"
                    fix_sql = _lit(fix)
                elif col.type in ("date", "timestamp", "month"):
                    what += " in ISO 8601 form (2024-01-31 14:05:00)"
                    fix_excel = f"it looks like an Excel serial date: set {where}.dates.{col.name}: excel"
                    fix_other = (
                        f"set its format under {where}.dates.{col.name} (a strftime format such as "
                        "'%d/%m/%Y %H:%M', or excel for Excel serial day numbers)"
                    )
                    fix_sql = (
                        f"(CASE WHEN TRY_CAST({src} AS DOUBLE) IS NOT NULL THEN {_lit(fix_excel)} "
                        f"ELSE {_lit(fix_other)} END)"
                    )
                else:
                    fix_sql = _lit("correct the value in the export, or map it under " + f"{where}.values.{col.name}")
                message = f"{prefix} || {_lit(col.name + ' ')} || {shown} || {_lit(' is not ' + what + '; ')} || {fix_sql}"
                selects.append(
                    self._reject_select(
                        f"{src} IS NOT NULL AND {val} IS NULL", col.name, src, f"unparseable_{col.type}", message, i * 10
                    )
                )
            if not col.nullable or col.name in t.key:
                if col.name in t.key:
                    fix = (
                        f"{col.name} is empty; it is a key column of {t.name}: fill it in the export, or map another "
                        f"column under {where}.columns.{col.name}"
                    )
                else:
                    fix = (
                        f"{col.name} is empty; it is a required column of {t.name}: fill it in the export, or map it "
                        f"under {where}.columns.{col.name} or {where}.constants.{col.name}"
                    )
                selects.append(
                    self._reject_select(f"{src} IS NULL", col.name, src, "not_null", f"{prefix} || {_lit(fix)}", i * 10 + 1)
                )
            if col.allowed is not None:
                allowed = ", ".join(col.allowed)
                mapped_from = f"(CASE WHEN {val} <> {src} THEN ' (mapped from ' || {shown} || ')' ELSE '' END)"
                message = (
                    f"{prefix} || {_lit(col.name + ' ')} || '''' || {val} || '''' || {mapped_from} || "
                    f"{_lit(f' is not an allowed value; allowed values are {allowed}; add a value map under ')} || "
                    f"{_lit(f'{where}.values.{col.name} in {self.cfg_label} that maps ')} || {shown} || "
                    f"{_lit(' to one of them')}"
                )
                in_list = ", ".join(_lit(v) for v in col.allowed)
                selects.append(
                    self._reject_select(
                        f"{val} IS NOT NULL AND {val} NOT IN ({in_list})",
                        col.name,
                        src,
                        "allowed_values",
                        message,
                        i * 10 + 2,
                    )
                )
            for bound, op, word in ((col.min, "<", "below the minimum"), (col.max, ">", "above the maximum")):
                if bound is None:
                    continue
                limit = int(bound) if float(bound).is_integer() else bound
                rule = "min" if op == "<" else "max"
                message = (
                    f"{prefix} || {_lit(col.name + ' ')} || {shown} || "
                    f"{_lit(f' is {word} {limit}; correct the value in the export')}"
                )
                selects.append(
                    self._reject_select(
                        f"{val} {op} {bound}", col.name, src, rule, message, i * 10 + (3 if op == "<" else 4)
                    )
                )
        for j, rule in enumerate(t.rules):
            involved = [c for c in t.column_names if re.search(rf"\b{re.escape(c)}\b", rule.sql)]
            involved.sort(key=lambda c: re.search(rf"\b{re.escape(c)}\b", rule.sql).start())
            values = " || ', ' || ".join(
                f"{_lit(c + ' ')} || coalesce('''' || {quote(c + '__src')} || '''', 'empty')" for c in involved
            )
            message = (
                f"{prefix} || {_lit(rule.message + ' (')} || {values} || "
                f"{_lit('); correct the row in the export')}"
            )
            first = involved[0]
            selects.append(
                self._reject_select(
                    f"NOT coalesce(({rule.sql}), TRUE)", first, quote(first + "__src"), rule.name, message, 10_000 + j
                )
            )
        return selects

    def check_rows(self, target_has_rows: bool) -> None:
        """Create ``_rej``: one line per rule broken, duplicate keys last."""
        selects = self._value_checks()
        self.con.execute(
            "CREATE TEMP TABLE _rej (_fidx INTEGER, _row BIGINT, _ord INTEGER, col VARCHAR, value VARCHAR, "
            "rule VARCHAR, message VARCHAR)"
        )
        if selects:
            self.con.execute("INSERT INTO _rej " + " UNION ALL ".join(selects))
        key = self.table.key
        if not key:
            return
        part = ", ".join(quote(k) for k in key)
        key_value = " || ', ' || ".join(f"coalesce({quote(k + '__src')}, '')" for k in key)
        key_names = ", ".join(key)
        key_shown = " || ', ' || ".join(f"{_lit(k + ' ')} || '''' || {quote(k + '__src')} || ''''" for k in key)
        fix = f"remove the duplicate from the export, or set {self.where}.dedupe to keep one version per key"
        message = (
            f"{self._row_prefix()} || 'duplicate key ' || {key_shown} || ' (first seen in ' || _first_file || ' row ' || "
            f"CAST(_first_row AS VARCHAR) || ', which is kept); ' || {_lit(fix)}"
        )
        self.con.execute(
            f"INSERT INTO _rej SELECT _fidx, _row, 20000, {_lit(key_names)}, {key_value}, 'duplicate_key', {message} "
            f"FROM (SELECT *, row_number() OVER w AS _n, first_value(_file) OVER w AS _first_file, "
            f"first_value(_row) OVER w AS _first_row FROM _kept k "
            f"WHERE NOT EXISTS (SELECT 1 FROM _rej r WHERE r._fidx = k._fidx AND r._row = k._row) "
            f"WINDOW w AS (PARTITION BY {part} ORDER BY _fidx, _row)) WHERE _n > 1"
        )
        if target_has_rows:
            join = " AND ".join(f"t.{quote(k)} = k.{quote(k)}" for k in key)
            earlier = (
                f"{self._row_prefix()} || 'duplicate key ' || {key_shown} || "
                f"{_lit(f' (already loaded into {self.table.name} from an earlier source); ' + fix)}"
            )
            self.con.execute(
                f"INSERT INTO _rej SELECT _fidx, _row, 20001, {_lit(key_names)}, {key_value}, 'duplicate_key', {earlier} "
                f"FROM _kept k WHERE NOT EXISTS (SELECT 1 FROM _rej r WHERE r._fidx = k._fidx AND r._row = k._row) "
                f"AND EXISTS (SELECT 1 FROM {quote(self.table.name)} t WHERE {join})"
            )

    def load(self) -> None:
        """Insert the rows that broke no rule, in file order; record the rejects."""
        cols = ", ".join(quote(c) for c in self.table.column_names)
        self.con.execute(
            f"INSERT INTO {quote(self.table.name)} ({cols}) SELECT {cols} FROM _kept k "
            "WHERE NOT EXISTS (SELECT 1 FROM _rej r WHERE r._fidx = k._fidx AND r._row = k._row) ORDER BY _fidx, _row"
        )
        self.con.execute(
            f"INSERT INTO {REJECTS_TABLE} SELECT {_lit(self.name)}, {_lit(self.table.name)}, _row, col, value, rule, "
            "message FROM _rej ORDER BY _fidx, _row, _ord"
        )

    def counts(self, nfiles: int) -> tuple[list[int], list[int]]:
        """Loaded and rejected rows per file."""
        loaded = dict(
            self.con.execute(
                "SELECT _fidx, count(*) FROM _kept k WHERE NOT EXISTS "
                "(SELECT 1 FROM _rej r WHERE r._fidx = k._fidx AND r._row = k._row) GROUP BY _fidx"
            ).fetchall()
        )
        rejected = dict(self.con.execute("SELECT _fidx, count(DISTINCT _row) FROM _rej GROUP BY _fidx").fetchall())
        return [loaded.get(i, 0) for i in range(nfiles)], [rejected.get(i, 0) for i in range(nfiles)]

    def cleanup(self) -> None:
        """Drop the temporary tables of this source."""
        self.drop_raw()
        for name in ("_typed", "_kept", "_rej"):
            self.con.execute(f"DROP TABLE IF EXISTS {name}")


def _ingest_source(
    con: duckdb.DuckDBPyConnection, name: str, source: Source, cfg_label: str, raw_dir: Path, scratch: Path, rejects: Path
) -> SourceResult:
    """Load one source into the open warehouse and return what happened."""
    loader = _SourceLoader(con, name, source, cfg_label, raw_dir)
    loader.check_mapping()
    files = loader.files()
    loader.create_typed()
    rows_read, hashes = [], []
    for fidx, path in enumerate(files):
        loader.read(path, scratch)
        export_cols = loader.export_columns()
        loader.check_columns(path, export_cols)
        rows_read.append(con.execute("SELECT count(*) FROM _raw").fetchall()[0][0])
        loader.stage(fidx, path, export_cols)
        hashes.append(_sha256(path))
    kept_before = con.execute("SELECT count(*) FROM _typed").fetchall()[0][0]
    loader.dedupe()
    kept = con.execute("SELECT count(*) FROM _kept").fetchall()[0][0]
    target_has_rows = con.execute(f"SELECT count(*) FROM {quote(source.table)}").fetchall()[0][0] > 0
    loader.check_rows(target_has_rows)
    loaded, rejected = loader.counts(len(files))
    loader.load()
    for fidx, path in enumerate(files):
        con.execute(
            f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [name, str(path), rows_read[fidx], loaded[fidx], rejected[fidx], hashes[fidx]],
        )
    loader.cleanup()
    return SourceResult(
        source=name,
        table=source.table,
        files=tuple(str(p) for p in files),
        rows_read=sum(rows_read),
        rows_superseded=kept_before - kept,
        rows_rejected=sum(rejected),
        rows_loaded=sum(loaded),
        rejects_file=rejects / f"{name}.csv",
    )


def _validate_tables(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Validate the loaded tables against their pandera schemas, inside DuckDB."""
    import ibis
    from pandera.errors import SchemaErrors

    from outcomes.warehouse.schemas import validate

    backend = ibis.duckdb.from_connection(con)
    for name in names:
        try:
            validate(backend.table(name), name)
        except SchemaErrors as exc:
            problems = "; ".join(str(e).splitlines()[0] for e in exc.schema_errors)
            raise IngestError(
                f"the loaded table '{name}' breaks the data model ({problems}); the rows were checked before loading, "
                "so this is a defect of the ingest engine: report it with the export that triggers it",
                file=name,
                expected="a table matching outcomes.warehouse.datamodel",
                found=problems,
                fix="report the defect",
            ) from None


def run_ingest(
    sources_path: str | Path | None = None,
    *,
    validate: bool = True,
    raw_dir: str | Path | None = None,
    warehouse: str | Path | None = None,
    rejects_dir: str | Path | None = None,
) -> IngestSummary:
    """Load every source of ``params/sources.yaml`` into a fresh warehouse, atomically.

    Parameters
    ----------
    sources_path : str or Path, optional
        The source mappings; defaults to ``params/sources.yaml``. Its ``warehouse``,
        ``raw_dir`` and ``rejects_dir`` (relative to the project root) say where to
        write and read.
    validate : bool
        Validate the loaded tables against their pandera schemas at the end (the
        default). The rows were already checked one by one; the schema check is the
        final enforcement of the data model, with a fixed cost of under a second per
        table.
    raw_dir, warehouse, rejects_dir : str or Path, optional
        Override the file's keys of the same name (relative to the project root).

    Returns
    -------
    IngestSummary
        Rows read, superseded, rejected and loaded per source.

    Raises
    ------
    IngestError
        When an export or the mapping cannot be used at all; the previous warehouse
        is then left untouched.
    """
    path = Path(sources_path) if sources_path is not None else config.project().params_dir / "sources.yaml"
    try:
        cfg: SourcesConfig = load_sources(path)
    except ParamsError as exc:
        raise IngestError(str(exc), file=str(path), fix=f"edit {path}") from None
    cfg_label = _label(path)
    warehouse = config.resolve(warehouse if warehouse is not None else cfg.warehouse)
    raw_dir = config.resolve(raw_dir if raw_dir is not None else cfg.raw_dir)
    rejects_dir = config.resolve(rejects_dir if rejects_dir is not None else cfg.rejects_dir)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    rejects_dir.mkdir(parents=True, exist_ok=True)
    tmp = warehouse.with_name(f".{warehouse.name}.{os.getpid()}.tmp")
    tmp_csvs: dict[Path, Path] = {}
    _remove(tmp)
    from outcomes.warehouse.spark_backend import load_settings

    con = duckdb.connect(str(tmp))
    try:
        for name, value in load_settings().duckdb.config().items():
            con.execute(f"SET {name} = '{value}'")
        con.execute("SET TimeZone = 'UTC'")
        # PRAGMA, not SET: inside a Jupyter kernel without ipywidgets, SET enable_progress_bar raises
        con.execute("PRAGMA disable_progress_bar")
        con.execute("BEGIN TRANSACTION")
        create_tables(con)
        con.execute("COMMIT")
        results = [
            _ingest_source(con, name, src, cfg_label, raw_dir, warehouse.parent, rejects_dir)
            for name, src in cfg.sources.items()
        ]
        if validate:
            _validate_tables(con, sorted({r.table for r in results if r.rows_loaded}))
        for r in results:
            part = rejects_dir / f".{r.source}.csv.{os.getpid()}.tmp"
            con.execute(
                f"COPY (SELECT * FROM {REJECTS_TABLE} WHERE source = {_lit(r.source)} ORDER BY rowid) "
                f"TO {_lit(str(part))} (HEADER, DELIMITER ',')"
            )
            tmp_csvs[part] = r.rejects_file
        store_fingerprints(con)
        con.execute("CHECKPOINT")
        con.close()
        os.replace(tmp, warehouse)
        for part, final in tmp_csvs.items():
            os.replace(part, final)
    except BaseException:
        con.close()
        _remove(tmp)
        for part in tmp_csvs:
            part.unlink(missing_ok=True)
        raise
    return IngestSummary(warehouse=warehouse, sources=tuple(results))


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
    import fcntl

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
    with open(target.with_name(f".{target.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _is_current(target, expected, [path, *_preset_files(cfg)]):
                run_ingest(path, raw_dir=raw, warehouse=target, rejects_dir=rejects)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
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
    where = f" About this data ({label}): {about}" if about else f" The comments of {label} should say where the data come from."
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
        pattern, files = _matching_files(src, raw_dir)
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
    from outcomes.ingest.sources import PRESETS_DIR

    return sorted({PRESETS_DIR / f"{s.preset}.yaml" for s in cfg.sources.values() if s.preset})


def _is_current(warehouse: Path, expected: set[tuple[str, str, str]], mappings: list[Path]) -> bool:
    """Whether ``warehouse`` was ingested from exactly these files, with today's data model and mappings."""
    if not warehouse.is_file():
        return False
    built = warehouse.stat().st_mtime
    if any(m.is_file() and m.stat().st_mtime > built for m in mappings):
        return False
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return False
    try:
        logged = {tuple(r) for r in con.execute(f"SELECT source, file, sha256 FROM {LOG_TABLE}").fetchall()}
        columns: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns ORDER BY table_name, ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append(column)
    except duckdb.Error:
        return False
    finally:
        con.close()
    if logged != expected:
        return False
    return all(columns.get(t.name) == list(t.column_names) for t in TABLES.values())


def _remove(db: Path) -> None:
    """Delete a DuckDB file and its write-ahead log, if present."""
    db.unlink(missing_ok=True)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)


__all__ = ["IngestSummary", "SourceResult", "ensure_warehouse", "run_ingest"]
