"""Small hand-made exports for ingest tests: a sources file in tmp_path, its raw files, and what ingest left."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import yaml

HEADER = "ticket_id,opened_at,resolved_at,requester_type,requester_id,service,priority,channel"
GOOD = [
    "T1,2024-01-01 10:00,2024-01-01 12:00,customer,C1,email,high,phone",
    "T2,2024-01-02 09:00,,employee,E7,vpn,low,portal",
]
COLUMNS = HEADER.split(",")


#: Hand-made exports hold a few rows, bad on purpose, so a source rejects any share of
#: them unless it sets ``max_reject_share`` itself (tests/test_reject_share.py tests the limit).
LENIENT = {"max_reject_share": 1.0}


def write_config(tmp_path: Path, sources: dict) -> Path:
    """Write a sources.yaml whose raw files, warehouse and rejects all live in ``tmp_path``.

    Each source without a ``max_reject_share`` of its own gets :data:`LENIENT`.
    """
    cfg = tmp_path / "sources.yaml"
    doc = {
        "raw_dir": str(tmp_path / "raw"),
        "warehouse": str(tmp_path / "warehouse.duckdb"),
        "rejects_dir": str(tmp_path / "rejects"),
        "sources": {name: {**LENIENT, **entry} for name, entry in sources.items()},
    }
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return cfg


def write_raw(tmp_path: Path, name: str, data: str | bytes) -> Path:
    """Write a raw export under ``tmp_path/raw``."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    path = raw / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def tickets(tmp_path: Path, lines: list[str], name: str = "tickets.csv", **entry) -> Path:
    """A tickets export made of ``lines`` and a config that maps it (extra keys in ``entry``)."""
    write_raw(tmp_path, name, "\n".join(lines) + "\n")
    return write_config(tmp_path, {"tickets": {"table": "tickets", "path": name, **entry}})


SERVICENOW_HEADER = (
    "number,opened_at,resolved_at,caller_id,cmdb_ci,category,priority,contact_type,location,assignment_group,"
    "reassignment_count,reopen_count,made_sla"
)
#: Channels the ServiceNow preset maps.
PRESET_CHANNELS = ["Phone", "Email", "Chat", "Self-service", "Virtual Agent", "Walk-in", "IVR"]


def servicenow_export(tmp_path: Path, preset_rows: int = 569, web_rows: int = 28, bad_rows: int = 4) -> Path:
    """A ServiceNow export: rows of channels the preset maps, ``Web`` rows, and rows of an unknown channel ``Fax``."""
    channels = [PRESET_CHANNELS[i % len(PRESET_CHANNELS)] for i in range(preset_rows)]
    channels += ["Web"] * web_rows + ["Fax"] * bad_rows
    lines = [SERVICENOW_HEADER] + [
        f"INC{i:07d},2024-03-01 09:00:00,2024-03-01 11:00:00,emp-{i % 50},VPN,Network,3 - Moderate,{channel},North,Network,0,0,true"
        for i, channel in enumerate(channels, start=1)
    ]
    return write_raw(tmp_path, "incidents.csv", "\n".join(lines) + "\n")


def query(tmp_path: Path, sql: str) -> list[tuple]:
    """Run ``sql`` on the warehouse in ``tmp_path``."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def rejects(tmp_path: Path) -> list[tuple]:
    """The ``_rejects`` lines: row number, column, value, rule, message."""
    return query(tmp_path, 'SELECT row_number, "column", value, rule, message FROM _rejects ORDER BY rowid')


def sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
