"""A report run reads one state of the warehouse, serializes with other runs, and keeps the months it replaces.

The pack tests run a one-notebook pack (``tests/notebooks/figures.ipynb``, made to wait at a
gate file after it started) on a small warehouse, and swap another company's warehouse in
with the ingest's own swap while the notebook runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from canonical_tables import make_warehouse
from report_pack import NOTEBOOKS
from typer.testing import CliRunner

from outcomes import config
from outcomes.cli import app
from outcomes.ingest.load import replace_warehouse
from outcomes.run import monthly as run
from outcomes.run import pages, snapshot
from outcomes.warehouse import lock as warehouse_lock
from outcomes.warehouse.spark_backend import load_settings

PERIOD = "2024-06"


def _tickets(n: int, day: str = "2024-06-12") -> list[dict[str, object]]:
    return [{"ticket_id": f"T{day}-{i}", "opened_at": f"{day} 09:00:00", "region": "north"} for i in range(n)]


# --------------------------------------------------------------------------- the copy and the lock


def test_the_snapshot_waits_for_an_ingest_swap_and_copies_one_whole_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"first company" * 1000)
    swapping = threading.Event()

    def ingest() -> None:
        with warehouse_lock.exclusive(warehouse):  # an ingest holding the lock to swap
            swapping.set()
            time.sleep(0.5)
            built = tmp_path / ".warehouse.duckdb.1.tmp"
            built.write_bytes(b"second company" * 1000)
            replace_warehouse(built, warehouse)  # re-entrant in the ingest's thread

    thread = threading.Thread(target=ingest)
    thread.start()
    assert swapping.wait(10)
    taken = snapshot.take(warehouse, tmp_path / "work")
    thread.join()
    assert taken.path.read_bytes() == b"second company" * 1000  # after the swap, never before or half-way
    assert taken.bytes == len(b"second company" * 1000) and taken.seconds >= 0.3
    assert taken.to_dict() == {"bytes": taken.bytes, "seconds": taken.seconds}


def test_an_ingest_swap_waits_for_a_snapshot_being_copied(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"first")
    built = tmp_path / ".warehouse.duckdb.2.tmp"
    built.write_bytes(b"second")
    done = threading.Event()
    with warehouse_lock.exclusive(warehouse):  # a run copying the file
        thread = threading.Thread(target=lambda: (replace_warehouse(built, warehouse), done.set()))
        thread.start()
        assert not done.wait(0.5)
        assert warehouse.read_bytes() == b"first"
    thread.join(10)
    assert done.is_set() and warehouse.read_bytes() == b"second"


def test_the_warehouse_lock_stays_exclusive_and_leaves_no_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    inside, most = [0], [0]
    guard = threading.Lock()

    def holder() -> None:
        for _ in range(5):
            with warehouse_lock.exclusive(warehouse):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.02)
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=holder) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 1  # one holder at a time, although each holder deletes the file it locked
    assert list(tmp_path.iterdir()) == []  # nothing left beside the warehouse


def test_spark_kernels_export_the_snapshot_into_the_runs_own_folder(tmp_path: Path) -> None:
    settings = tmp_path / "engine.yaml"
    settings.write_text("spark:\n  master: local[2]\n  shuffle_partitions: 3\n  data:\n    parquet: data/parquet\n", encoding="utf-8")
    work = tmp_path / "build" / ".work" / "snapshot"
    work.mkdir(parents=True)
    private = snapshot.private_spark_settings(settings, work)
    assert private == work / "engine.yaml"
    read = load_settings(private)
    assert read.spark.data.parquet_location() == str(work / "parquet")
    assert (read.spark.master, read.spark.shuffle_partitions) == ("local[2]", 3)  # everything else as the user set it
    settings.write_text("spark:\n  data:\n    database: outcomes\n", encoding="utf-8")
    assert snapshot.private_spark_settings(settings, work) is None  # a catalog: nothing to export


def test_the_archive_and_the_months_page_show_the_revision_and_link_earlier_versions(tmp_path: Path) -> None:
    month = tmp_path / "2025-11"
    for folder, number, when in [(month, 3, "2026-12-05T14:02:00Z"), (month / "history" / "2", 2, "2026-12-04T09:30:00Z"),
                                 (month / "history" / "1", 1, "2026-12-03T08:00:00Z")]:
        folder.mkdir(parents=True)
        (folder / "index.html").write_text("page", encoding="utf-8")
        replaces = {"revision": number - 1, "generated_at": "2026-12-04T09:30:00Z", "href": f"history/{number - 1}/index.html"}
        (folder / "manifest.json").write_text(json.dumps({"revision": number, "generated_at": when, "replaces": replaces if number > 1 else None}))
    manifest = json.loads((month / "manifest.json").read_text())
    assert pages.revision_note(manifest) == {"text": "revision 3, replaces the version of 4 Dec 2026 09:30 UTC", "href": "history/2/index.html"}
    assert pages.revision_note({"revision": 1, "replaces": None}) is None
    page = pages.month_index("2025-11", [], {}, manifest)
    assert 'revision 3, replaces the version of 4 Dec 2026 09:30 UTC (<a href="history/2/index.html">earlier version</a>)' in page
    archive = pages.archive_index(tmp_path)
    assert "revision 3, replaces the version of 4 Dec 2026 09:30 UTC; earlier versions: " in archive
    assert '<a href="2025-11/history/2/index.html">revision 2 of 4 Dec 2026 09:30 UTC</a>, <a href="2025-11/history/1/index.html">revision 1 of 3 Dec 2026 08:00 UTC</a>' in archive
    assert pages.published_months(tmp_path) == ["2025-11"]  # history folders are not months


# --------------------------------------------------------------------------- the pack


@pytest.fixture()
def project(tmp_path: Path) -> Iterator[config.Project]:
    """A project whose warehouse holds 3 tickets in June 2024, made the process's project for the test."""
    previous = config.project()
    (tmp_path / "params" / "initiatives").mkdir(parents=True)
    (tmp_path / "params" / "engine.yaml").write_text("duckdb: {}\n", encoding="utf-8")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    make_warehouse(tmp_path / "data" / "warehouse.duckdb", tickets=_tickets(3)).disconnect()
    chosen = config.use_project(config.Project(tmp_path.resolve(), "test"))
    try:
        yield chosen
    finally:
        config.use_project(previous)


def gated_config(root: Path) -> Path:
    """A run configuration of one notebook, the figures notebook waiting at ``<root>/go`` once started."""
    nb = nbformat.read(NOTEBOOKS / "figures.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += '\ngate: str = ""  # a file the notebook waits for before reading the warehouse'
    wait = (
        "import pathlib, time\n"
        "if gate:\n"
        "    pathlib.Path(gate + '.started').touch()\n"
        "    for _ in range(1200):\n"
        "        if pathlib.Path(gate).exists():\n"
        "            break\n"
        "        time.sleep(0.1)"
    )
    nb.cells.insert(nb.cells.index(params) + 2, nbformat.v4.new_code_cell(wait))
    nbformat.write(nb, root / "gated.ipynb")
    path = root / "params" / "monthly.yaml"
    path.write_text(
        "kernel: python3\nexecution_timeout: 240\n"
        f"notebooks:\n  - name: figures\n    path: {root / 'gated.ipynb'}\n    parameters: {{gate: {root / 'go'}}}\n",
        encoding="utf-8",
    )
    return path


def run_in_thread(cfg: Path) -> tuple[threading.Thread, dict[str, object]]:
    """Start the run of ``cfg`` in a thread; the dict receives its summary or its error."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["summary"] = run.run_monthly(cfg, period=PERIOD)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def wait_for(path: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.1)


def published_figures(month: Path) -> tuple[float, str, int]:
    """Tickets in results.json, the page's sentence, and the manifest's ticket row count."""
    results = json.loads((month / "results.json").read_text(encoding="utf-8"))
    page = (month / "figures.html").read_text(encoding="utf-8")
    manifest = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    volume = [r["value"] for r in results["scorecard"] if r["metric"] == "ticket_volume"][0]
    return volume, page, manifest["data"]["fingerprints"]["tickets"]["rows"]


@pytest.mark.slow
def test_an_ingest_during_the_run_changes_nothing_the_run_publishes(project: config.Project) -> None:
    root = project.root
    warehouse = root / "data" / "warehouse.duckdb"
    thread, outcome = run_in_thread(gated_config(root))
    wait_for(root / "go.started")  # the notebook runs; it has not read the warehouse yet
    other = root / "data" / ".warehouse.duckdb.other.tmp"
    make_warehouse(other, tickets=_tickets(9) + _tickets(4, "2024-05-02")).disconnect()  # another company
    replace_warehouse(other, warehouse)  # the ingest's own swap
    (root / "go").touch()
    thread.join(300)
    assert "error" not in outcome, outcome.get("error")
    volume, page, rows = published_figures(root / "reports" / PERIOD)
    assert volume == 3.0 and rows == 3
    assert "Tickets opened in 2024-06: <strong>3 tickets</strong>" in page and "9 tickets" not in page
    manifest = json.loads((root / "reports" / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data"]["path"] == str(warehouse) and manifest["context"]["warehouse"] == str(warehouse)
    assert manifest["notebooks"][0]["parameters"]["warehouse"] == str(warehouse)
    assert manifest["data"]["snapshot"]["bytes"] > 0
    assert "read snapshot of" in (root / "reports" / PERIOD / run.LOG_NAME).read_text(encoding="utf-8")
    assert not list((root / "reports" / PERIOD).rglob("*.duckdb"))  # the copy is never published


@pytest.mark.slow
def test_a_second_run_refuses_with_exit_2_and_the_first_publishes(project: config.Project) -> None:
    root = project.root
    cfg = gated_config(root)
    thread, outcome = run_in_thread(cfg)
    try:
        wait_for(root / "go.started")
        second = CliRunner().invoke(app, ["--project", str(root), "run", "--config", str(cfg), "--period", PERIOD])
    finally:
        (root / "go").touch()
        thread.join(300)
    assert second.exit_code == 2, second.output
    text = " ".join(second.output.split())
    assert f"is running the report of {PERIOD} since" in text and "Wait for it to finish" in text
    assert "error" not in outcome, outcome.get("error")
    assert (root / "reports" / PERIOD / "index.html").is_file()


@pytest.mark.slow
def test_a_rerun_keeps_the_replaced_month_in_its_history(project: config.Project) -> None:
    root = project.root
    cfg = gated_config(root)
    (root / "go").touch()  # no waiting
    month = root / "reports" / PERIOD
    run.run_monthly(cfg, period=PERIOD)
    first = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    assert first["revision"] == 1 and first["replaces"] is None
    other = root / "data" / ".warehouse.duckdb.other.tmp"
    make_warehouse(other, tickets=_tickets(9)).disconnect()
    replace_warehouse(other, root / "data" / "warehouse.duckdb")
    run.run_monthly(cfg, period=PERIOD)
    assert published_figures(month)[0] == 9.0
    assert published_figures(month / "history" / "1")[0] == 3.0  # the earlier version, as it was published
    manifest = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["revision"] == 2
    assert manifest["replaces"] == {"revision": 1, "generated_at": first["generated_at"], "href": "history/1/index.html"}
    index = (month / "index.html").read_text(encoding="utf-8")
    assert "revision 2, replaces the version of " in index and 'href="history/1/index.html"' in index
    archive = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "revision 2, replaces the version of " in archive and f'href="{PERIOD}/history/1/index.html"' in archive
