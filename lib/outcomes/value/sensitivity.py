"""Which uncertain input moves a case's NPV most: one input at a time (a tornado).

Each uncertain input of a case (the Monte Carlo's named quantities: the effect, link
slopes, causal shares, lifetime values, costs, ...) is set to its P10 and to its P90 while
every other input stays at its central value; the NPV at both ends gives the input's
swing. Inputs are ranked by swing, largest first. The ranking reads one input at a time:
it does not show inputs that matter only together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.metrics.catalog import in_words

#: Quantiles an input is moved to.
LOW_Q, HIGH_Q = 0.1, 0.9
#: Inputs recorded per case in results.json (``roi[].sensitivity``).
TOP_INPUTS = 5


@dataclass(frozen=True)
class Swing:
    """NPV with one input at its P10 and at its P90, the others at their central values.

    Attributes
    ----------
    input : str
        The input's name (``effect``, ``link:<to>``, ``cost:initial``, ...).
    label : str
        The input in words.
    low, high : float
        The input's P10 and P90.
    npv_low, npv_high : float
        NPV with the input at ``low`` and at ``high``.
    """

    input: str
    label: str
    low: float
    high: float
    npv_low: float
    npv_high: float

    @property
    def swing(self) -> float:
        """How far NPV moves between the input's P10 and P90 (non-negative)."""
        return abs(self.npv_high - self.npv_low)

    def to_dict(self) -> dict[str, Any]:
        """The results.json ``roi[].sensitivity`` entry."""
        return {
            "input": self.input,
            "low": self.low,
            "high": self.high,
            "npv_low": self.npv_low,
            "npv_high": self.npv_high,
        }


@dataclass(frozen=True)
class Tornado:
    """A case's swings, largest first.

    Build it with :func:`tornado`.

    Attributes
    ----------
    npv_central : float
        NPV with every input at its central value.
    swings : tuple of Swing
        One per uncertain input, sorted by swing (largest first).
    currency : str
        Currency of the NPVs.
    """

    npv_central: float
    swings: tuple[Swing, ...]
    currency: str = "EUR"

    def to_frame(self) -> pd.DataFrame:
        """One row per input, largest swing first: ``input, label, low, high, npv_low, npv_high, swing``."""
        rows = [{**s.to_dict(), "label": s.label, "swing": s.swing} for s in self.swings]
        cols = ["input", "label", "low", "high", "npv_low", "npv_high", "swing"]
        return pd.DataFrame(rows, columns=cols)

    def records(self, top: int = TOP_INPUTS) -> list[dict[str, Any]]:
        """The ``top`` inputs with the largest swings, as results.json records them."""
        return [s.to_dict() for s in self.swings[:top]]

    def sentence(self) -> str:
        """The reading in one sentence: which input moves NPV most, and from what to what."""
        if not self.swings or self.swings[0].swing == 0:
            return "No uncertain input moves the NPV: every input of this case is a fixed number."
        s = self.swings[0]
        return (
            f"NPV moves most with {s.label}: from {fmt.money(s.npv_low, self.currency)} at its P10 "
            f"to {fmt.money(s.npv_high, self.currency)} at its P90."
        )


def tornado(
    npv_at: Callable[[Mapping[str, float]], float],
    central: Mapping[str, float],
    ranges: Mapping[str, tuple[float, float]],
    labels: Mapping[str, str] | None = None,
    currency: str = "EUR",
) -> Tornado:
    """Move each input to its P10 and P90 with the others central, and rank by NPV swing.

    Parameters
    ----------
    npv_at : callable
        NPV for a mapping of every input name to one value.
    central : mapping of str to float
        Every input at its central value.
    ranges : mapping of str to (float, float)
        P10 and P90 of each uncertain input; an input whose P10 equals its P90 is left out.
    labels : mapping of str to str, optional
        The inputs in words (default: their names).
    currency : str
        Currency of the NPVs.

    Returns
    -------
    Tornado
        Swings sorted largest first (ties keep the order of ``ranges``).
    """
    labels = labels or {}
    swings = []
    for name, (low, high) in ranges.items():
        if low == high:
            continue
        ends = [float(npv_at({**central, name: v})) for v in (low, high)]
        swings.append(Swing(name, labels.get(name, name), float(low), float(high), *ends))
    swings.sort(key=lambda s: -s.swing)
    return Tornado(float(npv_at(central)), tuple(swings), currency)


def quantile_ranges(draws: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """P10 and P90 of each input's Monte Carlo draws."""
    return {name: tuple(float(q) for q in np.quantile(x, [LOW_Q, HIGH_Q])) for name, x in draws.items()}  # type: ignore[misc]


def input_words(name: str, metric: str, outcome: str) -> str:
    """A case's input in words (``link:churn_rate`` -> "the slope to churn rate")."""
    kind, _, part = name.partition(":")
    costs = {"initial": "the initial cost", "recurring_monthly": "the running cost per month"}
    if kind == "cost" and part in costs:
        return costs[part]
    what = in_words(part)
    fixed = {
        "effect": f"the effect on {in_words(metric)}",
        "outcome_measured": f"the measured change in {in_words(outcome)}",
        "population": "the population per month",
        "link": f"the slope to {what}",
        "causal_share": f"the causal share of the link to {what}",
        "clv": f"the lifetime value of one {what} customer",
    }
    return fixed.get(kind, f"the {in_words(name)}")
