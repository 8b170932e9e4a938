"""Multi-covariate CUPED and post-stratification: references, simulations, planted effects.

References are computed in the test itself with statsmodels (OLS, HC1) on the same seeded
unit data, so each golden number is the command beside it; the post-stratified variance is
checked against a hand computation written out below.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from numpy.testing import assert_allclose

from outcomes.experiment import InitiativeSpec
from outcomes.experiment.aggregates import analysis_window, unit_table
from outcomes.experiment.randomized import frequentist
from outcomes.experiment.randomized.adjust import (
    CovariateSums,
    StrataSums,
    post_stratified,
    regression_adjusted,
)
from outcomes.experiment.statistics import mean_moments
from outcomes.params import load
from outcomes.warehouse import store


def _units(rng: np.random.Generator, n: int, effect: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two informative pre-period covariates (correlated) and a third of noise."""
    x1 = rng.gamma(2.0, 2.0, n)
    x2 = 0.5 * x1 + rng.normal(0, 2.0, n)
    x3 = rng.normal(0, 1.0, n)
    y = 3.0 + 0.8 * x1 + 1.2 * x2 + rng.normal(0, 2.0, n) + effect
    return y, np.column_stack([x1, x2, x3])


def test_regression_adjusted_matches_statsmodels_ols_hc1():
    rng = np.random.default_rng(11)
    yc, xc = _units(rng, 2000)
    yt, xt = _units(rng, 2100, effect=0.3)
    got = regression_adjusted(CovariateSums.from_values(yc, xc), CovariateSums.from_values(yt, xt))
    # statsmodels: sm.OLS(y, [1, treatment, x - x.mean(0)]).fit(cov_type="HC1")
    x = np.vstack([xc, xt])
    t = np.r_[np.zeros(len(yc)), np.ones(len(yt))]
    design = np.column_stack([np.ones_like(t), t, x - x.mean(axis=0)])
    fit = sm.OLS(np.r_[yc, yt], design).fit(cov_type="HC1")
    assert_allclose(got.comparison.estimate_abs, fit.params[1], rtol=0, atol=1e-8)
    assert_allclose(got.coefficients, fit.params[2:], rtol=0, atol=1e-8)
    assert_allclose(got.comparison.se_abs, fit.bse[1], rtol=1e-3)


def test_one_covariate_equals_existing_cuped():
    rng = np.random.default_rng(12)
    yc, xc = _units(rng, 500)
    yt, xt = _units(rng, 450, effect=0.2)
    got = regression_adjusted(CovariateSums.from_values(yc, xc[:, :1]), CovariateSums.from_values(yt, xt[:, :1]))

    def sums(y, x):
        return (len(y), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())

    mc, mt, theta, reduction = frequentist.cuped_moments(sums(yc, xc[:, 0]), sums(yt, xt[:, 0]))
    ref = frequentist.compare(mc, mt, 0.05, reduction)
    for field in ("estimate_abs", "se_abs", "ci_low", "ci_high", "estimate_rel", "se_rel", "variance_reduction"):
        assert_allclose(getattr(got.comparison, field), getattr(ref, field), rtol=1e-10, err_msg=field)
    assert_allclose(got.coefficients[0], theta, rtol=1e-10)


def test_redundant_and_constant_covariates_change_nothing():
    rng = np.random.default_rng(13)
    yc, xc = _units(rng, 200)
    yt, xt = _units(rng, 220, effect=0.1)
    fields = ("estimate_abs", "se_abs", "ci_low", "ci_high", "variance_reduction")

    def run(columns):
        return regression_adjusted(*(CovariateSums.from_values(y, columns(x)) for y, x in ((yc, xc), (yt, xt))))

    alone = run(lambda x: x[:, :1])
    # a rescaled copy (revenue in cents beside revenue) and a constant: the same adjustment
    padded = run(lambda x: np.column_stack([x[:, 0], 100 * x[:, 0], np.full(len(x), 0.1)]))
    for field in fields:
        assert_allclose(getattr(padded.comparison, field), getattr(alone.comparison, field), rtol=1e-8, err_msg=field)
    assert padded.coefficients[2] == 0
    # only a constant: unadjusted, nothing to report as reduced (as cuped_moments)
    constant = run(lambda x: np.ones((len(x), 1)))
    plain = frequentist.compare(*(mean_moments(len(y), y.sum(), (y * y).sum()) for y in (yc, yt)))
    assert_allclose(constant.comparison.se_abs, plain.se_abs, rtol=1e-12)
    assert np.isnan(constant.comparison.variance_reduction)


def test_sums_pool_by_addition():
    rng = np.random.default_rng(14)
    y, x = _units(rng, 300)
    whole = CovariateSums.from_values(y, x)
    parts = CovariateSums.from_values(y[:100], x[:100]) + CovariateSums.from_values(y[100:], x[100:])
    for field in ("n", "sum_y", "sum_y2", "sum_x", "sum_xx", "sum_xy"):
        assert_allclose(getattr(parts, field), getattr(whole, field), rtol=1e-12)


def test_post_stratified_by_hand():
    # two strata; control stratum a: 1, 2, 3; b: 10, 12 -- treatment a: 2, 4; b: 11, 13, 15
    c = StrataSums(n=np.array([3.0, 2.0]), sum=np.array([6.0, 22.0]), sum_squares=np.array([14.0, 244.0]))
    t = StrataSums(n=np.array([2.0, 3.0]), sum=np.array([6.0, 39.0]), sum_squares=np.array([20.0, 515.0]))
    got = post_stratified(c, t)
    # weights: a = 5/10, b = 5/10; control 0.5*2 + 0.5*11 = 6.5; treatment 0.5*3 + 0.5*13 = 8
    assert_allclose(got.coefficients, [0.5, 0.5])
    assert_allclose(got.comparison.estimate_abs, 1.5, rtol=1e-12)
    # per-stratum variances: control a 1, b 2; treatment a 2, b 4
    # var = 0.25*(1/3 + 2/2) + 0.25*(2/2 + 4/3) = 0.25*4/3 + 0.25*7/3 = 11/12
    assert_allclose(got.comparison.se_abs, np.sqrt(11 / 12), rtol=1e-12)
    # unadjusted: control 1,2,3,10,12 var 101.2/4 = 25.3; treatment 2,4,11,13,15 var 130/4 = 32.5
    # -> (25.3 + 32.5)/5 = 11.56
    assert_allclose(got.comparison.variance_reduction, 1 - (11 / 12) / 11.56, rtol=1e-12)


def test_post_stratified_equals_interacted_ols_and_flags_thin_strata():
    rng = np.random.default_rng(15)
    n = 3000
    stratum = rng.integers(0, 4, n)
    treat = rng.integers(0, 2, n)
    y = np.array([1.0, 3.0, 6.0, 10.0])[stratum] + 0.4 * treat + rng.normal(0, 1.5, n)
    got = post_stratified(*(StrataSums.from_values(y[treat == a], stratum[treat == a], 4) for a in (0, 1)))
    # statsmodels: OLS y ~ 1 + treat + D + treat:D, D = stratum dummies (1..3) centred at pooled shares
    d = (stratum[:, None] == np.arange(1, 4)).astype(float)
    d -= d.mean(axis=0)
    fit = sm.OLS(y, np.column_stack([np.ones(n), treat, d, treat[:, None] * d])).fit(cov_type="HC1")
    assert_allclose(got.comparison.estimate_abs, fit.params[1], rtol=0, atol=1e-8)
    assert_allclose(got.comparison.se_abs, fit.bse[1], rtol=1e-3)
    assert got.comparison.variance_reduction > 0.8
    thin = StrataSums(n=np.array([5.0, 1.0]), sum=np.array([5.0, 2.0]), sum_squares=np.array([7.0, 4.0]))
    assert np.isnan(post_stratified(thin, thin).comparison.se_abs)


def _batch(rng: np.random.Generator, runs: int, n: int, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """``runs`` experiments of ``n`` units: y (runs, n), x (runs, n, 2), both covariates informative."""
    x1 = rng.normal(0, 1, (runs, n))
    x2 = 0.3 * x1 + rng.normal(0, 1, (runs, n))
    y = 10 + 1.0 * x1 + 1.0 * x2 + rng.normal(0, 1, (runs, n)) + effect
    return y, np.stack([x1, x2], axis=-1)


def test_simulated_aa_false_positives_and_coverage():
    """4,000 seeded A/A and planted-effect experiments, 200 units per arm, two covariates."""
    rng = np.random.default_rng(2026)
    runs, n = 4000, 200
    c = CovariateSums.from_values(*_batch(rng, runs, n, 0.0))
    t = CovariateSums.from_values(*_batch(rng, runs, n, 0.0))
    aa = regression_adjusted(c, t).comparison
    assert 0.04 <= np.mean(aa.p_value < 0.05) <= 0.06
    t = CovariateSums.from_values(*_batch(rng, runs, n, 0.25))
    planted = regression_adjusted(c, t).comparison
    covered = np.mean((planted.ci_low <= 0.25) & (0.25 <= planted.ci_high))
    assert 0.935 <= covered <= 0.965


def test_post_stratified_simulated_aa_and_coverage():
    """4,000 seeded experiments, 200 units per arm in 4 strata of unequal size and level."""
    rng = np.random.default_rng(2028)
    runs, n = 4000, 200
    levels, shares = np.array([1.0, 3.0, 6.0, 10.0]), np.array([0.4, 0.3, 0.2, 0.1])

    def arm(effect: float) -> StrataSums:
        stratum = rng.choice(4, size=(runs, n), p=shares)
        return StrataSums.from_values(levels[stratum] + effect + rng.normal(0, 2.0, (runs, n)), stratum, 4)

    control = arm(0.0)
    aa = post_stratified(control, arm(0.0)).comparison
    assert 0.04 <= np.mean(aa.p_value < 0.05) <= 0.06
    planted = post_stratified(control, arm(0.5)).comparison
    assert 0.935 <= np.mean((planted.ci_low <= 0.5) & (0.5 <= planted.ci_high)) <= 0.965


def test_two_covariates_reduce_variance_more_than_one():
    """Same data: variance reduction with x1 only (CUPED) vs x1 and x2; printed for the record."""
    rng = np.random.default_rng(2027)
    yc, xc = _batch(rng, 500, 400, 0.0)
    yt, xt = _batch(rng, 500, 400, 0.0)
    one = regression_adjusted(CovariateSums.from_values(yc, xc[..., :1]), CovariateSums.from_values(yt, xt[..., :1]))
    two = regression_adjusted(CovariateSums.from_values(yc, xc), CovariateSums.from_values(yt, xt))
    r1, r2 = np.mean(one.comparison.variance_reduction), np.mean(two.comparison.variance_reduction)
    print(f"variance reduction: one covariate {r1:.3f}, two covariates {r2:.3f}")
    # population: var(y) = 1 + 1.3^2 + 1 = 3.69; one covariate leaves 1 + 1 = 2; two leave 1
    assert_allclose([r1, r2], [1 - 2 / 3.69, 1 - 1 / 3.69], atol=0.02)
    assert np.all(two.comparison.variance_reduction > one.comparison.variance_reduction)


def test_planted_ticket_cut_on_the_demo_company(demo_warehouse):
    """The demo's portal test plants 15% fewer tickets per customer; both adjustments recover it more tightly."""
    spec = load("params/initiatives/self-service-portal.yaml", InitiativeSpec)
    con = store.connect(demo_warehouse)
    units = unit_table(con, spec, [analysis_window(con, spec)]).execute()
    units["stratum"] = units.segment.astype("category").cat.codes
    arms = [units[units.arm == spec.data.control], units[units.arm != spec.data.control]]
    pre = ["tickets_pre_w0", "self_service_tickets_pre_w0", "first_response_hours_pre_w0", "orders_pre_w0"]
    plain = frequentist.compare(*(mean_moments(len(a), a.tickets_w0.sum(), (a.tickets_w0**2).sum()) for a in arms))
    several = regression_adjusted(*(CovariateSums.from_values(a.tickets_w0, a[pre]) for a in arms)).comparison
    strata = post_stratified(*(StrataSums.from_values(a.tickets_w0, a.stratum, 3) for a in arms)).comparison
    for result in (several, strata):
        assert result.ci_rel_low < -0.15 < result.ci_rel_high
        assert result.se_abs < plain.se_abs and result.variance_reduction > 0.1
