"""The summary quotes the interval each initiative's decision rests on: fixed-horizon when the test says so."""

from __future__ import annotations

from outcomes.report import review, summary


def _entry(interval: str | None) -> dict:
    row = {
        "metric": "first_response_mean_hours", "arm": "treatment", "role": "primary", "estimate_abs": -1.0,
        "estimate_rel": -0.2, "ci_low": -1.4, "ci_high": -0.6, "p_value": 0.001, "p_value_adjusted": 0.001,
        "seq_ci_low": -2.5, "seq_ci_high": 0.5, "unit": "hours",
    }
    entry = {"id": "pilot", "design": "randomized", "srm_p_value": 0.5, "decision": "ship", "metrics": [row]}
    if interval is not None:
        entry["interval"] = interval
    return entry


def test_a_fixed_horizon_test_is_quoted_with_its_fixed_interval() -> None:
    text = summary.it_sentence([_entry("fixed")], {"pilot": "Pilot"})
    assert "95% interval -1.4 to -0.6 hours" in text and "a clear improvement" in text


def test_a_sequential_test_and_an_older_entry_are_quoted_with_the_anytime_valid_interval() -> None:
    for entry in (_entry("sequential"), _entry(None)):
        text = summary.it_sentence([entry], {"pilot": "Pilot"})
        assert "95% interval -2.5 to +0.5 hours" in text and "inconclusive" in text


def test_the_note_without_a_timeline_speaks_to_the_reader() -> None:
    assert "its own table" in review.NO_TIMELINE and "initiative '" not in review.NO_TIMELINE
