"""Sufficient statistics per arm (and per segment): what the engines compute effects from.

Every statistic is a frozen dataclass of sums that a warehouse can compute in one
``GROUP BY``; adding two statistics pools them (two segments, two months). Each exposes
``n``, ``mean`` (the metric level) and ``variance`` (the per-unit variance, so that the
variance of the mean is ``variance / n``), and :meth:`moments` for the vectorized engine.

=============================  ==============================================================
class                          sums (per arm)
=============================  ==============================================================
SampleMeanStatistic            n, sum(y), sum(y^2)
ProportionStatistic            n, sum(y) for y in {0, 1}
RatioStatistic                 n, sum(m), sum(m^2), sum(d), sum(d^2), sum(m*d)
RegressionAdjustedStatistic    n, sum(y), sum(y^2), sum(x), sum(x^2), sum(x*y)  (x = pre-period)
=============================  ==============================================================

A ratio with a pre-period (CUPED on a ratio) adds to the ratio's sums those of the pre-period
numerator ``x`` and denominator ``w``: sum(x), sum(x^2), sum(w), sum(w^2), sum(x*w) and the
cross-products sum(m*x), sum(m*w), sum(d*x), sum(d*w) (columns ``RATIO_PRE_COLUMNS``).

The array functions (:func:`mean_moments`, :func:`proportion_moments`, :func:`ratio_moments`)
take numpy arrays of the same sums, so thousands of metric x segment cells are computed
at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np
import pandas as pd

ArrayLike = Any


@dataclass(frozen=True)
class Moments:
    """Arrays describing one arm per cell, as the comparison engine needs them.

    Parameters
    ----------
    n : ndarray
        Units.
    mean : ndarray
        Unadjusted metric level (the base of relative effects).
    variance : ndarray
        Per-unit variance of ``mean`` (delta-method variance for ratios).
    est : ndarray
        The mean that enters the difference (CUPED-adjusted, else ``mean``).
    est_variance : ndarray
        Per-unit variance of ``est``.
    est_mean_cov : ndarray
        Per-unit covariance of ``est`` and ``mean`` (equals ``variance`` when unadjusted).
    """

    n: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    est: np.ndarray
    est_variance: np.ndarray
    est_mean_cov: np.ndarray

    @classmethod
    def unadjusted(cls, n: ArrayLike, mean: ArrayLike, variance: ArrayLike) -> Moments:
        """Build moments for a metric without covariate adjustment."""
        n, mean, variance = (np.asarray(a, dtype=float) for a in (n, mean, variance))
        return cls(n, mean, variance, mean, variance, variance)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Divide, giving NaN where the denominator is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


def sample_variance(n: ArrayLike, s: ArrayLike, ss: ArrayLike) -> np.ndarray:
    """Unbiased variance from ``n, sum, sum of squares`` (0 when ``n <= 1``; never negative)."""
    n, s, ss = (np.asarray(a, dtype=float) for a in (n, s, ss))
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (ss - s * s / np.where(n > 0, n, 1.0)) / (n - 1)
    return np.where(n > 1, np.maximum(var, 0.0), 0.0)


def sample_covariance(n: ArrayLike, sx: ArrayLike, sy: ArrayLike, sxy: ArrayLike) -> np.ndarray:
    """Unbiased covariance from ``n, sum(x), sum(y), sum(x*y)`` (0 when ``n <= 1``)."""
    n, sx, sy, sxy = (np.asarray(a, dtype=float) for a in (n, sx, sy, sxy))
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (sxy - sx * sy / np.where(n > 0, n, 1.0)) / (n - 1)
    return np.where(n > 1, cov, 0.0)


def mean_moments(n: ArrayLike, s: ArrayLike, ss: ArrayLike) -> Moments:
    """Moments of a mean metric from ``n, sum, sum of squares`` arrays."""
    n = np.asarray(n, dtype=float)
    return Moments.unadjusted(n, safe_div(np.asarray(s, dtype=float), n), sample_variance(n, s, ss))


def proportion_moments(n: ArrayLike, s: ArrayLike) -> Moments:
    """Moments of a proportion from ``n`` and the count of successes (variance ``p(1-p)``)."""
    n = np.asarray(n, dtype=float)
    p = safe_div(np.asarray(s, dtype=float), n)
    return Moments.unadjusted(n, p, np.where(np.isfinite(p), p * (1 - p), 0.0))


def ratio_moments(
    n: ArrayLike, m: ArrayLike, mm: ArrayLike, d: ArrayLike, dd: ArrayLike, md: ArrayLike
) -> Moments:
    """Moments of a ratio metric ``sum(m) / sum(d)`` by the delta method.

    The per-unit variance is
    ``var(m)/mu_d^2 - 2 mu_m cov(m, d)/mu_d^3 + mu_m^2 var(d)/mu_d^4``, so that
    ``variance / n`` is the variance of the ratio estimate.
    """
    n = np.asarray(n, dtype=float)
    mu_m, mu_d = safe_div(np.asarray(m, dtype=float), n), safe_div(np.asarray(d, dtype=float), n)
    var_m, var_d = sample_variance(n, m, mm), sample_variance(n, d, dd)
    cov = sample_covariance(n, m, d, md)
    ratio = safe_div(mu_m, mu_d)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = var_m / mu_d**2 - 2 * mu_m * cov / mu_d**3 + mu_m**2 * var_d / mu_d**4
    return Moments.unadjusted(n, ratio, np.where(np.isfinite(var), np.maximum(var, 0.0), 0.0))


class _Addable:
    """Pooling by ``+``: every field is a sum, so fields add."""

    def __add__(self, other: Self) -> Self:
        if type(other) is not type(self):
            raise TypeError(f"can only add another {type(self).__name__}, got {type(other).__name__}")
        return type(self)(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, float]:
        """Return the sums as a mapping (the aggregate-table columns)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def mean(self) -> float:
        """``sum / n``: the mean, or the proportion (NaN when empty)."""
        return self.sum / self.n if self.n else float("nan")  # type: ignore[attr-defined]


class _SumOfSquares(_Addable):
    """Statistics whose ``sum`` and ``sum_squares`` are of the unit values."""

    @property
    def variance(self) -> float:
        """Unbiased per-unit variance of the unit values."""
        return float(sample_variance(self.n, self.sum, self.sum_squares))  # type: ignore[attr-defined]


def _finite(values: ArrayLike) -> np.ndarray:
    """The unit values as floats, NaN dropped."""
    y = np.asarray(values, dtype=float)
    return y[np.isfinite(y)]


def _paired_sums(a: ArrayLike, b: ArrayLike) -> tuple[int, float, float, float, float, float]:
    """``n, sum a, sum a^2, sum b, sum b^2, sum ab`` over units where both values are finite."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    return int(a.size), *map(float, (a.sum(), (a * a).sum(), b.sum(), (b * b).sum(), (a * b).sum()))


@dataclass(frozen=True)
class SampleMeanStatistic(_SumOfSquares):
    """Sums for a mean metric: ``n``, ``sum`` and ``sum_squares`` of the unit values."""

    n: int
    sum: float
    sum_squares: float

    def moments(self) -> Moments:
        """Moments for the comparison engine."""
        return mean_moments([self.n], [self.sum], [self.sum_squares])

    @classmethod
    def from_values(cls, values: ArrayLike) -> SampleMeanStatistic:
        """Build from unit values (NaN dropped)."""
        y = _finite(values)
        return cls(int(y.size), float(y.sum()), float((y * y).sum()))


@dataclass(frozen=True)
class ProportionStatistic(_Addable):
    """Sums for a proportion: ``n`` units and ``sum`` successes."""

    n: int
    sum: float

    @property
    def variance(self) -> float:
        """Per-unit variance ``p(1-p)``."""
        return float(proportion_moments([self.n], [self.sum]).variance[0])

    def moments(self) -> Moments:
        """Moments for the comparison engine."""
        return proportion_moments([self.n], [self.sum])

    @classmethod
    def from_values(cls, values: ArrayLike) -> ProportionStatistic:
        """Build from 0/1 (or boolean) unit values (NaN dropped)."""
        y = _finite(values)
        return cls(int(y.size), float(y.sum()))


@dataclass(frozen=True)
class RatioStatistic(_Addable):
    """Sums for a ratio metric ``sum(m) / sum(d)`` (e.g. tickets per user-month).

    ``sum``/``sum_squares`` are of the numerator, ``den_sum``/``den_sum_squares`` of the
    denominator, ``sum_products`` of numerator x denominator, per unit.
    """

    n: int
    sum: float
    sum_squares: float
    den_sum: float
    den_sum_squares: float
    sum_products: float

    @property
    def mean(self) -> float:
        """The ratio (NaN when the denominator sums to zero)."""
        return self.sum / self.den_sum if self.den_sum else float("nan")

    @property
    def variance(self) -> float:
        """Per-unit delta-method variance of the ratio."""
        return float(self.moments().variance[0])

    def moments(self) -> Moments:
        """Moments for the comparison engine."""
        return ratio_moments(
            [self.n], [self.sum], [self.sum_squares], [self.den_sum], [self.den_sum_squares], [self.sum_products]
        )

    @classmethod
    def from_values(cls, numerator: ArrayLike, denominator: ArrayLike) -> RatioStatistic:
        """Build from unit numerators and denominators (units with a NaN dropped)."""
        return cls(*_paired_sums(numerator, denominator))


@dataclass(frozen=True)
class RegressionAdjustedStatistic(_SumOfSquares):
    """Sums for a mean metric ``y`` with a pre-period covariate ``x`` (CUPED).

    ``sum``/``sum_squares`` are of ``y``, ``pre_sum``/``pre_sum_squares`` of ``x`` and
    ``sum_post_pre`` of ``x * y``.
    """

    n: int
    sum: float
    sum_squares: float
    pre_sum: float
    pre_sum_squares: float
    sum_post_pre: float

    @property
    def pre_variance(self) -> float:
        """Per-unit variance of the covariate."""
        return float(sample_variance(self.n, self.pre_sum, self.pre_sum_squares))

    @property
    def covariance(self) -> float:
        """Per-unit covariance of ``y`` and the covariate."""
        return float(sample_covariance(self.n, self.sum, self.pre_sum, self.sum_post_pre))

    @classmethod
    def from_values(cls, values: ArrayLike, pre: ArrayLike) -> RegressionAdjustedStatistic:
        """Build from unit values and their pre-period values (units with a NaN dropped)."""
        return cls(*_paired_sums(values, pre))


Statistic = SampleMeanStatistic | ProportionStatistic | RatioStatistic | RegressionAdjustedStatistic

#: Extra sums of a ratio with a pre-period: the pre-period denominator and the cross-products.
RATIO_PRE_COLUMNS = (
    "pre_den_sum", "pre_den_sum_squares", "pre_sum_products",
    "sum_post_pre_den", "den_sum_post_pre", "den_sum_post_pre_den",
)
#: Columns of the aggregate table: the sums per (metric, arm, segment).
#: Order statistics of a quantile metric per arm (not sums: see ``randomized/quantile.py``).
QUANTILE_COLUMNS = ("quantile", "quantile_low", "quantile_high")
AGGREGATE_COLUMNS = (
    "n", "sum", "sum_squares", "den_sum", "den_sum_squares", "sum_products",
    "pre_sum", "pre_sum_squares", "sum_post_pre", *RATIO_PRE_COLUMNS, *QUANTILE_COLUMNS,
)


def ratio_pre_terms(
    y: ArrayLike, d: ArrayLike, x: ArrayLike, w: ArrayLike
) -> dict[str, ArrayLike]:
    """Per-unit terms of a ratio's pre-period sums (pre numerator ``x``, pre denominator ``w``).

    Works on pandas Series and on ibis columns alike, so the warehouse and a unit table
    build the same sums.

    Returns
    -------
    dict
        ``pre_sum, pre_sum_squares, sum_post_pre`` and :data:`RATIO_PRE_COLUMNS`.
    """
    return {
        "pre_sum": x, "pre_sum_squares": x * x, "sum_post_pre": x * y,
        "pre_den_sum": w, "pre_den_sum_squares": w * w, "pre_sum_products": x * w,
        "sum_post_pre_den": y * w, "den_sum_post_pre": d * x, "den_sum_post_pre_den": d * w,
    }


def sum_terms(
    y: ArrayLike,
    kind: str,
    *,
    denominator: ArrayLike | None = None,
    pre: ArrayLike | None = None,
    pre_denominator: ArrayLike | None = None,
) -> dict[str, ArrayLike]:
    """Per-unit terms whose sums are a metric's sufficient statistics (all but ``n``).

    Works on pandas Series and on ibis columns alike, so a user's unit table and the
    warehouse build the same sums.

    Parameters
    ----------
    y : Series or column
        The metric per unit (the numerator for ratios).
    kind : {"mean", "proportion", "ratio"}
        The metric kind.
    denominator : Series or column, optional
        Required for ratios.
    pre : Series or column, optional
        Pre-period covariate for CUPED (the pre-period numerator for ratios).
    pre_denominator : Series or column, optional
        Pre-period denominator of a ratio, with ``pre``.

    Returns
    -------
    dict
        Aggregate-column name -> per-unit term (:data:`AGGREGATE_COLUMNS` but ``n``).
    """
    terms = {"sum": y, "sum_squares": y * y}
    if kind == "ratio":
        d = denominator
        terms |= {"den_sum": d, "den_sum_squares": d * d, "sum_products": y * d}
        if pre is not None and pre_denominator is not None:
            terms |= ratio_pre_terms(y, d, pre, pre_denominator)
    elif pre is not None:
        terms |= {"pre_sum": pre, "pre_sum_squares": pre * pre, "sum_post_pre": pre * y}
    return terms


def unit_sums(
    values: pd.Series,
    kind: str,
    *,
    denominator: pd.Series | None = None,
    pre: pd.Series | None = None,
    pre_denominator: pd.Series | None = None,
) -> pd.DataFrame:
    """Per-unit terms whose group sums are the sufficient statistics.

    Parameters
    ----------
    values : Series
        The metric per unit (the numerator for ratios).
    kind : {"mean", "proportion", "ratio"}
        The metric kind.
    denominator : Series, optional
        Required for ratios.
    pre : Series, optional
        Pre-period covariate for CUPED (the pre-period numerator for ratios).
    pre_denominator : Series, optional
        Pre-period denominator, with ``pre``, for CUPED on a ratio.

    Returns
    -------
    DataFrame
        One row per unit with the :data:`AGGREGATE_COLUMNS` terms; units with a missing
        value are dropped (``n`` counts the rest).
    """
    def as_float(x: pd.Series | None) -> pd.Series | None:
        return None if x is None else x.astype(float)

    y = values.astype(float)
    terms = {
        "n": pd.Series(1.0, index=y.index),
        **sum_terms(
            y, kind, denominator=as_float(denominator), pre=as_float(pre), pre_denominator=as_float(pre_denominator)
        ),
    }
    frame = pd.DataFrame(terms)
    return frame[frame.notna().all(axis=1)]


def statistic_from_row(kind: str, row: Any) -> Statistic:
    """Build the statistic of ``kind`` from a mapping or aggregate-table row.

    Parameters
    ----------
    kind : {"mean", "proportion", "ratio"}
        The metric kind; a row with a non-missing ``pre_sum`` gives a
        :class:`RegressionAdjustedStatistic` for means and proportions.
    row : mapping
        Holds the :data:`AGGREGATE_COLUMNS` the kind needs.

    Returns
    -------
    Statistic
        The matching dataclass.

    Raises
    ------
    ValueError
        When ``kind`` is unknown.
    """
    get = row.get if hasattr(row, "get") else row.__getitem__
    pre = get("pre_sum")
    if kind in ("mean", "proportion") and pre is not None and np.isfinite(pre):
        return RegressionAdjustedStatistic(
            int(get("n")), float(get("sum")), float(get("sum_squares")), float(pre),
            float(get("pre_sum_squares")), float(get("sum_post_pre")),
        )
    if kind == "mean":
        return SampleMeanStatistic(int(get("n")), float(get("sum")), float(get("sum_squares")))
    if kind == "proportion":
        return ProportionStatistic(int(get("n")), float(get("sum")))
    if kind == "ratio":
        return RatioStatistic(
            int(get("n")), float(get("sum")), float(get("sum_squares")), float(get("den_sum")),
            float(get("den_sum_squares")), float(get("sum_products")),
        )
    raise ValueError(f"kind must be one of 'mean', 'proportion', 'ratio', got {kind!r}")


#: Column prefixes of the sums of a metric with ``adjust``: covariate sums, cross-products
#: and products with the metric (``cov_x@a``, ``cov_xx@a*b``, ``cov_xy@a``), and per-stratum
#: sums (``strata_n@segment=smb``, ``strata_sum@...``, ``strata_sum_squares@...``).
ADJUST_PREFIXES = ("cov_x@", "cov_xx@", "cov_xy@", "strata_n@", "strata_sum@", "strata_sum_squares@")


def adjust_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` holding the sums of ``adjust`` (:data:`ADJUST_PREFIXES`)."""
    return [c for c in frame.columns if str(c).startswith(ADJUST_PREFIXES)]


def covariate_terms(y: ArrayLike, covariates: Mapping[str, ArrayLike]) -> dict[str, ArrayLike]:
    """Per-unit terms whose sums several-covariate CUPED needs, besides ``n, sum(y), sum(y^2)``.

    Works on pandas Series and on ibis columns alike, so a user's unit table and the
    warehouse build the same sums.

    Parameters
    ----------
    y : Series or column
        The metric per unit.
    covariates : mapping of str to Series or column
        Each covariate by name, in the order of ``adjust.covariates``.

    Returns
    -------
    dict
        ``cov_x@<a>`` (``x_a``), ``cov_xy@<a>`` (``x_a y``) and ``cov_xx@<a>*<b>``
        (``x_a x_b`` for every pair with ``a`` listed before or equal to ``b``).
    """
    names = list(covariates)
    out: dict[str, ArrayLike] = {}
    for i, a in enumerate(names):
        out[f"cov_x@{a}"] = covariates[a]
        out[f"cov_xy@{a}"] = covariates[a] * y
        for b in names[i:]:
            out[f"cov_xx@{a}*{b}"] = covariates[a] * covariates[b]
    return out


def strata_columns(
    groups: pd.DataFrame, keys: list[str], stratum: str, sums: Mapping[str, str], label: str | None = None
) -> pd.DataFrame:
    """Spread per-stratum sums into columns, one row per group of ``keys``.

    Parameters
    ----------
    groups : DataFrame
        Sums per ``keys`` x stratum (a few rows: the engine's ``GROUP BY`` output).
    keys : list of str
        The columns of one row of the result (arm, segment...).
    stratum : str
        The strata column of ``groups``.
    sums : mapping of str to str
        Output name (``n``, ``sum``, ``sum_squares``) -> column of ``groups`` holding it.
    label : str, optional
        The strata column's name in the output (default ``stratum``).

    Returns
    -------
    DataFrame
        ``keys`` and ``strata_<name>@<label>=<level>`` per sum and level (0 where a
        group has no unit of a level).
    """
    labelled = groups.assign(_level=(label or stratum) + "=" + groups[stratum].astype("string").fillna("(missing)"))
    wide = labelled.pivot_table(index=keys, columns="_level", values=list(sums.values()), aggfunc="sum", fill_value=0.0)
    flat = {f"strata_{name}@{level}": wide[(col, level)] for name, col in sums.items() for level in wide[col].columns}
    return pd.DataFrame(flat).reset_index()
