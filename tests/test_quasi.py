"""Quasi-experimental designs: golden values, seeded simulations, data conditions, conversion, charts."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from scipy.optimize import minimize_scalar

from outcomes import config
from outcomes.experiment.quasi.did import did_2x2, did_twfe, event_study, pretrend_tests, twfe, wild_cluster_pvalue
from outcomes.experiment.quasi.its import ar1_correlation, ar1_gls, design_matrix, segmented_regression, treated_series
from outcomes.experiment.quasi.placebo import placebo_in_space, placebo_in_time
from outcomes.experiment.quasi.analysis import (
    QuasiResult,
    analyze_rollout,
    difference_in_differences,
    interrupted_time_series,
)
from outcomes.report.quasi_charts import event_study_chart, its_chart
from outcomes.experiment.quasi.panel import (
    FEW_CLUSTERS,
    FEW_TREATED_UNITS,
    NO_CONTROL_UNITS,
    NO_TREATED_UNITS,
    PLACEBO_IN_TIME,
    PRE_TREND,
    START_OUTSIDE_DATA,
    TOO_FEW_POST_PERIODS,
    TOO_FEW_PRE_PERIODS,
    UNKNOWN_TREATED_UNITS,
    QuasiInputError,
    prepare_panel,
)
from outcomes.experiment.results import InitiativeResult, MetricEffect

# ---------------------------------------------------------------- fixtures


def golden_panel() -> pd.DataFrame:
    """6 units x 8 periods, no randomness: units u0-u2 treated from period 4 with +1.0."""
    rows = [
        (f"u{i}", t, 0.5 * i + 0.2 * t + 0.3 * ((7 * i + 3 * t) % 5) + 0.013 * i * i * (t % 3) + (i < 3 and t >= 4))
        for i in range(6)
        for t in range(8)
    ]
    return pd.DataFrame(rows, columns=["unit", "period", "y"]).astype({"y": float})


def simulate_panels(
    n_sims: int,
    n_units: int,
    n_periods: int,
    *,
    effect: float = 0.0,
    trend_gap: float = 0.0,
    phi: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Panels (n_sims x n_units x n_periods): unit and period effects, AR(1) noise within unit.

    The first half of the units is treated from period ``n_periods // 2`` on with ``effect``;
    ``trend_gap`` adds a different linear trend to the treated units (violated parallel trends).
    """
    rng = np.random.default_rng(seed)
    unit_fe = rng.normal(0, 1, (n_sims, n_units, 1))
    period_fe = rng.normal(0, 1, (n_sims, 1, n_periods))
    shocks = rng.normal(size=(n_sims, n_units, n_periods))
    noise = np.empty_like(shocks)
    noise[..., 0] = shocks[..., 0]
    for t in range(1, n_periods):
        noise[..., t] = phi * noise[..., t - 1] + math.sqrt(1 - phi**2) * shocks[..., t]
    treated = (np.arange(n_units) < n_units // 2)[None, :, None]
    post = (np.arange(n_periods) >= n_periods // 2)[None, None, :]
    trend = trend_gap * treated * np.arange(n_periods)[None, None, :]
    return unit_fe + period_fe + noise + effect * (treated & post) + trend


def as_frame(y: np.ndarray) -> pd.DataFrame:
    """One simulated panel (units x periods) as a long frame."""
    n_units, n_periods = y.shape
    return pd.DataFrame(
        {"unit": np.repeat(np.arange(n_units), n_periods), "period": np.tile(np.arange(n_periods), n_units), "y": y.ravel()}
    )


def sim_panel(y: np.ndarray, **kwargs: object):
    n_units, n_periods = y.shape
    return prepare_panel(
        as_frame(y),
        unit="unit",
        period="period",
        outcome="y",
        start=n_periods // 2,
        treated_units=list(range(n_units // 2)),
        **kwargs,
    )


def region_month_panel(seed: int = 3, effect: float = -1.5) -> pd.DataFrame:
    """5 regions x 24 months, north and east treated from 2025-03 (the demo's chatbot layout)."""
    rng = np.random.default_rng(seed)
    regions = ["north", "south", "east", "west", "central"]
    months = pd.date_range("2024-01-01", periods=24, freq="MS")
    frame = pd.DataFrame({"region": np.repeat(regions, 24), "month": np.tile(months, 5)})
    frame["hours"] = (
        6 + np.repeat(rng.normal(0, 1, 5), 24) + np.tile(np.sin(np.arange(24) / 12 * 2 * np.pi), 5)
        + rng.normal(0, 0.3, 120)
    )
    treated = frame["region"].isin(["north", "east"]) & (frame["month"] >= "2025-03-01")
    frame.loc[treated, "hours"] += effect
    return frame


# ---------------------------------------------------------------- golden values


def test_twfe_matches_statsmodels_formula_fit() -> None:
    frame = golden_panel()
    panel = prepare_panel(frame, unit="unit", period="period", outcome="y", start=4, treated_units=["u0", "u1", "u2"])
    est, _ = did_twfe(panel)
    # Golden numbers from:
    #   df["d"] = (df.unit.isin(["u0","u1","u2"]) & (df.period >= 4)).astype(float)
    #   smf.ols("y ~ d + C(unit) + C(period)", data=df).fit(cov_type="cluster",
    #       cov_kwds={"groups": pd.factorize(df.unit)[0]}, use_t=True)   # statsmodels 0.15.0
    # -> params["d"] 0.9512500000000012, bse["d"] 0.17630176799650285, pvalues["d"] 0.002952816347707057,
    #    conf_int() [0.4980518775976232, 1.404448122402379], df_resid_inference 5
    np.testing.assert_allclose(
        [est.estimate, est.se, est.p_value, est.ci_low, est.ci_high],
        [0.9512500000000012, 0.17630176799650285, 0.002952816347707057, 0.4980518775976232, 1.404448122402379],
        rtol=1e-10,
    )
    assert est.df == 5
    # And the same fit, live, so a statsmodels change shows up here too.
    df = frame.assign(d=(frame["unit"].isin(["u0", "u1", "u2"]) & (frame["period"] >= 4)).astype(float))
    ref = smf.ols("y ~ d + C(unit) + C(period)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df["unit"])[0]}, use_t=True
    )
    np.testing.assert_allclose([est.estimate, est.se], [ref.params["d"], ref.bse["d"]], rtol=1e-10)


def test_2x2_equals_the_difference_of_the_four_means() -> None:
    frame = golden_panel()
    panel = prepare_panel(frame, unit="unit", period="period", outcome="y", start=4, treated_units=["u0", "u1", "u2"])
    est, cells = did_2x2(panel)
    treated = frame["unit"].isin(["u0", "u1", "u2"])
    post = frame["period"] >= 4
    mean = frame["y"].groupby([treated, post]).mean()
    by_hand = (mean[(True, True)] - mean[(True, False)]) - (mean[(False, True)] - mean[(False, False)])
    # The four means by hand: treated 1.39125 -> 3.1716667, untreated 3.0875 -> 3.9166667;
    # (3.1716667 - 1.39125) - (3.9166667 - 3.0875) = 0.95125.
    np.testing.assert_allclose([est.estimate, by_hand], 0.95125, rtol=1e-12)
    got = cells.set_index(["group", "phase"])["mean"]
    np.testing.assert_allclose(
        [got[("treated", "pre")], got[("treated", "post")], got[("untreated", "pre")], got[("untreated", "post")]],
        [1.39125, 3.171666666666667, 3.0875, 3.9166666666666665],
        rtol=1e-12,
    )
    # SE from smf.ols("y ~ tr * po", df).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    # -> bse["tr:po"] 0.15497790572409437 (statsmodels 0.15.0)
    assert est.se == pytest.approx(0.15497790572409437, rel=1e-10)


def test_event_study_frame_has_the_reference_period_and_every_lead_and_lag() -> None:
    panel = prepare_panel(
        golden_panel(), unit="unit", period="period", outcome="y", start=4, treated_units=["u0", "u1", "u2"]
    )
    study = event_study(panel)
    frame = study.frame
    assert frame["rel"].tolist() == list(range(-4, 4))
    ref = frame.set_index("rel").loc[-1]
    assert (ref["estimate"], ref["phase"]) == (0.0, "reference")
    assert set(frame.loc[frame["rel"] < -1, "phase"]) == {"pre"}
    assert (frame["ci_low"] <= frame["estimate"]).all() and (frame["estimate"] <= frame["ci_high"]).all()
    # 3 leads and 6 units: the joint Wald F test with (3, 5) degrees of freedom is defined.
    assert study.pretrend is not None
    assert (study.pretrend.method, study.pretrend.df_num, study.pretrend.df_denom) == ("joint Wald F", 3.0, 5.0)
    # Same regression through the statsmodels formula interface:
    #   rel_k = treated * (period - 4 == k) for k != -1;
    #   fit = smf.ols("y ~ rel_m4 + rel_m3 + rel_m2 + rel_0 + ... + C(unit) + C(period)", df).fit(
    #       cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    #   fit.wald_test("rel_m4 = 0, rel_m3 = 0, rel_m2 = 0", use_f=True, scalar=True)
    df = golden_panel()
    names = []
    for k in [-4, -3, -2, 0, 1, 2, 3]:
        name = f"rel_{k}".replace("-", "m")
        df[name] = (df["unit"].isin(["u0", "u1", "u2"]) & (df["period"] - 4 == k)).astype(float)
        names.append(name)
    fit = smf.ols(f"y ~ {' + '.join(names)} + C(unit) + C(period)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df["unit"])[0]}, use_t=True
    )
    got = frame[frame["rel"] != -1]
    np.testing.assert_allclose(got["estimate"], fit.params[names], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["se"], fit.bse[names], rtol=1e-9)
    wald = fit.wald_test("rel_m4 = 0, rel_m3 = 0, rel_m2 = 0", use_f=True, scalar=True)
    np.testing.assert_allclose([study.pretrend.statistic, study.pretrend.p_value],
                               [float(wald.statistic), float(wald.pvalue)], rtol=1e-9)


def test_wild_cluster_bootstrap_is_seeded_and_a_probability() -> None:
    panel = prepare_panel(region_month_panel(), unit="region", period="month", outcome="hours",
                          start="2025-03-01", treated_units=["north", "east"])
    p1 = wild_cluster_pvalue(panel, reps=999, seed=1)
    assert p1 == wild_cluster_pvalue(panel, reps=999, seed=1)
    assert 0 <= p1 < 0.05  # a -1.5 hour effect against noise of 0.3 hours
    null = prepare_panel(region_month_panel(effect=0.0), unit="region", period="month", outcome="hours",
                         start="2025-03-01", treated_units=["north", "east"])
    assert wild_cluster_pvalue(null, reps=999, seed=1) > 0.05


# ---------------------------------------------------------------- simulations (seeded, vectorized generation)


def test_did_recovers_the_planted_effect_with_nominal_coverage() -> None:
    """300 panels of 40 units x 8 periods, AR(1) noise (0.5) within unit, effect +1.

    Band: 95% coverage +- 3 Monte Carlo standard errors (sqrt(.95 x .05 / 300) = 0.0126),
    i.e. [0.912, 0.988]; bias within 4 Monte Carlo standard errors of the mean estimate.
    """
    ys = simulate_panels(300, 40, 8, effect=1.0, seed=11)
    est = twfe(sim_panel(ys[0]), outcomes=ys.reshape(len(ys), -1).T)
    assert est["estimate"].iloc[0] == pytest.approx(did_twfe(sim_panel(ys[0]))[0].estimate, rel=1e-12)
    values = est["estimate"].to_numpy()
    covered = (est["ci_low"] <= 1.0) & (1.0 <= est["ci_high"])
    assert abs(values.mean() - 1.0) < 4 * values.std() / math.sqrt(len(values))
    assert 0.912 <= covered.mean() <= 0.988


def test_did_false_positive_rate_without_effect_is_close_to_alpha() -> None:
    """A/A: 2000 panels of 50 units, no effect; rejection rate within 3 Monte Carlo SE of 5%
    (sqrt(.05 x .95 / 2000) = 0.0049, so [0.035, 0.065])."""
    ys = simulate_panels(2000, 50, 6, seed=12)
    p = twfe(sim_panel(ys[0]), outcomes=ys.reshape(len(ys), -1).T)["p_value"]
    assert 0.035 <= (p < 0.05).mean() <= 0.065


def test_pretrend_test_flags_diverging_trends_and_not_parallel_ones() -> None:
    """Treated units trending 0.7 per period faster (sd 1 noise, 30 units, 5 leads): flagged in
    >= 90% of 300 panels; parallel trends: flagged within 3 Monte Carlo SE of 5% ([0.012, 0.088])."""
    diverging = simulate_panels(300, 30, 10, trend_gap=0.7, seed=13)
    tests = pretrend_tests(sim_panel(diverging[0]), outcomes=diverging.reshape(300, -1).T)
    assert np.mean([t.rejected for t in tests]) >= 0.9
    parallel = simulate_panels(300, 30, 10, seed=14)
    tests = pretrend_tests(sim_panel(parallel[0]), outcomes=parallel.reshape(300, -1).T)
    assert {(t.method, t.n_leads, t.df_denom) for t in tests} == {("joint Wald F", 4, 29.0)}
    assert 0.012 <= np.mean([t.rejected for t in tests]) <= 0.088


def ar1_noise(n_sims: int, n: int, phi: float, seed: int) -> np.ndarray:
    """Stationary AR(1) noise with unit innovations, shape (n_sims, n)."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(size=(n_sims, n))
    noise = np.empty_like(shocks)
    noise[:, 0] = shocks[:, 0] / math.sqrt(1 - phi**2)
    for t in range(1, n):
        noise[:, t] = phi * noise[:, t - 1] + shocks[:, t]
    return noise


def monthly_series(y: np.ndarray, start: int) -> pd.DataFrame:
    """The ITS series (from :func:`treated_series`) of one monthly outcome from 2020-01, start at index ``start``."""
    months = pd.date_range("2020-01-01", periods=len(y), freq="MS")
    panel = prepare_panel(pd.DataFrame({"unit": "all", "month": months, "y": y}), unit="unit", period="month",
                          outcome="y", start=months[start], min_pre_periods=3, min_post_periods=1,
                          require_control=False)
    return treated_series(panel)


def its_outcomes(n_sims: int, n: int, phi: float, seed: int, level: float = -3.0) -> np.ndarray:
    """Monthly series (n_sims x n): trend, yearly season, level change at n // 2, AR(1) noise."""
    t = np.arange(n)
    season = 2 * np.sin(2 * np.pi * t / 12) + 0.8 * np.cos(4 * np.pi * t / 12)
    return 10 + 0.05 * t + season + level * (t >= n // 2) + ar1_noise(n_sims, n, phi, seed)


def level_fits(ys: np.ndarray, seasonality: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level change, SE and df of every series in ``ys`` (one design, outcome columns)."""
    x, _ = design_matrix(monthly_series(ys[0], ys.shape[1] // 2), seasonality)
    fit = ar1_gls(x.to_numpy(), ys.T, (x.columns == "level").astype(float)[None, :])
    return fit.estimate[0], fit.se[0], fit.df[0]


def test_its_ar1_fit_matches_statsmodels_gls_and_reml() -> None:
    y = its_outcomes(1, 48, 0.4, seed=20)[0]
    series = monthly_series(y, 24)
    fit = segmented_regression(series)
    x, used = design_matrix(series)
    assert used == "fourier" and list(x.columns[:4]) == ["const", "trend", "level", "slope"]
    # Time is centred at the start: the slope column is 0 up to the first post month, then 1, 2, ...
    assert x["slope"].iloc[23:27].tolist() == [0.0, 0.0, 1.0, 2.0]
    gls = sm.GLS(series["y"], x, sigma=ar1_correlation(fit.rho, len(y))).fit()
    np.testing.assert_allclose(fit.level.estimate, gls.params["level"], rtol=1e-9)
    np.testing.assert_allclose(fit.slope.estimate, gls.params["slope"], rtol=1e-9)
    # The small-sample correction only widens: the corrected SE exceeds the plain GLS one.
    assert gls.bse["level"] < fit.level.se < 1.5 * gls.bse["level"]
    assert fit.level.df < len(y) - x.shape[1]

    def reml(rho: float) -> float:
        # REML = profile ML + k/2 log SSR + 1/2 log det (X'V^-1X)^-1, from statsmodels' own GLS pieces.
        res = sm.GLS(series["y"], x, sigma=ar1_correlation(rho, len(y))).fit()
        return -(res.llf + x.shape[1] / 2 * np.log(res.ssr) + 0.5 * np.linalg.slogdet(res.normalized_cov_params)[1])

    best = minimize_scalar(reml, bounds=(-0.95, 0.95), method="bounded", options={"xatol": 1e-6})
    assert abs(fit.rho - best.x) < 2e-3
    # Newey-West on request: statsmodels HAC numbers.
    nw = segmented_regression(series, maxlags=3)
    ols = sm.OLS(series["y"], x).fit(cov_type="HAC", cov_kwds={"maxlags": 3, "use_correction": True}, use_t=True)
    np.testing.assert_allclose([nw.level.estimate, nw.level.se], [ols.params["level"], ols.bse["level"]], rtol=1e-9)
    assert nw.maxlags == 3 and math.isnan(nw.rho) and "Newey-West" in nw.level.method


def test_its_one_series_fit_equals_its_column_in_the_vectorized_fit() -> None:
    ys = its_outcomes(3, 36, 0.3, seed=21)
    estimates, ses, dfs = level_fits(ys)
    one = segmented_regression(monthly_series(ys[2], 18)).level
    np.testing.assert_allclose([one.estimate, one.se, one.df], [estimates[2], ses[2], dfs[2]], rtol=1e-9)


@pytest.mark.parametrize(("n", "phi", "seasonality"), [(36, 0.5, "auto"), (72, 0.3, "auto"), (48, 0.3, "month")])
def test_its_recovers_a_level_change_under_ar1_noise_with_nominal_coverage(n: int, phi: float,
                                                                         seasonality: str) -> None:
    """1000 monthly series: trend, yearly season, level change -3 at the middle, AR(1) noise.

    Unbiased within 4 Monte Carlo SE; coverage of the 95% interval in [0.929, 0.971]
    (3 Monte Carlo SE around 0.95). Newey-West errors covered 0.71, 0.85 and 0.83 here.
    """
    level = -3.0
    estimates, ses, dfs = level_fits(its_outcomes(1000, n, phi, seed=n + int(10 * phi), level=level), seasonality)
    covered = np.abs(estimates - level) <= stats.t.ppf(0.975, dfs) * ses
    assert abs(estimates.mean() - level) < 4 * estimates.std() / math.sqrt(1000)
    assert 0.929 <= covered.mean() <= 0.971


def test_its_false_positive_rate_without_effect_is_close_to_alpha() -> None:
    """A/A: 2000 series of 48 months, AR(1) 0.3, no level change: rejection rate in [0.035, 0.065]."""
    estimates, ses, dfs = level_fits(its_outcomes(2000, 48, 0.3, seed=22, level=0.0))
    p = 2 * stats.t.sf(np.abs(estimates / ses), dfs)
    assert 0.035 <= (p < 0.05).mean() <= 0.065


def test_its_placebo_start_dates_in_series_without_effect_are_rarely_flagged() -> None:
    """1000 no-effect pre-periods of 24 months (a 48-month series), AR(1) 0.3, trend and season.

    Fake starts at months 8-21, Bonferroni flag at 0.05/14. The 24-month pre-period is the
    shortest with seasonal terms and the hardest case of docs/statistics-quasi.md (flag rates
    3-9% over the grid, Newey-West 55-85%): at most 9% asserted (Monte Carlo SE 0.9%).
    One series also goes through :func:`placebo_in_time`.
    """
    ys = its_outcomes(1000, 24, 0.3, seed=23, level=0.0)
    fakes = range(8, 22)
    pvalues = []
    for fake in fakes:
        x, _ = design_matrix(monthly_series(ys[0], fake))
        fit = ar1_gls(x.to_numpy(), ys.T, (x.columns == "level").astype(float)[None, :])
        pvalues.append(2 * stats.t.sf(np.abs(fit.estimate[0] / fit.se[0]), fit.df[0]))
    pvalues = np.column_stack(pvalues)
    flagged = (pvalues < 0.05 / len(fakes)).any(axis=1)
    assert flagged.mean() <= 0.09
    full = np.concatenate([ys[0], ys[0][:3]])
    months = pd.date_range("2020-01-01", periods=27, freq="MS")
    panel = prepare_panel(pd.DataFrame({"unit": "all", "month": months, "y": full}), unit="unit", period="month",
                          outcome="y", start=months[24], require_control=False)
    check = placebo_in_time(panel, lambda p: segmented_regression(treated_series(p)).level,
                            segmented_regression(treated_series(panel)).level, min_pre_periods=8, min_post_periods=3)
    assert len(check.estimates) == len(fakes)
    np.testing.assert_allclose(check.estimates["p_value"], pvalues[0], rtol=1e-7)
    assert check.flagged == flagged[0]


def test_placebo_start_dates_in_a_panel_without_effect_are_not_flagged() -> None:
    """300 no-effect panels (30 units, 12 periods, 6 before the start), fake starts at periods 3-5.

    The Bonferroni flag keeps the family-wise rate at most 5%; allowed up to 8.8%
    (5% + 3 Monte Carlo SE). Each panel also goes through :func:`placebo_in_time` itself.
    """
    ys = simulate_panels(300, 30, 12, seed=16)
    panel = sim_panel(ys[0])
    outcomes = ys.reshape(len(ys), -1).T
    pre = (panel.data["period"] < 6).to_numpy()
    pvalues = np.column_stack(
        [twfe(panel.with_start(fake, pre_only=True), outcomes=outcomes[pre])["p_value"] for fake in (3, 4, 5)]
    )
    flagged = (pvalues < 0.05 / 3).any(axis=1)
    assert flagged.mean() <= 0.088
    check = placebo_in_time(panel, lambda p: did_twfe(p)[0], did_twfe(panel)[0], min_pre_periods=3)
    assert check.estimates["label"].tolist() == ["3", "4", "5"]
    np.testing.assert_allclose(check.estimates["p_value"], pvalues[0])
    assert check.flagged == flagged[0]


# ---------------------------------------------------------------- placebo checks, whole results


def test_difference_in_differences_on_five_regions_reports_design_checks_and_conditions() -> None:
    res = difference_in_differences(region_month_panel(), unit="region", period="month", outcome="hours",
                                    treated_units=["north", "east"], start="2025-03-01",
                                    metric="first_response_mean_hours")
    assert res.design == "did" and res.n_units == 5 and res.n_treated == 2
    assert res.n_pre == 14 and res.n_post == 10
    assert res.estimate.ci_low < -1.5 < res.estimate.ci_high
    assert res.estimate.df == 4
    codes = {c.code for c in res.conditions}
    assert {FEW_CLUSTERS, FEW_TREATED_UNITS} <= codes
    assert 0 <= res.wild_p_value < 0.05
    # 13 leads but only 5 clusters: the joint test is not defined, the linear pre-trend test is used.
    assert res.pretrend.method == "linear pre-trend t" and not res.pretrend.rejected
    kinds = {p.kind: p for p in res.placebos}
    assert len(kinds["in_time"].estimates) == 14 - 3
    assert not kinds["in_time"].flagged
    # 3 untreated regions -> 3 pairs of fake treated; the rank can never reach 5%.
    assert len(kinds["in_space"].estimates) == 3 and kinds["in_space"].min_p_value == 0.25
    assert not kinds["in_space"].flagged
    assert "Parallel trends" in res.assumptions[0] and "2 of 5 units" in res.why
    cf = res.counterfactual
    assert list(cf.columns) == ["period", "observed", "counterfactual", "cf_low", "cf_high", "phase", "untreated"]
    post = cf[cf["phase"] == "post"]
    np.testing.assert_allclose((post["observed"] - post["counterfactual"]).mean(), res.estimate.estimate)
    text = res.summary()
    assert "Why:" in text and "Assumptions the reader must accept" in text and "few_clusters" in text


def test_placebo_in_space_ranks_a_real_effect_first_among_many_untreated_units() -> None:
    ys = simulate_panels(1, 40, 8, effect=3.0, seed=17)
    panel = sim_panel(ys[0])
    real = did_twfe(panel)[0]
    check = placebo_in_space(panel, lambda p: did_twfe(p)[0], real, max_placebos=30, seed=2)
    sampled = placebo_in_space(panel, lambda p: did_twfe(p)[0], real, max_placebos=8, seed=2)
    assert len(sampled.estimates) == 8 and sampled.estimates["label"].is_unique
    # 20 untreated units, fake treated groups of 19 (one untreated unit must stay): 20 sets.
    assert len(check.estimates) == 20
    assert check.rank_p_value == pytest.approx(1 / 21)
    assert not check.flagged
    assert sampled.estimates.equals(
        placebo_in_space(panel, lambda p: did_twfe(p)[0], real, max_placebos=8, seed=2).estimates
    )


def test_pre_trend_in_the_data_blocks_the_decision() -> None:
    ys = simulate_panels(1, 40, 10, trend_gap=0.6, seed=18)
    res = difference_in_differences(as_frame(ys[0]), unit="unit", period="period", outcome="y",
                                    treated_units=list(range(20)), start=5, placebo=False)
    assert res.pretrend.rejected
    pre = [c for c in res.conditions if c.code == PRE_TREND]
    assert pre and pre[0].blocks == "keep testing"
    assert res.to_initiative("x", direction="higher").decision.action == "keep testing"


def test_interrupted_time_series_result_and_counterfactual_frame() -> None:
    months = pd.date_range("2023-01-01", periods=36, freq="MS")
    rng = np.random.default_rng(19)
    services = ["api", "web", "batch"]
    frame = pd.DataFrame({"service": np.repeat(services, 36), "month": np.tile(months, 3)})
    frame["lead_time_hours"] = 40 - 8.0 * (frame["month"] >= "2025-01-01") + rng.normal(0, 1, len(frame))
    res = interrupted_time_series(frame, unit="service", period="month", outcome="lead_time_hours",
                                  start="2025-01-01")
    assert res.design == "its" and res.n_treated == 3 and res.n_pre == 24
    assert res.estimate.ci_low < -8 < res.estimate.ci_high
    assert "fourier" in res.method
    assert set(res.other_estimates) == {"slope change per period", "average post-period effect"}
    cf = res.counterfactual
    assert len(cf) == 36 and (cf["cf_low"] <= cf["counterfactual"]).all()
    pre = cf[cf["phase"] == "pre"]
    np.testing.assert_allclose(pre["counterfactual"], pre["fitted"])  # no level or slope term before the start
    np.testing.assert_allclose(res.observed - res.counterfactual_mean, res.estimate.estimate)
    check = res.placebos[0]
    assert check.kind == "in_time" and not check.flagged and "none of 14 fake start dates" in check.sentence
    assert len(check.estimates) == 24 - 8 - 3 + 1
    assert PLACEBO_IN_TIME not in {c.code for c in res.conditions}
    assert "no untreated comparison" in res.why


def test_its_placebo_flags_a_break_before_the_start_and_blocks_the_decision() -> None:
    """Something else lifted the metric by 3 a year before the start: the fake start there is flagged."""
    months = pd.date_range("2023-01-01", periods=36, freq="MS")
    rng = np.random.default_rng(24)
    y = 40 + 3.0 * (months >= "2024-01-01") - 8.0 * (months >= "2025-01-01") + rng.normal(0, 0.5, 36)
    frame = pd.DataFrame({"month": months, "y": y})
    res = interrupted_time_series(frame, period="month", outcome="y", start="2025-01-01")
    check = res.placebos[0]
    assert check.flagged and "2024-01" in check.sentence
    found = {c.code: c for c in res.conditions}
    assert found[PLACEBO_IN_TIME].blocks == "keep testing"
    assert res.to_initiative("x", direction="lower").decision.action == "keep testing"
    # Newey-West errors on request: their p-values at fake dates are not trusted, the check only ranks.
    nw = interrupted_time_series(frame, period="month", outcome="y", start="2025-01-01", maxlags=2)
    assert "Newey-West" in nw.method and not nw.placebos[0].flagged and "larger in size than" in nw.placebos[0].sentence


def test_analyze_rollout_picks_the_design_from_the_data() -> None:
    frame = region_month_panel()
    kwargs = {"unit": "region", "period": "month", "outcome": "hours", "start": "2025-03-01", "placebo": False}
    assert analyze_rollout(frame, treated_units=["north", "east"], **kwargs).design == "did"
    assert analyze_rollout(frame, **kwargs).design == "its"


# ---------------------------------------------------------------- data conditions as values, misuse as errors


@pytest.mark.parametrize(
    ("treated", "start", "code"),
    [
        (["north"], "2024-02-01", TOO_FEW_PRE_PERIODS),
        (["atlantis"], "2025-03-01", NO_TREATED_UNITS),
        (["north", "south", "east", "west", "central"], "2025-03-01", NO_CONTROL_UNITS),
        (["north"], "2026-06-01", START_OUTSIDE_DATA),
        (["north"], "2023-06-01", START_OUTSIDE_DATA),
    ],
)
def test_data_conditions_come_back_as_values(treated: list[str], start: str, code: str) -> None:
    res = difference_in_differences(region_month_panel(), unit="region", period="month", outcome="hours",
                                    treated_units=treated, start=start)
    assert res.estimate is None
    found = {c.code: c for c in res.conditions}
    assert code in found and found[code].blocks == "keep testing"
    effect = res.to_effect(direction="lower")
    assert not effect.estimable and code in {c.code for c in effect.conditions}
    assert res.to_initiative("chatbot", direction="lower").decision.action == "keep testing"
    assert "No estimate could be made" in res.summary()


def test_unknown_treated_units_are_named() -> None:
    res = difference_in_differences(region_month_panel(), unit="region", period="month", outcome="hours",
                                    treated_units=["north", "nort"], start="2025-03-01", placebo=False)
    msg = next(c.message for c in res.conditions if c.code == UNKNOWN_TREATED_UNITS)
    assert "'nort'" in msg and "north" in msg
    assert res.estimate is not None


def test_its_needs_a_few_post_periods() -> None:
    frame = region_month_panel()
    res = interrupted_time_series(frame, unit="region", period="month", outcome="hours", start="2025-11-01")
    assert res.estimate is None and TOO_FEW_POST_PERIODS in {c.code for c in res.conditions}


def test_misuse_raises_with_what_where_and_what_to_do() -> None:
    frame = region_month_panel()
    with pytest.raises(QuasiInputError, match=r"\['hrs'\] not in the panel frame.*Columns in the frame"):
        difference_in_differences(frame, unit="region", period="month", outcome="hrs", treated_units=["north"],
                                  start="2025-03-01")
    with pytest.raises(QuasiInputError, match=r"unit 'north' has more than one row .*aggregate the panel"):
        difference_in_differences(pd.concat([frame, frame.head(1)]), unit="region", period="month",
                                  outcome="hours", treated_units=["north"], start="2025-03-01")
    with pytest.raises(QuasiInputError, match="alpha must be in"):
        difference_in_differences(frame, unit="region", period="month", outcome="hours", treated_units=["north"],
                                  start="2025-03-01", alpha=5)
    numbered = frame.assign(month=frame["month"].dt.month + 12 * (frame["month"].dt.year - 2024))
    with pytest.raises(QuasiInputError, match="seasonality='fourier' needs date periods"):
        interrupted_time_series(numbered, unit="region", period="month", outcome="hours", start=15,
                                seasonality="fourier")


# ---------------------------------------------------------------- shared result types, charts


def test_results_convert_into_the_shared_types_and_decision_rule() -> None:
    res = difference_in_differences(region_month_panel(), unit="region", period="month", outcome="hours",
                                    treated_units=["north", "east"], start="2025-03-01",
                                    metric="first_response_mean_hours")
    effect = res.to_effect(direction="lower", unit="hours")
    assert isinstance(effect, MetricEffect)
    assert (effect.arm, effect.control_arm, effect.method, effect.df) == ("treated", "untreated", "did", 4.0)
    assert effect.estimate_abs == res.estimate.estimate
    assert effect.estimate_rel == pytest.approx(effect.estimate_abs / effect.control_mean)
    assert effect.ci_rel_low < effect.estimate_rel < effect.ci_rel_high
    init = res.to_initiative("chatbot", direction="lower", unit="hours")
    assert isinstance(init, InitiativeResult)
    # Clear reduction of a lower-is-better metric and no blocking condition: ship.
    assert init.decision.action == "ship"
    entry = init.to_dict()
    assert entry["design"] == "did" and entry["metrics"][0]["arm"] == "treated"
    assert {"few_clusters", "few_treated_units"} <= set(entry["metrics"][0]["conditions"])
    json.dumps(entry)
    assert any(n.startswith("Assumptions:") for n in init.notes)
    frame = res.to_frame()
    assert frame["name"].tolist() == ["headline", "2x2 difference of means"]


def test_charts_are_returned_as_specs() -> None:
    did = difference_in_differences(region_month_panel(), unit="region", period="month", outcome="hours",
                                    treated_units=["north", "east"], start="2025-03-01", placebo=False)
    spec = event_study_chart(did).to_dict()
    assert len(spec["layer"]) == 4
    assert spec["layer"][3]["encoding"]["x"]["field"] == "rel"
    months = pd.date_range("2023-01-01", periods=30, freq="MS")
    its = interrupted_time_series(pd.DataFrame({"month": months, "y": np.arange(30.0) % 7}), period="month",
                                  outcome="y", start="2024-07-01", placebo=False)
    spec = its_chart(its).to_dict()
    assert spec["layer"][0]["mark"]["type"] == "area"
    assert spec["layer"][1]["encoding"]["x"]["type"] == "temporal"
    assert len(its_chart(did).to_dict()["layer"]) == 2
    with pytest.raises(Exception, match="no event study"):
        event_study_chart(its)


def test_blocked_results_have_no_chart() -> None:
    res: QuasiResult = difference_in_differences(region_month_panel(), unit="region", period="month",
                                                 outcome="hours", treated_units=["atlantis"], start="2025-03-01")
    with pytest.raises(Exception, match="No treated unit"):
        its_chart(res)


# ---------------------------------------------------------------- demo company


def test_recovers_the_demo_chatbot_effect(ground_truth: dict) -> None:
    """The raw tickets export aggregated to region x month inside DuckDB (aggregates only leave it)."""
    duckdb = pytest.importorskip("duckdb")
    truth = ground_truth
    chatbot = next(i for i in truth["initiatives"] if i["id"] == "chatbot")
    planted = chatbot["effects"][0]["abs"]
    tickets = (config.project().raw_dir / "tickets" / "tickets_*.csv").as_posix()
    panel = duckdb.sql(
        f"""
        select lower(location) as region, date_trunc('month', opened_at)::date as month,
               avg(epoch(u_first_response_at - opened_at) / 3600.0) as first_response_mean_hours
        from read_csv('{tickets}')
        where u_requester_type = 'customer' and u_first_response_at is not null
        group by all
        """
    ).df()
    res = difference_in_differences(panel, unit="region", period="month", outcome="first_response_mean_hours",
                                    treated_units=chatbot["treated_units"], start=chatbot["start_date"])
    assert res.estimate.ci_low < planted < res.estimate.ci_high
    assert abs(res.estimate.estimate - planted) < 0.3
    assert not res.pretrend.rejected
    assert res.to_initiative("chatbot", direction="lower", unit="hours").decision.action == "ship"
    # ten months after the start: relative magnitudes too, not only the smoothness bound
    assert res.sensitivity is not None and res.sensitivity.n_post == 10
    assert any(s.startswith("The conclusion holds unless post-period trend differences exceed")
               and "times the largest pre-period one" in s for s in res.sentences())
