"""One month of service-desk tickets, in the ServiceNow list-export layout.

Customers and employees raise tickets at Poisson rates. A ticket's first response is the
region-month's queue mean (:mod:`conditions`) times a priority factor and a gamma noise of
mean 1, so the channel mix does not move it. Resolution follows the first response by a
work time that depends on priority and on whether the first contact resolved it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.simulate import world
from outcomes.simulate.population import customer_ids, draw_by_row, employee_ids, ids, labels

#: Opening hour profile (UTC) of customer and of employee tickets.
CUSTOMER_HOURS = np.array([1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 7, 7, 7, 7, 7, 7, 8, 8, 7, 5, 3, 2], dtype=float)
EMPLOYEE_HOURS = np.array([0, 0, 0, 0, 0, 0, 1, 4, 10, 12, 12, 10, 8, 10, 11, 10, 8, 5, 2, 1, 1, 0, 0, 0], dtype=float)
EMPLOYEE_TICKETS_PER_MONTH = 1.2
#: Employees wait a little longer than customers for a first response.
EMPLOYEE_QUEUE_FACTOR = 1.3
#: Shape of the gamma noise around the mean first response (coefficient of variation 0.8).
RESPONSE_SHAPE = 1.5
#: Share of tickets that wait on a customer or vendor and stay open much longer.
PENDING_SHARE = 0.02


@dataclass(frozen=True)
class CustomerExposure:
    """Customers who can raise tickets (or order) in a month.

    Attributes
    ----------
    position : ndarray of int
        Position of each customer in :class:`~outcomes.simulate.population.Customers`.
    first_day : ndarray of int
        First day (offset in the month, 0-based) the customer was a customer.
    segment, region : ndarray of int8
        Their segment and region codes.
    portal : ndarray of bool
        Whether the new portal is on for them this month.
    """

    position: np.ndarray
    first_day: np.ndarray
    segment: np.ndarray
    region: np.ndarray
    portal: np.ndarray


@dataclass(frozen=True)
class TicketMonth:
    """A month of tickets and the facts the rest of the month needs.

    Attributes
    ----------
    export : pyarrow.Table
        The ServiceNow export rows, ordered by opening time.
    first_response_mean : ndarray, shape (regions,)
        Realised mean first response (hours) of customer tickets per region, over tickets
        whose first response is in the export: the x of the planted links.
    customer_day : ndarray of int
        Per exposed customer, the last day (offset) they opened a ticket, or -1.
    customer_rate : ndarray of float
        Per exposed customer, the planted tickets per customer-month (after deflection).
    """

    export: pa.Table
    first_response_mean: np.ndarray
    customer_day: np.ndarray
    customer_rate: np.ndarray


def channel_mix(self_service: float) -> np.ndarray:
    """Customer channel shares with a given self-service (portal + chatbot) share.

    The chatbot keeps its share; the portal takes the rest of the self-service share and
    the assisted channels (phone, email, chat) shrink in proportion.
    """
    base = np.array(world.CUSTOMER_CHANNELS)
    chatbot = base[world.CHANNELS.index("chatbot")]
    mix = base * (1 - self_service) / base[:3].sum()
    mix[world.CHANNELS.index("portal")] = self_service - chatbot
    mix[world.CHANNELS.index("chatbot")] = chatbot
    mix[world.CHANNELS.index("walk_in")] = 0.0
    return mix


def _opened_seconds(
    rng: np.random.Generator, month_start: int, first_day: np.ndarray, ndays: int, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Opening instants (seconds since epoch) and day offsets, uniform from ``first_day`` to month end."""
    day = first_day + np.floor(rng.random(len(first_day)) * (ndays - first_day)).astype(np.int64)
    hour = rng.choice(24, size=len(first_day), p=hours / hours.sum())
    seconds = (month_start + day) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, len(first_day))
    return seconds, day


def month_tickets(
    rng: np.random.Generator,
    *,
    month_start: int,
    ndays: int,
    exposure: CustomerExposure,
    employee_region: np.ndarray,
    queue_hours: np.ndarray,
    planted: world.Planted,
    first_number: int,
) -> TicketMonth:
    """Generate one month of tickets.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream of this month's tickets.
    month_start : int
        First day of the month (days since 1970-01-01).
    ndays : int
        Days in the month.
    exposure : CustomerExposure
        Customers who can raise tickets this month.
    employee_region : ndarray of int8
        Region of every employee (employee number is position + 1).
    queue_hours : ndarray, shape (regions,)
        Expected first response of a customer ticket per region this month.
    planted : Planted
        The planted truths (channel mix and deflection of the portal).
    first_number : int
        Number of the month's first ticket (``INC`` numbers run on across months).

    Returns
    -------
    TicketMonth
        The export and the month's facts.
    """
    n_cust = len(exposure.position)
    share = (ndays - exposure.first_day) / ndays
    rate = np.array(world.TICKET_RATE)[exposure.segment] * np.where(exposure.portal, planted.portal_ticket_multiplier, 1.0)
    counts = rng.poisson(rate * share)
    owner = np.repeat(np.arange(n_cust), counts)
    c_open, c_day = _opened_seconds(rng, month_start, exposure.first_day[owner], ndays, CUSTOMER_HOURS)
    mixes = np.stack([channel_mix(planted.self_service_control), channel_mix(planted.self_service_treatment)])
    c_channel = draw_by_row(rng, mixes, exposure.portal[owner].astype(np.int8))

    n_emp = len(employee_region)
    e_counts = rng.poisson(EMPLOYEE_TICKETS_PER_MONTH, n_emp)
    e_owner = np.repeat(np.arange(n_emp), e_counts)
    e_open, _ = _opened_seconds(rng, month_start, np.zeros(len(e_owner), dtype=np.int64), ndays, EMPLOYEE_HOURS)
    e_channel = draw_by_row(rng, np.array([world.EMPLOYEE_CHANNELS]), np.zeros(len(e_owner), dtype=np.int8))

    is_customer = np.concatenate([np.ones(len(owner), bool), np.zeros(len(e_owner), bool)])
    opened = np.concatenate([c_open, e_open])
    region = np.concatenate([exposure.region[owner], employee_region[e_owner]]).astype(np.int8)
    channel = np.concatenate([c_channel, e_channel])
    requester = np.concatenate([exposure.position[owner] + 1, e_owner + 1])
    n = len(opened)

    services = world.SERVICES
    service_p = np.array([[s.customer_share for s in services], [s.employee_share for s in services]])
    service = draw_by_row(rng, service_p, (~is_customer).astype(np.int8))
    n_cat = np.array([len(s.categories) for s in services])
    first_cat = np.concatenate([[0], np.cumsum(n_cat)[:-1]])
    category = first_cat[service] + np.floor(rng.random(n) * n_cat[service]).astype(np.int64)
    priority = rng.choice(4, size=n, p=world.PRIORITY_SHARES)

    queue = queue_hours[region] * np.where(is_customer, 1.0, EMPLOYEE_QUEUE_FACTOR)
    response_h = queue * world.PRIORITY_RESPONSE[priority] * rng.gamma(RESPONSE_SHAPE, 1 / RESPONSE_SHAPE, n)
    responded = opened + np.maximum(60, np.round(response_h * 3_600)).astype(np.int64)

    fcr = rng.random(n) < np.array(world.FCR_BY_CHANNEL)[channel]
    reassignment = np.where(fcr, 0, rng.poisson(0.6, n))
    work_median = np.where(fcr, 0.25, np.array(world.WORK_MEDIAN_HOURS)[priority])
    work_h = work_median * rng.lognormal(0.0, np.where(fcr, 0.6, 0.9)) * (1 + 0.4 * reassignment)
    work_h = work_h * np.where(rng.random(n) < PENDING_SHARE, 12.0, 1.0)
    resolved = responded + np.maximum(60, np.round(work_h * 3_600)).astype(np.int64)
    reopen = np.where(fcr, 0, rng.choice(3, size=n, p=[0.94, 0.05, 0.01]))

    exported = int(world.EXPORTED_AT.astype(np.int64))
    target_h = np.array(world.SLA_TARGET_HOURS)[priority]
    made_sla = np.where(resolved <= exported, resolved - opened, exported - opened) <= target_h * 3_600

    order = np.argsort(opened, kind="stable")
    group = np.where(fcr, len(services), service)

    def ts(values: np.ndarray) -> pa.Array:
        v = values[order]
        return pa.array(v.astype("datetime64[s]"), mask=v > exported)

    requester_o = requester[order]
    cust_o = is_customer[order]
    caller = pc.if_else(pa.array(cust_o), customer_ids(requester_o), employee_ids(requester_o))
    export = pa.table(
        {
            "number": ids("INC", np.arange(first_number, first_number + n), 8),
            "opened_at": ts(opened),
            "u_first_response_at": ts(responded),
            "resolved_at": ts(resolved),
            "caller_id": caller,
            "u_requester_type": labels(("customer", "employee"), ~cust_o),
            "cmdb_ci": labels([s.name for s in services], service[order]),
            "category": labels([c for s in services for c in s.categories], category[order]),
            "priority": labels(world.PRIORITY_LABELS, priority[order]),
            "contact_type": labels(world.CONTACT_TYPES, channel[order]),
            "location": labels([r.capitalize() for r in world.REGIONS], region[order]),
            "assignment_group": labels([s.team for s in services] + [world.FIRST_LINE_GROUP], group[order]),
            "reassignment_count": pa.array(reassignment[order].astype(np.int64)),
            "reopen_count": pa.array(reopen[order].astype(np.int64)),
            "u_first_contact_resolution": pa.array(fcr[order]),
            "u_sla_target_hours": pa.array(target_h[order]),
            "made_sla": pa.array(made_sla[order]),
        }
    )

    answered = is_customer & (responded <= exported)
    n_regions = len(world.REGIONS)
    hours = (responded - opened) / 3_600
    count = np.bincount(region[answered], minlength=n_regions)
    total = np.bincount(region[answered], weights=hours[answered], minlength=n_regions)
    first_response_mean = np.where(count > 0, total / np.maximum(count, 1), queue_hours)

    customer_day = np.full(n_cust, -1, dtype=np.int64)
    np.maximum.at(customer_day, owner, c_day)
    return TicketMonth(export, first_response_mean, customer_day, rate)
