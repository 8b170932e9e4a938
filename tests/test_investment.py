"""The investment step on the demo company: warehouse inputs, cases, planted value, summary sentences."""

from __future__ import annotations

import re

import duckdb
import jsonschema
import numpy as np
import pytest
from numpy.testing import assert_allclose

from outcomes import config
from outcomes.report import investment, summary
from outcomes.warehouse import store
from outcomes.errors import ParamsError
from outcomes.report import results as report_results
from outcomes.value import montecarlo
from outcomes.value.model import Effect, Quantity, ShareRange, ValueInputs, ValueModel, load_value_model, with_inputs
from outcomes.value.words import roi_sentence

PERIOD = "2025-12"
WINDOW = ("2025-01-01", "2026-01-01")  # the twelve months to PERIOD, as [start, end)
DRAWS = 4_000


@pytest.fixture(scope="module")
def con(demo_warehouse):
    return store.connect(demo_warehouse)


@pytest.fixture(scope="module")
def raw(demo_warehouse):
    db = duckdb.connect(str(demo_warehouse), read_only=True)
    yield db
    db.close()


@pytest.fixture(scope="module")
def model():
    return load_value_model(config.project().params_dir / "value.yaml")


@pytest.fixture(scope="module")
def inputs(con):
    return investment.warehouse_inputs(con, PERIOD)


@pytest.fixture(scope="module")
def inv(con, model, inputs):
    reviews = investment.review_initiatives(PERIOD, con=con)
    drivers = investment.drivers_estimates(con, PERIOD)
    results = {k: r.result for k, r in reviews.items()}
    return investment.build_investment(model, period=PERIOD, inputs=inputs, drivers=drivers, results=results, n=DRAWS, seed=7)


# --------------------------------------------------------------------------- warehouse inputs


def test_cost_per_ticket_is_desk_cost_over_tickets(raw, inputs):
    desk = raw.execute(
        "select sum(amount) from it_costs where service = 'service_desk' and month >= ? and month < ?", WINDOW
    ).fetchone()[0]
    tickets = raw.execute("select count(*) from tickets where opened_at >= ? and opened_at < ?", WINDOW).fetchone()[0]
    assert inputs.months == 12
    assert_allclose([inputs.desk_cost, inputs.tickets], [desk, tickets], rtol=1e-12)
    assert inputs.cost_per_ticket == pytest.approx(desk / tickets, rel=1e-12)
    # the demo desk costs about EUR 21 a ticket (docs/demo-company.md)
    assert 15 < inputs.cost_per_ticket < 30


SEGMENT_SQL = """
with months as (
    select unnest(generate_series(date '2025-01-01', date '2025-12-01', interval 1 month))::date as m
), c as (
    select c.customer_id, c.segment, c.signup_date, ch.churned_at
    from customers c left join churn ch using (customer_id)
), base as (
    select c.segment, m.m,
           count(*) filter (where c.signup_date < m.m + interval 1 month
                            and (c.churned_at is null or c.churned_at >= m.m)) as active,
           count(*) filter (where c.signup_date < m.m and (c.churned_at is null or c.churned_at >= m.m)) as at_start,
           count(*) filter (where c.signup_date < m.m and c.churned_at >= m.m and c.churned_at < m.m + interval 1 month) as lost
    from c cross join months m group by all
), money as (
    select c.segment, sum(o.revenue) as revenue, sum(o.margin) as margin,
           sum(o.revenue) filter (where o.margin is not null) as revenue_with_margin
    from orders o join c using (customer_id)
    where o.ordered_at >= date '2025-01-01' and o.ordered_at < date '2026-01-01'
    group by all
)
select b.segment, sum(active) filter (where m = date '2025-12-01') as customers, sum(active) as customer_months,
       sum(lost) / sum(at_start) as churn, any_value(revenue) as revenue,
       any_value(margin) / any_value(revenue_with_margin) as margin
from base b join money using (segment) group by b.segment order by b.segment
"""


def test_segment_figures_match_hand_computation(raw, inputs):
    hand = raw.execute(SEGMENT_SQL).df().set_index("segment")
    got = inputs.segments.set_index("segment").loc[hand.index]
    assert_allclose(got["customers"], hand["customers"], rtol=1e-12)
    assert_allclose(got["customer_months"], hand["customer_months"], rtol=1e-12)
    assert_allclose(got["churn_rate"], hand["churn"], rtol=1e-9)
    assert_allclose(got["gross_margin"], hand["margin"], rtol=1e-9)
    arpu = hand["revenue"] / hand["customer_months"]
    assert_allclose(got["arpu_monthly"], arpu, rtol=1e-9)
    monthly_discount = 1.10 ** (1 / 12) - 1  # the value model's 10% a year
    assert_allclose(got["clv"], arpu * hand["margin"] / (hand["churn"] + monthly_discount), rtol=1e-9)


def test_deployments_and_register_costs(raw, inputs):
    n = raw.execute("select count(*) from deployments where deployed_at >= ? and deployed_at < ?", WINDOW).fetchone()[0]
    assert inputs.deployments_per_month == pytest.approx(n / 12)
    register = raw.execute("select initiative_id, one_off_cost, recurring_cost_monthly from initiatives").fetchall()
    assert inputs.initial_cost == {i: a for i, a, _ in register}
    assert inputs.recurring_monthly_cost == {i: m for i, _, m in register}


def test_warehouse_figures_replace_the_stated_ones(model, inputs):
    updated = with_inputs(model, inputs.value_inputs(model))
    assert updated.inputs.cost_per_ticket.value == pytest.approx(inputs.cost_per_ticket)
    assert updated.inputs.cost_per_ticket.origin == "warehouse"
    releases = updated.initiative("faster-releases")
    assert releases.population.count.value == pytest.approx(inputs.deployments_per_month)
    assert releases.population.count.origin == "warehouse"
    assert updated.initiative("chatbot").costs.initial.value == inputs.initial_cost["chatbot"]
    assert updated.initiative("chatbot").costs.recurring_monthly.value == inputs.recurring_monthly_cost["chatbot"]
    # the stated relative range is kept
    stated = model.initiative("chatbot").costs.initial
    moved = updated.initiative("chatbot").costs.initial
    assert moved.low / moved.value == pytest.approx(stated.low / stated.value)
    assert updated.segments["smb"].customers == float(inputs.segments.set_index("segment").loc["smb", "customers"])


def test_value_inputs_for_unknown_or_segment_initiatives_are_refused(model):
    with pytest.raises(ParamsError, match=r"unknown initiative\(s\) \['nope'\]"):
        with_inputs(model, ValueInputs(initial_cost_by_initiative={"nope": 1.0}))
    with pytest.raises(ParamsError, match="customers_by_segment"):
        with_inputs(model, ValueInputs(population_by_initiative={"chatbot": 10.0}))


# --------------------------------------------------------------------------- the cases


def _truth(ground_truth: dict, key: str, metric: str) -> float:
    ini = next(i for i in ground_truth["initiatives"] if i["id"] == key)
    return next(e["abs"] for e in ini["effects"] if e["metric"] == metric)


def _wholly_causal(model: ValueModel, key: str) -> ValueModel:
    """The model with every link of ``key`` taken as wholly causal, as the demo company plants them."""
    ini = model.initiative(key)
    links = tuple(lk.model_copy(update={"causal_share": ShareRange(low=1, high=1)}) for lk in ini.links)
    return model.model_copy(update={"initiatives": {**model.initiatives, key: ini.model_copy(update={"links": links})}})


def test_planted_initiatives_land_within_their_interval(inv, model, inputs, ground_truth):
    """The NPV implied by the TRUE effects lies within the case's P10-P90.

    The truth runs through the same chain at central inputs, with the planted slope taken as
    wholly causal (the demo company plants its churn link as cause), not discounted by the
    causal share the case draws for an association.
    """
    value_inputs = inputs.value_inputs(model)
    true_slopes = {"chatbot": {"churn_rate": Quantity(value=ground_truth["links"]["churn_rate_per_hour"])}}
    for key in ("self-service-portal", "chatbot", "faster-releases"):
        metric = model.initiative(key).metric
        implied = montecarlo.simulate(
            _wholly_causal(model, key),
            key,
            effect=Effect(value=_truth(ground_truth, key, metric), source="experiment"),
            link_slopes=true_slopes.get(key),
            inputs=value_inputs,
            n=2,
            seed=0,
        ).point.npv
        entry = inv.case(key).to_dict()
        assert entry["npv_p10"] <= implied <= entry["npv_p90"], (key, implied, entry)


def test_the_chatbot_headline_states_its_grade_and_claims_no_near_certainty(inv, con, ground_truth):
    """The chatbot's value runs through the drivers model: graded associational, combined with its own churn
    measurement, and its sentence says so instead of calling it likely to pay off."""
    chatbot = next(r for r in inv.records() if r["initiative"] == "chatbot")
    assert chatbot["evidence"] == "associational"
    assert chatbot["evidence_by_step"] == {"effect": "measured", "link:churn_rate": "associational", "outcome": "measured"}
    assert chatbot["outcome_combination"] in ("combined", "direct")
    text = roi_sentence(chatbot)
    assert "rests on an association, not proof of cause" in text and "It is likely to pay off." not in text
    assert chatbot["prob_roi_positive"] < 0.99
    assert any("rests on an association" in c for c in inv.caveats())
    # the base case counts the two rollout regions only
    units = investment.measured_units({"chatbot": investment.load_spec(config.project().initiatives_dir / "chatbot.yaml")})
    assert units == {"chatbot": tuple(next(i for i in ground_truth["initiatives"] if i["id"] == "chatbot")["treated_units"])}
    share = investment.measured_shares(con, PERIOD, units)["chatbot"]
    regions = investment.customers_by_region(con, PERIOD)
    assert share == pytest.approx((regions["north"] + regions["east"]) / sum(regions.values()))


def test_cases_label_what_they_rest_on(inv):
    assert inv.case("chatbot").sources == {"effect": "experiment", "link:churn_rate": "drivers"}
    assert inv.case("self-service-portal").sources == {"effect": "experiment"}
    ev = inv.evidence.set_index(["initiative", "step"])
    assert "difference-in-differences" in ev.loc[("chatbot", "IT metric change"), "rests on"]
    assert "not proof of cause" in ev.loc[("chatbot", "Change in churn_rate per +1 first_response_mean_hours"), "rests on"]
    assert ev.loc[("faster-releases", "Population per month"), "rests on"] == "the warehouse"
    assert ev.loc[("chatbot", "Costs"), "rests on"] == "the portfolio office's register"
    assert any("drivers model" in c for c in inv.caveats())


def test_what_each_number_rests_on_reads_in_words(inv):
    pages = " ".join(v.data for v in inv.case_views() if hasattr(v, "data") and "rests on" in v.data)
    assert "rests on" in pages
    assert "first response, mean" in pages and "churn rate" in pages
    assert not re.findall(r"\b[a-z]+_[a-z_]+\b", re.sub(r"<[^>]+>", " ", pages))


def test_measured_effect_is_the_review_effect(inv):
    measured = investment.measured_effect(inv.results["chatbot"], "first_response_mean_hours")
    assert inv.case("chatbot").steps.it_change == pytest.approx(measured.estimate_abs)
    q = investment.effect_quantity(measured)
    assert (q.low, q.high, q.source) == (measured.ci_low, measured.ci_high, "experiment")


def test_portfolio_holds_decisions_and_it_demand(inv):
    frame = inv.portfolio.to_frame().set_index("initiative")
    assert set(frame["decision"]) <= {"ship", "keep testing", "stop"}
    assert frame.loc["chatbot", "decision"] == inv.results["chatbot"].decision.action
    portal = inv.case("self-service-portal")
    # tickets removed per month = effect per customer-month x customers
    expected = float(portal.steps.it_change * portal.steps.population)
    assert frame.loc["self-service-portal", "it_demand_tickets_per_month"] == pytest.approx(expected)
    assert expected < 0
    assert np.isnan(frame.loc["chatbot", "it_demand_tickets_per_month"])
    assert list(frame["npv_p50"]) == sorted(frame["npv_p50"], reverse=True)


def test_roi_entries_validate_against_the_results_schema(inv):
    records = report_results.to_jsonable(inv.records())
    schema = report_results.schema()
    validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["properties"]["roi"]})
    assert list(validator.iter_errors(records)) == []
    assert [r["initiative"] for r in records] == list(inv.model.initiatives)


# --------------------------------------------------------------------------- the executive summary


def _entry(ident, design, decision, metric, est, lo, hi, role="primary"):
    row = {
        "metric": metric, "arm": None, "role": role, "estimate_abs": est, "estimate_rel": None, "ci_low": lo,
        "ci_high": hi, "p_value": 0.01, "p_value_adjusted": 0.01, "seq_ci_low": None, "seq_ci_high": None,
    }
    return {"id": ident, "design": design, "srm_p_value": None, "decision": decision, "metrics": [row]}


def _roi(ident, p10, p50, p90, prob):
    return {"initiative": ident, "npv_p10": p10, "npv_p50": p50, "npv_p90": p90, "roi_p50": 0.5,
            "payback_months": 14.0, "prob_roi_positive": prob}


def test_summary_sentences_are_built_from_results(model):
    results = {
        "initiatives": [
            _entry("chatbot", "did", "ship", "first_response_mean_hours", -1.0, -1.4, -0.6),
            _entry("faster-releases", "its", "keep testing", "lead_time_hours", -5.0, -12.0, 2.0),
        ],
        "roi": [_roi("chatbot", 2.0e6, 5.0e6, 9.0e6, 0.97), _roi("faster-releases", -150e3, -50e3, 100e3, 0.3)],
        "scorecard": [
            {"metric": "csat", "segment": None, "value": 0.80, "previous": 0.79, "target": 0.82, "status": "off_target", "unit": "%"},
            {"metric": "churn_rate", "segment": None, "value": 0.019, "previous": 0.02, "target": 0.025, "status": "on_target", "unit": "%"},
        ],
    }
    s = summary.summarize(results, model, PERIOD)
    assert len(s.headlines) == 5
    customers, it, worth, recommend, score = s.headlines
    # no customer effect measured: the scorecard's levels, said to be levels
    assert customers.startswith("For customers: Customer satisfaction (CSAT) was 80% (79% the month before)")
    assert "not measured effects" in customers
    assert "first response, mean -1 hour (95% interval -1.4 to -0.6 hours), a clear improvement" in it
    assert "lead time for changes -5 hours (95% interval -12 to +2 hours), inconclusive" in it
    assert "add up to EUR 5.0m" in worth and "P10 EUR 2.0m to P90 EUR 9.0m" in worth and "97% chance" in worth
    assert "roll out Service-desk chatbot (97% chance of a positive ROI)" in recommend
    assert "keep testing Faster releases (CI/CD) (30% chance" in recommend
    assert score == "Scorecard: 1 of 2 metrics with a target met it in 2025-12; 1 missed it."
    assert s.scorecard[1] == "Customer satisfaction (CSAT): 80% against a target of 82% (79% the month before)."
    assert list(s.roi["Initiative"]) == ["Service-desk chatbot", "Faster releases (CI/CD)"]
    assert s.decisions.loc[1, "95% interval"] == "-12 to +2 hours"
    assert any("Faster releases (CI/CD) runs from a loss" in c for c in s.caveats)
    assert any("interrupted time series" in c for c in s.caveats)
    # chatbot's value runs through the churn link
    assert any(c.startswith("The value of Service-desk chatbot runs through the drivers model") for c in s.caveats)
    # self-service-portal has no ROI entry nor review here: nothing is said about it
    assert not any("Self-service portal" in h for h in s.headlines)


def test_summary_states_the_initiatives_together_from_the_portfolio_row(model):
    roi = [_roi("chatbot", 2.0e6, 5.0e6, 9.0e6, 0.97), _roi("faster-releases", -150e3, -50e3, 100e3, 0.3)]
    total = {"initiatives": ["chatbot", "faster-releases"], "npv_p10": 2.2e6, "npv_p50": 4.9e6, "npv_p90": 8.6e6,
             "roi_p50": 2.1, "payback_months": 9.0, "prob_roi_positive": 0.96, "prob_any_case_negative": 0.7}
    s = summary.summarize({"roi": roi, "portfolio": [total]}, model, PERIOD)
    worth = s.headlines[2]
    assert worth.startswith(
        "What it is worth: the 2 initiatives together are worth EUR 4.9m (P10 EUR 2.2m to P90 EUR 8.6m; "
        "96% chance the total is positive) over 3 years; the largest, Service-desk chatbot: NPV EUR 5.0m"
    )
    assert "add up" not in worth
    assert s.roi["Initiative"].tolist() == ["Service-desk chatbot", "Faster releases (CI/CD)", "All initiatives together"]
    assert s.roi.iloc[-1]["NPV P10 to P90"] == "EUR 2.2m to EUR 8.6m" and s.roi.attrs["total_row"]
    # one initiative: no total row and no "together"
    single = summary.summarize({"roi": roi[:1], "portfolio": [{**total, "initiatives": ["chatbot"]}]}, model, PERIOD)
    assert "together" not in single.headlines[2] and len(single.roi) == 1 and not single.roi.attrs["total_row"]
    assert single.headlines[2].startswith("What it is worth over 3 years: Service-desk chatbot: NPV EUR 5.0m")


def test_summary_names_a_clear_customer_effect_and_a_costly_ship(model):
    results = {
        "initiatives": [
            _entry("chatbot", "did", "ship", "first_response_mean_hours", -1.0, -1.4, -0.6),
            _entry("chatbot", "did", "ship", "csat", 0.041, 0.029, 0.054, role="guardrail"),
            _entry("self-service-portal", "randomized", "ship", "self_service_rate", 0.05, 0.037, 0.064),
        ],
        "roi": [_roi("self-service-portal", -250e3, -190e3, -120e3, 0.002)],
        "scorecard": [],
    }
    s = summary.summarize(results, model, PERIOD)
    assert s.headlines[0] == (
        "For customers: Customer satisfaction (CSAT) where Service-desk chatbot runs rose by 4.1 pp "
        "(95% interval +2.9 pp to +5.4 pp): a clear improvement."
    )
    assert "roll out Self-service portal only after cutting its costs" in s.headlines[3]
    assert "less than 1% chance" in s.headlines[3]
    assert s.scorecard == ["No scorecard for 2025-12."]


def test_summary_without_results_says_so(model):
    s = summary.summarize({}, model, PERIOD)
    assert s.headlines[1] == "IT delivered: no initiative has a measured effect yet."
    assert s.headlines[2] == "What it is worth: Value not available: no investment case has been computed."
    assert s.headlines[3] == "We recommend: nothing yet; no initiative has been evaluated."
    assert s.roi.empty and s.decisions.empty


def test_without_a_seed_every_case_shares_one_fresh_seed(model):
    one = investment.build_investment(model, period=PERIOD, n=200, seed=None)
    two = investment.build_investment(model, period=PERIOD, n=200, seed=None)
    assert len({c.seed for c in one.cases}) == 1 and one.cases[0].seed != two.cases[0].seed
    (row,) = one.portfolio_records()
    assert row["initiatives"] == [c.initiative for c in one.cases]
    with pytest.raises(ParamsError, match="non-negative"):
        investment.build_investment(model, period=PERIOD, n=200, seed=-1)
