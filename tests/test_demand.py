"""Demand against supply: sources by journey and segment by hand, the forecast against a second
implementation of the same model, and the one-sentence answers on small panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from canonical_tables import example_rows, make_warehouse
from scipy import stats
from statsmodels.tsa.holtwinters import SimpleExpSmoothing

from outcomes.metrics.demand import demand_sources
from outcomes.periods import Window
from outcomes.scorecard import demand
from outcomes.report import results as report_results

MONTHS = pd.date_range("2024-01-01", periods=24, freq="MS")


def test_demand_sources_by_hand(tmp_path):
    # January: t1, t4 web by c1 (smb), t2 web by c2 (consumer), t3 mail by an employee.
    # web supports "buy", mail "get help" (service map).
    con = make_warehouse(tmp_path / "example.duckdb", **example_rows())
    got = demand_sources(con, Window("2025-01", "2025-03"))
    assert got.to_dict("records") == [
        {"period": pd.Timestamp("2025-01-01"), "journey": "buy", "customer_segment": "consumer", "tickets": 1},
        {"period": pd.Timestamp("2025-01-01"), "journey": "buy", "customer_segment": "smb", "tickets": 2},
        {"period": pd.Timestamp("2025-01-01"), "journey": "get help", "customer_segment": "employees", "tickets": 1},
    ]


def test_the_level_forecast_matches_simple_exponential_smoothing_and_its_analytic_interval():
    """ETS(A,N,N) is simple exponential smoothing: the point forecast must equal
    ``SimpleExpSmoothing(y, initialization_method="estimated").fit().forecast(3)`` (statsmodels'
    Holt-Winters code, a separate implementation), and the interval the textbook one,
    mean ± z sigma sqrt(1 + (h - 1) alpha^2) (Hyndman & Athanasopoulos, FPP3 table 8.8), with
    sigma^2 the residual variance on n - 2 degrees of freedom (two parameters: alpha and the level)."""
    rng = np.random.default_rng(7)  # seed 7: a local level with noise
    y = pd.Series(500 + np.cumsum(rng.normal(0, 10, 24)) + rng.normal(0, 20, 24), index=MONTHS)
    got = demand.forecast_demand(y, horizon=3, level=0.8)
    assert got.model == "ETS(A,N,N)"
    ses = SimpleExpSmoothing(y, initialization_method="estimated").fit()
    np.testing.assert_allclose(got.frame["mean"], ses.forecast(3).to_numpy(), rtol=2e-3)
    alpha = ses.params["smoothing_level"]
    sigma = np.sqrt(np.sum(ses.resid**2) / (len(y) - 2))
    half = stats.norm.ppf(0.9) * sigma * np.sqrt(1 + np.arange(3) * alpha**2)
    np.testing.assert_allclose(got.frame["upper"] - got.frame["mean"], half, rtol=0.05)
    assert list(got.frame["period"]) == list(pd.date_range("2026-01-01", periods=3, freq="MS"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 1.0}, "level must be in (0, 1)"),
        ({"horizon": 0}, "horizon must be at least one month"),
    ],
)
def test_forecast_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        demand.forecast_demand(pd.Series(np.ones(12), index=MONTHS[:12]), **kwargs)


def _panel(opened: dict[str, np.ndarray], resolved: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for service, values in opened.items():
        for p, o, r in zip(MONTHS[-len(values):], values, resolved[service], strict=True):
            rows.append(dict(period=p, segment_dim="service", segment=service, metric="ticket_volume", value=o, n=o))
            rows.append(dict(period=p, segment_dim="service", segment=service, metric="demand_capacity_ratio",
                             value=o / r if r else np.nan, n=r))
    return pd.DataFrame(rows)


def test_the_outlook_says_which_services_are_too_busy_and_why():
    rng = np.random.default_rng(11)  # seed 11: Poisson noise around the levels below
    steady = rng.poisson(200, 24).astype(float)
    rising = np.concatenate([rng.poisson(200, 20), [260, 300, 330, 360]]).astype(float)
    behind = rng.poisson(200, 24).astype(float)
    panel = _panel(
        {"steady": steady, "rising": rising, "behind": behind, "new": np.array([5.0, 6.0, 5.0])},
        {"steady": steady, "rising": np.minimum(rising, 200.0), "behind": np.r_[behind[:-1], 150.0], "new": np.array([5.0, 6.0, 5.0])},
    )
    out = demand.demand_outlook(panel)
    by = {s.service: s for s in out.services}
    assert by["rising"].busy and by["behind"].busy and by["steady"].busy is False
    assert by["new"].busy is None and by["new"].condition == demand.TOO_SHORT
    assert by["rising"].sentence.startswith("IT is too busy for rising, because it resolved 200 tickets in December 2025 while 360 were opened")
    assert "exceed the 200 it resolves a month even at the interval's low end" in by["rising"].sentence
    assert by["behind"].sentence.startswith("IT is too busy for behind, because it resolved 150 tickets")
    assert by["steady"].sentence.startswith("IT is not too busy for steady, because")
    assert "are not clearly above" in by["steady"].sentence and "80% interval" in by["steady"].sentence
    assert by["new"].sentence == "Not known whether IT will be too busy for new: fewer than 6 months of tickets to forecast from."
    assert [s.service for s in out.services][:2] == ["rising", "behind"]  # the busy ones first
    table = out.table()
    assert list(table["too busy"]) == ["yes", "yes", "no", "not known"]
    records = out.records()
    assert records[0]["model"] == "ETS(A,N,N)" and len(records[0]["forecast"]) == 3
    # results.json carries the same answers the page writes, valid against the schema
    report_results.check_rows("demand_outlook", report_results.to_jsonable(records), where="test")
    assert [r["sentence"] for r in records] == out.sentences()
    assert [r["busy"] for r in records] == [True, True, False, None]


def test_the_sources_table_compares_the_month_with_the_three_before():
    # deliver/consumer: 30 a month, then 42 (+40%); buy/smb: 10 a month throughout.
    periods = pd.date_range("2025-09-01", periods=4, freq="MS")
    sources = pd.DataFrame(
        [dict(period=p, journey="deliver", customer_segment="consumer", tickets=42 if p == periods[-1] else 30) for p in periods]
        + [dict(period=p, journey="buy", customer_segment="smb", tickets=10) for p in periods]
    )
    table = demand.demand_sources_table(sources)
    assert table.to_dict("records") == [
        {"journey": "deliver", "customer segment": "consumer", "tickets": "42", "monthly mean, 3 months before": "30", "change": "+40%"},
        {"journey": "buy", "customer segment": "smb", "tickets": "10", "monthly mean, 3 months before": "10", "change": "0%"},
    ]
