"""The executive summary's answer: short lines a phone shows on its first screen, from the results alone."""

from __future__ import annotations

from outcomes.report.answer import ANSWER_ID, answer
from outcomes.report.summary import brief

ROI = [
    {"initiative": "bot", "npv_p50": 7.4e6, "npv_p10": 4.7e6, "npv_p90": 1e7, "prob_roi_positive": 0.999,
     "recommendation": "roll out"},
    {"initiative": "ci", "npv_p50": -4.9e4, "npv_p10": -2e5, "npv_p90": 1e5, "prob_roi_positive": 0.32,
     "recommendation": "roll out only after cutting its costs"},
]
PORTFOLIO = [{"npv_p50": 7.2e6, "npv_p10": 4.5e6, "npv_p90": 1e7, "prob_roi_positive": 0.999}]
SCORE = "Scorecard: 12 of 26 metrics with a target met it in 2025-12; 14 missed it. 3 of those met rest on defaults."


def test_the_brief_gives_the_worth_each_recommendation_and_the_scorecard() -> None:
    lines = brief({"bot": "ship", "ci": "ship", "new": "keep testing"}, ROI, PORTFOLIO,
                  {"bot": "Chatbot", "ci": "Faster releases"}, "EUR", SCORE)
    assert lines == (
        "The initiatives are worth EUR 7.2m together (P10 EUR 4.5m to P90 EUR 10m).",
        "Chatbot: roll out (more than 99% chance of a positive ROI).",
        "Faster releases: roll out only after cutting its costs (32% chance of a positive ROI).",
        "new: keep testing.",
        "Scorecard: 12 of 26 metrics with a target met it in 2025-12; 14 missed it.",
    )


def test_without_a_case_the_brief_says_so() -> None:
    assert brief({"x": "stop"}, [], [], {}, "EUR", "Scorecard: none.")[0] == "No initiative has a value case yet."


def test_the_answer_block_escapes_its_text_and_carries_the_stable_id() -> None:
    html = answer("Roll <out>", ["a & b", ""]).data
    assert html.startswith(f'<section id="{ANSWER_ID}" class="{ANSWER_ID}"')
    assert "Roll &lt;out&gt;" in html and html.count("<li>") == 1 and "a &amp; b" in html
