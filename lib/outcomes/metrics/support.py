"""Metric support: which catalog metrics a warehouse's data can compute, and what is missing.

Every catalog metric rests on canonical columns (:data:`REQUIRES`). A metric is
*supported* when, for each of its requirements, at least one of the listed columns holds
a value in at least one row. A column is *missing* when its table is empty, the column is
absent, every row leaves it empty, or the source mapping fills it with a constant (a
value set in configuration, not observed in the data, such as a channel every ticket is
given). Unsupported metrics are listed with the missing canonical fields named, so a
report shows them as unavailable instead of computing a number from nothing.

The column counts run in the engine: one aggregate query per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import ibis
import pandas as pd

from outcomes.metrics import catalog
from outcomes.ingest.sources import load_sources
from outcomes import config

#: Metric id -> requirements; each requirement is a tuple of ``table.column`` alternatives
#: (any one of them with values satisfies it).
REQUIRES: dict[str, tuple[tuple[str, ...], ...]] = {
    "ticket_volume": (("tickets.opened_at",),),
    "tickets_per_user": (("tickets.requester_type",), ("customers.signup_date",)),
    "first_response_median_hours": (("tickets.first_response_at",),),
    "first_response_p90_hours": (("tickets.first_response_at",),),
    "first_response_p95_hours": (("tickets.first_response_at",),),
    "first_response_mean_hours": (("tickets.first_response_at",),),
    "mttr_hours": (("tickets.resolved_at",),),
    "median_time_to_resolve_hours": (("tickets.resolved_at",),),
    "resolution_p90_hours": (("tickets.resolved_at",),),
    "resolution_p95_hours": (("tickets.resolved_at",),),
    "fcr_rate": (("tickets.first_contact_resolved",),),
    "sla_attainment": (("tickets.resolved_at",), ("tickets.sla_met", "tickets.sla_target_hours")),
    "reopen_rate": (("tickets.resolved_at",), ("tickets.reopened",)),
    "reassignments_per_ticket": (("tickets.reassignment_count",),),
    "backlog_size": (("tickets.opened_at",), ("tickets.resolved_at",)),
    "backlog_age_days": (("tickets.opened_at",), ("tickets.resolved_at",)),
    "self_service_rate": (("tickets.channel",),),
    "cost_per_ticket": (("it_costs.amount",), ("tickets.opened_at",)),
    "outage_minutes": (("incidents.outage_minutes",),),
    "availability": (("incidents.outage_minutes",), ("service_map.service",)),
    "deployment_frequency": (("deployments.deployed_at",),),
    "lead_time_hours": (("deployments.lead_time_hours",),),
    "change_failure_rate": (("deployments.failed",),),
    "deployment_rework_rate": (("deployments.unplanned", "deployments.fixes_deployment"),),
    "time_to_restore_hours": (("deployments.failed",), ("deployments.restored_at",)),
    "employee_it_satisfaction": (("employee_survey.score",),),
    "ticket_happiness": (("ticket_surveys.happiness",),),
    "lost_time_hours": (("ticket_surveys.lost_minutes",),),
    "customer_ticket_happiness": (("ticket_surveys.happiness",),),
    "customer_lost_time_hours": (("ticket_surveys.lost_minutes",),),
    "employee_it_happiness": (("ticket_surveys.happiness",), ("service_map.customer_facing",)),
    "employee_lost_time_hours": (("ticket_surveys.lost_minutes",), ("service_map.customer_facing",)),
    "demand_capacity_ratio": (("tickets.opened_at",), ("tickets.resolved_at",)),
    "backlog_growth": (("tickets.opened_at",), ("tickets.resolved_at",)),
    "active_customers": (("customers.signup_date",),),
    "csat": (("customer_surveys.score",),),
    "nps": (("customer_surveys.score",),),
    "churn_rate": (("customers.signup_date",), ("churn.churned_at",)),
    "retention_rate": (("customers.signup_date",), ("churn.churned_at",)),
    "conversion_rate": (("campaigns.conversions",), ("campaigns.visits",)),
    "revenue": (("orders.revenue",),),
    "cost_per_order": (("it_costs.amount",), ("orders.ordered_at",)),
    "cost_per_active_customer": (("it_costs.amount",), ("customers.signup_date",)),
    "cost_per_retained_customer": (("it_costs.amount",), ("customers.signup_date",), ("churn.churned_at",)),
    "arpu": (("orders.revenue",), ("customers.signup_date",)),
    "aov": (("orders.revenue",),),
    "clv": (("orders.revenue",), ("orders.margin",), ("customers.signup_date",), ("churn.churned_at",)),
    "cac": (("campaigns.spend",), ("customers.signup_date",)),
}

SUPPORT_COLUMNS = ["metric", "name", "available", "missing", "reason"]


def constant_columns(sources: str | Path) -> tuple[str, ...]:
    """The ``table.column`` fields a source mapping fills with a constant rather than from the data.

    Parameters
    ----------
    sources : str or Path
        A source mappings file (``params/real/<name>.yaml``).

    Returns
    -------
    tuple of str
        Sorted ``table.column`` names set under ``constants`` by any of its sources.
    """

    cfg = load_sources(config.resolve(sources))
    return tuple(sorted({f"{s.table}.{c}" for s in cfg.sources.values() for c in s.constants}))


def column_coverage(con: ibis.BaseBackend, fields: Iterable[str]) -> pd.DataFrame:
    """Rows of each table and rows with a value in each field, counted in the engine.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    fields : iterable of str
        ``table.column`` names.

    Returns
    -------
    pandas.DataFrame
        ``field``, ``table``, ``column``, ``rows`` (of the table; 0 when it is absent) and
        ``filled`` (rows with a value; 0 when the column is absent).
    """
    wanted: dict[str, list[str]] = {}
    for field in dict.fromkeys(fields):
        table, _, column = field.partition(".")
        if not column:
            raise ValueError(f"field {field!r} is not written as table.column (e.g. tickets.resolved_at)")
        wanted.setdefault(table, []).append(column)
    present = set(con.list_tables())
    rows = []
    for table, columns in wanted.items():
        if table not in present:
            rows += [(f"{table}.{c}", table, c, 0, 0) for c in columns]
            continue
        t = con.table(table)
        have = [c for c in columns if c in t.columns]
        counts = t.aggregate(_rows=t.count(), **{f"_f{i}": t[c].count() for i, c in enumerate(have)}).execute().iloc[0]
        filled = {c: int(counts[f"_f{i}"]) for i, c in enumerate(have)}
        rows += [(f"{table}.{c}", table, c, int(counts["_rows"]), filled.get(c, 0)) for c in columns]
    return pd.DataFrame(rows, columns=["field", "table", "column", "rows", "filled"])


def _why(field: str, coverage: pd.DataFrame, constants: Sequence[str]) -> str | None:
    """Why a field is missing (``None`` when it holds observed values)."""
    row = coverage.set_index("field").loc[field]
    if row["rows"] == 0:
        return f"table {row['table']} is empty"
    if row["filled"] == 0:
        return f"{field} is empty in every row"
    if field in constants:
        return f"{field} is a constant set in the source mapping, not observed"
    return None


def metric_support(
    con: ibis.BaseBackend,
    metrics: Sequence[str] | None = None,
    *,
    constants: Sequence[str] = (),
    extra: Mapping[str, tuple[tuple[str, ...], ...]] | None = None,
) -> pd.DataFrame:
    """Which metrics the warehouse's data support, naming the missing canonical fields.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    metrics : sequence of str, optional
        Catalog metric ids; default: the whole catalog.
    constants : sequence of str
        ``table.column`` fields filled by a constant in the source mapping
        (:func:`constant_columns`); they count as missing.
    extra : mapping, optional
        Analyses outside the catalog, checked the same way: name -> requirements, as in
        :data:`REQUIRES` (e.g. ``{"change linkage": (("deployments.configuration_item",),
        ("tickets.configuration_item",))}``); listed after the metrics, named by their key.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric``, ``name``, ``available`` (bool), ``missing`` (the
        unmet requirements, alternatives joined by " or ", requirements by "; ") and
        ``reason``.
    """
    ids = list(catalog.ids() if metrics is None else metrics)
    unknown = [m for m in ids if m not in REQUIRES]
    if unknown:
        for m in unknown:
            catalog.get(m)
        raise KeyError(f"no column requirements declared for {unknown}; add them to metric_support.REQUIRES")
    checks = {m: (catalog.get(m).name, REQUIRES[m]) for m in ids}
    checks.update({name: (name, reqs) for name, reqs in (extra or {}).items()})
    coverage = column_coverage(con, [f for _, reqs in checks.values() for req in reqs for f in req])
    rows = []
    for key, (name, reqs) in checks.items():
        unmet, reasons = [], []
        for req in reqs:
            why = [_why(f, coverage, constants) for f in req]
            if all(w is not None for w in why):
                unmet.append(" or ".join(req))
                reasons += [w for w in why if w is not None]
        reason = "; ".join(dict.fromkeys(reasons)) or None
        rows.append((key, name, not unmet, "; ".join(unmet) or None, reason))
    return pd.DataFrame(rows, columns=SUPPORT_COLUMNS)


def available(support: pd.DataFrame) -> list[str]:
    """The catalog ids of the supported metrics of :func:`metric_support` (extra analyses left out), in order."""
    return [m for m in support.loc[support["available"], "metric"] if m in REQUIRES]


def unavailable(support: pd.DataFrame) -> pd.DataFrame:
    """The unsupported metrics of :func:`metric_support`, for the report's table."""
    return support.loc[~support["available"], ["metric", "name", "missing", "reason"]].reset_index(drop=True)


__all__ = ["REQUIRES", "available", "column_coverage", "constant_columns", "metric_support", "unavailable"]
