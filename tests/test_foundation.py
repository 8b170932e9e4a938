"""The kit's shape: layout, one place for dependencies, clean notebooks, a helpful CLI, strict params."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.errors import ParamsError
from outcomes.params import Params, load, validate

REPO = Path(__file__).resolve().parents[1]


def test_layout_has_every_top_level_folder() -> None:
    for name in ["notebooks", "lib/outcomes", "params", "reports", "tests", "docs", "benchmarks"]:
        assert (REPO / name).is_dir(), name
    for name in ["environment.yml", "README.md", "Makefile", "pyproject.toml", ".ci/run"]:
        assert (REPO / name).is_file(), name


def test_environment_yml_installs_the_package_from_pyproject() -> None:
    """environment.yml pins nothing of its own: Python 3.11, pip, and `-e .[dev]`."""
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "python=3.11" in conda and "pip" in conda
    assert pip == ["-e .[dev]"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "dev" in project["project"]["optional-dependencies"]
    assert project["project"]["requires-python"].startswith(">=3.11")


def test_sqlglot_pin_is_explained() -> None:
    """ibis 12 needs sqlglot < 30; the pin and its reason stay together in pyproject.toml."""
    text = (REPO / "pyproject.toml").read_text()
    pin = re.search(r'"sqlglot==([0-9.]+)"', text)
    assert pin, "sqlglot must be pinned exactly"
    before = text[: pin.start()]
    assert "sqlglot 30" in before.split("dependencies = [", 1)[1]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci/run").read_text()
    assert "make test" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_committed_notebooks_carry_no_outputs() -> None:
    notebooks = sorted((REPO / "notebooks").glob("**/*.ipynb"))
    for path in notebooks:
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path.name} cell {i} has outputs; strip them before committing"
                assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    commands = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    assert {"demo", "ingest"} <= set(commands)
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage" in result.output


class _Inner(Params):
    column: str
    kind: str = "mean"


class _Outer(Params):
    period: str
    months: int = 12
    metrics: list[_Inner] = []


class _Register(Params):
    named: dict[str, _Inner] | None = None


def test_unknown_key_names_key_file_and_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("period: '2025-06'\nmonhts: 12\n")
    with pytest.raises(ParamsError) as err:
        load(path, _Outer)
    msg = str(err.value)
    assert str(path) in msg
    assert "unknown key 'monhts'" in msg
    assert "did you mean 'months'" in msg
    assert "valid keys are: metrics, months, period" in msg


def test_unknown_nested_key_lists_the_nested_model_keys() -> None:
    with pytest.raises(ParamsError, match=r"unknown key 'metrics.0.knd'.*valid keys are: column, kind"):
        validate(_Outer, {"period": "2025-06", "metrics": [{"column": "spend", "knd": "mean"}]}, "x.yaml")


def test_unknown_key_under_a_named_entry_lists_the_entry_model_keys() -> None:
    # a mapping of names to models (initiatives by id): the name is skipped, the entry's keys are listed
    with pytest.raises(ParamsError, match=r"unknown key 'named.north.colum' \(did you mean 'column'\?\); valid keys are: column, kind"):
        validate(_Register, {"named": {"north": {"colum": "spend"}}}, "x.yaml")


def test_wrong_type_names_key_and_value() -> None:
    with pytest.raises(ParamsError, match=r"x.yaml: key 'months' has value 'twelve'"):
        validate(_Outer, {"period": "2025-06", "months": "twelve"}, "x.yaml")


def test_params_are_frozen() -> None:
    p = validate(_Outer, {"period": "2025-06"})
    with pytest.raises(Exception):  # noqa: B017 - any refusal to assign will do
        p.months = 3  # type: ignore[misc]


def test_yaml_dates_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("period: 2025-06-01\n")
    assert load(path, _Outer).period == "2025-06-01"


def test_make_report_chains_setup_demo_ingest_and_the_pack() -> None:
    """`make report` runs the steps the test suite runs on the demo data, in order."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    plan = subprocess.run(["make", "-n", "-B", "report"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    steps = [
        "pip install --quiet -e '.[dev]'",
        "ipykernel install --sys-prefix --name outcomes",
        "outcomes demo --scale 1 --seed 42 --out data/raw",
        "outcomes ingest --sources params/sources.yaml",
        "outcomes run --config params/monthly.yaml",
    ]
    positions = [plan.find(step) for step in steps]
    assert all(p >= 0 for p in positions), dict(zip(steps, positions))
    assert positions == sorted(positions)
    from conftest import DEMO_SCALE, DEMO_SEED

    assert (DEMO_SCALE, DEMO_SEED) == (1.0, 42)
