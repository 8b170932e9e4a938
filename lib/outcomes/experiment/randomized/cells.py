"""Comparison cells: each treatment row of the aggregates beside its control row, as columns.

A cell is one treatment arm x metric x segment. :func:`pair_cells` puts each treatment row
of an aggregate table (one row per metric x arm x segment) beside the control row of the
same metric and segment, and orders the cells as the result lists them: whole population
first, then by metric (the spec's order), arm (control first, then order of appearance) and
segment label. It does with index arrays what a left merge on ``(metric, segment)``
followed by a stable sort does, without building the merged frame: a breakdown into
thousands of segments spends its time on the statistics, not on joining.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from outcomes.experiment.statistics import AGGREGATE_COLUMNS

#: Control sums read as zero where the control has no row (no units yet).
_ZERO_WHEN_ABSENT = ("n", "sum", "sum_squares")

#: The columns that name a row of the aggregates rather than hold a sum.
_KEYS = ("metric", "arm", "segment")


@dataclass(frozen=True)
class ComparisonCells:
    """The comparison cells of an initiative, one array entry per cell.

    Parameters
    ----------
    metric, arm, segment : ndarray of object
        The cell's metric id, treatment arm and segment label.
    metric_index : ndarray of int
        Position of the cell's metric in the order given to :func:`pair_cells`.
    control, treatment : dict of str to ndarray
        The sums in :data:`AGGREGATE_COLUMNS` of the two compared arms, and any further
        column of the aggregates (the covariate and strata sums of an adjustment), as floats; NaN
        where the control has no row for the cell, except ``n``, ``sum`` and
        ``sum_squares``, which are 0 there.
    """

    metric: np.ndarray
    arm: np.ndarray
    segment: np.ndarray
    metric_index: np.ndarray
    control: dict[str, np.ndarray]
    treatment: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.metric.size)

    def keys_frame(self) -> pd.DataFrame:
        """The cells' ``metric, arm, segment`` as a frame (to merge per-cell results on)."""
        return pd.DataFrame({"metric": self.metric, "arm": self.arm, "segment": self.segment})


def _ranks(values: pd.Series, order: Sequence[str]) -> np.ndarray:
    """Position of each value in ``order`` (every value must be in it)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    position = {v: i for i, v in enumerate(order)}
    return np.array([position[v] for v in uniques.tolist()], dtype=np.int64)[codes]


def pair_cells(agg: pd.DataFrame, control: str, metrics: Sequence[str], arms: Sequence[str]) -> ComparisonCells:
    """Pair every treatment row of ``agg`` with the control row of its metric and segment.

    Parameters
    ----------
    agg : DataFrame
        Columns ``metric, arm, segment`` (``arm`` as text), the columns of
        :data:`AGGREGATE_COLUMNS` the metrics need (an absent column reads as NaN) and
        any further numeric sums (carried as they are);
        metrics all in ``metrics``, arms all in ``arms``.
    control : str
        The control arm.
    metrics : sequence of str
        Metric ids in the order of the result.
    arms : sequence of str
        Arms in the order of the result.

    Returns
    -------
    ComparisonCells
        One cell per treatment row, the same cells and order as
        ``agg[arm != control].merge(agg[arm == control], on=["metric", "segment"], how="left")``
        sorted stably by (segment is not ``"all"``, metric, arm, segment); a treatment row
        matching several control rows gives one cell per match, as the merge does.
    """
    is_control = (agg["arm"] == control).to_numpy(dtype=bool)
    segment_codes, segment_labels = pd.factorize(agg["segment"], sort=True, use_na_sentinel=False)
    metric_rank = _ranks(agg["metric"], metrics)
    key = metric_rank * max(len(segment_labels), 1) + segment_codes
    t_rows, c_rows = np.flatnonzero(~is_control), np.flatnonzero(is_control)
    # left join on the key: control rows sorted by key (stably), each treatment row repeated once per match
    c_sorted = c_rows[np.argsort(key[c_rows], kind="stable")]
    first = np.searchsorted(key[c_sorted], key[t_rows], side="left")
    matches = np.searchsorted(key[c_sorted], key[t_rows], side="right") - first
    repeat = np.maximum(matches, 1)
    t_idx = np.repeat(t_rows, repeat)
    within = np.arange(t_idx.size) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    matched = np.repeat(matches, repeat) > 0
    c_idx = np.full(t_idx.size, -1)
    c_idx[matched] = c_sorted[np.repeat(first, repeat)[matched] + within[matched]]

    segment = agg["segment"].to_numpy(dtype=object)
    is_sliced = segment[t_idx] != "all"
    order = np.lexsort((segment_codes[t_idx], _ranks(agg["arm"], arms)[t_idx], metric_rank[t_idx], is_sliced))
    t_idx, c_idx = t_idx[order], c_idx[order]
    has_control = c_idx >= 0
    treatment, control_sums = {}, {}
    absent = np.full(len(agg), np.nan)
    extra = [
        c for c in agg.columns
        if c not in _KEYS and c not in AGGREGATE_COLUMNS and pd.api.types.is_numeric_dtype(agg[c])
    ]
    for col in (*AGGREGATE_COLUMNS, *extra):
        values = agg[col].to_numpy(dtype=float, na_value=np.nan) if col in agg else absent
        treatment[col] = values[t_idx]
        paired = np.full(t_idx.size, np.nan)
        paired[has_control] = values[c_idx[has_control]]
        if col in _ZERO_WHEN_ABSENT:
            paired[np.isnan(paired)] = 0.0
        control_sums[col] = paired
    return ComparisonCells(
        metric=agg["metric"].to_numpy(dtype=object)[t_idx],
        arm=agg["arm"].to_numpy(dtype=object)[t_idx],
        segment=segment[t_idx],
        metric_index=metric_rank[t_idx],
        control=control_sums,
        treatment=treatment,
    )
