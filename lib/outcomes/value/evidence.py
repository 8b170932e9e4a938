"""How strong the evidence behind a value figure is, and how a direct measurement enters it.

Every number that moves a value chain (the change in the IT metric and each link to a
customer outcome) has one evidence grade:

* ``measured``: measured directly by the initiative's own test;
* ``chained``: a measured IT effect carried through a link an experiment established;
* ``associational``: a link from the drivers model, an association across regions and
  months, not proof of cause;
* ``assumed``: a stated input (``params/value.yaml``).

A case is graded by its weakest step, so a chain that runs through an association is
``associational`` however precisely its IT effect was measured. When the initiative's own
test also measured the outcome the chain ends in, :func:`combine_outcome` weighs the two
estimates by their precision, or keeps the measurement alone when they disagree beyond
their uncertainty; a case valued on the measurement alone is ``measured``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import stats

EvidenceGrade = Literal["measured", "chained", "associational", "assumed"]
#: The grades, strongest first.
GRADES: tuple[str, ...] = get_args(EvidenceGrade)

#: What a figure of each grade rests on, in the words every page uses.
GRADE_WORDS: dict[str, str] = {
    "measured": "rests on the initiative's own measurement",
    "chained": "rests on a measured effect carried through a link an experiment established",
    "associational": "rests on an association, not proof of cause",
    "assumed": "rests on stated assumptions, not measurements",
}

#: Grade of an effect or link by where its number comes from (``Effect.source``, ``Link.source``).
_EFFECT_GRADE: dict[str, EvidenceGrade] = {"experiment": "measured", "drivers": "associational", "assumption": "assumed"}
_LINK_GRADE: dict[str, EvidenceGrade] = {"experiment": "chained", "drivers": "associational", "assumption": "assumed"}

#: How the chain's estimate and the direct measurement of the outcome were put together.
Combination = Literal["chained", "combined", "direct"]


def effect_grade(source: str) -> EvidenceGrade:
    """The grade of an IT-metric change from its source (experiment, drivers or assumption)."""
    return _EFFECT_GRADE[source]


def link_grade(source: str) -> EvidenceGrade:
    """The grade of a link from its source: an experiment's link is ``chained``, the drivers' ``associational``."""
    return _LINK_GRADE[source]


def weakest(grades: list[str] | tuple[str, ...]) -> EvidenceGrade:
    """The weakest of ``grades`` (the grade of a chain of them); ``assumed`` when there are none."""
    if not grades:
        return "assumed"
    return GRADES[max(GRADES.index(g) for g in grades)]  # type: ignore[return-value]


def grade_sentence(grade: str) -> str:
    """ "This value rests on an association, not proof of cause." for a grade."""
    return f"This value {GRADE_WORDS[grade]}."


@dataclass(frozen=True)
class OutcomeEvidence:
    """The chain's estimate of the outcome change and the direct measurement, and how they were used.

    Attributes
    ----------
    how : {"chained", "combined", "direct"}
        ``combined``: weighted by precision; ``direct``: the measurement alone, because
        the two disagree beyond their uncertainty; ``chained``: no measurement.
    chained_mean, chained_sd : float
        Mean and standard deviation of the chain's draws.
    direct_mean, direct_sd : float or None
        The measurement and its standard error.
    weight_direct : float
        Share of the measurement in the value (1 when used alone, 0 without one).
    z : float or None
        The gap between the two in standard errors of the difference.
    """

    how: Combination
    chained_mean: float
    chained_sd: float
    direct_mean: float | None = None
    direct_sd: float | None = None
    weight_direct: float = 0.0
    z: float | None = None

    @property
    def mean(self) -> float:
        """The outcome change the value uses (central)."""
        if self.direct_mean is None:
            return self.chained_mean
        return (1.0 - self.weight_direct) * self.chained_mean + self.weight_direct * self.direct_mean


def combine_outcome(
    chained: np.ndarray, direct: np.ndarray | None, direct_mean: float | None, direct_sd: float | None, level: float = 0.95
) -> tuple[np.ndarray, OutcomeEvidence]:
    """Put the chain's estimate of an outcome change together with its direct measurement.

    With chained draws of mean ``m_c`` and variance ``v_c`` and a measurement ``m_d``
    with standard error ``s_d``: when ``|m_c - m_d| > z_(1+level)/2 * sqrt(v_c + s_d^2)``
    the two disagree beyond their uncertainty and the measurement is used alone;
    otherwise each draw is ``(1 - w) * chained + w * direct`` with
    ``w = v_c / (v_c + s_d^2)``, the precision weight, whose mean and variance are those
    of the precision-weighted estimate.

    Parameters
    ----------
    chained : numpy.ndarray
        Draws of the outcome change through the chain.
    direct : numpy.ndarray or None
        Draws of the measured outcome change (normal over its interval); None without one.
    direct_mean, direct_sd : float or None
        The measurement and its standard error.
    level : float
        Level of the disagreement check.

    Returns
    -------
    draws : numpy.ndarray
        The outcome change the value uses.
    evidence : OutcomeEvidence
    """
    m_c, s_c = float(np.mean(chained)), float(np.std(chained))
    if direct is None or direct_mean is None or direct_sd is None:
        return chained, OutcomeEvidence("chained", m_c, s_c)
    v_c, v_d = s_c**2, float(direct_sd) ** 2
    spread = np.sqrt(v_c + v_d)
    z = abs(m_c - direct_mean) / spread if spread > 0 else (0.0 if m_c == direct_mean else np.inf)
    if z > stats.norm.ppf(0.5 + level / 2.0):
        return direct, OutcomeEvidence("direct", m_c, s_c, direct_mean, direct_sd, 1.0, float(z))
    w = v_c / (v_c + v_d) if v_c + v_d > 0 else 0.5
    return (1.0 - w) * chained + w * direct, OutcomeEvidence("combined", m_c, s_c, direct_mean, direct_sd, w, float(z))
