"""The program of randomized initiatives as a whole: initiatives that share units, and the program holdout.

Both are computed from per-group sums the warehouse returns in one ``GROUP BY`` (unit rows
never leave the engine), and analysed with :mod:`outcomes.experiment.randomized.overlap`:

* :func:`warehouse_overlaps`: for every pair of active, warehouse-backed randomized
  initiatives whose assignments share customers, the 2x2 of their assignments on the first
  initiative's metric and the interaction test (:class:`~.randomized.overlap.OverlapResult`).
  Pairs that share no customer give nothing.
* :func:`warehouse_holdout`: when the value model declares a ``program_holdout`` (customers
  kept out of every initiative, named by their rows in the ``assignments`` table), the
  holdout against every other customer on the books at its start, one
  :class:`~.results.MetricEffect` per named metric: the effect of the whole program.

The holdout is declared in ``params/value.yaml``::

    program_holdout:
      initiative: program-holdout   # the assignments table's initiative_id of the held-out customers
      arm: holdout                  # optional: only the rows with this arm
      start_date: "2025-07-01"      # customers on the books that day form the comparison
      metrics: [ticket_volume, revenue, churn_rate]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ibis
from pydantic import Field, field_validator

from outcomes.errors import ParamsError
from outcomes.experiment import aggregates
from outcomes.experiment.randomized.overlap import OverlapResult, holdout_from_sums, overlap_from_sums
from outcomes.experiment.results import MetricEffect
from outcomes.experiment.spec import DataSpec, InitiativeSpec, MetricSpec
from outcomes.params import Params
from outcomes.periods import Month

#: Warehouse metrics a holdout or an overlap can compare: the per-customer means and proportions.
PROGRAM_METRICS = tuple(k for k, v in aggregates.RANDOMIZED_METRICS.items() if v["kind"] in ("mean", "proportion"))


class ProgramHoldout(Params):
    """Customers kept out of every initiative, to measure the program's total effect.

    Parameters
    ----------
    initiative : str
        The ``initiative_id`` under which the ``assignments`` table lists the held-out customers.
    arm : str, optional
        Only the rows with this ``arm`` value are held out (default: every row of ``initiative``).
    start_date : str
        ISO date the holdout began; customers on the books that day (signed up before, not
        yet lost) are compared, from that day to the end of the reported month.
    metrics : list of str
        Per-customer metrics to compare (:data:`PROGRAM_METRICS`).
    alpha : float
        Two-sided level of the intervals.
    """

    initiative: str = Field(min_length=1)
    arm: str | None = None
    start_date: str
    metrics: list[str] = Field(min_length=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)

    @field_validator("start_date", mode="before")
    @classmethod
    def _iso(cls, value: object) -> object:
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"start_date {value!r} is not an ISO date; write it as YYYY-MM-DD, e.g. \"2025-07-01\"") from None
        return text

    @field_validator("metrics")
    @classmethod
    def _known(cls, metrics: list[str]) -> list[str]:
        unknown = [m for m in metrics if m not in PROGRAM_METRICS]
        if unknown:
            raise ValueError(
                f"metrics {unknown} have no per-customer mean or proportion in the warehouse; "
                f"valid metrics are: {', '.join(PROGRAM_METRICS)}"
            )
        return metrics


def _metric_spec(metric: str) -> MetricSpec:
    definition = {k: v for k, v in aggregates.RANDOMIZED_METRICS[metric].items() if k != "pre"}
    return MetricSpec(metric=metric, **definition)


def warehouse_holdout(con: ibis.BaseBackend, holdout: ProgramHoldout, period: str | None = None) -> HoldoutResult:
    """The program's total effect: the holdout against every other customer, per metric.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    holdout : ProgramHoldout
        The declared holdout.
    period : str, optional
        ``YYYY-MM``: the window ends with this month (default: the end of the data).

    Returns
    -------
    HoldoutResult
        One effect per metric, arm ``"exposed"`` against control ``"holdout"`` (Welch).

    Raises
    ------
    ParamsError
        When the assignments table lists no customer under the holdout's initiative (and arm),
        or the window from ``start_date`` is empty.
    """
    start = dt.date.fromisoformat(holdout.start_date)
    end = Month.parse(period).end_exclusive if period else aggregates.data_end(con)
    if end <= start:
        raise ParamsError(
            f"program_holdout.start_date {start} is not before the end of the reported data ({end}); "
            "review a later month or correct the start date"
        )
    a = con.table("assignments")
    rows = a.filter(a.initiative_id == holdout.initiative)
    if holdout.arm is not None:
        rows = rows.filter(rows.arm == holdout.arm)
    held = rows.select(held_id=rows.unit_id).distinct()
    if int(held.count().execute()) == 0:
        where = f"initiative_id {holdout.initiative!r}" + (f" and arm {holdout.arm!r}" if holdout.arm else "")
        raise ParamsError(
            f"program_holdout: the assignments table has no customer with {where}; name the initiative id "
            "(and arm) under which the experimentation tool exports the held-out customers"
        )
    customers = con.table("customers").select("customer_id", "signup_date")
    churn = con.table("churn").select(churn_id=con.table("churn").customer_id, churned_at=con.table("churn").churned_at)
    books = customers.left_join(churn, customers.customer_id == churn.churn_id)
    books = books.filter(books.signup_date.isnull() | (books.signup_date <= start), books.churned_at.isnull() | (books.churned_at >= start))
    marked = books.left_join(held, books.customer_id == held.held_id)
    population = marked.select(
        unit_id=marked.customer_id, arm=ibis.ifelse(marked.held_id.notnull(), "holdout", "exposed")
    )
    specs = [_metric_spec(m) for m in holdout.metrics]
    columns = [s.column or str(s.metric) for s in specs]
    spec = InitiativeSpec(
        id=holdout.initiative, data=DataSpec(unit="customer", arm="arm", control="holdout"),
        metrics=[s.model_copy(update={"role": "primary" if i == 0 else "secondary"}) for i, s in enumerate(specs)],
    )
    window = aggregates.AnalysisWindow(start, end)
    units = aggregates.unit_table(con, spec, [window], [sorted(set(columns))], population=population)
    sums = {"n": units.count().cast("float64")}
    for c in sorted(set(columns)):
        y = units[f"{c}_w0"]
        sums |= {f"{c}__sum": y.sum(), f"{c}__sum_squares": (y * y).sum()}
    groups = units.group_by(group=units.arm).aggregate(**sums).execute()
    out = []
    for s, c in zip(specs, columns, strict=True):
        frame = groups.rename(columns={f"{c}__sum": "sum", f"{c}__sum_squares": "sum_squares"})[["group", "n", "sum", "sum_squares"]]
        effect = holdout_from_sums(frame, str(s.metric), s.kind, holdout.alpha)  # type: ignore[arg-type]
        out.append(dataclasses.replace(
            effect, label=f"{s.display_name} (whole program)", unit=s.display_unit, direction=s.direction,
        ))
    return HoldoutResult(holdout, tuple(out))


def _warehouse_randomized(specs: Iterable[InitiativeSpec]) -> list[InitiativeSpec]:
    return [s for s in specs if s.design == "randomized" and not s.data.table and s.data.unit == "customer"]


def overlap_metric(spec: InitiativeSpec) -> MetricSpec | None:
    """The metric an initiative's overlaps compare: its primary when a mean or proportion, else its first such metric."""
    ordered = [spec.primary, *(m for m in spec.metrics if m.role != "primary")]
    return next((m for m in ordered if m.kind in ("mean", "proportion")), None)


def warehouse_overlaps(
    con: ibis.BaseBackend, specs: Iterable[InitiativeSpec], period: str | None = None
) -> tuple[PairOverlap, ...]:
    """The interaction of every pair of randomized initiatives whose assignments share customers.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    specs : iterable of InitiativeSpec
        The initiatives (the active ones); only warehouse-backed randomized ones are paired.
    period : str, optional
        ``YYYY-MM``: the first initiative's window ends with this month.

    Returns
    -------
    tuple of PairOverlap
        One per pair that shares customers (in id order), on the first initiative's
        :func:`overlap_metric` over its window; each initiative's control and first
        treatment arm (in name order) form the 2x2. Empty when no pair shares a customer.
    """
    a_table = con.table("assignments")
    out = []
    for first, second in itertools.combinations(sorted(_warehouse_randomized(specs), key=lambda s: s.id), 2):
        metric = overlap_metric(first) or overlap_metric(second)
        if metric is None:
            continue
        in_a = a_table.filter(a_table.initiative_id == first.id).select(a_id=a_table.unit_id, arm_a=a_table.arm)
        in_b = a_table.filter(a_table.initiative_id == second.id).select(b_id=a_table.unit_id, arm_b=a_table.arm)
        shared = in_a.inner_join(in_b, in_a.a_id == in_b.b_id)
        counts = {"n_a": in_a.count(), "n_b": in_b.count(), "n_both": shared.count()}
        n = {k: int(v.execute()) for k, v in counts.items()}
        if n["n_both"] == 0:
            continue
        window = aggregates.analysis_window(con, first, period)
        column = metric.column or str(metric.metric)
        units = aggregates.unit_table(con, first, [window], [[column]])
        joined = units.inner_join(in_b, units.unit_id == in_b.b_id)
        y = joined[f"{column}_w0"]
        sums = joined.group_by(arm_a=joined.arm, arm_b=joined.arm_b).aggregate(
            n=joined.count().cast("float64"), sum=y.sum(), sum_squares=(y * y).sum()
        ).execute()
        arms = {}
        for spec, col in ((first, "arm_a"), (second, "arm_b")):
            seen = sorted(set(sums[col].astype(str)) - {str(spec.data.control)})
            if not seen:
                break
            arms[col] = (str(spec.data.control), seen[0])
        if len(arms) < 2:
            continue
        out.append(PairOverlap((first.id, second.id), overlap_from_sums(
            sums, metric.id, "arm_a", "arm_b", arms["arm_a"], arms["arm_b"],
            (first.name or first.id, second.name or second.id), metric.kind, first.alpha,  # type: ignore[arg-type]
            n_both=n["n_both"], n_any=n["n_a"] + n["n_b"] - n["n_both"],
        )))
    return tuple(out)


@dataclass(frozen=True)
class PairOverlap:
    """Two initiatives that share customers, by id, and their interaction (:class:`OverlapResult`)."""

    initiatives: tuple[str, str]
    result: OverlapResult

    def to_row(self) -> dict[str, Any]:
        """The ``overlaps`` row of ``results.json``: the pair, the metric, the interaction and its sentence."""
        o = self.result
        return {
            "initiatives": list(self.initiatives), "metric": o.metric, "share_in_both": o.share_in_both,
            "n_both": o.n_both, "n_any": o.n_any, "interaction": o.estimate, "ci_low": o.ci_low,
            "ci_high": o.ci_high, "p_value": o.p_value, "depends": o.depends, "sentence": o.sentence(),
        }


@dataclass(frozen=True)
class HoldoutResult:
    """The program holdout's comparison: the declaration and one effect per metric."""

    holdout: ProgramHoldout
    effects: tuple[MetricEffect, ...]

    def sentences(self) -> list[str]:
        """One sentence per metric: holdout level, exposed level, the difference and its interval."""
        return [e.sentence() for e in self.effects]

    def rows(self) -> list[dict[str, Any]]:
        """The ``program_holdout`` rows of ``results.json``: one per metric, exposed minus holdout."""
        return [
            {
                "holdout": self.holdout.initiative, "metric": e.metric, "holdout_mean": e.control_mean,
                "exposed_mean": e.treatment_mean, "n_holdout": e.n_control, "n_exposed": e.n_treatment,
                "estimate_abs": e.estimate_abs, "estimate_rel": e.estimate_rel, "ci_low": e.ci_low,
                "ci_high": e.ci_high, "p_value": e.p_value, "sentence": e.sentence(),
            }
            for e in self.effects
        ]


__all__ = [
    "PROGRAM_METRICS", "HoldoutResult", "PairOverlap", "ProgramHoldout", "overlap_metric", "warehouse_holdout",
    "warehouse_overlaps",
]
