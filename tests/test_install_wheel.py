"""The kit as a new user gets it: a wheel installed in a fresh environment outside the repository.

The wheel is built from a copy of the kit's sources (``pip wheel --no-build-isolation``:
no download), installed without its dependencies into a new virtual environment in a
temporary folder, and given the dependencies of the environment running the tests by a
``.pth`` file read after the environment's own site-packages (that environment's ``.pth``
files are not read, so its editable ``outcomes`` cannot shadow the wheel's; the test
checks which ``outcomes`` is imported). Then, in a folder outside the repository and
through the environment's own ``outcomes`` script: ``init``, a hand-made ServiceNow
export and customer list, ``ingest``, ``kernel install --sys-prefix`` and ``run``; the
published month carries the hand-made data's figures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from outcomes import config
from outcomes.scaffold import bundled

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: Top-level files of the repository a wheel is built from (with lib/ and the bundled folders).
BUILD_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
HEADER = (
    "number,opened_at,resolved_at,caller_id,cmdb_ci,category,priority,contact_type,location,"
    "assignment_group,reassignment_count,made_sla,reopen_count"
)
#: Tickets opened per day of the hand-made export: 4 in January, 6 in February, 9 in March 2024.
OPENED = {"2024-01-15": 4, "2024-02-10": 6, "2024-03-05": 5, "2024-03-31": 4}


def _copy_sources(dest: Path) -> Path:
    """The files a wheel is built from, copied to ``dest`` (the repository stays untouched)."""
    dest.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "lib", dest / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for bundle in bundled.BUNDLES:
        folder = bundled.BUNDLES[bundle][0]
        for relative, source in bundled.collect(bundle, REPO).items():
            (dest / folder / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / folder / relative)
    return dest


def _tickets_csv() -> str:
    rows, n = [HEADER], 0
    for day, count in OPENED.items():
        for i in range(count):
            n += 1
            rows.append(
                f"INC{n:07d},{day} 09:00:00,{day} 15:30:00,C{i % 3 + 1},Web Shop,inquiry,3 - Moderate,Email,"
                "north,Service Desk,0,true,0"
            )
    return "\n".join(rows) + "\n"


def _files(folder: Path) -> set[str]:
    """Files under ``folder`` (bytecode caches left out)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def _page_text(path: Path) -> str:
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", path.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _check_build_tools() -> None:
    """Fail with the fix when the environment cannot build the wheel offline."""
    try:
        tools = (int(version("setuptools").split(".")[0]), version("wheel"))
    except PackageNotFoundError as exc:
        pytest.fail(f"{exc.name} is not installed; the dev extra installs it: pip install -e '.[dev]' (make setup)")
    if tools[0] < 77:
        pytest.fail(f"setuptools {version('setuptools')} cannot build the kit (needs >= 77); run pip install -e '.[dev]'")


def test_a_wheel_installed_outside_the_repository_reports_on_ones_own_data(tmp_path: Path) -> None:
    # build the wheel (no download: setuptools and wheel come from the dev extra)
    _check_build_tools()
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
         str(_copy_sources(tmp_path / "src"))],
        check=True,
    )
    (wheel,) = dist.glob("outcomes-*.whl")

    # a fresh environment: the wheel, and the test environment's packages after its own
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", config.ROOT_ENV)}
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-user")  # no user kernel of the machine may answer
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python, outcomes = venv / "bin" / "python", venv / "bin" / "outcomes"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env=env,
    )
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env,
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_outcomes_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    # the dependencies' data files: nbconvert's page templates
    (venv / "share" / "jupyter").mkdir(parents=True)
    (venv / "share" / "jupyter" / "nbconvert").symlink_to(Path(sys.prefix) / "share" / "jupyter" / "nbconvert")
    imported = subprocess.run([python, "-c", "import outcomes; print(outcomes.__file__)"], env=env,
                              capture_output=True, text=True)
    assert Path(imported.stdout.strip()) == site / "outcomes" / "__init__.py", imported.stderr
    installed = _files(venv)

    def kit(*args: str, cwd: Path) -> str:
        done = subprocess.run([str(outcomes), *args], cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"outcomes {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    # a project of one's own, made from a folder outside the repository
    work = tmp_path / "work"
    work.mkdir()
    kit("init", "acme", cwd=work)
    project = work / "acme"
    assert (project / "notebooks" / "01_joint_scorecard.ipynb").read_bytes() == (
        REPO / "notebooks" / "01_joint_scorecard.ipynb"
    ).read_bytes()
    assert kit("--version", cwd=work).strip() == f"outcomes {version('outcomes')}"
    spec = Path(kit("kernel", "install", "--sys-prefix", cwd=work).strip())
    assert spec == venv / "share" / "jupyter" / "kernels" / config.KERNEL_NAME
    assert json.loads((spec / "kernel.json").read_text())["argv"][0] == str(python)
    (project / "data" / "raw" / "tickets.csv").write_text(_tickets_csv(), encoding="utf-8")
    (project / "data" / "raw" / "customers.csv").write_text(
        "customer_id,segment,region,signup_date\nC1,consumer,north,2023-05-01\nC2,consumer,south,2023-07-01\n"
        "C3,smb,north,2023-09-01\n",
        encoding="utf-8",
    )
    said = kit("ingest", cwd=project)
    assert f"project {project} (from the working directory)" in said and re.search(r"tickets\s*│\s*tickets\s*│\s*19\s*│", said)
    kit("new-initiative", "portal", cwd=project / "notebooks")  # found upwards from a subfolder
    assert (project / "params" / "initiatives" / "portal.yaml").is_file()
    kit("docs", cwd=project)
    assert (project / "docs" / "data-model.md").is_file()

    kit("run", cwd=project)
    month = project / "reports" / "2024-03"
    results = json.loads((month / "results.json").read_text(encoding="utf-8"))
    assert results["period"] == "2024-03"
    volume = {r["metric"]: r["value"] for r in results["scorecard"]}["ticket_volume"]
    assert volume == 9.0
    card = _page_text(month / "01_joint_scorecard.html")
    assert "Ticket volume 9 tickets 6 tickets " in card and "March 2024" in card
    assert "Northwind" not in card and "Northwind" not in _page_text(month / "index.html")
    manifest = json.loads((month / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["context"]["warehouse"] == str(project / "data" / "warehouse.duckdb")
    assert manifest["kernel"] == config.KERNEL_NAME  # init leaves `kernel: null`: the installed `outcomes`
    # nothing was written into the installed kit (the kernel spec went where it was asked)
    assert _files(venv) - installed == {f"share/jupyter/kernels/{config.KERNEL_NAME}/{f}" for f in _files(spec)}
