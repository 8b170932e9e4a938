"""Input that is wrong but parses: implausible dates, foreign number formats, bad headers, ids spelt two ways.

Each test is a hostile export that used to load into a wrong warehouse (or crash), and
now either rejects the rows it must, with the rule named, or stops the file with one
IngestError that names the option to set, leaving the previous warehouse byte-identical.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from ingest_exports import COLUMNS, GOOD, HEADER, query, rejects, sha256, tickets, write_config, write_raw

from outcomes.errors import IngestError
from outcomes.ingest.load import run_ingest as _run_ingest
from outcomes.run.monthly import last_data_month
from outcomes.ingest import readers


def run_ingest(cfg: Path):
    """Ingest without the final pandera check (tests/test_ingest.py covers it)."""
    return _run_ingest(cfg, validate=False)


@pytest.fixture
def previous(tmp_path: Path) -> str:
    """A good warehouse left by an earlier ingest; returns the SHA-256 of its file."""
    run_ingest(tickets(tmp_path, [HEADER, *GOOD]))
    return sha256(tmp_path / "warehouse.duckdb")


def _fails(tmp_path: Path, cfg: Path, previous: str) -> IngestError:
    """Run ingest, expect one IngestError and the previous warehouse intact, with no temporary file left."""
    with pytest.raises(IngestError) as info:
        run_ingest(cfg)
    assert sha256(tmp_path / "warehouse.duckdb") == previous
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    return info.value


def _ticket(ticket_id: str, opened: str) -> str:
    return f"{ticket_id},{opened},,customer,C1,email,high,phone"


# ---------------------------------------------------------------- 1. plausible dates


def test_two_digit_year_is_rejected_unless_a_pivot_is_declared(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], _ticket("T3", "25-12-01 10:00")]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 1)
    assert rejects(tmp_path) == [
        (
            2,
            "opened_at",
            "25-12-01 10:00",
            "two_digit_year",
            "tickets.csv row 2: opened_at '25-12-01 10:00' has a two-digit year, which could be any century; set "
            "sources.tickets.year_pivot (e.g. 70: 00-69 are 2000-2069, 70-99 are 1970-1999), or export four-digit years",
        )
    ]
    run_ingest(tickets(tmp_path, lines, year_pivot=70))
    assert query(tmp_path, "SELECT opened_at FROM tickets WHERE ticket_id = 'T3'") == [(datetime(2025, 12, 1, 10, 0),)]


def test_two_digit_year_format_needs_a_pivot(tmp_path: Path, previous: str) -> None:
    lines = [HEADER, _ticket("T1", "01/12/25 10:00"), _ticket("T2", "01/12/85 10:00")]
    cfg = tickets(tmp_path, lines, dates={"opened_at": "%d/%m/%y %H:%M"})
    error = _fails(tmp_path, cfg, previous)
    assert str(error).startswith(
        f"{cfg}: sources.tickets.dates.opened_at is '%d/%m/%y %H:%M', whose %y reads a two-digit year; say which "
        "century it means with sources.tickets.year_pivot"
    )
    cfg = tickets(tmp_path, lines, dates={"opened_at": "%d/%m/%y %H:%M"}, year_pivot=70, earliest="1980-01-01")
    assert run_ingest(cfg).rows_loaded == 2
    assert query(tmp_path, "SELECT opened_at FROM tickets ORDER BY ticket_id") == [
        (datetime(2025, 12, 1, 10, 0),),
        (datetime(1985, 12, 1, 10, 0),),
    ]


def test_dates_before_the_earliest_plausible_date_are_rejected(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], _ticket("T3", "1899-12-31 10:00")]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 1)
    assert rejects(tmp_path)[0][3:] == (
        "before_earliest",
        "tickets.csv row 2: opened_at '1899-12-31 10:00' is before 2000-01-01, the earliest plausible date; correct "
        "the value in the export, or set sources.tickets.earliest if older dates are real",
    )
    assert run_ingest(tickets(tmp_path, lines, earliest="1890-01-01")).rows_loaded == 2


def test_dates_after_the_export_date_are_rejected(tmp_path: Path) -> None:
    lines = [HEADER, _ticket("T1", "2024-02-01 12:00"), _ticket("T2", "2024-02-02 23:00"), _ticket("T3", "2031-05-01 10:00")]
    cfg = tickets(tmp_path, lines)
    exported = datetime(2024, 2, 1, 18, 0).timestamp()
    os.utime(tmp_path / "raw" / "tickets.csv", (exported, exported))
    summary = run_ingest(cfg)
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 2)
    assert [(r[0], r[3]) for r in rejects(tmp_path)] == [(2, "after_export_date"), (3, "after_export_date")]
    assert rejects(tmp_path)[1][4] == (
        "tickets.csv row 3: opened_at '2031-05-01 10:00' is after the export date 2024-02-01 plus 1 day (when the "
        "file was written); correct the value in the export, or set sources.tickets.future_days if later dates are real"
    )
    os.utime(tmp_path / "raw" / "tickets.csv", (exported, exported))
    assert run_ingest(tickets(tmp_path, lines, future_days=3)).rows_loaded == 2


def test_future_rows_never_choose_the_reporting_month(tmp_path: Path) -> None:
    future = [_ticket(f"F{i}", "2031-03-15 10:00") for i in range(50)]
    lines = [HEADER, _ticket("T1", "2024-05-10 10:00"), _ticket("T2", "2024-05-31 10:00"), *future]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 50)
    assert last_data_month(tmp_path / "warehouse.duckdb") == "2024-05"


# ---------------------------------------------------------------- 3. numbers in another convention


def _costs(tmp_path: Path, amounts: list[str], **entry) -> Path:
    lines = ["month;service;cost_line;amount", *(f"2024-{i + 1:02d};email;staff;{a}" for i, a in enumerate(amounts))]
    write_raw(tmp_path, "costs.csv", "\n".join(lines) + "\n")
    return write_config(tmp_path, {"costs": {"table": "it_costs", "path": "costs.csv", "delimiter": ";", **entry}})


def test_european_numbers_are_refused_without_the_options(tmp_path: Path, previous: str) -> None:
    cfg = _costs(tmp_path, ["63.885", "1.234,56", "12"])
    error = _fails(tmp_path, cfg, previous)
    assert str(error) == (
        "costs.csv row 2: amount '1.234,56' is not a number written with decimal '.' and no thousands separator, so "
        "other values of the column may be read wrong (63.885 as 63.885 instead of 63885); it reads as a number with "
        f"decimal ',', thousands '.': set sources.costs.decimal: ',' and sources.costs.thousands: '.' in {cfg}"
    )
    assert (error.column, error.found) == ("amount", "1.234,56")


def test_european_preset_reads_decimal_commas_and_thousands_points(tmp_path: Path) -> None:
    cfg = _costs(tmp_path, ["63.885", "1.234,56", "12", "0,5", "1.2.3"], preset="locale/european")
    summary = run_ingest(cfg)
    assert query(tmp_path, "SELECT amount FROM it_costs ORDER BY month") == [(63885.0,), (1234.56,), (12.0,), (0.5,)]
    assert [(r[2], r[3]) for r in rejects(tmp_path)] == [("1.2.3", "unparseable_float")]
    assert summary.rows_rejected == 1


@pytest.mark.parametrize(
    ("amounts", "entry", "options"),
    [
        (["1,234.56"], {"decimal": ",", "thousands": "."}, "sources.costs.decimal: '.' and sources.costs.thousands: ','"),
        (["1.234.567"], {}, "sources.costs.thousands: '.'"),
        (["63.885", "2"], {"decimal": ","}, "sources.costs.thousands: '.' (or sources.costs.decimal: '.' if it is a "
         "decimal separator)"),
        (["0,5"], {}, "sources.costs.decimal: ','"),
    ],
)
def test_numbers_of_the_other_convention_name_the_option(
    tmp_path: Path, previous: str, amounts: list[str], entry: dict, options: str
) -> None:
    error = _fails(tmp_path, _costs(tmp_path, amounts, **entry), previous)
    assert f": set {options} in " in str(error)


# ---------------------------------------------------------------- 4-5. headers


def test_duplicate_column_names_are_refused(tmp_path: Path, previous: str) -> None:
    lines = [HEADER + ",sla_target_hours,sla_target_hours", GOOD[0] + ",8,", GOOD[1] + ",,24"]
    error = _fails(tmp_path, tickets(tmp_path, lines), previous)
    assert str(error).startswith(
        "tickets.csv has two columns named 'sla_target_hours' (columns 9 and 10 of the header); only one of them "
        "could be read"
    )


def test_duplicate_column_names_in_excel_differ_only_in_case(tmp_path: Path, previous: str) -> None:
    (tmp_path / "raw").mkdir(exist_ok=True)
    book = openpyxl.Workbook()
    for row in [[*COLUMNS, "SLA", "sla"], ["T9", "2024-01-01 10:00", None, "customer", "C1", "email", "high", "phone", 1, 2]]:
        book.active.append(row)
    book.save(tmp_path / "raw" / "tickets.xlsx")
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "tickets.xlsx"}})
    assert "two columns named 'sla' (columns 9 and 10 of the header)" in str(_fails(tmp_path, cfg, previous))


def test_repeated_header_in_another_order_is_refused(tmp_path: Path, previous: str) -> None:
    swapped = COLUMNS.copy()
    swapped[1], swapped[2] = swapped[2], swapped[1]
    lines = [HEADER, GOOD[0], ",".join(swapped), "T2,,2024-01-02 09:00,employee,E7,vpn,low,portal"]
    error = _fails(tmp_path, tickets(tmp_path, lines), previous)
    assert str(error).startswith("tickets.csv row 2 repeats the header with the columns in another order")
    assert "split the file at that row" in str(error)


def test_repeated_header_in_the_same_order_is_one_rejected_row(tmp_path: Path) -> None:
    summary = run_ingest(tickets(tmp_path, [HEADER, GOOD[0], HEADER, GOOD[1]]))
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (3, 2, 1)


def test_header_only_file_is_refused_unless_allowed(tmp_path: Path, previous: str) -> None:
    cfg = tickets(tmp_path, [HEADER], name="empty_month.csv")
    assert str(_fails(tmp_path, cfg, previous)) == (
        "empty_month.csv has a header and no rows, so table 'tickets' would be emptied; export it again, or set "
        f"sources.tickets.allow_empty: true in {cfg} if an empty export is correct"
    )
    summary = run_ingest(tickets(tmp_path, [HEADER], name="empty_month.csv", allow_empty=True))
    assert (summary.rows_read, summary.rows_loaded) == (0, 0)


# ---------------------------------------------------------------- 6-8. row-level errors stay row-level


def test_bad_cell_read_by_derive_rejects_its_row_only(tmp_path: Path) -> None:
    lines = [HEADER + ",reopen_count"] + [_ticket(f"T{i}", "2024-01-01 10:00") + f",{i % 3}" for i in range(40)]
    lines.append(_ticket("T99", "2024-01-01 10:00") + ",n/a")
    summary = run_ingest(tickets(tmp_path, lines, derive={"reopened": '"reopen_count" > 0'}))
    assert (summary.rows_loaded, summary.rows_rejected) == (40, 1)
    assert rejects(tmp_path) == [
        (
            41,
            "reopen_count",
            "n/a",
            "derive_input",
            "tickets.csv row 41: reopen_count 'n/a' is not a whole number as the other values of reopen_count are, "
            "and sources.tickets.derive.reopened reads it as one; correct the value in the export",
        )
    ]
    assert query(tmp_path, "SELECT count(*) FILTER (WHERE reopened) FROM tickets") == [(26,)]


def test_unescaped_quote_is_a_clean_error(tmp_path: Path, previous: str) -> None:
    lines = [HEADER, GOOD[0], 'T3,2024-01-05 10:00,,customer,"C1 "the" one",email,high,phone', GOOD[1]]
    error = _fails(tmp_path, tickets(tmp_path, lines), previous)
    assert str(error).startswith(
        "tickets.csv cannot be parsed as CSV with delimiter ',': line 3; Value with unterminated quote found; "
    )


def test_utf16_file_declared_utf8_is_an_encoding_error(tmp_path: Path, previous: str) -> None:
    write_raw(tmp_path, "wide.csv", "\r\n".join([HEADER, *GOOD]).encode("utf-16"))
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "wide.csv"}})
    error = _fails(tmp_path, cfg, previous)
    assert str(error).startswith("wide.csv is not valid utf-8 text (byte 0xff on line 1 cannot be decoded)")


def test_five_megabyte_cell_loads(tmp_path: Path) -> None:
    lines = [HEADER + ",description", GOOD[0] + "," + "x" * 5_000_000, GOOD[1] + ",short"]
    summary = run_ingest(tickets(tmp_path, lines))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 0)


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (
            "Invalid Input Error: CSV Error on Line: 3\nOriginal Line: a,b,c\nExpected Number of Columns: 2 Found: 3\n",
            "line 3; Expected Number of Columns: 2 Found: 3",
        ),
        (
            "Invalid Input Error: CSV Error on Line: 2\nOriginal Line: 1,\"a\"b\"\nValue with unterminated quote found."
            "\n\nPossible fixes:\n* Set quote to empty or to a different value (e.g., quote='')\n",
            "line 2; Value with unterminated quote found",
        ),
        (
            "Invalid Input Error: CSV Error on Line: 7\nMaximum line size of 2097152 bytes exceeded. Actual Size:5000007",
            "line 7; Maximum line size of 2097152 bytes exceeded. Actual Size:5000007",
        ),
        ("Invalid Input Error: CSV Error on Line: 4\n", "line 4"),
        (
            "Invalid Input Error: CSV Error on Line: 5\nOriginal Line: a;b\nSome new reason.\n\nPossible fixes:\n"
            "* Set quote to empty\n  quote = \" (Set By User)\n",
            "line 5; Some new reason",
        ),
        ("IO Error: No files found that match the pattern\nmore", "IO Error: No files found that match the pattern"),
        ("", "unknown CSV error"),
    ],
)
def test_csv_error_detail_of_every_message_shape(message: str, detail: str) -> None:
    assert readers.csv_error_detail(message) == detail


def test_id_normalization_declared_per_column(tmp_path: Path) -> None:
    lines = ["customer_no,churn_date", "C001,2024-01-05", " c001\t,2024-02-05", "C002,2024-02-05"]
    write_raw(tmp_path, "churn.csv", "\n".join(lines) + "\n")
    entry = {"table": "churn", "path": "churn.csv", "columns": {"customer_id": "customer_no", "churned_at": "churn_date"}}
    run_ingest(write_config(tmp_path, {"churn": entry}))
    assert query(tmp_path, "SELECT count(*) FROM churn") == [(3,)]
    summary = run_ingest(write_config(tmp_path, {"churn": {**entry, "normalize": {"customer_id": "upper"}}}))
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(tmp_path)[0][:4] == (2, "customer_id", "C001", "duplicate_key")
    assert query(tmp_path, "SELECT customer_id, churned_at FROM churn ORDER BY 1") == [
        ("C001", date(2024, 1, 5)),
        ("C002", date(2024, 2, 5)),
    ]


# ---------------------------------------------------------------- 13. killed ingest, Excel title row


def test_temporary_files_of_a_killed_ingest_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / "rejects").mkdir()
    stale = [
        tmp_path / f".warehouse.duckdb.{pid}.tmp",
        tmp_path / f".warehouse.duckdb.{pid}.tmp.wal",
        tmp_path / f".tickets.{pid}.utf8.csv",
        tmp_path / "rejects" / f".tickets.csv.{pid}.tmp",
    ]
    live = tmp_path / f".warehouse.duckdb.{os.getppid()}.tmp"
    for path in [*stale, live]:
        path.write_bytes(b"partial")
    run_ingest(tickets(tmp_path, [HEADER, *GOOD]))
    assert [p for p in stale if p.exists()] == []
    assert live.exists()


def test_excel_title_row_suggests_skip_rows(tmp_path: Path, previous: str) -> None:
    book = openpyxl.Workbook()
    for row in [["Incidents, March 2024"], [], COLUMNS, ["T5", "2024-03-01 10:00", None, "customer", "C1", "email", "high", "phone"]]:
        book.active.append(row)
    book.save(tmp_path / "raw" / "tickets.xlsx")
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "tickets.xlsx"}})
    error = _fails(tmp_path, cfg, previous)
    assert str(error).endswith(f"set sources.tickets.skip_rows: 2 in {cfg} to read the header from there")
    cfg = write_config(tmp_path, {"tickets": {"table": "tickets", "path": "tickets.xlsx", "skip_rows": 2}})
    assert run_ingest(cfg).rows_loaded == 1
    assert query(tmp_path, "SELECT ticket_id FROM tickets") == [("T5",)]


def test_csv_title_line_suggests_skip_rows(tmp_path: Path, previous: str) -> None:
    cfg = tickets(tmp_path, ["Tickets, March 2024", "", HEADER, *GOOD])
    error = _fails(tmp_path, cfg, previous)
    assert str(error).endswith(f"set sources.tickets.skip_rows: 2 in {cfg} to read the header from line 3")
    assert run_ingest(tickets(tmp_path, ["Tickets, March 2024", "", HEADER, *GOOD], skip_rows=2)).rows_loaded == 2


def test_derive_that_fails_on_a_few_rows_rejects_them(tmp_path: Path, previous: str) -> None:
    derive = {"reopened": 'CAST("reopen_count" AS INTEGER) > 0'}
    # An expression that fails on most rows is wrong for the file: the file stops.
    lines = [HEADER + ",reopen_count"] + [_ticket(f"T{i}", "2024-01-01 10:00") + ",x" for i in range(30)]
    error = _fails(tmp_path, tickets(tmp_path, lines, derive=derive), previous)
    assert "(it fails on more than 20 rows)" in str(error)
    counts = [str(i) if i not in (17, 25) else "many" for i in range(30)]
    lines = [HEADER + ",reopen_count"] + [_ticket(f"T{i}", "2024-01-01 10:00") + f",{c}" for i, c in enumerate(counts)]
    lines += [_ticket(f"U{i}", "2024-01-01 10:00") + ",lots" for i in range(3)]
    summary = run_ingest(tickets(tmp_path, lines, derive=derive))
    assert (summary.rows_loaded, summary.rows_rejected) == (28, 5)
    lines_of = rejects(tmp_path)
    assert [(r[0], r[1], r[2], r[3]) for r in lines_of] == [
        (18, "reopened", "many", "derive_error"),
        (26, "reopened", "many", "derive_error"),
        (31, "reopened", "lots", "derive_error"),
        (32, "reopened", "lots", "derive_error"),
        (33, "reopened", "lots", "derive_error"),
    ]
    assert lines_of[0][4].startswith(
        "tickets.csv row 18: sources.tickets.derive.reopened cannot be computed on this row (Conversion Error: Could "
        "not convert string 'many' to INT32"
    )
    assert lines_of[0][4].endswith("; correct the row in the export")


def test_number_separators_are_refused_for_parquet(tmp_path: Path, previous: str) -> None:
    cfg = write_config(tmp_path, {"costs": {"table": "it_costs", "path": "costs.parquet", "decimal": ","}})
    assert "a Parquet file stores numbers as numbers, so leave them out" in str(_fails(tmp_path, cfg, previous))


def test_a_value_spelt_like_a_missing_column_is_not_taken_for_a_header(tmp_path: Path, previous: str) -> None:
    lines = [HEADER.replace("service", "svc"), GOOD[0].replace("email", "service")]
    error = _fails(tmp_path, tickets(tmp_path, lines), previous)
    assert str(error).startswith("column 'service' not found in tickets.csv")
