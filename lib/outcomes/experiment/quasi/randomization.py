"""Randomization inference over units: the difference-in-differences test valid with few units.

Cluster-robust errors need many units on both sides; with one treated unit they are not
valid at all, and with one treated and one untreated unit the clustered standard error
is zero. Randomization inference needs no such count: it asks how unusual the real
two-way fixed-effects estimate is among the estimates obtained by treating, at the same
start, every other set of units of the same size (placebo in space over all units). It
assumes that which units got the change was as good as random, and it is exact when all
the possible assignments are enumerated (:data:`MAX_ASSIGNMENTS` or fewer; beyond that a
seeded sample).

The interval inverts the test under a constant additive effect ``tau``: removing ``tau``
from the treated units after the start must leave an estimate that is not unusual. For an
assignment ``a`` the estimate on the outcome with ``tau`` removed is ``beta_a - tau c_a``
(``c_a``: the estimate of assignment ``a`` on the real treatment dummy), so the p-value is
a step function of ``tau`` whose steps are known and the interval is exact. With ``A``
assignments no p-value is below ``1 / A``: with fewer than ``1 / alpha`` assignments, or
when the accepted set of effects is unbounded, there is no interval, and the result says
why (:meth:`RandomizationTest.why_no_interval`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.experiment.quasi.did import control_basis, fixed_effects
from outcomes.experiment.quasi.panel import POST, UNIT, Y, QuasiPanel

#: Up to this many assignments of the treated units all are enumerated (exact test); above, a seeded sample.
MAX_ASSIGNMENTS = 1000
#: Relative tolerance under which two statistics count as tied (ties count against the real estimate).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RandomizationTest:
    """The two-way fixed-effects estimate under every assignment of the treated units.

    Attributes
    ----------
    estimate : float
        The estimate with the real treated units.
    placebo : numpy.ndarray
        ``(A,)``: the estimate of each assignment (the real one included).
    slope : numpy.ndarray
        ``(A,)``: the estimate of each assignment on the real treatment dummy
        (1 for the real assignment); see the module notes.
    exact : bool
        True when every assignment was used; False for a seeded sample.
    n_units, n_treated : int
        Units, and units treated in each assignment.
    """

    estimate: float
    placebo: np.ndarray
    slope: np.ndarray
    exact: bool
    n_units: int
    n_treated: int

    @property
    def n_assignments(self) -> int:
        """Number of assignments compared, the real one included."""
        return len(self.placebo)

    @property
    def min_p_value(self) -> float:
        """The smallest p-value this test can give, ``1 / A``."""
        return 1 / self.n_assignments

    def p_value(self, effect: float = 0.0) -> float:
        """Two-sided p-value of "the effect is ``effect`` in every treated unit and period".

        Parameters
        ----------
        effect : float
            The hypothesised constant effect (0: no effect).

        Returns
        -------
        float
            Share of assignments whose estimate, with ``effect`` removed, is at least as
            far from zero as the real one.
        """
        return float(self._p_values(np.array([effect]))[0])

    def _p_values(self, effects: np.ndarray) -> np.ndarray:
        real = np.abs(self.estimate - effects)
        others = np.abs(self.placebo[:, None] - effects[None, :] * self.slope[:, None])
        tol = TIE_TOLERANCE * (np.abs(self.placebo).max() + np.abs(effects) + 1e-300)
        return np.mean(others >= real[None, :] - tol[None, :], axis=0)

    def interval(self, alpha: float) -> tuple[float, float] | None:
        """The effects not rejected at level ``alpha``, as ``(low, high)``; None when unbounded or empty.

        Parameters
        ----------
        alpha : float
            One minus the confidence level.

        Returns
        -------
        tuple of float or None
            The smallest and largest effect with p-value above ``alpha`` (the set is an
            interval in all but pathological panels; its hull is reported). None when
            :meth:`why_no_interval` has a reason.
        """
        if self.min_p_value > alpha:
            return None
        b, c, real = self.placebo, self.slope, self.estimate
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = np.concatenate([(b - real) / (c - 1), (b + real) / (c + 1)])
        steps = np.unique(steps[np.isfinite(steps)])
        far = (np.abs(steps).max() if len(steps) else 0.0) + abs(real) + 1.0
        points = np.concatenate([steps, (steps[1:] + steps[:-1]) / 2, [real, -10 * far, 10 * far]])
        accepted = points[self._p_values(points) > alpha]
        if not len(accepted) or accepted.min() <= -10 * far or accepted.max() >= 10 * far:
            return None
        low, high = float(accepted.min()), float(accepted.max())
        # Bounds that differ by rounding only (an outcome the fixed effects fit exactly) are no interval.
        return (low, high) if high - low > 1e-9 * (np.abs(self.placebo).max() + abs(real)) else None

    def why_no_interval(self, alpha: float) -> str:
        """Why :meth:`interval` is None, in words ("" when there is an interval)."""
        if self.min_p_value > alpha:
            return (
                f"With {self.n_units} units of which {self.n_treated} treated there are only "
                f"{self.n_assignments} ways to choose the treated units, so even the largest effect would rank "
                f"no better than {fmt.p_value(self.min_p_value)}: no effect can be told apart from chance at "
                f"{alpha:g}. The estimate is shown without an interval; add units (at least "
                f"{math.ceil(1 / alpha)} possible assignments are needed) to judge it."
            )
        if self.interval(alpha) is None:
            return (
                "Randomization inference over units cannot bound the effect: effects of any size are not "
                "unusual among the other assignments of the treated units. The estimate is shown without an "
                "interval; add units to judge it."
            )
        return ""

    def sentence(self, alpha: float) -> str:
        """The test in one plain sentence."""
        how = "all" if self.exact else "a seeded sample of"
        return (
            f"Randomization inference over units ({how} {self.n_assignments} assignments of {self.n_treated} "
            f"treated among {self.n_units} units): {fmt.p_value(self.p_value())}, smallest possible "
            f"{fmt.p_value(self.min_p_value, label='')}."
        )


def _assignments(units: np.ndarray, treated: tuple, max_assignments: int, seed: int) -> tuple[np.ndarray, bool]:
    """``(A, G)`` membership of the treated sets, the real one first, and whether all were enumerated."""
    g, k = len(units), len(treated)
    real = np.isin(units, np.array(treated, dtype=object))
    if math.comb(g, k) <= max_assignments:
        sets = [np.isin(np.arange(g), idx) for idx in itertools.combinations(range(g), k)]
        others = [m for m in sets if not np.array_equal(m, real)]
        return np.array([real, *others]), True
    rng = np.random.default_rng(seed)
    seen = {tuple(np.flatnonzero(real))}
    rows = [real]
    while len(rows) < max_assignments:
        idx = tuple(sorted(rng.choice(g, size=k, replace=False).tolist()))
        if idx not in seen:
            seen.add(idx)
            rows.append(np.isin(np.arange(g), idx))
    return np.array(rows), False


def randomization_test(
    panel: QuasiPanel, *, max_assignments: int = MAX_ASSIGNMENTS, seed: int = 0
) -> RandomizationTest:
    """Two-way fixed-effects estimates under every assignment of the treated units.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units and periods on both sides of the start.
    max_assignments : int
        Enumerate every assignment up to this many; above, a seeded sample of this many.
    seed : int
        Seed of that sample.

    Returns
    -------
    RandomizationTest
        Assignments whose treatment dummy the fixed effects explain fully (none in a
        balanced panel) are left out.
    """
    d = panel.data
    units, codes = pd.unique(d[UNIT]), pd.factorize(d[UNIT])[0]
    members, exact = _assignments(np.asarray(units, dtype=object), panel.treated_units, max_assignments, seed)
    post = d[POST].to_numpy()
    dummies = (members[:, codes].T & post[:, None]).astype(float)
    q = control_basis(fixed_effects(d, panel.covariates))
    xt = dummies - q @ (q.T @ dummies)
    y = d[Y].to_numpy(dtype=float)
    yt = y - q @ (q.T @ y)
    norm = np.einsum("na,na->a", xt, xt)
    keep = norm > np.finfo(float).eps ** 0.5 * np.maximum(np.einsum("na,na->a", dummies, dummies), 1.0)
    keep[0] = True  # the real assignment: its estimate exists whenever the result has one
    xt, norm = xt[:, keep], norm[keep]
    placebo = xt.T @ yt / norm
    slope = xt.T @ xt[:, 0] / norm
    return RandomizationTest(
        estimate=float(placebo[0]),
        placebo=placebo,
        slope=slope,
        exact=exact,
        n_units=len(units),
        n_treated=len(panel.treated_units),
    )
