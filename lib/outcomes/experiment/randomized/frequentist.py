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
  covariances (treated as known), as gbstats' regression adjustment; on a ratio metric
  the same on the delta-method linearization of the ratio and of its pre-period ratio.
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
    df: ArrayLike | None = None,
) -> Comparison:
    """Compare treatment with control, cell by cell: Welch t, absolute and relative.

    Parameters
    ----------
    control, treatment : Moments
        Arrays of the same shape (see :mod:`outcomes.experiment.statistics`).
    alpha : float
        Two-sided significance level of the intervals, in (0, 1).
    variance_reduction : array, optional
        Passed through from :func:`adjusted_moments` (NaN when not adjusted).
    df : array, optional
        Degrees of freedom to use where finite (clusters - 2 for cluster-randomized
        cells) instead of Welch-Satterthwaite's.

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
        welch = welch_df(v_c, v_t, n_c, n_t)
        if df is not None:
            given = np.asarray(df, dtype=float)
            welch = np.where(np.isfinite(given), given, welch)
        df = np.where(np.isfinite(welch), welch, np.inf)
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


def pooled_slopes(s_xx: np.ndarray, s_xy: np.ndarray, varies: np.ndarray) -> np.ndarray:
    """``theta`` solving ``S_xx theta = S_xy``, on the correlation scale so units do not matter.

    Parameters
    ----------
    s_xx : ndarray, shape ``(..., k, k)``
        Pooled within-arm scatter of the covariates.
    s_xy : ndarray, shape ``(..., k)``
        Pooled within-arm scatter of the covariates with the metric.
    varies : ndarray of bool, shape ``(..., k)``
        Whether each covariate varies; a constant one gets 0.

    Returns
    -------
    ndarray, shape ``(..., k)``
        The slopes. Of collinear covariates the minimum-norm combination is kept (the
        pseudo-inverse), so a redundant covariate changes nothing; one covariate is a
        plain division.
    """
    if s_xx.shape[-1] == 1:
        sxx, sxy = s_xx[..., 0, 0], s_xy[..., 0]
        return np.where(varies[..., 0], sxy / np.where(varies[..., 0], sxx, 1.0), 0.0)[..., None]
    sd = np.sqrt(np.maximum(np.diagonal(s_xx, axis1=-2, axis2=-1), 0.0))
    scale = np.where(varies, 1 / np.where(varies, sd, 1.0), 0.0)
    corr = np.nan_to_num(s_xx * scale[..., :, None] * scale[..., None, :])
    inverse = np.linalg.pinv(corr, rtol=1e-10, hermitian=True)
    return scale * np.einsum("...ij,...j->...i", inverse, np.nan_to_num(scale * s_xy))


def adjusted_moments(
    n: tuple[np.ndarray, np.ndarray],
    level: tuple[np.ndarray, np.ndarray],
    pre_level: tuple[np.ndarray, np.ndarray],
    pre_pool: np.ndarray,
    var_y: tuple[np.ndarray, np.ndarray],
    var_x: tuple[np.ndarray, np.ndarray],
    cov_xy: tuple[np.ndarray, np.ndarray],
    varies: np.ndarray | None = None,
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """The regression adjustment on ``k`` covariates, from per-unit (co)variances per arm.

    The one implementation behind CUPED on a mean (:func:`cuped_moments`), on a ratio
    (:func:`ratio_cuped_moments`) and on several covariates
    (:func:`~outcomes.experiment.randomized.adjust.regression_adjusted`). ``theta`` solves
    the arms' pooled within-arm scatter ``S_xx theta = S_xy`` (treated as known); each
    arm's estimate is ``level - theta' (pre_level - pre_pool)`` with per-unit variance
    ``var_y + theta' V_x theta - 2 theta' c_xy``.

    Parameters
    ----------
    n, level : tuple of two arrays, shape ``(...)``
        Units and unadjusted level of (control, treatment).
    pre_level : tuple of two arrays, shape ``(..., k)``
        Each arm's covariate means.
    pre_pool : ndarray, shape ``(..., k)``
        The covariate means over both arms.
    var_y : tuple of two arrays, shape ``(...)``
        Per-unit variance of the metric in each arm.
    var_x : tuple of two arrays, shape ``(..., k, k)``
        Per-unit covariance matrix of the covariates in each arm.
    cov_xy : tuple of two arrays, shape ``(..., k)``
        Per-unit covariances of the covariates with the metric in each arm.
    varies : ndarray of bool, shape ``(..., k)``, optional
        Which covariates vary; default those with a positive pooled variance.

    Returns
    -------
    control, treatment : Moments
        ``mean``/``variance`` unadjusted, ``est``/``est_variance`` adjusted.
    theta : ndarray, shape ``(..., k)``
    variance_reduction : ndarray
        ``1 - var(adjusted difference) / var(unadjusted difference)``; NaN where no
        covariate varies.
    """
    w = tuple(np.maximum(k - 1, 0) for k in n)
    s_xx = var_x[0] * w[0][..., None, None] + var_x[1] * w[1][..., None, None]
    s_xy = cov_xy[0] * w[0][..., None] + cov_xy[1] * w[1][..., None]
    if varies is None:
        varies = np.diagonal(s_xx, axis1=-2, axis2=-1) > 0
    theta = pooled_slopes(s_xx, s_xy, varies)

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("...i,...i->...", a, b)

    def arm(i: int) -> Moments:
        quad = np.einsum("...i,...ij,...j->...", theta, var_x[i], theta)
        est_var = np.maximum(var_y[i] + quad - 2 * dot(theta, cov_xy[i]), 0.0)
        est = level[i] - dot(theta, pre_level[i] - pre_pool)
        return Moments(n[i], level[i], var_y[i], est, est_var, var_y[i] - dot(theta, cov_xy[i]))

    mc, mt = arm(0), arm(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        before = var_y[0] / n[0] + var_y[1] / n[1]
        after = mc.est_variance / n[0] + mt.est_variance / n[1]
    applied = (before > 0) & np.any(varies, axis=-1)
    reduction = np.where(applied, 1 - after / np.where(applied, before, 1.0), np.nan)
    return mc, mt, theta, reduction


def _one_covariate(
    n: tuple[np.ndarray, np.ndarray],
    level: tuple[np.ndarray, np.ndarray],
    pre_level: tuple[np.ndarray, np.ndarray],
    pre_pool: np.ndarray,
    var_y: tuple[np.ndarray, np.ndarray],
    var_x: tuple[np.ndarray, np.ndarray],
    cov_xy: tuple[np.ndarray, np.ndarray],
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """:func:`adjusted_moments` with one covariate given as plain arrays; ``theta`` comes back as one array."""
    mc, mt, theta, reduction = adjusted_moments(
        n, level, tuple(a[..., None] for a in pre_level), pre_pool[..., None], var_y,
        tuple(a[..., None, None] for a in var_x), tuple(a[..., None] for a in cov_xy),
    )
    return mc, mt, theta[..., 0], reduction


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
    arms = [tuple(np.asarray(a, dtype=float) for a in sums) for sums in (control, treatment)]
    n = tuple(a[0] for a in arms)
    return _one_covariate(
        n,
        tuple(safe_div(a[1], a[0]) for a in arms),
        tuple(safe_div(a[3], a[0]) for a in arms),
        safe_div(arms[0][3] + arms[1][3], n[0] + n[1]),
        tuple(sample_variance(a[0], a[1], a[2]) for a in arms),
        tuple(sample_variance(a[0], a[3], a[4]) for a in arms),
        tuple(sample_covariance(a[0], a[3], a[1], a[5]) for a in arms),
    )


#: Order of the sums :func:`ratio_cuped_moments` takes per arm.
RATIO_CUPED_SUMS = (
    "n", "sum", "sum_squares", "den_sum", "den_sum_squares", "sum_products",
    "pre_sum", "pre_sum_squares", "pre_den_sum", "pre_den_sum_squares", "pre_sum_products",
    "sum_post_pre", "sum_post_pre_den", "den_sum_post_pre", "den_sum_post_pre_den",
)


def ratio_cuped_moments(
    control: tuple[ArrayLike, ...], treatment: tuple[ArrayLike, ...]
) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """CUPED on a ratio metric: the ratio adjusted by its own pre-period ratio.

    A ratio ``R = mean(m) / mean(d)`` is linear to first order in its units'
    ``phi = (m - R d) / mean(d)``, and its pre-period ratio ``P = mean(x) / mean(w)`` in
    ``psi = (x - P w) / mean(w)``. The adjustment is CUPED on those (gbstats'
    regression-adjusted ratio): ``theta`` pools the arms' ``cov(phi, psi)`` over
    ``var(psi)``, each arm's estimate is ``R - theta (P - P_pooled)``, and the variances
    follow by the delta method with

    * ``var(phi) = (var(m) - 2 R cov(m, d) + R^2 var(d)) / mean(d)^2``,
    * ``var(psi) = (var(x) - 2 P cov(x, w) + P^2 var(w)) / mean(w)^2``,
    * ``cov(phi, psi) = (cov(m, x) - P cov(m, w) - R cov(d, x) + R P cov(d, w)) / (mean(d) mean(w))``.

    Parameters
    ----------
    control, treatment : tuple of arrays
        The sums :data:`RATIO_CUPED_SUMS` per arm, in that order.

    Returns
    -------
    control, treatment, theta, variance_reduction
        As :func:`cuped_moments`; ``mean``/``variance`` are the unadjusted ratio and its
        delta-method variance.
    """
    per_arm = []
    for sums in (control, treatment):
        n, m, mm, d, dd, md, x, xx, w, ww, xw, mx, mw, dx, dw = (np.asarray(a, dtype=float) for a in sums)
        mu_m, mu_d, mu_x, mu_w = (safe_div(v, n) for v in (m, d, x, w))
        r, p = safe_div(mu_m, mu_d), safe_div(mu_x, mu_w)
        var_m, var_d, cov_md = sample_variance(n, m, mm), sample_variance(n, d, dd), sample_covariance(n, m, d, md)
        var_x, var_w, cov_xw = sample_variance(n, x, xx), sample_variance(n, w, ww), sample_covariance(n, x, w, xw)
        with np.errstate(divide="ignore", invalid="ignore"):
            v_phi = (var_m - 2 * r * cov_md + r**2 * var_d) / mu_d**2
            v_psi = (var_x - 2 * p * cov_xw + p**2 * var_w) / mu_w**2
            c = (
                sample_covariance(n, m, x, mx) - p * sample_covariance(n, m, w, mw)
                - r * sample_covariance(n, d, x, dx) + r * p * sample_covariance(n, d, w, dw)
            ) / (mu_d * mu_w)
        v_phi, v_psi, c = (np.where(np.isfinite(a), a, 0.0) for a in (v_phi, v_psi, c))
        per_arm.append((n, r, p, x, w, np.maximum(v_phi, 0.0), np.maximum(v_psi, 0.0), c))
    (nc, rc, pc, xc, wc, vyc, vxc, cc), (nt, rt, pt, xt, wt, vyt, vxt, ct) = per_arm
    return _one_covariate((nc, nt), (rc, rt), (pc, pt), safe_div(xc + xt, wc + wt), (vyc, vyt), (vxc, vxt), (cc, ct))


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
