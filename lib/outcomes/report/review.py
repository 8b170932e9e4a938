"""Review one initiative end to end: load its spec, analyse it, and present the result.

:func:`review` dispatches on the design and on where the data are:

================  ===========================================  ==========================================
design            ``data.table`` given (a user's table)          no ``data.table`` (the warehouse)
================  ===========================================  ==========================================
randomized        :func:`~.randomized.analyze_table`             per-arm sums in the engine, then
                                                               :func:`~.randomized.analyze_aggregates`;
                                                               a cumulative look per month
did               :func:`~.quasi.difference_in_differences`      the same, on the region x month panel
its               :func:`~.quasi.interrupted_time_series`        the same, on the monthly series
================  ===========================================  ==========================================

The :class:`Review` it returns holds the shared :class:`~.results.InitiativeResult` and
gives the report notebook one call per section: the decision in plain words, the effects
table, the forest plot, the chart over time (cumulative effect with the anytime-valid
bound, event study or counterfactual), the design and its assumptions, the conditions,
the segment breakdown with its caveat, the plan, and the ``results.json`` entry.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import altair as alt
import ibis
import pandas as pd
from IPython.display import HTML, Markdown

from outcomes import format as fmt
from outcomes import config
from outcomes.errors import OutcomesError, ParamsError
from outcomes.experiment import aggregates as bridge
from outcomes.experiment.randomized.power import minimum_detectable_effect
from outcomes.experiment.quasi.analysis import QuasiResult, difference_in_differences, interrupted_time_series
from outcomes.report.quasi_charts import event_study_chart, its_chart
from outcomes.experiment.randomized.analysis import analyze_aggregates, analyze_table, read_table
from outcomes.experiment.results import (
    InitiativeResult,
    MetricEffect,
    SegmentSplit,
)
from outcomes.experiment.spec import InitiativeSpec, MetricSpec
from outcomes.params import load
from outcomes.periods import Month
from outcomes.report.tables import table
from outcomes.report.text import md
from outcomes.value.recommendation import Recommendation, from_results

INITIATIVES_DIR = config.PARAMS_DIR / "initiatives"

_CONDITION_MEANING = {
    "stop": "this stops the initiative until it is fixed",
    "keep testing": "this keeps the initiative in test until more data arrive",
    None: "for information; it does not change the decision",
}


def load_spec(initiative: str | Path | InitiativeSpec, con: ibis.BaseBackend | None = None) -> InitiativeSpec:
    """Load an initiative's spec from a params file, an id, or the warehouse register.

    Parameters
    ----------
    initiative : str, Path or InitiativeSpec
        A YAML path (relative paths from the project root), an id with a file
        ``params/initiatives/<id>.yaml``, or an id in the warehouse's ``initiatives`` table.
    con : ibis.BaseBackend, optional
        The warehouse, needed only for register ids.

    Returns
    -------
    InitiativeSpec

    Raises
    ------
    ParamsError
        For an invalid file (naming the file, the key and the valid keys) or an unknown id.
    """
    if isinstance(initiative, InitiativeSpec):
        return initiative
    text = str(initiative)
    path = config.resolve(text)
    if text.endswith((".yaml", ".yml")) or path.is_file():
        return load(path, InitiativeSpec)
    by_id = INITIATIVES_DIR / f"{text}.yaml"
    if by_id.is_file():
        return load(by_id, InitiativeSpec)
    from outcomes.warehouse.store import connect

    return bridge.spec_from_register(con or connect(), text)


@dataclass(frozen=True)
class Review:
    """An analysed initiative and the pieces of its report.

    Attributes
    ----------
    spec : InitiativeSpec
        The initiative.
    result : InitiativeResult
        Effects, conditions and the decision (the shared result type).
    source : str
        ``"warehouse"`` or the table path.
    window : Window or None
        The test window (warehouse-backed designs).
    quasi : QuasiResult or None
        The primary metric's quasi-experimental result (DiD, ITS).
    timeline : pandas.DataFrame or None
        Randomized, warehouse-backed: the primary effect at each monthly look
        (``look, arm, estimate, ci_low, ci_high, seq_ci_low, seq_ci_high``).
    """

    spec: InitiativeSpec
    result: InitiativeResult
    source: str
    window: bridge.AnalysisWindow | None = None
    quasi: QuasiResult | None = None
    timeline: pd.DataFrame | None = None

    # ------------------------------------------------------------------ text

    def recommendation(self, roi: Sequence[Mapping[str, Any]] = ()) -> Recommendation:
        """What we recommend: the decision with the investment case's chance to pay off, from the run's ``roi`` rows."""
        return from_results(self.spec.id, self.result.decision.action, roi)

    def decision_text(self, roi: Sequence[Mapping[str, Any]] = ()) -> Markdown:
        """The recommendation first, in the words every page uses, then the grounds, the hypothesis and the window.

        Parameters
        ----------
        roi : sequence of mapping
            The run's ``results.json`` ``roi`` rows (``report.results()["roi"]``); the
            initiative's row gives the case's chance of a positive ROI. Without one the
            decision alone decides.
        """
        d = self.result.decision
        with_arm = d.action == "ship" and d.arm and self.spec.design == "randomized"
        text = self.recommendation(roi).text
        head = text[:1].upper() + text[1:] + (f" ({d.arm} arm)" if with_arm else "")
        lines = [f"## Decision: {{name}}\n\n**{head}.** {{reason}}"]
        values: dict[str, Any] = {"name": self.spec.name or self.spec.id, "reason": d.grounds()}
        if self.spec.hypothesis:
            lines.append("*Hypothesis:* {hypothesis}")
            values["hypothesis"] = self.spec.hypothesis
        if self.window is not None:
            lines.append("Data from {start} to {last} ({source}).")
            values |= {"start": self.window.start.isoformat(), "source": self.source,
                       "last": (self.window.end - dt.timedelta(days=1)).isoformat()}
        else:
            lines.append("Data: {source}.")
            values["source"] = self.source
        return md("\n\n".join(lines), **values)

    def effects_frame(self) -> pd.DataFrame:
        """One row per arm and metric: levels, change, intervals and p-values, as display text."""
        rows = []
        for e in self.result.effects:
            seq = fmt.interval(e.seq_ci_low, e.seq_ci_high, e.unit) if math.isfinite(e.seq_ci_low) else "n/a"
            rows.append({
                "metric": e.name, "role": e.role, "arm": e.arm if self.spec.design == "randomized" else "treated",
                "control": fmt.level(e.control_mean, e.unit, missing="n/a"), "treatment": fmt.level(e.treatment_mean, e.unit, missing="n/a"),
                "change": fmt.change(e.estimate_abs, e.unit) if e.estimable else "n/a",
                f"{fmt.confidence(e.alpha)} CI": fmt.interval(e.ci_low, e.ci_high, e.unit) if e.estimable else "n/a",
                "anytime-valid CI": seq, "p-value": fmt.p_value(e.p_value, label="", missing="n/a"), "adjusted p": fmt.p_value(e.p_value_adjusted, label="", missing="n/a"),
            })
        return pd.DataFrame(rows)

    def effects(self) -> HTML:
        """The effects table (see :meth:`effects_frame`)."""
        caption = (
            "Intervals are unadjusted; adjusted p-values account for the number of metrics and arms."
            if self.spec.design == "randomized"
            else "Quasi-experimental estimates have no anytime-valid interval; the decision uses the fixed one."
        )
        return table(self.effects_frame(), caption=caption)

    def design_text(self) -> Markdown:
        """How the effect was estimated, and what the reader must accept."""
        if self.quasi is not None:
            q = self.quasi
            lines = [*q.sentences(), "**Assumptions the reader must accept:**", *(f"- {a}" for a in q.assumptions)]
        else:
            sizes = ", ".join(f"{arm}: {n:,}" for arm, n in self.result.arm_sizes.items())
            srm = self.result.srm_p_value
            lines = [
                f"Design: randomized comparison; every arm is compared with {self.spec.data.control}. "
                f"Units per arm: {sizes}. Sample ratio check p = "
                f"{'n/a' if not math.isfinite(srm) else f'{srm:.3g}'}"
                + (" (mismatch: the assignment is broken)." if self.result.srm_flag else " (no mismatch)."),
                "Assumptions: units were assigned at random and kept their arm; one unit's arm does not change "
                "another unit's outcome; the metrics are measured the same way in every arm.",
                self.result.notes[0] if self.result.notes else "",
            ]
        return Markdown("\n\n".join(_escape_lines(lines)))

    def conditions_text(self) -> Markdown:
        """Each data condition found, and what it means for the decision."""
        found = [("", c) for c in self.result.conditions]
        for e in self.result.effects:
            found += [(f" ({e.name})", c) for c in e.conditions if c not in self.result.conditions]
        if not found:
            return Markdown("No data condition was found: every arm had enough units and every metric varied.")
        lines = [
            f"- **{c.code}**{where}: {html.escape(c.message.rstrip('. '), quote=False)}. "
            f"*Meaning:* {_CONDITION_MEANING[c.blocks]}."
            for where, c in found
        ]
        return Markdown("\n".join(lines))

    def segments_frame(self) -> pd.DataFrame:
        """One row per segment, arm and metric (empty when no breakdown was asked for).

        The ``arm split`` column gives the segment's sample-ratio check: "as planned",
        "mismatch" (Holm-adjusted p below the SRM threshold: do not read that row) or "too
        few units" to check.
        """
        splits = {x.segment: _split_word(x) for x in self.result.segment_splits}
        rows = [
            {"segment": e.segment, "metric": e.name, "arm": e.arm, "change": fmt.change(e.estimate_abs, e.unit),
             f"{fmt.confidence(e.alpha)} CI": fmt.interval(e.ci_low, e.ci_high, e.unit) if e.estimable else "n/a",
             "adjusted p": fmt.p_value(e.p_value_adjusted, label="", missing="n/a"), "units": e.n_control + e.n_treatment,
             "arm split": splits.get(e.segment, "not checked")}
            for e in self.result.segment_effects
        ]
        return pd.DataFrame(rows)

    def segments(self) -> HTML | Markdown:
        """The segment breakdown with the multiple-comparison caveat."""
        frame = self.segments_frame()
        if frame.empty:
            return Markdown(
                "No segment breakdown was asked for (`data.segments` in the parameters). Breakdowns are for "
                "ideas, not decisions: with many segments some differences appear by chance."
            )
        caveat = next((c.message for c in self.result.conditions if c.code == "segment_multiple_comparisons"), "")
        return table(frame, units={"units": "count"}, caption=caveat)

    def planning_text(self) -> Markdown:
        """The smallest detectable change so far, and the plan for the primary metric's MDE."""
        if self.quasi is not None:
            e = self.result.effects[0]
            mde = float(minimum_detectable_effect(e.se_abs, self.spec.alpha, self.spec.power))
            lines = [
                f"With the data so far, the smallest change in {e.name} this design could tell from noise "
                f"({self.spec.power:.0%} power) is about {fmt.change(mde, e.unit).lstrip('+')}."
                if math.isfinite(mde) else "No estimate yet, so no detectable change can be stated."
            ]
            if self.spec.primary.mde is not None:
                lines.append(f"The minimum worthwhile effect set for it is {fmt.change(self.spec.primary.mde, e.unit).lstrip('+')}.")
        else:
            lines = list(self.result.notes[1:]) or ["Set `mde` on the primary metric to get a sample-size plan."]
        return Markdown("\n\n".join(_escape_lines(lines)))

    # ------------------------------------------------------------------ charts

    def forest_chart(self) -> alt.LayerChart:
        """Relative effect of every arm on every metric, with its fixed-horizon interval.

        Returns
        -------
        altair.LayerChart
            One row per metric and arm (relative to the control level, so metrics in
            different units share the axis), coloured by role, with a zero rule.
        """
        frame = pd.DataFrame([
            {"label": f"{e.name} ({e.arm})" if self.spec.design == "randomized" else e.name, "role": e.role,
             "estimate": e.estimate_rel, "low": e.ci_rel_low, "high": e.ci_rel_high,
             "change": fmt.change(e.estimate_abs, e.unit)}
            for e in self.result.effects if math.isfinite(e.estimate_rel)
        ], columns=["label", "role", "estimate", "low", "high", "change"])
        y = alt.Y("label:N", title=None, sort=None)
        level = fmt.confidence(self.result.alpha)
        base = alt.Chart(frame)
        rules = base.mark_rule().encode(
            y=y, x=alt.X("low:Q", title=f"Effect relative to control ({level} CI)", axis=alt.Axis(format="+%")),
            x2="high:Q", color=alt.Color("role:N", title="Role"),
        )
        points = base.mark_point(filled=True, size=60).encode(
            y=y, x="estimate:Q", color="role:N",
            tooltip=[alt.Tooltip("label:N", title="Metric"), alt.Tooltip("change:N", title="Change"),
                     alt.Tooltip("estimate:Q", title="Relative", format="+.1%")],
        )
        zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
        return alt.layer(zero, rules, points).properties(title=f"Effects of {self.spec.name or self.spec.id}")

    def time_chart(self) -> alt.LayerChart:
        """The effect over time: cumulative with the anytime-valid bound, event study, or counterfactual.

        Raises
        ------
        ParamsError
            When there is no time dimension (a randomized test on a user's table).
        """
        if self.quasi is not None:
            return event_study_chart(self.quasi) if self.quasi.design == "did" else its_chart(self.quasi)
        if self.timeline is None or self.timeline.empty:
            raise ParamsError(
                f"initiative {self.spec.id!r}: no effect over time for a table without dates; "
                "the cumulative chart needs warehouse data"
            )
        return cumulative_chart(self.timeline, self.result.primary[0], self.result.alpha)

    def time_chart_or_note(self) -> alt.LayerChart | Markdown:
        """:meth:`time_chart`, or a sentence saying why there is none."""
        try:
            return self.time_chart()
        except OutcomesError as exc:
            return Markdown(_escape_lines([str(exc)])[0])

    # ------------------------------------------------------------------ results.json

    def entry(self) -> dict[str, Any]:
        """The ``initiatives`` entry of ``results.json``: only the fields of the schema.

        One metric row per treatment arm and metric, with the fixed-horizon, unadjusted
        ``ci_low``/``ci_high``/``p_value`` and beside them ``seq_ci_low``/``seq_ci_high``/
        ``p_value_adjusted``. Quasi designs report ``arm: null``.
        """
        from outcomes.report.results import schema

        defs = schema()["$defs"]
        doc = self.result.to_dict()
        entry = {k: doc[k] for k in defs["initiative"]["properties"] if k in doc}
        keys = list(defs["initiative_metric"]["properties"])
        metrics = []
        for row in doc["metrics"]:
            item = {k: row.get(k) for k in keys}
            if self.spec.design != "randomized":
                item["arm"] = None
            metrics.append(item)
        entry["metrics"] = metrics
        return entry


def _split_word(split: SegmentSplit) -> str:
    if split.flagged:
        return f"mismatch ({fmt.p_value(split.p_value_adjusted)})"
    return "as planned" if math.isfinite(split.p_value) else "too few units"


def _escape_lines(lines: list[str]) -> list[str]:
    """Escape HTML in sentences built from data; empty lines are dropped."""
    return [html.escape(s, quote=False) for s in lines if s]


def cumulative_chart(timeline: pd.DataFrame, primary: MetricEffect, alpha: float) -> alt.LayerChart:
    """Cumulative effect of each arm at each monthly look, with the anytime-valid band.

    Parameters
    ----------
    timeline : pandas.DataFrame
        ``look, arm, estimate, ci_low, ci_high, seq_ci_low, seq_ci_high``.
    primary : MetricEffect
        Names the metric and its unit.
    alpha : float
        Level of the intervals.

    Returns
    -------
    altair.LayerChart
        The anytime-valid interval as a band (valid at every look), the fixed-horizon
        interval as rules (valid only at one planned look), the estimate as a line and a
        zero rule.
    """
    scale = 100.0 if primary.unit == "fraction" else 1.0
    unit = "pp" if primary.unit == "fraction" else primary.unit
    cols = ["estimate", "ci_low", "ci_high", "seq_ci_low", "seq_ci_high"]
    frame = timeline.assign(**{c: timeline[c] * scale for c in cols})
    x = alt.X("look:T", title="Data up to")
    level = fmt.confidence(alpha)
    title = f"Change in {primary.name}" + (f" ({unit})" if unit else "")
    base = alt.Chart(frame)
    band = base.mark_area(opacity=0.2).encode(x=x, y=alt.Y("seq_ci_low:Q", title=title), y2="seq_ci_high:Q",
                                              color=alt.Color("arm:N", title="Arm"))
    fixed = base.mark_rule(strokeDash=[2, 2]).encode(x=x, y="ci_low:Q", y2="ci_high:Q", color="arm:N")
    line = base.mark_line(point=True).encode(
        x=x, y="estimate:Q", color="arm:N",
        tooltip=[alt.Tooltip("look:T", title="Data up to"), alt.Tooltip("estimate:Q", title="Change", format="+.3~g"),
                 alt.Tooltip("seq_ci_low:Q", title=f"{level} anytime-valid low", format="+.3~g"),
                 alt.Tooltip("seq_ci_high:Q", title=f"{level} anytime-valid high", format="+.3~g")],
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(y="y:Q")
    return alt.layer(band, zero, fixed, line).properties(
        title=f"Cumulative effect on {primary.name}: band = {level} anytime-valid interval, dashed = fixed-horizon"
    )


# --------------------------------------------------------------------------- analysis


def _randomized_warehouse(spec: InitiativeSpec, con: ibis.BaseBackend, period: str | None) -> Review:
    window = bridge.analysis_window(con, spec, period)
    agg = bridge.randomized_aggregates(con, spec, window, looks=window.months[1:] + [window.end])
    result = analyze_aggregates(agg.table, spec, units=agg.units)
    primary_only = spec.model_copy(update={"metrics": [spec.primary], "data": spec.data.model_copy(update={"segments": []})})
    rows = []
    for look in agg.looks:
        month = look.window.end
        res = analyze_aggregates(look.table, primary_only, units=look.units)
        for e in res.effects:
            rows.append({"look": pd.Timestamp(month - dt.timedelta(days=1)), "arm": e.arm, "estimate": e.estimate_abs,
                         "ci_low": e.ci_low, "ci_high": e.ci_high, "seq_ci_low": e.seq_ci_low,
                         "seq_ci_high": e.seq_ci_high, "units": e.n_control + e.n_treatment})
    return Review(spec, result, "warehouse", window=window, timeline=pd.DataFrame(rows))


def _quasi(spec: InitiativeSpec, panel_for: Any, window: bridge.AnalysisWindow | None, source: str) -> Review:
    """Run the quasi design on the primary metric (with checks) and the guardrails (estimates only)."""
    if not spec.start_date:
        raise ParamsError(f"initiative {spec.id!r}: start_date is not set; give the first day with the change")
    results: dict[str, QuasiResult] = {}
    for m in spec.metrics:
        frame, unit_col, period_col, outcome = panel_for(m)
        common = {"period": period_col, "outcome": outcome, "start": pd.Timestamp(spec.start_date), "metric": m.id,
                  "alpha": spec.alpha, "placebo": m.role == "primary"}
        if spec.design == "did":
            if not spec.treated_units:
                raise ParamsError(f"initiative {spec.id!r}: a did design needs treated_units (e.g. [north, east])")
            results[m.id] = difference_in_differences(
                frame, unit=unit_col, treated_units=spec.treated_units,
                bootstrap_reps=9999 if m.role == "primary" else 999, **common)
        else:
            results[m.id] = interrupted_time_series(
                frame, unit=unit_col, treated_units=spec.treated_units if unit_col else None, **common)
    primary = spec.primary
    others = [
        results[m.id].to_effect(direction=m.direction, role=m.role, unit=m.display_unit, label=m.label or "")
        for m in spec.metrics if m.role != "primary"
    ]
    q = results[primary.id]
    result = q.to_initiative(
        spec.id, direction=primary.direction, unit=primary.display_unit, label=primary.label or "",
        name=spec.name, guardrails=[e for e in others if e.role == "guardrail"], mde=primary.mde,
    )
    secondary = tuple(e for e in others if e.role == "secondary")
    result = replace(result, effects=result.effects + secondary)
    return Review(spec, result, source, window=window, quasi=q)


def _column(m: MetricSpec) -> str:
    return m.column or m.metric or ""


def review(
    initiative: str | Path | InitiativeSpec,
    *,
    period: str | None = None,
    con: ibis.BaseBackend | None = None,
    engine: str = "duckdb",
) -> Review:
    """Analyse an initiative with the design and data source its spec names.

    Parameters
    ----------
    initiative : str, Path or InitiativeSpec
        A params file, an initiative id (file or register), or a spec.
    period : str, optional
        ``YYYY-MM``: analyse data up to the end of this month (warehouse-backed designs).
    con : ibis.BaseBackend, optional
        The warehouse; opened read-only when needed and not given.
    engine : {"duckdb", "spark"}
        Engine used to open the warehouse when ``con`` is not given.

    Returns
    -------
    Review

    Raises
    ------
    ParamsError
        For an invalid spec, a missing table or column, or a metric the warehouse
        cannot compute.

    Examples
    --------
    >>> r = review("params/initiatives/self-service-portal.yaml")   # doctest: +SKIP
    >>> r.result.decision.action                                     # doctest: +SKIP
    'ship'
    """
    spec = load_spec(initiative, con)
    if spec.data.table:
        df = read_table(spec)
        if spec.design == "randomized":
            return Review(spec, analyze_table(df, spec), spec.data.table)
        time_col = spec.data.time
        if not time_col:
            raise ParamsError(f"initiative {spec.id!r}: a {spec.design} design on a table needs data.time (the period column)")
        missing = [c for c in (spec.data.unit, time_col, *map(_column, spec.metrics)) if c not in df.columns]
        if missing:
            raise ParamsError(
                f"initiative {spec.id!r}: column(s) {missing} not in {spec.data.table}; columns are {list(df.columns)}"
            )
        return _quasi(spec, lambda m: (df, spec.data.unit, time_col, _column(m)), None, spec.data.table)
    if con is None:
        from outcomes.warehouse.store import connect

        con = connect(engine=engine)  # type: ignore[arg-type]
    if spec.design == "randomized":
        return _randomized_warehouse(spec, con, period)
    window = bridge.analysis_window(con, spec, period)

    def panel_for(m: MetricSpec) -> tuple[pd.DataFrame, str | None, str, str]:
        frame = bridge.quasi_panel(con, spec, m.metric or _column(m), window)
        return frame, "unit" if spec.design == "did" else None, "period", "value"

    return _quasi(spec, panel_for, window, "warehouse")


# --------------------------------------------------------------------------- command-line helpers

NOTEBOOK = config.NOTEBOOKS_DIR / "02_initiative_review.ipynb"

TEMPLATE = """\
# Initiative parameters: fill in every value, then check the file with
#   outcomes analyze params/initiatives/{id}.yaml --out reports/{id}
# Keys are checked: a misspelt key is refused, with the valid keys listed.
id: {id}
name: {name}                     # shown in the report
hypothesis: >-
  What the initiative should change, for whom, and what must not get worse.
design: randomized               # randomized | did (some units treated) | its (every unit treated)
active: false                    # true: the monthly report reviews it
start_date: "2025-01-01"         # first day with the change (YYYY-MM-DD)
# end_date: "2025-06-30"         # last day of the test; default: the reported month

data:
  # A table you bring (CSV or Parquet, one row per unit; relative paths from the project root).
  # Remove `table` to read the warehouse instead: randomized tests then use the `assignments`
  # table (unit: customer, arm: arm) and per-customer columns such as tickets,
  # self_service_tickets, csat_answers, csat_satisfied, customer_months, revenue (see
  # outcomes.experiment.aggregates.UNIT_COLUMNS); did/its use catalog metric ids.
  table: data/raw/{id}.csv
  unit: customer_id              # the unit id column (did: the region column)
  arm: arm                       # randomized: the arm column
  control: control               # randomized: the control arm's value
  # time: month                  # did/its on a table: the period column
  # segments: [segment]          # break effects down by these columns (ideas, not decisions)
# treated_units: [north, east]   # did: the units that got the change

metrics:
  # Exactly one primary metric: the decision rests on it.
  - column: spend                # a column of the table (warehouse: `metric: <catalog id>`)
    kind: mean                   # mean | proportion (0/1 column) | ratio (numerator, denominator)
    role: primary
    direction: higher            # higher | lower: which way is better
    mde: 1.0                     # smallest change worth having, in the metric's unit
    label: spend per customer
    # pre: spend_before          # the same metric before the start: CUPED narrows the interval
    #                            # (a ratio also needs pre_denominator: its denominator before the start)
  # Guardrails must not get worse; a margin makes that a non-inferiority test.
  - column: conversion
    kind: proportion
    role: guardrail
    direction: higher
    margin: 0.01                 # may not fall by 1 pp or more
    label: conversion rate

alpha: 0.05                      # 1 - confidence level
correction: holm                 # holm | bh | none, within the goal and guardrail families
interval: sequential             # sequential (looked at every month) | fixed (one planned look)
# planned_split: {{control: 1, treatment: 1}}
# expected_n: 10000              # units in control plus one arm at the planned end
# units_per_month: 2000          # eligible units per month, for the duration of the plan
"""


def write_template(ident: str, folder: Path | None = None) -> Path:
    """Write a commented parameters template ``<folder>/<ident>.yaml`` for an analyst.

    Parameters
    ----------
    ident : str
        The initiative id: lower-case letters, digits, ``-`` and ``_``.
    folder : Path, optional
        Defaults to ``params/initiatives``.

    Returns
    -------
    Path
        The new file.

    Raises
    ------
    ParamsError
        When the id is not valid or the file exists (it is never overwritten).
    """
    if not ident or not (ident[0].isalnum() and ident == ident.lower()) or not all(
        ch.isalnum() or ch in "-_" for ch in ident
    ):
        raise ParamsError(
            f"initiative id {ident!r} is not valid: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. self-service-portal)"
        )
    path = (folder or INITIATIVES_DIR) / f"{ident}.yaml"
    if path.exists():
        raise ParamsError(f"{path} already exists; edit it, or choose another id (it is never overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.format(id=ident, name=ident.replace("-", " ").replace("_", " ").capitalize()), "utf-8")
    return path


def analyze(params: Path, out: Path, *, period: str | None = None) -> tuple[Path, Path]:
    """Run the review notebook on one params file; write its HTML page and ``results.json``.

    The file is validated first, so a misspelt key fails at once, before a kernel starts.

    Parameters
    ----------
    params : Path
        ``params/initiatives/<id>.yaml`` or any initiative parameters file.
    out : Path
        Receives ``<id>.html``, the executed ``<id>.ipynb`` and ``results.json``.
    period : str, optional
        ``YYYY-MM``; default the last complete month.

    Returns
    -------
    tuple of Path
        The HTML page and ``results.json``.

    Raises
    ------
    ParamsError
        For an invalid params file.
    ReportRunError
        When a cell of the notebook failed (naming the cell and the error).
    """
    from outcomes.errors import ReportRunError
    from outcomes.run.monthly import execute_and_render, last_complete_month, write_results

    path = config.resolve(params)
    spec = load(path, InitiativeSpec)
    given = str(Month.parse(period)) if period else ""
    run = execute_and_render(NOTEBOOK, {"initiative": str(path), "period": given}, out, stem=spec.id)
    if run.failure is not None:
        raise ReportRunError(f"the review of {path} failed: {run.failure.summary()} (executed notebook: {run.ipynb})")
    results = out / "results.json"
    write_results(results, [run], given or last_complete_month())
    return run.html, results
