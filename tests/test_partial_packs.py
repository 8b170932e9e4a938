"""Partial packs: the real monthly pack on warehouses that lack a side of the house.

Each warehouse is ingested from a subset of one small demo export (scale 0.05), and each
case runs only the pages it needs (the ROI page and the executive summary, plus the
scorecard and the reviews for customer-only data), with few Monte Carlo draws. About 2.5 minutes on two cores. Every run exits normally and publishes; the pages and ``results.json``
say what is not shown and why (a page left out is published as a short page saying so); no
page holds a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from outcomes.ingest.load import run_ingest
from outcomes.run.monthly import run_monthly
from outcomes.simulate import generate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2025-12"
IT = ["tickets", "incidents", "deployments", "it_costs", "employee_survey", "service_map", "initiatives", "assignments"]
CUSTOMER = ["customers", "orders", "customer_surveys", "churn", "campaigns", "service_map", "initiatives", "assignments", "it_costs"]
ALL_BUT_COSTS = [s for s in {*IT, *CUSTOMER} if s != "it_costs"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small demo export shared by every case."""
    out = tmp_path_factory.mktemp("demo") / "raw"
    generate(out_dir=out, scale=0.05, seed=42)
    return out


def _warehouse(raw: Path, folder: Path, sources: list[str]) -> Path:
    """Ingest the ``sources`` entries of ``params/sources.yaml`` from ``raw`` into ``folder``."""
    doc = yaml.safe_load((REPO / "params" / "sources.yaml").read_text(encoding="utf-8"))
    doc["sources"] = {k: v for k, v in doc["sources"].items() if k in sources}
    doc.update(raw_dir=str(raw), warehouse=str(folder / "warehouse.duckdb"), rejects_dir=str(folder / "rejects"))
    path = folder / "sources.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run_ingest(path)
    return folder / "warehouse.duckdb"


def _run(folder: Path, warehouse: Path, initiatives: list[str], pages: list[str]) -> Path:
    """Run ``pages`` of the real pack on ``warehouse`` with ``initiatives`` active; return the published month."""
    register = folder / "initiatives"
    register.mkdir()
    for name in initiatives:
        shutil.copy(REPO / "params" / "initiatives" / f"{name}.yaml", register / f"{name}.yaml")
    doc = yaml.safe_load((REPO / "params" / "monthly.yaml").read_text(encoding="utf-8"))
    doc["notebooks"] = [nb for nb in doc["notebooks"] if nb["name"] in pages]
    for nb in doc["notebooks"]:
        nb["path"] = str(REPO / "notebooks" / f"{nb['name']}.ipynb")
        nb["after"] = [a for a in nb.get("after", []) if a in pages]
    doc.update(
        warehouse=str(warehouse), reports_dir=str(folder / "reports"), initiatives_dir=str(register),
        value_model=str(REPO / "params" / "value.yaml"), targets_file=str(REPO / "params" / "targets.yaml"),
        parameters={"draws": 500},
    )
    cfg = folder / "monthly.yaml"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    summary = run_monthly(cfg, period=PERIOD)
    assert summary.index.is_file()
    return folder / "reports" / PERIOD


def _check_published(month: Path) -> tuple[dict, dict[str, str]]:
    """The results and the pages (text) of a published month, with no traceback on any page."""
    doc = json.loads((month / "results.json").read_text(encoding="utf-8"))
    pages = {p.stem: p.read_text(encoding="utf-8") for p in month.glob("*.html")}
    for name, text in pages.items():
        for word in ("Traceback", "KeyError", "ArrowInvalid"):
            assert word not in text, f"{name} shows {word}"
    return doc, pages


def _sentences(doc: dict) -> list[str]:
    return [r["sentence"] for r in doc["unavailable"]]


def test_it_only_data_publishes_the_roi_page_and_says_what_customer_data_are_missing(raw: Path, tmp_path: Path) -> None:
    month = _run(tmp_path, _warehouse(raw, tmp_path, IT), ["chatbot"], ["03_roi", "00_executive_summary"])
    doc, pages = _check_published(month)
    assert {"03_roi", "00_executive_summary", "index"} <= set(pages)
    missing_orders = "Revenue and customer lifetime value: not shown, because the warehouse's orders table is empty. Add an orders export to params/sources.yaml."
    assert missing_orders in _sentences(doc)
    assert "Not shown this month" in pages["03_roi"] and "orders table is empty" in pages["03_roi"]
    assert "What changed for customers: not shown" in pages["00_executive_summary"]
    assert "chatbot" in [r["initiative"] for r in doc["roi"]]


def test_customer_only_data_leaves_out_the_it_pages_and_the_summary_says_so(raw: Path, tmp_path: Path) -> None:
    pack = ["01_joint_scorecard", "02_initiative_review", "03_roi", "00_executive_summary"]
    month = _run(tmp_path, _warehouse(raw, tmp_path, CUSTOMER), ["chatbot"], pack)
    doc, pages = _check_published(month)
    # a page left out is published as a short page saying why, and linked from the month's index
    assert set(pages) == {"00_executive_summary", "01_joint_scorecard", "02_initiative_review--chatbot", "03_roi", "index"}
    # the scorecard shows the customer side and says what IT data it lacks
    assert "Ticket metrics, the demand and capacity chart and the link from IT to customers: not shown" in pages["01_joint_scorecard"]
    assert "No ticket was opened in these months" in pages["01_joint_scorecard"]
    assert {r["metric"] for r in doc["scorecard"] if r["value"] is not None} >= {"csat", "active_customers"}
    assert "This page has nothing to show for 2025-12" in pages["03_roi"] and "tickets table is empty" in pages["03_roi"]
    assert 'href="03_roi.html"' in pages["index"]
    left = {r["page"]: r["sentence"] for r in doc["unavailable"] if r["left_out"]}
    assert set(left) == {"02_initiative_review--chatbot", "03_roi"}
    assert left["03_roi"].endswith("tickets table is empty. Add a tickets export to params/sources.yaml.")
    assert "(its primary metric is computed from tickets)" in left["02_initiative_review--chatbot"]
    summary = pages["00_executive_summary"]
    assert "What the IT initiatives are worth is not published" in summary and "Initiative review is not published" in summary
    assert doc["roi"] == [] and doc["initiatives"] == []


def test_no_initiative_leaves_out_the_roi_page_with_a_sentence(raw: Path, tmp_path: Path) -> None:
    month = _run(tmp_path, _warehouse(raw, tmp_path, IT), [], ["03_roi", "00_executive_summary"])
    doc, pages = _check_published(month)
    left = [r for r in doc["unavailable"] if r["left_out"]]
    assert [r["page"] for r in left] == ["03_roi"] and "no initiative in" in left[0]["sentence"]
    assert "no initiative in" in pages["03_roi"] and "This page has nothing to show" in pages["03_roi"]
    assert "outcomes new-initiative" in pages["00_executive_summary"]


def test_no_costs_prices_tickets_from_the_value_model_and_says_so(raw: Path, tmp_path: Path) -> None:
    month = _run(tmp_path, _warehouse(raw, tmp_path, ALL_BUT_COSTS), ["chatbot"], ["03_roi", "00_executive_summary"])
    doc, pages = _check_published(month)
    assert "Cost per ticket from the service desk's costs: not shown, because the warehouse's it_costs table is empty." in " ".join(
        _sentences(doc)
    )
    assert "chatbot" in [r["initiative"] for r in doc["roi"]]
    assert "it_costs table is empty" in pages["03_roi"]
