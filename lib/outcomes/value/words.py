"""The value of an initiative in one sentence, with its uncertainty.

Used by the value layer's own summaries and by the report's narrative. The chance of a
positive ROI decides the closing words: likely to pay off from 90%, likely to lose money
up to 10%, uncertain in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outcomes import format as fmt
from outcomes.value.evidence import GRADES, grade_sentence


def roi_sentence(roi: Mapping[str, Any] | None, currency: str | None = None) -> str:
    """The value of an initiative with its uncertainty.

    Parameters
    ----------
    roi : mapping or None
        A results.json ``roi`` entry (``npv_p50, npv_p10, npv_p90, prob_roi_positive``
        and optionally ``roi_p50, payback_months, currency``).
    currency : str, optional
        Overrides the entry's currency (default EUR).

    Returns
    -------
    str
        E.g. "NPV EUR 1.2m (P10 EUR 0.3m to P90 EUR 2.0m); 87% chance ROI is positive;
        median ROI 140%, payback in 14 months. Whether it pays off is uncertain." (likely
        to pay off from a 90% chance, likely to lose money up to 10%). An entry with an
        ``evidence`` grade ends with what it rests on ("This value rests on an association,
        not proof of cause."); an associational or assumed case is never called likely to
        pay off, only "likely ... only if what it rests on holds".
    """
    if roi is None or fmt.is_missing(roi.get("npv_p50")):
        return f"Value {fmt.NOT_AVAILABLE}: no investment case has been computed."
    cur = currency or roi.get("currency") or "EUR"
    p10, p50, p90 = roi.get("npv_p10"), roi["npv_p50"], roi.get("npv_p90")
    scale = fmt.common_scale(p10, p50, p90)
    text = (
        f"NPV {fmt.money(p50, cur, scale=scale)} (P10 {fmt.money(p10, cur, scale=scale)} to P90 "
        f"{fmt.money(p90, cur, scale=scale)}); {fmt.probability(roi.get('prob_roi_positive'))} chance ROI is positive"
    )
    extras = []
    if not fmt.is_missing(roi.get("roi_p50")):
        extras.append(f"median ROI {fmt.percent(roi['roi_p50'])}")
    if "payback_months" in roi:
        pb = roi["payback_months"]
        extras.append("payback " + ("in " + fmt.months(pb) if not fmt.is_missing(pb) else fmt.NOT_WITHIN_HORIZON))
    text += ("; " + ", ".join(extras) if extras else "") + "."
    prob = roi.get("prob_roi_positive")
    grade = roi.get("evidence")
    weak = grade in GRADES[2:]
    if not fmt.is_missing(prob):
        if prob >= 0.9 and weak:
            text += " It would likely pay off only if what it rests on holds."
        elif prob >= 0.9:
            text += " It is likely to pay off."
        elif prob <= 0.1:
            text += " It is likely to lose money."
        else:
            text += " Whether it pays off is uncertain."
    if grade is not None:
        text += " " + grade_sentence(grade)
    return text
