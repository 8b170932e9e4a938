"""Variance reduction asked for in an initiative's YAML: accepted and refused specs, the sums
the engine computes for it (DuckDB against pandas), the analysis and what the pages say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from canonical_tables import make_warehouse
from page_text import visible_text
from test_review import FIXTURE_SPEC, _fixture_rows, _pandas_units
from outcomes import params
from outcomes.errors import ParamsError
from outcomes.experiment import aggregate_table, aggregates, analyze_aggregates, analyze_table
from outcomes.experiment.results import result_from_dict, result_to_dict
from outcomes.experiment.randomized.adjust import CovariateSums, StrataSums, post_stratified, regression_adjusted
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report import results as report_results

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture

BASE = {"id": "t", "data": {"unit": "u", "arm": "arm", "control": "control"}}


def _load(tmp_path: Path, metric: dict, **extra: object) -> InitiativeSpec:
    doc = {**BASE, **extra, "metrics": [{"column": "y", "role": "primary", **metric}]}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc))
    return params.load(path, InitiativeSpec)


def test_yaml_accepts_covariates_and_strata(tmp_path: Path) -> None:
    spec = _load(tmp_path, {"adjust": {"covariates": ["x1", "x2"]}})
    assert spec.primary.adjust.covariates == ["x1", "x2"] and spec.primary.adjust.names == ("x1", "x2")
    assert _load(tmp_path, {"adjust": {"strata": "seg"}}).primary.adjust.names == ("seg",)
    assert _load(tmp_path, {"pre": "x1"}).primary.adjust is None  # one covariate stays `pre`


@pytest.mark.parametrize(
    ("metric", "extra", "message"),
    [
        ({"adjust": {"covariats": ["x"]}}, {}, r"unknown key 'metrics.0.adjust.covariats' \(did you mean 'covariates'\?\); valid keys are: covariates, strata"),
        ({"adjust": {"covariates": ["x"], "strata": "s"}}, {}, r"adjust takes either covariates \(\['x'\]\) or strata \('s'\), not both; write adjust: \{covariates: \['x'\]\} or adjust: \{strata: s\}"),
        ({"adjust": {}}, {}, r"adjust needs covariates \(pre-period columns\) or strata"),
        ({"adjust": {"covariates": ["x", "x"]}}, {}, r"adjust.covariates names \['x'\] more than once"),
        ({"pre": "x0", "adjust": {"covariates": ["x1"]}}, {}, r"give either pre \('x0', one covariate\) or adjust, not both; write adjust: \{covariates: \[x0, x1\]\} and remove pre"),
        ({"kind": "ratio", "numerator": "a", "denominator": "b", "adjust": {"strata": "s"}}, {},
         r"adjust is for mean and proportion metrics; this metric is a ratio: remove adjust \(give pre and pre_denominator"),
        ({"adjust": {"strata": "s"}}, {"data": {**BASE["data"], "cluster": "team"}}, r"cannot be combined with data.cluster \('team'\)"),
        ({"adjust": {"strata": "s"}}, {"design": "did", "treated_units": ["a"]}, r"adjust \(metrics \['y'\]\) is for randomized designs"),
    ],
)
def test_yaml_refuses_what_makes_no_sense(tmp_path: Path, metric: dict, extra: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        _load(tmp_path, metric, **extra)


def _planted(seed: int = 11, n: int = 3000) -> pd.DataFrame:
    """A unit table with a planted +0.2 effect, two covariates and three strata (seed recorded)."""
    rng = np.random.default_rng(seed)
    seg = rng.choice(["a", "b", "c"], n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    arm = rng.choice(["control", "treatment"], n)
    y = 1 + 0.2 * (arm == "treatment") + np.select([seg == "a", seg == "b"], [0.0, 2.0], 5.0) + x1 + 0.5 * x2 + rng.normal(size=n)
    return pd.DataFrame({"u": np.arange(n), "arm": arm, "seg": seg, "x1": x1, "x2": x2, "y": y})


def _spec(adjust: dict | None, segments: tuple[str, ...] = ()) -> InitiativeSpec:
    metric = {"column": "y", "role": "primary", **({"adjust": adjust} if adjust else {})}
    return InitiativeSpec.model_validate({**BASE, "data": {**BASE["data"], "segments": list(segments)}, "metrics": [metric]})


def test_a_unit_table_is_adjusted_as_the_library_functions_adjust() -> None:
    df = _planted()
    c, t = (df[df["arm"] == a] for a in ("control", "treatment"))
    covs = regression_adjusted(*(CovariateSums.from_values(g["y"], g[["x1", "x2"]]) for g in (c, t))).comparison
    codes = {"a": 0, "b": 1, "c": 2}
    strata = post_stratified(*(StrataSums.from_values(g["y"], g["seg"].map(codes), 3) for g in (c, t))).comparison
    for adjust, expected, method in (({"covariates": ["x1", "x2"]}, covs, "welch+cuped"), ({"strata": "seg"}, strata, "welch+poststrat")):
        e = analyze_table(df, _spec(adjust)).effects[0]
        assert e.method == method
        np.testing.assert_allclose([e.estimate_abs, e.se_abs, e.variance_reduction],
                                   [expected.estimate_abs[()], expected.se_abs[()], expected.variance_reduction[()]], rtol=1e-10)
        assert e.ci_low <= 0.2 <= e.ci_high  # the planted effect
        assert e.variance_reduction > 0.15
    plain = analyze_table(df, _spec(None)).effects[0]
    assert plain.adjustment is None and plain.adjusted_for == ()


def test_sentence_and_results_entry_name_the_adjustment() -> None:
    e = analyze_table(_planted(), _spec({"covariates": ["x1", "x2"]})).effects[0]
    assert e.sentence().endswith(f"adjusting for x1 and x2 removed {round(100 * e.variance_reduction)}% of the variance.")
    entry = e.to_entry()
    assert entry["adjustment"] == "cuped" and entry["adjusted_for"] == ["x1", "x2"]
    assert entry["variance_reduction"] == pytest.approx(e.variance_reduction)
    strat = analyze_table(_planted(), _spec({"strata": "seg"})).effects[0]
    assert strat.to_entry()["adjustment"] == "post-stratification"
    assert "adjusting for seg removed" in strat.sentence()


def test_strata_that_are_also_the_breakdown_leave_segment_rows_unadjusted_but_readable() -> None:
    result = analyze_table(_planted(), _spec({"strata": "seg"}, segments=("seg",)))
    assert len(result.segment_effects) == 3
    for e in result.segment_effects:  # one stratum per segment: nothing to re-weight, nothing removed
        assert e.variance_reduction == pytest.approx(0.0, abs=1e-12) and e.estimable and not e.conditions


ADJUSTED_SPEC = {
    **FIXTURE_SPEC,
    "metrics": [
        *FIXTURE_SPEC["metrics"][:1],
        {"metric": "ticket_volume", "column": "tickets", "role": "secondary",
         "adjust": {"covariates": ["tickets_pre", "revenue_pre", "csat_answers_pre"]}},
        {"metric": "revenue", "column": "revenue", "adjust": {"strata": "segment"}},
    ],
}


@pytest.fixture(scope="module")
def fixture_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    """The small warehouse of ``test_review`` (40 customers, seed 3) and its rows."""
    rows = _fixture_rows()
    return rows, make_warehouse(tmp_path_factory.mktemp("adjust") / "w.duckdb", **rows)


def test_warehouse_sums_of_covariates_and_strata_equal_pandas(fixture_warehouse: tuple[dict, object]) -> None:
    rows, con = fixture_warehouse
    spec = InitiativeSpec.model_validate(ADJUSTED_SPEC)
    window = aggregates.analysis_window(con, spec)
    got = aggregates.randomized_aggregates(con, spec, window)
    expected = aggregate_table(_pandas_units(rows, window), spec)
    key = ["metric", "arm", "segment"]
    a, b = (f.sort_values(key, ignore_index=True) for f in (got.table, expected))
    assert sorted(a.columns) == sorted(b.columns)
    assert {"cov_x@revenue_pre", "cov_xx@tickets_pre*csat_answers_pre", "cov_xy@csat_answers_pre",
            "strata_n@segment=smb", "strata_sum_squares@segment=consumer"} <= set(a.columns)
    pd.testing.assert_frame_equal(a[key].astype(str), b[key].astype(str))
    numbers = [c for c in a.columns if c not in key]
    np.testing.assert_allclose(a[numbers].to_numpy(float), b[numbers].to_numpy(float), rtol=1e-9, equal_nan=True)
    result = analyze_aggregates(got.table, spec, units=got.units)
    assert result.effect("ticket_volume", "b").adjusted_for == ("tickets_pre", "revenue_pre", "csat_answers_pre")
    assert result.effect("revenue", "b").method == "welch+poststrat"


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"metric": "ticket_volume", "column": "tickets", "adjust": {"covariates": ["orders"]}},
         r"metrics\[1\].adjust.covariates names 'orders', a column of the test window, which the change itself moves; "
         r"adjust for columns measured before the start: write 'orders_pre'"),
        ({"metric": "ticket_volume", "column": "tickets", "adjust": {"covariates": ["order_pre"]}},
         r"metrics\[1\].adjust.covariates\[0\] = 'order_pre'.*Valid columns are: tickets"),
        ({"metric": "ticket_volume", "column": "tickets", "adjust": {"strata": "plan"}},
         r"metrics\[1\].adjust.strata = 'plan' is not a customer attribute; valid strata are: segment, region"),
    ],
)
def test_warehouse_refuses_covariates_it_cannot_give(fixture_warehouse: tuple[dict, object], metric: dict, message: str) -> None:
    _, con = fixture_warehouse
    spec = InitiativeSpec.model_validate({**FIXTURE_SPEC, "metrics": [FIXTURE_SPEC["metrics"][0], metric]})
    with pytest.raises(ParamsError, match=message):
        aggregates.randomized_aggregates(con, spec, aggregates.analysis_window(con, spec))


def test_the_demo_month_shows_the_portals_variance_reduction(demo_month: Path) -> None:
    doc = json.loads((demo_month / "results.json").read_text(encoding="utf-8"))
    report_results.validate(doc)
    portal = next(i for i in doc["initiatives"] if i["id"] == "self-service-portal")
    row = next(m for m in portal["metrics"] if m["metric"] == "ticket_volume")
    assert row["adjustment"] == "cuped" and row["variance_reduction"] > 0.2
    assert row["adjusted_for"] == ["tickets_pre", "self_service_tickets_pre", "orders_pre", "csat_answers_pre"]
    assert next(m for m in portal["metrics"] if m["metric"] == "self_service_rate")["adjustment"] is None
    page = visible_text((demo_month / "02_initiative_review--self-service-portal.html").read_text(encoding="utf-8"))
    share = round(100 * row["variance_reduction"])
    assert (
        "Tickets per customer in the window (portal arm): adjusting for tickets before the start, self service "
        f"tickets before the start, orders before the start and csat answers before the start removed {share}% of the variance."
    ) in " ".join(page.split())


def test_an_adjusted_result_survives_the_shared_cache() -> None:
    result = analyze_table(_planted(), _spec({"covariates": ["x1", "x2"]}))
    back = result_from_dict(json.loads(json.dumps(result_to_dict(result))))
    assert back.effects[0].adjusted_for == ("x1", "x2") and back.effects[0].to_entry() == result.effects[0].to_entry()
