"""Library calls on a warehouse holding one side of the house only: values, not crashes."""

from __future__ import annotations

from pathlib import Path

from canonical_tables import make_warehouse

from IPython.display import Markdown

from outcomes.metrics import compute
from outcomes.report import investment
from outcomes.report.scorecard_charts import demand_capacity_chart
from outcomes.run.html import check_page
from outcomes.run.preflight import PagePlan, Preflight
from outcomes.value.model import load_value_model
from outcomes.warehouse import store

REPO = Path(__file__).resolve().parents[1]


def test_roi_inputs_of_a_warehouse_without_customers_fall_back_to_the_value_model(tmp_path: Path) -> None:
    path = tmp_path / "tickets_only.duckdb"
    tickets = [{"ticket_id": f"T{i}", "opened_at": "2025-11-10 09:00:00", "region": "north"} for i in range(4)]
    make_warehouse(path, tickets=tickets).disconnect()
    inputs = investment.warehouse_inputs(store.connect(path), "2025-11", months=3)
    assert inputs.segments.empty and list(inputs.segments.columns) == list(investment.SEGMENT_COLUMNS)
    values = inputs.value_inputs(load_value_model(REPO / "params" / "value.yaml"))
    assert values.clv_by_segment == {} and values.customers_by_segment == {}
    assert len(inputs.to_frame()) == 2  # cost per ticket and deployments; no segment rows


def test_a_page_left_out_is_published_as_a_short_self_contained_page(tmp_path: Path) -> None:
    note = "Cost per ticket: not shown, because the warehouse's tickets table is empty. Add a tickets export."
    checked = Preflight("2025-11", None, "python3", (PagePlan("03_roi", False, (note,)), PagePlan("01_joint_scorecard", True)), (), {})
    links = checked.write_left_out_pages(tmp_path, meta="November 2025")
    assert [(link.href, link.title) for link in links] == [("03_roi.html", "What the IT initiatives are worth")]
    page = (tmp_path / "03_roi.html").read_text(encoding="utf-8")
    assert "This page has nothing to show for 2025-11" in page and "tickets table is empty" in page
    assert check_page(tmp_path / "03_roi.html", 5_000_000) == []
    assert not (tmp_path / "01_joint_scorecard.html").exists()


def test_ticket_metrics_of_a_warehouse_without_tickets_are_empty_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "customers_only.duckdb"
    customers = [{"customer_id": f"c{i}", "segment": "smb", "region": "north", "signup_date": "2024-06-01"} for i in range(3)]
    make_warehouse(path, customers=customers).disconnect()
    panel = compute.compute(
        store.connect(path), start="2025-09", end="2025-11", dims=("all", "service"),
        metrics=["ticket_volume", "demand_capacity_ratio", "active_customers"], min_customers=1,
    )
    active = panel[(panel["metric"] == "active_customers") & (panel["segment_dim"] == "all")]
    assert list(active["value"]) == [3.0, 3.0, 3.0]
    note = demand_capacity_chart(panel)
    assert isinstance(note, Markdown) and "No ticket was opened in these months" in note.data
