"""What-if: a case recomputed on a grid of settings, and the offline sliders that pick its row.

The value model is the project's ``params/value.yaml``; the chatbot's churn link is passed
as a drivers slope (an association) and its effect counted on 40% of the customers, so
every setting of the grid applies. Draws are kept small (2,000, seed 42) for speed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from browser import load
from outcomes import config
from outcomes.errors import ParamsError
from outcomes.report import renderer
from outcomes.report.investment import build_investment
from outcomes.report.whatif_charts import what_if_chart
from outcomes.run.html import vega_bundle
from outcomes.value import montecarlo
from outcomes.value.model import Quantity, ValueInputs, load_value_model
from outcomes.value.whatif import SHARE_RANGE, WhatIf, what_if_grid

DRAWS, SEED = 2_000, 42
FIGURES = ("npv_p10", "npv_p50", "npv_p90", "prob_roi_positive")


@pytest.fixture(scope="module")
def run() -> dict:
    return {
        "link_slopes": {"churn_rate": Quantity(value=0.0015, se=0.0004, origin="drivers")},
        "inputs": ValueInputs(measured_share_by_initiative={"chatbot": 0.4}),
        "n": DRAWS,
        "seed": SEED,
    }


@pytest.fixture(scope="module")
def model():
    return load_value_model(config.project().params_dir / "value.yaml")


@pytest.fixture(scope="module")
def chatbot(model, run: dict) -> WhatIf:
    return what_if_grid(model, "chatbot", **run)


def _at(w: WhatIf, **settings) -> dict:
    setting = {**w.default, **settings}
    g = w.grid
    rows = g[(g["share"] == setting["share"]) & (g["extrapolate"] == setting["extrapolate"])
             & np.isclose(g["discount_rate"], setting["discount_rate"]) & (g["overrun_pct"] == setting["overrun_pct"])]
    assert len(rows) == 1, setting
    return rows.iloc[0].to_dict()


def test_the_default_row_is_the_case_on_the_page(model, run: dict, chatbot: WhatIf) -> None:
    case = montecarlo.simulate(model, "chatbot", **run).details()
    row = chatbot.default_row()
    assert chatbot.grid["default"].sum() == 1
    assert {k: row[k] for k in FIGURES} == {k: case[k] for k in FIGURES}
    assert row["share"] == SHARE_RANGE and not row["extrapolate"] and row["overrun_pct"] == 0


def test_grid_spans_every_setting_that_applies(chatbot: WhatIf) -> None:
    assert chatbot.shares == (SHARE_RANGE, "0.00", "0.25", "0.50", "0.75", "1.00")
    assert chatbot.extrapolations == (False, True)
    assert len(chatbot.grid) == 6 * 2 * 5 * 6


def test_more_overrun_lowers_npv_and_the_chance_of_a_positive_roi(chatbot: WhatIf) -> None:
    for _, block in chatbot.grid.groupby(["share", "extrapolate", "discount_rate"]):
        block = block.sort_values("overrun_pct")
        assert (np.diff(block["npv_p50"]) < 0).all()
        assert (np.diff(block["prob_roi_positive"]) <= 0).all()


def test_a_higher_causal_share_raises_npv_of_a_chain_that_gains(chatbot: WhatIf) -> None:
    npv = [_at(chatbot, share=s)["npv_p50"] for s in ("0.00", "0.25", "0.50", "0.75", "1.00")]
    assert (np.diff(npv) > 0).all()
    assert npv[0] < _at(chatbot)["npv_p50"] < npv[-1]  # the range lies between none and all of it


def test_extrapolation_raises_npv_and_the_rate_moves_it(chatbot: WhatIf) -> None:
    base = _at(chatbot)
    assert _at(chatbot, extrapolate=True, share="1.00")["npv_p50"] > _at(chatbot, share="1.00")["npv_p50"]
    assert _at(chatbot, discount_rate=0.06)["npv_p50"] != _at(chatbot, discount_rate=0.14)["npv_p50"]
    assert base["npv_text"].startswith("NPV P50 ")


def test_a_case_without_association_or_partial_measurement_has_fewer_settings(model) -> None:
    w = what_if_grid(model, "self-service-portal", n=DRAWS, seed=SEED)
    assert w.shares == () and len(w.extrapolations) == 1 and len(w.grid) == 5 * 6
    spec = what_if_chart(w).to_dict()
    assert {p["name"] for p in spec["params"]} == {"rate", "overrun"}


def test_grid_without_the_page_setting_is_refused(model) -> None:
    with pytest.raises(ParamsError, match=r"must each include 0"):
        what_if_grid(model, "chatbot", rate_steps=(0.02,), n=DRAWS, seed=SEED)


def test_the_investment_page_grid_starts_at_its_case(model) -> None:
    inv = build_investment(model, period="2025-12", initiatives=["chatbot"], n=DRAWS, seed=SEED)
    row = inv.what_if("chatbot").default_row()
    case = inv.case("chatbot").details()
    assert {k: row[k] for k in FIGURES} == {k: case[k] for k in FIGURES}


_PROBE = re.compile(r'<pre id="probe">(.*?)</pre>', re.S)
#: After the chart is drawn: the shown text, then move the overrun slider to 50% and read it again.
_SCRIPT = """<script>
function shown(){return [...document.querySelectorAll('.outcomes-chart-live svg text')].map(t=>t.textContent);}
setTimeout(function(){
  var before=shown(); var input=document.querySelector('input[name="overrun"]');
  input.value='50'; input.dispatchEvent(new Event('input',{bubbles:true}));
  setTimeout(function(){var p=document.createElement('pre');p.id='probe';
    p.textContent=JSON.stringify({before:before,after:shown(),slider:!!input});document.body.appendChild(p);},1000);
},3000);
</script>"""


def test_a_slider_moved_in_an_offline_browser_changes_the_npv_shown(
    model, run: dict, chatbot: WhatIf, tmp_path: Path
) -> None:
    page = tmp_path / "whatif.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><script>{vega_bundle()}</script></head><body>"
        f"{renderer.chart_html(what_if_chart(chatbot).to_dict())}{_SCRIPT}</body></html>",
        encoding="utf-8",
    )
    seen = load(page, budget_ms=10_000)
    assert seen.network_requests == []
    found = _PROBE.search(seen.dom)
    assert found, seen.console
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    default, overrun = chatbot.default_row(), _at(chatbot, overrun_pct=50)
    assert default["npv_text"] in probe["before"] and default["chance_text"] in probe["before"]
    table = dict(montecarlo.simulate(model, "chatbot", **run).summary().values)  # the page's table of the case
    assert {
        f"NPV P50 {table['NPV P50']}, P10 to P90 {table['NPV P10 to P90']}",
        f"Chance ROI is positive: {table['Chance ROI is positive']}",
    } <= set(probe["before"])
    assert overrun["npv_text"] in probe["after"] and default["npv_text"] not in probe["after"]
