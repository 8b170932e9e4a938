"""A project folder of one's own (`outcomes init`), the demo's folder, the kernel and the command-line conventions.

Every command that writes files is run from a working directory outside the repository
and must write into the project folder (or the folder it is given), never into the
installed package.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from ingest_exports import COLUMNS, GOOD, tickets
from typer.testing import CliRunner

from outcomes import config
from outcomes.cli import app
from outcomes.errors import ParamsError
from outcomes.ingest.load import run_ingest
from outcomes.ingest.sources import load_sources
from outcomes.run.config import load as load_run_config
from outcomes.scaffold import bundled
from outcomes.scaffold.create import init_project
from outcomes.scaffold.demo import MARKER, check_folder
from outcomes.scaffold.kernel import install_kernel
from outcomes.scorecard.card import load_targets
from outcomes.value.model import load_value_model
from outcomes.warehouse.spark_backend import load_settings

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory outside the repository, no OUTCOMES_ROOT; the process's project restored after.

    It also checks that nothing was written into the package's folder meanwhile.
    """
    previous = config.project()
    before = _files(config.PACKAGE_DIR)
    monkeypatch.delenv(config.ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        config.use_project(previous)
    assert _files(config.PACKAGE_DIR) == before


def _invoke(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


@pytest.mark.parametrize("preset", ["servicenow", "jira"])
def test_init_writes_a_project_whose_parameters_the_kit_accepts(elsewhere: Path, preset: str) -> None:
    code, out = _invoke("init", "mine", "--preset", preset)
    assert code == 0, out
    root = elsewhere / "mine"
    assert _files(root) == {
        "README.md",
        *(f"params/{name}.yaml" for name in ("monthly", "engine", "sources", "targets", "value")),
        *(f"notebooks/{name}" for name in bundled.files("notebooks")),
    }
    assert (root / "params" / "initiatives").is_dir() and (root / "data" / "raw").is_dir()
    config.use_project(config.Project(root))
    assert load_targets().targets == {}
    assert set(load_value_model().initiatives) == set()  # a new team's: none of the demo company's
    assert load_settings(root / "params" / "engine.yaml").duckdb is not None
    assert [n.name for n in load_run_config(root / "params" / "monthly.yaml").notebooks] == [
        n.name for n in load_run_config(REPO / "params" / "monthly.yaml").notebooks
    ]
    sources = load_sources(root / "params" / "sources.yaml")
    assert list(sources.sources["tickets"].preset_names) == [preset]
    assert {s.path for s in sources.sources.values()} == {"tickets.csv", "customers.csv"}
    readme = (root / "README.md").read_text(encoding="utf-8")
    for step in ("data/raw", "outcomes sources check", "outcomes ingest", "outcomes run --dry-run", "outcomes run`",
                 "outcomes new-initiative"):
        assert step in readme, step
    assert "{" not in readme  # every placeholder filled


def test_init_refuses_a_non_empty_folder_and_with_force_keeps_what_is_there(elsewhere: Path) -> None:
    (elsewhere / "mine" / "params").mkdir(parents=True)
    (elsewhere / "mine" / "params" / "targets.yaml").write_text("targets: {csat: 0.9}\n", encoding="utf-8")
    code, out = _invoke("init", "mine")
    assert code == 2
    assert re.search(r"mine is not empty; of the files init writes, it already holds params/targets\.yaml; .*--force", out)
    assert not (elsewhere / "mine" / "params" / "value.yaml").exists()
    code, out = _invoke("init", "mine", "--force")
    assert code == 0, out
    assert "kept" in out and "params/targets.yaml (exists; not overwritten)" in out.replace("\n", "")
    assert (elsewhere / "mine" / "params" / "targets.yaml").read_text(encoding="utf-8") == "targets: {csat: 0.9}\n"
    assert (elsewhere / "mine" / "params" / "value.yaml").is_file()
    with pytest.raises(ParamsError, match="preset 'remedy' is not known; valid presets are: servicenow, jira"):
        init_project(elsewhere / "other", "remedy")  # type: ignore[arg-type]
    (elsewhere / "a-file").write_text("x", encoding="utf-8")
    code, out = _invoke("init", "a-file")
    assert code == 2 and "a-file is a file, not a folder; name a new or empty folder" in out


def test_the_kit_carries_the_repositorys_notebooks_and_demo_parameters_unchanged() -> None:
    notebooks = bundled.files("notebooks")
    assert sorted(notebooks) == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert all(path.read_bytes() == (REPO / "notebooks" / name).read_bytes() for name, path in notebooks.items())
    demo = bundled.files("demo")
    assert {"monthly.yaml", "sources.yaml", "initiatives/chatbot.yaml"} <= set(demo)
    assert "case_study.yaml" not in demo
    assert bundled.collect("notebooks", bundled.PACKAGED) == {}  # a source checkout reads them in place


def test_the_notebooks_ask_for_the_outcomes_kernel() -> None:
    for name, path in bundled.files("notebooks").items():
        spec = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
        assert (spec["name"], spec["display_name"]) == (config.KERNEL_NAME, config.KERNEL_DISPLAY_NAME), name


def test_kernel_install_writes_a_spec_running_this_interpreter(tmp_path: Path) -> None:
    code, out = _invoke("kernel", "install", "--prefix", str(tmp_path))
    assert code == 0, out
    spec = json.loads((tmp_path / "share" / "jupyter" / "kernels" / "outcomes" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == "Python (outcomes)"
    code, out = _invoke("kernel", "install", "--user", "--sys-prefix")
    assert code == 2 and "give one of --user, --sys-prefix or --prefix" in out
    assert install_kernel(prefix=tmp_path / "again").name == "outcomes"


def test_demo_refuses_a_folder_holding_a_users_project_or_other_files(elsewhere: Path) -> None:
    init_project(elsewhere / "mine")
    with pytest.raises(ParamsError, match=r"holds a project that is not a demo \(it has params/\).*never to write over your data"):
        check_folder(elsewhere / "mine")
    (elsewhere / "notes").mkdir()
    (elsewhere / "notes" / "todo.txt").write_text("x", encoding="utf-8")
    code, out = _invoke("demo", "notes")
    assert code == 2 and "holds files" in out
    (elsewhere / "old-demo" / "params").mkdir(parents=True)
    (elsewhere / "old-demo" / MARKER).write_text("outcomes demo\n", encoding="utf-8")
    check_folder(elsewhere / "old-demo")  # a demo folder may be made again
    code, out = _invoke("demo", "x", "--out", "y")
    assert code == 2 and "give either a folder" in out


def test_new_initiative_and_docs_write_into_the_project_from_its_subfolder(elsewhere: Path) -> None:
    init_project(elsewhere / "mine")
    (elsewhere / "mine" / "notebooks").mkdir(exist_ok=True)
    os.chdir(elsewhere / "mine" / "notebooks")
    code, out = _invoke("new-initiative", "portal")
    assert code == 0, out
    assert (elsewhere / "mine" / "params" / "initiatives" / "portal.yaml").is_file()
    code, out = _invoke("docs")
    assert code == 0, out
    assert (elsewhere / "mine" / "docs" / "data-model.md").is_file()


def test_version_and_log_levels(elsewhere: Path) -> None:
    code, out = _invoke("--version")
    assert code == 0 and out.strip() == f"outcomes {version('outcomes')}"
    init_project(elsewhere / "mine")
    code, out = _invoke("--project", "mine", "-q", "new-initiative", "a")
    assert code == 0 and "project " not in out  # -q: no notes
    code, out = _invoke("--project", "mine", "new-initiative", "b")
    assert code == 0 and "project " in out
    logger = logging.getLogger("outcomes")
    _invoke("--project", "mine", "-vv", "new-initiative", "c")
    assert logger.getEffectiveLevel() == logging.DEBUG
    logger.setLevel(logging.NOTSET)


def test_ingest_reports_each_file_it_reads(tmp_path: Path) -> None:
    seen: list[tuple[str, str, int]] = []
    cfg = tickets(tmp_path, [",".join(COLUMNS), *GOOD])
    run_ingest(cfg, progress=lambda source, path, rows: seen.append((source, path.name, rows)))
    assert seen == [("tickets", "tickets.csv", 2)]


@pytest.mark.slow
def test_demo_makes_a_ready_folder_of_its_own(elsewhere: Path) -> None:
    code, out = _invoke("demo", "--scale", "0.01", "--seed", "3")
    root = elsewhere / "outcomes-demo"
    assert code == 0, out
    assert (root / MARKER).is_file() and (root / "data" / "raw" / "ground_truth.json").is_file()
    assert (root / "data" / "warehouse.duckdb").is_file()
    assert yaml.safe_load((root / "params" / "initiatives" / "chatbot.yaml").read_text())["id"] == "chatbot"
    assert f"demo ready: cd {root} && outcomes run" in out.replace("\n", "")
    assert "demo: simulated 2025-12" in out  # the progress bar's last month
    code, out = _invoke("demo", "--scale", "0.01", "--seed", "3")  # the same folder again
    assert code == 0, out
