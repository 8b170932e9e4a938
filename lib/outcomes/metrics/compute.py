"""Catalog metrics as Ibis expressions on the warehouse, per month and per segment.

Metrics are grouped into *families* that share a base table (tickets by month opened,
tickets by month resolved, the month-end backlog, incidents, deployments, service-desk
costs, the employee survey, the per-ticket surveys, the customer base, customer surveys,
orders and campaigns).
Each family is one Ibis query: its base table is grouped by month and segment for every
requested segment dimension, the groupings are stacked with ``union_all``, and only that
aggregate leaves the engine. Families whose aggregates all add up across customers
(customer base, surveys, orders) give the company row as the sum of a customer
dimension's rows (``Family.rollup``), which saves a second pass over their base table;
ticket bases join customers only for the dimensions read from the customer record. Metrics that combine two families (ARPU = revenue / active
customers, cost per ticket, availability, ...) are divided after aggregation, which is
exact. The same expressions run on DuckDB and on Spark (``ibis.pyspark``): they use
portable operations only, and medians and percentiles are exact on both engines
(DuckDB ``percentile_cont``, Spark ``percentile``: both interpolate linearly).

Segments
--------
``all``
    The whole company (segment ``"all"``).
``region``
    Tickets: the ticket's region, else the customer requester's region. Incidents without
    a region count in every region their service serves (service map). Customers, orders
    and surveys: the customer's region. Campaigns: the region targeted.
``customer_segment``
    The customer's segment; tickets join customers on the requester.
``channel``
    The ticket's contact channel (tickets only).
``service``
    Tickets, incidents and deployments: their IT service. Customer outcomes: the customers
    whose region a customer-facing service serves (service map), so one customer counts
    under every service that serves them.

Rows without a segment value (a ticket without a region) are kept as ``"unassigned"``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import ibis
import numpy as np
import pandas as pd

from outcomes.metrics import allocation, catalog
from outcomes.metrics.allocation import AllocationRules
from outcomes.metrics.catalog import DIMENSIONS
from outcomes.errors import WarehouseError
from outcomes.warehouse.datamodel import MONTH_PARTITIONS, PARTITION_COLUMN
from outcomes.periods import MonthLike, Window

Requester = Literal["all", "customer", "employee"]
UNASSIGNED = "unassigned"
SELF_SERVICE_CHANNELS = ("portal", "chatbot")
SERVICE_DESK = "service_desk"
KEYS = ["period", "segment_dim", "segment"]
TIDY_COLUMNS = ["period", "segment_dim", "segment", "metric", "value", "n", "suppressed", "note"]


# --------------------------------------------------------------------------- months


def months_table(window: Window) -> ibis.Table:
    """A small table of the window's months: ``period`` (first day), ``period_next`` (first day
    of the next month) and ``period_end`` (that day as a timestamp, the month's end)."""
    frame = pd.DataFrame(
        {
            "period": [m.start for m in window],
            "period_next": [m.end_exclusive for m in window],
            "period_end": pd.to_datetime([m.end_exclusive for m in window]).astype("datetime64[us]"),
        }
    )
    return ibis.memtable(
        frame, schema=ibis.schema({"period": "date", "period_next": "date", "period_end": "timestamp"})
    )


# --------------------------------------------------------------------------- helpers

#: Attribute of a connection holding the tables looked up on it (:func:`_table`).
_TABLES_ATTRIBUTE = "_outcomes_tables"


def _table(con: ibis.BaseBackend, name: str) -> ibis.Table:
    """``con.table(name)``, looked up once per connection: each lookup asks the engine for the
    table's schema, a round trip that a panel would otherwise repeat for every family.

    The tables are kept on the connection object itself: ibis backends compare equal (and
    hash alike) when they open the same database, so a mapping keyed by the connection
    would hand a new connection the tables of a closed one.
    """
    known = con.__dict__.setdefault(_TABLES_ATTRIBUTE, {})
    if name not in known:
        known[name] = con.table(name)
    return known[name]


def _hours(start: ibis.Value, stop: ibis.Value) -> ibis.Value:
    """Hours from ``start`` to ``stop`` (NULL when either is NULL), portable across engines.

    The seconds are cast to float64 before dividing: Spark reads the literal ``3600.0`` as a
    DECIMAL, and ``BIGINT / DECIMAL`` would round the hours to six decimal places.
    """
    seconds = stop.epoch_seconds().cast("int64") - start.epoch_seconds().cast("int64")
    return seconds.cast("float64") / 3600.0


def _month(ts: ibis.Value) -> ibis.Value:
    """The first day of the month of a timestamp or date, as a date."""
    return ts.truncate("M").cast("date")


def _rate(flag: ibis.Value) -> ibis.Value:
    """A boolean as 1.0/0.0 (NULL stays NULL), so that its mean is a share."""
    return flag.cast("float64")


def _segments(t: ibis.Table, columns: dict[str, str | None], dims: Iterable[str]) -> dict[str, ibis.Table]:
    """One base table per requested dimension, with the segment in a column ``segment``."""
    out = {}
    for dim in dims:
        if dim == "all":
            out[dim] = t.mutate(segment=ibis.literal("all"))
        elif columns.get(dim) is not None:
            out[dim] = t.mutate(segment=t[columns[dim]].cast("string").fill_null(UNASSIGNED))
    return out


def _stacked(t: ibis.Table, columns: dict[str, str | None], dims: Sequence[str]) -> ibis.Table:
    """``t`` once per dimension of ``dims``, with ``segment_dim`` and ``segment`` columns.

    Grouped by ``segment_dim`` too, it gives every dimension's aggregates in one pass: the
    engine reads, filters and joins ``t`` once for all of them (each row of ``t`` meets a
    small table of the dimensions), where one query per dimension would read it again.
    """
    names = ibis.memtable(pd.DataFrame({"segment_dim": list(dims)}), schema=ibis.schema({"segment_dim": "string"}))
    s = t.cross_join(names)
    segment = ibis.cases(
        *(
            (s.segment_dim == dim, ibis.literal("all") if dim == "all" else s[columns[dim]].cast("string").fill_null(UNASSIGNED))  # type: ignore[index]
            for dim in dims
        )
    )
    return s.mutate(segment=segment)


@dataclass(frozen=True)
class Scope:
    """What to compute: the months, the segment dimensions and the ticket requesters.

    Parameters
    ----------
    window : Window
        Months to report.
    dims : tuple of str
        Segment dimensions.
    requester : {"all", "customer", "employee"}
        Which tickets the ticket metrics count.
    allocation : AllocationRules
        How the IT ledger is allocated to services (the unit costs).
    metrics : frozenset of str, optional
        The metrics asked for: a family computes only the aggregate columns they need
        (None: every column).
    """

    window: Window
    dims: tuple[str, ...]
    requester: Requester = "all"
    allocation: AllocationRules = field(default_factory=AllocationRules)
    metrics: frozenset[str] | None = None

    def in_window(self, t: ibis.Table) -> ibis.Table:
        """Keep the rows of ``t`` whose ``period`` is within the months."""
        return t.filter(t.period.between(ibis.literal(self.window.start), ibis.literal(self.window.last_month.start)))

    def timestamps_in_window(self, ts: ibis.Value) -> ibis.Value:
        """Whether a raw timestamp falls within the months (a range the engine can apply before joins)."""
        low, high = ibis.literal(self.window.start_timestamp), ibis.literal(self.window.end_timestamp)
        return (ts >= low) & (ts < high)

    def monthly(self, t: ibis.Table, at: str) -> ibis.Table:
        """The rows of ``t`` whose timestamp ``at`` falls within the months, with their ``period``.

        The window is a range on the raw column, which the engine applies from its
        min/max indexes before reading the rows (a filter on the computed month is not);
        on a month-partitioned export the partitions outside the months are skipped too.
        """
        t = t.filter(self.within_partitions(t, at, self.timestamps_in_window(t[at])))
        return t.mutate(period=_month(t[at]))

    def within_partitions(self, t: ibis.Table, at: str, keep: ibis.Value, *, since_start: bool = True) -> ibis.Value:
        """``keep``, and on a month-partitioned export also the partitions that can hold its rows.

        A table of a month-partitioned Parquet export (Spark, ``spark.data.partition_by_month``)
        carries the month of ``at`` as a string column, :data:`~outcomes.warehouse.datamodel.PARTITION_COLUMN`;
        a filter on it lets the engine skip whole months of files. Rows kept by ``keep``
        have ``at`` up to the last month (and, with ``since_start``, from the first), so the
        result is the same; on the DuckDB warehouse, which has no such column, it is ``keep``.

        Parameters
        ----------
        t : ibis.Table
            A canonical table as the engine holds it (before any join).
        at : str
            The timestamp column the rows are kept by.
        keep : ibis.Value
            The filter on ``t``.
        since_start : bool
            Whether the rows kept have ``at`` within the months (else only before their end:
            tickets resolved or open in the months were opened in or before them).
        """
        name = getattr(t.op(), "name", None)
        if MONTH_PARTITIONS.get(name) != at or PARTITION_COLUMN not in t.columns:
            return keep
        month = t[PARTITION_COLUMN]
        keep = keep & (month <= str(self.window.last_month))
        return keep & (month >= str(self.window.first_month)) if since_start else keep


# --------------------------------------------------------------------------- bases


def _customers(con: ibis.BaseBackend) -> ibis.Table:
    """Customers with their churn date (NULL while a customer)."""
    c = _table(con, "customers")
    ch = _table(con, "churn").select(_churn_id="customer_id", churned_at="churned_at")
    j = c.left_join(ch, c.customer_id == ch._churn_id)
    return j.select("customer_id", "segment", "region", "signup_date", "churned_at")


def _with_customer(con: ibis.BaseBackend, t: ibis.Table, on: str = "customer_id") -> ibis.Table:
    """Add the customer's ``customer_segment`` and ``region`` to a table keyed by customer."""
    c = _table(con, "customers").select(_cid="customer_id", customer_segment="segment", region="region")
    return t.inner_join(c, t[on] == c._cid).drop("_cid")


def _customer_bases(con: ibis.BaseBackend, t: ibis.Table, dims: Iterable[str]) -> dict[str, ibis.Table]:
    """Per-dimension bases of a customer-level table (with ``region`` and ``customer_segment``).

    The ``service`` base repeats each row for every customer-facing service serving the
    customer's region.
    """
    dims = list(dims)
    bases = _segments(t, {"region": "region", "customer_segment": "customer_segment"}, dims)
    if "service" in dims:
        sm = _table(con, "service_map")
        sm = sm.filter(sm.customer_facing).select(_sm_region="region", _sm_service="service")
        j = t.inner_join(sm, t.region == sm._sm_region)
        bases["service"] = j.mutate(segment=j._sm_service.cast("string")).drop("_sm_region", "_sm_service")
    return bases


def _tickets(
    con: ibis.BaseBackend,
    requester: Requester,
    keep: Callable[[ibis.Table], ibis.Value] | None = None,
    customer: bool = True,
) -> ibis.Table:
    """Tickets with their segment columns and durations in hours.

    ``keep`` selects tickets on their raw columns (``tickets -> boolean``) before the join
    to customers, so a short window does not join all of history. Without ``customer``
    the join is left out and ``customer_segment`` is NULL (and ``region`` the ticket's own).
    """
    t = _table(con, "tickets")
    if keep is not None:
        t = t.filter(keep(t))
    if requester != "all":
        t = t.filter(t.requester_type == requester)
    if customer:
        c = _table(con, "customers").select(_cid="customer_id", _cseg="segment", _creg="region")
        # an equality-only join (a hash join; customer_id is unique, so rows are not repeated);
        # the customer's attributes are then kept for customer requesters only
        j = t.left_join(c, t.requester_id == c._cid)
        is_customer = j.requester_type == "customer"
        j = j.mutate(
            _cseg=ibis.ifelse(is_customer, j._cseg, ibis.null("string")),
            _creg=ibis.ifelse(is_customer, j._creg, ibis.null("string")),
        )
    else:
        j = t.mutate(_cseg=ibis.null("string"), _creg=ibis.null("string"))
    return j.select(
        opened_at=j.opened_at,
        resolved_at=j.resolved_at,
        is_customer=_rate(j.requester_type == "customer"),
        response_hours=_hours(j.opened_at, j.first_response_at),
        resolve_hours=_hours(j.opened_at, j.resolved_at),
        fcr=_rate(j.first_contact_resolved),
        reopened=_rate(j.reopened),
        reassignments=j.reassignment_count.cast("float64"),
        self_service=_rate(j.channel.isin(SELF_SERVICE_CHANNELS)),
        sla_ok=_rate(
            j.sla_met.cast("boolean").fill_null(_hours(j.opened_at, j.resolved_at) <= j.sla_target_hours)
        ),
        region=j.region.fill_null(j._creg),
        customer_segment=j._cseg,
        channel=j.channel,
        service=j.service,
    )


TICKET_COLUMNS = {"region": "region", "customer_segment": "customer_segment", "channel": "channel", "service": "service"}
#: Ticket dimensions read from the requester's customer record (the others need no join).
CUSTOMER_DIMS = ("region", "customer_segment")


def _ticket_bases(
    con: ibis.BaseBackend,
    scope: Scope,
    keep: Callable[[ibis.Table], ibis.Value],
    prepare: Callable[[ibis.Table], ibis.Table],
) -> dict[str | tuple[str, ...], ibis.Table]:
    """The ticket base of every dimension: ``_tickets`` selected by ``keep``, then ``prepare`` (adds ``period``).

    The customers are joined only when a dimension of :data:`CUSTOMER_DIMS` is asked for
    (the join keeps every ticket once, so the other dimensions read the same rows). Several
    dimensions come as one table stacked by :func:`_stacked`, under the tuple of their names.
    """
    customer = any(d in CUSTOMER_DIMS for d in scope.dims)
    t = prepare(_tickets(con, scope.requester, keep, customer=customer))
    dims = [d for d in scope.dims if d == "all" or TICKET_COLUMNS.get(d) is not None]
    if len(dims) > 1:
        return {tuple(dims): _stacked(t, TICKET_COLUMNS, dims)}
    return dict(_segments(t, TICKET_COLUMNS, dims))


def _bases_tickets_opened(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    return _ticket_bases(
        con,
        scope,
        lambda r: scope.within_partitions(r, "opened_at", scope.timestamps_in_window(r.opened_at)),
        lambda t: t.mutate(period=_month(t.opened_at)),
    )


def _aggs_tickets_opened(t: ibis.Table) -> dict[str, ibis.Value]:
    n = t.count()
    return {
        "ticket_volume": n.cast("float64"),
        "ticket_volume__n": n,
        "customer_tickets": t.is_customer.sum(),
        "first_response_mean_hours": t.response_hours.mean(),
        "first_response_mean_hours__n": t.response_hours.count(),
        "first_response_median_hours": t.response_hours.median(),
        "first_response_median_hours__n": t.response_hours.count(),
        "first_response_p90_hours": t.response_hours.quantile(0.9),
        "first_response_p90_hours__n": t.response_hours.count(),
        "first_response_p95_hours": t.response_hours.quantile(0.95),
        "first_response_p95_hours__n": t.response_hours.count(),
        "fcr_rate": t.fcr.mean(),
        "fcr_rate__n": t.fcr.count(),
        "reassignments_per_ticket": t.reassignments.mean(),
        "reassignments_per_ticket__n": t.reassignments.count(),
        "self_service_rate": t.self_service.mean(),
        "self_service_rate__n": n,
    }


def _bases_tickets_resolved(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    return _ticket_bases(
        con,
        scope,
        lambda r: scope.within_partitions(
            r, "opened_at", r.resolved_at.notnull() & scope.timestamps_in_window(r.resolved_at), since_start=False
        ),
        lambda t: t.mutate(period=_month(t.resolved_at)),
    )


def _aggs_tickets_resolved(t: ibis.Table) -> dict[str, ibis.Value]:
    return {
        "tickets_resolved": t.count(),
        "mttr_hours": t.resolve_hours.mean(),
        "mttr_hours__n": t.resolve_hours.count(),
        "median_time_to_resolve_hours": t.resolve_hours.median(),
        "median_time_to_resolve_hours__n": t.resolve_hours.count(),
        "resolution_p90_hours": t.resolve_hours.quantile(0.9),
        "resolution_p90_hours__n": t.resolve_hours.count(),
        "resolution_p95_hours": t.resolve_hours.quantile(0.95),
        "resolution_p95_hours__n": t.resolve_hours.count(),
        "sla_attainment": t.sla_ok.mean(),
        "sla_attainment__n": t.sla_ok.count(),
        "reopen_rate": t.reopened.mean(),
        "reopen_rate__n": t.reopened.count(),
    }


def _bases_backlog(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    m = months_table(scope.window)
    first_end = dt.datetime.combine(scope.window.first_month.end_exclusive, dt.time())
    last_end = scope.window.end_timestamp

    def open_at_a_month_end(r: ibis.Table) -> ibis.Value:
        keep = (r.opened_at < last_end) & (r.resolved_at.isnull() | (r.resolved_at >= first_end))
        return scope.within_partitions(r, "opened_at", keep, since_start=False)

    def at_month_ends(t: ibis.Table) -> ibis.Table:
        j = t.inner_join(m, [t.opened_at < m.period_end, t.resolved_at.isnull() | (t.resolved_at >= m.period_end)])
        return j.mutate(age_hours=_hours(j.opened_at, j.period_end))

    return _ticket_bases(con, scope, open_at_a_month_end, at_month_ends)


def _aggs_backlog(t: ibis.Table) -> dict[str, ibis.Value]:
    n = t.count()
    return {
        "backlog_size": n.cast("float64"),
        "backlog_size__n": n,
        "backlog_age_days": t.age_hours.mean() / 24.0,
        "backlog_age_days__n": n,
    }


def _bases_incidents(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    i = _table(con, "incidents")
    i = scope.monthly(i, "started_at")
    bases = _segments(i, {"service": "service"}, [d for d in scope.dims if d != "region"])
    if "region" in scope.dims:
        sm = _table(con, "service_map").select(_sm_service="service", _sm_region="region")
        everywhere = i.filter(i.region.isnull())
        everywhere = everywhere.inner_join(sm, everywhere.service == sm._sm_service)
        columns = ["period", "service", "region", "outage_minutes"]
        everywhere = everywhere.mutate(region=everywhere._sm_region.cast("string")).select(columns)
        located = i.filter(i.region.notnull())
        located = located.mutate(region=located.region.cast("string")).select(columns)
        expanded = located.union(everywhere.cast(located.schema()), distinct=False)
        bases["region"] = expanded.mutate(segment=expanded.region.cast("string"))
    return bases


def _aggs_incidents(t: ibis.Table) -> dict[str, ibis.Value]:
    return {"outage_minutes": t.outage_minutes.sum().fill_null(0.0), "outage_minutes__n": t.count()}


def rework(d: ibis.Table) -> ibis.Value:
    """Whether each deployment is rework: unplanned, or linked to the deployment it fixes.

    A link (``fixes_deployment``) makes a deployment rework whatever ``unplanned`` says;
    without one, ``unplanned`` decides, and a deployment with neither recorded is NULL (left
    out of the rate rather than counted as planned).
    """
    return d.fixes_deployment.notnull() | d.unplanned


def _bases_deployments(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    d = _table(con, "deployments")
    d = scope.monthly(d, "deployed_at")
    d = d.mutate(
        failed_f=_rate(d.failed),
        rework_f=_rate(rework(d)),
        restore_hours=ibis.ifelse(d.failed, _hours(d.deployed_at, d.restored_at), ibis.null("float64")),
    )
    return _segments(d, {"service": "service"}, scope.dims)


def _aggs_deployments(t: ibis.Table) -> dict[str, ibis.Value]:
    n = t.count()
    return {
        "deployments": n,
        "lead_time_hours": t.lead_time_hours.mean(),
        "lead_time_hours__n": t.lead_time_hours.count(),
        "change_failure_rate": t.failed_f.mean(),
        "change_failure_rate__n": t.failed_f.count(),
        "deployment_rework_rate": t.rework_f.mean(),
        "deployment_rework_rate__n": t.rework_f.count(),
        "time_to_restore_hours": t.restore_hours.median(),
        "time_to_restore_hours__n": t.restore_hours.count(),
    }


def _bases_costs(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    c = _table(con, "it_costs")
    c = c.filter(c.service == SERVICE_DESK)
    c = scope.in_window(c.mutate(period=c.month.cast("date")))
    return _segments(c, {}, scope.dims)


def _aggs_costs(t: ibis.Table) -> dict[str, ibis.Value]:
    return {"desk_cost": t.amount.sum(), "desk_cost_lines": t.count()}


def _bases_allocated_costs(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    c = allocation.service_costs(con, scope.window, scope.allocation)
    return _segments(c, {"service": "service"}, scope.dims)


def _aggs_allocated_costs(t: ibis.Table) -> dict[str, ibis.Value]:
    return {"it_cost": t.cents.sum().cast("float64") / 100.0, "it_cost_pools": t.count()}


def _bases_employee_survey(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    s = _table(con, "employee_survey")
    s = scope.monthly(s, "responded_at")
    s = s.mutate(satisfied=_rate(s.score >= 4))
    return _segments(s, {"region": "region"}, scope.dims)


def _aggs_employee_survey(t: ibis.Table) -> dict[str, ibis.Value]:
    return {"employee_it_satisfaction": t.satisfied.mean(), "employee_it_satisfaction__n": t.count()}


def ticket_survey_base(con: ibis.BaseBackend, scope: Scope) -> ibis.Table:
    """Per-ticket survey answers submitted within the months, with their ticket's attributes.

    Each answer joins its ticket (service, category, assignment group, channel, region)
    and, for a customer requester, the customer (region when the ticket has none, and
    segment); ``respondent`` is the answer's respondent type, else the ticket's requester
    type. ``point`` scores the happiness answer as HappySignals does (9-10: +100, 0-6:
    -100, 7-8: 0), ``lost_hours`` is the perceived lost time in hours, and ``employee_it``
    marks an employee's answer about an employee-facing service (one that is not
    customer-facing in any region of the service map).

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    scope : Scope
        The months (answers by month of ``submitted_at``).

    Returns
    -------
    ibis.Table
        One row per answer with ``period``, ``point``, ``lost_hours``, ``respondent``,
        ``employee_it``, ``service``, ``category``, ``assignment_group``, ``channel``,
        ``region`` and ``customer_segment``.
    """
    s = scope.monthly(_table(con, "ticket_surveys"), "submitted_at")
    t = _table(con, "tickets").select(
        _tid="ticket_id", _rtype="requester_type", _rid="requester_id", service="service", category="category",
        assignment_group="assignment_group", channel="channel", _treg="region",
    )
    j = s.inner_join(t, s.ticket_id == t._tid)
    c = _table(con, "customers").select(_cid="customer_id", _cseg="segment", _creg="region")
    j = j.left_join(c, j._rid == c._cid)
    sm = _table(con, "service_map")
    facing = sm.group_by(_sm_service=sm.service).aggregate(_facing=sm.customer_facing.cast("int64").max())
    j = j.left_join(facing, j.service == facing._sm_service)
    respondent = j.respondent_type.fill_null(j._rtype)
    is_customer = j._rtype == "customer"
    # whole numbers cast to float64: Spark reads a literal 100.0 as a decimal and would round the mean to
    # 5 places (a cast of a float literal's CASE to float64 is dropped by Ibis as a no-op)
    point = ibis.cases((j.happiness >= 9, 1), (j.happiness <= 6, -1), else_=0).cast("float64") * 100
    return j.select(
        period=j.period,
        point=point,
        lost_hours=j.lost_minutes.cast("float64") / 60.0,
        respondent=respondent,
        employee_it=(respondent == "employee") & (j._facing.fill_null(1) == 0),
        service=j.service,
        category=j.category,
        assignment_group=j.assignment_group,
        channel=j.channel,
        region=j._treg.fill_null(ibis.ifelse(is_customer, j._creg, ibis.null("string"))),
        customer_segment=ibis.ifelse(is_customer, j._cseg, ibis.null("string")),
    )


def _bases_ticket_surveys(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    return _segments(ticket_survey_base(con, scope), TICKET_COLUMNS, scope.dims)


def _bases_employee_ticket_surveys(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    """Employees' answers have no customer segment: every dimension of the ticket surveys but that one."""
    return _segments(ticket_survey_base(con, scope), TICKET_COLUMNS, [d for d in scope.dims if d != "customer_segment"])


#: Whose per-ticket survey answers each pair of experience metrics counts: (happiness, lost time).
EXPERIENCE_GROUPS: dict[str, tuple[str, str]] = {
    "all": ("ticket_happiness", "lost_time_hours"),
    "customer": ("customer_ticket_happiness", "customer_lost_time_hours"),
    "employee_it": ("employee_it_happiness", "employee_lost_time_hours"),
}


def experience_aggregates(t: ibis.Table, respondents: str = "all") -> dict[str, ibis.Value]:
    """Happiness and lost time of a :func:`ticket_survey_base` table, each with its count of answers.

    Happiness is the mean of the answers' points (% of 9-10 minus % of 0-6), lost time the
    mean perceived lost hours of the answers that give it.

    Parameters
    ----------
    t : ibis.Table
        Answers (:func:`ticket_survey_base`, possibly grouped).
    respondents : {"all", "customer", "employee_it"}
        Every answer, customers' answers, or employees' answers about employee-facing
        services; the columns are named after the metrics of :data:`EXPERIENCE_GROUPS`.
    """
    happiness, lost = EXPERIENCE_GROUPS[respondents]
    keep = {"all": None, "customer": t.respondent == "customer", "employee_it": t.employee_it}[respondents]
    point = t.point if keep is None else ibis.ifelse(keep, t.point, ibis.null("float64"))
    hours = t.lost_hours if keep is None else ibis.ifelse(keep, t.lost_hours, ibis.null("float64"))
    return {happiness: point.mean(), f"{happiness}__n": point.count(), lost: hours.mean(), f"{lost}__n": hours.count()}


def _aggs_ticket_surveys(t: ibis.Table) -> dict[str, ibis.Value]:
    return experience_aggregates(t, "all") | experience_aggregates(t, "customer")


def _aggs_employee_surveys(t: ibis.Table) -> dict[str, ibis.Value]:
    return experience_aggregates(t, "employee_it")


def _bases_customer_base(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    c = _customers(con).rename(customer_segment="segment")
    m = months_table(scope.window)
    j = c.inner_join(m, [c.signup_date < m.period_next, c.churned_at.isnull() | (c.churned_at >= m.period)])
    stays = j.churned_at.isnull() | (j.churned_at >= j.period_next)
    at_start = j.signup_date < j.period
    j = j.mutate(
        at_start=_rate(at_start),
        lost=_rate(at_start & ~stays),
        at_end=_rate(stays),
        new=_rate(~at_start),
    )
    return _customer_bases(con, j, scope.dims)


def _aggs_customer_base(t: ibis.Table) -> dict[str, ibis.Value]:
    n = t.count()
    start = t.at_start.sum()
    return {
        "active_customers": n.cast("float64"),
        "active_customers__n": n,
        "customers_new": t.new.sum(),
        "customers_lost": t.lost.sum(),
        "churn_rate__n": start,
        "customers_kept": t.at_end.sum() - t.new.sum(),
        "retention_rate__n": start,
    }


def _bases_surveys(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    s = _table(con, "customer_surveys")
    s = scope.monthly(s, "responded_at")
    csat = ibis.ifelse(s.kind == "csat", _rate(s.score >= 4), ibis.null("float64"))
    nps = ibis.ifelse(
        s.kind == "nps",
        ibis.cases((s.score >= 9, 100.0), (s.score <= 6, -100.0), else_=0.0),
        ibis.null("float64"),
    )
    s = s.mutate(csat_point=csat, nps_point=nps)
    return _customer_bases(con, _with_customer(con, s), scope.dims)


def _aggs_surveys(t: ibis.Table) -> dict[str, ibis.Value]:
    return {
        "csat_points": t.csat_point.sum(),
        "csat__n": t.csat_point.count(),
        "nps_points": t.nps_point.sum(),
        "nps__n": t.nps_point.count(),
    }


def _bases_orders(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    o = _table(con, "orders")
    o = scope.monthly(o, "ordered_at")
    o = o.mutate(
        revenue_with_margin=ibis.ifelse(o.margin.notnull(), o.revenue, ibis.null("float64")),
    )
    return _customer_bases(con, _with_customer(con, o), scope.dims)


def _aggs_orders(t: ibis.Table) -> dict[str, ibis.Value]:
    return {
        "revenue": t.revenue.sum().fill_null(0.0),
        "revenue__n": t.customer_id.nunique(),
        "aov__n": t.revenue.count(),
        "margin": t.margin.sum(),
        "revenue_with_margin": t.revenue_with_margin.sum(),
    }


def _bases_campaigns(con: ibis.BaseBackend, scope: Scope) -> dict[str, ibis.Table]:
    c = _table(con, "campaigns")
    c = scope.in_window(c.mutate(period=c.month.cast("date")))
    bases = _segments(c, {}, [d for d in scope.dims if d == "all"])
    if "region" in scope.dims:
        r = c.filter(c.region.notnull())
        bases["region"] = r.mutate(segment=r.region.cast("string"))
    return bases


def _aggs_campaigns(t: ibis.Table) -> dict[str, ibis.Value]:
    visits = t.visits.sum()
    return {
        "campaign_spend": t.spend.sum(),
        "conversion_rate": t.conversions.sum().cast("float64") / visits.nullif(0).cast("float64"),
        "conversion_rate__n": visits.fill_null(0),
    }


@dataclass(frozen=True)
class Family:
    """Metrics that share one base table and one query.

    Parameters
    ----------
    name : str
        Family name.
    dims : tuple of str
        Segment dimensions the base can be cut by.
    metrics : tuple of str
        Catalog metric ids it computes directly.
    bases : callable
        ``(con, scope) -> {dim: table}``; each table has ``period`` and ``segment``. A key
        that is a tuple of dimensions holds them stacked in one table (:func:`_stacked`),
        with their names in ``segment_dim``.
    aggregates : callable
        ``table -> {column: aggregate}``; a metric id is its value, ``<id>__n`` its count.
    tables : tuple of str
        Warehouse tables it reads (checked before it runs).
    ratios : tuple of (str, str, str)
        ``(metric, numerator, denominator)``: metrics divided after aggregation, from two
        aggregate columns.
    rollup : tuple of str
        Dimensions whose segments partition the family's rows (every row in exactly one
        segment; ``unassigned`` included) while every aggregate column adds up across them
        (sums, counts, distinct customers when the segment is a customer attribute). The
        company row is then the sum of one of them (the first requested, else the first)
        instead of a second pass over the base table.
    """

    name: str
    dims: tuple[str, ...]
    metrics: tuple[str, ...]
    bases: Callable[[ibis.BaseBackend, Scope], dict[str, ibis.Table] | dict[str | tuple[str, ...], ibis.Table]]
    aggregates: Callable[[ibis.Table], dict[str, ibis.Value]]
    tables: tuple[str, ...]
    ratios: tuple[tuple[str, str, str], ...] = ()
    rollup: tuple[str, ...] = ()

    def columns(self, con: ibis.BaseBackend, scope: Scope) -> tuple[str, ...]:
        """Names of the aggregate columns (metric values, ``<id>__n`` counts and helpers)."""
        base = next(iter(self.bases(con, replace(scope, dims=("all",))).values()))
        return (*self.aggregates(base), *(metric for metric, _, _ in self.ratios))


_T = ("all", "region", "customer_segment", "channel", "service")
#: Tables the per-ticket survey families read (the first one counts their rows).
_SURVEY_TABLES = ("ticket_surveys", "tickets", "customers", "service_map")
_C = ("all", "region", "customer_segment", "service")
#: Customer attributes: each customer is in exactly one of their segments.
_PARTITIONS = ("region", "customer_segment")
FAMILIES: tuple[Family, ...] = (
    Family(
        "tickets_opened",
        _T,
        (
            "ticket_volume",
            "first_response_mean_hours",
            "first_response_median_hours",
            "first_response_p90_hours",
            "first_response_p95_hours",
            "fcr_rate",
            "reassignments_per_ticket",
            "self_service_rate",
        ),
        _bases_tickets_opened,
        _aggs_tickets_opened,
        ("tickets", "customers"),
    ),
    Family(
        "tickets_resolved",
        _T,
        ("mttr_hours", "median_time_to_resolve_hours", "resolution_p90_hours", "resolution_p95_hours", "sla_attainment",
         "reopen_rate"),
        _bases_tickets_resolved,
        _aggs_tickets_resolved,
        ("tickets", "customers"),
    ),
    Family("backlog", _T, ("backlog_size", "backlog_age_days"), _bases_backlog, _aggs_backlog, ("tickets", "customers")),
    Family(
        "incidents", ("all", "region", "service"), ("outage_minutes",), _bases_incidents, _aggs_incidents,
        ("incidents", "service_map"),
    ),
    Family(
        "deployments",
        ("all", "service"),
        ("lead_time_hours", "change_failure_rate", "deployment_rework_rate", "time_to_restore_hours"),
        _bases_deployments,
        _aggs_deployments,
        ("deployments",),
    ),
    Family("costs", ("all",), (), _bases_costs, _aggs_costs, ("it_costs",)),
    Family(
        "allocated_costs", ("all", "service"), (), _bases_allocated_costs, _aggs_allocated_costs,
        ("it_costs", "service_map", "tickets", "deployments"),
    ),
    Family(
        "employee_survey", ("all", "region"), ("employee_it_satisfaction",), _bases_employee_survey,
        _aggs_employee_survey, ("employee_survey",),
    ),
    Family(
        "ticket_surveys",
        _T,
        ("ticket_happiness", "lost_time_hours", "customer_ticket_happiness", "customer_lost_time_hours"),
        _bases_ticket_surveys,
        _aggs_ticket_surveys,
        _SURVEY_TABLES,
    ),
    Family(
        "employee_ticket_surveys",
        ("all", "region", "channel", "service"),
        ("employee_it_happiness", "employee_lost_time_hours"),
        _bases_employee_ticket_surveys,
        _aggs_employee_surveys,
        _SURVEY_TABLES,
    ),
    Family(
        "customer_base", _C, ("active_customers", "churn_rate", "retention_rate"), _bases_customer_base,
        _aggs_customer_base, ("customers", "churn", "service_map"),
        ratios=(("churn_rate", "customers_lost", "churn_rate__n"), ("retention_rate", "customers_kept", "retention_rate__n")),
        rollup=_PARTITIONS,
    ),
    Family(
        "surveys", _C, ("csat", "nps"), _bases_surveys, _aggs_surveys, ("customer_surveys", "customers", "service_map"),
        ratios=(("csat", "csat_points", "csat__n"), ("nps", "nps_points", "nps__n")), rollup=_PARTITIONS,
    ),
    Family(
        "orders", _C, ("revenue", "aov"), _bases_orders, _aggs_orders, ("orders", "customers", "service_map"),
        ratios=(("aov", "revenue", "aov__n"),), rollup=_PARTITIONS,
    ),
    Family("campaigns", ("all", "region"), ("conversion_rate",), _bases_campaigns, _aggs_campaigns, ("campaigns",)),
)


# --------------------------------------------------------------------------- derived metrics


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` with NaN where the denominator is 0 or missing."""
    den = den.astype("float64")
    return num.astype("float64") / den.where(den != 0)


def _derive_tickets_per_user(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _ratio(w["customer_tickets"], w["active_customers"]), w["active_customers__n"]


def _derive_cost_per_ticket(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    cost = w["desk_cost"].where(w["desk_cost_lines"].fillna(0) > 0)
    return _ratio(cost, w["ticket_volume"].fillna(0)), w["ticket_volume__n"]


def _derive_availability(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    minutes = w["period"].dt.days_in_month * 1440.0 * w["services"]
    return 1.0 - _ratio(w["outage_minutes"].fillna(0.0), minutes), w["services"]


def _derive_deployment_frequency(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    n = w["deployments"].fillna(0)
    return n / w["period"].dt.days_in_month, n


def _derive_demand_capacity(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _ratio(w["ticket_volume"].fillna(0), w["tickets_resolved"].fillna(0)), w["tickets_resolved"].fillna(0)


def _derive_backlog_growth(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return w["ticket_volume"].fillna(0) - w["tickets_resolved"].fillna(0), w["ticket_volume__n"]


def _it_cost(w: pd.DataFrame) -> pd.Series:
    """The allocated IT cost of a segment-month (NULL where the ledger has no line)."""
    return w["it_cost"].where(w["it_cost_pools"].fillna(0) > 0)


def _derive_cost_per_order(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    orders = w["aov__n"].fillna(0)
    return _ratio(_it_cost(w), orders), orders


def _derive_cost_per_active_customer(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _ratio(_it_cost(w), w["active_customers"]), w["active_customers__n"]


def _derive_cost_per_retained_customer(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _ratio(_it_cost(w), w["customers_kept"]), w["customers_kept"]


def _derive_arpu(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _ratio(w["revenue"].fillna(0.0), w["active_customers"]), w["active_customers__n"]


def _derive_clv(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    arpu = _ratio(w["revenue"].fillna(0.0), w["active_customers"])
    margin_rate = _ratio(w["margin"], w["revenue_with_margin"])
    return _ratio(arpu * margin_rate, w["churn_rate"]), w["active_customers__n"]


def _derive_cac(w: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _ratio(w["campaign_spend"], w["customers_new"]), w["customers_new"]


@dataclass(frozen=True)
class Derived:
    """A metric divided or combined after aggregation, from the columns of other families."""

    metric: str
    needs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]


DERIVED: tuple[Derived, ...] = (
    Derived("tickets_per_user", ("tickets_opened", "customer_base"), _derive_tickets_per_user),
    Derived("cost_per_ticket", ("tickets_opened", "costs"), _derive_cost_per_ticket),
    Derived("availability", ("incidents", "services"), _derive_availability),
    Derived("deployment_frequency", ("deployments",), _derive_deployment_frequency),
    Derived("demand_capacity_ratio", ("tickets_opened", "tickets_resolved"), _derive_demand_capacity),
    Derived("backlog_growth", ("tickets_opened", "tickets_resolved"), _derive_backlog_growth),
    Derived("cost_per_order", ("allocated_costs", "orders"), _derive_cost_per_order),
    Derived("cost_per_active_customer", ("allocated_costs", "customer_base"), _derive_cost_per_active_customer),
    Derived("cost_per_retained_customer", ("allocated_costs", "customer_base"), _derive_cost_per_retained_customer),
    Derived("arpu", ("orders", "customer_base"), _derive_arpu),
    Derived("clv", ("orders", "customer_base"), _derive_clv),
    Derived("cac", ("campaigns", "customer_base"), _derive_cac),
)

#: Metrics whose definition needs every requester's tickets.
_ALL_REQUESTERS_ONLY = {"cost_per_ticket": "service-desk cost covers every requester's tickets"}


def _family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(name)


def plan(metric_ids: Iterable[str]) -> list[str]:
    """Family names needed to compute ``metric_ids`` (the queries that will run)."""
    needed: list[str] = []
    derived = {d.metric: d for d in DERIVED}
    for mid in metric_ids:
        catalog.get(mid)
        names = derived[mid].needs if mid in derived else [f.name for f in FAMILIES if mid in f.metrics]
        needed += [n for n in names if n not in needed]
    return needed


# --------------------------------------------------------------------------- running


def _kept(family: Family, aggregates: dict[str, ibis.Value], metric_ids: Collection[str] | None) -> dict[str, ibis.Value]:
    """The aggregate columns of a family that ``metric_ids`` need (all of them when None).

    A metric needs its value and ``<id>__n`` and, when divided after aggregation, its
    numerator and denominator; a derived metric resting on the family needs every column
    of it. Percentiles left out are work the engine does not do.
    """
    if metric_ids is None or any(d.metric in metric_ids and family.name in d.needs for d in DERIVED):
        return aggregates
    wanted = {c for m in metric_ids if m in family.metrics for c in (m, f"{m}__n")}
    wanted |= {c for metric, num, den in family.ratios if metric in metric_ids for c in (num, den)}
    return {name: value for name, value in aggregates.items() if name in wanted}


def run_family(con: ibis.BaseBackend, family: Family, scope: Scope) -> pd.DataFrame:
    """Run one family's query: its aggregates per month and segment, for every dimension it supports.

    Only the aggregate columns that ``scope.metrics`` need are computed (all of them when
    it is None).

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``segment_dim``, ``segment`` and the family's aggregate columns.
    """
    rolled = bool(family.rollup) and "all" in scope.dims
    rollup = next((d for d in family.rollup if d in scope.dims), family.rollup[0] if rolled else None)
    queried = [d for d in scope.dims if not (rolled and d == "all")]
    if rolled and rollup not in queried:
        queried.append(rollup)
    bases = family.bases(con, replace(scope, dims=tuple(queried)))
    parts = []
    for key, b in bases.items():
        aggregates = _kept(family, family.aggregates(b), scope.metrics)
        if isinstance(key, tuple):  # several dimensions stacked in one table (_stacked)
            agg = b.group_by(["period", "segment", "segment_dim"]).aggregate(**aggregates)
        else:
            agg = b.group_by(["period", "segment"]).aggregate(**aggregates).mutate(segment_dim=ibis.literal(key))
        parts.append(agg.select("period", "segment", *aggregates, "segment_dim"))
    if not parts:
        return pd.DataFrame(columns=[*KEYS, *family.columns(con, scope)])
    expr = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    frame = expr.execute()
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[ns]")
    frame["segment"] = frame["segment"].astype(str)
    if rolled:
        by_rollup = frame["segment_dim"] == rollup
        company = frame[by_rollup].drop(columns=["segment_dim", "segment"]).groupby("period", as_index=False).sum(min_count=1)
        company = company.assign(segment_dim="all", segment="all")
        kept = frame if rollup in scope.dims else frame[~by_rollup]
        frame = pd.concat([company[frame.columns], kept], ignore_index=True)
    for metric, numerator, denominator in family.ratios:
        if numerator in frame and denominator in frame:
            frame[metric] = _ratio(frame[numerator], frame[denominator])
    return frame


def _service_counts(con: ibis.BaseBackend, dims: Iterable[str]) -> pd.DataFrame:
    """Number of services behind each segment, from the service map (for availability)."""
    sm = _table(con, "service_map")
    parts = []
    dims = list(dims)
    columns = ["segment_dim", "segment", "services"]
    if "all" in dims:
        part = sm.aggregate(services=sm.service.nunique())
        parts.append(part.mutate(segment_dim=ibis.literal("all"), segment=ibis.literal("all")).select(columns))
    if "region" in dims:
        part = sm.group_by(segment=sm.region.cast("string")).aggregate(services=sm.service.nunique())
        parts.append(part.mutate(segment_dim=ibis.literal("region")).select(columns))
    if not parts:
        return pd.DataFrame(columns=["segment_dim", "segment", "services"])
    frame = (parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]).execute()
    if "service" in dims:
        services = sm.select("service").distinct().execute()["service"].astype(str)
        extra = pd.DataFrame({"segment_dim": "service", "segment": services, "services": 1})
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame[["segment_dim", "segment", "services"]]


def _outer(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Outer join of two family frames on :data:`KEYS`; a family without rows (a table without data) only adds its columns."""
    if right.empty or left.empty:
        rows, other = (left, right) if right.empty else (right, left)
        added = [c for c in other.columns if c not in rows.columns]
        return rows.reindex(columns=[*rows.columns, *added])
    return left.merge(right, on=KEYS, how="outer")


def compute_wide(con: ibis.BaseBackend, metric_ids: Sequence[str], scope: Scope) -> pd.DataFrame:
    """Run the families needed for ``metric_ids`` and derive the combined metrics.

    Returns
    -------
    pandas.DataFrame
        One row per period x segment with the families' aggregate columns, ``<id>`` and
        ``<id>__n`` for each metric (months or segments without data are absent).
    """
    names = plan(metric_ids)
    present = set(con.list_tables())
    for name in names:
        tables = ("service_map",) if name == "services" else _family(name).tables
        missing = [t for t in tables if t not in present]
        if missing:
            wanted = [m for m in metric_ids if name in plan([m])]
            raise WarehouseError(
                f"the warehouse has no table {', '.join(missing)}, needed for {', '.join(wanted)}; "
                "run `outcomes ingest` (or map an export onto it in params/sources.yaml)"
            )
    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        if name == "services":
            continue
        frames[name] = run_family(con, _family(name), replace(scope, metrics=frozenset(metric_ids)))
    wide = None
    for frame in frames.values():
        wide = frame if wide is None else _outer(wide, frame)
    if wide is None:
        wide = pd.DataFrame(columns=KEYS)
    if "services" in names:
        wide = wide.merge(_service_counts(con, scope.dims), on=["segment_dim", "segment"], how="left")
    for d in DERIVED:
        if d.metric in metric_ids:
            value, n = d.compute(wide)
            wide[d.metric], wide[f"{d.metric}__n"] = value, n
    return wide


def compute(
    con: ibis.BaseBackend,
    *,
    start: MonthLike,
    end: MonthLike,
    dims: Sequence[str] = ("all",),
    metrics: Sequence[str] | None = None,
    requester: Requester = "all",
    min_customers: int = 10,
    allocation_rules: AllocationRules | None = None,
) -> pd.DataFrame:
    """Compute catalog metrics per month and segment, as a tidy frame.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse (DuckDB or Spark through Ibis), holding the canonical tables.
    start, end : str or date
        First and last month, ``"YYYY-MM"``.
    dims : sequence of str
        Segment dimensions among ``all``, ``region``, ``customer_segment``, ``channel``, ``service``.
    metrics : sequence of str, optional
        Metric ids (default: the whole catalog).
    requester : {"all", "customer", "employee"}
        Whose tickets the ticket metrics count.
    min_customers : int
        Values of customer metrics (``suppress`` in the catalog) resting on fewer units are
        withheld: NULL with ``suppressed`` true.
    allocation_rules : AllocationRules, optional
        How the IT ledger reaches services for the unit costs; default the project's
        ``params/allocation.yaml`` (:func:`outcomes.metrics.allocation.load_rules`).

    Returns
    -------
    pandas.DataFrame
        Columns ``period`` (first day of the month), ``segment_dim``, ``segment``, ``metric``,
        ``value``, ``n`` (units behind the value), ``suppressed`` and ``note`` (why a value
        is NULL). Every month x segment x metric is present; months without data hold 0 for
        counts and sums and NULL otherwise.
    """
    check_arguments(dims, requester, min_customers)
    metric_ids = list(catalog.ids() if metrics is None else metrics)
    rules = allocation_rules if allocation_rules is not None else allocation.load_rules()
    scope = Scope(Window(start, end), tuple(dict.fromkeys(dims)), requester, rules)
    wide = compute_wide(con, metric_ids, scope)
    return _to_tidy(wide, metric_ids, scope, min_customers)


def check_arguments(dims: Sequence[str], requester: str, min_customers: int) -> None:
    """Raise ValueError, naming the value and the valid ones, on arguments :func:`compute` refuses."""
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown segment dimension(s) {unknown}; valid dimensions are {list(DIMENSIONS)}")
    if requester not in ("all", "customer", "employee"):
        raise ValueError(f"requester {requester!r} is not one of 'all', 'customer', 'employee'")
    if min_customers < 1:
        raise ValueError(f"min_customers must be at least 1, got {min_customers}")


def _to_tidy(wide: pd.DataFrame, metric_ids: Sequence[str], scope: Scope, min_customers: int) -> pd.DataFrame:
    """Reshape the wide frame to the tidy panel on the full month x segment grid."""
    periods = pd.to_datetime([m.start for m in scope.window]).astype("datetime64[ns]")
    segments = {
        dim: (["all"] if dim == "all" else sorted(set(wide.loc[wide["segment_dim"] == dim, "segment"]) if len(wide) else []))
        for dim in scope.dims
    }
    grid = pd.DataFrame(
        [(p, dim, s) for dim in scope.dims for s in segments[dim] for p in periods], columns=KEYS
    )
    grid["period"] = grid["period"].astype("datetime64[ns]")
    if len(wide):
        wide = wide.copy()
        wide["period"] = wide["period"].astype("datetime64[ns]")
    parts = []
    wanted = [c for mid in metric_ids for c in (mid, f"{mid}__n") if c in wide.columns]
    # one join of the grid with every metric's columns (the wide frame has one row per key)
    part = grid.merge(wide[KEYS + list(dict.fromkeys(wanted))], on=KEYS, how="left") if wanted else grid
    for mid in metric_ids:
        m = catalog.get(mid)
        value = part[mid].astype("float64") if mid in part else pd.Series(np.nan, index=part.index)
        n = part[f"{mid}__n"].astype("float64") if f"{mid}__n" in part else pd.Series(np.nan, index=part.index)
        note = pd.Series(None, index=part.index, dtype="object")
        missing = value.isna()
        if m.empty == "zero":
            value = value.where(~missing, 0.0)
            n = n.fillna(0.0)
        else:
            note = note.where(~missing, "no data for this segment and month")
        unsupported = part["segment_dim"].map(m.not_by)
        if mid in _ALL_REQUESTERS_ONLY and scope.requester != "all":
            unsupported = pd.Series(_ALL_REQUESTERS_ONLY[mid], index=part.index)
        cut = unsupported.notna()
        value, n, note = value.where(~cut), n.where(~cut), note.where(~cut, unsupported)
        suppressed = pd.Series(False, index=part.index)
        if m.suppress:
            suppressed = ~cut & value.notna() & (n.fillna(0) > 0) & (n.fillna(0) < min_customers)
            value = value.where(~suppressed)
            note = note.where(~suppressed, f"suppressed: fewer than {min_customers} units ({m.n})")
        parts.append(
            part[KEYS].assign(metric=mid, value=value, n=n, suppressed=suppressed.astype(bool), note=note)
        )
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TIDY_COLUMNS)
    return out[TIDY_COLUMNS]
