"""Print a published month to PDF through headless Chromium: one PDF per page, the index included.

The pages carry their own print style (``outcomes.css``: A4, no cut columns, page breaks
between sections), so Chromium prints them as a reader would from the browser, without
the browser's header and footer. The network stays blocked while printing: every page is
self-contained.
"""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import subprocess
import tempfile
from pathlib import Path

from outcomes.errors import PublishError
from outcomes.periods import Month

#: Executable names tried on the PATH, in order.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Virtual time given to a page's scripts before printing (charts render asynchronously), ms.
RENDER_BUDGET_MS = 10_000
#: Pages printed at once (each Chromium takes one core).
WORKERS = 2
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-pdf-header-footer",
    # Every request that is not a local file goes to a port where nothing listens.
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def chromium() -> Path:
    """The Chromium executable on the PATH.

    Raises
    ------
    PublishError
        When none of :data:`CHROMIUM_NAMES` is on the PATH; the message says how to install one.
    """
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise PublishError(
        f"cannot print to PDF: no Chromium found on the PATH (looked for {', '.join(CHROMIUM_NAMES)}); "
        "install it (Debian/Ubuntu: apt-get install chromium) or add its folder to PATH, then run the command again"
    )


def month_folder(reports_dir: Path, period: str | None) -> Path:
    """The published folder of ``period`` in ``reports_dir``; the newest month when ``period`` is None.

    Raises
    ------
    ParamsError
        When ``period`` is not ``YYYY-MM``.
    PublishError
        When the month (or any month) has no published index page; the message lists the months there are.
    """
    published = sorted(p.parent.name for p in reports_dir.glob("*/index.html") if _is_month(p.parent.name))
    if period is None:
        if not published:
            raise PublishError(
                f"cannot print to PDF: {reports_dir} holds no published month (no <YYYY-MM>/index.html); "
                "run `outcomes run` first"
            )
        return reports_dir / published[-1]
    folder = reports_dir / str(Month.parse(period))
    if not (folder / "index.html").is_file():
        months = ", ".join(published) or "none"
        raise PublishError(
            f"cannot print to PDF: --period {period} has no published report ({folder / 'index.html'} is missing); "
            f"published months: {months}. Run `outcomes run --period {period}` or pick a published month"
        )
    return folder


def print_page(page: Path, pdf: Path, *, executable: Path | None = None) -> Path:
    """Print one HTML page to ``pdf`` (its print style sets the paper size, A4 by default).

    Parameters
    ----------
    page : Path
        A published HTML page.
    pdf : Path
        The PDF to write (its folder is created).
    executable : Path, optional
        Chromium; found on the PATH by default.

    Returns
    -------
    Path
        ``pdf``.

    Raises
    ------
    PublishError
        When Chromium is missing or writes no PDF; the message names the page and Chromium's last words.
    """
    exe = executable or chromium()
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="outcomes-pdf-") as profile:
        done = subprocess.run(
            [str(exe), *_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={RENDER_BUDGET_MS}",
             f"--print-to-pdf={pdf}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180, check=False,
        )
    if not pdf.is_file() or pdf.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PublishError(
            f"cannot print {page} to PDF: Chromium ({exe}) exited with {done.returncode} and wrote no {pdf.name} "
            f"({last}); check that the page opens in a browser and that {pdf.parent} is writable"
        )
    return pdf


def print_month(month: Path, out_dir: Path | None = None) -> list[Path]:
    """Print every page of a published month (``index.html`` and each report) to PDF.

    Parameters
    ----------
    month : Path
        The published month folder, ``reports/<YYYY-MM>/``.
    out_dir : Path, optional
        Where the PDFs go; default ``<reports>/pdf/<YYYY-MM>/`` beside the month, which stays as
        published. Each PDF is named after its page.

    Returns
    -------
    list of Path
        The PDFs written, in page-name order.
    """
    exe = chromium()
    pages = sorted(month.glob("*.html"))
    target = out_dir if out_dir is not None else month.parent / "pdf" / month.name
    with cf.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(print_page, page, target / f"{page.stem}.pdf", executable=exe) for page in pages]
        return [f.result() for f in futures]


def _is_month(name: str) -> bool:
    """Whether a folder name is a ``YYYY-MM`` month."""
    return len(name) == 7 and name[4] == "-" and name[:4].isdigit() and name[5:].isdigit()
