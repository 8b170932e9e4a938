"""Synthetic control: weights against pysyncon, calibration of the placebo p-value, coverage, conditions, review."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from outcomes.experiment.quasi.analysis import has_interval
from outcomes.experiment.quasi.donors import donor_weights, fit_synthetic
from outcomes.experiment.quasi.panel import NO_INTERVAL, PLACEBO_IN_SPACE, QuasiInputError
from outcomes.experiment.quasi.synth import (
    INCOMPLETE_DONORS,
    POOR_PRE_FIT,
    TOO_FEW_DONORS,
    conformal_interval,
    rmspe_placebo,
    synthetic_control,
)
from outcomes.experiment.results import ACTIONS
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report import results as report_results
from outcomes.report.review import review

GOLDEN = Path(__file__).resolve().parent / "golden"

# Donor weights of u0 fitted on periods 0-19, from pysyncon 1.7.0 (Synth.fit with custom_V undoing its scaling):
# /work/refenv-synth/bin/python tests/golden/synth_pysyncon.py   (pysyncon only in that venv; see the script)
PYSYNCON_WEIGHTS = {
    "synth_inside": {"u1": 0.429033, "u11": 0.031245, "u12": 0.079755, "u2": 0.252918, "u3": 0.19106,
                     "u5": 0.011996, "u7": 0.003994},
    "synth_outside": {"u8": 1.0},
}


def _panel(wide: np.ndarray) -> pd.DataFrame:
    """Long frame (unit, period, y) from a periods x units array; column 0 is u0."""
    t, n = wide.shape
    return pd.DataFrame({"unit": np.repeat([f"u{i}" for i in range(n)], t), "period": np.tile(np.arange(t), n),
                         "y": wide.T.ravel()})


def _factor_panel(rng: np.random.Generator, *, units: int = 20, periods: int = 30, noise: float = 0.5) -> np.ndarray:
    """Exchangeable units: stationary common factors with random loadings plus noise (periods x units)."""
    factors = rng.normal(0, 1, (periods, 3))
    loadings = rng.uniform(0, 2, (units, 3))
    return 10 + factors @ loadings.T + rng.normal(0, noise, (periods, units))


@pytest.mark.parametrize("name", sorted(PYSYNCON_WEIGHTS))
def test_weights_match_pysyncon(name: str) -> None:
    wide = pd.read_csv(GOLDEN / f"{name}.csv").pivot(index="period", columns="unit", values="y")
    fit = fit_synthetic(wide, "u0", wide.index[:20])
    expected = pd.Series(PYSYNCON_WEIGHTS[name]).reindex(fit.weights.index, fill_value=0.0)
    np.testing.assert_allclose(fit.weights.to_numpy(), expected.to_numpy(), atol=1e-3)
    assert fit.weights.sum() == pytest.approx(1.0, abs=1e-12) and (fit.weights >= 0).all()


def test_an_exact_mix_is_recovered_and_weights_follow_the_donor_order() -> None:
    rng = np.random.default_rng(3)
    donors = rng.normal(0, 1, (12, 6)).cumsum(axis=0)
    w = donor_weights(donors @ np.array([0.6, 0, 0.4, 0, 0, 0]), donors)
    np.testing.assert_allclose(w, [0.6, 0, 0.4, 0, 0, 0], atol=1e-8)


def test_placebo_p_values_are_uniform_under_the_null() -> None:
    """500 panels without an effect: the placebo rank p-value, randomised within its step, is U(0, 1)."""
    rng = np.random.default_rng(2026)
    pre = pd.RangeIndex(12)
    ps = []
    for _ in range(500):
        wide = pd.DataFrame(_factor_panel(rng, units=20, periods=16), columns=[f"u{i}" for i in range(20)])
        check = rmspe_placebo(wide, "u0", fit_synthetic(wide, "u0", pre))
        ps.append(check.rank_p_value - rng.uniform() * check.min_p_value)
    assert stats.kstest(ps, "uniform").pvalue > 0.01


def test_conformal_interval_covers_a_planted_effect() -> None:
    """200 panels with a constant effect of 2 in the last 8 of 30 periods: the 95% interval covers it at about 95%."""
    rng = np.random.default_rng(11)
    post = np.arange(30) >= 22
    covered = []
    for _ in range(200):
        wide = _factor_panel(rng)
        y = wide[:, 0] + 2.0 * post
        donors = wide[:, 1:]
        gap = y - donors @ donor_weights(y[~post], donors[~post])
        low, high = conformal_interval(y, donors, post, float(gap[post].mean()), float(np.std(gap)), 0.05)
        covered.append(low <= 2.0 <= high)
    assert np.mean(covered) >= 0.9


def test_a_planted_effect_is_recovered_with_its_checks() -> None:
    rng = np.random.default_rng(5)
    wide = _factor_panel(rng, noise=0.3)
    wide[22:, 0] += 3.0
    r = synthetic_control(_panel(wide), unit="unit", period="period", outcome="y", treated_units=["u0"], start=22)
    e = r.estimate
    assert r.design == "synthetic_control" and r.design_name == "synthetic control"
    assert e.ci_low < 3.0 < e.ci_high and e.ci_low > 0 and e.p_value < 0.05
    assert abs(e.estimate - 3.0) < 1.0
    assert r.synthetic.weights.sum() == pytest.approx(1.0)
    assert list(r.synthetic.gaps["phase"]) == ["pre"] * 22 + ["post"] * 8
    (check,) = r.placebos
    assert check.kind == "in_space" and not check.flagged and check.rank_p_value == pytest.approx(1 / 20)
    assert not any(c.blocks for c in r.conditions)
    text = r.summary()
    assert "Synthetic control:" in text and "Pre-period fit (good)" in text and "post/pre RMSPE ratio" in text
    decision = r.to_initiative("one-site", direction="higher").decision
    assert decision.action == "ship"


def test_a_treated_unit_outside_the_donors_is_a_poor_fit_that_blocks() -> None:
    frame = pd.read_csv(GOLDEN / "synth_outside.csv")
    r = synthetic_control(frame, unit="unit", period="period", outcome="y", treated_units=["u0"], start=20)
    poor = [c for c in r.conditions if c.code == POOR_PRE_FIT]
    assert r.synthetic.quality == "poor" and poor and poor[0].blocks == "keep testing"
    assert "no mix of the donors resembles it" in poor[0].message
    assert r.to_initiative("x", direction="higher").decision.action == "keep testing"


def test_conditions_of_short_or_thin_panels() -> None:
    rng = np.random.default_rng(1)
    short = synthetic_control(_panel(_factor_panel(rng, periods=12)), unit="unit", period="period", outcome="y",
                              treated_units=["u0"], start=8)
    no_interval = [c for c in short.conditions if c.code == NO_INTERVAL]
    assert no_interval and "at least 20 periods" in no_interval[0].message and not has_interval(short.estimate)
    assert math.isfinite(short.estimate.estimate)
    thin = synthetic_control(_panel(_factor_panel(rng, units=2)), unit="unit", period="period", outcome="y",
                             treated_units=["u0"], start=22)
    assert thin.estimate is None and [c.code for c in thin.conditions] == [TOO_FEW_DONORS]
    gappy = _panel(_factor_panel(rng))
    gappy = gappy[~((gappy["unit"] == "u3") & (gappy["period"] == 4))]
    left_out = synthetic_control(gappy, unit="unit", period="period", outcome="y", treated_units=["u0"], start=22)
    assert "u3" not in left_out.synthetic.weights.index
    assert any(c.code == INCOMPLETE_DONORS and "u3" in c.message for c in left_out.conditions)


def test_a_treated_unit_that_does_not_stand_out_is_flagged() -> None:
    rng = np.random.default_rng(8)
    r = synthetic_control(_panel(_factor_panel(rng)), unit="unit", period="period", outcome="y",
                          treated_units=["u0"], start=22)
    (check,) = r.placebos
    assert check.flagged == (check.rank_p_value > 0.05)
    assert any(c.code == PLACEBO_IN_SPACE for c in r.conditions) == check.flagged


def test_more_than_one_treated_unit_is_refused() -> None:
    frame = _panel(_factor_panel(np.random.default_rng(0)))
    with pytest.raises(QuasiInputError, match="exactly one treated unit, got 2"):
        synthetic_control(frame, unit="unit", period="period", outcome="y", treated_units=["u0", "u1"], start=22)
    spec = {"id": "x", "design": "synthetic_control", "start_date": "22", "data": {"unit": "unit", "time": "period"},
            "metrics": [{"column": "y", "role": "primary"}]}
    for treated in (None, ["u0", "u1"]):
        with pytest.raises(ValidationError, match="needs exactly one unit in treated_units"):
            InitiativeSpec.model_validate({**spec, "treated_units": treated})


def test_review_of_a_users_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    wide = _factor_panel(rng, noise=0.3)
    wide[22:, 0] += 3.0
    frame = _panel(wide)
    frame["period"] = [f"{d:%Y-%m}" for d in pd.date_range("2023-01-01", periods=30, freq="MS")] * 20
    frame["guard"] = _panel(_factor_panel(rng, noise=0.3))["y"]  # a guardrail the change did not move
    frame.to_csv(tmp_path / "sites.csv", index=False)
    spec = InitiativeSpec.model_validate({
        "id": "one-site", "design": "synthetic_control", "start_date": "2024-11", "treated_units": ["u0"],
        "data": {"table": str(tmp_path / "sites.csv"), "unit": "unit", "time": "period"},
        "metrics": [{"column": "y", "role": "primary"}, {"column": "guard", "role": "guardrail"}],
    })
    r = review(spec)
    assert r.quasi.design == "synthetic_control" and r.result.design == "synthetic_control"
    assert r.result.decision.action == "ship", r.result.decision.reason
    assert [e.role for e in r.result.effects] == ["primary", "guardrail"]
    chart = r.time_chart().to_dict()
    assert len(chart["vconcat"]) == 3
    assert "Donor weights" in chart["vconcat"][2]["title"]
    assert "Pre-period fit" in r.design_text().data
    assert "not from a standard error" in r.planning_text().data
    entry = r.entry()
    report_results.check_rows("initiatives", [entry])
    assert entry["design"] == "synthetic_control"


@st.composite
def _cases(draw: st.DrawFn) -> tuple[pd.DataFrame, int]:
    n_units = draw(st.sampled_from([2, 3, 10, 30]))
    n_periods = draw(st.integers(2, 40))
    start = draw(st.integers(1, n_periods - 1))
    noise = draw(st.sampled_from([0.0, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    wide = _factor_panel(rng, units=n_units, periods=n_periods, noise=noise)
    return _panel(wide), start


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_never_raises_and_never_shows_a_degenerate_interval(case: tuple[pd.DataFrame, int]) -> None:
    frame, start = case
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "panel.csv"
        frame.to_csv(table, index=False)
        spec = InitiativeSpec.model_validate({
            "id": "prop", "design": "synthetic_control", "start_date": str(start), "treated_units": ["u0"],
            "data": {"table": str(table), "unit": "unit", "time": "period"},
            "metrics": [{"column": "y", "role": "primary"}]})
        r = review(spec)
    q = r.quasi
    assert r.result.decision.action in ACTIONS
    blocking = [c for c in q.conditions if c.blocks is not None]
    if q.estimate is None:
        assert blocking
        return
    assert math.isfinite(q.estimate.estimate)
    if has_interval(q.estimate):
        assert q.estimate.ci_low <= q.estimate.estimate <= q.estimate.ci_high
    else:
        assert blocking and r.result.decision.action == "keep testing"
