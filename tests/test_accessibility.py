"""Accessibility of every page of the demo pack, kept so: axe-core inside headless Chromium.

Each page is copied with axe-core (the ``axe.min.js`` that the ``axe-core-python`` wheel
ships, so no npm registry is needed) and a small script that runs ``axe.run()`` once the
charts are drawn and writes the violations into the DOM as JSON. Every page is loaded
with the network blocked in the light theme, and the two templates (the landing page and
a report page, the scorecard: the densest, with tables and charts) also in the dark theme;
no serious or critical violation may remain, and no scrollable box a keyboard cannot reach
(``scrollable-region-focusable``, of any impact).
"""

from __future__ import annotations

import concurrent.futures as cf
import html
import json
import re
from pathlib import Path

import pytest
from browser import load, require_chromium

axe_core_python = pytest.importorskip("axe_core_python", reason="axe-core comes from the axe-core-python wheel (dev extra)")
pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture
pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Path(axe_core_python.__file__).parent / "axe.min.js"
#: Impacts that fail the test; moderate and minor ones are reported by axe but allowed.
BLOCKING = {"serious", "critical"}
#: Pages also audited in the dark theme: one per template (every report page shares one style).
DARK_PAGES = ("index.html", "01_joint_scorecard.html")
RUNNER = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const report = (violations) => {
    const out = document.createElement("pre");
    out.id = "axe-result";
    out.textContent = JSON.stringify(violations);
    document.body.appendChild(out);
  };
  axe.run(document, {resultTypes: ["violations"]}).then(
    (r) => report(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\\s+/g, " "))}))),
    (e) => report([{id: "axe-error", impact: "critical", help: String(e), nodes: []}]),
  );
}, 1000));
</script>"""
_RESULT = re.compile(r'<pre id="axe-result">(.*?)</pre>', re.S)


def audit(page: Path, copy: Path, *, dark: bool) -> list[dict]:
    """axe-core's violations on ``page`` (audited through ``copy``, which gets the scripts)."""
    source = page.read_text(encoding="utf-8")
    end = source.rindex("</body>")
    copy.write_text(source[:end] + f"<script>{AXE.read_text(encoding='utf-8')}</script>" + RUNNER + source[end:], encoding="utf-8")
    found = _RESULT.search(load(copy, budget_ms=20000, dark=dark).dom)
    assert found, f"axe wrote no result into {copy.name}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def violations(demo_month: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """axe-core's violations on every page of the month (light) and on :data:`DARK_PAGES` (dark).

    Keyed ``<page> (<theme>)``.
    """
    require_chromium()
    work = tmp_path_factory.mktemp("axe")
    jobs = {
        f"{page.name} ({theme})": (page, work / f"{theme}-{page.name}", theme == "dark")
        for page in sorted(demo_month.glob("*.html"))
        for theme in ("light", "dark")
        if theme == "light" or page.name in DARK_PAGES
    }
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(audit, page, copy, dark=dark) for key, (page, copy, dark) in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


def test_every_page_is_audited_and_each_template_in_both_themes(demo_month: Path, violations: dict[str, list[dict]]) -> None:
    pages = list(demo_month.glob("*.html"))
    assert len(pages) >= 5 and len(violations) == len(pages) + len(DARK_PAGES)
    assert {f"{name} (dark)" for name in DARK_PAGES} <= violations.keys()


def test_no_serious_or_critical_violation(violations: dict[str, list[dict]]) -> None:
    blocking = {key: [v for v in found if v["impact"] in BLOCKING] for key, found in violations.items()}
    assert {k: v for k, v in blocking.items() if v} == {}


def test_every_scrollable_box_is_reachable_by_keyboard(violations: dict[str, list[dict]]) -> None:
    unreachable = {key: [v for v in found if v["id"] == "scrollable-region-focusable"] for key, found in violations.items()}
    assert {k: v for k, v in unreachable.items() if v} == {}
