"""Source mappings: how each export becomes a canonical table, without code.

``params/sources.yaml`` lists the exports to ingest. Each entry names a canonical table
(:mod:`outcomes.warehouse.datamodel`), a file or glob, a format, and how the export's columns,
dates, time zones and values map onto the canonical ones. A preset
(``lib/outcomes/ingest/presets/<name>.yaml``) supplies a whole mapping for a known tool's export
(ServiceNow, Jira Service Management); keys given in the entry override the preset's.

Example
-------
.. code-block:: yaml

    raw_dir: data/raw
    sources:
      tickets:
        table: tickets
        preset: servicenow
        path: tickets.csv
        timezone: Europe/Amsterdam
        values:
          channel: {Self-service: portal}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.params import Params, load, read_yaml, validate
from outcomes.warehouse.datamodel import TABLES

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

FileFormat = Literal["csv", "parquet", "excel"]


#: Aggregations a dedupe can apply over a record's versions (see :class:`Dedupe`).
AGGREGATIONS = ("min", "max", "first", "last", "sum", "any", "all", "count_distinct", "changes")
_AGGREGATION_RE = re.compile(rf"^\s*({'|'.join(AGGREGATIONS)})\s*(?:\(\s*(\w+)\s*\))?\s*$")


class Dedupe(Params):
    """Keep one row per key when an export holds several versions of a record (event logs).

    Parameters
    ----------
    key : list of str
        Export columns (after renaming: canonical names) that identify a record.
    order_by : str, optional
        Canonical column that orders the versions. When not given, the versions are
        ordered as they appear in the export (files in name order, then rows), so
        ``keep: last`` keeps the record's last row in the file.
    keep : {"last", "first"}
        Which version to keep.
    aggregate : dict
        Canonical column -> an aggregation over the record's versions, which replaces
        the kept version's value: ``min``, ``max``, ``first``, ``last`` (the first or
        last non-empty value, in version order), ``sum``, ``any``, ``all`` (of a boolean),
        ``count_distinct`` (distinct non-empty values) or ``changes`` (how many times a
        non-empty value differs from the previous non-empty one). Written ``min`` (of the
        column's own per-version values) or ``changes(assignment_group)`` (of another
        canonical column). Empty values are skipped; a record whose versions are all
        empty gets an empty value. Example: an audit log with one row per status change
        takes ``opened_at: min``, ``resolved_at: min`` (with a ``derive`` that is empty
        except on resolving events) and ``reassignment_count: changes(assignment_group)``.
    """

    key: list[str]
    order_by: str | None = None
    keep: Literal["last", "first"] = "last"
    aggregate: dict[str, str] = Field(default_factory=dict)

    @field_validator("aggregate")
    @classmethod
    def _known_aggregations(cls, value: dict[str, str]) -> dict[str, str]:
        for column, spec in value.items():
            if not _AGGREGATION_RE.match(spec):
                raise ValueError(
                    f"aggregate.{column} is '{spec}', which is not an aggregation; write one of "
                    f"{', '.join(AGGREGATIONS)}, alone or applied to a canonical column such as changes(assignment_group)"
                )
        return value

    def aggregation(self, column: str) -> tuple[str, str]:
        """The aggregation of ``column``: (function, canonical column it reads)."""
        func, _, arg = re.sub(r"[\s)]", "", self.aggregate[column]).partition("(")
        return func, arg or column


class Source(Params):
    """One export mapped onto one canonical table.

    Parameters
    ----------
    table : str
        Canonical table name.
    path : str
        File or glob, relative to ``raw_dir`` unless absolute.
    format : {"csv", "parquet", "excel"}, optional
        Taken from the file extension when not given.
    preset : str, optional
        Name of a preset mapping in ``lib/outcomes/ingest/presets/``.
    delimiter : str, optional
        CSV field separator (default ``,``).
    null_values : list of str
        Strings that mean "empty" in the export (e.g. ``?`` or ``NULL``).
    encoding : str
        CSV text encoding (default ``utf-8``; a UTF-8 byte-order mark is accepted).
    sheet : str, optional
        Excel sheet name (default: the first sheet).
    columns : dict
        Canonical column name -> export column name.
    constants : dict
        Canonical column name -> fixed value, for columns the export does not have.
    derive : dict
        Canonical column name -> SQL expression over the export's columns (quoted as in
        the export), for values that need a small computation (``"reopen_count" > 0``).
        In the expression an export column whose values are all ``true``/``false`` is a
        boolean, all whole numbers an integer, all numbers a double, otherwise text.
        Precedence when a column is given several ways: ``derive``, then ``constants``,
        then ``columns``, then an export column of the canonical name.
    dates : dict
        Canonical column name -> strftime format, or ``excel`` for Excel serial day numbers.
        Columns not listed are parsed as ISO 8601.
    timezone : str
        Time zone of timestamps that carry no offset (default ``UTC``).
    values : dict
        Canonical column name -> {export value: canonical value}.
    dedupe : Dedupe, optional
        Keep one version per record.
    """

    table: str
    path: str
    format: FileFormat | None = None
    preset: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    null_values: list[str] = Field(default_factory=list)
    sheet: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    derive: dict[str, str] = Field(default_factory=dict)
    dates: dict[str, str] = Field(default_factory=dict)
    timezone: str = "UTC"
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    dedupe: Dedupe | None = None

    @model_validator(mode="after")
    def _known_table(self) -> Source:
        if self.table not in TABLES:
            raise ValueError(f"unknown table '{self.table}'; canonical tables are: {', '.join(TABLES)}")
        return self

    @property
    def file_format(self) -> FileFormat:
        """The format, from ``format`` or the file extension."""
        if self.format:
            return self.format
        suffix = Path(self.path.replace("*", "x")).suffix.lower()
        return {".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel", ".xls": "excel"}.get(suffix, "csv")  # type: ignore[return-value]


class SourcesConfig(Params):
    """The whole ``params/sources.yaml``.

    Parameters
    ----------
    raw_dir : str
        Folder that relative source paths start from.
    warehouse : str
        The DuckDB warehouse file.
    rejects_dir : str
        Where rejected rows are written as ``<source>.csv``.
    sources : dict
        Source name -> :class:`Source`.
    """

    raw_dir: str = "data/raw"
    warehouse: str = "data/warehouse.duckdb"
    rejects_dir: str = "data/rejects"
    sources: dict[str, Source]


def _merge_preset(name: str, entry: dict, source_label: str) -> dict:
    """Return ``entry`` laid over the preset it names (nested mappings merged one level deep)."""
    preset_name = entry.get("preset")
    if not preset_name:
        return entry
    preset_file = PRESETS_DIR / f"{preset_name}.yaml"
    if not preset_file.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ParamsError(
            f"{source_label}: source '{name}' names preset '{preset_name}', which does not exist; presets are: {', '.join(known)}"
        )
    merged = dict(read_yaml(preset_file))
    for key, value in entry.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def load_sources(path: str | Path | None = None) -> SourcesConfig:
    """Load and validate ``params/sources.yaml``, applying presets.

    Parameters
    ----------
    path : str or Path, optional
        Defaults to ``params/sources.yaml`` under the project root.

    Returns
    -------
    SourcesConfig
        The validated configuration.
    """
    path = Path(path) if path is not None else config.project().params_dir / "sources.yaml"
    doc = read_yaml(path)
    if isinstance(doc, dict) and isinstance(doc.get("sources"), dict):
        doc = {**doc, "sources": {k: _merge_preset(k, v or {}, str(path)) for k, v in doc["sources"].items()}}
    return validate(SourcesConfig, doc, source=str(path))


__all__ = ["AGGREGATIONS", "Dedupe", "Source", "SourcesConfig", "load_sources", "load"]
