"""Comparison cells paired with index arrays equal the merge and sort they replace; results built by column equal keyword-built ones.

The reference for :func:`pair_cells` is the pandas code ``analyze_aggregates`` used before:
``agg[arm != control].merge(agg[arm == control], on=["metric", "segment"], how="left")``,
then a stable sort by (segment is not "all", metric, arm, segment) and the control's ``n``,
``sum`` and ``sum_squares`` filled with 0. Tables are drawn with ``numpy.random.default_rng(SEED)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from outcomes.experiment.randomized.cells import pair_cells
from outcomes.experiment.results import Condition, MetricEffect, SegmentSplit
from outcomes.experiment.statistics import AGGREGATE_COLUMNS

SEED = 20261206
METRICS = ["spend", "converted"]
ARMS = ["control", "portal", "app"]


def messy_table(seed: int = SEED) -> pd.DataFrame:
    """Three arms, two metrics, shuffled rows, a control row missing, a duplicated control and treatment row."""
    rng = np.random.default_rng(seed)
    segments = ["all", *(f"region=r{k}" for k in range(40)), "channel=web"]
    rows = [
        {"metric": m, "arm": a, "segment": s, "n": float(rng.integers(0, 500)), "sum": rng.normal(100, 10),
         "sum_squares": rng.normal(5000, 100), "pre_sum": rng.normal(90, 5) if m == "spend" else np.nan}
        for m in METRICS for a in ARMS for s in segments
    ]
    agg = pd.DataFrame(rows)
    agg = agg[~((agg["arm"] == "control") & (agg["segment"] == "region=r7"))]  # no control row
    extra = agg[((agg["arm"] == "control") & (agg["segment"] == "region=r3"))
                | ((agg["arm"] == "app") & (agg["segment"] == "region=r4"))]
    agg = pd.concat([agg, extra.assign(n=extra["n"] + 1)])  # the same key twice
    agg = agg.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
    for col in AGGREGATE_COLUMNS:
        if col not in agg:
            agg[col] = np.nan
    return agg.assign(arm=agg["arm"].astype(str))


def merged_reference(agg: pd.DataFrame) -> pd.DataFrame:
    """The merge and sort ``analyze_aggregates`` ran before cells were paired with index arrays."""
    cells = agg[agg["arm"] != "control"].merge(
        agg[agg["arm"] == "control"].drop(columns="arm"), on=["metric", "segment"], how="left", suffixes=("_t", "_c")
    )
    cells = cells.assign(
        _m=cells["metric"].map({m: i for i, m in enumerate(METRICS)}),
        _a=cells["arm"].map({a: i for i, a in enumerate(ARMS)}),
        _s=cells["segment"] != "all",
    ).sort_values(["_s", "_m", "_a", "segment"], kind="stable").reset_index(drop=True)
    for col in ("n", "sum", "sum_squares"):
        cells[f"{col}_c"] = cells[f"{col}_c"].fillna(0.0)
    return cells


def test_pair_cells_equals_the_left_merge_and_stable_sort():
    agg = messy_table()
    cells, ref = pair_cells(agg, "control", METRICS, ARMS), merged_reference(agg)
    # 2 metrics x 2 treatment arms x 42 segments; the doubled control row pairs with 2 x 2 treatment rows
    # twice, the doubled app row adds one cell per metric; a missing control row still leaves a cell
    assert len(cells) == len(ref) == 2 * 2 * 42 + 4 + 2
    for key in ("metric", "arm", "segment"):
        assert getattr(cells, key).tolist() == ref[key].tolist()
    assert cells.metric_index.tolist() == ref["_m"].tolist()
    for col in AGGREGATE_COLUMNS:
        np.testing.assert_array_equal(cells.treatment[col], ref[f"{col}_t"].to_numpy(dtype=float))
        np.testing.assert_array_equal(cells.control[col], ref[f"{col}_c"].to_numpy(dtype=float))
    missing = cells.segment == "region=r7"
    assert (cells.control["n"][missing] == 0).all() and np.isnan(cells.control["pre_sum"][missing]).all()


def test_pair_cells_reads_an_absent_sum_column_as_nan():
    agg = messy_table().drop(columns=["den_sum", "quantile"])
    cells = pair_cells(agg, "control", METRICS, ARMS)
    assert np.isnan(cells.treatment["den_sum"]).all() and np.isnan(cells.control["quantile"]).all()


def effect_columns(rows: int) -> dict[str, list]:
    """Columns for every field of MetricEffect, each row different."""
    out: dict[str, list] = {}
    for f in dataclasses.fields(MetricEffect):
        if f.name == "conditions":
            out[f.name] = [(Condition("too_few_units", f"row {i}"),) if i % 2 else () for i in range(rows)]
        elif f.type in ("float",):
            out[f.name] = [float(i) + 0.5 for i in range(rows)]
        elif f.type in ("int",):
            out[f.name] = list(range(rows))
        elif f.type in ("bool",):
            out[f.name] = [bool(i % 2) for i in range(rows)]
        else:
            out[f.name] = [f"{f.name}-{i}" for i in range(rows)]
    return out


def test_effects_built_by_column_equal_keyword_built_effects():
    columns = effect_columns(5)
    built = MetricEffect.from_columns(columns)
    assert isinstance(built, tuple) and len(built) == 5
    for i, effect in enumerate(built):
        keyword = MetricEffect(**{k: v[i] for k, v in columns.items()})
        assert effect == keyword and effect.to_dict() == keyword.to_dict()
        with pytest.raises(dataclasses.FrozenInstanceError):
            effect.p_value = math.nan  # type: ignore[misc]
    assert MetricEffect.from_fields({k: v[2] for k, v in columns.items()}) == built[2]


def test_from_columns_refuses_missing_fields_and_ragged_columns():
    columns = effect_columns(3)
    with pytest.raises(ValueError, match=r"MetricEffect.from_columns needs every field and no other; missing \['arm'\]"):
        MetricEffect.from_columns({k: v for k, v in columns.items() if k != "arm"})
    with pytest.raises(ValueError, match=r"columns of one length, got lengths \[2, 3\]"):
        MetricEffect.from_columns({**columns, "arm": ["a", "b"]})


def test_segment_splits_built_by_column_equal_keyword_built_ones():
    columns = {"segment": ["region=a", "region=b"], "units": [{"control": 5, "portal": 6}, {"control": 0, "portal": 1}],
               "p_value": [0.5, math.nan], "p_value_adjusted": [1.0, math.nan], "flagged": [False, False]}
    built = SegmentSplit.from_columns(columns)
    assert built[0] == SegmentSplit("region=a", {"control": 5, "portal": 6}, 0.5, 1.0, False)
    assert built[1].to_dict() == SegmentSplit("region=b", {"control": 0, "portal": 1}, math.nan, math.nan, False).to_dict()
    with pytest.raises(ValueError, match=r"SegmentSplit.from_columns needs every field and no other; missing \[\], unknown \['extra'\]"):
        SegmentSplit.from_columns({**columns, "extra": [1, 2]})
