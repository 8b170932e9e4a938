"""Reference donor weights of a synthetic control from pysyncon (golden values of tests/test_quasi_synth.py).

Run in a separate environment that has pysyncon (never the project's own)::

    python3 -m venv /work/refenv-synth && /work/refenv-synth/bin/pip install pysyncon   # pysyncon 1.7.0
    /work/refenv-synth/bin/python tests/golden/synth_pysyncon.py --write-panels   # once: the generated panels
    /work/refenv-synth/bin/python tests/golden/synth_pysyncon.py                  # prints the weights

The panels are generated (seeded) rather than taken from pysyncon's repository: its wheel
ships no data, and the basque, germany and smoking files there come from the papers'
replication data, whose terms for redistribution are not confirmed.
pysyncon's ``Synth`` scales every predictor by its standard deviation across units; the
``custom_V`` below (those variances) undoes the scaling, so its weights solve the same
problem as ``outcomes``: least squares on the pre-period outcomes, weights non-negative
and summing to one, every period weighing the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
#: Panel name -> (seed, whether the treated unit lies inside the donors' range).
PANELS = {"synth_inside": (7, True), "synth_outside": (11, False)}
PRE = 20  # periods 0..19 are before the start (start = 20)


def write_panel(name: str, seed: int, inside: bool) -> None:
    """A 16-unit x 30-period panel: u0 is treated; donors follow three common factors."""
    rng = np.random.default_rng(seed)
    t, j = 30, 15
    factors = rng.normal(0, 1, (t, 3)).cumsum(axis=0)
    loadings = rng.uniform(0, 2, (j, 3))
    donors = 10 + factors @ loadings.T + rng.normal(0, 0.5, (t, j))
    if inside:
        treated = donors[:, :3] @ np.array([0.5, 0.3, 0.2]) + rng.normal(0, 0.2, t)
    else:
        treated = donors.max(axis=1) + 2 + rng.normal(0, 0.2, t)
    values = np.column_stack([treated, donors])
    rows = [{"unit": f"u{i}", "period": p, "y": round(float(values[p, i]), 6)} for i in range(j + 1) for p in range(t)]
    pd.DataFrame(rows).to_csv(HERE / f"{name}.csv", index=False)


def weights(name: str) -> dict[str, float]:
    """pysyncon's weights for u0 on the pre-period outcomes of panel ``name``."""
    from pysyncon import Synth

    wide = pd.read_csv(HERE / f"{name}.csv").pivot(index="period", columns="unit", values="y").loc[: PRE - 1]
    x0, x1 = wide.drop(columns="u0"), wide["u0"]
    v = pd.concat([x0, x1], axis=1).std(axis=1).to_numpy() ** 2
    synth = Synth()
    synth.fit(X0=x0, X1=x1, Z0=x0, Z1=x1, custom_V=v)
    return {str(u): round(float(w), 6) for u, w in zip(x0.columns, synth.W)}


if __name__ == "__main__":
    if "--write-panels" in sys.argv:
        for panel, (seed, inside) in PANELS.items():
            write_panel(panel, seed, inside)
    print(json.dumps({panel: weights(panel) for panel in PANELS}, indent=1))
