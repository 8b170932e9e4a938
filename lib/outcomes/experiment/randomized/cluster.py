"""Cluster-randomized initiatives: the change is assigned by queue, team, site or store.

When whole clusters get an arm (``data: {cluster: queue}``), units in one cluster share
more than the arm, so the unit-level Welch test understates the standard error. The
analysis here works from per-cluster sufficient statistics (``n, sum, sum_squares`` and,
for ratios, ``den_sum`` per arm and cluster), which a warehouse ``GROUP BY`` returns.

* **Cluster-robust variance of each arm's mean.** The arm's estimate is the ratio
  ``R_a = sum_g s_g / sum_g d_g`` (``d_g = n_g`` for means and proportions). Its CR1
  variance is ``sum_g (s_g - R_a d_g)^2 / D_a^2`` times ``G/(G-1) (N-1)/(N-2)``: the
  sandwich variance of OLS ``y ~ arm`` with errors clustered by cluster (statsmodels
  ``OLS(...).fit(cov_type="cluster")``), split by arm. The default, CR2 (Bell and
  McCaffrey's bias-reduced linearization), divides each cluster's squared residual sum
  by ``1 - n_g / N_a`` (one minus the cluster's leverage) instead: with 20 clusters of
  unequal sizes CR1 rejects 6-7% of A/A tests at 5%, CR2 about 5% (tests).
* **t with ``G - 2`` degrees of freedom** (``G`` clusters over both arms), as the t-test
  on cluster-level means; with few clusters the normal interval is too narrow.
* **Intra-cluster correlation** by the one-way ANOVA estimator within arms
  ``ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW)``, with ``n0 = (N - sum_a sum_g n_g^2 / N_a) / (G - k)``,
  and the **design effect** ``1 + (m - 1) ICC`` at the mean cluster size ``m = N / G``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from outcomes.experiment.randomized.power import design_effect
from outcomes.experiment.statistics import ArrayLike, safe_div

#: Small-sample correction of the cluster-robust variance.
ClusterSE = Literal["CR2", "CR1"]

#: Clusters per arm below which the interval's t with ``G - 2`` degrees of freedom is stated.
FEW_CLUSTERS_PER_ARM = 20
#: Condition code: fewer than :data:`FEW_CLUSTERS_PER_ARM` clusters in an arm.
FEW_CLUSTERS = "few_clusters"
#: Per-cluster sums the analysis needs (``den_sum`` for ratio metrics only).
CLUSTER_COLUMNS = ("n", "sum", "sum_squares", "den_sum")


def cr1_factor(clusters: ArrayLike, units: ArrayLike, parameters: int = 2) -> np.ndarray:
    """The CR1 small-sample factor ``G/(G-1) (N-1)/(N-K)`` (statsmodels' default for clustered errors)."""
    g, n = np.asarray(clusters, dtype=float), np.asarray(units, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return g / (g - 1) * (n - 1) / (n - parameters)


def arm_cluster_variance(
    num: ArrayLike, den: ArrayLike, n: ArrayLike | None = None, method: ClusterSE = "CR2", axis: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """An arm's estimate ``sum(num) / sum(den)`` and its cluster-robust variance (vectorized).

    Parameters
    ----------
    num, den : array
        Per-cluster sums of the metric (numerator) and of the denominator (``n`` for means
        and proportions), clusters along ``axis``.
    n : array, optional
        Per-cluster units (the leverage of CR2); ``den`` when not given.
    method : {"CR2", "CR1"}
        ``CR2`` divides each squared residual sum by ``1 - n_g / N``; ``CR1`` returns the
        plain sum, to be multiplied by :func:`cr1_factor` over both arms.
    axis : int
        The cluster axis.

    Returns
    -------
    estimate, variance : ndarray
        ``R = sum(num) / sum(den)`` and ``sum_g w_g (num_g - R den_g)^2 / sum(den)^2`` with
        ``w_g = 1`` (CR1) or ``1 / (1 - n_g / N)`` (CR2; infinite with a single cluster).
    """
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    units = den if n is None else np.asarray(n, dtype=float)
    total = np.sum(den, axis=axis)
    r = safe_div(np.sum(num, axis=axis), total)
    squared = (num - np.expand_dims(r, axis) * den) ** 2
    if method == "CR2":
        with np.errstate(divide="ignore", invalid="ignore"):
            squared = squared / (1 - units / np.sum(units, axis=axis, keepdims=True))
    return r, safe_div(np.sum(squared, axis=axis), total**2)


def icc_anova(n: ArrayLike, s: ArrayLike, ss: ArrayLike, group: ArrayLike) -> tuple[float, float]:
    """Intra-cluster correlation by the one-way ANOVA estimator, clusters nested in arms.

    Parameters
    ----------
    n, s, ss : array
        Per-cluster units, sum and sum of squares.
    group : array
        Each cluster's arm (cluster means are centred on their arm's mean).

    Returns
    -------
    icc, n0 : float
        ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` (may be slightly negative by chance; NaN
        when undefined) and the ANOVA mean cluster size ``n0``.
    """
    frame = pd.DataFrame({"n": n, "s": s, "ss": ss, "g": group}).astype({"n": float, "s": float, "ss": float})
    frame = frame[frame["n"] > 0]
    big_n, clusters, arms = frame["n"].sum(), len(frame), frame["g"].nunique()
    if clusters - arms < 1 or big_n - clusters < 1:
        return float("nan"), float("nan")
    arm = frame.groupby("g")[["n", "s"]].transform("sum")
    arm_n2 = (frame["n"] ** 2).groupby(frame["g"]).transform("sum")
    cluster_mean, arm_mean = frame["s"] / frame["n"], arm["s"] / arm["n"]
    ssb = float((frame["n"] * (cluster_mean - arm_mean) ** 2).sum())
    ssw = float((frame["ss"] - frame["s"] ** 2 / frame["n"]).sum())
    msb, msw = ssb / (clusters - arms), ssw / (big_n - clusters)
    n0 = float((big_n - (arm_n2 / arm["n"]).groupby(frame["g"]).first().sum()) / (clusters - arms))
    denominator = msb + (n0 - 1) * msw
    return (float((msb - msw) / denominator) if denominator > 0 else float("nan")), n0


def cluster_sums(frame: pd.DataFrame, cluster: pd.Series, keys: list[str]) -> pd.DataFrame:
    """Sum per-unit terms (:func:`~outcomes.experiment.statistics.unit_sums` rows) per ``keys`` and cluster.

    Parameters
    ----------
    frame : DataFrame
        Per-unit terms with the ``keys`` columns (``arm``, ``segment``).
    cluster : Series
        Each unit's cluster, aligned on ``frame``'s index.
    keys : list of str
        The grouping columns besides the cluster.

    Returns
    -------
    DataFrame
        ``keys``, ``cluster`` and the :data:`CLUSTER_COLUMNS` present in ``frame``.
    """
    cols = [c for c in CLUSTER_COLUMNS if c in frame]
    labelled = frame[[*keys, *cols]].assign(cluster=cluster.loc[frame.index].astype("string").fillna("(missing)"))
    return labelled.groupby([*keys, "cluster"], sort=False)[cols].sum().reset_index()


def arm_summaries(clusters: pd.DataFrame, kinds: dict[str, str], method: ClusterSE = "CR2") -> pd.DataFrame:
    """Reduce per-cluster sums to one row per metric x arm x segment.

    Parameters
    ----------
    clusters : DataFrame
        Columns ``metric, arm, segment, cluster`` and :data:`CLUSTER_COLUMNS`.
    kinds : dict
        Metric id to kind (``ratio`` metrics use ``den_sum`` as the denominator).
    method : {"CR2", "CR1"}
        As :func:`arm_cluster_variance`.

    Returns
    -------
    DataFrame
        ``metric, arm, segment, clusters, units, cr_variance`` where ``cr_variance`` is
        the cluster-robust variance of the arm's estimate (for CR1, before :func:`cr1_factor`).
    """
    rows = []
    for (metric, arm, segment), g in clusters.groupby(["metric", "arm", "segment"], sort=False):
        den = g["den_sum"] if kinds[metric] == "ratio" else g["n"]
        _, var = arm_cluster_variance(g["sum"].to_numpy(), den.to_numpy(), g["n"].to_numpy(), method)
        rows.append((metric, str(arm), segment, int((g["n"] > 0).sum()), float(g["n"].sum()), float(var)))
    return pd.DataFrame(rows, columns=["metric", "arm", "segment", "clusters", "units", "cr_variance"])


@dataclass(frozen=True)
class ClusterDesign:
    """How clustered the primary metric is, for the method text.

    Parameters
    ----------
    column : str
        The cluster column (``data.cluster``).
    clusters : dict
        Clusters per arm.
    icc : float
        Intra-cluster correlation of the primary metric (ANOVA estimator, within arms).
    mean_size : float
        Mean units per cluster.
    method : {"CR2", "CR1"}
        The small-sample correction of the standard errors.
    measure : str
        What the correlation is of, in words (for a quantile metric, whether a unit is at or
        below its arm's percentile, the variable that sets the percentile's variance).
    """

    column: str
    clusters: dict[str, int]
    icc: float
    mean_size: float
    method: ClusterSE = "CR2"
    measure: str = "the primary metric"

    @property
    def design_effect(self) -> float:
        """``1 + (m - 1) ICC``: how many times the variance exceeds that of unit randomization."""
        return design_effect(self.mean_size, max(self.icc, 0.0)) if np.isfinite(self.icc) else float("nan")

    def summary(self) -> str:
        """One plain sentence."""
        total = sum(self.clusters.values())
        text = (
            f"Clustered by {self.column} ({total:,} clusters: "
            + ", ".join(f"{n:,} in {a!r}" for a, n in self.clusters.items())
            + f"): the arms are compared with cluster-robust ({self.method}) standard errors and a t with "
            f"{total - 2:,} degrees of freedom (clusters - 2)"
        )
        if np.isfinite(self.icc):
            text += (
                f". Intra-cluster correlation of {self.measure} {self.icc:.3f} at {self.mean_size:,.1f} units "
                f"per cluster gives a design effect of {self.design_effect:.2f} (the variance is that many times "
                "what randomizing units would give)"
            )
        return text + "."
