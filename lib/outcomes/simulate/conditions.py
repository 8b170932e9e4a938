"""The region-month conditions that drive the planted links.

Each region-month gets a mean first response (region effect + season + a staffing shock
+ the chatbot rollout). The realised mean first response of its customer tickets then
sets that region-month's CSAT and churn probabilities linearly, with the planted slopes.
Because the staffing shocks vary independently of region and month, a regression with
region and month fixed effects on the region x month panel recovers those slopes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from outcomes.errors import ParamsError
from outcomes.simulate import world
from outcomes.simulate.world import Planted


@dataclass(frozen=True)
class Conditions:
    """Draws that hold for the whole period.

    Attributes
    ----------
    queue_hours : ndarray, shape (months, regions)
        Expected first response of a customer ticket in each region-month, in hours.
    chatbot : ndarray of bool, shape (months, regions)
        Region-months where the chatbot runs.
    csat_month, churn_month : ndarray, shape (months,)
        Month effects on the CSAT share and the churn probability.
    """

    queue_hours: np.ndarray
    chatbot: np.ndarray
    csat_month: np.ndarray
    churn_month: np.ndarray


def draw_conditions(rng: np.random.Generator, planted: Planted) -> Conditions:
    """Draw the region-month first-response means and the month effects.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    planted : Planted
        The planted truths.

    Returns
    -------
    Conditions
        The drawn conditions.
    """
    starts = world.months()
    n_months, n_regions = len(starts), len(world.REGIONS)
    month_of_year = starts.astype("datetime64[M]").astype(int) % 12
    season = planted.first_response_season_hours * np.cos(2 * np.pi * (month_of_year - 11) / 12)
    shocks = planted.staffing_shock_sd_hours * np.clip(rng.standard_normal((n_months, n_regions)), -2.5, 2.5)
    launched = starts >= np.datetime64(planted.chatbot_start)
    chatbot = launched[:, None] & np.isin(world.REGIONS, planted.chatbot_regions)[None, :]
    queue = (
        planted.first_response_base_hours
        + np.asarray(planted.first_response_region_hours)[None, :]
        + season[:, None]
        + shocks
        + planted.chatbot_first_response_hours * chatbot
    )
    if queue.min() <= 0:
        raise ParamsError(
            "planted first-response means must stay positive, but the smallest region-month mean is "
            f"{queue.min():.2f} hours; raise first_response_base_hours or shrink the chatbot effect"
        )
    return Conditions(
        queue_hours=queue,
        chatbot=chatbot,
        csat_month=rng.normal(0.0, 0.01, n_months),
        churn_month=rng.normal(0.0, 0.0015, n_months),
    )


def csat_share(planted: Planted, conditions: Conditions, month: int, first_response: np.ndarray) -> np.ndarray:
    """Probability that a CSAT answer is 4 or 5, per region, given the realised mean first response."""
    p = (
        planted.csat_base
        + np.asarray(planted.csat_region)
        + conditions.csat_month[month]
        + planted.csat_per_hour * (first_response - planted.reference_first_response_hours)
    )
    return np.clip(p, 0.02, 0.99)


def churn_probability(planted: Planted, conditions: Conditions, month: int, first_response: np.ndarray) -> np.ndarray:
    """Monthly churn probability of an average-risk customer, per region, given the realised mean first response."""
    p = (
        planted.churn_base
        + np.asarray(planted.churn_region)
        + conditions.churn_month[month]
        + planted.churn_rate_per_hour * (first_response - planted.reference_first_response_hours)
    )
    return np.clip(p, 0.001, 0.5)
