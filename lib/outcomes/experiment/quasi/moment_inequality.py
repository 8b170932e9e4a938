"""Conditional-least-favourable hybrid test of linear moment inequalities with nuisance parameters.

The test of Andrews, Roth and Pakes ("Inference for Linear Conditional Moment
Inequalities", Review of Economic Studies 2023) as HonestDiD uses it: the null is
``E[y] - X delta <= 0`` for some nuisance ``delta``, with ``y ~ N(mu, Sigma)``. The
statistic is the value of the linear program

    eta(y) = min over (eta, delta) of eta  subject to  y - X delta <= eta * sd,

``sd`` the standard deviations of ``y``. Its dual is ``max lambda' y`` over the polytope
``{lambda >= 0, sd' lambda = 1, X' lambda = 0}``, which does not depend on ``y``: this
module enumerates the polytope's vertices once (double description, so the work follows
the number of corners), and ``eta`` of every draw and every grid point is a matrix product
instead of one LP each. Where the corners are too many, :mod:`~outcomes.experiment.quasi.moment_lp`
solves the linear program per point instead and hands the same :class:`Conditioning` to the
same :func:`hybrid_decision`. The conditional test conditions on the
optimal vertex ``gamma``: along ``y = s + b c`` (``b = Sigma gamma / gamma' Sigma gamma``,
``c = gamma' y``) the vertex stays optimal for ``c`` in ``[v_lo, v_up]``, read off the other
vertices in closed form (the same interval as ARP's primal formula, and exact where
HonestDiD bisects in degenerate cases). The hybrid rejects when ``eta`` exceeds the
least-favourable critical value (the ``1 - kappa`` quantile of ``eta`` under ``mu = 0``,
simulated), and otherwise compares ``eta / sigma_gamma`` with the ``1 - (alpha - kappa) /
(1 - kappa)`` quantile of the normal truncated to ``[v_lo, min(v_up, cv_LF)] / sigma_gamma``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Draws of the least-favourable critical value (HonestDiD's default).
LF_DRAWS = 1_000
#: Most corners of the dual polytope enumerated (beyond it the statistic is solved as a linear program per point).
MAX_RAYS = 5_000
#: Most pairs of corners combined in one step of the enumeration, as a multiple of :data:`MAX_RAYS`.
MAX_PAIRS_PER_RAY = 100
#: Entries of a normalised ray at most this are zero (the double description's zero sets).
RAY_TOL = 1e-10


def independent_columns(w: np.ndarray) -> np.ndarray:
    """Indices of the columns of ``w`` chosen greedily, first to last, while the rank grows."""
    keep: list[int] = []
    for j in range(w.shape[1]):
        if np.linalg.matrix_rank(w[:, [*keep, j]], tol=1e-10 * max(1.0, np.abs(w).max())) > len(keep):
            keep.append(j)
    return np.array(keep, dtype=int)


class TooManyVertices(ValueError):
    """The dual polytope has more corners than :data:`MAX_RAYS`: use the linear-program path instead."""


def _adjacent_pairs(zero: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(p, n)`` of rays that are adjacent in the cone (the combinatorial test of the double description).

    Two extreme rays are adjacent when no third ray is zero wherever both are; ``zero``
    marks, per ray, the coordinates where it is zero.
    """
    pp, nn = np.repeat(pos, len(neg)), np.tile(neg, len(pos))
    nonzero = (~zero).T.astype(np.float32)  # counts below 2**24 are exact in float32 (and BLAS multiplies it)
    keep = np.zeros(len(pp), dtype=bool)
    step = max(1, 4_000_000 // max(1, len(zero)))
    for lo in range(0, len(pp), step):
        common = (zero[pp[lo:lo + step]] & zero[nn[lo:lo + step]]).astype(np.float32)
        keep[lo:lo + step] = ((common @ nonzero) == 0).sum(axis=1) == 2  # only p and n are zero there
    return pp[keep], nn[keep]


@functools.lru_cache(maxsize=32)
def _extreme_rays(x_bytes: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Extreme rays of the cone ``{lambda >= 0, X' lambda = 0}`` (rows, each summing to 1).

    Double description (Motzkin): start from the orthant's rays and intersect with one
    hyperplane ``x_j' lambda = 0`` at a time, keeping the rays on it and combining each
    adjacent pair on opposite sides. The work grows with the number of rays, not with the
    number of candidate bases.
    """
    x = np.frombuffer(x_bytes).reshape(shape)
    m = shape[0]
    x = x[:, independent_columns(x)] if x.size else np.zeros((m, 0))
    rays = np.eye(m)
    for j in range(x.shape[1]):
        values = rays @ x[:, j]
        tol = RAY_TOL * max(1.0, float(np.abs(x[:, j]).max()))
        pos, neg = np.flatnonzero(values > tol), np.flatnonzero(values < -tol)
        if len(pos) * len(neg) > MAX_PAIRS_PER_RAY * MAX_RAYS:
            raise TooManyVertices(f"more than {MAX_RAYS} corners may result ({len(pos) * len(neg)} pairs to combine)")
        p, n = _adjacent_pairs(rays <= RAY_TOL, pos, neg)
        new = values[p, None] * rays[n] - values[n, None] * rays[p]
        rays = np.vstack([rays[np.abs(values) <= tol], new])
        rays = np.where(rays <= RAY_TOL * rays.max(axis=1, keepdims=True), 0.0, rays)
        rays = np.unique(np.round(rays / rays.sum(axis=1, keepdims=True), 12), axis=0)
        if len(rays) > MAX_RAYS:
            raise TooManyVertices(f"more than {MAX_RAYS} corners")
    return rays


def dual_vertices(sd: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Vertices of ``{lambda >= 0, sd' lambda = 1, X' lambda = 0}``, one per row.

    They are the extreme rays of the cone ``{lambda >= 0, X' lambda = 0}`` scaled to
    ``sd' lambda = 1``; the rays depend on ``X`` only and are enumerated once per ``X``
    (every polyhedron and bound of the relative-magnitudes restriction shares it).

    Parameters
    ----------
    sd : numpy.ndarray
        Standard deviations of the moments (all positive).
    x : numpy.ndarray
        Moments x nuisance parameters (may have no column).

    Returns
    -------
    numpy.ndarray
        The vertices; no row when the polytope is empty (the statistic is then minus infinity).

    Raises
    ------
    TooManyVertices
        When the enumeration passes :data:`MAX_RAYS` corners (:mod:`~outcomes.experiment.quasi.moment_lp`
        then solves the statistic per point).
    """
    x = np.ascontiguousarray(x, dtype=float).reshape(len(sd), -1)
    rays = _extreme_rays(x.tobytes(), x.shape)
    return rays / (rays @ sd)[:, None]


def least_favorable_draws(sigma: np.ndarray, seed: int = 0, draws: int = LF_DRAWS) -> np.ndarray:
    """``xi ~ N(0, Sigma)``, one row per draw, as ``numpy.random.RandomState(seed).multivariate_normal``.

    The honestdid package draws the same way, so the same seed gives the same critical value there and here.
    """
    return np.random.RandomState(seed).multivariate_normal(np.zeros(len(sigma)), sigma, size=draws)


def least_favorable_quantile(eta: np.ndarray, kappa: float) -> float:
    """The least-favourable critical value: the ``1 - kappa`` quantile of the statistic over the draws."""
    return float(np.quantile(eta, 1 - kappa))


def least_favorable_cv(vertices: np.ndarray, sigma: np.ndarray, kappa: float, seed: int = 0,
                       draws: int = LF_DRAWS) -> float:
    """``1 - kappa`` quantile of ``eta(xi)``, ``xi ~ N(0, Sigma)`` (:func:`least_favorable_draws`)."""
    if len(vertices) == 0:
        return math.inf
    return least_favorable_quantile((least_favorable_draws(sigma, seed, draws) @ vertices.T).max(axis=1), kappa)


@dataclass(frozen=True)
class Conditioning:
    """The statistic of each null and the interval it is conditioned on (arrays, one entry per null).

    Attributes
    ----------
    eta : numpy.ndarray
        The linear program's value ``eta(y) = gamma' y``.
    variance : numpy.ndarray
        ``gamma' Sigma gamma`` of the optimal dual vertex ``gamma``.
    v_lo, v_up : numpy.ndarray
        The values of ``c = gamma' y`` along ``y = s + b c`` for which ``gamma`` stays optimal;
        ``-inf``/``inf`` where the test's decision does not depend on them.
    """

    eta: np.ndarray
    variance: np.ndarray
    v_lo: np.ndarray
    v_up: np.ndarray


def vertex_conditioning(y: np.ndarray, vertices: np.ndarray, sigma: np.ndarray) -> Conditioning:
    """:class:`Conditioning` of each row of ``y`` from the enumerated dual vertices (closed form).

    Parameters
    ----------
    y : numpy.ndarray
        Moments, one row per null.
    vertices : numpy.ndarray
        :func:`dual_vertices` of the moments' standard deviations and nuisance columns (at least one).
    sigma : numpy.ndarray
        Covariance of the moments.
    """
    values = y @ vertices.T  # (points, vertices)
    best = values.argmax(axis=1)
    eta = values[np.arange(len(y)), best]
    gamma = vertices[best]  # (points, moments)
    variance = np.einsum("pi,ij,pj->p", gamma, sigma, gamma)
    var = np.where(variance < np.finfo(float).eps, 1.0, variance)
    b = (gamma @ sigma) / var[:, None]
    slope = b @ vertices.T - 1.0  # (points, vertices)
    level = values - (slope + 1.0) * eta[:, None]  # lambda_v' s with s = y - b eta
    tol = 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -level / slope
    v_lo = np.where(slope < -tol, bound, -np.inf).max(axis=1)
    v_up = np.where(slope > tol, bound, np.inf).min(axis=1)
    return Conditioning(eta, variance, v_lo, v_up)


def hybrid_decision(cond: Conditioning, alpha: float, kappa: float, lf_cv: float) -> np.ndarray:
    """Whether the conditional-least-favourable hybrid rejects each null of ``cond``.

    Rejects when ``eta`` exceeds the least-favourable critical value; otherwise compares
    ``eta / sigma_gamma`` with the ``1 - (alpha - kappa) / (1 - kappa)`` quantile of the normal
    truncated to ``[v_lo, min(v_up, lf_cv)] / sigma_gamma``. A vertex with no variance makes
    ``eta`` known exactly: the test rejects when it is positive (as HonestDiD).
    """
    eta = cond.eta
    exact = cond.variance < np.finfo(float).eps
    sigma_b = np.sqrt(np.where(exact, 1.0, cond.variance))
    stat = eta / sigma_b
    z_lo = cond.v_lo / sigma_b
    z_up = np.minimum(cond.v_up, lf_cv) / sigma_b
    size = (alpha - kappa) / (1 - kappa)
    inside = (z_lo <= stat) & (stat <= z_up) & ~exact
    cval = np.zeros(len(eta))
    if inside.any():
        lo, up = z_lo[inside], z_up[inside]
        q = stats.truncnorm.ppf(1 - size, lo, up)
        cval[inside] = np.maximum(0.0, np.where(lo >= up, lo, q))
    return (eta > lf_cv) | (inside & (stat > cval)) | (exact & (eta > 0))


def hybrid_reject(y: np.ndarray, vertices: np.ndarray, sigma: np.ndarray, alpha: float, kappa: float,
                  lf_cv: float) -> np.ndarray:
    """Whether the conditional-least-favourable hybrid rejects, for each row of ``y``.

    Parameters
    ----------
    y : numpy.ndarray
        Moments, one row per null (e.g. per grid point of the parameter).
    vertices : numpy.ndarray
        :func:`dual_vertices` of the moments' standard deviations and nuisance columns.
    sigma : numpy.ndarray
        Covariance of the moments.
    alpha, kappa : float
        Size of the test and of its least-favourable first stage.
    lf_cv : float
        :func:`least_favorable_cv` at ``kappa``.

    Returns
    -------
    numpy.ndarray
        Boolean, one per row of ``y``.
    """
    y = np.atleast_2d(y)
    if len(vertices) == 0:
        return np.zeros(len(y), dtype=bool)
    return hybrid_decision(vertex_conditioning(y, vertices, sigma), alpha, kappa, lf_cv)
