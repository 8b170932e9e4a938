"""Effects by segment, found and not fished: which segments' effects differ from the rest?

A breakdown by region or customer segment shows as many effects as there are segments, and
with enough of them one looks different by chance. The explorer asks a sharper question,
for every metric x arm x declared dimension (``data.segments``):

* per segment, **difference from the rest**: the segment's effect minus the
  inverse-variance-weighted mean effect of the other segments of the same dimension,
  ``d = e_s - sum_{j != s} w_j e_j / sum_{j != s} w_j`` with ``w = 1 / se^2``; its variance is
  ``se_s^2 + 1 / sum_{j != s} w_j`` (the two parts are independent), and ``z = d / se(d)``
  gives a two-sided normal p-value;
* per dimension, **Cochran's Q** (``sum w_j (e_j - e_bar)^2``, chi-squared with ``k - 1``
  degrees of freedom): is there any heterogeneity at all.

The segment p-values of the whole exploration form one family, adjusted by
Benjamini-Hochberg; only segments whose adjusted p-value is below ``alpha`` are reported.
One strong segment pulls the mean of "the rest" for every other segment of its dimension,
so within a dimension the candidates are peeled: the strongest is kept, and each further
one is tested again against the segments not yet found and kept only if it still passes
the Benjamini-Hochberg cutoff. Peeling only removes candidates, so the error control holds.
When every segment shares one effect, the chance that anything is reported at all is at
most ``alpha`` (under the complete null BH controls the family-wise error rate; checked by
simulation in the tests). A finding is an idea for a new test, not grounds to ship to a
segment: the decision rests on the whole population.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from outcomes import format as fmt
from outcomes.experiment.randomized.frequentist import check_alpha
from outcomes.experiment.randomized.multiplicity import adjust_groups
from outcomes.experiment.results import MetricEffect
from outcomes.experiment.statistics import ArrayLike


def difference_from_rest(estimates: ArrayLike, ses: ArrayLike, groups: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's effect minus the weighted mean effect of the other segments of its group.

    Parameters
    ----------
    estimates, ses : array
        Segment effects and their standard errors; cells with a non-finite or zero
        standard error are left out (NaN in the outputs).
    groups : array
        The group of each segment (metric x arm x dimension); a segment is compared with
        the other segments of its group only.

    Returns
    -------
    difference, se : ndarray
        ``e_s - mean_{-s}`` and its standard error (NaN when the group has no other segment).
    """
    e, s = np.asarray(estimates, dtype=float), np.asarray(ses, dtype=float)
    ok = np.isfinite(e) & np.isfinite(s) & (s > 0)
    w = np.where(ok, 1.0 / np.where(ok, s, 1.0) ** 2, 0.0)
    _, gid = np.unique(np.asarray(groups), return_inverse=True)
    sum_w = np.bincount(gid, weights=w)[gid]
    sum_we = np.bincount(gid, weights=w * np.where(ok, e, 0.0))[gid]
    rest_w = sum_w - w
    with np.errstate(divide="ignore", invalid="ignore"):
        rest_mean = (sum_we - w * np.where(ok, e, 0.0)) / rest_w
        se = np.sqrt(s**2 + 1.0 / rest_w)
    good = ok & (rest_w > 0)
    return np.where(good, e - rest_mean, np.nan), np.where(good, se, np.nan)


def segment_p_values(
    estimates: ArrayLike, ses: ArrayLike, groups: ArrayLike, families: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference-from-rest tests of many segments at once, Benjamini-Hochberg within each family.

    Parameters
    ----------
    estimates, ses, groups : array
        As :func:`difference_from_rest`.
    families : array, optional
        The BH family of each segment (one exploration); default a single family.

    Returns
    -------
    difference, se, p_value, p_value_adjusted : ndarray
        NaN for segments that cannot be tested.
    """
    diff, se = difference_from_rest(estimates, ses, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(diff / se))
    family = np.zeros(p.size, dtype=int) if families is None else np.asarray(families)
    return diff, se, p, adjust_groups(p, family, "bh")


def cochran_q(estimates: ArrayLike, ses: ArrayLike) -> tuple[float, int, float]:
    """Cochran's Q test that the effects share one value (cells without a standard error left out).

    Returns
    -------
    q : float
        ``sum w (e - e_bar)^2`` with ``w = 1 / se^2`` and the weighted mean ``e_bar``.
    df : int
        Segments used minus one.
    p_value : float
        Chi-squared upper tail (NaN with fewer than two segments).
    """
    e, s = np.asarray(estimates, dtype=float), np.asarray(ses, dtype=float)
    ok = np.isfinite(e) & np.isfinite(s) & (s > 0)
    e, w = e[ok], 1.0 / s[ok] ** 2
    if e.size < 2:
        return math.nan, max(int(e.size) - 1, 0), math.nan
    q = float(np.sum(w * (e - np.sum(w * e) / np.sum(w)) ** 2))
    return q, int(e.size - 1), float(stats.chi2.sf(q, e.size - 1))


@dataclass(frozen=True)
class SegmentFinding:
    """One segment whose effect differs from the rest of its dimension (or a tested candidate).

    Parameters
    ----------
    metric, label, arm, unit : str
        The metric (id and display name), the compared arm and the display unit.
    dimension, segment : str
        The dimension (``region``) and the segment key (``region=north``).
    effect : float
        The segment's effect (treatment minus control).
    rest : float
        The weighted mean effect of the dimension's other segments.
    difference, se, p_value, p_value_adjusted : float
        ``effect - rest``, its standard error, the two-sided p-value and its
        Benjamini-Hochberg adjustment over the whole exploration.
    """

    metric: str
    label: str
    arm: str
    unit: str
    dimension: str
    segment: str
    effect: float
    rest: float
    difference: float
    se: float
    p_value: float
    p_value_adjusted: float

    def sentence(self) -> str:
        """One plain sentence: the segment's effect against the rest's."""
        _, _, value = self.segment.partition("=")
        return (
            f"{self.label} ({self.arm}): in the {value} {self.dimension.replace('_', ' ')} the change is "
            f"{fmt.change(self.effect, self.unit)}, against {fmt.change(self.rest, self.unit)} in the other "
            f"{self.dimension.replace('_', ' ')}s ({fmt.p_value(self.p_value_adjusted, label='adjusted p')})."
        )


@dataclass(frozen=True)
class SegmentExploration:
    """What the segment explorer found.

    Parameters
    ----------
    findings : tuple of SegmentFinding
        Segments whose adjusted p-value is below ``alpha``, smallest first; empty when
        nothing survives.
    tested : int
        Segments tested (the size of the Benjamini-Hochberg family).
    heterogeneity : pandas.DataFrame
        Cochran's Q per metric x arm x dimension: ``metric, arm, dimension, segments, q, df, p_value``.
    alpha : float
        The false-discovery level.
    """

    findings: tuple[SegmentFinding, ...]
    tested: int
    heterogeneity: pd.DataFrame
    alpha: float

    def summary(self) -> str:
        """Plain sentences: the findings, or that none survived the correction."""
        if self.tested == 0:
            return "No segment could be tested: a breakdown needs at least two segments with an estimate."
        family = (
            f"{self.tested:,} segment{'s' if self.tested != 1 else ''} tested for an effect different from the rest "
            f"of their dimension, Benjamini-Hochberg at {self.alpha:g}"
        )
        if not self.findings:
            return (
                f"No segment's effect differs from the rest more than chance allows ({family}): read the overall "
                "effect as holding across the segments."
            )
        lines = [f"{len(self.findings)} of {family} differ" + (":" if len(self.findings) > 1 else "s:")]
        lines += [f.sentence() for f in self.findings]
        lines.append("These are ideas for a follow-up test in those segments, not grounds to decide by segment.")
        return " ".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per finding."""
        columns = list(SegmentFinding.__dataclass_fields__)
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=columns)


def explore_segments(
    segment_effects: Iterable[MetricEffect], alpha: float = 0.05, metrics: Iterable[str] | None = None
) -> SegmentExploration:
    """Test every segment of every declared dimension for an effect different from the rest.

    Parameters
    ----------
    segment_effects : iterable of MetricEffect
        The breakdown (:attr:`InitiativeResult.segment_effects`); segment keys are
        ``<dimension>=<value>``.
    alpha : float
        False-discovery level of the Benjamini-Hochberg family, in (0, 1).
    metrics : iterable of str, optional
        Metric ids to explore; default every metric of the breakdown.

    Returns
    -------
    SegmentExploration

    Examples
    --------
    >>> exploration = explore_segments(result.segment_effects, alpha=0.05)   # doctest: +SKIP
    >>> print(exploration.summary())                                          # doctest: +SKIP
    """
    alpha = check_alpha(alpha)
    wanted = None if metrics is None else set(metrics)
    cells = [e for e in segment_effects if "=" in e.segment and (wanted is None or e.metric in wanted)]
    dims = [e.segment.partition("=")[0] for e in cells]
    keys = [(e.metric, e.arm, d) for e, d in zip(cells, dims)]
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    groups = np.array([index[k] for k in keys], dtype=int)
    est = np.array([e.estimate_abs for e in cells], dtype=float)
    se = np.array([e.se_abs for e in cells], dtype=float)
    diff, diff_se, p, p_adj = segment_p_values(est, se, groups)
    flagged = np.isfinite(p_adj) & (p_adj < alpha)
    cutoff = float(p[flagged].max()) if flagged.any() else 0.0
    findings = []
    for g in np.unique(groups[flagged]):
        # Peeling: one strong segment pulls the rest's mean, so the other segments of its
        # dimension then differ from "the rest" too. Each further candidate is tested again
        # against the segments not yet found and kept only if it still passes the BH cutoff.
        found: list[int] = []
        for i in sorted(np.flatnonzero(flagged & (groups == g)), key=lambda i: p[i]):
            others = (groups == g) & ~np.isin(np.arange(len(cells)), found)
            d, d_se = difference_from_rest(est[others], se[others], np.zeros(int(others.sum())))
            at = int(np.flatnonzero(np.flatnonzero(others) == i)[0])
            p_again = float(2 * stats.norm.sf(abs(d[at] / d_se[at]))) if np.isfinite(d[at]) else math.nan
            if not found or p_again <= cutoff:
                found.append(i)
        findings += [
            SegmentFinding(
                metric=cells[i].metric, label=cells[i].name, arm=cells[i].arm, unit=cells[i].unit, dimension=dims[i],
                segment=cells[i].segment, effect=float(est[i]), rest=float(est[i] - diff[i]),
                difference=float(diff[i]), se=float(diff_se[i]), p_value=float(p[i]), p_value_adjusted=float(p_adj[i]),
            )
            for i in found
        ]
    findings.sort(key=lambda f: f.p_value_adjusted)
    rows = []
    for (metric, arm, dim), g in index.items():
        inside = groups == g
        q, df, q_p = cochran_q(est[inside], se[inside])
        rows.append({"metric": metric, "arm": arm, "dimension": dim, "segments": int(inside.sum()), "q": q, "df": df,
                     "p_value": q_p})
    heterogeneity = pd.DataFrame(rows, columns=["metric", "arm", "dimension", "segments", "q", "df", "p_value"])
    return SegmentExploration(tuple(findings), int(np.isfinite(p).sum()), heterogeneity, alpha)
