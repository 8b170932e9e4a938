"""The ``demo_month`` fixture: the real monthly pack on the demo company, run and published once per test run.

The pack takes minutes to run, so every test module reading it declares
``pytest_plugins = ["demo_pack_plugin"]`` and shares this one run. Under
pytest-xdist the workers share it too: the first worker to ask runs the pack
into the run's common temporary folder under a file lock, and the others wait
for it and read the same published month. Tests only read it.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
import yaml
from outcomes import config
from outcomes.run.monthly import run_monthly

PERIOD = "2025-12"


def _shared_root(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Path:
    """The folder every worker of this test run sees (the session's own folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


@pytest.fixture(scope="session")
def demo_month(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The published month folder of one run of the real pack (``params/monthly.yaml``)."""
    root = _shared_root(tmp_path_factory, request.config) / "demo-monthly"
    root.mkdir(exist_ok=True)
    done = root / "published"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            doc = yaml.safe_load((config.project().params_dir / "monthly.yaml").read_text())
            doc["reports_dir"] = str(root / "reports")
            path = root / "monthly.yaml"
            path.write_text(yaml.safe_dump(doc))
            summary = run_monthly(path, period=PERIOD)
            assert summary.index.is_file()
            done.write_text(str(summary.index))
        fcntl.flock(lock, fcntl.LOCK_UN)
    return root / "reports" / PERIOD
