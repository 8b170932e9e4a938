"""Calibration by simulation: how often P10-P90 holds the true NPV, the kit's method against the naive one.

Seeded (generator seed 11, Monte Carlo seed 42, 150 initiatives, 1,000 draws per case). The
generator and the methods are documented in :mod:`outcomes.value.calibration`; the table in
docs/roi.md comes from ``python -m outcomes.value.calibration`` (1,000 initiatives).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from outcomes.value import calibration

N, SEED, DRAWS = 150, 11, 1_000


@pytest.fixture(scope="module")
def confounded():
    portfolio = calibration.generate(N, SEED)
    return portfolio, calibration.run(portfolio, n=DRAWS)


def test_generator_plants_confounding_on_top_of_the_cause(confounded) -> None:
    frame = confounded[0].frame
    assert (frame["bias"] > 0).all()
    assert frame["direct"].mean() == pytest.approx(0.5, abs=0.1)
    share = frame["causal_slope"] / (frame["causal_slope"] + frame["bias"])
    assert share.mean() == pytest.approx(np.e * special.exp1(1.0), abs=0.05)  # E[1 / (1 + c)], c ~ Exponential(1)


def test_kit_intervals_are_calibrated_and_the_naive_ones_over_confident(confounded) -> None:
    table = calibration.coverage(confounded[1])
    kit, naive = table.loc["kit"], table.loc["naive"]
    assert 0.72 <= kit["all"] <= 0.92  # 80% within Monte Carlo and sampling noise of 150 initiatives
    assert naive["association only"] < 0.72 < kit["association only"]
    assert naive["truth below P10"] > 0.15  # the naive value is too high: the truth falls below its P10
    assert naive["all"] < kit["all"]


def test_without_confounding_the_naive_method_is_calibrated_too() -> None:
    portfolio = calibration.generate(N, SEED, confounding=0.0)
    table = calibration.coverage(calibration.run(portfolio, n=DRAWS))
    assert 0.72 <= table.loc["naive", "all"] <= 0.92
    assert table.loc["kit", "truth above P90"] > 0.2  # the price of the share's range when the link is all cause


def test_true_npv_grows_with_the_true_causal_slope(confounded) -> None:
    row = confounded[0].frame.iloc[0]
    doubled = row.copy()
    doubled["causal_slope"] *= 2
    assert calibration.true_npv(doubled) > calibration.true_npv(row)
