"""Interrupted time series: segmented regression with autocorrelation-robust errors.

When a change reached every unit at one date there is no untreated comparison; the
pre-period trend (and season) extended past the start is the counterfactual. The
model, on the mean outcome per period, is

    y_t = a + b t + c post_t + d (t - t0) post_t + seasonal_t + e_t

with ``c`` the level change at the start and ``d`` the slope change per period.
Errors of a monthly series are autocorrelated, so standard errors are Newey-West
(HAC, Bartlett kernel, statsmodels ``cov_type="HAC"``) with the lag rule
``floor(4 (n/100)^(2/9))`` and a Student-t reference on the residual degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from outcomes.experiment.did import Estimate
from outcomes.experiment.quasi_panel import PERIOD, POS, POST, REL, TREATED, Y, QuasiInputError, QuasiPanel

Seasonality = Literal["auto", "fourier", "month", "none"]

#: Number of periods from which ``seasonality="auto"`` adds seasonal terms.
SEASONAL_MIN_PERIODS = 24
#: Harmonics of the yearly cycle used by ``seasonality="fourier"``.
FOURIER_HARMONICS = 2


@dataclass(frozen=True)
class ItsFit:
    """A fitted segmented regression.

    Attributes
    ----------
    level : Estimate
        Level change at the start (``c``), the headline effect.
    slope : Estimate
        Slope change per period after the start (``d``); NaN with a single post period.
    average : Estimate
        Mean effect over the post-period, ``c + d * mean(t - t0)``.
    baseline : float
        Counterfactual mean outcome at the first post period.
    series : pandas.DataFrame
        Chart-ready, one row per period: ``period``, ``observed``, ``fitted``,
        ``counterfactual``, ``cf_low``, ``cf_high`` (interval of the counterfactual
        mean), ``phase`` (``"pre"``/``"post"``).
    seasonality : str
        Seasonal terms used (``"fourier"``, ``"month"`` or ``"none"``).
    maxlags : int
        Newey-West lags.
    """

    level: Estimate
    slope: Estimate
    average: Estimate
    baseline: float
    series: pd.DataFrame
    seasonality: str
    maxlags: int


def newey_west_lags(n: int) -> int:
    """Return the Newey-West (1994) lag rule ``floor(4 (n/100)^(2/9))``, at least 1."""
    return max(1, int(math.floor(4 * (n / 100) ** (2 / 9))))


def _seasonal_terms(periods: pd.Series, seasonality: Seasonality) -> tuple[pd.DataFrame, str]:
    """Return the seasonal columns and the name of the choice actually made."""
    dated = pd.api.types.is_datetime64_any_dtype(periods)
    if seasonality == "auto":
        seasonality = "fourier" if dated and len(periods) >= SEASONAL_MIN_PERIODS else "none"
    if seasonality == "none":
        return pd.DataFrame(index=periods.index), "none"
    if not dated:
        raise QuasiInputError(
            f"seasonality={seasonality!r} needs date periods (the month of year), but the periods are integers; "
            "pass seasonality='none' or use dates"
        )
    if seasonality == "month":
        months = periods.dt.month.astype(str).rename("month")
        return pd.get_dummies(months, prefix="month", drop_first=True, dtype=float), "month"
    angle = 2 * np.pi * (periods.dt.day_of_year - 1) / 365.25
    cols = {}
    for k in range(1, FOURIER_HARMONICS + 1):
        cols[f"sin{k}"] = np.sin(k * angle)
        cols[f"cos{k}"] = np.cos(k * angle)
    return pd.DataFrame(cols, index=periods.index), "fourier"


def treated_series(panel: QuasiPanel) -> pd.DataFrame:
    """Mean outcome of the treated units per period (the series the ITS models).

    Parameters
    ----------
    panel : QuasiPanel
        A checked panel.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``y``, ``pos``, ``rel``, ``post``, ``n_units``, sorted by period.
    """
    d = panel.data[panel.data[TREATED]]
    return (
        d.groupby(PERIOD, sort=True)
        .agg(
            **{Y: (Y, "mean"), POS: (POS, "first"), REL: (REL, "first"), POST: (POST, "first"), "n_units": (Y, "size")}
        )
        .reset_index()
    )


def segmented_regression(
    series: pd.DataFrame,
    *,
    alpha: float = 0.05,
    seasonality: Seasonality = "auto",
    maxlags: int | None = None,
) -> ItsFit:
    """Fit the segmented regression with HAC (Newey-West) standard errors.

    Parameters
    ----------
    series : pandas.DataFrame
        From :func:`treated_series`: ``period``, ``y``, ``pos``, ``rel``, ``post``.
    alpha : float
        One minus the confidence level.
    seasonality : {"auto", "fourier", "month", "none"}
        Seasonal terms. ``"auto"`` uses two yearly Fourier harmonics (4 terms) when the
        periods are dates and there are at least 24 of them, else none; ``"month"``
        uses 11 month-of-year dummies (costly on short series).
    maxlags : int, optional
        Newey-West lags; default :func:`newey_west_lags`.

    Returns
    -------
    ItsFit
    """
    s = series.reset_index(drop=True)
    post = s[POST].astype(float)
    seasonal, used = _seasonal_terms(s[PERIOD], seasonality)
    x = pd.concat(
        [
            pd.Series(1.0, index=s.index, name="const"),
            s[POS].astype(float).rename("trend"),
            post.rename("level"),
            (s[REL].astype(float) * post).rename("slope"),
            seasonal,
        ],
        axis=1,
    )
    if int(post.sum()) < 2:
        x = x.drop(columns="slope")
    lags = newey_west_lags(len(s)) if maxlags is None else int(maxlags)
    res = sm.OLS(s[Y], x).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
    method = f"segmented regression, Newey-West errors ({lags} lags), seasonal terms: {used}"

    cov = res.cov_params().to_numpy()
    beta = res.params.to_numpy()
    q = float(stats.t.ppf(1 - alpha / 2, res.df_resid))

    def pick(contrast: np.ndarray) -> Estimate:
        est = float(contrast @ beta)
        se = float(np.sqrt(contrast @ cov @ contrast))
        p = float(2 * stats.t.sf(abs(est / se), res.df_resid)) if se > 0 else math.nan
        return Estimate(est, se, est - q * se, est + q * se, p, float(res.df_resid), method)

    names = list(x.columns)
    level = np.zeros(len(names))
    level[names.index("level")] = 1.0
    average = level.copy()
    if "slope" in names:
        slope = np.zeros(len(names))
        slope[names.index("slope")] = 1.0
        average = level + slope * float(s.loc[s[POST], REL].mean())
        slope_estimate = pick(slope)
    else:
        nan = math.nan
        slope_estimate = Estimate(nan, nan, nan, nan, nan, float(res.df_resid), "not identified: one post period")
    x_cf = x.assign(level=0.0, **({"slope": 0.0} if "slope" in names else {})).to_numpy()
    cf = x_cf @ beta
    cf_se = np.sqrt(np.einsum("ij,jk,ik->i", x_cf, cov, x_cf))
    frame = pd.DataFrame(
        {
            "period": s[PERIOD],
            "observed": s[Y],
            "fitted": res.fittedvalues,
            "counterfactual": cf,
            "cf_low": cf - q * cf_se,
            "cf_high": cf + q * cf_se,
            "phase": np.where(s[POST], "post", "pre"),
        }
    )
    first_post = int(np.flatnonzero(s[POST].to_numpy())[0])
    return ItsFit(
        level=pick(level),
        slope=slope_estimate,
        average=pick(average),
        baseline=float(cf[first_post]),
        series=frame,
        seasonality=used,
        maxlags=lags,
    )
