"""Every page of the demo month opens with its answer: its box lies within the first screen on a desktop and a phone.

Headless Chromium loads each page in an iframe of the screen's size, inside a copy whose
small script writes the answer element's ``getBoundingClientRect()`` into the DOM once the
page has loaded; ``--dump-dom`` returns it. Screenshots of every page at both widths go to ``tests/artifacts/answer-*.png``.
"""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
import tempfile
from pathlib import Path

import pytest
from browser import BASE_FLAGS, NO_NETWORK, probe, require_chromium

from outcomes.report.answer import ANSWER_ID

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture
pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENS = {"desktop": (1400, 900), "phone": (390, 844)}
#: The answer element's box and the viewport's size (null: the page has no answer).
BOX = f"""
  const el = doc.getElementById("{ANSWER_ID}");
  const r = el ? el.getBoundingClientRect() : null;
  return r ? {{top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: win.innerHeight, width: win.innerWidth}} : null;"""


def answer_box(page: Path, size: tuple[int, int]) -> dict | None:
    """The answer element's box when the page is shown in a viewport of exactly ``size`` (None: no answer)."""
    return probe(page, size[0], BOX, height=size[1])


def screenshot(page: Path, size: tuple[int, int], out: Path) -> None:
    exe = require_chromium()
    with tempfile.TemporaryDirectory(prefix="answer-shot-") as work:
        subprocess.run(
            [exe, *BASE_FLAGS, *NO_NETWORK, f"--user-data-dir={work}", "--virtual-time-budget=15000",
             f"--window-size={size[0]},{size[1] * 2}", f"--screenshot={out}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        )


@pytest.fixture(scope="module")
def boxes(demo_month: Path) -> dict[tuple[str, str], dict | None]:
    """Every page of the month at both screen sizes: the answer's box; screenshots saved on the way."""
    pages = sorted(demo_month.glob("*.html"))
    ARTIFACTS.mkdir(exist_ok=True)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {(p.name, screen): pool.submit(answer_box, p, size) for p in pages for screen, size in SCREENS.items()}
        for p in pages:
            for size in SCREENS.values():
                pool.submit(screenshot, p, size, ARTIFACTS / f"answer-{p.stem}-{size[0]}.png").result()
        return {key: job.result() for key, job in jobs.items()}


def test_every_page_of_the_month_is_probed(demo_month: Path, boxes: dict) -> None:
    names = {name for name, _ in boxes}
    assert {"index.html", "00_executive_summary.html", "01_joint_scorecard.html", "03_roi.html"} <= names
    assert any(n.startswith("02_initiative_review") for n in names)


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_answer_is_within_the_first_screen(boxes: dict, screen: str) -> None:
    width, height = SCREENS[screen]
    misplaced = {}
    for (name, where), box in boxes.items():
        if where != screen:
            continue
        if box is None:
            misplaced[name] = "no element with id outcomes-answer"
        elif not (box["width"] == width and 0 <= box["top"] and box["bottom"] <= height and box["right"] <= width + 1):
            misplaced[name] = box
    assert not misplaced, f"answers outside the first {width}x{height} screen: {misplaced}"
