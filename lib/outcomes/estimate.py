"""One estimated effect or coefficient with its uncertainty: the result type of every regression.

Difference-in-differences, interrupted time series, the drivers model and the case studies'
regressions all return an :class:`Estimate`; statsmodels' results are one family, so one
constructor (:meth:`Estimate.from_statsmodels`) reads any of them, whatever the covariance
type (non-robust, HC1, cluster-robust).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from outcomes.errors import OutcomesError


class EstimateError(OutcomesError, KeyError):
    """A fitted model has no parameter of the asked name."""


@dataclass(frozen=True)
class Estimate:
    """One estimate with its standard error, interval and test of "no effect".

    Parameters
    ----------
    estimate : float
        Point estimate, in the outcome's unit (NaN when it could not be estimated).
    se : float
        Standard error.
    ci_low, ci_high : float
        Two-sided confidence interval at ``level``.
    p_value : float
        Two-sided p-value of "the estimate is zero".
    df : float
        Degrees of freedom of the Student-t reference; ``inf`` for a normal reference.
    method : str
        How it was estimated, in a few words (model and covariance).
    level : float
        Confidence level of the interval (``1 - alpha``).
    n : int
        Observations used.
    conditions : tuple of str
        Codes of data conditions met while estimating (e.g. ``"insufficient_data"``).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    method: str
    level: float = 0.95
    n: int = 0
    conditions: tuple[str, ...] = ()

    @property
    def estimable(self) -> bool:
        """Whether there is a finite point estimate."""
        return math.isfinite(self.estimate)

    @classmethod
    def missing(cls, method: str, *, level: float = 0.95, n: int = 0, df: float = math.nan, conditions: tuple[str, ...] = ()) -> Estimate:
        """An estimate that could not be made: NaN numbers, with the reason in ``conditions``."""
        nan = math.nan
        return cls(nan, nan, nan, nan, nan, df, method, level, n, conditions)

    @classmethod
    def from_statsmodels(
        cls,
        results: Any,
        name: str,
        *,
        alpha: float = 0.05,
        method: str | None = None,
        conditions: tuple[str, ...] = (),
    ) -> Estimate:
        """The estimate of one parameter of a fitted statsmodels model.

        Parameters
        ----------
        results : statsmodels results
            A fitted model's results (OLS, WLS, GLM...; any ``cov_type``).
        name : str
            The parameter, as named in ``results.params``.
        alpha : float
            One minus the confidence level of the interval.
        method : str, optional
            How it was estimated; by default the model's name and covariance type ("OLS, HC1").
        conditions : tuple of str
            Data condition codes to carry along.

        Returns
        -------
        Estimate
            The interval and p-value use the reference statsmodels uses: Student-t with the
            inference degrees of freedom (clusters - 1 for cluster-robust fits) when
            ``use_t``, else the normal (``df`` is then ``inf``).

        Raises
        ------
        EstimateError
            When ``name`` is not a parameter of the model.
        """
        params = results.params
        if name not in params.index:
            raise EstimateError(f"the model has no parameter {name!r}; its parameters are {list(params.index)}")
        low, high = results.conf_int(alpha=alpha).loc[name]
        if results.use_t:
            inference = getattr(results, "df_resid_inference", None)
            df = float(results.df_resid if inference is None else inference)
        else:
            df = math.inf
        described = method or f"{type(results.model).__name__}, {results.cov_type}"
        return cls(
            estimate=float(params[name]),
            se=float(results.bse[name]),
            ci_low=float(low),
            ci_high=float(high),
            p_value=float(results.pvalues[name]),
            df=df,
            method=described,
            level=1 - alpha,
            n=int(results.nobs),
            conditions=tuple(conditions),
        )
