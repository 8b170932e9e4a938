"""The ``pack`` fixture: the fixture pack run and published once per test session.

Kernels are slow to start, so every test module that needs the pack declares
``pytest_plugins = ["report_plugin"]`` and shares this one run.
"""

from __future__ import annotations

import pytest
from report_pack import NOTEBOOKS, PERIOD, Pack, write_config, write_initiatives

from outcomes.run.monthly import run_monthly


@pytest.fixture(scope="session")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    """The fixture pack, run and published once per session."""
    root = tmp_path_factory.mktemp("pack")
    write_initiatives(root)
    (root / "raw").mkdir()
    (root / "raw" / "tickets.csv").write_text("ticket_id,opened_at\nT1,2025-11-03 10:00:00\n")
    config = write_config(
        root,
        f"""
        - name: ok
          path: {NOTEBOOKS / 'ok.ipynb'}
        - name: initiative
          path: {NOTEBOOKS / 'initiative.ipynb'}
          per_initiative: true
          parameters: {{months: 6}}
        - name: summary
          path: {NOTEBOOKS / 'summary.ipynb'}
          after: [ok, initiative]
        """,
    )
    summary = run_monthly(config, period=PERIOD)
    return Pack(root, root / "reports", config, summary)
