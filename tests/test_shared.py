"""What the notebooks of a report run compute once and share (panels, initiative results).

A shared panel must equal the panel computed afresh, a changed warehouse must give a new
computation (never the stale artefact), the ROI step must read the reviews the review
notebooks stored, and the review notebook must run both on its own and inside a run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import duckdb
import papermill as pm
import pandas as pd
import pytest

from outcomes import config
from outcomes.report import investment
from outcomes.metrics import panel
from outcomes import cache
from outcomes.warehouse import store as warehouse
from outcomes.scorecard.drivers import drivers_panel
from outcomes.report import review as initiative_review
from outcomes.report import results as report_results
from outcomes.experiment.results import result_to_dict
from outcomes.run.monthly import default_kernel

PERIOD = "2025-12"
WINDOW = {"start": "2025-11", "end": "2025-12"}
#: Stands for a connection where the builder under test never touches it.
FAKE_CON = SimpleNamespace(name="duckdb")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run's shared folder, named in the environment as ``outcomes run`` does."""
    folder = tmp_path / "shared"
    monkeypatch.setenv(cache.SHARED_DIR_ENV, str(folder))
    return folder


def test_shared_panel_equals_the_panel_computed_afresh(demo_warehouse: Path, store: Path) -> None:
    con = warehouse.connect(demo_warehouse)
    first = panel.shared_panel(con, segment="region", engine="duckdb", warehouse_path=demo_warehouse, **WINDOW)
    again = panel.shared_panel(segment="region", engine="duckdb", warehouse_path=demo_warehouse, **WINDOW)
    fresh = panel.build_panel(con, segment="region", **WINDOW)
    pd.testing.assert_frame_equal(first, fresh)
    pd.testing.assert_frame_equal(again, fresh)
    [record] = cache.inventory(store)
    assert record["kind"] == "panel" and record["backend"] == "duckdb" and record["engine"] == "duckdb"
    assert len(list(store.glob("panel-*.parquet"))) == 1


def test_equivalent_calls_share_one_panel(demo_warehouse: Path, store: Path) -> None:
    # The scorecard passes months as text and min_customers explicitly; the ROI step passes
    # dates and relies on the default: one key, one computation.
    con = warehouse.connect(demo_warehouse)
    a = panel.shared_frame(drivers_panel, con, warehouse_path=demo_warehouse, start="2025-11", end="2025-12", min_customers=10)
    b = panel.shared_frame(
        drivers_panel, con, warehouse_path=demo_warehouse,
        start=pd.Timestamp("2025-11-01").date(), end=pd.Timestamp("2025-12-01").date(),
    )
    pd.testing.assert_frame_equal(a, b)
    assert len(cache.inventory(store)) == 1


def test_other_arguments_or_engine_give_another_key() -> None:
    base = {"start": "2025-11", "end": "2025-12", "engine": "duckdb"}
    assert cache.key("panel", base) != cache.key("panel", {**base, "end": "2025-10"})
    assert cache.key("panel", base) != cache.key("panel", {**base, "engine": "spark"})
    assert cache.key("panel", base) == cache.key("panel", dict(reversed(base.items())))


def test_a_changed_warehouse_is_computed_again_never_read_stale(
    demo_warehouse: Path, store: Path, tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, db)
    args = {"segment": "all", "metrics": ["ticket_volume"], "engine": "duckdb", "warehouse_path": db, **WINDOW}
    before = panel.shared_panel(**args)
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM tickets WHERE opened_at >= '2025-12-15'")
    after = panel.shared_panel(**args)
    fresh = panel.build_panel(warehouse.connect(db), segment="all", metrics=["ticket_volume"], **WINDOW)
    pd.testing.assert_frame_equal(after, fresh)
    december = lambda f: f.loc[f["period"].astype(str).str.startswith("2025-12"), "value"].iloc[0]  # noqa: E731
    assert december(after) < december(before)
    assert len(cache.inventory(store)) == 2


def test_nothing_is_shared_outside_a_run(demo_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.SHARED_DIR_ENV, raising=False)
    calls = []

    def build(con: object, *, start: str, end: str) -> pd.DataFrame:
        calls.append(start)
        return pd.DataFrame({"x": [1]})

    for _ in range(2):
        panel.shared_frame(build, FAKE_CON, warehouse_path=demo_warehouse, start="2025-12", end="2025-12")
    assert calls == ["2025-12", "2025-12"]


def test_a_source_that_cannot_be_stamped_is_never_shared(tmp_path: Path, store: Path) -> None:
    assert warehouse.source_stamp("duckdb", tmp_path / "missing.duckdb") is None
    calls = []

    def build(con: object, *, start: str) -> pd.DataFrame:
        calls.append(start)
        return pd.DataFrame({"x": [1]})

    for _ in range(2):
        panel.shared_frame(build, FAKE_CON, warehouse_path=tmp_path / "missing.duckdb", start="2025-12")
    assert len(calls) == 2 and not store.exists()


def test_review_results_round_trip_and_feed_the_roi_step(
    demo_warehouse: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = investment.active_specs()
    stored = {k: initiative_review.shared_review(path, period=PERIOD).result for k, path in specs.items()}
    kinds = [r["kind"] for r in cache.inventory(store)]
    assert sorted(kinds) == sorted(["review", "review-page"] * len(specs))  # the result, and the whole review
    for key, path in specs.items():
        read = initiative_review.shared_result(path, period=PERIOD)
        assert json.dumps(result_to_dict(read)) == json.dumps(result_to_dict(stored[key]))
        assert read.to_dict() == stored[key].to_dict()

    # The ROI step reads the stored results: reviewing again would fail here.
    def no_review(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ROI step reviewed an initiative the run had already reviewed")

    monkeypatch.setattr(initiative_review, "review", no_review)
    inv = investment.evaluate(PERIOD, draws=500, seed=3)
    assert {k: r.decision.action for k, r in inv.results.items()} == {k: r.decision.action for k, r in stored.items()}


def test_the_review_page_reads_the_review_the_roi_step_made(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ROI step reviews every initiative first; each review page then shows that review, never made again."""
    specs = investment.active_specs()
    made = {k: initiative_review.shared_result(path, period=PERIOD) for k, path in specs.items()}
    fresh = {k: initiative_review.review(path, period=PERIOD) for k, path in specs.items()}

    def no_review(*args: object, **kwargs: object) -> None:
        raise AssertionError("a review page reviewed an initiative the ROI step had already reviewed")

    monkeypatch.setattr(initiative_review, "review", no_review)
    for key, path in specs.items():
        page = initiative_review.shared_review(path, period=PERIOD)
        assert page.result.to_dict() == made[key].to_dict() == fresh[key].result.to_dict()
        assert page.spec == fresh[key].spec and page.window == fresh[key].window
        if fresh[key].timeline is not None:
            pd.testing.assert_frame_equal(page.timeline, fresh[key].timeline)
        assert (page.quasi is None) == (fresh[key].quasi is None)
        if page.quasi is not None:
            assert page.quasi.estimate == fresh[key].quasi.estimate
    monkeypatch.delenv(cache.SHARED_DIR_ENV)
    with pytest.raises(AssertionError, match="already reviewed"):  # outside a run each page reviews for itself
        initiative_review.shared_review(next(iter(specs.values())), period=PERIOD)


def test_the_scorecard_prices_a_customer_kept_as_the_roi_step_does_without_waiting_for_it(
    demo_warehouse: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scorecard runs beside the ROI page: its price of a customer kept comes from the inputs both share."""
    computed = []
    inputs = investment.warehouse_inputs
    monkeypatch.setattr(investment, "warehouse_inputs", lambda *a, **k: computed.append(a[1]) or inputs(*a, **k))
    con = warehouse.connect(demo_warehouse)
    price = investment.customer_price(con, PERIOD, warehouse_path=demo_warehouse)
    inv = investment.evaluate(PERIOD, draws=200, seed=3, warehouse_path=demo_warehouse, results={})
    recorded = [r["value_per_customer_kept"] for r in inv.records() if r["value_per_customer_kept"] is not None]
    assert price is not None and price > 0 and recorded and price == recorded[0]
    assert computed == [PERIOD]  # computed by whichever page asked first, read by the other
    assert [r["kind"] for r in cache.inventory(store)].count("value-inputs") == 1
    # the churn-weighted lifetime value, by hand from the shared inputs
    key = next(k for k in investment.valued_initiatives(inv.model) if inv.model.initiative(k).money == "churn_avoided")
    segs = inv.inputs.segments.set_index("segment").loc[list(inv.model.initiative(key).population.segments)]
    churners = segs["customers"] * segs["churn_rate"]
    assert price == pytest.approx(float((churners / churners.sum() * segs["clv"]).sum()), rel=1e-12)
    monkeypatch.delenv(cache.SHARED_DIR_ENV)  # outside a run: the same price, computed afresh
    assert investment.customer_price(con, PERIOD, warehouse_path=demo_warehouse) == price and len(computed) == 2


@pytest.mark.slow
def test_review_notebook_runs_alone_and_inside_a_run(
    demo_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = str(config.project().notebooks_dir / "02_initiative_review.ipynb")
    params = {"initiative": "faster-releases", "period": PERIOD}
    monkeypatch.delenv(cache.SHARED_DIR_ENV, raising=False)
    monkeypatch.setenv(report_results.RESULTS_PATH_ENV, str(tmp_path / "alone.json"))
    pm.execute_notebook(notebook, str(tmp_path / "alone.ipynb"), parameters=params, kernel_name=default_kernel(), progress_bar=False)
    folder = tmp_path / "shared"
    monkeypatch.setenv(cache.SHARED_DIR_ENV, str(folder))
    monkeypatch.setenv(report_results.RESULTS_PATH_ENV, str(tmp_path / "in_run.json"))
    pm.execute_notebook(notebook, str(tmp_path / "in_run.ipynb"), parameters=params, kernel_name=default_kernel(), progress_bar=False)
    alone, in_run = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("alone", "in_run"))
    assert alone == in_run and alone["initiatives"][0]["id"] == "faster-releases"
    records = {r["kind"]: r for r in cache.inventory(folder)}
    assert set(records) == {"review", "review-page"} and {r["computed_by"] for r in records.values()} == {"in_run"}
