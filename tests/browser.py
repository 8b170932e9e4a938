"""Headless Chromium for tests: open a page from disk with the network blocked.

Every request that is not a local file goes to a proxy at 127.0.0.1:9, where nothing
listens, so a page that tries to load anything from the network fails visibly. The
verbose log (``--v=1``) records each request (``NotifyBeforeURLRequest: <url>``) and
each console message (``CONSOLE``), which the tests assert on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
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
