"""Seeded, vectorized simulations: error rates, coverage, sequential looks and power.

Each test simulates thousands of experiments at once from unit values (numpy arrays of
experiments x units) and runs them through the engine in one vectorized call.
"""

from __future__ import annotations

import numpy as np
import pytest

from outcomes.experiment.randomized import frequentist
from outcomes.experiment.randomized import multiplicity
from outcomes.experiment.randomized import power
from outcomes.experiment.randomized import sequential
from outcomes.experiment.statistics import mean_moments, proportion_moments, ratio_moments, ratio_pre_terms

R = 4000  # simulated experiments per test type (>= 2,000 required)
N = 400  # units per arm
ALPHA = 0.05


def _mean_comparison(yc: np.ndarray, yt: np.ndarray, alpha: float = ALPHA) -> frequentist.Comparison:
    def moments(y: np.ndarray):
        return mean_moments(np.full(y.shape[0], y.shape[1]), y.sum(1), (y * y).sum(1))

    return frequentist.compare(moments(yc), moments(yt), alpha)


def _ratio_comparison(mc, dc, mt, dt) -> frequentist.Comparison:
    def moments(m, d):
        return ratio_moments(np.full(m.shape[0], m.shape[1]), m.sum(1), (m * m).sum(1), d.sum(1), (d * d).sum(1), (m * d).sum(1))

    return frequentist.compare(moments(mc, dc), moments(mt, dt), ALPHA)


def _cuped_comparison(yc, xc, yt, xt) -> tuple[frequentist.Comparison, np.ndarray]:
    def sums(y, x):
        return (np.full(y.shape[0], y.shape[1]), y.sum(1), (y * y).sum(1), x.sum(1), (x * x).sum(1), (x * y).sum(1))

    mc, mt, _, reduction = frequentist.cuped_moments(sums(yc, xc), sums(yt, xt))
    return frequentist.compare(mc, mt, ALPHA, reduction), reduction


def _covers(c: frequentist.Comparison, truth: float, relative: bool = False) -> float:
    low, high = (c.ci_rel_low, c.ci_rel_high) if relative else (c.ci_low, c.ci_high)
    return float(np.mean((low <= truth) & (truth <= high)))


def test_means_false_positive_rate_and_coverage():
    rng = np.random.default_rng(101)
    # skewed (exponential) spend, as real revenue data are
    aa = _mean_comparison(rng.exponential(20.0, (R, N)), rng.exponential(20.0, (R, N)))
    fpr = float(np.mean(aa.p_value < ALPHA))
    assert 0.04 <= fpr <= 0.06, fpr
    ab = _mean_comparison(rng.exponential(20.0, (R, N)), rng.exponential(22.0, (R, N)))
    assert 0.935 <= _covers(ab, 2.0) <= 0.965
    assert 0.935 <= _covers(ab, 0.1, relative=True) <= 0.965


def test_proportions_false_positive_rate_and_coverage():
    rng = np.random.default_rng(202)
    n = np.full(R, 2000)

    def compare(pc: float, pt: float) -> frequentist.Comparison:
        return frequentist.compare(
            proportion_moments(n, rng.binomial(2000, pc, R)), proportion_moments(n, rng.binomial(2000, pt, R)), ALPHA
        )

    fpr = float(np.mean(compare(0.21, 0.21).p_value < ALPHA))
    assert 0.04 <= fpr <= 0.06, fpr
    ab = compare(0.21, 0.27)
    assert 0.935 <= _covers(ab, 0.06) <= 0.965
    assert 0.935 <= _covers(ab, 0.06 / 0.21, relative=True) <= 0.965


def test_ratio_false_positive_rate_and_coverage():
    rng = np.random.default_rng(303)

    def arm(rate: float) -> tuple[np.ndarray, np.ndarray]:
        users = 1.0 + rng.poisson(2.0, (R, N))  # users per account (denominator)
        tickets = rng.poisson(rate * users).astype(float)  # tickets per account (numerator)
        return tickets, users

    fpr = float(np.mean(_ratio_comparison(*arm(0.5), *arm(0.5)).p_value < ALPHA))
    assert 0.04 <= fpr <= 0.06, fpr
    ab = _ratio_comparison(*arm(0.5), *arm(0.45))
    assert 0.935 <= _covers(ab, -0.05) <= 0.965


def test_cuped_false_positive_rate_coverage_and_variance_reduction():
    rng = np.random.default_rng(404)

    def arm(lift: float) -> tuple[np.ndarray, np.ndarray]:
        pre = rng.gamma(4.0, 5.0, (R, N))
        post = 0.9 * pre + rng.normal(0.0, 5.0, (R, N)) + lift
        return post, pre

    aa, reduction = _cuped_comparison(*arm(0.0), *arm(0.0))
    fpr = float(np.mean(aa.p_value < ALPHA))
    assert 0.04 <= fpr <= 0.06, fpr
    assert np.median(reduction) > 0.6
    ab, _ = _cuped_comparison(*arm(0.0), *arm(1.0))
    assert 0.935 <= _covers(ab, 1.0) <= 0.965
    # relative effect divides by the unadjusted control mean (truth: 1 / E[post] = 1 / 18)
    assert 0.935 <= _covers(ab, 1.0 / 18.0, relative=True) <= 0.965


def test_ratio_cuped_false_positive_rate_coverage_and_variance_reduction():
    rng = np.random.default_rng(505)

    def arm(factor: float) -> tuple[np.ndarray, ...]:
        rate = rng.gamma(2.0, 0.25, (R, N))  # each account's own rate, behind both periods
        users = 1.0 + rng.poisson(2.0, (R, N))
        pre_users = users + rng.poisson(0.5, (R, N))
        pre_tickets = rng.poisson(rate * pre_users).astype(float)
        tickets = rng.poisson(factor * rate * users).astype(float)
        return tickets, users, pre_tickets, pre_users

    def compare(control, treatment):
        def sums(m, d, x, w):
            terms = {"n": np.ones_like(m), "sum": m, "sum_squares": m * m, "den_sum": d, "den_sum_squares": d * d,
                     "sum_products": m * d, **ratio_pre_terms(m, d, x, w)}
            return tuple(terms[k].sum(1) for k in frequentist.RATIO_CUPED_SUMS)

        mc, mt, _, reduction = frequentist.ratio_cuped_moments(sums(*control), sums(*treatment))
        return frequentist.compare(mc, mt, ALPHA, reduction), reduction

    aa, reduction = compare(arm(1.0), arm(1.0))
    fpr = float(np.mean(aa.p_value < ALPHA))
    assert 0.04 <= fpr <= 0.06, fpr
    assert np.median(reduction) > 0.2
    # truth: E[rate] = 0.5 tickets per user; a 10% cut is -0.05 absolute, -10% relative
    control, treatment = arm(1.0), arm(0.9)
    ab, _ = compare(control, treatment)
    assert 0.935 <= _covers(ab, -0.05) <= 0.965
    assert 0.935 <= _covers(ab, -0.1, relative=True) <= 0.965
    # and the intervals are narrower than without the adjustment, on the same data
    plain = _ratio_comparison(control[0], control[1], treatment[0], treatment[1])
    assert np.median(ab.se_abs) < 0.9 * np.median(plain.se_abs)


def test_sequential_intervals_keep_error_rate_over_twelve_monthly_looks():
    rng = np.random.default_rng(505)
    per_month, looks = 300, 12
    tuning = 2 * per_month * looks  # N*: expected total units of the two arms at the last look
    sums = np.zeros((4, R))  # n is the same for both arms: sum_c, ss_c, sum_t, ss_t
    naive_hit = np.zeros(R, dtype=bool)
    seq_hit = np.zeros(R, dtype=bool)
    for month in range(1, looks + 1):
        yc, yt = rng.exponential(10.0, (R, per_month)), rng.exponential(10.0, (R, per_month))
        sums += [yc.sum(1), (yc * yc).sum(1), yt.sum(1), (yt * yt).sum(1)]
        n = np.full(R, month * per_month)
        c = frequentist.compare(mean_moments(n, sums[0], sums[1]), mean_moments(n, sums[2], sums[3]), ALPHA)
        low, high = sequential.confidence_sequence(c.estimate_abs, c.se_abs, 2 * n, ALPHA, tuning)
        naive_hit |= c.p_value < ALPHA
        seq_hit |= (low > 0) | (high < 0)
    naive, seq = float(naive_hit.mean()), float(seq_hit.mean())
    assert seq <= 0.05, seq
    assert naive > 0.10, naive  # repeated fixed-horizon testing inflates the error rate (about 0.2 here)


def test_power_simulation_matches_formula():
    rng = np.random.default_rng(606)
    sd, mde = 1.0, 0.1
    n = power.sample_size_per_arm(mde, sd, ALPHA, 0.8)
    # exact sufficient statistics of normal samples: sum ~ N(n mu, n sd^2), ss - sum^2 / n ~ sd^2 chi2(n - 1)
    def arm(mu: float) -> tuple[np.ndarray, np.ndarray]:
        s = rng.normal(n * mu, np.sqrt(n) * sd, R)
        return s, s * s / n + sd**2 * rng.chisquare(n - 1, R)

    (sc, ssc), (st, sst) = arm(0.0), arm(mde)
    nn = np.full(R, n)
    c = frequentist.compare(mean_moments(nn, sc, ssc), mean_moments(nn, st, sst), ALPHA)
    simulated = float(np.mean(c.p_value < ALPHA))
    expected = float(power.power_at(mde, sd * np.sqrt(2 / n), ALPHA))
    assert expected == pytest.approx(0.8, abs=0.002)
    assert simulated == pytest.approx(expected, abs=0.025)


def test_holm_controls_familywise_error_where_raw_p_values_do_not():
    rng = np.random.default_rng(707)
    metrics, n = 5, 1000
    nn = np.full(R * metrics, n)
    c = frequentist.compare(
        proportion_moments(nn, rng.binomial(n, 0.3, R * metrics)),
        proportion_moments(nn, rng.binomial(n, 0.3, R * metrics)),
        ALPHA,
    )
    p = c.p_value.reshape(R, metrics)
    raw_fwer = float(np.mean((p < ALPHA).any(1)))
    groups = np.repeat(np.arange(R), metrics)
    holm = multiplicity.adjust_groups(c.p_value, groups, "holm").reshape(R, metrics)
    holm_fwer = float(np.mean((holm < ALPHA).any(1)))
    assert raw_fwer > 0.15
    assert holm_fwer <= 0.06
