"""Sample ratio mismatch (SRM): do the arm sizes match the planned split?

A broken assignment (a redirect that drops users, a bot filter applied to one arm) shows
up as arm sizes that differ from the plan by more than chance allows, and it biases every
effect. We run Pearson's chi-squared goodness-of-fit test of the unit counts against the
planned shares and flag p < 0.001 (GrowthBook's and Eppo's threshold; the test is repeated
at every look, hence the strict level).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from outcomes.experiment.results import SAMPLE_RATIO_MISMATCH, Condition

#: p-value below which a mismatch is flagged.
SRM_THRESHOLD = 0.001


def srm_test(
    counts: Mapping[str, int], planned: Mapping[str, float] | None = None, threshold: float = SRM_THRESHOLD
) -> tuple[float, bool, Condition | None]:
    """Test arm sizes against the planned split.

    Parameters
    ----------
    counts : mapping
        Units per arm.
    planned : mapping, optional
        Planned share (or weight) per arm; equal shares when omitted. Weights are
        normalised to sum to one.
    threshold : float
        Flag when the p-value is below this, in (0, 1).

    Returns
    -------
    p_value : float
        Chi-squared p-value (NaN with fewer than two arms or no units).
    flagged : bool
        Whether ``p_value < threshold``.
    condition : Condition or None
        A blocking ("stop") condition with a plain sentence when flagged.

    Raises
    ------
    ValueError
        When ``threshold`` is outside (0, 1), a planned weight is not positive, or the
        planned arms differ from the counted arms.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"SRM threshold must be in (0, 1), bounds excluded, got {threshold!r}")
    arms = list(counts)
    if planned is None:
        planned = {arm: 1.0 for arm in arms}
    if set(planned) != set(arms):
        raise ValueError(
            f"planned split arms {sorted(planned)} differ from the arms in the data {sorted(arms)}; "
            "give a share for every arm"
        )
    weights = np.array([float(planned[a]) for a in arms])
    if (weights <= 0).any():
        raise ValueError(f"planned split shares must be positive, got {dict(planned)}")
    observed = np.array([float(counts[a]) for a in arms])
    total = observed.sum()
    if len(arms) < 2 or total == 0:
        return math.nan, False, None
    expected = total * weights / weights.sum()
    p = float(stats.chisquare(observed, expected).pvalue)
    if p >= threshold:
        return p, False, None
    shares = ", ".join(f"{a} {o / total:.1%} (planned {e / total:.1%})" for a, o, e in zip(arms, observed, expected))
    message = (
        f"The arm sizes differ from the planned split more than chance allows ({shares}; "
        f"chi-squared p = {p:.2g} < {threshold:g}), so the assignment is broken and no effect can be trusted. "
        "Find and fix the cause (assignment, logging, filtering) before reading results"
    )
    return p, True, Condition(SAMPLE_RATIO_MISMATCH, message, blocks="stop")
