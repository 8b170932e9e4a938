"""An amount of money in a page's answer stays on one line on a phone ("-EUR 393k", never "-" then "EUR 393k").

Headless Chromium lays out an answer of many amounts in an iframe 390 px wide with the house
CSS, and counts the line boxes of each amount; the same text without the kit's spans breaks
some amounts, so the check can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import probe

from outcomes.report.answer import answer
from outcomes.report.text import escape
from outcomes.run.html import house_css

pytestmark = pytest.mark.browser

#: Words of every length before each amount, so that some amount meets the end of a line.
LEAD = " ".join(f"{'w' * (1 + i % 9)} -EUR {100 + 7 * i}k" for i in range(40))
#: Each amount's text and its number of line boxes.
LINES = 'return [...doc.querySelectorAll("span.amount, span.outcomes-nowrap")].map(s => [s.textContent, s.getClientRects().length]);'


def _lines(body: str, tmp_path: Path) -> list[tuple[str, int]]:
    """Each amount's text and its number of line boxes, laid out 390 px wide."""
    page = tmp_path / "answer.html"
    page.write_text(f"<!DOCTYPE html><html><head><style>{house_css()}</style></head><body>{body}</body></html>", encoding="utf-8")
    return [tuple(x) for x in probe(page, 390, LINES, height=844, budget_ms=5000)]


def test_amounts_in_the_answer_stay_on_one_line_on_a_phone(tmp_path: Path) -> None:
    kept = _lines(answer(LEAD).data, tmp_path)
    assert len(kept) == 40 and all(text.startswith("-EUR ") for text, _ in kept)
    assert [text for text, n in kept if n != 1] == []
    # the same words without the kit's spans: the browser breaks some amounts after the sign
    plain = re.sub(r"(-EUR \d+k)", r'<span class="amount">\1</span>', escape(LEAD))
    broken = [text for text, n in _lines(f'<section class="outcomes-answer"><p><strong>{plain}</strong></p></section>', tmp_path) if n > 1]
    assert broken, "no amount met the end of a line: the check above proves nothing"


def test_the_answer_marks_only_amounts_and_keeps_its_text() -> None:
    html = answer("Stop: -EUR 393k & <b>", ["NPV EUR 1.2m (P90 +EUR 12k)", "SLA-EUR 5 x", "USD 3 bn"]).data
    assert re.findall(r'<span class="outcomes-nowrap">(.*?)</span>', html) == ["-EUR 393k", "EUR 1.2m", "+EUR 12k", "USD 3"]
    text = re.sub(r"<[^>]+>", "", html)
    assert "Stop: -EUR 393k &amp; &lt;b&gt;" in text and "SLA-EUR 5 x" in text


def test_the_months_index_keeps_its_answers_amounts_on_one_line(tmp_path: Path) -> None:
    from outcomes.run.pages import ReportLink, month_index

    page = month_index(
        "2025-12", [ReportLink("summary.html", "Executive summary", lead=True)], {"headlines": [], "findings": []},
        {"generated_at": "2026-12-01T08:00:00+00:00"}, answer=["Stop the portal: -EUR 393k <b>", "NPV EUR 1.2m"],
    )
    assert '<strong>Stop the portal: <span class="outcomes-nowrap">-EUR 393k</span> &lt;b&gt;</strong>' in page
    assert '<li>NPV <span class="outcomes-nowrap">EUR 1.2m</span></li>' in page
    answer_block = page[page.index('id="outcomes-answer"'):]
    kept = _lines(answer_block[answer_block.index(">") + 1:answer_block.index("</section>")], tmp_path)
    assert kept == [("-EUR 393k", 1), ("EUR 1.2m", 1)]
