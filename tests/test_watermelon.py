"""The watermelon check: SLA met while experience is not, on hand tables and on the demo company's plant."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from canonical_tables import example_rows, make_warehouse

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.metrics import experience, panel
from outcomes.params import validate
from outcomes.report import results
from outcomes.scorecard.card import Targets, load_targets
from outcomes.scorecard.watermelon import find_watermelons, watermelon_sentence
from outcomes.scorecard.xla import LEVEL_METRICS, Xla
from outcomes.warehouse import store

XLA = {"default": {"sla_attainment": 0.80, "ticket_happiness": 40, "lost_time_hours": 3.0}, "min_responses": 30}


def hand_panel(services: dict[str, tuple[float, float, float, int]], period: str = "2025-12") -> pd.DataFrame:
    """Service rows of one month: service -> (SLA attainment, ticket happiness, lost hours, answers)."""
    rows = []
    for service, (sla, happiness, lost, n) in services.items():
        for metric, value in zip(LEVEL_METRICS, (sla, happiness, lost)):
            rows.append(
                dict(period=pd.Timestamp(f"{period}-01"), segment_dim="service", segment=service, metric=metric,
                     value=value, n=n, suppressed=False, note=None)
            )
    return pd.DataFrame(rows)


def targets(**xla) -> Targets:
    return Targets(xla=Xla.model_validate({**XLA, **xla}))


def test_nothing_is_flagged_without_a_plant():
    # every service either meets both promises or misses its SLA too (red outside: no watermelon)
    p = hand_panel({
        "web": (0.85, 60.0, 1.5, 100),  # green and green
        "mail": (0.70, 10.0, 5.0, 100),  # red outside and inside: a plain miss
        "hr": (0.95, 35.0, 1.0, 12),  # unhappy, but too few answers to judge
    })
    check = find_watermelons(p, "2025-12", targets=targets(), months=1)
    assert check.found == () and check.judged == 2
    assert check.records() == [] and watermelon_sentence(check.records()) is None
    assert check.sentence().startswith("No watermelon in December 2025")


def test_sla_met_and_experience_missed_is_flagged_with_its_drivers():
    p = hand_panel({"web": (0.85, 10.0, 2.0, 40), "mail": (0.90, 60.0, 4.5, 50)})
    breakdown = pd.DataFrame(
        [
            # web's gap to 40: 30 x (40 - 0) = 1200 from "order", 10 x (40 - 40) = 0 from "inquiry"
            dict(period=pd.Timestamp("2025-12-01"), service="web", dimension="category", value="order", responses=30,
                 ticket_happiness=0.0, lost_time_hours=2.5),
            dict(period=pd.Timestamp("2025-12-01"), service="web", dimension="category", value="inquiry", responses=10,
                 ticket_happiness=40.0, lost_time_hours=0.5),
            dict(period=pd.Timestamp("2025-12-01"), service="web", dimension="assignment_group", value="Commerce",
                 responses=40, ticket_happiness=10.0, lost_time_hours=2.0),
        ]
    )
    check = find_watermelons(p, "2025-12", targets=targets(), breakdown=breakdown, months=1)
    assert [(w.service, w.off) for w in check.found] == [("mail", ("lost_time_hours",)), ("web", ("ticket_happiness",))]
    web = check.found[1]
    assert [(d.dimension, d.value) for d in web.drivers] == [("category", "order"), ("assignment_group", "Commerce")]
    assert web.sentence == (
        "web in December 2025: SLA attainment 85% met its 80% target, but ticket happiness was 10 against a target "
        "of 40 (40 answers); most of the gap comes from category order and group Commerce."
    )
    results.check_rows("watermelons", check.records(), where="test")
    text = watermelon_sentence(check.records())
    assert text.startswith("Watermelons on mail and web in December 2025: the SLA was met while users were unhappy")


def test_a_service_level_overrides_the_default_and_missing_levels_fall_back_to_the_scorecard():
    p = hand_panel({"web": (0.85, 10.0, 2.0, 40)})
    assert find_watermelons(p, "2025-12", targets=targets(services={"web": {"sla_attainment": 0.9}}), months=1).found == ()
    # no xla levels at all: the scorecard targets (SLA 92%) apply, and 85% misses it
    bare = Targets(targets={"sla_attainment": 0.92, "ticket_happiness": 40.0})
    assert find_watermelons(p, "2025-12", targets=bare, months=1).found == ()
    lower = Targets(targets={"sla_attainment": 0.84, "ticket_happiness": 40.0})
    assert len(find_watermelons(p, "2025-12", targets=lower, months=1).found) == 1


def test_a_panel_without_the_metrics_names_what_to_build_and_one_without_services_judges_nothing():
    p = hand_panel({"web": (0.85, 10.0, 2.0, 40)})
    with pytest.raises(ValueError, match=r"no rows of lost_time_hours; build it with segment='service'"):
        find_watermelons(p[p.metric != "lost_time_hours"], "2025-12", targets=targets())
    company_only = p.assign(segment_dim="all", segment="all")  # no ticket names a service
    check = find_watermelons(company_only, "2025-12", targets=targets())
    assert check.judged == 0 and check.sentence().startswith("No service could be checked for watermelons")


def test_xla_levels_are_validated_and_unknown_keys_listed():
    with pytest.raises(ParamsError, match=r"targets\.yaml.*xla\.default\.happiness") as err:
        validate(Targets, {"xla": {"default": {"happiness": 40}}}, source="params/targets.yaml")
    assert "ticket_happiness" in str(err.value)
    with pytest.raises(ParamsError, match=r"xla\.default\.sla_attainment"):
        validate(Targets, {"xla": {"default": {"sla_attainment": 80}}}, source="params/targets.yaml")
    shipped = load_targets(config.project().params_dir / "targets.yaml").xla
    assert shipped.levels("Payments").sla_attainment == 0.82 and shipped.levels("Payments").ticket_happiness == 40


def test_breakdown_by_category_and_group_on_the_hand_company(tmp_path: Path):
    rows = example_rows()
    for t in rows["tickets"]:
        t["category"] = {"t1": "order", "t2": "payment"}.get(t["ticket_id"])
        t["assignment_group"] = "Commerce" if t["service"] == "web" else None
    con = make_warehouse(tmp_path / "example.duckdb", **rows)
    out = experience.experience_breakdown(con, start="2025-01", end="2025-01", services=["web"])
    got = {(r.dimension, r.value): (r.responses, r.ticket_happiness, r.lost_time_hours) for r in out.itertuples()}
    # January, web: r1 (t1, order, +100, 0.5 h) and r2 (t2, payment, -100, 1.5 h)
    assert got == {
        ("category", "order"): (1, 100.0, 0.5),
        ("category", "payment"): (1, -100.0, 1.5),
        ("assignment_group", "Commerce"): (2, 0.0, 1.0),
    }


# --------------------------------------------------------------------------- the demo company's plant


@pytest.fixture(scope="module")
def truth(ground_truth: dict) -> dict:
    return ground_truth["watermelon"]


def test_the_plant_is_in_the_raw_rows(demo_warehouse, truth):
    """Happiness and lost time of the planted service's tickets: the raw survey export, joined to the tickets."""
    raw = config.project().raw_dir / "ticket_surveys.csv"
    con = duckdb.connect()
    con.execute(f"ATTACH '{demo_warehouse}' AS wh (READ_ONLY)")
    frame = con.sql(
        f"""
        SELECT t.service = '{truth["service"]}' AND strftime(t.opened_at, '%Y-%m') IN {tuple(truth["months"])} AS planted,
               t.sla_met AS made_sla,
               avg(CASE WHEN s.Happiness >= 9 THEN 100 WHEN s.Happiness <= 6 THEN -100 ELSE 0 END) AS happiness,
               avg(s."Lost time (min)") / 60 AS lost, count(*) AS n
        FROM read_csv('{raw}') s JOIN wh.tickets t ON s.Ticket = t.ticket_id
        GROUP BY ALL
        """
    ).df()
    con.close()
    planted = frame[frame.planted]
    assert planted["n"].sum() > 300
    happiness = (planted["happiness"] * planted["n"]).sum() / planted["n"].sum()
    assert happiness == pytest.approx(truth["ticket_happiness"]["planted"], abs=8)
    lost = (planted["lost"] * planted["n"]).sum() / planted["n"].sum()
    assert lost == pytest.approx(truth["lost_time_hours"]["planted"], rel=0.15)
    for met, key in ((True, "sla_met"), (False, "sla_missed")):
        row = frame[~frame.planted & (frame.made_sla == met)].iloc[0]
        assert row["happiness"] == pytest.approx(truth["ticket_happiness"][key], abs=3)
        assert row["lost"] == pytest.approx(truth["lost_time_hours"][key], rel=0.05)


def test_the_detector_finds_the_plant_and_nothing_else(demo_warehouse, truth):
    con = store.connect(demo_warehouse, read_only=True)
    by_service = panel.build_panel(con, start="2024-01", end="2025-12", segment="service", metrics=list(LEVEL_METRICS))
    breakdown = experience.experience_breakdown(con, start="2025-10", end="2025-12", services=[truth["service"]])
    check = find_watermelons(
        by_service, "2025-12", targets=config.project().params_dir / "targets.yaml", breakdown=breakdown, months=24
    )
    assert {(w.service, w.period) for w in check.found} == {(truth["service"], m) for m in truth["months"]}
    assert check.judged > 200
    latest = check.found[0]
    assert latest.period == "2025-12" and latest.drivers
    assert latest.ticket_happiness < truth["ticket_happiness"]["planted"] + 20 < latest.happiness_target
    # aggregates only: no ticket, customer or employee id reaches the page or results.json
    assert not re.search(r"INC\d|C\d{8}|E\d{6}", json.dumps(check.records()))


def test_the_executive_summary_mentions_a_watermelon_only_when_one_is_found():
    from outcomes.report import summary
    from outcomes.value.model import load_value_model

    model = load_value_model(config.project().params_dir / "value.yaml")
    scorecard = [{"metric": "csat", "segment": None, "value": 0.80, "previous": 0.79, "target": 0.82,
                  "status": "off_target", "unit": "%"}]
    plain = summary.summarize({"scorecard": scorecard}, model, "2025-12")
    assert len(plain.headlines) == 5 and not any("Watermelon" in h for h in plain.headlines)
    p = hand_panel({"web": (0.85, 10.0, 2.0, 40)})
    rows = find_watermelons(p, "2025-12", targets=targets(), months=1).records()
    found = summary.summarize({"scorecard": scorecard, "watermelons": rows}, model, "2025-12")
    assert found.headlines[:5] == plain.headlines
    assert found.headlines[5] == (
        "Watermelon on web in December 2025: the SLA was met while users were unhappy (web in December 2025: "
        "SLA attainment 85% against its 80% target, ticket happiness 10 against 40, lost time 2 hours per ticket "
        "against 3 hours); details on the scorecard page."
    )


def test_the_page_shows_the_sentence_and_a_table_only_when_something_is_flagged():
    from outcomes.report.experience_page import watermelon_section

    quiet = find_watermelons(hand_panel({"web": (0.85, 60.0, 1.5, 100)}), "2025-12", targets=targets(), months=1)
    html = watermelon_section(quiet).data
    assert "No watermelon in December 2025" in html and "<table" not in html
    found = find_watermelons(hand_panel({"web": (0.85, 10.0, 2.0, 40)}), "2025-12", targets=targets(), months=1)
    html = watermelon_section(found).data
    assert "<table" in html and "85% (80%)" in html and "10 (40)" in html
    assert found.sentence().endswith("against 3 hours).") and "scorecard page" not in found.sentence()
