"""Helpers of the report-run tests: the fixture pack's notebooks, configuration and initiatives.

The pack (``tests/notebooks``): ``ok`` (two charts, a table, recorded scorecard),
``initiative`` once per active initiative (one of them named ``<script>alert(1)</script>``),
and ``summary``, which runs after both and records headlines from their results.
The session fixture that runs it lives in ``report_plugin.py``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from outcomes.run.monthly import RunSummary

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
PERIOD = "2025-11"
XSS = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Pack:
    """A published fixture pack."""

    root: Path
    reports: Path
    config: Path
    summary: RunSummary

    @property
    def month(self) -> Path:
        return self.reports / PERIOD


def write_config(root: Path, notebooks: str, **settings: object) -> Path:
    """Write a run configuration into ``root`` (reports, initiatives and data paths inside it)."""
    lines = {
        "kernel": "python3",
        "execution_timeout": 120,
        "reports_dir": (root / "reports").as_posix(),
        "initiatives_dir": (root / "initiatives").as_posix(),
        "warehouse": (root / "warehouse.duckdb").as_posix(),
        "raw_dir": (root / "raw").as_posix(),
        **settings,
    }
    head = "\n".join(f"{k}: {v}" for k, v in lines.items())
    path = root / "monthly.yaml"
    path.write_text(head + "\nnotebooks:\n" + textwrap.indent(textwrap.dedent(notebooks).strip(), "  ") + "\n")
    return path


def write_initiatives(root: Path) -> None:
    """Two active initiatives (one with a hostile id) and an inactive one."""
    folder = root / "initiatives"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "portal.yaml").write_text("id: portal\nactive: true\nname: Self-service portal\n")
    (folder / "xss.yaml").write_text(f'id: "{XSS}"\nactive: true\n')
    (folder / "old.yaml").write_text("id: retired\nactive: false\n")
