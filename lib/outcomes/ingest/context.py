"""The source being ingested, as every ingest step sees it, and the small helpers those steps share.

:class:`SourceContext` carries the open warehouse connection, the source's mapping and
the names its messages use (the sources file, ``sources.<name>``); the steps of
:mod:`outcomes.ingest.readers`, :mod:`outcomes.ingest.mapping`,
:mod:`outcomes.ingest.dedupe` and :mod:`outcomes.ingest.checks` take it as their first
argument. The temporary tables they pass along are named in the module docstring of
:mod:`outcomes.ingest.load`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from outcomes.ingest.sources import Source
from outcomes.warehouse.datamodel import TABLES, Table


@dataclass(frozen=True)
class SourceContext:
    """One source of ``params/sources.yaml`` being loaded into an open warehouse.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse being built; the steps create their temporary tables in it.
    name : str
        Source name in the sources file.
    source : Source
        Its mapping.
    cfg_label : str
        The sources file as messages show it.
    raw_dir : Path
        Folder that relative source paths start at.
    """

    con: duckdb.DuckDBPyConnection
    name: str
    source: Source
    cfg_label: str
    raw_dir: Path

    @property
    def table(self) -> Table:
        """The canonical table the source loads."""
        return TABLES[self.source.table]

    @property
    def where(self) -> str:
        """The source's key in the sources file, as messages name it (``sources.<name>``)."""
        return f"sources.{self.name}"


def close_match(name: str, candidates: list[str]) -> str:
    """Return " (did you mean 'x'?)" for a candidate spelt almost like ``name``, or an empty string."""

    def norm(text: str) -> str:
        return re.sub(r"[^0-9a-z]", "", text.lower())

    same = [c for c in candidates if norm(c) == norm(name)]
    hint = same or difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
    return f" (did you mean '{hint[0]}'?)" if hint else ""
