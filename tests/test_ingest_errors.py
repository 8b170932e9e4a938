"""Bad exports: each kind of bad input gives an exact reject line, or one IngestError.

Row-level problems reject the row (one `_rejects` line per rule broken) and load the
good rows; a file that cannot be used at all stops ingest with one IngestError and
leaves the previous warehouse byte-identical.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from ingest_exports import COLUMNS, GOOD, HEADER, query, rejects, sha256, tickets, write_config, write_raw

from outcomes.errors import IngestError
from outcomes.ingest.load import run_ingest as _run_ingest

def run_ingest(cfg: Path):
    """Ingest without the final pandera check of the loaded tables (tests/test_ingest.py covers it)."""
    return _run_ingest(cfg, validate=False)


def _ticket_ids(tmp_path: Path) -> list[str]:
    return [r[0] for r in query(tmp_path, "SELECT ticket_id FROM tickets ORDER BY ticket_id")]


@pytest.fixture
def previous(tmp_path: Path) -> str:
    """A good warehouse left by an earlier ingest; returns the SHA-256 of its file."""
    run_ingest(tickets(tmp_path, [HEADER, *GOOD]))
    assert _ticket_ids(tmp_path) == ["T1", "T2"]
    return sha256(tmp_path / "warehouse.duckdb")


def _fails(tmp_path: Path, cfg: Path, previous: str) -> str:
    """Run ingest, expect one IngestError, check the previous warehouse survived; return the message."""
    with pytest.raises(IngestError) as info:
        run_ingest(cfg)
    assert sha256(tmp_path / "warehouse.duckdb") == previous
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    return str(info.value)


# ---------------------------------------------------------------- the file cannot be used: one IngestError


def test_missing_column(tmp_path: Path, previous: str) -> None:
    lines = [",".join(c for c in COLUMNS if c != "opened_at"), "T3,,customer,C1,email,high,phone"]
    cfg = tickets(tmp_path, lines, name="tickets_v2.csv")
    message = _fails(tmp_path, cfg, previous)
    assert message == (
        "column 'opened_at' not found in tickets_v2.csv; columns are ['ticket_id', 'resolved_at', 'requester_type', "
        "'requester_id', 'service', 'priority', 'channel']; "
        f"map it in {cfg} under sources.tickets.columns, or give it under sources.tickets.constants"
    )


def test_missing_mapped_column_suggests_a_close_name(tmp_path: Path, previous: str) -> None:
    lines = [HEADER.replace("opened_at", "Opened At"), GOOD[0]]
    cfg = tickets(tmp_path, lines, name="tickets_v2.csv", columns={"opened_at": "Opened at"})
    message = _fails(tmp_path, cfg, previous)
    assert message.startswith(
        "column 'Opened at' (mapped to opened_at) not found in tickets_v2.csv (did you mean 'Opened At'?); columns are"
    )
    assert message.endswith(f"; fix sources.tickets.columns.opened_at in {cfg}")


def test_empty_file(tmp_path: Path, previous: str) -> None:
    write_raw(tmp_path, "empty.csv", b"")
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "empty.csv"}})
    assert _fails(tmp_path, cfg, previous) == (
        "empty.csv is empty: no header and no rows; export it again with a header row (the columns of table "
        f"'tickets'), or remove sources.tickets from {cfg}"
    )


def test_wrong_delimiter(tmp_path: Path, previous: str) -> None:
    lines = [HEADER.replace(",", ";"), GOOD[0].replace(",", ";")]
    cfg = tickets(tmp_path, lines, name="semicolons.csv")
    assert _fails(tmp_path, cfg, previous) == (
        f"semicolons.csv parses to a single column {HEADER.replace(',', ';')!r} with delimiter ','; "
        f"the header looks ';'-separated: set sources.tickets.delimiter: ';' in {cfg}"
    )


def test_latin1_file_declared_utf8(tmp_path: Path, previous: str) -> None:
    data = (HEADER + "\n" + GOOD[0].replace("C1", "José") + "\n").encode("latin-1")
    write_raw(tmp_path, "latin.csv", data)
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "latin.csv"}})
    assert _fails(tmp_path, cfg, previous) == (
        "latin.csv is not valid utf-8 text (byte 0xe9 on line 2 cannot be decoded); set sources.tickets.encoding in "
        f"{cfg} to the file's encoding (e.g. latin-1 or cp1252 for Western European exports from Excel)"
    )
    # Declaring the encoding loads it.
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "latin.csv", "encoding": "latin-1"}})
    run_ingest(cfg)
    assert query(tmp_path, "SELECT requester_id FROM tickets") == [("José",)]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + ("\n".join([HEADER, *GOOD]) + "\n").encode("utf-8")
    write_raw(tmp_path, "bom.csv", data)
    summary = run_ingest(write_config(tmp_path, {"tickets": {"table": "tickets", "path": "bom.csv"}}))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 0)
    assert _ticket_ids(tmp_path) == ["T1", "T2"]


def test_malformed_csv_line(tmp_path: Path, previous: str) -> None:
    cfg = tickets(tmp_path, [HEADER, GOOD[0], GOOD[1] + ",extra,fields"], name="ragged.csv")
    message = _fails(tmp_path, cfg, previous)
    assert message == (
        "ragged.csv cannot be parsed as CSV with delimiter ',': line 3; Expected Number of Columns: 8 Found: 9; "
        f"check the delimiter (sources.tickets.delimiter in {cfg}) and the quoting of that line"
    )


def test_unknown_preset(tmp_path: Path, previous: str) -> None:
    cfg = tickets(tmp_path, [HEADER, *GOOD], preset="remedy")
    assert _fails(tmp_path, cfg, previous) == (
        f"{cfg}: source 'tickets' names preset 'remedy', which does not exist; presets are: jira, servicenow, servicenow_change, servicenow_survey"
    )


def test_mapping_key_that_is_not_a_canonical_column(tmp_path: Path, previous: str) -> None:
    cfg = tickets(tmp_path, [HEADER, *GOOD], values={"priorty": {"P1": "critical"}})
    message = _fails(tmp_path, cfg, previous)
    assert message.startswith(
        f"{cfg}: sources.tickets.values names 'priorty', which is not a column of table 'tickets' "
        "(did you mean 'priority'?); columns are ['ticket_id',"
    )


# ---------------------------------------------------------------- bad rows: rejected, the rest loads


def test_unparseable_date(tmp_path: Path) -> None:
    lines = [HEADER, "T1,31/01/2024 10:00,,customer,C1,email,high,phone", "T2,30/02/2024 10:00,,customer,C1,email,high,phone"]
    cfg = tickets(tmp_path, lines, dates={"opened_at": "%d/%m/%Y %H:%M"})
    summary = run_ingest(cfg)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (2, 1, 1)
    assert rejects(tmp_path) == [
        (
            2,
            "opened_at",
            "30/02/2024 10:00",
            "unparseable_timestamp",
            "tickets.csv row 2: opened_at '30/02/2024 10:00' is not a timestamp in the format %d/%m/%Y %H:%M; "
            "correct the value in the export, or change the format under sources.tickets.dates.opened_at",
        )
    ]
    assert query(tmp_path, "SELECT ticket_id, opened_at FROM tickets") == [("T1", datetime(2024, 1, 31, 10, 0))]


def test_resolved_before_opened(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], "T3,2024-01-05 10:00,2024-01-04 09:00,customer,C1,email,high,phone", GOOD[1]]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(tmp_path) == [
        (
            2,
            "resolved_at",
            "2024-01-04 09:00",
            "resolved_before_opened",
            "tickets.csv row 2: resolved_at must not be before opened_at (resolved_at '2024-01-04 09:00', "
            "opened_at '2024-01-05 10:00'); correct the row in the export",
        )
    ]
    assert _ticket_ids(tmp_path) == ["T1", "T2"]


def test_negative_amount(tmp_path: Path) -> None:
    lines = ["month,service,cost_line,amount", "2024-01,email,licences,1200.50", "2024-01,email,staff,-5", "2024-02,email,staff,300"]
    write_raw(tmp_path, "costs.csv", "\n".join(lines) + "\n")
    summary = run_ingest(write_config(tmp_path, {"costs": {"table": "it_costs", "path": "costs.csv"}}))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(tmp_path) == [
        (2, "amount", "-5", "min", "costs.csv row 2: amount '-5' is below the minimum 0; correct the value in the export")
    ]
    assert query(tmp_path, "SELECT month, cost_line, amount FROM it_costs ORDER BY month") == [
        (datetime(2024, 1, 1).date(), "licences", 1200.5),
        (datetime(2024, 2, 1).date(), "staff", 300.0),
    ]


def test_duplicate_key_keeps_the_first(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], GOOD[1], "T1,2024-03-01 10:00,,customer,C9,email,low,email"]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(tmp_path) == [
        (
            3,
            "ticket_id",
            "T1",
            "duplicate_key",
            "tickets.csv row 3: duplicate key ticket_id 'T1' (first seen in tickets.csv row 1, which is kept); "
            "remove the duplicate from the export, or set sources.tickets.dedupe to keep one version per key",
        )
    ]
    assert query(tmp_path, "SELECT requester_id FROM tickets WHERE ticket_id = 'T1'") == [("C1",)]


def test_unknown_category_value(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], "T3,2024-01-05 10:00,,customer,C1,email,Urgent,phone", "T4,2024-01-05 10:00,,customer,C1,email,P1,phone"]
    cfg = tickets(tmp_path, lines, values={"priority": {"P1": "critical"}})
    summary = run_ingest(cfg)
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(tmp_path) == [
        (
            2,
            "priority",
            "Urgent",
            "allowed_values",
            "tickets.csv row 2: priority 'Urgent' is not an allowed value; allowed values are critical, high, medium, "
            f"low; add a value map under sources.tickets.values.priority in {cfg} that maps 'Urgent' to one of them",
        )
    ]
    assert query(tmp_path, "SELECT ticket_id, priority FROM tickets ORDER BY 1") == [("T1", "high"), ("T4", "critical")]


def test_nan_and_empty_keys(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], ",2024-01-05 10:00,,customer,C1,email,high,phone", "NaN,2024-01-05 10:00,,customer,C1,email,high,phone"]
    summary = run_ingest(tickets(tmp_path, lines, null_values=["NaN"]))
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 2)
    message = (
        "ticket_id is empty; it is a key column of tickets: fill it in the export, or map another column under "
        "sources.tickets.columns.ticket_id"
    )
    assert rejects(tmp_path) == [
        (2, "ticket_id", None, "not_null", f"tickets.csv row 2: {message}"),
        (3, "ticket_id", None, "not_null", f"tickets.csv row 3: {message}"),
    ]
    assert _ticket_ids(tmp_path) == ["T1"]


def test_mixed_time_zones(tmp_path: Path) -> None:
    """Rule: a value with a UTC offset is converted with it; one without is read in the source's time zone."""
    lines = [
        HEADER,
        "T1,2024-07-01 12:00,,customer,C1,email,high,phone",
        "T2,2024-07-01T12:00:00+02:00,,customer,C1,email,high,phone",
        "T3,2024-07-01T12:00:00Z,,customer,C1,email,high,phone",
        "T4,2024-01-15 12:00,2024-01-15T12:30:00-05:00,customer,C1,email,high,phone",
        "T5,2024-07-01 12:00 +25:00,,customer,C1,email,high,phone",
    ]
    summary = run_ingest(tickets(tmp_path, lines, timezone="Europe/Amsterdam"))
    assert (summary.rows_loaded, summary.rows_rejected) == (4, 1)
    assert query(tmp_path, "SELECT ticket_id, opened_at, resolved_at FROM tickets ORDER BY 1") == [
        ("T1", datetime(2024, 7, 1, 10, 0), None),  # naive, Amsterdam summer time (UTC+2)
        ("T2", datetime(2024, 7, 1, 10, 0), None),  # its own offset
        ("T3", datetime(2024, 7, 1, 12, 0), None),  # Z is UTC
        ("T4", datetime(2024, 1, 15, 11, 0), datetime(2024, 1, 15, 17, 30)),  # winter time (UTC+1); -05:00
    ]
    assert [r[3] for r in rejects(tmp_path)] == ["unparseable_timestamp"]


def _excel(path: Path, rows: list[list]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Incidents"
    for row in rows:
        sheet.append(row)
    book.save(path)


def test_excel_serial_dates(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    header = COLUMNS
    _excel(
        tmp_path / "raw" / "tickets.xlsx",
        [
            header,
            ["T1", 45292.5, 45292.75, "customer", "C1", "email", "high", "phone"],  # 2024-01-01 12:00 and 18:00
            ["T2", 45293, None, "employee", 1001, "vpn", "low", "portal"],
            ["T3", "yesterday", None, "employee", "E1", "vpn", "low", "portal"],
        ],
    )
    cfg = write_config(
        tmp_path,
        {"tickets": {"table": "tickets", "path": "tickets.xlsx", "dates": {"opened_at": "excel", "resolved_at": "excel"}}},
    )
    summary = run_ingest(cfg)
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert query(tmp_path, "SELECT ticket_id, opened_at, resolved_at, requester_id FROM tickets ORDER BY 1") == [
        ("T1", datetime(2024, 1, 1, 12, 0), datetime(2024, 1, 1, 18, 0), "C1"),
        ("T2", datetime(2024, 1, 2, 0, 0), None, "1001"),
    ]
    assert rejects(tmp_path)[0][4] == (
        "tickets.xlsx row 3: opened_at 'yesterday' is not a timestamp as an Excel serial day number; correct the "
        "value in the export, or change sources.tickets.dates.opened_at"
    )


def test_excel_serial_dates_without_the_excel_format_are_explained(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    _excel(tmp_path / "raw" / "tickets.xlsx", [COLUMNS, ["T1", 45292.5, None, "customer", "C1", "email", "high", "phone"]])
    summary = run_ingest(write_config(tmp_path, {"tickets": {"table": "tickets", "path": "tickets.xlsx"}}))
    assert (summary.rows_loaded, summary.rows_rejected) == (0, 1)
    assert rejects(tmp_path)[0][4] == (
        "tickets.xlsx row 1: opened_at '45292.5' is not a timestamp in ISO 8601 form (2024-01-31 14:05:00); it looks "
        "like an Excel serial date: set sources.tickets.dates.opened_at: excel"
    )


def test_several_rules_on_one_row_count_once(tmp_path: Path) -> None:
    lines = [HEADER, "T1,not a date,,robot,C1,email,urgent,fax", GOOD[1]]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (2, 1, 1)
    assert [(r[0], r[1], r[3]) for r in rejects(tmp_path)] == [
        (1, "opened_at", "unparseable_timestamp"),
        (1, "requester_type", "allowed_values"),
        (1, "priority", "allowed_values"),
        (1, "channel", "allowed_values"),
    ]
