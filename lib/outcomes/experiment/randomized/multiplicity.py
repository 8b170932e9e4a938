"""Multiple-comparison corrections over families of p-values (vectorized).

An initiative tests several metrics, and sometimes several arms and segments; each extra
test is another chance of a false alarm. Adjusted p-values:

* ``"holm"`` (default): Holm-Bonferroni, controls the family-wise error rate (the chance of
  *any* false claim) at alpha; uniformly more powerful than Bonferroni.
  ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j))`` over the sorted p-values.
* ``"bh"``: Benjamini-Hochberg, controls the false discovery rate (the expected share of
  false claims among claims); suits segment breakdowns with many cells.
  ``p_adj(i) = min_{j >= i} min(1, m p(j) / j)``.
* ``"none"``: no adjustment.

The results equal ``statsmodels.stats.multitest.multipletests(p, method="holm" | "fdr_bh")``
(checked in the tests). We compute them here because many families (one per metric x arm
of a segment breakdown) are adjusted in one sorted pass, while ``multipletests`` handles
one family per call and runs a full garbage collection on every call (statsmodels 0.15),
which costs about 0.1 s per family.

Families (see docs/statistics.md): the primary and secondary metrics x arms form one family,
the guardrails x arms another, and each metric x arm's segment breakdown its own.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from outcomes.experiment.statistics import ArrayLike

Correction = Literal["holm", "bh", "none"]


def adjust_groups(p_values: ArrayLike, groups: ArrayLike, method: Correction = "holm") -> np.ndarray:
    """Adjust p-values within each group (family); NaN entries are left out and stay NaN.

    Parameters
    ----------
    p_values : array
        Raw p-values.
    groups : array
        A family label per p-value.
    method : {"holm", "bh", "none"}
        The correction.

    Returns
    -------
    ndarray
        Adjusted p-values, same shape as ``p_values``.

    Raises
    ------
    ValueError
        When ``method`` is not recognised.
    """
    if method not in ("holm", "bh", "none"):
        raise ValueError(f"correction must be one of 'holm', 'bh', 'none', got {method!r}")
    p = np.asarray(p_values, dtype=float).ravel()
    out = p.copy()
    ok = np.flatnonzero(np.isfinite(p))
    if method == "none" or ok.size == 0:
        return out
    _, gid = np.unique(np.asarray(groups).ravel()[ok], return_inverse=True)
    order = np.lexsort((p[ok], gid))
    g, ps = gid[order], p[ok][order]
    sizes = np.bincount(g)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.arange(ps.size) - starts[g] + 1  # 1-based rank within the family
    m = sizes[g]
    single = sizes.size == 1  # one family: a plain running max/min, no grouping needed
    if method == "holm":
        step = np.minimum(1.0, (m - rank + 1) * ps)
        adj = np.maximum.accumulate(step) if single else pd.Series(step).groupby(g).cummax().to_numpy()
    else:
        step = np.minimum(1.0, m * ps / rank)[::-1]
        adj = (np.minimum.accumulate(step) if single else pd.Series(step).groupby(g[::-1]).cummin().to_numpy())[::-1]
    result = np.empty(ok.size)
    result[order] = adj
    out[ok] = result
    return out


def adjust(p_values: ArrayLike, method: Correction = "holm") -> np.ndarray:
    """Adjust one family of p-values (NaN entries left out and kept NaN).

    Parameters
    ----------
    p_values : array
        Raw p-values.
    method : {"holm", "bh", "none"}
        The correction.

    Returns
    -------
    ndarray
        Adjusted p-values.
    """
    p = np.asarray(p_values, dtype=float)
    return adjust_groups(p, np.zeros(p.size, dtype=int), method).reshape(p.shape)
