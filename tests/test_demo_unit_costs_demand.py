"""The demo company's planted unit costs and demand surge, recovered from the raw rows, through the
catalog and allocation, and through the demand forecast."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest

from outcomes import config
from outcomes.metrics import allocation, compute, panel
from outcomes.periods import Window
from outcomes.scorecard import demand

UNIT_COSTS = ("cost_per_order", "cost_per_active_customer", "cost_per_retained_customer")


@pytest.fixture(scope="module")
def con(demo_warehouse: Path):
    return ibis.duckdb.connect(str(demo_warehouse), read_only=True)


@pytest.fixture(scope="module")
def raw() -> Path:
    return config.project().raw_dir


def test_the_surge_is_in_the_raw_rows(raw: Path, ground_truth: dict):
    surge = ground_truth["demand_surge"]
    services = ", ".join(f"'{s}'" for s in surge["services"])
    for month in surge["months"]:
        count = "SELECT count(*) FROM read_csv('{}') WHERE cmdb_ci IN ({}) AND u_requester_type = 'customer'"
        base = duckdb.sql(count.format(raw / f"tickets/tickets_{month}.csv", services)).fetchone()[0]
        extra = duckdb.sql(count.format(raw / f"tickets_surge/tickets_surge_{month}.csv", services)).fetchone()[0]
        assert base == surge["baseline_tickets"][month] and extra == surge["extra_tickets"][month]
        assert extra / base == pytest.approx(surge["relative"], abs=0.002)


@pytest.mark.slow  # about 9 s on a loaded machine: 24 months of panel and 13 forecasts
def test_the_surge_is_recovered_through_the_catalog_and_the_forecast(con, ground_truth: dict):
    surge = ground_truth["demand_surge"]
    tidy = compute.compute(con, start="2025-08", end="2025-12", dims=("service",), metrics=["ticket_volume"], requester="customer")
    volume = tidy[tidy["segment"].isin(surge["services"])].groupby("period")["value"].sum()
    for month in surge["months"]:
        expected = surge["baseline_tickets"][month] + surge["extra_tickets"][month]
        assert volume[pd.Timestamp(f"{month}-01")] == expected
    # the forecast made from the months before the surge does not see it coming: the surge is
    # above the 80% interval's upper bound in both months
    history = compute.compute(con, start="2024-01", end="2025-10", dims=("service",), metrics=["ticket_volume"], requester="customer")
    journey = history[history["segment"].isin(surge["services"])].groupby("period")["value"].sum()
    f = demand.forecast_demand(journey, horizon=2).frame
    for month, upper in zip(surge["months"], f["upper"], strict=True):
        assert volume[pd.Timestamp(f"{month}-01")] > upper
    # and the scorecard's answer for December names the journey's services as too busy
    services = panel.build_panel(con, start="2024-01", end="2025-12", segment="service",
                                 metrics=["ticket_volume", "demand_capacity_ratio"])
    outlook = {s.service: s for s in demand.demand_outlook(services).services}
    for service in surge["services"]:
        assert outlook[service].busy, outlook[service].sentence
    assert sum(s.busy for s in outlook.values() if s.service not in surge["services"]) <= 2


def test_the_unit_costs_are_recovered_from_the_raw_rows(raw: Path, ground_truth: dict):
    months = {m["month"]: m for m in ground_truth["unit_costs"]["months"]}
    ledger = duckdb.sql(
        f"SELECT period, sum(round(amount_eur * 100))::BIGINT FROM read_csv('{raw / 'it_costs.csv'}') GROUP BY 1"
    ).fetchall()
    orders = duckdb.sql(
        f"SELECT strftime(order_ts, '%Y-%m'), count(*) FROM read_parquet('{raw / 'orders/*.parquet'}') GROUP BY 1"
    ).fetchall()
    for month, cents in ledger:
        assert months[month]["it_cost"] == pytest.approx(cents / 100, abs=1e-6)
    for month, n in orders:
        assert months[month]["orders"] == n


def test_the_unit_costs_are_recovered_through_the_catalog_and_the_allocation(con, ground_truth: dict):
    truth = {m["month"]: m for m in ground_truth["unit_costs"]["months"]}
    window = Window("2025-07", "2025-12")
    tidy = compute.compute(con, start=window.start, end=window.last_month.start, dims=("all", "service"), metrics=list(UNIT_COSTS))
    company = tidy[tidy["segment_dim"] == "all"]
    for row in company.itertuples():
        assert row.value == pytest.approx(truth[row.period.strftime("%Y-%m")][row.metric], abs=1e-6), row  # truth has six decimals
    frame = allocation.allocation_frame(con, window, allocation.load_rules())
    by_service = frame.groupby([frame["period"].dt.strftime("%Y-%m"), "service"])["cents"].sum() / 100
    for (month, service), eur in by_service.items():
        # largest remainders move at most a cent per pool, and a service takes from at most four pools here
        assert eur == pytest.approx(truth[month]["allocated_cost_by_service"][service], abs=0.04), (month, service)
    for month, m in truth.items():
        if month >= "2025-07":
            assert frame[frame["period"] == pd.Timestamp(f"{month}-01")]["cents"].sum() == round(m["it_cost"] * 100)
    # by service, the unit cost divides the service's allocated cost by the orders of the customers it serves
    web = tidy[(tidy["segment"] == "Web Shop") & (tidy["metric"] == "cost_per_order")].set_index("period")
    dec = pd.Timestamp("2025-12-01")
    assert web.loc[dec, "value"] * web.loc[dec, "n"] == pytest.approx(by_service[("2025-12", "Web Shop")], abs=0.005)
