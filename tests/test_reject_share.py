"""The guard on a source's share of rejected rows: over ``max_reject_share`` (default 5%) ingest stops.

The refusal names the counts, the rules broken most with their counts, one example row
and what to do; the previous warehouse stays byte-identical, no temporary file is left,
and the source's rejects are still written for inspection.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from ingest_exports import GOOD, HEADER, query, servicenow_export, sha256, tickets, write_config
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.errors import IngestError
from outcomes.ingest.load import run_ingest
from outcomes.ingest.sources import MAX_REJECT_SHARE, Source


def _servicenow(tmp_path: Path, **entry) -> Path:
    """The 601-row ServiceNow export (569 rows of channels the preset maps, 28 Web, 4 Fax) and its source entry."""
    servicenow_export(tmp_path)
    base = {"preset": "servicenow", "path": "incidents.csv", "constants": {"requester_type": "employee"}}
    return write_config(tmp_path, {"tickets": {**base, "max_reject_share": MAX_REJECT_SHARE, **entry}})


@pytest.fixture
def previous(tmp_path: Path) -> str:
    """The warehouse of a good ingest of the 601 rows (Web mapped); returns the SHA-256 of its file."""
    run_ingest(_servicenow(tmp_path, values={"channel": {"Web": "portal"}}), validate=False)
    assert query(tmp_path, "SELECT count(*) FROM tickets") == [(597,)]
    return sha256(tmp_path / "warehouse.duckdb")


def _hidden(tmp_path: Path) -> list[str]:
    return [p.name for folder in (tmp_path, tmp_path / "rejects") for p in folder.iterdir() if p.name.startswith(".")]


def test_default_limit_is_five_percent() -> None:
    assert Source(table="tickets", path="t.csv").max_reject_share == MAX_REJECT_SHARE == 0.05


def test_a_share_over_the_limit_stops_ingest_and_keeps_the_warehouse(tmp_path: Path, previous: str) -> None:
    cfg = _servicenow(tmp_path)  # Web not mapped: 28 Web and 4 Fax rows rejected, 32 of 601 (5.3%)
    with pytest.raises(IngestError) as info:
        run_ingest(cfg, validate=False)
    rejects = tmp_path / "rejects" / "tickets.csv"
    assert str(info.value) == (
        f"source 'tickets' of {cfg} rejected 32 of 601 rows (5.3%), more than its max_reject_share of 5%; "
        "rules broken most: allowed_values on channel: 32 rows; for example incidents.csv row 570, column channel, "
        "value 'Web', rule allowed_values: incidents.csv row 570: channel 'Web' is not an allowed value; allowed "
        "values are phone, email, chat, portal, chatbot, walk_in; add a value map under sources.tickets.values.channel "
        f"in {cfg} that maps 'Web' to one of them. All its rejects are in {rejects}. So large a share means the "
        "mapping is wrong rather than a few rows bad: fix the mapping under sources.tickets (run `outcomes sources "
        f"check --sources {cfg} --source tickets` to see rows as they are mapped), or, when these rows are genuinely "
        "unusable, raise sources.tickets.max_reject_share"
    )
    assert (info.value.file, info.value.column) == (str(cfg), "channel")
    assert sha256(tmp_path / "warehouse.duckdb") == previous
    assert _hidden(tmp_path) == []
    with rejects.open(encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert len(written) == 32
    assert {(r["rule"], r["value"]) for r in written} == {("allowed_values", "Web"), ("allowed_values", "Fax")}


def test_the_limit_is_set_per_source(tmp_path: Path) -> None:
    summary = run_ingest(_servicenow(tmp_path, max_reject_share=0.06), validate=False)
    assert (summary.rows_rejected, summary.rows_loaded) == (32, 569)


def test_a_share_equal_to_the_limit_loads(tmp_path: Path) -> None:
    good = [f"T{i},2024-01-01 10:00,,customer,C{i},email,high,phone" for i in range(19)]
    cfg = tickets(tmp_path, [HEADER, *good, "TX,2024-01-01 10:00,,customer,C1,email,urgent,phone"], max_reject_share=0.05)
    summary = run_ingest(cfg, validate=False)
    assert (summary.rows_rejected, summary.rows_loaded) == (1, 19)


def test_the_refusal_lists_the_rules_broken_most(tmp_path: Path) -> None:
    lines = [
        HEADER,
        *GOOD,
        "T3,2024-01-01 10:00,,customer,C1,email,urgent,phone",
        "T4,2024-01-01 10:00,,customer,C1,email,urgent,fax",
        "T5,2024-01-02 10:00,2024-01-01 10:00,customer,C1,email,high,phone",
        "T6,2024-01-01 10:00,,robot,C1,email,high,phone",
        "T1,2024-01-01 10:00,,customer,C1,email,high,phone",
    ]
    cfg = tickets(tmp_path, lines, max_reject_share=0.5)
    with pytest.raises(IngestError) as info:
        run_ingest(cfg, validate=False)
    message = str(info.value)
    assert message.startswith(
        f"source 'tickets' of {cfg} rejected 5 of 7 rows (71%), more than its max_reject_share of 50%; rules broken "
        "most: allowed_values on channel, priority, requester_type: 3 rows; duplicate_key on ticket_id: 1 row; "
        "resolved_before_opened on resolved_at: 1 row; for example tickets.csv row 3, column priority, value 'urgent'"
    )
    assert not (tmp_path / "warehouse.duckdb").exists()
    assert _hidden(tmp_path) == []


def test_cli_ingest_exits_2_on_the_refusal(tmp_path: Path, previous: str) -> None:
    result = CliRunner().invoke(app, ["ingest", "--sources", str(_servicenow(tmp_path))])
    assert result.exit_code == 2
    assert "rejected 32 of 601 rows (5.3%), more than its max_reject_share of 5%" in result.output
    assert sha256(tmp_path / "warehouse.duckdb") == previous
