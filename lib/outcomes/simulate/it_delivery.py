"""One month of IT delivery: deployments, major incidents, IT costs and the employee survey.

The IT estate (services, deployments, incidents) grows with the square root of scale: a
company a hundred times larger has ten times the engineering activity, not a hundred.
Deployment lead times carry the planted "faster releases" change: a level drop in the
mean lead time from its start date, the same for every service.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.simulate import world
from outcomes.simulate.population import employee_ids, ids, labels

DEPLOYS_PER_SERVICE_MONTH = 8.0
#: Gamma shape of lead times around their mean (coefficient of variation 0.6).
LEAD_TIME_SHAPE = 2.8
CHANGE_FAILURE_RATE = 0.15
#: Share of failed deployments that cause a major incident.
INCIDENT_PER_FAILURE = 0.5
INCIDENTS_PER_SERVICE_MONTH = 0.5
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
COST_LINES = {"licences": 0.30, "infrastructure": 0.35, "vendors": 0.15, "staff": 0.20}
#: Service-desk cost per ticket (agents) and its tooling cost per ticket, EUR.
DESK_STAFF_PER_TICKET = 19.5
DESK_TOOLING_PER_TICKET = 1.2
DESK_TOOLING_FIXED = 4_500.0
EMPLOYEE_SURVEY_RESPONSE_RATE = 0.35

DEPLOYED = tuple(s for s in world.SERVICES if s.slug is not None)
#: Relative lead time of each deployed service, evenly spread and averaging exactly 1.
LEAD_FACTOR = np.linspace(0.7, 1.3, len(DEPLOYED))


def _iso(seconds: np.ndarray, fmt: str = "%Y-%m-%dT%H:%M:%SZ", mask: np.ndarray | None = None) -> pa.Array:
    """Format instants (seconds since epoch, UTC) as text; masked entries are empty."""
    return pc.strftime(pa.array(seconds.astype("datetime64[s]"), mask=mask), format=fmt)


def month_deployments(
    rng: np.random.Generator,
    *,
    month: int,
    month_start: int,
    ndays: int,
    planted: world.Planted,
    it_scale: float,
    first_deployment: int,
    first_incident: int,
) -> tuple[pa.Table, pa.Table]:
    """Generate one month of production deployments and the major incidents they and others cause.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month : int
        Month index in the period (0 for the first month).
    month_start, ndays : int
        First day (days since 1970-01-01) and length of the month.
    planted : Planted
        The planted truths (faster releases).
    it_scale : float
        Size of the IT estate (square root of the company scale).
    first_deployment, first_incident : int
        Numbers of the month's first deployment and first incident.

    Returns
    -------
    deployments, incidents : pyarrow.Table
        The CI/CD export rows and the major-incident export rows of the month.
    """
    after = month_start >= int(np.datetime64(planted.releases_start, "D").astype(np.int64))
    rate = DEPLOYS_PER_SERVICE_MONTH * it_scale * (planted.releases_frequency_multiplier if after else 1.0)
    counts = rng.poisson(rate, len(DEPLOYED))
    service = np.repeat(np.arange(len(DEPLOYED)), counts)
    n = len(service)
    day = rng.integers(0, ndays, n)
    at = (month_start + day) * 86_400 + rng.integers(7 * 3_600, 19 * 3_600, n)
    mean = planted.lead_time_base_hours * LEAD_FACTOR[service] + planted.lead_time_trend_hours * month
    mean = mean + (planted.lead_time_drop_hours if after else 0.0)
    lead = np.round(rng.gamma(LEAD_TIME_SHAPE, mean / LEAD_TIME_SHAPE), 2)
    failed = rng.random(n) < CHANGE_FAILURE_RATE
    restored = at + np.round(rng.lognormal(np.log(2.5), 0.8, n) * 3_600).astype(np.int64)
    order = np.argsort(at, kind="stable")
    at, service, lead, failed, restored = at[order], service[order], lead[order], failed[order], restored[order]
    exported = int(world.EXPORTED_AT.astype(np.int64))
    dep_ids = ids("dpl-", np.arange(first_deployment, first_deployment + n), 7)
    deployments = pa.table(
        {
            "id": dep_ids,
            "service": labels([s.slug for s in DEPLOYED], service),
            "environment": pa.array(np.full(n, "production"), pa.string()),
            "finished_at": _iso(at),
            "lead_time_hours": pa.array(lead),
            "status": pa.array(np.where(failed, "failed", "success"), pa.string()),
            "restored_at": _iso(restored, mask=~failed | (restored > exported)),
        }
    )

    caused = np.flatnonzero(failed & (rng.random(n) < INCIDENT_PER_FAILURE))
    all_names = np.array([s.name for s in world.SERVICES])
    deployed_names = np.array([s.name for s in DEPLOYED])
    k = rng.poisson(INCIDENTS_PER_SERVICE_MONTH * it_scale, len(world.SERVICES))
    other_service = np.repeat(np.arange(len(world.SERVICES)), k)
    n_other = len(other_service)
    other_start = (month_start + rng.integers(0, ndays, n_other)) * 86_400 + rng.integers(0, 86_400, n_other)
    other_end = other_start + np.round(rng.lognormal(np.log(50), 0.9, n_other) * 60).astype(np.int64)
    start = np.concatenate([at[caused] + rng.integers(300, 1_800, len(caused)), other_start])
    end = np.concatenate([np.maximum(restored[caused], at[caused] + 1_800), other_end])
    names = np.concatenate([deployed_names[service[caused]], all_names[other_service]])
    cause = pa.concat_arrays([dep_ids.take(pa.array(caused, pa.int64())), pa.nulls(n_other, pa.string())])
    m = len(start)
    region = rng.integers(0, len(world.REGIONS), m)
    all_regions = rng.random(m) < 0.6
    order = np.argsort(start, kind="stable")
    ongoing = end > exported
    minutes = np.round((np.minimum(end, exported) - start) / 60, 1)
    incidents = pa.table(
        {
            "incident": ids("MI", np.arange(first_incident, first_incident + m), 7),
            "service": pa.array(names[order], pa.string()),
            "started": _iso(start[order], "%Y-%m-%d %H:%M"),
            "restored": _iso(end[order], "%Y-%m-%d %H:%M", mask=ongoing[order]),
            "outage_min": pa.array(minutes[order]),
            "severity": pa.array(np.array(SEVERITIES)[rng.choice(4, size=m, p=[0.1, 0.3, 0.4, 0.2])][order], pa.string()),
            "caused_by_deployment": cause.take(pa.array(order)),
            "affected_region": pa.array(np.array(world.REGIONS)[region[order]], pa.string(), mask=all_regions[order]),
        }
    )
    return deployments, incidents


def month_costs(rng: np.random.Generator, *, month: str, tickets: int, it_scale: float) -> pa.Table:
    """IT costs of one month: every service by cost line, and the service desk (staff, tooling).

    The desk's staff cost follows the month's ticket volume, so cost per ticket is about
    EUR 21 and falls when tickets are deflected.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month : str
        ``YYYY-MM``.
    tickets : int
        Tickets opened in the month.
    it_scale : float
        Size of the IT estate.

    Returns
    -------
    pyarrow.Table
        Finance export rows.
    """
    lines = list(COST_LINES)
    base = np.array([[s.monthly_cost_eur * COST_LINES[line] for line in lines] for s in world.SERVICES]) * it_scale
    amount = np.round(base * rng.lognormal(0.0, 0.04, base.shape), 2).ravel()
    centre = np.repeat([s.name for s in world.SERVICES], len(lines))
    line = np.tile(lines, len(world.SERVICES))
    desk = np.round(
        np.array([tickets * DESK_STAFF_PER_TICKET, DESK_TOOLING_FIXED * it_scale + tickets * DESK_TOOLING_PER_TICKET])
        * rng.lognormal(0.0, 0.03, 2),
        2,
    )
    return pa.table(
        {
            "period": pa.array(np.full(len(amount) + 2, month), pa.string()),
            "cost_centre": pa.array(np.concatenate([centre, [world.SERVICE_DESK] * 2]), pa.string()),
            "cost_line": pa.array(np.concatenate([line, ["staff", "tooling"]]), pa.string()),
            "amount_eur": pa.array(np.concatenate([amount, desk])),
        }
    )


def employee_survey(
    rng: np.random.Generator, *, month_start: int, ndays: int, employee_region: np.ndarray, queue_hours: np.ndarray,
    planted: world.Planted, first_number: int,
) -> pa.Table:
    """The quarterly employee IT satisfaction survey (1-5), run in a quarter's last month.

    Satisfaction falls a little when the desk is slow in the employee's region.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month_start, ndays : int
        First day (days since 1970-01-01) and length of the month.
    employee_region : ndarray of int8
        Region of every employee.
    queue_hours : ndarray, shape (regions,)
        The month's expected first response of customer tickets per region.
    planted : Planted
        The planted truths (reference first response).
    first_number : int
        Number of the first response.

    Returns
    -------
    pyarrow.Table
        Survey-tool rows.
    """
    who = np.flatnonzero(rng.random(len(employee_region)) < EMPLOYEE_SURVEY_RESPONSE_RATE)
    n = len(who)
    region = employee_region[who]
    at = (month_start + rng.integers(0, ndays, n)) * 86_400 + rng.integers(8 * 3_600, 18 * 3_600, n)
    p = np.clip(0.72 - 0.03 * (queue_hours[region] - planted.reference_first_response_hours), 0.05, 0.95)
    satisfied = rng.random(n) < p
    score = np.where(satisfied, rng.choice([4, 5], size=n, p=[0.6, 0.4]), rng.choice([1, 2, 3], size=n, p=[0.15, 0.3, 0.55]))
    order = np.argsort(at, kind="stable")
    return pa.table(
        {
            "Response ID": ids("ES", np.arange(first_number, first_number + n), 7),
            "Employee ID": employee_ids(who[order] + 1),
            "Submitted": _iso(at[order], "%m/%d/%Y %H:%M"),
            "IT satisfaction": pa.array(score[order].astype(np.int64)),
            "Region": labels([r.capitalize() for r in world.REGIONS], region[order]),
        }
    )
