"""``reports/status.json``: how the monthly runs went, for people and for monitors.

Every monthly run (success, failure or interruption) ends by rewriting the file atomically
(:func:`recorded`) and sending its ``notify:`` event (:mod:`outcomes.run.notify`). The file
holds the last success (period, time, first headline, index page), the last failure
(period, time, the first lines of the error, where the failed build is kept), the next
month expected and how the notifications went. ``outcomes status --check`` (:func:`check`)
reads it with the published months: it fails when the last complete month has no report
or the last run failed, and sends the ``missing`` event, which is how a month that never
ran is noticed.

A pack published under its own name (``publish_as``) is not a month: its runs notify but
leave the file alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from outcomes.errors import ParamsError
from outcomes.periods import Month, is_month_text
from outcomes.run import publish
from outcomes.run.notify import Delivery, Event, NotifySettings, send
from outcomes.run.pages import published_months

log = logging.getLogger("outcomes.run.status")

STATUS_FILE = "status.json"
#: Lines of the error kept as a failure's reason.
REASON_LINES = 6


class LastSuccess(BaseModel):
    """The last month published: ``period``, ``finished_at`` (ISO, UTC), ``headline``, ``index`` (path)."""

    model_config = ConfigDict(frozen=True)

    period: str
    finished_at: str
    headline: str | None
    index: str


class LastFailure(BaseModel):
    """The last failed or interrupted run: ``period``, ``finished_at``, ``reason`` (first lines), ``failed_build``."""

    model_config = ConfigDict(frozen=True)

    period: str
    finished_at: str
    reason: str
    failed_build: str | None
    interrupted: bool = False


class Status(BaseModel):
    """The content of ``reports/status.json``.

    Parameters
    ----------
    updated_at : str, optional
        When the file was last written (ISO 8601, UTC).
    last_run : {"success", "failure", "interrupted"}, optional
        How the most recent run ended.
    last_success : LastSuccess, optional
    last_failure : LastFailure, optional
    next_expected : str, optional
        The month the next scheduled run should publish (``YYYY-MM``): the last complete month
        while it has no report, else the current month.
    notifications : list of Delivery
        How the notifications of the last run (or of the last ``status --check``) went.
    """

    model_config = ConfigDict(frozen=True)

    updated_at: str | None = None
    last_run: Literal["success", "failure", "interrupted"] | None = None
    last_success: LastSuccess | None = None
    last_failure: LastFailure | None = None
    next_expected: str | None = None
    notifications: list[Delivery] = Field(default_factory=list)


def status_path(reports_dir: Path) -> Path:
    """``<reports_dir>/status.json``."""
    return reports_dir / STATUS_FILE


def read(reports_dir: Path) -> Status:
    """Read ``status.json``; an empty :class:`Status` when no run has written it yet.

    Raises
    ------
    ParamsError
        When the file is not valid JSON of the expected shape (naming the file and what to do).
    """
    path = status_path(reports_dir)
    if not path.is_file():
        return Status()
    try:
        return Status.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise ParamsError(
            f"{path}: not a status file the kit can read ({first}); delete it, the next run or "
            "`outcomes status --check` writes a new one"
        ) from None


def write(reports_dir: Path, status: Status) -> Path:
    """Write ``status.json`` atomically and return its path."""
    path = status_path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    publish.write_text_atomic(path, status.model_dump_json(indent=2) + "\n")
    return path


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _label(folder: str) -> str:
    return Month.parse(folder).label if is_month_text(folder) else folder


def next_expected(reports_dir: Path, expected: str) -> str:
    """``expected`` (the last complete month) while it has no published report, else the month after it."""
    return expected if expected not in published_months(reports_dir) else str(Month.parse(expected).next())


def first_headline(month_dir: Path) -> str | None:
    """The first of ``headlines`` in ``<month_dir>/results.json`` (the executive summary's lead), if any."""
    try:
        headlines = json.loads((month_dir / "results.json").read_text(encoding="utf-8")).get("headlines") or []
    except (OSError, ValueError):
        return None
    return str(headlines[0]) if headlines else None


def page_link(settings: NotifySettings, reports_dir: Path, folder: str) -> str:
    """The published index page: its URL under ``reports_url`` when set, else its path."""
    if settings.reports_url:
        return settings.reports_url.rstrip("/") + f"/{folder}/index.html"
    return str(reports_dir / folder / "index.html")


def success_event(settings: NotifySettings, reports_dir: Path, folder: str) -> Event:
    """The ``success`` event of a published month (or pack)."""
    headline = first_headline(reports_dir / folder)
    link = page_link(settings, reports_dir, folder)
    lines = ([headline] if headline else []) + [f"Report: {link}"]
    return Event("success", folder, f"outcomes: {_label(folder)} report published", tuple(lines), {"headline": headline, "index": link})


def failure_event(failure: LastFailure) -> Event:
    """The ``failure`` event of a failed or interrupted run."""
    how = "was interrupted" if failure.interrupted else "failed"
    lines = [*failure.reason.splitlines()]
    if failure.failed_build:
        lines.append(f"The failed build is kept in {failure.failed_build}")
    return Event(
        "failure",
        failure.period,
        f"outcomes: the {_label(failure.period)} report run {how}",
        tuple(lines),
        {"reason": failure.reason, "failed_build": failure.failed_build, "interrupted": failure.interrupted},
    )


def missing_event(reports_dir: Path, period: str, status: Status) -> Event:
    """The ``missing`` event: ``period`` has no published report."""
    lines = [f"{reports_dir / period / 'index.html'} does not exist; run `outcomes run --period {period}`."]
    if status.last_success:
        lines.append(f"Last report published: {_label(status.last_success.period)} at {status.last_success.finished_at}.")
    if status.last_failure:
        lines.append(f"Last failure: {_label(status.last_failure.period)} at {status.last_failure.finished_at}.")
    return Event("missing", period, f"outcomes: no report for {_label(period)}", tuple(lines), {"expected": str(reports_dir / period)})


def _failed_builds(reports_dir: Path) -> set[Path]:
    folder = reports_dir / publish.FAILED_DIR
    return set(folder.iterdir()) if folder.is_dir() else set()


@contextmanager
def recorded(reports_dir: Path, folder: str, settings: NotifySettings, *, expected: str, monthly: bool) -> Iterator[None]:
    """Around a run: on its end, send its event and (for a monthly pack) rewrite ``status.json``.

    The run's own outcome is never changed: an error while notifying or writing the status
    is logged, and the run's exception, if any, is raised as it was.

    Parameters
    ----------
    reports_dir : Path
        Where the run publishes.
    folder : str
        The period (or the pack's ``publish_as``).
    settings : NotifySettings
        The configuration's ``notify:`` section.
    expected : str
        The last complete month (UTC), for ``next_expected``.
    monthly : bool
        Whether ``status.json`` is written (not for a pack published under its own name).
    """
    before = _failed_builds(reports_dir)
    try:
        yield
    except BaseException as exc:
        try:
            kept = sorted(_failed_builds(reports_dir) - before)
            reason = "\n".join((str(exc) or type(exc).__name__).splitlines()[:REASON_LINES])
            failure = LastFailure(
                period=folder,
                finished_at=_now(),
                reason=reason,
                failed_build=str(kept[-1]) if kept else None,
                interrupted=isinstance(exc, KeyboardInterrupt) or bool(kept and kept[-1].name.endswith("-interrupted")),
            )
            _conclude(reports_dir, failure_event(failure), settings, expected, monthly, failure=failure)
        except Exception:  # the run's own error matters more than its status
            log.exception("could not record the failure of the run of %s", folder)
        raise
    try:
        event = success_event(settings, reports_dir, folder)
        success = LastSuccess(
            period=folder, finished_at=_now(), headline=event.details["headline"], index=str(reports_dir / folder / "index.html")
        )
        _conclude(reports_dir, event, settings, expected, monthly, success=success)
    except Exception:  # a published month stays a success
        log.exception("could not record the success of the run of %s", folder)


def _conclude(
    reports_dir: Path,
    event: Event,
    settings: NotifySettings,
    expected: str,
    monthly: bool,
    *,
    success: LastSuccess | None = None,
    failure: LastFailure | None = None,
) -> None:
    deliveries = send(settings, event)
    if not monthly:
        return
    try:
        previous = read(reports_dir)
    except ParamsError as exc:
        log.warning("%s; writing a new one", exc)
        previous = Status()
    last_run = "success" if success else ("interrupted" if failure and failure.interrupted else "failure")
    status = previous.model_copy(
        update={
            "updated_at": _now(),
            "last_run": last_run,
            "last_success": success or previous.last_success,
            "last_failure": failure or previous.last_failure,
            "next_expected": next_expected(reports_dir, expected),
            "notifications": deliveries,
        }
    )
    write(reports_dir, status)


@dataclass(frozen=True)
class Check:
    """The monitor's verdict (``outcomes status --check``).

    Parameters
    ----------
    status : Status
        The status as written after the check.
    problems : tuple of str
        Empty when the last complete month is published and the last run succeeded.
    """

    status: Status
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems


def check(reports_dir: Path, settings: NotifySettings, *, expected: str) -> Check:
    """Check that ``expected`` (the last complete month) is published and the last run did not fail.

    When ``expected`` has no report, the ``missing`` event is sent and its deliveries are
    recorded in ``status.json``.

    Parameters
    ----------
    reports_dir : Path
        Where runs publish.
    settings : NotifySettings
        The configuration's ``notify:`` section.
    expected : str
        ``YYYY-MM``.

    Returns
    -------
    Check

    Raises
    ------
    ParamsError
        When ``status.json`` cannot be read.
    """
    status = read(reports_dir)
    problems = []
    if expected not in published_months(reports_dir):
        problems.append(
            f"{_label(expected)} ({expected}) has no published report: {reports_dir / expected / 'index.html'} does not exist; "
            f"run `outcomes run --period {expected}`"
        )
        deliveries = send(settings, missing_event(reports_dir, expected, status))
        status = status.model_copy(
            update={"updated_at": _now(), "next_expected": expected, "notifications": deliveries or status.notifications}
        )
        write(reports_dir, status)
    if status.last_run in ("failure", "interrupted") and status.last_failure is not None:
        failure = status.last_failure
        reason = " ".join(line.strip() for line in failure.reason.splitlines())
        problems.append(
            f"the last run ({_label(failure.period)}, {failure.finished_at}) {'was interrupted' if failure.interrupted else 'failed'}: "
            f"{reason}" + (f"; the failed build is kept in {failure.failed_build}" if failure.failed_build else "")
        )
    return Check(status, tuple(problems))


def describe(status: Status) -> list[str]:
    """The status in words, one line per fact."""
    lines = []
    if status.last_success:
        s = status.last_success
        lines.append(f"Last report published: {_label(s.period)}, finished {s.finished_at}; {s.index}")
        if s.headline:
            lines.append(f"  Headline: {s.headline}")
    else:
        lines.append("Last report published: none recorded")
    if status.last_failure:
        f = status.last_failure
        how = "interrupted" if f.interrupted else "failed"
        lines.append(f"Last failed run: {_label(f.period)}, {how} {f.finished_at}")
        lines.extend(f"  {line}" for line in f.reason.splitlines())
        if f.failed_build:
            lines.append(f"  Failed build kept in {f.failed_build}")
    else:
        lines.append("Last failed run: none recorded")
    lines.append(f"Last run: {status.last_run or 'none recorded'}")
    if status.next_expected:
        lines.append(f"Next month expected: {_label(status.next_expected)} ({status.next_expected})")
    for d in status.notifications:
        lines.append(f"Notification {d.event} via {d.channel}: {'sent' if d.ok else 'FAILED'} ({d.detail}) at {d.at}")
    return lines
