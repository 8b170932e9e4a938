"""Publishing a month (or a named pack) atomically: a reader sees the old one or the new one, never a mix.

A run builds everything in ``reports/.tmp-<period>-<pid>/``. :func:`swap_in` renames
the published ``reports/<period>/`` aside (``.old-<period>-<pid>``), renames the new folder
in, and only then deletes the old one; if the second rename fails the old folder is put
back. Interrupt signals are held back during the two renames. :func:`recover` repairs
what a run killed outright (``kill -9``, power loss) left behind. A failed or interrupted
build is moved to ``reports/_failed/<period>-<UTC time>[-interrupted]/`` for debugging.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("outcomes.run.monthly")

FAILED_DIR = "_failed"
_AUX = re.compile(r"^\.(tmp|old)-([a-z0-9][a-z0-9_-]*)-(\d+)$")  # the folder: a month or a pack's publish_as


def build_dir(reports_dir: Path, period: str) -> Path:
    """The folder a run of ``period`` builds in (unique to this process)."""
    return reports_dir / f".tmp-{period}-{os.getpid()}"


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (delivered on exit) when called from the main thread."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def swap_in(build: Path, target: Path) -> None:
    """Replace ``target`` by ``build`` with two renames, restoring ``target`` on failure.

    Parameters
    ----------
    build : Path
        The finished folder (same file system as ``target``).
    target : Path
        The published folder, ``reports/<period>``; it may not exist yet.
    """
    aside = target.with_name(f".old-{target.name}-{os.getpid()}")
    with signals_held():
        had_old = target.exists()
        if had_old:
            os.rename(target, aside)
        try:
            os.rename(build, target)
        except BaseException:
            if had_old:
                os.rename(aside, target)
            raise
    if had_old:
        shutil.rmtree(aside, ignore_errors=True)


def _alive(pid: int) -> bool:
    import psutil

    return pid != os.getpid() and psutil.pid_exists(pid)


def recover(reports_dir: Path) -> None:
    """Repair what runs killed outright left in ``reports_dir``.

    A month renamed aside but never replaced is renamed back; folders set aside or
    half-built by processes that no longer exist are removed.
    """
    if not reports_dir.is_dir():
        return
    for path in sorted(reports_dir.iterdir()):
        m = _AUX.match(path.name)
        if not m or _alive(int(m.group(3))):
            continue
        kind, period = m.group(1), m.group(2)
        target = reports_dir / period
        if kind == "old" and not target.exists():
            os.rename(path, target)
            log.warning("restored %s from %s (a run was killed while publishing)", target, path.name)
        else:
            shutil.rmtree(path, ignore_errors=True)
            log.warning("removed %s, left by a run that no longer exists", path.name)


def keep_failed(build: Path, reports_dir: Path, period: str, *, interrupted: bool = False) -> Path | None:
    """Move a failed build to ``reports/_failed/<period>-<UTC time>/`` and return its new path."""
    if not build.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = reports_dir / FAILED_DIR / f"{period}-{stamp}{'-interrupted' if interrupted else ''}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{dest.name}-{n}")
    os.rename(build, dest)
    return dest


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
