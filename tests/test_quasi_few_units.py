"""Quasi-experiments with few units or periods: no exception, no degenerate interval, inference valid there.

Also: periods as users have them (years, quarters, weeks, months, dates; integers or text
in YAML) and the initiative setting ``min_pre_periods``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from outcomes.experiment.quasi.analysis import difference_in_differences, has_interval
from outcomes.experiment.quasi.did import cluster_ols, did_2x2, did_twfe, event_study
from outcomes.experiment.quasi.panel import (
    NO_INTERVAL,
    PRE_TREND_NOT_CHECKED,
    TOO_FEW_PRE_PERIODS,
    QuasiInputError,
    prepare_panel,
)
from outcomes.experiment.quasi.randomization import randomization_test
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report.review import review


def yearly(n_units: int, n_years: int, treated: int, *, effect: float = 0.0, seed: int = 0,
           noise: float = 1.0) -> pd.DataFrame:
    """A unit x year panel with unit and year effects; the first ``treated`` units get ``effect`` from the middle year."""
    rng = np.random.default_rng(seed)
    years = 1925 + np.arange(n_years)
    df = pd.DataFrame({"unit": np.repeat([f"u{i}" for i in range(n_units)], n_years), "year": np.tile(years, n_units)})
    df["y"] = (np.repeat(rng.normal(0, 2, n_units), n_years) + np.tile(rng.normal(0, 1, n_years), n_units)
               + rng.normal(0, noise, len(df)))
    start = int(years[n_years // 2])
    df.loc[df["unit"].isin([f"u{i}" for i in range(treated)]) & (df["year"] >= start), "y"] += effect
    return df


def did(df: pd.DataFrame, treated: int, **kwargs: object):
    start = int(df["year"].min() + df["year"].nunique() // 2)
    return difference_in_differences(df, unit="unit", period="year", outcome="y",
                                     treated_units=[f"u{i}" for i in range(treated)], start=start,
                                     bootstrap_reps=199, **kwargs)


# ---------------------------------------------------------------- two units


def test_cluster_ols_with_no_residual_degrees_of_freedom_returns_nan_not_an_error() -> None:
    # Two units: the event study has as many parameters as rows for any number of periods.
    panel = prepare_panel(yearly(2, 6, 1), unit="unit", period="year", outcome="y", start=1928, treated_units=["u0"])
    study = event_study(panel)
    assert study.pretrend is None
    estimated = study.frame[study.frame["phase"] != "reference"]
    assert estimated["estimate"].notna().all() and estimated["se"].isna().all()
    fit = cluster_ols(np.ones((3, 1)), np.arange(3.0)[:, None], np.zeros((3, 1)), np.zeros(3, dtype=int))
    assert np.isnan(fit.cov).all()  # one cluster


def test_a_two_by_two_panel_gives_the_four_means_difference_without_a_fake_interval() -> None:
    frame = pd.DataFrame({"unit": ["a", "a", "b", "b"], "year": [1930, 1931, 1930, 1931], "y": [1.0, 4.0, 2.0, 3.5]})
    panel = prepare_panel(frame, unit="unit", period="year", outcome="y", start=1931, treated_units=["a"],
                          min_pre_periods=1)
    est, cells = did_2x2(panel)
    assert est.estimate == pytest.approx((4.0 - 1.0) - (3.5 - 2.0))
    assert math.isnan(est.se) and math.isnan(est.ci_low)
    assert len(cells) == 4


def test_one_treated_and_one_untreated_unit_never_show_a_zero_width_interval() -> None:
    df = yearly(2, 12, 1, effect=20.0, seed=4)
    twfe = did_twfe(prepare_panel(df, unit="unit", period="year", outcome="y", start=1931, treated_units=["u0"]))[0]
    assert math.isnan(twfe.se)  # the clustered standard error is 0 to rounding: not a standard error
    res = did(df, 1)
    e = res.estimate
    assert e is not None and abs(e.estimate - 20.0) < 5  # the estimate is always shown
    assert math.isnan(e.ci_low) and math.isnan(e.ci_high) and math.isnan(e.se)
    blocking = [c for c in res.conditions if c.code == NO_INTERVAL]
    assert blocking and blocking[0].blocks == "keep testing"
    assert "only 2 ways to choose the treated units" in blocking[0].message
    assert res.to_initiative("x", direction="higher").decision.action == "keep testing"
    text = res.summary()
    assert "+20" in text or "+19" in text or "+21" in text
    assert "no interval" in text


@pytest.mark.parametrize(("n_units", "n_years"), [(2, 2), (2, 3), (2, 60), (3, 2), (3, 7), (4, 2)])
def test_tiny_panels_never_raise_and_never_show_a_degenerate_interval(n_units: int, n_years: int) -> None:
    for treated in range(1, n_units):
        res = did(yearly(n_units, n_years, treated, effect=1.0, seed=n_units * n_years), treated, min_pre_periods=1)
        e = res.estimate
        assert e is not None and math.isfinite(e.estimate)
        if not has_interval(e):
            assert math.isnan(e.ci_low) and any(c.blocks for c in res.conditions)
        for other in res.other_estimates.values():
            assert has_interval(other) or math.isnan(other.ci_low)


# ---------------------------------------------------------------- one pre-period, the setting


def test_a_one_pre_period_two_by_two_gives_its_estimate_and_says_trends_cannot_be_checked() -> None:
    df = yearly(40, 2, 20, effect=3.0, seed=8, noise=0.5)
    blocked = did(df, 20)
    assert blocked.estimate is None and TOO_FEW_PRE_PERIODS in {c.code for c in blocked.conditions}
    res = did(df, 20, min_pre_periods=1)
    assert res.estimate is not None and res.estimate.ci_low < 3.0 < res.estimate.ci_high
    cond = next(c for c in res.conditions if c.code == PRE_TREND_NOT_CHECKED)
    assert cond.blocks is None and "only one period before the start" in cond.message
    assert res.to_initiative("x", direction="higher").decision.action == "ship"


def test_min_pre_periods_is_an_initiative_setting(tmp_path: Path) -> None:
    table = tmp_path / "panel.csv"
    yearly(40, 2, 20, effect=3.0, seed=8, noise=0.5).to_csv(table, index=False)
    spec = {"id": "t", "design": "did", "start_date": 1926, "treated_units": [f"u{i}" for i in range(20)],
            "data": {"table": str(table), "unit": "unit", "time": "year"},
            "metrics": [{"column": "y", "role": "primary"}]}
    assert review(InitiativeSpec.model_validate(spec)).quasi.estimate is None
    one = review(InitiativeSpec.model_validate({**spec, "min_pre_periods": 1}))
    assert one.quasi.estimate is not None and one.result.decision.action == "ship"
    with pytest.raises(ValidationError, match="min_pre_periods"):
        InitiativeSpec.model_validate({**spec, "min_pre_periods": 0})


# ---------------------------------------------------------------- randomization inference


def test_randomization_p_values_are_valid_under_no_effect() -> None:
    """300 seeded panels of 4 to 8 units (half treated), no effect: the test rejects as often as it should.

    Under no effect every assignment is equally likely to be the real one, so the chance that
    the p-value is at most ``a`` is the share of assignments whose own p-value is at most
    ``a``: at most ``a`` (exact), lower when few assignments or ties (a treated set and its
    complement give opposite estimates) make the p-values coarse.
    """
    ps, expected = [], {a: [] for a in (0.05, 0.1, 0.2, 0.5)}
    for seed in range(300):
        n_units = 4 + seed % 5
        df = yearly(n_units, 8, n_units // 2, seed=1000 + seed)
        panel = prepare_panel(df, unit="unit", period="year", outcome="y", start=1929,
                              treated_units=[f"u{i}" for i in range(n_units // 2)])
        test = randomization_test(panel)
        assert test.exact and test.n_assignments == math.comb(n_units, n_units // 2)
        ps.append(test.p_value())
        size = np.abs(test.placebo)
        own = np.mean(size[None, :] >= size[:, None] * (1 - 1e-9), axis=1)  # each assignment's p-value
        for a in expected:
            expected[a].append(np.mean(own <= a))
    ps = np.array(ps)
    for a, chances in expected.items():
        rate = float(np.mean(chances))
        assert rate <= a + 1e-12
        assert abs(np.mean(ps <= a) - rate) < 3 * math.sqrt(max(rate, 0.01) * (1 - rate) / 300) + 1e-9
    assert abs(np.mean(ps <= 0.5) - 0.5) < 0.1  # roughly uniform
    assert 0.45 < ps.mean() < 0.62


def test_randomization_interval_recovers_a_planted_effect() -> None:
    covered, rejected = 0, 0
    for seed in range(100):
        df = yearly(8, 10, 4, effect=2.0, seed=2000 + seed, noise=0.5)
        panel = prepare_panel(df, unit="unit", period="year", outcome="y", start=1930,
                              treated_units=["u0", "u1", "u2", "u3"])
        test = randomization_test(panel)
        low, high = test.interval(0.05)
        assert high > low
        covered += low <= 2.0 <= high
        rejected += test.p_value() <= 0.05
        assert test.p_value(low - 1e-6) <= 0.05 < test.p_value((low + high) / 2)
    assert covered >= 90 and rejected >= 95


def test_one_treated_unit_among_many_gets_a_randomization_interval() -> None:
    res = did(yearly(30, 10, 1, effect=6.0, seed=5, noise=0.5), 1)
    e = res.estimate
    assert has_interval(e) and e.ci_low < 6.0 < e.ci_high and "randomization" in e.method
    assert res.randomization is not None and res.randomization.n_assignments == 30
    assert not any(c.code == NO_INTERVAL for c in res.conditions)


# ---------------------------------------------------------------- periods as users have them


def _spec(table: Path, start: object, **extra: object) -> InitiativeSpec:
    return InitiativeSpec.model_validate({
        "id": "t", "design": "did", "start_date": start, "treated_units": ["u0", "u1", "u2"],
        "data": {"table": str(table), "unit": "unit", "time": "period"},
        "metrics": [{"column": "y", "role": "primary"}], **extra})


@pytest.mark.parametrize(
    ("periods", "starts"),
    [
        ([1928, 1929, 1930, 1931, 1932, 1933], [1931, "1931"]),
        (["1928", "1929", "1930", "1931", "1932", "1933"], [1931, "1931"]),
        (["2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4"], ["2025Q2", "2025-04-01"]),
        (["2025-W01", "2025-W02", "2025-W03", "2025-W04", "2025-W05", "2025-W06"], ["2025-W04", "2025-01-20"]),
        (["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"], ["2025-04", "2025-04-01"]),
        (["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10", "2025-01-11"], ["2025-01-09"]),
    ],
)
def test_periods_as_users_have_them(tmp_path: Path, periods: list, starts: list) -> None:
    df = yearly(8, 6, 3, effect=2.0, seed=3, noise=0.3)
    df["period"] = np.tile(np.array(periods, dtype=object), 8)
    table = tmp_path / "panel.csv"
    df.to_csv(table, index=False)
    estimates = []
    for start in starts:
        q = review(_spec(table, start)).quasi
        assert q.n_pre == 3 and q.n_post == 3
        estimates.append(q.estimate.estimate)
    assert estimates == pytest.approx([estimates[0]] * len(estimates))


def test_a_yaml_year_may_be_written_with_or_without_quotes(tmp_path: Path) -> None:
    from outcomes.params import load

    for start in ("1931", '"1931"'):
        path = tmp_path / "t.yaml"
        path.write_text(f"id: t\ndesign: did\nstart_date: {start}\ndata: {{unit: u}}\nmetrics: [{{column: y, role: primary}}]\n",
                        encoding="utf-8")
        assert load(path, InitiativeSpec).start_date == "1931"
    with pytest.raises(ValidationError, match="start_date"):
        InitiativeSpec.model_validate({"id": "t", "design": "did", "start_date": True, "data": {"unit": "u"},
                                       "metrics": [{"column": "y", "role": "primary"}]})


@pytest.mark.parametrize("start", ["1931-06-01", "2025Q1", "soon"])
def test_a_wrong_period_gets_one_clear_message(start: str) -> None:
    with pytest.raises(QuasiInputError, match=r"period column 'year' and start .* cannot be read as periods of one "
                                              r"kind .*Give period numbers or years \(1931\), quarters \(2025Q1\)"):
        difference_in_differences(yearly(4, 6, 2), unit="unit", period="year", outcome="y", treated_units=["u0"],
                                  start=start)
