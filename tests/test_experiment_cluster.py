"""Cluster-randomized initiatives: CR1 standard errors, ICC, design effect and planning.

Checked three ways: against statsmodels (OLS with cluster-robust errors) and a hand
computation of the ANOVA ICC; by seeded, vectorized A/A and power simulations from
per-cluster sums; and on a planted effect in a generated queue-level table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats

from outcomes.errors import ParamsError
from outcomes.experiment.randomized import cluster, frequentist, power
from outcomes.experiment.randomized.analysis import aggregate_table, analyze_table
from outcomes.experiment.spec import InitiativeSpec
from outcomes.experiment.statistics import Moments, mean_moments
from outcomes.report.review import Review

ALPHA = 0.05


def _queue_table(clusters: int, effect: float, seed: int, sd_between: float = 1.0) -> pd.DataFrame:
    """Tickets in ``clusters`` queues (5-39 tickets each), half the queues on the new process."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 40, clusters)
    arm = np.where(np.arange(clusters) % 2 == 0, "old", "new")
    q = np.repeat(np.arange(clusters), sizes)
    hours = 5 + rng.normal(0, sd_between, clusters)[q] + rng.normal(0, 2, len(q)) + effect * (arm[q] == "new")
    return pd.DataFrame(
        {"queue": [f"q{i:02d}" for i in q], "arm": arm[q], "hours": hours, "resolved": (hours > 5.5).astype(int),
         "reopened": rng.poisson(1.0, len(q)), "touches": rng.poisson(3.0, len(q)) + 1}
    )


def _spec(**data: str) -> InitiativeSpec:
    return InitiativeSpec.model_validate({
        "id": "queue-test",
        "data": {"table": "tickets.csv", "unit": None, "arm": "arm", "control": "old", "cluster": "queue", **data},
        "metrics": [
            {"column": "hours", "kind": "mean", "role": "primary"},
            {"column": "resolved", "kind": "proportion", "role": "secondary"},
            {"numerator": "reopened", "denominator": "touches", "kind": "ratio", "role": "guardrail"},
        ],
    })


def _cr2_reference(y: pd.Series, treated: pd.Series, groups: pd.Series) -> tuple[float, float]:
    """CR2 (Bell-McCaffrey) by its matrix definition: ``(X'X)^-1 sum X_g' A_g u_g u_g' A_g X_g (X'X)^-1``, ``A_g = (I - H_gg)^(-1/2)``."""
    x = np.column_stack([np.ones(len(y)), treated.to_numpy(dtype=float)])
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y.to_numpy(dtype=float)
    u = y.to_numpy(dtype=float) - x @ beta
    meat = np.zeros((2, 2))
    for idx in groups.groupby(groups).indices.values():
        xg = x[idx]
        w, v = np.linalg.eigh(np.eye(len(idx)) - xg @ bread @ xg.T)
        score = xg.T @ (v @ np.diag(w**-0.5) @ v.T) @ u[idx]
        meat += np.outer(score, score)
    return float(beta[1]), float(np.sqrt((bread @ meat @ bread)[1, 1]))


def test_cr2_matches_matrix_definition() -> None:
    """Mean, proportion and ratio (linearized) against the CR2 matrix formula on the unit rows."""
    df = _queue_table(24, 0.8, seed=13)
    result = analyze_table(df, _spec())
    lin = _linearized_ratio(df)
    for metric, y in (("hours", df["hours"]), ("resolved", df["resolved"]), ("reopened_per_touches", lin)):
        e = result.effect(metric)
        assert_allclose([e.estimate_abs, e.se_abs], _cr2_reference(y, df["arm"] == "new", df["queue"]), rtol=1e-10)
        assert e.df == 22


def _linearized_ratio(df: pd.DataFrame) -> pd.Series:
    """Each unit's linearized ratio ``R_a + (m - R_a d) / mean_a(d)`` within its arm."""
    lin = pd.Series(0.0, index=df.index)
    for _, g in df.groupby("arm"):
        r = g["reopened"].sum() / g["touches"].sum()
        lin[g.index] = r + (g["reopened"] - r * g["touches"]) / g["touches"].mean()
    return lin


def test_cr1_matches_statsmodels_cluster_ols() -> None:
    """Mean and proportion: ``sm.OLS(y, add_constant(new)).fit(cov_type="cluster", cov_kwds={"groups": queue})``.

    Golden values for ``_queue_table(30, 0.8, seed=11)`` from statsmodels 0.15.0:
    ``fit = sm.OLS(df["hours"], sm.add_constant((df["arm"] == "new").astype(float))).fit(cov_type="cluster",
    cov_kwds={"groups": df["queue"].astype("category").cat.codes}); fit.params.iloc[1], fit.bse.iloc[1]``
    gives 0.9965229945452423, 0.28444272872534193.
    """
    df = _queue_table(30, 0.8, seed=11)
    result = analyze_table(df, _spec(cluster_se="CR1"))
    x = sm.add_constant((df["arm"] == "new").astype(float))
    groups = df["queue"].astype("category").cat.codes
    for metric in ("hours", "resolved"):
        fit = sm.OLS(df[metric].astype(float), x).fit(cov_type="cluster", cov_kwds={"groups": groups})
        e = result.effect(metric)
        assert_allclose([e.estimate_abs, e.se_abs], [fit.params.iloc[1], fit.bse.iloc[1]], rtol=1e-10)
        assert e.df == 28 and e.method == "cluster-robust"
        assert_allclose(e.p_value, 2 * stats.t.sf(abs(e.estimate_abs / e.se_abs), 28), rtol=1e-12)
    hours = result.effect("hours")
    assert_allclose([hours.estimate_abs, hours.se_abs], [0.9965229945452423, 0.28444272872534193], rtol=1e-10)


def test_cr1_ratio_matches_linearized_cluster_ols() -> None:
    """Ratio metric: statsmodels' cluster-robust OLS on the linearized ratio, per arm."""
    df = _queue_table(30, 0.0, seed=12)
    e = analyze_table(df, _spec(cluster_se="CR1")).effect("reopened_per_touches")
    lin = _linearized_ratio(df)
    x = sm.add_constant((df["arm"] == "new").astype(float))
    fit = sm.OLS(lin, x).fit(cov_type="cluster", cov_kwds={"groups": df["queue"].astype("category").cat.codes})
    assert_allclose([e.estimate_abs, e.se_abs], [fit.params.iloc[1], fit.bse.iloc[1]], rtol=1e-10)
    assert e.method == "cluster-robust-delta"


def test_icc_anova_hand_computation() -> None:
    """Two arms, two clusters each of 3 units.

    Hand computation: cluster means 2, 4 (arm a, mean 3) and 6, 6 (arm b, mean 6);
    SSB = 3(1 + 1) + 0 = 6 on G - k = 2 df, MSB = 3; within SS = 2 + 2 + 2 + 8 = 14 on
    N - G = 8 df, MSW = 1.75; n0 = (12 - (18/6 + 18/6)) / 2 = 3;
    ICC = (3 - 1.75) / (3 + 2 * 1.75) = 1.25 / 6.5.
    """
    y = {"a1": [1, 2, 3], "a2": [3, 4, 5], "b1": [5, 6, 7], "b2": [4, 6, 8]}
    n = [3, 3, 3, 3]
    s = [sum(v) for v in y.values()]
    ss = [sum(x * x for x in v) for v in y.values()]
    icc, n0 = cluster.icc_anova(n, s, ss, ["a", "a", "b", "b"])
    assert n0 == pytest.approx(3.0)
    assert icc == pytest.approx(1.25 / 6.5, rel=1e-12)
    assert power.design_effect(3, icc) == pytest.approx(1 + 2 * 1.25 / 6.5)


def test_planted_effect_and_method_text() -> None:
    """A planted 0.8 hour increase in 40 queues is found; the notes and conditions name the clustering."""
    result = analyze_table(_queue_table(40, 0.8, seed=3, sd_between=0.5), _spec())
    e = result.effect("hours")
    assert e.ci_low < 0.8 < e.ci_high and e.p_value < 0.05
    note = result.notes[0]
    assert "cluster-robust t intervals" in note and "Clustered by queue (40 clusters: 20 in 'old', 20 in 'new')" in note
    assert "design effect" in note and "38 degrees of freedom" in note
    assert "Clustered by queue (40 clusters" in Review(_spec(), result, "tickets.csv").design_text().data
    assert cluster.FEW_CLUSTERS not in [c.code for c in result.conditions]  # 20 per arm is enough
    few = analyze_table(_queue_table(24, 0.0, seed=4), _spec())
    condition = next(c for c in few.conditions if c.code == cluster.FEW_CLUSTERS)
    assert "t with 22 degrees of freedom (clusters - 2)" in condition.message


def test_per_cluster_aggregates_and_missing_cluster_column() -> None:
    """The per-cluster sums add up to the arm sums; a missing cluster column names ``data.cluster``."""
    df = _queue_table(20, 0.0, seed=6)
    spec = _spec()
    per_cluster = aggregate_table(df, spec, by_cluster=True)
    whole = aggregate_table(df, spec)
    summed = per_cluster.groupby(["metric", "arm", "segment"])[["n", "sum"]].sum().reset_index()
    merged = whole.merge(summed, on=["metric", "arm", "segment"], suffixes=("", "_cl"))
    assert_allclose(merged["sum"], merged["sum_cl"]) and len(merged) == len(whole)
    assert per_cluster.query("metric == 'hours' and segment == 'all'")["cluster"].nunique() == 20
    with pytest.raises(ParamsError, match=r"data.cluster = 'team'"):
        analyze_table(df, _spec(cluster="team"))


def test_rows_without_a_cluster_and_clusters_in_both_arms_are_conditions() -> None:
    df = _queue_table(24, 0.0, seed=7)
    df.loc[:4, "queue"] = None
    df.loc[df.index[-3:], "queue"] = df.loc[df.index[10], "queue"]  # a queue of the other arm
    result = analyze_table(df, _spec())
    messages = {c.code: c.message for c in result.conditions}
    assert messages["missing_values"].startswith("5 rows have no queue (data.cluster)")
    assert "1 values of queue (data.cluster) appear in more than one arm" in messages["cluster_in_several_arms"]
    assert result.effect("hours").n_control + result.effect("hours").n_treatment == len(df) - 5


def _cluster_sums(rng: np.random.Generator, sizes: np.ndarray, reps: int, icc: float, shift: np.ndarray):
    """Per-cluster n, sum and sum of squares of normal data (total variance 1) for ``reps`` experiments."""
    m = sizes.astype(float)
    b = rng.normal(0, np.sqrt(icc), (reps, m.size)) + shift
    s = m * b + np.sqrt(m * (1 - icc)) * rng.standard_normal((reps, m.size))
    within = (1 - icc) * rng.chisquare(np.maximum(m - 1, 1), (reps, m.size)) * (m > 1)
    return np.broadcast_to(m, s.shape), s, within + s**2 / m


def _clustered_p(n, s, treated: np.ndarray, method: str = "CR2") -> np.ndarray:
    """The engine's clustered comparison, vectorized over experiments (rows)."""
    arms = []
    for mask in (~treated, treated):
        est, var = cluster.arm_cluster_variance(s[:, mask], n[:, mask], method=method)
        arms.append((n[:, mask].sum(1), est, var))
    factor = cluster.cr1_factor(treated.size, n.sum(1)) if method == "CR1" else 1.0
    mc, mt = (Moments.unadjusted(units, est, var * factor * units) for units, est, var in arms)
    return frequentist.compare(mc, mt, ALPHA, df=np.full(n.shape[0], treated.size - 2.0)).p_value


@pytest.mark.parametrize("clusters, seed", [(20, 101), (50, 102)])
def test_aa_false_positives_clustered_vs_naive(clusters: int, seed: int) -> None:
    """A/A, ICC 0.1, 5-39 units per cluster, 4,000 experiments: CR2 + t(G-2) rejects 4-6%.

    CR1 rejects more often with few clusters of unequal sizes (6.5-7% at 20 clusters over
    seeds 0-2, 5.2-5.9% at 50), and the unit-level Welch test ignores the clustering (> 15%).
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 40, clusters)
    treated = np.arange(clusters) % 2 == 1
    n, s, ss = _cluster_sums(rng, sizes, 4000, 0.1, np.zeros(clusters))
    rate = np.mean(_clustered_p(n, s, treated) < ALPHA)
    assert 0.04 <= rate <= 0.06, rate
    assert np.mean(_clustered_p(n, s, treated, "CR1") < ALPHA) > rate
    naive = frequentist.compare(
        mean_moments(n[:, ~treated].sum(1), s[:, ~treated].sum(1), ss[:, ~treated].sum(1)),
        mean_moments(n[:, treated].sum(1), s[:, treated].sum(1), ss[:, treated].sum(1)),
        ALPHA,
    ).p_value
    assert np.mean(naive < ALPHA) > 0.15


def test_icc_estimator_recovers_simulated_icc() -> None:
    """Averaged over 40 simulated designs of 40 clusters of 5-39 units, the ANOVA ICC is near the true 0.1."""
    rng = np.random.default_rng(103)
    sizes = rng.integers(5, 40, 40)
    n, s, ss = _cluster_sums(rng, sizes, 40, 0.1, np.zeros(40))
    group = np.arange(40) % 2
    estimates = [cluster.icc_anova(n[i], s[i], ss[i], group)[0] for i in range(40)]
    assert np.mean(estimates) == pytest.approx(0.1, abs=0.02)


def test_plan_with_design_effect_reaches_power_by_simulation() -> None:
    """Plan for MDE 0.2 (sd 1, ICC 0.05, 20 units per cluster): simulated power of the clustered test is about 80%.

    Reference: ``NormalIndPower().solve_power(effect_size=0.2, alpha=0.05, power=0.8)`` = 392.443
    units per arm without clustering; times the design effect 1.95 gives 765.3 -> 766.
    """
    from statsmodels.stats.power import NormalIndPower

    deff = power.design_effect(20, 0.05)
    assert deff == pytest.approx(1.95)
    n_arm = power.sample_size_per_arm(0.2, 1.0, deff=deff)
    assert n_arm == int(np.ceil(NormalIndPower().solve_power(effect_size=0.2, alpha=0.05, power=0.8) * deff))
    assert power.plan(0.2, 1.0, deff=deff).summary().count("design effect of 1.95") == 1
    per_arm = int(np.ceil(n_arm / 20))
    rng = np.random.default_rng(104)
    treated = np.arange(2 * per_arm) % 2 == 1
    n, s, _ = _cluster_sums(rng, np.full(2 * per_arm, 20), 3000, 0.05, 0.2 * treated)
    achieved = np.mean(_clustered_p(n, s, treated) < ALPHA)
    assert 0.76 <= achieved <= 0.84, achieved


def test_design_effect_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match=r"icc \(intra-cluster correlation\) must be in \[0, 1\]"):
        power.design_effect(10, 1.5)
    with pytest.raises(ValueError, match="deff"):
        power.sample_size_per_arm(0.1, 1.0, deff=0.5)
