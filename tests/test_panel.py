"""The joint panel: IT and customer metrics side by side, the service-map join, suppression."""

from __future__ import annotations

import pandas as pd
import pytest
from canonical_tables import example_rows, make_warehouse

from outcomes.metrics import compute
from outcomes.metrics.panel import PANEL_COLUMNS, build_panel, series, wide
from outcomes.periods import Window


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return make_warehouse(tmp_path_factory.mktemp("wh") / "example.duckdb", **example_rows())


def test_panel_is_tidy_with_company_and_segment_rows(con):
    panel = build_panel(con, start="2025-01", end="2025-02", segment="region", min_customers=1)
    assert list(panel.columns) == PANEL_COLUMNS
    assert set(panel["segment_dim"]) == {"all", "region"}
    assert set(panel.loc[panel.segment_dim == "region", "segment"]) == {"north", "south", "west"}
    assert not panel.duplicated(["period", "segment_dim", "segment", "metric"]).any()
    # every month x segment x metric is present
    assert len(panel) == 2 * (1 + 3) * panel["metric"].nunique()


def test_wide_puts_it_and_customer_metrics_side_by_side(con):
    panel = build_panel(
        con, start="2025-01", end="2025-01", segment="region", metrics=["first_response_mean_hours", "csat"], min_customers=1
    )
    w = wide(panel, segment_dim="region")
    assert list(w.columns) == ["first_response_mean_hours", "csat"]
    north = w.loc[("north", pd.Timestamp("2025-01-01"))]
    assert north["first_response_mean_hours"] == pytest.approx(4.0)  # t1 2 h, t3 6 h (t4 none)
    assert north["csat"] == pytest.approx(1.0)  # c1 5, c3 4
    assert series(panel, "csat").iloc[0] == pytest.approx(2 / 3)


def test_service_segments_join_customer_outcomes_through_the_service_map(con):
    panel = build_panel(con, start="2025-01", end="2025-01", segment="service", metrics=["ticket_volume", "churn_rate"], min_customers=1)
    w = wide(panel, segment_dim="service")
    jan = pd.Timestamp("2025-01-01")
    assert w.loc[("web", jan), "ticket_volume"] == 3
    # web serves north and south: start customers c1 c2 c4 c5, c4 left
    assert w.loc[("web", jan), "churn_rate"] == pytest.approx(1 / 4)


def test_default_suppression_hides_small_segments(con):
    panel = build_panel(con, start="2025-01", end="2025-01", segment="region", metrics=["active_customers", "csat"])
    cust = panel[panel.metric == "active_customers"]
    assert cust["suppressed"].all() and cust["value"].isna().all()


def test_panel_runs_one_query_per_family(con, monkeypatch):
    calls = []
    original = compute.run_family

    def counting(con_, family, scope):
        calls.append(family.name)
        return original(con_, family, scope)

    monkeypatch.setattr(compute, "run_family", counting)
    build_panel(con, start="2025-01", end="2025-03", segment="region")
    assert len(calls) == len(set(calls)) == len(compute.FAMILIES)


def test_window_counts_months_back_from_the_period():
    def window(period: str, months: int) -> tuple[str, str]:
        w = Window.last(months, ending=period)
        return str(w.first_month), str(w.last_month)

    assert window("2025-12", 24) == ("2024-01", "2025-12")
    assert window("2025-03", 1) == ("2025-03", "2025-03")


def test_unknown_segment_is_refused(con):
    with pytest.raises(ValueError, match="valid"):
        build_panel(con, start="2025-01", end="2025-01", segment="country")
