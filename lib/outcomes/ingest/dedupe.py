"""Dedupe of event logs: one version per key, and aggregates over all of a key's versions.

A source with ``dedupe`` (an event log where a record appears once per update) keeps one
version per key, the first or last by ``order_by`` then file order. Columns under
``dedupe.aggregate`` take an aggregate over all the key's versions instead (the first
event's time, the number of team changes...). :func:`dedupe` turns ``_typed`` into
``_kept``, the rows the checks of :mod:`outcomes.ingest.checks` then judge.
"""

from __future__ import annotations

from outcomes.errors import IngestError
from outcomes.ingest.context import SourceContext, close_match
from outcomes.ingest.sources import Dedupe
from outcomes.warehouse.store import SQL_TYPES, quote


def check_dedupe(ctx: SourceContext, d: Dedupe) -> None:
    """Check the source's ``dedupe``: its key and order are canonical columns, its aggregations suit their types."""
    names = ctx.table.column_names
    for key in [*d.key, *([d.order_by] if d.order_by else [])]:
        if key not in names:
            raise IngestError(
                f"{ctx.cfg_label}: {ctx.where}.dedupe names '{key}', which is not a column of table "
                f"'{ctx.table.name}'{close_match(key, names)}; columns are {names}",
                file=ctx.cfg_label,
                column=key,
                expected=f"a column of {ctx.table.name}",
                found=key,
                fix=f"edit {ctx.where}.dedupe",
            )
    for column in d.aggregate:
        _check_aggregation(ctx, d, column)


def _check_aggregation(ctx: SourceContext, d: Dedupe, column: str) -> None:
    """Check one ``dedupe.aggregate`` entry: canonical columns, and an aggregation that suits their types."""
    names = ctx.table.column_names
    func, arg = d.aggregation(column)
    spec = f"{ctx.where}.dedupe.aggregate.{column}"
    for name in (column, arg):
        if name not in names:
            raise IngestError(
                f"{ctx.cfg_label}: {spec} names '{name}', which is not a column of table "
                f"'{ctx.table.name}'{close_match(name, names)}; columns are {names}",
                file=ctx.cfg_label,
                column=name,
                expected=f"a column of {ctx.table.name}",
                found=name,
                fix=f"edit {spec}",
            )
    out, src = ctx.table.column(column).type, ctx.table.column(arg).type
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
            f"{ctx.cfg_label}: {spec} is '{d.aggregate[column]}', which reads {arg} ({src}) into "
            f"{column} ({out}); {func} aggregates {what}",
            file=ctx.cfg_label,
            column=column,
            expected=f"{func} of {what}",
            found=f"{arg} ({src}) into {column} ({out})",
            fix=f"edit {spec}",
        )


def dedupe(ctx: SourceContext) -> None:
    """Create ``_kept``: one version per key when the source asks for it, else every row."""
    d = ctx.source.dedupe
    if d is None:
        ctx.con.execute("ALTER TABLE _typed RENAME TO _kept")
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
        kept = f"SELECT k.* REPLACE ({replace}) FROM ({kept}) k LEFT JOIN ({_aggregates(ctx, d, null_key)}) a ON {join}"
    ctx.con.execute(f"CREATE TEMP TABLE _kept AS {kept}")
    ctx.con.execute("DROP TABLE _typed")


def _aggregates(ctx: SourceContext, d: Dedupe, null_key: str) -> str:
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
        sql_type = SQL_TYPES[ctx.table.column(column).type]
        outs += [
            f"CASE WHEN {bad} IS NULL AND count({a}) > 0 THEN CAST({value} AS {sql_type}) END AS {quote(column)}",
            f"coalesce({bad}, CAST(CASE WHEN count({a}) > 0 THEN {value} END AS VARCHAR)) AS {quote(column + '__src')}",
        ]
    versions = f"SELECT *{''.join(', ' + s for s in steps)} FROM _typed WHERE NOT ({null_key})"
    return f"SELECT {part}, TRUE AS _grouped, {', '.join(outs)} FROM ({versions}) GROUP BY {part}"
