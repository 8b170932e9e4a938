"""Generated hostile exports through ingest: whatever the bytes, the invariants of ingest hold.

Hypothesis writes tickets exports with random encodings (declared right or wrong),
delimiters, quoting, headers (shuffled, duplicated, missing, repeated, header only) and
cell values (dates of every shape, numbers of both conventions, quotes, line breaks).
Every example checks the invariants stated in docs/ingest.md:

* ingest either loads or stops with one IngestError (a ParamsError of the sources file
  is reported as an IngestError too); nothing else escapes;
* when it loads, no row is lost: every data row written is read, and rows read =
  loaded + rejected for each source and in the log; every reject names its rule and
  says why;
* when it stops, the previous warehouse is byte-identical and no temporary file is left;
  a source that rejects more than its ``max_reject_share`` of its rows stops it (its
  rejects are still written), one that loads rejected no more than that.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ingest_exports import COLUMNS, GOOD, HEADER, query, sha256, tickets, write_config, write_raw

from outcomes.errors import IngestError
from outcomes.ingest.load import run_ingest
from outcomes.warehouse import schemas, store
from outcomes.warehouse.datamodel import TABLES

EXTRA = ["reassignment_count", "sla_target_hours", "category"]
#: The rules a tickets row can break (besides unparseable values).
KNOWN_RULES = {
    "not_null",
    "allowed_values",
    "min",
    "max",
    "duplicate_key",
    "two_digit_year",
    "before_earliest",
    "after_export_date",
    "derive_input",
    "derive_error",
    *(rule.name for rule in TABLES["tickets"].rules),
}

dates = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.datetimes().map(lambda d: d.strftime("%d/%m/%y %H:%M")),
    st.datetimes().map(lambda d: d.strftime("%y-%m-%d")),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["", "2024-02-30 10:00", "45292.5", "yesterday", "2031-01-01 00:00", "1899-12-31"]),
)
numbers = st.one_of(
    st.integers(-10, 10**7).map(str),
    st.integers(-10, 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "", "n/a", "1e3", "-0", "63.885"]),
    st.sampled_from(["1.234,56", "1,234.56", "0,5", "1 234"]),
)
texts = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
categories = {
    "requester_type": st.sampled_from(["customer", "employee", "robot", "Customer "]),
    "priority": st.sampled_from(["critical", "high", "medium", "low", "P1"]),
    "channel": st.sampled_from(["phone", "email", "chat", "portal", "fax"]),
}


@st.composite
def exports(draw: st.DrawFn) -> dict:
    """One tickets export and its source entry: the bytes, the declared options, and the data rows written."""
    header = COLUMNS + draw(st.lists(st.sampled_from(EXTRA), unique=True))
    header = draw(st.permutations(header))
    edit = draw(st.sampled_from(["none"] * 7 + ["duplicate", "drop", "rename"]))
    if edit == "duplicate":
        header = [*header, draw(st.sampled_from(header))]
    elif edit == "drop":
        header = [h for h in header if h != draw(st.sampled_from(header))]
    elif edit == "rename":
        header = [h.upper() if i == 0 else h for i, h in enumerate(header)]
    columns = {
        "ticket_id": st.one_of(st.sampled_from(["T1", "T2", "t1 ", ""]), st.text("T0123456789", min_size=2, max_size=4)),
        "opened_at": dates,
        "resolved_at": dates,
        "requester_id": texts,
        "service": texts,
        "reassignment_count": numbers,
        "sla_target_hours": numbers,
        "category": texts,
        **categories,
    }
    rows = draw(
        st.lists(st.tuples(*(columns.get(h.lower(), texts) for h in header)).map(list),
            min_size=draw(st.sampled_from([0, 1, 1, 1, 1])),
            max_size=12,
        )
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    repeat_at = draw(st.sampled_from([None] * 9 + [draw(st.integers(0, len(rows)))]))
    for i, row in enumerate([*rows, None]):
        if i == repeat_at:
            writer.writerow(draw(st.permutations(header)))
        if row is not None:
            writer.writerow(row)
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "cp1252", "utf-16"]))
    data = out.getvalue().encode(encoding, errors="replace")
    entry = {
        "encoding": draw(st.sampled_from([encoding] * 4 + ["utf-8"])),
        "delimiter": draw(st.sampled_from([delimiter] * 4 + [","])),
    }
    options = {
        "allow_empty": st.booleans(),
        "year_pivot": st.integers(0, 100),
        "decimal": st.sampled_from([".", ","]),
        "thousands": st.sampled_from([".", " "]),
        "normalize": st.just({"ticket_id": "upper"}),
        "future_days": st.integers(0, 5000),
        # Without it the hand-made exports' helper lets any share of rows be rejected.
        "max_reject_share": st.sampled_from([0.0, 0.05, 0.5]),
    }
    for key in draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=3)):
        entry[key] = draw(options[key])
    if entry.get("thousands") == entry.get("decimal", "."):
        entry.pop("thousands")
    written = len(rows) + (repeat_at is not None)
    return {"data": data, "entry": entry, "written": written}


@pytest.fixture(scope="module")
def previous_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good warehouse from an earlier ingest, copied into each example's folder."""
    folder = tmp_path_factory.mktemp("previous")
    run_ingest(tickets(folder, [HEADER, *GOOD]), validate=False)
    return folder / "warehouse.duckdb"


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(export=exports())
def test_ingest_invariants_hold_for_any_export(previous_warehouse: Path, export: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        shutil.copy(previous_warehouse, tmp / "warehouse.duckdb")
        before = sha256(tmp / "warehouse.duckdb")
        write_raw(tmp, "tickets.csv", export["data"])
        cfg = write_config(tmp, {"tickets": {"table": "tickets", "path": "tickets.csv", **export["entry"]}})
        try:
            summary = run_ingest(cfg)
        except IngestError as exc:
            event(f"refused: {exc.expected}")
            assert sha256(tmp / "warehouse.duckdb") == before
            assert [p.name for p in tmp.iterdir() if p.name.startswith(".")] == []
            assert [p.name for p in (tmp / "rejects").iterdir() if p.name.startswith(".")] == []
            if "max_reject_share" in str(exc):
                # Refused for its share of rejects: the rejects are written for inspection all the same.
                assert (tmp / "rejects" / "tickets.csv").is_file()
            return
        (result,) = summary.sources
        event("loaded, some rows rejected" if result.rows_rejected else "loaded, no reject")
        assert result.rows_read == export["written"]
        assert result.rows_read == result.rows_loaded + result.rows_rejected
        assert result.rows_rejected <= export["entry"].get("max_reject_share", 1.0) * result.rows_read
        assert query(tmp, "SELECT count(*) FROM tickets") == [(result.rows_loaded,)]
        assert query(tmp, "SELECT sum(rows_read), sum(rows_loaded) + sum(rows_rejected) FROM _ingest_log") == [
            (result.rows_read, result.rows_read)
        ]
        assert query(tmp, "SELECT count(DISTINCT row_number) FROM _rejects") == [(result.rows_rejected,)]
        rules = {r[0] for r in query(tmp, "SELECT DISTINCT rule FROM _rejects")}
        assert rules <= KNOWN_RULES | {f"unparseable_{t}" for t in ("timestamp", "int", "float")}
        assert query(tmp, "SELECT count(*) FROM _rejects WHERE message IS NULL OR message NOT LIKE 'tickets.csv row %'") == [
            (0,)
        ]
        # ingest's own last check covers columns and types; every value rule was enforced by the rejects
        con = store.connect(tmp / "warehouse.duckdb")
        try:
            schemas.validate(con.table("tickets"), "tickets", data_checks=True)
        finally:
            con.disconnect()
