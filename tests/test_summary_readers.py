"""Both readers: the executive summary covers customers (churn, conversion, CSAT, NPS, lifetime
value) as well as IT, each miss with its value at stake, owner and next step."""

from __future__ import annotations

import pandas as pd
import pytest

from outcomes import config
from outcomes.metrics import catalog
from outcomes.report import results, summary
from outcomes.scorecard.card import DEFAULT_NEXT_STEP, build_scorecard, next_step
from outcomes.value.model import load_value_model
from test_scorecard import panel  # noqa: F401 (a fixture)

PERIOD = "2025-12"


def _row(metric, value, target, status, previous=None, owner="CMO"):
    return {"metric": metric, "segment": None, "value": value, "previous": previous if previous is not None else value,
            "target": target, "target_basis": "agreed", "owner": owner, "status": status, "unit": "%"}


SCORECARD = [
    _row("first_response_mean_hours", 6.0, 4.0, "off_target", owner="CIO"),
    _row("mttr_hours", 30.0, 24.0, "off_target", owner="CIO"),
    _row("csat", 0.78, 0.76, "on_target"),
    _row("nps", 40.0, 10.0, "on_target"),
    _row("conversion_rate", 0.009, 0.03, "off_target"),
    _row("clv", 1450.0, None, "no_target"),
    _row("churn_rate", 0.026, 0.02, "off_target", previous=0.025),
]
PRIORITIES = [
    {"rank": 1, "metric": "churn_rate", "value": 0.026, "target": 0.02, "customers_at_stake": 885.0,
     "value_at_stake_eur": 1.77e6, "owner": "CMO", "next_step": next_step("churn_rate")},
    {"rank": 2, "metric": "first_response_mean_hours", "value": 6.0, "target": 4.0, "customers_at_stake": 300.0,
     "value_at_stake_eur": 6.0e5, "owner": "CIO", "next_step": next_step("first_response_mean_hours")},
    {"rank": 3, "metric": "conversion_rate", "value": 0.009, "target": 0.03, "customers_at_stake": None,
     "value_at_stake_eur": None, "owner": "CMO", "next_step": next_step("conversion_rate")},
    {"rank": 4, "metric": "mttr_hours", "value": 30.0, "target": 24.0, "customers_at_stake": None,
     "value_at_stake_eur": None, "owner": "CIO", "next_step": next_step("mttr_hours")},
]


def test_conversion_has_a_catalog_action_as_its_next_step() -> None:
    assert next_step("conversion_rate") == catalog.get("conversion_rate").actions[0] != DEFAULT_NEXT_STEP


def test_customer_headline_puts_churn_first_with_its_value_at_stake_owner_and_next_step() -> None:
    sentence = summary.customer_scorecard_sentence(SCORECARD, PRIORITIES, PERIOD)
    assert sentence == (
        "Customer scorecard in 2025-12: "
        f"Churn rate 2.6% against a target of 2% (EUR 1.8m at stake; owner CMO; next step: {next_step('churn_rate').rstrip('.')}); "
        f"Conversion rate 0.9% against a target of 3% (owner CMO; next step: {next_step('conversion_rate').rstrip('.')}); "
        "Customer satisfaction (CSAT) 78%, on target; Net Promoter Score 40, on target; "
        f"{catalog.get('clv').name} EUR 1.4k."
    )
    assert summary.customer_scorecard_sentence([_row("mttr_hours", 30.0, 24.0, "off_target")], [], PERIOD) == ""


def test_scorecard_misses_follow_the_value_at_stake_so_churn_is_never_cut() -> None:
    lines = summary.scorecard_sentences(SCORECARD, PERIOD, top=2, priorities=PRIORITIES)
    assert lines[1] == (
        "Churn rate: 2.6% against a target of 2% (2.5% the month before). Owner: CMO. At stake: EUR 1.8m. "
        f"Next step: {next_step('churn_rate')}"
    )
    assert lines[2].startswith("First response, mean: 6 hours against a target of 4 hours")
    assert len(lines) == 3
    # without priorities (results written before the section existed) the order is the scorecard's
    assert summary.scorecard_sentences(SCORECARD, PERIOD, top=2)[1].startswith("First response, mean")


def test_the_summary_headline_covers_customers_and_it(monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_value_model(config.project().params_dir / "value.yaml")
    s = summary.summarize({"scorecard": SCORECARD, "priorities": PRIORITIES}, model, PERIOD)
    assert len(s.headlines) == 5
    customers = s.headlines[0]
    assert customers.startswith("For customers: ") and "Customer scorecard in 2025-12: Churn rate 2.6%" in customers
    assert "EUR 1.8m at stake" in customers and "Conversion rate 0.9%" in customers
    assert s.scorecard[1].startswith("Churn rate: 2.6%") and "At stake: EUR 1.8m" in s.scorecard[1]


def test_priority_records_carry_owner_next_step_and_pass_the_schema(
    panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    card = build_scorecard(panel, "2025-03")
    rows = card.priority_records()
    churn = next(r for r in rows if r["metric"] == "churn_rate")
    priced = card.prescriptions.set_index("metric").loc["churn_rate"]
    assert churn["customers_at_stake"] == pytest.approx(priced["customers_at_stake"]) and churn["customers_at_stake"] > 0
    # customers at stake priced at the panel's lifetime value of EUR 2,000
    assert churn["value_at_stake_eur"] == pytest.approx(churn["customers_at_stake"] * 2000.0)
    assert (churn["rank"], churn["owner"], churn["next_step"]) == (1, "CMO", next_step("churn_rate"))
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    monkeypatch.delenv(results.RESULTS_PATH_ENV, raising=False)
    monkeypatch.delenv(results.RESULTS_DIR_ENV, raising=False)
    monkeypatch.setattr(results, "_memory", {})
    results.record("priorities", rows)
    assert results.collected()["priorities"] == rows
