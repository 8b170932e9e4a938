"""Where experience comes from within a service: happiness and lost time per ticket category and team.

The catalog cuts the experience metrics by region, channel and service; to say *what*
makes a service's users unhappy, :func:`experience_breakdown` cuts them further, per
service and month, by the tickets' category and by the assignment group that resolved
them. It returns aggregates only (counts, happiness, lost time), never a ticket or a
requester, and runs as one query on DuckDB or Spark.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd

from outcomes.metrics.compute import UNASSIGNED, Scope, experience_aggregates, ticket_survey_base
from outcomes.periods import MonthLike, Window

#: The ticket attributes a service's experience is broken down by.
BREAKDOWN_DIMS: tuple[str, ...] = ("category", "assignment_group")
BREAKDOWN_COLUMNS = ["period", "service", "dimension", "value", "responses", "ticket_happiness", "lost_time_hours"]


def experience_breakdown(
    con: ibis.BaseBackend,
    *,
    start: MonthLike,
    end: MonthLike,
    services: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Ticket happiness and lost time per service, month, ticket category and assignment group.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse, holding ``ticket_surveys``, ``tickets``, ``customers`` and ``service_map``.
    start, end : str or date
        First and last month (answers by month submitted).
    services : sequence of str, optional
        Only these services (default: every one).

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``service``, ``dimension`` (``category`` or
        ``assignment_group``), ``value`` (``unassigned`` when the ticket has none),
        ``responses`` (answers), ``ticket_happiness`` and ``lost_time_hours`` (NaN when no
        answer gives it).
    """
    base = ticket_survey_base(con, Scope(Window(start, end), ("all",)))
    if services is not None:
        base = base.filter(base.service.isin(list(services)))
    parts = []
    for dim in BREAKDOWN_DIMS:
        t = base.mutate(value=base[dim].cast("string").fill_null(UNASSIGNED))
        agg = t.group_by(["period", "service", "value"]).aggregate(**experience_aggregates(t, "all"))
        parts.append(agg.mutate(dimension=ibis.literal(dim)))
    frame = parts[0].union(*parts[1:], distinct=False).execute()
    frame = frame.rename(columns={"ticket_happiness__n": "responses"})
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[ns]")
    frame["responses"] = frame["responses"].astype("int64")
    return frame[BREAKDOWN_COLUMNS].sort_values(["period", "service", "dimension", "value"], ignore_index=True)


__all__ = ["BREAKDOWN_COLUMNS", "BREAKDOWN_DIMS", "experience_breakdown"]
