"""Initiatives that share customers and the program holdout, computed on the warehouse and shown on the ROI page."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from canonical_tables import make_warehouse
from test_review import FIXTURE_SPEC, _fixture_rows, _pandas_units
from outcomes import params
from outcomes.errors import ParamsError
from outcomes.experiment import aggregates, overlap, program_holdout
from outcomes.experiment.program import ProgramHoldout, warehouse_holdout, warehouse_overlaps
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report import results as report_results
from outcomes.report.program import Program
from outcomes.value.model import ValueModel

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture

PERIOD = "2025-10"
SECOND = {**FIXTURE_SPEC, "id": "u", "name": "Second test"}


def _rows() -> dict[str, list[dict]]:
    """``test_review``'s 40 customers (seed 3): initiative ``t``, a second ``u`` on customers 10-39, a holdout of 36-39."""
    rows = _fixture_rows()
    on = dt.date(2025, 7, 1)
    rows["assignments"] += [
        {"initiative_id": "u", "unit_id": f"C{i:03d}", "arm": ["control", "v"][i % 2], "assigned_at": on} for i in range(10, 40)
    ]
    rows["assignments"] += [
        {"initiative_id": "hold", "unit_id": f"C{i:03d}", "arm": "holdout", "assigned_at": on} for i in range(36, 40)
    ]
    return rows


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    rows = _rows()
    return rows, make_warehouse(tmp_path_factory.mktemp("program") / "w.duckdb", **rows)


def _units(rows: dict) -> pd.DataFrame:
    """Every customer's tickets in ``t``'s window and each test's arm, recomputed with pandas."""
    spec = InitiativeSpec.model_validate(FIXTURE_SPEC)
    window = aggregates.AnalysisWindow(dt.date(2025, 7, 1), dt.date(2025, 11, 1))
    assert spec.start_date == "2025-07-01"
    units = _pandas_units({**rows, "assignments": [r for r in rows["assignments"] if r["initiative_id"] == "t"]}, window)
    b = pd.DataFrame([r for r in rows["assignments"] if r["initiative_id"] == "u"]).set_index("unit_id")["arm"]
    return units.assign(arm_b=units["customer"].map(b))


def test_a_shared_pair_gives_the_interaction_of_the_unit_level_function(warehouse: tuple[dict, object]) -> None:
    rows, con = warehouse
    specs = [InitiativeSpec.model_validate(s) for s in (FIXTURE_SPEC, SECOND)]
    found = warehouse_overlaps(con, specs, PERIOD)
    assert len(found) == 1 and found[0].initiatives == ("t", "u")
    got = found[0].result
    units = _units(rows)
    # every customer of u is in the table; those outside t have no row, so n_any counts them apart
    expected = overlap(units, "tickets", "arm", "arm_b", ("control", "b"), ("control", "v"), names=("t", "Second test"))
    assert got.metric == "ticket_volume"
    np.testing.assert_allclose([got.estimate, got.se, got.ci_low, got.ci_high, got.p_value],
                               [expected.estimate, expected.se, expected.ci_low, expected.ci_high, expected.p_value], rtol=1e-10)
    assert got.n_both == 26 and got.n_any == 36 + 30 - 26
    row = found[0].to_row()
    assert row["sentence"] == got.sentence() and row["initiatives"] == ["t", "u"]
    assert row["sentence"].startswith("t's effect does not depend on Second test: interaction")
    report_results.check_rows("overlaps", report_results.to_jsonable([row]))


def test_no_shared_customer_shows_nothing(warehouse: tuple[dict, object]) -> None:
    _, con = warehouse
    alone = InitiativeSpec.model_validate({**SECOND, "id": "nobody"})  # no assignment rows
    specs = [InitiativeSpec.model_validate(FIXTURE_SPEC), alone]
    assert warehouse_overlaps(con, specs, PERIOD) == ()
    empty = Program()
    assert empty.views() == [] and empty.overlap_records() == [] and empty.holdout_records() == []


def test_the_holdout_equals_the_unit_level_function(warehouse: tuple[dict, object]) -> None:
    rows, con = warehouse
    holdout = ProgramHoldout(initiative="hold", arm="holdout", start_date="2025-07-01", metrics=["ticket_volume", "churn_rate"])
    got = warehouse_holdout(con, holdout, PERIOD)
    # by hand: customers on the books on 2025-07-01, tickets and churn from then to the end of October
    customers = pd.DataFrame(rows["customers"]).merge(pd.DataFrame(rows["churn"]), on="customer_id", how="left")
    start = pd.Timestamp("2025-07-01")
    books = customers[(pd.to_datetime(customers["signup_date"]) <= start)
                      & (customers["churned_at"].isna() | (pd.to_datetime(customers["churned_at"]) >= start))]
    tk = pd.DataFrame(rows["tickets"])
    tk = tk[(tk["requester_type"] == "customer") & (tk["opened_at"] >= start) & (tk["opened_at"] < pd.Timestamp("2025-11-01"))]
    frame = books.assign(
        tickets=books["customer_id"].map(tk.groupby("requester_id").size()).fillna(0.0),
        churned=(pd.to_datetime(books["churned_at"]) < pd.Timestamp("2025-11-01")).astype(float),
        program=np.where(books["customer_id"].isin([f"C{i:03d}" for i in range(36, 40)]), "holdout", "in"),
    )
    for effect, column, kind in zip(got.effects, ("tickets", "churned"), ("mean", "proportion"), strict=True):
        expected = program_holdout(frame, column, kind=kind)
        np.testing.assert_allclose([effect.estimate_abs, effect.se_abs, effect.p_value],
                                   [expected.estimate_abs, expected.se_abs, expected.p_value], rtol=1e-10)
        assert (effect.n_control, effect.n_treatment) == (expected.n_control, expected.n_treatment)
    assert got.effects[0].label == "tickets per customer (whole program)"
    rows_out = got.rows()
    assert [r["metric"] for r in rows_out] == ["ticket_volume", "churn_rate"]
    report_results.check_rows("program_holdout", report_results.to_jsonable(rows_out))
    page = Program(holdout=got).views()[0].data
    assert "## The program holdout" in page and "tickets per customer \\(whole program\\)" in page


def test_a_holdout_with_no_customer_is_named(warehouse: tuple[dict, object]) -> None:
    _, con = warehouse
    with pytest.raises(ParamsError, match=r"program_holdout: the assignments table has no customer with initiative_id 'hold' and arm 'kept'"):
        warehouse_holdout(con, ProgramHoldout(initiative="hold", arm="kept", start_date="2025-07-01", metrics=["revenue"]), PERIOD)


def test_the_page_shows_each_shared_pair(warehouse: tuple[dict, object]) -> None:
    _, con = warehouse
    specs = [InitiativeSpec.model_validate(s) for s in (FIXTURE_SPEC, SECOND)]
    views = Program(overlaps=warehouse_overlaps(con, specs, PERIOD)).views()
    assert len(views) == 1 and views[0].data.startswith("## Initiatives that share customers")
    assert "effect does not depend on Second test: interaction \\-1" in views[0].data


@pytest.mark.parametrize(
    ("holdout", "message"),
    [
        ({"initiative": "hold", "start_date": "2025-07-01", "metrics": ["nps"]},
         r"metrics \['nps'\] have no per-customer mean or proportion in the warehouse; valid metrics are: ticket_volume, revenue, churn_rate"),
        ({"initiative": "hold", "start_date": "July 2025", "metrics": ["revenue"]},
         r"start_date 'July 2025' is not an ISO date; write it as YYYY-MM-DD"),
        ({"initiativ": "hold", "start_date": "2025-07-01", "metrics": ["revenue"]},
         r"unknown key 'program_holdout.initiativ' \(did you mean 'initiative'\?\); valid keys are: alpha, arm, initiative, metrics, start_date"),
    ],
)
def test_the_value_model_checks_its_holdout(tmp_path: Path, holdout: dict, message: str) -> None:
    doc = params.read_yaml(Path(__file__).resolve().parents[1] / "params" / "value.yaml")
    path = tmp_path / "value.yaml"
    path.write_text(yaml.safe_dump({**doc, "program_holdout": holdout}))
    with pytest.raises(ParamsError, match=message):
        params.load(path, ValueModel)


def test_the_demo_month_has_no_shared_pair_and_no_holdout(demo_month: Path) -> None:
    """The demo randomizes customers in one test only and declares no holdout: the sections are empty."""
    doc = json.loads((demo_month / "results.json").read_text(encoding="utf-8"))
    assert doc["overlaps"] == [] and doc["program_holdout"] == []
    page = (demo_month / "03_roi.html").read_text(encoding="utf-8")
    assert "Initiatives that share customers" not in page and "The program holdout" not in page
