"""``outcomes sources check``: settings in force with their origins, rows as mapped, rejects by rule; nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_exports import servicenow_export, write_config
from rich.console import Console
from typer.testing import CliRunner

from outcomes import cli
from outcomes.cli import app
from outcomes.ingest.preview import MASK, preview_sources


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The 601-row ServiceNow export with Web mapped by the user (4 Fax rows rejected), and a wide console."""
    monkeypatch.setattr(cli, "console", Console(width=400))
    servicenow_export(tmp_path)
    entry = {
        "preset": "servicenow",
        "path": "incidents.csv",
        "constants": {"requester_type": "employee"},
        "values": {"channel": {"Web": "portal"}},
    }
    return write_config(tmp_path, {"tickets": entry})


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sources", "check", *args])
    return result.exit_code, result.output


def _line(output: str, start: str) -> str:
    """The table row of ``output`` whose first cell is ``start``."""
    lines = [" ".join(line.replace("│", " ").replace("┃", " ").split()) for line in output.splitlines()]
    (found,) = [line for line in lines if line.startswith(start + " ")]
    return found


def test_settings_in_force_say_where_they_come_from(cfg: Path) -> None:
    code, output = _check("--sources", str(cfg))
    assert code == 0, output
    assert _line(output, "values.channel.Web") == f"values.channel.Web portal {cfg}"
    assert _line(output, "values.channel.Phone") == "values.channel.Phone phone preset servicenow"
    assert _line(output, "columns.ticket_id") == "columns.ticket_id number preset servicenow"
    assert _line(output, "max_reject_share 1.0") == f"max_reject_share 1.0 {cfg}"
    assert _line(output, "timezone") == "timezone UTC default"


def test_sample_rows_are_mapped_and_personal_data_masked(cfg: Path, tmp_path: Path) -> None:
    code, output = _check("--sources", str(cfg), "--rows", "2")
    assert code == 0, output
    assert "sources.tickets: first 2 rows as mapped" in output
    assert _line(output, "column") == "column incidents.csv row 1 incidents.csv row 2"
    assert _line(output, "ticket_id") == "ticket_id INC0000001 INC0000002"
    assert _line(output, "opened_at") == "opened_at 2024-03-01 09:00:00 2024-03-01 09:00:00"
    assert _line(output, "channel") == "channel phone email"
    assert _line(output, "reopened") == "reopened false false"
    assert _line(output, "requester_id") == f"requester_id {MASK} {MASK}"
    assert "emp-1" not in output
    shown = _check("--sources", str(cfg), "--rows", "1", "--show-personal-data")[1]
    assert _line(shown, "requester_id") == "requester_id emp-1"
    # Nothing written: no warehouse, no rejects, no temporary file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "sources.yaml"]


def test_rejects_are_counted_by_rule_over_the_whole_file(cfg: Path) -> None:
    code, output = _check("--sources", str(cfg), "--source", "tickets", "--rows", "0")
    assert code == 0, output
    assert "rejected 4 of 601 rows (0.7%); max_reject_share 100%, within the limit" in " ".join(output.split())
    assert _line(output, "allowed_values") == "allowed_values channel 4"


def test_preview_shows_the_rules_a_sample_row_breaks(tmp_path: Path) -> None:
    servicenow_export(tmp_path, preset_rows=0, web_rows=1, bad_rows=1)
    entry = {"preset": "servicenow", "path": "incidents.csv", "constants": {"requester_type": None}}
    cfg = write_config(tmp_path, {"tickets": {**entry, "max_reject_share": 0.05}})
    (preview,) = preview_sources(cfg, rows=5)
    assert [row[-1] for row in preview.sample] == ["allowed_values, not_null", "allowed_values, not_null"]
    assert (preview.rows_read, preview.rows_rejected, preview.over_limit) == (2, 2, True)
    assert [(r.rule, r.columns, r.rows) for r in preview.rules] == [
        ("allowed_values", ("channel",), 2),
        ("not_null", ("requester_type",), 2),
    ]


def test_an_unknown_source_exits_2(cfg: Path) -> None:
    code, output = _check("--sources", str(cfg), "--source", "ticket")
    assert code == 2
    assert f"{cfg} has no source 'ticket' (did you mean 'tickets'?); its sources are: tickets" in output


def test_an_export_ingest_would_refuse_exits_2(cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "raw" / "incidents.csv").write_text("number;opened_at\nINC1;2024-03-01\n", encoding="utf-8")
    code, output = _check("--sources", str(cfg))
    assert code == 2
    assert "incidents.csv parses to a single column 'number;opened_at' with delimiter ','" in " ".join(output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "sources.yaml"]
