"""Where the service desk's demand comes from: tickets per month, customer journey and customer segment.

A ticket's journey is the journey of its service in ``service_map`` (the first by name when
a service supports several, so each ticket counts once and the rows add up to the ticket
volume); a service missing from the map is ``unmapped``. The segment is the customer's for
a customer requester, ``employees`` for an employee and ``unassigned`` for a customer
without a record. The counting runs in the engine; only the counts leave it.
"""

from __future__ import annotations

import ibis
import pandas as pd

from outcomes.metrics.allocation import UNMAPPED
from outcomes.metrics.compute import UNASSIGNED
from outcomes.periods import Window

EMPLOYEES = "employees"
SOURCE_COLUMNS = ["period", "journey", "customer_segment", "tickets"]


def demand_sources(con: ibis.BaseBackend, window: Window) -> pd.DataFrame:
    """Tickets opened per month, customer journey and customer segment.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse (``tickets``, ``customers``, ``service_map``).
    window : Window
        The months.

    Returns
    -------
    pandas.DataFrame
        :data:`SOURCE_COLUMNS`: ``period`` (datetime64, first day), ``journey``,
        ``customer_segment`` and ``tickets`` (int64), one row per combination with tickets.
    """
    t = con.table("tickets")
    low, high = ibis.literal(window.start_timestamp), ibis.literal(window.end_timestamp)
    t = t.filter((t.opened_at >= low) & (t.opened_at < high))
    sm = con.table("service_map")
    journeys = sm.group_by(_service=sm.service).aggregate(_journey=sm.journey.min())
    c = con.table("customers").select(_cid="customer_id", _segment="segment")
    j = t.left_join(journeys, t.service == journeys._service).left_join(c, t.requester_id == c._cid)
    segment = ibis.ifelse(j.requester_type == "customer", j._segment.fill_null(UNASSIGNED), ibis.literal(EMPLOYEES))
    j = j.mutate(
        period=j.opened_at.truncate("M").cast("date"), journey=j._journey.fill_null(UNMAPPED), customer_segment=segment
    )
    out = j.group_by(["period", "journey", "customer_segment"]).aggregate(tickets=j.count()).execute()
    out["period"] = pd.to_datetime(out["period"]).astype("datetime64[ns]")
    out["tickets"] = out["tickets"].astype("int64")
    return out.sort_values(SOURCE_COLUMNS[:3]).reset_index(drop=True)[SOURCE_COLUMNS]
