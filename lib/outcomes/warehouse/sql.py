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
