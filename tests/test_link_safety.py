"""Text from parameters files and data reaches a page as text: no live link outside http, https or a relative path."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from outcomes.experiment.randomized.analysis import analyze_table
from outcomes.report.review import Review
from outcomes.report.text import link_allowed, paragraphs, safe_markdown
from outcomes.run import html as report_html
from test_experiment_randomized import portal_spec, portal_table

ATTACK = "[x](javascript:alert(1))"


def _rendered(markdown: str) -> str:
    """The HTML nbconvert writes for a Markdown output."""
    return markdown2html_mistune(markdown)


def test_a_planted_link_in_a_metric_label_is_shown_as_text_in_the_plan() -> None:
    metrics = [
        {"column": "self_service", "kind": "proportion", "role": "primary", "label": ATTACK, "mde": 0.02},
        {"column": "csat", "kind": "proportion", "role": "guardrail", "margin": 0.03},
    ]
    spec = portal_spec(metrics=metrics, name=f"Portal {ATTACK}", hypothesis=ATTACK)
    review = Review(spec, analyze_table(portal_table(n=2000), spec), "table.csv")
    for part in (review.planning_text(), review.decision_text(), review.design_text(), review.conditions_text()):
        page = _rendered(part.data)
        assert report_html.unsafe_addresses(page) == [], page
        assert "href=" not in page.replace('class="anchor-link" href="#', ""), page  # heading anchors only
    assert "javascript:alert(1)" in _rendered(review.planning_text().data)  # shown, as text


@pytest.mark.parametrize(
    "source",
    [
        ATTACK,
        "[x]( javascript:alert(1))",
        "[x](JaVa\tScRiPt:alert(1))",
        "[x](java&#x73;cript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![x](file:///etc/passwd)",
        "[r]: javascript:alert(1)\n\n[x][r]",
        '<a href="javascript:alert(1)">x</a>',
        "<javascript:alert(1)>",
    ],
)
def test_no_markdown_link_carries_another_scheme(source: str) -> None:
    page = _rendered(safe_markdown(f"Metric {source} moved."))
    assert "<a " not in page and "<img" not in page, page


def test_http_https_and_relative_links_and_emphasis_are_kept() -> None:
    page = _rendered(paragraphs(["**Plan:** see [guide](https://example.com/g) and [notes](notes.html#a).", ""]).data)
    assert '<a href="https://example.com/g">' in page and '<a href="notes.html#a">' in page
    assert "<strong>Plan:</strong>" in page
    assert all(link_allowed(t) for t in ("http://a", "HTTPS://a", "a/b.html", "#x", "?q=1"))
    assert not any(link_allowed(t) for t in ("javascript:x", " javascript:x", "java\nscript:x", "data:x", "FILE:/x"))


def test_check_page_stops_a_planted_link_naming_the_page_and_the_link(tmp_path: Path) -> None:
    page = tmp_path / "02_initiative_review--portal.html"
    page.write_text(
        '<html><body><a href="#top">top</a><a href="other.html">x</a>'
        '<img src="data:image/svg+xml;base64,PHN2Zy8+"><a href="javascript:alert(1)">click</a></body></html>',
        encoding="utf-8",
    )
    [problem] = report_html.check_page(page, 100_000)
    assert problem.startswith("02_initiative_review--portal.html: contains a link with a scheme other than http")
    assert '<a href="javascript:alert(1)">' in problem
    for snippet in ('<a href="data:text/html,x">x</a>', '<iframe src="vbscript:x"></iframe>', '<form action="file:///x">',
                    '<img srcset="a.png 1x, javascript:x 2x">', '<a href=" JAVASCRIPT:x">x</a>'):
        page.write_text(f"<html><body>{snippet}</body></html>", encoding="utf-8")
        assert any("scheme other than http" in p for p in report_html.check_page(page, 100_000)), snippet
