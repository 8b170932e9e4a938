"""Headless Chromium for tests: open a page from disk with the network blocked.

Every request that is not a local file goes to a proxy at 127.0.0.1:9, where nothing
listens, so a page that tries to load anything from the network fails visibly. The
verbose log (``--v=1``) records each request (``NotifyBeforeURLRequest: <url>``) and
each console message (``CONSOLE``), which the tests assert on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from outcomes.run.pdf import CHROMIUM_NAMES

NO_NETWORK = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
BASE_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-features=OptimizationHints,OptimizationHintsFetching,OptimizationGuideModelDownloading,"
    "OptimizationTargetPrediction,MediaRouter,Translate,AutofillServerCommunication",
    "--hide-scrollbars",
]
#: Domains of the browser's own background services (updates, models, accounts, time).
#: A request there counts as the page's only when the page's source names that host.
BROWSER_SERVICE_DOMAINS = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")
_REQUEST = re.compile(r"NotifyBeforeURLRequest: (\S+)")
_CONSOLE = re.compile(r":CONSOLE[:(\]].*")


@lru_cache(maxsize=1)
def chromium() -> str | None:
    """The Chromium executable; installed with apt-get when missing and possible (as CI does)."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, timeout=600, check=False)
        return shutil.which("chromium")
    return None


def require_chromium() -> str:
    """The Chromium executable, or skip the test with the reason."""
    exe = chromium()
    if exe is None:
        pytest.skip("headless Chromium not found and could not be installed (apt-get install chromium)")
    return exe


@dataclass(frozen=True)
class PageLoad:
    """What Chromium saw when loading a page."""

    dom: str
    requests: list[str]
    console: list[str]
    source: str = ""

    @property
    def network_requests(self) -> list[str]:
        """Requests for anything other than local files, inline data and the browser's own services."""
        local = ("file:", "data:", "blob:", "about:", "chrome")
        return [u for u in self.requests if not u.startswith(local) and not self._browser_service(u)]

    def _browser_service(self, url: str) -> bool:
        """Whether ``url`` is the browser's own background call rather than the page's."""
        host = urlsplit(url).hostname or ""
        service = any(host == d or host.endswith("." + d) for d in BROWSER_SERVICE_DOMAINS)
        return service and host not in self.source


#: Flags that make the page see a reader who asked for the dark theme (``prefers-color-scheme: dark``).
DARK = ["--force-dark-mode"]


def load(
    page: Path, *, budget_ms: int = 15000, screenshot: Path | None = None, size: str = "1280,1600", dark: bool = False
) -> PageLoad:
    """Open ``page`` headless with the network blocked; return the DOM, requests and console lines.

    Parameters
    ----------
    page : Path
        An HTML file.
    budget_ms : int
        Virtual time given to scripts (charts render asynchronously).
    screenshot : Path, optional
        Also save a PNG of the page (``size`` is the window, ``width,height``).
    dark : bool
        Load the page as a reader whose system asks for the dark theme.
    """
    exe = require_chromium()
    theme = DARK if dark else []
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        flags = [*BASE_FLAGS, *NO_NETWORK, *theme, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=1",
                 f"--virtual-time-budget={budget_ms}"]
        url = page.resolve().as_uri()
        done = subprocess.run([exe, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    if screenshot is not None:
        shoot(page, screenshot, budget_ms=budget_ms, size=size, dark=dark)
    console = [m.group(0) for m in _CONSOLE.finditer(done.stderr)]
    return PageLoad(done.stdout, _REQUEST.findall(done.stderr), console, page.read_text(errors="replace"))


def shoot(page: Path, png: Path, *, budget_ms: int = 15000, size: str = "1280,1600", dark: bool = False) -> Path:
    """Save a PNG of ``page`` in a window of ``size`` (``width,height``), network blocked; return ``png``."""
    exe = require_chromium()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [exe, *BASE_FLAGS, *NO_NETWORK, *(DARK if dark else []), f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", f"--window-size={size}", f"--screenshot={png}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        )
    return png


_PROBE = re.compile(r'<pre id="outcomes-probe">(.*?)</pre>', re.S)
#: A copy that loads the page in an iframe of the screen's size (headless Chromium keeps its
#: window at least 500 px wide) and writes what ``%(check)s`` returns for the page's document.
PROBE_WRAPPER = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="%(src)s" width="%(w)d" height="%(h)d" style="border:0;display:block"></iframe>
<script>
document.getElementById("page").addEventListener("load", () => setTimeout(() => {
  const frame = document.getElementById("page");
  const check = (doc, win) => { %(check)s };
  const out = document.createElement("pre");
  out.id = "outcomes-probe";
  out.textContent = JSON.stringify(check(frame.contentDocument, frame.contentWindow));
  document.body.appendChild(out);
}, 300));
</script></body></html>"""


def probe(page: Path, width: int, check: str, *, height: int = 2600, budget_ms: int = 15000) -> Any:
    """What ``check`` (a JavaScript function body of ``doc, win``) returns for ``page`` in a ``width`` x ``height`` viewport."""
    exe = require_chromium()
    copy = page.parent / f".probe-{width}-{page.name}"
    copy.write_text(PROBE_WRAPPER % {"src": page.name, "w": width, "h": height, "check": check}, encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory(prefix="probe-") as work:
            done = subprocess.run(
                [exe, *BASE_FLAGS, *NO_NETWORK, f"--user-data-dir={work}", f"--virtual-time-budget={budget_ms}",
                 "--allow-file-access-from-files", "--window-size=1500,1000", "--dump-dom", copy.resolve().as_uri()],
                capture_output=True, text=True, timeout=120,
            )
    finally:
        copy.unlink()
    found = _PROBE.search(done.stdout)
    assert found, f"{page.name}: the probe wrote nothing (Chromium said: {done.stderr[-400:]})"
    return json.loads(found.group(1))
