"""Golden values: the engine against gbstats' published fixtures, scipy and statsmodels.

Each expected number sits next to the command that produced it.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from outcomes.experiment.randomized import frequentist
from outcomes.experiment.randomized import multiplicity
from outcomes.experiment.randomized import power
from outcomes.experiment.randomized import sequential
from outcomes.experiment.randomized.srm import srm_test
from outcomes.experiment.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    ratio_pre_terms,
)

DECIMALS = 5

# gbstats tests/frequentist/test_tests.py fixtures (STATS.md table (c), rows 1-4).
A = SampleMeanStatistic(n=3407, sum=1396.87, sum_squares=52377.9767)
B = SampleMeanStatistic(n=3461, sum=2422.7, sum_squares=134698.29)


def _compare(a, b, alpha: float = 0.05) -> frequentist.Comparison:
    return frequentist.compare(a.moments(), b.moments(), alpha)


def _round(x: float) -> float:
    return round(float(x), DECIMALS)


def test_welch_absolute_matches_gbstats_fixture():
    c = _compare(A, B)
    # gbstats TwoSidedTTest(absolute): expected dict in tests/frequentist/test_tests.py (STATS.md (c) row 1)
    assert _round(c.estimate_abs[0]) == 0.29
    assert (_round(c.ci_low[0]), _round(c.ci_high[0])) == (0.04538, 0.53462)
    assert _round(c.p_value[0]) == 0.02016


def test_welch_absolute_matches_scipy():
    c = _compare(A, B)
    # scipy.stats.ttest_ind_from_stats(B.mean, sqrt(B.variance), 3461, A.mean, sqrt(A.variance), 3407, equal_var=False)
    # -> statistic=2.3240227609215203, pvalue=0.02015840264358697
    assert_allclose(c.estimate_abs[0] / c.se_abs[0], 2.3240227609215203, rtol=1e-10)
    assert_allclose(c.p_value[0], 0.02015840264358697, rtol=1e-10)


def test_welch_relative_matches_gbstats_fixture():
    c = _compare(A, B)
    # gbstats TwoSidedTTest(relative): (STATS.md (c) row 2)
    assert _round(c.estimate_rel[0]) == 0.70732
    assert (_round(c.ci_rel_low[0]), _round(c.ci_rel_high[0])) == (-0.03526, 1.44989)
    assert _round(c.se_rel[0]) == 0.37879
    # relative p-value: 2 * t.sf(rel / se_rel, welch_df) = 0.06191 in the fixture
    p_rel = 2 * stats.t.sf(abs(c.estimate_rel[0] / c.se_rel[0]), c.df[0])
    assert _round(p_rel) == 0.06191


def test_proportion_relative_matches_gbstats_fixture():
    c = _compare(ProportionStatistic(n=28, sum=14), ProportionStatistic(n=30, sum=16))
    # gbstats ProportionStatistic, relative: (STATS.md (c) row 3)
    assert _round(c.estimate_rel[0]) == 0.06667
    assert (_round(c.ci_rel_low[0]), _round(c.ci_rel_high[0])) == (-0.47767, 0.61101)
    p_rel = 2 * stats.t.sf(abs(c.estimate_rel[0] / c.se_rel[0]), c.df[0])
    assert _round(p_rel) == 0.80707


def test_sequential_matches_gbstats_fixture():
    a3000 = SampleMeanStatistic(n=3000, sum=1396.87, sum_squares=52377.9767)
    c = _compare(a3000, B)
    low, high = sequential.confidence_sequence(c.estimate_rel, c.se_rel, c.n_control + c.n_treatment, 0.05, tuning=1000)
    # gbstats SequentialTwoSidedTTest(relative, sequential_tuning_parameter=1000): (STATS.md (c) row 4)
    assert _round(c.estimate_rel[0]) == 0.50336
    assert (_round(low[0]), _round(high[0])) == (-0.55844, 1.56516)


def test_proportion_difference_matches_statsmodels():
    c = _compare(ProportionStatistic(5000, 1200), ProportionStatistic(5000, 1300))
    # statsmodels.stats.proportion.confint_proportions_2indep(1300, 5000, 1200, 5000, method="wald", compare="diff")
    # -> (0.0030307409354671244, 0.03696925906453291); test_proportions_2indep(...).pvalue = 0.020887203918065814
    # (normal reference; ours uses Welch t with df ~ 10,000, hence rtol 1e-3)
    assert_allclose([c.ci_low[0], c.ci_high[0]], [0.0030307409354671244, 0.03696925906453291], rtol=1e-3)
    assert_allclose(c.p_value[0], 0.020887203918065814, rtol=1e-3)


def test_welch_on_unit_data_matches_statsmodels_comparemeans():
    rng = np.random.default_rng(7)
    x, y = rng.exponential(2.0, 400), rng.exponential(2.4, 350)
    c = _compare(SampleMeanStatistic.from_values(x), SampleMeanStatistic.from_values(y), alpha=0.1)
    cm = CompareMeans(DescrStatsW(y), DescrStatsW(x))
    lo, hi = cm.tconfint_diff(alpha=0.1, usevar="unequal")
    _, p, _ = cm.ttest_ind(usevar="unequal")
    assert_allclose([c.ci_low[0], c.ci_high[0], c.p_value[0]], [lo, hi, p], rtol=1e-10)


def test_ratio_delta_method_matches_linearisation():
    rng = np.random.default_rng(3)
    d = rng.integers(1, 6, 2000).astype(float)
    m = rng.poisson(0.8 * d).astype(float)
    stat = RatioStatistic.from_values(m, d)
    r = m.sum() / d.sum()
    # linearised variable (m - r d) / mean(d): its standard error of the mean is the delta-method SE
    # DescrStatsW((m - r * d) / d.mean()).std_mean
    expected_se = DescrStatsW((m - r * d) / d.mean()).std_mean
    assert_allclose(stat.mean, r, rtol=1e-12)
    assert_allclose(np.sqrt(stat.variance / stat.n), expected_se, rtol=1e-10)


def test_cuped_estimate_equals_ancova_ols():
    rng = np.random.default_rng(11)
    n = 3000
    t = rng.integers(0, 2, n)
    x = rng.normal(10, 3, n)
    y = 2 + 0.7 * x + 0.5 * t + rng.normal(0, 2, n)
    sc = RegressionAdjustedStatistic.from_values(y[t == 0], x[t == 0])
    st = RegressionAdjustedStatistic.from_values(y[t == 1], x[t == 1])
    cols = ("n", "sum", "sum_squares", "pre_sum", "pre_sum_squares", "sum_post_pre")
    mc, mt, theta, reduction = frequentist.cuped_moments(
        tuple([getattr(sc, k)] for k in cols), tuple([getattr(st, k)] for k in cols)
    )
    c = frequentist.compare(mc, mt)
    # statsmodels OLS y ~ 1 + t + x: the pooled within-arm slope is theta, the t coefficient the CUPED effect
    fit = sm.OLS(y, sm.add_constant(np.column_stack([t, x]))).fit(cov_type="HC2")
    assert_allclose(theta[0], fit.params[2], rtol=1e-10)
    assert_allclose(c.estimate_abs[0], fit.params[1], rtol=1e-10)
    assert_allclose(c.se_abs[0], fit.bse[1], rtol=0.02)
    assert reduction[0] > 0.5


def _ratio_cuped_sums(m, d, x, w) -> tuple[list[float], ...]:
    terms = {"n": np.ones_like(m), "sum": m, "sum_squares": m * m, "den_sum": d, "den_sum_squares": d * d,
             "sum_products": m * d, **ratio_pre_terms(m, d, x, w)}
    return tuple([float(terms[k].sum())] for k in frequentist.RATIO_CUPED_SUMS)


def test_ratio_cuped_equals_ancova_ols_on_the_linearized_ratios():
    # tickets per user with last period's tickets per user as covariate. Reference: per arm the
    # linearized ratio phi = (m - R d) / mean(d) + R and pre-ratio psi = (x - P w) / mean(w) + P,
    # then statsmodels OLS phi ~ 1 + t + psi (HC1): its t coefficient is the adjusted ratio difference
    # and its psi slope the pooled theta; the Welch SE agrees with HC1 to 1%.
    rng = np.random.default_rng(12)
    n = 6000
    t = rng.integers(0, 2, n).astype(bool)
    rate = rng.gamma(2.0, 0.25, n)  # each account's own ticket rate, behind both periods
    d = 1.0 + rng.poisson(3.0, n)
    w = d + rng.poisson(0.5, n)
    x = rng.poisson(rate * w).astype(float)
    m = rng.poisson(rate * d * np.where(t, 0.9, 1.0)).astype(float)
    mc, mt, theta, reduction = frequentist.ratio_cuped_moments(
        _ratio_cuped_sums(m[~t], d[~t], x[~t], w[~t]), _ratio_cuped_sums(m[t], d[t], x[t], w[t])
    )
    c = frequentist.compare(mc, mt)

    def linearized(num, den):
        out = np.empty(n)
        for arm in (t, ~t):
            r = num[arm].sum() / den[arm].sum()
            out[arm] = (num[arm] - r * den[arm]) / den[arm].mean() + r
        return out

    phi, psi = linearized(m, d), linearized(x, w)
    fit = sm.OLS(phi, sm.add_constant(np.column_stack([t.astype(float), psi]))).fit(cov_type="HC1")
    assert_allclose(theta[0], fit.params[2], rtol=1e-10)
    assert_allclose(c.estimate_abs[0], fit.params[1], rtol=1e-10)
    assert_allclose(c.se_abs[0], fit.bse[1], rtol=0.01)
    # unadjusted levels stay the plain ratios, the base of the relative effect
    assert_allclose(mc.mean[0], m[~t].sum() / d[~t].sum(), rtol=1e-12)
    assert reduction[0] > 0.2
    # the adjustment's estimate is closer to the planted -10% than its spread would allow by chance
    assert abs(c.estimate_rel[0] + 0.1) < 3 * c.se_rel[0]


def test_sample_size_matches_statsmodels():
    # statsmodels NormalIndPower().solve_power(effect_size=0.2, alpha=0.05, power=0.8, ratio=1) -> 392.4430232577885
    assert power.sample_size_per_arm(mde=0.2, sd=1.0) == 393
    assert_allclose(power.sample_size_per_arm(mde=0.2, sd=1.0), 392.4430232577885, atol=1)
    # NormalIndPower().solve_power(effect_size=0.1, alpha=0.05, power=0.9, ratio=2) -> 1576.1129119867019
    assert_allclose(power.sample_size_per_arm(mde=0.5, sd=5.0, power=0.9, ratio=2), 1576.1129119867019, atol=1)
    # NormalIndPower().power(effect_size=0.1, nobs1=1000, alpha=0.05, ratio=1) -> 0.6087794846454566
    assert_allclose(power.power_at(0.1, np.sqrt(2 / 1000)), 0.6087794846454566, rtol=1e-10)


def test_mde_inverts_sample_size():
    n = power.sample_size_per_arm(mde=0.03, sd=0.4)
    mde = power.minimum_detectable_effect(0.4 * np.sqrt(2 / n))
    assert 0.0299 < float(mde) <= 0.03
    assert_allclose(NormalIndPower().solve_power(effect_size=float(mde) / 0.4, nobs1=n, alpha=0.05, ratio=1), 0.8, rtol=1e-3)


def test_multiplicity_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005])
    # statsmodels multipletests(p, method="holm")[1] -> [0.04, 0.09, 0.09, 0.2, 0.025]
    assert_allclose(multiplicity.adjust(p, "holm"), [0.04, 0.09, 0.09, 0.2, 0.025])
    # multipletests(p, method="fdr_bh")[1] -> [0.025, 0.05, 0.05, 0.2, 0.025]
    assert_allclose(multiplicity.adjust(p, "bh"), [0.025, 0.05, 0.05, 0.2, 0.025])
    assert_allclose(multiplicity.adjust(p, "none"), p)


def test_multiplicity_leaves_nan_out_and_adjusts_within_groups():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2])
    groups = np.array(["a", "a", "a", "b", "b"])
    out = multiplicity.adjust_groups(p, groups, "holm")
    assert np.isnan(out[1])
    assert_allclose(out[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    assert_allclose(out[[3, 4]], multipletests([0.03, 0.2], method="holm")[1])
    with pytest.raises(ValueError, match="correction must be one of"):
        multiplicity.adjust(p, "bonferroni")


def test_srm_matches_scipy_chisquare():
    # scipy.stats.chisquare([5200, 4800], [5000, 5000]) -> pvalue 6.334248366623988e-05
    p, flag, cond = srm_test({"control": 5200, "portal": 4800})
    assert_allclose(p, 6.334248366623988e-05, rtol=1e-10)
    assert flag and cond is not None and cond.blocks == "stop"
    # scipy.stats.chisquare([5030, 4970], [5000, 5000]) -> pvalue 0.5485062355001471
    p, flag, cond = srm_test({"control": 5030, "portal": 4970})
    assert_allclose(p, 0.5485062355001471, rtol=1e-10)
    assert not flag and cond is None
    # unequal planned split: 70/30 by design is no mismatch
    p, flag, _ = srm_test({"control": 7000, "portal": 3000}, {"control": 0.7, "portal": 0.3})
    assert p == pytest.approx(1.0) and not flag


def test_statistics_pool_by_addition():
    x = np.arange(10.0)
    left, right = SampleMeanStatistic.from_values(x[:4]), SampleMeanStatistic.from_values(x[4:])
    pooled = left + right
    assert pooled == SampleMeanStatistic.from_values(x)
    assert_allclose(pooled.variance, np.var(x, ddof=1))
    with pytest.raises(TypeError, match="can only add another SampleMeanStatistic"):
        left + ProportionStatistic(3, 1)


def test_alpha_outside_unit_interval_raises():
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\), bounds excluded, got 1.5"):
        _compare(A, B, alpha=1.5)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        sequential.rho(0.0)
    with pytest.raises(ValueError, match=r"power must be in \(0, 1\)"):
        power.sample_size_per_arm(0.1, 1.0, power=1.0)


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_grouped_adjustment_matches_statsmodels_family_by_family(ours, theirs):
    rng = np.random.default_rng(8)
    sizes = rng.integers(1, 9, 6)
    groups = np.repeat(np.arange(sizes.size), sizes)
    p = rng.uniform(0, 1, groups.size) ** 3  # many small p-values, some ties near 0
    p[rng.integers(0, groups.size, 3)] = np.nan
    out = multiplicity.adjust_groups(p, groups, ours)
    for g in range(sizes.size):
        idx = (groups == g) & np.isfinite(p)
        if idx.any():
            # statsmodels.stats.multitest.multipletests(p[idx], method=theirs)[1]
            assert_allclose(out[idx], multipletests(p[idx], method=theirs)[1], rtol=1e-12)
    assert np.isnan(out[~np.isfinite(p)]).all()
