"""The month's workbook for finance: every figure round-trips to results.json, as a number with its format."""

from __future__ import annotations

from pathlib import Path

import pytest
from one_truth import assert_round_trip
from openpyxl import load_workbook

from outcomes.report import results
from outcomes.run import workbook

DOC = {
    "period": "2025-12",
    "generated_at": "2026-01-02T08:00:00+00:00",
    "headlines": ["One line."],
    "scorecard": [
        {"metric": "csat", "segment": None, "value": 0.8123, "previous": 0.80, "target": 0.82, "target_basis": "agreed",
         "owner": "CMO", "status": "off_target", "unit": "%"},
        {"metric": "ticket_volume", "segment": "region:north", "value": 4287.0, "previous": 4100.0, "target": None,
         "target_basis": "none", "owner": "CIO", "status": "no_target", "unit": "tickets"},
    ],
    "initiatives": [
        {"id": "chatbot", "design": "did", "srm_p_value": None, "decision": "ship", "decision_reason": "Faster.",
         "conditions": [],
         "metrics": [
             {"metric": "first_response_mean_hours", "arm": None, "role": "primary", "estimate_abs": -1.01,
              "estimate_rel": -0.27, "ci_low": -1.14, "ci_high": -0.88, "p_value": 2.7e-05, "p_value_adjusted": None,
              "seq_ci_low": None, "seq_ci_high": None},
             {"metric": "csat", "arm": None, "role": "guardrail", "estimate_abs": 0.01, "estimate_rel": 0.012,
              "ci_low": -0.011, "ci_high": 0.032, "p_value": 0.25, "p_value_adjusted": None, "seq_ci_low": None,
              "seq_ci_high": None},
         ]},
    ],
    "roi": [
        {"initiative": "chatbot", "name": "Virtual agent", "npv_p50": 7.1e6, "npv_p10": 4.5e6, "npv_p90": 1.0e7,
         "roi_p50": 5.7, "payback_months": 2.4, "prob_roi_positive": 0.9998, "recommendation": "ship",
         "what_would_change": "stop, or cut its cost below EUR 12k a month", "value_per_customer_kept": 1500.0},
    ],
    "portfolio": [
        {"initiatives": ["chatbot"], "npv_p50": 7.1e6, "npv_p10": 4.5e6, "npv_p90": 1.0e7, "roi_p50": 5.7,
         "payback_months": 2.4, "prob_roi_positive": 0.9998, "prob_any_case_negative": 0.0},
    ],
}


def test_every_figure_round_trips_as_a_number(tmp_path: Path) -> None:
    results.validate(DOC)
    path = workbook.write_workbook(DOC, tmp_path / "outcomes-2025-12.xlsx")
    assert assert_round_trip(DOC, path) == 2 * 10 + 2 * 14 + 10 + 8
    book = load_workbook(path)
    assert book.sheetnames == ["About", "Scorecard", "Decisions", "ROI cases", "Portfolio"]
    score = book["Scorecard"]
    assert score["A2"].value == "Customer satisfaction (CSAT)" and score["C3"].value == "region:north"
    assert score["D2"].number_format == "0.0%" and score["D3"].number_format == "#,##0"
    assert book["ROI cases"]["E2"].number_format == "#,##0" and book["ROI cases"]["I2"].number_format == "0.0%"
    assert book["Decisions"]["B2"].value == "Virtual agent"


def test_the_decisions_sheet_says_what_would_change_each_recommendation(tmp_path: Path) -> None:
    sheet = load_workbook(workbook.write_workbook(DOC, tmp_path / "w.xlsx"))["Decisions"]
    column = [c.value for c in sheet[1]].index("What would change it") + 1
    assert [sheet.cell(r, column).value for r in (2, 3)] == [DOC["roi"][0]["what_would_change"]] * 2
    bare = {**DOC, "roi": [{k: v for k, v in DOC["roi"][0].items() if k != "what_would_change"}]}
    assert load_workbook(workbook.write_workbook(bare, tmp_path / "b.xlsx"))["Decisions"].cell(2, column).value is None


def test_missing_figures_are_empty_cells(tmp_path: Path) -> None:
    doc = {**DOC, "roi": [{**DOC["roi"][0], "payback_months": None, "npv_p90": float("inf")}]}
    book = load_workbook(workbook.write_workbook(doc, tmp_path / "w.xlsx"))
    assert book["ROI cases"]["H2"].value is None and book["ROI cases"]["F2"].value is None


@pytest.mark.parametrize(("unit", "expected"), [("%", "0.0%"), ("fraction", "0.0%"), ("EUR", "#,##0"), ("tickets", "#,##0"), ("hours", "#,##0.00"), (None, "#,##0.00")])
def test_unit_formats(unit: str | None, expected: str) -> None:
    assert workbook.unit_format(unit) == expected
