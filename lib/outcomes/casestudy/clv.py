"""Customer lifetime value: RFM summary, BG/NBD and Gamma-Gamma by maximum likelihood, CLV.

The pipeline, one step per function:

1. :func:`rfm_summary` turns a transactions table (the warehouse ``orders`` table or any
   table with a customer, a purchase time and an amount) into one row per customer, in the
   engine (ibis on DuckDB): ``frequency`` = repeat purchases (days with a purchase after
   the first), ``recency`` = time from the first to the last purchase, ``T`` = time from
   the first purchase to the end of observation, both in a stated time unit, and
   ``monetary_value`` = mean value of the repeat purchases (0 without repeats).
2. :func:`fit_bgnbd` fits the BG/NBD purchase and drop-out model of Fader, Hardie & Lee
   (2005) by maximum likelihood; :class:`BetaGeoFit` gives expected purchases and the
   probability that a customer is still active.
3. :func:`fit_gamma_gamma` fits the Gamma-Gamma spend model (Fader & Hardie 2013);
   :class:`GammaGammaFit` gives each customer's expected spend per purchase.
4. :func:`customer_lifetime_value` discounts the expected margin month by month over a
   horizon, per customer and per segment, with an interval from the parameters'
   uncertainty (:class:`CLVResult`).
5. :func:`simple_clv` is the textbook ``ARPU x margin / churn`` for comparison.

Both models are fitted on the log of their parameters with ``scipy.optimize.minimize``;
standard errors come from the numerical Hessian of the log-likelihood at the optimum.
The published estimates on the CDNOW sample (2,357 customers, weeks, 39-week
calibration) are reproduced by ``tests/test_clv.py``; see ``docs/clv.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import ibis
import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import betaln, gammaln, hyp2f1
from statsmodels.tools.numdiff import approx_hess3

from outcomes import format as fmt
from outcomes.errors import ParamsError

TimeUnit = Literal["day", "week", "month"]

#: Length of each time unit in days (a month is a twelfth of a Julian year).
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}

#: Columns of the per-customer summary that the models read.
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")

_LOG_BOUND = 20.0  # log-parameters are kept within (-20, 20) while optimising


def _table(data: ibis.Table | pd.DataFrame) -> ibis.Table:
    """Return ``data`` as an ibis table (pandas frames become in-memory DuckDB tables)."""
    return data if isinstance(data, ibis.Table) else ibis.memtable(data)


def _require(table: ibis.Table, columns: dict[str, str | None], what: str) -> None:
    """Raise when a named column is not in ``table``."""
    have = list(table.columns)
    missing = [f"{key}={col!r}" for key, col in columns.items() if col is not None and col not in have]
    if missing:
        raise ParamsError(
            f"{what}: column(s) not found: {', '.join(missing)}. Columns in the table: {have}. "
            "Pass the names of your table's columns."
        )


def _check_unit(time_unit: str) -> float:
    """Return the days per ``time_unit``, raising on an unknown unit."""
    if time_unit not in DAYS_PER_UNIT:
        raise ParamsError(f"time_unit must be one of {list(DAYS_PER_UNIT)}, got {time_unit!r}")
    return DAYS_PER_UNIT[time_unit]


def rfm_summary(
    transactions: ibis.Table | pd.DataFrame,
    *,
    customer: str = "customer_id",
    time: str = "ordered_at",
    amount: str | None = "revenue",
    observation_end: str | dt.date | None = None,
    time_unit: TimeUnit = "week",
    segments: ibis.Table | pd.DataFrame | None = None,
    segment_column: str = "segment",
) -> pd.DataFrame:
    """One row per customer: frequency, recency, T and monetary value, computed in the engine.

    Purchases on the same calendar day are one purchase (their amounts add up), as in the
    BG/NBD literature. Purchases after ``observation_end`` are left out, and so are
    customers whose first purchase comes after it.

    Parameters
    ----------
    transactions : ibis.Table or DataFrame
        One row per purchase, e.g. ``warehouse.connect().table("orders")``.
    customer, time : str
        The customer id column and the purchase time column (timestamp or date).
    amount : str or None
        The purchase value column; ``None`` when only counts are known (``monetary_value``
        is then 0).
    observation_end : str or date, optional
        Last day of observation (inclusive, ISO date); defaults to the last purchase day.
    time_unit : {"day", "week", "month"}
        Unit of ``recency`` and ``T`` (a week is 7 days, a month 365.25 / 12 days).
    segments : ibis.Table or DataFrame, optional
        A table with the ``customer`` column and ``segment_column`` (e.g. the warehouse
        ``customers`` table); its segment is joined to each customer (``"(none)"`` when
        missing).
    segment_column : str
        The segment column of ``segments``.

    Returns
    -------
    DataFrame
        Columns ``customer, first_purchase, frequency, recency, T, monetary_value`` (and
        ``segment``), sorted by customer; ``frequency`` is an integer, ``recency`` and
        ``T`` are in ``time_unit``, ``monetary_value`` in the currency of ``amount``.

    Raises
    ------
    ParamsError
        When a named column is missing or ``time_unit`` is unknown.
    """
    days = _check_unit(time_unit)
    t = _table(transactions)
    _require(t, {"customer": customer, "time": time, "amount": amount}, "rfm_summary transactions")
    day = t[time].cast("date")
    value = t[amount].cast("float64") if amount is not None else ibis.literal(0.0)
    purchases = t.select(customer=t[customer].cast("string"), day=day, value=value)
    purchases = purchases.filter(purchases.customer.notnull() & purchases.day.notnull())
    if observation_end is None:
        end = purchases.day.max().as_scalar()
    else:
        end = ibis.date(str(pd.Timestamp(observation_end).date()))
        purchases = purchases.filter(purchases.day <= end)
    daily = purchases.group_by(["customer", "day"]).aggregate(value=purchases.value.sum())
    daily = daily.mutate(first_day=daily.day.min().over(group_by=daily.customer))
    per = daily.group_by("customer").aggregate(
        days_with_purchase=daily.count(),
        first_purchase=daily.first_day.min(),
        last_purchase=daily.day.max(),
        total=daily.value.sum(),
        first_value=ibis.ifelse(daily.day == daily.first_day, daily.value, 0.0).sum(),
    )
    first_days = per.first_purchase.epoch_days()
    frequency = per.days_with_purchase - 1
    per = per.mutate(
        frequency=frequency,
        recency=(per.last_purchase.epoch_days() - first_days).cast("float64") / days,
        T=(end.epoch_days() - first_days).cast("float64") / days,
        monetary_value=ibis.ifelse(frequency > 0, (per.total - per.first_value) / frequency.cast("float64"), 0.0),
    )
    columns = ["customer", "first_purchase", "frequency", "recency", "T", "monetary_value"]
    if segments is not None:
        seg = _table(segments)
        _require(seg, {"customer": customer, "segment_column": segment_column}, "rfm_summary segments")
        seg = seg.select(customer=seg[customer].cast("string"), segment=seg[segment_column].cast("string")).distinct(
            on="customer", keep="first"
        )
        per = per.left_join(seg, "customer").mutate(segment=ibis.coalesce(ibis._.segment, "(none)"))
        columns.append("segment")
    out = per.select(*columns).order_by("customer").execute()
    out["frequency"] = out["frequency"].astype("int64")
    out["first_purchase"] = pd.to_datetime(out["first_purchase"]).dt.date
    return out


def _summary_arrays(summary: pd.DataFrame, with_money: bool = False) -> tuple[np.ndarray, ...]:
    """Validate a per-customer summary and return its model columns as float arrays."""
    wanted = [*SUMMARY_COLUMNS] if with_money else ["frequency", "recency", "T"]
    missing = [c for c in wanted if c not in summary.columns]
    if missing:
        raise ParamsError(
            f"customer summary: column(s) {missing} not found; columns are {list(summary.columns)}. "
            "Build the summary with outcomes.casestudy.clv.rfm_summary or name the columns frequency, recency, T, monetary_value."
        )
    arrays = [summary[c].to_numpy(dtype=float) for c in wanted]
    x, tx, big_t = arrays[:3]
    rules = [
        ("frequency", ~np.isfinite(x) | (x < 0) | (x != np.round(x)), "a whole number of repeat purchases >= 0"),
        ("recency", ~np.isfinite(tx) | (tx < 0) | (tx > big_t + 1e-9), "between 0 and T"),
        ("T", ~np.isfinite(big_t) | (big_t < 0), "a time >= 0"),
    ]
    if with_money:
        rules.append(("monetary_value", ~np.isfinite(arrays[3]) | (arrays[3] < 0), "a mean value >= 0"))
    for column, bad, rule in rules:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ParamsError(
                f"customer summary: row {row} has {column} = {_plain(summary[column].iloc[row])!r}; {column} must be {rule} "
                f"({int(bad.sum()):,} rows break this rule). Fix the summary (recency is time from first to last "
                "purchase, T time from first purchase to the end of observation)."
            )
    return tuple(arrays)


def _plain(value: object) -> object:
    """A numpy scalar as the Python number it holds (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _compress(*columns: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Unique rows of the columns, their counts and the index mapping rows back."""
    stacked = np.column_stack(columns)
    unique, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return tuple(unique.T), counts.astype(float), inverse.ravel()


def _fit_log_params(
    neg_log_lik: Callable[[np.ndarray], float], n_params: int, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, bool, str]:
    """Maximise a log-likelihood over log-parameters; return them, their covariance and the fit state."""
    total = float(weights.sum())

    def objective(theta: np.ndarray) -> float:
        value = neg_log_lik(theta) / total
        return value if np.isfinite(value) else 1e100

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * n_params
    res = optimize.minimize(
        objective, np.zeros(n_params), method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000}
    )
    theta = np.asarray(res.x, dtype=float)
    hess = approx_hess3(theta, neg_log_lik)
    try:
        cov = np.linalg.inv(hess)
        if not (np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh((cov + cov.T) / 2) > 0)):
            cov = np.full((n_params, n_params), np.nan)
    except np.linalg.LinAlgError:
        cov = np.full((n_params, n_params), np.nan)
    at_bound = bool(np.any(np.abs(theta) > _LOG_BOUND - 1e-3))
    converged = bool(res.success) and not at_bound
    message = "converged" if converged else (
        "a parameter ran to the edge of its range (the data do not identify it)" if at_bound else str(res.message)
    )
    return theta, cov, -neg_log_lik(theta), converged, message


def _param_table(names: tuple[str, ...], values: np.ndarray, cov_log: np.ndarray, level: float) -> pd.DataFrame:
    """Estimates with standard errors (delta method) and intervals computed on the log scale."""
    se_log = np.sqrt(np.diag(cov_log))
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame(
        {
            "parameter": list(names),
            "estimate": values,
            "std_error": values * se_log,
            "ci_low": values * np.exp(-z * se_log),
            "ci_high": values * np.exp(z * se_log),
        }
    )


# --------------------------------------------------------------------------- BG/NBD


def bgnbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6).

    ``L = B(a, b+x)/B(a, b) * G(r+x) a^r / (G(r) (alpha+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))``

    Parameters
    ----------
    r, alpha : float
        Shape and rate of the gamma distribution of purchase rates across customers.
    a, b : float
        Beta distribution of the drop-out probability after each purchase.
    frequency, recency, T : array
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T`` (same unit).

    Returns
    -------
    ndarray
        The log-likelihood of each customer.
    """
    x, tx, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + big_t)
    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)
    dropped = np.where(repeat, betaln(a + 1, b + x1 - 1) - (r + x) * np.log(alpha + tx), -np.inf)
    return common + np.logaddexp(alive, dropped)


@dataclass(frozen=True, eq=False)
class BetaGeoFit:
    """A fitted BG/NBD model (purchase rates gamma(r, alpha); drop-out beta(a, b)).

    Parameters
    ----------
    r, alpha, a, b : float
        Maximum likelihood estimates (``alpha`` is in the summary's time unit).
    cov_log : ndarray
        Covariance of ``log(r, alpha, a, b)`` (inverse Hessian; NaN when not available).
    log_likelihood : float
        Maximised log-likelihood.
    n_customers : int
        Customers the model was fitted on.
    converged : bool
        Whether the optimiser converged to an interior optimum.
    message : str
        The optimiser's state in words.
    time_unit : {"day", "week", "month"}
        Unit of recency and T in the fitted summary.
    """

    r: float
    alpha: float
    a: float
    b: float
    cov_log: np.ndarray
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str
    time_unit: str = "week"

    names = ("r", "alpha", "a", "b")

    @property
    def params(self) -> dict[str, float]:
        """The four parameters by name."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates, standard errors and ``level`` intervals (on the log scale, so positive)."""
        return _param_table(self.names, np.array(list(self.params.values())), self.cov_log, level)

    def expected_purchases(self, t: float | np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Expected purchases in the next ``t`` time units of customers with this history (eq. 10).

        ``E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``

        Parameters
        ----------
        t : float or array
            Length of the forecast period (broadcast against the customers).
        frequency, recency, T : array
            The customers' summaries.

        Returns
        -------
        ndarray
            Expected purchases per customer.
        """
        return _conditional_purchases(self.r, self.alpha, self.a, self.b, t, frequency, recency, T)

    def p_alive(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Probability that each customer is still active at ``T`` (1 for customers without repeats)."""
        x, tx, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return 1.0 / (1.0 + _dropout_odds(self.r, self.alpha, self.a, self.b, x, tx, big_t))

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases of a new customer in their first ``t`` time units (eq. 9)."""
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))

    def probability_of_purchases(self, x: int | np.ndarray, t: float | np.ndarray) -> np.ndarray:
        """Probability that a new customer makes exactly ``x`` repeat purchases in their first ``t`` (eq. 8).

        ``P(X(t) = x) = B(a, b+x)/B(a, b) NB(x) + [x > 0] B(a+1, b+x-1)/B(a, b) P(NB >= x)``, with
        ``NB`` the negative binomial count of a customer who never leaves,
        ``G(r+j)/(G(r) j!) (alpha/(alpha+t))^r (t/(alpha+t))^j``.

        Parameters
        ----------
        x : int or array
            Numbers of repeat purchases, >= 0.
        t : float or array
            Times since the first purchase (> 0), broadcast against ``x``.

        Returns
        -------
        ndarray
            The probabilities.
        """
        x = np.asarray(x, dtype=float)
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        stay = alpha / (alpha + t)
        x1 = np.where(x > 0, x, 1.0)
        first = np.exp(betaln(a, b + x) - betaln(a, b)) * stats.nbinom.pmf(x, r, stay)
        second = np.exp(betaln(a + 1, b + x1 - 1) - betaln(a, b)) * stats.nbinom.sf(x1 - 1, r, stay)
        return first + np.where(x > 0, second, 0.0)

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """The parameter table (see :meth:`conf_int`) with the model name."""
        return self.conf_int(level).assign(model="BG/NBD", time_unit=self.time_unit)

    def summary(self, level: float = 0.95) -> str:
        """Plain sentences: the parameters with intervals, the log-likelihood and what they mean."""
        if not math.isfinite(self.r):
            return f"BG/NBD: not fitted ({self.message})."
        table = self.conf_int(level)
        parts = [
            f"{p} = {fmt.significant(e, 4)} ({level:.0%} CI {fmt.significant(lo, 4)} to {fmt.significant(hi, 4)})"
            for p, e, lo, hi in table[["parameter", "estimate", "ci_low", "ci_high"]].itertuples(index=False)
        ]
        rate = self.r / self.alpha
        drop = self.a / (self.a + self.b)
        state = "" if self.converged else f" Warning: the fit did not converge ({self.message})."
        return (
            f"BG/NBD fitted on {self.n_customers:,} customers ({self.time_unit}s): {', '.join(parts)}; "
            f"log-likelihood {self.log_likelihood:,.1f}. While active, a customer buys on average {rate:.3g} times a "
            f"{self.time_unit}, and after each purchase leaves with probability {drop:.2f} on average.{state}"
        )


def _dropout_odds(r: float, alpha: float, a: float, b: float, x: np.ndarray, tx: np.ndarray, big_t: np.ndarray) -> np.ndarray:
    """``[x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)``: odds of having left against being active."""
    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)
    with np.errstate(over="ignore", divide="ignore"):
        log_odds = np.log(a) - np.log(b + x1 - 1) + (r + x1) * (np.log(alpha + big_t) - np.log(alpha + tx))
        return np.where(repeat, np.exp(log_odds), 0.0)


def _conditional_purchases(
    r: float, alpha: float, a: float, b: float, t: float | np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Vectorized FHL eq. 10 (see :meth:`BetaGeoFit.expected_purchases`)."""
    x, tx, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    t = np.asarray(t, dtype=float)
    z = t / (alpha + big_t + t)
    with np.errstate(over="ignore", invalid="ignore"):
        stay = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))
        bracket = 1 - stay * hyp2f1(r + x, b + x, a + b + x - 1, z)
        value = (a + b + x - 1) / (a - 1) * bracket / (1 + _dropout_odds(r, alpha, a, b, x, tx, big_t))
    return np.where(t > 0, value, 0.0)


def fit_bgnbd(summary: pd.DataFrame, *, time_unit: TimeUnit = "week") -> BetaGeoFit:
    """Fit the BG/NBD model by maximum likelihood.

    Parameters
    ----------
    summary : DataFrame
        One row per customer with ``frequency``, ``recency`` and ``T`` (see :func:`rfm_summary`).
    time_unit : {"day", "week", "month"}
        The unit of ``recency`` and ``T`` (recorded on the fit; CLV converts months to it).

    Returns
    -------
    BetaGeoFit
        The estimates; with no customers, NaN parameters and ``converged=False``.

    Raises
    ------
    ParamsError
        When the summary breaks a rule (negative or fractional frequency, recency > T...).

    Notes
    -----
    Customers with the same ``(frequency, recency, T)`` are evaluated once and weighted:
    the work grows with the number of distinct histories, not of customers.
    """
    _check_unit(time_unit)
    x, tx, big_t = _summary_arrays(summary)
    if x.size == 0:
        nan4 = np.full((4, 4), np.nan)
        return BetaGeoFit(*(math.nan,) * 4, nan4, math.nan, 0, False, "no customers to fit", time_unit)
    (ux, utx, ut), weights, _ = _compress(x, tx, big_t)

    def neg_log_lik(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        return -float(weights @ bgnbd_log_likelihood(r, alpha, a, b, ux, utx, ut))

    theta, cov, ll, converged, message = _fit_log_params(neg_log_lik, 4, weights)
    r, alpha, a, b = np.exp(theta)
    return BetaGeoFit(float(r), float(alpha), float(a), float(b), cov, ll, int(x.size), converged, message, time_unit)


# --------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_log_likelihood(p: float, q: float, gamma: float, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend ``m`` over ``x`` purchases.

    Each purchase value is gamma(p, nu) and ``nu`` is gamma(q, gamma) across customers,
    so the mean of ``x`` purchases has density (Fader & Hardie 2013)
    ``G(px+q) / (G(px) G(q)) * gamma^q * x^(px) * m^(px-1) / (gamma + x m)^(px+q)``.

    Parameters
    ----------
    p, q, gamma : float
        Shape of purchase values; shape and rate of their scale across customers.
    frequency, monetary_value : array
        Repeat purchases ``x > 0`` and their mean value ``m > 0``.

    Returns
    -------
    ndarray
        The log-likelihood of each customer.
    """
    x, m = (np.asarray(v, dtype=float) for v in (frequency, monetary_value))
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(gamma + x * m)
    )


@dataclass(frozen=True, eq=False)
class GammaGammaFit:
    """A fitted Gamma-Gamma spend model.

    Parameters
    ----------
    p, q, gamma : float
        Maximum likelihood estimates (``gamma`` in the currency of the spend).
    cov_log : ndarray
        Covariance of ``log(p, q, gamma)``.
    log_likelihood : float
        Maximised log-likelihood.
    n_customers : int
        Repeat customers the model was fitted on.
    converged : bool
        Whether the optimiser converged to an interior optimum.
    message : str
        The optimiser's state in words.
    spend_frequency_correlation : float
        Pearson correlation of mean spend and repeat purchases among the fitted customers;
        the model assumes they are independent.
    """

    p: float
    q: float
    gamma: float
    cov_log: np.ndarray
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str
    spend_frequency_correlation: float = math.nan

    names = ("p", "q", "gamma")

    @property
    def params(self) -> dict[str, float]:
        """The three parameters by name."""
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per purchase across customers, ``p gamma / (q - 1)`` (infinite when q <= 1)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else math.inf

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates, standard errors and ``level`` intervals (on the log scale, so positive)."""
        return _param_table(self.names, np.array(list(self.params.values())), self.cov_log, level)

    def expected_spend(self, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
        """Expected spend per purchase given ``x`` repeat purchases of mean ``m``.

        ``E[M | x, m] = p (gamma + x m) / (p x + q - 1)``, a weighted mean of the population
        mean and the customer's own mean; customers without repeats get the population mean.
        """
        return _conditional_spend(self.p, self.q, self.gamma, frequency, monetary_value)

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """The parameter table (see :meth:`conf_int`) with the model name."""
        return self.conf_int(level).assign(model="Gamma-Gamma")

    def summary(self, level: float = 0.95, currency: str = "") -> str:
        """Plain sentences: parameters with intervals, mean spend, and the independence check."""
        if not math.isfinite(self.p):
            return f"Gamma-Gamma: not fitted ({self.message})."
        table = self.conf_int(level)
        parts = [
            f"{p} = {fmt.significant(e, 4)} ({level:.0%} CI {fmt.significant(lo, 4)} to {fmt.significant(hi, 4)})"
            for p, e, lo, hi in table[["parameter", "estimate", "ci_low", "ci_high"]].itertuples(index=False)
        ]
        cur = f" {currency}" if currency else ""
        rho = self.spend_frequency_correlation
        check = (
            f"The model assumes spend per purchase does not depend on how often a customer buys; the correlation "
            f"between the two among these customers is {fmt.significant(rho, 2)}"
            + (", too strong for that assumption: treat the CLV as indicative." if abs(rho) > 0.3 else ", small enough.")
        ) if math.isfinite(rho) else ""
        state = "" if self.converged else f" Warning: the fit did not converge ({self.message})."
        return (
            f"Gamma-Gamma fitted on {self.n_customers:,} repeat customers: {', '.join(parts)}; log-likelihood "
            f"{self.log_likelihood:,.1f}. Mean spend per purchase across customers: {fmt.significant(self.population_mean_spend, 4)}{cur}. "
            f"{check}{state}"
        ).strip()


def _conditional_spend(p: float, q: float, gamma: float, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """Vectorized conditional expected spend (see :meth:`GammaGammaFit.expected_spend`)."""
    x, m = (np.asarray(v, dtype=float) for v in (frequency, monetary_value))
    m = np.where(x > 0, m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return p * (gamma + x * m) / (p * x + q - 1)


def fit_gamma_gamma(summary: pd.DataFrame) -> GammaGammaFit:
    """Fit the Gamma-Gamma spend model by maximum likelihood on the repeat customers.

    Parameters
    ----------
    summary : DataFrame
        One row per customer with ``frequency`` and ``monetary_value`` (see
        :func:`rfm_summary`); customers with ``frequency > 0`` and ``monetary_value > 0``
        enter the fit.

    Returns
    -------
    GammaGammaFit
        The estimates; with no repeat customers, NaN parameters and ``converged=False``.

    Raises
    ------
    ParamsError
        When the summary breaks a rule.
    """
    x, _, _, m = _summary_arrays(summary, with_money=True)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if x.size < 2:
        return GammaGammaFit(
            math.nan, math.nan, math.nan, np.full((3, 3), np.nan), math.nan, int(x.size), False,
            f"{x.size} customer(s) with repeat purchases and a positive spend; at least 2 are needed",
        )
    (ux, um), weights, _ = _compress(x, m)

    def neg_log_lik(theta: np.ndarray) -> float:
        p, q, gamma = np.exp(theta)
        return -float(weights @ gamma_gamma_log_likelihood(p, q, gamma, ux, um))

    theta, cov, ll, converged, message = _fit_log_params(neg_log_lik, 3, weights)
    p, q, gamma = np.exp(theta)
    rho = float(np.corrcoef(x, m)[0, 1]) if np.ptp(x) > 0 and np.ptp(m) > 0 else math.nan
    return GammaGammaFit(float(p), float(q), float(gamma), cov, ll, int(x.size), converged, message, rho)


# --------------------------------------------------------------------------- CLV


def periods_per_month(time_unit: str) -> float:
    """Time units in a month of 365.25 / 12 days (4.348 weeks, 30.44 days, 1 month)."""
    return DAYS_PER_UNIT["month"] / _check_unit(time_unit)


def _discounted_purchases(
    params: tuple[float, float, float, float], x: np.ndarray, tx: np.ndarray, big_t: np.ndarray,
    horizon_months: int, per_month: float, discount_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum over months m of ``(E[N(m)] - E[N(m-1)]) / (1 + d)^m`` and ``E[N(horizon)]``, per customer."""
    (ux, utx, ut), _, inverse = _compress(x, tx, big_t)
    months = np.arange(horizon_months + 1, dtype=float)
    cum = _conditional_purchases(*params, months[None, :] * per_month, ux[:, None], utx[:, None], ut[:, None])
    factors = (1 + discount_rate) ** -months[1:]
    discounted = np.diff(cum, axis=1) @ factors
    return discounted[inverse], cum[inverse, -1]


@dataclass(frozen=True, eq=False)
class CLVResult:
    """Customer lifetime value over a horizon, per customer and per segment.

    Parameters
    ----------
    customers : DataFrame
        One row per customer: the summary columns plus ``p_alive``, ``expected_purchases``
        (over the horizon), ``expected_spend`` (per purchase) and ``clv`` (discounted
        margin over the horizon).
    segments : DataFrame
        One row per segment (``"all"`` first): ``customers``, ``expected_purchases``,
        ``clv_total``, ``clv_mean``, ``p_alive_mean`` and interval bounds
        ``clv_total_low/high``, ``clv_mean_low/high`` (NaN without parameter draws).
    bgnbd : BetaGeoFit
        The purchase model.
    gamma_gamma : GammaGammaFit
        The spend model.
    horizon_months : int
        Months ahead.
    discount_rate : float
        Monthly discount rate.
    margin : float
        Share of spend kept as margin.
    currency : str
        Currency of the spend, for sentences.
    level : float
        Level of the intervals.
    draws : int
        Parameter draws behind the intervals (0 when there is no interval).
    notes : tuple of str
        Plain sentences on conditions met (no interval, a fit that did not converge).
    """

    customers: pd.DataFrame
    segments: pd.DataFrame
    bgnbd: BetaGeoFit
    gamma_gamma: GammaGammaFit
    horizon_months: int
    discount_rate: float
    margin: float
    currency: str = ""
    level: float = 0.95
    draws: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """The per-segment table (aggregates only; ``customers`` holds the per-customer rows)."""
        return self.segments.copy()

    def summary(self) -> str:
        """Plain sentences: the horizon, totals with intervals, per-segment means and the fits."""
        cur = f" {self.currency}" if self.currency else ""
        allrow = self.segments.iloc[0]
        interval = ""
        if math.isfinite(allrow["clv_mean_low"]):
            interval = (
                f" ({self.level:.0%} interval from the parameters' uncertainty: {fmt.significant(allrow['clv_mean_low'], 4)} to "
                f"{fmt.significant(allrow['clv_mean_high'], 4)}{cur} per customer, {fmt.significant(allrow['clv_total_low'], 4)} to "
                f"{fmt.significant(allrow['clv_total_high'], 4)}{cur} in total)"
            )
        lines = [
            f"Over the next {self.horizon_months} months, the {int(allrow['customers']):,} customers are expected to make "
            f"{allrow['expected_purchases']:,.0f} purchases and bring {fmt.significant(allrow['clv_total'], 4)}{cur} of margin "
            f"discounted at {self.discount_rate:.2%} a month (margin {self.margin:.0%} of spend): "
            f"{fmt.significant(allrow['clv_mean'], 4)}{cur} per customer{interval}.",
            f"On average a customer is still active with probability {allrow['p_alive_mean']:.2f}; customers who never "
            "bought again count as active (a property of the BG/NBD model).",
        ]
        for row in self.segments.iloc[1:].itertuples(index=False):
            seg_int = (
                f" ({self.level:.0%} interval {fmt.significant(row.clv_mean_low, 4)} to {fmt.significant(row.clv_mean_high, 4)})"
                if math.isfinite(row.clv_mean_low) else ""
            )
            lines.append(f"Segment {row.segment}: {row.customers:,} customers, CLV {fmt.significant(row.clv_mean, 4)}{cur} per customer{seg_int}.")
        lines += [self.bgnbd.summary(self.level), self.gamma_gamma.summary(self.level, self.currency), *self.notes]
        return "\n".join(lines)


def _segment_table(codes: np.ndarray, labels: list[str], frame: pd.DataFrame, segmented: bool) -> pd.DataFrame:
    """Aggregate the per-customer CLV: the whole population, then (when ``segmented``) each segment code."""
    n_seg = len(labels)
    counts = np.bincount(codes, minlength=n_seg).astype(float)
    sums = {c: np.bincount(codes, weights=frame[c].to_numpy(dtype=float), minlength=n_seg) for c in ("expected_purchases", "clv", "p_alive")}
    table = pd.DataFrame(
        {
            "segment": labels,
            "customers": counts.astype(int),
            "expected_purchases": sums["expected_purchases"],
            "clv_total": sums["clv"],
            "clv_mean": sums["clv"] / np.maximum(counts, 1),
            "p_alive_mean": sums["p_alive"] / np.maximum(counts, 1),
        }
    )
    whole = pd.DataFrame(
        [{
            "segment": "all", "customers": int(counts.sum()), "expected_purchases": frame["expected_purchases"].sum(),
            "clv_total": frame["clv"].sum(), "clv_mean": frame["clv"].mean(), "p_alive_mean": frame["p_alive"].mean(),
        }]
    )
    return pd.concat([whole, table], ignore_index=True) if segmented else whole


def customer_lifetime_value(
    summary: pd.DataFrame,
    bgnbd: BetaGeoFit,
    gamma_gamma: GammaGammaFit,
    *,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    segment: str | None = None,
    currency: str = "",
    draws: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> CLVResult:
    """Discounted margin each customer is expected to bring over the next months.

    For each month ``m = 1..horizon_months`` (a month is 365.25 / 12 days, converted to the
    fit's time unit)::

        clv += margin * spend * (E[N(m)] - E[N(m-1)]) / (1 + discount_rate) ** m

    with ``E[N(m)]`` the BG/NBD expected purchases by the end of month ``m`` given the
    customer's history and ``spend`` the Gamma-Gamma expected spend per purchase.

    Parameters
    ----------
    summary : DataFrame
        The per-customer summary the models were fitted on (or another one in the same
        time unit), e.g. from :func:`rfm_summary`.
    bgnbd, gamma_gamma : BetaGeoFit, GammaGammaFit
        The fitted models.
    horizon_months : int
        Months ahead, at least 1.
    discount_rate : float
        Monthly discount rate, in [0, 1).
    margin : float
        Share of spend kept as margin, in (0, 1] (1 gives revenue CLV).
    segment : str, optional
        A column of ``summary`` to break the CLV down by.
    currency : str
        Named in sentences.
    draws : int
        Parameter draws (from the asymptotic normal of the log-parameters of both fits)
        behind the intervals; 0 for none.
    level : float
        Level of the intervals, in (0, 1).
    seed : int
        Seed of the parameter draws.

    Returns
    -------
    CLVResult
        Per-customer and per-segment CLV, with intervals reflecting the parameters'
        uncertainty (not the randomness of future purchases).

    Raises
    ------
    ParamsError
        When an argument is out of range or the summary breaks a rule.
    """
    if not (isinstance(horizon_months, (int, np.integer)) and horizon_months >= 1):
        raise ParamsError(f"horizon_months must be a whole number of months >= 1, got {horizon_months!r}")
    if not 0 <= discount_rate < 1:
        raise ParamsError(f"discount_rate is monthly and must be in [0, 1), got {discount_rate!r} (1% a month is 0.01)")
    if not 0 < margin <= 1:
        raise ParamsError(f"margin is the share of spend kept and must be in (0, 1], got {margin!r}")
    if not 0 < level < 1:
        raise ParamsError(f"level must be in (0, 1), bounds excluded, got {level!r}")
    if draws < 0:
        raise ParamsError(f"draws must be >= 0, got {draws!r}")
    x, tx, big_t, m = _summary_arrays(summary, with_money=True)
    if segment is not None and segment not in summary.columns:
        raise ParamsError(f"segment column {segment!r} not in the summary; columns are {list(summary.columns)}")
    per_month = periods_per_month(bgnbd.time_unit)

    def clv_for(bg: tuple[float, ...], gg: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        disc, total = _discounted_purchases(bg, x, tx, big_t, horizon_months, per_month, discount_rate)
        spend = _conditional_spend(*gg, x, m)
        return margin * spend * disc, total, spend

    bg_hat = (bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b)
    gg_hat = (gamma_gamma.p, gamma_gamma.q, gamma_gamma.gamma)
    clv, purchases, spend = clv_for(bg_hat, gg_hat)
    frame = summary.copy()
    frame["p_alive"] = bgnbd.p_alive(x, tx, big_t)
    frame["expected_purchases"] = purchases
    frame["expected_spend"] = spend
    frame["clv"] = clv

    if segment is None:
        codes, labels = np.zeros(len(frame), dtype=int), ["all"]
    else:
        cat = frame[segment].astype("string").fillna("(none)").astype("category")
        codes, labels = cat.cat.codes.to_numpy(), [str(c) for c in cat.cat.categories]
    table = _segment_table(codes, labels, frame, segment is not None)
    for col in ("clv_total_low", "clv_total_high", "clv_mean_low", "clv_mean_high"):
        table[col] = np.nan

    notes: list[str] = []
    usable = draws > 0 and np.all(np.isfinite(bgnbd.cov_log)) and np.all(np.isfinite(gamma_gamma.cov_log))
    if draws > 0 and not usable:
        notes.append("No interval: a fit has no standard errors (its likelihood is flat or did not converge).")
    if usable:
        rng = np.random.default_rng(seed)
        bg_draws = np.exp(rng.multivariate_normal(np.log(bg_hat), bgnbd.cov_log, size=draws))
        gg_draws = np.exp(rng.multivariate_normal(np.log(gg_hat), gamma_gamma.cov_log, size=draws))
        n_seg = len(labels)
        totals = np.empty((draws, n_seg + 1))
        for i in range(draws):
            c, _, _ = clv_for(tuple(bg_draws[i]), tuple(gg_draws[i]))
            totals[i, 0] = c.sum()
            totals[i, 1:] = np.bincount(codes, weights=c, minlength=n_seg)
        totals = totals if segment is not None else totals[:, :1]
        lo, hi = np.nanquantile(totals, [(1 - level) / 2, (1 + level) / 2], axis=0)
        counts = table["customers"].to_numpy(dtype=float)
        table["clv_total_low"], table["clv_total_high"] = lo, hi
        table["clv_mean_low"], table["clv_mean_high"] = lo / np.maximum(counts, 1), hi / np.maximum(counts, 1)
    if not (bgnbd.converged and gamma_gamma.converged):
        notes.append("A model did not converge; the CLV figures are unreliable.")
    if gamma_gamma.q <= 1:
        notes.append(
            f"The Gamma-Gamma fit has q = {gamma_gamma.q:.3g} <= 1, so the population's mean spend per purchase is "
            "infinite: spend is too heavy-tailed for the model, and the CLV of customers without repeats is not usable."
        )
    return CLVResult(frame, table, bgnbd, gamma_gamma, int(horizon_months), float(discount_rate), float(margin),
                     currency, float(level), int(draws if usable else 0), tuple(notes))


@dataclass(frozen=True)
class SimpleCLV:
    """The textbook CLV: monthly ARPU x margin / (monthly churn + monthly discount rate).

    With payments at the end of each month and a customer staying each month with
    probability ``1 - churn``, the discounted sum is
    ``sum_m arpu * margin * (1 - churn)^(m-1) / (1 + d)^m = arpu * margin / (churn + d)``;
    with ``d = 0`` this is ``arpu * margin / churn``. Over a horizon of ``H`` months the
    sum stops at ``m = H``: ``arpu * margin / (churn + d) * (1 - ((1 - churn) / (1 + d))^H)``.

    Parameters
    ----------
    arpu : float
        Monthly revenue per active customer.
    margin : float
        Gross margin share of revenue, in (0, 1].
    churn_rate : float
        Monthly churn, in (0, 1].
    discount_rate : float
        Monthly discount rate, >= 0.
    currency : str
        Named in sentences.
    horizon_months : int or None
        Months summed; None for no end (the textbook formula).
    """

    arpu: float
    margin: float
    churn_rate: float
    discount_rate: float = 0.0
    currency: str = ""
    horizon_months: int | None = None

    @property
    def value(self) -> float:
        """The lifetime value (over ``horizon_months`` when set)."""
        forever = self.arpu * self.margin / (self.churn_rate + self.discount_rate)
        if self.horizon_months is None:
            return forever
        return forever * (1 - ((1 - self.churn_rate) / (1 + self.discount_rate)) ** self.horizon_months)

    @property
    def expected_lifetime_months(self) -> float:
        """Mean customer lifetime, ``1 / churn`` months."""
        return 1 / self.churn_rate

    def to_frame(self) -> pd.DataFrame:
        """One row: the inputs, the lifetime and the value."""
        return pd.DataFrame(
            [{"arpu": self.arpu, "margin": self.margin, "churn_rate": self.churn_rate, "discount_rate": self.discount_rate,
              "horizon_months": self.horizon_months, "expected_lifetime_months": self.expected_lifetime_months, "clv": self.value}]
        )

    def summary(self) -> str:
        """One sentence with the formula's inputs and the value."""
        cur = f" {self.currency}" if self.currency else ""
        disc = f" + discount {self.discount_rate:.2%}" if self.discount_rate else ""
        cut = (
            f", summed over {self.horizon_months} months," if self.horizon_months is not None else ""
        )
        return (
            f"Simple CLV: ARPU {fmt.significant(self.arpu, 4)}{cur} a month x margin {self.margin:.0%} / (churn {self.churn_rate:.2%} a "
            f"month{disc}){cut} = {fmt.significant(self.value, 4)}{cur} per customer (expected lifetime "
            f"{self.expected_lifetime_months:,.1f} months). It assumes every customer spends and churns alike; "
            "the BG/NBD CLV uses each customer's own history."
        )


def simple_clv(
    arpu: float, margin: float, churn_rate: float, discount_rate: float = 0.0, currency: str = "", *,
    horizon_months: int | None = None,
) -> SimpleCLV:
    """The simple lifetime value ``arpu x margin / (churn_rate + discount_rate)`` (monthly inputs).

    Parameters
    ----------
    arpu : float
        Monthly revenue per active customer, >= 0.
    margin : float
        Gross margin share, in (0, 1].
    churn_rate : float
        Monthly churn, in (0, 1].
    discount_rate : float
        Monthly discount rate, in [0, 1).
    currency : str
        Named in sentences.
    horizon_months : int, optional
        Months summed (a whole number >= 1), to compare with a value over the same
        horizon; None for no end.

    Returns
    -------
    SimpleCLV
        ``.value``, ``.summary()``, ``.to_frame()``.

    Raises
    ------
    ParamsError
        When an input is out of range.
    """
    checks = [
        ("arpu", arpu, arpu >= 0, ">= 0"),
        ("margin", margin, 0 < margin <= 1, "in (0, 1] (a share of revenue)"),
        ("churn_rate", churn_rate, 0 < churn_rate <= 1, "in (0, 1] (a monthly fraction: 2% is 0.02)"),
        ("discount_rate", discount_rate, 0 <= discount_rate < 1, "in [0, 1) (monthly)"),
    ]
    for name, value, ok, rule in checks:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
            raise ParamsError(f"simple_clv: {name} = {value!r}; it must be {rule}")
    if horizon_months is not None and not (isinstance(horizon_months, (int, np.integer)) and horizon_months >= 1):
        raise ParamsError(f"simple_clv: horizon_months = {horizon_months!r}; it must be a whole number of months >= 1, or None")
    horizon = None if horizon_months is None else int(horizon_months)
    return SimpleCLV(float(arpu), float(margin), float(churn_rate), float(discount_rate), currency, horizon)
