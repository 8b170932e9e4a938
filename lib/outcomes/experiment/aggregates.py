"""The bridge from the warehouse to the experiment engines.

An initiative whose parameters name no ``data.table`` is analysed on the warehouse:

* **randomized** (unit ``customer``): the ``assignments`` table gives each customer's arm;
  :func:`unit_table` builds, inside the engine, one row per assigned customer with the
  columns of :data:`UNIT_COLUMNS` (tickets, self-service tickets, CSAT answers, orders,
  revenue, customer-months... in the test window, and the same counts in the equally long
  window before the start, ``<column>_pre``, for CUPED). :func:`randomized_aggregates`
  sums them per arm (and per segment) in one ``GROUP BY``: ``n``, sums, sums of squares
  and cross-products, the format :func:`~outcomes.experiment.randomized.analysis.analyze_aggregates`
  reads. Unit rows never leave the engine.
* **did**: :func:`quasi_panel` gives the region x month panel of the metric;
* **its**: :func:`quasi_panel` gives the monthly series of the metric.

A metric of a warehouse-backed initiative names the unit columns the way a user names the
columns of a table::

    - {metric: self_service_rate, kind: ratio, numerator: self_service_tickets, denominator: tickets,
       pre: self_service_tickets_pre, pre_denominator: tickets_pre}
    - {metric: ticket_volume, column: tickets, pre: tickets_pre, kind: mean, direction: lower}

:func:`spec_from_register` turns a row of the ``initiatives`` register into an
:class:`~outcomes.experiment.spec.InitiativeSpec` with the metric definitions of
:data:`RANDOMIZED_METRICS` and the catalog.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from outcomes.metrics import catalog, history
from outcomes.errors import ParamsError
from outcomes.periods import Month, MonthLike, months_beginning
from outcomes.experiment.spec import DataSpec, InitiativeSpec, MetricSpec
from outcomes.experiment.statistics import AGGREGATE_COLUMNS, adjust_columns, covariate_terms, strata_columns, sum_terms
from outcomes.metrics.panel import build_panel

#: Per-customer columns of the randomized unit table (window ``[start, end)``); each count
#: also exists as ``<column>_pre`` over the equally long window before the start.
UNIT_COLUMNS: dict[str, str] = {
    "tickets": "customer tickets opened",
    "self_service_tickets": "tickets opened through the portal or the chatbot",
    "responded_tickets": "tickets with a first response",
    "first_response_hours": "hours to first response, summed over the tickets",
    "csat_answers": "CSAT answers",
    "csat_satisfied": "CSAT answers of 4 or 5",
    "orders": "orders placed",
    "revenue": "revenue of the orders",
}
#: Per-customer columns without a pre-period version.
STATE_COLUMNS: dict[str, str] = {
    "customer_months": "months of the window the customer began as a customer",
    "churned": "1 when the customer left during the window, else 0",
}
#: Customer attributes a randomized result can be broken down by (``data.segments``).
SEGMENT_COLUMNS = ("segment", "region")

#: Metric definitions for customer-randomized initiatives from the register.
RANDOMIZED_METRICS: dict[str, dict[str, Any]] = {
    "self_service_rate": {"kind": "ratio", "numerator": "self_service_tickets", "denominator": "tickets",
                          "direction": "higher", "unit": "fraction", "label": "self-service rate"},
    "tickets_per_customer": {"kind": "ratio", "numerator": "tickets", "denominator": "customer_months",
                             "direction": "lower", "unit": "tickets", "label": "tickets per customer-month"},
    "ticket_volume": {"kind": "mean", "column": "tickets", "pre": "tickets_pre", "direction": "lower",
                      "unit": "tickets", "label": "tickets per customer"},
    "csat": {"kind": "ratio", "numerator": "csat_satisfied", "denominator": "csat_answers", "direction": "higher",
             "unit": "fraction", "label": "CSAT (share of 4-5 answers)"},
    "first_response_mean_hours": {"kind": "ratio", "numerator": "first_response_hours",
                                  "denominator": "responded_tickets", "direction": "lower", "unit": "hours",
                                  "label": "mean first response"},
    "revenue": {"kind": "mean", "column": "revenue", "pre": "revenue_pre", "direction": "higher",
                "label": "revenue per customer"},
    "churn_rate": {"kind": "proportion", "column": "churned", "direction": "lower", "label": "share of customers lost"},
}

SELF_SERVICE_CHANNELS = ("portal", "chatbot")


def _hours(start: ibis.Value, stop: ibis.Value) -> ibis.Value:
    """Hours from ``start`` to ``stop`` (NULL when either is NULL), in float64 on every engine.

    Spark reads the literal ``3600.0`` as a DECIMAL and ``BIGINT / DECIMAL`` rounds the
    hours to six decimal places (as in :func:`outcomes.metrics.compute._hours`).
    """
    seconds = stop.epoch_seconds().cast("int64") - start.epoch_seconds().cast("int64")
    return seconds.cast("float64") / 3600.0


#: Per-ticket mean metrics of the quasi panels: metric id -> value of one ticket.
TICKET_MEANS: dict[str, Callable[[ibis.Table], ibis.Value]] = {
    "first_response_mean_hours": lambda t: _hours(t.opened_at, t.first_response_at),
    "mttr_hours": lambda t: _hours(t.opened_at, t.resolved_at),
    "self_service_rate": lambda t: t.channel.isin(SELF_SERVICE_CHANNELS).cast("float64"),
    "sla_attainment": lambda t: t.sla_met.cast("float64"),
    "fcr_rate": lambda t: t.first_contact_resolved.cast("float64"),
    "reopen_rate": lambda t: t.reopened.cast("float64"),
}


@dataclass(frozen=True)
class AnalysisWindow:
    """The analysis window ``[start, end)`` of days and the equally long window before it.

    It runs from the launch day, which need not begin a month; a span of whole months is a
    :class:`outcomes.periods.Window`.

    Attributes
    ----------
    start, end : datetime.date
        First day of the test and the day after its last day.
    """

    start: dt.date
    end: dt.date

    @property
    def pre_start(self) -> dt.date:
        """First day of the pre-period window (as long as the test window)."""
        return self.start - (self.end - self.start)

    @property
    def months(self) -> list[dt.date]:
        """First days of the months that begin inside the window."""
        return [m.start for m in months_beginning(self.start, self.end)]


def _date(value: str, what: str, spec: InitiativeSpec) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ParamsError(f"initiative {spec.id!r}: {what} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def data_end(con: ibis.BaseBackend) -> dt.date:
    """The first day of the month after the latest ticket, order or deployment in the warehouse."""
    latest = []
    for table, column in (("tickets", "opened_at"), ("orders", "ordered_at"), ("deployments", "deployed_at")):
        value = con.table(table)[column].max().execute()
        if value is not None and not pd.isna(value):
            latest.append(pd.Timestamp(value).date())
    if not latest:
        raise ParamsError("the warehouse holds no tickets, orders or deployments; run `outcomes ingest` first")
    return Month.of(max(latest)).end_exclusive


def data_start(con: ibis.BaseBackend) -> dt.date:
    """The first day of the month of the earliest ticket or deployment in the warehouse."""
    earliest = []
    for table, column in (("tickets", "opened_at"), ("deployments", "deployed_at")):
        value = con.table(table)[column].min().execute()
        if value is not None and not pd.isna(value):
            earliest.append(Month.of(pd.Timestamp(value)).start)
    if not earliest:
        raise ParamsError("the warehouse holds no tickets or deployments; run `outcomes ingest` first")
    return min(earliest)


def analysis_window(con: ibis.BaseBackend, spec: InitiativeSpec, period: MonthLike | None = None) -> AnalysisWindow:
    """The test window: from ``start_date`` to ``end_date``, the end of ``period`` or the data.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    spec : InitiativeSpec
        Needs ``start_date``.
    period : str, optional
        ``YYYY-MM``: the reported month; the window ends with it (or earlier with ``end_date``).

    Returns
    -------
    AnalysisWindow

    Raises
    ------
    ParamsError
        When ``start_date`` is missing, or the window is empty.
    """
    if not spec.start_date:
        raise ParamsError(f"initiative {spec.id!r}: start_date is not set; give the launch date (YYYY-MM-DD)")
    start = _date(spec.start_date, "start_date", spec)
    ends = [Month.parse(period).end_exclusive if period else data_end(con)]
    if spec.end_date:
        ends.append(_date(spec.end_date, "end_date", spec) + dt.timedelta(days=1))
    end = min(ends)
    if end <= start:
        raise ParamsError(
            f"initiative {spec.id!r}: the window from start_date {start} to {end} is empty; "
            "review a later period or check start_date and end_date"
        )
    return AnalysisWindow(start, end)


# --------------------------------------------------------------------------- randomized


def _unit_columns(spec: InitiativeSpec) -> list[tuple[str, str]]:
    """(spec key, unit column) pairs the spec's metrics name."""
    out = []
    for i, m in enumerate(spec.metrics):
        keys = ("numerator", "denominator", "pre", "pre_denominator") if m.kind == "ratio" else ("column", "pre")
        for key in keys:
            value = getattr(m, key) or (m.metric if key == "column" else None)
            if value:
                out.append((f"metrics[{i}].{key}", value))
        if m.adjust is not None:
            out += [(f"metrics[{i}].adjust.covariates[{j}]", c) for j, c in enumerate(m.adjust.covariates)]
    return out


def _strata(spec: InitiativeSpec) -> list[str]:
    """The customer attributes the spec's metrics are post-stratified by."""
    return list(dict.fromkeys(m.adjust.strata for m in spec.metrics if m.adjust is not None and m.adjust.strata))


def _check_randomized(spec: InitiativeSpec) -> None:
    """Raise when the spec asks for columns or segments the warehouse cannot give."""
    if spec.data.unit != "customer":
        raise ParamsError(
            f"initiative {spec.id!r}: data.unit is {spec.data.unit!r}; warehouse-backed randomized initiatives "
            "randomize customers (data.unit: customer). For other units give data.table, a unit-level table"
        )
    tails = [m.id for m in spec.metrics if m.kind == "quantile"]
    if tails:
        raise ParamsError(
            f"initiative {spec.id!r}: quantile metric(s) {tails} need one value per unit, and the warehouse's "
            "customer table holds sums per customer; give data.table, a unit-level table (one row per ticket "
            "for a response-time percentile), or use a mean metric"
        )
    valid = [*UNIT_COLUMNS, *(f"{c}_pre" for c in UNIT_COLUMNS), *STATE_COLUMNS]
    bad = [(key, col) for key, col in _unit_columns(spec) if col not in valid]
    if bad:
        listed = "; ".join(f"{key} = {col!r}" for key, col in bad)
        raise ParamsError(
            f"initiative {spec.id!r}: warehouse unit column(s) not known: {listed}. "
            f"Valid columns are: {', '.join(valid)}"
        )
    early = [
        (f"metrics[{i}].adjust.covariates", c) for i, m in enumerate(spec.metrics) if m.adjust is not None
        for c in m.adjust.covariates if c in valid and not c.endswith("_pre")
    ]
    if early:
        listed = "; ".join(f"{key} names {col!r}" for key, col in early)
        raise ParamsError(
            f"initiative {spec.id!r}: {listed}, a column of the test window, which the change itself moves; "
            f"adjust for columns measured before the start: write {', '.join(repr(c + '_pre') for _, c in early if c in UNIT_COLUMNS) or 'a <column>_pre column'}"
        )
    strata = [(f"metrics[{i}].adjust.strata", m.adjust.strata) for i, m in enumerate(spec.metrics)
              if m.adjust is not None and m.adjust.strata and m.adjust.strata not in SEGMENT_COLUMNS]
    if strata:
        listed = "; ".join(f"{key} = {col!r}" for key, col in strata)
        raise ParamsError(
            f"initiative {spec.id!r}: {listed} is not a customer attribute; valid strata are: {', '.join(SEGMENT_COLUMNS)}"
        )
    wrong = [s for s in spec.data.segments if s not in SEGMENT_COLUMNS]
    if wrong:
        raise ParamsError(
            f"initiative {spec.id!r}: data.segments {wrong} are not customer attributes; "
            f"valid segments are: {', '.join(SEGMENT_COLUMNS)}"
        )


def _event_sums(
    t: ibis.Table,
    key: ibis.Value,
    at: ibis.Value,
    windows: Sequence[AnalysisWindow],
    values: dict[str, tuple[ibis.Value, ibis.Value]],
    wanted: Sequence[set[str]],
) -> ibis.Table | None:
    """Per-unit sums of event values in each window and in its pre-period window.

    ``values`` maps a column name to ``(condition, value)``; an event adds ``value`` to the
    column when ``condition`` holds. Only the columns wanted in window ``k`` (``<name>`` or
    ``<name>_pre``, in ``wanted[k]``) are summed, as ``<column>_w<k>``; None when none is.
    """
    aggs: dict[str, ibis.Value] = {}
    for k, w in enumerate(windows):
        post = (at >= w.start) & (at < w.end)
        pre = (at >= w.pre_start) & (at < w.start)
        for name, (cond, value) in values.items():
            for column, inside in ((name, post), (f"{name}_pre", pre)):
                if column in wanted[k]:
                    aggs[f"{column}_w{k}"] = ibis.ifelse(inside & cond, value, 0.0).sum()
    if not aggs:
        return None
    used = [w for k, w in enumerate(windows) if any(c.endswith(f"_w{k}") for c in aggs)]
    t = t.filter(at >= min(w.pre_start for w in used), at < max(w.end for w in used))
    return t.group_by(unit_id=key).aggregate(**aggs)


def _month_index(d: ibis.Value) -> ibis.Value:
    return d.year().cast("int64") * 12 + d.month().cast("int64")


def unit_table(
    con: ibis.BaseBackend,
    spec: InitiativeSpec,
    windows: Sequence[AnalysisWindow],
    columns: Sequence[Sequence[str]] | None = None,
    *,
    population: ibis.Table | None = None,
) -> ibis.Table:
    """One row per customer assigned to the initiative, as an ibis expression (not executed).

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    spec : InitiativeSpec
        A randomized initiative with ``data.unit: customer``.
    windows : sequence of AnalysisWindow
        Test windows; the columns of window ``k`` end in ``_w<k>``. The event tables are
        read once for all of them.
    columns : sequence of sequences of str, optional
        Per window, the unit columns wanted (:data:`UNIT_COLUMNS`, their ``_pre``
        versions, :data:`STATE_COLUMNS`); default all. Event tables no wanted column needs
        are not read.
    population : ibis.Table, optional
        Other customers than the initiative's assignments: columns ``unit_id`` and
        ``arm`` (a group label), e.g. a program holdout and everyone else.

    Returns
    -------
    ibis.Table
        ``unit_id``, ``arm``, the customer attributes of :data:`SEGMENT_COLUMNS` and, per
        window, the wanted columns. Counts are zero when a customer had no events.
    """
    every = [*UNIT_COLUMNS, *(f"{c}_pre" for c in UNIT_COLUMNS), *STATE_COLUMNS]
    wanted = [set(every if columns is None else columns[k]) for k in range(len(windows))]
    a = con.table("assignments")
    units = a.filter(a.initiative_id == spec.id).select(unit_id=a.unit_id, arm=a.arm) if population is None else population
    customers = con.table("customers").select("customer_id", "segment", "region", "signup_date")
    churn = con.table("churn").select("customer_id", "churned_at")
    units = units.left_join(customers, units.unit_id == customers.customer_id).drop("customer_id")
    units = units.left_join(churn, units.unit_id == churn.customer_id).drop("customer_id")

    tk = con.table("tickets")
    tk = tk.filter((tk.requester_type == "customer") & tk.requester_id.notnull())
    hours = _hours(tk.opened_at, tk.first_response_at)
    tickets = _event_sums(tk, tk.requester_id, tk.opened_at, windows, {
        "tickets": (ibis.literal(True), 1.0),
        "self_service_tickets": (tk.channel.isin(SELF_SERVICE_CHANNELS), 1.0),
        "responded_tickets": (hours.notnull(), 1.0),
        "first_response_hours": (hours.notnull(), hours),
    }, wanted)
    sv = con.table("customer_surveys")
    sv = sv.filter(sv.kind == "csat")
    surveys = _event_sums(sv, sv.customer_id, sv.responded_at, windows, {
        "csat_answers": (ibis.literal(True), 1.0),
        "csat_satisfied": (sv.score >= 4, 1.0),
    }, wanted)
    od = con.table("orders")
    orders = _event_sums(od, od.customer_id, od.ordered_at, windows, {
        "orders": (ibis.literal(True), 1.0),
        "revenue": (ibis.literal(True), od.revenue),
    }, wanted)
    for events in (tickets, surveys, orders):
        if events is not None:
            units = units.left_join(events, units.unit_id == events.unit_id).drop("unit_id_right")

    out: dict[str, ibis.Value] = {}
    for k, window in enumerate(windows):
        last_day = window.end - dt.timedelta(days=1)
        first = ibis.greatest(ibis.literal(window.start), units.signup_date.fill_null(window.start))
        first_idx = _month_index(first) + ibis.ifelse(first.day() > 1, 1, 0)
        last = ibis.least(ibis.literal(last_day), units.churned_at.fill_null(last_day))
        state = {
            "customer_months": ibis.greatest(_month_index(last) - first_idx + 1, 0).cast("float64"),
            "churned": ((units.churned_at >= window.start) & (units.churned_at < window.end)).fill_null(False).cast("float64"),
        }
        for column in sorted(wanted[k]):
            if column in state:
                out[f"{column}_w{k}"] = state[column]
            else:
                out[f"{column}_w{k}"] = units[f"{column}_w{k}"].fill_null(0.0).cast("float64")
    return units.select("unit_id", "arm", "segment", "region", **out)


def _sums(units: ibis.Table, spec: InitiativeSpec, k: int, labels: dict[str, str]) -> dict[str, ibis.Value]:
    """The aggregate expressions of every metric in window ``k``, named ``w<k>__<i>__<aggregate column>``.

    The sums of ``adjust.covariates`` go by plain SQL names (``w<k>__<i>__adj<j>``);
    ``labels`` receives each one's aggregate-table name (``w<k>__<i>__cov_x@tickets_pre``).
    """
    def column(name: str | None) -> ibis.Value | None:
        return units[f"{name}_w{k}"] if name else None

    out: dict[str, ibis.Value] = {}
    for i, m in enumerate(spec.metrics):
        terms = sum_terms(
            column(m.numerator if m.kind == "ratio" else m.column or m.metric),
            m.kind,
            denominator=column(m.denominator if m.kind == "ratio" else None),
            pre=column(m.pre),
            pre_denominator=column(m.pre_denominator),
        )
        out[f"w{k}__{i}__n"] = units.count().cast("float64")
        out |= {f"w{k}__{i}__{name}": term.sum() for name, term in terms.items()}
        if m.adjust is not None and m.adjust.covariates:
            xs = {c: column(c) for c in m.adjust.covariates}
            for j, (name, term) in enumerate(covariate_terms(column(m.column or m.metric), xs).items()):
                out[f"w{k}__{i}__adj{j}"] = term.sum()
                labels[f"w{k}__{i}__adj{j}"] = f"w{k}__{i}__{name}"
    return out


def _with_strata(frame: pd.DataFrame, groups: pd.DataFrame, spec: InitiativeSpec, k: int, keys: list[str]) -> pd.DataFrame:
    """``frame`` (sums per ``keys``) with the per-stratum sums of the post-stratified metrics of window ``k``."""
    for i, m in enumerate(spec.metrics):
        if m.adjust is None or not m.adjust.strata:
            continue
        names = {name: f"w{k}__{i}__{name}" for name in ("n", "sum", "sum_squares")}
        cut = groups[[*keys, *names.values()]].assign(_stratum=groups[m.adjust.strata])
        per = cut.groupby([*keys, "_stratum"], as_index=False).sum()
        spread = strata_columns(per, keys, "_stratum", names, label=m.adjust.strata)
        spread = spread.rename(columns={c: f"w{k}__{i}__{c}" for c in spread.columns if c not in keys})
        frame = frame.merge(spread, on=keys, how="left")
    return frame


def _reshape(wide: pd.DataFrame, spec: InitiativeSpec, segment: pd.Series, k: int) -> pd.DataFrame:
    """One row per metric x arm x segment from the wide aggregate frame, window ``k``."""
    frames = []
    for i, m in enumerate(spec.metrics):
        prefix = f"w{k}__{i}__"
        cols = {c: c.removeprefix(prefix) for c in wide.columns if c.startswith(prefix)}
        part = wide[list(cols)].rename(columns=cols)
        frames.append(part.assign(metric=m.id, arm=wide["arm"].astype(str).to_numpy(), segment=segment.to_numpy()))
    out = pd.concat(frames, ignore_index=True)
    for col in AGGREGATE_COLUMNS:
        if col not in out:
            out[col] = float("nan")
    return out[["metric", "arm", "segment", *AGGREGATE_COLUMNS, *adjust_columns(out)]]


@dataclass(frozen=True)
class Aggregates:
    """Sufficient statistics of a randomized initiative, computed in the warehouse.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per metric x arm x segment (``"all"`` and ``"<column>=<value>"``), the
        columns :func:`~outcomes.experiment.randomized.analysis.analyze_aggregates` reads.
    units : dict of str to int
        Assigned units per arm (for the sample-ratio check).
    window : AnalysisWindow
        The test window.
    looks : tuple of Aggregates
        Interim looks (same start, earlier ends): the primary metric, company rows only.
    """

    table: pd.DataFrame
    units: dict[str, int]
    window: AnalysisWindow
    looks: tuple[Aggregates, ...] = ()


def _grouped_sums(
    con: ibis.BaseBackend,
    spec: InitiativeSpec,
    specs: Sequence[InitiativeSpec],
    windows: Sequence[AnalysisWindow],
    keys: list[str],
    *,
    first: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """The sums of ``specs[k]``'s metrics over ``windows[k]``, per ``keys``, in one query.

    Returns the groups (columns of window ``k`` named ``w<first + k>__...``, arms as text)
    and the names of the summed columns.
    """
    units = unit_table(con, spec, windows, [sorted({col for _, col in _unit_columns(s)}) for s in specs])
    labelled = units.mutate(**{c: units[c].fill_null("(missing)") for c in keys if c != "arm"})
    sums: dict[str, ibis.Value] = {}
    labels: dict[str, str] = {}
    for k, s in enumerate(specs):
        sums |= _sums(labelled, s, k, labels)

    def shifted(name: str) -> str:
        window, rest = name.split("__", 1)
        return f"w{int(window[1:]) + first}__{rest}"

    groups = labelled.group_by(keys).aggregate(**sums).execute().rename(columns=labels)
    groups = groups.rename(columns={c: shifted(c) for c in groups.columns if c not in keys})
    groups["arm"] = groups["arm"].astype(str)
    return groups, [shifted(labels.get(c, c)) for c in sums]


def randomized_aggregates(
    con: ibis.BaseBackend, spec: InitiativeSpec, window: AnalysisWindow, *, looks: Sequence[dt.date] = ()
) -> Aggregates:
    """Per-arm (and per-segment) sufficient statistics of the spec's metrics, in one query (two with looks).

    The engine groups the unit table once, by arm and every segment column of the spec
    together; the company and per-segment rows are sums of those groups (every aggregate
    is a sum: ``n``, sums, sums of squares and cross-products). Interim looks at the
    primary metric are computed in a second query, every look in it, grouped by arm.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    spec : InitiativeSpec
        A randomized, warehouse-backed initiative.
    window : AnalysisWindow
        The test window (:func:`analysis_window`).
    looks : sequence of date
        Ends (exclusive) of interim windows from the same start, e.g. the first day of
        each month: their primary-metric statistics go to :attr:`Aggregates.looks`.

    Returns
    -------
    Aggregates

    Raises
    ------
    ParamsError
        When the spec names unknown unit columns or segments, or the initiative has no
        assignments.
    """
    _check_randomized(spec)
    primary_only = spec.model_copy(update={"metrics": [spec.primary], "data": spec.data.model_copy(update={"segments": []})})
    windows = [window, *(AnalysisWindow(window.start, end) for end in looks)]
    keys = list(dict.fromkeys(["arm", *spec.data.segments, *_strata(spec)]))
    groups, numbers = _grouped_sums(con, spec, [spec], [window], keys)
    if groups.empty:
        raise ParamsError(
            f"initiative {spec.id!r}: the assignments table has no units for this initiative id; "
            "check the id against the experimentation tool's export"
        )
    whole = _with_strata(groups.groupby("arm", as_index=False)[numbers].sum(), groups, spec, 0, ["arm"])
    if looks:
        # The looks in a query of their own: one query for every window makes a row per unit
        # as wide as all their columns, which a kernel's memory share cannot hold (it spills:
        # twice the time at scale 100); the looks' own is a few columns wide.
        at, at_numbers = _grouped_sums(con, spec, [primary_only] * len(looks), windows[1:], ["arm", *_strata(primary_only)], first=1)
        at_whole = at.groupby("arm", as_index=False)[at_numbers].sum()
        for k in range(1, len(windows)):
            at_whole = _with_strata(at_whole, at, primary_only, k, ["arm"])
        whole = whole.merge(at_whole, on="arm", how="left")

    def counts(k: int) -> dict[str, int]:
        return dict(zip(whole["arm"], whole[f"w{k}__0__n"].astype(int), strict=True))

    parts = [_reshape(whole, spec, pd.Series("all", index=whole.index), 0)]
    for col in spec.data.segments:
        part = _with_strata(groups.groupby(["arm", col], as_index=False)[numbers].sum(), groups, spec, 0, ["arm", col])
        parts.append(_reshape(part, spec, f"{col}=" + part[col].astype(str), 0))
    at_looks = tuple(
        Aggregates(_reshape(whole, primary_only, pd.Series("all", index=whole.index), k), counts(k), windows[k])
        for k in range(1, len(windows))
    )
    return Aggregates(pd.concat(parts, ignore_index=True), counts(0), window, at_looks)


# --------------------------------------------------------------------------- quasi designs


def _ticket_panel(con: ibis.BaseBackend, metric: str, dim: str | None, start: dt.date, end: dt.date,
                  requester: str) -> pd.DataFrame:
    """Mean of a per-ticket value per month (and per ``dim``), tickets opened in ``[start, end)``."""
    t = con.table("tickets")
    t = t.filter(t.opened_at >= start, t.opened_at < end)
    if requester != "all":
        t = t.filter(t.requester_type == requester)
    value = TICKET_MEANS[metric](t)
    keys = {"period": t.opened_at.truncate("M").cast("date")}
    if dim:
        keys["unit"] = t[dim]
    out = t.group_by(**keys).aggregate(value=value.mean(), n=value.count()).execute()
    return out.dropna(subset=["value"])


def quasi_panel(
    con: ibis.BaseBackend, spec: InitiativeSpec, metric: str, window: AnalysisWindow, *, start: dt.date | None = None
) -> pd.DataFrame:
    """The panel a quasi-experiment reads: region x month (``did``, ``synthetic_control``) or a monthly series (``its``).

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    spec : InitiativeSpec
        A ``did``, ``synthetic_control`` or ``its`` initiative; ``data.unit`` is the panel's unit
        for the first two (``region``); ``data.requester`` limits ticket metrics to customer or employee tickets.
    metric : str
        A catalog metric id.
    window : AnalysisWindow
        The panel ends with ``window.end``.
    start : date, optional
        First month; default the first month of data in the warehouse.

    Returns
    -------
    pandas.DataFrame
        ``period`` (first of the month, datetime), ``unit`` (not for ITS), ``value``; months or
        units without data are left out.

    Raises
    ------
    ParamsError
        When the metric is not in the catalog or cannot be cut by the unit.
    """
    if metric not in catalog.ids():
        raise ParamsError(
            f"initiative {spec.id!r}: metric {metric!r} is not a catalog metric id; "
            f"valid ids are: {', '.join(catalog.ids())}"
        )
    first = start or data_start(con)
    dim = None if spec.design == "its" else spec.data.unit
    requester = spec.data.requester
    if metric in TICKET_MEANS:
        frame = _ticket_panel(con, metric, dim, first, window.end, requester)
    else:
        last = Month.of(window.end - dt.timedelta(days=1))
        try:
            # months whose data did not change are read from the run's history (DuckDB)
            tidy = build_panel(
                con, start=first, end=last, segment=dim or "all", metrics=[metric], requester=requester,
                history_dir=history.folder_for(con.name),
            )
        except ValueError as exc:
            raise ParamsError(f"initiative {spec.id!r}: {exc}") from None
        tidy = tidy[tidy["segment_dim"] == (dim or "all")]
        frame = tidy.rename(columns={"segment": "unit"})[["period", "unit", "value", "n"]].dropna(subset=["value"])
        if not dim:
            frame = frame.drop(columns="unit")
    frame["period"] = pd.to_datetime(frame["period"])
    cols = ["period", "unit", "value"] if dim else ["period", "value"]
    return frame[cols].sort_values(cols[:-1], ignore_index=True)


# --------------------------------------------------------------------------- the register


def _catalog_metric(metric_id: str, role: str) -> MetricSpec:
    """A quasi-design metric from the catalog's direction and unit."""
    m = catalog.get(metric_id)
    direction = "lower" if m.direction == "lower_is_better" else "higher"
    unit = "fraction" if m.unit == "%" else m.unit
    return MetricSpec(metric=metric_id, role=role, direction=direction, unit=unit, label=m.name)


def spec_from_register(con: ibis.BaseBackend, initiative_id: str) -> InitiativeSpec:
    """Build the spec of an initiative from the warehouse's ``initiatives`` register.

    Randomized initiatives use :data:`RANDOMIZED_METRICS` (arm column ``arm``, control
    ``control``); quasi designs take direction and unit from the catalog, and count
    customer tickets for DiD.

    Raises
    ------
    ParamsError
        When the id is not in the register or a metric has no warehouse definition.
    """
    reg = con.table("initiatives")
    rows = reg.filter(reg.initiative_id == initiative_id).execute()
    if rows.empty:
        known = sorted(reg.select("initiative_id").execute()["initiative_id"].tolist())
        raise ParamsError(
            f"initiative {initiative_id!r} is neither a params file nor in the initiatives register; "
            f"registered ids: {', '.join(known) or 'none'}"
        )
    row = rows.iloc[0]
    roles = [(str(row["primary_metric"]), "primary")]
    guard = row.get("guardrail_metrics")
    if isinstance(guard, str) and guard.strip():
        roles += [(g.strip(), "guardrail") for g in guard.split(",") if g.strip()]
    design = str(row["design"])
    treated = row.get("treated_units")
    treated_units = [u.strip() for u in treated.split(",")] if isinstance(treated, str) and treated.strip() else None
    if design == "randomized":
        missing = [m for m, _ in roles if m not in RANDOMIZED_METRICS]
        if missing:
            raise ParamsError(
                f"initiative {initiative_id!r}: metric(s) {missing} have no per-customer definition for randomized "
                f"tests; write params/initiatives/{initiative_id}.yaml (outcomes new-initiative) or use one of: "
                f"{', '.join(RANDOMIZED_METRICS)}"
            )
        metrics = [MetricSpec(metric=m, role=r, **RANDOMIZED_METRICS[m]) for m, r in roles]
        data = DataSpec(unit="customer", arm="arm", control="control")
    else:
        metrics = [_catalog_metric(m, r) for m, r in roles]
        data = DataSpec.model_validate({"unit": str(row["unit"]), **({"requester": "customer"} if design == "did" else {})})
    return InitiativeSpec(
        id=initiative_id, name=str(row["name"]), hypothesis=str(row["hypothesis"]), design=design, data=data,
        metrics=metrics, start_date=pd.Timestamp(row["start_date"]).date().isoformat(),
        treated_units=treated_units, active=bool(row["active"]),
    )
