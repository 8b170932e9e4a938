"""The per-segment path computed at once equals the same checks run one segment at a time.

The references are the per-segment computations the breakdown used before it was
vectorized: ``scipy.stats.chisquare(observed, expected)`` once per segment, Holm by
``statsmodels.stats.multitest.multipletests(p, method="holm")``, a Welch test by
``scipy.stats.ttest_ind_from_stats(..., equal_var=False)`` once per cell, and each
:class:`MetricEffect` built with its keyword ``__init__`` and its conditions from
``_cell_conditions``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from outcomes.experiment import InitiativeSpec, analyze_aggregates
from outcomes.experiment.randomized.analysis import _cell_conditions
from outcomes.experiment.randomized.srm import MIN_EXPECTED, chisquare_rows, segment_splits
from outcomes.experiment.results import MetricEffect

SEED = 20261206


def random_breakdown(segments: int, seed: int = SEED) -> pd.DataFrame:
    """Sums of a mean and a proportion metric per arm x segment, a few segments tiny or constant."""
    rng = np.random.default_rng(seed)
    rows = []
    for metric in ("spend", "converted"):
        for arm, shift in (("control", 0.0), ("portal", 0.05)):
            n = rng.integers(0, 400, segments + 1).astype(float)
            n[0] = 50_000.0
            n[1:7] = [0.0, 1.0, 3.0, 12.0, 40.0, 200.0]  # empty, single, tiny segments
            if metric == "spend":
                s = rng.normal((10 + shift) * n, 3 * np.sqrt(n))
                ss = s * s / np.maximum(n, 1) + 9.0 * rng.chisquare(np.maximum(n - 1, 1)) * (n > 1)
                ss[6], s[6] = 4.0 * n[6], 2.0 * n[6]  # constant values: zero variance
            else:
                s = rng.binomial(n.astype(int), 0.3 + shift).astype(float)
                ss = s
            labels = ["all", *(f"region=r{k}" for k in range(segments))]
            rows.append(pd.DataFrame({"metric": metric, "arm": arm, "segment": labels, "n": n, "sum": s, "sum_squares": ss}))
    return pd.concat(rows, ignore_index=True)


SPEC = InitiativeSpec.model_validate(
    {
        "id": "breakdown",
        "data": {"unit": "unit", "arm": "arm", "control": "control"},
        "metrics": [
            {"column": "spend", "role": "primary"},
            {"column": "converted", "kind": "proportion", "role": "guardrail"},
        ],
    }
)


def test_chisquare_rows_equals_scipy_chisquare_row_by_row():
    rng = np.random.default_rng(SEED)
    observed = rng.integers(0, 300, (500, 3)).astype(float)
    weights = np.array([0.5, 0.3, 0.2])
    p = chisquare_rows(observed, weights)
    for row, got in zip(observed, p):
        expected = row.sum() * weights
        if expected.min() < MIN_EXPECTED:
            assert np.isnan(got)
        else:
            assert got == pytest.approx(stats.chisquare(row, expected).pvalue, rel=1e-12, abs=1e-300)


def test_segment_splits_equal_the_per_segment_loop():
    agg = random_breakdown(300)
    units = agg[(agg["metric"] == "spend") & (agg["segment"] != "all")][["segment", "arm", "n"]]
    splits, _ = segment_splits(units, ["control", "portal"], {"control": 6, "portal": 4})
    raw = []
    for x in splits:
        observed = np.array([x.units["control"], x.units["portal"]], dtype=float)
        expected = observed.sum() * np.array([0.6, 0.4])
        raw.append(stats.chisquare(observed, expected).pvalue if expected.min() >= MIN_EXPECTED else np.nan)
    raw = np.array(raw)
    ok = np.isfinite(raw)
    np.testing.assert_allclose([x.p_value for x in splits], raw, rtol=1e-12, equal_nan=True)
    holm = np.full(raw.size, np.nan)
    holm[ok] = multipletests(raw[ok], method="holm")[1]
    np.testing.assert_allclose([x.p_value_adjusted for x in splits], holm, rtol=1e-12, equal_nan=True)
    assert [x.flagged for x in splits] == (np.nan_to_num(holm, nan=1.0) < 0.001).tolist()


def test_segment_effects_equal_per_cell_welch_and_keyword_built_effects():
    agg = random_breakdown(300)
    result = analyze_aggregates(agg, SPEC, units={"control": 50_000, "portal": 50_000})
    effects = [*result.effects, *result.segment_effects]
    assert len(effects) == 2 * 301
    by_id = {m.id: m for m in SPEC.metrics}
    cells = agg.set_index(["metric", "segment", "arm"])
    checked = 0
    for e in effects:
        m = by_id[e.metric]
        c, t = cells.loc[(e.metric, e.segment, "control")], cells.loc[(e.metric, e.segment, "portal")]
        conditions = _cell_conditions(
            m, "portal", "control", e.n_control, e.n_treatment, e.se_abs, e.control_mean, False,
            e.variance_reduction, SPEC.min_units,
        )
        rebuilt = MetricEffect(**{**{f.name: getattr(e, f.name) for f in dataclasses.fields(e)}, "conditions": conditions})
        assert rebuilt == e  # same fields, same conditions as the keyword-built effect
        if min(c["n"], t["n"]) >= 2 and e.se_abs > 0:
            if m.kind == "proportion":
                var = [x["sum"] / x["n"] * (1 - x["sum"] / x["n"]) for x in (t, c)]
            else:
                var = [(x["sum_squares"] - x["sum"] ** 2 / x["n"]) / (x["n"] - 1) for x in (t, c)]
            ref = stats.ttest_ind_from_stats(
                t["sum"] / t["n"], np.sqrt(var[0]), t["n"], c["sum"] / c["n"], np.sqrt(var[1]), c["n"], equal_var=False
            )
            assert e.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
            checked += 1
    assert checked > 500
    codes = {c.code for e in result.segment_effects for c in e.conditions}
    assert {"empty_arm", "too_few_units", "zero_variance"} <= codes


def test_from_fields_refuses_an_incomplete_mapping():
    with pytest.raises(ValueError, match="missing \\['arm'"):
        MetricEffect.from_fields({f.name: None for f in dataclasses.fields(MetricEffect) if f.name != "arm"})
