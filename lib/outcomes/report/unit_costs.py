"""The cost allocation as the scorecard shows it: cost pools to services by their drivers, services to journeys.

Both tables read :func:`outcomes.metrics.allocation.allocation_frame` for the month reported
and show aggregates only: money per pool, per service and per journey, never a ledger line.
"""

from __future__ import annotations

import pandas as pd

from outcomes import format as fmt
from outcomes.metrics.allocation import DRIVER_WORDS

#: Receivers named per pool; the rest are counted.
TOP_RECEIVERS = 3
#: What the tables say when the month has no IT cost.
NO_COSTS = "No IT cost is recorded for the month: add a finance export (it_costs) to params/sources.yaml."


def _share_list(amounts: pd.Series) -> str:
    """"Web Shop 25%, Mobile App 20%, Payments 15% and 10 more" from amounts by service."""
    amounts = amounts.sort_values(ascending=False)
    total = float(amounts.sum())
    named = [f"{s} {fmt.percent(v / total)}" for s, v in amounts.head(TOP_RECEIVERS).items()]
    more = len(amounts) - TOP_RECEIVERS
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def pool_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cost pools of the month, what each is allocated by and the services it reaches.

    Pools kept by the service they are booked on are summed into one row.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`outcomes.metrics.allocation.allocation_frame` of one month.

    Returns
    -------
    pandas.DataFrame
        ``cost pool``, ``allocated by``, ``amount`` and ``to services`` (the largest shares),
        driven pools by amount first; one row saying so when the month has no cost.
    """
    columns = ["cost pool", "allocated by", "amount", "to services"]
    if frame.empty:
        return pd.DataFrame([["none", NO_COSTS, "", ""]], columns=columns)
    rows = []
    driven = frame[frame["driver"] != "direct"]
    for (centre, line, driver), part in driven.groupby(["cost_centre", "cost_line", "driver"]):
        by_service = part.groupby("service")["cents"].sum() / 100
        rows.append((f"{centre}: {line}", DRIVER_WORDS[driver], float(by_service.sum()), _share_list(by_service)))
    rows.sort(key=lambda r: -r[2])
    direct = frame[frame["driver"] == "direct"]
    if not direct.empty:
        by_service = direct.groupby("service")["cents"].sum() / 100
        pools = direct[["cost_centre", "cost_line"]].drop_duplicates()
        rows.append((f"{fmt.count(len(pools))} pools booked on a service", DRIVER_WORDS["direct"], float(by_service.sum()),
                     _share_list(by_service)))
    out = pd.DataFrame(rows, columns=columns)
    out["amount"] = [fmt.money(v) for v in out["amount"]]
    return out


def journey_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The month's allocated IT cost per customer journey, with its capabilities and services.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`outcomes.metrics.allocation.allocation_frame` of one month.

    Returns
    -------
    pandas.DataFrame
        ``journey``, ``capabilities``, ``services`` (the largest shares), ``amount`` and
        ``share`` of the month's IT cost, largest first; one row saying so when the month
        has no cost.
    """
    columns = ["journey", "capabilities", "services", "amount", "share"]
    if frame.empty:
        return pd.DataFrame([[NO_COSTS, "", "", "", ""]], columns=columns)
    total = float(frame["cents"].sum())
    rows = []
    for journey, part in frame.groupby("journey"):
        by_service = part.groupby("service")["cents"].sum() / 100
        capabilities = ", ".join(sorted(part["capability"].unique()))
        cents = float(part["cents"].sum())
        rows.append((journey, capabilities, _share_list(by_service), cents / 100, cents / total))
    rows.sort(key=lambda r: -r[3])
    out = pd.DataFrame(rows, columns=columns)
    out["amount"] = [fmt.money(v) for v in out["amount"]]
    out["share"] = [fmt.percent(v) for v in out["share"]]
    return out
