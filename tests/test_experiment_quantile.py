"""Quantile metrics (a P90 response time): reference implementations, simulation, planted effects.

References:

* the order statistics equal DuckDB's ``quantile_cont`` (the warehouse's percentile), run as
  ``duckdb.sql("SELECT quantile_cont(x, [p, p_low, p_high]) FROM frame")``;
* the standard error equals a nonparametric bootstrap of the P90 difference (2,000
  resamples of each arm, ``np.quantile`` of each resample), and, for exponential values,
  the asymptotic ``sqrt(p (1 - p) / n) / f(q)`` with ``f(q) = 1 - p`` at ``p = 0.9``.

Simulations (seeded, vectorized over runs): A/A false positives at 5%, and power on a
planted effect that moves only the slowest 20% of values.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from outcomes.errors import ParamsError
from outcomes.experiment import InitiativeSpec, analyze_table
from outcomes.experiment.aggregates import _check_randomized
from outcomes.experiment.randomized.frequentist import compare
from outcomes.experiment.randomized.quantile import quantile_moments, quantile_sums, rank_bandwidth
from outcomes.experiment.statistics import Moments, mean_moments

SEED = 90


def _arms(x: np.ndarray, p: float) -> Moments:
    """Moments of one arm per row of ``x`` (runs x units), as the engine builds them."""
    runs, n = x.shape
    low, high = rank_bandwidth(n, p)
    q = np.quantile(x, [p, float(low), float(high)], axis=1)
    return quantile_moments(np.full(runs, n), q[0], q[1], q[2], np.full(runs, p))


def _means(x: np.ndarray) -> Moments:
    runs, n = x.shape
    return mean_moments(np.full(runs, n), x.sum(axis=1), (x * x).sum(axis=1))


def _tail_cut(values: np.ndarray, cut: float, hours: float) -> np.ndarray:
    """The planted effect: values above ``cut`` (the slowest 20%) come ``hours`` sooner, the rest unchanged."""
    return np.where(values > cut, values - hours, values)


SIGMA = 1.5  # response hours ~ lognormal(1, 1.5): a long tail
CUT = float(np.exp(1 + SIGMA * 0.8416212335729143))  # the 80th percentile


def test_order_statistics_equal_duckdb_quantile_cont():
    x = np.random.default_rng(SEED).lognormal(1, SIGMA, 1234)
    row = quantile_sums(x, 0.9)
    low, high = rank_bandwidth(x.size, 0.9)
    frame = pd.DataFrame({"x": x})  # noqa: F841 (read by duckdb by name)
    ref = duckdb.sql(f"SELECT quantile_cont(x, [0.9, {float(low)!r}, {float(high)!r}]) FROM frame").fetchone()[0]
    assert row["n"] == 1234
    np.testing.assert_allclose([row["quantile"], row["quantile_low"], row["quantile_high"]], ref, rtol=1e-12)


def test_standard_error_equals_a_bootstrap_and_the_asymptotic_formula():
    rng = np.random.default_rng(SEED)
    c, t = rng.lognormal(1, SIGMA, 3000), _tail_cut(rng.lognormal(1, SIGMA, 3000), CUT, 4.0)
    comp = compare(_arms(c[None], 0.9), _arms(t[None], 0.9))
    draws = np.quantile(t[rng.integers(0, t.size, (2000, t.size))], 0.9, axis=1) - np.quantile(
        c[rng.integers(0, c.size, (2000, c.size))], 0.9, axis=1
    )
    assert comp.se_abs[0] == pytest.approx(draws.std(ddof=1), rel=0.12)
    assert comp.estimate_abs[0] == pytest.approx(np.quantile(t, 0.9) - np.quantile(c, 0.9), rel=1e-12)
    # exponential(1): q90 = ln 10, density 0.1 there, so the arm's SE is sqrt(0.09 / n) / 0.1
    e = rng.exponential(1.0, 20_000)
    m = _arms(e[None], 0.9)
    assert float(np.sqrt(m.variance[0] / m.n[0])) == pytest.approx(3 / np.sqrt(20_000), rel=0.1)


def test_aa_false_positive_rate_is_five_percent():
    rng = np.random.default_rng(SEED)
    runs, n = 4000, 500
    p = compare(_arms(rng.lognormal(1, SIGMA, (runs, n)), 0.9), _arms(rng.lognormal(1, SIGMA, (runs, n)), 0.9)).p_value
    # 4,000 runs: the rate's standard error is 0.34 points
    assert 0.04 <= float(np.mean(p < 0.05)) <= 0.06


def test_tail_only_effect_is_found_by_p90_and_missed_by_the_mean():
    rng = np.random.default_rng(SEED + 1)
    runs, n = 1000, 1000
    c = rng.lognormal(1, SIGMA, (runs, n))
    t = _tail_cut(rng.lognormal(1, SIGMA, (runs, n)), CUT, 7.0)
    power_p90 = float(np.mean(compare(_arms(c, 0.9), _arms(t, 0.9)).p_value < 0.05))
    power_mean = float(np.mean(compare(_means(c), _means(t)).p_value < 0.05))
    assert power_p90 >= 0.80 and power_mean < 0.50, (power_p90, power_mean)


def tickets(n: int = 6000, seed: int = SEED) -> pd.DataFrame:
    """One row per ticket; the new triage rule answers the slowest 20% of tickets 7 hours sooner."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.uniform(size=n) < 0.5, "triage", "control")
    hours = rng.lognormal(1, SIGMA, n)
    hours = np.where(arm == "triage", _tail_cut(hours, CUT, 7.0), hours)
    return pd.DataFrame({"ticket_id": np.arange(n), "arm": arm, "response_hours": hours,
                         "team": rng.choice(["network", "desktop"], n)})


TRIAGE = {
    "id": "triage",
    "data": {"unit": "ticket_id", "arm": "arm", "control": "control", "segments": ["team"]},
    "metrics": [
        {"column": "response_hours", "kind": "quantile", "quantile": 0.9, "role": "primary", "direction": "lower",
         "unit": "hours"},
        {"column": "response_hours", "kind": "mean", "role": "secondary", "direction": "lower", "unit": "hours"},
    ],
}


def test_planted_tail_effect_is_recovered_by_analyze_table():
    # the true P90 change, from two million draws of each arm
    rng = np.random.default_rng(1)
    big = rng.lognormal(1, SIGMA, 2_000_000)
    truth = np.quantile(_tail_cut(big, CUT, 7.0), 0.9) - np.quantile(big, 0.9)
    result = analyze_table(tickets(), InitiativeSpec.model_validate(TRIAGE))
    p90 = next(e for e in result.effects if e.metric == "response_hours_p90")
    assert p90.method == "quantile-order-statistics" and p90.kind == "quantile"
    assert p90.ci_low < truth < p90.ci_high and p90.ci_high < 0
    assert result.decision.action == "ship"
    assert {e.segment for e in result.segment_effects if e.metric == "response_hours_p90"} == {
        "team=network", "team=desktop"
    }
    assert any("order-statistic" in note for note in result.notes)


@pytest.mark.parametrize(
    "metric, message",
    [
        ({"column": "response_hours", "kind": "quantile"}, "needs 'column' .* and 'quantile' \\(0.9 for P90\\)"),
        ({"column": "response_hours", "quantile": 0.9}, "'quantile' is for quantile metrics; this metric is a mean"),
        ({"column": "response_hours", "kind": "quantile", "quantile": 0.9, "pre": "before"}, "takes no 'pre'"),
    ],
)
def test_spec_errors_name_the_rule_and_the_fix(metric, message):
    with pytest.raises(ValueError, match=message):
        InitiativeSpec.model_validate({**TRIAGE, "metrics": [{**metric, "role": "primary"}]})


def test_warehouse_initiative_refuses_a_quantile_metric():
    spec = InitiativeSpec.model_validate(
        {"id": "wh", "data": {"unit": "customer", "arm": "arm", "control": "control"},
         "metrics": [{"column": "first_response_hours", "kind": "quantile", "quantile": 0.9, "role": "primary"}]}
    )
    with pytest.raises(ParamsError, match="need one value per unit.*give data.table"):
        _check_randomized(spec)
