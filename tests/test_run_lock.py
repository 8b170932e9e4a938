"""One report run at a time per reports folder (``reports/.run.lock``), and a killed run never blocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from outcomes.errors import RunBusyError
from outcomes.run.lock import LOCK_NAME, run_lock

REPO = Path(__file__).resolve().parents[1]


def hold_in_child(reports: Path) -> subprocess.Popen[str]:
    """A child process that takes the run lock for 2025-11 and waits (it prints ``held`` once it holds it)."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from outcomes.run.lock import run_lock
        with run_lock(Path({str(reports)!r}), "2025-11"):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_run_refuses_at_once_naming_the_running_one(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with run_lock(reports, "2025-11") as path:
        holder = json.loads(path.read_text(encoding="utf-8"))
        assert holder["pid"] == os.getpid() and holder["period"] == "2025-11"
        with pytest.raises(RunBusyError) as err:
            with run_lock(reports, "2025-12"):
                pytest.fail("a second holder got the lock")
    message = str(err.value)
    assert str(reports / LOCK_NAME) in message
    assert f"process {os.getpid()} is running the report of 2025-11 since {holder['started_at']}" in message
    assert "Wait for it to finish" in message
    with run_lock(reports, "2025-12"):  # released at the end of the first run
        pass


def test_a_run_killed_outright_leaves_a_lock_that_blocks_nobody(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    child = hold_in_child(reports)
    try:
        with pytest.raises(RunBusyError, match=f"process {child.pid} is running the report of 2025-11"):
            with run_lock(reports, "2025-12"):
                pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert (reports / LOCK_NAME).is_file()  # the killed process's text is still there
    with run_lock(reports, "2025-12") as path:  # ...but the operating system released its lock
        assert json.loads(path.read_text(encoding="utf-8"))["period"] == "2025-12"
