"""Donor weights of a synthetic control and how well they reproduce the treated unit before the start.

A synthetic control (Abadie, Diamond and Hainmueller 2010) stands in for one treated unit
with a weighted average of untreated units, the donors. The weights are non-negative and
sum to one, and are chosen so that the weighted average follows the treated unit's outcome
in every period before the start as closely as possible (least squares over the
pre-period outcomes, every period weighing the same). :func:`donor_weights` solves that
problem; :class:`SyntheticFit` holds the weights and the quality of the pre-period fit,
which every synthetic-control result reports because the estimate is only as good as it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from outcomes import format as fmt

#: Pre-period RMSPE above this share of the treated unit's own pre-period variation (its
#: standard deviation): the synthetic control reproduces less than about three quarters of
#: the pre-period ups and downs (1 - 0.5² of the variance); the estimate is not trusted.
POOR_FIT_RATIO = 0.5
#: Above this share the fit is usable but loose; the result says so.
LOOSE_FIT_RATIO = 0.25
#: Donors whose weight is at least this are listed by name in sentences.
SHOWN_WEIGHT = 0.01


def donor_weights(treated: np.ndarray, donors: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one that make ``donors @ w`` closest to ``treated``.

    Parameters
    ----------
    treated : numpy.ndarray, shape (t,)
        The treated unit's outcome in each pre-period.
    donors : numpy.ndarray, shape (t, j)
        Each donor's outcome in the same periods, one column per donor.

    Returns
    -------
    numpy.ndarray, shape (j,)
        The weights minimising ``sum((treated - donors @ w) ** 2)`` under ``w >= 0`` and
        ``sum(w) == 1``.

    Notes
    -----
    Solved by :func:`scipy.optimize.nnls` on the system augmented with one row
    ``M * 1' w = M``: with ``M`` large against the outcomes' scale, the sum-to-one
    constraint holds to rounding; the weights are then divided by their sum. The outcomes
    are first divided by their overall scale so that ``M`` needs no tuning.
    """
    treated = np.asarray(treated, dtype=float)
    donors = np.asarray(donors, dtype=float)
    scale = float(np.abs(np.concatenate([treated, donors.ravel()])).max()) or 1.0
    big = 1e4 * math.sqrt(len(treated))
    a = np.vstack([donors / scale, np.full((1, donors.shape[1]), big)])
    b = np.concatenate([treated / scale, [big]])
    w, _ = nnls(a, b, maxiter=50 * a.shape[1])
    return w / w.sum()


@dataclass(frozen=True)
class SyntheticFit:
    """A synthetic control's donor weights and the quality of its pre-period fit.

    Attributes
    ----------
    weights : pandas.Series
        Weight of each donor (index: donor units), largest first; sums to one.
    pre_rmspe : float
        Root mean squared gap between the treated unit and its synthetic control before the start.
    scale : float
        Standard deviation of the treated unit's outcome before the start (what the fit must follow).
    gaps : pandas.DataFrame
        One row per period: ``period``, ``treated``, ``synthetic``, ``gap`` (treated minus
        synthetic), ``phase`` (``"pre"`` or ``"post"``).
    """

    weights: pd.Series
    pre_rmspe: float
    scale: float
    gaps: pd.DataFrame

    @property
    def relative_rmspe(self) -> float:
        """Pre-period RMSPE as a share of :attr:`scale` (0: perfect fit; NaN when the treated series is flat)."""
        return self.pre_rmspe / self.scale if self.scale > 0 else math.nan

    @property
    def quality(self) -> str:
        """``"good"``, ``"loose"`` or ``"poor"`` (see :data:`LOOSE_FIT_RATIO`, :data:`POOR_FIT_RATIO`)."""
        r = self.relative_rmspe
        if not math.isfinite(r):
            return "good" if self.pre_rmspe == 0 else "poor"
        return "poor" if r > POOR_FIT_RATIO else "loose" if r > LOOSE_FIT_RATIO else "good"

    def top_donors(self, n: int = 5) -> pd.Series:
        """The ``n`` largest weights at or above :data:`SHOWN_WEIGHT`."""
        return self.weights[self.weights >= SHOWN_WEIGHT].head(n)

    def sentences(self) -> tuple[str, ...]:
        """The donors and the pre-period fit, in plain sentences."""
        donors = ", ".join(f"{u} {w:.0%}" for u, w in self.top_donors().items())
        used = int((self.weights >= SHOWN_WEIGHT).sum())
        ratio = self.relative_rmspe
        share = f"{ratio:.0%} of" if math.isfinite(ratio) else "against a flat"
        return (
            f"Synthetic control: {used} of {len(self.weights)} donors carry weight ({donors}).",
            (
                f"Pre-period fit ({self.quality}): the synthetic control misses the treated unit by "
                f"{fmt.number(self.pre_rmspe)} on average (RMSPE), {share} the treated unit's own pre-period "
                "variation (standard deviation)."
            ),
        )


def fit_synthetic(wide: pd.DataFrame, treated: object, pre: pd.Index) -> SyntheticFit:
    """Weights for ``treated`` from the other columns of ``wide``, fitted on the periods ``pre``.

    Parameters
    ----------
    wide : pandas.DataFrame
        Outcomes, one row per period (sorted) and one column per unit; no missing values.
    treated : object
        The treated unit's column.
    pre : pandas.Index
        The periods before the start (rows of ``wide``).

    Returns
    -------
    SyntheticFit
    """
    is_pre = wide.index.isin(pre)
    y = wide[treated].to_numpy(dtype=float)
    donors = wide.drop(columns=[treated])
    values = donors.to_numpy(dtype=float)
    w = donor_weights(y[is_pre], values[is_pre])
    synthetic = values @ w
    gap = y - synthetic
    gaps = pd.DataFrame({"period": wide.index, "treated": y, "synthetic": synthetic, "gap": gap,
                         "phase": np.where(is_pre, "pre", "post")})
    weights = pd.Series(w, index=donors.columns, name="weight").sort_values(ascending=False, kind="stable")
    return SyntheticFit(
        weights=weights,
        pre_rmspe=float(np.sqrt(np.mean(gap[is_pre] ** 2))),
        scale=float(np.std(y[is_pre])),
        gaps=gaps,
    )
