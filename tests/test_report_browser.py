"""Every published page in a real headless Chromium with the network blocked.

Charts must render from the inlined bundle (one ``class="marks"`` SVG per chart), no
request may leave the machine, the console stays silent, and with the bundle removed
the static SVG images remain. A screenshot of the month's index page is saved to
``tests/artifacts/index.png`` for a person to look at.
"""

from __future__ import annotations

import concurrent.futures as cf
import re
from pathlib import Path

import pytest
from browser import PageLoad, load, require_chromium
from report_pack import XSS, Pack

pytest_plugins = ["report_plugin"]  # the session-wide `pack` fixture
pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FALLBACK = re.compile(r"<img\b[^>]*\bclass=\"outcomes-chart-fallback\"")


@pytest.fixture(scope="module")
def loads(pack: Pack) -> dict[str, PageLoad]:
    """Every HTML page of the published pack (and the archive), loaded in parallel."""
    require_chromium()
    pages = {p.name: p for p in pack.month.glob("*.html")}
    pages["archive"] = pack.reports / "index.html"
    shots = {"index.html": (ARTIFACTS / "index.png", "1200,1500"), "ok.html": (ARTIFACTS / "report-phone.png", "390,1800")}
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(load, page, screenshot=shots.get(name, (None,))[0], size=shots.get(name, (None, "1280,1600"))[1])
            for name, page in pages.items()
        }
        return {name: f.result() for name, f in futures.items()}


def test_every_chart_renders_interactively_offline(pack: Pack, loads: dict[str, PageLoad]) -> None:
    for name, page in loads.items():
        source = (pack.month / name).read_text() if name != "archive" else ""
        charts = source.count('class="outcomes-chart"')
        assert page.dom.count('class="marks"') == charts, name
        # the static image is replaced once the interactive chart is drawn
        assert len(FALLBACK.findall(page.dom)) == 0, name
    assert loads["ok.html"].dom.count('class="marks"') == 2


def test_no_page_makes_a_network_request_or_logs_to_the_console(loads: dict[str, PageLoad]) -> None:
    for name, page in loads.items():
        assert page.network_requests == [], name
        assert page.console == [], name
        assert not re.search(r"<script[^>]+src=", page.dom), name


def test_hostile_initiative_id_is_text_in_the_browser(loads: dict[str, PageLoad]) -> None:
    index = loads["index.html"].dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and XSS not in index


def test_static_svg_remains_when_the_bundle_is_removed(pack: Pack, tmp_path: Path) -> None:
    source = (pack.month / "ok.html").read_text()
    bundle_start = source.index("<script>", source.index("<head>"))
    bundle_end = source.index("</script>", bundle_start) + len("</script>")
    assert "window.vegaEmbed=" in source[bundle_start:bundle_end]
    stripped = tmp_path / "ok-no-bundle.html"
    stripped.write_text(source[:bundle_start] + source[bundle_end:])
    page = load(stripped, budget_ms=3000)
    assert len(FALLBACK.findall(page.dom)) == 2
    assert page.dom.count('class="marks"') == 0
    assert page.network_requests == [] and page.console == []


def test_index_screenshot_is_saved(loads: dict[str, PageLoad]) -> None:
    shot = ARTIFACTS / "index.png"
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_page_that_loads_from_a_cdn_is_caught(tmp_path: Path) -> None:
    """The request check itself: CDN loads are reported, also on a browser-service domain the page names."""
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><head><link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script></head><body>x</body></html>'
    )
    hosts = {re.sub(r"^https?://([^/]+)/.*$", r"\1", u) for u in load(page, budget_ms=3000).network_requests}
    assert {"fonts.googleapis.com", "cdn.jsdelivr.net"} <= hosts
