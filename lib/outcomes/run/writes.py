"""Writing reports to disk: a folder or disk that refuses the write is the user's to fix.

A read-only reports folder, a missing permission or a full disk is no bug of the kit:
:func:`user_errors` turns the :class:`OSError` of such a write (``EACCES``, ``EPERM``,
``EROFS``, ``ENOSPC``, ``EDQUOT``) into a :class:`~outcomes.errors.PublishError` naming the
path and what to do; the command line exits 2 without a traceback. The published reports
are not touched: a run builds in a temporary folder and publishes with renames
(:mod:`outcomes.run.publish`).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from outcomes.errors import PublishError

#: errno -> (what happened, what to do), for the write refusals that are the user's to fix.
REFUSALS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", "give the account running outcomes write access to it, or choose another folder"),
    errno.EPERM: ("operation not permitted", "give the account running outcomes write access to it, or choose another folder"),
    errno.EROFS: ("the file system is read-only", "choose a folder on a writable disk, or mount this one read-write"),
    errno.ENOSPC: ("the disk is full", "free space on that disk (a report run needs room for its pages), then run again"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space within your quota, then run again"),
}


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` is a write the folder or the disk refused (see :data:`REFUSALS`)."""
    return isinstance(exc, OSError) and exc.errno in REFUSALS


def write_error(exc: OSError, doing: str) -> PublishError:
    """The user error of a refused write.

    Parameters
    ----------
    exc : OSError
        The refusal (:func:`refused` is true).
    doing : str
        What was being written, e.g. ``"building the report of 2025-11 in reports"``.

    Returns
    -------
    PublishError
        Names the path, what happened and what to do.
    """
    what, fix = REFUSALS[exc.errno]  # type: ignore[index]
    path = exc.filename if exc.filename is not None else "the output folder"
    return PublishError(
        f"cannot write {Path(path)} while {doing}: {what}; {fix}. Reports already published were not changed"
    )


@contextmanager
def user_errors(doing: str) -> Iterator[None]:
    """Turn a refused write inside the block into a :class:`~outcomes.errors.PublishError`.

    Parameters
    ----------
    doing : str
        What the block writes, for the message.
    """
    try:
        yield
    except OSError as exc:
        if not refused(exc):
            raise
        raise write_error(exc, doing) from exc
