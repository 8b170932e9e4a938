"""The per-ticket experience metrics (happiness and lost time) on the hand-made company of ``canonical_tables``.

The answers (``example_rows()["ticket_surveys"]``), worked out by hand:

====  ======  ===========  =========  ==========  =====  ===========  =========  ========
id    ticket  respondent   month      happiness   point  lost hours   service    region
====  ======  ===========  =========  ==========  =====  ===========  =========  ========
r1    t1      customer     2025-01    10          +100   0.5          web        north (customer c1, smb)
r2    t2      (customer)   2025-01    3           -100   1.5          web        south (customer c2, consumer)
r3    t3      employee     2025-01    8           0      4.0          mail       north (ticket)
r4    t2      customer     2025-02    9           +100   2.0          web        south
r5    t1      customer     2025-02    7           0      none         web        north
====  ======  ===========  =========  ==========  =====  ===========  =========  ========

r2 leaves its respondent type empty: the ticket's requester (a customer) answered. ``mail``
is not customer-facing in the service map, so r3 is an employee's answer about their own IT.
"""

from __future__ import annotations

import pandas as pd
import pytest
from canonical_tables import example_rows, make_warehouse

from outcomes.metrics import catalog, compute

DIMS = ("all", "region", "customer_segment", "channel", "service")
METRICS = [m for pair in compute.EXPERIENCE_GROUPS.values() for m in pair]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return make_warehouse(tmp_path_factory.mktemp("wh") / "example.duckdb", **example_rows())


@pytest.fixture(scope="module")
def tidy(con):
    return compute.compute(con, start="2025-01", end="2025-02", dims=DIMS, metrics=METRICS, min_customers=1)


def cell(tidy, metric, period="2025-01", dim="all", segment="all"):
    row = tidy[
        (tidy.metric == metric) & (tidy.period == pd.Timestamp(period)) & (tidy.segment_dim == dim) & (tidy.segment == segment)
    ]
    assert len(row) == 1, (metric, period, dim, segment)
    return row.iloc[0]


@pytest.mark.parametrize(
    ("metric", "period", "value", "n"),
    [
        ("ticket_happiness", "2025-01", 0.0, 3),  # (+100 - 100 + 0) / 3
        ("ticket_happiness", "2025-02", 50.0, 2),  # (+100 + 0) / 2
        ("lost_time_hours", "2025-01", 2.0, 3),  # (0.5 + 1.5 + 4.0) / 3
        ("lost_time_hours", "2025-02", 2.0, 1),  # r5 gives no lost time
        ("customer_ticket_happiness", "2025-01", 0.0, 2),  # r1, r2
        ("customer_lost_time_hours", "2025-01", 1.0, 2),  # (0.5 + 1.5) / 2
        ("employee_it_happiness", "2025-01", 0.0, 1),  # r3 (8 is neither 9-10 nor 0-6)
        ("employee_lost_time_hours", "2025-01", 4.0, 1),
    ],
)
def test_company_values_by_hand(tidy, metric, period, value, n):
    row = cell(tidy, metric, period)
    assert row["value"] == pytest.approx(value)
    assert row["n"] == n


def test_a_month_without_employee_answers_has_no_value(tidy):
    row = cell(tidy, "employee_it_happiness", "2025-02")
    assert pd.isna(row["value"]) and row["note"] == "no data for this segment and month"


@pytest.mark.parametrize(
    ("metric", "dim", "segment", "value"),
    [
        ("ticket_happiness", "region", "north", 50.0),  # r1 (customer's region) and r3 (ticket's region)
        ("ticket_happiness", "region", "south", -100.0),  # r2
        ("lost_time_hours", "region", "north", 2.25),  # (0.5 + 4.0) / 2
        ("ticket_happiness", "service", "web", 0.0),  # r1, r2
        ("lost_time_hours", "service", "mail", 4.0),  # r3
        ("customer_ticket_happiness", "customer_segment", "smb", 100.0),  # r1
        ("customer_ticket_happiness", "customer_segment", "consumer", -100.0),  # r2
        ("ticket_happiness", "customer_segment", "unassigned", 0.0),  # r3: an employee has no segment
        ("ticket_happiness", "channel", "phone", -100.0),  # r2 came in by phone
        ("employee_it_happiness", "service", "mail", 0.0),
    ],
)
def test_segment_values_by_hand(tidy, metric, dim, segment, value):
    assert cell(tidy, metric, "2025-01", dim, segment)["value"] == pytest.approx(value)


def test_employee_metrics_leave_customer_facing_services_and_segments_out(tidy):
    web = cell(tidy, "employee_it_happiness", "2025-01", "service", "web")
    assert pd.isna(web["value"]) and web["n"] == 0
    seg = cell(tidy, "employee_lost_time_hours", "2025-01", "customer_segment", "smb")
    assert pd.isna(seg["value"]) and seg["note"] == catalog.get("employee_lost_time_hours").not_by["customer_segment"]


def test_few_answers_are_suppressed(con):
    out = compute.compute(con, start="2025-01", end="2025-01", metrics=["ticket_happiness"], min_customers=4)
    row = out.iloc[0]
    assert bool(row["suppressed"]) and pd.isna(row["value"]) and row["n"] == 3


def test_catalog_entries_cite_happysignals_and_have_targets():
    for mid in METRICS:
        m = catalog.get(mid)
        assert m.source == "HS" and m.target is not None and m.owner in ("CIO", "joint")
    assert "happysignals.com" in catalog.load_catalog().references["HS"]
