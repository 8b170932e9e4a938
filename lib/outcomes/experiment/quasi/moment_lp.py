"""The hybrid moment-inequality test with one linear program per point (HonestDiD's path).

:mod:`~outcomes.experiment.quasi.moment_inequality` enumerates the corners of the statistic's
dual polytope once and reads every statistic and conditioning interval off them. Where the
corners are too many to enumerate, this module gets the same quantities as HonestDiD's
``.lp_conditional_test_fn`` does, point by point, with :func:`scipy.optimize.linprog` (HiGHS):

- the statistic ``eta(y) = min eta s.t. y - X delta <= eta * sd`` and its optimal dual vertex
  ``gamma`` (the HiGHS marginals of the inequalities, ``lambda >= 0, sd' lambda = 1, X' lambda = 0``);
- the conditioning interval: ``gamma`` stays optimal along ``y(c) = s + b c`` exactly when some
  ``delta`` has ``s + b c - X delta <= c * sd`` (then ``c = gamma' y(c)`` is attained), a polyhedron
  in ``(c, delta)`` whose projection on ``c`` is ``[v_lo, v_up]``: two linear programs (minimise
  and maximise ``c``), where HonestDiD bisects on the same condition;
- the least-favourable critical value from the statistic of each of the same seeded draws.

The decision is :func:`~outcomes.experiment.quasi.moment_inequality.hybrid_decision`, shared
with the enumerated path.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, sparse

from outcomes.experiment.quasi.moment_inequality import (
    LF_DRAWS,
    Conditioning,
    hybrid_decision,
    least_favorable_draws,
    least_favorable_quantile,
)

#: linprog's status for an unbounded problem.
_UNBOUNDED = 3
#: Standard deviations of ``gamma' y`` around the statistic beyond which the conditioning interval is
#: not solved: the truncated normal has no mass there in double precision, so the decision is the same.
INTERVAL_REACH = 40.0
#: Programs stacked into one HiGHS call (measured: a stack of 100 costs less per program than single
#: calls or a stack of 1,000).
LP_STACK = 100


def _stacked(cost: np.ndarray, matrices: np.ndarray, rhs: np.ndarray,
             bounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``min cost' z s.t. matrices[i] z <= rhs[i]`` (within ``bounds[i]``) for every ``i``.

    Programs are stacked block-diagonally, :data:`LP_STACK` per HiGHS call (dual simplex, so the
    marginals are a vertex of the dual): the sum of their objectives separates, so each block of
    the solution and of the marginals is optimal for its own program.

    Returns
    -------
    tuple of numpy.ndarray
        The solver's status per program (0 solved, 3 unbounded, other failed), the solutions
        (NaN unless solved) and the marginals of the inequalities (zero unless solved).
    """
    n, m, width = matrices.shape
    status = np.zeros(n, dtype=int)
    z, marginals = np.full((n, width), math.nan), np.zeros((n, m))
    for lo in range(0, n, LP_STACK):
        part = slice(lo, min(n, lo + LP_STACK))
        k = part.stop - part.start
        fit = optimize.linprog(
            np.tile(cost, k), A_ub=sparse.block_diag(list(matrices[part]), format="csr"), b_ub=rhs[part].ravel(),
            bounds=bounds[part].reshape(-1, 2) if bounds is not None else (None, None), method="highs-ds",
        )
        status[part] = fit.status
        if fit.success:
            z[part] = fit.x.reshape(k, width)
            marginals[part] = fit.ineqlin.marginals.reshape(k, m)
    return status, z, marginals


def lp_statistic(y: np.ndarray, sd: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``eta(y)`` and its optimal dual vertex for each row of ``y``, by linear programs (HiGHS).

    Parameters
    ----------
    y : numpy.ndarray
        Moments, one row per point.
    sd : numpy.ndarray
        Standard deviations of the moments.
    x : numpy.ndarray
        Moments x nuisance parameters.

    Returns
    -------
    tuple of numpy.ndarray
        ``eta`` (minus infinity where the program is unbounded, i.e. the dual polytope is empty;
        NaN where the solver fails, which the test reads as no rejection, as HonestDiD does) and
        ``gamma``, the HiGHS marginals of the inequalities with their sign turned, one row per
        point (zero where ``eta`` is not finite).
    """
    y = np.atleast_2d(y)
    x = np.asarray(x, dtype=float).reshape(len(sd), -1)
    matrix = np.column_stack([-sd, -x])
    status, z, marginals = _stacked(np.r_[1.0, np.zeros(x.shape[1])], np.broadcast_to(matrix, (len(y), *matrix.shape)),
                                    -y)
    eta = np.where(status == _UNBOUNDED, -math.inf, z[:, 0])
    return eta, np.clip(-marginals, 0.0, None)


def _intervals(y: np.ndarray, eta: np.ndarray, gamma: np.ndarray, variance: np.ndarray, sigma: np.ndarray,
               sd: np.ndarray, x: np.ndarray, lf_cv: float) -> tuple[np.ndarray, np.ndarray]:
    """``[v_lo, v_up]`` of each row: the values of ``c`` along ``y(c) = s + b c`` where ``gamma`` stays optimal.

    Solved within ``[-INTERVAL_REACH * sd_gamma, min(lf_cv, eta + INTERVAL_REACH * sd_gamma)]``:
    a lower end at its limit is minus infinity; an upper end at ``lf_cv`` is where the hybrid
    truncates anyway. Where the solver does not confirm ``gamma`` at ``eta``, HonestDiD's
    fallback ``[eta, inf)``.
    """
    n, k = len(y), x.shape[1]
    b = (gamma @ sigma) / variance[:, None]  # (points, moments)
    s = y - b * eta[:, None]
    reach = INTERVAL_REACH * np.sqrt(variance)
    low, high = -reach, np.minimum(lf_cv, eta + reach)
    bounds = np.zeros((n, 1 + k, 2))
    bounds[:, 0, 0], bounds[:, 0, 1] = low, high
    bounds[:, 1:, 0], bounds[:, 1:, 1] = -np.inf, np.inf
    # (b_i - sd) c_i - X delta_i <= -s_i, one program per point (with its own column b_i).
    matrices = np.concatenate([(b - sd)[:, :, None], np.broadcast_to(-x, (n, *x.shape))], axis=2)
    ends, solved = [], np.ones(n, dtype=bool)
    for sign in (1.0, -1.0):  # minimise c, then maximise it
        status, z, _ = _stacked(np.r_[sign, np.zeros(k)], matrices, -s, bounds)
        ends.append(z[:, 0])
        solved &= status == 0
    v_lo = np.where(ends[0] <= low + 1e-9 * reach, -math.inf, ends[0])
    return np.where(solved, v_lo, eta), np.where(solved, ends[1], math.inf)


def lp_conditioning(y: np.ndarray, sigma: np.ndarray, x: np.ndarray, lf_cv: float) -> Conditioning:
    """:class:`~outcomes.experiment.quasi.moment_inequality.Conditioning` of each row of ``y`` by linear programs.

    The interval is solved only where ``0 < eta <= lf_cv`` and ``gamma`` has variance: elsewhere
    the hybrid's decision does not depend on it (``eta`` above ``lf_cv`` rejects, ``eta <= 0``
    never does), and it is left at ``(-inf, inf)``. Its upper end is at most ``lf_cv`` (see
    :data:`INTERVAL_REACH`).

    Parameters
    ----------
    y : numpy.ndarray
        Moments, one row per null.
    sigma : numpy.ndarray
        Covariance of the moments.
    x : numpy.ndarray
        Moments x nuisance parameters.
    lf_cv : float
        The least-favourable critical value (:func:`lp_least_favorable_cv`).
    """
    y = np.atleast_2d(y)
    sd = np.sqrt(np.diagonal(sigma))
    x = np.asarray(x, dtype=float).reshape(len(sd), -1)
    eta, gamma = lp_statistic(y, sd, x)
    variance = np.einsum("pi,ij,pj->p", gamma, sigma, gamma)
    v_lo, v_up = np.full(len(y), -math.inf), np.full(len(y), math.inf)
    need = np.flatnonzero((eta > 0) & (eta <= lf_cv) & (variance >= np.finfo(float).eps))
    if len(need):
        v_lo[need], v_up[need] = _intervals(y[need], eta[need], gamma[need], variance[need], sigma, sd, x, lf_cv)
    return Conditioning(eta, variance, v_lo, v_up)


def lp_least_favorable_cv(sigma: np.ndarray, x: np.ndarray, kappa: float, seed: int = 0,
                          draws: int = LF_DRAWS) -> float:
    """The least-favourable critical value with the statistic of each draw solved as a linear program.

    The draws are :func:`~outcomes.experiment.quasi.moment_inequality.least_favorable_draws`,
    so the value equals the enumerated path's (to the solver's tolerance). Infinite when the
    dual polytope is empty (the statistic is minus infinity).
    """
    sd = np.sqrt(np.diagonal(sigma))
    eta = lp_statistic(least_favorable_draws(sigma, seed, draws), sd, x)[0]
    if np.isneginf(eta).all():
        return math.inf
    return least_favorable_quantile(eta[~np.isnan(eta)], kappa)


def lp_hybrid_reject(y: np.ndarray, sigma: np.ndarray, x: np.ndarray, alpha: float, kappa: float,
                     lf_cv: float) -> np.ndarray:
    """Whether the conditional-least-favourable hybrid rejects each row of ``y`` (one LP per row, plus two
    for its interval where needed).

    Parameters
    ----------
    y, sigma, x, lf_cv
        As in :func:`lp_conditioning`.
    alpha, kappa : float
        Size of the test and of its least-favourable first stage.

    Returns
    -------
    numpy.ndarray
        Boolean, one per row of ``y``.
    """
    return hybrid_decision(lp_conditioning(y, sigma, x, lf_cv), alpha, kappa, lf_cv)
