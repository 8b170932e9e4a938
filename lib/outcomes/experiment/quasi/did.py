"""Difference-in-differences estimators on a checked panel.

Three views of one comparison (treated units against untreated units, before against
after the start):

- :func:`did_2x2`: the four means (pre/post x treated/untreated) and their
  difference of differences, with its standard error from the saturated regression
  ``y ~ treated + post + treated:post``;
- :func:`did_twfe`: the two-way fixed-effects regression ``y ~ D + unit FE + period FE
  (+ covariates)``, the estimate the results report;
- :func:`event_study`: one coefficient per period relative to the start (reference
  period -1) and a test that the coefficients before the start (the leads) are zero.

Inference is cluster-robust by unit with the CR1 scaling G/(G-1) x (N-1)/(N-K) and a
Student-t reference on G-1 degrees of freedom: the numbers of statsmodels
``OLS(...).fit(cov_type="cluster", use_t=True)``, which the 2x2 regression uses directly.
The fixed-effects regressions partial the fixed effects out first (Frisch-Waugh-Lovell)
and then solve for many outcome columns at once (:func:`cluster_ols`), so placebo runs,
the bootstrap and simulations cost one factorisation; the tests pin them to the
statsmodels formula fit. With few clusters the wild cluster restricted bootstrap p-value
(:func:`wild_cluster_pvalue`, Webb weights, seeded) is computed as a check beside it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from outcomes.estimate import Estimate
from outcomes.experiment.quasi.panel import PERIOD, POS, POST, REL, TREATED, UNIT, Y, QuasiPanel

#: Webb's six-point distribution for the wild cluster bootstrap (mean 0, variance 1).
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
#: Bootstrap outcome cells (rows x draws) solved at once; bounds memory to about 16 MB a block.
BOOTSTRAP_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class PretrendTest:
    """Test that treated and untreated units moved alike before the start.

    Attributes
    ----------
    method : str
        ``"joint Wald F"`` (all leads zero) or ``"linear pre-trend t"`` (the
        treated-minus-untreated slope before the start is zero; used when there are
        more leads than clusters minus one, where the joint test is not defined).
    statistic, p_value : float
        Test statistic and p-value.
    df_num, df_denom : float
        Degrees of freedom (numerator 1 for the t test).
    n_leads : int
        Number of pre-period coefficients in the event study.
    rejected : bool
        True when ``p_value < alpha``: the parallel-trends assumption is doubtful.
    """

    method: str
    statistic: float
    p_value: float
    df_num: float
    df_denom: float
    n_leads: int
    rejected: bool


@dataclass(frozen=True)
class EventStudy:
    """Event-study coefficients and the pre-trend test.

    Attributes
    ----------
    frame : pandas.DataFrame
        Tidy, one row per relative period: ``rel`` (periods since the start; -1 is the
        reference, fixed at 0), ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``p_value``, ``phase`` (``"pre"``, ``"reference"``, ``"post"``).
    pretrend : PretrendTest or None
        None when there is no lead to test (fewer than two pre-periods) or the test does
        not exist (too few units for a cluster-robust covariance).
    cov : numpy.ndarray or None
        Cluster-robust covariance of the coefficients, in the order of ``frame`` without
        the reference row (for :mod:`~outcomes.experiment.quasi.honest`).
    """

    frame: pd.DataFrame
    pretrend: PretrendTest | None
    cov: np.ndarray | None = None


def fixed_effects(data: pd.DataFrame, covariates: tuple[str, ...]) -> np.ndarray:
    """Constant, unit and period dummies (first level dropped) and covariates of a panel's ``data``."""
    units = pd.get_dummies(data[UNIT].astype(str), prefix="unit", drop_first=True, dtype=float)
    periods = pd.get_dummies(data[POS], prefix="period", drop_first=True, dtype=float)
    parts = [pd.Series(1.0, index=data.index, name="const"), units, periods]
    if covariates:
        parts.append(data[list(covariates)])
    return pd.concat(parts, axis=1).to_numpy(dtype=float)


@dataclass(frozen=True)
class ClusterOLS:
    """Coefficients of some regressors, fixed effects partialled out, for many outcomes.

    Attributes
    ----------
    beta : numpy.ndarray
        ``(L, S)``: L regressors of interest, S outcome columns.
    cov : numpy.ndarray
        ``(L, L, S)``: CR1 cluster-robust covariance per outcome.
    df : float
        Degrees of freedom of the t reference, G - 1.
    fitted : numpy.ndarray
        ``(N, S)``: fitted values of the full regression.
    """

    beta: np.ndarray
    cov: np.ndarray
    df: float
    fitted: np.ndarray


def control_basis(controls: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``controls`` (rank-deficient columns allowed).

    ``v - q @ (q.T @ v)`` is then ``v`` with the controls partialled out (Frisch-Waugh-Lovell).
    Placebo runs refit the same rows with other treated units or start dates, so the same
    fixed effects come back many times: the last few bases are kept (read-only).
    """
    c = np.ascontiguousarray(controls, dtype=float)
    return _basis(c.shape, c.tobytes())


@functools.lru_cache(maxsize=4)
def _basis(shape: tuple[int, ...], data: bytes) -> np.ndarray:
    controls = np.frombuffer(data).reshape(shape)
    u, s, _ = np.linalg.svd(controls, full_matrices=False)
    q = np.ascontiguousarray(u[:, s > s.max() * max(controls.shape) * np.finfo(float).eps])
    q.flags.writeable = False
    return q


def cluster_ols(x: np.ndarray, y: np.ndarray, controls: np.ndarray, groups: np.ndarray) -> ClusterOLS:
    """OLS of ``y`` on ``x`` and ``controls`` with CR1 cluster-robust covariance of the ``x`` part.

    Equal to statsmodels ``OLS(y, [x, controls]).fit(cov_type="cluster",
    cov_kwds={"groups": groups}, use_t=True)`` for the ``x`` coefficients, for every
    column of ``y`` at once, wherever that covariance exists. Where it does not, the
    result says so with NaN instead of raising: a regressor the controls explain fully
    has a NaN coefficient; with no residual degrees of freedom (N <= K, e.g. an event
    study on two units) or a single cluster the covariance is NaN; a variance that is
    zero to rounding (a perfect fit, or one treated and one untreated unit, whose two
    cluster scores cancel) is NaN too, since an interval of zero width is not an interval.

    Parameters
    ----------
    x : numpy.ndarray
        ``(N, L)`` regressors of interest.
    y : numpy.ndarray
        ``(N, S)`` outcome columns.
    controls : numpy.ndarray
        ``(N, K)`` fixed-effect dummies and covariates (rank-deficient columns are allowed).
    groups : numpy.ndarray
        ``(N,)`` cluster codes 0..G-1.

    Returns
    -------
    ClusterOLS
    """
    q = control_basis(controls)
    xt = x - q @ (q.T @ x)
    yt = y - q @ (q.T @ y)
    bread = np.linalg.pinv(xt.T @ xt)
    beta = bread @ (xt.T @ yt)
    resid = yt - xt @ beta
    lost = np.einsum("nl,nl->l", xt, xt) <= np.finfo(float).eps ** 0.5 * np.maximum(np.einsum("nl,nl->l", x, x), 1.0)
    n, n_clusters = len(y), int(groups.max()) + 1
    k = x.shape[1] + q.shape[1]
    if n <= k or n_clusters < 2:
        cov = np.full((x.shape[1], x.shape[1], y.shape[1]), np.nan)
    else:
        member = np.zeros((n, n_clusters))
        member[np.arange(n), groups] = 1.0
        scores = np.einsum("ng,nl,ns->gls", member, xt, resid)
        meat = np.einsum("gls,gms->lms", scores, scores)
        scale = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
        # bread @ meat @ bread per outcome column, as matrix products (a three-operand einsum costs L**4)
        cov = scale * (bread @ meat.transpose(2, 0, 1) @ bread).transpose(1, 2, 0)
        # A standard error below 1e-9 of the outcome's spread is rounding noise, not precision.
        spread = np.sqrt(np.mean(yt**2, axis=0)) + np.abs(beta)
        diag = np.einsum("lls->ls", cov)
        degenerate = diag <= (1e-9 * spread) ** 2
        if degenerate.any():
            cov = cov.copy()
            rows, cols = np.nonzero(degenerate)
            cov[rows, :, cols] = np.nan
            cov[:, rows, cols] = np.nan
    beta[lost] = np.nan
    cov[lost] = np.nan
    cov[:, lost] = np.nan
    return ClusterOLS(beta=beta, cov=cov, df=float(n_clusters - 1), fitted=y - resid)


def _groups(data: pd.DataFrame) -> np.ndarray:
    return pd.factorize(data[UNIT])[0]


def _outcomes(panel: QuasiPanel, outcomes: np.ndarray | None) -> np.ndarray:
    """The panel's outcome as one column, or the caller's ``(N, S)`` outcome columns."""
    if outcomes is None:
        return panel.data[Y].to_numpy(dtype=float)[:, None]
    outcomes = np.asarray(outcomes, dtype=float)
    if outcomes.ndim != 2 or outcomes.shape[0] != len(panel.data):
        raise ValueError(
            f"outcomes must have shape (rows of the panel, columns) = ({len(panel.data)}, S), got {outcomes.shape}"
        )
    return outcomes


def _table(beta: np.ndarray, se: np.ndarray, df: float, alpha: float) -> pd.DataFrame:
    """Estimate, se, interval and two-sided p-value with a t(df) reference, vectorized."""
    q = float(stats.t.ppf(1 - alpha / 2, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(beta / se), df)
    return pd.DataFrame(
        {"estimate": beta, "se": se, "ci_low": beta - q * se, "ci_high": beta + q * se, "p_value": p, "df": df}
    )


def _estimate(fit: ClusterOLS, alpha: float, method: str, n: int) -> Estimate:
    """The first coefficient of the first outcome column of ``fit`` as an :class:`Estimate`."""
    row = _table(fit.beta[0], np.sqrt(fit.cov[0, 0]), fit.df, alpha).iloc[0]
    return Estimate(
        estimate=float(row["estimate"]),
        se=float(row["se"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
        p_value=float(row["p_value"]),
        df=float(row["df"]),
        method=method,
        level=1 - alpha,
        n=n,
    )


def did_2x2(panel: QuasiPanel, alpha: float = 0.05) -> tuple[Estimate, pd.DataFrame]:
    """Classic 2x2 difference-in-differences of the four group means.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units and periods on both sides of the start.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    Estimate
        ``(treated post - treated pre) - (untreated post - untreated pre)``, equal to the
        interaction coefficient of ``y ~ treated + post + treated:post``, whose
        cluster-robust standard error it carries (NaN where it does not exist, see
        :func:`cluster_ols`).
    pandas.DataFrame
        The four cells: ``group`` (treated/untreated), ``phase`` (pre/post), ``mean``, ``n``.
    """
    d = panel.data
    t = d[TREATED].to_numpy(dtype=float)
    p = d[POST].to_numpy(dtype=float)
    controls = np.column_stack([np.ones(len(d)), t, p])
    fit = cluster_ols((t * p)[:, None], _outcomes(panel, None), controls, _groups(d))
    est = _estimate(fit, alpha, "2x2 difference in means, cluster-robust by unit", len(d))
    cells = (
        d.assign(group=np.where(d[TREATED], "treated", "untreated"), phase=np.where(d[POST], "post", "pre"))
        .groupby(["group", "phase"], sort=True)[Y]
        .agg(mean="mean", n="count")
        .reset_index()
    )
    return est, cells


def twfe(panel: QuasiPanel, outcomes: np.ndarray | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Two-way fixed-effects estimates for the panel's outcome or many outcome columns.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units and periods on both sides of the start.
    outcomes : numpy.ndarray, optional
        ``(rows of panel.data, S)`` outcome columns on the panel's units and periods
        (simulations, bootstrap); default the panel's own outcome.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per outcome column: ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``p_value``, ``df`` of ``D = treated x post`` in ``y ~ D + unit FE + period FE
        (+ covariates)``, cluster-robust by unit, t with G-1 degrees of freedom.
    """
    d = panel.data
    dummy = (d[TREATED] & d[POST]).to_numpy(dtype=float)[:, None]
    fit = cluster_ols(dummy, _outcomes(panel, outcomes), fixed_effects(d, panel.covariates), _groups(d))
    return _table(fit.beta[0], np.sqrt(fit.cov[0, 0]), fit.df, alpha)


def _twfe_fit(panel: QuasiPanel, alpha: float) -> tuple[ClusterOLS, Estimate]:
    d = panel.data
    dummy = (d[TREATED] & d[POST]).to_numpy(dtype=float)
    fit = cluster_ols(dummy[:, None], _outcomes(panel, None), fixed_effects(d, panel.covariates), _groups(d))
    return fit, _estimate(fit, alpha, "two-way fixed effects (unit and period), cluster-robust by unit", len(d))


def twfe_estimate(panel: QuasiPanel, alpha: float = 0.05) -> Estimate:
    """The estimate of :func:`did_twfe` without its chart frame (placebo runs).

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units and periods on both sides of the start.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    Estimate
    """
    return _twfe_fit(panel, alpha)[1]


def did_twfe(panel: QuasiPanel, alpha: float = 0.05) -> tuple[Estimate, pd.DataFrame]:
    """Two-way fixed-effects difference-in-differences of the panel's outcome.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units and periods on both sides of the start.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    Estimate
        See :func:`twfe`.
    pandas.DataFrame
        Chart-ready trends, one row per period and series: ``period``, ``series``
        (``"treated"``, ``"untreated"``, ``"treated without the change"``), ``value``
        (mean over the units). The counterfactual is the fitted model with D set to 0.
    """
    d = panel.data
    fit, est = _twfe_fit(panel, alpha)
    dummy = (d[TREATED] & d[POST]).to_numpy(dtype=float)
    counterfactual = fit.fitted[:, 0] - est.estimate * dummy
    group = np.where(d[TREATED], "treated", "untreated")
    observed = d.assign(series=group).groupby([PERIOD, "series"])[Y].mean().rename("value").reset_index()
    treated = d[TREATED].to_numpy()
    cf = (
        pd.DataFrame({PERIOD: d[PERIOD].to_numpy()[treated], "value": counterfactual[treated]})
        .groupby(PERIOD)["value"]
        .mean()
        .reset_index()
        .assign(series="treated without the change")
    )
    trends = pd.concat([observed, cf[[PERIOD, "series", "value"]]], ignore_index=True)
    return est, trends.sort_values(["series", PERIOD]).reset_index(drop=True)


def _linear_pretrend(panel: QuasiPanel, y: np.ndarray, alpha: float, n_leads: int) -> list[PretrendTest]:
    """t tests of a different linear trend of the treated units before the start."""
    pre = ~panel.data[POST].to_numpy()
    d = panel.data[pre]
    x = (d[TREATED] * d[POS]).to_numpy(dtype=float)[:, None]
    fit = cluster_ols(x, y[pre], fixed_effects(d, panel.covariates), _groups(d))
    table = _table(fit.beta[0], np.sqrt(fit.cov[0, 0]), fit.df, alpha)
    t = (table["estimate"] / table["se"]).to_numpy()
    return [
        PretrendTest("linear pre-trend t", float(ti), float(p), 1.0, fit.df, n_leads, bool(p < alpha))
        for ti, p in zip(t, table["p_value"], strict=True)
    ]


def _event_fit(panel: QuasiPanel, y: np.ndarray, alpha: float) -> tuple[list[int], ClusterOLS, list[PretrendTest]]:
    """Event-study regression for every outcome column and the pre-trend test of each."""
    d = panel.data
    rel = d[REL].to_numpy()
    treated = d[TREATED].to_numpy()
    rels = sorted(int(k) for k in np.unique(rel) if k != -1)
    x = np.column_stack([(treated & (rel == k)).astype(float) for k in rels])
    fit = cluster_ols(x, y, fixed_effects(d, panel.covariates), _groups(d))
    leads = [i for i, k in enumerate(rels) if k < -1]
    n_clusters = int(fit.df) + 1
    if not leads or not np.isfinite(fit.cov[np.ix_(leads, leads)]).all():
        tests: list[PretrendTest] = []
    elif len(leads) <= n_clusters - 1:
        b = fit.beta[leads]
        v = fit.cov[np.ix_(leads, leads)]
        wald = np.einsum("ls,lms,ms->s", b, np.linalg.pinv(np.moveaxis(v, 2, 0)).transpose(1, 2, 0), b)
        f = wald / len(leads)
        p = stats.f.sf(f, len(leads), fit.df)
        tests = [
            PretrendTest("joint Wald F", float(fi), float(pi), float(len(leads)), fit.df, len(leads), bool(pi < alpha))
            for fi, pi in zip(f, p, strict=True)
        ]
    else:
        tests = _linear_pretrend(panel, y, alpha, len(leads))
    return rels, fit, tests


def pretrend_tests(panel: QuasiPanel, outcomes: np.ndarray | None = None, alpha: float = 0.05) -> list[PretrendTest]:
    """Pre-trend test of :func:`event_study` for the panel's outcome or many outcome columns.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with at least two periods before the start.
    outcomes : numpy.ndarray, optional
        ``(rows of panel.data, S)`` outcome columns; default the panel's own outcome.
    alpha : float
        Level of the tests.

    Returns
    -------
    list of PretrendTest
        One per outcome column; empty when there is no lead to test.
    """
    return _event_fit(panel, _outcomes(panel, outcomes), alpha)[2]


def event_study(panel: QuasiPanel, alpha: float = 0.05) -> EventStudy:
    """Leads and lags of the change relative to its start, reference period -1.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units and periods on both sides of the start.
    alpha : float
        One minus the confidence level; also the level of the pre-trend test.

    Returns
    -------
    EventStudy
        Coefficients of ``treated x 1[rel = k]`` for every relative period ``k != -1`` in
        a regression with unit and period fixed effects (cluster-robust by unit), and
        the pre-trend test. The joint Wald F test (F(L, G-1)) that all L leads are zero
        needs L <= G-1 (the cluster-robust covariance has rank G-1 at most); with more
        leads than that the test is the linear pre-trend t test.
    """
    rels, fit, tests = _event_fit(panel, _outcomes(panel, None), alpha)
    table = _table(fit.beta[:, 0], np.sqrt(np.diagonal(fit.cov[:, :, 0])), fit.df, alpha).drop(columns="df")
    frame = table.assign(rel=rels, phase=["pre" if k < -1 else "post" for k in rels])
    if panel.data[REL].eq(-1).any():
        reference = {"rel": -1, "estimate": 0.0, "se": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": np.nan,
                     "phase": "reference"}
        frame = pd.concat([frame, pd.DataFrame([reference])], ignore_index=True)
    frame = frame[["rel", "estimate", "se", "ci_low", "ci_high", "p_value", "phase"]]
    pretrend = tests[0] if tests and math.isfinite(tests[0].p_value) else None
    return EventStudy(frame=frame.sort_values("rel").reset_index(drop=True), pretrend=pretrend, cov=fit.cov[:, :, 0])


def wild_cluster_pvalue(panel: QuasiPanel, reps: int = 9999, seed: int = 0) -> float:
    """Wild cluster restricted bootstrap p-value of the TWFE effect (null: no effect).

    The residuals of the model without the effect are multiplied by one Webb weight per
    unit and the cluster-robust t statistic is recomputed on every draw, all draws in one
    :func:`cluster_ols` call. Recommended by MacKinnon and Webb (2017) for few clusters;
    it is still unreliable when only one or two units are treated.

    Parameters
    ----------
    panel : QuasiPanel
        A panel with treated and untreated units.
    reps : int
        Number of bootstrap draws.
    seed : int
        Seed of the random generator; the same seed gives the same p-value.

    Returns
    -------
    float
        Share of draws whose |t| is at least the observed |t|; NaN when the observed
        cluster-robust t does not exist (see :func:`cluster_ols`).
    """
    d = panel.data
    controls = fixed_effects(d, panel.covariates)
    groups = _groups(d)
    y = d[Y].to_numpy(dtype=float)
    dummy = (d[TREATED] & d[POST]).to_numpy(dtype=float)[:, None]
    gamma, *_ = np.linalg.lstsq(controls, y, rcond=None)
    fitted0 = controls @ gamma
    resid0 = y - fitted0
    observed = cluster_ols(dummy, y[:, None], controls, groups)
    t_obs = abs(observed.beta[0, 0] / np.sqrt(observed.cov[0, 0, 0]))
    if not np.isfinite(t_obs):
        return math.nan
    rng = np.random.default_rng(seed)
    weights = rng.choice(WEBB_WEIGHTS, size=(int(groups.max()) + 1, reps))
    exceed = 0
    for chunk in np.array_split(np.arange(reps), max(1, reps * len(y) // BOOTSTRAP_CHUNK_CELLS)):
        y_star = fitted0[:, None] + resid0[:, None] * weights[:, chunk][groups]
        draws = cluster_ols(dummy, y_star, controls, groups)
        exceed += int(np.sum(np.abs(draws.beta[0] / np.sqrt(draws.cov[0, 0])) >= t_obs))
    return exceed / reps
