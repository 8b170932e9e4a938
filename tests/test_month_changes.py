"""What changed since the previous published month, from two hand-made results.json documents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from outcomes.errors import ReportRunError
from outcomes.report import changes

PREVIOUS = {
    "period": "2025-11",
    "scorecard": [
        {"metric": "csat", "segment": None, "value": 0.80, "previous": 0.79, "target": 0.82, "status": "off_target", "unit": "fraction"},
        {"metric": "churn_rate", "segment": None, "value": 0.020, "previous": 0.021, "target": 0.025, "status": "on_target", "unit": "fraction"},
        {"metric": "mttr_hours", "segment": None, "value": 10.0, "previous": 9.0, "target": None, "status": "no_target", "unit": "hours"},
        {"metric": "csat", "segment": "north", "value": 0.5, "previous": 0.4, "target": 0.82, "status": "off_target", "unit": "fraction"},
    ],
    "initiatives": [
        {"id": "portal", "decision": "keep testing"},
        {"id": "chatbot", "decision": "ship"},
        {"id": "old-pilot", "decision": "stop"},
    ],
    "roi": [{"initiative": "portal", "name": "Self-service portal", "recommendation": "keep testing"}],
}
CURRENT = {
    "scorecard": [
        {"metric": "csat", "segment": None, "value": 0.83, "previous": 0.80, "target": 0.82, "status": "on_target", "unit": "fraction"},
        {"metric": "churn_rate", "segment": None, "value": 0.030, "previous": 0.020, "target": 0.025, "status": "off_target", "unit": "fraction"},
        {"metric": "mttr_hours", "segment": None, "value": 10.5, "previous": 10.0, "target": None, "status": "no_target", "unit": "hours"},
        {"metric": "csat", "segment": "north", "value": 0.9, "previous": 0.5, "target": 0.82, "status": "on_target", "unit": "fraction"},
    ],
    "initiatives": [
        {"id": "portal", "decision": "ship"},
        {"id": "chatbot", "decision": "ship"},
        {"id": "faster-releases", "decision": "keep testing"},
    ],
    "roi": [
        {"initiative": "portal", "name": "Self-service portal", "recommendation": "roll out only after cutting its costs"},
        {"initiative": "faster-releases", "name": "Faster releases", "recommendation": "keep testing"},
    ],
}


def test_decisions_that_changed_name_the_initiative_and_both_recommendations() -> None:
    found = changes.compare(PREVIOUS, CURRENT)
    assert found.decisions == ("Self-service portal: now roll out only after cutting its costs (was keep testing).",)


def test_metrics_that_crossed_their_target_either_way_for_the_whole_business_only() -> None:
    crossed = changes.compare(PREVIOUS, CURRENT).crossed
    assert len(crossed) == 2
    assert any(s.startswith("Churn rate now misses its target") for s in crossed)
    assert any(s.startswith("Customer satisfaction") and "now meets" in s for s in crossed)


def test_movers_are_ranked_by_their_relative_change() -> None:
    movers = changes.compare(PREVIOUS, CURRENT, top=2).movers
    assert len(movers) == 2 and movers[0].startswith("Churn rate moved from 2% to 3%.")


def test_initiatives_added_and_ended_by_name_or_id() -> None:
    found = changes.compare(PREVIOUS, CURRENT)
    assert found.added == ("Faster releases",) and found.ended == ("old-pilot",)
    text = found.sentences()
    assert "New since November 2025: Faster releases." in text
    assert "No longer reported since November 2025: old-pilot." in text


def test_nothing_changed_says_so() -> None:
    assert changes.compare(PREVIOUS, PREVIOUS).sentences() == [
        "No decision changed and no metric crossed its target since November 2025."
    ]


def _publish(reports: Path, month: str, doc: dict) -> None:
    (reports / month).mkdir(parents=True)
    (reports / month / "results.json").write_text(json.dumps(doc))


def test_the_previous_published_month_is_the_latest_before_the_reported_one(tmp_path: Path) -> None:
    _publish(tmp_path, "2025-09", {**PREVIOUS, "period": "2025-09"})
    _publish(tmp_path, "2025-11", {k: v for k, v in PREVIOUS.items() if k != "period"})
    _publish(tmp_path, "2026-01", PREVIOUS)
    (tmp_path / "case-study").mkdir()
    assert changes.previous_month(tmp_path, "2025-12") == tmp_path / "2025-11" / "results.json"
    found = changes.since_previous(tmp_path, "2025-12", CURRENT)
    assert found is not None and found.previous == "2025-11"
    assert changes.since_previous(tmp_path, "2025-09", CURRENT) is None
    assert changes.since_previous(tmp_path / "missing", "2025-12", CURRENT) is None


def test_a_broken_previous_results_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "2025-11").mkdir()
    (tmp_path / "2025-11" / "results.json").write_text("{not json")
    with pytest.raises(ReportRunError, match=r"2025-11/results.json: line 1: not valid JSON.*outcomes run --period 2025-11"):
        changes.since_previous(tmp_path, "2025-12", CURRENT)


@pytest.mark.parametrize(("period", "today", "limit", "warned"), [
    ("2025-12", dt.date(2026, 12, 6), 2, True),
    ("2025-12", dt.date(2026, 2, 27), 2, False),
    ("2025-12", dt.date(2026, 3, 1), 2, True),
    ("2025-12", dt.date(2026, 3, 1), 3, False),
])
def test_a_month_older_than_the_run_config_allows_is_warned_about(period: str, today: dt.date, limit: int, warned: bool) -> None:
    text = changes.report_age_warning(period, today, limit)
    assert (text is not None) == warned
    if warned:
        assert "max_report_age_months" in text and "December 2025" in text
