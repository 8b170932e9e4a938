"""The one regression result type, read from statsmodels fits of any covariance type."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from outcomes.estimate import Estimate, EstimateError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    group = np.repeat(np.arange(6), n // 6)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(size=6)[group] + rng.normal(scale=1 + np.abs(x), size=n)
    return pd.DataFrame({"y": y, "x": x, "group": group})


def _assert_matches(est: Estimate, res, name: str, df: float, alpha: float = 0.05) -> None:
    low, high = res.conf_int(alpha=alpha).loc[name]
    assert est.estimate == res.params[name]
    assert est.se == res.bse[name]
    assert (est.ci_low, est.ci_high) == (low, high)
    assert est.p_value == res.pvalues[name]
    assert est.df == df
    assert est.n == res.nobs
    assert est.level == pytest.approx(1 - alpha)


def test_hc1(frame):
    res = smf.ols("y ~ x", data=frame).fit(cov_type="HC1", use_t=True)
    est = Estimate.from_statsmodels(res, "x")
    _assert_matches(est, res, "x", res.df_resid)
    assert est.method == "OLS, HC1" and est.conditions == () and est.estimable


def test_hc1_normal_reference_has_infinite_df(frame):
    res = smf.ols("y ~ x", data=frame).fit(cov_type="HC1")
    est = Estimate.from_statsmodels(res, "x", alpha=0.1, method="HC1")
    _assert_matches(est, res, "x", math.inf, alpha=0.1)
    assert est.method == "HC1"


def test_cluster(frame):
    res = smf.ols("y ~ x", data=frame).fit(
        cov_type="cluster", cov_kwds={"groups": frame["group"], "use_correction": True, "df_correction": True}, use_t=True
    )
    est = Estimate.from_statsmodels(res, "x", conditions=("few_clusters",))
    # A cluster-robust t uses clusters - 1 degrees of freedom, not the residual ones.
    _assert_matches(est, res, "x", res.df_resid_inference)
    assert est.df == 5 and res.df_resid == 58
    assert est.method == "OLS, cluster" and est.conditions == ("few_clusters",)


def test_unknown_parameter_names_the_parameters(frame):
    res = smf.ols("y ~ x", data=frame).fit()
    with pytest.raises(EstimateError, match=r"no parameter 'z'; its parameters are \['Intercept', 'x'\]"):
        Estimate.from_statsmodels(res, "z")


def test_missing_estimate_is_frozen_and_not_estimable():
    est = Estimate.missing("OLS", level=0.9, n=3, conditions=("insufficient_data",))
    assert not est.estimable and math.isnan(est.ci_low) and est.n == 3 and est.conditions == ("insufficient_data",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.estimate = 1.0  # type: ignore[misc]
