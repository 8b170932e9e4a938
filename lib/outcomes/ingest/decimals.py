"""Numbers as the export writes them: the decimal and thousands separators of a source.

A source declares ``decimal`` (``.`` or ``,``) and ``thousands`` (none, ``,``, ``.``, a
space or ``'``) in ``params/sources.yaml``. :func:`numeric_text` turns a value written
that way into the text DuckDB casts (``1.234,56`` -> ``1234.56``); a value that does not
follow the declared convention becomes empty and is rejected as unparseable.

A number written in another convention parses silently wrong (``63.885`` meaning 63,885
read as 63.885), so :func:`check_convention` refuses a file whose numeric column holds a
well-formed number of another convention (``1.234,56`` when the decimal is ``.``),
naming the options to set.
"""

from __future__ import annotations

import re
from pathlib import Path

from outcomes.errors import IngestError
from outcomes.ingest.context import SourceContext
from outcomes.warehouse.sql import literal as lit
from outcomes.warehouse.store import quote

#: A number written with some decimal and thousands separators: ``1.234,56``, ``1 234``, ``0,5``.
WELL_FORMED = r"[+-]?(\d{1,3}([.,' ]\d{3})+([.,]\d+)?|\d+[.,]\d+)"


def is_default(ctx: SourceContext) -> bool:
    """Whether the source writes numbers as DuckDB reads them (decimal point, no thousands separator)."""
    return ctx.source.decimal == "." and ctx.source.thousands is None


def numeric_text(ctx: SourceContext, text: str) -> str:
    """SQL turning the number text ``text`` (SQL) written in the source's convention into DuckDB's form.

    With the default convention the text is returned as it is (DuckDB also reads
    ``1e3``); otherwise only digits with the declared separators are read, and any other
    text becomes NULL.
    """
    if is_default(ctx):
        return text
    dec, thousands = re.escape(ctx.source.decimal), ctx.source.thousands
    plain = rf"[+-]?\d+({dec}\d+)?"
    cases = f"WHEN regexp_full_match({text}, {lit(plain)}) THEN replace({text}, {lit(ctx.source.decimal)}, '.')"
    if thousands is not None:
        grouped = rf"[+-]?\d{{1,3}}({re.escape(thousands)}\d{{3}})+({dec}\d+)?"
        cases = (
            f"WHEN regexp_full_match({text}, {lit(grouped)}) THEN "
            f"replace(replace({text}, {lit(thousands)}, ''), {lit(ctx.source.decimal)}, '.') {cases}"
        )
    return f"(CASE {cases} END)"


def _reading(value: str) -> dict[str, str]:
    """The separators ``value`` (a :data:`WELL_FORMED` number) most likely uses: option -> separator."""
    seps = [c for c in value if c in ".,' "]
    last = seps[-1]
    if len(set(seps)) > 1:
        return {"decimal": last, "thousands": seps[0]}
    if len(seps) > 1 or last in " '":
        return {"thousands": last}
    if len(value) - value.rindex(last) - 1 == 3:
        return {"thousands": last}
    return {"decimal": last}


def check_convention(ctx: SourceContext, files: dict[int, Path], relation: str) -> None:
    """Refuse a file whose numeric column holds a number written in another convention.

    Parameters
    ----------
    ctx : SourceContext
        The source.
    files : dict
        The files just mapped: index among the source's files -> file.
    relation : str
        The table holding their mapped rows' text and values under their ``_fidx``:
        ``_typed``, or ``_suspect`` when it holds the text of the flagged rows only (a
        cell that did not parse flags its row).

    Raises
    ------
    IngestError
        Naming the first such file, the column, the value, its row and the
        ``decimal``/``thousands`` options to set.
    """
    numeric = [c for c in ctx.table.columns if c.type in ("int", "float")]
    if not numeric:
        return
    order = "(CAST(_fidx AS BIGINT) << 40) + _row"
    probes = ", ".join(
        f"arg_min([{quote(c.name + '__src')}, CAST(_row AS VARCHAR), CAST(_fidx AS VARCHAR)], {order}) "
        f"FILTER (WHERE {quote(c.name)} IS NULL AND regexp_full_match({quote(c.name + '__src')}, {lit(WELL_FORMED)}))"
        for c in numeric
    )
    # Only a cell that holds text and no number can hold a number in another convention.
    unread = " OR ".join(f"({quote(c.name)} IS NULL AND {quote(c.name + '__src')} IS NOT NULL)" for c in numeric)
    hits = ctx.con.execute(
        f"SELECT {probes} FROM {relation} WHERE _fidx BETWEEN {min(files)} AND {max(files)} AND ({unread})"
    ).fetchone()
    first = min((int(h[2]) for h in hits if h is not None), default=None)
    if first is None:
        return
    path = files[first]
    found = [h[:2] if h is not None and int(h[2]) == first else None for h in hits]
    for col, hit in zip(numeric, found, strict=True):
        if hit is None:
            continue
        value, row = hit
        s = ctx.source
        declared = f"decimal '{s.decimal}' and " + (f"thousands '{s.thousands}'" if s.thousands else "no thousands separator")
        reading = _reading(value)
        options = " and ".join(f"{ctx.where}.{k}: '{v}'" for k, v in reading.items())
        ambiguous = (
            f" (or {ctx.where}.decimal: '{reading['thousands']}' if it is a decimal separator)"
            if set(reading) == {"thousands"} and reading["thousands"] in ".," and value.count(reading["thousands"]) == 1
            else ""
        )
        raise IngestError(
            f"{path.name} row {row}: {col.name} '{value}' is not a number written with {declared}, so other values "
            f"of the column may be read wrong (63.885 as 63.885 instead of 63885); it reads as a number with "
            f"{', '.join(f'{k} {v!r}' for k, v in reading.items())}: set {options}{ambiguous} in {ctx.cfg_label}",
            file=path.name,
            column=col.name,
            expected=f"numbers with {declared}",
            found=value,
            fix=f"set {options}",
        )
