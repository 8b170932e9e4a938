"""Synthetic control: one treated unit (an IT change launched at one site) against a weighted mix of the others.

When a change reached a single unit (one site, one region, one service desk), a
difference-in-differences has one treated cluster and no valid standard error. The
synthetic control of Abadie, Diamond and Hainmueller (2010) builds the comparison from
the untreated units (the donors) instead: non-negative weights summing to one, chosen so
that the weighted mix follows the treated unit's outcome before the start
(:mod:`~outcomes.experiment.quasi.donors`). After the start the gap between the treated
unit and its synthetic control is the effect, period by period; the headline is the
average gap over the post-period.

Inference, two ways:

- **Placebo in space** (Abadie, Diamond and Hainmueller 2010): every donor in turn is
  treated as if it had got the change and gets its own synthetic control from the other
  donors. The ratio of post- to pre-period RMSPE of the treated unit is ranked among
  those of the donors: ``p = (1 + #{donor ratio >= treated ratio}) / (J + 1)``. Reported
  as a check (:class:`~outcomes.experiment.quasi.placebo.PlaceboCheck`); a treated unit
  that does not stand out is a blocking condition.
- **Interval by test inversion, conformal** (Chernozhukov, Wüthrich and Zhu 2021, JASA,
  "An exact and robust conformal inference method for counterfactual and synthetic
  controls"): for a constant effect ``theta`` in every post period, subtract ``theta``
  from the treated unit's post-period outcomes, fit the weights on all periods under that
  null, and compare the post-period residuals' mean absolute size with that of every
  moving-block (cyclic) shift of the residuals in time. The interval is every ``theta``
  with a p-value above ``alpha``, found by bracketing and bisection from the estimate; its
  p-value at ``theta = 0`` is the headline's p-value. The smallest p-value the ``T``
  cyclic shifts allow is ``1 / T``, so the interval needs ``T >= 1 / alpha`` periods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.estimate import Estimate
from outcomes.experiment.quasi.analysis import (
    QuasiResult,
    _blocked_result,
    _check_alpha,
    _panel_facts,
    _when,
)
from outcomes.experiment.quasi.donors import SyntheticFit, donor_weights, fit_synthetic
from outcomes.experiment.quasi.panel import (
    BLOCKS,
    NO_INTERVAL,
    PERIOD,
    PLACEBO_IN_SPACE,
    TOO_FEW_PRE_PERIODS,
    UNIT,
    QuasiInputError,
    QuasiPanel,
    Y,
    prepare_panel,
)
from outcomes.experiment.quasi.placebo import PlaceboCheck
from outcomes.experiment.results import Condition

#: Condition codes of the synthetic control.
POOR_PRE_FIT = "poor_pre_fit"
TOO_FEW_DONORS = "too_few_donors"
INCOMPLETE_DONORS = "incomplete_donors"

#: Fewer complete donors than this: no mix to choose (one donor is a plain comparison with it).
MIN_DONORS = 2
#: Default periods needed before the start: the weights are fitted on them, and with fewer
#: than about five a mix of many donors can follow any short path (over-fitting).
MIN_PRE_PERIODS = 5
#: Bisection steps of the interval's bounds (each halves the bracket).
_BISECTIONS = 30


def _assumptions(metric: str, unit: Any, start: Any) -> tuple[str, ...]:
    return (
        (
            f"Without the change, {metric} of {unit} would have kept following the same weighted mix of donors as "
            f"before {_when(start)} (the mix that fits the past stands for the future)."
        ),
        (
            "No donor was touched by the change or by a shock of its own after the start (a donor with its own "
            "change or spill-over bends the comparison)."
        ),
        f"Nothing else changed at {unit}, and only there, at the same date.",
        f"No anticipation: {unit} did not react before {_when(start)}.",
    )


def _ratio(gaps: np.ndarray, post: np.ndarray) -> float:
    """Post- over pre-period RMSPE (infinite when the pre-period fit is exact and the post one is not)."""
    pre_rmspe = float(np.sqrt(np.mean(gaps[~post] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(gaps[post] ** 2)))
    if pre_rmspe == 0:
        return math.inf if post_rmspe > 0 else 1.0
    return post_rmspe / pre_rmspe


def placebo_ratios(wide: pd.DataFrame, treated: Any, pre: pd.Index) -> pd.DataFrame:
    """Each donor as if treated: its synthetic control from the other donors, and its RMSPE ratio.

    Parameters
    ----------
    wide : pandas.DataFrame
        Outcomes, one row per period and one column per unit (treated and donors).
    treated : object
        The really treated unit (left out of every placebo's donors, as in Abadie, Diamond
        and Hainmueller 2010).
    pre : pandas.Index
        Periods before the start.

    Returns
    -------
    pandas.DataFrame
        One row per donor: ``label``, ``estimate`` (average post-period gap),
        ``pre_rmspe``, ``ratio`` (post- over pre-period RMSPE), and ``ci_low``,
        ``ci_high``, ``p_value`` left empty (placebos are judged by rank only).
    """
    donors = wide.drop(columns=[treated])
    values = donors.to_numpy(dtype=float)
    post = ~wide.index.isin(pre)
    rows = []
    for i, d in enumerate(donors.columns):
        others = np.delete(values, i, axis=1)
        gaps = values[:, i] - others @ donor_weights(values[~post, i], others[~post])
        rows.append({"label": str(d), "estimate": float(gaps[post].mean()), "ci_low": math.nan, "ci_high": math.nan,
                     "p_value": math.nan, "pre_rmspe": float(np.sqrt(np.mean(gaps[~post] ** 2))),
                     "ratio": _ratio(gaps, post)})
    return pd.DataFrame(rows)


def rmspe_placebo(wide: pd.DataFrame, treated: Any, fit: SyntheticFit, alpha: float = 0.05) -> PlaceboCheck:
    """Placebo in space: the treated unit's post/pre RMSPE ratio ranked among its donors' (each as if treated).

    Parameters
    ----------
    wide : pandas.DataFrame
        Outcomes, one row per period and one column per unit.
    treated : object
        The treated unit.
    fit : SyntheticFit
        The treated unit's synthetic control (:func:`~outcomes.experiment.quasi.donors.fit_synthetic` on ``wide``).
    alpha : float
        Level of the flag.

    Returns
    -------
    PlaceboCheck
        ``rank_p_value = (1 + #{donor ratio >= treated ratio}) / (J + 1)``; flagged when
        it is above ``alpha`` although ``1 / (J + 1)`` is not (the treated unit does not stand out).
    """
    pre = wide.index[fit.gaps["phase"].to_numpy() == "pre"]
    post = fit.gaps["phase"].to_numpy() == "post"
    gaps = fit.gaps["gap"].to_numpy()
    real_ratio = _ratio(gaps, post)
    estimates = placebo_ratios(wide, treated, pre)
    k = len(estimates)
    beyond = int((estimates["ratio"] >= real_ratio * (1 - 1e-12)).sum())
    rank_p, min_p = (1 + beyond) / (k + 1), 1 / (k + 1)
    real = float(gaps[post].mean())
    if min_p > alpha:
        flagged = False
        sentence = (
            f"Placebo in space: with {k} donors the treated unit's rank cannot reach {alpha:g} (its post/pre RMSPE "
            f"ratio ranks at {fmt.p_value(rank_p)}, the best possible {fmt.p_value(min_p, label='')}); this check "
            f"cannot confirm the effect on its own: {math.ceil(1 / alpha) - 1} donors are needed."
        )
    else:
        flagged = rank_p > alpha
        verdict = "is not unusual among" if flagged else "stands out from"
        sentence = (
            f"Placebo in space: the treated unit's post/pre RMSPE ratio ({real_ratio:.3g}) {verdict} those of its "
            f"{k} donors, each given its own synthetic control ({fmt.p_value(rank_p, label='rank p')})."
        )
    return PlaceboCheck("in_space", estimates, real, rank_p, min_p, flagged, sentence)


def conformal_p_value(y: np.ndarray, donors: np.ndarray, post: np.ndarray, theta: float) -> float:
    """p-value of "the effect is ``theta`` in every post period" (Chernozhukov, Wüthrich and Zhu 2021).

    Parameters
    ----------
    y : numpy.ndarray, shape (t,)
        The treated unit's outcome in every period.
    donors : numpy.ndarray, shape (t, j)
        The donors' outcomes.
    post : numpy.ndarray of bool, shape (t,)
        Periods from the start on.
    theta : float
        The effect under the null.

    Returns
    -------
    float
        Share of the ``t`` cyclic shifts of the residuals (the identity included) whose
        mean absolute post-period residual is at least the observed one.
    """
    y0 = y - theta * post
    u = np.abs(y0 - donors @ donor_weights(y0, donors))
    t = len(u)
    # Row j: the residuals shifted j periods forward in time (cyclically), read at the post periods.
    shifted = (np.flatnonzero(post)[None, :] - np.arange(t)[:, None]) % t
    stats = u[shifted].mean(axis=1)
    return float(np.mean(stats >= stats[0] * (1 - 1e-9)))


def conformal_interval(
    y: np.ndarray, donors: np.ndarray, post: np.ndarray, estimate: float, step: float, alpha: float
) -> tuple[float, float]:
    """Bounds of ``{theta: p(theta) > alpha}`` around ``estimate`` (NaN when ``p(estimate) <= alpha``).

    Each side is bracketed by doubling ``step`` until the p-value falls to ``alpha`` or
    below, then narrowed by bisection.
    """

    def accepted(theta: float) -> bool:
        return conformal_p_value(y, donors, post, theta) > alpha

    if not accepted(estimate):
        return math.nan, math.nan
    bounds = []
    for sign in (-1.0, 1.0):
        inner, width = estimate, step
        for _ in range(60):
            outer = estimate + sign * width
            if not accepted(outer):
                break
            inner, width = outer, 2 * width
        else:
            return math.nan, math.nan
        for _ in range(_BISECTIONS):
            mid = (inner + outer) / 2
            inner, outer = (mid, outer) if accepted(mid) else (inner, mid)
        bounds.append((inner + outer) / 2)
    return bounds[0], bounds[1]


def _complete(panel: QuasiPanel) -> tuple[pd.DataFrame, list[Any]]:
    """Periods x units outcomes where the treated unit is observed, and the donors left out for gaps."""
    wide = panel.data.pivot(index=PERIOD, columns=UNIT, values=Y).sort_index()
    wide = wide[wide[panel.treated_units[0]].notna()]
    incomplete = [u for u in wide.columns if wide[u].isna().any()]
    return wide.drop(columns=incomplete), incomplete


def synthetic_control(
    frame: pd.DataFrame,
    *,
    unit: str,
    period: str,
    outcome: str,
    treated_units: Sequence[Any],
    start: Any,
    metric: str | None = None,
    label: str | None = None,
    alpha: float = 0.05,
    min_pre_periods: int = MIN_PRE_PERIODS,
    placebo: bool = True,
) -> QuasiResult:
    """Synthetic control of a change that reached one unit.

    Parameters
    ----------
    frame : pandas.DataFrame
        Panel, one row per unit and period (the treated unit and its possible donors).
    unit, period, outcome : str
        Column names; periods are dates (first of month) or integers.
    treated_units : sequence
        The one unit that got the change.
    start : date-like or int
        First period with the change.
    metric : str, optional
        Metric id for the result; defaults to ``outcome``.
    label : str, optional
        The metric's name in the result's sentences; defaults to ``metric``.
    alpha : float
        One minus the confidence level.
    min_pre_periods : int
        Fewer periods before the start leave the result blocked (default
        :data:`MIN_PRE_PERIODS`).
    placebo : bool
        Run the placebo-in-space check (every donor as if treated).

    Returns
    -------
    QuasiResult
        ``design="synthetic_control"``; headline: the average post-period gap with its
        conformal interval and p-value; :attr:`QuasiResult.synthetic` holds the donor
        weights, the pre-period fit and the gap in every period.

    Raises
    ------
    QuasiInputError
        When ``treated_units`` does not name exactly one unit, or for the frame errors of
        :func:`~outcomes.experiment.quasi.panel.prepare_panel`.
    """
    _check_alpha(alpha)
    treated_units = list(dict.fromkeys(treated_units))
    if len(treated_units) != 1:
        raise QuasiInputError(
            f"a synthetic control is built for exactly one treated unit, got {len(treated_units)} "
            f"({treated_units}); with several treated units use difference-in-differences (design: did)"
        )
    metric = metric or outcome
    label = label or metric
    panel = prepare_panel(frame, unit=unit, period=period, outcome=outcome, start=start,
                          treated_units=treated_units, min_pre_periods=min_pre_periods)
    who = treated_units[0]
    why = (
        f"The change reached one unit, {who}, on {_when(panel.start)}; a weighted mix of the {panel.n_control} "
        f"untreated units that followed {who}'s {label} before the start shows how it would have moved without it."
    )
    assumptions = _assumptions(label, who, panel.start)
    method = (
        "donor weights fitted on the pre-period outcomes (Abadie, Diamond and Hainmueller), conformal interval "
        "(Chernozhukov, Wüthrich and Zhu)"
    )
    if panel.blocked:
        return _blocked_result(panel, "synthetic_control", metric, why, assumptions, method, alpha, label=label)
    wide, incomplete = _complete(panel)
    extra: list[Condition] = []
    if incomplete:
        extra.append(Condition(
            INCOMPLETE_DONORS,
            f"Donor(s) {incomplete} miss a period where {who} is observed and were left out of the mix; fill the "
            "gaps to use them.",
        ))
    post = (wide.index >= panel.start)
    n_donors = wide.shape[1] - 1
    n_pre = int((~post).sum())
    if n_donors < MIN_DONORS or n_pre < min_pre_periods:
        reason = (
            f"Only {n_donors} complete donor(s); at least {MIN_DONORS} are needed to form a mix."
            if n_donors < MIN_DONORS
            else f"Only {n_pre} period(s) before the start where {who} is observed; at least {min_pre_periods} are "
            "needed to fit the weights."
        )
        extra.append(Condition(TOO_FEW_DONORS if n_donors < MIN_DONORS else TOO_FEW_PRE_PERIODS, reason, BLOCKS))
        return _blocked_result(
            panel, "synthetic_control", metric, why, assumptions, method, alpha, extra=tuple(extra), label=label
        )
    fit = fit_synthetic(wide, who, wide.index[~post])
    extra.extend(_fit_conditions(fit, who))
    y, donors = wide[who].to_numpy(), wide.drop(columns=[who]).to_numpy()
    average = float(fit.gaps.loc[post, "gap"].mean())
    t = len(wide)
    low = high = math.nan
    p0 = math.nan
    if t * alpha >= 1:
        spread = float(np.std(fit.gaps["gap"])) or fit.scale or 1.0
        low, high = conformal_interval(y, donors, post, average, spread, alpha)
        p0 = conformal_p_value(y, donors, post, 0.0)
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        low = high = math.nan
        need = math.ceil(1 / alpha)
        extra.append(Condition(
            NO_INTERVAL,
            f"Only {t} periods: the conformal interval compares the post-period gap with its {t} shifts in time, "
            f"so it needs at least {need} periods at {fmt.confidence(alpha)}; add periods."
            if t < need
            else "The conformal test rejects every constant effect near the estimate (the gap changes too much from "
            "period to period for one effect to describe it), so no interval is shown; read the gap chart.",
            BLOCKS,
        ))
    headline = Estimate(
        estimate=average, se=math.nan, ci_low=low, ci_high=high, p_value=p0, df=math.nan,
        method="synthetic control, conformal inference over cyclic shifts in time", level=1 - alpha, n=t,
    )
    checks: list[PlaceboCheck] = []
    if placebo:
        check = rmspe_placebo(wide, who, fit, alpha)
        checks.append(check)
        if check.flagged:
            extra.append(Condition(PLACEBO_IN_SPACE, check.sentence, BLOCKS))
    counterfactual = pd.DataFrame({
        "period": wide.index, "observed": fit.gaps["treated"].to_numpy(),
        "counterfactual": fit.gaps["synthetic"].to_numpy(), "cf_low": np.nan, "cf_high": np.nan,
        "phase": np.where(post, "post", "pre"),
    })
    observed = float(fit.gaps.loc[post, "treated"].mean())
    return QuasiResult(
        design="synthetic_control",
        metric=metric,
        label=label,
        method=method,
        why=why,
        assumptions=assumptions,
        estimate=headline,
        observed=observed,
        counterfactual_mean=observed - average,
        counterfactual=counterfactual,
        placebos=tuple(checks),
        synthetic=fit,
        conditions=(*panel.conditions, *extra),
        alpha=alpha,
        **_panel_facts(panel),
    )


def _fit_conditions(fit: SyntheticFit, who: Any) -> list[Condition]:
    """A poor pre-period fit blocks; a loose one is said."""
    quality = fit.quality
    if quality == "good":
        return []
    ratio = fit.relative_rmspe
    size = f"{ratio:.0%} of its pre-period standard deviation" if math.isfinite(ratio) else "a flat series"
    if quality == "poor":
        return [Condition(
            POOR_PRE_FIT,
            f"The synthetic control does not follow {who} before the start (RMSPE {fmt.number(fit.pre_rmspe)}, "
            f"{size}); no mix of the donors resembles it (it may lie above or below all of them), so the gap after "
            "the start is not a credible effect. Add donors that resemble it, or use another design.",
            BLOCKS,
        )]
    return [Condition(
        POOR_PRE_FIT,
        f"The synthetic control follows {who} only loosely before the start (RMSPE {fmt.number(fit.pre_rmspe)}, "
        f"{size}); read the estimate with the pre-period gaps in the chart.",
    )]
