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


def test_the_vega_bundle_is_kept_between_runs_and_made_again_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vl-convert bundles Vega once per user and version; later runs read the bundle from the cache folder."""
    import vl_convert as vlc

    from outcomes.run import html as report_html

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    made = []
    bundle = vlc.javascript_bundle
    monkeypatch.setattr(vlc, "javascript_bundle", lambda **kw: made.append(kw) or bundle(**kw))
    path = report_html.bundle_cache_path()
    assert path.is_relative_to(tmp_path / "cache") and vlc.__version__ in path.name
    report_html.vega_bundle.cache_clear()
    first = report_html.vega_bundle()
    assert len(made) == 1 and path.read_text(encoding="utf-8") == first and "vegaEmbed" in first
    report_html.vega_bundle.cache_clear()  # as a new run's process
    assert report_html.vega_bundle() == first and len(made) == 1
    path.write_text(first[: len(first) // 3][:1000].replace("vegaEmbed", ""), encoding="utf-8")  # a damaged copy
    report_html.vega_bundle.cache_clear()
    assert report_html.vega_bundle() == first and len(made) == 2 and path.read_text(encoding="utf-8") == first
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "outcomes").write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a cache folder that cannot be made: the bundle all the same
    report_html.vega_bundle.cache_clear()
    try:
        assert report_html.vega_bundle() == first and len(made) == 3
    finally:
        report_html.vega_bundle.cache_clear()
