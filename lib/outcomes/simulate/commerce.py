"""One month of the business side: orders, churn, customer surveys and marketing campaigns.

Churn and CSAT follow the planted links: a region-month's churn probability and share of
satisfied answers are linear in the realised mean first response of its customer tickets.
A customer who churns does so on or after their last ticket and order of the month, and
raises nothing afterwards.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.simulate import world
from outcomes.simulate.population import churn_risk, customer_ids, ids, labels
from outcomes.simulate.service_desk import CustomerExposure

ORDER_SIGMA = 0.7
#: Share of active customers answering the CSAT survey in a month, and the NPS survey in a quarter's last month.
CSAT_RESPONSE_RATE = 0.10
NPS_RESPONSE_RATE = 0.08


def _instants(
    rng: np.random.Generator, month_start: int, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform instants (seconds) and day offsets between day offsets ``first`` and ``last`` (inclusive)."""
    day = first + np.floor(rng.random(len(first)) * (last - first + 1)).astype(np.int64)
    seconds = (month_start + day) * 86_400 + rng.integers(6 * 3_600, 23 * 3_600, len(first))
    return seconds, day


def month_orders(
    rng: np.random.Generator, *, month_start: int, ndays: int, exposure: CustomerExposure, first_number: int
) -> tuple[pa.Table, np.ndarray]:
    """Generate one month of orders.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month_start : int
        First day of the month (days since 1970-01-01).
    ndays : int
        Days in the month.
    exposure : CustomerExposure
        Customers who can order this month.
    first_number : int
        Number of the month's first order.

    Returns
    -------
    export : pyarrow.Table
        Order rows, ordered by time.
    last_day : ndarray of int
        Per exposed customer, the day offset of their last order, or -1.
    """
    share = (ndays - exposure.first_day) / ndays
    counts = rng.poisson(np.array(world.ORDER_RATE)[exposure.segment] * share)
    owner = np.repeat(np.arange(len(counts)), counts)
    at, day = _instants(rng, month_start, exposure.first_day[owner], np.full(len(owner), ndays - 1))
    median = np.array(world.ORDER_MEDIAN_EUR)[exposure.segment[owner]]
    revenue = np.round(median * rng.lognormal(0.0, ORDER_SIGMA, len(owner)), 2)
    margin = np.round(revenue * np.clip(rng.normal(0.32, 0.06, len(owner)), 0.05, 0.6), 2)
    order = np.argsort(at, kind="stable")
    export = pa.table(
        {
            "order_number": ids("SO", np.arange(first_number, first_number + len(owner)), 9),
            "customer_no": customer_ids(exposure.position[owner][order] + 1),
            "order_ts": pa.array(at[order].astype("datetime64[s]")),
            "net_amount_eur": pa.array(revenue[order]),
            "gross_margin_eur": pa.array(margin[order]),
        }
    )
    last_day = np.full(len(counts), -1, dtype=np.int64)
    np.maximum.at(last_day, owner, day)
    return export, last_day


def month_churn(
    rng: np.random.Generator,
    *,
    month_start: int,
    ndays: int,
    exposure: CustomerExposure,
    at_risk: np.ndarray,
    probability: np.ndarray,
    last_activity: np.ndarray,
) -> tuple[np.ndarray, pa.Table]:
    """Decide who churns this month and on which day.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month_start, ndays : int
        First day (days since 1970-01-01) and length of the month.
    exposure : CustomerExposure
        This month's customers.
    at_risk : ndarray of bool
        Customers who were customers at the start of the month (new ones cannot churn yet).
    probability : ndarray, shape (regions,)
        Churn probability of an average-risk customer per region.
    last_activity : ndarray of int
        Per customer, the day offset of their last ticket or order this month, or -1.

    Returns
    -------
    churn_day : ndarray of int
        Per customer, the day offset of their last day as a customer, or -1 when they stay.
    export : pyarrow.Table
        The CRM churn export rows (dates written day/month/year).
    """
    p = probability[exposure.region] * churn_risk()[exposure.segment]
    churns = at_risk & (rng.random(len(p)) < p)
    drawn = np.floor(rng.random(len(p)) * ndays).astype(np.int64)
    churn_day = np.where(churns, np.maximum(drawn, last_activity), -1)
    who = np.flatnonzero(churns)
    dates = (month_start + churn_day[who]).astype("datetime64[D]")
    reasons = rng.choice(len(world.CHURN_REASONS), size=len(who), p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    export = pa.table(
        {
            "customer_no": customer_ids(exposure.position[who] + 1),
            "churn_date": pc.strftime(pa.array(dates), format="%d/%m/%Y"),
            "churn_reason": labels(world.CHURN_REASONS, reasons),
        }
    )
    return churn_day, export


def _csat_scores(rng: np.random.Generator, satisfied: np.ndarray) -> np.ndarray:
    """CSAT answers 1-5: 4 or 5 when satisfied, else 1-3."""
    happy = rng.choice([4, 5], size=len(satisfied), p=[0.45, 0.55])
    unhappy = rng.choice([1, 2, 3], size=len(satisfied), p=[0.2, 0.3, 0.5])
    return np.where(satisfied, happy, unhappy)


def _nps_scores(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """NPS answers 0-10 that move with the CSAT share ``p``: promoters p - 0.25, detractors 0.6(1 - p) + 0.02."""
    promoter = p - 0.25
    detractor = 0.6 * (1 - p) + 0.02
    u = rng.random(len(p))
    low = rng.choice(7, size=len(p), p=[0.03, 0.03, 0.06, 0.1, 0.13, 0.25, 0.4])
    passive = rng.integers(7, 9, len(p))
    return np.where(u < promoter, rng.integers(9, 11, len(p)), np.where(u < promoter + detractor, low, passive))


def month_surveys(
    rng: np.random.Generator,
    *,
    month_start: int,
    ndays: int,
    exposure: CustomerExposure,
    churn_day: np.ndarray,
    csat_share: np.ndarray,
    ask_nps: bool,
    first_number: int,
) -> pa.Table:
    """Generate one month of CSAT (and, in a quarter's last month, NPS) answers.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month_start, ndays : int
        First day (days since 1970-01-01) and length of the month.
    exposure : CustomerExposure
        This month's customers.
    churn_day : ndarray of int
        Per customer, their last day (offset) if they churn this month, else -1.
    csat_share : ndarray, shape (regions,)
        Probability of a 4-5 answer per region.
    ask_nps : bool
        Whether the quarterly NPS survey runs this month.
    first_number : int
        Number of the month's first response.

    Returns
    -------
    pyarrow.Table
        Survey-tool rows ordered by time.
    """
    last = np.where(churn_day >= 0, churn_day, ndays - 1)
    kinds = [("CSAT", CSAT_RESPONSE_RATE)] + ([("NPS", NPS_RESPONSE_RATE)] if ask_nps else [])
    who, question = [], []
    for label, rate in kinds:
        picked = np.flatnonzero(rng.random(len(last)) < rate)
        who.append(picked)
        question.append(np.full(len(picked), label))
    who_all = np.concatenate(who)
    question_all = np.concatenate(question)
    at, _ = _instants(rng, month_start, exposure.first_day[who_all], last[who_all])
    p = csat_share[exposure.region[who_all]]
    is_csat = question_all == "CSAT"
    score = np.where(is_csat, _csat_scores(rng, rng.random(len(p)) < p), _nps_scores(rng, p))
    order = np.argsort(at, kind="stable")
    return pa.table(
        {
            "response_id": ids("R", np.arange(first_number, first_number + len(order)), 9),
            "customer_no": customer_ids(exposure.position[who_all][order] + 1),
            "submitted_at": pa.array(at[order].astype("datetime64[s]")),
            "question": pa.array(question_all[order], pa.string()),
            "answer": pa.array(score[order].astype(np.int64)),
        }
    )


def month_campaigns(
    rng: np.random.Generator, *, month: str, channel: np.ndarray, region: np.ndarray, scale: float
) -> pa.Table:
    """One row per paid campaign (channel x region) for the month.

    Conversions are the month's new customers acquired through the campaign's channel in
    its region; spend is conversions times the channel's acquisition cost (with noise and a
    floor), and visits follow spend at the channel's cost per visit.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    month : str
        ``YYYY-MM``.
    channel, region : ndarray of int8
        Acquisition channel and region of each new customer of the month.
    scale : float
        Size of the company (sets the spend floor).

    Returns
    -------
    pyarrow.Table
        The marketing export rows.
    """
    rows = []
    for name, (cac, cost_per_visit) in world.CAMPAIGN_CHANNELS.items():
        code = world.ACQUISITION_CHANNELS.index(name)
        conversions = np.bincount(region[channel == code], minlength=len(world.REGIONS))
        spend = np.round(np.maximum(conversions * cac * rng.lognormal(0.0, 0.15, len(world.REGIONS)), 200 * scale), 2)
        visits = rng.poisson(spend / cost_per_visit)
        for r, region_name in enumerate(world.REGIONS):
            rows.append(
                {
                    "campaign_id": f"CMP-{name.upper().replace('_', '-')}-{region_name.upper()}",
                    "month": month,
                    "campaign_name": f"{name.replace('_', ' ').capitalize()} - {region_name.capitalize()}",
                    "channel": name,
                    "region": region_name,
                    "spend_eur": float(spend[r]),
                    "sessions": int(max(visits[r], conversions[r])),
                    "conversions": int(conversions[r]),
                }
            )
    return pa.Table.from_pylist(rows)
