"""The priority-routing pilot: employee-desk queues randomized, only the slowest tickets answered sooner.

The employee service desk works in queues, one per assignment group and location (the
ticket export's ``assignment_group`` and ``location``: 8 groups x 5 locations = 40 queues
of very unequal sizes). From :attr:`PlantedRouting.start` to :attr:`PlantedRouting.end`,
half of the queues, drawn at random, escalate a ticket still waiting for its first response
after :attr:`PlantedRouting.threshold_hours` to a priority lane, which cuts the rest of its
wait by :attr:`PlantedRouting.wait_cut`. Tickets answered before the threshold are not
touched, so the change moves the slow tail (the P90) and the mean only a little.

The untreated first response of every employee ticket is the one the desk simulation drew
(:mod:`service_desk`): it is the potential outcome without the pilot, ``Y(0)``, and the
rule above gives ``Y(1)``. Tickets of treated queues show ``Y(1)`` in the ticket export;
customer tickets and every other column are untouched, so the region-month truths of
``ground_truth.json`` do not move. Tickets of one location share the location's staffing,
so queues differ a little: a small intra-cluster correlation, reported as truth.

The queue draw uses its own random stream, ``(seed, STREAM)``, so the company's other
streams, and every number drawn from them, stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.experiment.randomized.cluster import icc_anova
from outcomes.simulate import world

ROUTING = "priority-routing"
#: Arms of the pilot: queues without and with the priority lane.
ROUTING_ARMS = ("control", "routing")
#: The pilot's random stream key, after the company's streams (:mod:`company` keys 0-12).
STREAM = 100
#: The routing tool's export: one row per employee ticket of the pilot window.
EXPORT = "priority_routing.csv"
#: The quantile the pilot is judged on.
TAIL = 0.9


@dataclass(frozen=True)
class PlantedRouting:
    """The planted truth of the priority-routing pilot.

    Parameters
    ----------
    start, end : str
        First and last day (ISO) of the pilot: employee tickets opened on these days are in it.
    threshold_hours : float
        A ticket still unanswered after this many hours is escalated (about the P80 of
        employee first responses).
    wait_cut : float
        Share of the wait beyond the threshold that the priority lane removes.
    treated_queues : int
        Queues drawn into the ``routing`` arm (of :func:`queues`).
    """

    start: str = "2025-07-01"
    end: str = "2025-11-30"
    threshold_hours: float = 6.0
    wait_cut: float = 0.5
    treated_queues: int = 20


def queues() -> tuple[str, ...]:
    """Every employee-desk queue: ``"<assignment group> (<Location>)"``, groups in service order."""
    groups = [*dict.fromkeys(s.team for s in world.SERVICES), world.FIRST_LINE_GROUP]
    return tuple(f"{group} ({region.capitalize()})" for group in groups for region in world.REGIONS)


#: The pilot's costs as the portfolio office's register states them (EUR).
ONE_OFF_COST_EUR = 15_000.0
RUN_COST_MONTHLY_EUR = 500.0
#: What the pilot set out to do, as the register and the initiative's parameters say it.
HYPOTHESIS = (
    "Escalating employee tickets still unanswered after six hours to a priority lane cuts the slow tail of "
    "first response (the P90) in the queues that use it, without needing more agents."
)


def registered(register: pa.Table, planted: PlantedRouting | None = None) -> pa.Table:
    """The initiatives register with the pilot's row appended (the other rows as they were).

    Parameters
    ----------
    register : pyarrow.Table
        The register of :func:`~outcomes.simulate.registers.initiatives`.
    planted : PlantedRouting, optional
        The pilot's planted truth (its start).

    Returns
    -------
    pyarrow.Table
        ``register`` and one more row, in its column names and types.
    """
    start = (planted or PlantedRouting()).start
    year, month, day = start.split("-")
    row = {
        "ID": ROUTING, "Initiative": "Priority routing", "Hypothesis": HYPOTHESIS,
        "Evaluation design": "Randomized", "Unit": "queue", "Treated units": None, "Start": f"{day}/{month}/{year}",
        "One-off cost (EUR)": ONE_OFF_COST_EUR, "Run cost per month (EUR)": RUN_COST_MONTHLY_EUR,
        "Primary metric": "first_response_p90_hours", "Guardrails": None, "Active": "Yes",
    }
    return pa.concat_tables([register, pa.Table.from_pylist([row], schema=register.schema)])


def routed_hours(untreated: np.ndarray, planted: PlantedRouting) -> np.ndarray:
    """First response with the priority lane, ``Y(1)``, from the first response without it, ``Y(0)`` (hours)."""
    t = planted.threshold_hours
    return np.where(untreated > t, t + (untreated - t) * (1 - planted.wait_cut), untreated)


class RoutingPilot:
    """Randomize the queues, apply the pilot month by month, and keep its tickets for the export and the truth.

    Parameters
    ----------
    seed : int
        The company's seed; the queue draw uses the stream ``(seed, STREAM)``.
    planted : PlantedRouting, optional
        The pilot's planted truth.
    """

    def __init__(self, seed: int, planted: PlantedRouting | None = None) -> None:
        self.planted = planted or PlantedRouting()
        names = queues()
        treated = np.zeros(len(names), dtype=bool)
        treated[np.random.default_rng([seed, STREAM]).permutation(len(names))[: self.planted.treated_queues]] = True
        self.treated = dict(zip(names, treated.tolist(), strict=True))
        self._parts: list[dict[str, np.ndarray]] = []

    def route(self, export: pa.Table) -> pa.Table:
        """Return a month's ticket export with the pilot's first responses, and keep the pilot's tickets.

        Parameters
        ----------
        export : pyarrow.Table
            The month's ServiceNow export (:func:`~outcomes.simulate.service_desk.month_tickets`).

        Returns
        -------
        pyarrow.Table
            The same table; ``u_first_response_at`` of escalated tickets in ``routing`` queues is earlier.
        """
        opened = export["opened_at"].to_numpy(zero_copy_only=False).astype("datetime64[s]").astype(np.int64)
        first = export["u_first_response_at"]
        answered = pc.is_valid(first).to_numpy(zero_copy_only=False)
        responded = first.fill_null(0).to_numpy(zero_copy_only=False).astype("datetime64[s]").astype(np.int64)
        start = np.datetime64(self.planted.start, "s").astype(np.int64)
        stop = (np.datetime64(self.planted.end, "D") + 1).astype("datetime64[s]").astype(np.int64)
        employee = (export["u_requester_type"].to_numpy(zero_copy_only=False) == "employee")
        pilot = np.flatnonzero(employee & answered & (opened >= start) & (opened < stop))
        if pilot.size == 0:
            return export
        group = export["assignment_group"].to_numpy(zero_copy_only=False)[pilot]
        location = export["location"].to_numpy(zero_copy_only=False)[pilot]
        queue = np.char.add(np.char.add(group.astype(str), " ("), np.char.add(location.astype(str), ")"))
        treated = np.array([self.treated[q] for q in queue], dtype=bool)
        untreated_s = responded[pilot] - opened[pilot]
        untreated_h = untreated_s / 3_600
        escalated = untreated_h > self.planted.threshold_hours
        routed_s = np.where(
            escalated, np.maximum(60, np.round(routed_hours(untreated_h, self.planted) * 3_600)).astype(np.int64), untreated_s
        )
        new = responded.copy()
        new[pilot] = opened[pilot] + np.where(treated, routed_s, untreated_s)
        column = pa.array(new.astype("datetime64[s]"), mask=~answered)
        out = export.set_column(export.schema.get_field_index("u_first_response_at"), "u_first_response_at", column)
        self._parts.append({
            "number": export["number"].to_numpy(zero_copy_only=False)[pilot],
            "queue": queue,
            "treated": treated,
            "opened": opened[pilot],
            "untreated_s": untreated_s,
            "routed_s": routed_s,
        })
        return out

    def _joined(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self._parts]) for k in self._parts[0]} if self._parts else {}

    def export(self) -> pa.Table:
        """The routing tool's export: one row per pilot ticket with its queue, arm and realised first response (hours)."""
        rows = self._joined()
        observed = np.where(rows["treated"], rows["routed_s"], rows["untreated_s"]) / 3_600
        return pa.table({
            "number": pa.array(rows["number"], pa.string()),
            "queue": pa.array(rows["queue"], pa.string()),
            "arm": pa.array(np.array(ROUTING_ARMS)[rows["treated"].astype(int)], pa.string()),
            "opened_at": pa.array(rows["opened"].astype("datetime64[s]")),
            "first_response_hours": pa.array(np.round(observed, 6)),
        })

    def truth(self) -> dict:
        """The pilot's entry of ``ground_truth.json``: effects computed from both potential outcomes of every pilot ticket.

        Returns
        -------
        dict
            Design, arms, clusters, the true P90 and mean differences ``Y(1) - Y(0)`` over the
            pilot's tickets (hours), and the intra-cluster correlations of ``Y(0)`` across queues.
        """
        rows = self._joined()
        y0, y1 = rows["untreated_s"] / 3_600, rows["routed_s"] / 3_600
        codes = np.unique(rows["queue"], return_inverse=True)[1]
        one_arm = np.zeros(codes.max() + 1)
        n = np.bincount(codes).astype(float)
        below = (y0 <= np.quantile(y0, TAIL)).astype(float)
        icc_hours, _ = icc_anova(n, np.bincount(codes, y0), np.bincount(codes, y0**2), one_arm)
        icc_tail, _ = icc_anova(n, np.bincount(codes, below), np.bincount(codes, below), one_arm)
        p = self.planted
        treated = sum(self.treated.values())
        return {
            "id": ROUTING,
            "design": "randomized",
            "unit": "ticket",
            "cluster": "queue",
            "start_date": p.start,
            "end_date": p.end,
            "arms": {ROUTING_ARMS[0]: len(self.treated) - treated, ROUTING_ARMS[1]: treated},
            "control": ROUTING_ARMS[0],
            "clusters": len(self.treated),
            "tickets": int(y0.size),
            "escalation_threshold_hours": p.threshold_hours,
            "wait_cut_beyond_threshold": p.wait_cut,
            "effects": [
                {
                    "metric": "first_response_p90_hours",
                    "control": round(float(np.quantile(y0, TAIL)), 6),
                    "treatment": round(float(np.quantile(y1, TAIL)), 6),
                    "abs": round(float(np.quantile(y1, TAIL) - np.quantile(y0, TAIL)), 6),
                },
                {
                    "metric": "first_response_hours",
                    "control": round(float(y0.mean()), 6),
                    "treatment": round(float(y1.mean()), 6),
                    "abs": round(float((y1 - y0).mean()), 6),
                },
            ],
            "icc_first_response_hours": round(float(icc_hours), 6),
            "icc_at_or_below_p90": round(float(icc_tail), 6),
            "definition": (
                "employee tickets opened from start_date to end_date with a first response; queue = assignment "
                "group and location; effects are P90 and mean of Y(1) minus those of Y(0) over all of them, "
                "Y(0) the first response without the priority lane and Y(1) with it; ICCs are of Y(0) across "
                "queues (one-way ANOVA)"
            ),
        }
