"""Conditional-least-favourable hybrid test of linear moment inequalities with nuisance parameters.

The test of Andrews, Roth and Pakes ("Inference for Linear Conditional Moment
Inequalities", Review of Economic Studies 2023) as HonestDiD uses it: the null is
``E[y] - X delta <= 0`` for some nuisance ``delta``, with ``y ~ N(mu, Sigma)``. The
statistic is the value of the linear program

    eta(y) = min over (eta, delta) of eta  subject to  y - X delta <= eta * sd,

``sd`` the standard deviations of ``y``. Its dual is ``max lambda' y`` over the polytope
``{lambda >= 0, sd' lambda = 1, X' lambda = 0}``, which does not depend on ``y``: this
module enumerates the polytope's vertices once, so ``eta`` of every draw and every grid
point is a matrix product instead of one LP each. The conditional test conditions on the
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
import itertools
import math

import numpy as np
from scipy import stats

#: Draws of the least-favourable critical value (HonestDiD's default).
LF_DRAWS = 1_000
#: Largest number of candidate bases enumerated for the dual vertices.
MAX_BASES = 250_000
#: Bases per batch of the enumeration (bounds the memory of the batched solves).
BATCH = 20_000


def independent_columns(w: np.ndarray) -> np.ndarray:
    """Indices of the columns of ``w`` chosen greedily, first to last, while the rank grows."""
    keep: list[int] = []
    for j in range(w.shape[1]):
        if np.linalg.matrix_rank(w[:, [*keep, j]], tol=1e-10 * max(1.0, np.abs(w).max())) > len(keep):
            keep.append(j)
    return np.array(keep, dtype=int)


@functools.lru_cache(maxsize=32)
def _extreme_rays(x_bytes: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Extreme rays of the cone ``{lambda >= 0, X' lambda = 0}`` (rows, each summing to 1)."""
    x = np.frombuffer(x_bytes).reshape(shape)
    m = shape[0]
    x = x[:, independent_columns(x)] if x.size else np.zeros((m, 0))
    r = x.shape[1]
    if r == 0:
        return np.eye(m)
    n_bases = math.comb(m, r + 1)
    if n_bases > MAX_BASES:
        raise ValueError(
            f"{m} moments and {r} nuisance parameters give {n_bases} candidate bases, more than {MAX_BASES}: "
            "use fewer periods after the start (each adds moments and a nuisance parameter)"
        )
    found = []
    combos = itertools.combinations(range(m), r + 1)
    while chunk := list(itertools.islice(combos, BATCH)):
        rows = np.array(chunk)
        mats = np.swapaxes(x[rows], 1, 2)  # X_B' (bases, r, r + 1): a ray spans its null space
        _, sing, vt = np.linalg.svd(mats)
        ok = sing[:, -1] > 1e-10 * np.maximum(sing[:, 0], 1e-300)
        null = vt[:, -1, :]  # unit length
        ray = null * np.sign(np.take_along_axis(null, np.abs(null).argmax(axis=1)[:, None], axis=1))
        ok &= (ray >= -1e-10).all(axis=1)
        lam = np.zeros((int(ok.sum()), m))
        np.put_along_axis(lam, rows[ok], np.clip(ray[ok], 0, None), axis=1)
        found.append(lam / lam.sum(axis=1, keepdims=True))
    rays = np.vstack(found) if found else np.zeros((0, m))
    return np.unique(np.round(rays, 12), axis=0)


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
    ValueError
        When the number of candidate bases exceeds :data:`MAX_BASES`.
    """
    x = np.ascontiguousarray(x, dtype=float).reshape(len(sd), -1)
    rays = _extreme_rays(x.tobytes(), x.shape)
    return rays / (rays @ sd)[:, None]


def least_favorable_cv(vertices: np.ndarray, sigma: np.ndarray, kappa: float, seed: int = 0,
                       draws: int = LF_DRAWS) -> float:
    """``1 - kappa`` quantile of ``eta(xi)``, ``xi ~ N(0, Sigma)``.

    The draws are ``numpy.random.RandomState(seed).multivariate_normal``, as in the
    honestdid package, so the same seed gives the same critical value there and here.
    """
    if len(vertices) == 0:
        return math.inf
    xi = np.random.RandomState(seed).multivariate_normal(np.zeros(len(sigma)), sigma, size=draws)
    return float(np.quantile((xi @ vertices.T).max(axis=1), 1 - kappa))


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
    values = y @ vertices.T  # (points, vertices)
    best = values.argmax(axis=1)
    eta = values[np.arange(len(y)), best]
    gamma = vertices[best]  # (points, moments)
    var = np.einsum("pi,ij,pj->p", gamma, sigma, gamma)
    # A vertex with no variance: eta is known exactly, so the test rejects when it is positive (as HonestDiD).
    exact = var < np.finfo(float).eps
    var = np.where(exact, 1.0, var)
    sigma_b = np.sqrt(var)
    b = (gamma @ sigma) / var[:, None]
    slope = b @ vertices.T - 1.0  # (points, vertices)
    level = values - (slope + 1.0) * eta[:, None]  # lambda_v' s with s = y - b eta
    tol = 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -level / slope
    v_lo = np.where(slope < -tol, bound, -np.inf).max(axis=1)
    v_up = np.where(slope > tol, bound, np.inf).min(axis=1)
    stat = eta / sigma_b
    z_lo = v_lo / sigma_b
    z_up = np.minimum(v_up, lf_cv) / sigma_b
    size = (alpha - kappa) / (1 - kappa)
    inside = (z_lo <= stat) & (stat <= z_up) & ~exact
    cval = np.zeros(len(y))
    if inside.any():
        lo, up = z_lo[inside], z_up[inside]
        q = stats.truncnorm.ppf(1 - size, lo, up)
        cval[inside] = np.maximum(0.0, np.where(lo >= up, lo, q))
    return (eta > lf_cv) | (inside & (stat > cval)) | (exact & (eta > 0))
