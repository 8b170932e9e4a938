"""What may leave the kit: personal data, published months, the arms of a test, refused writes.

Every check here runs before a kernel starts, or around a notebook run replaced by a
stand-in that writes what a notebook could write, so the module takes seconds.
"""

from __future__ import annotations

import errno
import functools
import json
from pathlib import Path

import duckdb
import ibis
import pytest
from report_pack import NOTEBOOKS, write_config
from typer.testing import CliRunner

from outcomes import config
from outcomes.cli import app
from outcomes.errors import ParamsError, PublishError
from outcomes.experiment.arms import arm_problem, arms_found
from outcomes.experiment.results import ARM_SETUP, Condition
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load
from outcomes.report.review import review
from outcomes.run import analyze as run_analyze
from outcomes.run import html as report_html
from outcomes.run import monthly, pii, publish
from outcomes.run.config import load as load_config
from outcomes.run.context import RunContext
from outcomes.run.monthly import NotebookRun

runner = CliRunner()


@pytest.fixture(autouse=True)
def _keep_the_project(monkeypatch: pytest.MonkeyPatch):
    """``--project`` chooses the project of the process: give the next test the one it had.

    The pages here have no charts, so the Vega bundle (seconds to load) is left out of the scan.
    """
    monkeypatch.setattr(report_html, "vega_bundle", functools.lru_cache(maxsize=1)(lambda: ""))
    before = config.project()
    yield
    config.use_project(before)


IDS = [f"C{i:03d}" for i in range(1, 41)]  # short ids: four characters


def _project(tmp_path: Path) -> Path:
    """A project folder whose name holds an apostrophe, with a warehouse of customers and assignments."""
    root = tmp_path / "o'brien's project"
    (root / "params" / "initiatives").mkdir(parents=True)
    (root / "data").mkdir()
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    con.execute("CREATE TABLE customers (customer_id VARCHAR, name VARCHAR, email VARCHAR)")
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(c, f"Name {c}", f"{c.lower()}@example.com") for c in IDS])
    con.execute("CREATE TABLE assignments (initiative_id VARCHAR, unit_id VARCHAR, arm VARCHAR, assigned_at DATE)")
    con.executemany("INSERT INTO assignments VALUES ('portal', ?, ?, DATE '2025-01-01')",
                    [(c, "control" if i % 2 else "portal") for i, c in enumerate(IDS)])
    con.close()
    return root


def _initiative(root: Path, control: str = "control", arms: tuple[str, ...] = ("control", "treatment")) -> Path:
    table = root / "data" / "test.csv"
    rows = "\n".join(f"{i},{arms[i % len(arms)]},{i % 7}" for i in range(60))
    table.write_text("customer_id,arm,spend\n" + rows + "\n", encoding="utf-8")
    path = root / "params" / "initiatives" / "test.yaml"
    path.write_text(
        f"id: test\nactive: true\ndata: {{table: \"{table.as_posix()}\", unit: customer_id, arm: arm, control: {control}}}\n"
        "metrics:\n  - {column: spend, kind: mean, role: primary}\n",
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- personal data


def test_every_pii_column_of_the_data_model_is_scanned() -> None:
    assert {"customers.customer_id", "customers.name", "customers.email", "tickets.requester_id",
            "employee_survey.employee_id", "assignments.unit_id", "orders.customer_id"} <= set(pii.PII_COLUMNS)


def test_short_ids_are_found_as_whole_tokens_in_a_project_with_an_apostrophe(tmp_path: Path) -> None:
    root = _project(tmp_path)
    leak, clean = tmp_path / "leak.html", tmp_path / "clean.html"
    leak.write_text("<table>" + "".join(f"<tr><td>{c}</td></tr>" for c in IDS) + "</table>", encoding="utf-8")
    clean.write_text("<p>C0012, ABC001, XC001 and 2025: 40 customers, no id.</p>", encoding="utf-8")
    hits = pii.scan([leak, clean], warehouse=root / "data" / "warehouse.duckdb", columns=[], deny_file=None, min_length=5)
    by_source = {h.source: h.count for h in hits if h.file == "leak.html"}
    assert by_source["customers.customer_id"] == 40 and by_source["assignments.unit_id"] == 40
    assert not [h for h in hits if h.file == "clean.html"]


def test_the_monthly_checks_stop_customer_ids(tmp_path: Path) -> None:
    root = _project(tmp_path)
    cfg_path = write_config(root, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}",
                            warehouse=(root / "data" / "warehouse.duckdb").as_posix())
    cfg = load_config(cfg_path)
    context = RunContext.build(cfg, config.Project(root), period="2025-11", engine="duckdb")
    build = tmp_path / "build"
    build.mkdir()
    (build / "page.html").write_text("<p>Churned: " + ", ".join(IDS) + ".</p>", encoding="utf-8")
    problems = monthly._checks(build, cfg, context)
    assert "personal data found: page.html: 40 value(s) from customers.customer_id" in problems
    # the hashes are kept beside the warehouse for the next month's run, and found again from there
    assert list((root / "data" / "cache" / "history" / pii.SETS_DIR / "customers.customer_id").glob("*.parquet"))
    assert monthly._checks(build, cfg, context) == problems


def _stand_in(page_text: str):
    """A notebook run that writes ``page_text`` as its page (what a careless cell could print)."""

    def execute_and_render(notebook, values, out, *, stem, options):
        out.mkdir(parents=True, exist_ok=True)
        run = NotebookRun(stem, notebook, dict(values), out / f"{stem}.ipynb")
        run.ipynb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
        run.html = out / f"{stem}.html"
        run.html.write_text(page_text, encoding="utf-8")
        return run

    return execute_and_render


def test_analyze_removes_a_page_with_personal_data_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    params = _initiative(root)
    monkeypatch.setattr(run_analyze, "execute_and_render", _stand_in("<p>Top spender: Name C007 (C007).</p>"))
    out = root / "reports" / "analyze" / "test"
    res = runner.invoke(app, ["--project", str(root), "analyze", str(params), "--out", str(out)])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "personal data found" in text and "test.html: 1 value(s) from customers.customer_id" in text
    assert "test.html: 1 value(s) from customers.name" in text
    assert not list(out.iterdir())  # page, notebook and results.json removed
    monkeypatch.setattr(run_analyze, "execute_and_render", _stand_in("<p>Spend rose by 3.2 per customer.</p>"))
    ok = runner.invoke(app, ["--project", str(root), "analyze", str(params), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert {p.name for p in out.iterdir()} == {"test.html", "test.ipynb", "results.json"}


# --------------------------------------------------------------------------- published months


@pytest.mark.parametrize("where", ["reports/2025-11", "reports/2025-11/sub", "reports", "reports/case-study"])
def test_analyze_refuses_an_out_folder_inside_a_published_report(tmp_path: Path, where: str) -> None:
    root = _project(tmp_path)
    params = _initiative(root)
    for month in ("2025-11", "case-study"):
        (root / "reports" / month).mkdir(parents=True)
        (root / "reports" / month / "manifest.json").write_text("{}", encoding="utf-8")
        (root / "reports" / month / "results.json").write_text('{"published": true}', encoding="utf-8")
    res = runner.invoke(app, ["--project", str(root), "analyze", str(params), "--out", where])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "would overwrite published results" in text and str(root / "reports" / "analyze" / "test") in text
    assert (root / "reports" / "2025-11" / "results.json").read_text(encoding="utf-8") == '{"published": true}'
    run_analyze.check_out_folder(root / "reports" / "analyze" / "test", root / "reports", "test")  # the default is fine


# --------------------------------------------------------------------------- arms


@pytest.mark.parametrize(
    ("control", "arms", "expected"),
    [
        ("ctrl", ("control", "treatment"), "data.control is 'ctrl', but the arm column 'arm' of"),
        ("control", ("control",), "data.arm 'arm' of"),
    ],
)
def test_analyze_refuses_arms_that_do_not_fit_before_a_kernel_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, control: str, arms: tuple[str, ...], expected: str
) -> None:
    root = _project(tmp_path)
    params = _initiative(root, control, arms)

    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel started")

    monkeypatch.setattr(run_analyze, "execute_and_render", no_kernel)
    res = runner.invoke(app, ["--project", str(root), "analyze", str(params)])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert str(params) in text and expected in text and "'control'" in text


def test_the_review_shows_the_same_sentence_as_a_stop(tmp_path: Path) -> None:
    root = _project(tmp_path)
    params = _initiative(root, "ctrl")
    spec = load(params, InitiativeSpec)
    sentence = arm_problem(spec, ["control", "treatment"])
    result = review(spec).result
    assert result.decision.action == "stop" and ARM_SETUP in result.decision.codes
    assert result.conditions[0] == Condition(ARM_SETUP, sentence, "stop")
    assert result.decision.reason.startswith(sentence[:1].upper() + sentence[1:].rstrip(". "))
    single = review(load(_initiative(root, "control", ("control",)), InitiativeSpec)).result
    assert single.decision.action == "stop" and "holds a single arm value ('control')" in single.decision.reason
    con = ibis.duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    warehouse_spec = spec.model_copy(update={"id": "portal", "data": spec.data.model_copy(update={"table": None, "unit": "customer"})})
    assert arms_found(warehouse_spec, con) == ["control", "portal"]
    sentence = arm_problem(warehouse_spec, arms_found(warehouse_spec, con))
    assert "of the warehouse's assignments table (initiative_id 'portal')" in sentence
    assert "the arm values found are 'control', 'portal'" in sentence
    con.disconnect()


def test_the_monthly_run_refuses_a_control_absent_from_the_data_before_a_kernel_starts(tmp_path: Path) -> None:
    root = _project(tmp_path)
    params = _initiative(root, "ctrl")
    cfg = write_config(root, f"- name: review\n  path: {NOTEBOOKS / 'initiative.ipynb'}\n  per_initiative: true",
                       initiatives_dir=params.parent.as_posix())
    with pytest.raises(ParamsError) as err:
        monthly.prepare(cfg, project=config.Project(root), period="2025-11")
    text = str(err.value)
    assert text.startswith(f"{params}: data.control is 'ctrl'") and "'control', 'treatment'" in text


# --------------------------------------------------------------------------- refused writes


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC])
def test_a_refused_write_of_the_analysis_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    root = _project(tmp_path)
    params = _initiative(root)
    out = root / "reports" / "analyze" / "test"
    monkeypatch.setattr(run_analyze, "execute_and_render", _stand_in("<p>fine</p>"))

    def refuse(path, runs, period):
        raise OSError(code, "refused", str(path))

    monkeypatch.setattr(run_analyze, "write_results", refuse)
    res = runner.invoke(app, ["--project", str(root), "analyze", str(params), "--out", str(out)])
    assert res.exit_code == 2 and res.exception is not None and not isinstance(res.exception, OSError), res.output
    text = " ".join(res.output.split())
    assert f"cannot write {out / 'results.json'}" in text and "Traceback" not in text


def _published_run(tmp_path: Path) -> tuple[Path, Path]:
    cfg = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}")
    month = tmp_path / "reports" / "2025-11"
    month.mkdir(parents=True)
    (month / "index.html").write_text("published", encoding="utf-8")
    return cfg, month


def test_a_full_disk_while_building_the_month_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, month = _published_run(tmp_path)

    def full(run_plan, build, console):
        raise OSError(errno.ENOSPC, "No space left on device", str(build / "ok.ipynb"))

    monkeypatch.setattr(monthly, "_execute_all", full)
    res = runner.invoke(app, ["run", "--config", str(cfg), "--period", "2025-11"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "cannot write" in text and "ok.ipynb" in text and "the disk is full" in text
    assert (month / "index.html").read_text(encoding="utf-8") == "published"


def test_a_read_only_reports_folder_while_publishing_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, month = _published_run(tmp_path)
    monkeypatch.setattr(monthly, "_execute_all", lambda run_plan, build, console: ([], []))
    monkeypatch.setattr(monthly, "_assemble", lambda build, run_plan, runs: [])

    def read_only(build, target):
        raise OSError(errno.EROFS, "Read-only file system", str(target))

    monkeypatch.setattr(publish, "swap_in", read_only)
    with pytest.raises(PublishError, match=r"cannot write .*2025-11 while building the report of 2025-11.*read-only"):
        monthly.run_monthly(cfg, period="2025-11")
    assert (month / "index.html").read_text(encoding="utf-8") == "published"


def test_a_full_disk_while_writing_a_notebook_stops_the_run_instead_of_failing_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(notebook, output, parameters, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(output))

    monkeypatch.setattr(monthly.nbexec, "execute", full)
    with pytest.raises(PublishError, match=r"cannot write .*ok\.ipynb while writing ok into .*the disk is full"):
        monthly.execute_and_render(NOTEBOOKS / "ok.ipynb", {}, tmp_path / "build", options=monthly.ExecutionOptions("python3"))


def test_ingest_works_in_a_project_folder_with_an_apostrophe(tmp_path: Path) -> None:
    from ingest_exports import GOOD, HEADER, query, rejects, tickets

    from outcomes.ingest.load import run_ingest

    root = tmp_path / "o'brien's exports"
    root.mkdir()
    summary = run_ingest(tickets(root, [HEADER, *GOOD, "T3,2024-13-40 10:00,,customer,C2,email,high,phone"]))
    assert query(root, "SELECT count(*) FROM tickets") == [(2,)]
    assert [r[3] for r in rejects(root)] == ["unparseable_timestamp"]
    assert (root / "rejects" / "tickets.csv").is_file() and summary is not None


def test_phrases_are_every_run_of_one_to_four_words_lower_cased() -> None:
    found = pii.phrases("Customer Anna  Berg-Lund churned. 'C001' left")
    words = ["customer", "anna", "berg-lund", "churned", "c001", "left"]
    expected = {" ".join(words[i : i + n]) for n in range(1, 5) for i in range(len(words) - n + 1)}
    assert found == expected
    assert "customer anna berg-lund churned c001" not in found  # five words: longer than MAX_WORDS
    assert pii.phrases("") == set() and pii.phrases("one") == {"one"}
