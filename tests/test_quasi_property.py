"""Every quasi design, from a user's table through the entry ``outcomes analyze`` uses, never raises.

For 2, 3, 10 and 50 units and 2 to 60 periods (years, quarters, weeks, months or dates),
any treated set, any start and either design: :func:`outcomes.report.review.review`
returns a result whose every interval is finite with a positive width, or absent with a
blocking condition that says why.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from outcomes.experiment.quasi.analysis import has_interval
from outcomes.experiment.results import ACTIONS
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report.review import review

KINDS = {
    "year": lambda n: (1900 + np.arange(n)).tolist(),
    "quarter": lambda n: [str(p) for p in pd.period_range("2010Q1", periods=n, freq="Q")],
    "week": lambda n: [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"
                       for d in pd.date_range("2024-01-01", periods=n, freq="W-MON")],
    "month": lambda n: [f"{d:%Y-%m}" for d in pd.date_range("2020-01-01", periods=n, freq="MS")],
    "date": lambda n: [f"{d:%Y-%m-%d}" for d in pd.date_range("2020-01-01", periods=n, freq="D")],
}


@st.composite
def panels(draw: st.DrawFn) -> tuple[pd.DataFrame, dict]:
    n_units = draw(st.sampled_from([2, 3, 10, 50]))
    n_periods = draw(st.integers(2, 60))
    design = draw(st.sampled_from(["did", "its"]))
    kind = draw(st.sampled_from(sorted(KINDS)))
    start = draw(st.integers(1, n_periods - 1))
    n_treated = draw(st.integers(1, n_units - 1)) if design == "did" else n_units
    effect = draw(st.sampled_from([0.0, 2.0]))
    noise = draw(st.sampled_from([0.0, 1.0]))  # 0: a panel that fits exactly
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    periods = KINDS[kind](n_periods)
    frame = pd.DataFrame({"unit": np.repeat([f"u{i}" for i in range(n_units)], n_periods),
                          "period": np.tile(np.array(periods, dtype=object), n_units)})
    position = np.tile(np.arange(n_periods), n_units)
    treated = frame["unit"].isin([f"u{i}" for i in range(n_treated)]).to_numpy()
    frame["y"] = (np.repeat(rng.normal(0, 1, n_units), n_periods) + 0.1 * position
                  + noise * rng.normal(0, 1, len(frame)) + effect * (treated & (position >= start)))
    spec = {"id": "prop", "design": design, "start_date": periods[start],
            "treated_units": [f"u{i}" for i in range(n_treated)] if design == "did" else None,
            "data": {"unit": "unit", "time": "period"}, "metrics": [{"column": "y", "role": "primary"}],
            "min_pre_periods": draw(st.sampled_from([None, 1, 2]))}
    return frame, spec


#: Found by this test: an interrupted time series of one period before the start and three after
#: has as many periods as terms (level, trend, level and slope changes); it must be blocked, not raise.
AS_MANY_PERIODS_AS_TERMS = (
    pd.DataFrame({
        "unit": ["u0"] * 4 + ["u1"] * 4,
        "period": [f"2020-01-0{d}" for d in range(1, 5)] * 2,
        "y": [0.12573 + 0.1 * t for t in range(4)] + [-0.132105 + 0.1 * t for t in range(4)],
    }),
    {"id": "prop", "design": "its", "start_date": "2020-01-02", "treated_units": None,
     "data": {"unit": "unit", "time": "period"}, "metrics": [{"column": "y", "role": "primary"}], "min_pre_periods": 1},
)


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(panels())
@example(AS_MANY_PERIODS_AS_TERMS)
def test_quasi_designs_never_raise_and_never_show_a_degenerate_interval(case: tuple[pd.DataFrame, dict]) -> None:
    frame, raw = case
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "panel.csv"
        frame.to_csv(table, index=False)
        spec = InitiativeSpec.model_validate({**raw, "data": {**raw["data"], "table": str(table)}})
        r = review(spec)
    q = r.quasi
    blocking = [c for c in q.conditions if c.blocks is not None]
    assert r.result.decision.action in ACTIONS
    if q.estimate is None:
        assert blocking and all(c.message for c in blocking)
        return
    assert math.isfinite(q.estimate.estimate)  # the point estimate is always shown
    if has_interval(q.estimate):
        assert q.estimate.ci_low <= q.estimate.estimate <= q.estimate.ci_high
    else:
        assert math.isnan(q.estimate.ci_low) and math.isnan(q.estimate.ci_high)
        assert blocking and r.result.decision.action == "keep testing"
    for other in q.other_estimates.values():
        assert has_interval(other) or (math.isnan(other.ci_low) and math.isnan(other.ci_high))
    if q.event_study is not None:
        rows = q.event_study[q.event_study["phase"] != "reference"]
        shown = rows["ci_low"].notna()
        assert (rows.loc[shown, "ci_high"] > rows.loc[shown, "ci_low"]).all()
        assert rows.loc[~shown, "ci_high"].isna().all()
    effect = r.result.effects[0]
    assert effect.estimable == has_interval(q.estimate)
