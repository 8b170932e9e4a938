"""Sample ratio mismatch (SRM): do the arm sizes match the planned split?

A broken assignment (a redirect that drops users, a bot filter applied to one arm) shows
up as arm sizes that differ from the plan by more than chance allows, and it biases every
effect. We run Pearson's chi-squared goodness-of-fit test of the unit counts against the
planned shares and flag p < 0.001 (GrowthBook's and Eppo's threshold; the test is repeated
at every look, hence the strict level).

The same test runs in each segment of a breakdown (:func:`segment_splits`), with Holm's
correction over the segments. A whole population in balance can hide a segment out of
balance: a segment recorded after assignment (one the initiative itself can change), or an
assignment that fails for one region or channel. Such a segment's breakdown is not
trusted; the decision, made on the whole population, is not blocked by it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from outcomes import format as fmt
from outcomes.experiment.randomized.multiplicity import adjust
from outcomes.experiment.results import SAMPLE_RATIO_MISMATCH, SEGMENT_SAMPLE_RATIO_MISMATCH, Condition, SegmentSplit

#: p-value below which a mismatch is flagged.
SRM_THRESHOLD = 0.001
#: Fewest units an arm must expect in a segment for the chi-squared test to be run there.
MIN_EXPECTED = 5


def srm_test(
    counts: Mapping[str, int], planned: Mapping[str, float] | None = None, threshold: float = SRM_THRESHOLD
) -> tuple[float, bool, Condition | None]:
    """Test arm sizes against the planned split.

    Parameters
    ----------
    counts : mapping
        Units per arm.
    planned : mapping, optional
        Planned share (or weight) per arm; equal shares when omitted. Weights are
        normalised to sum to one.
    threshold : float
        Flag when the p-value is below this, in (0, 1).

    Returns
    -------
    p_value : float
        Chi-squared p-value (NaN with fewer than two arms or no units).
    flagged : bool
        Whether ``p_value < threshold``.
    condition : Condition or None
        A blocking ("stop") condition with a plain sentence when flagged.

    Raises
    ------
    ValueError
        When ``threshold`` is outside (0, 1), a planned weight is not positive, or the
        planned arms differ from the counted arms.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"SRM threshold must be in (0, 1), bounds excluded, got {threshold!r}")
    arms = list(counts)
    if planned is None:
        planned = {arm: 1.0 for arm in arms}
    if set(planned) != set(arms):
        raise ValueError(
            f"planned split arms {sorted(planned)} differ from the arms in the data {sorted(arms)}; "
            "give a share for every arm"
        )
    weights = np.array([float(planned[a]) for a in arms])
    if (weights <= 0).any():
        raise ValueError(f"planned split shares must be positive, got {dict(planned)}")
    observed = np.array([float(counts[a]) for a in arms])
    total = observed.sum()
    if len(arms) < 2 or total == 0:
        return math.nan, False, None
    expected = total * weights / weights.sum()
    p = float(stats.chisquare(observed, expected).pvalue)
    if p >= threshold:
        return p, False, None
    shares = ", ".join(f"{a} {o / total:.1%} (planned {e / total:.1%})" for a, o, e in zip(arms, observed, expected))
    message = (
        f"The arm sizes differ from the planned split more than chance allows ({shares}; "
        f"chi-squared {fmt.p_value(p)}; the threshold is {threshold:g}), so the assignment is broken and no effect can be trusted. "
        "Find and fix the cause (assignment, logging, filtering) before reading results"
    )
    return p, True, Condition(SAMPLE_RATIO_MISMATCH, message, blocks="stop")


def chisquare_rows(observed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson's chi-squared goodness-of-fit p-value of every row of a count table at once.

    Row ``i`` is tested against ``observed[i].sum() * weights`` with ``k - 1`` degrees of
    freedom, as ``scipy.stats.chisquare(observed[i], expected[i])`` does one row at a time.

    Parameters
    ----------
    observed : ndarray, shape (rows, k)
        Units per arm (columns) in each segment (rows).
    weights : ndarray, shape (k,)
        Planned shares, summing to one.

    Returns
    -------
    ndarray, shape (rows,)
        p-values; NaN where an arm expects fewer than :data:`MIN_EXPECTED` units or there
        are fewer than two arms.
    """
    observed = np.atleast_2d(np.asarray(observed, dtype=float))
    expected = observed.sum(axis=1, keepdims=True) * np.asarray(weights, dtype=float)
    k = observed.shape[1]
    enough = (expected.min(axis=1) >= MIN_EXPECTED) if k > 1 else np.zeros(len(observed), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = ((observed - expected) ** 2 / expected).sum(axis=1)
    return np.where(enough, stats.chi2.sf(statistic, max(k - 1, 1)), np.nan)


def segment_splits(
    units: pd.DataFrame,
    arms: Sequence[str],
    planned: Mapping[str, float] | None = None,
    threshold: float = SRM_THRESHOLD,
) -> tuple[tuple[SegmentSplit, ...], Condition | None]:
    """Test the arm sizes of every segment of a breakdown against the planned split.

    Parameters
    ----------
    units : DataFrame
        Columns ``segment``, ``arm`` and ``n`` (units of the arm in the segment); an arm
        absent from a segment has no units there.
    arms : sequence of str
        Every arm of the initiative.
    planned : mapping, optional
        Planned share (or weight) per arm; equal shares when omitted.
    threshold : float
        Flag a segment when its Holm-adjusted p-value is below this.

    Returns
    -------
    splits : tuple of SegmentSplit
        One per segment, in order of appearance; p-values are NaN where an arm expects
        fewer than :data:`MIN_EXPECTED` units.
    condition : Condition or None
        An informative condition naming the flagged segments, or None.
    """
    arms = [str(a) for a in arms]
    weights = np.array([float((planned or {}).get(a, 1.0)) for a in arms])
    weights = weights / weights.sum()
    # segment x arm table of units (the largest n where a segment and arm repeat), as a pivot would give
    segment_codes, segments = pd.factorize(units["segment"], sort=False)
    arm_codes = pd.Index(arms).get_indexer(units["arm"].astype(str))
    known = arm_codes >= 0
    observed = np.zeros((len(segments), len(arms)))
    np.fmax.at(observed, (segment_codes[known], arm_codes[known]), units["n"].to_numpy(dtype=float)[known])
    p_values = chisquare_rows(observed, weights)
    adjusted = adjust(p_values, "holm") if p_values.size else np.array([])
    flags = (np.isfinite(adjusted) & (adjusted < threshold)).tolist()
    splits = SegmentSplit.from_columns(
        {
            "segment": [str(seg) for seg in segments.tolist()],
            "units": [dict(zip(arms, row)) for row in observed.astype(int).tolist()],
            "p_value": p_values.tolist(),
            "p_value_adjusted": adjusted.tolist(),
            "flagged": flags,
        }
    )
    flagged = [x for x in splits if x.flagged]
    if not flagged:
        return splits, None
    described = "; ".join(
        f"{x.segment}: "
        + ", ".join(f"{a} {n / sum(x.units.values()):.1%} (planned {w:.1%})" for (a, n), w in zip(x.units.items(), weights))
        + f", {fmt.p_value(x.p_value_adjusted, label='Holm-adjusted p')}"
        for x in flagged
    )
    message = (
        f"In {len(flagged)} segment{'s' if len(flagged) > 1 else ''} of the breakdown the arm sizes differ from the "
        f"planned split more than chance allows ({described}), so the breakdown there is not trusted. Either the "
        "segment is recorded after assignment (the initiative can change it) or the assignment fails in that segment: "
        "find which before reading it. The decision rests on the whole population"
    )
    return splits, Condition(SEGMENT_SAMPLE_RATIO_MISMATCH, message)
