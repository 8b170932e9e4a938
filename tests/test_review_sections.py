"""Sections of the pages that appear only when they have something to say, and what changed per initiative."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path

import papermill
import pytest

from outcomes import config
from outcomes.errors import ReportRunError
from outcomes.report import changes
from outcomes.report.needs import PAGE_LEAD, not_shown_section
from outcomes.report.summary import executive_summary
from outcomes.run.config import load as load_config
from outcomes.run.context import RunContext

REPO = Path(__file__).resolve().parents[1]
PAGE = "02_initiative_review"


def _entry(decision: str, effect: float, arm: str | None = "B") -> dict:
    return {"id": "portal", "design": "randomized", "decision": decision, "metrics": [
        {"metric": "self_service_rate", "arm": arm, "role": "primary", "estimate_abs": effect},
        {"metric": "csat", "arm": arm, "role": "guardrail", "estimate_abs": 0.3},
    ]}


def _doc(decision: str, recommendation: str, effect: float) -> dict:
    return {"initiatives": [_entry(decision, effect)],
            "roi": [{"initiative": "portal", "name": "Self-service portal", "recommendation": recommendation}]}


def test_the_not_shown_section_appears_only_when_the_page_leaves_something_out() -> None:
    assert not_shown_section({}, PAGE).data == ""
    other = {"unavailable": [{"page": "03_roi", "sentence": "No orders.", "left_out": False}]}
    assert not_shown_section(other, PAGE).data == ""
    found = {"unavailable": [
        {"page": f"{PAGE}--portal", "sentence": "Segments: not shown, because <the> table is empty.", "left_out": False},
        {"page": f"{PAGE}--bot", "sentence": "Segments: not shown, because <the> table is empty.", "left_out": False},
    ]}
    text = not_shown_section(found, PAGE).data
    assert text.startswith(f"## Not shown this month\n\n{PAGE_LEAD}\n\n- ") and text.count("\n- ") == 1
    assert "&lt;the&gt;" in text


def test_the_review_page_says_whether_the_recommendation_changed_and_how_the_effect_moved() -> None:
    before = {"period": "2025-11", **_doc("keep testing", "keep testing", 0.04)}
    moved = changes.initiative_changes(before, _doc("ship", "roll out", 0.061), "portal")
    assert moved == [
        "The recommendation changed since November 2025: now roll out (was keep testing).",
        "Effect on self-service rate (B arm) moved to +6.1 pp (was +4.0 pp).",
    ]
    same = changes.initiative_changes(before, _doc("keep testing", "keep testing", 0.0401), "portal")
    assert same == ["The recommendation is the same as in November 2025: keep testing.",
                    "Effect on self-service rate (B arm) is unchanged at +4.0 pp."]
    new = changes.initiative_changes({"period": "2025-11"}, _doc("ship", "roll out", 0.06), "portal")
    assert new == ["Not reported in November 2025: this is its first month in the pack."]


def test_the_review_compares_with_the_latest_published_month_before_its_own(tmp_path: Path) -> None:
    current = _doc("ship", "roll out", 0.06)
    assert changes.initiative_since_previous(tmp_path, "2025-12", "portal", current) is None
    for month, effect in (("2025-10", 0.01), ("2025-11", 0.05), ("2026-01", 0.09)):
        (tmp_path / month).mkdir()
        (tmp_path / month / "results.json").write_text(json.dumps(_doc("keep testing", "keep testing", effect)))
    found = changes.initiative_since_previous(tmp_path, "2025-12", "portal", current)
    assert found is not None and "November 2025" in found[0] and "(was +5.0 pp)" in found[1]
    (tmp_path / "2025-11" / "results.json").write_text("{")
    with pytest.raises(ReportRunError, match=r"2025-11/results.json: line 1: not valid JSON.*outcomes run --period 2025-11"):
        changes.initiative_since_previous(tmp_path, "2025-12", "portal", current)


def test_the_run_gives_the_summary_its_report_age_limit() -> None:
    cfg = load_config(REPO / "params" / "monthly.yaml").model_copy(update={"max_report_age_months": 7})
    values = RunContext.build(cfg, config.Project(REPO), period="2025-12").notebook_values()
    assert values["max_report_age_months"] == 7
    summary = papermill.inspect_notebook(str(REPO / "notebooks" / "00_executive_summary.ipynb"))
    assert summary["max_report_age_months"]["inferred_type_name"] == "int"
    review = papermill.inspect_notebook(str(REPO / "notebooks" / f"{PAGE}.ipynb"))
    assert "reports_dir" in review


def test_the_summary_warns_as_the_month_index_does_when_the_month_is_old() -> None:
    found = {
        "scorecard": [{"metric": "csat", "segment": None, "value": 0.8, "previous": 0.8, "target": 0.82,
                       "target_basis": "agreed", "owner": "CMO", "status": "off_target", "unit": "%"}],
        "initiatives": [{**_entry("ship", 0.06, None), "design": "did"}],
        "roi": [{"initiative": "portal", "name": "Self-service portal", "npv_p50": 1e5, "npv_p10": -1e4,
                 "npv_p90": 2e5, "roi_p50": 0.4, "payback_months": 14.0, "prob_roi_positive": 0.8}],
    }
    today = dt.date(2026, 12, 6)
    old = executive_summary(found, period="2025-12", max_report_age_months=2, today=today)
    assert old.warning == changes.report_age_warning("2025-12", today, 2)
    assert old.warning_text().data == f'<p class="outcomes-warning" role="alert">{html.escape(old.warning)}</p>'
    recent = executive_summary(found, period="2026-11", max_report_age_months=2, today=today)
    assert recent.warning is None and recent.warning_text().data == ""
    # the pack shows everything: no "Not shown this month" section on the one-page summary
    assert old.unavailable == [] and old.not_shown_text().data == ""
    left_out = {**found, "unavailable": [{"page": "01_joint_scorecard", "sentence": "CSAT: not shown.", "left_out": False}]}
    text = executive_summary(left_out, period="2025-12").not_shown_text().data
    assert text.startswith("## Not shown this month") and "- Joint scorecard" in text
