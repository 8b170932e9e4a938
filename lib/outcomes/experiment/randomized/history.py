"""Power from history: plan a test from the warehouse's own pre-period variance and intake.

Before a test starts, the warehouse already knows how much a metric varies between units
and how many units arrive each month. :func:`metric_history` reads the last ``months``
whole months (ending where the data end) and returns, in one ``GROUP BY`` per metric:

* ``unit="ticket"``: each ticket is a unit (tickets routed at random to the new process);
  the per-ticket variance is ``(Σy² − (Σy)²/n)/(n − 1)`` and the intake is tickets per month.
* ``unit="customer"``: each customer-month is a unit (customers randomized, the metric is
  a ratio of sums over their tickets, such as mean first response = hours / tickets); the
  per-unit variance is the delta-method variance of the ratio,
  ``(σ²_m − 2R σ_md + R² σ²_d)/μ_d²``, and the intake is customers with a ticket per month.

:meth:`MetricHistory.plan` turns that into units per arm for a minimum detectable effect
(:func:`~outcomes.experiment.randomized.power.plan`), and :meth:`MetricHistory.comment`
into the lines ``outcomes new-initiative --metric ... --mde ...`` writes in the template.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

import ibis

from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.experiment.aggregates import TICKET_MEANS, data_end
from outcomes.experiment.randomized.power import Plan, plan
from outcomes.experiment.statistics import mean_moments, ratio_moments
from outcomes.metrics import catalog
from outcomes.periods import Month

HistoryUnit = Literal["ticket", "customer"]
#: Average weeks in a month (365.25 / 12 / 7).
WEEKS_PER_MONTH = 365.25 / 12 / 7


@dataclass(frozen=True)
class MetricHistory:
    """A metric's level, per-unit variance and monthly intake over a pre-period.

    Parameters
    ----------
    metric : str
        The catalog metric id.
    unit : {"ticket", "customer"}
        The unit of randomization.
    start, end : datetime.date
        The pre-period ``[start, end)``.
    n : int
        Units in the pre-period (tickets, or customer-months with a ticket).
    mean : float
        The metric's level (a ratio of sums for customers).
    variance : float
        Per-unit variance (delta method for customers).
    units_per_month : float
        Units entering per month.
    metric_unit : str
        The metric's display unit (``hours``).
    """

    metric: str
    unit: HistoryUnit
    start: dt.date
    end: dt.date
    n: int
    mean: float
    variance: float
    units_per_month: float
    metric_unit: str = ""

    @property
    def sd(self) -> float:
        """Per-unit standard deviation."""
        return math.sqrt(self.variance)

    def plan(self, mde: float, alpha: float = 0.05, power: float = 0.8, arms: int = 2) -> Plan:
        """Units per arm to detect ``mde`` (absolute) and the months at the current intake."""
        return plan(mde, self.sd, alpha, power, arms, units_per_month=self.units_per_month, unit=self.metric_unit)

    def comment(self, mde: float, alpha: float = 0.05, power: float = 0.8, arms: int = 2) -> str:
        """YAML comment lines: the history read and the proposed size and duration."""
        p = self.plan(mde, alpha, power, arms)
        units = "tickets" if self.unit == "ticket" else "customers"
        counted = "tickets" if self.unit == "ticket" else "customer-months with a ticket"
        weeks = math.ceil(p.months * WEEKS_PER_MONTH)
        change = fmt.change(mde, self.metric_unit).lstrip("+")
        return "\n".join([
            f"# Planned from the warehouse, {self.start:%Y-%m-%d} to {self.end - dt.timedelta(days=1):%Y-%m-%d}: "
            f"{self.metric} per {self.unit} has mean {self.mean:,.3g} and standard deviation {self.sd:,.3g}",
            f"# ({self.n:,} {counted}; about {self.units_per_month:,.0f} {units} a month).",
            f"# To detect a change of {change} with {power:.0%} power at a {alpha:g} two-sided level: "
            f"about {p.n_control:,} {units} per arm,",
            f"# about {weeks} weeks at the current intake ({p.n_total:,} {units} in all).",
        ])


def _window(con: ibis.BaseBackend, months: int) -> tuple[dt.date, dt.date]:
    end = data_end(con)
    start = Month.of(end) - months
    return start.start, end


def metric_history(
    con: ibis.BaseBackend, metric: str, unit: HistoryUnit = "ticket", months: int = 3
) -> MetricHistory:
    """Read a ticket metric's pre-period variance and intake from the warehouse.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    metric : str
        A per-ticket metric of :data:`~outcomes.experiment.aggregates.TICKET_MEANS`
        (``first_response_mean_hours``, ``mttr_hours``, ``sla_attainment``...).
    unit : {"ticket", "customer"}
        The unit that will be randomized.
    months : int
        Whole months read, ending where the data end.

    Returns
    -------
    MetricHistory

    Raises
    ------
    ParamsError
        For a metric without a per-ticket value, an unknown unit, fewer than 1 month, or
        a window with fewer than two units.
    """
    if metric not in TICKET_MEANS:
        raise ParamsError(
            f"--metric {metric!r} has no per-ticket value to plan from; valid metrics are: {', '.join(TICKET_MEANS)}"
        )
    if unit not in ("ticket", "customer"):
        raise ParamsError(f"--unit {unit!r} is not a unit of randomization; valid units are: ticket, customer")
    if months < 1:
        raise ParamsError(f"--months must be at least 1, got {months!r}")
    start, end = _window(con, months)
    t = con.table("tickets")
    t = t.filter((t.opened_at >= start) & (t.opened_at < end))
    t = t.mutate(value=TICKET_MEANS[metric](t)).filter(lambda r: r.value.notnull())
    if unit == "ticket":
        row = t.aggregate(n=t.count(), s=t.value.sum(), ss=(t.value * t.value).sum()).execute().iloc[0]
        n = int(row["n"])
        moments = mean_moments([n], [row["s"] if n else 0.0], [row["ss"] if n else 0.0])
    else:
        t = t.filter((t.requester_type == "customer") & t.requester_id.notnull())
        per = t.group_by(
            customer=t.requester_id, month=t.opened_at.truncate("M")
        ).aggregate(m=t.value.sum(), d=t.count().cast("float64"))
        row = per.aggregate(
            n=per.count(), m=per.m.sum(), mm=(per.m * per.m).sum(), d=per.d.sum(), dd=(per.d * per.d).sum(),
            md=(per.m * per.d).sum(),
        ).execute().iloc[0]
        n = int(row["n"])
        sums = [[float(row[k]) if n else 0.0] for k in ("m", "mm", "d", "dd", "md")]
        moments = ratio_moments([n], *sums)
    if n < 2:
        raise ParamsError(
            f"the warehouse holds {n} {unit}(s) with {metric} from {start} to {end}; at least 2 are needed to "
            "plan from history. Ingest more data or give --months a larger value"
        )
    unit_label = catalog.get(metric).unit if metric in catalog.ids() else ""
    return MetricHistory(
        metric, unit, start, end, n, float(moments.mean[0]), float(moments.variance[0]), n / months, unit_label
    )
