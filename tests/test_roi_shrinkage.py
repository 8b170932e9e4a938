"""Measured effects of one kind shrunk toward each other before the portfolio total (empirical Bayes)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.meta_analysis import combine_effects

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.report import investment, shrinkage_page
from outcomes.value import shrinkage
from outcomes.value.model import Effect
from outcomes.value.portfolio import build_portfolio
from value_models import ticket_initiative, ticket_model

#: Four measured effects on tickets per customer and their standard errors.
Y = np.array([-0.30, -0.10, -0.05, -0.45])
SE = np.array([0.10, 0.05, 0.08, 0.20])


def test_posterior_means_equal_a_hand_computation():
    # tau^2 = 0.01, s^2 = 0.01, 0.0025, 0.0064, 0.04 -> weights 1 / (s^2 + tau^2) = 50, 80, 1 / 0.0164, 20
    w = np.array([50.0, 80.0, 1 / 0.0164, 20.0])
    mu = (50 * -0.30 + 80 * -0.10 + (1 / 0.0164) * -0.05 + 20 * -0.45) / w.sum()  # -0.1661272
    b = np.array([0.01 / 0.02, 0.01 / 0.0125, 0.01 / 0.0164, 0.01 / 0.05])  # tau^2 / (tau^2 + s^2)
    hand = mu + b * (Y - mu)
    hand_sd = np.sqrt(b * SE**2 + (1 - b) ** 2 / w.sum())
    means, sds, m = shrinkage.posterior(Y, SE**2, 0.01)
    assert_allclose(m, mu, rtol=1e-12)
    assert_allclose(means, hand, rtol=1e-12)
    assert_allclose(means, [-0.23306358, -0.11322543, -0.09531792, -0.22290173], atol=1e-8)
    assert_allclose(sds, hand_sd, rtol=1e-12)
    # tau^2 = 0: one common effect, every estimate at the precision-weighted mean
    means0, _, mu0 = shrinkage.posterior(Y, SE**2, 0.0)
    assert_allclose(means0, np.full(4, mu0))
    assert_allclose(mu0, np.sum(Y / SE**2) / np.sum(1 / SE**2))


def test_tau2_equals_statsmodels_combine_effects():
    """Golden value from statsmodels 0.15.0:

    ``combine_effects(np.array([-0.30, -0.10, -0.05, -0.45]), np.array([0.10, 0.05, 0.08, 0.20]) ** 2,
    method_re="dl").tau2`` -> 0.009645760743321718
    """
    tau2 = shrinkage.between_variance(Y, SE**2)
    assert_allclose(tau2, combine_effects(Y, SE**2, method_re="dl").tau2, rtol=1e-12)
    assert_allclose(tau2, 0.009645760743321718, rtol=1e-10)
    # DerSimonian-Laird by hand: (Q - (k - 1)) / (sum w - sum w^2 / sum w), fixed-effect weights w = 1 / s^2
    w = 1 / SE**2
    q = np.sum(w * (Y - np.sum(w * Y) / w.sum()) ** 2)
    assert_allclose(tau2, (q - 3) / (w.sum() - np.sum(w**2) / w.sum()), rtol=1e-10)
    # effects that scatter less than their noise: tau^2 is 0 (statsmodels leaves the moment estimate negative)
    close, noise = np.array([0.0, 0.01, -0.01]), np.full(3, 1.0)
    assert combine_effects(close, noise, method_re="dl").tau2 < 0
    assert shrinkage.between_variance(close, noise) == 0.0


def test_effects_are_shrunk_within_their_kind_and_one_alone_is_left_as_measured():
    effects = {f"i{i}": Effect(value=y, se=s, source="experiment") for i, (y, s) in enumerate(zip(Y, SE, strict=True))}
    effects["alone"] = Effect(value=-2.0, se=0.5, source="experiment")
    kinds = {**{f"i{i}": "tickets_per_customer" for i in range(4)}, "alone": "lead_time_hours"}
    out = shrinkage.shrink(effects, kinds)
    tau2 = shrinkage.between_variance(Y, SE**2)
    means, sds, _ = shrinkage.posterior(Y, SE**2, tau2)
    assert_allclose([out[f"i{i}"].shrunk for i in range(4)], means)
    assert_allclose([out[f"i{i}"].shrunk_se for i in range(4)], sds)
    assert all(out[f"i{i}"].is_shrunk and out[f"i{i}"].peers == 4 for i in range(4))
    # the noisiest effect moves furthest toward the others
    moved = [abs(out[f"i{i}"].shrunk - Y[i]) for i in range(4)]
    assert np.argmax(moved) == 3
    alone = out["alone"]
    assert not alone.is_shrunk and (alone.shrunk, alone.shrunk_se) == (-2.0, 0.5)
    assert alone.effect(effects["alone"]) is effects["alone"]
    e = out["i0"].effect(effects["i0"])
    assert (e.value, e.se, e.source) == (out["i0"].shrunk, out["i0"].shrunk_se, "experiment")
    with pytest.raises(ParamsError, match="'flat' has standard error 0"):
        shrinkage.shrink({"flat": Effect(value=1.0)}, {"flat": "x"})


def test_shrunk_estimates_have_lower_squared_error_than_raw_ones():
    """Seed 2026: 400 portfolios of 12 initiatives, true effects N(-0.2, 0.05^2), standard errors 0.03 to 0.15."""
    rng = np.random.default_rng(2026)
    reps, k = 400, 12
    truth = rng.normal(-0.2, 0.05, (reps, k))
    se = rng.uniform(0.03, 0.15, (reps, k))
    raw = truth + rng.normal(0.0, 1.0, (reps, k)) * se
    shrunk = np.array([shrinkage.posterior(raw[r], se[r] ** 2, shrinkage.between_variance(raw[r], se[r] ** 2))[0]
                       for r in range(reps)])
    mse_raw, mse_shrunk = np.mean((raw - truth) ** 2), np.mean((shrunk - truth) ** 2)
    assert mse_shrunk < 0.6 * mse_raw


def _result(metric: str, est: float, lo: float, hi: float) -> SimpleNamespace:
    """An initiative review with one whole-population effect (what build_investment reads of it)."""
    effect = SimpleNamespace(metric=metric, segment="all", estimable=True, arm=None, estimate_abs=est,
                             ci_low=lo, ci_high=hi, alpha=0.05)
    return SimpleNamespace(effects=[effect], decision=SimpleNamespace(arm=None, action="ship"), design="ab_test")


@pytest.fixture(scope="module")
def two_of_a_kind():
    model = ticket_model(
        {
            "portal": ticket_initiative("Portal", {"value": -0.1, "low": -0.2, "high": 0.0}, 1000),
            "kb": ticket_initiative("Knowledge base", {"value": -0.1, "low": -0.2, "high": 0.0}, 1000),
            "bot": ticket_initiative("Bot", {"value": -0.1, "low": -0.2, "high": 0.0}, 1000),
        },
        where="shrinkage test model",
    )
    results = {
        "portal": _result("tickets_per_customer", -0.40, -0.70, -0.10),
        "kb": _result("tickets_per_customer", -0.05, -0.09, -0.01),
    }
    return investment.build_investment(model, period="2025-12", results=results, n=2_000, seed=5)


def test_the_portfolio_totals_the_shrunk_cases_and_the_page_shows_both(two_of_a_kind):
    inv = two_of_a_kind
    assert set(inv.shrunk_cases) == {"portal", "kb"} and set(inv.shrinkage) == {"portal", "kb"}
    portal, kb = inv.shrinkage["portal"], inv.shrinkage["kb"]
    assert portal.raw == pytest.approx(-0.40) and portal.tau2 is not None
    # the noisy portal moves toward the precise knowledge base, which hardly moves
    assert portal.raw < portal.shrunk < kb.raw + 0.05 and abs(kb.shrunk - kb.raw) < abs(portal.shrunk - portal.raw)
    assert inv.shrunk_cases["portal"].to_dict()["npv_p50"] < inv.case("portal").to_dict()["npv_p50"]
    # the side-by-side rows keep the cases as measured; the total sums the shrunk ones
    assert inv.portfolio.cases == inv.cases and inv.portfolio.totalled == inv.shrunk_cases
    with pytest.raises(ParamsError, match=r"totalled names unknown initiative\(s\) \['gone'\]"):
        build_portfolio(inv.cases, totalled={"gone": inv.case("bot")})
    total = inv.portfolio.total()
    assert_allclose(total.npv, inv.shrunk_cases["portal"].npv + inv.shrunk_cases["kb"].npv + inv.case("bot").npv)
    frame = shrinkage_page.shrinkage_frame(inv.cases, inv.shrinkage, inv.shrunk_cases)
    assert list(frame.columns) == shrinkage_page.COLUMNS and list(frame["Initiative"]) == ["Portal", "Knowledge base"]
    records = {r["initiative"]: r for r in inv.records()}
    entry = records["portal"]["shrinkage"]
    assert entry["raw_npv_p50"] == records["portal"]["npv_p50"]
    assert entry["shrunk_npv_p50"] == inv.shrunk_cases["portal"].to_dict()["npv_p50"]
    assert records["bot"]["shrinkage"] is None
    schema = json.loads((config.PACKAGE_DIR / "report" / "results_schema.json").read_text())
    for r in records.values():
        jsonschema.validate(r, {**schema["$defs"]["roi_row"], "$defs": schema["$defs"]})
    views = inv.shrinkage_views()
    assert len(views) == 2 and "Portal" in views[1].data and "shrunk toward each other" in views[0].data


def test_one_of_a_kind_is_not_shrunk_and_the_page_says_so(two_of_a_kind):
    inv = two_of_a_kind
    alone = shrinkage.shrink({"portal": Effect(value=-0.4, se=0.15, source="experiment")}, {"portal": "tickets_per_customer"})
    (view,) = shrinkage_page.shrinkage_views(inv.cases, alone, {})
    assert "No two initiatives measured the same IT metric, so no effect is shrunk" in view.data
    (none,) = shrinkage_page.shrinkage_views(inv.cases, {}, {})
    assert "No initiative has a measured effect yet" in none.data
    assert not alone["portal"].is_shrunk
