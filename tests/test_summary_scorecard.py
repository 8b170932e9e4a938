"""The scorecard as the executive summary and the scorecard page say it: one order of misses, the catalog's units."""

from __future__ import annotations

import html
import re

from outcomes import format as fmt
from outcomes.metrics import catalog
from outcomes.report.summary import customer_scorecard_sentence, scorecard_answer, scorecard_sentences

PERIOD = "2025-12"


def _row(metric: str, status: str = "off_target", value: float = 0.8) -> dict[str, object]:
    return {"metric": metric, "segment": None, "value": value, "previous": 0.85, "target": 0.9,
            "target_basis": "agreed", "owner": catalog.get(metric).owner, "status": status,
            "unit": catalog.get(metric).unit}


#: Misses in the scorecard's own order (by area), churn last; the priorities put it first by value at stake.
SCORECARD = [_row("mttr_hours"), _row("reopen_rate"), _row("sla_attainment"), _row("csat", "on_target"), _row("churn_rate")]
PRIORITIES = [
    {"rank": 1, "metric": "churn_rate", "value": 0.8, "target": 0.9, "customers_at_stake": 900.0,
     "value_at_stake_eur": 1.02e6, "owner": "CMO", "next_step": "Call the customers at risk."},
    {"rank": 2, "metric": "sla_attainment", "value": 0.8, "target": 0.9, "customers_at_stake": None,
     "value_at_stake_eur": None, "owner": "CIO", "next_step": "Review the breaches."},
    {"rank": 3, "metric": "mttr_hours", "value": 0.8, "target": 0.9, "customers_at_stake": None,
     "value_at_stake_eur": None, "owner": "CIO", "next_step": "Agree the cause and a fix with the owner."},
]


def _misses(text: str) -> list[str]:
    """The catalog names of the misses in ``text``, in the order it names them."""
    names = {catalog.get(str(r["metric"])).name: str(r["metric"]) for r in SCORECARD if r["status"] == "off_target"}
    found = sorted((text.find(f"{name}:"), mid) for name, mid in names.items() if f"{name}:" in text)
    return [mid for _, mid in found]


def test_the_scorecard_page_names_the_summarys_top_misses_in_its_order() -> None:
    summary = scorecard_sentences(SCORECARD, PERIOD, priorities=PRIORITIES)
    page = html.unescape(re.sub(r"<[^>]+>", "", scorecard_answer(SCORECARD, PERIOD, PRIORITIES).data))
    assert _misses(page) == _misses(" ".join(summary))[:3] == ["churn_rate", "sla_attainment", "mttr_hours"]
    assert "At stake: EUR 1.0m." in page and "reopen" not in page.lower()
    assert "Next step" not in page and "Next step: Call the customers at risk." in summary[1]  # steps: the page's table


def test_without_priorities_the_misses_keep_the_scorecards_order() -> None:
    page = html.unescape(re.sub(r"<[^>]+>", "", scorecard_answer(SCORECARD, PERIOD).data))
    assert _misses(page) == ["mttr_hours", "reopen_rate", "sla_attainment"]


def test_the_summary_writes_each_metric_in_the_unit_the_catalog_gives_it() -> None:
    rows = [_row(mid, value=0.8) for mid in catalog.ids()]
    sentences = scorecard_sentences(rows, PERIOD, top=len(rows))[1:]
    assert len(sentences) == len(rows)
    for r, sentence in zip(rows, sentences, strict=True):
        shown = fmt.value(0.8, catalog.get(str(r["metric"])).unit)
        assert sentence.startswith(f"{catalog.get(str(r['metric'])).name}: {shown} against a target of "), sentence
    # a metric written as a share in the catalog reads as one, whatever its id says
    satisfaction = next(s for r, s in zip(rows, sentences, strict=True) if r["metric"] == "employee_it_satisfaction")
    assert satisfaction.startswith("Employee IT satisfaction: 80% against a target of 90%")
    customers = customer_scorecard_sentence([_row("clv", value=412.0), _row("nps", "on_target", value=31.0)], [], PERIOD)
    assert "EUR 412" in customers and "Net Promoter Score 31, on target" in customers
