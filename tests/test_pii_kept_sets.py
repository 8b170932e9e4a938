"""The personal-data scan's hashes kept across runs (outcomes.run.pii, ``keep``).

A kept scan must find exactly what a scan reading every row finds: after a new month is
appended, after a past month changes, after the kept files are merged, and whatever a
file left by another DuckDB or normalising SQL holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from outcomes.run import pii


def _warehouse(path: Path) -> Path:
    """Customers with a signup month (one without), orders by month, assignments without a month."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, name VARCHAR, email VARCHAR, signup_date DATE)")
        con.execute(
            "INSERT INTO customers VALUES ('C00001', 'Anna  Berg', 'anna@example.com', DATE '2025-01-10'), "
            "('C00002', 'Li Wei', 'li.wei@example.com', DATE '2025-02-03'), "
            "('C00003', 'Old Timer', 'old@example.com', NULL)"
        )
        con.execute("CREATE TABLE orders (order_id VARCHAR, customer_id VARCHAR, ordered_at TIMESTAMP)")
        con.execute(
            "INSERT INTO orders VALUES ('o1', 'C00001', TIMESTAMP '2025-01-31 23:59:59'), "
            "('o2', 'C00002', TIMESTAMP '2025-02-01 00:00:00')"
        )
        con.execute("CREATE TABLE assignments (initiative_id VARCHAR, unit_id VARCHAR, arm VARCHAR)")
        con.execute("INSERT INTO assignments VALUES ('portal', 'U00077', 'control')")
    return path


def _scan(page: Path, wh: Path, keep: Path | None) -> list[str]:
    hits = pii.scan([page], warehouse=wh, columns=[], deny_file=None, min_length=5, keep=keep)
    return [h.summary() for h in hits]


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "p.html"
    page.write_text(f"<p>{text}</p>", encoding="utf-8")
    return page


def _files(keep: Path, column: str) -> dict[str, dict[str, str]]:
    """Kept files of a column: Parquet name -> the months it covers."""
    folder = keep / pii.SETS_DIR / column
    return {p.with_suffix(".parquet").name: json.loads(p.read_text())["covers"] for p in folder.glob("*.json")}


def test_a_kept_scan_finds_what_a_full_scan_finds_and_keeps_hashes_only(tmp_path: Path) -> None:
    wh, keep = _warehouse(tmp_path / "wh.duckdb"), tmp_path / "history"
    page = _page(tmp_path, "ANNA BERG, li.wei@example.com, c00003 and u00077 left; Old Timer stays")
    full = _scan(page, wh, None)
    assert full == [
        "p.html: 1 value(s) from customers.customer_id",
        "p.html: 2 value(s) from customers.name",  # Old Timer signed up in no month
        "p.html: 1 value(s) from customers.email",
        "p.html: 1 value(s) from assignments.unit_id",
    ]
    assert _scan(page, wh, keep) == full  # made
    assert _scan(page, wh, keep) == full  # read back
    assert [sorted(c) for c in _files(keep, "customers.name").values()] == [["2025-01", "2025-02", "none"]]
    assert [list(c) for c in _files(keep, "assignments.unit_id").values()] == [["whole"]]  # no month column
    for parquet in (keep / pii.SETS_DIR).glob("*/*.parquet"):
        assert pq.read_schema(parquet).field("h").type == "uint64"
        assert b"example.com" not in parquet.read_bytes() and b"C0000" not in parquet.read_bytes()


def test_a_new_month_is_hashed_alone_and_found(tmp_path: Path) -> None:
    wh, keep = _warehouse(tmp_path / "wh.duckdb"), tmp_path / "history"
    page = _page(tmp_path, "customer c00009 (Nora Quist) churned")
    assert _scan(page, wh, keep) == []
    before = _files(keep, "customers.customer_id")
    with duckdb.connect(str(wh)) as con:
        con.execute("INSERT INTO customers VALUES ('C00009', 'Nora Quist', 'nora@example.com', DATE '2025-03-01')")
    assert _scan(page, wh, keep) == _scan(page, wh, None) == [
        "p.html: 1 value(s) from customers.customer_id",
        "p.html: 1 value(s) from customers.name",
    ]
    after = _files(keep, "customers.customer_id")
    assert set(before) < set(after)  # the earlier months' file is kept as it was
    assert [list(covers) for name, covers in after.items() if name not in before] == [["2025-03"]]


def test_a_changed_past_month_is_hashed_again_and_its_old_values_go(tmp_path: Path) -> None:
    wh, keep = _warehouse(tmp_path / "wh.duckdb"), tmp_path / "history"
    old, new = _page(tmp_path, "Anna Berg"), tmp_path / "new.html"
    new.write_text("<p>Anna Lind</p>", encoding="utf-8")
    assert _scan(old, wh, keep) == ["p.html: 1 value(s) from customers.name"]
    with duckdb.connect(str(wh)) as con:
        con.execute("UPDATE customers SET name = 'Anna Lind' WHERE customer_id = 'C00001'")
    assert _scan(old, wh, keep) == []
    assert _scan(new, wh, keep) == ["new.html: 1 value(s) from customers.name"]
    assert len(_files(keep, "customers.name")) == 1


def test_files_past_the_limit_are_merged_into_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii, "MAX_SET_FILES", 2)
    wh, keep = _warehouse(tmp_path / "wh.duckdb"), tmp_path / "history"
    page = _page(tmp_path, "C00031 C00032 C00033")
    _scan(page, wh, keep)
    counts = []
    for n, month in ((31, "03"), (32, "04"), (33, "05")):
        with duckdb.connect(str(wh)) as con:
            con.execute(f"INSERT INTO orders VALUES ('o{n}', 'C000{n}', TIMESTAMP '2025-{month}-15 12:00:00')")
        assert _scan(page, wh, keep) == [f"p.html: {n - 30} value(s) from orders.customer_id"]
        counts.append(len(_files(keep, "orders.customer_id")))
        if counts[-1] == 1:
            (covers,) = _files(keep, "orders.customer_id").values()
            assert sorted(covers) == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert counts == [2, 1, 2]  # the third file made them merge


def test_a_file_made_by_another_engine_or_normaliser_is_not_read(tmp_path: Path) -> None:
    wh, keep = _warehouse(tmp_path / "wh.duckdb"), tmp_path / "history"
    page = _page(tmp_path, "Li Wei")
    _scan(page, wh, keep)
    (doc,) = (keep / pii.SETS_DIR / "customers.name").glob("*.json")
    stale = json.loads(doc.read_text())
    stale["engine"] = "v0.0.0 lower(v)"
    doc.write_text(json.dumps(stale))
    # the file's hashes would still match; it must be replaced, not trusted
    doc.with_suffix(".parquet").write_bytes(b"not parquet")
    assert _scan(page, wh, keep) == ["p.html: 1 value(s) from customers.name"]
    (made,) = (keep / pii.SETS_DIR / "customers.name").glob("*.json")
    assert json.loads(made.read_text())["engine"] != stale["engine"]
    assert pq.read_table(made.with_suffix(".parquet")).num_rows == 3


def test_an_empty_table_is_scanned_without_a_kept_file(tmp_path: Path) -> None:
    wh, keep = _warehouse(tmp_path / "wh.duckdb"), tmp_path / "history"
    with duckdb.connect(str(wh)) as con:
        con.execute("DELETE FROM orders")
    assert _scan(_page(tmp_path, "C00001"), wh, keep) == ["p.html: 1 value(s) from customers.customer_id"]
    assert not _files(keep, "orders.customer_id")
