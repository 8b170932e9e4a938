"""Late delivery vs review score (:mod:`outcomes.casestudy.delivery`) and the Olist mapping (params/real/olist.yaml).

Checked here: the excerpt ingested through the mapping gives the orders, lateness and
controls that pandas computes from the raw file; the estimate equals statsmodels OLS
fitted directly on a design built by hand; a planted late-delivery effect (with
confounding) is recovered through the engine path with an interval that covers it; the
aggregates and the value are worked by hand; the charts encode what they say. On the full
Olist table (only where ``../shared/data`` exists, as in CI): late share, mean scores and
the adjusted gap within what the dataset's README and the literature report.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from page_text import DECIMAL_COUNT, ZERO_COEF
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from outcomes import config
from outcomes.estimate import Estimate
from outcomes.casestudy import delivery
from outcomes.casestudy import delivery_charts
from outcomes.ingest import load
from outcomes.warehouse import store
from outcomes.warehouse.store import create_tables

SOURCES = config.project().params_dir / "real" / "olist.yaml"
EXCERPT = config.project().root / "tests" / "data" / "case_study" / "olist_ecommerce_partial"
FILE = "olist_classified_public_dataset.csv.gz"
FULL = Path(__file__).resolve().parents[2] / "shared" / "data" / "olist_ecommerce_partial"


# --------------------------------------------------------------------------- helpers
def _raw_orders(folder: Path) -> pd.DataFrame:
    """The export read with pandas, lateness and controls computed independently of the kit."""
    with gzip.open(folder / FILE, "rt", encoding="utf-8") as fh:
        raw = pd.read_csv(fh)
    raw = raw[raw["order_delivered_customer_date"].notna()].copy()
    delivered = pd.to_datetime(raw["order_delivered_customer_date"])
    promised = pd.to_datetime(raw["order_estimated_delivery_date"])
    days = (delivered.dt.normalize() - promised.dt.normalize()).dt.days
    ordered_utc = pd.to_datetime(raw["order_purchase_timestamp"]).dt.tz_localize("America/Sao_Paulo").dt.tz_convert("UTC")
    value, fee = raw["order_products_value"].astype(float), raw["order_freight_value"].astype(float)
    return pd.DataFrame(
        {
            "score": raw["review_score"].astype(float),
            "late": (days > 0).astype(float),
            "days_late": days.clip(lower=0),
            "log_order_value": np.log(value + 1.0),
            "shipping_share": fee / (value + fee),
            "items": raw["order_items_qty"].astype(float),
            "category": raw["product_category_name"].fillna("unknown"),
            "region": raw["customer_state"],
            "month": ordered_utc.dt.strftime("%Y-%m"),
        }
    ).reset_index(drop=True)


def _hand_ols(data: pd.DataFrame, driver: str, controls: list[str], fixed_effects: list[str], pool_below: int):
    """OLS with a dummy matrix built by hand (no formula), levels under ``pool_below`` rows pooled, HC1 covariance."""
    parts = [data[[driver, *controls]].astype(float)]
    for fe in fixed_effects:
        counts = data[fe].value_counts()
        pooled = data[fe].where(data[fe].map(counts) >= pool_below, "other")
        parts.append(pd.get_dummies(pooled, prefix=fe, drop_first=True, dtype=float))
    design = sm.add_constant(pd.concat(parts, axis=1), has_constant="add")
    return sm.OLS(data["score"].astype(float), design).fit(cov_type="HC1")


@pytest.fixture(scope="module")
def excerpt_con(tmp_path_factory: pytest.TempPathFactory):
    """The committed excerpt ingested through params/real/olist.yaml into a temporary warehouse."""
    path = load.ensure_warehouse(SOURCES, raw_dir=EXCERPT, warehouse=tmp_path_factory.mktemp("olist") / "olist.duckdb")
    return store.connect(path)


def _simulated_warehouse(path: Path, n: int, seed: int, late_effect: float, per_day: float) -> Path:
    """A warehouse of ``n`` delivered orders with an NPS-style answer (0-10) each, dropping by ``late_effect`` when late.

    Among late orders the answer also falls by ``per_day`` a day. Lateness is confounded:
    categories with low answers are also late more often, so the unadjusted gap overstates
    the effect and only the category fixed effects remove it. Answers are rounded to whole
    points (noise sd 0.7 keeps them inside 0-10, so rounding leaves the mean linear).
    """
    rng = np.random.default_rng(seed)
    cats = np.array([f"cat{i}" for i in range(8)])
    cat_effect = np.linspace(-1.0, 1.0, 8)
    cat = rng.integers(0, 8, n)
    p_late = 0.25 - 0.2 * (cat / 7)
    late = rng.random(n) < p_late
    days = np.where(late, rng.integers(1, 15, n), 0)
    value = rng.lognormal(4.5, 0.6, n)
    fee = value * rng.uniform(0.05, 0.3, n)
    # Days late are uniform on 1-14 (mean 7.5): the late gap averages ``late_effect`` exactly.
    latent = 5.5 + cat_effect[cat] + 0.1 * np.log(value + 1) + late_effect * late + per_day * (days - 7.5) * late
    score = np.clip(np.round(latent + rng.normal(0, 0.7, n)), 0, 10).astype(int)
    ordered = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h")
    promised = ordered.normalize() + pd.Timedelta(days=10)
    delivered = promised - pd.Timedelta(hours=12) + pd.to_timedelta(days * 24, unit="h")
    ids = [f"o{i}" for i in range(n)]
    orders = pd.DataFrame(
        {
            "order_id": ids, "customer_id": [f"c{i}" for i in range(n)], "ordered_at": ordered, "revenue": value,
            "margin": None, "status": "delivered", "promised_at": promised, "delivered_at": delivered, "shipping_fee": fee,
            "items": rng.integers(1, 4, n), "category": cats[cat],
        }
    )
    surveys = pd.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(n)], "customer_id": orders["customer_id"], "responded_at": delivered,
            "kind": "nps", "score": score, "order_id": ids,
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": orders["customer_id"], "name": None, "email": None, "segment": "all",
            "region": np.array(["north", "south", "east"])[rng.integers(0, 3, n)], "acquisition_channel": None,
            "signup_date": ordered.date,
        }
    )
    con = duckdb.connect(str(path))
    create_tables(con)
    for name, frame in (("orders", orders), ("customer_surveys", surveys), ("customers", customers)):
        con.register("frame", frame)
        con.execute(f"INSERT INTO {name} SELECT * FROM frame")
        con.unregister("frame")
    con.close()
    return path


# --------------------------------------------------------------------------- mapping and engine
def test_the_excerpt_maps_onto_orders_with_the_lateness_pandas_computes(excerpt_con) -> None:
    frame = delivery.order_outcomes(excerpt_con)
    raw = _raw_orders(EXCERPT)
    assert len(frame) == len(raw) == 958
    assert int(frame["late"].sum()) == int(raw["late"].sum()) == 85
    # Same rows in a canonical order: every column but the month agrees exactly.
    key = ["score", "log_order_value", "shipping_share", "items", "category", "region"]
    a = frame.assign(late=frame["late"].astype(float)).sort_values(key).reset_index(drop=True)
    b = raw.sort_values(key).reset_index(drop=True)
    for col in ["score", "late", "log_order_value", "shipping_share", "items"]:
        np.testing.assert_allclose(a[col].astype(float), b[col].astype(float), rtol=1e-12, err_msg=col)
    assert (a["category"] == b["category"]).all() and (a["region"] == b["region"]).all() and (a["month"] == b["month"]).all()
    # Days late: started days past the end of the promised day equal the calendar days.
    np.testing.assert_array_equal(a["days_late"].to_numpy(), b["days_late"].to_numpy())


def test_status_coverage_counts_the_orders_that_never_arrived(excerpt_con) -> None:
    cov = delivery.status_coverage(excerpt_con, min_group=1).set_index("status")
    with gzip.open(EXCERPT / FILE, "rt", encoding="utf-8") as fh:
        raw = pd.read_csv(fh)
    expected = raw.groupby("order_status")["review_score"].agg(["size", "mean"])
    assert cov["orders"].to_dict() == expected["size"].to_dict()
    np.testing.assert_allclose(cov.loc[expected.index, "mean_score"], expected["mean"], rtol=1e-12)
    assert cov.loc["delivered", "delivered"] == cov.loc["delivered", "orders"]
    assert cov.drop(index="delivered")["delivered"].sum() == 0
    # Statuses with fewer answers than min_group show their counts but no mean.
    small = delivery.status_coverage(excerpt_con, min_group=10).set_index("status")
    assert small.loc[small["answered"] < 10, "mean_score"].isna().all() and (small["answered"] < 10).any()


def test_the_estimate_equals_statsmodels_on_a_hand_built_design(excerpt_con) -> None:
    """The adjusted gap on the excerpt equals sm.OLS(score, [1, late, controls, dummies]).fit(cov_type="HC1").

    Command (run here on the frame pandas reads from the raw file, levels under 10 orders
    pooled into "other"): ``sm.OLS(y, sm.add_constant(pd.concat([X[["late", "log_order_value",
    "shipping_share", "items"]], *(pd.get_dummies(pooled[fe], drop_first=True) for fe in ["category",
    "region", "month"])], axis=1))).fit(cov_type="HC1")``, giving -1.845290 (HC1 se 0.171886).
    """
    controls, fes = ["log_order_value", "shipping_share", "items"], ["category", "region", "month"]
    ours = delivery.fit_effect(
        delivery.order_outcomes(excerpt_con), driver="late", controls=controls, fixed_effects=fes, min_level_size=10
    )
    ref = _hand_ols(_raw_orders(EXCERPT), "late", controls, fes, pool_below=10)
    low, high = ref.conf_int().loc["late"]
    np.testing.assert_allclose(
        [ours.fit.estimate, ours.fit.se, ours.fit.ci_low, ours.fit.ci_high, ours.fit.p_value],
        [ref.params["late"], ref.bse["late"], low, high, ref.pvalues["late"]],
        rtol=1e-9,
    )
    assert ours.fit.n == 958 and ours.n_exposed == 85 and ours.fit.method == "HC1"
    # Golden: adjusted gap on the committed excerpt, from the command above (statsmodels 0.15).
    np.testing.assert_allclose([ours.fit.estimate, ours.fit.se], [-1.845290, 0.171886], atol=5e-7)


def test_cluster_robust_errors_match_statsmodels_and_rare_levels_are_pooled() -> None:
    rng = np.random.default_rng(7)
    n = 600
    frame = pd.DataFrame(
        {
            "score": rng.normal(4, 1, n), "late": rng.random(n) < 0.2, "x": rng.normal(0, 1, n),
            "category": np.where(rng.random(n) < 0.02, "rare", rng.choice(["a", "b", "c"], n)),
            "region": rng.choice([f"r{i}" for i in range(12)], n),
        }
    )
    ours = delivery.fit_effect(frame, controls=["x"], fixed_effects=["category"], cluster="region", min_level_size=20)
    data = delivery.model_frame(frame, controls=["x"], fixed_effects=["category"], cluster="region", min_level_size=20)
    assert "rare" not in set(data["category"]) and "other" in set(data["category"])
    design = sm.add_constant(
        pd.concat([data[["late", "x"]], pd.get_dummies(data["category"], drop_first=True, dtype=float)], axis=1)
    )
    ref = sm.OLS(data["score"], design).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(data["region"])[0], "use_correction": True, "df_correction": True},
        use_t=True,
    )
    np.testing.assert_allclose([ours.fit.estimate, ours.fit.se], [ref.params["late"], ref.bse["late"]], rtol=1e-10)
    np.testing.assert_allclose([ours.fit.ci_low, ours.fit.ci_high], ref.conf_int().loc["late"], rtol=1e-10)
    assert ours.fit.method == "cluster:region"


def test_a_planted_effect_is_recovered_through_the_engine(tmp_path: Path) -> None:
    path = _simulated_warehouse(tmp_path / "sim.duckdb", n=8000, seed=11, late_effect=-2.5, per_day=-0.1)
    con = store.connect(path)
    assert len(delivery.order_outcomes(con)) == 0  # the answers are NPS, not CSAT
    frame = delivery.order_outcomes(con, kind="nps")
    assert len(frame) == 8000
    effects = delivery.fit_late_effects(frame, controls=["log_order_value", "shipping_share"], fixed_effects=["category"])
    adj, raw, day = effects.adjusted, effects.unadjusted, effects.per_day
    assert adj.fit.ci_low < -2.5 < adj.fit.ci_high
    # Confounded by category: the raw gap is further from zero than the truth and misses it.
    assert raw.fit.estimate < -2.5 and not raw.fit.ci_low < -2.5 < raw.fit.ci_high
    assert day.fit.ci_low < -0.1 < day.fit.ci_high and day.fit.n == adj.n_exposed


def test_expected_data_conditions_come_back_as_statuses() -> None:
    frame = pd.DataFrame({"score": [4.0, 5.0, 3.0, 2.0], "late": [False, False, False, True]})
    assert delivery.fit_effect(frame).status == delivery.INSUFFICIENT_DATA
    assert delivery.fit_effect(frame.assign(late=False)).status == delivery.NO_VARIATION
    value = delivery.value_of_fewer_late(
        delivery.fit_effect(frame), orders_per_year=1000, late_share_to=0.05, value_per_point=1.0
    )
    assert value.status == delivery.INSUFFICIENT_DATA and math.isnan(value.value)
    assert "could not be estimated" in value.sentence()


def test_misuse_raises_with_the_rule_in_the_message() -> None:
    frame = pd.DataFrame({"score": [4.0], "late": [True]})
    with pytest.raises(KeyError, match=r"columns \['items'\] not in the frame; columns in the frame: \['score', 'late'\]"):
        delivery.fit_effect(frame, controls=["items"])
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        delivery.fit_effect(frame, alpha=1.5)
    effect = delivery.Effect("late", "", Estimate(-1.0, 0.1, -1.2, -0.8, 0.0, math.inf, "HC1", n=100), 10, "score ~ late")
    with pytest.raises(ValueError, match=r"late_share_to must be a fraction in \[0, 1\]; got 5"):
        delivery.value_of_fewer_late(effect, orders_per_year=100, late_share_to=5, value_per_point=1.0)


# --------------------------------------------------------------------------- aggregates and value by hand
def test_punctuality_aggregates_match_pandas_and_scipy(tmp_path: Path) -> None:
    path = _simulated_warehouse(tmp_path / "sim.duckdb", n=1500, seed=3, late_effect=-2.5, per_day=-0.1)
    summary = delivery.punctuality(store.connect(path), kind="nps", top_box_from=6, bucket_edges=(1, 3, 7), min_group=30)
    frame = delivery.order_outcomes(store.connect(path), kind="nps")
    late = frame[frame["late"]]
    row = summary.row("late")
    top = int((late["score"] >= 6).sum())
    assert row["orders"] == len(late) and row["top_box"] == top
    np.testing.assert_allclose(row["mean_score"], late["score"].mean(), rtol=1e-12)
    # t interval of the mean: scipy.stats.t.interval(0.95, n - 1, mean, sd / sqrt(n)).
    lo, hi = stats.t.interval(0.95, len(late) - 1, late["score"].mean(), late["score"].std() / math.sqrt(len(late)))
    np.testing.assert_allclose([row["mean_low"], row["mean_high"]], [lo, hi], rtol=1e-10)
    # Wilson interval: proportion_confint(top, n, method="wilson").
    wilson = proportion_confint(top, len(late), method="wilson")
    np.testing.assert_allclose([row["top_box_low"], row["top_box_high"]], wilson, rtol=1e-12)
    on = frame[~frame["late"]]
    gap_ci = confint_proportions_2indep(top, len(late), int((on["score"] >= 6).sum()), len(on), method="newcomb")
    np.testing.assert_allclose(summary.top_box_gap[1:], gap_ci, rtol=1e-12)
    assert list(summary.by_bucket["bucket"]) == ["on time", "1 day late", "2-3 days late", "4-7 days late", "over 7 days late"]
    counts = frame["days_late"].map(lambda d: 0 if d == 0 else 1 if d <= 1 else 2 if d <= 3 else 3 if d <= 7 else 4)
    assert list(summary.by_bucket["orders"]) == list(counts.value_counts().sort_index())
    # Groups under min_group keep their count but show no share.
    small = summary.by_bucket[summary.by_bucket["orders"] < 30]
    assert small["suppressed"].all() and small["top_box_share"].isna().all()
    assert summary.distribution.groupby("status")["share"].sum().round(12).eq(1.0).all()


def test_the_value_of_fewer_late_deliveries_worked_by_hand() -> None:
    # 10,000 orders a year, late share 8% -> 5%: 300 orders on time; gap -2 points (CI -2.5 to -1.5):
    # 600 points (450 to 750); at 2 BRL a point: 1,200 BRL (900 to 1,500).
    effect = delivery.Effect("late", "with controls", Estimate(-2.0, 0.25, -2.5, -1.5, 1e-9, math.inf, "HC1", n=5000), 400, "score ~ late")
    v = delivery.value_of_fewer_late(effect, orders_per_year=10_000, late_share_from=0.08, late_share_to=0.05, value_per_point=2.0)
    np.testing.assert_allclose(
        [v.orders_on_time, v.points, v.points_low, v.points_high, v.value, v.value_low, v.value_high],
        [300, 600, 450, 750, 1200, 900, 1500],
    )
    assert "from 8.0% to 5.0%" in v.sentence() and "1,200 BRL" in v.sentence() and "if the association were causal" in v.sentence()
    # Without a stated late share, the share of late orders in the fit: 400 / 5,000 = 8%.
    observed = delivery.value_of_fewer_late(effect, orders_per_year=10_000, late_share_to=0.05, value_per_point=2.0)
    assert observed.late_share_from == pytest.approx(0.08) and observed.value == pytest.approx(1200)


def test_findings_follow_the_schema_and_say_it_is_an_association(excerpt_con) -> None:
    summary = delivery.punctuality(excerpt_con)
    effects = delivery.fit_late_effects(delivery.order_outcomes(excerpt_con))
    value = delivery.value_of_fewer_late(effects.adjusted, orders_per_year=48_000, late_share_to=0.05, value_per_point=1.6)
    rows = delivery.findings(summary, effects, value, dataset="olist_ecommerce_partial")
    by_metric = {r["metric"]: r for r in rows}
    assert set(by_metric) == {
        "late_share", "top_box_on_time", "top_box_late", "top_box_gap", "late_score_gap_adjusted",
        "score_per_day_late", "value_fewer_late",
    }
    assert all(r["section"] == "delivery" for r in rows)
    assert by_metric["late_share"]["estimate"] == pytest.approx(85 / 958 * 100)
    assert "association" in by_metric["late_score_gap_adjusted"]["sentence"]
    assert any("association" in s for s in effects.sentences())


def test_charts_encode_shares_intervals_and_the_zero_line(excerpt_con) -> None:
    summary = delivery.punctuality(excerpt_con)
    effects = delivery.fit_late_effects(delivery.order_outcomes(excerpt_con))
    dist = delivery_charts.score_distribution(summary).to_dict()
    assert dist["encoding"]["y"]["field"] == "share" and dist["encoding"]["xOffset"]["field"] == "status"
    delay = delivery_charts.satisfied_by_delay(summary).to_dict()
    rule = delay["layer"][0]["encoding"]
    assert rule["y"]["field"] == "top_box_low" and rule["y2"]["field"] == "top_box_high"
    eff = delivery_charts.effect_estimates(effects).to_dict()
    assert eff["layer"][0]["encoding"]["x2"]["field"] == "ci_high"
    assert list(delivery_charts.effects_frame(effects)["label"]) == ["unadjusted", "with controls"]


# --------------------------------------------------------------------------- full data (CI)
def test_full_olist_table_agrees_with_the_readme_and_the_literature(tmp_path: Path) -> None:
    if not FULL.is_dir():
        pytest.skip(f"public datasets not found at {FULL} (present in CI, not in a user's clone)")
    con = store.connect(load.ensure_warehouse(SOURCES, raw_dir=FULL, warehouse=tmp_path / "olist.duckdb"))
    summary = delivery.punctuality(con)
    # README: 3,467 delivered orders; 380 delivered after the estimated date's midnight, of which
    # 41 on the promised day itself: 339 after the promised day.
    assert summary.orders == 3467 and summary.late_orders == 339
    on, late = summary.row("on time"), summary.row("late")
    assert 3.6 < on["mean_score"] < 3.9 and 1.8 < late["mean_score"] < 2.2
    # README: the 117 undelivered orders average 1.47.
    cov = delivery.status_coverage(con).set_index("status")
    undelivered = cov.drop(index="delivered")
    assert undelivered["orders"].sum() == 117
    assert (undelivered["orders"] * undelivered["mean_score"]).sum() / 117 == pytest.approx(1.47, abs=0.01)
    effects = delivery.fit_late_effects(delivery.order_outcomes(con))
    # Late orders score about 1.5-2 points lower; the interval excludes zero.
    assert -2.0 < effects.adjusted.fit.estimate < -1.5 and effects.adjusted.fit.ci_high < -1.0
    assert effects.per_day.fit.estimate < 0


def test_olist_tables_show_whole_counts_and_readable_coefficients(excerpt_con) -> None:
    summary = delivery.punctuality(excerpt_con)
    first = summary.sentences("orders whose review has a written comment")[0]
    assert first.startswith("The data represent orders whose review has a written comment: 958 delivered orders")
    assert f"mean score {summary.mean_score():.2f}" in first
    assert pd.api.types.is_integer_dtype(summary.table()["orders"])
    coverage = delivery.status_coverage(excerpt_con)
    assert all(pd.api.types.is_integer_dtype(coverage[c]) for c in ("orders", "delivered", "with_deadline", "answered"))
    shown = delivery.fit_late_effects(delivery.order_outcomes(excerpt_con)).display_frame()
    text = shown.to_string()
    assert not ZERO_COEF.search(text) and not DECIMAL_COUNT.search(text), text
    assert shown.loc[2, "unit"] == "points per day" and shown.loc[2, "of which late"] == shown.loc[2, "orders"]
