"""Ticket groups: which groups of tickets make up the mix, the backlog and the delay.

``group`` is any column of the ``tickets`` table (assignment group, category, priority,
service...). Two views, both computed in the engine (Ibis on DuckDB or Spark):

:func:`ticket_mix`
    The share of tickets opened each month in each group (e.g. the priority mix).
:func:`group_shares`
    Per group, over the months from ``start`` to ``end``: tickets opened, the median
    resolution time, the average month-end backlog and its share of the whole backlog,
    and the *excess resolution hours* and their share: the hours by which resolved
    tickets exceeded a reference time (default: the median resolution time of all
    tickets in the window), summed. A group with a large share of the excess is where
    delay concentrates. Groups with fewer than ``min_tickets`` tickets are pooled into
    one row, so no small group is shown on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from outcomes import format as fmt
from outcomes.metrics import compute
from outcomes.casestudy.findings import finding
from outcomes.casestudy.ticket_quality import TicketQuality
from outcomes.periods import MonthLike, Window

UNASSIGNED = compute.UNASSIGNED
SHARE_COLUMNS = [
    "group", "tickets", "ticket_share", "median_resolve_hours", "backlog", "backlog_share", "excess_hours",
    "excess_share",
]


def _hours(start: ibis.Value, stop: ibis.Value) -> ibis.Value:
    seconds = stop.epoch_seconds().cast("int64") - start.epoch_seconds().cast("int64")
    return seconds.cast("float64") / 3600.0


def _grouped(con: ibis.BaseBackend, group: str) -> ibis.Table:
    t = con.table("tickets")
    if group not in t.columns:
        raise KeyError(f"tickets has no column '{group}'; columns are {list(t.columns)}")
    return t.mutate(_group=t[group].cast("string").fill_null(UNASSIGNED))


def ticket_mix(con: ibis.BaseBackend, group: str, *, start: MonthLike, end: MonthLike) -> pd.DataFrame:
    """Share of the tickets opened each month that fall in each group.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    group : str
        A ``tickets`` column (e.g. ``priority``); empty values count as ``unassigned``.
    start, end : str or date
        First and last month, ``"YYYY-MM"``.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``group``, ``tickets``, ``share`` (of the month's tickets).
    """
    window = Window(start, end)
    t = _grouped(con, group)
    t = t.filter((t.opened_at >= window.start_timestamp) & (t.opened_at < window.end_timestamp))
    by_month = t.group_by(period=t.opened_at.truncate("M").cast("date"), group=t._group)
    out = by_month.aggregate(tickets=t.count()).execute()
    out["period"] = pd.to_datetime(out["period"])
    out["share"] = out["tickets"] / out.groupby("period")["tickets"].transform("sum")
    return out.sort_values(["period", "group"], ignore_index=True)


@dataclass(frozen=True)
class GroupShares:
    """Backlog and delay by group (see :func:`group_shares`).

    Parameters
    ----------
    group : str
        The ``tickets`` column grouped by.
    table : pandas.DataFrame
        One row per group (small groups pooled): columns :data:`SHARE_COLUMNS`, sorted by
        ``excess_share``.
    reference_hours : float
        Resolution time beyond which hours count as excess.
    months : int
        Month ends averaged over for the backlog.
    min_tickets : int
        Groups with fewer tickets are pooled.
    pooled : int
        Groups pooled into the ``other`` row.
    unresolved : int
        Tickets of the window without a resolution time: each counts in every month-end
        backlog after it opened, so when an export closes tickets without a resolution
        time, the backlog is overstated where they concentrate.
    dropped : int
        Tickets of the window left out because the data checks flagged them
        (:meth:`outcomes.casestudy.ticket_quality.TicketQuality.keep`).
    dropped_why : str
        The flags behind ``dropped``, in words (empty when nothing was dropped).
    period : str
        The months reported, in words (``2016-03 to 2016-05``).
    """

    group: str
    table: pd.DataFrame
    reference_hours: float
    months: int
    min_tickets: int
    pooled: int
    unresolved: int = 0
    dropped: int = 0
    dropped_why: str = ""
    period: str = ""

    @property
    def other_label(self) -> str:
        """Label of the pooled row."""
        return f"other ({self.pooled} groups under {self.min_tickets} tickets)"

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` groups with the largest share of excess hours (the pooled row excluded)."""
        return self.table[self.table["group"] != self.other_label].head(n).reset_index(drop=True)

    def sentences(self, n: int = 3) -> list[str]:
        """Plain-language findings on the groups driving delay and backlog.

        The population and window come first; each group's share of the excess hours is set
        against its share of the tickets, so "more" and "less than its share" read the right way.
        """
        top = self.top(n)
        if top.empty:
            return [f"No {self.group} has {self.min_tickets} or more tickets; groups are not compared."]
        total = int(self.table["tickets"].sum())
        share_delay, share_backlog, share_tickets = (float(top[c].sum()) for c in ("excess_share", "backlog_share", "ticket_share"))
        names = ", ".join(top["group"])
        word = "more than" if share_delay > share_tickets else "less than" if share_delay < share_tickets else "the same as"
        out = [
            f"Of the {total:,} tickets opened {self.period or f'in the {self.months} months reported'}"
            f"{f' (after the data checks left out {self.dropped:,})' if self.dropped else ''}, the {len(top)} {self.group} "
            f"values with the most excess resolution time ({names}) hold {100 * share_tickets:.0f}% of the tickets and "
            f"{100 * share_delay:.0f}% of the hours resolved tickets spent beyond {self.reference_hours:.1f} hours "
            f"(the reference resolution time), {word} their share of tickets, and {100 * share_backlog:.0f}% of the average month-end backlog."
        ]
        if self.unresolved:
            out.append(
                f"{self.unresolved:,} of {total:,} tickets ({100 * self.unresolved / total:.1f}%) have no resolution "
                "time and count as open at every later month end."
            )
        over = self.table[(self.table["group"] != self.other_label) & (self.table["excess_share"] > self.table["ticket_share"])]
        if len(over):
            worst = over.assign(r=over["excess_share"] / over["ticket_share"]).sort_values("r", ascending=False).iloc[0]
            out.append(
                f"Relative to its tickets, delay concentrates most in {self.group} {worst['group']}: "
                f"{fmt.percent(worst['excess_share'])} of the excess hours with {fmt.percent(worst['ticket_share'])} of the tickets."
            )
        if self.dropped:
            out.append(f"Left out before these shares were computed: {self.dropped_why}")
        return out

    def findings(self, dataset: str, n: int = 3) -> list[dict]:
        """Rows for the ``findings`` section of ``results.json`` (shares in %)."""

        top = self.top(n)
        if top.empty:
            return []
        tickets = int(self.table["tickets"].sum())
        return [
            finding(
                section="itsm", dataset=dataset, metric=f"excess_hours_share_top{len(top)}_{self.group}",
                label=f"Share of excess resolution hours in the top {len(top)} {self.group} values",
                estimate=float(100 * top["excess_share"].sum()), unit="%", n=tickets, sentence=self.sentences(n)[0],
            ),
            finding(
                section="itsm", dataset=dataset, metric=f"backlog_share_top{len(top)}_{self.group}",
                label=f"Share of the month-end backlog in the same {len(top)} {self.group} values",
                estimate=float(100 * top["backlog_share"].sum()), unit="%", n=tickets,
                sentence=(
                    f"The same {len(top)} {self.group} values hold {100 * top['backlog_share'].sum():.0f}% of the "
                    f"average month-end backlog of the tickets opened {self.period or f'in the {self.months} months reported'}"
                    f"{f' (after the data checks left out {self.dropped:,})' if self.dropped else ''}."
                ),
            ),
        ]


def group_shares(
    con: ibis.BaseBackend,
    group: str,
    *,
    start: MonthLike,
    end: MonthLike,
    min_tickets: int = 30,
    reference_hours: float | None = None,
    quality: TicketQuality | None = None,
) -> GroupShares:
    """Backlog and excess resolution hours by group, small groups pooled.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    group : str
        A ``tickets`` column; empty values count as ``unassigned``.
    start, end : str or date
        First and last month, ``"YYYY-MM"``: tickets opened in these months, and the
        backlog at each of their month ends.
    min_tickets : int
        Groups with fewer tickets opened are pooled into one row.
    reference_hours : float, optional
        Resolution time beyond which hours count as excess; default: the median
        resolution time of the window's resolved tickets.
    quality : TicketQuality, optional
        The data checks (:func:`outcomes.casestudy.ticket_quality.check_tickets`): the
        tickets they flag (closed without a resolution time, impossible durations) are
        left out of every figure, and the result says how many and why.

    Returns
    -------
    GroupShares
        The table and the settings behind it.
    """
    if min_tickets < 1:
        raise ValueError(f"min_tickets must be at least 1, got {min_tickets}")
    window = Window(start, end)
    t = _grouped(con, group)
    if quality is not None:
        t = quality.keep(t)
    opened = t.filter((t.opened_at >= window.start_timestamp) & (t.opened_at < window.end_timestamp))
    opened = opened.mutate(_h=_hours(opened.opened_at, opened.resolved_at))
    if reference_hours is None:
        reference_hours = float(opened.filter(opened._h.notnull())._h.median().execute() or 0.0)
    excess = ibis.greatest(opened._h - reference_hours, 0.0)
    per_group = opened.group_by(group=opened._group).aggregate(
        tickets=opened.count(),
        median_resolve_hours=opened._h.median(),
        excess_hours=excess.sum().fill_null(0.0),
        unresolved=opened.resolved_at.isnull().cast("int64").sum(),
    )
    ends = compute.months_table(window)
    open_at = t.inner_join(ends, [t.opened_at < ends.period_end, t.resolved_at.isnull() | (t.resolved_at >= ends.period_end)])
    backlog = open_at.group_by(_bg=open_at._group).aggregate(_ticket_months=open_at.count())
    joined = per_group.left_join(backlog, per_group.group == backlog._bg)
    frame = joined.select(
        "group", "tickets", "median_resolve_hours", "excess_hours", "unresolved",
        ticket_months=joined._ticket_months.fill_null(0),
    ).execute()
    small = frame["tickets"] < min_tickets
    pooled = int(small.sum())
    label = f"other ({pooled} groups under {min_tickets} tickets)"
    big = frame[~small].copy()
    if pooled:
        rest = frame[small]
        big = pd.concat(
            [
                big,
                pd.DataFrame(
                    {
                        "group": [label], "tickets": [rest["tickets"].sum()], "median_resolve_hours": [float("nan")],
                        "excess_hours": [rest["excess_hours"].sum()], "ticket_months": [rest["ticket_months"].sum()],
                    }
                ),
            ],
            ignore_index=True,
        )
    big["backlog"] = big["ticket_months"] / len(window)
    big["ticket_share"] = big["tickets"] / big["tickets"].sum()
    big["backlog_share"] = big["ticket_months"] / big["ticket_months"].sum() if big["ticket_months"].sum() else 0.0
    big["excess_share"] = big["excess_hours"] / big["excess_hours"].sum() if big["excess_hours"].sum() else 0.0
    table = big.sort_values(["excess_share", "tickets"], ascending=False, ignore_index=True)[SHARE_COLUMNS]
    dropping = [f for f in quality.flags if f.drops_rows] if quality is not None else []
    return GroupShares(
        group, table, reference_hours, len(window), min_tickets, pooled, int(frame["unresolved"].sum()),
        dropped=sum(f.rows for f in dropping), dropped_why=" ".join(f.detail for f in dropping), period=str(window),
    )


__all__ = ["GroupShares", "group_shares", "ticket_mix"]
