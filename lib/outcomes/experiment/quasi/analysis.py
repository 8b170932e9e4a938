"""Quasi-experimental designs for IT rollouts that were not randomized.

Two designs, one result type:

- :func:`difference_in_differences`: some units (regions, teams) got the change at one
  date, others did not. Two-way fixed effects with cluster-robust errors by unit, the
  2x2 means beside it, an event study with a pre-trend test, placebo checks in time
  and in space.
- :func:`interrupted_time_series`: every unit got the change at one date. Segmented
  regression (level and slope change) with AR(1) errors and seasonal terms, and a
  placebo check in time.

:func:`analyze_rollout` picks the design from the data. Every result says which design
was used, why, and which assumptions the reader must accept, returns chart-ready
frames (:attr:`QuasiResult.event_study`, :attr:`QuasiResult.counterfactual`) and
converts into the shared result types (:meth:`QuasiResult.to_effect`,
:meth:`QuasiResult.to_initiative`) so the one decision rule applies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.experiment.decision import decide
from outcomes.estimate import Estimate
from outcomes.experiment.quasi.did import (
    EventStudy,
    PretrendTest,
    did_2x2,
    did_twfe,
    event_study,
    twfe_estimate,
    wild_cluster_pvalue,
)
from outcomes.experiment.quasi.donors import SyntheticFit
from outcomes.experiment.quasi.honest import (
    NEEDS_TWO_PRE_PERIODS,
    TrendSensitivity,
    event_study_sensitivity,
)
from outcomes.experiment.quasi.its import Seasonality, segmented_regression, treated_series
from outcomes.experiment.quasi.placebo import PlaceboCheck, placebo_in_space, placebo_in_time
from outcomes.experiment.quasi.randomization import RandomizationTest, randomization_test
from outcomes.experiment.quasi.panel import (
    BLOCKS,
    FEW_CLUSTERS,
    FEW_TREATED_UNITS,
    INFERENCE_DISAGREES,
    NO_INTERVAL,
    PLACEBO_IN_SPACE,
    PLACEBO_IN_TIME,
    POST,
    PRE_TREND,
    PRE_TREND_NOT_CHECKED,
    SENSITIVE_TO_TRENDS,
    TREATED,
    Y,
    QuasiInputError,
    QuasiPanel,
    period_label,
    prepare_panel,
)
from outcomes.experiment.results import Condition, Direction, InitiativeResult, MetricEffect, Role

#: Fewer clusters (units) than this: cluster-robust errors are approximate (Cameron and Miller 2015
#: put the threshold between 20 and 50); the result says so and adds the wild cluster bootstrap.
FEW_CLUSTERS_BELOW = 30
#: Fewer treated (or untreated) units than this: even the wild bootstrap is unreliable
#: (MacKinnon and Webb 2017); the placebo-in-space rank is the check to weigh.
FEW_TREATED_BELOW = 3
#: Wild bootstrap draws per placebo fit when there are few clusters.
PLACEBO_BOOTSTRAP_REPS = 1999
#: Assignments of the randomization test per placebo fit where cluster-robust inference does not exist.
PLACEBO_ASSIGNMENTS = 200

Design = Literal["did", "its", "synthetic_control", "staggered"]
#: Each design in words.
DESIGN_NAMES = {
    "did": "difference-in-differences",
    "its": "interrupted time series",
    "synthetic_control": "synthetic control",
    "staggered": "difference-in-differences of a staggered rollout",
}


@dataclass(frozen=True)
class QuasiResult:
    """The estimate of a non-randomized rollout, with its design, checks and charts' data.

    Attributes
    ----------
    design : {"did", "its", "synthetic_control", "staggered"}
        Difference-in-differences, interrupted time series, synthetic control, or
        difference-in-differences of a staggered rollout (:mod:`~outcomes.experiment.quasi.staggered`).
    metric : str
        The outcome (a catalog metric id or the user's column name).
    method : str
        The estimator in a few words.
    why : str
        Why this design was used, one plain sentence.
    assumptions : tuple of str
        What the reader must accept for the estimate to be causal, one sentence each.
    estimate : Estimate or None
        The headline effect (TWFE coefficient; ITS level change); None when blocked.
    observed : float
        Mean outcome of the treated units after the start (ITS: fitted level at the start).
    counterfactual_mean : float
        What it would have been without the change (observed minus the effect).
    other_estimates : dict of str to Estimate
        DiD: ``"2x2"``; ITS: ``"slope change"``, ``"average post-period effect"``.
    cells : pandas.DataFrame or None
        DiD only: the four means (group, phase, mean, n).
    event_study : pandas.DataFrame or None
        DiD only: tidy event-study frame (see :class:`~outcomes.experiment.quasi.did.EventStudy`).
    pretrend : PretrendTest or None
        DiD only: test that the leads are zero.
    counterfactual : pandas.DataFrame or None
        Observed against counterfactual, one row per period: ``period``, ``observed``
        (mean of the treated units), ``counterfactual``, ``cf_low``, ``cf_high`` (ITS
        only, NaN for DiD), ``phase``, and for DiD ``untreated`` (mean of the untreated).
    placebos : tuple of PlaceboCheck
        Placebo checks run beside the estimate.
    wild_p_value : float
        Wild cluster bootstrap p-value (DiD with few clusters), else NaN.
    randomization : RandomizationTest or None
        DiD with few units: the estimate under every assignment of the treated units
        (the headline's p-value and interval when cluster-robust errors are not valid).
    synthetic : SyntheticFit or None
        Synthetic control only: donor weights, pre-period fit and the gap in every period.
    conditions : tuple of Condition
        Data conditions and failed checks; blocking ones force "keep testing".
    start : object
        First period of the change.
    n_units, n_treated, n_pre, n_post : int
        Panel sizes.
    alpha : float
        One minus the confidence level.
    label : str
        The metric's name in sentences (its catalog name); ``metric`` when empty.
    notes : tuple of str
        Further sentences for the reader (staggered: whether the cross-check agrees).
    sensitivity : TrendSensitivity or None
        DiD and staggered designs with an event study: how large a violation of parallel
        trends the conclusion survives (:mod:`~outcomes.experiment.quasi.honest`).
    unit : str
        The metric's unit in sentences ("hours", "fraction"...); plain numbers when empty.
    """

    design: Design
    metric: str
    method: str
    why: str
    assumptions: tuple[str, ...]
    estimate: Estimate | None
    observed: float
    counterfactual_mean: float
    other_estimates: dict[str, Estimate] = field(default_factory=dict)
    cells: pd.DataFrame | None = None
    event_study: pd.DataFrame | None = None
    pretrend: PretrendTest | None = None
    counterfactual: pd.DataFrame | None = None
    placebos: tuple[PlaceboCheck, ...] = ()
    wild_p_value: float = math.nan
    randomization: RandomizationTest | None = None
    synthetic: SyntheticFit | None = None
    conditions: tuple[Condition, ...] = ()
    start: Any = None
    n_units: int = 0
    n_treated: int = 0
    n_pre: int = 0
    n_post: int = 0
    alpha: float = 0.05
    label: str = ""
    notes: tuple[str, ...] = ()
    sensitivity: TrendSensitivity | None = None
    unit: str = ""

    @property
    def design_name(self) -> str:
        """The design in words."""
        return DESIGN_NAMES[self.design]

    @property
    def name(self) -> str:
        """The metric as readers see it: ``label``, else ``metric``."""
        return self.label or self.metric

    def _change(self, x: float) -> str:
        """An effect in the metric's unit ("-1.01 hours", "+6.0 pp"); a plain signed number without one."""
        return fmt.change(x, self.unit) if self.unit else fmt.number(x, signed=True)

    def _level(self, x: float) -> str:
        """A level in the metric's unit ("3.75 hours", "27.0%"); a plain number without one."""
        return fmt.level(x, self.unit) if self.unit else fmt.number(x)

    def sentences(self) -> tuple[str, ...]:
        """Plain sentences: design and why, estimate, checks (no conditions, no assumptions)."""
        out = [f"Design: {self.design_name} ({self.method}).", f"Why: {self.why}"]
        e = self.estimate
        if e is not None:
            what = {"its": "level change at the start", "synthetic_control": "average gap after the start"}.get(
                self.design, "effect on the treated units"
            )
            out.append(
                f"Estimate ({what}): {self._change(e.estimate)} on {self.name} ({self._inference(e)}); "
                f"{self._level(self.counterfactual_mean)} without the change against {self._level(self.observed)} with it."
            )
        if self.synthetic is not None:
            out.extend(self.synthetic.sentences())
        for name, other in self.other_estimates.items():
            out.append(f"{name.capitalize()}: {self._change(other.estimate)} ({self._inference(other)}).")
        if self.pretrend is not None:
            t = self.pretrend
            verdict = "rejected: trends differed before the start" if t.rejected else "not rejected"
            out.append(
                f"Pre-trend test ({t.method}, {t.n_leads} leads): {fmt.p_value(t.p_value)}, parallel trends {verdict}."
            )
        out.extend(p.sentence for p in self.placebos)
        if math.isfinite(self.wild_p_value):
            out.append(f"Wild cluster bootstrap p-value (Webb weights): {fmt.p_value(self.wild_p_value, label='')}.")
        if self.randomization is not None:
            out.append(self.randomization.sentence(self.alpha))
        out.extend(self.notes)
        if self.sensitivity is not None:
            out.extend(self.sensitivity.sentences())
        return tuple(out)

    def _inference(self, e: Estimate) -> str:
        """``"95% CI a to b, p = ..."``, or why there is no interval."""
        if has_interval(e):
            return f"{fmt.confidence(self.alpha)} CI {fmt.interval(e.ci_low, e.ci_high, self.unit)}, {fmt.p_value(e.p_value)}"
        return f"no interval, see the conditions; {fmt.p_value(e.p_value)}"

    def summary(self) -> str:
        """Return the result as plain text: design, why, estimate, checks, assumptions, conditions."""
        lines = list(self.sentences())
        if self.estimate is None:
            reasons = " ".join(c.message for c in self.conditions if c.blocks is not None)
            lines.append(f"No estimate could be made: {reasons}")
        lines.append("Assumptions the reader must accept:")
        lines.extend(f"- {a}" for a in self.assumptions)
        lines.extend(f"Note ({c.code}): {c.message}" for c in self.conditions)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per estimate (headline first): name, estimate, se, ci_low, ci_high, p_value, df, method."""
        named = ([("headline", self.estimate)] if self.estimate is not None else []) + list(
            self.other_estimates.items()
        )
        cols = ["name", "estimate", "se", "ci_low", "ci_high", "p_value", "df", "method"]
        rows = [{"name": n, **{c: getattr(e, c) for c in cols[1:]}} for n, e in named]
        return pd.DataFrame(rows, columns=cols).assign(design=self.design, metric=self.metric)

    def to_effect(
        self,
        *,
        direction: Direction,
        role: Role = "primary",
        unit: str = "",
        label: str = "",
    ) -> MetricEffect:
        """Convert the headline estimate into the shared :class:`MetricEffect`.

        Parameters
        ----------
        direction : {"higher", "lower"}
            Which way is better for the metric.
        role : {"primary", "guardrail", "secondary"}
            The metric's role in the initiative.
        unit : str
            Display unit (``"fraction"`` for rates).
        label : str
            Display name.

        Returns
        -------
        MetricEffect
            ``arm="treated"``, ``control_arm="untreated"``; ``control_mean`` is the
            counterfactual, ``treatment_mean`` the observed level. The relative scale
            divides by the counterfactual, taken as known (its own uncertainty is left out).
        """
        common: dict[str, Any] = {
            "metric": self.metric,
            "arm": "treated",
            "control_arm": "untreated",
            "role": role,
            "direction": direction,
            "unit": unit,
            "label": label,
            "alpha": self.alpha,
            "method": self.design,
            "n_treatment": self.n_treated,
            "n_control": self.n_units - self.n_treated,
            "conditions": self.conditions,
        }
        e = self.estimate
        if e is None:
            return MetricEffect(**common)
        base = self.counterfactual_mean
        rel = dict.fromkeys(("estimate_rel", "se_rel", "ci_rel_low", "ci_rel_high"), math.nan)
        if math.isfinite(base) and abs(base) > 1e-12:
            lo, hi = sorted((e.ci_low / base, e.ci_high / base))
            rel = {"estimate_rel": e.estimate / base, "se_rel": e.se / abs(base), "ci_rel_low": lo, "ci_rel_high": hi}
        return MetricEffect(
            **common,
            control_mean=base,
            treatment_mean=self.observed,
            estimate_abs=e.estimate,
            se_abs=e.se,
            df=e.df,
            ci_low=e.ci_low,
            ci_high=e.ci_high,
            p_value=e.p_value,
            **rel,
        )

    def to_initiative(
        self,
        id: str,
        *,
        direction: Direction,
        unit: str = "",
        label: str = "",
        name: str = "",
        guardrails: Sequence[MetricEffect] = (),
        mde: float | None = None,
    ) -> InitiativeResult:
        """Build the initiative's result with the one decision rule.

        Parameters
        ----------
        id : str
            Initiative id.
        direction, unit, label
            See :meth:`to_effect`.
        name : str
            Human-readable initiative name.
        guardrails : sequence of MetricEffect
            Guardrail effects, e.g. ``other.to_effect(role="guardrail", direction="higher")``.
        mde : float, optional
            Minimum worthwhile effect, passed to :func:`~outcomes.experiment.decision.decide`.

        Returns
        -------
        InitiativeResult
            The decision uses the fixed-horizon interval (quasi designs have no sequential one).
        """
        primary = self.to_effect(direction=direction, unit=unit, label=label)
        decision = decide(primary, guardrails, interval="fixed", mde=mde)
        notes = (*self.sentences(), "Assumptions: " + " ".join(self.assumptions))
        return InitiativeResult(
            id=id,
            design=self.design,
            effects=(primary, *guardrails),
            decision=decision,
            name=name,
            alpha=self.alpha,
            arm_sizes={"treated": self.n_treated, "untreated": self.n_units - self.n_treated},
            notes=notes,
        )


def has_interval(e: Estimate) -> bool:
    """Whether ``e`` has an interval worth showing: finite bounds and a positive width."""
    return math.isfinite(e.ci_low) and math.isfinite(e.ci_high) and e.ci_high > e.ci_low


def _without_interval(e: Estimate) -> Estimate:
    """``e`` with its standard error, interval and p-value removed (they are not valid)."""
    return replace(e, se=math.nan, ci_low=math.nan, ci_high=math.nan, p_value=math.nan)


def _when(start: Any) -> str:
    return period_label(start) if isinstance(start, pd.Timestamp) else f"period {start}"


def _did_assumptions(metric: str, start: Any) -> tuple[str, ...]:
    return (
        f"Parallel trends: without the change, {metric} of the treated units would have moved like that of the "
        "untreated units (the same ups and downs, not the same level).",
        "No other change reached the treated units, and only them, at the same date.",
        f"No anticipation: the treated units did not react before {_when(start)}.",
        "No spill-over: the untreated units were not affected by the change.",
    )


def _its_assumptions(metric: str, start: Any) -> tuple[str, ...]:
    return (
        f"Without the change, {metric} would have kept its trend and season from before {_when(start)}.",
        f"Nothing else that moves {metric} changed at the same date (a reorganisation, another tool, a price "
        "change, a new reporting rule).",
        "The units in the series did not change at the start (no units added or dropped at that date).",
    )


_EXACT_FIT = Condition(
    NO_INTERVAL,
    "The segmented regression fits the series exactly (as many terms as periods, or no noise), so its "
    "uncertainty cannot be measured and no interval is shown; add periods.",
    BLOCKS,
)
_NOT_IDENTIFIED = Condition(
    NO_INTERVAL,
    "The unit and period effects explain the treatment fully (the treated units are not seen both before and "
    "after the start beside untreated units), so no effect can be estimated.",
    BLOCKS,
)


def _randomization_headline(
    twfe: Estimate, two_by_two: Estimate, study: EventStudy, ri: RandomizationTest, alpha: float
) -> tuple[Estimate, Estimate, EventStudy]:
    """The estimates when cluster-robust errors are not valid: randomization p-value and interval on the headline.

    The 2x2 and event-study intervals are cluster-robust, so they are removed, and so is
    the pre-trend test that rests on them.
    """
    bounds = ri.interval(alpha)
    low, high = bounds if bounds is not None else (math.nan, math.nan)
    headline = replace(
        twfe,
        se=math.nan,
        ci_low=low,
        ci_high=high,
        p_value=ri.p_value(),
        df=math.nan,
        method="two-way fixed effects (unit and period), randomization inference over units",
    )
    frame = study.frame.copy()
    estimated = frame["phase"] != "reference"
    frame.loc[estimated, ["se", "ci_low", "ci_high", "p_value"]] = math.nan
    return headline, _without_interval(two_by_two), EventStudy(frame=frame, pretrend=None)


def _did_conditions(
    panel: QuasiPanel, twfe: Estimate, pretrend: PretrendTest | None, wild_p: float, clustered: bool, alpha: float
) -> list[Condition]:
    out: list[Condition] = []
    g = panel.n_units
    if g < FEW_CLUSTERS_BELOW and clustered:
        out.append(
            Condition(
                FEW_CLUSTERS,
                f"Only {g} units (clusters): the cluster-robust interval uses a t distribution with {g - 1} degrees "
                f"of freedom and is approximate; the wild cluster bootstrap p-value is {fmt.p_value(wild_p, label='')}.",
            )
        )
    small = min(panel.n_treated, panel.n_control)
    which = "treated" if panel.n_treated <= panel.n_control else "untreated"
    if not clustered:
        out.append(
            Condition(
                FEW_TREATED_UNITS,
                f"Only {small} {which} unit(s) of {g}: cluster-robust errors are not valid here, so the p-value and "
                "the interval come from randomization inference over units (the estimate compared with those of "
                "every other choice of treated units).",
            )
        )
    elif small < FEW_TREATED_BELOW:
        out.append(
            Condition(
                FEW_TREATED_UNITS,
                f"Only {small} {which} unit(s): cluster-robust errors tend to understate the uncertainty with so "
                "few; weigh the placebo-in-space rank as well.",
            )
        )
    if math.isfinite(wild_p) and (wild_p < alpha) != (twfe.p_value < alpha):
        out.append(
            Condition(
                INFERENCE_DISAGREES,
                f"The cluster-robust p-value ({fmt.p_value(twfe.p_value, label='')}) and the wild cluster bootstrap p-value "
                f"({fmt.p_value(wild_p, label='')}) fall on different sides of {alpha:g}; the evidence is not firm.",
                BLOCKS if twfe.p_value < alpha else None,
            )
        )
    if pretrend is not None and pretrend.rejected:
        out.append(
            Condition(
                PRE_TREND,
                f"Before the start the treated units already moved differently from the untreated ones "
                f"({pretrend.method} {fmt.p_value(pretrend.p_value)}); the parallel-trends assumption is doubtful.",
                BLOCKS,
            )
        )
    elif pretrend is None:
        reason = (
            "there is only one period before the start"
            if panel.n_pre < 2
            else "too few units for the test (it needs two treated and two untreated units)"
        )
        out.append(
            Condition(
                PRE_TREND_NOT_CHECKED,
                f"Whether treated and untreated units moved alike before the start (parallel trends) cannot be "
                f"checked: {reason}. The estimate rests on that assumption alone.",
            )
        )
    return out


def with_sensitivity(
    result: QuasiResult, rel: Any, estimate: Any, cov: Any, base: Literal["reference", "varying"] = "reference"
) -> QuasiResult:
    """``result`` with its sensitivity to parallel trends, the note when it cannot be computed, and the condition.

    The condition :data:`~outcomes.experiment.quasi.panel.SENSITIVE_TO_TRENDS` (informational)
    applies when the relative-magnitudes breakdown is below 1: a post-period drift smaller
    than the largest pre-period one would overturn the conclusion.
    """
    if result.estimate is None:
        return result
    if result.n_pre < 2:
        return replace(result, notes=(*result.notes, NEEDS_TWO_PRE_PERIODS))
    if cov is None:
        return result
    sens = event_study_sensitivity(rel, estimate, cov, alpha=result.alpha, base=base)
    if sens is None:
        return result
    extra: tuple[Condition, ...] = ()
    if math.isfinite(sens.rm_breakdown) and sens.sensitive:
        extra = (
            Condition(
                SENSITIVE_TO_TRENDS,
                f"The conclusion is fragile: post-period trend differences only {fmt.number(sens.rm_breakdown)} "
                "times the largest pre-period one would be enough to explain it. Read the effect with care.",
            ),
        )
    return replace(result, sensitivity=sens, conditions=(*result.conditions, *extra))


def _placebo_conditions(checks: Sequence[PlaceboCheck]) -> list[Condition]:
    codes = {"in_time": PLACEBO_IN_TIME, "in_space": PLACEBO_IN_SPACE}
    return [Condition(codes[c.kind], c.sentence, BLOCKS) for c in checks if c.flagged]


def _panel_facts(panel: QuasiPanel) -> dict[str, Any]:
    """The panel's start and counts that every result reports."""
    return {
        "start": panel.start,
        "n_units": panel.n_units,
        "n_treated": panel.n_treated,
        "n_pre": panel.n_pre,
        "n_post": panel.n_post,
    }


def _blocked_result(
    panel: QuasiPanel,
    design: Design,
    metric: str,
    why: str,
    assumptions: tuple[str, ...],
    method: str,
    alpha: float,
    extra: tuple[Condition, ...] = (),
    label: str = "",
) -> QuasiResult:
    return QuasiResult(
        design=design,
        metric=metric,
        label=label,
        method=method,
        why=why,
        assumptions=assumptions,
        estimate=None,
        observed=math.nan,
        counterfactual_mean=math.nan,
        conditions=(*panel.conditions, *extra),
        alpha=alpha,
        **_panel_facts(panel),
    )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise QuasiInputError(f"alpha must be in (0, 1), bounds excluded; got {alpha}")


def difference_in_differences(
    frame: pd.DataFrame,
    *,
    unit: str,
    period: str,
    outcome: str,
    treated_units: Sequence[Any],
    start: Any,
    covariates: Sequence[str] = (),
    metric: str | None = None,
    label: str | None = None,
    alpha: float = 0.05,
    min_pre_periods: int = 3,
    placebo: bool = True,
    bootstrap_reps: int = 9999,
    seed: int = 0,
) -> QuasiResult:
    """Difference-in-differences of a rollout to some units at one date.

    Parameters
    ----------
    frame : pandas.DataFrame
        Panel, one row per unit and period (e.g. region x month).
    unit, period, outcome : str
        Column names; periods are dates (first of month) or integers.
    treated_units : sequence
        Units that got the change.
    start : date-like or int
        First period with the change.
    covariates : sequence of str
        Time-varying numeric controls added to the TWFE regression.
    metric : str, optional
        Metric id for the result; defaults to ``outcome``.
    label : str, optional
        The metric's name in the result's sentences; defaults to ``metric``.
    alpha : float
        One minus the confidence level.
    min_pre_periods : int
        Fewer periods before the start leave the result blocked.
    placebo : bool
        Run the placebo checks in time and in space.
    bootstrap_reps : int
        Wild cluster bootstrap draws (run with fewer than :data:`FEW_CLUSTERS_BELOW` units).
    seed : int
        Seed of the bootstrap and of the placebo-in-space sample.

    Returns
    -------
    QuasiResult
        Headline: the TWFE coefficient, cluster-robust by unit, t with G-1 df.
    """
    _check_alpha(alpha)
    metric = metric or outcome
    label = label or metric
    panel = prepare_panel(
        frame,
        unit=unit,
        period=period,
        outcome=outcome,
        start=start,
        treated_units=list(treated_units),
        covariates=covariates,
        min_pre_periods=min_pre_periods,
    )
    why = (
        f"The change reached {panel.n_treated} of {panel.n_units} units on {_when(panel.start)}; the "
        f"{panel.n_control} untreated units show how {label} would have moved without it."
    )
    assumptions = _did_assumptions(label, panel.start)
    method = "two-way fixed effects (unit and period), cluster-robust by unit"
    if panel.blocked:
        return _blocked_result(panel, "did", metric, why, assumptions, method, alpha, label=label)
    twfe, trends = did_twfe(panel, alpha)
    if not math.isfinite(twfe.estimate):
        return _blocked_result(panel, "did", metric, why, assumptions, method, alpha, extra=(_NOT_IDENTIFIED,), label=label)
    two_by_two, cells = did_2x2(panel, alpha)
    study = event_study(panel, alpha)
    few = panel.n_units < FEW_CLUSTERS_BELOW
    # Cluster-robust errors need two units on each side and a variance that is not zero to rounding.
    clustered = min(panel.n_treated, panel.n_control) >= 2 and has_interval(twfe)
    ri = randomization_test(panel, seed=seed) if few or not clustered else None
    extra: list[Condition] = []
    if clustered:
        wild_p = wild_cluster_pvalue(panel, bootstrap_reps, seed) if few else math.nan
    else:
        wild_p = math.nan
        twfe, two_by_two, study = _randomization_headline(twfe, two_by_two, study, ri, alpha)
        method = twfe.method
        if not has_interval(twfe):
            extra.append(Condition(NO_INTERVAL, ri.why_no_interval(alpha), BLOCKS))
    checks: list[PlaceboCheck] = []
    if placebo:

        def estimator(p: QuasiPanel) -> Estimate:
            est = twfe_estimate(p, alpha)
            if not clustered:
                # Cluster-robust inference does not exist here: only the randomization p-value is valid.
                test = randomization_test(p, max_assignments=PLACEBO_ASSIGNMENTS, seed=seed)
                return replace(_without_interval(est), p_value=test.p_value())
            if not few:
                return est
            # With few clusters the cluster-robust p-value over-rejects; placebo flags use the bootstrap.
            return replace(est, p_value=wild_cluster_pvalue(p, PLACEBO_BOOTSTRAP_REPS, seed))

        def ranked(p: QuasiPanel) -> Estimate:
            # Placebo in space judges by rank only; without valid cluster-robust inference, skip it.
            return estimator(p) if clustered else _without_interval(twfe_estimate(p, alpha))

        for check in (
            placebo_in_time(panel, estimator, twfe, alpha=alpha, min_pre_periods=min_pre_periods),
            placebo_in_space(panel, ranked, twfe, alpha=alpha, seed=seed),
        ):
            if check is not None:
                checks.append(check)
    wide = trends.pivot(index="period", columns="series", values="value")
    counterfactual = pd.DataFrame(
        {
            "period": wide.index,
            "observed": wide["treated"].to_numpy(),
            "counterfactual": wide["treated without the change"].to_numpy(),
            "cf_low": np.nan,
            "cf_high": np.nan,
            "phase": np.where(wide.index >= panel.start, "post", "pre"),
            "untreated": wide["untreated"].to_numpy(),
        }
    )
    treated_post = panel.data[panel.data[TREATED] & panel.data[POST]]
    observed = float(treated_post[Y].mean())
    conditions = (
        *panel.conditions,
        *extra,
        *_did_conditions(panel, twfe, study.pretrend, wild_p, clustered, alpha),
        *_placebo_conditions(checks),
    )
    coefficients = study.frame[study.frame["phase"] != "reference"]
    result = QuasiResult(
        design="did",
        metric=metric,
        label=label,
        method=method,
        why=why,
        assumptions=assumptions,
        estimate=twfe,
        observed=observed,
        counterfactual_mean=observed - twfe.estimate,
        other_estimates={"2x2 difference of means": two_by_two},
        cells=cells,
        event_study=study.frame,
        pretrend=study.pretrend,
        counterfactual=counterfactual,
        placebos=tuple(checks),
        wild_p_value=wild_p,
        randomization=ri,
        conditions=conditions,
        alpha=alpha,
        **_panel_facts(panel),
    )
    return with_sensitivity(result, coefficients["rel"].to_numpy(), coefficients["estimate"].to_numpy(), study.cov)


def interrupted_time_series(
    frame: pd.DataFrame,
    *,
    period: str,
    outcome: str,
    start: Any,
    unit: str | None = None,
    treated_units: Sequence[Any] | None = None,
    metric: str | None = None,
    label: str | None = None,
    alpha: float = 0.05,
    seasonality: Seasonality = "auto",
    maxlags: int | None = None,
    min_pre_periods: int = 8,
    min_post_periods: int = 3,
    placebo: bool = True,
) -> QuasiResult:
    """Interrupted time series of a change that reached every unit at one date.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per period, or per unit and period (the mean over units is modelled).
    period, outcome : str
        Column names; periods are dates (first of month) or integers.
    start : date-like or int
        First period with the change.
    unit : str, optional
        Unit column when the frame holds several series (services, regions).
    treated_units : sequence, optional
        Only these units' mean is modelled; default every unit.
    metric : str, optional
        Metric id for the result; defaults to ``outcome``.
    label : str, optional
        The metric's name in the result's sentences; defaults to ``metric``.
    alpha : float
        One minus the confidence level.
    seasonality : {"auto", "fourier", "month", "none"}
        Seasonal terms (see :func:`~outcomes.experiment.quasi.its.segmented_regression`).
    maxlags : int, optional
        Use OLS with Newey-West errors with this many lags instead of the default AR(1)
        errors (their intervals are too narrow in short series; the placebo check then
        only ranks and never flags).
    min_pre_periods : int
        Fewer periods before the start leave the result blocked.
    min_post_periods : int
        Fewer periods from the start on leave the result blocked (robust errors of a
        level change seen in one or two periods are degenerate). Also the post-period
        length of each placebo.
    placebo : bool
        Run the placebo check in time (fake start dates in the pre-period).

    Returns
    -------
    QuasiResult
        Headline: the level change at the start; slope change and average post-period
        effect beside it.
    """
    _check_alpha(alpha)
    metric = metric or outcome
    label = label or metric
    if unit is None:
        frame = frame.assign(_series="all")
        unit = "_series"
    panel = prepare_panel(
        frame,
        unit=unit,
        period=period,
        outcome=outcome,
        start=start,
        treated_units=None if treated_units is None else list(treated_units),
        min_pre_periods=min_pre_periods,
        min_post_periods=min_post_periods,
        require_control=False,
    )
    why = (
        f"The change reached every unit on {_when(panel.start)} and no untreated comparison exists, so the "
        f"trend and season of {label} before the start, extended past it, show what would have happened."
    )
    assumptions = _its_assumptions(label, panel.start)
    method = f"segmented regression with {'AR(1)' if maxlags is None else 'Newey-West'} errors"
    if panel.blocked:
        return _blocked_result(panel, "its", metric, why, assumptions, method, alpha, label=label)
    try:
        fit = segmented_regression(treated_series(panel), alpha=alpha, seasonality=seasonality, maxlags=maxlags)
    except np.linalg.LinAlgError:
        return _blocked_result(panel, "its", metric, why, assumptions, method, alpha, extra=(_EXACT_FIT,), label=label)
    level, extra = fit.level, ()
    if not has_interval(level):
        level = _without_interval(level)
        extra = (_EXACT_FIT,)
    checks: list[PlaceboCheck] = []
    if placebo:
        # Explicit seasonal terms may not fit the shorter pre-period: let each placebo choose.
        placebo_seasonality: Seasonality = "none" if seasonality == "none" else "auto"

        def estimator(p: QuasiPanel) -> Estimate:
            series = treated_series(p)
            return segmented_regression(series, alpha=alpha, seasonality=placebo_seasonality, maxlags=maxlags).level

        try:
            check = placebo_in_time(
                panel,
                estimator,
                level,
                alpha=alpha,
                min_pre_periods=min_pre_periods,
                min_post_periods=min_post_periods,
                flag=maxlags is None,
            )
        except np.linalg.LinAlgError:  # a pre-period the segmented regression fits exactly: no placebo to run
            check = None
        if check is not None:
            checks.append(check)
    return QuasiResult(
        design="its",
        metric=metric,
        label=label,
        method=fit.level.method,
        why=why,
        assumptions=assumptions,
        estimate=level,
        observed=fit.baseline + level.estimate,
        counterfactual_mean=fit.baseline,
        other_estimates={"slope change per period": fit.slope, "average post-period effect": fit.average},
        counterfactual=fit.series,
        placebos=tuple(checks),
        conditions=(*panel.conditions, *extra, *_placebo_conditions(checks)),
        alpha=alpha,
        **_panel_facts(panel),
    )


def analyze_rollout(
    frame: pd.DataFrame,
    *,
    unit: str,
    period: str,
    outcome: str,
    start: Any,
    treated_units: Sequence[Any] | None = None,
    **options: Any,
) -> QuasiResult:
    """Pick the design from the data and run it.

    Difference-in-differences when some units in ``frame`` were not treated (they show
    what would have happened); an interrupted time series when every unit was treated
    (``treated_units`` omitted or naming every unit).

    Parameters
    ----------
    frame : pandas.DataFrame
        Panel, one row per unit and period.
    unit, period, outcome : str
        Column names.
    start : date-like or int
        First period with the change.
    treated_units : sequence, optional
        Units that got the change; default every unit.
    **options
        Passed to :func:`difference_in_differences` or :func:`interrupted_time_series`.

    Returns
    -------
    QuasiResult
    """
    units = set(pd.unique(frame[unit])) if unit in frame.columns else set()
    if treated_units is not None and units - set(treated_units):
        return difference_in_differences(
            frame, unit=unit, period=period, outcome=outcome, treated_units=treated_units, start=start, **options
        )
    return interrupted_time_series(
        frame, unit=unit, period=period, outcome=outcome, start=start, treated_units=treated_units, **options
    )
