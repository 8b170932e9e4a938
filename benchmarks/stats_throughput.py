"""Throughput of the experiment engine: metric x segment comparisons per second, one core.

Two figures are printed:

* engine: the vectorized core on sufficient statistics (Welch t, relative delta method,
  anytime-valid interval, non-inferiority test, Holm within families), as arrays;
* initiative: the whole :func:`outcomes.experiment.analyze_aggregates` path, which also
  builds one :class:`MetricEffect` (with conditions) per cell, the SRM check and the decision.

Run: ``.venv/bin/python benchmarks/stats_throughput.py [--cells 200000] [--segments 500]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse
import time

import numpy as np
import pandas as pd

from outcomes.experiment import InitiativeSpec, analyze_aggregates
from outcomes.experiment.randomized.frequentist import compare, noninferiority_p
from outcomes.experiment.randomized.multiplicity import adjust_groups
from outcomes.experiment.randomized.sequential import confidence_sequence
from outcomes.experiment.statistics import mean_moments


def _sums(rng: np.random.Generator, cells: int, mu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = rng.integers(200, 5000, cells).astype(float)
    s = rng.normal(mu * n, np.sqrt(n) * 2.0)
    ss = s * s / n + 4.0 * rng.chisquare(n - 1)
    return n, s, ss


def engine(cells: int, repeats: int) -> float:
    """Comparisons per second of the array engine."""
    rng = np.random.default_rng(0)
    c, t = mean_moments(*_sums(rng, cells, 10.0)), mean_moments(*_sums(rng, cells, 10.1))
    families = np.arange(cells) // 20
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        comp = compare(c, t, 0.05)
        confidence_sequence(comp.estimate_abs, comp.se_abs, comp.n_control + comp.n_treatment, 0.05, 10_000)
        noninferiority_p(comp.estimate_abs, comp.se_abs, comp.df, np.full(cells, 0.1), np.ones(cells, bool))
        adjust_groups(comp.p_value, families, "holm")
        best = min(best, time.perf_counter() - start)
    return cells / best


def initiative(metrics: int, segments: int, repeats: int) -> tuple[int, float]:
    """Comparisons per second of the whole initiative path (result objects included)."""
    rng = np.random.default_rng(1)
    rows = []
    for m in range(metrics):
        for arm, mu in (("control", 10.0), ("treatment", 10.1)):
            n, s, ss = _sums(rng, segments + 1, mu)
            labels = ["all", *(f"region=r{k}" for k in range(segments))]
            rows.append(pd.DataFrame({"metric": f"m{m}", "arm": arm, "segment": labels, "n": n, "sum": s, "sum_squares": ss}))
    agg = pd.concat(rows, ignore_index=True)
    spec = InitiativeSpec.model_validate(
        {
            "id": "bench",
            "data": {"unit": "unit", "arm": "arm", "control": "control"},
            "metrics": [{"column": f"m{m}", "role": "primary" if m == 0 else "secondary"} for m in range(metrics)],
        }
    )
    cells = metrics * (segments + 1)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        analyze_aggregates(agg, spec, units={"control": 100_000, "treatment": 100_000})
        best = min(best, time.perf_counter() - start)
    return cells, cells / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000, help="cells for the array engine")
    parser.add_argument("--metrics", type=int, default=20, help="metrics for the initiative path")
    parser.add_argument("--segments", type=int, default=500, help="segment levels per metric for the initiative path")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    rate = engine(args.cells, args.repeats)
    print(f"engine:     {args.cells:>9,} comparisons  {rate:>12,.0f} comparisons/s (one core)")
    cells, rate = initiative(args.metrics, args.segments, args.repeats)
    print(f"initiative: {cells:>9,} comparisons  {rate:>12,.0f} comparisons/s (one core, result objects included)")


if __name__ == "__main__":
    main()
