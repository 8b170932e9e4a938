"""The real monthly pack on the demo company, end to end, as `make report` runs it.

One run of ``params/monthly.yaml`` (every notebook of the pack, one initiative review per
active initiative) is published into a temporary reports folder; the tests then read
what a CIO and a CMO would open: every page in headless Chromium with the network
blocked, the machine-readable results, the manifest, and a scan for personal data.
"""

from __future__ import annotations

import concurrent.futures as cf
import html
import json
import re
from pathlib import Path

import duckdb
import jsonschema
import papermill
import pytest
from browser import PageLoad, load, require_chromium

from outcomes import config
from outcomes.params import read_yaml
from outcomes.run.context import RunContext
from outcomes.run.monthly import plan
from outcomes.run.config import load as load_run_config

pytestmark = pytest.mark.slow

PERIOD = "2025-12"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ACTIVE = sorted(
    read_yaml(p)["id"] for p in (config.project().params_dir / "initiatives").glob("*.yaml") if read_yaml(p).get("active") is True
)


pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture


@pytest.fixture(scope="module")
def month(demo_month: Path) -> Path:
    """The published month folder of one run of the real pack (shared by the session)."""
    return demo_month


@pytest.fixture(scope="module")
def pages(month: Path) -> dict[str, PageLoad]:
    """Every page of the month, loaded in Chromium with the network blocked."""
    require_chromium()
    shots = {"index.html": "index-demo.png", "00_executive_summary.html": "executive-summary-demo.png"}
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            p.name: pool.submit(
                load,
                p,
                screenshot=ARTIFACTS / shots[p.name] if p.name in shots else None,
                size="1200,2400",
            )
            for p in sorted(month.glob("*.html"))
        }
        return {name: f.result() for name, f in futures.items()}


def test_every_notebook_of_the_pack_is_published(month: Path) -> None:
    expected = {"00_executive_summary", "01_joint_scorecard", "03_roi"} | {f"02_initiative_review--{i}" for i in ACTIVE}
    assert {p.stem for p in month.glob("*.html")} == expected | {"index"}
    assert {p.stem for p in month.glob("*.ipynb")} == expected
    assert len(ACTIVE) >= 3


def test_executive_summary_is_the_first_link_of_the_index(month: Path) -> None:
    index = (month / "index.html").read_text()
    links = [h for h in re.findall(r'href="([^"]+\.html)"', index) if not h.startswith("..")]
    assert links[0] == "00_executive_summary.html"


def test_results_json_fills_every_section_and_follows_the_schema(month: Path) -> None:
    results = json.loads((month / "results.json").read_text())
    schema = json.loads((config.PACKAGE_DIR / "report" / "results_schema.json").read_text())
    jsonschema.validate(results, schema)
    assert results["period"] == PERIOD
    assert {r["metric"] for r in results["scorecard"]} >= {"csat", "churn_rate", "first_response_median_hours"}
    assert sorted(i["id"] for i in results["initiatives"]) == ACTIVE
    assert {r["initiative"] for r in results["roi"]} == set(ACTIVE)
    for entry in results["initiatives"]:
        assert entry["decision"] in ("ship", "keep testing", "stop")
        primary = next(m for m in entry["metrics"] if m["role"] == "primary")
        assert primary["ci_low"] <= primary["estimate_abs"] <= primary["ci_high"]
    for row in results["roi"]:
        assert row["npv_p10"] <= row["npv_p50"] <= row["npv_p90"]
        assert 0.0 <= row["prob_roi_positive"] <= 1.0


def test_the_scorecard_writes_its_demand_answers_from_the_recorded_outlook(month: Path) -> None:
    """One truth: every "too busy" sentence on the scorecard page is a row of results.json's demand_outlook."""
    results = json.loads((month / "results.json").read_text())
    rows = results["demand_outlook"]
    assert rows and all(r["period"] == PERIOD for r in rows)
    page = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", (month / "01_joint_scorecard.html").read_text())))
    for row in rows:
        assert re.sub(r"\s+", " ", row["sentence"]) in page, row["sentence"]
    assert any(r["busy"] for r in rows)  # the planted surge


def test_manifest_records_inputs_versions_and_timings(month: Path) -> None:
    manifest = json.loads((month / "manifest.json").read_text())
    text = json.dumps(manifest)
    for table in ("tickets", "orders", "customers"):
        assert table in text
    assert "papermill" in text and "outcomes" in text
    assert "00_executive_summary" in text


def test_pages_show_no_code_prompts_or_injected_parameters(month: Path) -> None:
    for page in month.glob("*.html"):
        html = page.read_text()
        assert "injected-parameters" not in html, page.name
        # every code cell is rendered without its input; no prompts anywhere
        assert not re.search(r'class="jp-Cell jp-CodeCell(?![^"]*jp-mod-noInput)', html), page.name
        assert not re.search(r'class="[^"]*\b(jp-InputPrompt|jp-OutputPrompt)\b', html), page.name
        assert "In&nbsp;[" not in html, page.name
        assert "import outcomes" not in html, page.name
        assert not re.search(r"<script[^>]+src=", html), page.name
        assert not re.search(r"""(?:src|href)=["']https?://""", html), page.name
        assert page.stat().st_size < 5 * 1024 * 1024, page.name


def test_every_chart_renders_offline_without_requests(month: Path, pages: dict[str, PageLoad]) -> None:
    charted = 0
    for name, page in pages.items():
        charts = (month / name).read_text().count('class="outcomes-chart"')
        assert page.dom.count('class="marks"') == charts, name
        assert page.network_requests == [], name
        assert page.console == [], name
        charted += charts
    assert charted >= 10
    assert (ARTIFACTS / "index-demo.png").is_file()


def test_no_customer_name_email_or_id_is_published(month: Path, demo_warehouse: Path) -> None:
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        customers = con.execute("SELECT customer_id, name, email FROM customers USING SAMPLE 300 ROWS").fetchall()
    finally:
        con.close()
    published = "\n".join(p.read_text() for p in month.iterdir() if p.suffix in (".html", ".ipynb", ".json"))
    assert "@example.com" not in published
    for customer_id, name, email in customers:
        assert email not in published and customer_id not in published
        assert name not in published, name


def test_every_run_parameter_exists_in_each_notebooks_parameters_cell() -> None:
    """papermill only warns about unknown parameters; the kit checks them before running."""
    cfg = load_run_config(config.project().params_dir / "monthly.yaml")
    tasks = plan(cfg, RunContext.build(cfg, config.project(), period=PERIOD, engine="duckdb"), source="params/monthly.yaml")
    assert tasks
    for task in tasks:
        declared = set(papermill.inspect_notebook(str(task.notebook)))
        assert set(task.parameters) <= declared, (task.stem, set(task.parameters) - declared)


def test_published_files_are_readable_by_others(month: Path) -> None:
    """A web server or a shared drive serves the month to people other than the run's user."""
    for path in month.iterdir():
        assert path.stat().st_mode & 0o044 == 0o044, path.name
