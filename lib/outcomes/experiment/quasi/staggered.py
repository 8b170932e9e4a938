"""Staggered adoption: a change that reached the units at different periods (region by region).

Two-way fixed effects are biased when units start at different dates and the effect
differs by cohort or grows with time since the start: already-treated units serve as
controls and their growing effects are subtracted (Goodman-Bacon 2021). This module
estimates the effect the way Callaway and Sant'Anna (2021) do, without covariates:

- :func:`group_time_effects`: ATT(g, t), the effect in period t on the units that
  started in period g (cohort g), as a difference of mean changes: cohort g against the
  comparison units (never treated, or not yet treated by t), from the last period
  before g (periods before g: from the period before t, the "varying" base period of
  the R package ``did``); with each estimate's influence function per unit;
- :func:`aggregate`: the ATT(g, t) averaged into one overall effect (``"simple"``:
  every treated unit-period after its start weighted alike), by event time
  (``"dynamic"``: periods since the start) or by cohort (``"group"``), as the R
  function ``did::aggte`` does, with the influence of estimating the cohort shares;
- :func:`interaction_weighted`: the Sun and Abraham (2021) event study (OLS of the
  outcome on cohort x relative-period dummies plus unit and period fixed effects,
  cluster-robust by unit), averaged with the cohorts' sizes, as a cross-check;
- :func:`staggered_twfe`: the two-way fixed-effects coefficient, for comparison only;
- :func:`staggered_adoption`: all of the above from a user's panel as a
  :class:`~outcomes.experiment.quasi.analysis.QuasiResult`.

Standard errors come from the influence functions, clustered by unit (panel data: one
unit, one cluster): ``se = sqrt(sum_i psi_i^2) / n``, the analytic errors of ``did``
with ``bstrap = FALSE``; intervals use the normal reference. The estimators take the
outcome as a ``(units, periods, S)`` array, so a simulation solves S panels at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from outcomes import format as fmt
from outcomes.estimate import Estimate
from outcomes.experiment.quasi.analysis import (
    FEW_CLUSTERS_BELOW,
    QuasiResult,
    _check_alpha,
    has_interval,
    with_sensitivity,
)
from outcomes.experiment.quasi.did import PretrendTest, _table, cluster_ols
from outcomes.experiment.quasi.panel import (
    BLOCKS,
    FEW_CLUSTERS,
    NO_CONTROL_UNITS,
    NO_INTERVAL,
    NO_TREATED_UNITS,
    PERIOD,
    PRE_TREND,
    UNIT,
    UNKNOWN_TREATED_UNITS,
    Y,
    QuasiInputError,
    _check_arguments,
    _drop_missing,
    _internal_frame,
    period_label,
    read_periods,
)
from outcomes.experiment.results import Condition

#: Comparison units of ATT(g, t): never treated, or not yet treated by period t.
Control = Literal["never", "notyet"]
#: Cohort code of units never treated within the data.
NEVER = -1
#: Condition codes of staggered designs (beside those of :mod:`~outcomes.experiment.quasi.panel`).
TREATED_FROM_FIRST_PERIOD = "treated_from_first_period"
ESTIMATORS_DISAGREE = "estimators_disagree"
UNBALANCED_PANEL = "unbalanced_panel"


@dataclass(frozen=True)
class Rollout:
    """A balanced panel as a unit x period matrix, and the period each unit started.

    Attributes
    ----------
    y : numpy.ndarray
        ``(N, T)`` outcome, one row per unit, one column per period.
    cohort : numpy.ndarray
        ``(N,)`` position of each unit's first treated period among :attr:`periods`;
        :data:`NEVER` for units not treated within the data.
    units, periods : tuple
        Row and column labels of ``y`` (periods sorted).
    conditions : tuple of Condition
        Conditions found while checking.
    """

    y: np.ndarray
    cohort: np.ndarray
    units: tuple[Any, ...]
    periods: tuple[Any, ...]
    conditions: tuple[Condition, ...] = ()

    @property
    def blocked(self) -> bool:
        """True when a blocking condition leaves nothing to estimate."""
        return any(c.blocks is not None for c in self.conditions)


@dataclass(frozen=True)
class GroupTime:
    """ATT(g, t) for S outcome columns, with their influence functions.

    Attributes
    ----------
    group, time, base : numpy.ndarray
        ``(K,)`` positions of the cohort's first treated period, of the period and of the
        base period of each ATT(g, t).
    att : numpy.ndarray
        ``(K, S)`` estimates.
    influence : numpy.ndarray
        ``(N, K, S)`` influence function of each estimate per unit.
    n_treated, n_control : numpy.ndarray
        ``(K,)`` units of the cohort and comparison units of each estimate.
    """

    group: np.ndarray
    time: np.ndarray
    base: np.ndarray
    att: np.ndarray
    influence: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray


@dataclass(frozen=True)
class Aggregate:
    """Aggregated effects (one row per event time, cohort or the overall effect) for S outcome columns.

    Attributes
    ----------
    key : numpy.ndarray
        ``(M,)`` event time (``"dynamic"``), cohort position (``"group"``) or 0 (``"simple"``).
    estimate : numpy.ndarray
        ``(M, S)``.
    influence : numpy.ndarray
        ``(N, M, S)``.
    overall : numpy.ndarray
        ``(S,)`` the overall effect of the aggregation (``"dynamic"``: mean over event
        times from 0; ``"group"``: cohort effects weighted by cohort size; ``"simple"``:
        the single row).
    overall_influence : numpy.ndarray
        ``(N, S)``.
    """

    key: np.ndarray
    estimate: np.ndarray
    influence: np.ndarray
    overall: np.ndarray
    overall_influence: np.ndarray


def last_wave_as_comparison(y: np.ndarray, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Without never-treated units, the last wave to start serves as the comparison before its start.

    As the R package ``did`` and Sun and Abraham do: the last wave is marked never treated and
    the periods from its start on are dropped (nothing untreated is left to compare with there).

    Parameters
    ----------
    y : numpy.ndarray
        ``(N, T, ...)`` panel.
    cohort : numpy.ndarray
        ``(N,)`` first treated period's position, or :data:`NEVER`.

    Returns
    -------
    tuple of numpy.ndarray
        ``y`` and ``cohort``, unchanged when some units were never treated.
    """
    if (cohort == NEVER).any() or not len(cohort):
        return y, cohort
    last = int(cohort.max())
    return y[:, :last], np.where(cohort == last, NEVER, cohort)


def standard_error(influence: np.ndarray) -> np.ndarray:
    """``sqrt(sum_i psi_i^2) / n`` over the first axis (units = clusters): the analytic error of ``did``."""
    return np.sqrt(np.sum(influence**2, axis=0)) / influence.shape[0]


def group_time_effects(y: np.ndarray, cohort: np.ndarray, control: Control = "never") -> GroupTime:
    """Callaway and Sant'Anna ATT(g, t) without covariates, for many outcome columns.

    Parameters
    ----------
    y : numpy.ndarray
        ``(N, T)`` or ``(N, T, S)`` balanced panel.
    cohort : numpy.ndarray
        ``(N,)`` first treated period's position (at least 1), or :data:`NEVER`.
    control : {"never", "notyet"}
        Comparison units: never treated, or never treated plus those first treated
        after ``max(t, base)`` (other than cohort g).

    Returns
    -------
    GroupTime
        One estimate per cohort and period from the second on that has comparison
        units: ``mean(y_t - y_b | cohort g) - mean(y_t - y_b | comparison)`` with base
        ``b = g - 1`` from the start on and ``b = t - 1`` before it.
    """
    y3 = y[:, :, None] if y.ndim == 2 else y
    n, n_periods = y3.shape[:2]
    groups, times, bases, treated, controls = [], [], [], [], []
    for g in np.unique(cohort[cohort != NEVER]):
        for t in range(1, n_periods):
            b = g - 1 if t >= g else t - 1
            ctrl = cohort == NEVER
            if control == "notyet":
                ctrl = ctrl | ((cohort > max(t, b)) & (cohort != g))
            if ctrl.any():
                groups.append(g)
                times.append(t)
                bases.append(b)
                treated.append(cohort == g)
                controls.append(ctrl)
    d = np.array(treated, dtype=float).reshape(-1, n).T  # (N, K)
    c = np.array(controls, dtype=float).reshape(-1, n).T
    time, base = np.array(times, dtype=int), np.array(bases, dtype=int)
    change = y3[:, time, :] - y3[:, base, :]  # (N, K, S)
    n_d, n_c = d.sum(axis=0), c.sum(axis=0)
    mean_d = np.einsum("nk,nks->ks", d, change) / n_d[:, None] if len(time) else np.zeros((0, y3.shape[2]))
    mean_c = np.einsum("nk,nks->ks", c, change) / n_c[:, None] if len(time) else np.zeros((0, y3.shape[2]))
    influence = n * (
        d[:, :, None] * (change - mean_d) / n_d[None, :, None] - c[:, :, None] * (change - mean_c) / n_c[None, :, None]
    )
    return GroupTime(
        group=np.array(groups, dtype=int),
        time=time,
        base=base,
        att=mean_d - mean_c,
        influence=influence,
        n_treated=n_d.astype(int),
        n_control=n_c.astype(int),
    )


def _weight_influence(cells_group: np.ndarray, share: np.ndarray, cohort: np.ndarray) -> np.ndarray:
    """``(N, k)`` influence of estimating the weights ``share / sum(share)`` (``did``'s ``wif``)."""
    deviation = (cohort[:, None] == cells_group[None, :]).astype(float) - share[None, :]
    total = share.sum()
    return deviation / total - deviation.sum(axis=1, keepdims=True) * share[None, :] / total**2


def _weighted(
    att: np.ndarray, influence: np.ndarray, cells: np.ndarray, share: np.ndarray, cohort: np.ndarray | None, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Average of ``att[cells]`` with weights ``share / sum(share)``; the weights' influence when ``cohort`` is given."""
    w = share / share.sum()
    estimate = np.einsum("ks,k->s", att[cells], w)
    psi = np.einsum("nks,k->ns", influence[:, cells], w)
    if cohort is not None:
        psi = psi + _weight_influence(groups, share, cohort) @ att[cells]
    return estimate, psi


def aggregate(gt: GroupTime, cohort: np.ndarray, kind: Literal["simple", "dynamic", "group"]) -> Aggregate:
    """Aggregate ATT(g, t) as ``did::aggte`` does (no covariates, balanced panel).

    Parameters
    ----------
    gt : GroupTime
        From :func:`group_time_effects` on the same units.
    cohort : numpy.ndarray
        ``(N,)`` the units' cohorts (as given to :func:`group_time_effects`).
    kind : {"simple", "dynamic", "group"}
        ``"simple"``: the cells from the start on, each weighted by its cohort's share of
        units; ``"dynamic"``: one effect per event time ``e = t - g`` (cohorts weighted by
        their shares), overall the mean over ``e >= 0``; ``"group"``: one effect per cohort
        (its cells from the start on, equally weighted), overall weighted by the cohorts' shares.

    Returns
    -------
    Aggregate
    """
    share_of = {g: float(np.mean(cohort == g)) for g in np.unique(gt.group)}
    cell_share = np.array([share_of[g] for g in gt.group])
    post = gt.time >= gt.group
    if kind == "simple":
        cells = np.flatnonzero(post)
        est, psi = _weighted(gt.att, gt.influence, cells, cell_share[cells], cohort, gt.group[cells])
        return Aggregate(np.array([0]), est[None], psi[:, None], est, psi)
    if kind == "dynamic":
        event = gt.time - gt.group
        keys = np.unique(event)
        parts = [
            _weighted(gt.att, gt.influence, cells, cell_share[cells], cohort, gt.group[cells])
            for cells in (np.flatnonzero(event == e) for e in keys)
        ]
        estimate = np.stack([p[0] for p in parts])
        influence = np.stack([p[1] for p in parts], axis=1)
        after = keys >= 0
        return Aggregate(keys, estimate, influence, estimate[after].mean(axis=0), influence[:, after].mean(axis=1))
    if kind == "group":
        keys = np.unique(gt.group)
        parts = [
            _weighted(gt.att, gt.influence, cells, np.ones(len(cells)), None, gt.group[cells])
            for cells in (np.flatnonzero(post & (gt.group == g)) for g in keys)
        ]
        estimate = np.stack([p[0] for p in parts])
        influence = np.stack([p[1] for p in parts], axis=1)
        share = np.array([share_of[g] for g in keys])
        overall, psi = _weighted(estimate, influence, np.arange(len(keys)), share, cohort, keys)
        return Aggregate(keys, estimate, influence, overall, psi)
    raise ValueError(f"kind must be 'simple', 'dynamic' or 'group', got {kind!r}")


def _long(y3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows unit-major: outcome ``(N*T, S)``, unit codes, period positions and the fixed-effect dummies."""
    n, n_periods, s = y3.shape
    unit = np.repeat(np.arange(n), n_periods)
    time = np.tile(np.arange(n_periods), n)
    controls = np.column_stack(
        [np.ones(n * n_periods), (unit[:, None] == np.arange(1, n)).astype(float),
         (time[:, None] == np.arange(1, n_periods)).astype(float)]
    )
    return y3.reshape(n * n_periods, s), unit, time, controls


def staggered_twfe(y: np.ndarray, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Two-way fixed-effects coefficient of ``D = 1[t >= start]``: biased under staggered adoption.

    Parameters
    ----------
    y : numpy.ndarray
        ``(N, T)`` or ``(N, T, S)`` balanced panel.
    cohort : numpy.ndarray
        ``(N,)`` first treated period's position, or :data:`NEVER`.

    Returns
    -------
    tuple
        Coefficients ``(S,)``, cluster-robust (CR1, by unit) standard errors ``(S,)`` and
        the degrees of freedom G - 1 (see :func:`~outcomes.experiment.quasi.did.cluster_ols`).
    """
    y3 = y[:, :, None] if y.ndim == 2 else y
    ylong, unit, time, controls = _long(y3)
    start = cohort[unit]
    dummy = ((start != NEVER) & (time >= start)).astype(float)[:, None]
    fit = cluster_ols(dummy, ylong, controls, unit)
    return fit.beta[0], np.sqrt(fit.cov[0, 0]), fit.df


@dataclass(frozen=True)
class InteractionWeighted:
    """The Sun and Abraham event study and its overall effect, for S outcome columns.

    Attributes
    ----------
    event : numpy.ndarray
        ``(M,)`` event times (``-1``, the reference, left out).
    estimate, se : numpy.ndarray
        ``(M, S)`` cohort-size weighted averages of the cohort x event-time coefficients.
    overall, overall_se : numpy.ndarray
        ``(S,)`` every cohort x event-time coefficient from the start on, weighted by the
        cohort's size (the estimand of the ``"simple"`` aggregation).
    df : float
        Degrees of freedom of the t reference, G - 1.
    control : str
        The comparison cohort in words.
    cells : tuple of (int, int)
        The regressors: (cohort position, event time) of each coefficient.
    cell_estimate, cell_se : numpy.ndarray
        ``(L, S)`` the cohort x event-time coefficients and their standard errors.
    """

    event: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    overall: np.ndarray
    overall_se: np.ndarray
    df: float
    control: str
    cells: tuple[tuple[int, int], ...]
    cell_estimate: np.ndarray
    cell_se: np.ndarray


def interaction_weighted(y: np.ndarray, cohort: np.ndarray) -> InteractionWeighted:
    """Sun and Abraham (2021) interaction-weighted estimator.

    OLS of the outcome on ``1[cohort = g] x 1[t - g = e]`` for every treated cohort and
    event time ``e != -1``, plus unit and period fixed effects, CR1 cluster-robust by unit
    with the unit effects, nested in the clusters, left out of the small-sample factor's
    parameter count (the numbers of pyfixest ``feols(..., vcov={"CRV1": unit})``); the
    cohort x event-time coefficients are averaged with the cohorts' sizes as weights, taken
    as known, so the interval is for the effect averaged over the waves observed. The comparison cohort is the never-treated units; without them, the last
    cohort to start, on the periods before its start.

    Parameters
    ----------
    y : numpy.ndarray
        ``(N, T)`` or ``(N, T, S)`` balanced panel.
    cohort : numpy.ndarray
        ``(N,)`` first treated period's position, or :data:`NEVER`.

    Returns
    -------
    InteractionWeighted
    """
    y3 = y[:, :, None] if y.ndim == 2 else y
    control = "the never-treated units"
    if not (cohort == NEVER).any():
        control = f"the last cohort to start (periods before its start, {int(cohort.max())} of them)"
    y3, cohort = last_wave_as_comparison(y3, cohort)
    ylong, unit, time, controls = _long(y3)
    start = cohort[unit]
    cells = sorted({(int(g), int(t - g)) for g, t in zip(start, time, strict=True) if g != NEVER and t - g != -1})
    x = np.column_stack([((start == g) & (time - start == e)).astype(float) for g, e in cells])
    fit = cluster_ols(x, ylong, controls, unit)
    # CR1 counts the unit effects in K; they are nested in the clusters, so (as fixest does) leave them out.
    n_rows, n_units = ylong.shape[0], y3.shape[0]
    k = x.shape[1] + n_units + y3.shape[1] - 1
    cov = fit.cov * (n_rows - k) / (n_rows - k + n_units - 1)
    size = np.array([float(np.sum(cohort == g)) for g, _ in cells])
    rel = np.array([e for _, e in cells])
    events = np.unique(rel)
    weights = np.stack([np.where(rel == e, size, 0.0) / size[rel == e].sum() for e in events])  # (M, L)
    after = np.where(rel >= 0, size, 0.0)
    weights_all = np.vstack([weights, after / after.sum()])
    est = weights_all @ fit.beta
    var = np.einsum("ml,lks,mk->ms", weights_all, cov, weights_all)
    se = np.sqrt(var)
    cell_se = np.sqrt(np.einsum("lls->ls", cov))
    return InteractionWeighted(
        events, est[:-1], se[:-1], est[-1], se[-1], fit.df, control, tuple(cells), fit.beta, cell_se
    )


def _normal_table(estimate: np.ndarray, se: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Estimate, se, pointwise normal interval and p-value: ``did._table`` with infinite degrees of freedom."""
    return {k: v.to_numpy() for k, v in _table(estimate, se, math.inf, alpha).drop(columns="df").items()}


def _estimate(estimate: float, se: float, alpha: float, method: str, n: int, df: float = math.inf) -> Estimate:
    """One estimate with a normal (``df`` infinite) or t interval; none where the error is not positive."""
    ok = math.isfinite(se) and se > 0
    row = _table(np.array([estimate]), np.array([se if ok else math.nan]), df, alpha).iloc[0]
    return Estimate(
        estimate=float(estimate),
        se=float(row["se"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
        p_value=float(row["p_value"]),
        df=df,
        method=method,
        level=1 - alpha,
        n=n,
    )


@dataclass(frozen=True)
class StaggeredEstimates:
    """Callaway and Sant'Anna estimates of one panel, as tables and headline numbers.

    Attributes
    ----------
    att_gt : pandas.DataFrame
        One row per cohort and period: ``group``, ``period`` (labels), ``g``, ``t``
        (positions), ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value``,
        ``n_treated``, ``n_control``.
    dynamic : pandas.DataFrame
        By event time: ``rel``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``p_value``, ``phase`` (``"pre"``/``"post"``): the event-study chart's frame; and
        ``band_low``, ``band_high``: the uniform band over all event times
        (:func:`uniform_critical_value`).
    group : pandas.DataFrame
        By cohort: ``group``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value``.
    simple, dynamic_overall, group_overall : Estimate
        The overall effect three ways (see :func:`aggregate`).
    pretrend : PretrendTest or None
        Joint Wald test that every ATT(g, t) before the start is zero (None without any).
    control : {"never", "notyet"}
        The comparison units used.
    dynamic_cov : numpy.ndarray or None
        Covariance of the event-time estimates (rows of ``dynamic``) from their influence functions.
    """

    att_gt: pd.DataFrame
    dynamic: pd.DataFrame
    group: pd.DataFrame
    simple: Estimate
    dynamic_overall: Estimate
    group_overall: Estimate
    pretrend: PretrendTest | None
    control: Control
    dynamic_cov: np.ndarray | None = None


def _pretrend(gt: GroupTime, alpha: float) -> PretrendTest | None:
    pre = np.flatnonzero(gt.time < gt.group)
    if not len(pre):
        return None
    psi = gt.influence[:, pre, 0]
    n = psi.shape[0]
    cov = psi.T @ psi / n**2
    rank = int(np.linalg.matrix_rank(cov))
    if rank == 0:
        return None
    att = gt.att[pre, 0]
    stat = float(att @ np.linalg.pinv(cov) @ att)
    p = float(stats.chi2.sf(stat, rank))
    return PretrendTest("joint Wald chi-square of the ATT(g, t) before the start", stat, p, rank, math.inf, len(pre), p < alpha)


def uniform_critical_value(influence: np.ndarray, alpha: float = 0.05, reps: int = 999, seed: int = 0) -> float:
    """Critical value of simultaneous (uniform) intervals over several estimates, by multiplier bootstrap.

    Each draw multiplies every unit's influence by an independent Rademacher weight (mean 0,
    variance 1), as the R package ``did`` does for its confidence bands; the value returned is
    the ``1 - alpha`` quantile over draws of ``max_j |sum_i w_i psi_ij| / (n se_j)``, so
    ``estimate_j +- c se_j`` covers every estimate at once with probability ``1 - alpha``
    (the analytic standard errors are kept; ``did`` uses bootstrapped ones). Seeded.

    Parameters
    ----------
    influence : numpy.ndarray
        ``(N, M)`` influence functions of M estimates.
    alpha : float
        One minus the simultaneous confidence level.
    reps : int
        Bootstrap draws.
    seed : int
        Seed of the weights.

    Returns
    -------
    float
        At least the pointwise normal critical value; NaN when no estimate has a positive error.
    """
    se = standard_error(influence)
    keep = np.isfinite(se) & (se > 0)
    if not keep.any():
        return math.nan
    n = influence.shape[0]
    weights = 2.0 * np.random.default_rng(seed).integers(0, 2, size=(reps, n)) - 1.0
    draws = np.abs(weights @ influence[:, keep]) / (n * se[keep])
    return max(float(np.quantile(draws.max(axis=1), 1 - alpha)), float(stats.norm.ppf(1 - alpha / 2)))


def callaway_santanna(rollout: Rollout, *, control: Control = "never", alpha: float = 0.05) -> StaggeredEstimates:
    """ATT(g, t) and their aggregations on one panel, with normal intervals.

    Parameters
    ----------
    rollout : Rollout
        From :func:`prepare_rollout` (not blocked).
    control : {"never", "notyet"}
        Comparison units.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    StaggeredEstimates
    """
    y, cohort = last_wave_as_comparison(rollout.y, rollout.cohort)
    gt = group_time_effects(y, cohort, control)
    n = len(cohort)
    label = [period_label(p) for p in rollout.periods]
    att_gt = pd.DataFrame(
        {
            "group": [label[g] for g in gt.group],
            "period": [label[t] for t in gt.time],
            "g": gt.group,
            "t": gt.time,
            **_normal_table(gt.att[:, 0], standard_error(gt.influence)[:, 0], alpha),
            "n_treated": gt.n_treated,
            "n_control": gt.n_control,
        }
    )
    method = f"Callaway and Sant'Anna, {'never' if control == 'never' else 'not yet'} treated units as comparison"
    out: dict[str, Any] = {}
    for kind in ("simple", "dynamic", "group"):
        agg = aggregate(gt, cohort, kind)  # type: ignore[arg-type]
        se = standard_error(agg.influence)[:, 0]
        out[kind] = (agg, _normal_table(agg.estimate[:, 0], se, alpha))
        out[f"{kind}_overall"] = _estimate(
            agg.overall[0], standard_error(agg.overall_influence)[0], alpha, f"{method}, {kind} aggregation", n
        )
    dyn_agg, dyn = out["dynamic"]
    band = uniform_critical_value(dyn_agg.influence[:, :, 0], alpha)
    dynamic = pd.DataFrame({
        "rel": dyn_agg.key, **dyn, "phase": np.where(dyn_agg.key >= 0, "post", "pre"),
        "band_low": dyn["estimate"] - band * dyn["se"], "band_high": dyn["estimate"] + band * dyn["se"],
    })
    grp_agg, grp = out["group"]
    group = pd.DataFrame({"group": [label[g] for g in grp_agg.key], **grp})
    return StaggeredEstimates(
        att_gt=att_gt,
        dynamic=dynamic,
        group=group,
        simple=out["simple_overall"],
        dynamic_overall=out["dynamic_overall"],
        group_overall=out["group_overall"],
        pretrend=_pretrend(gt, alpha),
        control=control,
        dynamic_cov=dyn_agg.influence[:, :, 0].T @ dyn_agg.influence[:, :, 0] / n**2,
    )


def _starts(rollout: Mapping[Any, Any], period_col: str, like: pd.Series) -> dict[str, Any]:
    """Each unit's start on the scale of the period column (keys as text)."""
    if not rollout:
        return {}
    values = pd.Series([str(v) if isinstance(v, int) else v for v in rollout.values()], dtype=object)
    try:
        read = read_periods(values, "rollout")
    except QuasiInputError:
        read = None
    dated = pd.api.types.is_datetime64_any_dtype(like)
    if read is None or pd.api.types.is_datetime64_any_dtype(read) != dated:
        raise QuasiInputError(
            f"rollout starts {dict(rollout)} cannot be read as periods of the kind in column '{period_col}' "
            f"(e.g. {like.iloc[0]!r}). Give each unit's first period with the change as a period of the same kind: "
            "a period number or year (1931), a quarter (2025Q1), an ISO week (2025-W09), a month (2025-03) or a date"
        )
    return {str(k): v for k, v in zip(rollout, read, strict=True)}


def prepare_rollout(
    frame: pd.DataFrame, *, unit: str, period: str, outcome: str, rollout: Mapping[Any, Any]
) -> Rollout:
    """Check a panel and a staggered rollout and turn them into a :class:`Rollout`.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per unit and period.
    unit, period, outcome : str
        Column names.
    rollout : mapping
        Unit -> first period with the change (a period of the column's kind). Units not
        named were never treated.

    Returns
    -------
    Rollout
        Units without a value in every period are left out (``unbalanced_panel``); units
        treated from the first period on have no period before their start and are left
        out (``treated_from_first_period``); units starting after the data end count as
        never treated.

    Raises
    ------
    QuasiInputError
        For a missing or non-numeric column, duplicate unit-period rows, or starts that
        are not periods of the column's kind.
    """
    _check_arguments(frame, unit, period, outcome, (), 1, 1)
    periods_col = read_periods(frame[period], period)
    data = _internal_frame(frame, periods_col, unit, period, outcome, ())
    starts = _starts(rollout, period, periods_col)
    data, conditions = _drop_missing(data, ())
    wide = data.pivot(index=UNIT, columns=PERIOD, values=Y).sort_index(axis=1)
    complete = wide.notna().all(axis=1)
    if not complete.all():
        dropped = [str(u) for u in wide.index[~complete]]
        conditions.append(Condition(
            UNBALANCED_PANEL,
            f"{len(dropped)} unit(s) without a value in every period were left out ({', '.join(dropped[:10])}); "
            "the estimator needs every unit in every period.",
        ))
        wide = wide[complete]
    if wide.empty:
        conditions.append(Condition(NO_TREATED_UNITS, "No unit has a value in every period.", BLOCKS))
        return Rollout(np.empty((0, 0)), np.empty(0, dtype=int), (), (), tuple(conditions))
    periods = tuple(wide.columns)
    names = [str(u) for u in wide.index]
    unknown = sorted(set(starts) - set(names))
    if unknown:
        conditions.append(Condition(UNKNOWN_TREATED_UNITS, f"rollout units not in the data: {', '.join(unknown)}."))
    # A unit starts in the first period at or after its start; a start after the last period is never reached.
    position = pd.Index(periods).searchsorted([starts.get(u, periods[-1]) for u in names], side="left")
    named = np.array([u in starts for u in names])
    cohort = np.where(named & (position < len(periods)), position, NEVER).astype(int)
    first = cohort == 0
    if first.any():
        conditions.append(Condition(
            TREATED_FROM_FIRST_PERIOD,
            f"{int(first.sum())} unit(s) had the change from the first period on, so nothing shows how they were "
            f"before it; they were left out ({', '.join(np.array(names)[first][:10])}).",
        ))
    y = wide.to_numpy(dtype=float)[~first]
    cohort, kept = cohort[~first], tuple(np.array(wide.index, dtype=object)[~first])
    if not (cohort != NEVER).any():
        conditions.append(Condition(NO_TREATED_UNITS, "No unit of the data started within it after its first period.", BLOCKS))
    elif not (cohort == NEVER).any() and len(np.unique(cohort)) < 2:
        conditions.append(Condition(
            NO_CONTROL_UNITS,
            "Every unit started in the same period and none stayed untreated, so nothing shows how the metric "
            "would have moved without the change; use an interrupted time series (design: its).",
            BLOCKS,
        ))
    return Rollout(y=y, cohort=cohort, units=kept, periods=periods, conditions=tuple(conditions))


def _agreement(headline: Estimate, check: Estimate) -> tuple[str, bool]:
    """Whether the cross-check agrees with the headline, in words."""
    if not (has_interval(headline) and has_interval(check)):
        return "The cross-check has no interval to compare with.", True
    inside = check.ci_low <= headline.estimate <= check.ci_high and headline.ci_low <= check.estimate <= headline.ci_high
    same_call = (headline.p_value < 1 - headline.level) == (check.p_value < 1 - check.level)
    agree = inside and same_call
    verdict = "agrees with" if agree else "disagrees with"
    return (
        f"The Sun and Abraham event study {verdict} the headline: {fmt.number(check.estimate, signed=True)} "
        f"({fmt.confidence(1 - check.level)} CI {fmt.interval(check.ci_low, check.ci_high, '')}) against "
        f"{fmt.number(headline.estimate, signed=True)}"
        + ("." if agree else "; read the effect with care: the two estimators weigh the cohorts and comparison "
           "periods differently, and a gap between them points to effects that change with the start date or "
           "trends that were not parallel."),
        agree,
    )


def staggered_adoption(
    frame: pd.DataFrame,
    *,
    unit: str,
    period: str,
    outcome: str,
    rollout: Mapping[Any, Any],
    metric: str | None = None,
    label: str | None = None,
    alpha: float = 0.05,
    control: Control | None = None,
) -> QuasiResult:
    """Effect of a change that reached the units at different periods.

    Parameters
    ----------
    frame : pandas.DataFrame
        Panel, one row per unit and period.
    unit, period, outcome : str
        Column names.
    rollout : mapping
        Unit -> first period with the change; units not named were never treated.
    metric : str, optional
        Metric id for the result; defaults to ``outcome``.
    label : str, optional
        The metric's name in the result's sentences; defaults to ``metric``.
    alpha : float
        One minus the confidence level.
    control : {"never", "notyet"}, optional
        Comparison units; default never-treated units when there are any, else units not
        yet treated.

    Returns
    -------
    QuasiResult
        ``design="staggered"``. Headline: the Callaway and Sant'Anna overall effect
        (``"simple"`` aggregation); the event-time effects in ``event_study``; the cohort
        and event-time averages, the Sun and Abraham cross-check and two-way fixed effects
        (for comparison) in ``other_estimates``; whether the cross-check agrees in ``notes``.
    """
    _check_alpha(alpha)
    metric = metric or outcome
    label = label or metric
    r = prepare_rollout(frame, unit=unit, period=period, outcome=outcome, rollout=rollout)
    treated = r.cohort != NEVER
    cohorts = np.unique(r.cohort[treated])
    control = control or ("never" if (r.cohort == NEVER).any() else "notyet")
    first = r.periods[int(cohorts.min())] if len(cohorts) else None
    facts = {
        "start": first,
        "n_units": len(r.units),
        "n_treated": int(treated.sum()),
        "n_pre": int(cohorts.min()) if len(cohorts) else 0,
        "n_post": len(r.periods) - int(cohorts.min()) if len(cohorts) else 0,
    }
    comparison = "units never treated" if control == "never" else "units not yet treated at each period"
    why = (
        f"The change reached {facts['n_treated']} of {facts['n_units']} units in {len(cohorts)} waves, from "
        f"{period_label(first) if first is not None else 'no period'}; each wave is compared with the {comparison}, "
        "so units already treated never serve as the comparison."
        + ("" if (r.cohort == NEVER).any() or not len(cohorts) else
           " No unit stayed untreated, so the last wave serves only as the comparison, before its start.")
    )
    assumptions = (
        f"Parallel trends: without the change, {label} of each wave would have moved like that of the {comparison}.",
        "No anticipation: units did not react before their own start.",
        "No spill-over: the comparison units were not affected by the change elsewhere.",
        "Once started, a unit stays treated; the effect may differ between waves and grow over time.",
    )
    method = f"Callaway and Sant'Anna group-time effects, {comparison} as comparison, influence-function errors by unit"
    if r.blocked:
        return QuasiResult("staggered", metric, method, why, assumptions, None, math.nan, math.nan,
                           conditions=r.conditions, alpha=alpha, label=label, **facts)
    cs = callaway_santanna(r, control=control, alpha=alpha)
    n = len(r.units)
    sa = interaction_weighted(r.y, r.cohort)
    check = _estimate(sa.overall[0], sa.overall_se[0], alpha,
                      f"Sun and Abraham interaction-weighted event study, {sa.control} as comparison, "
                      "cluster-robust by unit", n, sa.df)
    beta, se, df = staggered_twfe(r.y, r.cohort)
    twfe = _estimate(beta[0], se[0], alpha, "two-way fixed effects, cluster-robust by unit", n, df)
    sentence, agree = _agreement(cs.simple, check)
    conditions = list(r.conditions)
    if n < FEW_CLUSTERS_BELOW:
        conditions.append(Condition(
            FEW_CLUSTERS,
            f"Only {n} units: the normal intervals of the influence-function errors are approximate.",
        ))
    if not has_interval(cs.simple):
        conditions.append(Condition(
            NO_INTERVAL,
            "The units of each wave and of the comparison changed alike, so the spread behind a standard error "
            "is zero (one unit per wave or comparison group, or no noise); no interval is shown. Add units.",
            BLOCKS,
        ))
    if not agree:
        conditions.append(Condition(ESTIMATORS_DISAGREE, sentence))
    if cs.pretrend is not None and cs.pretrend.rejected:
        conditions.append(Condition(
            PRE_TREND,
            f"Before their start the waves already moved differently from the comparison units "
            f"({cs.pretrend.method}, {fmt.p_value(cs.pretrend.p_value)}); the parallel-trends assumption is doubtful.",
            BLOCKS,
        ))
    # The treated unit-periods the headline averages over (the last wave is the comparison when none stayed untreated).
    y, cohort = last_wave_as_comparison(r.y, r.cohort)
    after = (cohort[:, None] != NEVER) & (np.arange(y.shape[1])[None, :] >= cohort[:, None])
    observed = float(y[after].mean())
    result = QuasiResult(
        design="staggered",
        metric=metric,
        label=label,
        method=method,
        why=why,
        assumptions=assumptions,
        estimate=cs.simple,
        observed=observed,
        counterfactual_mean=observed - cs.simple.estimate,
        other_estimates={
            "average over periods since the start": cs.dynamic_overall,
            "average over waves": cs.group_overall,
            "Sun and Abraham cross-check": check,
            "two-way fixed effects (for comparison; biased when effects differ by wave or grow)": twfe,
        },
        event_study=cs.dynamic,
        pretrend=cs.pretrend,
        conditions=tuple(conditions),
        alpha=alpha,
        notes=(sentence,),
        **facts,
    )
    # Pre-period event-time effects are changes from the period before (varying base).
    return with_sensitivity(result, cs.dynamic["rel"].to_numpy(), cs.dynamic["estimate"].to_numpy(), cs.dynamic_cov,
                            base="varying")
