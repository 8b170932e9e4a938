"""Report notebooks' toolkit: the house look, offline charts, escaped text, tables and results.

Every report notebook starts, right after its ``parameters`` cell, with::

    report = outcomes.report.setup_notebook()

which enables the house Altair theme and the offline ``outcomes`` renderer, silences
library warnings that would otherwise print into the report, and returns a
:class:`Report` handle::

    report.md("## Review of {name}", name=spec.name)   # narration with escaped values
    report.table(frame, units={"csat": "fraction"})     # a styled table with units
    report.record("scorecard", rows)                    # machine-readable results
    report.results()                                    # what earlier notebooks of the run recorded
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from IPython.display import HTML, Markdown

from outcomes.report import renderer, results, tables, text, theme
from outcomes.report.results import record
from outcomes.report.tables import table
from outcomes.report.text import bullets, escape, escape_md, md


class Report:
    """The handle a report notebook works with (returned by :func:`setup_notebook`)."""

    def md(self, template: str, /, **values: Any) -> Markdown:
        """Markdown narration; ``values`` are escaped (see :func:`outcomes.report.text.md`)."""
        return md(template, **values)

    def table(self, frame: pd.DataFrame, units: Mapping[str, str] | None = None, **kwargs: Any) -> HTML:
        """A styled HTML table with units (see :func:`outcomes.report.tables.table`)."""
        return table(frame, units, **kwargs)

    def bullets(self, sentences: Sequence[str]) -> Markdown:
        """Sentences as an escaped Markdown bullet list (see :func:`outcomes.report.text.bullets`)."""
        return bullets(sentences)

    def record(self, section: str, data: Any) -> None:
        """Record results for ``results.json`` (see :func:`outcomes.report.results.record`)."""
        record(section, data)

    def results(self) -> dict[str, list[Any]]:
        """Results recorded so far in this run, merged (see :func:`outcomes.report.results.collected`)."""
        return results.collected()


def setup_notebook() -> Report:
    """Prepare a report notebook: house theme, offline charts, quiet warnings.

    Returns
    -------
    Report
        The handle for narration, tables and results.
    """
    theme.enable()
    renderer.enable()
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    return Report()


__all__ = ["Report", "setup_notebook", "record", "table", "md", "bullets", "escape", "escape_md", "renderer", "results", "tables", "text", "theme"]
