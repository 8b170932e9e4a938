"""Light and dark themes follow the reader's setting (``prefers-color-scheme``) on every kind of page.

In a real headless Chromium, a report page and the month's landing page are dark for a
reader who asked for dark and light otherwise, with legible ink on each; charts keep their
white card (the Vega house theme draws on white) on the dark page. Screenshots of the
main pages at desktop and phone widths, light and dark, are saved to ``tests/artifacts/``
for a person to look at.
"""

from __future__ import annotations

import concurrent.futures as cf
import html
import json
import re
from pathlib import Path

import pytest
from browser import load, require_chromium, shoot
from outcomes.report.theme import house_theme

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture
pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: Window sizes of the screenshots: a desktop and a phone.
SIZES = {"1400": "1400,900", "390": "390,844"}
PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const style = (el) => el ? {bg: getComputedStyle(el).backgroundColor, ink: getComputedStyle(el).color} : null;
  const out = document.createElement("pre");
  out.id = "theme-probe";
  out.textContent = JSON.stringify({body: style(document.body), chart: style(document.querySelector(".outcomes-chart")),
    paragraph: style(document.querySelector("main p"))});
  document.body.appendChild(out);
}, 500));
</script>"""
_PROBE = re.compile(r'<pre id="theme-probe">(.*?)</pre>', re.S)


def _luminance(css: str) -> float:
    """Relative luminance (WCAG) of a computed ``rgb(...)``/``rgba(...)`` colour."""
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _probe(page: Path, copy: Path, *, dark: bool) -> dict:
    source = page.read_text(encoding="utf-8")
    end = source.rindex("</body>")
    copy.write_text(source[:end] + PROBE + source[end:], encoding="utf-8")
    found = _PROBE.search(load(copy, budget_ms=8000, dark=dark).dom)
    assert found, f"the probe wrote nothing into {copy.name}"
    return json.loads(html.unescape(found.group(1)))


def _shown(month: Path) -> dict[str, Path]:
    """The pages to screenshot: index, executive summary, scorecard, ROI and one initiative review."""
    review = sorted(month.glob("02_initiative_review*.html"))[0]
    names = ["index", "00_executive_summary", "01_joint_scorecard", "03_roi"]
    return {**{n: month / f"{n}.html" for n in names}, "02_initiative_review": review}


@pytest.fixture(scope="module")
def probes(demo_month: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    """Computed colours of the scorecard page and the landing page, light and dark."""
    require_chromium()
    work = tmp_path_factory.mktemp("theme")
    pages = {"report": demo_month / "01_joint_scorecard.html", "landing": demo_month / "index.html"}
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            (kind, theme): pool.submit(_probe, page, work / f"{theme}-{page.name}", dark=theme == "dark")
            for kind, page in pages.items()
            for theme in ("light", "dark")
        }
        return {key: f.result() for key, f in futures.items()}


@pytest.mark.parametrize("kind", ["report", "landing"])
def test_page_follows_the_readers_theme_with_legible_ink(probes: dict, kind: str) -> None:
    light, dark = probes[(kind, "light")]["body"], probes[(kind, "dark")]["body"]
    assert _luminance(light["bg"]) > 0.9 and _luminance(dark["bg"]) < 0.05
    for body in (light, dark):
        assert _contrast(body["bg"], body["ink"]) >= 7, (kind, body)
    paragraph = probes[(kind, "dark")]["paragraph"]
    assert paragraph and _contrast(dark["bg"], paragraph["ink"]) >= 4.5, paragraph


def test_charts_keep_their_white_card_on_the_dark_page(probes: dict) -> None:
    assert house_theme()["config"]["background"] == "white"
    chart = probes[("report", "dark")]["chart"]
    assert chart and _luminance(chart["bg"]) > 0.95


def test_screenshots_of_the_main_pages_in_both_themes_and_widths(demo_month: Path) -> None:
    require_chromium()
    jobs = [
        (page, ARTIFACTS / f"theme-{name}-{width}-{theme}.png", size, theme == "dark")
        for name, page in _shown(demo_month).items()
        for width, size in SIZES.items()
        for theme in ("light", "dark")
    ]
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        shots = list(pool.map(lambda job: shoot(job[0], job[1], budget_ms=8000, size=job[2], dark=job[3]), jobs))
    for png in shots:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < png.stat().st_size < 1_500_000, png.name
