"""The ROI notebook and the executive summary run top to bottom on the demo company.

They run as in ``outcomes run``: 03_roi first, recording the ``roi`` section, then the
executive summary reading it (and computing the sections of the notebooks not run here).
The 03_roi notebook checked here is the one the demo month's pack executed (``demo_month``:
the same notebook on the same warehouse); the executive summary runs here on what that
03_roi recorded alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import nbformat
import papermill as pm
import pytest

from outcomes import config
from outcomes.report import results as report_results
from outcomes.run.monthly import default_kernel

pytestmark = pytest.mark.slow

pytest_plugins = ["demo_pack_plugin"]

NOTEBOOKS = config.project().root / "notebooks"
PARAMETERS = {"period": "2025-12", "draws": 500, "seed": 11}


def _run(name: str, out: Path, results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv(report_results.RESULTS_PATH_ENV, str(results_dir / f"{name}.json"))
    monkeypatch.setenv(report_results.RESULTS_DIR_ENV, str(results_dir))
    return pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out / f"{name}.ipynb"),
        parameters=PARAMETERS,
        kernel_name=default_kernel(),
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )


def _recorded_by(nb: nbformat.NotebookNode, month: dict) -> dict[str, list]:
    """The sections an executed notebook records, in the order its cells record them, with their rows in ``month``."""
    names = [name for c in nb.cells if c.cell_type == "code" for name in re.findall(r'report\.record\("(\w+)"', c.source)]
    return {name: month[name] for name in names}


@pytest.fixture(scope="module")
def executed(demo_month, tmp_path_factory):
    roi = nbformat.read(demo_month / "03_roi.ipynb", as_version=4)
    manifest = json.loads((demo_month / "manifest.json").read_text())
    out = tmp_path_factory.mktemp("notebooks")
    results_dir = out / "results"
    results_dir.mkdir()
    report_results.write_json(results_dir / "03_roi.json", _recorded_by(roi, json.loads((demo_month / "results.json").read_text())))
    with pytest.MonkeyPatch.context() as mp:
        summary = _run("00_executive_summary", out, results_dir, mp)
    found = {p.stem: json.loads(p.read_text()) for p in results_dir.glob("*.json")}
    passed = {"03_roi": next(n["parameters"] for n in manifest["notebooks"] if n["name"] == "03_roi"), "00_executive_summary": PARAMETERS}
    return {"03_roi": roi, "00_executive_summary": summary, "results": found, "parameters": passed}


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for o in _outputs(nb):
        if o.get("output_type") == "stream":
            parts.append(o["text"])
        for mime in ("text/markdown", "text/html", "text/plain"):
            parts.append(str(o.get("data", {}).get(mime, "")))
    return "\n".join(parts)


@pytest.mark.parametrize("name", ["03_roi", "00_executive_summary"])
def test_notebook_runs_without_errors(executed, name):
    nb = executed[name]
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert errors == []
    stderr = [o["text"] for o in _outputs(nb) if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not any("Traceback" in t for t in stderr)
    given = dict(nb.metadata["papermill"]["parameters"])
    expected = dict(executed["parameters"][name])
    if "warehouse" in expected:  # the pack hands its notebooks a snapshot of the warehouse its manifest names
        expected.pop("warehouse")
        assert Path(given.pop("warehouse")).parent.name == "snapshot"
    assert given == expected


@pytest.mark.parametrize("name", ["03_roi", "00_executive_summary"])
def test_committed_notebook_is_thin_and_clean(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert "report = outcomes.report.setup_notebook()" in code[1].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert {"period", "value_model", "seed", "draws", "engine"} <= set(params)
    assert all(p["help"] for p in params.values())


def test_roi_notebook_records_valid_roi_entries(executed):
    recorded = executed["results"]["03_roi"]
    assert list(recorded) == ["roi", "portfolio", "overlaps", "program_holdout"]
    ids = [r["initiative"] for r in recorded["roi"]]
    assert ids == ["self-service-portal", "chatbot", "faster-releases", "priority-routing"]
    report_results.check_rows("roi", recorded["roi"])
    report_results.check_rows("portfolio", recorded["portfolio"])
    (total,) = recorded["portfolio"]
    assert total["initiatives"] == ids
    # the total's median lies between the sum of the P10s and the sum of the P90s
    assert sum(r["npv_p10"] for r in recorded["roi"]) < total["npv_p50"] < sum(r["npv_p90"] for r in recorded["roi"])
    text = _text(executed["03_roi"])
    for heading in ("Investment case (TEI", "risk adjustment: benefits cut", "Initiatives by NPV", "rests on"):
        assert heading in text


def test_summary_records_headlines_built_from_the_results(executed):
    recorded = executed["results"]["00_executive_summary"]
    assert list(recorded) == ["headlines"]
    headlines = recorded["headlines"]
    report_results.check_rows("headlines", headlines)
    assert 3 <= len(headlines) <= 5
    assert [h.split(":")[0] for h in headlines[:4]] == ["For customers", "IT delivered", "What it is worth", "We recommend"]
    # uncertainty is always stated
    assert "interval" in headlines[0] and "interval" in headlines[1]
    assert "P10" in headlines[2] and "chance ROI is positive" in headlines[2]
    # the worth sentence names the largest median NPV recorded by 03_roi
    roi = executed["results"]["03_roi"]["roi"]
    top = max(roi, key=lambda r: r["npv_p50"])
    # (the priority-routing pilot: a small cost against measured employee hours; the faster release process
    # and the chatbot, whose value rests on an association and counts its two regions, come after it)
    assert top["initiative"] == "priority-routing" and top["name"] in headlines[2]
    # and the initiatives together, from the portfolio row 03_roi recorded
    assert "the 4 initiatives together are worth" in headlines[2] and "chance the total is positive" in headlines[2]
    assert "All initiatives together" in _text(executed["00_executive_summary"])


def test_summary_shows_no_customer_names_or_emails(executed, demo_warehouse):
    text = _text(executed["00_executive_summary"])
    db = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        rows = db.execute("select name, email, customer_id from customers").fetchall()
    finally:
        db.close()
    assert "@" not in text
    words = set(re.findall(r"[A-Za-z0-9._-]+", text))
    leaked = [v for row in rows for v in row if v and (v in words or (" " in v and v in text))]
    assert leaked == []


def test_what_if_charts_start_at_each_case(executed):
    """One what-if chart per case, before the caveats, whose starting row carries the case's recorded NPV."""
    nb = executed["03_roi"]
    ids = [c.get("id") for c in nb.cells]
    assert ids.index("what-if") < ids.index("6545d465")
    page = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in nb.cells[ids.index("what-if")].outputs)
    for r in executed["results"]["03_roi"]["roi"]:
        assert f'aria-label="What if: {r["name"]}"' in page
        assert f'"npv_p50":{r["npv_p50"]!r}' in page


def test_roi_page_shows_each_tornado_and_says_whether_effects_were_shrunk(executed):
    text = _text(executed["03_roi"])
    # the demo's initiatives each measured a different IT metric
    assert "No two initiatives measured the same IT metric, so no effect is shrunk" in text
    assert "what moves the NPV most" in text
    for entry in executed["results"]["03_roi"]["roi"]:
        assert entry["shrinkage"] is None
        swings = [abs(s["npv_high"] - s["npv_low"]) for s in entry["sensitivity"]]
        assert 1 <= len(swings) <= 5 and swings == sorted(swings, reverse=True)
