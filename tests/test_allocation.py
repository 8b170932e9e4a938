"""Cost allocation and unit costs on small hand-made ledgers, worked out in comments.

Every split is checked to the cent: the pools, the services and the journeys add up to the
ledger total in every month, including on awkward amounts (a cent shared three ways, shares
of a third, a month whose driver counts nothing).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from canonical_tables import example_rows, make_warehouse

from outcomes.errors import ParamsError
from outcomes.metrics import allocation, compute
from outcomes.metrics.allocation import AllocationRules, PoolRule
from outcomes.params import validate
from outcomes.periods import Window

JAN = Window("2025-01", "2025-01")


def _rows(**extra):
    rows = example_rows()
    rows.update(extra)
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return make_warehouse(tmp_path_factory.mktemp("alloc") / "example.duckdb", **example_rows())


def _cents(frame: pd.DataFrame, by: str) -> dict[str, int]:
    return {k: int(v) for k, v in frame.groupby(by)["cents"].sum().items()}


def test_default_rules_share_the_desk_by_tickets_and_keep_the_rest(con):
    # January: desk staff 800.00 + tools 200.00, web infrastructure 999.00 (ledger 1,999.00).
    # Tickets opened: web t1, t2, t4; mail t3 -> the desk's 1,000.00 goes 3:1.
    frame = allocation.allocation_frame(con, JAN, AllocationRules())
    assert _cents(frame, "service") == {"web": 75_000 + 99_900, "mail": 25_000}
    assert frame["cents"].sum() == 199_900
    # web serves buy (north, south), mail get help (south): one journey each
    assert _cents(frame, "journey") == {"buy": 174_900, "get help": 25_000}
    assert set(frame["driver"]) == {"tickets", "direct"}


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    """A ledger of awkward amounts on three services; web serves two journeys."""
    rows = _rows(
        it_costs=[
            dict(month="2025-01-01", service="shared", cost_line="tiny", amount=0.01),
            dict(month="2025-01-01", service="shared", cost_line="thirds", amount=10.0),
            dict(month="2025-01-01", service="platform", cost_line="staff", amount=100.0),
            dict(month="2025-01-01", service="legacy", cost_line="licences", amount=5.0),
            dict(month="2025-02-01", service="service_desk", cost_line="staff", amount=0.10),
        ],
        service_map=[
            dict(service="web", journey="buy", capability="sell", region="north", customer_facing=True),
            dict(service="web", journey="buy", capability="sell", region="south", customer_facing=True),
            dict(service="web", journey="pay", capability="payments", region="west", customer_facing=True),
            dict(service="mail", journey="get help", capability="support", region="south", customer_facing=False),
            dict(service="pay", journey="pay", capability="payments", region="north", customer_facing=True),
        ],
    )
    con = make_warehouse(tmp_path_factory.mktemp("awkward") / "awkward.duckdb", **rows)
    rules = AllocationRules(
        pools=(
            PoolRule(cost_centre="shared", cost_line="tiny", driver="equal"),
            PoolRule(cost_centre="shared", cost_line="thirds", driver="fixed", shares={"pay": 1, "web": 1, "mail": 1}),
            PoolRule(cost_centre="platform", driver="deployments"),
            PoolRule(cost_centre="service_desk", driver="tickets"),
            PoolRule(driver="direct"),
        )
    )
    return allocation.allocation_frame(con, Window("2025-01", "2025-02"), rules)


def test_the_split_is_exact_to_the_cent_on_awkward_amounts(awkward):
    # 0.01 shared by the three mapped services alike: one cent, to the first name (ties by name).
    # 10.00 in fixed thirds: 333 + 333 + 333 and the cent left over to the first name again.
    # 100.00 by deployments: web 2, mail 1 -> 66.67 / 33.33 (the remainder 2/3 beats 1/3).
    frame = awkward[awkward.period == pd.Timestamp("2025-01-01")]
    pools = frame.groupby(["cost_line", "service"])["cents"].sum().to_dict()
    assert pools[("tiny", "mail")] == 1 and frame[frame.cost_line == "tiny"]["cents"].sum() == 1
    assert {s: pools[("thirds", s)] for s in ("mail", "pay", "web")} == {"mail": 334, "pay": 333, "web": 333}
    assert pools[("staff", "web")] == 6_667 and pools[("staff", "mail")] == 3_333
    assert frame["cents"].sum() == 1 + 1_000 + 10_000 + 500


def test_a_month_whose_driver_counts_nothing_is_shared_equally(awkward):
    # February has no tickets: the desk's 0.10 is shared by the mapped services alike (4 + 3 + 3 cents).
    frame = awkward[awkward.period == pd.Timestamp("2025-02-01")]
    assert _cents(frame, "service") == {"mail": 4, "pay": 3, "web": 3}


def test_a_service_serving_two_journeys_is_split_by_regions_and_an_unmapped_centre_is_kept(awkward):
    # web holds 333 + 6,667 = 7,000 cents and serves buy in two regions, pay in one: 4,667 / 2,333.
    # pay keeps its 333 (journey pay); mail 1 + 334 + 3,333 (get help); "legacy" is not in the
    # service map, so its 5.00 stays under journey "unmapped".
    frame = awkward[awkward.period == pd.Timestamp("2025-01-01")]
    assert _cents(frame, "journey") == {"buy": 4_667, "pay": 2_333 + 333, "get help": 3_668, allocation.UNMAPPED: 500}


def test_a_driven_pool_with_no_receiver_at_all_stays_with_its_cost_centre(tmp_path):
    # February: no ticket and no service map, so the desk's 0.10 has nowhere to go but itself.
    rows = _rows(service_map=[], it_costs=[dict(month="2025-02-01", service="service_desk", cost_line="staff", amount=0.10)])
    con = make_warehouse(tmp_path / "nowhere.duckdb", **rows)
    frame = allocation.allocation_frame(con, Window("2025-02", "2025-02"), AllocationRules())
    assert frame[["service", "journey", "cents"]].to_dict("records") == [
        {"service": "service_desk", "journey": allocation.UNMAPPED, "cents": 10}
    ]


def test_split_cents_adds_up_on_random_pools_and_stays_within_a_cent_of_the_exact_share():
    # seed 20: 200 pools of up to 10^9 cents, 1 to 7 receivers with weights 0 to 10^6
    rng = np.random.default_rng(20)
    records = []
    for pool in range(200):
        cents = int(rng.integers(0, 10**9))
        for k in range(int(rng.integers(1, 8))):
            records.append((pool, f"s{k}", cents, int(rng.integers(0, 10**6)) if pool % 10 else 0))
    frame = pd.DataFrame(records, columns=["pool", "service", "cents", "weight"])
    t = ibis.memtable(frame, schema=ibis.schema({"pool": "int64", "service": "string", "cents": "int64", "weight": "int64"}))
    out = ibis.duckdb.connect().execute(allocation.split_cents(t, ["pool"], "service")).sort_values(["pool", "service"])
    merged = frame.merge(out, on=["pool", "service"], suffixes=("_pool", ""))
    assert (merged.groupby("pool")["cents"].sum() == frame.groupby("pool")["cents"].first()).all()
    total = merged.groupby("pool")["weight"].transform("sum")
    share = np.where(total > 0, merged["weight"] / total.where(total > 0, 1), 1 / merged.groupby("pool")["weight"].transform("size"))
    assert (np.abs(merged["cents"] - merged["cents_pool"] * share) < 1 + 1e-6).all()


def test_unit_costs_by_hand(con):
    # January ledger 1,999.00; orders o1, o2, o3; 6 active customers; 5 at the start, c4 lost -> 4 kept.
    # web: 1,749.00 allocated; its regions (north, south) hold c1-c5: 5 active, 3 kept (c1, c2, c5), 3 orders.
    tidy = compute.compute(
        con, start="2025-01", end="2025-02", dims=("all", "region", "service"), min_customers=1,
        metrics=["cost_per_order", "cost_per_active_customer", "cost_per_retained_customer"],
        allocation_rules=AllocationRules(),
    )
    v = tidy.set_index(["metric", "period", "segment_dim", "segment"])
    jan = pd.Timestamp("2025-01-01")
    assert v.loc[("cost_per_order", jan, "all", "all"), "value"] == pytest.approx(1999 / 3)
    assert v.loc[("cost_per_order", jan, "all", "all"), "n"] == 3
    assert v.loc[("cost_per_active_customer", jan, "all", "all"), "value"] == pytest.approx(1999 / 6)
    assert v.loc[("cost_per_retained_customer", jan, "all", "all"), "value"] == pytest.approx(1999 / 4)
    assert v.loc[("cost_per_order", jan, "service", "web"), "value"] == pytest.approx(1749 / 3)
    assert v.loc[("cost_per_active_customer", jan, "service", "web"), "value"] == pytest.approx(1749 / 5)
    assert v.loc[("cost_per_retained_customer", jan, "service", "web"), "value"] == pytest.approx(1749 / 3)
    # mail serves no customer directly: no orders behind it
    assert np.isnan(v.loc[("cost_per_order", jan, "service", "mail"), "value"])
    # February has no ledger line: no value, said in the note
    feb = v.loc[("cost_per_order", pd.Timestamp("2025-02-01"), "all", "all")]
    assert np.isnan(feb["value"]) and feb["note"] == "no data for this segment and month"
    region = v.loc[("cost_per_order", jan, "region", "north")]
    assert np.isnan(region["value"]) and "not to regions" in region["note"]


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"pools": [{"driver": "direct", "costcentre": "x"}]}, ["costcentre", "cost_centre"]),
        ({"pools": [{"driver": "usage"}]}, ["driver", "usage", "tickets"]),
        ({"pools": [{"cost_centre": "service_desk", "driver": "tickets"}]}, ["last pool rule must match every pool"]),
        ({"pools": [{"driver": "fixed"}]}, ["needs shares"]),
        ({"pools": [{"driver": "tickets", "shares": {"web": 1}}]}, ["only read with driver 'fixed'"]),
        ({"pools": [{"driver": "fixed", "shares": {"web": 0}}]}, ["must be positive"]),
    ],
)
def test_invalid_rules_name_the_key_and_the_fix(doc, words):
    with pytest.raises(ParamsError) as err:
        validate(AllocationRules, doc, source="params/allocation.yaml")
    text = str(err.value)
    assert "params/allocation.yaml" in text
    for word in words:
        assert word in text


def test_the_projects_rules_load_and_add_up_on_the_example(con):
    rules = allocation.load_rules("params/allocation.yaml")
    assert rules.pools[-1].driver == "direct"
    frame = allocation.allocation_frame(con, JAN, rules)
    assert frame["cents"].sum() == 199_900
