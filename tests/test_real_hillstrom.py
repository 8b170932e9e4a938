"""The Hillstrom e-mail experiment (a real randomized test, three arms) through the statistics engine.

The spec is ``params/initiatives/email-test.yaml`` as a user would write it. The engine's
numbers are checked against direct scipy/statsmodels computations on the same rows: Welch's
t test for spend, the unpooled two-proportion z statistic for visits and purchases, the
chi-squared SRM test, Holm's adjustment, and CUPED against an OLS with a common slope.

* The full file (64,000 customers; skipped without ``../shared/data``), with golden numbers
  recorded next to the command that produced them.
* The committed excerpt ``tests/data/hillstrom_excerpt.csv`` (3,000 customers), always:
  the same agreements, and looser claims about the effects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.multitest import multipletests

from outcomes import config
from outcomes.experiment import InitiativeResult, InitiativeSpec, analyze_table
from outcomes.params import load

SPEC_PATH = Path(__file__).resolve().parents[1] / "params" / "initiatives" / "email-test.yaml"
EXCERPT = Path(__file__).parent / "data" / "hillstrom_excerpt.csv"
CONTROL = "No E-Mail"
ARMS = ("Mens E-Mail", "Womens E-Mail")

# Full-file effects on spend, unadjusted (USD), used to judge the excerpt. Produced by
#   df = pd.read_csv("hillstrom.csv.gz"); c = df[df.segment == "No E-Mail"].spend
#   stats.ttest_ind(df[df.segment == arm].spend, c, equal_var=False)   (scipy 1.16)
# Mens E-Mail: statistic 5.300140358411669, pvalue 1.163814968225482e-07, df 36671.15797736051,
#   confidence_interval(0.95) = (0.4851397325684076, 1.0545145792206658)
# Womens E-Mail: statistic 3.256371576025392, pvalue 0.0011293971023632495, df 40064.88440653067,
#   confidence_interval(0.95) = (0.1689567898837787, 0.6798676419894147)
FULL_WELCH = {
    "Mens E-Mail": (5.300140358411669, 1.163814968225482e-07, 36671.15797736051, 0.4851397325684076, 1.0545145792206658),
    "Womens E-Mail": (3.256371576025392, 0.0011293971023632495, 40064.88440653067, 0.1689567898837787, 0.6798676419894147),
}
# (p_t - p_c) / sqrt(p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c) on the full file, same frame:
#   p1, p0 = t[col].mean(), c[col].mean(); (p1 - p0) / np.sqrt(p1*(1-p1)/len(t) + p0*(1-p0)/len(c))
FULL_Z = {
    ("visit", "Mens E-Mail"): 22.620761611974675,
    ("conversion", "Mens E-Mail"): 7.389909141058475,
    ("visit", "Womens E-Mail"): 13.985065967949865,
    ("conversion", "Womens E-Mail"): 3.781715134825744,
}
# CUPED with `history`: the treated coefficient of smf.ols("spend ~ treated + history", two_arms).fit()
FULL_CUPED = {"Mens E-Mail": 0.7674496193131262, "Womens E-Mail": 0.42270540278438007}
# stats.chisquare([21306, 21307, 21387]).pvalue (equal planned thirds)
FULL_SRM_P = 0.9036929575604196


def _spec(cuped: bool = True) -> InitiativeSpec:
    """The user's spec; without CUPED for the plain Welch comparison."""
    spec = load(SPEC_PATH, InitiativeSpec)
    if cuped:
        return spec
    doc = spec.model_dump()
    doc["metrics"] = [{**m, "pre": None} for m in doc["metrics"]]
    return InitiativeSpec.model_validate(doc)


@pytest.fixture(scope="module")
def full(shared_data: Path) -> pd.DataFrame:
    """All 64,000 customers, with the row number as the customer id the spec names."""
    df = pd.read_csv(shared_data / "hillstrom_email_experiment" / "hillstrom.csv.gz")
    df.insert(0, "customer", np.arange(1, len(df) + 1))
    return df


@pytest.fixture(scope="module")
def excerpt() -> pd.DataFrame:
    """The committed 3,000-customer excerpt (it carries the original row number as ``customer``)."""
    return pd.read_csv(EXCERPT)


def _var_of_difference(arms: list[pd.Series]) -> float:
    """Variance of a difference of two independent means: sum of s^2 / n."""
    return float(sum(a.var(ddof=1) / len(a) for a in arms))


def _check_engine_against_scipy(df: pd.DataFrame) -> tuple[InitiativeResult, InitiativeResult]:
    """Run the spec with and without CUPED and check every number against a direct computation."""
    spec = _spec()
    assert spec.primary.id == "spend" and spec.primary.pre == "history"
    result, plain = analyze_table(df, spec), analyze_table(df, _spec(cuped=False))
    control = df[df["segment"] == CONTROL]

    # SRM: chi-squared goodness of fit against equal thirds
    counts = df["segment"].value_counts()
    assert result.arm_sizes == counts.to_dict()
    assert result.srm_p_value == pytest.approx(stats.chisquare(counts.to_numpy()).pvalue, rel=1e-12)
    assert not result.srm_flag and "sample_ratio_mismatch" not in [c.code for c in result.conditions]

    for arm in ARMS:
        treated = df[df["segment"] == arm]
        # spend: Welch's t test, as scipy computes it
        welch = stats.ttest_ind(treated["spend"], control["spend"], equal_var=False)
        ci = welch.confidence_interval(1 - spec.alpha)
        e = plain.effect("spend", arm)
        assert e.method == "welch"
        assert_allclose([e.estimate_abs / e.se_abs, e.p_value, e.df, e.ci_low, e.ci_high],
                        [welch.statistic, welch.pvalue, welch.df, ci.low, ci.high], rtol=1e-9)
        # visit, conversion: the unpooled two-proportion statistic (p_t - p_c) / se, which the engine
        # refers to a t distribution with Welch-Satterthwaite df (df > 1,000 here, so its interval's
        # half-width is within 0.2% of the normal one)
        for col in ("visit", "conversion"):
            p1, p0 = treated[col].mean(), control[col].mean()
            v1, v0 = p1 * (1 - p1) / len(treated), p0 * (1 - p0) / len(control)
            se = np.sqrt(v1 + v0)
            df_welch = (v1 + v0) ** 2 / (v1**2 / (len(treated) - 1) + v0**2 / (len(control) - 1))
            z = stats.norm.ppf(1 - spec.alpha / 2)
            e = result.effect(col, arm)
            assert e.kind == "proportion" and np.isnan(e.variance_reduction)  # no CUPED on these
            assert_allclose([e.estimate_abs, e.se_abs, e.df], [p1 - p0, se, df_welch], rtol=1e-10)
            assert_allclose(e.p_value, 2 * stats.t.sf(abs(p1 - p0) / se, df_welch), rtol=1e-8)
            half = (e.ci_high - e.ci_low) / 2
            assert (e.ci_high + e.ci_low) / 2 == pytest.approx(p1 - p0, rel=1e-10)
            assert half == pytest.approx(stats.t.ppf(1 - spec.alpha / 2, df_welch) * se, rel=1e-10)
            assert half == pytest.approx(z * se, rel=2e-3)
            if e.p_value > 1e-4:
                assert e.p_value == pytest.approx(2 * stats.norm.sf(abs(p1 - p0) / se), rel=0.01)
        # CUPED: the estimate is OLS's treated coefficient with a common slope on history, and the
        # variance reduction is that of y - theta (x - mean x) with theta pooled within arms
        two = pd.concat([treated, control]).assign(treated=lambda d, arm=arm: (d["segment"] == arm).astype(float))
        ols = smf.ols("spend ~ treated + history", data=two).fit()
        e = result.effect("spend", arm)
        assert e.method == "welch+cuped"
        assert e.estimate_abs == pytest.approx(ols.params["treated"], rel=1e-9)
        theta = ols.params["history"]
        adj = [g["spend"] - theta * g["history"] for g in (treated, control)]
        raw = [g["spend"] for g in (treated, control)]
        assert e.variance_reduction == pytest.approx(1 - _var_of_difference(adj) / _var_of_difference(raw), rel=1e-6)
        assert 0 <= e.variance_reduction < 1
        assert "CUPED removed" in e.sentence()

    # Holm within the family of primary and secondary metrics (both arms: six tests)
    raw_p = np.array([x.p_value for x in result.effects])
    assert {x.role for x in result.effects} == {"primary", "secondary"} and len(raw_p) == 6
    assert_allclose([x.p_value_adjusted for x in result.effects], multipletests(raw_p, method="holm")[1], rtol=1e-12)
    assert "adjusted (Holm)" in result.summary()
    return result, plain


@pytest.mark.shared_data
def test_full_hillstrom_file_through_the_engine(full: pd.DataFrame, shared_data: Path) -> None:
    assert config.resolve(_spec().data.table).resolve() == (shared_data / "hillstrom_email_experiment" / "hillstrom.csv.gz").resolve()
    result, plain = _check_engine_against_scipy(full)
    assert result.arm_sizes == {"No E-Mail": 21_306, "Mens E-Mail": 21_307, "Womens E-Mail": 21_387}  # README
    assert result.srm_p_value == pytest.approx(FULL_SRM_P, rel=1e-12)
    for arm in ARMS:
        stat, p, df, low, high = FULL_WELCH[arm]
        e = plain.effect("spend", arm)
        assert_allclose([e.estimate_abs / e.se_abs, e.p_value, e.df, e.ci_low, e.ci_high], [stat, p, df, low, high], rtol=1e-9)
        assert result.effect("spend", arm).estimate_abs == pytest.approx(FULL_CUPED[arm], rel=1e-9)
        for col in ("visit", "conversion"):
            e = result.effect(col, arm)
            assert e.estimate_abs / e.se_abs == pytest.approx(FULL_Z[(col, arm)], rel=1e-9)
        # both e-mails clearly raise every metric, after Holm's adjustment
        assert all(result.effect(m, arm).p_value_adjusted < 0.01 for m in ("spend", "visit", "conversion"))
        # past-year spend barely predicts two-week spend (correlation 0.02): CUPED removes < 1% of the variance
        assert 0 < result.effect("spend", arm).variance_reduction < 0.01
    assert result.decision.action == "ship" and result.decision.arm == "Mens E-Mail"


def test_excerpt_through_the_engine(excerpt: pd.DataFrame) -> None:
    assert len(excerpt) == 3_000 and excerpt["customer"].is_unique
    result, plain = _check_engine_against_scipy(excerpt)
    assert result.srm_p_value > 0.05
    # with 1,000 customers an arm the men's e-mail visit lift still shows; spend is too noisy to call
    mens_visit = result.effect("visit", "Mens E-Mail")
    assert mens_visit.p_value_adjusted < 0.001 and mens_visit.ci_low > 0.03
    for arm in ARMS:
        # the excerpt's intervals cover the full file's effects
        low, high = FULL_WELCH[arm][3:]
        e = plain.effect("spend", arm)
        assert e.ci_low < (low + high) / 2 < e.ci_high
        assert result.effect("spend", arm).p_value_adjusted > 0.05
    assert result.decision.action == "keep testing"
