"""Changes per day, counted as changes rather than change-and-item rows.

Some exports hold one row per change and configuration item it touched (Rabobank's change
records): the kit loads each row as one deployment, so the catalog's
``deployment_frequency`` counts rows, and a change touching five items counts five times.
:func:`count_changes` counts distinct changes instead, from the part of ``deployment_id``
before a separator (the mapping builds it as ``change id / item``), and says how many rows
they came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from outcomes.casestudy.findings import finding
from outcomes.periods import MonthLike, Window


@dataclass(frozen=True)
class ChangeCount:
    """Changes implemented in a window (see :func:`count_changes`).

    Parameters
    ----------
    window : Window
        The months counted (by deployment time).
    changes : int
        Distinct changes implemented in the window.
    rows : int
        Deployment rows they came from (one per change and item).
    days : int
        Days in the window.
    """

    window: Window
    changes: int
    rows: int
    days: int

    @property
    def per_day(self) -> float:
        """Changes implemented per day."""
        return self.changes / self.days if self.days else float("nan")

    def sentence(self) -> str:
        """The count with its population and window, and the row count it replaces."""
        return (
            f"{self.per_day:,.1f} changes were implemented per day in {self.window} ({self.changes:,} distinct changes "
            f"over {self.days} days). The scorecard's deployment frequency counts change-and-item rows instead "
            f"({self.rows:,}, {self.rows / self.days:,.1f} a day), so it is not reported."
            if self.days else f"No day in {self.window}."
        )

    def withheld(self) -> dict[str, str]:
        """The catalog metric this count replaces, with the reason (for :func:`outcomes.casestudy.panel_summary.formatted`)."""
        return {"deployment_frequency": self.sentence()}

    def caveats(self) -> dict[str, str]:
        """Catalog metrics counted over change-and-item rows, with the comment they need."""
        note = (
            f"Counted over change-and-item rows ({self.rows:,} in {self.window}), not over the {self.changes:,} "
            "changes: a change touching many items weighs as many times."
        )
        return {"change_failure_rate": note, "lead_time_hours": note}

    def finding(self, dataset: str) -> dict:
        """The row for the ``findings`` section of ``results.json``."""
        return finding(
            section="itsm", dataset=dataset, metric="changes_per_day", label="Changes implemented per day",
            estimate=self.per_day, unit="changes/day", n=self.changes, sentence=self.sentence(),
        )


def count_changes(con: ibis.BaseBackend, *, start: MonthLike, end: MonthLike, separator: str = "/") -> ChangeCount:
    """Count distinct changes implemented from ``start`` to ``end``.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse, with a ``deployments`` table.
    start, end : str or date
        First and last month, ``"YYYY-MM"``, by ``deployed_at``.
    separator : str
        The change id is the part of ``deployment_id`` before its first ``separator``
        (the whole id when it has none).

    Returns
    -------
    ChangeCount
        Changes, the rows they came from, and the days of the window.
    """
    if not separator:
        raise ValueError("separator must be a non-empty string, e.g. '/'")
    window = Window(start, end)
    d = con.table("deployments")
    d = d.filter((d.deployed_at >= window.start_timestamp) & (d.deployed_at < window.end_timestamp))
    change = d.deployment_id.split(separator)[0]
    row = d.aggregate(rows=d.count(), changes=change.nunique()).execute().iloc[0]
    days = (window.end_timestamp - window.start_timestamp).days
    return ChangeCount(window, int(row["changes"]), int(row["rows"]), int(days))


__all__ = ["ChangeCount", "count_changes"]
