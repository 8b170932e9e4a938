"""Reading export files into DuckDB: CSV (any encoding or delimiter, gzip), Parquet and Excel.

Each file a source's path or glob matches is read into the temporary view ``_raw``: every
column as text (``read_csv`` with every column declared VARCHAR, ``read_parquet`` cast to
text, or Excel streamed through openpyxl in batches; the network is closed, so DuckDB's
Excel extension is not used) plus ``_row``, the 1-based data row in the file (the header
is not counted). A Parquet column of a canonical type is also kept as itself
(:data:`NATIVE`), for the mapping to take as it is. A run of UTF-8 CSV files can also be
opened where it lies (:func:`open_csv_run`), without row numbers, to be mapped in one pass.
A file that cannot be read at all raises :class:`~outcomes.errors.IngestError` naming it:
no file matches, an empty file, a header and no rows (unless ``allow_empty``), two columns
of the same name, the header repeated in another column order, text that is not in the
declared encoding, a malformed CSV, an unknown sheet. ``skip_rows`` skips a title above
the header; :func:`header_below` finds the header when the title was not declared.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import io
import os
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import duckdb

from outcomes.errors import IngestError
from outcomes.ingest.context import SourceContext
from outcomes.warehouse.sql import literal as lit
from outcomes.ingest.sources import Source
from outcomes.warehouse.store import quote

_EXCEL_BATCH_ROWS = 50_000
#: Bytes read at a time when hashing or transcoding a file.
CHUNK_BYTES = 1 << 20
#: The longest CSV line read (a cell holding a long description or an attachment).
MAX_LINE_BYTES = 1 << 26
#: The CSV reader's buffer: two of the longest lines. DuckDB's default, 16 times the
#: longest line (1 GB), does not fit the memory limit an ingest chooses
#: (:mod:`outcomes.warehouse.sizing`) and reads no faster.
CSV_BUFFER_BYTES = 2 * MAX_LINE_BYTES


def trimmed(column: str) -> str:
    """SQL of ``column`` (quoted SQL) without surrounding spaces: DuckDB's ``trim``, run only when it has work.

    ``trim`` costs about as much as reading the text from the CSV file, and most values
    have no surrounding space, so they skip it (two prefix tests are ten times cheaper).
    """
    return f"(CASE WHEN starts_with({column}, ' ') OR ends_with({column}, ' ') THEN trim({column}) ELSE {column} END)"


def matching_files(source: Source, raw_dir: Path) -> tuple[Path, list[Path]]:
    """The source's path or glob (relative paths under ``raw_dir``) and the files it matches, in name order."""
    pattern = Path(source.path)
    pattern = pattern if pattern.is_absolute() else raw_dir / pattern
    if glob.has_magic(str(pattern)):
        return pattern, sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    return pattern, [pattern] if pattern.is_file() else []


def _open_binary(path: Path) -> io.BufferedIOBase:
    """Open a file for reading bytes, decompressing ``.gz``."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _column_names(ctx: SourceContext, path: Path, header: list[str]) -> list[str]:
    """Usable column names: trimmed, an empty name becomes ``columnN``; a name given twice is refused.

    DuckDB compares column names without regard to case, so ``SLA`` and ``sla`` are the same name.
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = raw.strip() or f"column{i}"
        if name.lower() in seen:
            first = seen[name.lower()]
            raise IngestError(
                f"{path.name} has two columns named {name!r} (columns {first + 1} and {i + 1} of the header); "
                "only one of them could be read, so rename or remove the other in the export "
                f"(source {ctx.where} in {ctx.cfg_label})",
                file=path.name,
                column=name,
                expected="distinct column names",
                found=f"{name!r} at columns {first + 1} and {i + 1}",
                fix="rename one of the columns in the export",
            )
        seen[name.lower()] = i
        names.append(f"{name}_" if name in ("_fidx", "_row") else name)
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


def source_files(ctx: SourceContext) -> list[Path]:
    """The files the source's path or glob matches, in name order."""
    pattern, found = matching_files(ctx.source, ctx.raw_dir)
    if not found:
        raise IngestError(
            f"no file matches {pattern} (source '{ctx.name}'); check {ctx.where}.path in {ctx.cfg_label} "
            f"(relative paths start at raw_dir {ctx.raw_dir}), or run the export first",
            file=str(pattern),
            expected="an existing file",
            found="no file",
            fix=f"edit {ctx.where}.path",
        )
    return found


def read_export(ctx: SourceContext, fidx: int, path: Path, scratch: Path) -> list[int]:
    """Read one file into the temporary view ``_raw`` (text columns plus ``_fidx`` and ``_row``).

    Parameters
    ----------
    ctx : SourceContext
        The source and the connection.
    fidx : int
        The file's index among the source's files (``_fidx`` of its rows).
    path : Path
        The file.
    scratch : Path
        Folder for the transcoded copy of a CSV file that is not UTF-8.

    Returns
    -------
    list of int
        The file's data rows, as a list of one count (as :func:`read_batch` returns).

    Raises
    ------
    IngestError
        When the file cannot be read, repeats its header in another column order, or
        holds a header and no rows (unless the source sets ``allow_empty``).
    """
    fmt = ctx.source.file_format
    drop_raw(ctx)
    if fmt == "csv":
        _read_csv(ctx, path, scratch)
        ctx.con.execute(f"CREATE TEMP VIEW _raw AS SELECT {fidx} AS _fidx, rowid + 1 AS _row, * FROM _raw0")
    elif fmt == "parquet":
        _read_parquet(ctx, fidx, path)
    else:
        _read_excel(ctx, path)
        ctx.con.execute(f"CREATE TEMP VIEW _raw AS SELECT {fidx} AS _fidx, * FROM _raw0")
    return check_read(ctx, {fidx: path})


#: The most bytes of CSV files :func:`read_batch` reads in one pass as text: one pass over many
#: files costs half as much as a pass per file, and the text of a batch is held at once.
BATCH_BYTES = 256 << 20
#: The column of a batch's text table that names each row's file (dropped from ``_raw``).
_FILE_COLUMN = "_outcomes_file"
#: Prefix of the columns of ``_raw`` holding a Parquet column's own values beside its text
#: (:func:`native_columns`), so that a value already of its canonical type is not parsed back.
NATIVE = "__native__"
#: The Parquet column types kept beside the text: those of the canonical types.
NATIVE_TYPES = ("TIMESTAMP", "DOUBLE", "BIGINT", "INTEGER", "DATE", "BOOLEAN")


def _natives(described: list[tuple]) -> str:
    """SQL select items keeping each Parquet column of a :data:`NATIVE_TYPES` type as itself, named with :data:`NATIVE`."""
    return "".join(
        f", {quote(name)} AS {quote(NATIVE + name)}" for name, kind, *_ in described if kind in NATIVE_TYPES
    )


def batches(ctx: SourceContext, files: list[Path], first: int = 0, limit: float | None = None) -> list[dict[int, Path]]:
    """Split a source's files into runs that :func:`read_batch` can read in one pass.

    Consecutive files of the same format with the same header, UTF-8 CSV or Parquet, up
    to :data:`BATCH_BYTES` together, form a run. A file whose header cannot be read or
    differs, an Excel workbook, or a CSV file in another encoding stands alone and is read
    by :func:`read_export`, whose errors name it.

    Parameters
    ----------
    ctx : SourceContext
        The source and the connection.
    files : list of Path
        The files, in name order.
    first : int
        The index of ``files[0]`` among all the source's files.
    limit : float, optional
        The most bytes of a run; :data:`BATCH_BYTES` when not given. The runs
        :func:`open_csv_run` opens, and Parquet files (read as a view), are not held at
        once, so they need none (``math.inf``).

    Returns
    -------
    list of dict
        Each run as file index -> file, in file order.
    """
    limit = BATCH_BYTES if limit is None else limit
    runs: list[dict[int, Path]] = []
    current: dict[int, Path] = {}
    key: tuple | None = None
    size = 0
    for fidx, path in enumerate(files, start=first):
        this, n = _batch_key(ctx, path), path.stat().st_size
        if current and (this is None or this != key or size + n > limit):
            runs.append(current)
            current, size = {}, 0
        current[fidx], key, size = path, this, size + n
        if this is None:
            runs.append(current)
            current, size = {}, 0
    if current:
        runs.append(current)
    return runs


def readable_together(ctx: SourceContext, path: Path) -> bool:
    """Whether the file can be read in a run with others (:func:`batches`): a UTF-8 CSV or a Parquet file whose header reads."""
    return _batch_key(ctx, path) is not None


def _batch_key(ctx: SourceContext, path: Path) -> tuple[str, tuple[str, ...]] | None:
    """The format and column names that decide which files are read together, or None for a file read alone."""
    fmt = ctx.source.file_format
    try:
        if fmt == "csv" and path.suffix == ".csv" and codecs.lookup(ctx.source.encoding).name == "utf-8":
            with path.open("rb") as fh:
                if not fh.read(1 << 16).removeprefix(codecs.BOM_UTF8).strip():
                    return None
            header = _csv_header(ctx, path, path, ctx.source.delimiter or ",")
            return "csv", tuple(_column_names(ctx, path, header))
        if fmt == "parquet":
            described = ctx.con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()
            return "parquet", tuple(r[0] for r in described)
    except (IngestError, LookupError, duckdb.Error):
        return None
    return None


def read_batch(ctx: SourceContext, files: dict[int, Path]) -> list[int] | None:
    """Read a run of files (from :func:`batches`) in one pass into the temporary view ``_raw``.

    Each row keeps its file's index (``_fidx``) and its data row in that file (``_row``),
    as :func:`read_export` gives them one file at a time.

    Returns
    -------
    list of int or None
        Data rows per file, in file order; None when the files cannot be read together
        (then nothing is left in ``_raw``, and each file is read alone to say why).

    Raises
    ------
    IngestError
        When a file holds a header and no rows (unless ``allow_empty``) or repeats its
        header in another column order.
    """
    drop_raw(ctx)
    paths, fidx = _run_sql(files)
    try:
        if ctx.source.file_format == "parquet":
            _parquet_view(ctx, paths, fidx)
        else:
            first = next(iter(files.values()))
            _read_csv(ctx, first, first.parent, paths=paths, fidx=fidx)
            stored = stored_row_numbers(ctx.con, "_raw0")
            if stored is None:
                drop_raw(ctx)
                return None
            ctx.con.execute(f"CREATE TEMP VIEW _raw AS SELECT _fidx, {stored[0]} AS _row, * EXCLUDE (_fidx) FROM _raw0")
    except (IngestError, duckdb.Error):
        drop_raw(ctx)
        return None
    return check_read(ctx, files)


def _run_sql(files: dict[int, Path]) -> tuple[str, str]:
    """SQL of a run's files (a list) and of a row's ``_fidx`` over the file name column (:data:`_FILE_COLUMN`)."""
    paths = "[" + ", ".join(lit(str(p)) for p in files.values()) + "]"
    fidx = f"CASE {_FILE_COLUMN} " + " ".join(f"WHEN {lit(str(p))} THEN {i}" for i, p in files.items()) + " END"
    return paths, fidx


def stored_row_numbers(con: duckdb.DuckDBPyConnection, table: str, after: int = 0) -> tuple[str, dict[int, int]] | None:
    """Number the rows of ``table`` from ``rowid`` ``after`` on by the order they are stored in, file by file.

    DuckDB stores rows in the order read: each file's rows together, the files in turn.
    This is checked, not assumed.

    Returns
    -------
    tuple or None
        SQL of each row's 1-based row in its file (over ``rowid`` and ``_fidx``) and the
        rows per file index; None when the rows do not lie so.
    """
    spans = con.execute(
        f"SELECT _fidx, min(rowid), max(rowid), count(*) FROM {table} WHERE rowid >= {int(after)} GROUP BY _fidx ORDER BY _fidx"
    ).fetchall()
    start = after
    for _, lo, hi, n in spans:
        if (lo, hi) != (start, start + n - 1):
            return None
        start += n
    first = "CASE _fidx " + " ".join(f"WHEN {i} THEN {lo}" for i, lo, _, _ in spans) + " END"
    return f"rowid + 1 - {first}", {i: n for i, _, _, n in spans}


#: ``_row`` of a row of :func:`open_csv_run`'s view whose first cell is a column name: a
#: header repeated, maybe in another column order, which its file is read again to tell.
HEADER_LIKE = -1


def open_csv_run(ctx: SourceContext, files: dict[int, Path]) -> bool:
    """Open a run of UTF-8 CSV files with one header (from :func:`batches`) as the view ``_raw``, read where they lie.

    Mapped from the view, the files are read once, in one pass that writes the mapped
    rows as it parses them, instead of being copied as text first. DuckDB's CSV reader
    does not number the rows, so ``_row`` is empty but on the rows whose first cell is a
    column name (:data:`HEADER_LIKE`), and :func:`outcomes.ingest.mapping.stage_unnumbered`
    numbers the mapped rows by the order they are stored in. Errors of the files (a malformed
    line, text that is not UTF-8) are raised as the view is read; the files are then read
    again by :func:`read_batch` or :func:`read_export`, whose errors name them.

    Returns
    -------
    bool
        Whether the view was opened.
    """
    drop_raw(ctx)
    paths, fidx = _run_sql(files)
    first = next(iter(files.values()))
    try:
        _read_csv(ctx, first, first.parent, paths=paths, fidx=fidx, view=True)
    except (IngestError, duckdb.Error):
        drop_raw(ctx)
        return False
    return True


def check_read(ctx: SourceContext, files: dict[int, Path]) -> list[int]:
    """Count the rows of each file in ``_raw`` and refuse a file without rows or with its header repeated.

    Returns
    -------
    list of int
        Data rows per file, in file order.
    """
    counts = dict(ctx.con.execute("SELECT _fidx, count(*) FROM _raw GROUP BY _fidx").fetchall())
    for fidx, path in files.items():
        if not counts.get(fidx):
            check_rows_present(ctx, path)
    _check_repeated_header(ctx, files)
    return [counts.get(fidx, 0) for fidx in files]


def check_rows_present(ctx: SourceContext, path: Path) -> None:
    """Refuse a file with a header and no rows: loading it would silently empty the table."""
    if ctx.source.allow_empty:
        return
    raise IngestError(
        f"{path.name} has a header and no rows, so table '{ctx.table.name}' would be emptied; export it again, or "
        f"set {ctx.where}.allow_empty: true in {ctx.cfg_label} if an empty export is correct",
        file=path.name,
        expected="at least one data row",
        found="a header only",
        fix=f"export the file again, or set {ctx.where}.allow_empty: true",
    )


def _check_repeated_header(ctx: SourceContext, files: dict[int, Path]) -> None:
    """Refuse a file that repeats its header in another column order (two exports concatenated).

    The rows below such a line would be read into the wrong columns. A header repeated in
    the same order breaks rules on its own row only and is rejected like any bad row.
    """
    names = export_columns(ctx)
    if len(names) < 2:
        return
    cells = ", ".join(f"coalesce({trimmed(quote(n))}, '')" for n in names)
    header = ", ".join(lit(n) for n in names)
    sorted_header = ", ".join(lit(n) for n in sorted(names))
    found = ctx.con.execute(
        f"SELECT _fidx, _row, [{cells}] FROM _raw WHERE {trimmed(quote(names[0]))} IN ({header}) "
        f"AND list_sort([{cells}]) = [{sorted_header}] "
        f"AND [{cells}] <> [{header}] ORDER BY _fidx, _row LIMIT 1"
    ).fetchone()
    if found is None:
        return
    fidx, row, order = found
    path = files[fidx]
    raise IngestError(
        f"{path.name} row {row} repeats the header with the columns in another order ({order}); the rows below it "
        "would be read into the wrong columns; split the file at that row into two exports (a glob in "
        f"{ctx.where}.path reads both), or export it again as one file",
        file=path.name,
        expected=f"one header: {names}",
        found=f"a second header at row {row}: {order}",
        fix="split the file at the repeated header",
    )


def drop_raw(ctx: SourceContext) -> None:
    """Drop the previous file's ``_raw`` view and its table."""
    ctx.con.execute("DROP VIEW IF EXISTS _raw")
    ctx.con.execute("DROP TABLE IF EXISTS _raw0")


def _parquet_view(ctx: SourceContext, paths: str, fidx: str) -> None:
    """Open Parquet files as the view ``_raw``: every column cast to text, those of the canonical types also as themselves.

    Parquet numbers its rows and is read column by column, so the files are read where
    they lie, not copied as text first.

    Parameters
    ----------
    ctx : SourceContext
        The source and the connection.
    paths : str
        SQL of the file, or of a list of files.
    fidx : str
        SQL of a row's ``_fidx``, over the file name column (:data:`_FILE_COLUMN`).
    """
    described = ctx.con.execute(f"DESCRIBE SELECT * FROM read_parquet({paths})").fetchall()
    ctx.con.execute(
        f"CREATE TEMP VIEW _raw AS SELECT {fidx} AS _fidx, file_row_number + 1 AS _row, "
        f"CAST(COLUMNS(* EXCLUDE (file_row_number, {_FILE_COLUMN})) AS VARCHAR){_natives(described)} "
        f"FROM read_parquet({paths}, file_row_number=true, filename={lit(_FILE_COLUMN)})"
    )


def _read_parquet(ctx: SourceContext, fidx: int, path: Path) -> None:
    """Open one Parquet file as the view ``_raw`` (:func:`_parquet_view`), as :func:`read_batch` opens a run of them."""
    try:
        _parquet_view(ctx, lit(str(path)), str(fidx))
    except duckdb.Error as exc:
        raise IngestError(
            f"{path.name} cannot be read as Parquet ({str(exc).splitlines()[0]}); check the file, or set "
            f"{ctx.where}.format in {ctx.cfg_label}",
            file=path.name,
            expected="a Parquet file",
            found=str(exc).splitlines()[0],
            fix=f"check {ctx.where}.format",
        ) from None


def _read_csv(
    ctx: SourceContext, path: Path, scratch: Path, paths: str | None = None, fidx: str | None = None, view: bool = False
) -> None:
    """Read a CSV file (transcoded to UTF-8 first when needed) into ``_raw0`` as text.

    With ``paths`` (an SQL list of UTF-8 files with ``path``'s header) every file of the
    list is read, and ``fidx`` (SQL over the file name column) gives each row its file's
    index as ``_fidx``. With ``view``, the files are not read here but opened as the view
    ``_raw`` (:func:`open_csv_run`).
    """
    with _open_binary(path) as fh:
        head = fh.read(1 << 16)
    if not head.removeprefix(codecs.BOM_UTF8).strip():
        raise IngestError(
            f"{path.name} is empty: no header and no rows; export it again with a header row "
            f"(the columns of table '{ctx.table.name}'), or remove {ctx.where} from {ctx.cfg_label}",
            file=path.name,
            expected="a header row",
            found="an empty file",
            fix="export the file again",
        )
    try:
        encoding = codecs.lookup(ctx.source.encoding).name
    except LookupError:
        raise IngestError(
            f"{ctx.cfg_label}: {ctx.where}.encoding is '{ctx.source.encoding}', which is not a known text "
            "encoding; use utf-8, latin-1, cp1252 or utf-16",
            file=ctx.cfg_label,
            expected="a text encoding",
            found=ctx.source.encoding,
            fix=f"edit {ctx.where}.encoding",
        ) from None
    target = path if encoding == "utf-8" else _transcode(ctx, path, encoding, scratch)
    delim = ctx.source.delimiter or ","
    skip = ctx.source.skip_rows
    try:
        names = _column_names(ctx, path, _csv_header(ctx, path, target, delim))
        spec = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
        many = "" if paths is None else f", filename={lit(_FILE_COLUMN)}"
        columns = "*" if fidx is None else f"{fidx} AS _fidx, * EXCLUDE ({_FILE_COLUMN})"
        if view:
            header = ", ".join(lit(n) for n in names)
            columns = f"{fidx} AS _fidx, CASE WHEN list_contains([{header}], {trimmed(quote(names[0]))}) THEN {HEADER_LIKE} END AS _row, * EXCLUDE ({_FILE_COLUMN})"
        made = "VIEW _raw" if view else "TABLE _raw0"
        ctx.con.execute(
            f"CREATE TEMP {made} AS SELECT {columns} FROM read_csv({paths or lit(str(target))}, auto_detect=false, "
            f"header=true, skip={skip}, delim={lit(delim)}, quote='\"', escape='\"', columns={spec}, "
            f"encoding='utf-8', max_line_size={MAX_LINE_BYTES}, buffer_size={CSV_BUFFER_BYTES}{many})"
        )
    except duckdb.Error as exc:
        if "unicode" in str(exc).lower():
            raise _encoding_error(ctx, path) from None
        detail = csv_error_detail(str(exc))
        title = _title_rows(target, delim)
        if title:
            raise IngestError(
                f"{path.name} cannot be parsed as CSV ({detail}): its first {title} line(s) hold fewer fields than "
                f"the rows below, as a title above the header does; set {ctx.where}.skip_rows: {title} in "
                f"{ctx.cfg_label} to read the header from line {title + 1}",
                file=path.name,
                expected="the header on the first line",
                found=f"the header on line {title + 1}",
                fix=f"set {ctx.where}.skip_rows: {title}",
            ) from None
        raise IngestError(
            f"{path.name} cannot be parsed as CSV with delimiter {delim!r}: {detail}; check the delimiter "
            f"({ctx.where}.delimiter in {ctx.cfg_label}) and the quoting of that line",
            file=path.name,
            expected=f"CSV with delimiter {delim!r}",
            found=detail,
            fix=f"set {ctx.where}.delimiter or fix the file",
        ) from None
    finally:
        if target != path:
            target.unlink(missing_ok=True)


def csv_error_detail(text: str) -> str:
    """The line and the reason of a DuckDB CSV error, in a few words, whatever the message's shape.

    Parameters
    ----------
    text : str
        The DuckDB error message.

    Returns
    -------
    str
        ``line N; <what went wrong>`` with the parts the message holds, else its first line.
    """
    parts = []
    line = re.search(r"CSV Error on Line: (\d+)", text)
    if line:
        parts.append(f"line {line.group(1)}")
    columns = re.search(r"Expected Number of Columns: \d+ Found: \d+", text)
    # The reason follows the quoted line ("Original Line: ..."); some messages have no quoted line.
    reason = re.search(r"^Original Line:[^\n]*\n([^\n]+)", text, re.MULTILINE) or re.search(
        r"^(Maximum line size[^\n]*|Value with unterminated quote found\.)", text, re.MULTILINE
    )
    if columns:
        parts.append(columns.group(0))
    elif reason:
        parts.append(reason.group(1).rstrip("."))
    lines = text.strip().splitlines()
    return "; ".join(parts) or (lines[0] if lines else "unknown CSV error")


def _title_rows(target: Path, delim: str) -> int:
    """How many lines of a title lie above the header among the first :data:`HEADER_SEARCH_ROWS` (0 when none).

    The header is the first of the widest lines; it lies below a title when every line
    above it is narrower and most lines below it are as wide (a ragged data line is not a
    header).
    """
    with _open_binary(target) as fh:
        head = codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(fh.read(CHUNK_BYTES))
    widths = []
    try:
        for row in csv.reader(io.StringIO(head, newline=""), delimiter=delim, quotechar='"'):
            widths.append(len(row))
            if len(widths) >= HEADER_SEARCH_ROWS:
                break
    except csv.Error:
        return 0
    widest = widths.index(max(widths)) if widths else 0
    top, above, below = widths[widest] if widths else 0, widths[:widest], widths[widest + 1 :]
    # A header below a title: narrower lines above it, and most lines below it as wide as it.
    is_header = above and below and all(w < top for w in above) and 2 * sum(w == top for w in below) > len(below)
    return widest if is_header else 0


def _csv_header(ctx: SourceContext, path: Path, target: Path, delim: str) -> list[str]:
    """The fields of the header line of ``target`` (``path`` in UTF-8), below ``skip_rows`` lines (a BOM dropped).

    The header is read here rather than sniffed by DuckDB, so that a malformed line
    further down cannot be mistaken for the header. Only the file's first
    :data:`CHUNK_BYTES` bytes are read; text that is not UTF-8 there is an encoding
    error, and a header that is not CSV a parse error.
    """
    with _open_binary(target) as fh:
        head = fh.read(CHUNK_BYTES)
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        raise _encoding_error(ctx, path) from None
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"')
    try:
        for _ in range(ctx.source.skip_rows):
            next(rows, None)
        return next(rows, [])
    except csv.Error as exc:
        raise IngestError(
            f"{path.name}: the header cannot be parsed as CSV with delimiter {delim!r} ({exc}); check "
            f"{ctx.where}.delimiter and {ctx.where}.encoding in {ctx.cfg_label}",
            file=path.name,
            expected=f"a CSV header with delimiter {delim!r}",
            found=str(exc),
            fix=f"set {ctx.where}.delimiter or {ctx.where}.encoding",
        ) from None


def _encoding_error(ctx: SourceContext, path: Path) -> IngestError:
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
        f"{path.name} is not valid {ctx.source.encoding} text ({found} cannot be decoded); set "
        f"{ctx.where}.encoding in {ctx.cfg_label} to the file's encoding (e.g. latin-1 or cp1252 for "
        "Western European exports from Excel)",
        file=path.name,
        expected=f"{ctx.source.encoding} text",
        found=found,
        fix=f"set {ctx.where}.encoding",
    )


def _transcode(ctx: SourceContext, path: Path, encoding: str, scratch: Path) -> Path:
    """Copy a text file to UTF-8 in a streaming pass and return the copy's path."""
    out = scratch / f".{ctx.name}.{os.getpid()}.utf8.csv"
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    try:
        with _open_binary(path) as src, out.open("w", encoding="utf-8", newline="") as dst:
            for chunk in iter(lambda: src.read(CHUNK_BYTES), b""):
                dst.write(decoder.decode(chunk))
                offset += len(chunk)
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        out.unlink(missing_ok=True)
        raise IngestError(
            f"{path.name} is not valid {ctx.source.encoding} text (byte {offset + exc.start} cannot be decoded); "
            f"set {ctx.where}.encoding in {ctx.cfg_label} to the file's encoding",
            file=path.name,
            expected=f"{ctx.source.encoding} text",
            found=f"undecodable byte at offset {offset + exc.start}",
            fix=f"set {ctx.where}.encoding",
        ) from None
    return out


def _read_excel(ctx: SourceContext, path: Path) -> None:
    """Stream a sheet of an Excel workbook into ``_raw0`` as text, in batches."""
    # Imported here: only Excel sources need them, and they would add a quarter second to every ingest.
    import openpyxl
    import pyarrow as pa

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise IngestError(
            f"{path.name} cannot be opened as an Excel workbook ({type(exc).__name__}: {exc}); save it as .xlsx, "
            f"or set {ctx.where}.format in {ctx.cfg_label}",
            file=path.name,
            expected="an .xlsx workbook",
            found=type(exc).__name__,
            fix=f"check {ctx.where}.format",
        ) from None
    try:
        sheet_name = ctx.source.sheet or book.sheetnames[0]
        if sheet_name not in book.sheetnames:
            raise IngestError(
                f"sheet '{sheet_name}' not found in {path.name}; sheets are {book.sheetnames}; set "
                f"{ctx.where}.sheet in {ctx.cfg_label}",
                file=path.name,
                expected=f"sheet '{sheet_name}'",
                found=str(book.sheetnames),
                fix=f"set {ctx.where}.sheet",
            )
        rows = book[sheet_name].iter_rows(values_only=True, min_row=ctx.source.skip_rows + 1)
        header = next(rows, None)
        if header is None or all(v is None for v in header):
            raise IngestError(
                f"{path.name} is empty: sheet '{sheet_name}' has no header row; export it again with a header "
                f"row (the columns of table '{ctx.table.name}')",
                file=path.name,
                expected="a header row",
                found="an empty sheet",
                fix="export the file again",
            )
        names = _column_names(ctx, path, ["" if v is None else str(v) for v in header])
        cols = ", ".join(f"{quote(n)} VARCHAR" for n in names)
        ctx.con.execute(f"CREATE TEMP TABLE _raw0 (_row BIGINT, {cols})")
        for batch in _excel_batches(rows, len(names)):
            texts = {f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(batch[1:])}
            arrow = pa.table({"_row": pa.array(batch[0], pa.int64()), **texts})
            ctx.con.register("_excel_batch", arrow)
            ctx.con.execute("INSERT INTO _raw0 SELECT * FROM _excel_batch")
            ctx.con.unregister("_excel_batch")
    finally:
        book.close()


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


#: How many rows below the header are searched for the real header (a sheet with a title above it).
HEADER_SEARCH_ROWS = 50


def header_below(ctx: SourceContext, names: list[str]) -> int | None:
    """The ``skip_rows`` that would make a row holding all of ``names`` the header, or None.

    An Excel sheet or CSV file often carries a title (and blank rows) above its header;
    read from the top, the title becomes the header and the real header a data row.
    """
    cells = ", ".join(trimmed(quote(n)) for n in export_columns(ctx))
    wanted = ", ".join(lit(n) for n in names)
    found = ctx.con.execute(
        f"SELECT min(_row) FROM _raw WHERE _fidx = (SELECT min(_fidx) FROM _raw) AND _row <= {HEADER_SEARCH_ROWS} "
        f"AND list_has_all([{cells}], [{wanted}])"
    ).fetchone()[0]
    return None if found is None else ctx.source.skip_rows + found


def export_columns(ctx: SourceContext) -> list[str]:
    """The export's column names (from ``_raw``)."""
    return [
        r[0] for r in ctx.con.execute("DESCRIBE _raw").fetchall() if r[0] not in ("_fidx", "_row") and not r[0].startswith(NATIVE)
    ]


def native_columns(ctx: SourceContext) -> dict[str, str]:
    """Export column -> its own DuckDB type, for the Parquet columns ``_raw`` also holds as themselves (:data:`NATIVE`)."""
    return {r[0].removeprefix(NATIVE): r[1] for r in ctx.con.execute("DESCRIBE _raw").fetchall() if r[0].startswith(NATIVE)}
