"""Multiple-comparison corrections over a family of p-values.

An initiative tests several metrics, and sometimes several arms and segments; each extra
test is another chance of a false alarm. We adjust p-values with statsmodels'
``multipletests``:

* ``"holm"`` (default): Holm-Bonferroni, controls the family-wise error rate (the chance of
  *any* false claim) at alpha, uniformly more powerful than Bonferroni.
* ``"bh"``: Benjamini-Hochberg, controls the false discovery rate (the expected share of
  false claims among claims); suits segment breakdowns with many cells.
* ``"none"``: no adjustment (the adjusted p-value equals the raw one).

Families (see docs/statistics.md): the primary and secondary metrics x arms form one family,
the guardrails x arms another, and each metric x arm's segment breakdown its own.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

from outcomes.experiment.statistics import ArrayLike

Correction = Literal["holm", "bh", "none"]
_METHODS = {"holm": "holm", "bh": "fdr_bh"}


def adjust(p_values: ArrayLike, method: Correction = "holm") -> np.ndarray:
    """Adjust a family of p-values; NaN entries are left out of the family and stay NaN.

    Parameters
    ----------
    p_values : array
        Raw p-values.
    method : {"holm", "bh", "none"}
        The correction.

    Returns
    -------
    ndarray
        Adjusted p-values, same shape.

    Raises
    ------
    ValueError
        When ``method`` is not recognised.
    """
    if method not in ("holm", "bh", "none"):
        raise ValueError(f"correction must be one of 'holm', 'bh', 'none', got {method!r}")
    p = np.asarray(p_values, dtype=float)
    out = p.copy()
    ok = np.isfinite(p)
    if method != "none" and ok.sum() > 1:
        out[ok] = multipletests(p[ok], method=_METHODS[method])[1]
    return out


def adjust_groups(p_values: ArrayLike, groups: ArrayLike, method: Correction = "holm") -> np.ndarray:
    """Adjust p-values within each group (family) separately.

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
        Adjusted p-values.
    """
    p = np.asarray(p_values, dtype=float)
    labels = np.asarray(groups)
    out = np.full(p.shape, np.nan)
    for label in dict.fromkeys(labels.tolist()):
        idx = labels == label
        out[idx] = adjust(p[idx], method)
    return out
