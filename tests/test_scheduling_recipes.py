"""The scheduling recipes work as written: cron lines, the GitHub Actions workflow, the Airflow DAG, exit codes."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import jinja2
import pytest
import typer.main
import yaml

from outcomes.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
RECIPES = DOCS / "recipes"
SCHEDULING = DOCS / "scheduling.md"
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
BARE_PERCENT = re.compile(r"(?<!\\)%")


def cron_lines() -> list[tuple[str, str]]:
    """(where, line) for every job line of the crontab recipe and of every ```cron block in docs/."""
    found = []
    texts = [(str(RECIPES / "crontab"), (RECIPES / "crontab").read_text())]
    for page in sorted(DOCS.glob("*.md")):
        texts += [(str(page), block) for block in re.findall(r"```cron\n(.*?)```", page.read_text(), flags=re.S)]
    for where, text in texts:
        for line in text.splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("#") and not re.match(r"^[A-Z_]+=", stripped):
                found.append((where, stripped))
    return found


def cron_problems(line: str) -> list[str]:
    """Why a crontab job line would not run as written (empty when it would)."""
    fields = line.split(None, 5)
    if len(fields) < 6:
        return [f"expected 5 time fields and a command, found {len(fields)} fields"]
    problems = [f"time field {f!r} is not cron syntax" for f in fields[:5] if not CRON_FIELD.match(f)]
    if BARE_PERCENT.search(fields[5]):
        problems.append("bare % in the command: cron turns it into a newline; write \\%")
    return problems


def test_the_checker_catches_the_bare_percent_cron_would_cut() -> None:
    old = 'test -f "reports/$(date -u +%Y-%m)/index.html"'
    assert cron_problems(f"17 6 5 * * {old}") == ["bare % in the command: cron turns it into a newline; write \\%"]
    assert cron_problems("17 6 5 * * date +\\%Y") == []


def test_every_cron_line_in_the_docs_runs_as_written() -> None:
    lines = cron_lines()
    assert len(lines) >= 4  # the recipe's two lines, and the same two shown in scheduling.md
    for where, line in lines:
        assert cron_problems(line) == [], f"{where}: {line}"
        command = line.split(None, 5)[5].replace("\\%", "%")  # what cron hands to /bin/sh
        checked = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
        assert checked.returncode == 0, f"{where}: {line}: {checked.stderr}"


def test_recipes_are_shown_verbatim_in_scheduling_md() -> None:
    doc = SCHEDULING.read_text()
    for name, lang in [("crontab", "cron"), ("outcomes-report.yml", "yaml"), ("airflow_outcomes_dag.py", "python")]:
        assert f"```{lang}\n{(RECIPES / name).read_text()}```" in doc, f"{name} differs from its copy in {SCHEDULING}"


def _options(command: str) -> set[str]:
    group = typer.main.get_command(app)
    return {opt for p in group.commands[command].params for opt in p.opts}


def test_every_outcomes_command_in_the_recipes_exists_with_its_options() -> None:
    group = typer.main.get_command(app)
    texts = [p.read_text() for p in RECIPES.iterdir()] + [SCHEDULING.read_text()]
    command = r"(?:bin/outcomes|^outcomes|`outcomes) ([a-z][a-z-]*)((?: --?[a-z][a-z-]*)*)"  # not the word in prose
    calls = {m for text in texts for m in re.findall(command, text, flags=re.M)}
    used = {name for name, _ in calls}
    assert {"ingest", "run", "status"} <= used
    for name, flags in calls:
        assert name in group.commands, f"`outcomes {name}` is not a command"
        for flag in flags.split():
            assert flag in _options(name), f"`outcomes {name}` has no option {flag}"


def test_github_actions_recipe_installs_ingests_runs_and_uploads_reports() -> None:
    workflow = yaml.safe_load((RECIPES / "outcomes-report.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in triggers
    (schedule,) = triggers["schedule"]
    run_line = next(line for _, line in cron_lines() if "outcomes run" in line)
    assert schedule["cron"].split() == run_line.split()[:5]
    steps = workflow["jobs"]["report"]["steps"]
    commands = [s.get("run", "") for s in steps]
    order = [next(i for i, c in enumerate(commands) if key in c) for key in ("make setup", "outcomes demo", "outcomes ingest", "outcomes run")]
    assert order == sorted(order)
    upload = steps[-1]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["with"]["path"] == "reports/"
    assert upload["if"] == "always()"


def _airflow_stub() -> dict[str, types.ModuleType]:
    """Just enough of Airflow's API to import a DAG file: DAG as a context manager, BashOperator, >>."""
    airflow = types.ModuleType("airflow")
    operators = types.ModuleType("airflow.operators")
    bash = types.ModuleType("airflow.operators.bash")

    class DAG:
        current: DAG | None = None

        def __init__(self, dag_id: str, **kwargs: Any) -> None:
            self.dag_id, self.kwargs, self.tasks = dag_id, kwargs, {}

        def __enter__(self) -> DAG:
            DAG.current = self
            return self

        def __exit__(self, *exc: object) -> None:
            DAG.current = None

    class BashOperator:
        def __init__(self, task_id: str, bash_command: str, **kwargs: Any) -> None:
            self.task_id, self.bash_command, self.kwargs, self.downstream = task_id, bash_command, kwargs, []
            assert DAG.current is not None, "tasks are created inside `with DAG(...)`"
            DAG.current.tasks[task_id] = self

        def __rshift__(self, other: BashOperator) -> BashOperator:
            self.downstream.append(other.task_id)
            return other

    airflow.DAG = DAG
    bash.BashOperator = BashOperator
    airflow.operators = operators
    operators.bash = bash
    return {"airflow": airflow, "airflow.operators": operators, "airflow.operators.bash": bash}


def test_airflow_recipe_is_an_importable_dag_ingest_run_then_check(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, module in _airflow_stub().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("OUTCOMES_ROOT", "/srv/outcomes")
    spec = importlib.util.spec_from_file_location("outcomes_dag_recipe", RECIPES / "airflow_outcomes_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    assert dag.dag_id == "outcomes_monthly_report" and dag.kwargs["schedule"] == "17 6 2 * *" and dag.kwargs["catchup"] is False
    tasks = dag.tasks
    assert list(tasks) == ["ingest", "run", "status_check"]
    assert tasks["ingest"].downstream == ["run"] and tasks["run"].downstream == ["status_check"] and not tasks["status_check"].downstream
    assert tasks["ingest"].bash_command == "cd /srv/outcomes && .venv/bin/outcomes ingest --sources params/sources.yaml"
    assert tasks["status_check"].bash_command == "cd /srv/outcomes && .venv/bin/outcomes status --check"
    # the run on 2 December 06:17 has the data interval starting 2 November: it reports November
    rendered = jinja2.Template(tasks["run"].bash_command).render(data_interval_start=dt.datetime(2025, 11, 2, 6, 17))
    assert rendered == "cd /srv/outcomes && .venv/bin/outcomes run --period 2025-11"
    assert tasks["run"].kwargs["execution_timeout"] == dt.timedelta(hours=3)


def test_exit_codes_under_timeout_are_those_documented() -> None:
    doc = SCHEDULING.read_text()
    limited = subprocess.run(["timeout", "1", "sleep", "5"])
    assert limited.returncode == 124 and "exits **124**" in doc
    # timeout kills its own process group with -k; the shell that cron (or Airflow) runs it in sees 128 + 9
    killed = subprocess.run(["sh", "-c", "timeout -k 1 1 sh -c 'trap \"\" TERM; sleep 5'; echo $?"], capture_output=True, text=True)
    assert killed.stdout.strip() == "137" and "exits **137**" in doc
    for code in ("| 124 |", "| 137 |", "| 130 |"):
        assert code in doc
