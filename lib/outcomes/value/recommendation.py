"""What we recommend for an initiative: its decision and its value case, in one executive wording.

The decision rule (:mod:`outcomes.experiment.decision`) says ship, keep testing or stop
(:data:`~outcomes.experiment.results.ACTIONS`) from the measured effects; the investment
case says how likely the initiative is to pay off. :func:`recommend` combines the two
into the one :class:`Recommendation` every page shows: the review page, the decision
table of the executive summary, its headline, the ROI page's portfolio (:mod:`outcomes.value.portfolio`) and
``results.json`` (``roi[].recommendation``) all render the same object's text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from outcomes import format as fmt
from outcomes.experiment.results import ACTIONS

#: The executive wording of each action of the decision vocabulary.
WORDS: dict[str, str] = dict(zip(ACTIONS, ("roll out", "keep testing", "stop"), strict=True))
#: Below this chance of a positive ROI a clear effect is rolled out only after its costs are cut.
PAYS_OFF = 0.5
#: The condition put on a clear effect whose case is unlikely to pay off.
COSTS_FIRST = "only after cutting its costs"
#: What is said of an initiative the decision rule has not judged yet.
NOT_EVALUATED = "no decision yet"
#: A chance of a positive ROI below this (or above one minus it) settles the value case whatever the test shows.
SETTLED = 0.05
#: What would change an open test whose case is settled, by the way it is settled.
CASE_DECIDES: dict[str, str] = {
    "fails": "the test cannot change this: even a clear effect would not pay off",
    "pays": "the test cannot change the case, which pays off even at the low end of the effect: roll out unless a guardrail gets worse",
}


@dataclass(frozen=True)
class Recommendation:
    """One initiative's recommendation.

    Attributes
    ----------
    action : str or None
        The decision rule's action (one of ``ACTIONS``); None when not evaluated yet.
    verb : str
        Its executive wording (:data:`WORDS`), or :data:`NOT_EVALUATED`.
    condition : str
        :data:`COSTS_FIRST` when the effect is clear but the case is not, else empty.
    change : str
        What would change it and by when (:func:`what_would_change`), else empty.
    """

    action: str | None
    verb: str
    condition: str = ""
    change: str = ""

    @property
    def text(self) -> str:
        """The recommendation as every table and ``results.json`` show it: "roll out only after cutting its costs"."""
        return f"{self.verb} {self.condition}".strip()

    def clause(self, name: str) -> str:
        """The recommendation about a named initiative: "roll out Faster releases only after cutting its costs"."""
        if self.action is None:
            return f"decide on {name} once it is evaluated"
        return f"{self.verb} {name} {self.condition}".strip()

    @property
    def reason(self) -> str:
        """Why a condition is put on it ("the effect is clear but the case is not"), else empty."""
        return "the effect is clear but the case is not" if self.condition else ""


def settled_case(prob_roi_positive: float | None) -> str | None:
    """Whether the value case is settled whatever the test shows: ``"fails"``, ``"pays"`` or None.

    A chance of a positive ROI below :data:`SETTLED` fails, above ``1 - SETTLED`` pays;
    anything between (or no case) leaves the test to decide.

    Examples
    --------
    >>> settled_case(0.004), settled_case(0.97), settled_case(0.5), settled_case(None)
    ('fails', 'pays', None, None)
    """
    if prob_roi_positive is None or not math.isfinite(prob_roi_positive):
        return None
    if prob_roi_positive < SETTLED:
        return "fails"
    if prob_roi_positive > 1 - SETTLED:
        return "pays"
    return None


def what_would_change(
    action: str | None,
    weak_case: bool,
    *,
    more_units: int | None = None,
    by_month: str | None = None,
    break_even_monthly_cost: float | None = None,
    currency: str = "EUR",
    settled: str | None = None,
) -> str:
    """What would change a recommendation, and by when, in one executive clause.

    Parameters
    ----------
    action : str or None
        The decision rule's action.
    weak_case : bool
        Whether the case has less than :data:`PAYS_OFF` chance of paying off.
    more_units : int, optional
        Units the test still needs to reach its planned size (inconclusive tests).
    by_month : str, optional
        The month the intake reaches them, as words ("March 2026").
    break_even_monthly_cost : float, optional
        The running cost per month at which the case breaks even (clear effects).
    currency : str
        Currency of the cost.
    settled : {"fails", "pays"}, optional
        The value case settled whatever the test shows (:func:`settled_case`); an open
        test then says the case decides it (:data:`CASE_DECIDES`), not the test's plan.

    Returns
    -------
    str
        "keep testing until about 4,200 more units, around March 2026" for an inconclusive
        test with a plan; "stop, or cut its cost below EUR 12k a month" for a clear effect
        whose case is negative; empty when nothing measured says what would change it.

    Examples
    --------
    >>> what_would_change("ship", True, break_even_monthly_cost=12_000)
    'stop, or cut its cost below EUR 12k a month'
    >>> what_would_change("keep testing", False, more_units=4200, by_month="March 2026")
    'keep testing until about 4,200 more units, around March 2026'
    >>> what_would_change("keep testing", True, more_units=0, settled="fails")
    'the test cannot change this: even a clear effect would not pay off'
    """
    if action == "keep testing" and settled in CASE_DECIDES:
        return CASE_DECIDES[settled]
    if action == "keep testing" and more_units is not None:
        if more_units <= 0:
            return "the test has its planned units: the next monthly look settles it"
        when = f", around {by_month}" if by_month else ""
        return f"keep testing until about {fmt.count(more_units)} more units{when}"
    if action == "ship" and weak_case and break_even_monthly_cost is not None and math.isfinite(break_even_monthly_cost):
        if break_even_monthly_cost <= 0:
            return "stop: even with no running cost the case does not pay off; only a larger effect would change that"
        return f"stop, or cut its cost below {fmt.money(break_even_monthly_cost, currency)} a month"
    return ""


def recommend(
    action: str | None,
    prob_roi_positive: float | None = None,
    *,
    more_units: int | None = None,
    by_month: str | None = None,
    break_even_monthly_cost: float | None = None,
    currency: str = "EUR",
) -> Recommendation:
    """The recommendation from a decision and the chance that the initiative's case pays off.

    Parameters
    ----------
    action : str or None
        The decision rule's action; None when the initiative has not been evaluated.
    prob_roi_positive : float, optional
        The investment case's chance of a positive ROI; None (or NaN) without a case.
    more_units, by_month, break_even_monthly_cost, currency
        What would change it (:func:`what_would_change`).

    Returns
    -------
    Recommendation
        An open test whose case is settled (:func:`settled_case`) says that the case
        decides it, whatever the test shows; when it fails, the recommendation is to stop
        (the decision rule's action stays "keep testing" in ``action``). A "ship" whose case has less than :data:`PAYS_OFF` chance of paying off is
        rolled out only after cutting its costs; every other action keeps its wording.

    Raises
    ------
    ValueError
        When ``action`` is not one of the decision vocabulary.
    """
    if action is None:
        return Recommendation(None, NOT_EVALUATED)
    if action not in WORDS:
        raise ValueError(f"decision {action!r} is not one of the decision vocabulary: {', '.join(ACTIONS)}")
    weak = prob_roi_positive is not None and math.isfinite(prob_roi_positive) and prob_roi_positive < PAYS_OFF
    settled = settled_case(prob_roi_positive)
    change = what_would_change(
        action, weak, more_units=more_units, by_month=by_month,
        break_even_monthly_cost=break_even_monthly_cost, currency=currency, settled=settled,
    )
    verb = WORDS["stop"] if action == "keep testing" and settled == "fails" else WORDS[action]
    return Recommendation(action, verb, COSTS_FIRST if action == "ship" and weak else "", change)


def from_results(key: str, action: str | None, roi: Sequence[Mapping[str, Any]]) -> Recommendation:
    """The recommendation of initiative ``key`` from the run's ``results.json`` rows.

    Pages that run after the ROI page (the review pages, the executive summary) read
    the case's chance of a positive ROI from its recorded ``roi`` row, so they show what
    the ROI page recorded in ``roi[].recommendation``.

    Parameters
    ----------
    key : str
        Initiative id.
    action : str or None
        The decision rule's action for it.
    roi : sequence of mapping
        ``results.json`` ``roi`` rows; an initiative without one is recommended on its
        decision alone.

    Returns
    -------
    Recommendation
        With what would change it as the ROI page recorded it (``roi[].what_would_change``).
    """
    row = next((r for r in roi if r.get("initiative") == key), None)
    if row is None:
        return recommend(action)
    return replace(recommend(action, row.get("prob_roi_positive")), change=row.get("what_would_change") or "")
