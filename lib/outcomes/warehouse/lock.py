"""The warehouse file's lock: ingest swaps a new file in, and readers copy it, one at a time.

Ingest builds a new warehouse in a temporary file and moves it over the old one
(:func:`outcomes.ingest.load.run_ingest`); :func:`outcomes.ingest.load.ensure_warehouse`
checks and rebuilds under the same lock. A report run copies the file under it
(:mod:`outcomes.run.snapshot`), so the copy is one whole state of the warehouse, never
half of one and half of the next.

The lock is ``fcntl.flock`` on ``.<warehouse name>.lock`` beside the file. The operating
system releases it when its holder dies, so a killed ingest never blocks the next one.
The holder deletes the file before releasing it, so nothing is left beside the warehouse;
a waiter that then wins the lock of the deleted file sees it is no longer the one at that
path and takes the new one. Within one thread the lock is re-entrant: a caller holding it
may call code that takes it.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_HELD = threading.local()


def lock_file(warehouse: Path) -> Path:
    """The lock file of ``warehouse``: ``.<name>.lock`` in the same folder."""
    return warehouse.with_name(f".{warehouse.name}.lock")


@contextmanager
def exclusive(warehouse: Path) -> Iterator[None]:
    """Hold the warehouse's lock for the block, waiting for another holder to finish.

    Parameters
    ----------
    warehouse : Path
        The DuckDB file (it need not exist yet; its folder is created).
    """
    path = lock_file(Path(warehouse))
    held: set[Path] = _HELD.__dict__.setdefault("paths", set())
    if path in held:  # this thread holds it already (ensure_warehouse around run_ingest)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = _acquire(path)
    held.add(path)
    try:
        yield
    finally:
        held.discard(path)
        path.unlink(missing_ok=True)  # while still held: a waiter on this file will retry
        fh.close()


def _acquire(path: Path) -> IO[str]:
    """Open and lock ``path``, retrying when the file locked was deleted by its previous holder."""
    while True:
        fh = open(path, "a")  # noqa: SIM115 - closed by the caller, which releases the lock
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fh.fileno())
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            return fh
        fh.close()
