"""Measured effects of the same kind shrunk toward each other before the portfolio is totalled.

Several initiatives that moved the same IT metric are several noisy measurements of
related effects. Taken one by one, the largest measured effect is more likely than not an
overestimate (it is the largest partly because its noise was favourable), so a total of
raw effects is too optimistic. Empirical Bayes corrects this the way GrowthBook's impact
analysis does before summing experiments: a normal-normal model in which each measured
effect ``y_i`` (standard error ``s_i``) estimates a true effect ``theta_i``, and the true
effects of one kind scatter around a common mean ``mu`` with between-initiative variance
``tau^2``::

    y_i | theta_i ~ N(theta_i, s_i^2)        theta_i ~ N(mu, tau^2)

``tau^2`` is estimated by DerSimonian and Laird (``statsmodels.stats.meta_analysis.
combine_effects``), ``mu`` is the precision-weighted mean with weights
``1 / (s_i^2 + tau^2)``, and each effect becomes its posterior mean::

    theta_i = mu + B_i (y_i - mu)       B_i = tau^2 / (tau^2 + s_i^2)

with variance ``B_i s_i^2 + (1 - B_i)^2 / sum_j w_j`` (the second term carries the
uncertainty of ``mu``). A noisy effect moves further toward the others than a precise one;
when ``tau^2`` is 0 the effects are taken as one common effect. Only effects measured by
the initiatives' own tests are shrunk: a stated assumption has no sampling noise to remove.
An initiative alone of its kind is left as measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.stats.meta_analysis import combine_effects

from outcomes.errors import ParamsError
from outcomes.value.model import Effect

#: The estimator of the between-initiative variance (statsmodels' ``method_re``): DerSimonian-Laird.
TAU2_METHOD = "dl"


@dataclass(frozen=True)
class ShrunkEffect:
    """One initiative's measured effect, raw and shrunk toward the others of its kind.

    Attributes
    ----------
    initiative : str
        Initiative id.
    kind : str
        The IT metric the effect is measured on; effects are shrunk within a kind.
    raw, raw_se : float
        The measured effect and its standard error.
    shrunk, shrunk_se : float
        The posterior mean and standard deviation (equal to the raw ones when not shrunk).
    tau2 : float or None
        Between-initiative variance of the kind; None when the effect was not shrunk.
    mean : float or None
        The kind's precision-weighted mean effect; None when not shrunk.
    peers : int
        Measured effects of this kind, itself included.
    """

    initiative: str
    kind: str
    raw: float
    raw_se: float
    shrunk: float
    shrunk_se: float
    tau2: float | None
    mean: float | None
    peers: int

    @property
    def is_shrunk(self) -> bool:
        """Whether the effect was shrunk (it shares its kind with another measured effect)."""
        return self.tau2 is not None

    def effect(self, raw: Effect) -> Effect:
        """The shrunk effect as a normal :class:`Effect`, keeping the raw one's source and origin."""
        if not self.is_shrunk:
            return raw
        return Effect(value=self.shrunk, se=self.shrunk_se, source=raw.source, origin=raw.origin)

    def to_dict(self) -> dict[str, Any]:
        """The effects of a results.json ``roi[].shrinkage`` entry."""
        return {
            "kind": self.kind,
            "peers": self.peers,
            "tau2": self.tau2,
            "raw_effect": self.raw,
            "raw_se": self.raw_se,
            "shrunk_effect": self.shrunk,
            "shrunk_se": self.shrunk_se,
        }


def between_variance(estimates: np.ndarray, variances: np.ndarray) -> float:
    """The between-initiative variance ``tau^2`` by DerSimonian-Laird (statsmodels' ``combine_effects``).

    Parameters
    ----------
    estimates, variances : numpy.ndarray
        The measured effects and their squared standard errors (two or more, variances > 0).

    Returns
    -------
    float
        ``tau^2``, 0 when the effects scatter no more than their noise: DerSimonian and Laird
        truncate the moment estimate at 0, which statsmodels (0.15) returns untruncated.
    """
    with np.errstate(invalid="ignore"):  # statsmodels takes square roots of the untruncated estimate's by-products
        fit = combine_effects(np.asarray(estimates, float), np.asarray(variances, float), method_re=TAU2_METHOD)
    return max(0.0, float(fit.tau2))


def posterior(
    estimates: np.ndarray, variances: np.ndarray, tau2: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Posterior means and standard deviations of the true effects for a given ``tau^2``.

    Parameters
    ----------
    estimates, variances : numpy.ndarray
        The measured effects and their squared standard errors (variances > 0).
    tau2 : float
        Between-initiative variance (0 or more).

    Returns
    -------
    means, sds : numpy.ndarray
        ``mu + B_i (y_i - mu)`` and ``sqrt(B_i s_i^2 + (1 - B_i)^2 / sum w)``.
    mu : float
        The precision-weighted mean, weights ``1 / (s_i^2 + tau^2)``.
    """
    y, v = np.asarray(estimates, float), np.asarray(variances, float)
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    b = tau2 / (tau2 + v)
    return mu + b * (y - mu), np.sqrt(b * v + (1.0 - b) ** 2 / np.sum(w)), mu


def shrink(effects: Mapping[str, Effect], kinds: Mapping[str, str]) -> dict[str, ShrunkEffect]:
    """Shrink the measured effects of each kind toward each other.

    Parameters
    ----------
    effects : mapping of str to Effect
        By initiative id, the effect its own test measured (normal, standard error above 0).
    kinds : mapping of str to str
        By initiative id, the IT metric of its value chain.

    Returns
    -------
    dict of str to ShrunkEffect
        One per initiative of ``effects``; an initiative alone of its kind keeps its raw effect.

    Raises
    ------
    ParamsError
        When an effect has no positive standard error (nothing to weigh it by).
    """
    for key, e in effects.items():
        if not e.sd > 0:
            raise ParamsError(
                f"the measured effect of '{key}' has standard error {e.sd}; shrinkage weighs each effect "
                "by its precision, so pass the effect with its interval or standard error"
            )
    out: dict[str, ShrunkEffect] = {}
    for kind in dict.fromkeys(kinds[k] for k in effects):
        keys = [k for k in effects if kinds[k] == kind]
        y = np.array([effects[k].value for k in keys])
        se = np.array([effects[k].sd for k in keys])
        if len(keys) < 2:
            out[keys[0]] = ShrunkEffect(keys[0], kind, float(y[0]), float(se[0]), float(y[0]), float(se[0]), None, None, 1)
            continue
        tau2 = between_variance(y, se**2)
        means, sds, mu = posterior(y, se**2, tau2)
        for i, key in enumerate(keys):
            out[key] = ShrunkEffect(key, kind, float(y[i]), float(se[i]), float(means[i]), float(sds[i]), tau2, mu, len(keys))
    return out
