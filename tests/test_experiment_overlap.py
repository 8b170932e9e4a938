"""Overlapping initiatives: the interaction against OLS, simulated error rates and power, the holdout.

References (computed live, statsmodels in the kit's environment):

* the interaction and its standard error equal the ``a:b`` coefficient of
  ``statsmodels.formula.api.ols("y ~ a * b", data).fit(cov_type="HC2")`` (``a``, ``b`` 0/1), to
  1e-8; the classic and HC1 standard errors differ on cells of unequal size and variance;
* the holdout comparison's p-value equals ``scipy.stats.ttest_ind(exposed, holdout, equal_var=False)``.

Simulations draw the four cells' normal values with numpy (seeds below) and run
:func:`interaction` on all runs at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from outcomes.experiment import overlap, program_holdout
from outcomes.experiment.randomized.overlap import interaction, interaction_power

SEED = 20261206
#: cell sizes and standard deviations, axis 0 initiative A (control, treatment), axis 1 initiative B
SIZES = np.array([[60, 45], [80, 35]])
SDS = np.array([[1.0, 1.5], [0.8, 2.0]])


def _table(rng: np.random.Generator, planted: float, n_only_a: int = 40, n_only_b: int = 30) -> pd.DataFrame:
    """Units of both tests by cell, plus units in only one test; ``planted`` added to cell (1, 1)."""
    rows = []
    arms = ("control", "treatment")
    for i in range(2):
        for j in range(2):
            y = 10 + 0.5 * i + 0.3 * j + planted * i * j + SDS[i, j] * rng.standard_normal(SIZES[i, j])
            rows.append(pd.DataFrame({"arm_a": arms[i], "arm_b": arms[j], "y": y}))
    rows.append(pd.DataFrame({"arm_a": "treatment", "arm_b": None, "y": rng.normal(10, 1, n_only_a)}))
    rows.append(pd.DataFrame({"arm_a": None, "arm_b": "control", "y": rng.normal(10, 1, n_only_b)}))
    return pd.concat(rows, ignore_index=True)


def _cell_sums(rng: np.random.Generator, runs: int, planted: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of ``runs`` simulated 2x2s, each of shape ``(runs, 2, 2)``."""
    n, s, ss = (np.zeros((runs, 2, 2)) for _ in range(3))
    for i in range(2):
        for j in range(2):
            y = planted * i * j + SDS[i, j] * rng.standard_normal((runs, SIZES[i, j]))
            n[:, i, j], s[:, i, j], ss[:, i, j] = SIZES[i, j], y.sum(axis=1), (y**2).sum(axis=1)
    return n, s, ss


def test_interaction_equals_the_hc2_interaction_coefficient_of_ols():
    df = _table(np.random.default_rng(SEED), planted=0.7)
    res = overlap(df, "y")
    both = df.dropna(subset=["arm_a", "arm_b"]).assign(
        a=lambda d: (d["arm_a"] == "treatment").astype(float), b=lambda d: (d["arm_b"] == "treatment").astype(float)
    )
    hc2 = smf.ols("y ~ a * b", both).fit(cov_type="HC2")
    assert res.estimate == pytest.approx(hc2.params["a:b"], rel=1e-8)
    assert res.se == pytest.approx(hc2.bse["a:b"], rel=1e-8)
    # the pooled and HC1 errors are other quantities on unequal cells
    for other in (smf.ols("y ~ a * b", both).fit(), smf.ols("y ~ a * b", both).fit(cov_type="HC1")):
        assert abs(other.bse["a:b"] / res.se - 1) > 1e-3
    # effects within the other initiative's arms are the main-effect coefficients
    assert res.effects[0].estimate_abs == pytest.approx(hc2.params["a"], rel=1e-8)
    assert res.effects[2].estimate_abs == pytest.approx(hc2.params["b"], rel=1e-8)
    assert res.effects[1].estimate_abs == pytest.approx(hc2.params["a"] + hc2.params["a:b"], rel=1e-8)


def test_no_interaction_rejects_at_the_nominal_rate():
    n, s, ss = _cell_sums(np.random.default_rng(SEED + 1), 6000, planted=0.0)
    rate = float(np.mean(interaction(n, s, ss).p_value < 0.05))
    assert 0.04 <= rate <= 0.06, rate


def test_a_planted_interaction_is_found_with_the_predicted_power():
    planted = 0.9
    n, s, ss = _cell_sums(np.random.default_rng(SEED + 2), 3000, planted=planted)
    res = interaction(n, s, ss)
    v = SDS**2 / SIZES
    predicted = interaction_power(planted, float(np.sqrt(v.sum())), df=float(v.sum() ** 2 / (v**2 / (SIZES - 1)).sum()))
    assert 0.5 < predicted < 0.9
    assert float(np.mean(res.p_value < 0.05)) == pytest.approx(predicted, abs=0.03)
    # the interval covers the planted value at about its nominal rate
    covered = float(np.mean((res.ci_low <= planted) & (planted <= res.ci_high)))
    assert 0.935 <= covered <= 0.965, covered


def test_overlap_reports_a_planted_interaction_and_the_share_in_both_tests():
    df = _table(np.random.default_rng(SEED + 3), planted=2.0)
    res = overlap(df, "y", names=("The chatbot", "the portal"))
    assert res.depends and res.ci_low > 0
    assert res.n_both == SIZES.sum() and res.n_any == SIZES.sum() + 70
    assert res.share_in_both == pytest.approx(SIZES.sum() / (SIZES.sum() + 70))
    assert res.sentence().startswith("The chatbot's effect depends on the portal: interaction +")
    assert "of units are in both tests" in res.sentence()
    assert [e.segment for e in res.effects] == [
        "the portal=control", "the portal=treatment", "The chatbot=control", "The chatbot=treatment",
    ]
    assert res.cells["n"].tolist() == SIZES.ravel().tolist()


def test_overlap_without_interaction_says_it_does_not_depend():
    df = _table(np.random.default_rng(SEED + 4), planted=0.0)
    res = overlap(df, "y", names=("The chatbot", "the portal"))
    assert not res.depends
    assert res.sentence().startswith("The chatbot's effect does not depend on the portal: interaction ")
    assert "95% CI" in res.sentence()


def test_proportion_interaction_is_the_difference_of_differences_of_rates():
    rng = np.random.default_rng(SEED + 5)
    rates = np.array([[0.20, 0.25], [0.30, 0.45]])
    arms = ("control", "treatment")
    df = pd.concat(
        [pd.DataFrame({"arm_a": arms[i], "arm_b": arms[j], "y": (rng.random(400) < rates[i, j]).astype(int)})
         for i in range(2) for j in range(2)],
        ignore_index=True,
    )
    res = overlap(df, "y", kind="proportion")
    p = df.groupby(["arm_a", "arm_b"])["y"].mean().to_numpy().reshape(2, 2)
    assert res.estimate == pytest.approx(p[1, 1] - p[0, 1] - p[1, 0] + p[0, 0])
    assert res.se == pytest.approx(np.sqrt((p * (1 - p) / 400).sum()))
    assert res.unit == "fraction" and res.effects[0].unit == "fraction"


def test_an_empty_cell_gives_no_interaction_and_says_why():
    df = pd.DataFrame({"arm_a": ["control", "treatment", "control"] * 4, "arm_b": ["control", "control", "treatment"] * 4,
                       "y": np.arange(12.0)})
    res = overlap(df, "y")
    assert np.isnan(res.estimate) and not res.depends
    assert "fewer than 2 units" in res.sentence()


def test_overlap_errors_name_the_column_and_the_valid_values():
    df = pd.DataFrame({"arm_a": ["control", "B"], "arm_b": ["control", "treatment"], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"column 'arm_a' holds \['B'\], not one of its arms \['control', 'treatment'\]"):
        overlap(df, "y")
    with pytest.raises(ValueError, match=r"column\(s\) \['revenue'\] not in the unit table"):
        overlap(df, "revenue")


def _program_table(rng: np.random.Generator, total: float) -> pd.DataFrame:
    """A 10% holdout, the rest split over two overlapping initiatives, ``total`` added when exposed."""
    n = 4000
    program = np.where(rng.random(n) < 0.1, "holdout", "in_program")
    arm_a = np.where(program == "holdout", "control", np.where(rng.random(n) < 0.5, "treatment", "control"))
    arm_b = np.where(program == "holdout", "control", np.where(rng.random(n) < 0.5, "treatment", "control"))
    exposed = (arm_a == "treatment") | (arm_b == "treatment")
    y = 5 + total * exposed + rng.standard_normal(n)
    return pd.DataFrame({"program": program, "arm_a": arm_a, "arm_b": arm_b, "y": y})


def test_program_holdout_finds_a_planted_total_effect():
    df = _program_table(np.random.default_rng(SEED + 6), total=0.4)
    effect = program_holdout(df, "y", assignments={"arm_a": "control", "arm_b": "control"}, program=None)
    held = df[(df["arm_a"] == "control") & (df["arm_b"] == "control")]["y"]
    exposed = df[(df["arm_a"] == "treatment") | (df["arm_b"] == "treatment")]["y"]
    assert (effect.arm, effect.control_arm) == ("exposed", "holdout")
    assert (effect.n_control, effect.n_treatment) == (len(held), len(exposed))
    assert effect.estimate_abs == pytest.approx(exposed.mean() - held.mean())
    assert effect.p_value == pytest.approx(stats.ttest_ind(exposed, held, equal_var=False).pvalue, rel=1e-8)
    assert effect.ci_low < 0.4 < effect.ci_high and effect.ci_low > 0


def test_program_holdout_by_program_column():
    df = _program_table(np.random.default_rng(SEED + 7), total=0.0)
    effect = program_holdout(df, "y")
    assert effect.n_control == int((df["program"] == "holdout").sum())
    assert effect.ci_low < 0 < effect.ci_high
    with pytest.raises(ValueError, match="either program= .* or assignments="):
        program_holdout(df, "y", assignments={"arm_a": "control"})
    with pytest.raises(ValueError, match=r"\['cohort'\] not in the unit table"):
        program_holdout(df, "y", program="cohort")
