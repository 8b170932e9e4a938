"""Source mappings: how each export becomes a canonical table, without code.

``params/sources.yaml`` lists the exports to ingest. Each entry names a canonical table
(:mod:`outcomes.warehouse.datamodel`), a file or glob, a format, and how the export's columns,
dates, time zones and values map onto the canonical ones. A preset
(``lib/outcomes/ingest/presets/<name>.yaml``) supplies a whole mapping for a known tool's export
(ServiceNow, Jira Service Management); the entry's settings are merged into the preset's
(:func:`lay_over`): mappings key by key at every depth, so an entry's
``values: {channel: {Web: portal}}`` adds one entry to the preset's channel map, while
scalars and lists replace the preset's, and ``null`` removes a preset's entry.

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

import copy
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

#: The largest share of a source's rows that may be rejected unless it sets ``max_reject_share``.
MAX_REJECT_SHARE = 0.05

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
    max_reject_share : float
        The largest share of the source's rows (after ``dedupe``: of the records it
        keeps) that may be rejected; a larger share stops ingest, since it means the
        mapping is wrong rather than a few rows bad (default
        :data:`MAX_REJECT_SHARE`, 5%).
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
    max_reject_share: float = Field(default=MAX_REJECT_SHARE, ge=0, le=1)

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


#: A setting's place in a source entry: ``("values", "channel", "Web")``.
SettingPath = tuple[str, ...]


def preset_layers(name: str, entry: dict, source_label: str) -> list[tuple[str, dict]]:
    """The layers a source's settings are merged from, lowest first: each preset it names, then ``entry``.

    Parameters
    ----------
    name : str
        Source name in the sources file.
    entry : dict
        The source's entry as written in the sources file.
    source_label : str
        The sources file, as messages and origins name it.

    Returns
    -------
    list of (str, dict)
        (origin, settings) pairs: ``("preset servicenow", {...})`` for each preset, in
        the order named, and ``(source_label, entry)`` last.

    Raises
    ------
    ParamsError
        When the entry names a preset that does not exist.
    """
    names = entry.get("preset")
    layers = []
    for preset_name in [names] if isinstance(names, str) else list(names or []):
        preset_file = PRESETS_DIR / f"{preset_name}.yaml"
        if not preset_file.is_file():
            known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
            raise ParamsError(
                f"{source_label}: source '{name}' names preset '{preset_name}', which does not exist; presets are: "
                f"{', '.join(known)}"
            )
        layers.append((f"preset {preset_name}", read_yaml(preset_file) or {}))
    return [*layers, (source_label, entry)]


def lay_over(layers: list[tuple[str, dict]]) -> tuple[dict, dict[SettingPath, str]]:
    """Merge settings layers in order, and say which layer each setting in force comes from.

    A later layer wins. Mappings (``columns``, ``values`` and each of its value maps,
    ``constants``, ``derive``, ``dates``, ``normalize``, ``dedupe`` and its ``aggregate``)
    are merged key by key at every depth, so ``values: {channel: {Web: portal}}`` adds one
    entry to a preset's channel map. Scalars and lists (``null_values``, ``dedupe.key``)
    replace the earlier value whole. A ``null`` removes the entry an earlier layer set
    (``values: {channel: {Web: null}}``, ``dedupe: null``); where no earlier layer set it,
    ``null`` is kept as the value (a ``constants`` entry of ``null`` is an empty column).

    Parameters
    ----------
    layers : list of (str, dict)
        (origin, settings) pairs, lowest first (see :func:`preset_layers`).

    Returns
    -------
    merged : dict
        The settings in force.
    origins : dict
        Path of each setting in force (each leaf of ``merged``) -> the origin of the
        layer that set it.
    """
    merged: dict = {}
    origins: dict[SettingPath, str] = {}
    for origin, layer in layers:
        _merge_into(merged, layer, origin, (), origins)
    return merged, origins


def _merge_into(base: dict, top: dict, origin: str, prefix: SettingPath, origins: dict[SettingPath, str]) -> None:
    """Lay ``top`` over ``base`` in place (see :func:`lay_over`), recording the origins of what it sets."""
    for key, value in top.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value, origin, path, origins)
            continue
        for old in [p for p in origins if p[: len(path)] == path]:
            del origins[old]
        if value is None and key in base:
            del base[key]
        else:
            base[key] = copy.deepcopy(value)
            origins.update(dict.fromkeys(_leaves(value, path), origin))


def _leaves(value: object, path: SettingPath) -> list[SettingPath]:
    """The paths of the leaves of ``value`` (itself unless it is a non-empty mapping)."""
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    return [path]


def merged_entries(doc: object, source_label: str) -> dict[str, tuple[dict, dict[SettingPath, str]]]:
    """Each source's settings in force and their origins, from a sources file's parsed YAML.

    Parameters
    ----------
    doc : object
        The parsed sources file.
    source_label : str
        The sources file, as messages and origins name it.

    Returns
    -------
    dict
        Source name -> (merged settings, origins), as :func:`lay_over` returns them;
        empty when the file has no ``sources`` mapping (validation then says so).
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        return {}
    merged = {}
    for name, entry in doc["sources"].items():
        entry = entry or {}
        # An entry that is not a mapping is left as it is, for validation to report.
        merged[name] = lay_over(preset_layers(name, entry, source_label)) if isinstance(entry, dict) else (entry, {})
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
    entries = merged_entries(doc, str(path))
    if entries:
        doc = {**doc, "sources": {name: merged for name, (merged, _) in entries.items()}}
    return validate(SourcesConfig, doc, source=str(path))


__all__ = [
    "AGGREGATIONS",
    "MAX_REJECT_SHARE",
    "Dedupe",
    "SettingPath",
    "Source",
    "SourcesConfig",
    "lay_over",
    "load",
    "load_sources",
    "merged_entries",
    "preset_layers",
]
