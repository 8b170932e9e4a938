"""Percentile metrics of cluster-randomized initiatives: the cluster-robust quantile interval.

Checked three ways: against a reference (a cluster bootstrap of the P90 difference, and the
unit-level interval when every cluster holds one unit); by seeded, vectorized A/A
simulations (the cluster-robust test holds its level where the unit-level one does not);
and on a planted tail effect in a generated queue table (:func:`analyze_table`). The demo
company's planted pilot is checked in ``tests/test_demo_priority_routing.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from outcomes.experiment.randomized.analysis import aggregate_table, analyze_table
from outcomes.experiment.randomized.cluster import arm_cluster_variance
from outcomes.experiment.randomized.cluster_quantile import cluster_quantile_variance, quantile_cluster_sums
from outcomes.experiment.randomized.quantile import quantile_moments, rank_bandwidth
from outcomes.experiment.spec import InitiativeSpec

P = 0.9


def _queues(clusters: int, seed: int, icc: float = 0.05, tail_cut: float = 0.0) -> pd.DataFrame:
    """Tickets in ``clusters`` queues of 20-79 tickets, lognormal hours with a queue effect; half the queues new.

    ``tail_cut`` answers tickets slower than the control P80 that share of their wait beyond it sooner.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20, 80, clusters)
    q = np.repeat(np.arange(clusters), sizes)
    arm = np.where(np.arange(clusters) % 2 == 0, "old", "new")[q]
    hours = np.exp(1.0 + rng.normal(0, np.sqrt(icc), clusters)[q] + rng.normal(0, np.sqrt(1 - icc), q.size))
    threshold = np.exp(1.0 + stats.norm.ppf(0.8))
    cut = (arm == "new") & (hours > threshold)
    hours = np.where(cut, threshold + (hours - threshold) * (1 - tail_cut), hours)
    return pd.DataFrame({"queue": [f"q{i:02d}" for i in q], "arm": arm, "hours": hours})


def _spec(cluster: str | None = "queue") -> InitiativeSpec:
    return InitiativeSpec.model_validate({
        "id": "routing-test",
        "data": {"table": "tickets.csv", "unit": None, "arm": "arm", "control": "old", "cluster": cluster},
        "metrics": [{"column": "hours", "kind": "quantile", "quantile": P, "role": "primary", "direction": "lower"}],
        "interval": "fixed",
    })


def test_per_cluster_counts_below_the_arm_quantile() -> None:
    """Hand-made: one arm, two clusters; the P50 of 1..5 is 3, so 2 of cluster a and 1 of cluster b are at or below it."""
    values = pd.Series([1.0, 3.0, 5.0, 2.0, 4.0])
    arm = pd.Series(["x"] * 5, name="arm")
    out = quantile_cluster_sums(values, [arm], pd.Series(["a", "a", "a", "b", "b"]), 0.5)
    assert out[["cluster", "n", "sum", "sum_squares"]].values.tolist() == [["a", 3.0, 2.0, 2.0], ["b", 2.0, 1.0, 1.0]]
    per_cluster = aggregate_table(_queues(10, seed=1), _spec(), by_cluster=True)
    assert set(per_cluster["metric"]) == {"hours_p90"} and per_cluster["cluster"].nunique() == 10


def test_one_unit_per_cluster_gives_the_unit_level_interval() -> None:
    """With every ticket its own cluster, CR2's share variance is p(1-p)/(n-1): the interval is the unit-level one."""
    df = _queues(40, seed=2, icc=0.0)
    df["queue"] = np.arange(len(df)).astype(str)
    clustered = analyze_table(df, _spec()).effect("hours_p90")
    unit = analyze_table(df, _spec(None)).effect("hours_p90")
    assert clustered.estimate_abs == pytest.approx(unit.estimate_abs)
    assert clustered.se_abs == pytest.approx(unit.se_abs, rel=0.01)


def test_standard_error_matches_a_cluster_bootstrap() -> None:
    """Within 20% of 2,000 resamples of whole queues per arm (seed 3), where the unit-level error is far smaller."""
    df = _queues(40, seed=3, icc=0.08)
    e = analyze_table(df, _spec()).effect("hours_p90")
    rng = np.random.default_rng(4)
    by_arm = {a: [g["hours"].to_numpy() for _, g in d.groupby("queue")] for a, d in df.groupby("arm")}
    diffs = []
    for _ in range(2_000):
        q = {a: np.quantile(np.concatenate([gs[i] for i in rng.integers(0, len(gs), len(gs))]), P) for a, gs in by_arm.items()}
        diffs.append(q["new"] - q["old"])
    boot = float(np.std(diffs, ddof=1))
    assert e.se_abs == pytest.approx(boot, rel=0.20)
    assert analyze_table(df, _spec(None)).effect("hours_p90").se_abs < 0.8 * boot


def _aa_rejections(clusters: int, reps: int, seed: int, icc: float) -> tuple[float, float]:
    """Share of A/A tests rejected at 5% by the cluster-robust (CR2, t with G-2) and the unit-level P90 test."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20, 80, clusters)
    q = np.repeat(np.arange(clusters), sizes)
    y = np.exp(rng.normal(0, np.sqrt(icc), (reps, clusters))[:, q] + rng.normal(0, np.sqrt(1 - icc), (reps, q.size)))
    treated = np.arange(clusters) % 2 == 1
    arms = []
    for mask in (~treated, treated):
        cols = np.isin(q, np.flatnonzero(mask))
        x, n = y[:, cols], cols.sum()
        low, high = rank_bandwidth(n, P)
        quant, q_low, q_high = np.quantile(x, [P, float(low), float(high)], axis=1)
        unit_var = quantile_moments(np.full(reps, n), quant, q_low, q_high, np.full(reps, P)).variance
        starts = np.concatenate([[0], np.cumsum(sizes[mask])[:-1]])
        below = np.add.reduceat((x <= quant[:, None]).astype(float), starts, axis=1)
        _, share_var = arm_cluster_variance(below, np.broadcast_to(sizes[mask].astype(float), below.shape), method="CR2")
        arms.append((quant, cluster_quantile_variance(share_var, unit_var, P), unit_var / n))
    (qc, vc, uc), (qt, vt, ut) = arms
    crit = stats.t.ppf(0.975, clusters - 2)
    clustered = np.abs(qt - qc) / np.sqrt(vc + vt) > crit
    naive = np.abs(qt - qc) / np.sqrt(uc + ut) > stats.norm.ppf(0.975)
    return float(clustered.mean()), float(naive.mean())


@pytest.mark.parametrize("clusters, seed", [(20, 11), (40, 12)])
def test_aa_false_positives_clustered_vs_unit_level(clusters: int, seed: int) -> None:
    """2,000 A/A tests, ICC 0.05 on the log scale, 20-79 tickets per queue: CR2 holds about 5%, units reject far more."""
    clustered, naive = _aa_rejections(clusters, 2_000, seed, icc=0.05)
    assert 0.025 <= clustered <= 0.08
    assert naive > 0.12


def test_planted_tail_effect_is_found_and_the_mean_is_weaker() -> None:
    """Queues on the new process answer the slowest 20% sooner: the P90 interval covers the true change."""
    df = _queues(40, seed=5, icc=0.03, tail_cut=0.6)
    # both potential outcomes of every ticket: the same draws without the change, and with it everywhere
    untreated = _queues(40, seed=5, icc=0.03)["hours"].to_numpy()
    threshold = np.exp(1.0 + stats.norm.ppf(0.8))
    treated = np.where(untreated > threshold, threshold + (untreated - threshold) * 0.4, untreated)
    truth = np.quantile(treated, P) - np.quantile(untreated, P)
    spec = _spec().model_copy(update={"metrics": [
        *_spec().metrics, _spec().metrics[0].model_copy(update={"kind": "mean", "quantile": None, "role": "secondary"})
    ]})
    result = analyze_table(df, spec)
    p90, mean = result.effect("hours_p90"), result.effect("hours")
    assert p90.method == "cluster-robust-quantile" and p90.p_value < 0.05
    assert p90.ci_low < truth < p90.ci_high
    assert abs(p90.estimate_abs / p90.se_abs) > abs(mean.estimate_abs / mean.se_abs)


def test_sample_ratio_check_counts_queues_not_tickets() -> None:
    """Whole queues were assigned: 20 and 20 queues pass however unequal their tickets; 5 and 35 queues are flagged."""
    df = _queues(40, seed=6)
    big = df["arm"] == "new"
    df = pd.concat([df, df[big], df[big]], ignore_index=True)  # the new queues hold three times the tickets
    assert not analyze_table(df, _spec()).srm_flag
    assert analyze_table(df, _spec(None)).srm_flag  # as a ticket-level test the same split is broken
    queue_no = df["queue"].str[1:].astype(int)
    skewed = df.assign(arm=np.where(queue_no < 5, "old", "new"))
    assert analyze_table(skewed, _spec()).srm_flag
