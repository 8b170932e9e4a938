"""`outcomes analyze` on a user-brought table, and `outcomes new-initiative`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load
from outcomes.report import results as report_results

pytestmark = pytest.mark.slow

runner = CliRunner()

SPEC = """\
id: email-test
name: E-mail campaign test
hypothesis: E-mails raise two-week spend
design: randomized
data:
  table: {table}
  unit: customer_id
  arm: segment
  control: No E-Mail
metrics:
  - {{column: spend, kind: mean, role: primary}}
  - {{column: conversion, kind: proportion, role: guardrail, margin: 0.01}}
alpha: 0.05
"""


def _table(path: Path) -> Path:
    """Three arms of 400 customers; the Mens arm spends 1.0 more (planted)."""
    rng = np.random.default_rng(11)
    arms = np.repeat(["No E-Mail", "Mens E-Mail", "Womens E-Mail"], 400)
    lift = np.where(arms == "Mens E-Mail", 1.0, 0.0)
    df = pd.DataFrame({
        "customer_id": np.arange(arms.size),
        "segment": arms,
        "spend": rng.gamma(2.0, 1.5, arms.size) + lift,
        "conversion": (rng.random(arms.size) < 0.1).astype(int),
    })
    df.to_csv(path, index=False)
    return path


def test_analyze_user_table_writes_html_and_valid_results(tmp_path: Path) -> None:
    params = tmp_path / "email-test.yaml"
    params.write_text(SPEC.format(table=_table(tmp_path / "email.csv")), encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(params), "--out", str(out), "--period", "2025-12"])
    assert res.exit_code == 0, res.output
    page = out / "email-test.html"
    assert page.is_file() and "Decision: E-mail campaign test" in page.read_text(encoding="utf-8")
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    report_results.validate(doc)
    assert doc["period"] == "2025-12"
    [entry] = doc["initiatives"]
    pairs = sorted((m["arm"], m["metric"]) for m in entry["metrics"])
    assert pairs == [("Mens E-Mail", "conversion"), ("Mens E-Mail", "spend"),
                     ("Womens E-Mail", "conversion"), ("Womens E-Mail", "spend")]
    mens = next(m for m in entry["metrics"] if m["arm"] == "Mens E-Mail" and m["metric"] == "spend")
    assert mens["ci_low"] <= 1.0 <= mens["ci_high"]
    assert mens["seq_ci_low"] < mens["ci_low"] and mens["p_value"] <= mens["p_value_adjusted"]


def test_misspelt_key_names_key_file_and_valid_keys(tmp_path: Path) -> None:
    params = tmp_path / "typo.yaml"
    params.write_text(SPEC.format(table="x.csv").replace("alpha: 0.05", "alpah: 0.05"), encoding="utf-8")
    res = runner.invoke(app, ["analyze", str(params), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "alpah" in text and "typo.yaml" in text and "alpha" in text.replace("alpah", "")
    assert not (tmp_path / "out").exists()  # refused before any kernel started


def test_a_wrong_period_gets_the_one_period_message(tmp_path: Path) -> None:
    params = tmp_path / "email-test.yaml"
    params.write_text(SPEC.format(table="x.csv"), encoding="utf-8")
    res = runner.invoke(app, ["analyze", str(params), "--out", str(tmp_path / "out"), "--period", "2025/12"])
    assert res.exit_code == 2
    assert "period '2025/12' is not a month; write it as YYYY-MM, e.g. 2025-12" in " ".join(res.output.split())
    assert not (tmp_path / "out").exists()  # refused before any kernel started


def test_new_initiative_writes_a_template_and_never_overwrites(tmp_path: Path) -> None:
    res = runner.invoke(app, ["new-initiative", "churn-nudge", "--folder", str(tmp_path)])
    assert res.exit_code == 0, res.output
    path = tmp_path / "churn-nudge.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("#") > 20  # commented for the analyst
    filled = text.replace("data/raw/churn-nudge.csv", str(tmp_path / "nudge.csv")).replace("active: false", "active: true")
    path.write_text(filled, encoding="utf-8")
    spec = load(path, InitiativeSpec)
    assert spec.id == "churn-nudge" and spec.active and spec.primary.column == "spend"
    again = runner.invoke(app, ["new-initiative", "churn-nudge", "--folder", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
    assert path.read_text(encoding="utf-8") == filled


@pytest.mark.parametrize("bad", ["Churn", "_x", "a b", "../x"])
def test_new_initiative_refuses_invalid_ids(tmp_path: Path, bad: str) -> None:
    res = runner.invoke(app, ["new-initiative", bad, "--folder", str(tmp_path)])
    assert res.exit_code == 2 and "not valid" in " ".join(res.output.split())
    assert not list(tmp_path.iterdir())


def test_analyze_without_period_labels_results_with_the_datas_last_month(demo_warehouse: Path, tmp_path: Path) -> None:
    import duckdb

    from outcomes.run.monthly import last_complete_month

    con = duckdb.connect(str(demo_warehouse), read_only=True)
    newest = max(
        con.execute(f"SELECT max({c}) FROM {t}").fetchone()[0]
        for t, c in (("tickets", "opened_at"), ("orders", "ordered_at"), ("deployments", "deployed_at"))
    )
    con.close()
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", "params/initiatives/faster-releases.yaml", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["period"] == f"{newest:%Y-%m}" != last_complete_month()
    assert [i["id"] for i in doc["initiatives"]] == ["faster-releases"]


def test_the_analysed_month_of_a_table_is_its_latest_period(tmp_path: Path) -> None:
    from outcomes.report.review import analysed_month

    table = tmp_path / "panel.csv"
    pd.DataFrame({"region": ["north", "south"] * 3, "month": ["2024-01-01"] * 2 + ["2024-02-01"] * 2 + ["2024-03-01"] * 2,
                  "spend": np.arange(6.0)}).to_csv(table, index=False)
    spec = InitiativeSpec.model_validate({
        "id": "t", "design": "its", "start_date": "2024-02-01",
        "data": {"table": str(table), "unit": "region", "time": "month"},
        "metrics": [{"column": "spend", "role": "primary"}],
    })
    assert analysed_month(spec) == "2024-03"
    without_time = spec.model_copy(update={"data": spec.data.model_copy(update={"time": None})})
    assert analysed_month(without_time) is None


def test_analyze_reads_the_initiative_file_once_in_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from outcomes import params
    from outcomes.run import analyze as run_analyze

    params_file = tmp_path / "email-test.yaml"
    params_file.write_text(SPEC.format(table=_table(tmp_path / "email.csv")), encoding="utf-8")
    read: list[Path] = []
    real = params.read_yaml
    monkeypatch.setattr(params, "read_yaml", lambda p: read.append(Path(p)) or real(p))
    monkeypatch.setattr(run_analyze, "execute_and_render", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    with pytest.raises(RuntimeError, match="stop"):
        runner.invoke(app, ["analyze", str(params_file), "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert read == [params_file]
