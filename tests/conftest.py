"""Shared fixtures: the demo company's warehouse, built once per test run when missing.

The demo data lives where `make report` puts it (``data/raw`` and ``data/warehouse.duckdb``),
so notebooks run with their default parameters (as nbval does) read the same warehouse
that the tests check. A file lock keeps parallel test workers from building it twice.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest

from outcomes import config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEMO_SCALE = 1.0
DEMO_SEED = 42


def _demo_is_current() -> bool:
    truth = config.project().raw_dir / "ground_truth.json"
    if not (truth.is_file() and config.project().warehouse.is_file()):
        return False
    meta = json.loads(truth.read_text())
    simulator = max(p.stat().st_mtime for p in (REPO / "lib" / "outcomes" / "simulate").glob("*.py"))
    return (
        meta.get("seed") == DEMO_SEED
        and float(meta.get("scale", -1)) == DEMO_SCALE
        and config.project().warehouse.stat().st_mtime >= truth.stat().st_mtime >= simulator
    )


def build_demo_warehouse() -> Path:
    """Generate and ingest the demo company (scale 1, seed 42) unless it is already there.

    Returns
    -------
    Path
        The warehouse file.
    """
    config.project().data_dir.mkdir(parents=True, exist_ok=True)
    with open(config.project().data_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _demo_is_current():
            exe = [sys.executable, "-m", "outcomes.cli"]
            subprocess.run(
                [*exe, "demo", "--scale", str(DEMO_SCALE), "--seed", str(DEMO_SEED), "--out", str(config.project().raw_dir)],
                check=True,
                cwd=REPO,
            )
            subprocess.run([*exe, "ingest", "--sources", str(config.project().params_dir / "sources.yaml")], check=True, cwd=REPO)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return config.project().warehouse


#: Modules that take longest on two cores, longest first. ``make test`` hands whole modules to
#: its two workers in collection order (``--dist loadfile --no-loadscope-reorder``), so
#: these go first and the many short modules fill in at the end, where the workers would
#: otherwise finish minutes apart. The Spark pack comes first and a reader of the demo
#: month second: one worker runs the Spark pack while the other builds the demo month,
#: so no worker sits waiting for the demo month. The two in-process Spark modules stay next
#: to each other, the demo warehouse's first: the worker that ends one usually takes the
#: other, and then the second reuses that worker's Spark session (``spark_session_plugin``)
#: instead of starting a JVM. Re-order from ``--durations`` when a module's cost changes; a
#: module missing here only runs later.
LONGEST_FIRST = (
    "test_run_spark.py",
    "test_one_truth.py",
    "test_partial_packs.py",
    "test_engine_spark.py",
    "test_spark_parity.py",
    "test_case_study_pack.py",
    "test_accessibility.py",
    "test_install_wheel.py",
    "test_themes.py",
    "test_review.py",
    "test_notebooks_roi.py",
    "test_shared.py",
    "test_answer_first.py",
    "test_quasi_property.py",
    "test_roi_verdict.py",
    "test_metrics.py",
    "test_investment.py",
    "test_report_browser.py",
    "test_quasi_staggered.py",
    "test_monthly_pack.py",
    "test_print_pdf.py",
    "test_pack_screens.py",
    "test_ingest_fuzz.py",
    "test_panel_history.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the modules of :data:`LONGEST_FIRST` first, in that order; the others keep theirs."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a module is kept


@pytest.fixture(scope="session")
def demo_warehouse() -> Path:
    """The demo warehouse file (built on first use)."""
    return build_demo_warehouse()


@pytest.fixture(scope="session")
def ground_truth(demo_warehouse: Path) -> dict:
    """The planted truth of the demo company."""
    return json.loads((config.project().raw_dir / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public datasets folder; tests using it skip where it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public datasets not found at {SHARED_DATA} (present in CI, not in a user's clone)")
    return SHARED_DATA
