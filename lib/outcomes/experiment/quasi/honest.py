"""Sensitivity of an event study to parallel trends (Rambachan and Roth 2023).

A difference-in-differences estimate is causal only if, without the change, treated and
untreated units would have kept moving alike. The event study's leads show how far
apart they drifted *before* the start; this module asks how far they may drift *after*
it before the conclusion (the interval excludes zero) is lost. Two restrictions on the
post-period violation ``delta`` (Rambachan and Roth, "A More Credible Approach to
Parallel Trends", Review of Economic Studies 2023):

- **relative magnitudes** ``Delta^RM(Mbar)``: no period-to-period change of the trend
  difference after the start exceeds ``Mbar`` times the largest one before it;
- **smoothness** ``Delta^SD(M)``: the slope of the trend difference changes by at most
  ``M`` (outcome units) from one period to the next; ``M = 0`` allows a linear
  pre-trend that continues after the start.

Methods (stated exactly; see docs/statistics-quasi.md):

- Smoothness: the fixed-length confidence interval (FLCI, Armstrong and Kolesar 2018)
  that HonestDiD uses by default for ``Delta^SD``: the affine estimator ``l'b_post +
  w'b_pre`` whose interval ``estimate +- sd * cv_alpha(bias / sd)`` is shortest, with
  ``cv_alpha(b)`` the ``1 - alpha`` quantile of ``|N(b, 1)|`` and ``bias`` the worst
  case over ``Delta^SD(M)``. Here the worst-case bias has a closed form (``M`` times the
  L1 norm of the estimator's weights on the second differences, the weights must cancel
  every linear trend), and the weights come from :func:`scipy.optimize.minimize`
  (SLSQP) where HonestDiD searches a grid of standard deviations with a conic solver.
  Coverage at least ``1 - alpha`` for every ``delta`` in ``Delta^SD(M)``.
- Relative magnitudes: HonestDiD's method. ``Delta^RM(Mbar)`` is the union over the
  location ``s`` of the largest pre-period change and its sign of polyhedra
  ``{A_s delta <= 0}``; for each, the conditional-least-favourable hybrid test of Andrews,
  Roth and Pakes (:mod:`~outcomes.experiment.quasi.moment_inequality`, ``kappa = alpha /
  10``, the post-period moments only) is inverted over a grid of the target, and the set
  is the union of the per-polyhedron sets. The test reads its statistic off the enumerated
  corners of its dual, or, past :data:`~outcomes.experiment.quasi.moment_inequality.MAX_RAYS`
  corners, solves one linear program per point (:mod:`~outcomes.experiment.quasi.moment_lp`),
  so any number of post-periods is handled. Endpoints are refined between grid points on
  finer sub-grids (to 1e-5 of the target's standard error). The breakdown value is found
  by bisection over ``Mbar`` on whether the union rejects a zero effect. Coverage at least ``1 - alpha``
  (uniformly, asymptotically) for every ``delta`` in ``Delta^RM(Mbar)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from outcomes import format as fmt
from outcomes.experiment.quasi.blas_threads import single_blas_thread
from outcomes.experiment.quasi.moment_inequality import (
    TooManyVertices,
    dual_vertices,
    hybrid_reject,
    independent_columns,
    least_favorable_cv,
)
from outcomes.experiment.quasi.moment_lp import lp_hybrid_reject, lp_least_favorable_cv

Target = Literal["average", "first"]
#: The target parameters in words.
TARGET_NAMES = {"average": "the average effect over the periods after the start", "first": "the effect in the first period"}
#: Grid points of the target over which the relative-magnitudes test is inverted (endpoints then bisected).
RM_GRID_POINTS = 401
#: Rounds and points of the sub-grids refining each end of a relative-magnitudes set (the grid step
#: shrinks ``(RM_REFINE_POINTS - 1) ** RM_REFINE_ROUNDS`` times).
RM_REFINE_ROUNDS = 3
RM_REFINE_POINTS = 33
#: Precision of the relative-magnitudes breakdown value (absolute, in multiples of the largest pre-period change).
RM_BREAKDOWN_TOL = 1e-3
#: Largest ``Mbar`` tried when searching the relative-magnitudes breakdown (beyond it: ``inf``).
RM_SEARCH_LIMIT = 64.0
#: Largest smoothness bound tried, as a multiple of the target's standard error, when searching the breakdown.
SD_SEARCH_LIMIT = 1e3
#: Biases (in standard errors) at which the folded-normal critical value is tabulated.
FOLD_GRID = np.linspace(1e-9, 12.0, 1_201)


@dataclass(frozen=True)
class RobustInterval:
    """A robust confidence set of the target under one restriction and bound.

    Attributes
    ----------
    restriction : {"relative_magnitudes", "smoothness"}
        ``Delta^RM(Mbar)`` or ``Delta^SD(M)``.
    bound : float
        ``Mbar`` (a multiple of the largest pre-period change) or ``M`` (outcome units per period squared).
    low, high : float
        The interval.
    """

    restriction: Literal["relative_magnitudes", "smoothness"]
    bound: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the conclusion (an effect different from zero) survives this bound."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class TrendSensitivity:
    """How much a violation of parallel trends the conclusion survives.

    Attributes
    ----------
    target : {"average", "first"}
        The parameter: the average of the post-period effects, or the first one.
    estimate, se : float
        The target's event-study estimate and standard error.
    n_pre, n_post : int
        Pre-period coefficients (the reference period excluded) and post-period ones.
    rm_breakdown : float
        Largest ``Mbar`` for which the relative-magnitudes set excludes zero (to
        :data:`RM_BREAKDOWN_TOL`); NaN when even the set at ``Mbar = 0`` includes zero.
    sd_breakdown : float
        Largest ``M`` for which the smoothness FLCI excludes zero; NaN when even a linear
        pre-trend continued (``M = 0``) leaves zero inside; ``inf`` if no bound tried loses it.
    intervals : tuple of RobustInterval
        The robust sets over a grid of bounds (chart-ready through :meth:`to_frame`).
    alpha : float
        One minus the confidence level.
    """

    target: Target
    estimate: float
    se: float
    n_pre: int
    n_post: int
    rm_breakdown: float
    sd_breakdown: float
    intervals: tuple[RobustInterval, ...]
    alpha: float = 0.05

    @property
    def sensitive(self) -> bool:
        """Whether a post-period drift no larger than the largest pre-period one could overturn the conclusion."""
        return not self.rm_breakdown >= 1

    def sentences(self) -> tuple[str, ...]:
        """Plain sentences: the relative-magnitudes and smoothness breakdown values."""
        what = TARGET_NAMES[self.target]
        if math.isnan(self.rm_breakdown):
            return (
                f"Sensitivity to parallel trends: {what} is not distinguishable from zero even if trends are exactly "
                "parallel, so there is no conclusion to test.",
            )
        if math.isinf(self.rm_breakdown):
            rm = (
                f"The conclusion holds even if post-period trend differences reach {fmt.number(RM_SEARCH_LIMIT)} "
                f"times the largest pre-period one, the most tried (relative magnitudes, Rambachan and Roth; {what})."
            )
        else:
            rm = (
                f"The conclusion holds unless post-period trend differences exceed "
                f"{fmt.number(self.rm_breakdown)} times the largest pre-period one"
                f" (relative magnitudes, Rambachan and Roth; {what})."
            )
        if math.isnan(self.sd_breakdown):
            sd = ("A linear difference in trends continued from before the start would be enough to explain the "
                  "effect (smoothness, M = 0).")
        elif math.isinf(self.sd_breakdown):
            sd = "No bend in the difference of trends tried could explain the effect (smoothness)."
        else:
            sd = (
                "It also holds unless the slope of the difference "
                f"in trends changes by more than "
                f"{fmt.number(self.sd_breakdown)} from one period to the next (smoothness; 0 means a straight-line "
                "pre-trend continued)."
            )
        return rm, sd

    def to_frame(self) -> pd.DataFrame:
        """Return the robust sets: restriction, bound, low, high, excludes_zero."""
        rows = [
            {"restriction": i.restriction, "bound": i.bound, "low": i.low, "high": i.high,
             "excludes_zero": i.excludes_zero}
            for i in self.intervals
        ]
        return pd.DataFrame(rows, columns=["restriction", "bound", "low", "high", "excludes_zero"])


def target_weights(n_post: int, target: Target = "average") -> np.ndarray:
    """``l``: weights of the post-period coefficients defining the target."""
    if target == "average":
        return np.full(n_post, 1.0 / n_post)
    out = np.zeros(n_post)
    out[0] = 1.0
    return out


def _check(betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray) -> None:
    if n_pre < 1 or n_post < 1:
        raise ValueError(f"n_pre and n_post must be at least 1; got {n_pre} and {n_post}")
    if betahat.shape != (n_pre + n_post,) or sigma.shape != (n_pre + n_post, n_pre + n_post):
        raise ValueError(
            f"betahat {betahat.shape} and sigma {sigma.shape} must have n_pre + n_post = {n_pre + n_post} entries"
        )
    if l_vec.shape != (n_post,):
        raise ValueError(f"l_vec must have n_post = {n_post} entries; got {l_vec.shape}")


@functools.lru_cache(maxsize=8)
def _fold_table(alpha: float) -> np.ndarray:
    """``cv_alpha`` on :data:`FOLD_GRID`: the ``c`` with ``P(|N(b, 1)| <= c) = 1 - alpha``, every ``b`` at once.

    Bisection between 0 and ``b + z_{1 - alpha/2}`` (where the probability is at least
    ``1 - alpha``) to double precision: the same values as ``scipy.stats.foldnorm.ppf``,
    whose root finding point by point takes seconds for the grid.
    """
    low, high = np.zeros_like(FOLD_GRID), FOLD_GRID + _normal_quantile(1 - alpha / 2)
    for _ in range(64):
        mid = (low + high) / 2
        below = special.ndtr(mid - FOLD_GRID) - special.ndtr(-mid - FOLD_GRID) < 1 - alpha
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    return (low + high) / 2


@functools.lru_cache(maxsize=16)
def _normal_quantile(p: float) -> float:
    """``Phi^{-1}(p)``, computed once per level (the optimiser asks for it many thousand times)."""
    return float(stats.norm.ppf(p))


def fold_critical_value(bias: float, alpha: float) -> float:
    """``cv_alpha(b)``: the ``1 - alpha`` quantile of ``|N(b, 1)|``.

    Interpolated on a fine grid of ``b`` (error below 1e-4); beyond the grid the
    quantile is ``b + z_{1 - alpha}`` to double precision.
    """
    b = abs(bias)
    if b == 0:
        return _normal_quantile(1 - alpha / 2)
    if b >= FOLD_GRID[-1]:
        return b + _normal_quantile(1 - alpha)
    return float(np.interp(b, FOLD_GRID, _fold_table(alpha)))


def _fold_slope(bias: float, alpha: float) -> float:
    """Derivative of :func:`fold_critical_value` in ``b >= 0`` (the slope of the interpolated piece)."""
    b = abs(bias)
    if b >= FOLD_GRID[-1]:
        return 1.0
    table = _fold_table(alpha)
    i = min(max(int(np.searchsorted(FOLD_GRID, b)) - 1, 0), len(FOLD_GRID) - 2)
    return float((table[i + 1] - table[i]) / (FOLD_GRID[i + 1] - FOLD_GRID[i]))


def _second_difference_weights(n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps from an estimator's weights ``a`` (pre then post) to its bias terms.

    Returns ``(G, t)``: the bias ``a' delta`` of any ``delta`` with ``delta_ref = 0`` is
    ``(G a)' dd + (t' a) s`` with ``dd`` the second differences of the full sequence and
    ``s`` its slope at the reference period; ``t`` is event time relative to the reference.
    """
    n = n_pre + 1 + n_post
    ref = n_pre
    rows = np.zeros((n, n))
    for i in range(1, n - 1):
        rows[i - 1, i - 1 : i + 2] = (1.0, -2.0, 1.0)
    rows[n - 2, ref] = 1.0  # delta_ref = 0
    rows[n - 1, ref], rows[n - 1, ref - 1] = 1.0, -1.0  # slope into the reference period
    basis = np.linalg.inv(rows)  # full delta = basis @ (dd, 0, s)
    keep = np.r_[0:ref, ref + 1 : n]  # coefficients other than the reference
    g = basis[keep, : n - 2].T
    t = np.r_[np.arange(-n_pre, 0), np.arange(1, n_post + 1)].astype(float)
    return g, t


def smoothness_flci(
    betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, m: float, alpha: float = 0.05
) -> RobustInterval:
    """Fixed-length confidence interval of ``l' tau_post`` under ``Delta^SD(M)``.

    Parameters
    ----------
    betahat : numpy.ndarray
        Event-study coefficients, pre-periods (oldest first, reference excluded) then post-periods.
    sigma : numpy.ndarray
        Their covariance.
    n_pre, n_post : int
        Numbers of pre- and post-period coefficients.
    l_vec : numpy.ndarray
        Target weights on the post-period coefficients.
    m : float
        Largest change of the slope of the trend difference between consecutive periods.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    RobustInterval
    """
    betahat, sigma, l_vec = (np.asarray(x, dtype=float) for x in (betahat, sigma, l_vec))
    _check(betahat, sigma, n_pre, n_post, l_vec)
    g, t = _second_difference_weights(n_pre, n_post)
    g_pre, g_post = g[:, :n_pre], g[:, n_pre:]
    t_pre, t_post = t[:n_pre], t[n_pre:]

    def full(w: np.ndarray) -> np.ndarray:
        return np.concatenate((w, l_vec))

    def sd(w: np.ndarray) -> float:
        a = full(w)
        return float(np.sqrt(max(a @ sigma @ a, 1e-300)))

    # M = 0: the least-variance weights that cancel a linear trend (closed form, also the start).
    s_pp, s_pq = sigma[:n_pre, :n_pre], sigma[:n_pre, n_pre:]
    kkt = np.block([[2 * s_pp, t_pre[:, None]], [t_pre[None, :], np.zeros((1, 1))]])
    rhs = np.r_[-2 * s_pq @ l_vec, -t_post @ l_vec]
    w0 = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:n_pre]
    if m > 0:
        k = g.shape[0]

        def half_length(x: np.ndarray) -> float:
            s = sd(x[:n_pre])
            return s * fold_critical_value(m * float(np.sum(x[n_pre:])) / s, alpha)

        def half_length_gradient(x: np.ndarray) -> np.ndarray:
            # h = s cv(u), u = m sum(x_bias) / s: dh/dw = ds/dw (cv(u) - u cv'(u)), dh/dx_bias = m cv'(u)
            s = sd(x[:n_pre])
            u = m * float(np.sum(x[n_pre:])) / s
            slope = _fold_slope(u, alpha)
            ds = (sigma @ full(x[:n_pre]))[:n_pre] / s
            return np.concatenate((ds * (fold_critical_value(u, alpha) - u * slope), np.full(k, m * slope)))

        # The constraints are linear: their constant parts and Jacobians are formed once.
        trend_post, bias_post = t_post @ l_vec, g_post @ l_vec
        c0 = g_pre @ w0 + bias_post
        trend_jac = np.concatenate((t_pre, np.zeros(k)))[None, :]
        upper_jac, lower_jac = np.hstack([-g_pre, np.eye(k)]), np.hstack([g_pre, np.eye(k)])
        constraints = [
            {"type": "eq", "fun": lambda x: np.array([t_pre @ x[:n_pre] + trend_post]), "jac": lambda x: trend_jac},
            {"type": "ineq", "fun": lambda x: x[n_pre:] - (g_pre @ x[:n_pre] + bias_post), "jac": lambda x: upper_jac},
            {"type": "ineq", "fun": lambda x: x[n_pre:] + (g_pre @ x[:n_pre] + bias_post), "jac": lambda x: lower_jac},
        ]
        with single_blas_thread():
            fit = optimize.minimize(half_length, np.concatenate((w0, np.abs(c0))), jac=half_length_gradient,
                                    method="SLSQP",
                                    constraints=constraints,
                                    options={"maxiter": 500, "ftol": 1e-12})
        w = fit.x[:n_pre]
        bias = m * float(np.sum(np.abs(g_pre @ w + bias_post)))
    else:
        w, bias = w0, 0.0
    center = float(full(w) @ betahat)
    half = sd(w) * fold_critical_value(bias / sd(w), alpha)
    return RobustInterval("smoothness", float(m), center - half, center + half)


def rm_constraints(n_pre: int, n_post: int, mbar: float, s: int, max_positive: bool) -> np.ndarray:
    """``A`` of the polyhedron ``{A delta <= 0}`` of ``Delta^RM(Mbar)`` with the largest pre-period change at ``s``.

    Parameters
    ----------
    n_pre, n_post : int
        Numbers of pre- and post-period coefficients.
    mbar : float
        The relative-magnitudes bound.
    s : int
        Which pre-period change is the largest: ``0`` is the change into the reference
        period, ``-1`` the one before, down to ``-(n_pre - 1)``.
    max_positive : bool
        Whether that change is positive (else negative).

    Returns
    -------
    numpy.ndarray
        One row per inequality, one column per coefficient (pre then post, reference left out):
        every pre-period change is at most the largest in absolute value, every post-period
        change at most ``mbar`` times it.
    """
    n = n_pre + n_post
    changes = np.zeros((n, n + 1))  # first differences of the full sequence, reference at column n_pre
    changes[np.arange(n), np.arange(n)] = -1.0
    changes[np.arange(n), np.arange(n) + 1] = 1.0
    largest = changes[n_pre - 1 + s] * (1.0 if max_positive else -1.0)
    bound = np.vstack([np.tile(largest, (n_pre, 1)), np.tile(mbar * largest, (n_post, 1))])
    a = np.vstack([changes - bound, -changes - bound])
    a = a[np.sum(a**2, axis=1) > 1e-10]
    return np.delete(a, n_pre, axis=1)


def _target_basis(l_vec: np.ndarray) -> np.ndarray:
    """An invertible matrix whose first row is ``l'`` (the other rows: unit vectors, first ones first)."""
    candidates = np.column_stack([l_vec, np.eye(len(l_vec))])
    return candidates[:, independent_columns(candidates)].T


@dataclass(frozen=True)
class _Polyhedron:
    """One polyhedron of ``Delta^RM`` ready for the hybrid test of any coefficients and target value.

    The moments are ``a_rm @ betahat - direction * theta`` (the post-period inequalities);
    ``nuisance`` are their columns of the nuisance parameters (the other directions of the
    post-period effects) and ``vertices`` the corners of the statistic's dual polytope, or
    None where the statistic is solved as a linear program per point instead.
    """

    a_rm: np.ndarray
    direction: np.ndarray
    sigma: np.ndarray
    nuisance: np.ndarray
    vertices: np.ndarray | None
    lf_cv: float

    def rejects(self, y: np.ndarray, alpha: float, kappa: float) -> np.ndarray:
        """The hybrid test of each row of moments ``y``."""
        if self.vertices is None:
            return lp_hybrid_reject(y, self.sigma, self.nuisance, alpha, kappa, self.lf_cv)
        return hybrid_reject(y, self.vertices, self.sigma, alpha, kappa, self.lf_cv)


def _rm_polyhedra(sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, mbar: float, kappa: float,
                  seed: int, linear_program: bool = False) -> list[_Polyhedron]:
    """The ``2 * n_pre`` polyhedra of ``Delta^RM(Mbar)`` with their least-favourable critical values.

    The dual polytope's corners are enumerated unless ``linear_program`` is set or they are
    too many (:class:`~outcomes.experiment.quasi.moment_inequality.TooManyVertices`); then
    each statistic is one linear program (:mod:`~outcomes.experiment.quasi.moment_lp`).
    """
    gamma_inv = np.linalg.inv(_target_basis(l_vec))
    out = []
    for s_loc in range(-(n_pre - 1), 1):
        for max_positive in (True, False):
            a_rm = rm_constraints(n_pre, n_post, mbar, s_loc, max_positive)
            a_rm = a_rm[np.abs(a_rm[:, n_pre:]).sum(axis=1) > 0]  # the post-period moments
            post = a_rm[:, n_pre:] @ gamma_inv
            sigma_y = a_rm @ sigma @ a_rm.T
            nuisance = post[:, 1:]
            vertices = None if linear_program else _vertices_or_none(np.sqrt(np.diagonal(sigma_y)), nuisance)
            lf_cv = (lp_least_favorable_cv(sigma_y, nuisance, kappa, seed) if vertices is None
                     else least_favorable_cv(vertices, sigma_y, kappa, seed))
            out.append(_Polyhedron(a_rm, post[:, 0], sigma_y, nuisance, vertices, lf_cv))
    return out


def _vertices_or_none(sd: np.ndarray, nuisance: np.ndarray) -> np.ndarray | None:
    """The dual polytope's corners, or None when they are too many to enumerate."""
    try:
        return dual_vertices(sd, nuisance)
    except TooManyVertices:
        return None


def _accepts(polyhedra: list[_Polyhedron], betahat: np.ndarray, theta: np.ndarray, alpha: float,
             kappa: float) -> np.ndarray:
    """Whether ``theta`` is in the union of the per-polyhedron confidence sets (broadcast over rows)."""
    betahat, theta = np.atleast_2d(betahat), np.atleast_1d(np.asarray(theta, dtype=float))
    accept = np.zeros(max(len(betahat), len(theta)), dtype=bool)
    for p in polyhedra:
        todo = np.flatnonzero(~accept)  # a value one polyhedron accepts is in the union
        if len(todo) == 0:
            break
        y = betahat @ p.a_rm.T - theta[:, None] * p.direction[None, :]
        accept[todo] = ~p.rejects(np.broadcast_to(y, (len(accept), y.shape[1]))[todo], alpha, kappa)
    return accept


def _prepare(betahat, sigma, n_pre, n_post, l_vec):
    betahat, sigma, l_vec = (np.asarray(x, dtype=float) for x in (betahat, sigma, l_vec))
    _check(betahat, sigma, n_pre, n_post, l_vec)
    return betahat, sigma, l_vec


def rm_accepts(
    betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, mbar: float,
    theta: float | np.ndarray, alpha: float = 0.05, seed: int = 0, kappa: float | None = None,
    linear_program: bool = False,
) -> np.ndarray:
    """Whether target values are inside the relative-magnitudes confidence set (the inverted hybrid test).

    Parameters
    ----------
    betahat : numpy.ndarray
        Event-study coefficients as in :func:`smoothness_flci`, or one row per draw of them
        (the polyhedra and critical values depend on ``sigma`` only, so draws share them).
    sigma, n_pre, n_post, l_vec, alpha
        As in :func:`smoothness_flci`.
    mbar : float
        The relative-magnitudes bound.
    theta : float or numpy.ndarray
        Target value(s) tested; broadcast against the rows of ``betahat``.
    seed, kappa, linear_program
        As in :func:`relative_magnitudes_interval`.

    Returns
    -------
    numpy.ndarray
        Boolean, one per row.
    """
    betahat, sigma, l_vec = np.asarray(betahat, dtype=float), np.asarray(sigma, dtype=float), np.asarray(l_vec, float)
    _check(np.atleast_2d(betahat)[0], sigma, n_pre, n_post, l_vec)
    kappa = alpha / 10 if kappa is None else kappa
    polyhedra = _rm_polyhedra(sigma, n_pre, n_post, l_vec, mbar, kappa, seed, linear_program)
    return _accepts(polyhedra, betahat, theta, alpha, kappa)


def relative_magnitudes_interval(
    betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, mbar: float,
    alpha: float = 0.05, seed: int = 0, kappa: float | None = None, linear_program: bool = False,
) -> RobustInterval:
    """Confidence set of ``l' tau_post`` under ``Delta^RM(Mbar)`` by the hybrid test (see the module notes).

    Parameters
    ----------
    betahat, sigma, n_pre, n_post, l_vec, alpha
        As in :func:`smoothness_flci`.
    mbar : float
        Post-period changes of the trend difference are at most ``mbar`` times the largest pre-period change.
    seed : int
        Seed of the least-favourable critical values' draws.
    kappa : float, optional
        Size of the least-favourable first stage; ``alpha / 10`` (HonestDiD's default) when omitted.
    linear_program : bool
        Solve the test's statistic as one linear program per point (HonestDiD's path, far slower)
        even where the corners of its dual can be enumerated; the sets agree to the solver's tolerance.

    Returns
    -------
    RobustInterval
        From the smallest to the largest target value not rejected (the union may have gaps);
        NaN ends when every value is rejected (the pre-period data contradict the restriction).
    """
    betahat, sigma, l_vec = _prepare(betahat, sigma, n_pre, n_post, l_vec)
    kappa = alpha / 10 if kappa is None else kappa
    polyhedra = _rm_polyhedra(sigma, n_pre, n_post, l_vec, mbar, kappa, seed, linear_program)
    est = float(l_vec @ betahat[n_pre:])
    sd_theta = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    pre_changes = np.diff(np.r_[betahat[:n_pre], 0.0])
    k_l = float(np.sum(np.abs(np.cumsum(l_vec[::-1])[::-1])))
    span = 20 * sd_theta + mbar * k_l * float(np.max(np.abs(pre_changes)))
    for _ in range(8):
        grid = np.linspace(est - span, est + span, RM_GRID_POINTS)
        accept = _accepts(polyhedra, betahat, grid, alpha, kappa)
        if not (accept[0] or accept[-1]):
            break
        span *= 2
    if not accept.any():
        return RobustInterval("relative_magnitudes", float(mbar), math.nan, math.nan)
    inside = np.flatnonzero(accept)

    def edge(outside: float, inside_value: float) -> float:
        for _ in range(RM_REFINE_ROUNDS):
            sub = np.linspace(outside, inside_value, RM_REFINE_POINTS)
            first = int(np.argmax(_accepts(polyhedra, betahat, sub, alpha, kappa)))
            outside, inside_value = sub[first - 1], sub[first]
        return float(inside_value)

    low = grid[0] if inside[0] == 0 else edge(grid[inside[0] - 1], grid[inside[0]])
    high = grid[-1] if inside[-1] == len(grid) - 1 else edge(grid[inside[-1] + 1], grid[inside[-1]])
    return RobustInterval("relative_magnitudes", float(mbar), float(low), float(high))


def rm_breakdown(
    betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, alpha: float = 0.05,
    seed: int = 0, kappa: float | None = None,
) -> float:
    """Largest ``Mbar`` whose relative-magnitudes set excludes zero, by bisection (to :data:`RM_BREAKDOWN_TOL`).

    The set excludes zero when every polyhedron's hybrid test rejects a zero effect. NaN when
    the set at ``Mbar = 0`` includes zero; ``inf`` when it excludes zero up to :data:`RM_SEARCH_LIMIT`.
    """
    betahat, sigma, l_vec = _prepare(betahat, sigma, n_pre, n_post, l_vec)

    def excludes_zero(mbar: float) -> bool:
        return not rm_accepts(betahat, sigma, n_pre, n_post, l_vec, mbar, 0.0, alpha, seed, kappa)[0]

    if not excludes_zero(0.0):
        return math.nan
    low, high = 0.0, 1.0
    while excludes_zero(high):
        low, high = high, 2 * high
        if high > RM_SEARCH_LIMIT:
            return math.inf
    while high - low > RM_BREAKDOWN_TOL:
        mid = 0.5 * (low + high)
        if excludes_zero(mid):
            low = mid
        else:
            high = mid
    return low

def sd_breakdown(
    betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, alpha: float = 0.05
) -> float:
    """Largest ``M`` for which :func:`smoothness_flci` excludes zero (to a relative 1e-4 of the target's se).

    NaN when the interval at ``M = 0`` includes zero; ``inf`` when it excludes zero up to
    :data:`SD_SEARCH_LIMIT` standard errors.
    """
    betahat, sigma, l_vec = (np.asarray(x, dtype=float) for x in (betahat, sigma, l_vec))

    @functools.cache  # the root search evaluates its bracket's ends again
    def margin(m: float) -> float:
        i = smoothness_flci(betahat, sigma, n_pre, n_post, l_vec, m, alpha)
        return max(i.low, -i.high)

    if margin(0.0) <= 0:
        return math.nan
    se = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    hi = se
    while margin(hi) > 0:
        hi *= 4
        if hi > SD_SEARCH_LIMIT * se:
            return math.inf
    return float(optimize.brentq(margin, 0.0, hi, xtol=1e-4 * se))


def trend_sensitivity(
    betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, *, target: Target = "average",
    alpha: float = 0.05, grid: int = 6, seed: int = 0,
) -> TrendSensitivity:
    """Breakdown values and robust sets of an event study's target.

    Parameters
    ----------
    betahat, sigma, n_pre, n_post, alpha
        As in :func:`smoothness_flci`.
    target : {"average", "first"}
        The average of the post-period effects or the first one.
    grid : int
        Bounds per restriction in :attr:`TrendSensitivity.intervals` (``Mbar`` from 0 to 2;
        ``M`` from 0 to twice the smoothness breakdown, or to the target's se).
    seed : int
        Seed of the least-favourable critical values of the relative-magnitudes test.

    Returns
    -------
    TrendSensitivity
    """
    l_vec = target_weights(n_post, target)
    betahat, sigma = np.asarray(betahat, dtype=float), np.asarray(sigma, dtype=float)
    _check(betahat, sigma, n_pre, n_post, l_vec)
    se = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    estimate = float(l_vec @ betahat[n_pre:])
    rm = rm_breakdown(betahat, sigma, n_pre, n_post, l_vec, alpha, seed)
    sd = sd_breakdown(betahat, sigma, n_pre, n_post, l_vec, alpha) if math.isfinite(rm) else math.nan
    m_top = 2 * sd if math.isfinite(sd) and sd > 0 else se
    rm_sets = tuple(
        relative_magnitudes_interval(betahat, sigma, n_pre, n_post, l_vec, float(b), alpha, seed)
        for b in np.linspace(0, 2, grid)
    )
    intervals = rm_sets + tuple(
        smoothness_flci(betahat, sigma, n_pre, n_post, l_vec, float(m), alpha) for m in np.linspace(0, m_top, grid)
    )
    return TrendSensitivity(
        target=target, estimate=estimate, se=se, n_pre=n_pre, n_post=n_post,
        rm_breakdown=rm, sd_breakdown=sd, intervals=intervals, alpha=alpha,
    )


#: Sentence when the event study has no lead to compare the post-period with.
NEEDS_TWO_PRE_PERIODS = (
    "Sensitivity to parallel trends (Rambachan and Roth) needs at least two periods before the start: with one, "
    "there is no pre-period trend difference to compare the post-period with."
)


def event_study_inputs(
    rel: np.ndarray, estimate: np.ndarray, cov: np.ndarray, base: Literal["reference", "varying"] = "reference",
) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """The sensitivity analysis's inputs from an event study given by relative period.

    Parameters
    ----------
    rel : numpy.ndarray
        Periods relative to the start (0 = first period with the change), one per estimate.
    estimate, cov : numpy.ndarray
        The estimates and their covariance.
    base : {"reference", "varying"}
        ``"reference"``: every estimate is measured against period -1, which is left out
        (the kit's two-way fixed-effects event study). ``"varying"``: the pre-period
        estimates are changes from the period before (Callaway and Sant'Anna's default);
        they are summed into levels against period -1 first (a linear map, applied to the
        covariance too), which is what ``honest_did`` asks of a universal base period.

    Returns
    -------
    tuple or None
        ``(betahat, sigma, n_pre, n_post)``: pre-period levels (oldest first) then post-period
        effects, and their covariance. None without a pre-period coefficient, a post-period
        one, or a finite covariance.
    """
    rel, estimate, cov = np.asarray(rel), np.asarray(estimate, dtype=float), np.asarray(cov, dtype=float)
    post = np.flatnonzero(rel >= 0)
    post = post[np.argsort(rel[post])]
    if base == "varying":
        changes = np.flatnonzero(rel < 0)
        # Level at period e - 1 against period -1 is minus the sum of the changes e..-1.
        rows = np.array([[-1.0 if rel[j] >= rel[i] else 0.0 for j in changes] for i in changes])
        pre_map = np.zeros((len(changes), len(rel)))
        pre_map[:, changes] = rows
        pre_map = pre_map[np.argsort(rel[changes])]  # oldest level first
    else:
        pre = np.flatnonzero(rel < -1)
        pre_map = np.eye(len(rel))[pre[np.argsort(rel[pre])]]
    post_map = np.eye(len(rel))[post]
    n_pre, n_post = len(pre_map), len(post)
    if n_pre == 0 or n_post == 0:
        return None
    transform = np.vstack([pre_map, post_map])
    betahat, sigma = transform @ estimate, transform @ cov @ transform.T
    if not (np.isfinite(betahat).all() and np.isfinite(sigma).all()) or np.diagonal(sigma).min() <= 0:
        return None
    return betahat, sigma, n_pre, n_post


def event_study_sensitivity(
    rel: np.ndarray, estimate: np.ndarray, cov: np.ndarray, *, target: Target = "average", alpha: float = 0.05,
    base: Literal["reference", "varying"] = "reference",
) -> TrendSensitivity | None:
    """:func:`trend_sensitivity` of an event study given by relative period.

    Parameters
    ----------
    rel, estimate, cov, base
        As in :func:`event_study_inputs`.
    target, alpha
        As in :func:`trend_sensitivity`.

    Returns
    -------
    TrendSensitivity or None
        None when :func:`event_study_inputs` is None.
    """
    inputs = event_study_inputs(rel, estimate, cov, base)
    if inputs is None:
        return None
    betahat, sigma, n_pre, n_post = inputs
    return trend_sensitivity(betahat, sigma, n_pre, n_post, target=target, alpha=alpha)
