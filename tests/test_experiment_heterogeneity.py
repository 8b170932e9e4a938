"""The segment explorer: references, A/A simulation of false flags, and a planted segment effect.

References:

* the difference from the rest equals the coefficient of a segment indicator in a
  weighted regression of the segment effects with the variances treated as known:
  ``statsmodels.api.WLS(e, add_constant(indicator), weights=1 / se**2).fit(cov_type="fixed scale")``;
* Cochran's Q equals ``statsmodels.stats.meta_analysis.combine_effects(e, se**2).test_homogeneity()``;
* the adjustment equals ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from outcomes.experiment import InitiativeSpec, analyze_table
from outcomes.experiment.randomized.frequentist import compare
from outcomes.experiment.randomized.heterogeneity import (
    cochran_q,
    difference_from_rest,
    explore_segments,
    segment_p_values,
)
from outcomes.experiment.statistics import mean_moments

SEED = 31
EST = np.array([0.12, -0.05, 0.30, 0.08, 0.01, 0.22])
SE = np.array([0.05, 0.08, 0.06, 0.04, 0.10, 0.07])


def test_difference_from_rest_equals_a_fixed_scale_weighted_regression():
    diff, se = difference_from_rest(EST, SE, np.zeros(EST.size))
    for s in range(EST.size):
        x = sm.add_constant((np.arange(EST.size) == s).astype(float))
        fit = sm.WLS(EST, x, weights=1 / SE**2).fit(cov_type="fixed scale")
        assert diff[s] == pytest.approx(fit.params[1], rel=1e-12)
        assert se[s] == pytest.approx(fit.bse[1], rel=1e-12)


def test_cochran_q_and_bh_equal_statsmodels():
    q, df, p = cochran_q(EST, SE)
    ref = combine_effects(EST, SE**2).test_homogeneity()
    assert (q, df, p) == pytest.approx((ref.statistic, ref.df, ref.pvalue), rel=1e-12)
    _, _, raw, adjusted = segment_p_values(EST, SE, np.zeros(EST.size))
    np.testing.assert_allclose(adjusted, multipletests(raw, method="fdr_bh")[1], rtol=1e-12)


def simulated_breakdowns(runs: int, units: int, planted: float, seed: int) -> tuple[np.ndarray, ...]:
    """Per run, the effects of a region (5) and a tier (3) breakdown of a mean metric.

    Units are split at random; the outcome is normal (sd 1); treated units in region 0 gain
    ``planted``. Sums per run x segment x arm come from one ``bincount``.
    """
    rng = np.random.default_rng(seed)
    region = rng.integers(0, 5, (runs, units))
    tier = rng.integers(0, 3, (runs, units))
    treated = rng.uniform(size=(runs, units)) < 0.5
    y = rng.normal(0.0, 1.0, (runs, units)) + planted * (treated & (region == 0))
    run = np.repeat(np.arange(runs), units).reshape(runs, units)
    est, se, groups, families = [], [], [], []
    for dim, (labels, k) in enumerate(((region, 5), (tier, 3))):
        key = ((run * k + labels) * 2 + treated).ravel()
        size = runs * k * 2
        n = np.bincount(key, minlength=size).reshape(runs * k, 2)
        s = np.bincount(key, weights=y.ravel(), minlength=size).reshape(runs * k, 2)
        ss = np.bincount(key, weights=(y * y).ravel(), minlength=size).reshape(runs * k, 2)
        comp = compare(mean_moments(n[:, 0], s[:, 0], ss[:, 0]), mean_moments(n[:, 1], s[:, 1], ss[:, 1]))
        est.append(comp.estimate_abs)
        se.append(comp.se_abs)
        groups.append(np.repeat(np.arange(runs), k) * 2 + dim)
        families.append(np.repeat(np.arange(runs), k))
    return tuple(np.concatenate(a) for a in (est, se, groups, families))


def test_aa_family_wise_false_flags_at_most_five_percent():
    runs = 2000
    est, se, groups, families = simulated_breakdowns(runs, 1500, 0.0, SEED)
    _, _, _, adjusted = segment_p_values(est, se, groups, families)
    flagged_runs = np.unique(families[adjusted < 0.05]).size
    # 8 segments per run, 2,000 runs: the rate's standard error is about 0.5 points
    assert flagged_runs / runs <= 0.05, flagged_runs / runs


def test_planted_segment_effect_is_found_in_most_runs():
    runs = 500
    est, se, groups, families = simulated_breakdowns(runs, 1500, 0.5, SEED + 1)
    _, _, _, adjusted = segment_p_values(est, se, groups, families)
    north = (groups % 2 == 0) & (np.arange(est.size) % 5 == 0)  # region 0 of every run
    assert np.mean(adjusted[north] < 0.05) >= 0.8
    assert np.mean(adjusted[~north] < 0.05) <= 0.05


def units_table(planted: float, seed: int = SEED, n: int = 8000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], n)
    arm = np.where(rng.uniform(size=n) < 0.5, "portal", "control")
    spend = rng.normal(50, 10, n) + 1.0 * (arm == "portal") + planted * ((arm == "portal") & (region == "north"))
    return pd.DataFrame({"customer_id": np.arange(n), "arm": arm, "spend": spend, "region": region,
                         "tier": rng.choice(["gold", "silver"], n)})


SPEC = InitiativeSpec.model_validate(
    {"id": "portal", "data": {"unit": "customer_id", "arm": "arm", "control": "control", "segments": ["region", "tier"]},
     "metrics": [{"column": "spend", "role": "primary", "unit": "EUR"}]}
)


def test_explorer_finds_the_planted_region_and_says_so():
    result = analyze_table(units_table(planted=4.0), SPEC)
    found = explore_segments(result.segment_effects, alpha=SPEC.alpha)
    assert [f.segment for f in found.findings] == ["region=north"]
    north = found.findings[0]
    assert north.difference == pytest.approx(4.0, abs=3 * north.se)
    assert found.tested == 6
    assert "north region" in found.summary() and "1 of 6 segments tested" in found.summary()
    assert found.to_frame()["segment"].tolist() == ["region=north"]
    q = found.heterogeneity.set_index("dimension")["p_value"]
    assert q["region"] < 0.001 and q["tier"] > 0.05


def test_explorer_says_when_nothing_survives():
    found = explore_segments(analyze_table(units_table(planted=0.0), SPEC).segment_effects)
    assert found.findings == () and found.tested == 6
    assert found.summary().startswith("No segment's effect differs from the rest more than chance allows")
    assert explore_segments([]).summary().startswith("No segment could be tested")
