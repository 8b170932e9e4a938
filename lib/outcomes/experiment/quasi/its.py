"""Interrupted time series: segmented regression with AR(1) errors.

When a change reached every unit at one date there is no untreated comparison; the
pre-period trend (and season) extended past the start is the counterfactual. The
model, on the mean outcome per period, is

    y_t = a + b t + c post_t + d (t - t0) post_t + seasonal_t + e_t,   e_t = rho e_{t-1} + u_t

with ``c`` the level change at the start and ``d`` the slope change per period.

Inference (default): ``rho`` is estimated by restricted maximum likelihood (REML, the
likelihood of the residual contrasts, nearly unbiased where plain maximum likelihood is
pulled down by the trend, level, slope and seasonal terms), the coefficients by
generalized least squares at that ``rho`` (Prais-Winsten), and the covariance gets a
Kenward-Roger-type small-sample correction: the Kackar-Harville term for the
uncertainty of ``rho`` counted twice (it also stands for the downward bias of the
plug-in covariance), and Satterthwaite degrees of freedom for the Student-t reference.
Newey-West errors, whose intervals are far too narrow at these lengths, are kept only on
request (``maxlags``). docs/statistics-quasi.md has the coverage table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS
from scipy import linalg, stats

from outcomes.estimate import Estimate
from outcomes.experiment.quasi.panel import PERIOD, POS, POST, REL, TREATED, Y, QuasiInputError, QuasiPanel

Seasonality = Literal["auto", "fourier", "month", "none"]

#: Number of periods from which ``seasonality="auto"`` adds seasonal terms.
SEASONAL_MIN_PERIODS = 24
#: Harmonics of the yearly cycle used by ``seasonality="fourier"``.
FOURIER_HARMONICS = 2
#: Grid of AR(1) coefficients searched by REML (step 0.01), refined by a parabola.
RHO_GRID = np.round(np.linspace(-0.98, 0.98, 197), 10)
#: Step of the central differences in ``rho`` (covariance and degrees-of-freedom terms).
RHO_STEP = 1e-3


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
    maxlags : int or None
        Newey-West lags when Newey-West errors were requested, else None.
    rho : float
        REML estimate of the AR(1) coefficient of the errors; NaN with Newey-West errors.
    """

    level: Estimate
    slope: Estimate
    average: Estimate
    baseline: float
    series: pd.DataFrame
    seasonality: str
    maxlags: int | None
    rho: float


@dataclass(frozen=True)
class Ar1Gls:
    """Contrasts of a regression with AR(1) errors, for one or many outcome columns.

    Attributes
    ----------
    estimate, se, df : numpy.ndarray
        Shape ``(n_contrasts, n_outcomes)``: estimate, corrected standard error and
        Satterthwaite degrees of freedom of each contrast.
    rho : numpy.ndarray
        Shape ``(n_outcomes,)``: REML estimate of the AR(1) coefficient.
    params : numpy.ndarray
        Shape ``(n_coefficients, n_outcomes)``: GLS coefficients at ``rho``.
    """

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    rho: np.ndarray
    params: np.ndarray


def newey_west_lags(n: int) -> int:
    """Return the Newey-West (1994) lag rule ``floor(4 (n/100)^(2/9))``, at least 1."""
    return max(1, int(math.floor(4 * (n / 100) ** (2 / 9))))


def ar1_correlation(rho: float, n: int) -> np.ndarray:
    """Covariance of ``n`` consecutive stationary AR(1) values with unit innovation variance."""
    return linalg.toeplitz(rho ** np.arange(n)) / (1 - rho**2)


def _prais_winsten(a: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Whiten along axis -2 (time): ``sqrt(1 - rho^2) a_0`` then ``a_t - rho a_{t-1}``.

    ``rho`` is a scalar or has the leading (batch) shape of ``a``.
    """
    r = np.asarray(rho, dtype=float).reshape(np.shape(rho) + (1, 1))
    first = np.sqrt(1 - r**2) * a[..., :1, :]
    return np.concatenate([first, a[..., 1:, :] - r * a[..., :-1, :]], axis=-2)


def _reml_rho(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """REML estimate of ``rho`` per outcome column and its variance (observed information).

    The restricted log-likelihood, with the innovation variance profiled out, is
    ``-(n-k)/2 log SSR(rho) + 1/2 log(1 - rho^2) - log|R(rho)|``, where ``SSR`` is the
    Prais-Winsten residual sum of squares and ``R`` the triangular factor of the whitened
    design. It is evaluated on :data:`RHO_GRID`; a parabola through the best grid point
    and its neighbours refines the maximum and gives the curvature.
    """
    n, k = x.shape
    loglik = np.empty((len(RHO_GRID), y.shape[1]))
    for g, r in enumerate(RHO_GRID):
        q, tri = np.linalg.qr(_prais_winsten(x, r))
        wy = _prais_winsten(y, r)
        ssr = np.maximum(((wy - q @ (q.T @ wy)) ** 2).sum(axis=0), np.finfo(float).tiny)
        loglik[g] = -(n - k) / 2 * np.log(ssr) + 0.5 * np.log(1 - r**2) - np.log(np.abs(np.diag(tri))).sum()
    cols = np.arange(y.shape[1])
    best = np.clip(loglik.argmax(axis=0), 1, len(RHO_GRID) - 2)
    lo, mid, hi = loglik[best - 1, cols], loglik[best, cols], loglik[best + 1, cols]
    step = RHO_GRID[1] - RHO_GRID[0]
    second = lo - 2 * mid + hi
    concave = second < 0
    shift = np.where(concave, 0.5 * step * (lo - hi) / np.where(concave, second, -1.0), 0.0)
    rho = RHO_GRID[best] + np.clip(shift, -step, step)
    # A flat or convex profile (rho not identified): fall back on the expected information.
    var_rho = np.where(concave, -(step**2) / np.where(concave, second, -1.0), (1 - rho**2) / (n - k))
    return rho, var_rho


def _gls_pieces(x: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ``rho``: ``(X' V^-1 X)^-1`` and the GLS weights ``(X' V^-1 X)^-1 X' V^-1``."""
    wx = _prais_winsten(np.broadcast_to(x, rho.shape + x.shape), rho)
    bread = np.linalg.inv(np.swapaxes(wx, -1, -2) @ wx)
    eye = np.broadcast_to(np.eye(x.shape[0]), rho.shape + (x.shape[0], x.shape[0]))
    weights = bread @ np.swapaxes(wx, -1, -2) @ _prais_winsten(eye, rho)
    return bread, weights


def _gls_fit(x: np.ndarray, y: np.ndarray, rho: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GLS coefficients ``(k, n_outcomes)`` and whitened residual sums of squares at ``rho``."""
    params = np.einsum("skn,ns->ks", weights, y)
    resid = _prais_winsten((y - x @ params).T[..., None], rho)[..., 0]
    return params, np.maximum((resid**2).sum(axis=1), np.finfo(float).tiny)


def ar1_gls(x: np.ndarray, y: np.ndarray, contrasts: np.ndarray) -> Ar1Gls:
    """GLS with REML AR(1) errors and a Kenward-Roger-type small-sample correction.

    Parameters
    ----------
    x : numpy.ndarray
        Design, shape ``(n, k)``, rows in time order, consecutive equally spaced periods.
    y : numpy.ndarray
        Outcomes, shape ``(n,)`` or ``(n, n_outcomes)`` (many series share one design).
    contrasts : numpy.ndarray
        Shape ``(n_contrasts, k)``: the linear combinations of coefficients wanted.

    Returns
    -------
    Ar1Gls
        The covariance of the coefficients is ``s2 [(X'V^-1X)^-1 + 2 var(rho) A' V A']``
        with ``A`` the derivative of the GLS weights in ``rho`` (the Kackar-Harville term,
        doubled as in Kenward and Roger 1997) and ``s2`` the innovation variance on
        ``n - k`` degrees of freedom. Degrees of freedom of a contrast ``c``
        (Satterthwaite, delta method on the plug-in variance ``s2 c'(X'V^-1X)^-1 c``):
        ``2 / (2/(n-k) + (d log[s2 c'(X'V^-1X)^-1 c] / d rho)^2 var(rho))``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When there are no more periods than terms (the fit is exact and its uncertainty
        cannot be measured), as when the design is singular.
    """
    y2 = y.reshape(len(y), -1).astype(float)
    n, k = x.shape
    if n <= k:  # every period spent on a term: nothing left to measure the noise with
        raise np.linalg.LinAlgError(f"{n} periods for {k} terms: no degrees of freedom left for the error variance")
    rho, var_rho = _reml_rho(x, y2)
    bread, weights = _gls_pieces(x, rho)
    params, ssr = _gls_fit(x, y2, rho, weights)
    bread_hi, weights_hi = _gls_pieces(x, rho + RHO_STEP)
    bread_lo, weights_lo = _gls_pieces(x, rho - RHO_STEP)
    dw = (weights_hi - weights_lo) / (2 * RHO_STEP)
    corr = np.stack([ar1_correlation(r, n) for r in rho])
    s2 = ssr / (n - k)
    cov = s2[:, None, None] * (bread + 2 * var_rho[:, None, None] * dw @ corr @ np.swapaxes(dw, -1, -2))
    c = np.asarray(contrasts, dtype=float)
    var = np.einsum("mk,skl,ml->ms", c, cov, c)
    # Delta method on log(s2(rho) c'(X'V^-1X)^-1 c): both factors move with the estimated rho.
    plug_in_hi = np.log(_gls_fit(x, y2, rho + RHO_STEP, weights_hi)[1]) + np.log(
        np.einsum("mk,skl,ml->ms", c, bread_hi, c)
    )
    plug_in_lo = np.log(_gls_fit(x, y2, rho - RHO_STEP, weights_lo)[1]) + np.log(
        np.einsum("mk,skl,ml->ms", c, bread_lo, c)
    )
    slope = (plug_in_hi - plug_in_lo) / (2 * RHO_STEP)
    df = 2 / (2 / (n - k) + slope**2 * var_rho)
    return Ar1Gls(c @ params, np.sqrt(var), df, rho, params)


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


def design_matrix(series: pd.DataFrame, seasonality: Seasonality = "auto") -> tuple[pd.DataFrame, str]:
    """Design of the segmented regression and the seasonal terms actually used.

    Parameters
    ----------
    series : pandas.DataFrame
        From :func:`treated_series`.
    seasonality : {"auto", "fourier", "month", "none"}
        See :func:`segmented_regression`.

    Returns
    -------
    tuple of pandas.DataFrame and str
        Columns ``const``, ``trend`` (period position), ``level`` (post indicator),
        ``slope`` (periods since the start, 0 before it; dropped with a single post
        period) and the seasonal columns; the seasonal choice made.
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
    return x, used


def _newey_west(x: pd.DataFrame, y: pd.Series, contrasts: np.ndarray, lags: int) -> tuple[np.ndarray, ...]:
    """OLS with Newey-West errors (statsmodels HAC, Bartlett, small-sample factor), t(n-k)."""
    res = OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
    beta = res.params.to_numpy()
    cov = res.cov_params().to_numpy()
    var = np.einsum("mk,kl,ml->m", contrasts, cov, contrasts)
    return contrasts @ beta, np.sqrt(var), np.full(len(contrasts), float(res.df_resid)), beta


def segmented_regression(
    series: pd.DataFrame,
    *,
    alpha: float = 0.05,
    seasonality: Seasonality = "auto",
    maxlags: int | None = None,
) -> ItsFit:
    """Fit the segmented regression with AR(1) errors (or Newey-West errors on request).

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
        Give it to use OLS with Newey-West errors with this many lags instead of the
        AR(1) model (:func:`newey_west_lags` is the usual rule). Their 95% intervals
        cover 71-91% at 36-72 monthly periods; kept to compare with other tools.

    Returns
    -------
    ItsFit
    """
    s = series.reset_index(drop=True)
    x, used = design_matrix(s, seasonality)
    names = list(x.columns)
    n = len(s)
    level = np.zeros(len(names))
    level[names.index("level")] = 1.0
    rows = [level]
    if "slope" in names:
        slope = np.zeros(len(names))
        slope[names.index("slope")] = 1.0
        rows += [slope, level + slope * float(s.loc[s[POST], REL].mean())]
    x_cf = x.assign(level=0.0, **({"slope": 0.0} if "slope" in names else {})).to_numpy()
    contrasts = np.vstack([*rows, x_cf])
    if maxlags is None:
        fit = ar1_gls(x.to_numpy(), s[Y].to_numpy(float), contrasts)
        est, se, df, beta = fit.estimate[:, 0], fit.se[:, 0], fit.df[:, 0], fit.params[:, 0]
        rho = float(fit.rho[0])
        method = (
            f"segmented regression, AR(1) errors (REML rho {rho:.2f}, Kenward-Roger-type correction), "
            f"seasonal terms: {used}"
        )
    else:
        est, se, df, beta = _newey_west(x, s[Y], contrasts, int(maxlags))
        rho = math.nan
        method = f"segmented regression, Newey-West errors ({int(maxlags)} lags), seasonal terms: {used}"
    q = stats.t.ppf(1 - alpha / 2, df)

    def pick(i: int) -> Estimate:
        p = float(2 * stats.t.sf(abs(est[i] / se[i]), df[i])) if se[i] > 0 else math.nan
        return Estimate(float(est[i]), float(se[i]), float(est[i] - q[i] * se[i]), float(est[i] + q[i] * se[i]),
                        p, float(df[i]), method, level=1 - alpha, n=n)

    if "slope" in names:
        slope_estimate, average = pick(1), pick(2)
    else:
        slope_estimate = Estimate.missing("not identified: one post period", level=1 - alpha, n=n)
        average = pick(0)
    m = len(rows)
    cf = est[m:]
    frame = pd.DataFrame(
        {
            "period": s[PERIOD],
            "observed": s[Y],
            "fitted": x.to_numpy() @ beta,
            "counterfactual": cf,
            "cf_low": cf - q[m:] * se[m:],
            "cf_high": cf + q[m:] * se[m:],
            "phase": np.where(s[POST], "post", "pre"),
        }
    )
    first_post = int(np.flatnonzero(s[POST].to_numpy())[0])
    return ItsFit(
        level=pick(0),
        slope=slope_estimate,
        average=average,
        baseline=float(cf[first_post]),
        series=frame,
        seasonality=used,
        maxlags=None if maxlags is None else int(maxlags),
        rho=rho,
    )
