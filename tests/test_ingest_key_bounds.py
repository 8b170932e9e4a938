"""A row's key held by the canonical table is found whatever the stored keys' order (``checks._in_table``).

The check bounds the stored keys by the range of the new ones, as constants, so that DuckDB
skips the row groups outside it; the bounds must never hide a stored key equal to a new one.
"""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import pytest

from outcomes.ingest import checks


def _ctx(key: list[str], stored: list[tuple], new: list[tuple], types: str = "VARCHAR") -> SimpleNamespace:
    con = duckdb.connect()
    cols = ", ".join(f"{k} {types}" for k in key)
    con.execute(f"CREATE TABLE canon ({cols})")
    con.execute(f"CREATE TEMP TABLE _kept (_fidx INTEGER, _row BIGINT, {cols})")
    con.execute("CREATE TEMP TABLE _rej (_fidx INTEGER, _row BIGINT)")
    con.executemany(f"INSERT INTO canon VALUES ({', '.join('?' for _ in key)})", stored)
    con.executemany(f"INSERT INTO _kept VALUES (0, ?, {', '.join('?' for _ in key)})", [(i + 1, *r) for i, r in enumerate(new)])
    return SimpleNamespace(con=con, table=SimpleNamespace(name="canon", key=key))


@pytest.mark.parametrize(
    ("stored", "new", "held"),
    [
        ([("A1",), ("A2",), ("A3",)], [("A4",), ("A5",)], 0),  # after the stored keys: nothing held
        ([("A1",), ("A2",), ("A3",)], [("A0",), ("A2",), ("A9",)], 1),  # interleaved: the equal one is found
        ([("A1",), ("A3",)], [("A3",), ("A3",)], 2),  # a range of one key
        ([("A1",)], [(None,), (None,)], 0),  # no key value at all: nothing can be held
        ([("b'1",), ("b'2",)], [("b'2",)], 1),  # a quote in the key
    ],
)
def test_stored_keys_equal_to_new_ones_are_found(stored, new, held) -> None:
    assert checks.keys_already_loaded(_ctx(["id"], stored, new)) == held


def test_integer_and_composite_keys_are_bounded_per_column() -> None:
    assert checks.keys_already_loaded(_ctx(["id"], [(i,) for i in range(1000)], [(5000,), (999,), (-3,)], "BIGINT")) == 1
    ctx = _ctx(["a", "b"], [("x", "1"), ("y", "2")], [("x", "2"), ("y", "2"), (None, "1")])
    assert checks.keys_already_loaded(ctx) == 1
    # the bounds are constants from the new rows, so DuckDB can skip stored row groups outside them
    assert checks._key_bounds(ctx) == ["t.\"a\" BETWEEN 'x' AND 'y'", "t.\"b\" BETWEEN '1' AND '2'"]
