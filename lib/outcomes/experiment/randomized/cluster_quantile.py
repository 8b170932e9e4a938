"""Quantile metrics of cluster-randomized initiatives: a cluster-robust interval for a percentile.

An arm's sample quantile ``q`` moves with the share of units at or below it (Bahadur):
``q_hat - q ~ -(F_hat(q) - p) / f(q)``. When whole clusters (queues) got an arm, that share
``F_hat(q) = sum_g b_g / sum_g n_g`` (``b_g`` units of cluster ``g`` at or below the arm's
sample quantile) is a ratio of cluster sums, so its variance is the cluster-robust variance of
a proportion (:func:`~outcomes.experiment.randomized.cluster.arm_cluster_variance`, CR2 or
CR1), and the quantile's variance is that divided by ``f(q)^2`` (Deng, Knoblich and Lu 2018,
section 4: quantile metrics when the unit of analysis is not the unit of randomization). The
density ``f`` is estimated from the order statistics as for independent units
(:mod:`~outcomes.experiment.randomized.quantile`).

The per-cluster sufficient statistics are ``n`` and ``b`` (written ``sum`` and, since an
indicator's square is itself, ``sum_squares``), so the cluster machinery reads them as a
proportion; the intra-cluster correlation of the primary quantile metric is the one of that
indicator, which sets the design effect of the percentile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from outcomes.experiment.statistics import ArrayLike, safe_div


def quantile_cluster_sums(values: pd.Series, keys: list[pd.Series], cluster: pd.Series, p: float) -> pd.DataFrame:
    """Per group of ``keys`` (arm, or arm and segment) and cluster: units and units at or below the group's quantile.

    Parameters
    ----------
    values : Series
        The metric per unit (no missing values).
    keys : list of Series
        Group labels aligned with ``values``, each with a name (``arm``, ``segment``).
    cluster : Series
        Each unit's cluster, aligned with ``values``.
    p : float
        The quantile's probability, in (0, 1).

    Returns
    -------
    DataFrame
        The key columns, ``cluster``, ``n``, ``sum`` (units at or below the group's sample
        quantile, linear interpolation as ``np.quantile``) and ``sum_squares`` (equal to ``sum``).
    """
    names = [str(k.name) for k in keys]
    frame = pd.DataFrame({name: k.to_numpy() for name, k in zip(names, keys, strict=True)}, index=values.index)
    frame["value"] = values.astype(float)
    frame["cluster"] = cluster.loc[values.index].astype("string").fillna("(missing)").to_numpy()
    threshold = frame.groupby(names, sort=False)["value"].transform(lambda v: float(np.quantile(v.to_numpy(), p)))
    frame["below"] = (frame["value"] <= threshold).astype(float)
    out = frame.groupby([*names, "cluster"], sort=False).agg(n=("value", "size"), sum=("below", "sum")).reset_index()
    out["n"] = out["n"].astype(float)
    out["sum_squares"] = out["sum"]
    return out


def cluster_quantile_variance(share_variance: ArrayLike, unit_variance: ArrayLike, p: ArrayLike) -> np.ndarray:
    """The cluster-robust variance of an arm's sample quantile.

    Parameters
    ----------
    share_variance : array
        Cluster-robust variance of the share of units at or below the arm's quantile.
    unit_variance : array
        The per-unit variance of the quantile for independent units, ``p (1 - p) / f^2``
        (:func:`~outcomes.experiment.randomized.quantile.quantile_moments`).
    p : array
        The quantile's probability.

    Returns
    -------
    ndarray
        ``share_variance / f^2``: the share's variance carried to the quantile through the density.
    """
    p = np.asarray(p, dtype=float)
    return np.asarray(share_variance, dtype=float) * safe_div(np.asarray(unit_variance, dtype=float), p * (1 - p))
