"""Coverage of the demand forecast's prediction interval, by simulation.

Series are drawn from a local level model (the model ETS(A,N,N) assumes): a level that
takes a random step each month plus monthly noise, 24 months of history as on the
scorecard. The 80% interval for each of the next three months must cover the drawn value
about 80% of the time. The interval leaves out the uncertainty of the fitted parameters, so
it runs a little short on 24 months; the band below allows for that and for chance
(120 checks: the binomial standard error is 3.7 pp).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from outcomes.scorecard import demand

pytestmark = pytest.mark.slow

SERIES, HISTORY, HORIZON = 40, 24, 3


def test_the_80_percent_interval_covers_about_80_percent():
    rng = np.random.default_rng(2024)  # seed 2024
    steps = rng.normal(0.0, 10.0, (SERIES, HISTORY + HORIZON))
    noise = rng.normal(0.0, 25.0, (SERIES, HISTORY + HORIZON))
    y = 400.0 + np.cumsum(steps, axis=1) + noise
    index = pd.date_range("2024-01-01", periods=HISTORY, freq="MS")
    covered = []
    for row in y:
        f = demand.forecast_demand(pd.Series(row[:HISTORY], index=index), horizon=HORIZON, level=0.8).frame
        future = row[HISTORY:]
        covered.append((f["lower"].to_numpy() <= future) & (future <= f["upper"].to_numpy()))
    share = float(np.mean(covered))
    assert 0.68 <= share <= 0.92, share
