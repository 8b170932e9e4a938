"""The unit costs the demo's ledger and drivers imply, for ``ground_truth.json``.

The demo allocates its IT ledger as ``params/allocation.yaml`` says (:data:`POLICY`): the
service desk's staff by the tickets opened about each service, its tooling alike over every
service, the Data Platform's infrastructure by fixed shares, and every other line to the
service it is booked on. This module works the same figures out from the simulated rows
(floats, before any rounding of the split) so tests can check the warehouse's allocation
and the catalog's unit costs against them. Nothing here draws random numbers.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from outcomes.simulate import world

#: The demo's allocation, in words (``params/allocation.yaml`` holds it as rules).
POLICY = (
    "service desk staff by tickets opened about each service; service desk tooling alike over every service; "
    "Data Platform infrastructure 40% Web Shop, 30% Mobile App, 30% ERP Finance; every other line direct"
)
DATA_PLATFORM = "Data Platform"
DATA_PLATFORM_SHARES = {"Web Shop": 0.4, "Mobile App": 0.3, "ERP Finance": 0.3}


def allocated_by_service(costs: pa.Table, ticket_services: Counter[str]) -> dict[str, float]:
    """A month's ledger allocated to services, in EUR (exact shares, not rounded).

    Parameters
    ----------
    costs : pyarrow.Table
        The month's finance export (``cost_centre``, ``cost_line``, ``amount_eur``).
    ticket_services : Counter
        Tickets opened in the month per service (CMDB name), the surge's included.

    Returns
    -------
    dict
        Service -> allocated cost.
    """
    names = [s.name for s in world.SERVICES]
    out = dict.fromkeys(names, 0.0)
    tickets = sum(ticket_services.values())
    for centre, line, amount in zip(
        costs["cost_centre"].to_pylist(), costs["cost_line"].to_pylist(), costs["amount_eur"].to_pylist(), strict=True
    ):
        if centre == world.SERVICE_DESK and line == "staff":
            for name in names:
                out[name] += amount * ticket_services.get(name, 0) / tickets
        elif centre == world.SERVICE_DESK:
            for name in names:
                out[name] += amount / len(names)
        elif centre == DATA_PLATFORM and line == "infrastructure":
            for name, share in DATA_PLATFORM_SHARES.items():
                out[name] += amount * share
        else:
            out[centre] += amount
    return out


def month_truth(
    label: str, costs: pa.Table, tickets: list[pa.Table], *, orders: int, active: int, retained: int
) -> dict:
    """One month of the unit-cost truth.

    Parameters
    ----------
    label : str
        The month, ``YYYY-MM``.
    costs : pyarrow.Table
        The month's finance export.
    tickets : list of pyarrow.Table
        The month's ticket exports (the surge's extra rows included).
    orders, active, retained : int
        Orders placed, active customers, and customers active at the start and still at the end.

    Returns
    -------
    dict
        ``month``, ``it_cost`` (the ledger, EUR), ``orders``, ``active_customers``,
        ``retained_customers``, the three unit costs and ``allocated_cost_by_service``.
    """
    cents = int(np.round(np.asarray(costs["amount_eur"].to_numpy(), dtype=float) * 100).sum())
    it_cost = cents / 100
    services = Counter(name for t in tickets for name in t["cmdb_ci"].to_pylist())
    return {
        "month": label,
        "it_cost": round(it_cost, 2),
        "orders": orders,
        "active_customers": active,
        "retained_customers": retained,
        "cost_per_order": round(it_cost / orders, 6),
        "cost_per_active_customer": round(it_cost / active, 6),
        "cost_per_retained_customer": round(it_cost / retained, 6),
        "allocated_cost_by_service": {k: round(v, 4) for k, v in allocated_by_service(costs, services).items()},
    }
