"""The ``demo_month`` fixture: the real monthly pack on the demo company, run and published once per session.

The pack takes minutes to run, so every test module reading it declares
``pytest_plugins = ["demo_pack_plugin"]`` and shares this one run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from outcomes import config
from outcomes.run.monthly import run_monthly

PERIOD = "2025-12"


@pytest.fixture(scope="session")
def demo_month(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published month folder of one run of the real pack (``params/monthly.yaml``)."""
    root = tmp_path_factory.mktemp("monthly")
    doc = yaml.safe_load((config.project().params_dir / "monthly.yaml").read_text())
    doc["reports_dir"] = str(root / "reports")
    path = root / "monthly.yaml"
    path.write_text(yaml.safe_dump(doc))
    summary = run_monthly(path, period=PERIOD)
    assert summary.index.is_file()
    return root / "reports" / PERIOD
