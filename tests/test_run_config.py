"""Checks that happen before any notebook runs: the run's YAML and every notebook parameter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from report_pack import NOTEBOOKS, XSS, write_config, write_initiatives

from outcomes.run import monthly as run
from outcomes.errors import ParamsError
from outcomes import config
from outcomes.run.config import load as load_config
from outcomes.run.context import RunContext

REPO = Path(__file__).resolve().parents[1]


def plan(cfg_path: Path) -> list[run.Task]:
    cfg = load_config(cfg_path)
    context = RunContext.build(cfg, config.project(), period="2025-11", engine="duckdb")
    return run.plan(cfg, context, source=str(cfg_path))


def test_monthly_yaml_of_the_repo_is_valid_and_orders_the_summary_last() -> None:
    cfg = load_config(REPO / "params" / "monthly.yaml")
    names = [nb.name for nb in cfg.notebooks]
    assert set(names) == {"00_executive_summary", "01_joint_scorecard", "02_initiative_review", "03_roi"}
    summary = next(nb for nb in cfg.notebooks if nb.name == "00_executive_summary")
    assert set(summary.after) == set(names) - {"00_executive_summary"}
    assert next(nb for nb in cfg.notebooks if nb.name == "02_initiative_review").per_initiative


def test_unknown_key_names_the_file_the_key_and_the_valid_keys(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}\n  per_initiatve: true")
    with pytest.raises(ParamsError) as info:
        load_config(cfg)
    msg = str(info.value)
    assert str(cfg) in msg and "unknown key 'notebooks.0.per_initiatve'" in msg
    assert "did you mean 'per_initiative'?" in msg and "valid keys are: after, execution_timeout" in msg


def test_wrong_type_in_the_run_config_names_the_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}", execution_timeout="soon")
    with pytest.raises(ParamsError, match=r"key 'execution_timeout' has value 'soon'"):
        load_config(cfg)


def test_unknown_notebook_parameter_names_the_notebook_and_its_parameters(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"- name: initiative\n  path: {NOTEBOOKS / 'initiative.ipynb'}\n  parameters: {{month: 3}}")
    with pytest.raises(ParamsError) as info:
        plan(cfg)
    msg = str(info.value)
    assert "unknown parameter 'month'" in msg and "initiative.ipynb" in msg and "(did you mean 'months'?)" in msg
    assert "declares: initiative, months, note, share" in msg and str(cfg) in msg


def test_wrong_parameter_type_is_refused_against_the_parameters_cell(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"- name: initiative\n  path: {NOTEBOOKS / 'initiative.ipynb'}\n  parameters: {{months: three}}")
    with pytest.raises(ParamsError, match=r"parameter 'months' has value 'three' \(str\) but .*initiative.ipynb declares it as int"):
        plan(cfg)
    ok = write_config(tmp_path, f"- name: initiative\n  path: {NOTEBOOKS / 'initiative.ipynb'}\n  parameters: {{share: 1, months: 2}}")
    assert plan(ok)[0].parameters == {"share": 1, "months": 2}  # an int is a valid float


def test_run_wide_parameters_go_only_to_notebooks_declaring_them(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}\n- name: initiative\n  path: {NOTEBOOKS / 'initiative.ipynb'}",
        parameters="{note: hello}",
    )
    by_name = {t.stem: t.parameters for t in plan(cfg)}
    assert by_name == {"ok": {"period": "2025-11"}, "initiative": {"note": "hello"}}
    typo = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}", parameters="{nte: hello}")
    with pytest.raises(ParamsError, match=r"run-wide parameters \['nte'\] are declared by no notebook"):
        plan(typo)


def test_missing_notebook_is_an_error_unless_optional(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ipynb"
    cfg = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}\n- name: nope\n  path: {missing}")
    with pytest.raises(ParamsError, match=rf"notebooks\[1\] \(nope\): notebook {missing} not found.*optional: true"):
        plan(cfg)
    optional = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}\n- name: nope\n  path: {missing}\n  optional: true")
    assert [t.stem for t in plan(optional)] == ["ok"]


def test_after_must_name_pack_notebooks_without_cycles(tmp_path: Path) -> None:
    ok = f"path: {NOTEBOOKS / 'ok.ipynb'}"
    cfg = write_config(tmp_path, f"- name: a\n  {ok}\n  after: [b]\n- name: b\n  {ok}\n  after: [a]")
    with pytest.raises(ParamsError, match="cycle: a -> b -> a"):
        load_config(cfg)
    cfg = write_config(tmp_path, f"- name: a\n  {ok}\n  after: [summry]")
    with pytest.raises(ParamsError, match="'after' names \\['summry'\\].*valid names are: a"):
        load_config(cfg)


def test_per_initiative_expands_over_active_initiatives_only(tmp_path: Path) -> None:
    write_initiatives(tmp_path)
    cfg = write_config(tmp_path, f"- name: review\n  path: {NOTEBOOKS / 'initiative.ipynb'}\n  per_initiative: true")
    assert run.active_initiatives(config.resolve(load_config(cfg).initiatives_dir)) == sorted(["portal", XSS])
    tasks = plan(cfg)
    assert {t.initiative: t.parameters for t in tasks} == {"portal": {"initiative": "portal"}, XSS: {"initiative": XSS}}
    assert tasks[0].stem.startswith("review--script-alert-1-script-") and tasks[1].stem == "review--portal"
    wrong = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}\n  per_initiative: true")
    with pytest.raises(ParamsError, match="per_initiative needs a parameter 'initiative'.*declares: period"):
        plan(wrong)


def test_unknown_kernel_names_the_installed_ones() -> None:
    with pytest.raises(ParamsError, match="not an installed Jupyter kernel; installed kernels are: .*python3"):
        run.check_kernel("no-such-kernel", "monthly.yaml")


def test_default_period_is_the_last_complete_month_in_utc() -> None:
    assert run.last_complete_month(dt.datetime(2026, 1, 15, tzinfo=dt.UTC)) == "2025-12"
    assert run.last_complete_month(dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == "2026-01"
    with pytest.raises(ParamsError, match="write it as YYYY-MM"):
        run.run_monthly(Path("monthly.yaml"), period="2025-13")


@pytest.mark.parametrize("period", ["2025-13", "25-12", "2025/12", ""])
def test_a_wrong_period_gets_the_one_message_from_the_run_and_the_cli(tmp_path: Path, period: str) -> None:
    from typer.testing import CliRunner

    from outcomes.cli import app
    from outcomes.periods import Month

    with pytest.raises(ParamsError) as parsed:
        Month.parse(period)
    message = str(parsed.value)
    assert message == f"period {period!r} is not a month; write it as YYYY-MM, e.g. 2025-12"
    cfg = write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}")
    with pytest.raises(ParamsError) as ran:
        run.run_monthly(cfg, period=period)
    assert str(ran.value) == message
    result = CliRunner().invoke(app, ["run", "--config", str(cfg), "--period", period])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "reports").exists(), "nothing is built for a wrong period"


def test_a_wrong_period_in_the_parameters_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    ok = f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}"
    cfg = write_config(tmp_path, ok, parameters='{period: "2025-13"}')
    with pytest.raises(ParamsError, match=r"monthly.yaml: parameters: period '2025-13' is not a month; write it as YYYY-MM"):
        load_config(cfg)
    cfg = write_config(tmp_path, ok + '\n  parameters: {period: "2025/12"}')
    with pytest.raises(ParamsError, match=r"notebook 'ok' parameters: period '2025/12' is not a month"):
        load_config(cfg)
    assert load_config(write_config(tmp_path, ok, parameters='{period: "2025-12"}')).parameters == {"period": "2025-12"}


def test_default_period_falls_back_to_the_last_complete_month_of_the_data(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE tickets (opened_at TIMESTAMP); CREATE TABLE orders (ordered_at TIMESTAMP)")
    con.execute("INSERT INTO tickets VALUES ('2025-12-31 22:00'); INSERT INTO orders VALUES ('2025-11-03')")
    con.close()
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert run.last_data_month(path) == "2025-12"
    assert run.default_period(now, path) == "2025-12"
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM tickets; INSERT INTO tickets VALUES ('2025-12-15 08:00')")
    con.close()
    assert run.default_period(now, path) == "2025-11", "a month the data only half covers is not complete"
    assert run.default_period(dt.datetime(2025, 12, 2, tzinfo=dt.UTC), path) == "2025-11"
    assert run.default_period(now, tmp_path / "missing.duckdb") == "2026-10"
