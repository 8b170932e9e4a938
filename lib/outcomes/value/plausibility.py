"""Plausibility bounds: a yearly benefit cannot exceed the cost base or revenue pool it acts on.

An initiative that saves service-desk work cannot save more a year than the service desk
costs; one that keeps customers cannot keep more value than churn puts at risk. A case
whose yearly benefit is above such a pool is flagged on the ROI page, in results.json and
in the caveats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The pools a benefit can be checked against, in readers' words.
POOL_WORDS: dict[str, str] = {
    "service_desk_cost": "the service desk's whole yearly cost",
    "revenue_at_risk": "the value churn puts at risk in a year",
}


@dataclass(frozen=True)
class Bound:
    """One plausibility check of a case.

    Attributes
    ----------
    pool : {"service_desk_cost", "revenue_at_risk"}
        What the benefit acts on.
    pool_yearly : float
        The pool per year.
    benefit_yearly : float
        The case's largest yearly benefit (median draw, before the risk adjustment).
    """

    pool: str
    pool_yearly: float
    benefit_yearly: float

    @property
    def flagged(self) -> bool:
        """Whether the benefit is larger than the pool it acts on."""
        return self.benefit_yearly > self.pool_yearly

    @property
    def ratio(self) -> float:
        """Benefit over pool (inf for an empty pool)."""
        return self.benefit_yearly / self.pool_yearly if self.pool_yearly > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """The results.json entry: ``pool, pool_yearly, benefit_yearly, flagged``."""
        return {**asdict(self), "flagged": self.flagged}


def check(benefit_yearly: float, pools: dict[str, float]) -> tuple[Bound, ...]:
    """Check a yearly benefit against each pool it acts on.

    Parameters
    ----------
    benefit_yearly : float
        The case's largest yearly benefit.
    pools : dict of str to float
        Yearly pool by name (keys of :data:`POOL_WORDS`).

    Returns
    -------
    tuple of Bound
    """
    unknown = sorted(set(pools) - set(POOL_WORDS))
    if unknown:
        raise ValueError(f"unknown plausibility pool(s) {unknown}; pools are: {', '.join(POOL_WORDS)}")
    return tuple(Bound(name, float(v), float(benefit_yearly)) for name, v in pools.items())
