"""What the customer-side case-study pages claim, and that each claim rests on a stated basis.

* Olist: the orders' population is said; the value of a review point is an input range with a
  source, and the value is a range; the per-day slope leaves out the long tail of very late
  orders and says how many (a planted slope is recovered only with the window).
* CDNOW: the simple and the model-based value are compared like for like (repeat purchases on
  both sides, the same horizon), and the model's interval carries its own hold-out miss.
* Telco: the margin kept is counted over the months the churn flag covers; estimates with
  controls come before raw ones.
* Hillstrom: the ROI is a rounded range with its assumptions.
* Every page: counts are whole numbers, coefficients never read "0.0", and the overview's
  headlines are picked by a rule written on the page.

The excerpts in ``tests/data/case_study`` feed the fast tests (the Olist excerpt's tables are
checked in ``test_delivery_case.py``, which ingests it once); the full files in
``../shared/data`` feed the ``full`` tests, marked slow (5-10 s each), which skip without them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes import config
from outcomes.casestudy import churn_drivers, clv, clv_compare, clv_holdout, delivery, findings
from outcomes.casestudy import transactions as purchase_log
from outcomes.casestudy.campaign import CampaignROI
from outcomes.errors import ParamsError
from outcomes.estimate import Estimate
from outcomes.ingest import load
from outcomes.params import validate
from outcomes.warehouse import store

ROOT = config.project().root
DATA = ROOT / "tests" / "data" / "case_study"
FULL = ROOT.parent / "shared" / "data"
NOTEBOOKS = ROOT / "notebooks" / "case_study"
OLIST_SOURCES = config.project().params_dir / "real" / "olist.yaml"
TELCO_SPEC = config.project().params_dir / "churn" / "telco_customer_churn.yaml"

def _full(*parts: str) -> Path:
    path = FULL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"public dataset not found at {path} (present in CI, not in a user's clone)")
    return path


def _notebook_parameters(name: str) -> str:
    """The source of a case-study notebook's parameters cell."""
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    return "".join(cells[0]["source"])


def _headings(name: str) -> list[str]:
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    return [line for c in nb["cells"] if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines() if line.startswith("## ")]


def _effect(estimate: float, low: float, high: float, n: int = 5000, late: int = 400) -> delivery.Effect:
    return delivery.Effect("late", "with controls", Estimate(estimate, 0.25, low, high, 1e-9, math.inf, "HC1", n=n), late, "score ~ late")


# --------------------------------------------------------------------------- Olist
def test_the_value_per_review_point_is_a_stated_range_and_the_value_a_range() -> None:
    # 10,000 orders, 8% -> 5% late: 300 orders on time; gap -2 (-2.5 to -1.5): 600 points (450 to 750).
    # At 0.8 to 3.2 BRL a point: 450 x 0.8 = 360 to 750 x 3.2 = 2,400 BRL; middle 600 x 2.0 = 1,200.
    v = delivery.value_of_fewer_late(
        _effect(-2.0, -2.5, -1.5), orders_per_year=10_000, late_share_from=0.08, late_share_to=0.05,
        value_per_point=[0.8, 3.2], value_source="0.5% to 2% of an order", population="all orders, assuming alike",
    )
    assert_allclose([v.value_low, v.value, v.value_high], [360, 1200, 2400])
    assert (v.value_per_point_low, v.value_per_point_high) == (0.8, 3.2)
    text = v.sentence()
    assert "0.80 to 3.20 BRL per review point (0.5% to 2% of an order)" in text
    assert "360 to 2,400 BRL a year" in text and "all orders, assuming alike" in text
    with pytest.raises(ValueError, match=r"value_per_point range \[3.2, 0.8\] must be \[low, high\]"):
        delivery.value_of_fewer_late(_effect(-2.0, -2.5, -1.5), orders_per_year=1, late_share_to=0.05, value_per_point=[3.2, 0.8])
    with pytest.raises(ValueError, match="a number >= 0 or a range"):
        delivery.value_of_fewer_late(_effect(-2.0, -2.5, -1.5), orders_per_year=1, late_share_to=0.05, value_per_point=[1, 2, 3])


def test_the_olist_page_takes_the_value_per_point_and_its_source_as_parameters() -> None:
    params = _notebook_parameters("cs_02_delivery_satisfaction")
    match = re.search(r"^value_per_point: list = \[([\d.]+), ([\d.]+)\]", params, re.M)
    assert match and float(match[1]) < float(match[2])
    for name in ("value_source", "population", "orders_assumption", "max_days_late"):
        assert re.search(rf"^{name}: ", params, re.M), name


def test_the_per_day_slope_leaves_out_the_tail_and_says_so() -> None:
    # Seed 5: 400 late orders 1-30 days late lose 0.05 points a day; 40 more, 60-138 days late, sit at the floor.
    rng = np.random.default_rng(5)
    days = np.concatenate([rng.integers(1, 31, 400), rng.integers(60, 139, 40)])
    score = np.where(days <= 30, 3.0 - 0.05 * days, 1.2) + rng.normal(0, 0.3, days.size)
    on_time = pd.DataFrame({"score": rng.normal(4, 0.3, 600), "late": False, "days_late": 0})
    frame = pd.concat([on_time, pd.DataFrame({"score": score, "late": True, "days_late": days})], ignore_index=True)
    windowed = delivery.fit_late_effects(frame, controls=(), fixed_effects=())
    everything = delivery.fit_late_effects(frame, controls=(), fixed_effects=(), max_days_late=None)
    assert windowed.per_day.fit.ci_low < -0.05 < windowed.per_day.fit.ci_high
    assert everything.per_day.fit.ci_high < 0 and everything.per_day.fit.estimate > -0.02  # flattened by the tail
    assert windowed.late_beyond == 40 and windowed.per_day.fit.n == 400
    said = " ".join(windowed.sentences())
    assert "orders 1-30 days late" in said and f"The 40 orders later than 30 days (up to {days.max()} days)" in said
    with pytest.raises(ValueError, match="max_days_late must be a whole number of days >= 1"):
        delivery.fit_late_effects(frame, controls=(), fixed_effects=(), max_days_late=0)


@pytest.mark.slow
def test_full_olist_slope_within_30_days_is_steeper_than_across_the_tail(tmp_path: Path) -> None:
    raw = _full("olist_ecommerce_partial")
    con = store.connect(load.ensure_warehouse(OLIST_SOURCES, raw_dir=raw, warehouse=tmp_path / "olist.duckdb"))
    frame = delivery.order_outcomes(con)
    windowed = delivery.fit_late_effects(frame)
    everything = delivery.fit_late_effects(frame, max_days_late=None)
    assert windowed.per_day.fit.estimate == pytest.approx(-0.0556, abs=0.002)
    assert everything.per_day.fit.estimate == pytest.approx(-0.015, abs=0.002)
    assert windowed.per_day.fit.ci_high < everything.per_day.fit.estimate
    assert windowed.late_beyond == 19 and windowed.longest_delay == 138
    assert delivery.punctuality(con).mean_score() == pytest.approx(3.59, abs=0.01)


# --------------------------------------------------------------------------- CDNOW
def test_the_simple_formula_over_a_horizon_is_the_sum_of_its_months() -> None:
    v = clv.simple_clv(40.0, 0.25, 0.02, discount_rate=0.01, horizon_months=24)
    series = sum(40 * 0.25 * 0.98 ** (m - 1) / 1.01**m for m in range(1, 25))
    assert v.value == pytest.approx(series, rel=1e-12) and "summed over 24 months" in v.summary()
    with pytest.raises(ParamsError, match="horizon_months = 0; it must be a whole number of months >= 1"):
        clv.simple_clv(40.0, 0.25, 0.02, horizon_months=0)


@pytest.fixture(scope="module")
def cdnow_excerpt() -> clv_compare.ValueComparison:
    tx = purchase_log.read(DATA / "cdnow_transactions" / "CDNOW_master.txt.gz")
    cols = dict(customer="customer_id", time="date", amount="dollar_value")
    summary = clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="week", **cols)
    bgnbd, gg = clv.fit_bgnbd(summary, time_unit="week"), clv.fit_gamma_gamma(summary)
    holdout = clv_holdout.holdout_check(tx, bgnbd, calibration_end="1997-09-30", currency="USD", **cols)
    model = clv.customer_lifetime_value(summary, bgnbd, gg, horizon_months=24, discount_rate=0.01, margin=0.3, currency="USD", draws=20)
    return clv_compare.compare_values(holdout, model, margin=0.3, discount_rate=0.01, currency="USD"), tx


def test_the_cdnow_comparison_counts_repeat_purchases_on_both_sides(cdnow_excerpt) -> None:
    comparison, tx = cdnow_excerpt
    h = comparison.holdout
    # By hand: calibration revenue without each customer's first purchase day, over customer-months since it.
    cal = tx[tx["date"] <= "1997-09-30"].copy()
    cal["day"] = pd.to_datetime(cal["date"]).dt.normalize()
    first = cal.groupby("customer_id")["day"].transform("min")
    months = ((pd.Timestamp("1997-09-30") - cal.groupby("customer_id")["day"].min()).dt.days / (365.25 / 12)).sum()
    assert h.repeat_arpu_month == pytest.approx(cal.loc[cal["day"] > first, "dollar_value"].sum() / months, rel=1e-9)
    assert h.arpu_month == pytest.approx(cal["dollar_value"].sum() / months, rel=1e-9)
    assert comparison.simple.arpu == h.repeat_arpu_month < h.arpu_month
    assert comparison.simple.horizon_months == comparison.model.horizon_months == 24
    assert all(r == "repeat purchases" for r in comparison.to_frame()["spend counted"])
    said = " ".join(comparison.sentences())
    assert "Like for like (repeat purchases only, 24 months" in said


def test_the_model_interval_carries_its_hold_out_miss(cdnow_excerpt) -> None:
    comparison, _ = cdnow_excerpt
    f = comparison.holdout.actual / comparison.holdout.predicted
    p_low, p_high = comparison.parameter_interval
    low, high = comparison.interval
    assert_allclose([low, high], [p_low * min(f, 1 / f), p_high * max(f, 1 / f)])
    assert low < p_low and high > p_high
    rows = findings.from_customer_value(comparison, section="customer_value", dataset="cdnow_transactions")
    model = next(r for r in rows if r["metric"] == "model_clv")
    assert (model["ci_low"], model["ci_high"]) == pytest.approx((low, high)) and rows[0]["metric"] == "model_clv"


@pytest.mark.slow
def test_full_cdnow_like_for_like_reverses_the_simple_formula() -> None:
    path = _full("cdnow_transactions", "CDNOW_master.txt.gz")
    tx = purchase_log.read(path)
    cols = dict(customer="customer_id", time="date", amount="dollar_value")
    summary = clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="week", **cols)
    bgnbd, gg = clv.fit_bgnbd(summary, time_unit="week"), clv.fit_gamma_gamma(summary)
    holdout = clv_holdout.holdout_check(tx, bgnbd, calibration_end="1997-09-30", currency="USD", **cols)
    assert holdout.arpu_month == pytest.approx(9.71, abs=0.01) and holdout.repeat_arpu_month == pytest.approx(5.29, abs=0.01)
    model = clv.customer_lifetime_value(summary, bgnbd, gg, horizon_months=24, discount_rate=0.01, margin=0.3, currency="USD", draws=30)
    comparison = clv_compare.compare_values(holdout, model, margin=0.3, discount_rate=0.01, currency="USD")
    assert comparison.simple.value == pytest.approx(11.3, abs=0.1) and comparison.model_value == pytest.approx(15.8, abs=0.1)
    assert comparison.verdict() == "below" and holdout.error == pytest.approx(-0.143, abs=0.002)


# --------------------------------------------------------------------------- Telco
def _telco(**value: object) -> dict:
    return {
        "name": "t", "data": {"path": "x.csv", "unit": "id", "churned": "left", "monthly_revenue": "mrr"},
        "attributes": [{"column": "support", "reference": "No"}], "churn_window_months": 3,
        "value": {"attribute": "support", "from_level": "No", "to_level": "Yes", "margin": 0.5, **value},
    }


def test_the_margin_horizon_must_be_the_churn_window() -> None:
    with pytest.raises(ParamsError, match=r"value.horizon_months is 12 but churn_window_months is 3: .* set value.horizon_months: 3"):
        validate(churn_drivers.ChurnSpec, _telco(horizon_months=12))
    assert validate(churn_drivers.ChurnSpec, _telco(horizon_months=3)).value.horizon_months == 3
    shipped = churn_drivers.load_spec(TELCO_SPEC)
    assert shipped.churn_window_months == shipped.value.horizon_months == 3
    # every column of the file but the id, the outcome, the revenue, the charges and PhoneService is in the model
    used = {a.column for a in shipped.attributes} | {c.column for c in shipped.controls}
    header = set(pd.read_csv(DATA / "telco_customer_churn" / "Telco-Customer-Churn.csv", nrows=0).columns)
    assert header - used == {"customerID", "Churn", "MonthlyCharges", "TotalCharges", "PhoneService"}


def test_telco_estimates_with_controls_lead_and_count_the_churn_window() -> None:
    spec = churn_drivers.load_spec(TELCO_SPEC, raw_dir=DATA / "telco_customer_churn")
    groups = churn_drivers.customer_groups(spec)
    model = churn_drivers.fit_churn_model(groups, spec)
    value = churn_drivers.value_at_stake(groups, model, spec)
    said = value.sentences()
    assert said[1].startswith("With controls:") and said[2].startswith("The raw churn-rate gap")
    assert "over 3 months" in said[1] and "a year" not in " ".join(said)
    rows = churn_drivers.findings(churn_drivers.churn_rates(groups, spec), model, value, dataset="telco_customer_churn")
    kept = next(r for r in rows if r["metric"].startswith("margin_kept_"))
    assert "over 3 months" in kept["label"] and "12 months" not in kept["sentence"]
    headings = _headings("cs_05_churn")
    assert headings.index("## With controls") < headings.index("## Churn rate by attribute")


@pytest.mark.slow
def test_full_telco_controls_shrink_the_margin_kept() -> None:
    _full("telco_customer_churn", "Telco-Customer-Churn.csv")
    spec = churn_drivers.load_spec(TELCO_SPEC)
    few = spec.model_copy(update={"controls": spec.controls[:3]})  # tenure, Internet service, senior citizen
    kept = {}
    for name, s in (("all", spec), ("few", few)):
        groups = churn_drivers.customer_groups(s)
        kept[name] = churn_drivers.value_at_stake(groups, churn_drivers.fit_churn_model(groups, s), s)
    assert kept["few"].revenue_kept == pytest.approx(98_414 / 4, rel=0.01)  # the 12-month figure, over the quarter
    assert kept["all"].revenue_kept < kept["few"].revenue_kept < kept["all"].unadjusted_revenue_kept


# --------------------------------------------------------------------------- Hillstrom
def test_the_roi_is_a_rounded_range_with_its_assumptions() -> None:
    roi = CampaignROI("Womens E-Mail", "No E-Mail", 0.4234, 0.1673, 0.6795, 0.3, 0.01, 21_387, "USD")
    shown = roi.to_frame()
    assert shown.loc[0, "ROI (rounded range)"] == "400% to 1,900%"
    assert not {"ROI", "ROI low", "ROI high"} & set(shown.columns)
    assert "an ROI of roughly 400% to 1,900%" in roi.summary() and "assuming 0.01 USD per contact and a 30% margin" in roi.summary()


# --------------------------------------------------------------------------- the overview's headlines
def test_headlines_follow_the_written_rule() -> None:
    def row(metric: str, estimate: float, unit: str, low: float | None = None, high: float | None = None) -> dict:
        return findings.finding(section="churn", dataset="d", metric=metric, label=metric, estimate=estimate, unit=unit,
                                sentence=f"{metric}.", ci_low=low, ci_high=high)
    rows = [
        row("count", 8144.0, "count"),  # no interval: never a headline
        row("rate", 26.5, "%", 25.5, 27.6),
        row("small_money", 100.0, "USD", 50.0, 150.0),
        row("zero_money", 500.0, "USD", -100.0, 1100.0),  # interval spans zero
        row("big_money", 24_000.0, "USD", 12_000.0, 36_000.0),
        row("difference", -5.2, "pp", -7.8, -2.6),  # a difference leads a level even when the level is further from zero
    ]
    assert [r["metric"] for r in findings.headline_rows(rows, 2)] == ["big_money", "small_money"]
    assert [r["metric"] for r in findings.headline_rows(rows, 4)] == ["big_money", "small_money", "difference", "rate"]
    text = findings.headlines(rows, 2).data
    assert findings.HEADLINE_RULE in text and "count." not in text and "zero_money." not in text
    assert "No finding of this section has an interval" in findings.headlines([row("count", 1.0, "count")]).data


def test_a_change_in_churn_probability_never_reads_zero() -> None:
    assert churn_drivers._pp_size(-0.052) == "5.2"
    assert churn_drivers._pp_size(0.0004) == "0.04"
    assert churn_drivers._pp_size(-0.00012) == "0.012"
