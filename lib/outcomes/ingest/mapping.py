"""Mapping an export onto its canonical table: renames, constants, derive expressions, value maps, types.

The SQL written here tests membership with ``list_contains``, never ``IN (...)``: DuckDB
turns a long ``IN`` list into a join, and a join does not keep the rows in the order
read, which the load relies on (:func:`outcomes.ingest.checks.load_accepted`).

The mapping of a source (``params/sources.yaml``) is checked before any file is read
(:func:`check_mapping`), and each file's header against it (:func:`check_columns`).
Then :func:`stage` maps one file's ``_raw`` onto the canonical columns and appends it to
the table ``_typed`` (created by :func:`create_typed`; :func:`stage_unnumbered` maps a run
of CSV files straight from the files, then numbers their rows), which holds each
canonical column's typed value, and the rows that break a rule of the checks whole in
``_suspect``, with each column's text (``<column>__src``, for messages):

* values are trimmed; empty strings and the source's ``null_values`` become empty;
* each canonical column takes, in this order of precedence, a ``derive`` expression, a
  ``constants`` value, the export column named under ``columns``, or the export column
  of the same name; an optional column found nowhere is left empty;
* id columns under ``normalize`` lose surrounding whitespace (tabs included) and, with
  ``upper``/``lower``, their case;
* ``values`` maps are applied, then the text is parsed into the canonical type
  (``try_strptime``/``TRY_CAST``; NULL when unparseable), numbers with the source's
  ``decimal`` and ``thousands`` (:mod:`outcomes.ingest.decimals`), dates by their
  ``dates`` format (a strftime format or ``excel``; a two-digit year only with
  ``year_pivot``) and timestamps converted to naive UTC from their own offset or the
  source's ``timezone``;
* a Parquet column already of its canonical type, whose text nothing above works on, is
  taken as it is (:func:`_passed_through`), its text being the value cast to text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from outcomes.errors import IngestError
from outcomes.ingest.context import SourceContext, close_match
from outcomes.warehouse.sql import literal as lit
from outcomes.ingest.decimals import check_convention, numeric_text
from outcomes.ingest.dedupe import check_dedupe
from outcomes.ingest.readers import NATIVE, check_rows_present, header_below, native_columns, stored_row_numbers, trimmed
from outcomes.ingest.rules import rule
from outcomes.warehouse.datamodel import Column
from outcomes.warehouse.store import SQL_TYPES, quote

_DELIMITER_CANDIDATES = (",", ";", "\t", "|")
_BOOL_TRUE = ("true", "t", "yes", "y", "1")
_BOOL_FALSE = ("false", "f", "no", "n", "0")
# A value ending in a UTC offset after a time of day: "10:00+02:00", "10:00:00Z", "10:00:00.5 -0500".
_OFFSET_RE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?)$"
#: A date written with a two-digit year first: "25-12-01", "25/12/01 10:00", "25-12" (a month).
TWO_DIGIT_YEAR_RE = r"^\d{2}[-/.]\d{1,2}([-/.]\d{1,2})?([ T].*)?$"
#: Share of an export column's values that must be numbers (or booleans) for a ``derive``
#: expression to read it as such; the other values are rejected row by row.
DERIVE_TYPE_SHARE = 0.95
#: The most rows of a file a ``derive`` expression may fail on (each is rejected); beyond
#: it the expression is wrong for the file, and the file stops.
DERIVE_ERROR_ROWS = 20
#: Whitespace removed around a value by ``normalize`` (tabs, line breaks, no-break spaces).
_SPACE = r"[\s\x{00A0}]"


def check_mapping(ctx: SourceContext) -> None:
    """Check that the mapping names canonical columns, known formats and a known time zone."""
    s = ctx.source
    names = ctx.table.column_names
    sections = {
        "columns": s.columns,
        "constants": s.constants,
        "derive": s.derive,
        "dates": s.dates,
        "values": s.values,
        "normalize": s.normalize,
    }
    for section, mapping in sections.items():
        for key in mapping:
            if key not in names:
                raise IngestError(
                    f"{ctx.cfg_label}: {ctx.where}.{section} names '{key}', which is not a column of table "
                    f"'{ctx.table.name}'{close_match(key, names)}; columns are {names}; the keys under "
                    f"{section} are canonical column names",
                    file=ctx.cfg_label,
                    column=key,
                    expected=f"a column of {ctx.table.name}",
                    found=key,
                    fix=f"rename the key under {ctx.where}.{section}",
                )
    for key, fmt in s.dates.items():
        if fmt != "excel" and "%" not in fmt:
            raise IngestError(
                f"{ctx.cfg_label}: {ctx.where}.dates.{key} is '{fmt}', which is neither a strftime format "
                "(such as '%d/%m/%Y %H:%M') nor 'excel'; set one of those",
                file=ctx.cfg_label,
                column=key,
                expected="a strftime format or 'excel'",
                found=fmt,
                fix=f"edit {ctx.where}.dates.{key}",
            )
    for key, fmt in s.dates.items():
        if "%y" in fmt and s.year_pivot is None:
            raise IngestError(
                f"{ctx.cfg_label}: {ctx.where}.dates.{key} is '{fmt}', whose %y reads a two-digit year; say which "
                f"century it means with {ctx.where}.year_pivot (e.g. 70: 00-69 are 2000-2069, 70-99 are 1970-1999), "
                "or use %Y if the export writes four digits",
                file=ctx.cfg_label,
                column=key,
                expected="a four-digit year (%Y), or year_pivot",
                found=fmt,
                fix=f"set {ctx.where}.year_pivot",
            )
    for key in s.normalize:
        if ctx.table.column(key).type != "string":
            raise IngestError(
                f"{ctx.cfg_label}: {ctx.where}.normalize names '{key}', a {ctx.table.column(key).type} column; "
                "normalize applies to text ids only",
                file=ctx.cfg_label,
                column=key,
                expected="a string column",
                found=ctx.table.column(key).type,
                fix=f"remove {key} from {ctx.where}.normalize",
            )
    if s.dedupe is not None:
        check_dedupe(ctx, s.dedupe)
    try:
        ctx.con.execute(f"SELECT timezone({lit(s.timezone)}, TIMESTAMP '2000-01-01')").fetchall()
    except duckdb.Error:
        raise IngestError(
            f"{ctx.cfg_label}: {ctx.where}.timezone is '{s.timezone}', which is not a known time zone; "
            "use an IANA name such as UTC or Europe/Amsterdam",
            file=ctx.cfg_label,
            expected="an IANA time zone",
            found=s.timezone,
            fix=f"edit {ctx.where}.timezone",
        ) from None


def _needed_export_columns(ctx: SourceContext) -> dict[str, str]:
    """Canonical column -> the export column it is read from (columns not derived or constant)."""
    s = ctx.source
    out = {}
    for col in ctx.table.columns:
        if col.name in s.derive or col.name in s.constants:
            continue
        out[col.name] = s.columns.get(col.name, col.name)
    return out


def check_columns(ctx: SourceContext, path: Path, export_cols: list[str]) -> None:
    """Raise for a file that parses to one column or lacks a required column."""
    s = ctx.source
    needed = _needed_export_columns(ctx)
    required_missing = []
    for canonical, export in needed.items():
        col = ctx.table.column(canonical)
        if export in export_cols:
            continue
        if canonical in s.columns or col.required:
            required_missing.append((canonical, export))
    if not required_missing:
        return
    # The real header below a title holds the missing columns and the ones found in the first row.
    skip = header_below(ctx, [e for _, e in required_missing] + [e for e in needed.values() if e in export_cols])
    if skip is not None:
        raise IngestError(
            f"{path.name}: the columns {[e for _, e in required_missing]} are not in the first row {export_cols} but "
            f"in a row below it, so the file has a title or blank rows above its header; set "
            f"{ctx.where}.skip_rows: {skip} in {ctx.cfg_label} to read the header from there",
            file=path.name,
            expected="the header in the first row",
            found=f"the header after {skip} rows",
            fix=f"set {ctx.where}.skip_rows: {skip}",
        )
    if len(export_cols) == 1:
        header = export_cols[0]
        seen = [d for d in _DELIMITER_CANDIDATES if d in header and d != (s.delimiter or ",")]
        guess = f"; the header looks {seen[0]!r}-separated: set {ctx.where}.delimiter: {seen[0]!r}" if seen else ""
        raise IngestError(
            f"{path.name} parses to a single column {header!r} with delimiter {(s.delimiter or ',')!r}{guess} "
            f"in {ctx.cfg_label}",
            file=path.name,
            expected=f"columns separated by {(s.delimiter or ',')!r}",
            found="one column",
            fix=f"set {ctx.where}.delimiter",
        )
    canonical, export = required_missing[0]
    others = [e for _, e in required_missing[1:]]
    also = f" (also missing: {others})" if others else ""
    hint = close_match(export, export_cols)
    if canonical in s.columns:
        mapped = f" (mapped to {canonical})" if export != canonical else ""
        what = f"column '{export}'{mapped} not found in {path.name}{hint}{also}; columns are {export_cols}"
        fix = f"fix {ctx.where}.columns.{canonical} in {ctx.cfg_label}"
        if not ctx.table.column(canonical).required:
            fix += f", or set {ctx.where}.constants.{canonical}: null to leave this optional column empty"
    else:
        what = f"column '{export}' not found in {path.name}{hint}{also}; columns are {export_cols}"
        fix = f"map it in {ctx.cfg_label} under {ctx.where}.columns, or give it under {ctx.where}.constants"
    raise IngestError(
        f"{what}; {fix}",
        file=path.name,
        column=export,
        expected=f"a column for {ctx.table.name}.{canonical}",
        found=str(export_cols),
        fix=fix,
    )


def _text_expr(
    ctx: SourceContext, col: Column, export_cols: list[str], typed_refs: set[str], failing: dict[str, dict[int, str]]
) -> str:
    """SQL text of one canonical column, before value maps, normalized as ``normalize`` says.

    A derived column is left empty on the rows its expression fails on (``failing``:
    derived column -> rows), which are rejected.
    """
    text = _raw_text(ctx, col, export_cols, typed_refs)
    rows = failing.get(col.name)
    if rows:
        text = f"(CASE WHEN list_contains([{', '.join(map(str, rows))}], _row) THEN NULL ELSE TRY({text}) END)"
    how = ctx.source.normalize.get(col.name)
    if how is None:
        return text
    trimmed = f"nullif(regexp_replace({text}, {lit(f'^{_SPACE}+|{_SPACE}+$')}, '', 'g'), '')"
    return trimmed if how == "trim" else f"{how}({trimmed})"


def _raw_text(ctx: SourceContext, col: Column, export_cols: list[str], typed_refs: set[str]) -> str:
    """SQL text of one canonical column as the mapping gives it."""
    s = ctx.source
    if col.name in s.derive:
        return f"CAST(({s.derive[col.name]}) AS VARCHAR)"
    if col.name in s.constants:
        value = s.constants[col.name]
        if value is None:
            return "CAST(NULL AS VARCHAR)"
        return lit(("true" if value else "false") if isinstance(value, bool) else str(value))
    export = s.columns.get(col.name, col.name)
    if export in typed_refs:
        return quote("__text__" + export)
    return quote(export) if export in export_cols else "CAST(NULL AS VARCHAR)"


def _mapped(ctx: SourceContext, col: Column) -> str:
    """SQL of the column's text after its value map."""
    src = quote(f"{col.name}__src")
    mapping = ctx.source.values.get(col.name)
    if not mapping:
        return src
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
    return f"(CASE {src} {whens} ELSE {src} END)"


def _to_utc(ctx: SourceContext, naive: str) -> str:
    """SQL turning a naive timestamp in the source's time zone into naive UTC."""
    tz = ctx.source.timezone
    if tz.upper() in ("UTC", "ETC/UTC", "Z"):
        return naive
    return f"timezone('UTC', timezone({lit(tz)}, {naive}))"


def _typed_expr(ctx: SourceContext, col: Column) -> str:
    """SQL parsing the mapped text into the column's canonical type (NULL when unparseable)."""
    t = _mapped(ctx, col)
    fmt = ctx.source.dates.get(col.name)
    kind = col.type
    if kind == "string":
        return t
    if kind == "int":
        t = numeric_text(ctx, t)
        return f"(CASE WHEN TRY_CAST({t} AS DOUBLE) = TRY_CAST({t} AS BIGINT) THEN TRY_CAST({t} AS BIGINT) END)"
    if kind == "float":
        t = numeric_text(ctx, t)
        return f"(CASE WHEN isfinite(TRY_CAST({t} AS DOUBLE)) THEN TRY_CAST({t} AS DOUBLE) END)"
    if kind == "bool":
        trues = ", ".join(lit(v) for v in _BOOL_TRUE)
        falses = ", ".join(lit(v) for v in _BOOL_FALSE)
        return f"(CASE WHEN list_contains([{trues}], lower({t})) THEN TRUE WHEN list_contains([{falses}], lower({t})) THEN FALSE END)"
    if not fmt:
        t = _four_digit_year(ctx, t)
    return _temporal_expr(ctx, col, t, fmt)


def _four_digit_year(ctx: SourceContext, t: str) -> str:
    """SQL of the text ``t`` with a leading two-digit year widened by ``year_pivot``, or NULL without a pivot."""
    pivot = ctx.source.year_pivot
    # A separator third is what the pattern needs first: the regular expression runs only then.
    maybe = f"list_contains(['-', '/', '.'], substr({t}, 3, 1))"
    if pivot is None:
        return f"(CASE WHEN NOT ({maybe} AND regexp_matches({t}, {lit(TWO_DIGIT_YEAR_RE)})) THEN {t} END)"
    century = f"(CASE WHEN CAST(left({t}, 2) AS INTEGER) < {pivot} THEN '20' ELSE '19' END)"
    return f"(CASE WHEN {maybe} AND regexp_matches({t}, {lit(TWO_DIGIT_YEAR_RE)}) THEN {century} || {t} ELSE {t} END)"


def _pivoted(ctx: SourceContext, value: str, fmt: str | None) -> str:
    """SQL of a date or timestamp parsed with a ``%y`` format, moved to the century ``year_pivot`` says."""
    if not fmt or "%y" not in fmt or ctx.source.year_pivot is None:
        return value
    yy = f"(year({value}) % 100)"
    wanted = f"(CASE WHEN {yy} < {ctx.source.year_pivot} THEN 2000 ELSE 1900 END + {yy})"
    return f"({value} + to_years(CAST({wanted} - year({value}) AS INTEGER)))"


def _temporal_expr(ctx: SourceContext, col: Column, t: str, fmt: str | None) -> str:
    """SQL parsing the text ``t`` into a date, month or naive-UTC timestamp."""
    kind = col.type
    if kind in ("date", "month"):
        if fmt == "excel":
            day = f"CAST(DATE '1899-12-30' + CAST(floor(TRY_CAST({t} AS DOUBLE)) AS INTEGER) AS DATE)"
        elif fmt:
            day = f"CAST({_pivoted(ctx, f'try_strptime({t}, {lit(fmt)})', fmt)} AS DATE)"
        elif kind == "month":
            day = f"coalesce(TRY_CAST({t} AS DATE), TRY_CAST({t} || '-01' AS DATE))"
        else:
            day = f"TRY_CAST({t} AS DATE)"
        return f"CAST(date_trunc('month', {day}) AS DATE)" if kind == "month" else day
    # timestamp
    if fmt == "excel":
        naive = f"(TIMESTAMP '1899-12-30' + to_milliseconds(CAST(round(TRY_CAST({t} AS DOUBLE) * 86400000) AS BIGINT)))"
        return _to_utc(ctx, naive)
    if fmt and ("%z" in fmt or "%Z" in fmt):
        return f"timezone('UTC', {_pivoted(ctx, f'try_strptime({t}, {lit(fmt)})', fmt)})"
    if fmt:
        return _to_utc(ctx, _pivoted(ctx, f"try_strptime({t}, {lit(fmt)})", fmt))
    with_offset = f"timezone('UTC', TRY_CAST({t} AS TIMESTAMPTZ))"
    naive = _to_utc(ctx, f"TRY_CAST({t} AS TIMESTAMP)")
    # An offset ends the text with Z or a sign and digits: the regular expression runs only then.
    maybe = f"(suffix({t}, 'Z') OR suffix({t}, 'z') OR contains(right({t}, 6), '+') OR contains(right({t}, 6), '-'))"
    return f"(CASE WHEN {maybe} AND regexp_matches({t}, {lit(_OFFSET_RE)}) THEN {with_offset} ELSE {naive} END)"


def keeps_text_of_flagged_rows_only(ctx: SourceContext) -> bool:
    """Whether ``_typed`` holds the values only, and ``_suspect`` the text of the flagged rows (see :func:`create_typed`).

    True for every source but one with ``dedupe``, whose versions are checked after one
    per key is kept, with values aggregated over them, so that every version keeps its text.
    """
    return ctx.source.dedupe is None


def stores_key_text(ctx: SourceContext, key: str) -> bool:
    """Whether ``_typed`` holds the text of the key column ``key`` (``<key>__src``) beside its value.

    Always for a source with ``dedupe`` (every row whole). Otherwise only when the text
    may differ from the value: a key of a type other than text, or with a ``values`` map;
    a text key's value is its text, so the duplicate-key messages read the value.
    """
    col = next(c for c in ctx.table.columns if c.name == key)
    return not keeps_text_of_flagged_rows_only(ctx) or col.type != "string" or key in ctx.source.values


def key_text(ctx: SourceContext, key: str) -> str:
    """SQL of the key column ``key``'s text in ``_typed`` and ``_kept`` (:func:`stores_key_text`)."""
    return quote(key + "__src") if stores_key_text(ctx, key) else quote(key)


def loads_in_place(ctx: SourceContext) -> bool:
    """Whether ``_typed`` is written into the warehouse itself, to become the canonical table (see :func:`create_typed`).

    True when the source keeps the text of its flagged rows only and no rows are in its
    canonical table yet: the first source of a table in a full ingest.
    """
    if not keeps_text_of_flagged_rows_only(ctx):
        return False
    return not ctx.con.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(ctx.table.name)})").fetchone()[0]


def create_typed(ctx: SourceContext, files: dict[int, Path]) -> None:
    """Create the table ``_typed`` that collects the mapped rows of every file, and ``_files`` that names the files.

    Each row holds the file (``_fidx``, its index among the source's files), the row, each canonical column's value,
    the text of the key columns that need it for the duplicate-key messages
    (``<key>__src``, :func:`stores_key_text`), and ``_broken``: whether the row breaks a
    rule of the checks, computed as the row is mapped (:func:`stage`'s ``broken``). The
    rows flagged so are kept whole in the temporary table ``_suspect``: each canonical
    column's text (``<column>__src``, for the messages) and value, the file's export date
    (``_exported``, of the plausible range) and why a ``derive`` expression could not read
    the row (``_bad_col``, ``_bad_value``, ``_bad_rule``, ``_bad_note``). The text of
    every row is not stored: writing it cost more than mapping it.

    ``_typed`` is a temporary table, but for the first source of a canonical table in a
    full ingest (:func:`loads_in_place`): then it is a table of the warehouse being built,
    and the load turns it into the canonical table by dropping its own columns
    (:func:`outcomes.ingest.checks.load_accepted`), so the rows are written once.

    For a source with ``dedupe`` (:func:`keeps_text_of_flagged_rows_only` is false),
    ``_typed`` holds every row whole, as ``_suspect`` does, and the checks flag the rows
    after the dedupe.

    The temporary table ``_files`` (``_fidx``, ``_file``) names each file, for the
    messages that name a row's file; a file name is not stored with every row of
    ``_typed`` (writing it cost 6% of mapping 30 million orders).

    Parameters
    ----------
    ctx : SourceContext
        The source and the connection.
    files : dict
        The files to map: index among the source's files -> file.
    """
    ctx.con.execute("CREATE TEMP TABLE _files (_fidx INTEGER, _file VARCHAR)")
    if files:
        ctx.con.execute(
            "INSERT INTO _files VALUES " + ", ".join(f"({int(i)}, {lit(p.name)})" for i, p in files.items())
        )
    whole = ", ".join(
        f"{quote(c.name + '__src')} VARCHAR, {quote(c.name)} {SQL_TYPES[c.type]}" for c in ctx.table.columns
    )
    whole = (
        "_fidx INTEGER, _file VARCHAR, _exported TIMESTAMP, _row BIGINT, _bad_col VARCHAR, _bad_value VARCHAR, "
        f"_bad_rule VARCHAR, _bad_note VARCHAR, {whole}, _broken BOOLEAN"
    )
    if not keeps_text_of_flagged_rows_only(ctx):
        ctx.con.execute(f"CREATE TEMP TABLE _typed ({whole})")
        return
    values = ", ".join(f"{quote(c.name)} {SQL_TYPES[c.type]}" for c in ctx.table.columns)
    keys = "".join(f", {quote(k + '__src')} VARCHAR" for k in ctx.table.key if stores_key_text(ctx, k))
    kind = "TABLE" if loads_in_place(ctx) else "TEMP TABLE"
    ctx.con.execute(f"CREATE {kind} _typed (_fidx INTEGER, _row BIGINT, {values}{keys}, _broken BOOLEAN)")
    ctx.con.execute(f"CREATE TEMP TABLE _suspect ({whole})")


def _derive_error(ctx: SourceContext, path: Path, export_cols: list[str], canonical: str, detail: str) -> IngestError:
    """The error for a ``derive`` expression that cannot be parsed or evaluated on a file."""
    expr = ctx.source.derive[canonical]
    return IngestError(
        f"{ctx.cfg_label}: {ctx.where}.derive.{canonical} = {expr} cannot be evaluated on {path.name}: "
        f"{detail}; columns are {export_cols}; fix the expression (quote export column names as in the export)",
        file=path.name,
        column=canonical,
        expected="an SQL expression over the export's columns",
        found=detail,
        fix=f"edit {ctx.where}.derive.{canonical}",
    )


def _derive_refs(ctx: SourceContext, path: Path, export_cols: list[str]) -> dict[str, list[str]]:
    """The export columns that the ``derive`` expressions read, each with the derived columns that read it."""
    refs: dict[str, list[str]] = {}
    for canonical, expr in ctx.source.derive.items():
        try:
            tree = sqlglot.parse_one(expr, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise _derive_error(ctx, path, export_cols, canonical, str(exc).splitlines()[0]) from None
        for c in tree.find_all(exp.Column):
            if c.name in export_cols and canonical not in refs.setdefault(c.name, []):
                refs[c.name].append(canonical)
    return refs


def _derive_types(ctx: SourceContext, refs: list[str]) -> dict[str, str]:
    """Types of the export columns that ``derive`` expressions read.

    In a derive expression, an export column whose values are (nearly all) ``true``/
    ``false`` is a BOOLEAN, whole numbers a BIGINT, numbers a DOUBLE, otherwise text
    (empty values do not count), so that ``"reopen_count" > 0`` compares numbers.
    "Nearly all" is :data:`DERIVE_TYPE_SHARE`: a stray ``n/a`` among the numbers does not
    turn the column into text; its row is rejected (see :func:`stage`). The types are
    those of each file: when the files in ``_src`` differ, :class:`MixedRun` is raised.
    """
    if not refs:
        return {}
    probes = []
    for c in refs:
        q = quote(c)
        probes += [
            f"count({q})",
            f"count(*) FILTER (WHERE lower({q}) IN ('true', 'false'))",
            f"count(*) FILTER (WHERE TRY_CAST({q} AS DOUBLE) = TRY_CAST({q} AS BIGINT))",
            f"count(*) FILTER (WHERE TRY_CAST({q} AS DOUBLE) IS NOT NULL)",
        ]
    per_file = set()
    for counts in ctx.con.execute(f"SELECT {', '.join(probes)} FROM _src GROUP BY _fidx").fetchall():
        types = {}
        for i, c in enumerate(refs):
            n, n_bool, n_int, n_num = counts[4 * i : 4 * i + 4]
            if not n:
                continue
            if n_bool >= DERIVE_TYPE_SHARE * n:
                types[c] = "BOOLEAN"
            elif n_num >= DERIVE_TYPE_SHARE * n:
                types[c] = "BIGINT" if n_int == n_num else "DOUBLE"
        per_file.add(tuple(types.items()))
    if len(per_file) > 1:
        raise MixedRun(", ".join(refs))
    return dict(per_file.pop()) if per_file else {}


_TYPE_WORDS = {"BOOLEAN": "true or false", "BIGINT": "a whole number", "DOUBLE": "a number"}


def _bad_cells(
    ctx: SourceContext, typed_refs: dict[str, str], refs: dict[str, list[str]], errors: dict[str, dict[int, str]]
) -> str:
    """SQL of ``_bad_col, _bad_value, _bad_rule, _bad_note``: why a ``derive`` cannot read the row, if it cannot.

    Either a row on which a derive expression raises (``errors``: derived column -> row ->
    error), or an export cell a derive reads that is not of the type of its column's
    other values. The note is the reject message after the row.
    """
    whens: list[tuple[str, str, str, str, str]] = []
    for canonical, rows in errors.items():
        read = [c for c, derived in refs.items() if canonical in derived]
        value = f"concat_ws(', ', {', '.join(_text_of(c, typed_refs) for c in read)})" if read else "NULL"
        for row, error in rows.items():
            note = f"{ctx.where}.derive.{canonical} cannot be computed on this row ({error}); correct the row in the export"
            whens.append((f"_row = {row}", lit(canonical), value, lit(rule("derive_error")), lit(note)))
    for c, t in typed_refs.items():
        text = quote("__text__" + c)
        readers = ", ".join(f"{ctx.where}.derive.{k}" for k in refs[c])
        why = f" is not {_TYPE_WORDS[t]} as the other values of {c} are, and {readers} reads it as one"
        note = f"{lit(c + ' ')} || '''' || {text} || '''' || {lit(why + '; correct the value in the export')}"
        whens.append((f"{quote(c)} IS NULL AND {text} IS NOT NULL", lit(c), text, lit(rule("derive_input")), note))
    names = ("_bad_col", "_bad_value", "_bad_rule", "_bad_note")
    if not whens:
        return ", ".join(f"CAST(NULL AS VARCHAR) AS {n}" for n in names)
    return ", ".join(
        f"CASE {' '.join(f'WHEN {w[0]} THEN {w[i]}' for w in whens)} END AS {name}"
        for i, name in enumerate(names, start=1)
    )


def _text_of(column: str, typed_refs: dict[str, str]) -> str:
    """SQL of the export text of a column a derive reads (kept as ``__text__<column>`` when typed)."""
    return quote("__text__" + column) if column in typed_refs else quote(column)


def _derive_error_rows(ctx: SourceContext, expr: str, inner: str) -> dict[int, str] | None:
    """The rows of the file on which ``expr`` raises, with the error; None when more than :data:`DERIVE_ERROR_ROWS`.

    Found by halving row ranges, so a few bad rows cost a few dozen queries; an
    expression that fails on many rows is wrong for the file rather than the rows.
    """

    def error(first: int, last: int) -> str | None:
        try:
            ctx.con.execute(
                f"SELECT count(CAST(({expr}) AS VARCHAR)) FROM ({inner}) WHERE _row BETWEEN {first} AND {last}"
            ).fetchall()
        except duckdb.Error as exc:
            return str(exc).splitlines()[0]
        return None

    first, last = ctx.con.execute("SELECT min(_row), max(_row) FROM _src").fetchone()
    found: dict[int, str] = {}
    ranges = [(first, last)] if first is not None else []
    while ranges:
        a, b = ranges.pop()
        problem = error(a, b)
        if problem is None:
            continue
        if a == b:
            found[a] = problem
            if len(found) > DERIVE_ERROR_ROWS:
                return None
            continue
        middle = (a + b) // 2
        ranges += [(middle + 1, b), (a, middle)]
    return found


def _cleaned(column: str, null_values: list[str]) -> str:
    """SQL of an export cell trimmed, empty when it is empty or one of the source's ``null_values``."""
    text = trimmed(column)
    others = [v.strip() for v in null_values if v.strip()]
    if not others:
        return f"nullif({text}, '')"
    return f"CASE WHEN list_contains([{', '.join(lit(v) for v in ['', *others])}], {text}) THEN NULL ELSE {text} END"


#: Canonical type -> the Parquet column types whose values are taken as they are (:func:`_passed_through`).
_PASS_THROUGH = {"timestamp": ("TIMESTAMP",), "float": ("DOUBLE",), "int": ("BIGINT", "INTEGER"), "date": ("DATE",), "bool": ("BOOLEAN",)}


def _passed_through(ctx: SourceContext, export_cols: list[str], refs: dict[str, list[str]]) -> dict[str, str]:
    """Canonical column -> the Parquet column whose own values it takes, without the text's round trip.

    A Parquet column already of the canonical column's type (a ``TIMESTAMP`` for a
    timestamp, a ``DOUBLE`` for a number...) is read as it is, when nothing of the mapping
    works on its text: no ``values`` map, ``normalize``, ``dates`` format or ``derive`` on
    it. Its text (``<column>__src``, for the messages) is the value cast to text, the text
    the round trip parsed, so the checks judge the same values.
    """
    s = ctx.source
    natives = native_columns(ctx)
    out = {}
    for col in ctx.table.columns:
        export = s.columns.get(col.name, col.name)
        if any(col.name in part for part in (s.derive, s.constants, s.values, s.normalize, s.dates)):
            continue
        if export in export_cols and export not in refs and natives.get(export) in _PASS_THROUGH.get(col.type, ()):
            out[col.name] = quote(NATIVE + export)
    return out


def _native_typed(ctx: SourceContext, col: Column, native: str) -> str:
    """SQL of a canonical column's value from a Parquet column of its type (:func:`_passed_through`)."""
    if col.type == "float":
        return f"(CASE WHEN isfinite({native}) THEN {native} END)"
    if col.type == "int":
        return f"CAST({native} AS BIGINT)"
    if col.type == "timestamp":
        return _to_utc(ctx, native)
    return native


def _flag_on_values(broken: str, passed: dict[str, str]) -> str:
    """The condition of a flagged row, testing a passed-through column's value where it tested its text.

    The text is the value cast to text: empty exactly when the value is, and never a
    two-digit year; so the flag is the same, and the text is cast for the flagged rows only.
    """
    for name, native in passed.items():
        src = quote(name + "__src")
        broken = broken.replace(f"regexp_matches({src}, {lit(TWO_DIGIT_YEAR_RE)})", "FALSE")
        broken = broken.replace(f"{src} IS NOT NULL", f"{native} IS NOT NULL").replace(f"{src} IS NULL", f"{native} IS NULL")
    return broken


class MixedRun(Exception):
    """Files read together (:func:`outcomes.ingest.readers.read_batch`) that must be mapped one at a time.

    A ``derive`` expression reads an export column whose values are of another type in
    one of the files, or fails on some rows: each file is then mapped alone, so that its
    types and its failing rows are its own.
    """


@dataclass(frozen=True)
class _Mapping:
    """The SQL mapping the rows of ``_raw`` (through the view ``_src``) onto the canonical columns."""

    #: Statement (re)creating the view ``_src``: the export columns the mapping reads, cleaned.
    src_view: str
    #: Query of the mapped rows: file, row, why a derive cannot read the row, each column's text and value.
    mapped: str
    #: Select list of the mapped rows without the Parquet columns taken as they are (for ``_suspect``).
    whole: str
    #: Canonical column -> the Parquet column whose own values it takes (:func:`_passed_through`).
    passed: dict[str, str]


def _mapping(ctx: SourceContext, files: dict[int, Path], export_cols: list[str], try_derive: bool = True) -> _Mapping:
    """Write the SQL of :func:`stage`, after the checks of the ``derive`` expressions on ``_raw``.

    With ``try_derive`` false, the expressions are not tried on the rows first: an
    expression that fails then fails the statement that maps them
    (:func:`stage_unnumbered`). The view ``_src`` is left in place.

    Raises
    ------
    MixedRun
        When several files are in ``_raw`` and a ``derive`` expression reads a column typed
        differently from file to file, or fails on some rows.
    IngestError
        When a ``derive`` expression cannot be evaluated on a file.
    """
    s = ctx.source
    path = next(iter(files.values()))
    refs = _derive_refs(ctx, path, export_cols)
    mapped = [e for e in _needed_export_columns(ctx).values() if e in export_cols]
    used = [c for c in export_cols if c in refs or c in mapped]
    passed = _passed_through(ctx, export_cols, refs)
    cleaned = "".join(f", {_cleaned(quote(c), s.null_values)} AS {quote(c)}" for c in used)
    cleaned += "".join(f", {native}" for native in passed.values())
    src_view = f"CREATE OR REPLACE TEMP VIEW _src AS SELECT _fidx, _row{cleaned} FROM _raw"
    ctx.con.execute(src_view)
    try:
        typed_refs = _derive_types(ctx, list(refs))
    except MixedRun:
        ctx.con.execute("DROP VIEW _src")
        raise
    replace = ", ".join(f"TRY_CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in typed_refs.items())
    keep_text = "".join(f", {quote(c)} AS {quote('__text__' + c)}" for c in typed_refs)
    inner = f"SELECT *{f' REPLACE ({replace})' if replace else ''}{keep_text} FROM _src"
    errors: dict[str, dict[int, str]] = {}
    for canonical, expr in s.derive.items() if try_derive else ():
        try:
            ctx.con.execute(f"SELECT count(CAST(({expr}) AS VARCHAR)) FROM ({inner})").fetchall()
        except duckdb.Error as exc:
            if len(files) > 1:
                ctx.con.execute("DROP VIEW _src")
                raise MixedRun(canonical) from None
            rows = _derive_error_rows(ctx, expr, inner)
            if not rows:
                detail = str(exc).splitlines()[0]
                more = f" (it fails on more than {DERIVE_ERROR_ROWS} rows)" if rows is None else ""
                raise _derive_error(ctx, path, export_cols, canonical, detail + more) from None
            errors[canonical] = rows
    inner = f"SELECT *, {_bad_cells(ctx, typed_refs, refs, errors)} FROM ({inner})"
    texts = ", ".join(
        f"{f'CAST({passed[c.name]} AS VARCHAR)' if c.name in passed else _text_expr(ctx, c, export_cols, set(typed_refs), errors)} "
        f"AS {quote(c.name + '__src')}"
        for c in ctx.table.columns
    )
    texts += "".join(f", {native}" for native in passed.values())
    outer = ", ".join(
        f"{quote(c.name + '__src')}, "
        f"{_native_typed(ctx, c, passed[c.name]) if c.name in passed else _typed_expr(ctx, c)} AS {quote(c.name)}"
        for c in ctx.table.columns
    )
    outer += "".join(f", {native}" for native in passed.values())
    names = " ".join(f"WHEN {i} THEN {lit(p.name)}" for i, p in files.items())
    exported = " ".join(
        f"WHEN {i} THEN TIMESTAMP {lit(datetime.fromtimestamp(p.stat().st_mtime, tz=UTC).strftime('%Y-%m-%d %H:%M:%S'))}"
        for i, p in files.items()
    )
    mapped = (
        f"SELECT _fidx, CASE _fidx {names} END AS _file, CASE _fidx {exported} END AS _exported, _row, _bad_col, "
        f"_bad_value, _bad_rule, _bad_note, {outer} FROM (SELECT _fidx, _row, _bad_col, _bad_value, _bad_rule, "
        f"_bad_note, {texts} FROM ({inner}))"
    )
    whole = f"SELECT * EXCLUDE ({', '.join(passed.values())})" if passed else "SELECT *"
    return _Mapping(src_view=src_view, mapped=mapped, whole=whole, passed=passed)


def _values(ctx: SourceContext) -> str:
    """Select list of a mapped row's values in ``_typed``: each canonical column, then the key text it needs."""
    values = [quote(c.name) for c in ctx.table.columns]
    values += [quote(k + "__src") for k in ctx.table.key if stores_key_text(ctx, k)]
    return ", ".join(values)


def _set_aside_flagged(ctx: SourceContext, m: _Mapping, flagged: str) -> None:
    """Map the rows of ``_raw`` that ``flagged`` (SQL of their ``_fidx, _row``) names again, whole, into ``_suspect``.

    The same mapping, over the flagged rows only: the rows read are the same, and so the text.
    """
    ctx.con.execute(m.src_view + f" r SEMI JOIN ({flagged}) f ON r._fidx = f._fidx AND r._row = f._row")
    ctx.con.execute(f"INSERT INTO _suspect {m.whole}, TRUE FROM ({m.mapped})")


def stage(ctx: SourceContext, files: dict[int, Path], export_cols: list[str], broken: str | None) -> None:
    """Map ``_raw`` (one file, or a run of files read together) onto the canonical columns and append it to ``_typed``.

    Only the export columns the mapping reads are cleaned and carried along.

    Parameters
    ----------
    ctx : SourceContext
        The source and the connection.
    files : dict
        The files in ``_raw``: index among the source's files -> file.
    export_cols : list of str
        Their export columns.
    broken : str or None
        SQL condition, over a mapped row, of a row that breaks a rule of the checks
        (:func:`outcomes.ingest.checks.broken`); it fills ``_broken``, and the rows it
        flags are mapped again, whole, into ``_suspect``, so the checks need not scan
        every row again. None for a source with ``dedupe`` only (``_broken`` is left
        empty; the checks flag its rows after the dedupe).

    Raises
    ------
    MixedRun
        When several files are in ``_raw`` and a ``derive`` expression reads a column typed
        differently from file to file, or fails on some rows (nothing is appended).
    IngestError
        When a ``derive`` expression cannot be evaluated on a file, or a numeric column
        holds a number written in another convention.
    """
    m = _mapping(ctx, files, export_cols)
    if not keeps_text_of_flagged_rows_only(ctx):
        ctx.con.execute(f"INSERT INTO _typed {m.whole}, NULL FROM ({m.mapped})")
        ctx.con.execute("DROP VIEW _src")
        check_convention(ctx, files, "_typed")
        return
    if not broken:
        raise ValueError(f"source {ctx.name}: the condition of a flagged row is needed to keep their text only")
    flag = _flag_on_values(broken, m.passed)
    ctx.con.execute(f"INSERT INTO _typed SELECT _fidx, _row, {_values(ctx)}, ({flag}) FROM ({m.mapped})")
    flagged = f"SELECT _fidx, _row FROM _typed WHERE _fidx BETWEEN {min(files)} AND {max(files)} AND _broken"
    if ctx.con.execute(f"SELECT EXISTS ({flagged})").fetchone()[0]:
        _set_aside_flagged(ctx, m, flagged)
    ctx.con.execute("DROP VIEW _src")
    check_convention(ctx, files, "_suspect")


def stage_unnumbered(
    ctx: SourceContext, files: dict[int, Path], export_cols: list[str], broken: str, reread: Callable[[int], None]
) -> list[int] | None:
    """Map a run of CSV files opened where they lie (:func:`outcomes.ingest.readers.open_csv_run`) into ``_typed`` in one pass.

    The rows are mapped straight from the files, as :func:`stage` maps them, and numbered
    afterwards by the order they are stored in: DuckDB keeps the order read, one file's
    rows after the other's, and this is checked before they are numbered. A file with a
    flagged row, or a row whose first cell is a column name
    (:data:`~outcomes.ingest.readers.HEADER_LIKE`), is read again as numbered text
    (``reread``, which also refuses a header repeated in another order) to set its flagged
    rows aside whole in ``_suspect``.

    Parameters
    ----------
    ctx : SourceContext
        The source (without ``dedupe``) and the connection.
    files : dict
        The files in ``_raw``: index among the source's files -> file.
    export_cols : list of str
        Their export columns.
    broken : str
        SQL condition of a flagged row, as for :func:`stage`.
    reread : callable
        Opens one file, by its index, as the numbered view ``_raw``
        (:func:`outcomes.ingest.readers.read_export`).

    Returns
    -------
    list of int or None
        Data rows per file; None when the run must be read as text instead (a derive
        expression that fails on a row or reads columns typed differently from file to
        file, a file DuckDB cannot parse, rows not stored in the order read). Nothing of
        the run is left in ``_typed`` then.

    Raises
    ------
    IngestError
        When a file holds a header and no rows (unless ``allow_empty``) or repeats its
        header in another order, or a numeric column holds a number written in another
        convention.
    """
    con = ctx.con
    try:
        m = _mapping(ctx, files, export_cols, try_derive=False)
    except (MixedRun, IngestError, duckdb.Error):
        con.execute("DROP VIEW IF EXISTS _src")
        return None
    before = con.execute("SELECT coalesce(max(rowid) + 1, 0) FROM _typed").fetchone()[0]
    flag = f"({_flag_on_values(broken, m.passed)}) OR _row IS NOT NULL" if broken else "_row IS NOT NULL"
    try:
        con.execute(f"INSERT INTO _typed SELECT _fidx, _row, {_values(ctx)}, {flag} FROM ({m.mapped})")
    except duckdb.Error:
        con.execute("DROP VIEW _src")
        return None
    con.execute("DROP VIEW _src")
    stored = stored_row_numbers(con, "_typed", before)
    if stored is None:
        con.execute(f"DELETE FROM _typed WHERE rowid >= {before}")
        return None
    row, counts = stored
    if counts:
        con.execute(f"UPDATE _typed SET _row = {row} WHERE rowid >= {before}")
    for fidx, path in files.items():
        if not counts.get(fidx):
            check_rows_present(ctx, path)
    flagged_files = [
        i for (i,) in con.execute(f"SELECT DISTINCT _fidx FROM _typed WHERE rowid >= {before} AND _broken ORDER BY _fidx").fetchall()
    ]
    for fidx in flagged_files:
        reread(fidx)
        _set_aside_flagged(ctx, m, f"SELECT _fidx, _row FROM _typed WHERE rowid >= {before} AND _fidx = {fidx} AND _broken")
        con.execute("DROP VIEW _src")
    check_convention(ctx, files, "_suspect")
    return [counts.get(i, 0) for i in files]
