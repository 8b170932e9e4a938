"""The demo month's scorecard and executive summary at 1400 px and 390 px in headless Chromium.

Screenshots go to ``tests/artifacts/`` for a person to look at; the checks read the pages:
status tiles on the scorecard (no word split on a phone), "Is IT too busy?" answered in
words, and the summary's customer headline with churn and its value at stake, its detail
tables on screen (print leaves them to the other pages).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import load, probe, require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WIDTHS = {"wide": "1400,2600", "phone": "390,2600"}
#: Per status tile: does it overflow, and which words (a unit may break after its "/") span two lines.
TILES = """
  const tiles = [...doc.querySelectorAll(".outcomes-tile")];
  const split = [], wide = [];
  for (const tile of tiles) {
    if (tile.scrollWidth > tile.clientWidth) wide.push(tile.textContent);
    const walk = doc.createTreeWalker(tile, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      for (const m of node.data.matchAll(/[^\\s\\/]+\\/?/g)) {
        const range = doc.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) split.push(m[0]);
      }
    }
  }
  return {width: win.innerWidth, tiles: tiles.length, split, wide};"""
#: The summary on screen: its tables shown, the printed pointer to the detail pages hidden.
SCREEN = """
  const shown = (el) => el.getBoundingClientRect().height > 0;
  const tables = [...doc.querySelectorAll(".outcomes-table-wrap")];
  const pointer = [...doc.querySelectorAll(".jp-Cell")].filter((c) => c.textContent.includes("Details: see the"));
  return {tables: tables.length, shown: tables.filter(shown).length, pointer: pointer.length,
          pointer_shown: pointer.filter(shown).length};"""


def _page(month: Path, stem: str) -> Path:
    found = sorted(month.glob(f"*{stem}*.html"))
    assert found, f"no page matching *{stem}*.html in {month}: {sorted(p.name for p in month.glob('*.html'))}"
    return found[0]


@pytest.mark.parametrize("stem", ["scorecard", "executive_summary"])
@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_screenshots_of_the_scorecard_and_the_summary(demo_month: Path, stem: str, width: str) -> None:
    require_chromium()
    shot = ARTIFACTS / f"{stem}-{width}.png"
    page = load(_page(demo_month, stem), screenshot=shot, size=WIDTHS[width])
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert page.console == [] and page.network_requests == []


def test_the_scorecard_page_shows_tiles_and_answers_is_it_too_busy(demo_month: Path) -> None:
    source = _page(demo_month, "scorecard").read_text()
    assert source.count('class="outcomes-tile"') >= 10
    assert "on target</div>" in source and "off target</div>" in source
    assert re.search(r"<strong>(Yes|No): in 2025-12 IT resolved [\d,]+ tickets while [\d,]+ were opened", source)


def test_the_summary_covers_churn_with_its_value_at_stake(demo_month: Path) -> None:
    source = _page(demo_month, "executive_summary").read_text()
    assert "Customer scorecard in 2025-12:" in source
    assert re.search(r"Churn rate [\d.]+% against a target of [\d.]+% \(EUR [\d.,]+[km]? at stake; owner ", source)
    assert "Conversion rate" in source


def test_status_tiles_split_no_word_on_a_phone(demo_month: Path) -> None:
    found = probe(_page(demo_month, "scorecard"), 390, TILES)
    assert found["width"] == 390 and found["tiles"] >= 10
    assert found["split"] == [] and found["wide"] == []


def test_the_summary_keeps_its_detail_tables_on_screen(demo_month: Path) -> None:
    found = probe(_page(demo_month, "executive_summary"), 1400, SCREEN)
    assert found["tables"] >= 2 and found["shown"] == found["tables"]
    assert found["pointer"] == 1 and found["pointer_shown"] == 0
