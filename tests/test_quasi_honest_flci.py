"""The smoothness FLCI's fast path (one BLAS thread, bisected critical values) against the computation it replaced."""

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import optimize, stats

from outcomes.experiment.quasi import blas_threads, honest

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from honestdid_bcdata import BETAHAT, SIGMA  # noqa: E402


@functools.cache
def _scipy_fold_table(alpha):
    return stats.foldnorm.ppf(1 - alpha, honest.FOLD_GRID)


def _previous_flci(betahat, sigma, n_pre, n_post, l_vec, m, alpha=0.05):
    """The FLCI as first written: ``scipy.stats.foldnorm.ppf`` critical values, SLSQP on SciPy's BLAS threads."""
    table = _scipy_fold_table(alpha)

    def cv(b):
        b = abs(b)
        if b == 0:
            return float(stats.norm.ppf(1 - alpha / 2))
        if b >= honest.FOLD_GRID[-1]:
            return b + float(stats.norm.ppf(1 - alpha))
        return float(np.interp(b, honest.FOLD_GRID, table))

    def slope(b):
        b = abs(b)
        if b >= honest.FOLD_GRID[-1]:
            return 1.0
        i = int(np.clip(np.searchsorted(honest.FOLD_GRID, b) - 1, 0, len(honest.FOLD_GRID) - 2))
        return float((table[i + 1] - table[i]) / (honest.FOLD_GRID[i + 1] - honest.FOLD_GRID[i]))

    g, t = honest._second_difference_weights(n_pre, n_post)
    g_pre, g_post, t_pre, t_post = g[:, :n_pre], g[:, n_pre:], t[:n_pre], t[n_pre:]

    def sd(w):
        a = np.r_[w, l_vec]
        return float(np.sqrt(max(a @ sigma @ a, 1e-300)))

    kkt = np.block([[2 * sigma[:n_pre, :n_pre], t_pre[:, None]], [t_pre[None, :], np.zeros((1, 1))]])
    rhs = np.r_[-2 * sigma[:n_pre, n_pre:] @ l_vec, -t_post @ l_vec]
    w0 = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:n_pre]
    k = g.shape[0]

    def half_length(x):
        s = sd(x[:n_pre])
        return s * cv(m * float(np.sum(x[n_pre:])) / s)

    def gradient(x):
        s = sd(x[:n_pre])
        u = m * float(np.sum(x[n_pre:])) / s
        ds = (sigma @ np.r_[x[:n_pre], l_vec])[:n_pre] / s
        return np.r_[ds * (cv(u) - u * slope(u)), np.full(k, m * slope(u))]

    c0 = g_pre @ w0 + g_post @ l_vec
    constraints = [
        {"type": "eq", "fun": lambda x: np.array([t_pre @ x[:n_pre] + t_post @ l_vec]),
         "jac": lambda x: np.r_[t_pre, np.zeros(k)][None, :]},
        {"type": "ineq", "fun": lambda x: x[n_pre:] - (g_pre @ x[:n_pre] + g_post @ l_vec),
         "jac": lambda x: np.hstack([-g_pre, np.eye(k)])},
        {"type": "ineq", "fun": lambda x: x[n_pre:] + (g_pre @ x[:n_pre] + g_post @ l_vec),
         "jac": lambda x: np.hstack([g_pre, np.eye(k)])},
    ]
    fit = optimize.minimize(half_length, np.r_[w0, np.abs(c0)], jac=gradient, method="SLSQP",
                            constraints=constraints, options={"maxiter": 500, "ftol": 1e-12})
    w = fit.x[:n_pre]
    bias = m * float(np.sum(np.abs(g_pre @ w + g_post @ l_vec)))
    center = float(np.r_[w, l_vec] @ betahat)
    half = sd(w) * cv(bias / sd(w))
    return center - half, center + half


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2])
def test_bisected_critical_values_match_scipy_quantiles(alpha):
    honest._fold_table.cache_clear()
    assert_allclose(honest._fold_table(alpha), _scipy_fold_table(alpha), rtol=0, atol=1e-12)


def _case(rng, n_pre, n_post):
    """Event-study coefficients with a random trend and effect, and a random AR(1)-like covariance."""
    k = n_pre + n_post
    scale = rng.uniform(0.05, 2.0)
    rho = rng.uniform(0.0, 0.8)
    cov = scale**2 * rho ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    noise = rng.normal(0, 0.3 * scale, (k, k))
    cov = cov + noise @ noise.T / k
    t = np.r_[np.arange(-n_pre, 0), np.arange(1, n_post + 1)].astype(float)
    mean = rng.normal(0, 0.2 * scale) * t + np.r_[np.zeros(n_pre), np.full(n_post, rng.normal(0, 3 * scale))]
    return rng.multivariate_normal(mean, cov), cov


@pytest.mark.parametrize(("seed", "n_pre", "n_post", "target"),
                         [(0, 2, 1, "average"), (1, 3, 2, "first"), (2, 4, 4, "average"), (3, 6, 3, "first"),
                          (4, 13, 10, "average")])
def test_flci_matches_the_previous_computation(seed, n_pre, n_post, target):
    """Bounds agree to 1e-6 of the interval's length (SLSQP stops at ``ftol = 1e-12`` of the half-length)."""
    rng = np.random.default_rng(seed)
    betahat, sigma = _case(rng, n_pre, n_post)
    l_vec = honest.target_weights(n_post, target)
    se = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    for m in (0.0, 0.01 * se, 0.1 * se, se, 5 * se):
        new = honest.smoothness_flci(betahat, sigma, n_pre, n_post, l_vec, m)
        low, high = _previous_flci(betahat, sigma, n_pre, n_post, l_vec, m)
        assert_allclose([new.low, new.high], [low, high], rtol=0, atol=1e-6 * (high - low))


@pytest.mark.parametrize("target", ["first", "average"])
def test_golden_flci_matches_the_previous_computation(target):
    l_vec = honest.target_weights(4, target)
    for m in (0.0, 0.01, 0.02, 0.05):
        new = honest.smoothness_flci(BETAHAT, SIGMA, 4, 4, l_vec, m)
        low, high = _previous_flci(BETAHAT, SIGMA, 4, 4, l_vec, m)
        assert_allclose([new.low, new.high], [low, high], rtol=0, atol=1e-6 * (high - low))


def test_single_blas_thread_limits_and_restores_scipys_openblas():
    lib = blas_threads._scipy_openblas()
    if lib is None:
        pytest.skip("this SciPy build bundles no OpenBLAS; single_blas_thread does nothing")
    before = lib.scipy_openblas_get_num_threads()
    lib.scipy_openblas_set_num_threads(2)
    try:
        with blas_threads.single_blas_thread():
            assert lib.scipy_openblas_get_num_threads() == 1
        assert lib.scipy_openblas_get_num_threads() == 2
    finally:
        lib.scipy_openblas_set_num_threads(before)
