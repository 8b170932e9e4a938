"""The monthly run end to end on fixture notebooks: publish, fail, time out, interrupt.

Real kernels, real papermill, real files; the packs are run once per module (kernels
are slow to start).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import nbformat
import psutil
import pytest
from report_pack import NOTEBOOKS, PERIOD, XSS, Pack, write_config

from outcomes import config
from outcomes.run import monthly as run
from outcomes.errors import ReportRunError
from outcomes.run import publish
from outcomes.run.config import load as load_config
from outcomes.run.context import RunContext

pytestmark = pytest.mark.slow

pytest_plugins = ["report_plugin"]  # the session-wide `pack` fixture


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- success


def test_month_folder_holds_pages_notebooks_results_and_manifest(pack: Pack) -> None:
    names = sorted(p.name for p in pack.month.iterdir())
    stem_xss = run.file_stem("initiative", XSS)
    for stem in ("ok", "summary", "initiative--portal", stem_xss):
        assert f"{stem}.html" in names and f"{stem}.ipynb" in names
    assert {"index.html", "results.json", "manifest.json", "run.log"} <= set(names)
    assert not any(n.startswith(".") for n in names), "work files must not be published"
    assert not [p for p in pack.reports.iterdir() if p.name.startswith((".tmp-", ".old-"))]
    assert pack.summary.index == pack.month / "index.html"


def test_results_json_is_valid_against_the_schema_and_merges_every_notebook(pack: Pack) -> None:
    doc = json.loads((pack.month / "results.json").read_text())
    schema = json.loads((config.PACKAGE_DIR / "report" / "results_schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["period"] == PERIOD
    assert sorted(i["id"] for i in doc["initiatives"]) == sorted(["portal", XSS])
    assert [r["metric"] for r in doc["scorecard"]] == ["csat"]
    # the summary ran after the others and read their results
    assert doc["headlines"][0] == f"2 initiatives reviewed in {PERIOD}."


def test_manifest_records_parameters_data_versions_and_timings(pack: Pack) -> None:
    manifest = json.loads((pack.month / "manifest.json").read_text())
    by_name = {n["name"]: n for n in manifest["notebooks"]}
    assert by_name["initiative--portal"]["parameters"] == {"months": 6, "initiative": "portal"}
    assert by_name["ok"]["parameters"] == {"period": PERIOD}
    assert all(n["seconds"] > 0 and n["cells"] > 0 for n in manifest["notebooks"])
    assert manifest["data"]["source"] == "raw_files"
    assert set(manifest["data"]["fingerprints"]["tickets.csv"]) == {"bytes", "sha256"}
    assert manifest["packages"]["papermill"] and manifest["packages"]["altair"]
    assert "commit" in manifest["git"] and manifest["kernel"] == "python3"


def test_report_pages_show_no_code_prompts_parameters_or_warnings(pack: Pack) -> None:
    page = (pack.month / "ok.html").read_text()
    assert "setup_notebook" not in page  # code cells hidden
    assert 'period = "2025-11"' not in page and "injected-parameters" not in page
    assert "library noise" not in page  # stderr (warnings) dropped
    assert 'class="jp-InputPrompt' not in page
    assert page.count('class="outcomes-chart"') == 2
    assert page.count("window.vegaEmbed=") == 1  # the bundle, once
    assert 'class="outcomes-toc"' in page and 'href="#Ticket-volume"' in page
    assert "@media print" in page and 'name="viewport"' in page
    assert "CSAT for 2025\\-11" not in page and "CSAT for 2025-11" in page
    # the executed notebook keeps everything for debugging
    nb = nbformat.read(pack.month / "ok.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_every_page_is_self_contained_and_small(pack: Pack) -> None:
    from outcomes.run.html import check_page

    pages = sorted(pack.month.glob("*.html")) + [pack.reports / "index.html"]
    assert len(pages) == 6
    for page in pages:
        assert check_page(page, 5_000_000) == [], page.name
        assert page.stat().st_size < 5_000_000


def test_hostile_initiative_id_shows_as_text_everywhere(pack: Pack) -> None:
    for page in [pack.month / "index.html", pack.month / f"{run.file_stem('initiative', XSS)}.html", pack.month / "summary.html"]:
        text = page.read_text()
        assert XSS not in text, page.name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, page.name


def test_index_page_leads_with_headlines_and_the_summary(pack: Pack) -> None:
    index = (pack.month / "index.html").read_text()
    assert f"<li>2 initiatives reviewed in {PERIOD}.</li>" in index
    links = [line.split('href="')[1].split('"')[0] for line in index.splitlines() if 'class="reports"' not in line and '<a href="' in line and ".html" in line and "../" not in line]
    assert links[0] == "summary.html" and "ok.html" in links
    assert "Data up to" in index and "Run date" in index
    archive = (pack.reports / "index.html").read_text()
    assert f'href="{PERIOD}/index.html"' in archive and "November 2025" in archive


def test_final_checks_find_customer_names_in_published_files(pack: Pack, tmp_path: Path) -> None:
    """The run's last gate (the same function the run calls) fails on deny-listed data."""
    import duckdb

    wh = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, name VARCHAR, email VARCHAR)")
        con.execute("INSERT INTO customers VALUES ('C1', 'Fixture Report', 'anna.berg@example.com'), ('C2', 'Zed Q', NULL)")
    cfg = load_config(pack.config).model_copy(update={"warehouse": wh})
    problems = run._checks(pack.month, cfg, RunContext.build(cfg, config.project(), period=PERIOD))
    # the customer name "Fixture Report" equals the ok notebook's title: found in its page and notebook
    assert "personal data found: ok.html: 1 value(s) from customers.name" in problems
    assert "personal data found: ok.ipynb: 1 value(s) from customers.name" in problems
    assert not [p for p in problems if "customers.email" in p]


# --------------------------------------------------------------------------- failure, timeout


@pytest.fixture(scope="module")
def failed(pack: Pack) -> tuple[str, dict[str, bytes], dict[str, bytes]]:
    """A rerun of the published month where one notebook raises and one hangs past the timeout."""
    before = snapshot(pack.month)
    archive_before = (pack.reports / "index.html").read_bytes()
    root = pack.root / "failing"
    root.mkdir()
    cfg = write_config(
        root,
        f"""
        - name: fails
          path: {NOTEBOOKS / 'fails.ipynb'}
        - name: hangs
          path: {NOTEBOOKS / 'hangs.ipynb'}
          execution_timeout: 3
        - name: initiative
          path: {NOTEBOOKS / 'initiative.ipynb'}
        - name: summary
          path: {NOTEBOOKS / 'summary.ipynb'}
          after: [fails]
        """,
        max_workers=3,
        reports_dir=pack.reports.as_posix(),
    )
    with pytest.raises(ReportRunError) as info:
        run.run_monthly(cfg, period=PERIOD)
    return str(info.value), before, {"archive": archive_before}


def test_failing_notebook_is_named_with_its_cell_and_error(failed: tuple) -> None:
    message, _, _ = failed
    assert "fails: cell 4 `raise ValueError(\"planted failure for tests\")`: ValueError: planted failure for tests" in message
    assert "hangs: cell 3 `time.sleep(600)`: CellTimeoutError" in message and "3 s limit" in message
    assert "summary: skipped: runs after fails, which did not succeed" in message
    assert "initiative" not in message.split("failed;")[1].split("The executed")[0]  # the others ran


def test_failed_run_leaves_the_published_month_byte_identical(failed: tuple, pack: Pack) -> None:
    _, before, extra = failed
    assert snapshot(pack.month) == before
    assert (pack.reports / "index.html").read_bytes() == extra["archive"]
    assert not [p for p in pack.reports.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_failed_run_keeps_executed_notebooks_for_debugging(failed: tuple, pack: Pack) -> None:
    kept = sorted((pack.reports / publish.FAILED_DIR).glob(f"{PERIOD}-*"))
    kept = [k for k in kept if not k.name.endswith("interrupted")]
    assert len(kept) == 1
    folder = kept[0]
    nb = nbformat.read(folder / "fails.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["evalue"] == "planted failure for tests"
    assert (folder / "hangs.ipynb").is_file() and (folder / "initiative.html").is_file()
    assert "FAILED" in (folder / "run.log").read_text()
    assert not (folder / "summary.ipynb").exists()


# --------------------------------------------------------------------------- interruption


def test_interrupted_run_publishes_nothing_and_stops_its_kernels(pack: Pack) -> None:
    before = snapshot(pack.month)
    root = pack.root / "interrupted"
    root.mkdir()
    pid_file = root / "kernel.pid"
    cfg = write_config(
        root,
        f"""
        - name: hangs
          path: {NOTEBOOKS / 'hangs.ipynb'}
          parameters: {{pid_file: {pid_file.as_posix()}}}
        """,
        reports_dir=pack.reports.as_posix(),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "outcomes.cli", "run", "--config", str(cfg), "--period", PERIOD],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the hanging notebook never started"
        time.sleep(0.2)
    kernel_pid = int(pid_file.read_text())
    assert (pack.reports / f".tmp-{PERIOD}-{proc.pid}").is_dir()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and f"reports/{PERIOD} was left as it was" in err
    assert snapshot(pack.month) == before
    assert not (pack.reports / f".tmp-{PERIOD}-{proc.pid}").exists()
    assert sorted((pack.reports / publish.FAILED_DIR).glob(f"{PERIOD}-*-interrupted"))
    for _ in range(50):
        if not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.1)
    else:
        os.kill(kernel_pid, signal.SIGKILL)
        pytest.fail("the interrupted run left its kernel running")


# --------------------------------------------------------------------------- another month


def test_publishing_another_month_leaves_earlier_months_byte_identical(pack: Pack) -> None:
    before = snapshot(pack.month)
    root = pack.root / "december"
    root.mkdir()
    cfg = write_config(root, f"- name: initiative\n  path: {NOTEBOOKS / 'initiative.ipynb'}", reports_dir=pack.reports.as_posix())
    summary = run.run_monthly(cfg, period="2025-12")
    assert summary.index == pack.reports / "2025-12" / "index.html" and summary.index.is_file()
    assert snapshot(pack.month) == before
    archive = (pack.reports / "index.html").read_text()
    assert archive.index('href="2025-12/index.html"') < archive.index(f'href="{PERIOD}/index.html"')  # newest first
    assert "_failed" not in archive
