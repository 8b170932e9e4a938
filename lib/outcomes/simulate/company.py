"""Simulate the company month by month and write its exports and ground truth.

Each month is generated from the customer state and that month's random streams, written
out, and dropped, so memory holds one month of events at a time whatever the scale. Every
random stream is keyed by (seed, stream, month), so the same seed writes the same bytes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from outcomes.errors import ParamsError
from outcomes.simulate import experience, surge, unit_costs, world
from outcomes.simulate.commerce import month_campaigns, month_churn, month_orders, month_surveys
from outcomes.simulate.conditions import Conditions, churn_probability, csat_share, draw_conditions
from outcomes.simulate.it_delivery import employee_survey, month_costs, month_deployments
from outcomes.simulate.exports import ExportWriter, GenerationSummary
from outcomes.simulate.population import (
    SIGNUPS_PER_MONTH,
    Customers,
    Employees,
    day_number,
    starting_customers,
)
from outcomes.simulate.rework import FIXES_EXPORT, Rework, ReworkTally, month_fixes
from outcomes.simulate.registers import CHATBOT, PORTAL, PORTAL_ARMS, RELEASES, assignments, initiatives, service_map
from outcomes.simulate.routing import EXPORT as ROUTING_EXPORT, RoutingPilot, registered
from outcomes.simulate.service_desk import CustomerExposure, month_tickets

#: Random stream keys: (seed, stream, month) seeds each month's generator.
(CONDITIONS, CUSTOMERS, EMPLOYEES, NAMES, SIGNUPS, TICKETS, ORDERS, CHURN, SURVEYS, CAMPAIGNS, DELIVERY, COSTS,
 STAFF_SURVEY, REWORK) = range(14)
MAX_SCALE = 1_000.0
GROUND_TRUTH = "ground_truth.json"


class _Counters:
    """Running numbers of tickets, orders and the rest, so ids run on across months."""

    def __init__(self) -> None:
        self.next = {
            k: 1
            for k in ("ticket", "order", "response", "deployment", "incident", "staff_response", "fix", "ticket_survey")
        }

    def take(self, kind: str, rows: int) -> None:
        """Advance ``kind`` by ``rows``."""
        self.next[kind] += rows


def _check(scale: float, seed: int, planted: world.Planted) -> None:
    if not (isinstance(scale, int | float) and 0 < scale <= MAX_SCALE and math.isfinite(scale)):
        raise ParamsError(
            f"demo: scale must be a number in (0, {MAX_SCALE:g}], got {scale!r}; scale 1 gives about 100,000 tickets"
        )
    if not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"demo: seed must be a non-negative integer, got {seed!r}")
    period = {str(m) for m in world.months()}
    for key in ("portal_start", "chatbot_start", "releases_start"):
        value = getattr(planted, key)
        if value not in period:
            raise ParamsError(
                f"demo: planted {key} is {value!r}; it must be the first day of a month between "
                f"{world.PERIOD_START}-01 and {world.PERIOD_END}-01 (e.g. '2025-07-01')"
            )
    unknown = set(planted.chatbot_regions) - set(world.REGIONS)
    if unknown:
        raise ParamsError(
            f"demo: planted chatbot_regions {sorted(unknown)} are not regions; regions are {', '.join(world.REGIONS)}"
        )


def generate(
    out_dir: str | Path,
    scale: float = 1.0,
    seed: int = 42,
    planted: world.Planted | None = None,
    month_done: Callable[[str, int, int], None] | None = None,
) -> GenerationSummary:
    """Write the demo company's raw exports and ``ground_truth.json``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (``data/raw`` for ``outcomes demo``); created when missing. Existing
        exports of the same names are replaced only once the run has succeeded.
    scale : float
        Size of the company: customers and employees grow in proportion (scale 1 gives about
        100,000 tickets, scale 100 about 10 million), the IT estate with its square root.
    seed : int
        Random seed; the same seed and scale write the same bytes.
    planted : Planted, optional
        The planted truths; defaults to :class:`~outcomes.simulate.world.Planted` ().
    month_done : callable, optional
        Called after each simulated month with its label (``YYYY-MM``), the months done
        and the number of months (a progress bar).

    Returns
    -------
    GenerationSummary
        The files written and their row counts.

    Raises
    ------
    ParamsError
        When the scale, seed or planted dates are outside what the simulator supports.

    Examples
    --------
    >>> summary = generate("data/raw", scale=0.1, seed=7)  # doctest: +SKIP
    >>> summary.rows("tickets/")  # doctest: +SKIP
    10093
    """
    planted = planted or world.Planted()
    _check(scale, seed, planted)
    out_dir = Path(out_dir)
    began = time.perf_counter()
    writer = ExportWriter(out_dir)
    try:
        truth = _simulate(writer, scale, seed, planted, month_done)
        files = writer.publish(GROUND_TRUTH, json.dumps(truth, indent=2) + "\n")
    except BaseException:
        writer.abandon()
        raise
    return GenerationSummary(out_dir, seed, float(scale), files, time.perf_counter() - began)


def _simulate(
    writer: ExportWriter,
    scale: float,
    seed: int,
    planted: world.Planted,
    month_done: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Generate every month into ``writer``; return the ground truth document."""

    def stream(key: int, month: int = 0) -> np.random.Generator:
        return np.random.default_rng([seed, key, month])

    conditions = draw_conditions(stream(CONDITIONS), planted)
    customers = starting_customers(stream(CUSTOMERS), scale, planted.portal_share)
    employees = Employees.hire(stream(EMPLOYEES), scale)
    writer.append_parquet("customers.parquet", customers.records(stream(NAMES), slice(0, customers.count)))
    it_scale = math.sqrt(scale)
    counters = _Counters()
    portal_day = day_number(np.datetime64(planted.portal_start))
    in_experiment = np.zeros(customers.count, dtype=bool)
    arm_rate = np.zeros(2)
    arm_months = np.zeros(2)
    starts = world.months()
    panel = np.zeros((3, len(starts), len(world.REGIONS)))
    rework, rework_tally = Rework(), ReworkTally()
    surge_truth: dict[str, dict[str, int]] = {"baseline_tickets": {}, "extra_tickets": {}}
    unit_truth: list[dict] = []
    routing = RoutingPilot(seed)

    for mi, start in enumerate(starts):
        m0 = day_number(start)
        ndays = int((start.astype("datetime64[M]") + 1).astype("datetime64[D]").astype(np.int64)) - m0
        label = world.month_label(start)
        month_of_year = int(start.astype("datetime64[M]").astype(int) % 12) + 1

        if m0 == portal_day:
            in_experiment[customers.active_at(portal_day)] = True
        rng = stream(SIGNUPS, mi)
        season = 1 + 0.15 * math.cos(2 * math.pi * (month_of_year - 12) / 12) + 0.01 * mi
        signup_days = m0 + rng.integers(0, ndays, rng.poisson(SIGNUPS_PER_MONTH * scale * season))
        new = customers.sign_up(rng, signup_days, planted.portal_share)
        in_experiment = np.concatenate([in_experiment, np.zeros(new.stop - new.start, dtype=bool)])
        writer.append_parquet("customers.parquet", customers.records(stream(NAMES, mi + 1), new))

        pos = np.flatnonzero((customers.signup < m0 + ndays) & (customers.churn >= m0))
        at_risk = customers.signup[pos] < m0
        exposure = CustomerExposure(
            position=pos,
            first_day=np.maximum(customers.signup[pos] - m0, 0).astype(np.int64),
            segment=customers.segment[pos],
            region=customers.region[pos],
            portal=in_experiment[pos] & customers.portal[pos] & (m0 >= portal_day),
        )
        tickets = month_tickets(
            stream(TICKETS, mi),
            month_start=m0,
            ndays=ndays,
            exposure=exposure,
            employee_region=employees.region,
            queue_hours=conditions.queue_hours[mi],
            planted=planted,
            first_number=counters.next["ticket"],
        )
        writer.csv(f"tickets/tickets_{label}.csv", routing.route(tickets.export))
        counters.take("ticket", tickets.export.num_rows)
        answers = experience.month_ticket_surveys(
            stream(experience.STREAM, mi), tickets.export, month=label, first_number=counters.next["ticket_survey"]
        )
        writer.append_csv(experience.EXPORT, answers)
        counters.take("ticket_survey", answers.num_rows)
        surged = surge.month_surge(
            stream(surge.STREAM, mi), tickets.export, label=label, first_number=1 + sum(surge_truth["extra_tickets"].values())
        )
        if surged is not None:
            writer.csv(surge.export_name(label), surged.export)
            surge_truth["baseline_tickets"][label] = surged.baseline
            surge_truth["extra_tickets"][label] = surged.export.num_rows
        if m0 >= portal_day:
            for arm in (0, 1):
                sel = at_risk & in_experiment[pos] & (customers.portal[pos] == bool(arm))
                arm_rate[arm] += tickets.customer_rate[sel].sum()
                arm_months[arm] += sel.sum()

        orders, order_day = month_orders(
            stream(ORDERS, mi), month_start=m0, ndays=ndays, exposure=exposure, first_number=counters.next["order"]
        )
        writer.parquet(f"orders/orders_{label}.parquet", orders)
        counters.take("order", orders.num_rows)

        x = tickets.first_response_mean
        churn_p = churn_probability(planted, conditions, mi, x)
        satisfied_p = csat_share(planted, conditions, mi, x)
        panel[:, mi, :] = x, satisfied_p, churn_p
        churn_day, churned = month_churn(
            stream(CHURN, mi),
            month_start=m0,
            ndays=ndays,
            exposure=exposure,
            at_risk=at_risk,
            probability=churn_p,
            last_activity=np.maximum(tickets.customer_day, order_day),
        )
        leaving = churn_day >= 0
        customers.churn[pos[leaving]] = m0 + churn_day[leaving]
        writer.append_csv("churn.csv", churned)

        surveys = month_surveys(
            stream(SURVEYS, mi),
            month_start=m0,
            ndays=ndays,
            exposure=exposure,
            churn_day=churn_day,
            csat_share=satisfied_p,
            ask_nps=month_of_year % 3 == 0,
            first_number=counters.next["response"],
        )
        writer.append_parquet("surveys.parquet", surveys)
        counters.take("response", surveys.num_rows)
        writer.append_csv(
            "campaigns.csv",
            month_campaigns(
                stream(CAMPAIGNS, mi), month=label, channel=customers.channel[new], region=customers.region[new], scale=scale
            ),
        )

        deployments, incidents = month_deployments(
            stream(DELIVERY, mi),
            month=mi,
            month_start=m0,
            ndays=ndays,
            planted=planted,
            it_scale=it_scale,
            first_deployment=counters.next["deployment"],
            first_incident=counters.next["incident"],
        )
        writer.append_csv("deployments.csv", deployments)
        writer.append_csv("incidents.csv", incidents)
        counters.take("deployment", deployments.num_rows)
        counters.take("incident", incidents.num_rows)
        fixes = month_fixes(
            stream(REWORK, mi), deployments, rework=rework, first_fix=counters.next["fix"], tally=rework_tally
        )
        writer.append_csv(FIXES_EXPORT, fixes)
        counters.take("fix", fixes.num_rows)
        costs = month_costs(stream(COSTS, mi), month=label, tickets=tickets.export.num_rows, it_scale=it_scale)
        writer.append_csv("it_costs.csv", costs)
        unit_truth.append(
            unit_costs.month_truth(
                label, costs, [tickets.export] + ([surged.export] if surged is not None else []),
                orders=orders.num_rows, active=len(pos), retained=int((at_risk & ~leaving).sum()),
            )
        )
        if month_of_year % 3 == 0:
            staff = employee_survey(
                stream(STAFF_SURVEY, mi),
                month_start=m0,
                ndays=ndays,
                employee_region=employees.region,
                queue_hours=conditions.queue_hours[mi],
                planted=planted,
                first_number=counters.next["staff_response"],
            )
            writer.append_csv("employee_survey.csv", staff)
            counters.take("staff_response", staff.num_rows)
        if month_done is not None:
            month_done(label, mi + 1, len(starts))

    randomised = np.flatnonzero(in_experiment)
    writer.parquet("assignments.parquet", assignments(randomised, customers.portal[randomised], planted.portal_start))
    writer.csv("service_map.csv", service_map())
    writer.csv("initiatives.csv", registered(initiatives(planted), routing.planted))
    writer.csv(ROUTING_EXPORT, routing.export())
    tickets_per_customer = arm_rate / np.maximum(arm_months, 1)
    truth = ground_truth(
        scale=scale,
        seed=seed,
        planted=planted,
        conditions=conditions,
        panel=panel,
        tickets_per_customer=tickets_per_customer,
        randomised=len(randomised),
        customers=customers,
    )
    truth["deployment_rework"] = rework_tally.truth(rework)
    truth["initiatives"].append(routing.truth())
    return truth | {
        "unit_costs": {"allocation": unit_costs.POLICY, "months": unit_truth},
        "demand_surge": {
            "journey": surge.JOURNEY,
            "services": list(surge.services()),
            "months": list(surge.MONTHS),
            "relative": surge.RELATIVE,
            "backlog_days": surge.BACKLOG_DAYS,
            **surge_truth,
            "note": f"extra customer tickets about the journey's services, in {surge.export_name('<YYYY-MM>')}",
        },
    }


def ground_truth(
    *,
    scale: float,
    seed: int,
    planted: world.Planted,
    conditions: Conditions,
    panel: np.ndarray,
    tickets_per_customer: np.ndarray,
    randomised: int,
    customers: Customers,
) -> dict:
    """The planted truth in the shape of the cross-team contract, with detail under extra keys.

    Parameters
    ----------
    scale, seed : float, int
        The run's scale and seed.
    planted : Planted
        The planted truths.
    conditions : Conditions
        The drawn region-month conditions.
    panel : ndarray, shape (3, months, regions)
        Realised mean first response, planted CSAT share and churn probability per region-month.
    tickets_per_customer : ndarray, shape (2,)
        Planted expected tickets per customer-month of the control and portal arms after the start.
    randomised : int
        Customers in the portal experiment.
    customers : Customers
        The final customer state.

    Returns
    -------
    dict
        The JSON document (aggregates only; no customer appears in it).
    """
    control, treatment = (round(float(v), 6) for v in tickets_per_customer)
    months = [world.month_label(m) for m in world.months()]
    return {
        "seed": seed,
        "scale": float(scale),
        "period_start": world.PERIOD_START,
        "period_end": world.PERIOD_END,
        "currency": world.CURRENCY,
        "regions": list(world.REGIONS),
        "segments": list(world.SEGMENTS),
        "links": {
            "panel": "region x month",
            "x": "first_response_mean_hours of customer tickets in the region-month",
            "csat_per_hour": planted.csat_per_hour,
            "churn_rate_per_hour": planted.churn_rate_per_hour,
            "reference_first_response_hours": planted.reference_first_response_hours,
            "note": (
                "csat and churn probabilities of a region-month are linear in the realised mean first response "
                "of its customer tickets (opened in the month, first response present in the export); churn is "
                "per customer at the start of the month, scaled by segment risk normalised to mean 1"
            ),
        },
        "initiatives": [
            {
                "id": PORTAL,
                "design": "randomized",
                "unit": "customer",
                "start_date": planted.portal_start,
                "arms": {PORTAL_ARMS[0]: 1 - planted.portal_share, PORTAL_ARMS[1]: planted.portal_share},
                "control": PORTAL_ARMS[0],
                "effects": [
                    {
                        "metric": "self_service_rate",
                        "control": planted.self_service_control,
                        "treatment": planted.self_service_treatment,
                        "abs": round(planted.self_service_treatment - planted.self_service_control, 6),
                    },
                    {
                        "metric": "tickets_per_customer",
                        "control": control,
                        "treatment": treatment,
                        "abs": round(treatment - control, 6),
                        "relative": round(planted.portal_ticket_multiplier - 1, 6),
                        "definition": "expected tickets per customer-month, over months the customer began as a customer",
                    },
                    {"metric": "csat", "abs": 0.0},
                ],
                "randomised_customers": randomised,
            },
            {
                "id": CHATBOT,
                "design": "did",
                "unit": "region",
                "treated_units": list(planted.chatbot_regions),
                "start_date": planted.chatbot_start,
                "effects": [{"metric": "first_response_mean_hours", "abs": planted.chatbot_first_response_hours}],
                "effects_via_links": [
                    {"metric": metric, "abs": round(planted.chatbot_first_response_hours * slope, 6)}
                    for metric, slope in (("csat", planted.csat_per_hour), ("churn_rate", planted.churn_rate_per_hour))
                ],
            },
            {
                "id": RELEASES,
                "design": "its",
                "unit": "service",
                "start_date": planted.releases_start,
                "effects": [{"metric": "lead_time_hours", "abs": planted.lead_time_drop_hours}],
                "other_effects": [
                    {"metric": "deployment_frequency", "relative": round(planted.releases_frequency_multiplier - 1, 6)},
                    {"metric": "change_failure_rate", "abs": 0.0},
                ],
                "pre_trend_hours_per_month": planted.lead_time_trend_hours,
                "mean_lead_time_first_month_hours": planted.lead_time_base_hours,
            },
        ],
        "region_month": [
            {
                "month": months[mi],
                "region": region,
                "first_response_mean_hours": round(float(panel[0, mi, ri]), 6),
                "expected_first_response_hours": round(float(conditions.queue_hours[mi, ri]), 6),
                "csat_probability": round(float(panel[1, mi, ri]), 6),
                "churn_probability": round(float(panel[2, mi, ri]), 6),
                "chatbot": bool(conditions.chatbot[mi, ri]),
            }
            for mi in range(len(months))
            for ri, region in enumerate(world.REGIONS)
        ],
        "customers_created": customers.count,
        "watermelon": experience.truth(),
    }
