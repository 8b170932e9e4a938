"""Power and planning: units needed for a minimum detectable effect, and the MDE so far.

Two-sided z approximation of the Welch test (the t correction is negligible at the sample
sizes initiatives need). With ``sigma`` the per-unit standard deviation, ``r = n_t / n_c``
and ``z = z(1 - alpha/2) + z(power)``::

    n_control = z^2 sigma^2 (1 + 1/r) / mde^2          (sample size)
    mde       = z * se,   se = sigma sqrt(1/n_c + 1/n_t)  (minimum detectable effect)
    power     = Phi(|d|/se - z(1 - alpha/2)) + Phi(-|d|/se - z(1 - alpha/2))

These agree with ``statsmodels.stats.power.NormalIndPower`` (tests). When clusters (queues,
teams, sites) are randomized, each arm needs ``design effect = 1 + (m - 1) ICC`` times the
units (``m`` units per cluster): the effective sample size is ``n / design effect``. With anytime-valid
(sequential) intervals the fixed-horizon n is a lower bound: plan about 20-40% more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from outcomes import format as fmt
from outcomes.experiment.randomized.frequentist import check_alpha
from outcomes.experiment.statistics import ArrayLike


def _check_power(power: float) -> float:
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), bounds excluded, got {power!r}")
    return float(power)


def _z_total(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - check_alpha(alpha) / 2) + stats.norm.ppf(_check_power(power)))


def design_effect(cluster_size: ArrayLike, icc: ArrayLike) -> np.ndarray | float:
    """``1 + (m - 1) ICC``: the variance of a cluster-randomized mean over that of unit randomization.

    Raises
    ------
    ValueError
        When ``cluster_size`` is below 1 or ``icc`` is outside [0, 1].
    """
    m, rho = np.asarray(cluster_size, dtype=float), np.asarray(icc, dtype=float)
    if np.any(m < 1):
        raise ValueError(f"cluster_size (units per cluster) must be at least 1, got {cluster_size!r}")
    if np.any((rho < 0) | (rho > 1)):
        raise ValueError(f"icc (intra-cluster correlation) must be in [0, 1], got {icc!r}")
    out = 1 + (m - 1) * rho
    return float(out) if out.ndim == 0 else out


def sample_size_per_arm(
    mde: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0, deff: float = 1.0
) -> int:
    """Units needed in the control arm to detect ``mde`` (treatment arm: ``ratio`` times that).

    Parameters
    ----------
    mde : float
        Minimum detectable effect, absolute, on the metric's scale (non-zero).
    sd : float
        Per-unit standard deviation (``sqrt(p (1 - p))`` for a proportion ``p``).
    alpha : float
        Two-sided significance level, in (0, 1).
    power : float
        Probability of detecting ``mde``, in (0, 1).
    ratio : float
        Treatment units per control unit.
    deff : float
        Design effect (:func:`design_effect`) when clusters are randomized; 1 otherwise.

    Returns
    -------
    int
        Control-arm units, rounded up.

    Raises
    ------
    ValueError
        When an argument is out of range (the message states the constraint).
    """
    if not (math.isfinite(mde) and mde != 0):
        raise ValueError(f"mde must be a non-zero number on the metric's scale, got {mde!r}")
    if not sd > 0:
        raise ValueError(f"sd (per-unit standard deviation) must be positive, got {sd!r}")
    if not ratio > 0:
        raise ValueError(f"ratio (treatment units per control unit) must be positive, got {ratio!r}")
    if not deff >= 1:
        raise ValueError(f"deff (design effect) must be at least 1, got {deff!r}")
    z = _z_total(alpha, power)
    return int(math.ceil(z**2 * sd**2 * (1 + 1 / ratio) * deff / mde**2))


def minimum_detectable_effect(se: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> np.ndarray:
    """The effect detectable with ``power`` given the standard error of the difference (vectorized)."""
    return _z_total(alpha, power) * np.asarray(se, dtype=float)


def power_at(effect: ArrayLike, se: ArrayLike, alpha: float = 0.05) -> np.ndarray:
    """Two-sided power to detect ``effect`` when the difference has standard error ``se`` (vectorized)."""
    z = stats.norm.ppf(1 - check_alpha(alpha) / 2)
    d = np.abs(np.asarray(effect, dtype=float)) / np.asarray(se, dtype=float)
    return stats.norm.cdf(d - z) + stats.norm.cdf(-d - z)


@dataclass(frozen=True)
class Plan:
    """A sample-size plan.

    Parameters
    ----------
    mde : float
        Absolute minimum detectable effect.
    unit : str
        Metric unit (``"fraction"`` for rates).
    n_control, n_treatment : int
        Units per arm (treatment: per treatment arm).
    arms : int
        Number of arms including control.
    units_per_month : float
        Eligible units entering per month (NaN when unknown).
    months : float
        Months needed to reach the total (NaN when ``units_per_month`` is unknown).
    alpha, power : float
        The test's level and power.
    deff : float
        Design effect of a cluster-randomized test (1 when units are randomized).
    """

    mde: float
    unit: str
    n_control: int
    n_treatment: int
    arms: int
    units_per_month: float
    months: float
    alpha: float
    power: float
    deff: float = 1.0

    @property
    def n_total(self) -> int:
        """Units over all arms."""
        return self.n_control + (self.arms - 1) * self.n_treatment

    def summary(self) -> str:
        """One plain sentence."""
        text = (
            f"To detect a change of {fmt.change(self.mde, self.unit).lstrip('+')} with {self.power:.0%} power "
            f"at a {self.alpha:g} two-sided level, the test needs {self.n_control:,} control units and "
            f"{self.n_treatment:,} per treatment arm ({self.n_total:,} in all)"
        )
        if self.deff > 1:
            text += f", counting a design effect of {self.deff:.2f} for randomizing clusters"
        if math.isfinite(self.months):
            text += f", about {self.months:.1f} months at {self.units_per_month:,.0f} units per month"
        return text + "."

    def more_units(self, so_far: int) -> int:
        """Units still to enrol, over all arms, when ``so_far`` units are already in the test (0 once reached)."""
        return max(self.n_total - int(so_far), 0)

    def months_for(self, units: int) -> float:
        """Months the intake takes to bring ``units`` more units (NaN when the intake is unknown)."""
        return units / self.units_per_month if math.isfinite(self.units_per_month) else math.nan


def plan(
    mde: float,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    arms: int = 2,
    ratio: float = 1.0,
    units_per_month: float | None = None,
    unit: str = "",
    deff: float = 1.0,
) -> Plan:
    """Plan an initiative: units per arm for ``mde``, and the duration at a monthly intake.

    Parameters
    ----------
    mde, sd, alpha, power, ratio
        As :func:`sample_size_per_arm`.
    arms : int
        Number of arms including control (each treatment arm gets ``ratio`` x control).
    units_per_month : float, optional
        Eligible units entering the test per month.
    unit : str
        Metric unit, for the sentence.
    deff : float
        Design effect (:func:`design_effect`) when clusters are randomized.

    Returns
    -------
    Plan
        The plan, with :meth:`Plan.summary`.
    """
    if arms < 2:
        raise ValueError(f"arms must be at least 2 (control and one treatment), got {arms!r}")
    if units_per_month is not None and not units_per_month > 0:
        raise ValueError(f"units_per_month must be positive, got {units_per_month!r}")
    n_c = sample_size_per_arm(mde, sd, alpha, power, ratio, deff)
    n_t = int(math.ceil(n_c * ratio))
    total = n_c + (arms - 1) * n_t
    months = total / units_per_month if units_per_month else math.nan
    return Plan(abs(mde), unit, n_c, n_t, arms, units_per_month or math.nan, months, alpha, power, deff)
