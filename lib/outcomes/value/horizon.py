"""Benefits inside the analysis horizon, as Forrester's TEI counts them.

A customer kept is worth the margin of the months they are expected to stay; a TEI case
counts only the months that fall inside its horizon (three years by default). A customer
kept in month ``m`` of an ``H``-month horizon, with monthly churn ``c``, is expected to
stay ``sum_{k=0}^{H-m} (1 - c)^k = (1 - (1 - c)^(H - m + 1)) / c`` months of the horizon,
against ``1 / c`` months in all: the share of their lifetime value inside the horizon is
``1 - (1 - c)^(H - m + 1)``. The rest is value beyond the horizon, shown apart.
"""

from __future__ import annotations

import numpy as np


def share_inside(churn: np.ndarray | float, years: int) -> np.ndarray:
    """Share of a kept customer's lifetime value inside the horizon, by the year they are kept.

    Parameters
    ----------
    churn : array-like
        Monthly churn rate per segment (fractions in (0, 1]), shape ``(segments,)``.
    years : int
        Years of the horizon.

    Returns
    -------
    numpy.ndarray
        Shape ``(segments, years)``: for year ``y`` the mean over its twelve months ``m``
        of ``1 - (1 - c)^(12 * years - m + 1)``.
    """
    c = np.atleast_1d(np.asarray(churn, dtype=float))
    months = np.arange(1, 12 * years + 1)
    left = 12 * years - months + 1
    inside = 1.0 - (1.0 - c[:, None]) ** left[None, :]
    return inside.reshape(len(c), years, 12).mean(axis=-1)


def yearly_share(weights: np.ndarray, clv: np.ndarray, churn: np.ndarray, years: int) -> np.ndarray:
    """Share of the value of the customers kept in each year that falls inside the horizon.

    Parameters
    ----------
    weights : numpy.ndarray
        Share of the customers kept in each segment, shape ``(segments,)``.
    clv : numpy.ndarray
        Lifetime value per segment, shape ``(segments,)`` or ``(segments, draws)``.
    churn : numpy.ndarray
        Monthly churn per segment, shape ``(segments,)``.
    years : int
        Years of the horizon.

    Returns
    -------
    numpy.ndarray
        Shape ``(years,)`` or ``(draws, years)``: the CLV-weighted share inside the horizon.
    """
    share = share_inside(churn, years)
    clv = np.asarray(clv, dtype=float)
    weighted = weights.reshape((-1,) + (1,) * (clv.ndim - 1)) * clv
    total = weighted.sum(axis=0)
    inside = np.tensordot(np.moveaxis(weighted, 0, -1), share, axes=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = inside / np.asarray(total)[..., None]
    return np.where(np.isfinite(out), out, 0.0)
