"""Fixed-horizon two-sample comparisons on sufficient statistics (vectorized).

Every function takes numpy arrays, one element per cell (metric x arm x segment), so a
whole initiative, or thousands of segment cells, is one call.

* Absolute effect ``treatment - control`` with a Welch t interval (Welch-Satterthwaite
  degrees of freedom), as gbstats' ``TwoSidedTTest``.
* Relative effect ``(treatment - control) / control_mean`` with the delta-method variance
  ``V_t / b^2 + V_c / b^2 + d^2 V_b / b^4 + 2 d Cov(c, b) / b^3`` where ``b`` is the
  unadjusted control mean and ``c`` the (possibly CUPED-adjusted) control estimate; without
  adjustment this is gbstats' ``s_c^2 mu_t^2 / (mu_c^4 n_c) + s_t^2 / (mu_c^2 n_t)``.
* CUPED: ``y - theta (x - x_bar)`` with ``theta`` pooled over the two arms' within-arm
  covariances (treated as known), as gbstats' regression adjustment.
* One-sided non-inferiority tests against a margin, in the metric's better direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from outcomes.experiment.statistics import ArrayLike, Moments, safe_div, sample_covariance, sample_variance


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` if it lies in (0, 1), else raise.

    Raises
    ------
    ValueError
        ``"alpha must be in (0, 1), bounds excluded, got ..."``.
    """
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), bounds excluded, got {alpha!r}")
    return float(alpha)


@dataclass(frozen=True)
class Comparison:
    """Arrays of effects, one element per compared cell (see :func:`compare`)."""

    n_control: np.ndarray
    n_treatment: np.ndarray
    control_mean: np.ndarray
    treatment_mean: np.ndarray
    estimate_abs: np.ndarray
    se_abs: np.ndarray
    estimate_rel: np.ndarray
    se_rel: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ci_rel_low: np.ndarray
    ci_rel_high: np.ndarray
    p_value: np.ndarray
    variance_reduction: np.ndarray

    def __len__(self) -> int:
        return int(self.estimate_abs.size)


def welch_df(v_c: np.ndarray, v_t: np.ndarray, n_c: np.ndarray, n_t: np.ndarray) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom from the variances of the two means."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))


def compare(
    control: Moments,
    treatment: Moments,
    alpha: float = 0.05,
    variance_reduction: ArrayLike | None = None,
) -> Comparison:
    """Compare treatment with control, cell by cell: Welch t, absolute and relative.

    Parameters
    ----------
    control, treatment : Moments
        Arrays of the same shape (see :mod:`outcomes.experiment.statistics`).
    alpha : float
        Two-sided significance level of the intervals, in (0, 1).
    variance_reduction : array, optional
        Passed through from :func:`cuped_moments` (NaN when not adjusted).

    Returns
    -------
    Comparison
        Estimates, standard errors, ``1 - alpha`` intervals and p-values. Cells where an
        effect cannot be estimated (fewer than 2 units in an arm, zero variance) hold NaN;
        relative fields are NaN when the control mean is zero.
    """
    alpha = check_alpha(alpha)
    n_c, n_t = control.n, treatment.n
    with np.errstate(divide="ignore", invalid="ignore"):
        v_c = control.est_variance / n_c
        v_t = treatment.est_variance / n_t
        v_b = control.variance / n_c
        cov_cb = control.est_mean_cov / n_c
        se = np.sqrt(v_c + v_t)
        ok = (n_c >= 2) & (n_t >= 2) & np.isfinite(se) & (se > 0)
        diff = treatment.est - control.est
        df = welch_df(v_c, v_t, n_c, n_t)
        df = np.where(np.isfinite(df), df, np.inf)
        q = stats.t.ppf(1 - alpha / 2, df)
        b = control.mean
        rel = safe_div(diff, b)
        var_rel = (v_t + v_c) / b**2 + diff**2 * v_b / b**4 + 2 * diff * cov_cb / b**3
        se_rel = np.sqrt(np.where(var_rel > 0, var_rel, np.nan))
        p = 2 * stats.t.sf(np.abs(diff / se), df)

    def keep(a: np.ndarray) -> np.ndarray:
        return np.where(ok, a, np.nan)

    rel_ok = ok & np.isfinite(rel)
    return Comparison(
        n_control=n_c,
        n_treatment=n_t,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        estimate_abs=np.where(np.isfinite(diff), diff, np.nan),
        se_abs=keep(se),
        estimate_rel=np.where(np.isfinite(rel), rel, np.nan),
        se_rel=np.where(rel_ok, se_rel, np.nan),
        df=keep(df),
        ci_low=keep(diff - q * se),
        ci_high=keep(diff + q * se),
        ci_rel_low=np.where(rel_ok, rel - q * se_rel, np.nan),
        ci_rel_high=np.where(rel_ok, rel + q * se_rel, np.nan),
        p_value=keep(p),
        variance_reduction=(
            np.full(diff.shape, np.nan) if variance_reduction is None else np.asarray(variance_reduction, dtype=float)
        ),
    )


def cuped_moments(
    control: tuple[ArrayLike, ...], treatment: tuple[ArrayLike, ...]
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """CUPED / regression adjustment with a pre-period covariate, theta pooled over both arms.

    Parameters
    ----------
    control, treatment : tuple of arrays
        ``(n, sum_y, sum_y2, sum_x, sum_x2, sum_xy)`` per arm, ``x`` the pre-period value.

    Returns
    -------
    control, treatment : Moments
        Adjusted moments (``mean``/``variance`` stay unadjusted for levels and relative
        effects; ``est``/``est_variance`` are adjusted).
    theta : ndarray
        ``sum_arms cov(x, y) (n - 1) / sum_arms var(x) (n - 1)``; 0 where ``x`` is constant.
    variance_reduction : ndarray
        ``1 - var(adjusted difference) / var(unadjusted difference)``; NaN where the
        covariate is constant (nothing to adjust with).
    """
    nc, yc, yyc, xc, xxc, xyc = (np.asarray(a, dtype=float) for a in control)
    nt, yt, yyt, xt, xxt, xyt = (np.asarray(a, dtype=float) for a in treatment)
    vy_c, vy_t = sample_variance(nc, yc, yyc), sample_variance(nt, yt, yyt)
    vx_c, vx_t = sample_variance(nc, xc, xxc), sample_variance(nt, xt, xxt)
    cv_c, cv_t = sample_covariance(nc, xc, yc, xyc), sample_covariance(nt, xt, yt, xyt)
    wc, wt = np.maximum(nc - 1, 0), np.maximum(nt - 1, 0)
    pooled_vx = vx_c * wc + vx_t * wt
    theta = np.nan_to_num(safe_div(cv_c * wc + cv_t * wt, pooled_vx))
    x_pool = safe_div(xc + xt, nc + nt)

    def arm(n: np.ndarray, y: np.ndarray, x: np.ndarray, vy: np.ndarray, vx: np.ndarray, cv: np.ndarray) -> Moments:
        mean, mx = safe_div(y, n), safe_div(x, n)
        est_var = np.maximum(vy + theta**2 * vx - 2 * theta * cv, 0.0)
        return Moments(n, mean, vy, mean - theta * (mx - x_pool), est_var, vy - theta * cv)

    mc, mt = arm(nc, yc, xc, vy_c, vx_c, cv_c), arm(nt, yt, xt, vy_t, vx_t, cv_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        before = vy_c / nc + vy_t / nt
        after = mc.est_variance / nc + mt.est_variance / nt
    applied = (before > 0) & (pooled_vx > 0)
    reduction = np.where(applied, 1 - after / np.where(applied, before, 1.0), np.nan)
    return mc, mt, theta, reduction


def noninferiority_p(
    estimate: ArrayLike, se: ArrayLike, df: ArrayLike, margin: ArrayLike, higher_is_better: ArrayLike
) -> np.ndarray:
    """One-sided p-value of "worse by at least the margin" (small p: shown non-inferior).

    For a metric where higher is better, H0: effect <= -margin vs H1: effect > -margin,
    ``t = (estimate + margin) / se``; where lower is better, H0: effect >= margin,
    ``t = (margin - estimate) / se``. NaN where ``margin`` is NaN.

    Parameters
    ----------
    estimate, se, df : arrays
        Effect, its standard error and degrees of freedom (same scale as ``margin``).
    margin : array
        Positive margins (NaN for none).
    higher_is_better : array of bool
        The metric's better direction.

    Returns
    -------
    ndarray
        The one-sided p-values.
    """
    estimate, se, df, margin = (np.asarray(a, dtype=float) for a in (estimate, se, df, margin))
    sign = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (sign * estimate + margin) / se
    return np.where(np.isfinite(margin), stats.t.sf(t, df), np.nan)
