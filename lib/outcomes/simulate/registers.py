"""The joining registers: the service map, the initiatives register and the portal's assignments."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from outcomes.simulate import world
from outcomes.simulate.it_delivery import DEPLOYED
from outcomes.simulate.population import customer_ids

PORTAL = "self-service-portal"
CHATBOT = "chatbot"
RELEASES = "faster-releases"
PORTAL_ARMS = ("control", "portal")


def service_map() -> pa.Table:
    """One row per service and region: journey, capability and whether customers use it (``Y``/``N``)."""
    rows = [
        {
            "service_name": s.name,
            "customer_journey": s.journey,
            "business_capability": s.capability,
            "region": region,
            "customer_facing": "Y" if s.customer_facing else "N",
        }
        for s in world.SERVICES
        for region in world.REGIONS
    ]
    return pa.Table.from_pylist(rows)


def _day_month_year(iso_day: str) -> str:
    year, month, day = iso_day.split("-")
    return f"{day}/{month}/{year}"


def initiatives(planted: world.Planted) -> pa.Table:
    """The initiatives register as the portfolio office keeps it (one row per initiative).

    Parameters
    ----------
    planted : Planted
        The planted truths (start dates, chatbot regions).

    Returns
    -------
    pyarrow.Table
        Register rows with the office's column names.
    """
    rows = [
        (
            PORTAL,
            "Self-service portal",
            "Customers offered the new self-service portal open more of their tickets through self-service "
            "and raise fewer tickets, with no loss of satisfaction.",
            "Randomized",
            "customer",
            None,
            planted.portal_start,
            180_000.0,
            6_000.0,
            "self_service_rate",
            "csat",
        ),
        (
            CHATBOT,
            "Virtual agent for customer tickets",
            "A virtual agent that acknowledges and triages customer tickets shortens first response in the "
            "regions where it runs, which lifts CSAT and lowers churn.",
            "Difference-in-differences",
            "region",
            ",".join(planted.chatbot_regions),
            planted.chatbot_start,
            250_000.0,
            9_000.0,
            "first_response_mean_hours",
            "csat,churn_rate,sla_attainment",
        ),
        (
            RELEASES,
            "Faster releases",
            "Trunk-based development and an automated release pipeline cut the lead time for changes "
            "without raising the change failure rate.",
            "Interrupted time series",
            "service",
            ",".join(s.name for s in DEPLOYED),
            planted.releases_start,
            120_000.0,
            4_000.0,
            "lead_time_hours",
            "change_failure_rate",
        ),
    ]
    names = (
        "ID", "Initiative", "Hypothesis", "Evaluation design", "Unit", "Treated units", "Start",
        "One-off cost (EUR)", "Run cost per month (EUR)", "Primary metric", "Guardrails", "Active",
    )
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names[:-1])}
    columns["Start"] = [_day_month_year(d) for d in columns["Start"]]
    columns["Active"] = ["Yes"] * len(rows)
    return pa.table(
        {name: pa.array(values, pa.float64() if "(EUR)" in name else pa.string()) for name, values in columns.items()}
    )


def assignments(positions: np.ndarray, portal: np.ndarray, assigned_on: str) -> pa.Table:
    """The experimentation tool's export of the portal randomisation.

    Parameters
    ----------
    positions : ndarray of int
        Positions of the randomised customers.
    portal : ndarray of bool
        Their arm (``True``: portal).
    assigned_on : str
        ISO date of the randomisation.

    Returns
    -------
    pyarrow.Table
        One row per randomised customer.
    """
    n = len(positions)
    return pa.table(
        {
            "experiment_id": pa.array(np.full(n, PORTAL), pa.string()),
            "customer_no": customer_ids(positions + 1),
            "variant": pa.array(np.array(PORTAL_ARMS)[portal.astype(int)], pa.string()),
            "assigned_date": pa.array(np.full(n, np.datetime64(assigned_on, "D"))),
        }
    )
