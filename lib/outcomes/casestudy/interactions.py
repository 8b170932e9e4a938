"""First-contact resolution from a service desk's interactions file.

Some exports keep first-contact resolution on the *interactions* (calls and mails to the
desk) rather than on the tickets: Rabobank's ``detail_interaction.csv.gz`` has a
``First Call Resolution`` flag (Y/N) on every interaction, while its incidents have none,
so the catalog's ``fcr_rate`` (on ``tickets.first_contact_resolved``) finds nothing to
count. :func:`first_contact_resolution` reads the flag straight from the file with DuckDB:
the share of interactions first touched in the window that were resolved at first contact,
with a Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from statsmodels.stats.proportion import proportion_confint

from outcomes import config
from outcomes import format as fmt
from outcomes.casestudy.findings import finding
from outcomes.periods import MonthLike, Window
from outcomes.warehouse.sql import literal, quote

#: Returned on :class:`FirstContact` when the interactions file is absent.
NO_FILE = "no interactions file"


@dataclass(frozen=True)
class FirstContact:
    """First-contact resolution over the interactions first touched in a window.

    Parameters
    ----------
    window : Window
        The months (by first touch).
    resolved : int
        Interactions resolved at first contact (flag ``Y``).
    recorded : int
        Interactions with the flag recorded (``Y`` or ``N``).
    source : str
        The file read.
    alpha : float
        One minus the confidence level.
    error : str, optional
        Why there is no rate (an expected data condition), else ``None``.
    """

    window: Window
    resolved: int
    recorded: int
    source: str
    alpha: float = 0.05
    error: str | None = None

    @property
    def rate(self) -> float:
        """Share of interactions resolved at first contact."""
        return self.resolved / self.recorded if self.recorded else float("nan")

    @property
    def ci(self) -> tuple[float, float]:
        """Wilson interval of :attr:`rate`."""
        if not self.recorded:
            return float("nan"), float("nan")
        low, high = proportion_confint(self.resolved, self.recorded, alpha=self.alpha, method="wilson")
        return float(low), float(high)

    def sentence(self) -> str:
        """The rate with its population and window."""
        if self.error:
            return f"First-contact resolution is not measured: {self.error}."
        low, high = self.ci
        return (
            f"First-contact resolution: {fmt.percent(self.rate, decimals=1)} ({fmt.confidence(self.alpha)} CI "
            f"{fmt.percent(low, decimals=1)} to {fmt.percent(high, decimals=1)}) of the {self.recorded:,} interactions "
            f"(calls and mails to the desk) first touched in {self.window}, from the interactions file's "
            "First Call Resolution flag; the incidents themselves do not record it."
        )

    def findings(self, dataset: str) -> list[dict]:
        """The row for the ``findings`` section of ``results.json`` (in %), none without a rate."""
        if self.error:
            return []
        low, high = self.ci
        return [
            finding(
                section="itsm", dataset=dataset, metric="fcr_rate_interactions",
                label="First-contact resolution of interactions", estimate=100 * self.rate, ci_low=100 * low,
                ci_high=100 * high, unit="%", better="higher", n=self.recorded, sentence=self.sentence(),
            )
        ]


def first_contact_resolution(
    path: str | Path,
    *,
    start: MonthLike,
    end: MonthLike,
    opened: str = "Open Time (First Touch)",
    flag: str = "First Call Resolution",
    date_format: str = "%d-%m-%Y %H:%M",
    delimiter: str = ";",
    alpha: float = 0.05,
) -> FirstContact:
    """Share of interactions first touched from ``start`` to ``end`` that were resolved at first contact.

    Parameters
    ----------
    path : str or Path
        The interactions file (CSV, gzip allowed); a relative path is taken from the project folder.
    start, end : str or date
        First and last month, ``"YYYY-MM"``.
    opened, flag : str
        Columns of the first-touch time and of the Y/N flag.
    date_format : str
        strptime format of ``opened``.
    delimiter : str
        Field separator.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    FirstContact
        The counts behind the rate; ``error`` is set when the file is absent.
    """
    window = Window(start, end)
    given, path = str(path), config.resolve(path)
    if not path.is_file():
        return FirstContact(window, 0, 0, given, alpha, f"{NO_FILE} at {given}")
    con = duckdb.connect()
    try:
        resolved, recorded = con.execute(
            f"""
            SELECT count(*) FILTER (WHERE f = 'Y'), count(*) FILTER (WHERE f IN ('Y', 'N'))
            FROM (
                SELECT upper(trim({quote(flag)})) AS f, try_strptime({quote(opened)}, {literal(date_format)}) AS t
                FROM read_csv({literal(str(path))}, delim={literal(delimiter)}, header=true, all_varchar=true)
            )
            WHERE t >= ? AND t < ?
            """,
            [window.start_timestamp, window.end_timestamp],
        ).fetchone()
    finally:
        con.close()
    return FirstContact(window, int(resolved), int(recorded), str(path), alpha)


__all__ = ["NO_FILE", "FirstContact", "first_contact_resolution"]
