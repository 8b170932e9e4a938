"""An own-data run: the warehouse named by the run's configuration is the one every part reads.

The project folder holds the demo company's warehouse at its default place
(``data/warehouse.duckdb``); the run configuration names another one. The published
``results.json``, pages and ``manifest.json`` carry the second warehouse's figures and
period, never the first's, and every notebook of the real pack is handed the run's settings.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from canonical_tables import make_warehouse
from report_pack import NOTEBOOKS

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.run import monthly as run
from outcomes.run.config import load as load_config
from outcomes.run.context import NOTEBOOK_SETTINGS, RunContext

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _tickets(counts: dict[str, int]) -> list[dict[str, object]]:
    """``counts[day]`` tickets opened on each day ``YYYY-MM-DD``."""
    rows = []
    for day, n in counts.items():
        rows += [{"ticket_id": f"T{day}-{i}", "opened_at": f"{day} 09:00:00", "region": "north"} for i in range(n)]
    return rows


@pytest.fixture()
def project(tmp_path: Path) -> Iterator[config.Project]:
    """A project folder made the process's project for the test (the previous one restored after)."""
    previous = config.project()
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "engine.yaml").write_text("duckdb: {}\n", encoding="utf-8")
    (tmp_path / "params" / "initiatives").mkdir()
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "own").mkdir()
    # the first warehouse, at the project's default place: 7 tickets in June 2024, data up to December 2025
    make_warehouse(tmp_path / "data" / "warehouse.duckdb", tickets=_tickets({"2024-06-12": 7, "2025-12-30": 5})).disconnect()
    # the user's warehouse: 3 tickets in June 2024, data up to the end of June 2024
    make_warehouse(tmp_path / "own" / "warehouse.duckdb", tickets=_tickets({"2024-05-20": 2, "2024-06-30": 3})).disconnect()
    chosen = config.use_project(config.Project(tmp_path.resolve(), "test"))
    try:
        yield chosen
    finally:
        config.use_project(previous)


def test_run_publishes_the_figures_of_the_warehouse_its_config_names(project: config.Project) -> None:
    root = project.root
    cfg_path = root / "params" / "monthly.yaml"
    cfg_path.write_text(
        "kernel: python3\nexecution_timeout: 120\nwarehouse: own/warehouse.duckdb\n"
        f"notebooks:\n  - name: figures\n    path: {NOTEBOOKS / 'figures.ipynb'}\n",
        encoding="utf-8",
    )
    summary = run.run_monthly(cfg_path)  # no period: the last complete month of the named warehouse
    month = root / "reports" / "2024-06"
    assert summary.period == "2024-06" and summary.index == month / "index.html"
    results = json.loads((month / "results.json").read_text(encoding="utf-8"))
    assert results["period"] == "2024-06"
    assert [(r["metric"], r["value"]) for r in results["scorecard"]] == [("ticket_volume", 3.0)]
    page = (month / "figures.html").read_text(encoding="utf-8")
    assert "Tickets opened in 2024-06: <strong>3 tickets</strong>" in page
    assert "7 tickets" not in page and "2025-12" not in page
    manifest = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    own = str(root / "own" / "warehouse.duckdb")
    assert manifest["context"]["warehouse"] == own and manifest["context"]["period"] == "2024-06"
    assert manifest["notebooks"][0]["parameters"]["warehouse"] == own
    assert own in json.dumps(manifest["data"])
    assert str(root / "data" / "warehouse.duckdb") not in json.dumps(manifest)


def test_every_notebook_of_the_pack_is_handed_the_runs_settings(project: config.Project) -> None:
    cfg = load_config(REPO / "params" / "monthly.yaml")
    (project.root / "params" / "initiatives" / "chatbot.yaml").write_text("id: chatbot\nactive: true\n", encoding="utf-8")
    # the repository's notebooks, the test project's warehouse and initiatives
    context = dataclasses.replace(
        RunContext.build(cfg, config.Project(REPO), period="2024-06"),
        warehouse=project.root / "own" / "warehouse.duckdb",
        initiatives_dir=project.root / "params" / "initiatives",
    )
    tasks = run.plan(cfg, context, source="params/monthly.yaml")
    assert {t.stem for t in tasks} == {"00_executive_summary", "01_joint_scorecard", "02_initiative_review--chatbot", "03_roi"}
    values = context.notebook_values()
    for task in tasks:
        declared = run.declared_parameters(task.notebook)
        wanted = {k: v for k, v in values.items() if k in declared}
        assert {"period", "engine", "warehouse", "engine_settings"} <= set(wanted), task.stem
        assert {k: task.parameters[k] for k in wanted} == wanted, task.stem
    assert set(values) == set(NOTEBOOK_SETTINGS)


def test_a_notebook_parameter_may_not_set_a_run_setting(project: config.Project) -> None:
    cfg_path = project.root / "params" / "monthly.yaml"
    cfg_path.write_text(
        f"kernel: python3\nnotebooks:\n  - name: figures\n    path: {NOTEBOOKS / 'figures.ipynb'}\n"
        "    parameters: {warehouse: data/other.duckdb}\n",
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    with pytest.raises(ParamsError, match="sets 'warehouse', a setting every notebook of the run shares; set it with the top-level key 'warehouse'"):
        run.plan(cfg, RunContext.build(cfg, project, period="2024-06"), source=str(cfg_path))


def test_project_is_found_from_the_option_the_environment_or_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine" / "params").mkdir(parents=True)
    (tmp_path / "env").mkdir()
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path / "env"))
    assert config.find_project(tmp_path / "mine") == config.Project((tmp_path / "mine").resolve(), "--project")
    assert config.find_project() == config.Project((tmp_path / "env").resolve(), config.ROOT_ENV)
    monkeypatch.delenv(config.ROOT_ENV)
    assert config.find_project(cwd=tmp_path / "mine").root == (tmp_path / "mine").resolve()
    (tmp_path / "mine" / "notebooks").mkdir()  # a notebook's kernel starts in its folder
    assert config.find_project(cwd=tmp_path / "mine" / "notebooks").root == (tmp_path / "mine").resolve()
    with pytest.raises(ParamsError, match="holds no params/ folder.*--project DIR"):
        config.find_project(cwd=tmp_path / "env")
    with pytest.raises(ParamsError, match="does not exist"):
        config.find_project(tmp_path / "nowhere")


def test_the_command_line_says_which_project_it_uses_and_writes_into_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from outcomes.cli import app

    (tmp_path / "params").mkdir()
    previous = config.project()
    try:
        res = CliRunner().invoke(app, ["--project", str(tmp_path), "new-initiative", "churn-nudge"])
        assert res.exit_code == 0, res.output
        assert f"project {tmp_path.resolve()} (from --project)" in res.output
        assert (tmp_path / "params" / "initiatives" / "churn-nudge.yaml").is_file()
        missing = CliRunner().invoke(app, ["--project", str(tmp_path / "nowhere"), "new-initiative", "x"])
        assert missing.exit_code == 2 and "does not exist" in missing.output
    finally:
        config.use_project(previous)
