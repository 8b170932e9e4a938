"""Runs that tell someone: webhooks and e-mail on success, failure and a missing month; reports/status.json.

A local HTTP server (``http.server`` in a thread) and a local SMTP server (aiosmtpd) on
127.0.0.1 receive the events; the runs are one small fixture notebook each.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from report_pack import NOTEBOOKS, PERIOD, write_config
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.errors import ParamsError
from outcomes.params import validate
from outcomes.run import status as run_status
from outcomes.run.config import load as load_config
from outcomes.run.monthly import last_complete_month
from outcomes.run.notify import Event, NotifySettings, send

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@dataclass
class Inbox:
    """What the local servers received."""

    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    mails: list[Message] = field(default_factory=list)

    def events(self, kind: str) -> list[Any]:
        """The generic JSON payloads of ``kind`` received on ``/generic``."""
        return [body for path, _, body in self.posts if path == "/generic" and body.get("event") == kind]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, str, int]]:
    """An HTTP server recording POSTed JSON and an SMTP server recording messages; yields (inbox, url, smtp port)."""
    box = Inbox()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.posts.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(204 if self.path != "/broken" else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.mails.append(message_from_bytes(envelope.content))
            return "250 OK"

    port = _free_port()
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        yield box, f"http://127.0.0.1:{http.server_address[1]}", port
    finally:
        smtp.stop()
        http.shutdown()


def _notify(url: str, smtp_port: int, dead_port: int) -> dict[str, Any]:
    return {
        "webhooks": [
            {"url": f"{url}/generic", "headers": {"Authorization": "Bearer t0ken"}},
            {"url": f"{url}/chat", "format": "slack"},
            {"url": f"http://127.0.0.1:{dead_port}/nobody", "timeout": 2},
        ],
        "email": {"host": "127.0.0.1", "port": smtp_port, "from": "reports@example.com", "to": ["cio@example.com"], "security": "none"},
        "reports_url": "https://intranet.example.com/outcomes/",
    }


@pytest.fixture(scope="module")
def runs(inbox: tuple[Inbox, str, int], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A month published, then a failing rerun, both through `outcomes run`, into the same reports folder."""
    box, url, smtp_port = inbox
    root = tmp_path_factory.mktemp("notify")
    (root / "raw").mkdir()
    notify = json.dumps(_notify(url, smtp_port, _free_port()))
    ok = write_config(root, f"- name: summary\n  path: {NOTEBOOKS / 'summary.ipynb'}", notify=notify)
    published = runner.invoke(app, ["--project", str(REPO), "run", "--config", str(ok), "--period", PERIOD])
    ok_status = json.loads((root / "reports" / "status.json").read_text())
    posts_after_success = len(box.posts)
    bad = write_config(root, f"- name: fails\n  path: {NOTEBOOKS / 'fails.ipynb'}", notify=notify)
    failed = runner.invoke(app, ["--project", str(REPO), "run", "--config", str(bad), "--period", PERIOD])
    return {
        "root": root,
        "config": bad,
        "published": published,
        "failed": failed,
        "ok_status": ok_status,
        "posts_after_success": posts_after_success,
    }


@pytest.mark.slow  # the two runs of the `runs` fixture: about 25 s together
def test_success_event_carries_period_headline_and_link(runs: dict[str, Any], inbox: tuple[Inbox, str, int]) -> None:
    box = inbox[0]
    assert runs["published"].exit_code == 0, runs["published"].output
    link = f"https://intranet.example.com/outcomes/{PERIOD}/index.html"
    (generic,) = box.events("success")
    assert generic["period"] == PERIOD and generic["index"] == link
    assert generic["headline"] == f"0 initiatives reviewed in {PERIOD}."  # headlines[0] of results.json
    chat = [body for path, _, body in box.posts[: runs["posts_after_success"]] if path == "/chat"]
    assert chat == [{"text": f"outcomes: November 2025 report published\n0 initiatives reviewed in {PERIOD}.\nReport: {link}"}]
    headers = next(h for path, h, _ in box.posts if path == "/generic")
    assert headers["Authorization"] == "Bearer t0ken"
    mail = next(m for m in box.mails if "published" in m["Subject"])
    assert mail["Subject"] == "outcomes: November 2025 report published" and mail["To"] == "cio@example.com"
    assert link in mail.get_payload()


@pytest.mark.slow  # the two runs of the `runs` fixture: about 25 s together
def test_unreachable_webhook_is_recorded_and_the_run_still_succeeds(runs: dict[str, Any]) -> None:
    assert runs["published"].exit_code == 0
    status = runs["ok_status"]
    assert status["last_run"] == "success"
    assert status["last_success"]["period"] == PERIOD
    assert status["last_success"]["headline"] == f"0 initiatives reviewed in {PERIOD}."
    assert status["last_success"]["index"].endswith(f"reports/{PERIOD}/index.html")
    outcomes = {d["channel"]: d for d in status["notifications"]}
    assert [c for c, d in outcomes.items() if not d["ok"]] == ["webhook 3 (127.0.0.1)"]
    assert "Connection refused" in outcomes["webhook 3 (127.0.0.1)"]["detail"]
    assert outcomes["email to cio@example.com"]["ok"] and outcomes["webhook 1 (127.0.0.1)"]["detail"] == "HTTP 204"
    assert "/nobody" not in json.dumps(status)  # a webhook URL may be a secret: only its host is recorded
    manifest = (runs["root"] / "reports" / PERIOD / "manifest.json").read_text()
    assert "t0ken" not in manifest and "/generic" not in manifest and '"format": "slack"' in manifest


@pytest.mark.slow  # the two runs of the `runs` fixture: about 25 s together
def test_failure_event_names_the_period_the_error_and_the_failed_build(runs: dict[str, Any], inbox: tuple[Inbox, str, int]) -> None:
    box = inbox[0]
    assert runs["failed"].exit_code == 1  # the run's own exit code, with an unreachable webhook configured
    (event,) = box.events("failure")
    assert event["period"] == PERIOD and not event["interrupted"]
    assert event["reason"].startswith(f"run of {PERIOD} failed")
    assert "ValueError: planted failure for tests" in event["reason"]
    failed_build = Path(event["failed_build"])
    assert failed_build.parent == runs["root"] / "reports" / "_failed" and (failed_build / "fails.ipynb").is_file()
    assert f"The failed build is kept in {failed_build}" in event["text"]
    mail = next(m for m in box.mails if "failed" in m["Subject"])
    assert mail["Subject"] == "outcomes: the November 2025 report run failed"
    assert "planted failure for tests" in mail.get_payload()


@pytest.mark.slow  # the two runs of the `runs` fixture: about 25 s together
def test_status_json_keeps_the_last_success_beside_the_last_failure(runs: dict[str, Any]) -> None:
    status = json.loads((runs["root"] / "reports" / "status.json").read_text())
    assert status["last_run"] == "failure"
    assert status["last_success"] == runs["ok_status"]["last_success"]
    assert status["last_failure"]["period"] == PERIOD and "planted failure" in status["last_failure"]["reason"]
    assert status["next_expected"] == last_complete_month()  # November 2025 is long past; the last month is due
    assert {d["event"] for d in status["notifications"]} == {"failure"}


@pytest.mark.slow  # the two runs of the `runs` fixture: about 25 s together
def test_status_prints_words_and_check_fires_missing_and_exits_1(runs: dict[str, Any], inbox: tuple[Inbox, str, int]) -> None:
    box = inbox[0]
    args = ["--project", str(REPO), "status", "--config", str(runs["config"])]
    plain = runner.invoke(app, args)
    assert plain.exit_code == 0
    assert "Last report published: November 2025" in plain.stdout and "Last failed run: November 2025, failed" in plain.stdout
    checked = runner.invoke(app, [*args, "--check"])
    assert checked.exit_code == 1
    expected = last_complete_month()
    assert f"({expected}) has no published report" in checked.stderr
    assert "the last run (November 2025" in checked.stderr and "planted failure for tests" in checked.stderr
    (missing,) = box.events("missing")
    assert missing["period"] == expected and f"run `outcomes run --period {expected}`" in missing["text"]
    assert any(m["Subject"] == f"outcomes: no report for {run_status._label(expected)}" for m in box.mails)
    status = run_status.read(runs["root"] / "reports")
    assert {d.event for d in status.notifications} == {"missing"}


def test_check_passes_when_the_last_month_is_published_and_the_last_run_succeeded(tmp_path: Path) -> None:
    expected = last_complete_month()
    (tmp_path / expected).mkdir()
    (tmp_path / expected / "index.html").write_text("<html></html>")
    run_status.write(tmp_path, run_status.Status(last_run="success"))
    verdict = run_status.check(tmp_path, NotifySettings(), expected=expected)
    assert verdict.ok and verdict.problems == ()


def test_notify_section_is_typed_and_a_password_is_never_written_in_yaml(tmp_path: Path) -> None:
    nb = f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}"
    mail = {"host": "smtp.example.com", "from": "r@example.com", "to": ["a@example.com"], "username": "r"}
    cfg = write_config(tmp_path, nb, notify=json.dumps({"email": {**mail, "password": "hunter2secret"}}))
    with pytest.raises(ParamsError) as info:
        load_config(cfg)
    assert "unknown key 'notify.email.password' (did you mean 'password_env'?)" in str(info.value)
    assert "hunter2secret" not in str(info.value)
    with pytest.raises(ParamsError, match="give username and password_env together"):
        load_config(write_config(tmp_path, nb, notify=json.dumps({"email": mail})))
    with pytest.raises(ParamsError, match=r"key 'notify.webhooks.0.format' has value 'teams'"):
        load_config(write_config(tmp_path, nb, notify=json.dumps({"webhooks": [{"url": "https://x.example.com", "format": "teams"}]})))
    with pytest.raises(ParamsError, match=r"key 'notify.events.0' has value 'sometimes'"):
        load_config(write_config(tmp_path, nb, notify=json.dumps({"events": ["sometimes"]})))
    assert load_config(REPO / "params" / "monthly.yaml").notify.channels == 0


def test_missing_password_variable_and_server_errors_are_deliveries_not_exceptions(inbox: tuple[Inbox, str, int]) -> None:
    _, url, smtp_port = inbox
    mail = {"host": "127.0.0.1", "port": smtp_port, "from": "r@example.com", "to": ["a@example.com"], "security": "none"}
    settings = validate(
        NotifySettings,
        {"webhooks": [{"url": f"{url}/broken"}], "email": {**mail, "username": "r", "password_env": "OUTCOMES_TEST_UNSET_PASSWORD"}},
    )
    event = Event("success", PERIOD, "subject", ("line",))
    broken, login = send(settings, event)
    assert not broken.ok and "HTTP Error 500" in broken.detail
    assert not login.ok and "environment variable OUTCOMES_TEST_UNSET_PASSWORD (notify.email.password_env) is not set" in login.detail
    assert send(validate(NotifySettings, {"events": ["failure"], "webhooks": [{"url": f"{url}/x"}]}), event) == []


def test_interrupted_run_is_recorded_and_its_error_raised_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "_failed" / "2025-10-20251102T061700Z").mkdir(parents=True)  # an older failure, not this run's
    with pytest.raises(KeyboardInterrupt, match="stop"):
        with run_status.recorded(tmp_path, "2025-11", NotifySettings(), expected="2025-11", monthly=True):
            (tmp_path / "_failed" / "2025-11-20251202T061700Z-interrupted").mkdir()
            raise KeyboardInterrupt("stop")
    status = run_status.read(tmp_path)
    assert status.last_run == "interrupted" and status.last_failure.interrupted
    assert status.last_failure.failed_build == str(tmp_path / "_failed" / "2025-11-20251202T061700Z-interrupted")
    assert "Last failed run: November 2025, interrupted" in "\n".join(run_status.describe(status))


def test_a_status_that_cannot_be_written_neither_fails_a_success_nor_hides_a_failure(tmp_path: Path) -> None:
    (tmp_path / "status.json").mkdir()  # writing the status file fails
    with run_status.recorded(tmp_path, "2025-11", NotifySettings(), expected="2025-11", monthly=True):
        pass
    with pytest.raises(ValueError, match="the run's own error"):
        with run_status.recorded(tmp_path, "2025-11", NotifySettings(), expected="2025-11", monthly=True):
            raise ValueError("the run's own error")


def test_a_pack_published_under_its_own_name_leaves_status_json_alone(tmp_path: Path) -> None:
    with run_status.recorded(tmp_path, "case-study", NotifySettings(), expected="2025-11", monthly=False):
        (tmp_path / "case-study").mkdir()
    assert not (tmp_path / "status.json").exists()
