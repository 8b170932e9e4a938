"""CLV models: the RFM summary, BG/NBD and Gamma-Gamma likelihoods and fits, the CLV loop.

Checks, in three kinds:

* the likelihoods against direct numerical integration of the models' definitions, on
  customers of the committed CDNOW excerpt (``tests/data/cdnow_excerpt.csv``);
* recovery of planted parameters from data simulated from each model's story (seeded,
  vectorized), and the model's own identities (probabilities sum to one, forecasts match
  simulated hold-out purchases);
* the published estimates on the CDNOW sample (skipped without ``../shared/data``).
"""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats

from outcomes.casestudy import clv
from outcomes.casestudy import clv_charts
from outcomes.errors import ParamsError

EXCERPT = Path(__file__).parent / "data" / "cdnow_excerpt.csv"
CALIBRATION_END = "1997-09-30"

# Fader, Hardie & Lee (2005), Marketing Science 24(2), table 1: BG/NBD on the CDNOW sample
# (2,357 customers, weeks, calibration 1997-01-01 to 1997-09-30); log-likelihood -9,582.4.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
# Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", on the 946 repeat customers.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _simulate_bgnbd(
    r: float, alpha: float, a: float, b: float, T: np.ndarray, horizon: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Simulate the BG/NBD story: Poisson purchases at rate lambda, drop-out with probability p after each repeat.

    Returns the calibration summary (frequency, recency, T), the purchases in the
    ``horizon`` after T and whether each customer is still active at T.
    """
    n = T.size
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    end = T + horizon
    t = np.zeros(n)
    x = np.zeros(n, dtype=int)
    tx = np.zeros(n)
    holdout = np.zeros(n, dtype=int)
    death = np.full(n, np.inf)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1 / lam[idx])
        past = t[idx] > end[idx]
        active[idx[past]] = False
        idx = idx[~past]
        cal = t[idx] <= T[idx]
        x[idx[cal]] += 1
        tx[idx[cal]] = t[idx[cal]]
        holdout[idx[~cal]] += 1
        dies = rng.random(idx.size) < p[idx]
        death[idx[dies]] = t[idx[dies]]
        active[idx[dies]] = False
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T, "holdout": holdout, "alive": death > T})


def _simulate_gamma_gamma(p: float, q: float, gamma: float, frequency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean of ``x`` purchase values gamma(p, nu), nu ~ gamma(q, gamma): a gamma(p x, nu x) draw."""
    nu = rng.gamma(q, 1 / gamma, frequency.size)
    return rng.gamma(p * frequency, 1 / (nu * frequency))


@pytest.fixture(scope="module")
def excerpt_summary() -> pd.DataFrame:
    """RFM summary of the committed excerpt (400 CDNOW customers), weeks, 39-week calibration."""
    tx = pd.read_csv(EXCERPT, parse_dates=["date"])
    return clv.rfm_summary(tx, customer="customer_id", time="date", amount="dollar_value", observation_end=CALIBRATION_END)


@pytest.fixture(scope="module")
def planted() -> tuple[dict[str, float], pd.DataFrame]:
    """8,000 simulated customers with CDNOW-like parameters, ages 27-39 weeks, a 39-week hold-out."""
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    rng = np.random.default_rng(7)
    T = rng.uniform(27, 39, 8_000)
    return truth, _simulate_bgnbd(*truth.values(), T, 39.0, rng)


# --------------------------------------------------------------------------- RFM summary


def test_rfm_summary_matches_a_direct_pandas_computation(excerpt_summary: pd.DataFrame) -> None:
    tx = pd.read_csv(EXCERPT, parse_dates=["date"])
    tx = tx[tx["date"] <= CALIBRATION_END]
    daily = tx.groupby(["customer_id", "date"], as_index=False)["dollar_value"].sum().sort_values(["customer_id", "date"])
    end = pd.Timestamp(CALIBRATION_END)
    rows = []
    for cust, g in daily.groupby("customer_id"):
        first, last = g["date"].iloc[0], g["date"].iloc[-1]
        repeats = g["dollar_value"].iloc[1:]
        rows.append(
            {
                "customer": str(cust),
                "frequency": len(g) - 1,
                "recency": (last - first).days / 7,
                "T": (end - first).days / 7,
                "monetary_value": repeats.mean() if len(repeats) else 0.0,
            }
        )
    expected = pd.DataFrame(rows).sort_values("customer").reset_index(drop=True)
    got = excerpt_summary[expected.columns].sort_values("customer").reset_index(drop=True)
    assert len(got) == 400
    assert (got["customer"] == expected["customer"]).all()
    assert (got["frequency"] == expected["frequency"]).all()
    assert_allclose(got[["recency", "T", "monetary_value"]].to_numpy(), expected[["recency", "T", "monetary_value"]].to_numpy(), rtol=1e-12)


def test_rfm_summary_runs_on_warehouse_orders_with_segments() -> None:
    # The canonical orders/customers columns in a DuckDB backend, as warehouse.connect() gives them.
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "customer_id": ["c1", "c1", "c1", "c2", "c3", "c1"],
            "ordered_at": pd.to_datetime(
                ["2025-01-01 09:00", "2025-01-01 17:00", "2025-01-15 10:00", "2025-01-08 12:00", "2025-02-01 08:00", "2025-03-01 08:00"]
            ),
            "revenue": [10.0, 5.0, 30.0, 20.0, 7.0, 99.0],
        }
    )
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "segment": ["smb", "consumer"]})
    con = ibis.duckdb.connect()
    con.create_table("orders", orders)
    con.create_table("customers", customers)
    out = clv.rfm_summary(
        con.table("orders"), observation_end="2025-01-31", time_unit="day", segments=con.table("customers")
    ).set_index("customer")
    assert list(out.index) == ["c1", "c2"]  # c3 first bought after the end; o6 is after it
    # c1: two orders on 1 January are one purchase (15.0), then one repeat of 30.0 on the 15th.
    assert out.loc["c1", ["frequency", "recency", "T", "monetary_value"]].tolist() == [1, 14.0, 30.0, 30.0]
    assert out.loc["c2", ["frequency", "recency", "T", "monetary_value"]].tolist() == [0, 0.0, 23.0, 0.0]
    assert out["segment"].tolist() == ["smb", "consumer"]
    # without an end, observation ends on the last purchase day (1 March); c3 has no segment
    whole = clv.rfm_summary(con.table("orders"), time_unit="day", segments=customers).set_index("customer")
    assert whole["T"].tolist() == [59.0, 52.0, 28.0] and whole.loc["c1", "frequency"] == 2
    assert whole.loc["c3", "segment"] == "(none)"


def test_rfm_summary_names_missing_columns() -> None:
    frame = pd.DataFrame({"customer_id": ["a"], "when": pd.to_datetime(["2025-01-01"]), "revenue": [1.0]})
    with pytest.raises(ParamsError, match=r"time='ordered_at'.*Columns in the table: \['customer_id', 'when', 'revenue'\]"):
        clv.rfm_summary(frame)
    with pytest.raises(ParamsError, match="time_unit must be one of"):
        clv.rfm_summary(frame, time="when", time_unit="fortnight")


def test_summary_rules_are_checked_with_row_and_column() -> None:
    bad = pd.DataFrame({"frequency": [1, 2], "recency": [3.0, 9.0], "T": [5.0, 8.0], "monetary_value": [1.0, 2.0]})
    with pytest.raises(ParamsError, match=r"row 1 has recency = 9\.0; recency must be between 0 and T"):
        clv.fit_bgnbd(bad)
    with pytest.raises(ParamsError, match=r"row 0 has frequency = 1\.5"):
        clv.fit_bgnbd(bad.assign(frequency=[1.5, 2], recency=[3.0, 8.0]))


# --------------------------------------------------------------------------- likelihoods


def _bgnbd_likelihood_by_integration(r: float, alpha: float, a: float, b: float, x: int, tx: float, T: float) -> float:
    """The BG/NBD likelihood from its definition, integrating over lambda ~ gamma(r, alpha) and p ~ beta(a, b).

    Individual level (FHL 2005, eq. 3): (1-p)^x lam^x e^(-lam T) + [x>0] p (1-p)^(x-1) lam^x e^(-lam t_x).
    The integral is taken over the two distributions' quantiles, where the integrand is smooth,
    by a 400 x 400 Gauss-Legendre rule.
    """
    nodes, weights = np.polynomial.legendre.leggauss(400)
    u, w = (nodes + 1) / 2, weights / 2
    lam = stats.gamma.ppf(u, r, scale=1 / alpha)[:, None]
    p = stats.beta.ppf(u, a, b)[None, :]
    value = (1 - p) ** x * lam**x * np.exp(-lam * T)
    if x > 0:
        value = value + p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * tx)
    return float(w @ value @ w)


def test_bgnbd_log_likelihood_equals_numerical_integration(excerpt_summary: pd.DataFrame) -> None:
    rows = excerpt_summary.drop_duplicates("frequency").sort_values("frequency").head(5)
    assert rows["frequency"].tolist() == [0, 1, 2, 3, 4]
    params = tuple(PUBLISHED_BGNBD.values())
    ll = clv.bgnbd_log_likelihood(*params, rows["frequency"], rows["recency"], rows["T"])
    direct = [_bgnbd_likelihood_by_integration(*params, int(x), tx, T) for x, tx, T in rows[["frequency", "recency", "T"]].itertuples(index=False)]
    assert_allclose(np.exp(ll), direct, rtol=1e-5)


def test_gamma_gamma_log_likelihood_equals_numerical_integration(excerpt_summary: pd.DataFrame) -> None:
    rows = excerpt_summary[excerpt_summary["frequency"] > 0].drop_duplicates("frequency").head(4)
    p, q, gamma = PUBLISHED_GG.values()
    ll = clv.gamma_gamma_log_likelihood(p, q, gamma, rows["frequency"], rows["monetary_value"])
    direct = []
    for x, m in rows[["frequency", "monetary_value"]].itertuples(index=False):
        # mean of x values gamma(p, nu) is gamma(p x, rate nu x); nu ~ gamma(q, rate gamma)
        def integrand(nu: float, x: float = x, m: float = m) -> float:
            return stats.gamma.pdf(m, p * x, scale=1 / (nu * x)) * stats.gamma.pdf(nu, q, scale=1 / gamma)

        direct.append(integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-10, limit=200)[0])
    assert_allclose(np.exp(ll), direct, rtol=1e-6)


def test_probabilities_of_purchase_counts_sum_to_one_and_give_the_mean() -> None:
    fit = _fit_with(**PUBLISHED_BGNBD)
    t = np.array([1.0, 39.0, 78.0])
    counts = np.arange(2_000)[:, None]
    probs = fit.probability_of_purchases(counts, t)
    assert_allclose(probs.sum(axis=0), 1.0, atol=1e-9)
    assert_allclose((counts * probs).sum(axis=0), fit.expected_purchases_new(t), rtol=1e-6)


def _fit_with(r: float, alpha: float, a: float, b: float) -> clv.BetaGeoFit:
    return clv.BetaGeoFit(r, alpha, a, b, np.full((4, 4), np.nan), np.nan, 0, True, "given")


# --------------------------------------------------------------------------- planted parameters


def test_bgnbd_recovers_planted_parameters(planted: tuple[dict[str, float], pd.DataFrame]) -> None:
    truth, sim = planted
    fit = clv.fit_bgnbd(sim)
    assert fit.converged
    table = fit.conf_int(0.999)
    z = (np.log(table["estimate"]) - np.log(list(truth.values()))) / np.sqrt(np.diag(fit.cov_log))
    assert np.all(np.abs(z) < 3.3), dict(zip(table["parameter"], z))
    assert ((table["ci_low"] < list(truth.values())) & (table["ci_high"] > list(truth.values()))).all()
    # a wrong model (rates ten times lower) fits clearly worse
    wrong = clv.bgnbd_log_likelihood(truth["r"], truth["alpha"] * 10, truth["a"], truth["b"], sim["frequency"], sim["recency"], sim["T"]).sum()
    assert fit.log_likelihood > wrong + 100


def test_bgnbd_forecasts_match_simulated_holdout(planted: tuple[dict[str, float], pd.DataFrame]) -> None:
    truth, sim = planted
    fit = _fit_with(**truth)
    predicted = fit.expected_purchases(39.0, sim["frequency"], sim["recency"], sim["T"])
    se = sim["holdout"].std() / np.sqrt(len(sim))
    assert abs(predicted.mean() - sim["holdout"].mean()) < 4 * se
    # P(active at T) is calibrated: mean predicted vs share active, by number of repeats
    alive = fit.p_alive(sim["frequency"], sim["recency"], sim["T"])
    assert np.all(alive[sim["frequency"] == 0] == 1.0)
    repeaters = sim["frequency"] > 0
    share = sim.loc[repeaters, "alive"].mean()
    assert abs(alive[repeaters].mean() - share) < 4 * np.sqrt(share * (1 - share) / repeaters.sum())
    # forecasts grow with the horizon and start at zero
    horizons = fit.expected_purchases(np.array([0.0, 4.0, 13.0, 52.0]), 2, 20.0, 30.0)
    assert horizons[0] == 0 and np.all(np.diff(horizons) > 0)


def test_gamma_gamma_recovers_planted_parameters() -> None:
    truth = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    rng = np.random.default_rng(11)
    x = rng.integers(1, 12, 8_000)
    m = _simulate_gamma_gamma(*truth.values(), x, rng)
    fit = clv.fit_gamma_gamma(pd.DataFrame({"frequency": x, "recency": 0.0, "T": 1.0, "monetary_value": m}))
    assert fit.converged and fit.n_customers == 8_000
    z = (np.log(list(fit.params.values())) - np.log(list(truth.values()))) / np.sqrt(np.diag(fit.cov_log))
    assert np.all(np.abs(z) < 3.3), z
    assert abs(fit.spend_frequency_correlation) < 0.05
    # conditional spend is the credibility-weighted mean of the population and the customer
    spend = fit.expected_spend(np.array([0, 3]), np.array([0.0, 50.0]))
    w = fit.p * 3 / (fit.p * 3 + fit.q - 1)
    assert_allclose(spend, [fit.population_mean_spend, (1 - w) * fit.population_mean_spend + w * 50.0], rtol=1e-12)


def test_gamma_gamma_without_repeat_customers_is_a_value_not_an_error() -> None:
    fit = clv.fit_gamma_gamma(pd.DataFrame({"frequency": [0, 0], "recency": 0.0, "T": 3.0, "monetary_value": 0.0}))
    assert not fit.converged and np.isnan(fit.p)
    assert "0 customer(s) with repeat purchases" in fit.summary()


# --------------------------------------------------------------------------- CLV


def test_clv_equals_the_monthly_discount_loop(excerpt_summary: pd.DataFrame) -> None:
    bg = clv.fit_bgnbd(excerpt_summary)
    gg = clv.fit_gamma_gamma(excerpt_summary)
    res = clv.customer_lifetime_value(excerpt_summary, bg, gg, horizon_months=6, discount_rate=0.02, margin=0.3, draws=0)
    rows = excerpt_summary.iloc[[0, 5, 17]]
    x, tx, T, m = (rows[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    spend = gg.expected_spend(x, m)
    weeks = 365.25 / 12 / 7
    expected = np.zeros(len(rows))
    for month in range(1, 7):  # the loop as written in DOMAIN.md section 3
        step = bg.expected_purchases(month * weeks, x, tx, T) - bg.expected_purchases((month - 1) * weeks, x, tx, T)
        expected += 0.3 * spend * step / 1.02**month
    assert_allclose(res.customers["clv"].iloc[[0, 5, 17]], expected, rtol=1e-10)
    flat = clv.customer_lifetime_value(excerpt_summary, bg, gg, horizon_months=6, discount_rate=0.0, draws=0)
    assert_allclose(flat.customers["clv"], flat.customers["expected_spend"] * flat.customers["expected_purchases"], rtol=1e-10)


def test_clv_segments_intervals_and_summary(excerpt_summary: pd.DataFrame) -> None:
    summary = excerpt_summary.assign(segment=np.where(excerpt_summary["customer"].astype(int) % 2 == 0, "even", "odd"))
    bg, gg = clv.fit_bgnbd(summary), clv.fit_gamma_gamma(summary)
    res = clv.customer_lifetime_value(summary, bg, gg, segment="segment", currency="USD", draws=40, seed=3)
    table = res.to_frame().set_index("segment")
    assert list(table.index) == ["all", "even", "odd"]
    assert table.loc[["even", "odd"], "customers"].sum() == table.loc["all", "customers"] == 400
    assert_allclose(table.loc[["even", "odd"], "clv_total"].sum(), table.loc["all", "clv_total"], rtol=1e-12)
    assert (table["clv_mean_low"] < table["clv_mean"]).all() and (table["clv_mean"] < table["clv_mean_high"]).all()
    text = res.summary()
    assert "Over the next 12 months, the 400 customers" in text and "USD per customer" in text
    assert "95% interval from the parameters' uncertainty" in text and "Segment even: " in text
    # aggregates only: two overall sentences, one per segment, one per model; no customer rows
    assert len(text.splitlines()) == 2 + 2 + 2


def test_clv_rejects_bad_arguments(excerpt_summary: pd.DataFrame) -> None:
    bg = _fit_with(**PUBLISHED_BGNBD)
    gg = clv.GammaGammaFit(6.25, 3.74, 15.44, np.full((3, 3), np.nan), np.nan, 0, True, "given")
    with pytest.raises(ParamsError, match=r"discount_rate is monthly and must be in \[0, 1\), got 12"):
        clv.customer_lifetime_value(excerpt_summary, bg, gg, discount_rate=12)
    with pytest.raises(ParamsError, match="segment column 'region' not in the summary"):
        clv.customer_lifetime_value(excerpt_summary, bg, gg, segment="region")
    res = clv.customer_lifetime_value(excerpt_summary, bg, gg, draws=10)
    assert res.draws == 0 and "No interval" in res.summary()


def test_simple_clv_formula_and_its_series() -> None:
    plain = clv.simple_clv(arpu=40.0, margin=0.25, churn_rate=0.02, currency="EUR")
    assert plain.value == pytest.approx(500.0) and plain.expected_lifetime_months == pytest.approx(50.0)
    discounted = clv.simple_clv(40.0, 0.25, 0.02, discount_rate=0.01)
    months = np.arange(1, 5_000)
    series = (40.0 * 0.25 * 0.98 ** (months - 1) / 1.01**months).sum()
    assert discounted.value == pytest.approx(series, rel=1e-9)
    assert "Simple CLV: ARPU 40 EUR a month x margin 25% / (churn 2.00% a month) = 500 EUR" in plain.summary()
    with pytest.raises(ParamsError, match=r"churn_rate = 2; it must be in \(0, 1\] \(a monthly fraction"):
        clv.simple_clv(40.0, 0.25, 2)


def test_charts_are_unrendered_altair_specs(excerpt_summary: pd.DataFrame) -> None:
    bg, gg = clv.fit_bgnbd(excerpt_summary), clv.fit_gamma_gamma(excerpt_summary)
    frame = clv_charts.frequency_fit_frame(bg, excerpt_summary)
    totals = frame.groupby("source")["customers"].sum()
    assert_allclose(totals.to_numpy(), 400.0)
    spec = clv_charts.frequency_fit(bg, excerpt_summary).to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["xOffset"]["field"] == "source"
    res = clv.customer_lifetime_value(excerpt_summary, bg, gg, draws=0)
    layered = clv_charts.clv_by_segment(res).to_dict()
    assert [layer["mark"]["type"] for layer in layered["layer"]] == ["bar", "rule"]
    hist = clv_charts.clv_distribution(res, bins=10).to_dict()
    assert hist["encoding"]["x"]["bin"] == "binned"
    assert sum(row["customers"] for row in next(iter(hist["datasets"].values()))) == 400


# --------------------------------------------------------------------------- CDNOW, published estimates


@pytest.mark.shared_data
def test_cdnow_sample_reproduces_published_estimates(shared_data: Path) -> None:
    folder = shared_data / "cdnow_transactions"
    tx = pd.read_csv(
        folder / "CDNOW_sample.txt", sep=r"\s+", header=None, names=["original_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    summary = clv.rfm_summary(tx, customer="customer_id", time="date", amount="amount", observation_end=CALIBRATION_END)
    # our summary equals the one distributed with the data (rounded there to 2 decimals)
    shipped = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv").sort_values("ID")
    ours = summary.assign(ID=summary["customer"].astype(int)).sort_values("ID")
    assert len(ours) == len(shipped) == 2357
    assert (ours["frequency"].to_numpy() == shipped["x"].to_numpy()).all()
    assert_allclose(ours[["recency", "T", "monetary_value"]].to_numpy(), shipped[["t_x", "T", "zbar"]].to_numpy(), atol=0.0051)

    bg = clv.fit_bgnbd(summary)
    assert bg.converged
    assert_allclose(list(bg.params.values()), list(PUBLISHED_BGNBD.values()), rtol=2e-3)
    assert bg.log_likelihood == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.05)
    gg = clv.fit_gamma_gamma(summary)
    assert gg.converged and gg.n_customers == 946
    assert_allclose(list(gg.params.values()), list(PUBLISHED_GG.values()), rtol=2e-3)
