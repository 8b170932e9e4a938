"""Churn drivers (lib/outcomes/casestudy/churn_drivers.py) on the IBM telco sample and on planted data.

Golden numbers were produced with statsmodels run directly; each command is in a comment
next to its value. The full-data test reads ../shared/data and is skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from outcomes.casestudy import churn_charts
from outcomes.casestudy import churn_drivers
from outcomes.casestudy.churn_drivers import ChurnSpec, CustomerGroups
from outcomes.errors import ParamsError
from outcomes.params import validate
from outcomes.report.results import check_rows, to_jsonable

REPO = Path(__file__).resolve().parents[1]
SPEC_FILE = REPO / "params" / "churn" / "telco_customer_churn.yaml"
EXCERPT_DIR = REPO / "tests" / "data" / "case_study" / "telco_customer_churn"
FULL_DIR = REPO.parent / "shared" / "data" / "telco_customer_churn"
NOTEBOOK = REPO / "notebooks" / "case_study" / "cs_05_churn.ipynb"


@pytest.fixture(scope="module")
def excerpt():
    """The excerpt under the design the goldens below were computed on.

    Controls tenure, Internet service and senior citizen (the shipped spec's first three) and a
    twelve-month value horizon without a stated churn window; the shipped spec's full controls
    and churn window are tested in ``test_case_study_claims.py``.
    """
    shipped = churn_drivers.load_spec(SPEC_FILE, raw_dir=EXCERPT_DIR)
    spec = validate(ChurnSpec, {
        **shipped.model_dump(), "controls": [c.model_dump() for c in shipped.controls[:3]], "churn_window_months": None,
        "value": {**shipped.value.model_dump(), "horizon_months": 12},
    })
    groups = churn_drivers.customer_groups(spec)
    model = churn_drivers.fit_churn_model(groups, spec)
    return spec, groups, model


def _rows_design(frame: pd.DataFrame) -> pd.DataFrame:
    """The excerpt's design built by hand from the customer rows (same columns as the spec's model)."""
    x = pd.DataFrame({"const": 1.0, "tenure": frame["tenure"], "SeniorCitizen": frame["SeniorCitizen"]})
    x["InternetService[Fiber optic]"] = (frame["InternetService"] == "Fiber optic") * 1.0
    x["InternetService[No]"] = (frame["InternetService"] == "No") * 1.0
    for col in ("TechSupport", "OnlineSecurity", "OnlineBackup", "DeviceProtection"):
        x[f"{col}[Yes]"] = (frame[col] == "Yes") * 1.0
    x["Contract[One year]"] = (frame["Contract"] == "One year") * 1.0
    x["Contract[Two year]"] = (frame["Contract"] == "Two year") * 1.0
    return x.astype(float)


# --- estimates equal statsmodels run directly --------------------------------------------


def test_excerpt_rates_equal_statsmodels(excerpt):
    spec, groups, _ = excerpt
    rates = churn_drivers.churn_rates(groups, spec).set_index(["attribute", "level"])
    assert groups.customers == 800 and groups.churners == 216 and groups.rows_excluded == 0
    # proportion_confint(216, 800, alpha=0.05, method="wilson")
    assert_allclose(rates.loc[("all", "all"), ["rate_low", "rate_high"]].astype(float), [0.24038880756240383, 0.3018094754922072], rtol=1e-12)
    # proportion_confint(191, 416, alpha=0.05, method="wilson")
    assert_allclose(rates.loc[("Contract", "Month-to-month"), ["rate_low", "rate_high"]].astype(float), [0.41183981446845547, 0.5071772352161952], rtol=1e-12)
    # confint_proportions_2indep(5, 216, 191, 416, method="newcomb", compare="diff", alpha=0.05)
    assert_allclose(rates.loc[("Contract", "Two year"), ["diff_low", "diff_high"]].astype(float), [-0.4858150683560999, -0.38004040286424845], rtol=1e-12)
    # Every level against pandas + statsmodels on the rows.
    raw = pd.read_csv(EXCERPT_DIR / "Telco-Customer-Churn.csv")
    for col in ("TechSupport", "Contract"):
        counts = raw.groupby(col)["Churn"].agg(customers="size", churners=lambda s: int((s == "Yes").sum()))
        low, high = proportion_confint(counts["churners"], counts["customers"], method="wilson")
        got = rates.loc[col].loc[counts.index]
        assert_allclose(got["churners"].astype(float), counts["churners"])
        assert_allclose(got["rate_low"].astype(float), low, rtol=1e-12)
        assert_allclose(got["rate_high"].astype(float), high, rtol=1e-12)


def test_grouped_model_equals_logit_on_rows(excerpt):
    _, _, model = excerpt
    assert model.status == "ok"
    raw = pd.read_csv(EXCERPT_DIR / "Telco-Customer-Churn.csv")
    x = _rows_design(raw)[model.design.columns]
    direct = sm.Logit((raw["Churn"] == "Yes").astype(float), x).fit(disp=0)
    assert_allclose(np.asarray(model.result.params), direct.params.to_numpy(), rtol=1e-7)
    assert_allclose(np.asarray(model.result.bse), direct.bse.to_numpy(), rtol=1e-6)
    # sm.Logit(churn, design).fit() on the 800 rows: params["TechSupport[Yes]"], bse["TechSupport[Yes]"],
    # exp(params["Contract[Two year]"])
    ors = model.odds_ratios().set_index("term")
    assert_allclose(np.log(ors.loc["TechSupport[Yes]", "odds_ratio"]), -0.8144501044579939, rtol=1e-7)
    assert_allclose(ors.loc["Contract[Two year]", "odds_ratio"], 0.17642216662640753, rtol=1e-7)
    ci = direct.conf_int().loc["Contract[Two year]"]
    assert_allclose(ors.loc["Contract[Two year]", ["ci_low", "ci_high"]].astype(float), np.exp(ci), rtol=1e-6)
    # The add-ons' "No internet service" columns repeat InternetService[No] and are dropped, named.
    assert model.design.dropped["TechSupport[No internet service]"] == "identical to InternetService[No]"


def _planted(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
    """Customer rows with a planted logit: support Yes -0.8, contract One/Two year -1.0/-2.0, tenure -0.03."""
    truth = {"const": -0.2, "tenure": -0.03, "support[Yes]": -0.8, "contract[One year]": -1.0, "contract[Two year]": -2.0}
    support = rng.choice(["No", "Yes"], n, p=[0.6, 0.4])
    contract = rng.choice(["Monthly", "One year", "Two year"], n, p=[0.5, 0.25, 0.25])
    tenure = rng.integers(0, 72, n)
    eta = (truth["const"] + truth["tenure"] * tenure + truth["support[Yes]"] * (support == "Yes")
           + truth["contract[One year]"] * (contract == "One year") + truth["contract[Two year]"] * (contract == "Two year"))
    churned = rng.random(n) < 1 / (1 + np.exp(-eta))
    frame = pd.DataFrame(
        {"id": [f"c{i}" for i in range(n)], "support": support, "contract": contract, "tenure": tenure,
         "left": np.where(churned, "Yes", "No"), "mrr": rng.uniform(20, 100, n).round(2)}
    )
    return frame, truth


def _planted_spec(folder: Path, **extra) -> ChurnSpec:
    doc = {
        "name": "planted", "raw_dir": str(folder),
        "data": {"path": "customers.csv", "unit": "id", "churned": "left", "monthly_revenue": "mrr"},
        "attributes": [{"column": "support", "reference": "No"}, {"column": "contract", "reference": "Monthly"}],
        "controls": [{"column": "tenure"}],
        "value": {"attribute": "support", "from_level": "No", "to_level": "Yes", "margin": 0.4, "horizon_months": 12},
        "currency": "USD",
    }
    return validate(ChurnSpec, doc | extra, source="test spec")


def test_ame_equals_statsmodels_margeff(tmp_path):
    frame, _ = _planted(3000, np.random.default_rng(11))
    frame.to_csv(tmp_path / "customers.csv", index=False)
    spec = _planted_spec(tmp_path)
    model = churn_drivers.fit_churn_model(churn_drivers.customer_groups(spec), spec)
    x = pd.DataFrame({"const": 1.0, "tenure": frame["tenure"].astype(float),
                      "support[Yes]": (frame["support"] == "Yes") * 1.0,
                      "contract[One year]": (frame["contract"] == "One year") * 1.0,
                      "contract[Two year]": (frame["contract"] == "Two year") * 1.0})
    direct = sm.Logit((frame["left"] == "Yes").astype(float), x).fit(disp=0)
    # sm.Logit(...).fit().get_margeff(at="overall", dummy=True): discrete change of a 0/1 column,
    # averaged over every row, with delta-method standard errors.
    margeff = direct.get_margeff(at="overall", dummy=True)
    me = model.marginal_effects().set_index(["attribute", "level"])
    j = list(x.columns[1:]).index("support[Yes]")
    assert_allclose(me.loc[("support", "Yes"), "ame"], margeff.margeff[j], rtol=1e-6)
    assert_allclose(me.loc[("support", "Yes"), "se"], margeff.margeff_se[j], rtol=1e-5)


# --- planted effects are recovered --------------------------------------------------------


def test_planted_effect_recovered(tmp_path):
    frame, truth = _planted(20_000, np.random.default_rng(2024))
    frame.to_csv(tmp_path / "customers.csv", index=False)
    spec = _planted_spec(tmp_path)
    groups = churn_drivers.customer_groups(spec)
    model = churn_drivers.fit_churn_model(groups, spec)
    ors = model.odds_ratios().set_index("term")
    for term in ("support[Yes]", "contract[One year]", "contract[Two year]", "tenure"):
        assert ors.loc[term, "ci_low"] <= np.exp(truth[term]) <= ors.loc[term, "ci_high"], term
    # The true AME: the planted model's probabilities at support Yes vs No, averaged over the customers.
    beta = np.array([truth[k] for k in ("const", "tenure", "support[Yes]", "contract[One year]", "contract[Two year]")])
    base = np.column_stack([np.ones(len(frame)), frame["tenure"], np.zeros(len(frame)),
                            frame["contract"] == "One year", frame["contract"] == "Two year"]).astype(float)
    yes = base.copy()
    yes[:, 2] = 1.0
    true_ame = float(np.mean(1 / (1 + np.exp(-yes @ beta)) - 1 / (1 + np.exp(-base @ beta))))
    me = model.marginal_effects().set_index(["attribute", "level"]).loc[("support", "Yes")]
    assert me["ci_low"] <= true_ame <= me["ci_high"]
    assert me["ci_high"] < 0


def test_interval_coverage_by_simulation():
    """Seeded simulation on grouped counts: the 95 % intervals of the odds ratio and the AME cover the truth about 95 % of the time."""
    rng = np.random.default_rng(7)
    tenure = np.arange(0, 72, 6, dtype=float)
    grid = pd.MultiIndex.from_product([["No", "Yes"], ["Monthly", "One year", "Two year"], tenure], names=["support", "contract", "tenure"])
    cells = grid.to_frame(index=False)
    cells["customers"] = rng.integers(20, 60, len(cells))
    beta = {"const": -0.2, "tenure": -0.03, "support": -0.8, "One year": -1.0, "Two year": -2.0}
    eta = lambda s: (beta["const"] + beta["tenure"] * cells["tenure"] + beta["support"] * (s == "Yes")  # noqa: E731
                     + beta["One year"] * (cells["contract"] == "One year") + beta["Two year"] * (cells["contract"] == "Two year"))
    p_obs = 1 / (1 + np.exp(-eta(cells["support"])))
    w = cells["customers"].to_numpy(dtype=float)
    true_ame = float(np.sum(w * (1 / (1 + np.exp(-eta("Yes"))) - 1 / (1 + np.exp(-eta("No"))))) / w.sum())
    spec = _planted_spec(Path("."))
    reps = 150
    draws = rng.binomial(cells["customers"].to_numpy()[None, :], p_obs.to_numpy()[None, :], size=(reps, len(cells)))
    covered_or = covered_ame = 0
    for churners in draws:
        g = cells.assign(churners=churners, revenue=0.0, churner_revenue=0.0)
        model = churn_drivers.fit_churn_model(CustomerGroups(groups=g, rows_read=int(w.sum()), rows_excluded=0), spec)
        o = model.odds_ratios().set_index("term").loc["support[Yes]"]
        covered_or += o["ci_low"] <= np.exp(beta["support"]) <= o["ci_high"]
        m = model.marginal_effects().set_index(["attribute", "level"]).loc[("support", "Yes")]
        covered_ame += m["ci_low"] <= true_ame <= m["ci_high"]
    # 150 draws: the share covered by a true 95 % interval lies in [0.90, 0.99] with probability 0.992 (binomial).
    assert 0.90 <= covered_or / reps <= 0.99
    assert 0.90 <= covered_ame / reps <= 0.99


# --- value arithmetic, worked by hand ---------------------------------------------------------


def test_value_at_stake_by_hand():
    # Saturated model (one attribute, no controls): predicted probabilities are the observed rates.
    # No support: 100 customers, 40 left, 5,000/month in total, 1,800 of it from those who left.
    # Support:    100 customers, 15 left, 6,000/month in total,   900 of it from those who left.
    g = pd.DataFrame({"support": ["No", "Yes"], "customers": [100, 100], "churners": [40, 15],
                      "revenue": [5000.0, 6000.0], "churner_revenue": [1800.0, 900.0]})
    spec = validate(ChurnSpec, {
        "name": "hand", "data": {"path": "x.csv", "unit": "id", "churned": "left", "monthly_revenue": "mrr"},
        "attributes": [{"column": "support", "reference": "No"}],
        "value": {"attribute": "support", "from_level": "No", "to_level": "Yes", "margin": 0.5, "horizon_months": 12},
        "currency": "USD", "min_group": 10,
    })
    groups = CustomerGroups(groups=g, rows_read=200, rows_excluded=0)
    model = churn_drivers.fit_churn_model(groups, spec)
    value = churn_drivers.value_at_stake(groups, model, spec)
    # Churners' revenue: 1,800 + 900 = 2,700 a month; the No group holds 1,800 / 2,700 = 2/3 of it.
    assert value.total_churner_revenue_month == pytest.approx(2700.0)
    no = value.churner_revenue.set_index(["attribute", "level"]).loc[("support", "No")]
    assert no["share"] == pytest.approx(2 / 3)
    # Rates 0.40 and 0.15: 100 x 0.25 = 25 churners avoided; 0.5 x 12 x 5,000 x 0.25 = 7,500 kept.
    assert value.customers_at_stake == 100
    assert value.churners_avoided == pytest.approx(25.0, rel=1e-6)
    assert value.revenue_kept == pytest.approx(7500.0, rel=1e-6)
    assert value.unadjusted_revenue_kept == pytest.approx(7500.0, rel=1e-9)
    # Delta method: se = 30,000 x sqrt(0.4 x 0.6 / 100 + 0.15 x 0.85 / 100) = 30,000 x 0.0606218 = 1,818.65;
    # interval 7,500 -/+ 1.959964 x 1,818.65.
    se = 30_000 * np.sqrt(0.4 * 0.6 / 100 + 0.15 * 0.85 / 100)
    z = stats.norm.ppf(0.975)
    assert_allclose([value.revenue_kept_low, value.revenue_kept_high], [7500 - z * se, 7500 + z * se], rtol=1e-5)
    assert any("7,500 USD of margin" in s for s in value.sentences())


# --- findings, charts, errors ---------------------------------------------------------------


def test_findings_match_schema_and_carry_no_ids(excerpt):
    spec, groups, model = excerpt
    rates = churn_drivers.churn_rates(groups, spec)
    value = churn_drivers.value_at_stake(groups, model, spec)
    rows = churn_drivers.findings(rates, model, value, dataset="telco_customer_churn")
    check_rows("findings", to_jsonable(rows))
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["churn_rate"]["estimate"] == pytest.approx(27.0)
    assert by_metric["churn_rate"]["unit"] == "%" and by_metric["churn_rate"]["better"] == "lower"
    ame = by_metric["ame_techsupport_yes"]
    assert ame["unit"] == "pp" and ame["ci_low"] < ame["estimate"] < ame["ci_high"] < 0
    kept = by_metric["margin_kept_techsupport_no_to_yes"]
    assert kept["unit"] == "USD" and kept["ci_low"] > 0 and kept["n"] == 395
    # the pack's index shows the first rows of a section: the headline ones lead
    assert [r["metric"] for r in rows[:3]] == ["churn_rate", "margin_kept_techsupport_no_to_yes", "ame_techsupport_yes"]
    assert {r["metric"] for r in rows[3:5]} == {"churn_rate_techsupport_no", "churn_rate_techsupport_yes"}
    ids = set(pd.read_csv(EXCERPT_DIR / "Telco-Customer-Churn.csv")["customerID"])
    text = json.dumps(rows) + rates.to_json() + value.churner_revenue.to_json() + model.groups.to_json()
    assert not [i for i in ids if i in text]


def test_small_groups_suppressed(excerpt):
    spec, groups, _ = excerpt
    strict = spec.model_copy(update={"min_group": 200})
    rates = churn_drivers.churn_rates(groups, strict).set_index(["attribute", "level"])
    assert rates.loc[("Contract", "One year"), "suppressed"]  # 168 customers
    assert np.isnan(rates.loc[("Contract", "One year"), "rate"])
    assert not rates.loc[("Contract", "Month-to-month"), "suppressed"]


def test_charts_are_altair_specs(excerpt):
    spec, groups, model = excerpt
    rates = churn_drivers.churn_rates(groups, spec)
    value = churn_drivers.value_at_stake(groups, model, spec)
    rate_chart = churn_charts.churn_rate_chart(rates).to_dict()
    assert rate_chart["layer"][1]["encoding"]["x"]["field"] == "rate"
    effects = churn_charts.effects_chart(model).to_dict()
    assert effects["layer"][1]["encoding"]["x"]["field"] == "low_pp"
    kept = churn_charts.value_chart(value).to_dict()
    assert kept["layer"][0]["encoding"]["x"]["title"] == "Margin kept over 12 months (USD)"
    bars = churn_charts.churner_revenue_chart(value, "TechSupport").to_dict()
    assert bars["encoding"]["x"]["field"] == "churner_revenue_month"


def test_errors_name_the_column_and_the_fix(tmp_path):
    frame, _ = _planted(50, np.random.default_rng(1))
    frame.to_csv(tmp_path / "customers.csv", index=False)
    spec = _planted_spec(tmp_path, controls=[{"column": "tenure_months"}])
    with pytest.raises(ParamsError, match=r"controls\[0\]\.column='tenure_months'.*Columns in the table: \['id'"):
        churn_drivers.customer_groups(spec)
    pd.concat([frame, frame.head(1)]).to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(ParamsError, match=r"'id' \(data.unit\) repeats: 51 rows but 50 distinct ids"):
        churn_drivers.customer_groups(_planted_spec(tmp_path))
    frame.assign(mrr=frame["mrr"].astype(str).where(frame.index > 0, "n/a")).to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(ParamsError, match=r"'mrr' \(data.monthly_revenue\) must be numeric, but 1 rows are not, e.g. 'n/a'"):
        churn_drivers.customer_groups(_planted_spec(tmp_path))
    with pytest.raises(ParamsError, match=r"value.attribute 'plan' is not an attribute"):
        _planted_spec(tmp_path, value={"attribute": "plan", "from_level": "a", "to_level": "b", "margin": 0.5})
    with pytest.raises(ParamsError, match=r"not found \(raw_dir"):
        churn_drivers.customer_groups(_planted_spec(tmp_path / "elsewhere"))


def test_notebook_labels_the_data_and_defaults_to_the_excerpt():
    """nbval runs the notebook; here: the IBM label, and defaults that need no ../shared/data."""
    papermill = pytest.importorskip("papermill")
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert "IBM sample data for a fictional company" in "".join(nb["cells"][0]["source"])
    params = papermill.inspect_notebook(str(NOTEBOOK))
    assert params["raw_dir"]["default"].strip("\"'") == "tests/data/case_study/telco_customer_churn"
    assert params["spec_file"]["default"].strip("\"'") == "params/churn/telco_customer_churn.yaml"


# --- the full data (CI only) --------------------------------------------------------------------


def test_full_data_known_facts():
    if not (FULL_DIR / "Telco-Customer-Churn.csv").is_file():
        pytest.skip(f"the IBM telco sample is not at {FULL_DIR} (public data kept outside the repository)")
    spec = churn_drivers.load_spec(SPEC_FILE)
    groups = churn_drivers.customer_groups(spec)
    assert groups.customers == 7043 and groups.churners == 1869
    rates = churn_drivers.churn_rates(groups, spec).set_index(["attribute", "level"])
    assert rates.loc[("all", "all"), "rate"] == pytest.approx(0.2654, abs=5e-4)
    month, two_year = rates.loc[("Contract", "Month-to-month")], rates.loc[("Contract", "Two year")]
    assert month["rate"] > 0.40 and two_year["rate"] < 0.05
    assert month["rate_low"] > 5 * two_year["rate_high"]  # far apart, intervals included
    model = churn_drivers.fit_churn_model(groups, spec)
    me = model.marginal_effects().set_index(["attribute", "level"])
    assert model.status == "ok" and me.loc[("Contract", "Two year"), "ci_high"] < 0
    assert me.loc[("TechSupport", "Yes"), "ci_high"] < 0
    value = churn_drivers.value_at_stake(groups, model, spec)
    assert value.total_churner_revenue_month == pytest.approx(139130.85, abs=0.01)
    assert 0 < value.revenue_kept_low < value.revenue_kept < value.revenue_kept_high < value.unadjusted_revenue_kept


def test_no_churners_is_a_status_not_an_error():
    g = pd.DataFrame({"support": ["No", "Yes"], "customers": [50, 50], "churners": [0, 0],
                      "revenue": [1000.0, 1000.0], "churner_revenue": [0.0, 0.0]})
    spec = validate(ChurnSpec, {
        "name": "none left", "data": {"path": "x.csv", "unit": "id", "churned": "left", "monthly_revenue": "mrr"},
        "attributes": [{"column": "support", "reference": "No"}],
        "value": {"attribute": "support", "from_level": "No", "to_level": "Yes", "margin": 0.5},
    })
    groups = CustomerGroups(groups=g, rows_read=100, rows_excluded=0)
    model = churn_drivers.fit_churn_model(groups, spec)
    assert model.status == "separation"
    value = churn_drivers.value_at_stake(groups, model, spec)
    assert np.isnan(value.revenue_kept)
    rows = churn_drivers.findings(churn_drivers.churn_rates(groups, spec), model, value, dataset="x")
    assert not [r for r in rows if r["metric"].startswith(("ame_", "margin_kept"))]
