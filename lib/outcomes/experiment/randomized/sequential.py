"""Anytime-valid intervals: the asymptotic confidence sequence of Waudby-Smith et al.

With monthly looks at a running initiative, a fixed-horizon 95% interval checked twelve
times excludes zero by chance far more often than 5% of the time. A confidence sequence
holds at every look at once: the probability that it *ever* excludes the true effect is at
most ``alpha``. We implement the asymptotic confidence sequence of Waudby-Smith, Arbour,
Sinha, Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic confidence
sequences" (Annals of Statistics, 2024; arXiv 2103.06476, eq. 9, with rho from their
eq. 161), exactly as gbstats' ``SequentialTwoSidedTTest`` does. The point estimate is
unchanged; only the interval widens::

    half_width = sqrt(N s^2) * sqrt( 2 (N rho^2 + 1) / (N rho)^2 * log( sqrt(N rho^2 + 1) / alpha ) )
    rho        = sqrt( (-2 log(alpha) + log(-2 log(alpha) + 1)) / N* )

with ``N`` the total units in the two compared arms, ``s`` the standard error of the
(absolute or relative) effect, and ``N*`` the tuning parameter: the total n at which the
sequence is tightest. Set it to the expected total units of the two arms at the planned
end; the default (:data:`DEFAULT_TUNING` = 5,000) is gbstats'.
"""

from __future__ import annotations

import numpy as np

from outcomes.experiment.randomized.frequentist import check_alpha
from outcomes.experiment.statistics import ArrayLike

#: gbstats' default tuning parameter N* (expected total units of the two compared arms).
DEFAULT_TUNING = 5000


def rho(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The mixing parameter tuned so the sequence is tightest at ``tuning`` total units.

    Raises
    ------
    ValueError
        When ``alpha`` is outside (0, 1) or ``tuning`` is not positive.
    """
    alpha = check_alpha(alpha)
    if not tuning > 0:
        raise ValueError(f"tuning (N*, expected total units of the two arms) must be positive, got {tuning!r}")
    return float(np.sqrt((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning))


def half_width(se: ArrayLike, n_total: ArrayLike, alpha: float = 0.05, tuning: float = DEFAULT_TUNING) -> np.ndarray:
    """Half-width of the asymptotic confidence sequence (vectorized).

    Parameters
    ----------
    se : array
        Standard errors of the effects (absolute or relative scale).
    n_total : array
        Units in the two compared arms.
    alpha : float
        The sequence's error probability over all looks, in (0, 1).
    tuning : float
        N*, the total units at which the sequence is tightest.

    Returns
    -------
    ndarray
        Half-widths (NaN where ``se`` is NaN).
    """
    r = rho(alpha, tuning)
    se, n = np.asarray(se, dtype=float), np.asarray(n_total, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = se**2 * n
        nr2 = n * r**2
        return np.sqrt(s2) * np.sqrt(2 * (nr2 + 1) * np.log(np.sqrt(nr2 + 1) / alpha) / (n * r) ** 2)


def confidence_sequence(
    estimate: ArrayLike, se: ArrayLike, n_total: ArrayLike, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> tuple[np.ndarray, np.ndarray]:
    """Anytime-valid ``1 - alpha`` interval ``(low, high)`` around ``estimate``.

    Examples
    --------
    gbstats' ``TestSequentialTTest`` fixture (relative effect 0.50336, SE from the delta
    method, 6,461 units, N* = 1,000) gives (-0.55844, 1.56516).
    """
    est = np.asarray(estimate, dtype=float)
    w = half_width(se, n_total, alpha, tuning)
    return est - w, est + w
