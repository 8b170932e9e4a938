"""One truth per run: what the demo month shows on more than one page is the same everywhere.

Reads the month published by the session's one run of the real pack (``demo_pack_plugin``)
with :mod:`one_truth`: every initiative's name, recommendation, primary effect with the
interval its decision rests on, NPV P50, P10 and P90, and the value of a customer kept,
on every page that shows them and in ``results.json``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from one_truth import Shown, assert_round_trip, disagreements, extract
from outcomes.params import read_yaml
from outcomes import config
from outcomes.report.investment import register_names
from outcomes.value.recommendation import WORDS

pytestmark = pytest.mark.slow

pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture

ACTIVE = sorted(read_yaml(p)["id"] for p in config.project().initiatives_dir.glob("*.yaml") if read_yaml(p).get("active") is True)


@pytest.fixture(scope="module")
def seen(demo_month: Path) -> dict:
    return extract(demo_month)


def test_every_shown_figure_name_and_recommendation_agrees(seen: dict) -> None:
    assert disagreements(seen) == []


@pytest.mark.parametrize("initiative", ACTIVE)
def test_each_initiative_is_shown_everywhere_under_its_register_name(seen: dict, initiative: str) -> None:
    names = seen[f"{initiative}/name"].places
    pages = {where.split()[0] for where, _ in names}
    assert {"results.json", f"02_initiative_review--{initiative}.html", "00_executive_summary.html", "03_roi.html"} <= pages
    assert {name for _, name in names} == {register_names()[initiative]}


@pytest.mark.parametrize("initiative", ACTIVE)
def test_each_recommendation_is_one_string_of_the_one_vocabulary(seen: dict, initiative: str) -> None:
    shown = seen[f"{initiative}/recommendation"].places
    assert len({where.split()[0] for where, _ in shown}) == 4  # results.json, the review, the summary, the ROI page
    (text,) = {value for _, value in shown}
    assert text.split(" only ")[0] in WORDS.values()


@pytest.mark.parametrize("quantity", ["effect", "interval", "npv_p50", "npv_p10", "npv_p90"])
def test_figures_are_shown_on_several_pages_and_recorded(seen: dict, quantity: str) -> None:
    for initiative in ACTIVE:
        places = seen[f"{initiative}/{quantity}"].places
        assert places[0][0].startswith("results.json") and len(places) >= 3, places
        assert all(isinstance(v, (Shown, tuple)) for _, v in places[1:]), places


def test_a_customer_kept_is_worth_the_same_on_the_scorecard_and_the_roi_page(seen: dict) -> None:
    places = seen["value_per_customer_kept"].places
    assert {where.split()[0] for where, _ in places} == {"results.json", "03_roi.html", "01_joint_scorecard.html"}


def test_the_month_index_links_each_review_by_its_register_name(demo_month: Path) -> None:
    index = (demo_month / "index.html").read_text(encoding="utf-8")
    for ident, name in register_names().items():
        if ident in ACTIVE:
            assert f'<a href="02_initiative_review--{ident}.html">{html.escape(name)}</a>' in index
            assert f">{ident}<" not in index


@pytest.mark.parametrize("initiative", ACTIVE)
def test_each_review_page_is_titled_with_its_initiatives_name(demo_month: Path, initiative: str) -> None:
    page = (demo_month / f"02_initiative_review--{initiative}.html").read_text(encoding="utf-8")
    name = html.escape(register_names()[initiative])
    assert f"<title>{name}</title>" in page
    assert re.search(r"<h1[^>]*>" + re.escape(name), page)
    assert "Initiative review" not in page and "<id>" not in page and "&lt;id&gt;" not in page


def test_the_months_workbook_holds_the_figures_of_results_json(demo_month: Path) -> None:
    doc = json.loads((demo_month / "results.json").read_text(encoding="utf-8"))
    book = demo_month / f"outcomes-{doc['period']}.xlsx"
    assert assert_round_trip(doc, book) > 100
    assert f'<a href="{book.name}">' in (demo_month / "index.html").read_text(encoding="utf-8")
