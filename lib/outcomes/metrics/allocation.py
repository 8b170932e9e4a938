"""TBM-style cost allocation: the IT ledger allocated to services, then to journeys and capabilities.

The finance export (``it_costs``) books each month's cost on a *cost centre* (its ``service``
column: an IT service, or a shared centre such as ``service_desk``) and a *cost line* (staff,
licences, ...). Each (month, cost centre, cost line) is a **cost pool**. ``params/allocation.yaml``
(:class:`AllocationRules`) says how each pool reaches the services: kept by the service it is
booked on (``direct``), or shared by a driver counted in the same month (tickets or customer
tickets about each service, production deployments of each service, every mapped service
alike, or fixed shares). Each service's cost is then shared among the customer journeys and
business capabilities it supports (``service_map``), in proportion to the regions it serves
for each.

Money is handled in integer cents: a pool is the sum of its ledger lines rounded to the cent,
and each split hands out the floor of its exact share plus one cent to the largest remainders
(Hamilton's largest-remainder method, ties by name), so the allocation adds up to the ledger
total to the cent in every month, at every level. Everything runs in the engine (Ibis on
DuckDB or Spark, integer arithmetic and window functions only); only the allocated amounts
per month, pool, service and journey leave it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import ibis
import pandas as pd
from pydantic import Field, model_validator

from outcomes import config
from outcomes.params import Params, load
from outcomes.periods import Window

Driver = Literal["direct", "tickets", "customer_tickets", "deployments", "equal", "fixed"]
#: What each driver counts, in words (the scorecard's allocation table prints it).
DRIVER_WORDS: dict[str, str] = {
    "direct": "kept by the service it is booked on",
    "tickets": "tickets opened about each service",
    "customer_tickets": "customer tickets opened about each service",
    "deployments": "production deployments of each service",
    "equal": "equal shares of every mapped service",
    "fixed": "fixed shares",
}
#: Journey and capability of a service missing from the service map.
UNMAPPED = "unmapped"
#: Fixed shares are turned into integer weights at this resolution (parts per million).
SHARE_RESOLUTION = 1_000_000
ANY = "*"
ALLOCATION_COLUMNS = ["period", "cost_centre", "cost_line", "driver", "service", "journey", "capability", "cents"]


class PoolRule(Params):
    """How the cost pools matching ``cost_centre`` and ``cost_line`` reach the services.

    Parameters
    ----------
    cost_centre : str
        The ``it_costs.service`` value, or ``"*"`` for any.
    cost_line : str
        The ``it_costs.cost_line`` value, or ``"*"`` for any.
    driver : {"direct", "tickets", "customer_tickets", "deployments", "equal", "fixed"}
        What the pool is shared by (see :data:`DRIVER_WORDS`).
    shares : dict, optional
        For ``fixed`` only: service -> positive share (normalised to sum to 1).
    """

    cost_centre: str = ANY
    cost_line: str = ANY
    driver: Driver
    shares: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> PoolRule:
        if self.driver == "fixed":
            if not self.shares:
                raise ValueError("driver 'fixed' needs shares: {service: share, ...}")
            bad = {k: v for k, v in self.shares.items() if not v > 0}
            if bad:
                raise ValueError(f"shares must be positive, got {bad}; leave a service out to give it nothing")
        elif self.shares:
            raise ValueError(f"shares are only read with driver 'fixed', not {self.driver!r}; remove them or use 'fixed'")
        return self

    def weights(self) -> dict[str, int]:
        """The fixed shares as integer weights (parts per million of their total)."""
        total = sum(self.shares.values())
        return {k: max(1, round(v / total * SHARE_RESOLUTION)) for k, v in self.shares.items()}


class AllocationRules(Params):
    """``params/allocation.yaml``: the rules that allocate the IT ledger to services.

    Parameters
    ----------
    pools : tuple of PoolRule
        Rules in order; a cost pool follows the first rule matching its cost centre and cost
        line. The default shares the service desk by tickets and keeps every other pool with
        the service it is booked on.
    """

    pools: tuple[PoolRule, ...] = (
        PoolRule(cost_centre="service_desk", driver="tickets"),
        PoolRule(driver="direct"),
    )

    @model_validator(mode="after")
    def _check(self) -> AllocationRules:
        if not self.pools:
            raise ValueError("pools is empty; end with {driver: direct} to keep each pool with its own service")
        last = self.pools[-1]
        if (last.cost_centre, last.cost_line) != (ANY, ANY):
            raise ValueError(
                "the last pool rule must match every pool (leave out cost_centre and cost_line), "
                "so that every cost in the ledger is allocated; e.g. {driver: direct}"
            )
        return self


def load_rules(path: str | Path | None = None) -> AllocationRules:
    """Read the allocation rules; no file at the default place means the default rules.

    Parameters
    ----------
    path : str or Path, optional
        Relative to the project folder; default the project's ``params/allocation.yaml``.

    Returns
    -------
    AllocationRules
        The frozen rules.
    """
    if path is None:
        path = config.project().params_dir / "allocation.yaml"
        if not path.is_file():
            return AllocationRules()
    return load(config.resolve(path), AllocationRules)


# --------------------------------------------------------------------------- largest remainder


def split_cents(t: ibis.Table, group: list[str], target: str) -> ibis.Table:
    """Share each group's ``cents`` among its rows by their integer ``weight``, to the cent.

    Each row gets the floor of ``cents x weight / total weight`` and the cents left over go,
    one each, to the rows with the largest remainders (ties to the smaller ``target``). A group
    whose weights are all zero is shared equally. The shares add up to the group's cents
    exactly.

    Parameters
    ----------
    t : ibis.Table
        One row per group and receiver: the group's ``cents`` (int64, repeated on its rows) and
        the receiver's ``weight`` (int64, not negative).
    group : list of str
        The columns naming a group.
    target : str
        The column naming the receiver (orders the ties).

    Returns
    -------
    ibis.Table
        ``t`` without ``weight``, with ``cents`` replaced by each row's share.
    """
    w = ibis.window(group_by=group)
    total = t.weight.sum().over(w)
    t = t.mutate(
        _w=ibis.ifelse(total > 0, t.weight, 1).cast("int64"),
        _total=ibis.ifelse(total > 0, total, t.count().over(w)).cast("int64"),
    )
    product = t.cents.cast("int64") * t._w
    t = t.mutate(_rem=product % t._total, _product=product)
    t = t.mutate(_base=((t._product - t._rem) / t._total).round().cast("int64"))
    t = t.mutate(_left=t.cents - t._base.sum().over(w))
    rank = ibis.row_number().over(ibis.window(group_by=group, order_by=[ibis.desc(t._rem), t[target]]))
    t = t.mutate(cents=t._base + ibis.ifelse(rank < t._left, 1, 0).cast("int64"))
    return t.drop("weight", "_w", "_total", "_rem", "_product", "_base", "_left")


# --------------------------------------------------------------------------- the allocation


def _month(ts: ibis.Value) -> ibis.Value:
    return ts.truncate("M").cast("date")


def _months(window: Window) -> ibis.Table:
    return ibis.memtable(pd.DataFrame({"period": [m.start for m in window]}), schema=ibis.schema({"period": "date"}))


def _rule_table(rules: AllocationRules) -> ibis.Table:
    return ibis.memtable(
        pd.DataFrame({"rule": range(len(rules.pools)), "driver": [r.driver for r in rules.pools]}),
        schema=ibis.schema({"rule": "int64", "driver": "string"}),
    )


def _pools(con: ibis.BaseBackend, window: Window, rules: AllocationRules) -> ibis.Table:
    """The month's cost pools in cents, each with the index of the rule it follows."""
    c = con.table("it_costs")
    c = c.mutate(period=c.month.cast("date"), cents=(c.amount * 100).round().cast("int64"))
    c = c.filter(c.period.between(ibis.literal(window.start), ibis.literal(window.last_month.start)))
    c = c.group_by(["period", c.service.name("cost_centre"), "cost_line"]).aggregate(cents=c.cents.sum())
    branches = []
    for i, rule in enumerate(rules.pools):
        cond = ibis.literal(True)
        if rule.cost_centre != ANY:
            cond = cond & (c.cost_centre == rule.cost_centre)
        if rule.cost_line != ANY:
            cond = cond & (c.cost_line == rule.cost_line)
        branches.append((cond, i))
    return c.mutate(rule=ibis.cases(*branches, else_=len(rules.pools) - 1).cast("int64"))


def _driver_weights(con: ibis.BaseBackend, window: Window, rules: AllocationRules) -> ibis.Table | None:
    """One row per (period, rule, service) with the rule's integer weight for that service."""
    months = _months(window)
    mapped = con.table("service_map").select("service").distinct()
    low, high = ibis.literal(window.start_timestamp), ibis.literal(window.end_timestamp)
    parts = []
    for i, rule in enumerate(rules.pools):
        if rule.driver == "direct":
            continue
        if rule.driver in ("tickets", "customer_tickets"):
            t = con.table("tickets")
            t = t.filter((t.opened_at >= low) & (t.opened_at < high))
            if rule.driver == "customer_tickets":
                t = t.filter(t.requester_type == "customer")
            part = t.group_by([_month(t.opened_at).name("period"), "service"]).aggregate(weight=t.count())
        elif rule.driver == "deployments":
            d = con.table("deployments")
            d = d.filter((d.deployed_at >= low) & (d.deployed_at < high))
            part = d.group_by([_month(d.deployed_at).name("period"), "service"]).aggregate(weight=d.count())
        elif rule.driver == "equal":
            part = months.cross_join(mapped).mutate(weight=ibis.literal(1))
        else:
            shares = ibis.memtable(
                pd.DataFrame({"service": list(rule.weights()), "weight": list(rule.weights().values())}),
                schema=ibis.schema({"service": "string", "weight": "int64"}),
            )
            part = months.cross_join(shares)
        part = part.select(
            period=part.period.cast("date"),
            rule=ibis.literal(i).cast("int64"),
            service=part.service.cast("string"),
            weight=part.weight.cast("int64"),
        )
        parts.append(part)
    if not parts:
        return None
    return parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]


def service_costs(con: ibis.BaseBackend, window: Window, rules: AllocationRules | None = None) -> ibis.Table:
    """The cost pools allocated to services, as an engine expression.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse, with ``it_costs``, ``service_map`` and the tables the drivers count.
    window : Window
        The months.
    rules : AllocationRules, optional
        Default: :func:`load_rules` ().

    Returns
    -------
    ibis.Table
        ``period``, ``cost_centre``, ``cost_line``, ``driver``, ``service``, ``cents`` (int64):
        one row per pool and receiving service. A driven pool whose driver counts nothing in a
        month is shared equally among the mapped services; with no service mapped either, it
        stays with its cost centre, so no cent is lost.
    """
    rules = rules or load_rules()
    pools = _pools(con, window, rules).inner_join(_rule_table(rules), "rule")
    weights = _driver_weights(con, window, rules)
    if weights is None:
        return pools.mutate(service=pools.cost_centre).select(*ALLOCATION_COLUMNS[:5], "cents")
    # every mapped service receives a zero weight too, so a month where the driver counts
    # nothing shares the pool equally instead of losing it
    mapped = con.table("service_map").select(service=ibis._.service.cast("string")).distinct()
    everyone = _months(window).cross_join(_rule_table(rules).filter(ibis._.driver != "direct").select("rule")).cross_join(mapped)
    receivers = weights.union(everyone.mutate(weight=ibis.literal(0).cast("int64")).select(*weights.columns), distinct=False)
    receivers = receivers.group_by(["period", "rule", "service"]).aggregate(weight=receivers.weight.sum())
    # One pass over the pools: a pool with receivers in its month is shared among them; a
    # direct pool, and a driven one without any receiver, has no match and stays with its
    # cost centre (weight 1, the only row of its pool).
    receivers = receivers.select(_period="period", _rule="rule", service="service", weight="weight", _hit=ibis.literal(True))
    j = pools.left_join(receivers, [pools.period == receivers._period, pools.rule == receivers._rule])
    matched = j._hit.notnull()
    j = j.select(
        "period", "cost_centre", "cost_line", "driver", "cents",
        service=ibis.ifelse(matched, j.service, j.cost_centre),
        weight=ibis.ifelse(matched, j.weight, 1).cast("int64"),
    )
    shared = split_cents(j, ["period", "cost_centre", "cost_line"], "service")
    return shared.select(*ALLOCATION_COLUMNS[:5], "cents")


def allocate(con: ibis.BaseBackend, window: Window, rules: AllocationRules | None = None) -> ibis.Table:
    """The cost pools allocated to services and on to journeys and capabilities.

    A service's cost is shared among the (journey, capability) pairs of its ``service_map``
    rows by the number of regions it serves for each; a service missing from the map keeps
    its cost under journey and capability ``"unmapped"``.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    window : Window
        The months.
    rules : AllocationRules, optional
        Default: :func:`load_rules` ().

    Returns
    -------
    ibis.Table
        :data:`ALLOCATION_COLUMNS`, ``cents`` in int64; per month the cents add up to the
        ledger's total rounded line by line to the cent.
    """
    by_service = service_costs(con, window, rules)
    sm = con.table("service_map")
    routes = sm.group_by([sm.service.name("_service"), "journey", "capability"]).aggregate(weight=sm.count().cast("int64"))
    j = by_service.left_join(routes, by_service.service == routes._service)
    j = j.mutate(
        journey=j.journey.fill_null(UNMAPPED),
        capability=j.capability.fill_null(UNMAPPED),
        weight=j.weight.fill_null(1),
        _route=j.journey.fill_null(UNMAPPED).concat(ibis.literal("|"), j.capability.fill_null(UNMAPPED)),
    )
    j = j.drop("_service")
    out = split_cents(j, ["period", "cost_centre", "cost_line", "service"], "_route")
    return out.select(*ALLOCATION_COLUMNS)


def allocation_frame(con: ibis.BaseBackend, window: Window, rules: AllocationRules | None = None) -> pd.DataFrame:
    """:func:`allocate`, executed: one row per month, pool, service, journey and capability.

    Returns
    -------
    pandas.DataFrame
        :data:`ALLOCATION_COLUMNS` with ``period`` as datetime64 and ``cents`` as int64,
        sorted; rows of zero cents are left out.
    """
    frame = allocate(con, window, rules).execute()
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[ns]")
    frame["cents"] = frame["cents"].astype("int64")
    frame = frame[frame["cents"] != 0]
    return frame.sort_values(ALLOCATION_COLUMNS[:-1]).reset_index(drop=True)[ALLOCATION_COLUMNS]
