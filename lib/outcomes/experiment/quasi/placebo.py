"""Placebo checks reported beside a quasi-experimental estimate.

- **In time**: the same estimator run on the pre-period only, with fake start dates.
  Nothing changed there, so an "effect" at a fake date says the comparison was already
  drifting. A fake date is flagged when its p-value is below ``alpha / k`` (Bonferroni
  over the ``k`` fake dates), so a panel without any effect raises the flag in at most
  ``alpha`` of cases, however correlated the fake dates are, provided the p-values are
  calibrated in their far tail. With ``flag=False`` (used for interrupted time series
  fitted with Newey-West errors, whose p-values are optimistic in short series) the
  check only reports where the real estimate ranks.
- **In space**: the really treated units are dropped and untreated units are marked
  treated at the real start (every set of the same size, or a seeded sample of them).
  Where the real estimate ranks among these placebo estimates gives a permutation
  p-value ``(1 + #{|placebo| >= |real|}) / (k + 1)``; with few units its smallest
  possible value ``1 / (k + 1)`` may be above ``alpha``, which the check says.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.estimate import Estimate
from outcomes.experiment.quasi.panel import UNIT, QuasiPanel, period_label

Estimator = Callable[[QuasiPanel], Estimate]


@dataclass(frozen=True)
class PlaceboCheck:
    """The placebo estimates and how the real estimate ranks among them.

    Attributes
    ----------
    kind : {"in_time", "in_space"}
        Fake start dates in the pre-period, or untreated units as fake treated.
    estimates : pandas.DataFrame
        One row per placebo: ``label`` (fake start, or fake treated units),
        ``estimate``, ``ci_low``, ``ci_high``, ``p_value``.
    real_estimate : float
        The estimate at the real start with the real treated units.
    rank_p_value : float
        ``(1 + #{|placebo| >= |real|}) / (k + 1)``.
    min_p_value : float
        Smallest ``rank_p_value`` possible with ``k`` placebos, ``1 / (k + 1)``.
    flagged : bool
        In time: a fake date has ``p < alpha / k`` (never when run with ``flag=False``).
        In space: ``rank_p_value > alpha``
        although ``min_p_value <= alpha`` (the real effect is not unusual among placebos).
    sentence : str
        The result in one plain sentence.
    """

    kind: Literal["in_time", "in_space"]
    estimates: pd.DataFrame
    real_estimate: float
    rank_p_value: float
    min_p_value: float
    flagged: bool
    sentence: str


def _rank(estimates: pd.DataFrame, real: float) -> tuple[float, float]:
    """Permutation p-value of ``real`` among the placebo estimates, and its minimum."""
    k = len(estimates)
    beyond = int((estimates["estimate"].abs() >= abs(real) - 1e-12).sum())
    return (1 + beyond) / (k + 1), 1 / (k + 1)


def _row(label: str, est: Estimate) -> dict[str, object]:
    return {"label": label, "estimate": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high,
            "p_value": est.p_value}


def placebo_in_time(
    panel: QuasiPanel,
    estimator: Estimator,
    real: Estimate,
    *,
    alpha: float = 0.05,
    min_pre_periods: int = 3,
    min_post_periods: int = 1,
    flag: bool = True,
) -> PlaceboCheck | None:
    """Run ``estimator`` at fake start dates inside the pre-period.

    Parameters
    ----------
    panel : QuasiPanel
        The real panel.
    estimator : callable
        ``QuasiPanel -> Estimate``, the same estimator as the real one.
    real : Estimate
        The real estimate.
    alpha : float
        Family-wise level of the flag (Bonferroni over the fake dates).
    min_pre_periods : int
        Periods needed before each fake start.
    min_post_periods : int
        Periods needed from each fake start to the real start.
    flag : bool
        Flag fake dates by their p-values. Off when those p-values are not trusted
        (interrupted time series with Newey-West errors, optimistic in short series);
        the check then only says where the real estimate ranks.

    Returns
    -------
    PlaceboCheck or None
        None when the pre-period is too short for any fake date.
    """
    pre = [p for p in panel.periods if p < panel.start]
    fakes = pre[min_pre_periods : len(pre) - min_post_periods + 1]
    if not fakes:
        return None
    rows = [_row(period_label(f), estimator(panel.with_start(f, pre_only=True))) for f in fakes]
    estimates = pd.DataFrame(rows)
    rank_p, min_p = _rank(estimates, real.estimate)
    k = len(estimates)
    worst = estimates.loc[estimates["p_value"].idxmin()]
    flagged = flag and bool(worst["p_value"] < alpha / k)
    larger = (estimates["estimate"].abs() < abs(real.estimate)).mean()
    if not flag:
        sentence = (
            f"Placebo in time: the real estimate is larger in size than {larger:.0%} of the {k} estimates at fake "
            f"start dates in the pre-period ({fmt.p_value(rank_p, label='rank p')}, smallest possible {fmt.p_value(min_p, label='')})."
        )
    elif flagged:
        sentence = (
            f"Placebo in time: at the fake start {worst['label']} (no change happened then) the method finds "
            f"{worst['estimate']:+.3g} with {fmt.p_value(worst['p_value'])}, below {alpha:g}/{k}; the comparison was "
            "already drifting before the real start, so the estimate is doubtful."
        )
    else:
        sentence = (
            f"Placebo in time: none of {k} fake start dates in the pre-period shows an effect "
            f"(smallest {fmt.p_value(worst['p_value'])}, flag below {alpha:g}/{k}); the real estimate is larger than "
            f"{larger:.0%} of them in size."
        )
    return PlaceboCheck("in_time", estimates, real.estimate, rank_p, min_p, flagged, sentence)


def placebo_in_space(
    panel: QuasiPanel,
    estimator: Estimator,
    real: Estimate,
    *,
    alpha: float = 0.05,
    max_placebos: int = 200,
    seed: int = 0,
) -> PlaceboCheck | None:
    """Mark untreated units as treated at the real start and re-estimate.

    Parameters
    ----------
    panel : QuasiPanel
        The real panel.
    estimator : callable
        ``QuasiPanel -> Estimate``, the same estimator as the real one.
    real : Estimate
        The real estimate.
    alpha : float
        Level for the rank p-value.
    max_placebos : int
        At most this many sets of fake treated units; a seeded sample when there are more.
    seed : int
        Seed of that sample.

    Returns
    -------
    PlaceboCheck or None
        None with fewer than two untreated units.
    """
    treated = set(panel.treated_units)
    controls = [u for u in pd.unique(panel.data[UNIT]) if u not in treated]
    size = min(len(treated), len(controls) - 1)
    if size < 1:
        return None
    n_sets = math.comb(len(controls), size)
    if n_sets <= max_placebos:
        sets = list(itertools.combinations(controls, size))
    else:
        rng = np.random.default_rng(seed)
        chosen: set[tuple[int, ...]] = set()
        while len(chosen) < max_placebos:
            chosen.add(tuple(sorted(rng.choice(len(controls), size=size, replace=False).tolist())))
        sets = [tuple(controls[i] for i in idx) for idx in sorted(chosen)]
    drop = tuple(panel.treated_units)
    rows = [_row(", ".join(map(str, s)), estimator(panel.with_treated(s, drop=drop))) for s in sets]
    estimates = pd.DataFrame(rows)
    rank_p, min_p = _rank(estimates, real.estimate)
    k = len(estimates)
    if min_p > alpha:
        flagged = False
        sentence = (
            f"Placebo in space: with {len(controls)} untreated units only {k} fake treated group(s) exist, so the "
            f"real estimate's rank cannot reach {alpha:g} (it ranks at {fmt.p_value(rank_p)}, the best possible "
            f"{fmt.p_value(min_p, label='')}); this check cannot confirm the effect on its own."
        )
    else:
        flagged = rank_p > alpha
        verdict = "is not unusual among" if flagged else "stands out from"
        sentence = (
            f"Placebo in space: the real estimate {verdict} {k} estimates with untreated units as fake treated "
            f"({fmt.p_value(rank_p, label='rank p')})."
        )
    return PlaceboCheck("in_space", estimates, real.estimate, rank_p, min_p, flagged, sentence)
