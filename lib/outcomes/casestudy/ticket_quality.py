"""Ticket data checks that run before any finding is written.

Four conditions make a service-desk finding describe the export rather than the desk. Each
check runs in the engine on the tickets opened in the reported months and returns a
:class:`QualityFlag` when it fires:

``closed_without_resolution``
    Tickets with no resolution time although the log runs on, after their opening, for
    longer than 99% of resolved tickets took (the 99th percentile of resolution hours):
    most likely closed without one. They count as open at every later month end and so
    inflate the backlog of the groups holding them. The flag names the group that holds
    most of them. Findings on backlog and delay by group are recomputed without them; the
    scorecard's backlog metrics carry the comment.
``impossible_duration``
    Resolution before opening, or a resolution time longer than the whole log. Findings
    are recomputed without them.
``level_shift``
    The monthly median resolution time (by month of resolution) changes by a factor of
    ``shift_factor`` or more between two months at most ``shift_months`` apart: more
    likely a change in how the time is recorded than in how fast the desk works. Rows are
    kept; every resolution-time figure carries the comment.
``single_value``
    A column a metric rests on (:data:`outcomes.metrics.support.REQUIRES`) holds one value
    on every ticket: the field is not recorded, so a metric built on it (a 0% self-service
    rate when every ticket is "phone") is withheld, not reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import ibis
import pandas as pd

from outcomes.metrics import compute
from outcomes.metrics.support import REQUIRES
from outcomes.periods import MonthLike, Window

Check = Literal["closed_without_resolution", "impossible_duration", "level_shift", "single_value"]
#: What the page does about each check.
ACTIONS: dict[str, str] = {
    "closed_without_resolution": (
        "findings on backlog and delay by group recomputed without these tickets; the scorecard's backlog carries this comment"
    ),
    "impossible_duration": "findings on backlog and delay recomputed without these tickets",
    "level_shift": "kept; resolution-time figures carry this comment",
    "single_value": "metrics resting on the column withheld",
}
#: Metrics counting open tickets (commented when tickets were closed without a resolution time).
BACKLOG_METRICS = ("backlog_size", "backlog_age_days")
#: Metrics whose values are resolution times (commented when the resolution time shifts level).
RESOLUTION_METRICS = ("mttr_hours", "median_time_to_resolve_hours", "time_to_restore_hours")
QUALITY_COLUMNS = ["check", "column", "rows", "what it means", "what the page does"]


@dataclass(frozen=True)
class QualityFlag:
    """One check that fired.

    Parameters
    ----------
    check : str
        Which check (see the module docs).
    column : str
        The ``tickets`` column it is about.
    rows : int
        Tickets concerned (0 for checks about a whole column or month).
    detail : str
        What was found, in one sentence that names the values.
    metrics : tuple of str
        Catalog metrics the flag affects (withheld or commented).
    """

    check: Check
    column: str
    rows: int
    detail: str
    metrics: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        """What the page does about it."""
        return ACTIONS[self.check]

    @property
    def drops_rows(self) -> bool:
        """Whether the flagged tickets are left out of the findings on backlog and delay."""
        return self.check in ("closed_without_resolution", "impossible_duration")


@dataclass(frozen=True)
class TicketQuality:
    """Result of :func:`check_tickets`.

    Parameters
    ----------
    window : Window
        The months checked (tickets opened in them).
    tickets : int
        Tickets opened in the window.
    flags : tuple of QualityFlag
        The checks that fired.
    stale_hours : float
        Age beyond which a ticket without resolution time counts as closed without one.
    log_hours : float
        Length of the whole log, in hours (longest possible resolution time).
    log_end : float
        Last timestamp of the log, in epoch seconds.
    """

    window: Window
    tickets: int
    flags: tuple[QualityFlag, ...]
    stale_hours: float
    log_hours: float
    log_end: float

    @property
    def dropped(self) -> int:
        """Tickets left out of the findings on backlog and delay."""
        return sum(f.rows for f in self.flags if f.drops_rows)

    def flag(self, check: Check) -> QualityFlag | None:
        """The flag of ``check``, or ``None`` when it did not fire."""
        return next((f for f in self.flags if f.check == check), None)

    def keep(self, tickets: ibis.Table) -> ibis.Table:
        """``tickets`` without the rows of the flags that drop rows."""
        t = tickets
        if self.flag("closed_without_resolution"):
            age = (self.log_end - t.opened_at.epoch_seconds()) / 3600.0
            t = t.filter(t.resolved_at.notnull() | (age <= self.stale_hours))
        if self.flag("impossible_duration"):
            hours = _hours(t)
            t = t.filter(t.resolved_at.isnull() | ((hours >= 0) & (hours <= self.log_hours)))
        return t

    def withheld(self) -> dict[str, str]:
        """Metrics not to report, with the reason in words."""
        return {m: f.detail for f in self.flags if f.check == "single_value" for m in f.metrics}

    def caveats(self) -> dict[str, str]:
        """Metrics reported with a comment, with the comment."""
        return {
            m: f.detail for f in self.flags if f.check in ("level_shift", "closed_without_resolution") for m in f.metrics
        }

    def table(self) -> pd.DataFrame:
        """The flags for a report table: :data:`QUALITY_COLUMNS`."""
        rows = [(f.check.replace("_", " "), f.column, f.rows, f.detail, f.action) for f in self.flags]
        return pd.DataFrame(rows, columns=QUALITY_COLUMNS)

    def sentences(self) -> list[str]:
        """What the checks found and what the page does about it, in words."""
        if not self.flags:
            return [f"The data checks found nothing to correct in the {self.tickets:,} tickets opened in {self.window}."]
        return [f"{f.detail} The page: {f.action}." for f in self.flags]


def _hours(t: ibis.Table) -> ibis.Value:
    seconds = t.resolved_at.epoch_seconds().cast("int64") - t.opened_at.epoch_seconds().cast("int64")
    return seconds.cast("float64") / 3600.0


def _log_end(t: ibis.Table) -> ibis.Value:
    """Last timestamp of the log, as epoch seconds (a scalar over the whole table)."""
    return ibis.greatest(t.opened_at.max(), t.resolved_at.max()).epoch_seconds()


def check_tickets(
    con: ibis.BaseBackend,
    *,
    start: MonthLike,
    end: MonthLike,
    group: str = "assignment_group",
    shift_factor: float = 10.0,
    shift_months: int = 3,
    constants: tuple[str, ...] = (),
    metrics: Sequence[str] | None = None,
) -> TicketQuality:
    """Run the four checks on the tickets opened from ``start`` to ``end``.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    start, end : str or date
        First and last month, ``"YYYY-MM"``.
    group : str
        ``tickets`` column named when flagged rows concentrate in one of its values.
    shift_factor : float
        Ratio of two monthly medians that counts as a level shift (above 1).
    shift_months : int
        Months apart within which a shift counts (at least 1).
    constants : tuple of str
        ``table.column`` fields the source mapping sets to a constant
        (:func:`outcomes.metrics.support.constant_columns`): a single value there is said
        to come from the mapping, not the export.
    metrics : sequence of str, optional
        The metrics the page reports (default: every catalog metric): only the fields
        they rest on are checked for a single value.

    Returns
    -------
    TicketQuality
        The flags that fired, and the thresholds behind them.
    """
    if shift_factor <= 1:
        raise ValueError(f"shift_factor must be above 1, got {shift_factor}")
    if shift_months < 1:
        raise ValueError(f"shift_months must be at least 1, got {shift_months}")
    window = Window(start, end)
    t = con.table("tickets")
    if group not in t.columns:
        raise KeyError(f"tickets has no column '{group}'; columns are {list(t.columns)}")
    whole = t.mutate(_h=_hours(t))
    span = whole.aggregate(
        lo=whole.opened_at.min().epoch_seconds(),
        hi=_log_end(whole),
        p99=whole._h.quantile(0.99),
    ).execute().iloc[0]
    log_hours = float(span["hi"] - span["lo"]) / 3600.0
    stale_hours = float(span["p99"]) if pd.notna(span["p99"]) else log_hours
    opened = whole.filter((whole.opened_at >= window.start_timestamp) & (whole.opened_at < window.end_timestamp))
    opened = opened.mutate(_g=opened[group].cast("string").fill_null(compute.UNASSIGNED))
    n = int(opened.count().execute())
    flags: list[QualityFlag] = []

    age = (float(span["hi"]) - opened.opened_at.epoch_seconds()) / 3600.0
    stale = opened.filter(opened.resolved_at.isnull() & (age > stale_hours))
    flag = _concentrated(stale, group, n)
    if flag:
        rows, where = flag
        flags.append(QualityFlag(
            "closed_without_resolution", "resolved_at", rows,
            f"{rows:,} of {n:,} tickets opened in {window} have no resolution time although the log runs on for more "
            f"than {stale_hours:,.0f} hours after their opening (longer than 99% of resolved tickets took): most likely "
            f"closed without one{where}.",
            BACKLOG_METRICS,
        ))
    bad = opened.filter((opened._h < 0) | (opened._h > log_hours))
    flag = _concentrated(bad, group, n)
    if flag:
        rows, where = flag
        flags.append(QualityFlag(
            "impossible_duration", "resolved_at", rows,
            f"{rows:,} tickets opened in {window} were resolved before they were opened or after more than the "
            f"{log_hours:,.0f} hours the log covers{where}.",
        ))
    shift = _level_shift(whole, window, shift_factor, shift_months)
    if shift:
        flags.append(QualityFlag("level_shift", "resolved_at", 0, shift, RESOLUTION_METRICS))
    flags.extend(_single_values(opened, window, constants, metrics))
    return TicketQuality(window, n, tuple(flags), stale_hours, log_hours, float(span["hi"]))


def _concentrated(rows: ibis.Table, group: str, n: int) -> tuple[int, str] | None:
    """Count of ``rows`` and, when one value of ``group`` holds most of them, a clause naming it."""
    by = rows.group_by(_v=rows._g).aggregate(k=rows.count()).execute()
    total = int(by["k"].sum()) if len(by) else 0
    if not total:
        return None
    top = by.sort_values("k", ascending=False).iloc[0]
    where = f"; {int(top['k']):,} of them in {group} {top['_v']}" if top["k"] > total / 2 else ""
    return total, where


def _level_shift(t: ibis.Table, window: Window, factor: float, months: int) -> str | None:
    """A sentence on the largest shift of the monthly median resolution time, if one reaches ``factor``."""
    resolved = t.filter(
        t.resolved_at.notnull() & (t.resolved_at >= window.start_timestamp) & (t.resolved_at < window.end_timestamp)
    )
    med = resolved.group_by(month=resolved.resolved_at.truncate("M").cast("date")).aggregate(
        median=resolved._h.median(), n=resolved.count()
    ).execute().sort_values("month", ignore_index=True)
    med = med[med["median"] > 0]
    best = None
    for i in range(len(med)):
        for j in range(i + 1, len(med)):
            a, b = med.iloc[i], med.iloc[j]
            gap = (b["month"].year - a["month"].year) * 12 + b["month"].month - a["month"].month
            ratio = max(a["median"], b["median"]) / min(a["median"], b["median"])
            if gap <= months and ratio >= factor and (best is None or ratio > best[0]):
                best = (ratio, a, b, gap)
    if best is None:
        return None
    ratio, a, b, gap = best
    way = "drops" if b["median"] < a["median"] else "rises"
    return (
        f"The median resolution time (tickets resolved in the month) {way} {ratio:.0f}-fold in {gap} months, from "
        f"{a['median']:,.1f} hours in {a['month']:%Y-%m} to {b['median']:,.1f} hours in {b['month']:%Y-%m}: more likely "
        "a change in how resolution time is recorded than in how fast tickets are fixed; compare resolution times "
        "across these months with care."
    )


def _single_values(
    opened: ibis.Table, window: Window, constants: tuple[str, ...], metrics: Sequence[str] | None
) -> list[QualityFlag]:
    """Flags for ``tickets`` columns that ``metrics`` rest on and that hold one value on every ticket."""
    by_column: dict[str, list[str]] = {}
    for metric, needs in REQUIRES.items():
        if metrics is not None and metric not in metrics:
            continue
        for alternatives in needs:
            for field in alternatives:
                table, _, column = field.partition(".")
                if table == "tickets" and column in opened.columns:
                    by_column.setdefault(column, []).append(metric)
    columns = sorted(c for c in by_column if str(opened[c].type()).startswith(("string", "bool", "!string", "!bool")))
    if not columns:
        return []
    counts = opened.aggregate(**{c: opened[c].nunique() for c in columns}).execute().iloc[0]
    out = []
    for c in columns:
        if int(counts[c]) == 1:
            value = opened.filter(opened[c].notnull()).select(c).limit(1).execute().iloc[0, 0]
            nulls = int(opened[c].isnull().sum().execute())
            metrics = tuple(sorted(set(by_column[c])))
            source = (
                "set by the source mapping, not read from the export" if f"tickets.{c}" in constants
                else "the field is not recorded in this export"
            )
            out.append(QualityFlag(
                "single_value", c, 0,
                f"Every ticket opened in {window} that records {c} has the same value, {value!r}"
                f"{f' ({nulls:,} record none)' if nulls else ''}: {source}, so {', '.join(metrics)} would describe "
                "the export, not the desk, and is not reported.",
                metrics,
            ))
    return out


__all__ = ["ACTIONS", "BACKLOG_METRICS", "QUALITY_COLUMNS", "RESOLUTION_METRICS", "QualityFlag", "TicketQuality", "check_tickets"]
