"""The pre-flight: what each page needs, and a doomed run stopped before any kernel starts.

Every warehouse here is a small hand-made one (:mod:`canonical_tables`); nothing executes a
notebook, so the module runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from canonical_tables import make_warehouse
from typer.testing import CliRunner

from outcomes import config
from outcomes.cli import app
from outcomes.errors import ParamsError
from outcomes.metrics import catalog
from outcomes.metrics.compute import FAMILIES, plan as families_of
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load
from outcomes.report.needs import PAGES, initiative_needs, left_out_sections, not_shown, pack_not_shown, render_table, table_data
from outcomes.run import monthly
from outcomes.run.config import load as load_config
from outcomes.warehouse.datamodel import TABLES

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2025-11"


def _tickets(month: str, n: int = 3) -> list[dict[str, object]]:
    return [{"ticket_id": f"T{month}-{i}", "opened_at": f"{month}-1{i} 09:00:00", "region": "north"} for i in range(n)]


def _customers() -> list[dict[str, object]]:
    return [{"customer_id": f"c{i}", "segment": "smb", "region": "north", "signup_date": "2024-06-01"} for i in range(3)]


def _surveys(month: str) -> list[dict[str, object]]:
    return [
        {"response_id": f"r{i}", "customer_id": f"c{i}", "responded_at": f"{month}-05 10:00:00", "kind": "csat", "score": 4}
        for i in range(3)
    ]


@pytest.fixture()
def project(tmp_path: Path) -> Iterator[config.Project]:
    """A project with the repository's pack (absolute paths), one active initiative and no warehouse yet."""
    previous = config.project()
    params = tmp_path / "params"
    (params / "initiatives").mkdir(parents=True)
    (params / "initiatives" / "chatbot.yaml").write_text(
        (REPO / "params" / "initiatives" / "chatbot.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "data").mkdir()
    doc = (REPO / "params" / "monthly.yaml").read_text(encoding="utf-8")
    doc = doc.replace("kernel: null", "kernel: python3")
    for name in ("00_executive_summary", "01_joint_scorecard", "02_initiative_review", "03_roi"):
        doc = doc.replace(f"  - name: {name}\n", f"  - name: {name}\n    path: {REPO / 'notebooks' / name}.ipynb\n")
    doc += f"targets_file: {REPO / 'params' / 'targets.yaml'}\nvalue_model: {REPO / 'params' / 'value.yaml'}\n"
    (params / "monthly.yaml").write_text(doc, encoding="utf-8")
    chosen = config.use_project(config.Project(tmp_path.resolve(), "test"))
    try:
        yield chosen
    finally:
        config.use_project(previous)


def _dry_run(project: config.Project, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["--project", str(project.root), "run", "--dry-run", *args])
    return res.exit_code, res.output


# --------------------------------------------------------------------------- the registry


def test_every_page_of_the_pack_declares_its_needs_in_canonical_names() -> None:
    cfg = load_config(REPO / "params" / "monthly.yaml")
    assert set(PAGES) == {nb.name for nb in cfg.notebooks}
    for page in PAGES.values():
        assert set(page.tables) <= set(TABLES), page.page
        assert len(set(page.tables)) == len(page.tables), page.page
        for metric in page.metrics:
            catalog.get(metric)


def test_every_table_a_pages_metrics_are_computed_from_is_declared_by_the_page() -> None:
    tables_of = {f.name: set(f.tables) for f in FAMILIES} | {"services": {"service_map"}}
    for page in PAGES.values():
        wanted = {t for family in families_of(page.metrics) for t in tables_of[family]}
        assert wanted <= set(page.tables), (page.page, sorted(wanted - set(page.tables)))


def test_the_documentation_shows_the_registry() -> None:
    table = render_table()
    assert "| `03_roi` | `tickets` |" in table and "| `01_joint_scorecard` | none |" in table
    for doc in (REPO / "README.md", REPO / "docs" / "architecture.md"):
        assert table in doc.read_text(encoding="utf-8"), f"{doc} does not hold the table of render_table()"


def test_rows_are_counted_in_the_month_and_customers_up_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    make_warehouse(path, tickets=_tickets("2025-10") + _tickets("2025-11", 2), customers=_customers()).disconnect()
    data = table_data(path, PERIOD, ["tickets", "customers", "orders"])
    assert (data["tickets"].rows_in_period, data["tickets"].first_month, data["tickets"].last_month) == (2, "2025-10", "2025-11")
    assert data["customers"].rows_in_period == 3  # signed up in 2024, still customers
    assert not data["orders"].usable and data["orders"].why_not(PERIOD) == "the warehouse's orders table is empty"
    assert "has no rows in 2025-09 (it has 2025-10 to 2025-11)" in table_data(path, "2025-09", ["tickets"])["tickets"].why_not("2025-09")


def test_a_review_needs_the_table_of_its_primary_metric_and_uses_those_of_its_guardrails() -> None:
    spec = load(REPO / "params" / "initiatives" / "chatbot.yaml", InitiativeSpec)
    needs = initiative_needs(spec)
    assert [n.table for n in needs.required] == ["tickets"]
    assert [n.table for n in needs.optional] == ["customer_surveys", "customers"]
    assert needs.optional[0].shows.startswith("The review's CSAT")


def test_pages_read_what_the_preflight_found_and_the_summary_lists_it_all() -> None:
    found = {
        "unavailable": [
            {"page": "01_joint_scorecard", "left_out": False, "sentence": "CSAT and NPS: not shown, because x."},
            {"page": "02_initiative_review--a", "left_out": True, "sentence": "The review of A: not shown, because y."},
            {"page": "02_initiative_review--b", "left_out": False, "sentence": "The review's CSAT: not shown, because z."},
            {"page": "03_roi", "left_out": True, "sentence": "Cost per ticket: not shown, because w."},
        ]
    }
    assert not_shown(found, "01_joint_scorecard") == ["CSAT and NPS: not shown, because x."]
    assert not_shown({}, "03_roi") == ["Every part of this page has data for the month."]
    assert pack_not_shown(found) == [
        "Initiative review is not published: The review of A: not shown, because y.",
        "What the IT initiatives are worth is not published: Cost per ticket: not shown, because w.",
        "Joint scorecard: CSAT and NPS: not shown, because x.",
        "Initiative review: The review's CSAT: not shown, because z.",
    ]
    assert pack_not_shown({}) == ["Every page of the pack has data for the month."]
    # the summary computes no section of a page left out (initiatives are still recorded by review b)
    assert left_out_sections(found) == {"initiatives", "roi", "portfolio"}


# --------------------------------------------------------------------------- outcomes run --dry-run


def test_dry_run_of_it_only_data_prints_the_plan_and_what_each_page_leaves_out(project: config.Project) -> None:
    make_warehouse(project.warehouse, tickets=_tickets(PERIOD)).disconnect()
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 0, out
    assert f"Pre-flight of {PERIOD}: warehouse {project.warehouse}, kernel python3" in out
    assert "run  01_joint_scorecard" in out and "run  02_initiative_review--chatbot" in out and "run  03_roi" in out
    assert "CSAT and NPS: not shown, because the warehouse's customer_surveys table is empty. " in out
    assert "Add a customer_surveys export to params/sources.yaml." in out
    assert "Revenue, ARPU, order value and customer lifetime value: not shown, because the warehouse's orders table is empty" in out


def test_customer_only_data_leaves_out_the_pages_that_need_tickets_and_keeps_the_scorecard(project: config.Project) -> None:
    make_warehouse(project.warehouse, customers=_customers(), customer_surveys=_surveys(PERIOD)).disconnect()
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 0, out
    assert "run  01_joint_scorecard" in out and "skip 03_roi" in out and "run  00_executive_summary" in out
    assert "because the warehouse's tickets table is empty. Add a tickets export to params/sources.yaml." in out
    # the real run plans the same: the left-out pages start no kernel
    checked = monthly.prepare(project.params_dir / "monthly.yaml", project=project, period=PERIOD)
    assert {t.stem for t in checked.tasks} == {"00_executive_summary", "01_joint_scorecard"}
    assert [p.stem for p in checked.preflight.left_out] == ["02_initiative_review--chatbot", "03_roi"]
    review = checked.preflight.left_out[0].notes
    assert review == (
        "The review of Virtual agent for customer tickets (its primary metric is computed from tickets): not shown, because "
        "the warehouse's tickets table is empty. Add a tickets export to params/sources.yaml.",
    )
    rows = checked.preflight.rows()
    assert {"page": "03_roi", "left_out": True, "sentence": checked.preflight.left_out[1].notes[0]} in rows


def test_no_active_initiative_leaves_out_the_reviews_and_the_roi_page(project: config.Project) -> None:
    make_warehouse(project.warehouse, tickets=_tickets(PERIOD)).disconnect()
    (project.initiatives_dir / "chatbot.yaml").unlink()
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 0, out
    assert "skip 02_initiative_review" in out and "skip 03_roi" in out and "run  01_joint_scorecard" in out
    assert f"no initiative in {project.initiatives_dir} is active. Add one with `outcomes new-initiative <id>`" in out


def test_a_missing_warehouse_exits_2_naming_it_before_any_kernel_starts(project: config.Project) -> None:
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 2
    assert f"warehouse {project.warehouse} does not exist; build it with `outcomes ingest`" in " ".join(out.split())
    with pytest.raises(ParamsError, match="does not exist"):  # the real run stops the same way
        monthly.run_monthly(project.params_dir / "monthly.yaml", period=PERIOD)
    assert not (project.root / "reports").exists()


def test_a_month_without_data_exits_2_naming_the_months_the_data_cover(project: config.Project) -> None:
    make_warehouse(project.warehouse, tickets=_tickets("2025-10") + _tickets(PERIOD), customers=_customers()).disconnect()
    code, out = _dry_run(project, "--period", "1999-01")
    assert code == 2
    text = " ".join(out.split())
    assert f"no page has data to show for 1999-01 in warehouse {project.warehouse}" in text
    assert "The warehouse's data cover: customers 2024-06 to 2024-06; tickets 2025-10 to 2025-11." in text
    assert "--period YYYY-MM" in text


def test_an_unreadable_warehouse_exits_2(project: config.Project) -> None:
    project.warehouse.write_text("not a database", encoding="utf-8")
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 2 and "cannot be opened as a DuckDB database" in out


def test_an_invalid_targets_file_exits_2_naming_it(project: config.Project) -> None:
    make_warehouse(project.warehouse, tickets=_tickets(PERIOD)).disconnect()
    bad = project.params_dir / "targets.yaml"
    bad.write_text("targets:\n  csatt: 0.8\n", encoding="utf-8")
    cfg = project.params_dir / "monthly.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(str(REPO / "params" / "targets.yaml"), str(bad)), encoding="utf-8")
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 2 and "targets.yaml" in out and "csatt" in out


def test_an_unknown_kernel_exits_2_naming_the_installed_ones(project: config.Project) -> None:
    make_warehouse(project.warehouse, tickets=_tickets(PERIOD)).disconnect()
    cfg = project.params_dir / "monthly.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("kernel: python3", "kernel: no-such-kernel"), encoding="utf-8")
    code, out = _dry_run(project, "--period", PERIOD)
    assert code == 2 and "'no-such-kernel', which is not an installed Jupyter kernel" in " ".join(out.split())
