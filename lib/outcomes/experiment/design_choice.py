"""Which design fits an initiative, from how its units got the change.

``outcomes new-initiative`` asks one question, how units were assigned, and writes the
parameters template with the design this module suggests. Each suggestion says, in plain
words, why the design fits, what it assumes and what to check (``docs/statistics-quasi.md``
has the same guide on one page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from outcomes.errors import ParamsError

Assignment = Literal["randomized", "some-units", "unit-by-unit", "one-site", "everyone"]


@dataclass(frozen=True)
class DesignSuggestion:
    """The design suggested for one way of assigning units, and what it asks of the reader.

    Attributes
    ----------
    assignment : str
        The answer (an :data:`Assignment` value).
    question : str
        The answer in words, as the prompt lists it.
    design : str
        The suggested ``design`` of the initiative file.
    why : str
        Why that design fits, one sentence.
    assumes : str
        What the estimate rests on, one sentence.
    check : str
        What to look at before trusting it, one sentence.
    """

    assignment: Assignment
    question: str
    design: str
    why: str
    assumes: str
    check: str

    def comment(self) -> str:
        """The suggestion as YAML comment lines for the template."""
        return "\n".join(
            f"# {label}: {text}"
            for label, text in (("Assigned", self.question), ("Design", f"{self.design}: {self.why}"),
                                ("Assumes", self.assumes), ("Check", self.check))
        )


SUGGESTIONS: dict[str, DesignSuggestion] = {
    s.assignment: s
    for s in (
        DesignSuggestion(
            "randomized", "randomized by the team (a coin decided who got it)", "randomized",
            "chance decided who got the change, so the arms differ only by it and by noise.",
            "units kept their arm and one unit's arm did not change another's outcome.",
            "that the arms have the planned sizes (the sample ratio check) and that guardrails did not get worse.",
        ),
        DesignSuggestion(
            "some-units", "rolled out to some units (regions, teams) at one time", "did",
            "the units without the change show how the treated ones would have moved without it.",
            "parallel trends: without the change, treated and untreated units would have moved alike.",
            "the event study before the start (flat, near zero) and the placebo checks in time and in space.",
        ),
        DesignSuggestion(
            "unit-by-unit", "rolled out unit by unit over time (waves)", "staggered",
            "each wave is compared with the units not yet reached, so early and late waves are not mixed up.",
            "parallel trends between each wave and the units not yet treated, and no anticipation of the rollout.",
            "the effect by wave and by time since the start, and that no wave moved before it was reached.",
        ),
        DesignSuggestion(
            "one-site", "launched at one site (a single region, office or service desk)", "synthetic_control",
            "a weighted mix of the other sites that followed the treated site before the start stands in for it.",
            "the mix that fit the past would have kept fitting, and no donor site had its own change.",
            "the pre-period fit (RMSPE small against the site's own variation), the donor weights, and whether the "
            "site stands out from its donors in the placebo check.",
        ),
        DesignSuggestion(
            "everyone", "everyone at once (no unit kept the old way)", "its",
            "with no untreated comparison, the trend and season before the start, extended, show what would have "
            "happened.",
            "nothing else that moves the metric changed at the same date.",
            "at least 8 periods before the start, the fit of the pre-period trend, and the placebo check at fake "
            "start dates.",
        ),
    )
}


def suggest(assignment: str) -> DesignSuggestion:
    """The design suggestion for one way of assigning units.

    Parameters
    ----------
    assignment : str
        One of :data:`Assignment`.

    Returns
    -------
    DesignSuggestion

    Raises
    ------
    ParamsError
        When ``assignment`` is not one of the valid values (they are listed).
    """
    if assignment not in SUGGESTIONS:
        valid = ", ".join(f"{a} ({SUGGESTIONS[a].question})" for a in get_args(Assignment))
        raise ParamsError(f"--assignment {assignment!r} is not a way units get a change; valid values are: {valid}")
    return SUGGESTIONS[assignment]
