"""Every catalog metric on a tiny hand-made company whose numbers are worked out in comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from canonical_tables import example_rows, make_warehouse

from outcomes import format as fmt
from outcomes.metrics import catalog
from outcomes.metrics import compute
from outcomes.errors import WarehouseError
from outcomes.periods import Month, Window

ALL_DIMS = ("all", "region", "customer_segment", "channel", "service")
CONTRACT_IDS = (
    "ticket_volume tickets_per_user first_response_median_hours first_response_p90_hours first_response_mean_hours "
    "mttr_hours median_time_to_resolve_hours fcr_rate sla_attainment reopen_rate reassignments_per_ticket "
    "backlog_size backlog_age_days self_service_rate cost_per_ticket outage_minutes availability "
    "deployment_frequency lead_time_hours change_failure_rate time_to_restore_hours employee_it_satisfaction "
    "demand_capacity_ratio backlog_growth active_customers csat nps churn_rate retention_rate conversion_rate "
    "revenue arpu aov clv cac"
).split()


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return make_warehouse(tmp_path_factory.mktemp("wh") / "example.duckdb", **example_rows())


@pytest.fixture(scope="module")
def tidy(con):
    return compute.compute(con, start="2025-01", end="2025-03", dims=ALL_DIMS, min_customers=1)


def val(tidy, metric, period="2025-01", dim="all", segment="all"):
    row = tidy[
        (tidy.metric == metric)
        & (tidy.period == pd.Timestamp(period))
        & (tidy.segment_dim == dim)
        & (tidy.segment == segment)
    ]
    assert len(row) == 1, (metric, period, dim, segment)
    return row.iloc[0]


def test_catalog_holds_the_contract_ids_and_valid_entries():
    ids = catalog.ids()
    assert set(CONTRACT_IDS) <= set(ids)
    for m in catalog.all_metrics():
        assert m.question.endswith("?"), m.id
        assert m.owner in ("CIO", "CMO", "joint")
        assert (m.target is not None) or m.direction != "balance"


@pytest.mark.parametrize(
    ("unit", "kind", "rule"),
    [("furlongs", "sum", "unit must be one of"), ("count", "mean", "a mean is not one"), ("tickets", "mean", "a mean")],
)
def test_a_catalog_unit_the_formatter_cannot_write_is_refused(unit: str, kind: str, rule: str) -> None:
    entry = catalog.get("reassignments_per_ticket").model_dump() | {"unit": unit, "kind": kind}
    with pytest.raises(ValueError, match=rule):
        catalog.Metric(**entry)


def test_every_catalog_value_reads_with_its_unit():
    shown = {m.id: fmt.value(0.32 if m.kind == "mean" else -9.0, m.unit, signed=True) for m in catalog.all_metrics()}
    assert shown["reassignments_per_ticket"] == "+0.32 reassignments/ticket"
    assert shown["backlog_growth"] == "-9 tickets"
    assert fmt.value(1.0, catalog.get("demand_capacity_ratio").unit) == "1.00"


def test_every_catalog_metric_is_computed_by_exactly_one_family_or_derivation():
    direct = [mid for f in compute.FAMILIES for mid in f.metrics]
    derived = [d.metric for d in compute.DERIVED]
    assert sorted(direct + derived) == sorted(catalog.ids())


def test_catalog_dimensions_match_what_the_families_can_cut():
    for f in compute.FAMILIES:
        for mid in f.metrics:
            assert catalog.get(mid).dimensions == f.dims, mid
    fam = {f.name: set(f.dims) for f in compute.FAMILIES}
    fam["services"] = set(ALL_DIMS)
    for d in compute.DERIVED:
        possible = set.intersection(*(fam[n] for n in d.needs))
        assert set(catalog.get(d.metric).dimensions) <= possible, d.metric


def test_ticket_metrics_by_month_opened(tidy):
    # first responses 2 h, 4 h, 6 h (t4 has none); p90 by linear interpolation: 4 + 0.8 * 2
    assert val(tidy, "ticket_volume").value == 4
    assert val(tidy, "first_response_mean_hours").value == pytest.approx(4.0)
    assert val(tidy, "first_response_mean_hours").n == 3
    assert val(tidy, "first_response_median_hours").value == pytest.approx(4.0)
    assert val(tidy, "first_response_p90_hours").value == pytest.approx(np.quantile([2, 4, 6], 0.9))
    assert val(tidy, "fcr_rate").value == pytest.approx(1 / 3)  # T, F, F; t3 unrecorded
    assert val(tidy, "reassignments_per_ticket").value == pytest.approx(1.0)  # (0 + 2 + 1) / 3
    assert val(tidy, "self_service_rate").value == pytest.approx(0.5)  # portal, chatbot of 4


def test_ticket_metrics_by_month_resolved(tidy):
    # January resolves t1 (24 h, within its 48 h SLA) and t2 (6 h, sla_met recorded False wins)
    assert val(tidy, "mttr_hours").value == pytest.approx(15.0)
    assert val(tidy, "median_time_to_resolve_hours").value == pytest.approx(15.0)
    assert val(tidy, "sla_attainment").value == pytest.approx(0.5)
    assert val(tidy, "reopen_rate").value == pytest.approx(0.5)
    # March resolves t4 after 30 days, outside its 24 h SLA
    assert val(tidy, "mttr_hours", "2025-03").value == pytest.approx(720.0)
    assert val(tidy, "sla_attainment", "2025-03").value == 0.0


def test_empty_month_gives_zero_counts_and_null_rates(tidy):
    feb = "2025-02"
    assert val(tidy, "ticket_volume", feb).value == 0
    assert val(tidy, "outage_minutes", feb).value == 0
    assert val(tidy, "deployment_frequency", feb).value == 0
    fr = val(tidy, "first_response_mean_hours", feb)
    assert math.isnan(fr.value) and fr.note == "no data for this segment and month"
    assert math.isnan(val(tidy, "demand_capacity_ratio", feb).value)  # 0 opened / 0 resolved


def test_backlog_at_month_end(tidy):
    # end of January: t3 (opened Jan 20 09:00) and t4 (Jan 31 22:00) are open
    assert val(tidy, "backlog_size").value == 2
    assert val(tidy, "backlog_age_days").value == pytest.approx((11 + 15 / 24 + 2 / 24) / 2)
    assert val(tidy, "backlog_size", "2025-02").value == 2
    assert val(tidy, "backlog_size", "2025-03").value == 1
    assert val(tidy, "backlog_age_days", "2025-03").value == pytest.approx(70 + 15 / 24)


def test_demand_against_capacity(tidy):
    assert val(tidy, "demand_capacity_ratio").value == pytest.approx(2.0)  # 4 opened / 2 resolved
    assert val(tidy, "backlog_growth").value == 2
    assert val(tidy, "backlog_growth", "2025-03").value == -1
    assert val(tidy, "demand_capacity_ratio", "2025-03").value == 0.0
    web = val(tidy, "demand_capacity_ratio", dim="service", segment="web")
    assert web.value == pytest.approx(3 / 2) and web.n == 2


def test_ticket_segments_come_from_ticket_or_customer(tidy):
    # t4 has no region: it takes customer c1's (north); t3 is an employee's: no customer segment
    assert val(tidy, "ticket_volume", dim="region", segment="north").value == 3
    assert val(tidy, "ticket_volume", dim="region", segment="south").value == 1
    assert val(tidy, "ticket_volume", dim="customer_segment", segment="smb").value == 2
    assert val(tidy, "ticket_volume", dim="customer_segment", segment="unassigned").value == 1
    assert val(tidy, "ticket_volume", dim="channel", segment="portal").value == 1


def test_segment_without_tickets_has_zero_volume_and_no_rates(tidy):
    west = val(tidy, "ticket_volume", dim="region", segment="west")
    assert west.value == 0 and west.n == 0
    assert math.isnan(val(tidy, "mttr_hours", dim="region", segment="west").value)


def test_customer_base(tidy):
    # January: at start c1 c2 c4 c5 c6; c4 leaves; c3 joins; at end c1 c2 c3 c5 c6
    assert val(tidy, "active_customers").value == 6
    assert val(tidy, "churn_rate").value == pytest.approx(1 / 5)
    assert val(tidy, "retention_rate").value == pytest.approx((5 - 1) / 5)
    assert val(tidy, "churn_rate", "2025-02").value == pytest.approx(1 / 5)  # c5
    assert val(tidy, "churn_rate", "2025-03").value == 0
    assert val(tidy, "churn_rate", dim="region", segment="south").value == pytest.approx(1 / 2)


def test_surveys_orders_and_value(tidy):
    assert val(tidy, "csat").value == pytest.approx(2 / 3)  # 5, 3, 4
    assert val(tidy, "nps").value == pytest.approx(0.0)  # one promoter, one passive, one detractor
    assert val(tidy, "revenue").value == pytest.approx(180.0)
    assert val(tidy, "revenue").n == 2
    assert val(tidy, "aov").value == pytest.approx(60.0)
    assert val(tidy, "arpu").value == pytest.approx(180 / 6)
    # margin rate over orders with a margin: 50 / 130
    assert val(tidy, "clv").value == pytest.approx(30 * (50 / 130) / 0.2)
    assert val(tidy, "conversion_rate").value == pytest.approx(8 / 400)
    assert val(tidy, "conversion_rate", dim="region", segment="north").value == pytest.approx(5 / 100)
    assert val(tidy, "cac").value == pytest.approx(500.0)  # one new customer (c3)
    assert val(tidy, "tickets_per_user").value == pytest.approx(3 / 6)


def test_customer_outcomes_per_service_through_the_service_map(tidy):
    # web serves north and south, so its customers are all but c6 (west); mail is internal
    assert val(tidy, "active_customers", dim="service", segment="web").value == 5
    assert val(tidy, "csat", dim="service", segment="web").value == pytest.approx(2 / 3)
    assert math.isnan(val(tidy, "csat", dim="service", segment="mail").value)


def test_it_operations(tidy):
    assert val(tidy, "cost_per_ticket").value == pytest.approx(1000 / 4)
    assert math.isnan(val(tidy, "cost_per_ticket", "2025-02").value)  # no cost recorded
    assert val(tidy, "outage_minutes").value == 90
    # i1 has no region: it counts in both regions web serves
    assert val(tidy, "outage_minutes", dim="region", segment="north").value == 60
    assert val(tidy, "outage_minutes", dim="region", segment="south").value == 90
    assert val(tidy, "availability").value == pytest.approx(1 - 90 / (31 * 1440 * 2))
    assert val(tidy, "availability", dim="region", segment="north").value == pytest.approx(1 - 60 / (31 * 1440))
    assert val(tidy, "deployment_frequency").value == pytest.approx(3 / 31)
    assert val(tidy, "lead_time_hours").value == pytest.approx(20.0)
    assert val(tidy, "change_failure_rate").value == pytest.approx(2 / 3)
    assert val(tidy, "time_to_restore_hours").value == pytest.approx(4.0)  # median of 3 h and 5 h
    assert val(tidy, "lead_time_hours", dim="service", segment="web").value == pytest.approx(15.0)
    assert val(tidy, "employee_it_satisfaction").value == pytest.approx(2 / 3)


def test_dimension_a_metric_cannot_be_cut_by_is_null_with_the_reason(tidy):
    row = val(tidy, "lead_time_hours", dim="region", segment="north")
    assert math.isnan(row.value)
    assert row.note == catalog.get("lead_time_hours").not_by["region"]
    assert not row.suppressed


def test_small_segments_are_suppressed(con):
    tidy = compute.compute(con, start="2025-01", end="2025-01", dims=("all", "region"), metrics=["csat", "ticket_volume"])
    csat = tidy[tidy.metric == "csat"].set_index("segment")
    assert csat.loc["all", "n"] == 3 and csat.loc["all", "suppressed"]
    assert csat["value"].isna().all()
    assert "fewer than 10" in csat.loc["north", "note"]
    # IT metrics are not customer metrics: never suppressed
    assert not tidy[tidy.metric == "ticket_volume"]["suppressed"].any()
    shown = compute.compute(con, start="2025-01", end="2025-01", metrics=["csat"], min_customers=3)
    assert shown["value"].iloc[0] == pytest.approx(2 / 3)


def test_requester_filter(con):
    tidy = compute.compute(
        con, start="2025-01", end="2025-01", metrics=["ticket_volume", "cost_per_ticket"], requester="customer"
    )
    assert val(tidy, "ticket_volume").value == 3
    cost = val(tidy, "cost_per_ticket")
    assert math.isnan(cost.value) and "every requester" in cost.note


def test_plan_runs_only_the_needed_queries():
    assert compute.plan(["csat", "churn_rate"]) == ["surveys", "customer_base"]
    assert compute.plan(["arpu"]) == ["orders", "customer_base"]


def test_errors_name_the_problem(con):
    with pytest.raises(KeyError, match="did you mean 'csat'"):
        compute.compute(con, start="2025-01", end="2025-01", metrics=["cast"])
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("January")
    with pytest.raises(ValueError, match="before start month"):
        Window("2025-03", "2025-01")
    with pytest.raises(ValueError, match="valid dimensions"):
        compute.compute(con, start="2025-01", end="2025-01", dims=("country",))


def test_missing_table_names_the_table_and_the_fix(tmp_path):
    import ibis

    con = ibis.duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(WarehouseError, match="no table customer_surveys, customers.*needed for csat.*outcomes ingest"):
        compute.compute(con, start="2025-01", end="2025-01", metrics=["csat"])


def test_glossary_is_fresh():
    assert catalog.glossary_path().read_text(encoding="utf-8") == catalog.render_glossary(), (
        "docs/metrics.md is stale: regenerate it with `outcomes docs` (or `make docs`)"
    )


def test_glossary_lists_every_metric_with_its_source():
    text = catalog.render_glossary()
    for m in catalog.all_metrics():
        assert f"### {m.id}" in text
        assert f"[{m.source}]" in text


@pytest.mark.parametrize("dims", [("all",), ("all", "customer_segment"), ("all", "service")], ids="+".join)
@pytest.mark.parametrize("family", [f for f in compute.FAMILIES if f.rollup], ids=lambda f: f.name)
def test_company_row_summed_from_the_rollup_dimension_equals_a_direct_pass(demo_warehouse, family, dims):
    """The company row of a rolled-up family equals the same family queried for the company directly."""
    import dataclasses

    from outcomes.warehouse import store

    con = store.connect(demo_warehouse, read_only=True)
    scope = compute.Scope(Window("2024-06", "2025-12"), dims)
    order = ["segment_dim", "segment", "period"]
    rolled = compute.run_family(con, family, scope).sort_values(order, ignore_index=True)
    direct = compute.run_family(con, dataclasses.replace(family, rollup=()), scope).sort_values(order, ignore_index=True)
    assert set(rolled["segment_dim"]) == set(dims) and (rolled["segment_dim"] == "all").sum() == 19
    pd.testing.assert_frame_equal(rolled[order], direct[order])
    columns = [c for c in direct.columns if c not in compute.KEYS]
    assert columns and set(columns) == set(rolled.columns) - set(compute.KEYS)
    np.testing.assert_allclose(
        rolled[columns].to_numpy(float), direct[columns].to_numpy(float), rtol=1e-12, equal_nan=True
    )


def test_ids_in_text_read_as_catalog_names():
    assert catalog.in_words("Change in churn_rate per +1 first_response_mean_hours") == (
        "Change in churn rate per +1 first response, mean"
    )
    assert catalog.in_words("csat and tickets_prevented") == "csat and tickets prevented"
    assert catalog.in_words("nps_score_x") == "nps score x"


def test_tail_metrics_of_first_response_and_resolution(tidy):
    """P95 first response and P90/P95 time to resolve, linear interpolation worked out by hand."""
    # first responses in January: 2 h, 4 h, 6 h; P95 at rank 0.95 * 2 = 1.9: 4 + 0.9 * (6 - 4)
    p95 = val(tidy, "first_response_p95_hours")
    assert p95.value == pytest.approx(5.8) and p95.n == 3
    # January resolves t2 after 6 h and t1 after 24 h; rank p * 1: 6 + 0.9 * 18 and 6 + 0.95 * 18
    assert val(tidy, "resolution_p90_hours").value == pytest.approx(22.2)
    assert val(tidy, "resolution_p95_hours").value == pytest.approx(23.1)
    assert val(tidy, "resolution_p95_hours").n == 2
    # March resolves only t4, after 30 days; February resolves nothing
    assert val(tidy, "resolution_p90_hours", "2025-03").value == pytest.approx(720.0)
    assert math.isnan(val(tidy, "resolution_p95_hours", "2025-02").value)
    for mid in ("first_response_p95_hours", "resolution_p90_hours", "resolution_p95_hours"):
        m = catalog.get(mid)
        assert (m.unit, m.direction, m.owner, m.area) == ("hours", "lower_is_better", "CIO", "user_experience")
