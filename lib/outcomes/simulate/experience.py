"""Per-ticket experience surveys (HappySignals style) and the planted watermelon quarter.

When a ticket is resolved its requester is asked two questions: how happy they were with
the service (0-10) and how much work time they felt they lost (optional). A share of them
answers a few hours later. Happiness depends on whether the ticket met its SLA; lost time
is log-normal around a median that doubles when the SLA was missed.

The plant: for one quarter, one service's users are much less happy and lose about three
times as much time, whatever the SLA says, while its tickets (and so its SLA attainment)
are generated exactly as every other service's. That is a watermelon: green outside (the
SLA is met), red inside (the experience is not).

Everything here draws from its own random stream (:data:`STREAM`, keyed by seed and
month), so the company's other exports are the same bytes with or without these surveys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from outcomes.simulate import world
from outcomes.simulate.population import ids

#: Stream key of the surveys: ``numpy.random.default_rng([seed, STREAM, month])``, apart from the company's keys.
STREAM = 100
#: Export file of the surveys.
EXPORT = "ticket_surveys.csv"
#: Share of resolved tickets whose requester answers.
RESPONSE_SHARE = 0.3
#: Mean hours from resolution to the answer (exponential).
ANSWER_DELAY_HOURS = 6.0
#: Share of answers that give no lost time (the question is optional).
NO_LOST_TIME_SHARE = 0.15
#: Spread (sigma of the log) of the perceived lost time.
LOST_TIME_SIGMA = 0.8


@dataclass(frozen=True)
class Mood:
    """How answers are drawn: shares of 9-10 (positive) and 0-6 (negative), and the median lost time.

    Attributes
    ----------
    positive, negative : float
        Shares of happiness answers of 9-10 and of 0-6 (the rest answer 7-8).
    lost_minutes_median : float
        Median perceived lost time, in minutes.
    """

    positive: float
    negative: float
    lost_minutes_median: float

    @property
    def happiness(self) -> float:
        """Expected happiness: % positive - % negative."""
        return round(100.0 * (self.positive - self.negative), 6)

    @property
    def lost_time_hours(self) -> float:
        """Expected lost time in hours (mean of the log-normal)."""
        return round(self.lost_minutes_median * float(np.exp(LOST_TIME_SIGMA**2 / 2)) / 60.0, 6)


@dataclass(frozen=True)
class WatermelonPlant:
    """The planted watermelon quarter.

    Attributes
    ----------
    service : str
        The service whose users suffer.
    months : tuple of str
        The months (``YYYY-MM``) of the tickets affected (by month opened).
    sla_met, sla_missed : Mood
        Answers about tickets that met and that missed their SLA, everywhere else.
    planted : Mood
        Answers about the service's tickets in those months, whatever their SLA.
    """

    service: str = "Payments"
    months: tuple[str, ...] = ("2025-10", "2025-11", "2025-12")
    sla_met: Mood = Mood(positive=0.88, negative=0.04, lost_minutes_median=60.0)
    sla_missed: Mood = Mood(positive=0.60, negative=0.20, lost_minutes_median=120.0)
    planted: Mood = Mood(positive=0.30, negative=0.45, lost_minutes_median=180.0)


PLANT = WatermelonPlant()


def _scores(rng: np.random.Generator, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Happiness answers 0-10: 9-10 with ``positive``, 0-6 with ``negative``, else 7-8."""
    u = rng.random(len(positive))
    band = np.where(u < positive, 2, np.where(u < positive + negative, 0, 1))
    low = rng.choice(7, size=len(u), p=np.array([1, 1, 1, 2, 3, 4, 4]) / 16)
    mid = 7 + rng.integers(0, 2, len(u))
    high = 9 + rng.integers(0, 2, len(u))
    return np.choose(band, [low, mid, high])


def month_ticket_surveys(
    rng: np.random.Generator,
    tickets: pa.Table,
    *,
    month: str,
    first_number: int,
    plant: WatermelonPlant = PLANT,
) -> pa.Table:
    """The answers to the surveys of one month's tickets (the HappySignals response export).

    Parameters
    ----------
    rng : numpy.random.Generator
        This month's survey stream (:data:`STREAM`).
    tickets : pyarrow.Table
        The month's ticket export (:func:`~outcomes.simulate.service_desk.month_tickets`).
    month : str
        The tickets' month, ``YYYY-MM``.
    first_number : int
        Number of the month's first response.
    plant : WatermelonPlant
        The planted watermelon.

    Returns
    -------
    pyarrow.Table
        ``Response ID``, ``Ticket``, ``Respondent``, ``Submitted``, ``Happiness`` and
        ``Lost time (min)`` (empty when not given); answers after the export instant are left out.
    """
    resolved = tickets.column("resolved_at").to_numpy(zero_copy_only=False).astype("datetime64[s]")
    is_resolved = ~np.isnat(resolved)
    n = tickets.num_rows
    answers = is_resolved & (rng.random(n) < RESPONSE_SHARE)
    delay = np.round(rng.exponential(ANSWER_DELAY_HOURS * 3_600, n)).astype(np.int64)
    submitted = np.where(is_resolved, resolved, np.datetime64(0, "s")) + delay.astype("timedelta64[s]")
    answers &= submitted <= world.EXPORTED_AT

    made_sla = tickets.column("made_sla").to_numpy(zero_copy_only=False).astype(bool)
    service = np.asarray(tickets.column("cmdb_ci").to_pylist(), dtype=object)
    planted = (service == plant.service) & (month in plant.months)
    moods = (plant.sla_missed, plant.sla_met, plant.planted)
    which = np.where(planted, 2, made_sla.astype(np.int64))
    positive = np.array([m.positive for m in moods])[which]
    negative = np.array([m.negative for m in moods])[which]
    median = np.array([m.lost_minutes_median for m in moods])[which]
    happiness = _scores(rng, positive, negative)
    lost = np.round(median * rng.lognormal(0.0, LOST_TIME_SIGMA, n) / 5.0) * 5.0
    gives_lost = rng.random(n) >= NO_LOST_TIME_SHARE

    keep = np.flatnonzero(answers)
    k = len(keep)
    return pa.table(
        {
            "Response ID": ids("HS", np.arange(first_number, first_number + k), 8),
            "Ticket": tickets.column("number").take(pa.array(keep)),
            "Respondent": tickets.column("u_requester_type").take(pa.array(keep)),
            "Submitted": pa.array(submitted[keep]),
            "Happiness": pa.array(happiness[keep].astype(np.int64)),
            "Lost time (min)": pa.array(lost[keep].astype(np.int64), mask=~gives_lost[keep]),
        }
    )


def truth(plant: WatermelonPlant = PLANT) -> dict:
    """The planted watermelon as ``ground_truth.json`` reports it (expected values; aggregates only)."""
    return {
        "service": plant.service,
        "months": list(plant.months),
        "detector": "sla_attainment on its target while ticket_happiness or lost_time_hours is off its target",
        "sla": "untouched: the service's tickets are generated as every other service's",
        "ticket_happiness": {
            "planted": plant.planted.happiness,
            "sla_met": plant.sla_met.happiness,
            "sla_missed": plant.sla_missed.happiness,
        },
        "lost_time_hours": {
            "planted": plant.planted.lost_time_hours,
            "sla_met": plant.sla_met.lost_time_hours,
            "sla_missed": plant.sla_missed.lost_time_hours,
        },
        "response_share": RESPONSE_SHARE,
        "definition": (
            "per-ticket answers by month of the ticket's opening: happiness = % of 9-10 minus % of 0-6, "
            "lost time = mean of the answers giving it, in hours"
        ),
    }


__all__ = ["EXPORT", "PLANT", "STREAM", "Mood", "WatermelonPlant", "month_ticket_surveys", "truth"]
