"""Pandera schemas of the canonical tables, built from :mod:`outcomes.warehouse.datamodel`.

One :class:`pandera.ibis.DataFrameSchema` per table declares the data contract: column
types, nullability, allowed values, numeric bounds, months on their first day, the
unique key, and the cross-column row rules.

Why the ibis backend
--------------------
The schemas validate ibis tables, so the checks compile to SQL and run inside DuckDB:
a warehouse of 10 million tickets is validated without loading it into pandas, and the
same schema would validate a Spark table through ibis. (The alternative, validating
pandas record batches in a loop, moves every row through Python and cannot check a
unique key across batches.) Ingest applies the same rules row by row in SQL first, so
that a bad row is rejected with a message while the good rows load; the schemas are the
final enforcement on each loaded table, and the contract other steps can check a table
against.

What ingest validates
---------------------
Ingest rejects, row by row and before loading, every row that would break a data check
of these schemas (:mod:`outcomes.ingest.checks`): an empty required or key value
(``not_null``), a value outside the allowed values, below ``min`` or above ``max``, a
broken row rule, and a key already seen in the source or the table (``duplicate_key``);
a month is stored as its first day by the mapping itself (``date_trunc``). Repeating
those checks on the loaded table took a tenth of a full ingest to find nothing, so
ingest validates each loaded table with ``data_checks=False``: the column names, order
and types, which the rejects cannot guarantee. ``tests/test_ingest_validate.py`` checks
that an ingested table with a bad row of each kind passes the full schema. Everyone else
(notebooks, a table from elsewhere) validates with the data checks, the default.

A row rule is a DuckDB boolean expression (:class:`outcomes.warehouse.datamodel.RowRule`); its
check compiles the table to SQL and counts the rows where the expression is false,
because ibis cannot build an expression from SQL text on DuckDB 2.
"""

from __future__ import annotations

from functools import cache

import ibis
import ibis.expr.datatypes as dt
import pandera.ibis as pa
from pandera.api.ibis.types import IbisData

from outcomes.warehouse.datamodel import TABLES, Column, LogicalType, RowRule, Table

#: ibis type of each logical type (DuckDB ``TIMESTAMP`` is microsecond precision).
IBIS_TYPES: dict[LogicalType, dt.DataType] = {
    "string": dt.String(),
    "int": dt.Int64(),
    "float": dt.Float64(),
    "bool": dt.Boolean(),
    "date": dt.Date(),
    "timestamp": dt.Timestamp(scale=6),
    "month": dt.Date(),
}


def _first_of_month(data: IbisData) -> ibis.Expr:
    """True where a month column holds the first day of its month."""
    return data.table[data.key].day() == 1


def _column_checks(col: Column) -> list[pa.Check]:
    """The value checks of one column: allowed values, bounds, first day of a month."""
    checks = []
    if col.allowed is not None:
        checks.append(pa.Check.isin(list(col.allowed)))
    if col.min is not None:
        checks.append(pa.Check.ge(col.min))
    if col.max is not None:
        checks.append(pa.Check.le(col.max))
    if col.type == "month":
        checks.append(pa.Check(_first_of_month, name="first_of_month", error="a month is stored as its first day"))
    return checks


def _rule_check(rule: RowRule) -> pa.Check:
    """A table-level check that no row makes ``rule.sql`` false (NULL passes)."""

    def holds(data: IbisData) -> bool:
        table = data.table
        sql = ibis.to_sql(table)
        cur = table.get_backend().raw_sql(f"SELECT count(*) FROM ({sql}) AS t WHERE NOT ({rule.sql})")
        return cur.fetchall()[0][0] == 0

    return pa.Check(holds, name=rule.name, error=rule.message)


def build_schema(table: Table, *, data_checks: bool = True) -> pa.DataFrameSchema:
    """Build the pandera schema of one canonical table.

    Parameters
    ----------
    table : Table
        A table of :data:`outcomes.warehouse.datamodel.TABLES`.
    data_checks : bool
        Include the checks of values (nullability, allowed values, bounds, key, row
        rules). Without them the schema checks column names, order and types only.

    Returns
    -------
    pandera.ibis.DataFrameSchema
        Strict (no extra columns), ordered as the data model, unique on the key.
    """
    columns = {
        c.name: pa.Column(
            IBIS_TYPES[c.type],
            checks=_column_checks(c) if data_checks else [],
            nullable=not data_checks or (c.nullable and c.name not in table.key),
            description=c.description,
            title=c.name,
        )
        for c in table.columns
    }
    return pa.DataFrameSchema(
        columns,
        checks=[_rule_check(r) for r in table.rules] if data_checks else [],
        unique=(list(table.key) or None) if data_checks else None,
        strict=True,
        ordered=True,
        name=table.name,
        description=table.description,
    )


@cache
def schema(name: str, *, data_checks: bool = True) -> pa.DataFrameSchema:
    """Return the pandera schema of the canonical table called ``name``.

    Parameters
    ----------
    name : str
        A canonical table name.
    data_checks : bool
        See :func:`build_schema`.

    Returns
    -------
    pandera.ibis.DataFrameSchema
        The schema; ``schema("tickets").validate(con.table("tickets"), lazy=True)``
        raises :class:`pandera.errors.SchemaErrors` listing every failure.
    """
    if name not in TABLES:
        raise KeyError(f"no canonical table '{name}'; tables are: {', '.join(TABLES)}")
    return build_schema(TABLES[name], data_checks=data_checks)


def validate(table: ibis.Table, name: str, *, data_checks: bool = True) -> ibis.Table:
    """Validate an ibis table against the schema of the canonical table ``name``.

    An empty table is checked for its columns and types only: pandera 0.35's ibis
    backend reports the nullability check of an empty column as failed (the SQL
    ``bool_and`` of no rows is NULL), and every value check holds on no rows anyway.

    Parameters
    ----------
    table : ibis.Table
        For example ``warehouse.connect().table("tickets")``.
    name : str
        A canonical table name.
    data_checks : bool
        Check the values too (the default); without, the column names, order and types
        only (what ingest validates, see "What ingest validates" above).

    Returns
    -------
    ibis.Table
        ``table``, when it is valid.

    Raises
    ------
    pandera.errors.SchemaErrors
        Listing every failure.
    """
    if data_checks:
        data_checks = table.limit(1).count().to_pyarrow().as_py() > 0
    return schema(name, data_checks=data_checks).validate(table, lazy=True)


__all__ = ["IBIS_TYPES", "build_schema", "schema", "validate"]
