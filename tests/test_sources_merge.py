"""A source's settings merge into its presets': mappings key by key at every depth, scalars and lists replaced.

One case per key of the sources schema (:class:`outcomes.ingest.sources.Source`), each
through ``load_sources`` with a preset written for the test; the user's own case (a
``Web`` channel added to the ServiceNow preset's map) through ingest on 601 rows.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from ingest_exports import query, servicenow_export, write_config

from outcomes.ingest import sources as sources_module
from outcomes.ingest.load import run_ingest
from outcomes.ingest.sources import Source, lay_over, load_sources


#: (key, the preset's value, the user's value, the value in force).
CASES = [
    # Mappings merge key by key; the user's value wins.
    ("columns", {"ticket_id": "number", "opened_at": "opened_at"}, {"opened_at": "created"},
     {"ticket_id": "number", "opened_at": "created"}),
    ("constants", {"requester_type": "employee", "channel": "phone"}, {"channel": "email"},
     {"requester_type": "employee", "channel": "email"}),
    ("derive", {"reopened": '"reopen_count" > 0'}, {"sla_met": "\"made_sla\" = 'true'"},
     {"reopened": '"reopen_count" > 0', "sla_met": "\"made_sla\" = 'true'"}),
    ("dates", {"opened_at": "%Y-%m-%d %H:%M"}, {"resolved_at": "%d/%m/%Y"},
     {"opened_at": "%Y-%m-%d %H:%M", "resolved_at": "%d/%m/%Y"}),
    ("values", {"channel": {"Phone": "phone", "Email": "email"}, "priority": {"1": "critical"}},
     {"channel": {"Web": "portal"}},
     {"channel": {"Phone": "phone", "Email": "email", "Web": "portal"}, "priority": {"1": "critical"}}),
    ("normalize", {"ticket_id": "trim"}, {"requester_id": "upper"}, {"ticket_id": "trim", "requester_id": "upper"}),
    # dedupe merges too: its key list is replaced, its aggregate merged key by key.
    ("dedupe", {"key": ["ticket_id"], "keep": "last", "aggregate": {"opened_at": "min"}},
     {"key": ["ticket_id", "service"], "aggregate": {"resolved_at": "min"}},
     {"key": ["ticket_id", "service"], "order_by": None, "keep": "last",
      "aggregate": {"opened_at": "min", "resolved_at": "min"}}),
    # Lists replace.
    ("null_values", ["?"], ["NULL"], ["NULL"]),
    # Scalars replace.
    ("table", "tickets", "incidents", "incidents"),
    ("path", "preset.csv", "mine.csv", "mine.csv"),
    ("format", "excel", "csv", "csv"),
    ("delimiter", ";", "|", "|"),
    ("encoding", "latin-1", "cp1252", "cp1252"),
    ("sheet", "Incidents", "Export", "Export"),
    ("timezone", "Europe/Amsterdam", "Europe/Paris", "Europe/Paris"),
    ("skip_rows", 2, 0, 0),
    ("allow_empty", True, False, False),
    ("decimal", ",", ".", "."),
    ("thousands", "'", " ", " "),
    ("earliest", "1990-01-01", "2010-01-01", date(2010, 1, 1)),
    ("future_days", 10, 0, 0),
    ("year_pivot", 70, 50, 50),
    ("max_reject_share", 0.2, 0.3, 0.3),
]


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty presets folder the loader reads instead of the kit's."""
    folder = tmp_path / "presets"
    folder.mkdir()
    monkeypatch.setattr(sources_module, "PRESETS_DIR", folder)
    return folder


def _load(tmp_path: Path, presets: Path, preset: dict, entry: dict) -> Source:
    """The source ``entry`` laid over a preset ``mine`` holding ``preset``, as load_sources gives it."""
    (presets / "mine.yaml").write_text(yaml.safe_dump({"table": "tickets", "path": "preset.csv", **preset}))
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml.safe_dump({"sources": {"s": {"preset": "mine", **entry}}}), encoding="utf-8")
    return load_sources(cfg).sources["s"]


@pytest.mark.parametrize(("key", "preset", "user", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_key_merges_into_the_preset(tmp_path: Path, presets: Path, key: str, preset, user, expected) -> None:
    source = _load(tmp_path, presets, {key: preset}, {key: user})
    value = getattr(source, key)
    assert (value.model_dump() if key == "dedupe" else value) == expected
    assert getattr(_load(tmp_path, presets, {key: preset}, {}), key) is not None


def test_every_key_of_the_schema_has_a_case() -> None:
    assert {c[0] for c in CASES} | {"preset"} == set(Source.model_fields)


@pytest.mark.parametrize(
    ("key", "preset", "user", "expected"),
    [
        ("values", {"channel": {"Phone": "phone", "Email": "email"}}, {"channel": {"Email": None}},
         {"channel": {"Phone": "phone"}}),
        ("columns", {"ticket_id": "number", "region": "location"}, {"region": None}, {"ticket_id": "number"}),
        ("thousands", "'", None, None),
        ("dedupe", {"key": ["ticket_id"]}, None, None),
    ],
    ids=["value-map-entry", "column", "scalar", "whole-mapping"],
)
def test_null_removes_the_presets_entry(tmp_path: Path, presets: Path, key: str, preset, user, expected) -> None:
    value = getattr(_load(tmp_path, presets, {key: preset}, {key: user}), key)
    assert value == expected


def test_null_without_a_preset_entry_stays_a_value() -> None:
    merged, _ = lay_over([("preset p", {"constants": {"channel": "phone"}}), ("f", {"constants": {"requester_id": None}})])
    assert merged == {"constants": {"channel": "phone", "requester_id": None}}


def test_lay_over_records_where_each_setting_comes_from() -> None:
    merged, origins = lay_over(
        [
            ("preset a", {"values": {"channel": {"Phone": "phone", "Email": "email"}}, "null_values": ["?"]}),
            ("preset b", {"delimiter": ";", "values": {"channel": {"Email": "e-mail"}}}),
            ("sources.yaml", {"values": {"channel": {"Web": "portal", "Phone": None}}, "null_values": ["-"]}),
        ]
    )
    assert merged == {
        "values": {"channel": {"Email": "e-mail", "Web": "portal"}},
        "null_values": ["-"],
        "delimiter": ";",
    }
    assert origins == {
        ("values", "channel", "Email"): "preset b",
        ("values", "channel", "Web"): "sources.yaml",
        ("null_values",): "sources.yaml",
        ("delimiter",): "preset b",
    }


def test_presets_in_a_list_merge_in_order_under_the_entry(tmp_path: Path) -> None:
    cfg = tmp_path / "sources.yaml"
    entry = {"preset": ["servicenow", "locale/european"], "path": "t.csv", "thousands": None,
             "values": {"channel": {"Web": "portal"}}}
    cfg.write_text(yaml.safe_dump({"sources": {"tickets": entry}}), encoding="utf-8")
    source = load_sources(cfg).sources["tickets"]
    assert (source.table, source.delimiter, source.decimal, source.thousands) == ("tickets", ";", ",", None)
    assert source.values["channel"]["Web"] == "portal"
    assert source.values["channel"]["Self-service"] == "portal"
    assert source.values["priority"]["1 - Critical"] == "critical"


def test_a_channel_added_to_the_servicenow_preset_extends_its_map(tmp_path: Path) -> None:
    """601 rows: 569 of channels the preset maps, 28 ``Web``, 4 ``Fax``.

    Laid over the preset one level deep, the user's ``values: {channel: {Web: portal}}``
    replaced the whole channel map, and 573 rows were rejected; merged, it adds ``Web``
    and only the 4 ``Fax`` rows are rejected.
    """
    servicenow_export(tmp_path)
    entry = {
        "preset": "servicenow",
        "path": "incidents.csv",
        "constants": {"requester_type": "employee"},
        "values": {"channel": {"Web": "portal"}},
        "max_reject_share": 0.05,
    }
    summary = run_ingest(write_config(tmp_path, {"tickets": entry}), validate=False)
    (result,) = summary.sources
    assert (result.rows_read, result.rows_rejected, result.rows_loaded) == (601, 4, 597)
    assert query(tmp_path, "SELECT DISTINCT rule, value FROM _rejects") == [("allowed_values", "Fax")]
    # 28 Web rows and 81 Self-service rows (every 7th of the 569) are portal contacts.
    assert query(tmp_path, "SELECT count(*) FROM tickets WHERE channel = 'portal'") == [(28 + 81,)]
