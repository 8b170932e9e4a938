"""Sensitivity to parallel trends (outcomes.experiment.quasi.honest): goldens, calibration, wiring."""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from outcomes.experiment.quasi import honest
from outcomes.experiment.quasi.analysis import difference_in_differences

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from honestdid_bcdata import BETAHAT, SIGMA  # noqa: E402

# /work/refenv-honest/bin/python tests/golden/honestdid_bcdata.py (honestdid 0.1.1, FLCI, Delta^SD):
# (target, M, lb, ub). Tolerance 1e-3 absolute (5% of the target's se): honestdid searches a grid of 100
# standard deviations where this kit optimises the weights directly, so its intervals are a little longer.
HONESTDID_FLCI = [
    ("first", 0.00, 0.131519, 0.216090),
    ("first", 0.01, 0.154593, 0.270164),
    ("first", 0.02, 0.176557, 0.315361),
    ("first", 0.05, 0.169374, 0.368578),
    ("average", 0.00, 0.133323, 0.230277),
    ("average", 0.01, 0.123529, 0.367586),
    ("average", 0.02, 0.112846, 0.475879),
    ("average", 0.05, 0.063533, 0.738346),
]


@pytest.mark.parametrize(("target", "m", "lb", "ub"), HONESTDID_FLCI)
def test_smoothness_flci_matches_honestdid(target, m, lb, ub):
    i = honest.smoothness_flci(BETAHAT, SIGMA, 4, 4, honest.target_weights(4, target), m)
    assert_allclose([i.low, i.high], [lb, ub], atol=1e-3)
    assert i.high - i.low <= ub - lb + 2e-4  # no longer than the reference (to its grid step)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_fold_critical_values_are_the_quantiles_of_the_folded_normal(alpha):
    """The interpolation table equals scipy's folded-normal quantile (a handful of points: scipy takes seconds for all)."""
    points = honest.FOLD_GRID[::150]
    assert_allclose(honest._fold_table(alpha)[::150], stats.foldnorm.ppf(1 - alpha, points), rtol=0, atol=1e-10)
    assert_allclose([honest.fold_critical_value(b, alpha) for b in (0.0, 0.37, 20.0)],
                    [stats.norm.ppf(1 - alpha / 2), stats.foldnorm.ppf(1 - alpha, 0.37), 20.0 + stats.norm.ppf(1 - alpha)],
                    atol=1e-4)


def test_relative_magnitudes_at_zero_is_close_to_the_usual_interval_and_widens():
    """At Mbar = 0 the hybrid test's set is the usual interval up to its conditioning (within 5% of the se)."""
    l_vec = honest.target_weights(4, "first")
    zero = honest.relative_magnitudes_interval(BETAHAT, SIGMA, 4, 4, l_vec, 0.0)
    se = math.sqrt(SIGMA[4, 4])
    assert_allclose([zero.low, zero.high], [BETAHAT[4] - 1.959964 * se, BETAHAT[4] + 1.959964 * se], atol=0.05 * se)
    one = honest.relative_magnitudes_interval(BETAHAT, SIGMA, 4, 4, l_vec, 1.0)
    assert one.low < zero.low and one.high > zero.high
    mbar = honest.rm_breakdown(BETAHAT, SIGMA, 4, 4, l_vec)
    assert honest.relative_magnitudes_interval(BETAHAT, SIGMA, 4, 4, l_vec, mbar).excludes_zero
    assert not honest.relative_magnitudes_interval(BETAHAT, SIGMA, 4, 4, l_vec, mbar + 2e-3).excludes_zero


def test_sensitivity_sentences_name_the_breakdown():
    s = honest.trend_sensitivity(BETAHAT, SIGMA, 4, 4, target="first")
    rm, sd = s.sentences()
    assert rm.startswith("The conclusion holds unless post-period trend differences exceed 1.6 times")
    assert "slope of the difference in trends" in sd
    assert s.sd_breakdown > 0.05  # the FLCI at M = 0.05 still excludes zero (golden above)


def _draws(n_sims, n_pre, n_post, trend, rng):
    """Event-study estimates with a known covariance (AR(1)-like), true effect 0.5, plus a linear trend."""
    k = n_pre + n_post
    cov = 0.04 * 0.5 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    t = np.r_[np.arange(-n_pre, 0), np.arange(1, n_post + 1)].astype(float)
    mean = trend * t + np.r_[np.zeros(n_pre), np.full(n_post, 0.5)]
    return rng.multivariate_normal(mean, cov, n_sims), cov


def test_calibration_by_simulation():
    """Parallel trends: Mbar = 0 covers like the usual interval; a continued linear trend: M = 0 still covers."""
    rng = np.random.default_rng(7)
    n_pre, n_post, sims = 3, 2, 400
    l_vec = honest.target_weights(n_post, "average")
    draws, cov = _draws(sims, n_pre, n_post, 0.0, rng)
    share = honest.rm_accepts(draws, cov, n_pre, n_post, l_vec, 0.0, 0.5).mean()
    assert 0.92 <= share <= 0.98
    draws, cov = _draws(sims, n_pre, n_post, 0.4, rng)
    se = math.sqrt(l_vec @ cov[n_pre:, n_pre:] @ l_vec)
    usual = np.abs(draws[:, n_pre:] @ l_vec - 0.5) <= 1.959964 * se
    assert usual.mean() < 0.5
    flci = [honest.smoothness_flci(b, cov, n_pre, n_post, l_vec, 0.0) for b in draws]
    assert 0.92 <= np.mean([i.low <= 0.5 <= i.high for i in flci]) <= 0.98


def _panel(n_units=40, n_periods=8, effect=3.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_units):
        level = rng.normal()
        for p in range(n_periods):
            treated = u < n_units // 2
            rows.append({"unit": u, "period": p, "y": level + 0.1 * p + effect * (treated and p >= 5) + rng.normal(0, 0.3)})
    return pd.DataFrame(rows), list(range(n_units // 2))


def test_did_result_carries_the_sensitivity():
    frame, treated = _panel()
    res = difference_in_differences(frame, unit="unit", period="period", outcome="y", treated_units=treated, start=5,
                                    placebo=False)
    assert res.sensitivity is not None and res.sensitivity.n_pre == 4 and res.sensitivity.n_post == 3
    assert res.sensitivity.rm_breakdown > 1
    assert any(s.startswith("The conclusion holds unless post-period trend differences exceed") for s in res.sentences())
    assert all(c.code != "sensitive_to_trends" for c in res.conditions)


def test_one_pre_period_says_sensitivity_needs_two():
    frame, treated = _panel(n_periods=2)
    frame = frame.assign(y=frame["y"] + np.where(frame["unit"].isin(treated) & (frame["period"] == 1), 1.0, 0.0))
    res = difference_in_differences(frame, unit="unit", period="period", outcome="y", treated_units=treated, start=1,
                                    placebo=False, min_pre_periods=1)
    assert res.sensitivity is None
    assert honest.NEEDS_TWO_PRE_PERIODS in res.notes


def test_weak_effect_is_flagged_sensitive():
    frame, treated = _panel(effect=0.35, seed=3)
    res = difference_in_differences(frame, unit="unit", period="period", outcome="y", treated_units=treated, start=5,
                                    placebo=False)
    s = res.sensitivity
    assert s is not None
    flagged = any(c.code == "sensitive_to_trends" and c.blocks is None for c in res.conditions)
    assert flagged == (math.isfinite(s.rm_breakdown) and s.rm_breakdown < 1)
