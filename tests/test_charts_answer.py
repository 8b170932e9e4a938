"""Charts that answer: status tiles, sparklines with every point and a labelled target,
"Is IT too busy?" in a sentence, intervals clipped to what a rate allows, and a chart
bundle that is interactive in JupyterLab while papermill output stays offline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import altair as alt
import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest

from outcomes.report import bounds, renderer
from outcomes.report.scorecard_charts import (
    TILE_STYLE,
    demand_capacity_chart,
    demand_capacity_sentence,
    sparklines,
    status_tiles,
)
from outcomes.run.monthly import default_kernel
from outcomes.scorecard.card import OFF, ON, build_scorecard
from test_scorecard import MONTHS, panel, rows  # noqa: F401 (``panel`` is a fixture)


def _layers(spec: dict) -> list[dict]:
    """Every layer of every facet block of the sparklines."""
    return [layer for block in spec["vconcat"] for layer in block["spec"]["layer"]]


def _sparse(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The panel with ``metric`` measured every third month only (a quarterly survey)."""
    out = frame.copy()
    rows_of = out["metric"] == metric
    kept = out["period"].isin(sorted(out["period"].unique())[::-3])
    out.loc[rows_of & ~kept, "value"] = np.nan
    return out


def test_tiles_show_name_value_target_and_status_word_with_a_symbol(panel: pd.DataFrame) -> None:  # noqa: F811 (the imported fixture)
    card = build_scorecard(panel, "2025-03", targets={"csat": 0.5})
    page = status_tiles(card).data
    shown = card.formatted()
    assert page.count('class="outcomes-tile"') == len(shown)
    for name, value, status in zip(shown["metric"], shown["this month"], shown["status"]):
        assert f">{name}<" in page and f">{value.replace('/', '/<wbr>')}<" in page and status in page
    codes = set(card.table["status"])
    assert {ON, OFF} <= codes
    assert f"border-left:6px solid {TILE_STYLE[OFF][0]}" in page and "\u2717 off target" in page
    assert f"border-left:6px solid {TILE_STYLE[ON][0]}" in page and "\u2713 on target" in page
    assert "minmax(170px,1fr)" in page  # wraps to one column on a phone


def test_tiles_escape_names_from_data(panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811 (the imported fixture)
    card = build_scorecard(panel, "2025-03")
    hostile = card.formatted().assign(metric="<script>x</script>")
    monkeypatch.setattr(type(card), "formatted", lambda self: hostile)
    page = status_tiles(card).data
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_sparklines_draw_every_point_of_a_sparse_series(panel: pd.DataFrame) -> None:  # noqa: F811 (the imported fixture)
    card = build_scorecard(_sparse(panel, "csat"), "2025-03")
    spec = sparklines(card).to_dict()
    data = {k: v for k, v in spec["datasets"].items()}
    csat = [r for values in data.values() for r in values if r.get("metric") == "csat"]
    expected = panel[(panel["metric"] == "csat") & (panel["segment_dim"] == "all")]
    assert len(csat) == math.ceil(len(expected) / 3) >= 2  # no empty month between two points
    assert all(r["shown"] is not None for r in csat)
    line = next(layer for layer in _layers(spec) if layer["mark"]["type"] == "line")
    assert line["mark"]["point"]["filled"] is True  # a lone point still shows


def test_sparklines_label_the_target_and_the_last_value_with_readable_axes(panel: pd.DataFrame) -> None:  # noqa: F811 (the imported fixture)
    spec = sparklines(build_scorecard(panel, "2025-03")).to_dict()
    layers = _layers(spec)
    texts = [layer for layer in layers if layer["mark"]["type"] == "text"]
    assert {"field": "target_text", "type": "nominal"} in [layer["encoding"]["text"] for layer in texts]
    assert {"field": "last_text", "type": "nominal"} in [layer["encoding"]["text"] for layer in texts]
    rows = [r for values in spec["datasets"].values() for r in values]
    assert {r["target_text"] for r in rows if r["metric"] == "csat"} == {"target"}  # csat has a target
    assert {r["target_text"] for r in rows if r["metric"] == "ticket_volume"} == {""}  # no target: no label
    rule = next(layer for layer in layers if layer["mark"]["type"] == "rule")
    assert rule["encoding"]["y"]["field"] == "target_y"
    assert rule["encoding"]["opacity"]["condition"]["test"] == "isValid(datum.target_shown)"
    line = next(layer for layer in layers if layer["mark"]["type"] == "line")
    assert line["encoding"]["x"]["axis"]["labelFontSize"] >= 11 and line["encoding"]["y"]["axis"]["labelFontSize"] >= 11
    assert all(block["facet"]["header"]["labelLimit"] == 0 for block in spec["vconcat"])  # no cut names
    assert spec["resolve"]["legend"] == {"color": "shared", "shape": "shared"}  # one legend


def _services(opened: dict[str, float], resolved: dict[str, float]) -> pd.DataFrame:
    out = []
    for svc in opened:
        out.append(rows("ticket_volume", "service", svc, np.full(len(MONTHS), opened[svc]), opened[svc]))
        out.append(rows("demand_capacity_ratio", "service", svc, np.full(len(MONTHS), 1.0), resolved[svc]))
    return pd.concat(out)


def test_is_it_too_busy_answers_in_a_sentence_from_the_chart_data() -> None:
    busy = _services({"web": 120.0, "mail": 40.0, "erp": 30.0}, {"web": 100.0, "mail": 45.0, "erp": 25.0})
    sentence = demand_capacity_sentence(busy)
    last = pd.Timestamp(MONTHS[-1]).strftime("%Y-%m")
    assert sentence == (
        f"Yes: in {last} IT resolved 170 tickets while 190 were opened, so the queue grew by 20. "
        "Demand exceeded capacity in 2 of 3 services: web (+20), erp (+5)."
    )
    calm = _services({"web": 90.0}, {"web": 100.0})
    assert demand_capacity_sentence(calm) == (
        f"No: in {last} IT resolved 100 tickets while 90 were opened, so the queue did not grow. "
        "No service received more tickets than it resolved."
    )


def test_demand_and_capacity_both_show_where_they_coincide() -> None:
    spec = demand_capacity_chart(_services({"web": 100.0}, {"web": 100.0})).to_dict()
    mark, enc = spec["spec"]["mark"], spec["spec"]["encoding"]
    assert mark["type"] == "line" and mark["point"]["filled"] is True
    assert enc["strokeDash"]["field"] == "flow" and enc["strokeDash"]["scale"]["range"] == [[1, 0], [5, 3]]
    assert enc["color"]["scale"]["range"][0] != enc["color"]["scale"]["range"][1]


@pytest.mark.parametrize(
    ("clip", "low", "high", "expected"),
    [
        (bounds.clip_relative, -1.08, 0.4, (-1.0, 0.4, True)),
        (bounds.clip_relative, -0.3, 0.4, (-0.3, 0.4, False)),
        (bounds.clip_level, -0.02, 0.1, (0.0, 0.1, True)),
        (bounds.clip_level, 0.9, 1.05, (0.9, 1.0, True)),
        (bounds.clip_level, 0.2, 0.3, (0.2, 0.3, False)),
    ],
)
def test_intervals_are_clipped_to_what_the_quantity_allows(clip, low, high, expected) -> None:
    assert clip(low, high) == expected


def _chart_bundle() -> dict:
    renderer.enable()
    chart = alt.Chart(pd.DataFrame({"a": ["x", "y"], "n": [1, 2]}), title="Volume").mark_bar().encode(x="a:N", y="n:Q")
    bundle = chart._repr_mimebundle_()
    return bundle[0] if isinstance(bundle, tuple) else bundle


def test_a_jupyter_server_kernel_gets_the_interactive_spec_and_a_static_svg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(renderer.JUPYTER_SERVER_ENV, "analysis.ipynb")
    bundle = _chart_bundle()
    assert bundle[renderer.VEGA_LITE_MIME]["mark"]["type"] == "bar"
    assert bundle["image/svg+xml"].lstrip().startswith("<svg") and "text/html" not in bundle
    monkeypatch.delenv(renderer.JUPYTER_SERVER_ENV)
    bundle = _chart_bundle()
    assert set(bundle) == {"text/html", "text/plain"}


@pytest.mark.slow  # a kernel start: about 11 s alone, 16 s on a busy machine
def test_papermill_runs_chart_notebooks_into_valid_bundles_of_both_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(renderer.JUPYTER_SERVER_ENV, raising=False)
    nb = nbformat.v4.new_notebook()
    chart = "alt.Chart(pd.DataFrame({'a': ['x'], 'n': [1]})).mark_bar().encode(x='a:N', y='n:Q')"
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nimport altair as alt, pandas as pd\nimport outcomes.report\nreport = outcomes.report.setup_notebook()"),
        nbformat.v4.new_code_cell(chart),
        nbformat.v4.new_code_cell(f"os.environ[{renderer.JUPYTER_SERVER_ENV!r}] = 'analysis.ipynb'"),
        nbformat.v4.new_code_cell(chart),
    ]
    nb.metadata["kernelspec"] = {"name": default_kernel(), "display_name": "Python", "language": "python"}
    source = tmp_path / "chart.ipynb"
    nbformat.write(nb, source)
    out = pm.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name=default_kernel(), progress_bar=False)
    nbformat.validate(nbformat.read(tmp_path / "out.ipynb", as_version=4))
    offline, live = out.cells[1].outputs[0]["data"], out.cells[3].outputs[0]["data"]
    assert offline["text/html"].startswith('<div class="outcomes-chart"') and renderer.VEGA_LITE_MIME not in offline
    assert json.loads(json.dumps(live[renderer.VEGA_LITE_MIME]))["mark"]["type"] == "bar" and "image/svg+xml" in live


def test_metric_names_are_never_cut(panel: pd.DataFrame) -> None:  # noqa: F811
    from outcomes.report.scorecard_charts import movers_chart

    assert movers_chart(build_scorecard(panel, "2025-03")).to_dict()["encoding"]["y"]["axis"]["labelLimit"] == 0


def test_the_counterfactual_band_of_a_rate_stays_within_0_and_1() -> None:
    from outcomes.experiment.quasi.analysis import interrupted_time_series
    from outcomes.report.quasi_charts import its_chart

    months = pd.date_range("2023-01-01", periods=30, freq="MS")
    noisy = np.r_[np.linspace(0.0, 0.02, 18), np.full(12, 0.01)] + np.tile([0.0, 0.03, -0.01], 10)
    res = interrupted_time_series(pd.DataFrame({"month": months, "churn_rate": noisy}), period="month",
                                  outcome="churn_rate", start="2024-07-01", placebo=False)
    band = its_chart(res).to_dict()
    rows = next(v for v in band["datasets"].values() if v and "cf_low" in v[0] and "interval" in v[0])
    assert all(0.0 <= r["cf_low"] <= r["cf_high"] <= 1.0 for r in rows)
    assert bounds.CLIPPED_NOTE in {r["interval"] for r in rows}


def test_a_tiles_value_keeps_its_headline_size_when_only_its_unit_is_long() -> None:
    """The value may break after the "/" of its unit, so only its longest piece sets its size."""
    from outcomes.report.scorecard_charts import CHAR_EM, _value_size

    assert _value_size("0.37 reassignments/ticket") == f"min(20px, calc(100cqi / {CHAR_EM * len('reassignments/'):.2f}))"
    assert _value_size("EUR 1.4k") == f"min(20px, calc(100cqi / {CHAR_EM * 4:.2f}))"
    assert _value_size("supercalifragilistic") == f"min(20px, calc(100cqi / {CHAR_EM * 20:.2f}))"
