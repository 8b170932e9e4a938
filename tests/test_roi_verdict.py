"""The ROI page's verdict and each review's answer on the demo company: the recorded recommendation and what would change it."""

from __future__ import annotations

import re

import pytest

from outcomes.report import investment
from outcomes.report.answer import ANSWER_ID
from outcomes.report.review import remaining_test
from outcomes import config
from outcomes.value.model import load_value_model
from outcomes.warehouse import store

PERIOD = "2025-12"


def _text(html: str) -> str:
    """What a reader reads of an answer: its markup removed (amounts of money sit in spans that do not wrap)."""
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture(scope="module")
def parts(demo_warehouse):
    con = store.connect(demo_warehouse)
    reviews = investment.review_initiatives(PERIOD, con=con)
    model = load_value_model(config.project().params_dir / "value.yaml")
    remaining = {k: left for k, r in reviews.items() if (left := remaining_test(r.spec, r.result, PERIOD)) is not None}
    inv = investment.build_investment(
        model, period=PERIOD, inputs=investment.warehouse_inputs(con, PERIOD), drivers=investment.drivers_estimates(con, PERIOD),
        results={k: r.result for k, r in reviews.items()}, n=2_000, seed=7, remaining=remaining,
    )
    return reviews, inv


def test_the_verdict_gives_each_recorded_recommendation_and_what_would_change_it(parts) -> None:
    _, inv = parts
    html = inv.verdict().data
    text = _text(html)
    assert html.startswith(f'<section id="{ANSWER_ID}"') and "Together the initiatives are worth" in text
    for row in inv.records():
        assert f"{row['name']}: {row['recommendation']}" in text
        if row["what_would_change"]:
            assert row["what_would_change"] in text


def test_a_negative_case_with_a_clear_effect_records_its_break_even_cost(parts) -> None:
    _, inv = parts
    weak = [r for r in inv.records() if r["recommendation"] == "roll out only after cutting its costs"]
    for r in weak:
        below = inv.case(r["initiative"]).break_even_monthly_cost
        assert r["what_would_change"].startswith("stop")
        assert below <= 0 or "a month" in r["what_would_change"]


def test_each_review_answers_with_the_recommendation_the_roi_page_recorded(parts) -> None:
    reviews, inv = parts
    rows = inv.records()
    for key, rv in reviews.items():
        text = _text(rv.answer(rows).data)
        row = next((r for r in rows if r["initiative"] == key), None)
        assert rv.recommendation(rows).text[1:] in text
        if row is not None:
            assert "chance of a positive ROI" in text
            if row["what_would_change"]:
                assert row["what_would_change"].replace(",", "") in text.replace(",", "")
