"""Intervals clipped to what a quantity allows, for charts.

A symmetric interval around a rate's effect can reach past what the rate can do: a
relative change below -100% (the rate would be negative) or a level outside [0, 1].
Charts draw the clipped interval and say in the tooltip that it was clipped; tables and
results keep the interval as estimated.
"""

from __future__ import annotations

import math

#: The lowest relative change of a quantity that cannot be negative (it falls to zero).
RELATIVE_FLOOR = -1.0
#: What a clipped interval's tooltip says.
CLIPPED_NOTE = "interval clipped to what the metric allows"
UNCLIPPED_NOTE = "interval as estimated"


def clip_relative(low: float, high: float) -> tuple[float, float, bool]:
    """Clip a relative interval of a non-negative quantity to [-100%, +inf).

    Parameters
    ----------
    low, high : float
        Interval bounds as fractions of the control level (-0.2 is -20%).

    Returns
    -------
    tuple of (float, float, bool)
        The clipped bounds and whether either bound moved.
    """
    lo, hi = max(low, RELATIVE_FLOOR), max(high, RELATIVE_FLOOR)
    return lo, hi, (lo, hi) != (low, high) and not (math.isnan(low) or math.isnan(high))


def clip_level(low: float, high: float) -> tuple[float, float, bool]:
    """Clip an interval of a rate's level (a fraction) to [0, 1].

    Returns
    -------
    tuple of (float, float, bool)
        The clipped bounds and whether either bound moved.
    """
    lo, hi = min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0)
    return lo, hi, (lo, hi) != (low, high) and not (math.isnan(low) or math.isnan(high))
