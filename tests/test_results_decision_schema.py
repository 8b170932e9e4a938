"""results.json per initiative: the decision values documented, the decision reason and the conditions written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from outcomes.experiment.results import ACTIONS
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report import results
from outcomes.report.review import review

DOC = Path(__file__).resolve().parents[1] / "docs" / "results-schema.md"


def test_the_documented_decision_values_are_the_enum_and_the_schema() -> None:
    doc = DOC.read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `decision` |"))
    documented = re.findall(r"`([^`]+)`", row.split("|")[2])
    assert tuple(documented) == ACTIONS
    assert tuple(results.schema()["$defs"]["initiative"]["properties"]["decision"]["enum"]) == ACTIONS
    for never_written in ("do_not_ship", "keep_testing"):
        assert never_written not in doc


def test_a_blocked_initiative_writes_its_reason_and_conditions(tmp_path: Path) -> None:
    # One treated and one untreated unit: an estimate, no valid interval, a blocking condition.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"unit": np.repeat(["a", "b"], 8), "year": np.tile(np.arange(1925, 1933), 2)})
    frame["y"] = rng.normal(size=16)
    table = tmp_path / "panel.csv"
    frame.to_csv(table, index=False)
    spec = InitiativeSpec.model_validate({
        "id": "two-units", "design": "did", "start_date": 1929, "treated_units": ["a"],
        "data": {"table": str(table), "unit": "unit", "time": "year"},
        "metrics": [{"column": "y", "role": "primary"}]})
    entry = review(spec).entry()
    results.check_rows("initiatives", [entry])
    assert entry["decision"] == "keep testing"
    assert entry["decision_reason"].endswith("keep testing.")
    codes = {c["code"]: c for c in entry["conditions"]}
    assert codes["no_interval"]["blocks"] == "keep testing"
    assert "only 2 ways to choose the treated units" in codes["no_interval"]["message"]
    assert entry["metrics"][0]["estimate_abs"] is not None and entry["metrics"][0]["ci_low"] is None
