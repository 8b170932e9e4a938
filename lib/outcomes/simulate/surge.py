"""A planted demand surge: customer tickets from one customer journey up 40% for two months.

The surge's tickets are *additional* rows, written to their own file per month
(:func:`export_name`: ``tickets_surge/tickets_surge_<YYYY-MM>.csv``, the layout of the month's
ticket export, mapped by its own source in ``params/sources.yaml``) from a random stream of
their own, so every other export stays byte-identical. Each extra ticket copies a
customer ticket of the same month about a service of the journey (its requester, region,
channel, category, priority and handling times), moved by a whole number of days within the
month and given a new number. The desk cannot keep up: each extra ticket waits a further
exponential delay (mean :data:`BACKLOG_DAYS` days) before it is resolved, so in the surge
months more tickets are opened than resolved on the journey's services.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.simulate import world
from outcomes.simulate.population import ids

#: Random stream key of the surge (the company's keys are 0-12).
STREAM = 101
JOURNEY = "deliver"
MONTHS = ("2025-11", "2025-12")
RELATIVE = 0.40
#: Mean extra wait (days) of a surge ticket before it is resolved: the desk falls behind.
BACKLOG_DAYS = 30.0
#: Surge tickets are numbered from here (``INC9xxxxxxx``), apart from the month's running numbers.
FIRST_NUMBER = 90_000_000


@dataclass(frozen=True)
class SurgeMonth:
    """The extra tickets of one surge month.

    Attributes
    ----------
    export : pyarrow.Table
        The extra rows, in the layout of the month's ticket export.
    baseline : int
        Customer tickets about the journey's services in the month's own export.
    """

    export: pa.Table
    baseline: int


def export_name(label: str) -> str:
    """The surge's export of month ``label`` (``YYYY-MM``), relative to the output folder."""
    return f"tickets_surge/tickets_surge_{label}.csv"


def services() -> tuple[str, ...]:
    """The services of the surging journey (their CMDB names)."""
    return tuple(s.name for s in world.SERVICES if s.journey == JOURNEY)


def month_surge(rng: np.random.Generator, tickets: pa.Table, *, label: str, first_number: int) -> SurgeMonth | None:
    """The extra tickets of ``label``, or ``None`` outside the surge months.

    Parameters
    ----------
    rng : numpy.random.Generator
        The surge's own random stream for the month.
    tickets : pyarrow.Table
        The month's ticket export (ServiceNow layout).
    label : str
        The month, ``YYYY-MM``.
    first_number : int
        Number of the first extra ticket.

    Returns
    -------
    SurgeMonth or None
        ``round(RELATIVE x baseline)`` extra tickets.
    """
    if label not in MONTHS:
        return None
    on_journey = pc.and_(pc.is_in(tickets["cmdb_ci"], pa.array(services())), pc.equal(tickets["u_requester_type"], "customer"))
    pool = np.flatnonzero(on_journey.to_numpy(zero_copy_only=False))
    n = int(round(RELATIVE * len(pool)))
    rows = tickets.take(pa.array(rng.choice(pool, size=n, replace=True)))
    start = np.datetime64(f"{label}-01T00:00:00", "s").astype(np.int64)
    end = (np.datetime64(label, "M") + 1).astype("datetime64[s]").astype(np.int64)
    opened = rows["opened_at"].to_numpy(zero_copy_only=False).astype("datetime64[s]").astype(np.int64)
    day = (opened - start) // 86_400
    ndays = (end - start) // 86_400
    shift = (rng.integers(0, ndays, n) - day) * 86_400
    delay = np.round(rng.exponential(BACKLOG_DAYS * 86_400, n)).astype(np.int64)
    exported = int(world.EXPORTED_AT.astype(np.int64))

    def moved(column: str, extra: np.ndarray | int = 0) -> pa.Array:
        raw = rows[column].to_numpy(zero_copy_only=False).astype("datetime64[s]")
        missing = np.isnat(raw)
        values = np.where(missing, 0, raw.astype(np.int64) + shift + extra)
        late = missing | (values > exported)
        return pa.array(np.where(late, 0, values).astype("datetime64[s]"), mask=late)

    opened_new = opened + shift
    responded = moved("u_first_response_at")
    resolved = moved("resolved_at", delay)
    resolved_s = resolved.to_numpy(zero_copy_only=False).astype("datetime64[s]").astype(np.int64)
    waited = np.where(pc.is_null(resolved).to_numpy(zero_copy_only=False), exported, resolved_s) - opened_new
    target = rows["u_sla_target_hours"].to_numpy(zero_copy_only=False)
    order = np.argsort(opened_new, kind="stable")
    extra = pa.table(
        {
            **{name: rows[name] for name in rows.column_names},
            "number": ids("INC", np.arange(FIRST_NUMBER + first_number, FIRST_NUMBER + first_number + n), 8),
            "opened_at": pa.array(opened_new.astype("datetime64[s]")),
            "u_first_response_at": responded,
            "resolved_at": resolved,
            "made_sla": pa.array(waited <= target * 3_600),
        }
    ).select(tickets.column_names)
    return SurgeMonth(extra.take(pa.array(order)), len(pool))
