"""One report run at a time per reports folder: ``reports/.run.lock``.

A run takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on the lock file once its configuration
is checked and holds it until it has published (or failed); it writes its process id,
period and start time into the file. A second run on the same reports folder does not
wait: it stops at once with :class:`~outcomes.errors.RunBusyError` naming the running
one. The operating system releases the lock when its holder dies, so a run killed
outright (``kill -9``, power loss) never blocks the next; the text it left is only read
to name a holder that is still alive.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from outcomes.errors import RunBusyError

LOCK_NAME = ".run.lock"


@contextmanager
def run_lock(reports_dir: Path, period: str) -> Iterator[Path]:
    """Hold the reports folder's run lock for the block, or refuse at once.

    Parameters
    ----------
    reports_dir : Path
        The folder the run publishes into (created when missing).
    period : str
        What the run reports on (a month, or a pack's ``publish_as``), written into the lock file.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    RunBusyError
        When another process holds the lock: the message names its pid, period and
        start time and says what to do.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / LOCK_NAME
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise RunBusyError(_busy_message(path, fh.read())) from None
        try:
            fh.seek(0)
            fh.truncate()
            holder = {"pid": os.getpid(), "period": period, "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
            fh.write(json.dumps(holder) + "\n")
            fh.flush()
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _busy_message(path: Path, text: str) -> str:
    """The refusal naming the running process, from what it wrote into the lock file."""
    try:
        holder = json.loads(text)
        who = f"process {holder['pid']} is running the report of {holder['period']} since {holder['started_at']}"
    except (ValueError, KeyError, TypeError):
        who = "another process is running a report (it has not yet written its pid)"
    return (
        f"{path}: {who}; only one run at a time may publish into {path.parent}. "
        "Wait for it to finish and run again, or stop that process; a killed run releases the lock by itself"
    )
