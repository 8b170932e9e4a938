"""Landing pages carry the house stylesheet verbatim (fonts included), and escape data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from outcomes.run.html import house_css
from outcomes.run.pages import ReportLink, archive_index, month_index, pack_index


def _style(page: str) -> str:
    return re.search(r"<style[^>]*>\n?(.*?)\n?</style>", page, re.S).group(1)


@pytest.fixture
def pages(tmp_path: Path) -> dict[str, str]:
    results = {"headlines": ["Churn <b>fell</b>"], "findings": []}
    manifest = {"generated_at": "2026-12-01T08:00:00+00:00"}
    reports = [ReportLink("summary.html", "Executive summary", lead=True)]
    return {
        "archive": archive_index(tmp_path),
        "month": month_index("2025-12", reports, results, manifest),
        "pack": pack_index("Case study", "", reports, results, manifest),
    }


@pytest.mark.parametrize("name", ["archive", "month", "pack"])
def test_landing_pages_carry_the_house_css_unescaped(pages: dict[str, str], name: str) -> None:
    style = _style(pages[name])
    assert "&#34;" not in style and "&quot;" not in style
    assert style.strip() == house_css().strip()
    assert '"Segoe UI"' in style  # the house sans-serif stack, not the browser's serif default


@pytest.mark.parametrize("name", ["month", "pack"])
def test_text_from_results_is_still_escaped(pages: dict[str, str], name: str) -> None:
    assert "Churn &lt;b&gt;fell&lt;/b&gt;" in pages[name]
