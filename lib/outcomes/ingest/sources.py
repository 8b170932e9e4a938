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
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.params import Params, load, read_yaml, validate
from outcomes.warehouse.datamodel import TABLES

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

FileFormat = Literal["csv", "parquet", "excel"]
#: How an id column is normalized before it is compared (see :class:`Source`).
IdNormalization = Literal["trim", "upper", "lower"]


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
    preset : str or list of str, optional
        Name of a preset mapping in ``lib/outcomes/ingest/presets/``, or several laid
        over one another in order (``[servicenow, locale/european]``; the presets under
        ``presets/locale/`` set only the delimiter and the number separators).
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
        In the expression an export column whose values are (at least 95%) ``true``/``false``
        is a boolean, whole numbers an integer, numbers a double, otherwise text; a value of
        such a column that is not of its type rejects its row (rule ``derive_input``).
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
    skip_rows : int
        Rows above the header to skip (an Excel sheet or CSV with a title above the header).
    allow_empty : bool
        Accept a file with a header and no rows (default: refused, because it would empty
        the table).
    decimal : {".", ","}
        Decimal separator of the numbers in the export (default ``.``).
    thousands : {",", ".", " ", "'"}, optional
        Thousands separator of the numbers in the export (default: none).
    earliest : date, optional
        The earliest plausible date of the source's date and timestamp columns; earlier
        values are rejected (default :data:`~outcomes.warehouse.datamodel.EARLIEST`).
    future_days : int, optional
        Days after the export date (the file's modification time) that a date or
        timestamp may fall; later values are rejected (default: each column's
        ``future_days`` in the data model).
    year_pivot : int, optional
        Accept two-digit years: ``yy`` below the pivot is 20yy, at or above it 19yy
        (``year_pivot: 70`` reads 25 as 2025 and 85 as 1985). Without it a two-digit year
        is rejected (and a ``%y`` date format refused).
    normalize : dict
        Canonical id column -> ``trim`` (remove surrounding whitespace, tabs included),
        ``upper`` or ``lower`` (trim, then fold the case), so that ``C001`` and
        `` c001\\t`` are one id.
    """

    table: str
    path: str
    format: FileFormat | None = None
    preset: str | list[str] | None = None
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
    skip_rows: int = Field(default=0, ge=0)
    allow_empty: bool = False
    decimal: Literal[".", ","] = "."
    thousands: Literal[",", ".", " ", "'"] | None = None
    earliest: date | None = None
    future_days: int | None = Field(default=None, ge=0)
    year_pivot: int | None = Field(default=None, ge=0, le=100)
    normalize: dict[str, IdNormalization] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_table(self) -> Source:
        if self.table not in TABLES:
            raise ValueError(f"unknown table '{self.table}'; canonical tables are: {', '.join(TABLES)}")
        if self.file_format == "parquet" and (self.decimal != "." or self.thousands is not None):
            raise ValueError(
                "decimal and thousands describe numbers written as text; a Parquet file stores numbers as numbers, "
                "so leave them out"
            )
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(
                f"decimal and thousands are both '{self.decimal}'; set thousands to another separator or leave it out"
            )
        return self

    @property
    def preset_names(self) -> list[str]:
        """The presets the source names, in the order they are laid over one another."""
        return [self.preset] if isinstance(self.preset, str) else list(self.preset or [])

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
    """Return ``entry`` laid over the presets it names, in order (nested mappings merged one level deep)."""
    names = entry.get("preset")
    if not names:
        return entry
    merged: dict = {}
    for preset_name in [names] if isinstance(names, str) else list(names):
        preset_file = PRESETS_DIR / f"{preset_name}.yaml"
        if not preset_file.is_file():
            known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
            raise ParamsError(
                f"{source_label}: source '{name}' names preset '{preset_name}', which does not exist; presets are: "
                f"{', '.join(known)}"
            )
        merged = _lay_over(merged, read_yaml(preset_file))
    return _lay_over(merged, entry)


def _lay_over(base: dict, top: dict) -> dict:
    """``top`` laid over ``base``: its keys win, nested mappings are merged one level deep."""
    merged = dict(base)
    for key, value in top.items():
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
