"""The library parts behind the e-mail and customer-value case studies.

* ``data.unit: null``: a table with one row per unit and no id column gives exactly the
  result of the same table with the row number as id; designs that need ids refuse it.
* Arm levels and the CUPED read-out against pandas on the committed Hillstrom excerpt.
* Campaign money: net value and ROI are linear in the lift, so its interval carries over.
* Findings rows follow the schema; the published-parameter table flags what lies outside.
* The hold-out check on purchases simulated from a BG/NBD with known parameters: the
  forecast of hold-out purchases matches what the simulation produced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.testing import assert_allclose

from outcomes import config
from outcomes.casestudy import clv
from outcomes.casestudy import clv_holdout
from outcomes.casestudy import findings
from outcomes.errors import ParamsError
from outcomes.experiment import InitiativeSpec, analyze_table, read_table
from outcomes.casestudy import readout
from outcomes.report import results
from outcomes.casestudy.campaign import campaign_roi

ROOT = Path(__file__).resolve().parents[1]
EXCERPT_DIR = "tests/data/case_study/hillstrom_email_experiment"
SPEC = "params/initiatives/email-test.yaml"


@pytest.fixture(scope="module")
def spec() -> InitiativeSpec:
    return readout.spec_with_table(SPEC, EXCERPT_DIR)


@pytest.fixture(scope="module")
def table(spec: InitiativeSpec) -> pd.DataFrame:
    return read_table(spec)


def test_the_spec_reads_the_file_as_published_without_an_id_column(spec: InitiativeSpec, table: pd.DataFrame) -> None:
    assert spec.data.unit is None and spec.data.table == f"{EXCERPT_DIR}/hillstrom.csv.gz"
    assert list(table.columns)[:3] == ["recency", "history_segment", "history"] and len(table) == 3000


def test_unit_null_equals_the_row_number_as_id(spec: InitiativeSpec, table: pd.DataFrame) -> None:
    plain = analyze_table(table, spec)
    with_id = table.assign(row=np.arange(1, len(table) + 1))
    named = analyze_table(with_id, spec.model_copy(update={"data": spec.data.model_copy(update={"unit": "row"})}))
    assert plain.arm_sizes == named.arm_sizes == table["segment"].value_counts().to_dict()
    assert [e.to_dict() for e in plain.effects] == [e.to_dict() for e in named.effects]


def test_unit_null_needs_a_randomized_design_on_a_table() -> None:
    base = {"id": "x", "metrics": [{"column": "y", "role": "primary"}]}
    with pytest.raises(ValueError, match="data.unit: null .* needs a randomized design"):
        InitiativeSpec.model_validate({**base, "design": "did", "data": {"table": "t.csv", "unit": None, "time": "m"}})
    with pytest.raises(ValueError, match="without data.table"):
        InitiativeSpec.model_validate({**base, "data": {"unit": None, "arm": "a", "control": "c"}})


def test_arm_levels_match_pandas(spec: InitiativeSpec, table: pd.DataFrame) -> None:
    levels = readout.arm_levels_frame(table, spec).set_index("arm")
    expected = table.groupby("segment")[["spend", "visit", "conversion"]].mean()
    assert levels.index[0] == "No E-Mail"
    assert levels["units"].to_dict() == table["segment"].value_counts().to_dict()
    labels = {m.column: m.label for m in spec.metrics}
    for column in ("spend", "visit", "conversion"):
        assert_allclose(levels.loc[expected.index, labels[column]], expected[column], rtol=1e-12)
    assert "outcomes-table" in readout.arm_levels(table, spec).data


def test_cuped_frame_reports_the_primary_comparisons(spec: InitiativeSpec, table: pd.DataFrame) -> None:
    result = analyze_table(table, spec)
    frame = readout.cuped_frame(result)
    assert set(frame["arm"]) == {"Mens E-Mail", "Womens E-Mail"}
    assert (frame["method"] == "welch+cuped").all()
    # history barely predicts two-week spend: CUPED removes almost nothing
    assert ((frame["variance_reduction"] >= 0) & (frame["variance_reduction"] < 0.01)).all()


def test_campaign_roi_is_linear_in_the_lift(spec: InitiativeSpec, table: pd.DataFrame) -> None:
    effect = analyze_table(table, spec).effect("spend", "Mens E-Mail")
    roi = campaign_roi(effect, cost_per_unit=0.01, margin=0.3, currency="USD")
    assert_allclose(roi.net_per_unit, [x * 0.3 - 0.01 for x in (effect.estimate_abs, effect.ci_low, effect.ci_high)])
    assert_allclose(roi.net_per_batch, [1000 * x for x in roi.net_per_unit])
    assert_allclose(roi.roi, [x / 0.01 for x in roi.net_per_unit])
    assert roi.break_even_lift == pytest.approx(0.01 / 0.3)
    assert "breaks even at a revenue lift of 0.033 USD per unit" in roi.summary()
    with pytest.raises(ValueError, match="margin = 30"):
        campaign_roi(effect, cost_per_unit=0.01, margin=30)


def test_findings_of_a_test_follow_the_schema(spec: InitiativeSpec, table: pd.DataFrame) -> None:
    result = analyze_table(table, spec)
    roi = campaign_roi(result.effect("spend", "Mens E-Mail"), cost_per_unit=0.01, margin=0.3)
    rows = findings.from_test(result, section="experiment", dataset="hillstrom_email_experiment", rois=[roi])
    results.check_rows("findings", rows)
    by_id = {r["metric"]: r for r in rows}
    assert set(by_id) >= {"spend_lift_mens_e-mail", "visit_lift_womens_e-mail", "cuped_variance_reduction_mens_e-mail",
                          "net_per_1000_mens_e-mail"}
    visit = result.effect("visit", "Womens E-Mail")
    assert by_id["visit_lift_womens_e-mail"]["unit"] == "pp"
    assert by_id["visit_lift_womens_e-mail"]["estimate"] == pytest.approx(100 * visit.estimate_abs)
    assert findings.overview_frame(rows)["section"].unique().tolist() == ["E-mail experiment"]
    assert "No findings were recorded" in findings.overview([]).data


def test_a_finding_that_breaks_the_schema_is_named() -> None:
    with pytest.raises(Exception, match=r"finding 'Bad id'.*does not match"):
        findings.finding(section="churn", dataset="d", metric="Bad id", label="l", estimate=1.0, unit="%", sentence="s")


def test_against_published_flags_values_outside_the_interval() -> None:
    fitted = pd.DataFrame({"parameter": ["r", "alpha"], "estimate": [0.25, 4.8], "ci_low": [0.24, 4.5], "ci_high": [0.26, 5.0]})
    out = findings.against_published(fitted, {"r": 0.243, "alpha": 4.414})
    assert out[["parameter", "published in CI"]].values.tolist() == [["r", "yes"], ["alpha", "no"]]


def test_holdout_forecast_matches_purchases_simulated_from_the_model() -> None:
    """BG/NBD story with r=0.25, alpha=4, a=0.8, b=2.5 (weeks); the fit's hold-out forecast matches the simulation."""
    rng = np.random.default_rng(7)
    n, cal_weeks, hold_weeks = 4000, 39, 39
    start = pd.Timestamp("2020-01-01")
    first = rng.integers(0, 12, n) * 7  # first purchase within 12 weeks, in days
    lam, p = rng.gamma(0.25, 1 / 4.0, n), rng.beta(0.8, 2.5, n)
    rows = []
    for i in range(n):
        t, alive = 0.0, True
        rows.append((i, first[i], 10.0))
        while alive:
            t += rng.exponential(1 / lam[i]) * 7
            if first[i] + t > (cal_weeks + hold_weeks) * 7:
                break
            rows.append((i, first[i] + t, 10.0))
            alive = rng.random() >= p[i]
    tx = pd.DataFrame(rows, columns=["customer_id", "day", "revenue"])
    tx["ordered_at"] = start + pd.to_timedelta(tx["day"].astype(int), unit="D")
    cal_end = start + pd.Timedelta(days=cal_weeks * 7 - 1)
    hold_end = cal_end + pd.Timedelta(days=hold_weeks * 7)
    summary = clv.rfm_summary(tx, observation_end=cal_end.date().isoformat())
    fit = clv.fit_bgnbd(summary)
    check = clv_holdout.holdout_check(tx, fit, calibration_end=cal_end.date().isoformat(), holdout_end=hold_end.date().isoformat())
    assert check.customers == n and check.holdout_months == pytest.approx(hold_weeks * 7 / (365.25 / 12))
    assert abs(check.error) < 0.1, check.summary()
    assert 0 < check.silent_share < 1 and 0 < check.monthly_churn < 1
    assert check.arpu_month > 0


def test_pack_config_labels_every_findings_section_in_the_notebooks_order() -> None:
    from outcomes.casestudy.findings import SECTION_LABELS
    from outcomes.run.config import load as load_run_config

    cfg = load_run_config(config.project().params_dir / "case_study.yaml")
    assert list(cfg.sections.items()) == list(SECTION_LABELS.items())


def test_findings_sections_need_a_pack_published_under_its_own_name(tmp_path: Path) -> None:
    from outcomes.run.config import load as load_run_config

    doc = yaml.safe_load((config.project().params_dir / "case_study.yaml").read_text())
    for key in ("publish_as", "title", "description"):
        doc.pop(key)
    path = tmp_path / "pack.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match="sections label the findings of a pack published under its own name"):
        load_run_config(path)
