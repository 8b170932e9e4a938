"""``outcomes run --engine spark``: the whole monthly pack on Spark equals the DuckDB run.

The real pack (``params/monthly.yaml``) runs on Spark in local mode (two cores, two shuffle
partitions, no whole-stage code generation, a Parquet export in a temporary folder; settings
passed to the kernels through ``OUTCOMES_ENGINE_PARAMS``) and is compared with the DuckDB run
of the same configuration that the other pack tests read (``demo_month``). The Spark run
leaves out the review pages, the slowest part on Spark: every initiative's review is still
computed on Spark, inside the ROI page (its effects are what the value cases rest on), and the
review pages themselves render the same objects on either engine. It leaves out the executive
summary too: when the other pages have recorded their sections the summary writes from them
and queries nothing (tested on DuckDB), but without the review pages it would start a third
Spark session to review every initiative again. Every number of ``results.json``
must agree to 1e-9 relative (the parity tolerance of the catalog on the two engines) and
every text exactly. Only ``generated_at`` (when the document was written) legitimately
differs in ``results.json``; in ``manifest.json`` the engine, the timings and the
backend of the shared artefacts differ, which is what the last test checks.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from outcomes import config
from outcomes.warehouse import spark_backend
from outcomes.run.monthly import run_monthly

pytestmark = [pytest.mark.spark, pytest.mark.slow]
pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture: the DuckDB run

PERIOD = "2025-12"
RTOL = 1e-9
#: Fields of results.json that differ between two runs of the same data.
RUN_FIELDS = ("generated_at",)
#: The pages left out of the Spark run (see the module notes).
LEFT_OUT = ("02_initiative_review", "00_executive_summary")


def _run_on_spark(root: Path) -> Path:
    doc = yaml.safe_load((config.project().params_dir / "monthly.yaml").read_text(encoding="utf-8"))
    doc["reports_dir"] = str(root / "reports-spark")
    doc["notebooks"] = [
        {**nb, "after": [a for a in nb.get("after", []) if a not in LEFT_OUT]}
        for nb in doc["notebooks"]
        if nb["name"] not in LEFT_OUT
    ]
    path = root / "monthly-spark.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    summary = run_monthly(path, period=PERIOD, engine="spark")
    return summary.index.parent


@pytest.fixture(scope="module")
def months(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Path]:
    """The published month of the DuckDB run and of the Spark run.

    The Spark run comes first: while it runs, another test worker can be building the shared
    DuckDB month (``demo_month``), which this worker would otherwise wait for doing nothing.
    """
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Spark needs a Java 17 runtime")
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
    root = tmp_path_factory.mktemp("spark-pack")
    settings = {
        "spark": {
            "master": "local[2]",
            "driver_memory": "1g",
            "shuffle_partitions": 2,
            # on demo-sized data compiling each query costs more than running it
            "conf": {"spark.sql.codegen.wholeStage": "false"},
            "data": {"parquet": str(root / "parquet")},
        }
    }
    (root / "engine.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(spark_backend.ENGINE_PARAMS_ENV, str(root / "engine.yaml"))
        spark = _run_on_spark(root)
    return {"duckdb": request.getfixturevalue("demo_month"), "spark": spark}


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Every place where two JSON documents differ beyond RTOL (numbers) or at all (the rest)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))} in one document only"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{where}[{i}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12) else [f"{where}: {a!r} against {b!r}"]
    return [] if a == b else [f"{where}: {a!r} against {b!r}"]


def _results(month: Path) -> dict[str, Any]:
    doc = json.loads((month / "results.json").read_text(encoding="utf-8"))
    return {k: v for k, v in doc.items() if k not in RUN_FIELDS}


def test_the_scorecard_on_spark_equals_the_duckdb_scorecard(months: dict[str, Path]) -> None:
    duck, spark = (_results(months[e])["scorecard"] for e in ("duckdb", "spark"))
    assert len(duck) >= 10
    assert _differences(duck, spark, "scorecard") == []


def test_results_json_on_spark_equals_the_duckdb_results(months: dict[str, Path]) -> None:
    duck, spark = (_results(months[e]) for e in ("duckdb", "spark"))
    assert {"scorecard", "initiatives", "roi", "headlines"} <= set(duck)
    # the review pages record `initiatives`; the Spark run leaves them out (the ROI page reviews on Spark)
    assert duck["initiatives"] and spark.pop("initiatives") == []
    duck.pop("initiatives")
    # the scorecard and the summary both write headlines; the Spark run has the scorecard's
    spark_headlines, duck_headlines = spark.pop("headlines"), duck.pop("headlines")
    assert spark_headlines and len(spark_headlines) < len(duck_headlines)
    assert [h for h in spark_headlines if h not in duck_headlines] == []
    assert _differences(duck, spark) == []


def test_the_spark_run_computed_its_panels_on_spark(months: dict[str, Path]) -> None:
    for name, backend in (("duckdb", "duckdb"), ("spark", "pyspark")):
        manifest = json.loads((months[name] / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["engine"] == name
        panels = [s for s in manifest["shared"] if s["kind"] == "panel"]
        # the scorecard's panel, its services panel, its experience panel (happiness by service), and the
        # drivers panel: the ROI page runs first (the scorecard prices a kept customer as it does) and
        # computes the drivers panel they share
        assert len(panels) == 4 and {p["computed_by"] for p in panels} == {"01_joint_scorecard", "03_roi"}
        assert {(s["engine"], s["backend"]) for s in manifest["shared"]} == {(name, backend)}
