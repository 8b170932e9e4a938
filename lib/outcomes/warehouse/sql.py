"""SQL text the kit writes itself: identifiers quoted the same way on every engine."""

from __future__ import annotations


def quote(name: str) -> str:
    """Quote an SQL identifier (column or table name) for DuckDB and Spark SQL.

    Parameters
    ----------
    name : str
        The identifier as it is named in the data.

    Returns
    -------
    str
        The identifier in double quotes, inner double quotes doubled.

    Examples
    --------
    >>> print(quote('a"b'))
    "a""b"
    """
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote a value (a path, a setting, a name) as an SQL string literal.

    Paths and values the kit writes into SQL text pass through here, so a folder named
    ``O'Brien's reports`` works like any other.

    Parameters
    ----------
    value : str
        The text.

    Returns
    -------
    str
        The text in single quotes, inner single quotes doubled.

    Examples
    --------
    >>> print(literal("/data/o'brien/warehouse.duckdb"))
    '/data/o''brien/warehouse.duckdb'
    """
    return "'" + value.replace("'", "''") + "'"
