"""Publishing a month (or a named pack) atomically: a reader sees the old one or the new one, never a mix.

A run builds everything in ``reports/.tmp-<period>-<pid>/``. :func:`swap_in` renames
the published ``reports/<period>/`` aside (``.old-<period>-<pid>``), renames the new folder
in, and only then files the old one into the new one's history,
``reports/<period>/history/<revision>/`` (its earlier history moves along into
``reports/<period>/history/``); if the second rename fails the old folder is put back.
Interrupt signals are held back during the two renames. :func:`recover` repairs what a
run killed outright (``kill -9``, power loss) left behind: a month set aside and never
replaced is put back, one set aside after its successor was published is filed into
that successor's history. A failed or interrupted build is moved to
``reports/_failed/<period>-<UTC time>[-interrupted]/`` for debugging.

Revisions: each ``manifest.json`` records its ``revision`` (1 for the first publication
of a folder) and the version it ``replaces`` (:func:`replaced_version`). A kept version
is stored byte for byte as it was published.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("outcomes.run.monthly")

FAILED_DIR = "_failed"
#: Inside a published folder: the versions it replaced, ``history/<revision>/``.
HISTORY_DIR = "history"
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

    The replaced version is then kept in ``target/history/<revision>/`` (:func:`file_into_history`).

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
        file_into_history(aside, target)


def revision_of(folder: Path) -> int:
    """The revision a published folder's ``manifest.json`` records (1 when it records none)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 1
    value = manifest.get("revision") if isinstance(manifest, dict) else None
    return value if isinstance(value, int) and value >= 1 else 1


def replaced_version(target: Path) -> dict[str, Any] | None:
    """What publishing into ``target`` replaces, for the new ``manifest.json`` (None when nothing is published).

    Returns
    -------
    dict or None
        ``revision`` and ``generated_at`` of the published version, and ``href``, where
        it will be kept relative to ``target`` (``history/<revision>/index.html``).
    """
    if not (target / "index.html").is_file():
        return None
    try:
        generated = json.loads((target / "manifest.json").read_text(encoding="utf-8")).get("generated_at")
    except (OSError, ValueError, AttributeError):
        generated = None
    revision = revision_of(target)
    return {"revision": revision, "generated_at": generated, "href": f"{HISTORY_DIR}/{revision}/index.html"}


def file_into_history(old: Path, target: Path) -> Path:
    """Move the replaced version ``old`` (and the versions it kept) into ``target``'s history.

    Each step is a rename within the reports folder, and repeating the function after a
    crash finishes what was left: ``old/history/*`` move to ``target/history/``, then
    ``old`` itself becomes ``target/history/<its revision>`` (the next free number if
    that one is taken).

    Returns
    -------
    Path
        Where ``old`` is kept.
    """
    history = target / HISTORY_DIR
    history.mkdir(exist_ok=True)
    kept = old / HISTORY_DIR
    if kept.is_dir():
        for entry in sorted(kept.iterdir()):
            if not (history / entry.name).exists():
                os.rename(entry, history / entry.name)
        if not any(kept.iterdir()):
            kept.rmdir()
    number = revision_of(old)
    while (history / str(number)).exists():
        number += 1
    dest = history / str(number)
    os.rename(old, dest)
    return dest


def history_versions(folder: Path) -> list[tuple[int, Path]]:
    """The versions kept in a published folder's history, newest first: (revision, folder)."""
    history = folder / HISTORY_DIR
    if not history.is_dir():
        return []
    found = [(int(p.name), p) for p in history.iterdir() if p.name.isdigit() and (p / "index.html").is_file()]
    return sorted(found, reverse=True)


def _alive(pid: int) -> bool:
    import psutil

    return pid != os.getpid() and psutil.pid_exists(pid)


def recover(reports_dir: Path) -> None:
    """Repair what runs killed outright left in ``reports_dir``.

    A month renamed aside but never replaced is renamed back; one renamed aside after
    its successor was published is filed into the successor's history; folders
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
        elif kind == "old":
            dest = file_into_history(path, target)
            log.warning("kept %s as %s (a run was killed after publishing its successor)", path.name, dest)
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
    """Write a text file through a temporary file and a rename (the temporary file is this thread's own)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
