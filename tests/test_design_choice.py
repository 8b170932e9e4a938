"""Choosing the design: `outcomes new-initiative --assignment` writes the template with the design that fits."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.experiment.design_choice import SUGGESTIONS, suggest
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load

runner = CliRunner()


@pytest.mark.parametrize(
    ("assignment", "design"),
    [("randomized", "randomized"), ("some-units", "did"), ("one-site", "synthetic_control"), ("everyone", "its")],
)
def test_each_assignment_writes_a_valid_template_with_its_design(tmp_path: Path, assignment: str, design: str) -> None:
    res = runner.invoke(app, ["new-initiative", "nudge", "--folder", str(tmp_path), "--assignment", assignment])
    assert res.exit_code == 0, res.output
    path = tmp_path / "nudge.yaml"
    text = path.read_text(encoding="utf-8")
    choice = suggest(assignment)
    assert f"# Assumes: {choice.assumes}" in text and f"# Check: {choice.check}" in text
    spec = load(path, InitiativeSpec)
    assert spec.design == design and spec.primary.column == "spend"
    if design == "synthetic_control":
        assert spec.treated_units == ["north"] and spec.data.time == "month"
    if design == "randomized":
        assert spec.data.arm == "arm" and spec.interval == "sequential"


def test_a_rollout_in_waves_suggests_the_staggered_design(tmp_path: Path) -> None:
    res = runner.invoke(app, ["new-initiative", "waves", "--folder", str(tmp_path), "--assignment", "unit-by-unit"])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "waves.yaml").read_text(encoding="utf-8")
    assert "# Design: staggered: each wave is compared with the units not yet reached" in text
    spec = load(tmp_path / "waves.yaml", InitiativeSpec)  # a design the spec knows, whichever it is
    assert spec.design in ("staggered", "did")


def test_without_an_answer_the_template_is_randomized(tmp_path: Path) -> None:
    res = runner.invoke(app, ["new-initiative", "plain", "--folder", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert load(tmp_path / "plain.yaml", InitiativeSpec).design == "randomized"


def test_an_unknown_assignment_is_refused_with_the_valid_values(tmp_path: Path) -> None:
    res = runner.invoke(app, ["new-initiative", "x", "--folder", str(tmp_path), "--assignment", "pilot"])
    out = " ".join(res.output.split())
    assert res.exit_code == 2
    assert "--assignment 'pilot' is not a way units get a change; valid values are: randomized" in out
    assert all(a in out for a in SUGGESTIONS)
    assert not list(tmp_path.iterdir())
