"""Drivers model: planted slopes recovered, intervals calibrated, statuses, sentences, demo data."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from outcomes.scorecard.drivers import INSUFFICIENT_DATA, NO_VARIATION, drivers_panel, fit_drivers

X = "first_response_mean_hours"


def synthetic_panel(seed=0, regions=6, months=24, csat_slope=-0.03, churn_slope=0.004):
    """A region x month panel with region and month effects and planted slopes on x."""
    rng = np.random.default_rng(seed)
    seg = np.repeat([f"r{i}" for i in range(regions)], months)
    per = np.tile(pd.date_range("2024-01-01", periods=months, freq="MS"), regions)
    a = np.repeat(rng.normal(0, 1, regions), months)
    g = np.tile(rng.normal(0, 0.5, months), regions)
    x = 5 + a + g + rng.normal(0, 1, regions * months)
    csat = 0.8 + 0.02 * a + 0.01 * g + csat_slope * x + rng.normal(0, 0.01, regions * months)
    churn = 0.02 - 0.002 * a + churn_slope * x + rng.normal(0, 0.002, regions * months)
    frames = [
        pd.DataFrame(
            dict(period=per, segment_dim="region", segment=seg, metric=m, value=v, n=100.0, suppressed=False, note=None)
        )
        for m, v in ((X, x), ("csat", csat), ("churn_rate", churn))
    ]
    return pd.concat(frames, ignore_index=True)


def test_planted_slopes_are_recovered_within_their_intervals():
    result = fit_drivers(synthetic_panel())
    csat, churn = result.estimate("csat"), result.estimate("churn_rate")
    assert csat.fit.ci_low < -0.03 < csat.fit.ci_high
    assert churn.fit.ci_low < 0.004 < churn.fit.ci_high
    assert csat.n_clusters == 6 and csat.fit.df == 5 and csat.fit.n == 144


def test_coefficient_and_interval_match_a_direct_statsmodels_fit():
    panel = synthetic_panel(seed=3)
    w = panel.pivot_table(index=["segment", "period"], columns="metric", values="value").reset_index()
    design = pd.get_dummies(w[["segment"]].astype(str), drop_first=True, dtype=float)
    design = design.join(pd.get_dummies(w["period"].astype(str), prefix="p", drop_first=True, dtype=float))
    design.insert(0, "x", w[X])
    design = sm.add_constant(design)
    direct = sm.OLS(w["csat"], design).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(w["segment"])[0]}, use_t=True
    )
    est = fit_drivers(panel).estimate("csat")
    np.testing.assert_allclose(est.fit.estimate, direct.params["x"], rtol=1e-10)
    np.testing.assert_allclose([est.fit.ci_low, est.fit.ci_high], direct.conf_int().loc["x"], rtol=1e-8)


def test_intervals_cover_the_planted_slope_about_95_percent_of_the_time():
    # 80 seeded panels with 8 clusters (t with 7 df after the CR1 correction); with 80 draws
    # the observed coverage of a 95% interval falls in [0.88, 1] with probability above 0.99:
    # scipy.stats.binom.cdf(70, 80, 0.95) = 0.0065
    hits = [
        (e := fit_drivers(synthetic_panel(seed=s, regions=8, months=10), outcomes=("csat",)).estimate("csat")).fit.ci_low
        < -0.03
        < e.fit.ci_high
        for s in range(80)
    ]
    assert np.mean(hits) >= 0.88


def test_expected_data_conditions_come_back_as_statuses():
    panel = synthetic_panel(regions=1)
    assert fit_drivers(panel).estimate("csat").status == INSUFFICIENT_DATA
    flat = synthetic_panel()
    flat.loc[flat.metric == X, "value"] = 3.0
    result = fit_drivers(flat)
    assert result.estimate("churn_rate").status == NO_VARIATION
    assert any("not estimated" in s for s in result.sentences())


def test_misuse_raises_with_the_fix():
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        fit_drivers(synthetic_panel(), alpha=1.5)
    with pytest.raises(ValueError, match="build_panel"):
        fit_drivers(synthetic_panel(), outcomes=("nps",))


def test_sentences_summary_and_frame():
    result = fit_drivers(synthetic_panel())
    text = result.sentences()
    assert text[0].startswith("One hour faster first response (mean) goes with +")
    assert "pp CSAT" in text[0] and "pp churn" in text[0] and "95% CI" in text[0]
    assert any("t with 5 degrees of freedom" in s for s in text)
    assert any("not proof of cause" in s for s in text)
    frame = result.to_frame()
    assert list(frame["outcome"]) == ["csat", "churn_rate"]
    assert "ci_low" in result.summary()


def test_demo_company_links_are_recovered(demo_warehouse, ground_truth):
    """The planted links of the demo company, recovered through the warehouse (built when missing)."""
    import ibis

    truth = ground_truth
    con = ibis.duckdb.connect(str(demo_warehouse), read_only=True)
    panel = drivers_panel(con, start=truth["period_start"], end=truth["period_end"])
    result = fit_drivers(panel)
    links = truth["links"]
    csat, churn = result.estimate("csat"), result.estimate("churn_rate")
    assert csat.fit.ci_low <= links["csat_per_hour"] <= csat.fit.ci_high, result.summary()
    assert churn.fit.ci_low <= links["churn_rate_per_hour"] <= churn.fit.ci_high, result.summary()
