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
synthetic_control :func:`~.quasi.synth.synthetic_control`        the same, on the region x month panel
staggered         :func:`~.quasi.staggered.staggered_adoption`   (a user's table only)
================  ===========================================  ==========================================

The :class:`Review` it returns holds the shared :class:`~.results.InitiativeResult` and
gives the report notebook one call per section: the decision in plain words, the effects
table, the forest plot, the chart over time (cumulative effect with the anytime-valid
bound, event study or counterfactual), the design and its assumptions, the conditions,
the segment breakdown with its caveat, the plan, and the ``results.json`` entry.

:func:`shared_review` and :func:`shared_result` are :func:`review` computed once per
report run: the ROI page reads the result the review notebook stored
(:mod:`outcomes.cache`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import altair as alt
import ibis
import pandas as pd
from IPython.display import HTML, Markdown

from outcomes import cache, config
from outcomes import format as fmt
from outcomes.errors import OutcomesError, ParamsError
from outcomes.experiment import aggregates
from outcomes.experiment.arms import with_arm_setup
from outcomes.experiment.randomized.heterogeneity import explore_segments
from outcomes.experiment.randomized.power import minimum_detectable_effect
from outcomes.experiment.quasi.analysis import QuasiResult, difference_in_differences, interrupted_time_series
from outcomes.experiment.quasi.panel import read_periods
from outcomes.experiment.quasi.synth import synthetic_control
from outcomes.experiment.quasi.staggered import staggered_adoption
from outcomes.report.bounds import CLIPPED_NOTE, UNCLIPPED_NOTE, clip_relative
from outcomes.report.quasi_charts import event_study_chart, its_chart
from outcomes.report.synth_charts import synthetic_chart
from outcomes.experiment.randomized.analysis import analyze_aggregates, analyze_table, primary_plan, read_table
from outcomes.experiment.results import (
    RESULT,
    InitiativeResult,
    MetricEffect,
    SegmentSplit,
)
from outcomes.experiment.spec import InitiativeSpec, MetricSpec
from outcomes.params import load
from outcomes.periods import Month
from outcomes.report.answer import answer
from outcomes.report.changes import initiative_since_previous
from outcomes.report.tables import table
from outcomes.report.text import bullets, md, paragraphs, safe_markdown
from outcomes.value.recommendation import Recommendation, from_results
from outcomes.warehouse import store
from outcomes.report.results import schema

#: What the review says where a randomized test has no dated rows to draw its effect over time.
NO_TIMELINE = (
    "The effect over time is drawn look by look for tests whose rows are in the warehouse with their dates; "
    "this test was read from its own table, so the page shows its effect over the whole test."
)

_CONDITION_MEANING = {
    "stop": "this stops the initiative until it is fixed",
    "keep testing": "this keeps the initiative in test until more data arrive",
    None: "for information; it does not change the decision",
}


def load_spec(
    initiative: str | Path | InitiativeSpec,
    con: ibis.BaseBackend | None = None,
    *,
    folder: str | Path | None = None,
    warehouse_path: str | Path | None = None,
    engine: str = "duckdb",
    engine_settings: str | Path | None = None,
) -> InitiativeSpec:
    """Load an initiative's spec from a params file, an id, or the warehouse register.

    Parameters
    ----------
    initiative : str, Path or InitiativeSpec
        A YAML path (relative paths from the project root), an id with a file
        ``<folder>/<id>.yaml``, or an id in the warehouse's ``initiatives`` table.
    con : ibis.BaseBackend, optional
        The warehouse, needed only for register ids (default: the project's).
    folder : str or Path, optional
        The initiative files; default the project's ``params/initiatives``.
    warehouse_path, engine, engine_settings
        The warehouse opened for a register id when ``con`` is not given (default: the project's).

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
    by_id = (config.resolve(folder) if folder is not None else config.project().initiatives_dir) / f"{text}.yaml"
    if by_id.is_file():
        return load(by_id, InitiativeSpec)
    if con is None:
        con = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
    return aggregates.spec_from_register(con, text)


@dataclass(frozen=True)
class RemainingTest:
    """What an inconclusive randomized test still needs to reach its planned size.

    Attributes
    ----------
    more_units : int
        Units still to enrol over all arms (0 once the plan is reached).
    by_month : str or None
        The month the intake brings them, in words ("March 2026"); None when the
        initiative file gives no ``units_per_month``.
    """

    more_units: int
    by_month: str | None


def remaining_test(spec: InitiativeSpec, result: InitiativeResult, period: str | None) -> RemainingTest | None:
    """The units a randomized test still needs for its primary metric's ``mde``, and around when.

    Parameters
    ----------
    spec : InitiativeSpec
        The initiative (its ``mde``, power, split and ``units_per_month``).
    result : InitiativeResult
        Its review: the primary effect's spread and the units per arm so far.
    period : str, optional
        The reported month the intake counts from; without it, no month is given.

    Returns
    -------
    RemainingTest or None
        None for other designs, or when no plan can be made (no ``mde``, no estimate yet).
    """
    if spec.design != "randomized":
        return None
    planned = primary_plan(spec, result.effects, len(result.arm_sizes))
    if planned is None:
        return None
    more = planned.more_units(sum(result.arm_sizes.values()))
    months = planned.months_for(more)
    month = (Month.parse(period) + max(math.ceil(months), 1)).label if period and more and math.isfinite(months) else None
    return RemainingTest(more, month)


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
    window: aggregates.AnalysisWindow | None = None
    quasi: QuasiResult | None = None
    timeline: pd.DataFrame | None = None

    # ------------------------------------------------------------------ text

    def recommendation(self, roi: Sequence[Mapping[str, Any]] = ()) -> Recommendation:
        """What we recommend: the decision with the investment case's chance to pay off, from the run's ``roi`` rows."""
        return from_results(self.spec.id, self.result.decision.action, roi)

    def heading(self) -> Markdown:
        """The page's title, the initiative's register name, and what the page answers."""
        return md(
            "# {name}\n\nDid this initiative change what it set out to change, without harming what must not "
            "get worse?",
            name=self.spec.name or self.spec.id,
        )

    def answer(self, roi: Sequence[Mapping[str, Any]] = (), currency: str = "EUR") -> HTML:
        """The page's answer: the recommendation, the value case's NPV and chance to pay off, what would change it.

        Parameters
        ----------
        roi : sequence of mapping
            The run's ``results.json`` ``roi`` rows; the initiative's row gives its case.
        currency : str
            Currency of the case.
        """
        d = self.result.decision
        rec = self.recommendation(roi)
        arm = f" ({d.arm} arm)" if d.action == "ship" and d.arm and self.spec.design == "randomized" else ""
        row = next((r for r in roi if r.get("initiative") == self.spec.id), None)
        if row is None:
            worth = "No value case: the initiative has no value chain in the value model (params/value.yaml)."
        else:
            worth = (
                f"Value case: NPV {fmt.money(row.get('npv_p50'), currency)} (P10 to P90: "
                f"{fmt.money_range(row.get('npv_p10'), row.get('npv_p90'), currency)}), "
                f"{fmt.probability(row.get('prob_roi_positive'))} chance of a positive ROI."
            )
        lines = [worth, f"What would change it: {rec.change}." if rec.change else ""]
        return answer(f"{rec.text[:1].upper()}{rec.text[1:]}{arm}.", lines, label="The recommendation")

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
        rec = self.recommendation(roi)
        head = rec.text[:1].upper() + rec.text[1:] + (f" ({d.arm} arm)" if with_arm else "")
        lines = [f"## Decision: {{name}}\n\n**{head}.** {{reason}}"]
        values: dict[str, Any] = {"name": self.spec.name or self.spec.id, "reason": d.grounds()}
        if rec.change:
            lines.append("*What would change it:* {change}.")
            values["change"] = rec.change
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

    def changes_text(
        self, roi: Sequence[Mapping[str, Any]] = (), reports_dir: str | Path | None = None, period: str | None = None
    ) -> Markdown:
        """What changed since the previous published month: the recommendation, the primary effect.

        Parameters
        ----------
        roi : sequence of mapping
            The run's ``results.json`` ``roi`` rows (the recommendation as the ROI page recorded it).
        reports_dir : str or Path, optional
            The published months; the latest one before ``period`` is compared with
            (:func:`outcomes.report.changes.initiative_since_previous`).
        period : str, optional
            The reported month; without it, or without ``reports_dir``, nothing is compared.

        Returns
        -------
        IPython.display.Markdown
            Bullets, or a sentence saying there is no earlier month to compare with.
        """
        current = {"initiatives": [self.entry()], "roi": list(roi)}
        found = (
            initiative_since_previous(config.resolve(reports_dir), str(Month.parse(period)), self.spec.id, current)
            if reports_dir and period else None
        )
        if found is None:
            return md("No earlier month is published, so there is nothing to compare with yet.")
        return bullets(found)

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
                f"Units per arm: {sizes}. Sample ratio check {fmt.p_value(srm, missing='n/a')}"
                + (" (mismatch: the assignment is broken)." if self.result.srm_flag else " (no mismatch)."),
                "Assumptions: units were assigned at random and kept their arm; one unit's arm does not change "
                "another unit's outcome; the metrics are measured the same way in every arm.",
                self.result.notes[0] if self.result.notes else "",
                *self.adjustment_lines(),
            ]
        return paragraphs(lines)

    def adjustment_lines(self) -> list[str]:
        """One sentence per adjusted metric and arm: what CUPED or post-stratification removed.

        E.g. "Tickets per customer in the window (portal arm): adjusting for tickets before
        the start and orders before the start removed 26% of the variance." Empty when no
        metric was adjusted.
        """
        out = []
        for e in self.result.effects:
            text = e.adjustment_text()
            if text:
                out.append(f"{e.name[:1].upper()}{e.name[1:]} ({e.arm} arm): {text}.")
        return out

    def conditions_text(self) -> Markdown:
        """Each data condition found, and what it means for the decision."""
        found = [("", c) for c in self.result.conditions]
        for e in self.result.effects:
            found += [(f"**{e.name}:** ", c) for c in e.conditions if c not in self.result.conditions]
        if not found:
            return Markdown("No data condition was found: every arm had enough units and every metric varied.")
        # the sentence, not the code: codes are for results.json and scripts
        lines = [
            f"- {where}{c.message.rstrip('. ')}. *Meaning:* {_CONDITION_MEANING[c.blocks]}."
            for where, c in found
        ]
        return Markdown(safe_markdown("\n".join(lines)))

    def segments_frame(self) -> pd.DataFrame:
        """One row per segment, arm and metric (empty when no breakdown was asked for).

        The ``arm split`` column gives the segment's sample-ratio check: "as planned",
        "mismatch" (Holm-adjusted p below the SRM threshold: do not read that row) or "too
        few units" to check.
        """
        splits = {x.segment: _split_word(x) for x in self.result.segment_splits}
        rows = [
            {"segment": _segment_words(e.segment), "metric": e.name, "arm": e.arm, "change": fmt.change(e.estimate_abs, e.unit),
             f"{fmt.confidence(e.alpha)} CI": fmt.interval(e.ci_low, e.ci_high, e.unit) if e.estimable else "n/a",
             "adjusted p": fmt.p_value(e.p_value_adjusted, label="", missing="n/a"), "units": e.n_control + e.n_treatment,
             "arm split": splits.get(e.segment, "not checked")}
            for e in self.result.segment_effects
        ]
        return pd.DataFrame(rows)

    def segments(self) -> HTML | Markdown:
        """The segment breakdown with the multiple-comparison caveat and what the segment explorer found."""
        frame = self.segments_frame()
        if frame.empty:
            return Markdown(
                "No segment breakdown was asked for (`data.segments` in the parameters). Breakdowns are for "
                "ideas, not decisions: with many segments some differences appear by chance."
            )
        caveat = next((c.message for c in self.result.conditions if c.code == "segment_multiple_comparisons"), "")
        found = explore_segments(self.result.segment_effects, alpha=self.spec.alpha).summary()
        return table(frame, units={"units": "count"}, caption=f"{caveat} {found}".strip())

    def planning_text(self) -> Markdown:
        """The smallest detectable change so far, and the plan for the primary metric's MDE."""
        if self.quasi is not None:
            e = self.result.effects[0]
            mde = float(minimum_detectable_effect(e.se_abs, self.spec.alpha, self.spec.power))
            if math.isfinite(mde):
                first = (f"With the data so far, the smallest change in {e.name} this design could tell from noise "
                         f"({self.spec.power:.0%} power) is about {fmt.change(mde, e.unit).lstrip('+')}.")
            elif e.estimable:
                first = ("This design's interval comes from ranks or permutations, not from a standard error, so no "
                         "smallest detectable change can be stated.")
            else:
                first = "No estimate yet, so no detectable change can be stated."
            lines = [first]
            if self.spec.primary.mde is not None:
                lines.append(f"The minimum worthwhile effect set for it is {fmt.change(self.spec.primary.mde, e.unit).lstrip('+')}.")
        else:
            lines = list(self.result.notes[1:]) or ["Set `mde` on the primary metric to get a sample-size plan."]
        return paragraphs(lines)

    # ------------------------------------------------------------------ charts

    def forest_chart(self) -> alt.LayerChart:
        """Relative effect of every arm on every metric, with its fixed-horizon interval.

        Returns
        -------
        altair.LayerChart
            One row per metric and arm (relative to the control level, so metrics in
            different units share the axis), coloured by role, with a zero rule.
        """
        rows = []
        for e in self.result.effects:
            if not math.isfinite(e.estimate_rel):
                continue
            # The metrics are rates, counts, durations and money: none falls below zero,
            # so no relative change goes below -100%.
            low, high, clipped = clip_relative(e.ci_rel_low, e.ci_rel_high)
            rows.append({"label": f"{e.name} ({e.arm})" if self.spec.design == "randomized" else e.name, "role": e.role,
                         "estimate": e.estimate_rel, "low": low, "high": high,
                         "change": fmt.change(e.estimate_abs, e.unit),
                         "interval": CLIPPED_NOTE if clipped else UNCLIPPED_NOTE})
        frame = pd.DataFrame(rows, columns=["label", "role", "estimate", "low", "high", "change", "interval"])
        y = alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=0))
        level = fmt.confidence(self.result.alpha)
        base = alt.Chart(frame)
        tooltip = [alt.Tooltip("label:N", title="Metric"), alt.Tooltip("change:N", title="Change"),
                   alt.Tooltip("estimate:Q", title="Relative", format="+.1%"),
                   alt.Tooltip("low:Q", title=f"{level} CI low", format="+.1%"),
                   alt.Tooltip("high:Q", title=f"{level} CI high", format="+.1%"),
                   alt.Tooltip("interval:N", title="Note")]
        rules = base.mark_rule().encode(
            y=y, x=alt.X("low:Q", title=f"Effect relative to control ({level} CI)", axis=alt.Axis(format="+%")),
            x2="high:Q", color=alt.Color("role:N", title="Role"), tooltip=tooltip,
        )
        points = base.mark_point(filled=True, size=60).encode(
            y=y, x="estimate:Q", color=alt.Color("role:N", legend=None), tooltip=tooltip,
        )
        zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
        return alt.layer(zero, rules, points).properties(title=f"Effects of {self.spec.name or self.spec.id}")

    def time_chart(self) -> alt.LayerChart | alt.VConcatChart:
        """The effect over time: cumulative with the anytime-valid bound, event study, counterfactual or synthetic control.

        Raises
        ------
        ParamsError
            When there is no time dimension (a randomized test on a user's table).
        """
        if self.quasi is not None and self.quasi.design == "synthetic_control":
            return synthetic_chart(self.quasi)
        if self.quasi is not None:
            return its_chart(self.quasi) if self.quasi.design == "its" else event_study_chart(self.quasi)
        if self.timeline is None or self.timeline.empty:
            raise ParamsError(
                f"initiative {self.spec.id!r}: no effect over time for a table without dates; "
                "the cumulative chart needs warehouse data"
            )
        return cumulative_chart(self.timeline, self.result.primary[0], self.result.alpha)

    def time_chart_or_note(self) -> alt.LayerChart | alt.VConcatChart | Markdown:
        """:meth:`time_chart`, or a sentence for the reader saying why there is none."""
        if self.quasi is None and (self.timeline is None or self.timeline.empty):
            return paragraphs([NO_TIMELINE])
        try:
            return self.time_chart()
        except OutcomesError as exc:
            return paragraphs([str(exc)])

    # ------------------------------------------------------------------ results.json

    def entry(self) -> dict[str, Any]:
        """The ``initiatives`` entry of ``results.json``: only the fields of the schema.

        One metric row per treatment arm and metric, with the fixed-horizon, unadjusted
        ``ci_low``/``ci_high``/``p_value`` and beside them ``seq_ci_low``/``seq_ci_high``/
        ``p_value_adjusted``. Quasi designs report ``arm: null``. ``decision_reason`` is the
        decision's sentence; ``conditions`` lists the initiative's and its effects'
        conditions (code, sentence, what they force).
        """

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
        entry["conditions"] = [c.to_dict() for c in self.result.every_condition]
        if self.spec.design == "randomized":
            entry["interval"] = self.spec.interval
        return entry


def _split_word(split: SegmentSplit) -> str:
    if split.flagged:
        return f"mismatch ({fmt.p_value(split.p_value_adjusted)})"
    return "as planned" if math.isfinite(split.p_value) else "too few units"


def _segment_words(segment: str) -> str:
    """A segment key as a reader says it: ``segment=smb`` → "smb segment", ``region=north`` → "north region"."""
    dim, _, value = segment.partition("=")
    return f"{value} {dim.replace('_', ' ')}" if value else segment


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
    window = aggregates.analysis_window(con, spec, period)
    agg = aggregates.randomized_aggregates(con, spec, window, looks=window.months[1:] + [window.end])
    result = with_arm_setup(spec, analyze_aggregates(agg.table, spec, units=agg.units))
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


def _quasi(spec: InitiativeSpec, panel_for: Any, window: aggregates.AnalysisWindow | None, source: str) -> Review:
    """Run the quasi design on the primary metric (with checks) and the guardrails (estimates only)."""
    if not spec.start_date and spec.design != "staggered":
        raise ParamsError(f"initiative {spec.id!r}: start_date is not set; give the first day with the change")
    results: dict[str, QuasiResult] = {}
    for m in spec.metrics:
        frame, unit_col, period_col, outcome = panel_for(m)
        if spec.design == "staggered":
            results[m.id] = staggered_adoption(frame, unit=unit_col, period=period_col, outcome=outcome,
                                               rollout=spec.rollout or {}, metric=m.id, label=m.display_name,
                                               alpha=spec.alpha)
            continue
        common = {"period": period_col, "outcome": outcome, "start": spec.start_date, "metric": m.id,
                  "label": m.display_name,
                  "alpha": spec.alpha, "placebo": m.role == "primary"}
        if spec.min_pre_periods is not None:
            common["min_pre_periods"] = spec.min_pre_periods
        if spec.design == "did":
            if not spec.treated_units:
                raise ParamsError(f"initiative {spec.id!r}: a did design needs treated_units (e.g. [north, east])")
            results[m.id] = difference_in_differences(
                frame, unit=unit_col, treated_units=spec.treated_units,
                bootstrap_reps=9999 if m.role == "primary" else 999, **common)
        elif spec.design == "synthetic_control":
            results[m.id] = synthetic_control(frame, unit=unit_col, treated_units=spec.treated_units or [], **common)
        else:
            results[m.id] = interrupted_time_series(
                frame, unit=unit_col, treated_units=spec.treated_units if unit_col else None, **common)
    results = {m.id: replace(results[m.id], unit=m.display_unit) for m in spec.metrics}
    primary = spec.primary
    others = [
        results[m.id].to_effect(direction=m.direction, role=m.role, unit=m.display_unit, label=m.display_name)
        for m in spec.metrics if m.role != "primary"
    ]
    q = results[primary.id]
    result = q.to_initiative(
        spec.id, direction=primary.direction, unit=primary.display_unit, label=primary.display_name,
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
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    folder: str | Path | None = None,
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
    warehouse_path, engine_settings : str or Path, optional
        The warehouse file and the engine settings opened when ``con`` is not given
        (default: the project's).
    folder : str or Path, optional
        The initiative files, for an id (default: the project's ``params/initiatives``).

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
    spec = load_spec(
        initiative, con, folder=folder, warehouse_path=warehouse_path, engine=engine, engine_settings=engine_settings
    )
    if spec.data.table:
        df = read_table(spec)
        if spec.design == "randomized":
            return Review(spec, with_arm_setup(spec, analyze_table(df, spec)), spec.data.table)
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
        con = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
    if spec.design == "randomized":
        return _randomized_warehouse(spec, con, period)
    window = aggregates.analysis_window(con, spec, period)

    def panel_for(m: MetricSpec) -> tuple[pd.DataFrame, str | None, str, str]:
        frame = aggregates.quasi_panel(con, spec, m.metric or _column(m), window)
        return frame, None if spec.design == "its" else "unit", "period", "value"

    return _quasi(spec, panel_for, window, "warehouse")


def analysed_month(
    spec: InitiativeSpec,
    con: ibis.BaseBackend | None = None,
    *,
    warehouse_path: str | Path | None = None,
    engine: str = "duckdb",
    engine_settings: str | Path | None = None,
) -> str | None:
    """The last month :func:`review` analyses when given no period, ``YYYY-MM``.

    The month of the last day of the analysis window on the warehouse; the latest month
    of the period column (``data.time``) of a user's table (quarters and weeks: the month
    of their first day); None for a table without one, or whose periods are years or
    period numbers (its data name no month).

    Parameters
    ----------
    spec : InitiativeSpec
        The initiative.
    con : ibis.BaseBackend, optional
        The warehouse; opened from ``warehouse_path`` on ``engine`` when needed and not given.
    warehouse_path, engine, engine_settings
        As in :func:`review`.

    Returns
    -------
    str or None
    """
    if spec.data.table:
        if not spec.data.time:
            return None
        latest = read_periods(read_table(spec)[spec.data.time], spec.data.time).max()
        return f"{latest:%Y-%m}" if isinstance(latest, pd.Timestamp) else None
    if con is None:
        con = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
    end = aggregates.analysis_window(con, spec, None).end
    return f"{end - dt.timedelta(days=1):%Y-%m}"


# --------------------------------------------------------------------------- shared in a report run


def _backend(con: ibis.BaseBackend | None, engine: str) -> str:
    """The ibis backend name of ``con``, or of the connection ``engine`` opens."""
    return con.name if con is not None else {"spark": "pyspark"}.get(engine, engine)


def _review_parts(spec: InitiativeSpec, period: str | None, engine: str) -> dict[str, Any]:
    """The key's parts of a review: the spec, the period, the engine and the state of a user's table."""
    parts: dict[str, Any] = {"spec": spec.model_dump(mode="json"), "period": period, "engine": engine}
    if spec.data.table:  # the review reads this file: its state is part of the key
        table = config.resolve(spec.data.table)
        st = table.stat() if table.is_file() else None
        parts["table"] = {"path": str(table), "size": st and st.st_size, "mtime_ns": st and st.st_mtime_ns}
    return parts


def _shared(
    spec: InitiativeSpec,
    compute: Callable[[], tuple[Any, str]],
    *,
    period: str | None,
    engine: str,
    warehouse_path: str | Path | None,
    engine_settings: str | Path | None,
    kind: str = "review",
    codec: cache.Codec[Any] = RESULT,
) -> Any:
    """Read a review's artefact from the run's shared folder, or compute and store it.

    ``kind`` and ``codec``: the result (``review``, JSON) or the whole review with its
    charts' data (``review-page``, :data:`outcomes.cache.OBJECT`).
    """
    return cache.get_or_compute(
        kind, _review_parts(spec, period, engine), compute, codec,
        source=store.source_stamp(engine, warehouse_path, engine_settings),
        describe=f"{spec.id} up to {period or 'the end of the data'}" + (", with its charts" if kind != "review" else ""),
    )


def shared_review(
    initiative: str | Path | InitiativeSpec,
    *,
    period: str | None = None,
    engine: str = "duckdb",
    con: ibis.BaseBackend | None = None,
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    folder: str | Path | None = None,
) -> Review:
    """Review an initiative (:func:`review`) and share its result with the run's other notebooks.

    The whole :class:`Review` (its charts need it) is computed once per run and shared:
    the ROI page, which runs first, makes it while it reviews every initiative, and the
    review page reads it. Its :class:`~outcomes.experiment.results.InitiativeResult` is
    stored for :func:`shared_result` (what the ROI page needs), unless another notebook
    of the run stored it first.

    Parameters
    ----------
    initiative : str, Path or InitiativeSpec
        A params file, an initiative id, or a spec.
    period : str, optional
        ``YYYY-MM``: data up to the end of this month.
    engine : {"duckdb", "spark"}
        The engine of the warehouse.
    con : ibis.BaseBackend, optional
        An open connection to the warehouse on that engine.
    warehouse_path, engine_settings : str or Path, optional
        The warehouse file and the engine settings (default: the project's).
    folder : str or Path, optional
        The initiative files, for an id (default: the project's ``params/initiatives``).

    Returns
    -------
    Review
    """
    where = {"warehouse_path": warehouse_path, "engine_settings": engine_settings}
    spec = load_spec(initiative, con, folder=folder, engine=engine, **where)
    page = _shared_page(spec, period=period, engine=engine, con=con, **where)
    # the figures are the stored result the other pages read (this page's own when it stored it first)
    stored = _shared(spec, lambda: (page.result, _backend(con, engine)), period=period, engine=engine, **where)
    return replace(page, result=stored)


def _shared_page(
    spec: InitiativeSpec,
    *,
    period: str | None,
    engine: str,
    con: ibis.BaseBackend | None,
    warehouse_path: str | Path | None,
    engine_settings: str | Path | None,
) -> Review:
    """The whole review, charts' data included, computed once per run.

    The ROI page reviews every initiative before the review pages run; they read the
    reviews it made instead of making them again.
    """
    where = {"warehouse_path": warehouse_path, "engine_settings": engine_settings}

    def compute() -> tuple[Review, str]:
        return review(spec, period=period, con=con, engine=engine, **where), _backend(con, engine)

    return _shared(spec, compute, period=period, engine=engine, kind="review-page", codec=cache.OBJECT, **where)


def shared_result(
    initiative: str | Path | InitiativeSpec,
    *,
    period: str | None = None,
    engine: str = "duckdb",
    con: ibis.BaseBackend | None = None,
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    folder: str | Path | None = None,
) -> InitiativeResult:
    """An initiative's result, read from the run's shared folder when a review stored it.

    Parameters are those of :func:`shared_review`.

    Returns
    -------
    InitiativeResult
    """
    where = {"warehouse_path": warehouse_path, "engine_settings": engine_settings}
    spec = load_spec(initiative, con, folder=folder, engine=engine, **where)

    def compute() -> tuple[InitiativeResult, str]:
        return _shared_page(spec, period=period, engine=engine, con=con, **where).result, _backend(con, engine)

    return _shared(spec, compute, period=period, engine=engine, **where)
