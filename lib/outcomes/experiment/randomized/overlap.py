"""Overlapping initiatives: does one initiative's effect depend on another's, and the program holdout.

When two randomized initiatives share units (the same customers in the chatbot test and in
the portal test), the units in both form a 2x2 of assignments. From per-cell sufficient
statistics ``(n, sum, sum of squares)``, cell ``(a, b)`` with mean ``m_ab`` and per-unit
variance ``s_ab^2``:

* each initiative's effect within each arm of the other, ``m_1b - m_0b`` and ``m_a1 - m_a0``
  (Welch, :func:`~outcomes.experiment.randomized.frequentist.compare`);
* the **interaction** (difference of differences) ``(m_11 - m_01) - (m_10 - m_00)`` with
  ``Var = sum_ab s_ab^2 / n_ab`` (the four cells are independent), a t test of "no
  interaction" with Welch-Satterthwaite degrees of freedom
  ``(sum v_ab)^2 / sum (v_ab^2 / (n_ab - 1))``, ``v_ab = s_ab^2 / n_ab``.

The estimate equals the ``a:b`` coefficient of the OLS fit ``y ~ a * b`` and its standard error
equals that fit's HC2 (leverage-corrected heteroskedasticity-robust) standard error exactly:
in the saturated model every unit's leverage is ``1 / n_ab``. The classic (pooled) standard
error assumes one variance in all cells and HC1 scales HC0 by ``N / (N - 4)``; neither equals
this one unless the cells happen to share their variance and size.

A **program holdout** keeps a share of units out of every initiative; its comparison with the
units exposed to at least one initiative is the program's total effect, one more
:class:`~outcomes.experiment.results.MetricEffect` (arm ``"exposed"``, control ``"holdout"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from outcomes import format as fmt
from outcomes.experiment.randomized.frequentist import Comparison, check_alpha, compare
from outcomes.experiment.results import MetricEffect
from outcomes.experiment.statistics import ArrayLike, Moments, mean_moments, proportion_moments

OverlapKind = Literal["mean", "proportion"]


@dataclass(frozen=True)
class InteractionArrays:
    """The interaction of two initiatives, one element per compared cell (see :func:`interaction`)."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray


def _moments(kind: OverlapKind, n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> Moments:
    return proportion_moments(n, s) if kind == "proportion" else mean_moments(n, s, ss)


def interaction(
    n: ArrayLike, s: ArrayLike, ss: ArrayLike, kind: OverlapKind = "mean", alpha: float = 0.05
) -> InteractionArrays:
    """Difference of differences from the sums of the four assignment cells (vectorized).

    Parameters
    ----------
    n, s, ss : array of shape ``(..., 2, 2)``
        Units, sum and sum of squares of the metric per cell; axis -2 is initiative A's
        assignment (control, treatment), axis -1 initiative B's. ``ss`` is unused for
        proportions (variance ``p (1 - p)``).
    kind : {"mean", "proportion"}
    alpha : float
        Two-sided level of the interval, in (0, 1).

    Returns
    -------
    InteractionArrays
        ``(m_11 - m_01) - (m_10 - m_00)``, its standard error, Welch-Satterthwaite degrees
        of freedom, the ``1 - alpha`` interval and the two-sided p-value; NaN where a cell
        has fewer than 2 units or all cells have zero variance.
    """
    alpha = check_alpha(alpha)
    m = _moments(kind, *(np.asarray(a, dtype=float) for a in (n, s, ss)))
    sign = np.array([[1.0, -1.0], [-1.0, 1.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        v = m.variance / m.n
        est = (sign * m.mean).sum(axis=(-2, -1))
        var = v.sum(axis=(-2, -1))
        se = np.sqrt(var)
        df = var**2 / (v**2 / (m.n - 1)).sum(axis=(-2, -1))
        df = np.where(np.isfinite(df), df, np.inf)
        q = stats.t.ppf(1 - alpha / 2, df)
        p = 2 * stats.t.sf(np.abs(est / se), df)
    ok = (m.n >= 2).all(axis=(-2, -1)) & np.isfinite(se) & (se > 0)

    def keep(a: np.ndarray) -> np.ndarray:
        return np.where(ok, a, np.nan)

    return InteractionArrays(keep(est), keep(se), keep(df), keep(est - q * se), keep(est + q * se), keep(p))


def interaction_power(effect: float, se: float, alpha: float = 0.05, df: float = math.inf) -> float:
    """Chance that the two-sided test of no interaction rejects when the interaction is ``effect``.

    ``T(|effect| / se - q) + T(-|effect| / se - q)``, ``T`` the t distribution with ``df``
    degrees of freedom (normal when infinite) and ``q`` its ``1 - alpha / 2`` quantile; ``se``
    and ``df`` as :func:`interaction` gives them, ``sqrt(sum s^2 / n)`` and Welch-Satterthwaite's.
    """
    dist = stats.norm if math.isinf(df) else stats.t(df)
    q = dist.ppf(1 - check_alpha(alpha) / 2)
    k = abs(effect) / se
    return float(dist.cdf(k - q) + dist.cdf(-k - q))


@dataclass(frozen=True)
class OverlapResult:
    """Two initiatives that share units: their effects within each other's arms and their interaction.

    Parameters
    ----------
    metric : str
        The compared column.
    names : tuple of str
        Display names of initiatives A and B.
    cells : DataFrame
        The 2x2: one row per ``(arm_a, arm_b)`` with ``n``, ``sum``, ``sum_squares``, ``mean``.
    effects : tuple of MetricEffect
        A within B's control, A within B's treatment, B within A's control, B within A's
        treatment (``segment`` names the other initiative's arm). They describe the
        interaction and are not a family of decisions: ``p_value_adjusted`` equals ``p_value``.
    estimate, se, df, ci_low, ci_high, p_value : float
        The interaction and its test.
    alpha : float
    unit : str
        Display unit (``"fraction"`` for proportions).
    share_in_both : float
        Units in both tests over units in at least one.
    n_both, n_any : int
        Those two counts.
    """

    metric: str
    names: tuple[str, str]
    cells: pd.DataFrame
    effects: tuple[MetricEffect, ...]
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    unit: str
    share_in_both: float
    n_both: int
    n_any: int

    @property
    def depends(self) -> bool:
        """Whether the test rejects "no interaction" at ``alpha``."""
        return math.isfinite(self.p_value) and self.p_value < self.alpha

    def conf_int(self) -> tuple[float, float]:
        """Return the ``1 - alpha`` interval of the interaction."""
        return (self.ci_low, self.ci_high)

    def sentence(self) -> str:
        """One plain sentence: does A's effect depend on B, with the interaction and its interval."""
        a, b = self.names
        if not math.isfinite(self.estimate) or not math.isfinite(self.se):
            return f"Whether {a}'s effect depends on {b} cannot be told: a cell of the 2x2 has fewer than 2 units or no variation."
        verb = "depends" if self.depends else "does not depend"
        return (
            f"{a}'s effect {verb} on {b}: interaction {fmt.change(self.estimate, self.unit)} "
            f"({fmt.confidence(self.alpha)} CI {fmt.interval(self.ci_low, self.ci_high, self.unit)}; "
            f"{fmt.p_value(self.p_value)}); {fmt.percent(self.share_in_both)} of units are in both tests."
        )

    def summary(self) -> str:
        """Return the sentence followed by the four effects within the other initiative's arms."""
        return "\n".join([self.sentence(), *(f"  {e.sentence()}" for e in self.effects)])


def _effect(comp: Comparison, i: int, **fixed: object) -> MetricEffect:
    """Row ``i`` of a comparison as a :class:`MetricEffect` (a single comparison: adjusted p = p)."""
    names = (
        "control_mean", "treatment_mean", "estimate_abs", "estimate_rel", "se_abs", "se_rel", "df",
        "ci_low", "ci_high", "ci_rel_low", "ci_rel_high", "p_value",
    )
    values = {k: float(getattr(comp, k)[i]) for k in names}
    return MetricEffect(
        **values, p_value_adjusted=values["p_value"],
        n_control=int(comp.n_control[i]), n_treatment=int(comp.n_treatment[i]), **fixed,  # type: ignore[arg-type]
    )


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise when a named column is missing from the unit table, listing the columns it has."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what}: column(s) {missing} not in the unit table; columns in the table: {list(df.columns)}. "
            "Name the columns that hold the assignments and the metric."
        )


def _sums(y: pd.Series, keys: list[pd.Series]) -> pd.DataFrame:
    """``n``, ``sum`` and ``sum_squares`` of ``y`` per group of ``keys``."""
    frame = pd.DataFrame({"y": y.astype(float), "y2": y.astype(float) ** 2})
    g = frame.groupby(keys, dropna=False)
    return pd.DataFrame({"n": g["y"].count(), "sum": g["y"].sum(), "sum_squares": g["y2"].sum()})


def overlap(
    df: pd.DataFrame,
    metric: str,
    arm_a: str = "arm_a",
    arm_b: str = "arm_b",
    arms_a: tuple[str, str] = ("control", "treatment"),
    arms_b: tuple[str, str] = ("control", "treatment"),
    names: tuple[str, str] | None = None,
    kind: OverlapKind = "mean",
    alpha: float = 0.05,
) -> OverlapResult:
    """Analyse two initiatives that share units: effects within each other's arms and their interaction.

    Parameters
    ----------
    df : DataFrame
        One row per unit; ``arm_a`` / ``arm_b`` hold each initiative's assignment (missing
        when the unit is not in that test) and ``metric`` the outcome (0/1 for proportions).
    metric, arm_a, arm_b : str
        Column names.
    arms_a, arms_b : tuple of str
        ``(control, treatment)`` values of each assignment column.
    names : tuple of str, optional
        Display names of the initiatives (default: the column names).
    kind : {"mean", "proportion"}
    alpha : float
        Two-sided level, in (0, 1).

    Returns
    -------
    OverlapResult

    Raises
    ------
    ValueError
        When a column is missing, or an assignment column holds a value other than its two
        arms (missing aside), or ``kind`` is not "mean" or "proportion".
    """
    alpha = check_alpha(alpha)
    if kind not in ("mean", "proportion"):
        raise ValueError(f"kind must be 'mean' or 'proportion', got {kind!r}")
    _require(df, [metric, arm_a, arm_b], "overlap")
    for col, arms in ((arm_a, arms_a), (arm_b, arms_b)):
        bad = sorted(set(df[col].dropna().astype(str)) - set(arms))
        if bad:
            raise ValueError(
                f"overlap: column {col!r} holds {bad}, not one of its arms {list(arms)}; "
                f"pass arms_a/arms_b with the (control, treatment) values, or leave units outside the test empty."
            )
    in_a, in_b = df[arm_a].notna(), df[arm_b].notna()
    both = df[in_a & in_b & df[metric].notna()]
    sums = _sums(both[metric], [both[arm_a].astype(str), both[arm_b].astype(str)])
    return overlap_from_sums(
        sums.reset_index(), metric, arm_a, arm_b, arms_a, arms_b, names, kind, alpha,
        n_both=int((in_a & in_b).sum()), n_any=int((in_a | in_b).sum()),
    )


def overlap_from_sums(
    sums: pd.DataFrame,
    metric: str,
    arm_a: str,
    arm_b: str,
    arms_a: tuple[str, str],
    arms_b: tuple[str, str],
    names: tuple[str, str] | None,
    kind: OverlapKind,
    alpha: float,
    *,
    n_both: int,
    n_any: int,
) -> OverlapResult:
    """:func:`overlap` from the sums of the 2x2 cells, as a warehouse ``GROUP BY`` returns them.

    Parameters
    ----------
    sums : DataFrame
        One row per cell: columns ``arm_a``, ``arm_b`` (the two assignments), ``n``, ``sum``
        and ``sum_squares`` of the metric over the units in both tests; a missing cell
        counts as empty.
    metric, arm_a, arm_b, arms_a, arms_b, names, kind, alpha
        As :func:`overlap`.
    n_both, n_any : int
        Units in both tests and in at least one.

    Returns
    -------
    OverlapResult
    """
    alpha = check_alpha(alpha)
    index = pd.MultiIndex.from_product([list(arms_a), list(arms_b)], names=[arm_a, arm_b])
    keyed = sums.assign(**{arm_a: sums[arm_a].astype(str), arm_b: sums[arm_b].astype(str)}).set_index([arm_a, arm_b])
    sums = keyed[["n", "sum", "sum_squares"]].reindex(index, fill_value=0)
    n, s, ss = (sums[c].to_numpy(dtype=float).reshape(2, 2) for c in ("n", "sum", "sum_squares"))
    inter = interaction(n, s, ss, kind, alpha)
    cells = sums.reset_index()
    cells["mean"] = cells["sum"] / cells["n"].where(cells["n"] > 0)

    m = _moments(kind, n, s, ss)
    # A within B's control, A within B's treatment, B within A's control, B within A's treatment
    ctrl_idx = ((0, 0), (0, 1), (0, 0), (1, 0))
    trt_idx = ((1, 0), (1, 1), (0, 1), (1, 1))

    def pick(idx: tuple[tuple[int, int], ...]) -> Moments:
        rows, cols = np.array([i for i, _ in idx]), np.array([j for _, j in idx])
        return Moments.unadjusted(m.n[rows, cols], m.mean[rows, cols], m.variance[rows, cols])

    comp = compare(pick(ctrl_idx), pick(trt_idx), alpha)
    label_a, label_b = names or (arm_a, arm_b)
    unit = "fraction" if kind == "proportion" else ""
    within = (
        (arms_a, f"{label_b}={arms_b[0]}"), (arms_a, f"{label_b}={arms_b[1]}"),
        (arms_b, f"{label_a}={arms_a[0]}"), (arms_b, f"{label_a}={arms_a[1]}"),
    )
    effects = tuple(
        _effect(comp, i, metric=metric, arm=arms[1], control_arm=arms[0], kind=kind, unit=unit, alpha=alpha,
                segment=segment, label=f"{metric}, {label_a if i < 2 else label_b} within {segment}")
        for i, (arms, segment) in enumerate(within)
    )
    return OverlapResult(
        metric=metric, names=(label_a, label_b), cells=cells, effects=effects,
        estimate=float(inter.estimate), se=float(inter.se), df=float(inter.df), ci_low=float(inter.ci_low),
        ci_high=float(inter.ci_high), p_value=float(inter.p_value), alpha=alpha, unit=unit,
        share_in_both=n_both / n_any if n_any else math.nan, n_both=n_both, n_any=n_any,
    )


def program_holdout(
    df: pd.DataFrame,
    metric: str,
    program: str | None = "program",
    holdout: str = "holdout",
    assignments: Mapping[str, str] | None = None,
    kind: OverlapKind = "mean",
    alpha: float = 0.05,
) -> MetricEffect:
    """Compare the program holdout with the units exposed to at least one initiative.

    Parameters
    ----------
    df : DataFrame
        One row per unit.
    metric : str
        The outcome column (0/1 for proportions).
    program : str or None
        Column whose value ``holdout`` marks the units kept out of every initiative; every
        other unit counts as exposed. ``None`` to use ``assignments`` instead.
    holdout : str
        The holdout value of ``program``.
    assignments : mapping, optional
        Assignment column -> its control value; used when ``program`` is None. A unit is
        held out when it is in no initiative's treatment (control or missing in every
        column) and exposed otherwise.
    kind : {"mean", "proportion"}
    alpha : float

    Returns
    -------
    MetricEffect
        Arm ``"exposed"`` against control ``"holdout"``, Welch as every other comparison.

    Raises
    ------
    ValueError
        When a named column is missing, both or neither of ``program`` and ``assignments``
        are given, or ``kind`` is not "mean" or "proportion".
    """
    alpha = check_alpha(alpha)
    if kind not in ("mean", "proportion"):
        raise ValueError(f"kind must be 'mean' or 'proportion', got {kind!r}")
    if (program is None) == (assignments is None):
        raise ValueError(
            "program_holdout: give either program= (the column marking the holdout) or assignments= "
            "(assignment column -> control value), not both and not neither."
        )
    if program is not None:
        _require(df, [metric, program], "program_holdout")
        held = df[program].astype(str).eq(holdout) & df[program].notna()
    else:
        controls = dict(assignments or {})
        _require(df, [metric, *controls], "program_holdout")
        treated = pd.concat([df[c].notna() & df[c].astype(str).ne(v) for c, v in controls.items()], axis=1)
        held = ~treated.any(axis=1)
    y = df[metric].astype(float)
    ok = y.notna()
    sums = _sums(y[ok], [held[ok].map({True: "holdout", False: "exposed"}).rename("group")])
    return holdout_from_sums(sums.reset_index(), metric, kind, alpha)


def holdout_from_sums(sums: pd.DataFrame, metric: str, kind: OverlapKind = "mean", alpha: float = 0.05) -> MetricEffect:
    """:func:`program_holdout` from the sums of the two groups, as a warehouse ``GROUP BY`` returns them.

    Parameters
    ----------
    sums : DataFrame
        Columns ``group`` (``"holdout"`` or ``"exposed"``), ``n``, ``sum``, ``sum_squares``
        of the metric; a missing group counts as empty.
    metric : str
        The metric's id (named in the effect).
    kind : {"mean", "proportion"}
    alpha : float

    Returns
    -------
    MetricEffect
        Arm ``"exposed"`` against control ``"holdout"``.
    """
    alpha = check_alpha(alpha)
    if kind not in ("mean", "proportion"):
        raise ValueError(f"kind must be 'mean' or 'proportion', got {kind!r}")
    sums = sums.set_index("group")[["n", "sum", "sum_squares"]].reindex(["holdout", "exposed"], fill_value=0)
    n, s, ss = (sums[c].to_numpy(dtype=float) for c in ("n", "sum", "sum_squares"))
    m = _moments(kind, n, s, ss)
    control, exposed = (Moments.unadjusted(m.n[i : i + 1], m.mean[i : i + 1], m.variance[i : i + 1]) for i in (0, 1))
    comp = compare(control, exposed, alpha)
    return _effect(
        comp, 0, metric=metric, arm="exposed", control_arm="holdout", kind=kind,
        unit="fraction" if kind == "proportion" else "", alpha=alpha, segment="all", label=f"{metric} (program)",
    )


__all__ = [
    "InteractionArrays", "OverlapResult", "holdout_from_sums", "interaction", "interaction_power", "overlap",
    "overlap_from_sums", "program_holdout",
]
