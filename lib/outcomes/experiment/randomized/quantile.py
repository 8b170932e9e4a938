"""Quantile metrics (a P90 response time): the treatment effect on a percentile.

IT promises are often percentiles ("90% of tickets get a first response within 4 hours"),
and an initiative can move the slow tail without moving the mean. A metric written
``{column: response_hours, kind: quantile, quantile: 0.9}`` is compared as the difference of
the arms' 90th percentiles, ``q_t - q_c``.

Three order statistics are kept, computed with linear interpolation (numpy's default
``np.quantile``, DuckDB's ``quantile_cont``). Per arm (:data:`~outcomes.experiment.statistics.QUANTILE_COLUMNS`):

* ``quantile``: the sample quantile ``q(p)``;
* ``quantile_low``, ``quantile_high``: ``q(p - h)`` and ``q(p + h)`` with the rank
  bandwidth ``h = z_0.975 sqrt(p (1 - p) / n)`` (clipped to [0, 1]).

``[q(p - h), q(p + h)]`` is the distribution-free binomial order-statistic 95% interval of
the quantile (Deng, Knoblich and Lu 2018; GrowthBook's and Spotify's quantile tests). Its
width also estimates the density at the quantile, ``f = 2h / (q(p + h) - q(p - h))``, so
the arm's standard error is the asymptotic ``sqrt(p (1 - p) / n) / f`` (Bahadur), which
holds at any level; the two arms' errors add in quadrature for the difference. The units
are independent (one value per unit); values clustered within units (tickets of one
customer) need a unit-level table of one value per unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from outcomes.experiment.statistics import QUANTILE_COLUMNS, ArrayLike, Moments, safe_div
#: Normal quantile of the order-statistic interval that sets the rank bandwidth.
RANK_Z = float(stats.norm.ppf(0.975))


def rank_bandwidth(n: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities ``(p - h, p + h)`` of the order statistics kept beside ``q(p)``.

    Parameters
    ----------
    n : array
        Units in the arm.
    p : array
        The quantile's probability, in (0, 1).

    Returns
    -------
    low, high : ndarray
        ``p -/+ z_0.975 sqrt(p (1 - p) / n)``, clipped to [0, 1].
    """
    n, p = np.asarray(n, dtype=float), np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = RANK_Z * np.sqrt(p * (1 - p) / n)
    return np.clip(p - h, 0.0, 1.0), np.clip(p + h, 0.0, 1.0)


def quantile_sums(values: ArrayLike, p: float) -> dict[str, float]:
    """The aggregate row of one arm (or arm x segment): ``n`` and the three order statistics.

    Parameters
    ----------
    values : array
        The metric's values, one per unit; NaN values are left out.
    p : float
        The quantile's probability, in (0, 1).

    Returns
    -------
    dict
        ``n``, ``quantile``, ``quantile_low``, ``quantile_high`` (NaN without values).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0.0, **dict.fromkeys(QUANTILE_COLUMNS, np.nan)}
    low, high = rank_bandwidth(x.size, p)
    q, q_low, q_high = np.quantile(x, [p, float(low), float(high)])
    return {"n": float(x.size), "quantile": float(q), "quantile_low": float(q_low), "quantile_high": float(q_high)}


def quantile_table(values: pd.Series, keys: list[pd.Series], p: float) -> pd.DataFrame:
    """:func:`quantile_sums` per group of ``keys`` (e.g. arm, or arm and segment).

    Parameters
    ----------
    values : Series
        The metric per unit.
    keys : list of Series
        Group labels aligned with ``values``.
    p : float
        The quantile's probability.

    Returns
    -------
    DataFrame
        The key columns and ``n`` plus :data:`QUANTILE_COLUMNS`, one row per group.
    """
    groups = values.groupby(keys, sort=False)
    rows = [(*(k if isinstance(k, tuple) else (k,)), *quantile_sums(g.to_numpy(), p).values()) for k, g in groups]
    return pd.DataFrame(rows, columns=[*(k.name for k in keys), "n", *QUANTILE_COLUMNS])


def quantile_moments(n: ArrayLike, q: ArrayLike, q_low: ArrayLike, q_high: ArrayLike, p: ArrayLike) -> Moments:
    """Moments of a quantile metric for the comparison engine.

    ``mean`` is the sample quantile and ``variance`` is ``n`` times its squared standard
    error, ``n * p (1 - p) / (n f^2)`` with the density ``f`` estimated from the order
    statistics (see the module docstring), so that ``variance / n`` is the squared error.

    Parameters
    ----------
    n, q, q_low, q_high : array
        The aggregate columns of the arm.
    p : array
        The quantile's probability per cell.

    Returns
    -------
    Moments
        Unadjusted moments; the variance is 0 (no interval) when the two order statistics
        coincide (ties at the quantile) and NaN without units.
    """
    n, q = np.asarray(n, dtype=float), np.asarray(q, dtype=float)
    spread = np.asarray(q_high, dtype=float) - np.asarray(q_low, dtype=float)
    low, high = rank_bandwidth(n, p)
    density = safe_div(high - low, spread)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.where(spread > 0, p * (1 - p) / density**2, 0.0)
    return Moments.unadjusted(n, q, np.where(n > 0, variance, np.nan))
