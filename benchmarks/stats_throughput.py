"""Throughput of the experiment engine: metric x segment comparisons per second, one core.

Three figures are printed, each twice: per second of CPU time of this process (the best of
``--repeats`` runs; other load on the machine counts less there) and per second of wall time
(the best run too). The load average before and after is printed with them, since on a shared
machine both figures drop when other work competes for the cores and caches:

* engine: the vectorized core on sufficient statistics (Welch t, relative delta method,
  anytime-valid interval, non-inferiority test, Holm within families), as arrays;
* initiative: the whole :func:`outcomes.experiment.analyze_aggregates` path, which also
  builds one :class:`MetricEffect` (with conditions) per cell, the SRM check and the decision;
* breakdown: one metric broken down by ``--breakdown`` segments (3,000 by default), each
  with its Welch test and its sample-ratio check, through ``analyze_aggregates``; beside it
  the same Welch tests and chi-squared checks as plain numpy/scipy arrays on the same
  aggregates, and, with ``--gbstats-python`` (the interpreter of a separate venv with
  ``pip install gbstats``), gbstats' ``TwoSidedTTest`` and ``check_srm`` once per segment.

Run: ``.venv/bin/python benchmarks/stats_throughput.py [--cells 200000] [--segments 500]
[--breakdown 3000] [--gbstats-python /path/to/venv/bin/python]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

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


@dataclass(frozen=True)
class Rate:
    """Comparisons per second of one path: per CPU second and per wall second (best runs)."""

    cpu: float
    wall: float

    def __str__(self) -> str:
        return f"{self.cpu:>12,.0f} comparisons/s CPU ({self.wall:>10,.0f}/s wall)"


def _rate(run: Callable[[], object], comparisons: int, repeats: int) -> Rate:
    """Time ``run`` ``repeats`` times; the best CPU time and the best wall time, as comparisons per second."""
    cpu = wall = np.inf
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        run()
        cpu, wall = min(cpu, time.process_time() - start_cpu), min(wall, time.perf_counter() - start_wall)
    return Rate(comparisons / cpu, comparisons / wall)


def engine(cells: int, repeats: int) -> Rate:
    """Comparisons per second of the array engine."""
    rng = np.random.default_rng(0)
    c, t = mean_moments(*_sums(rng, cells, 10.0)), mean_moments(*_sums(rng, cells, 10.1))
    families = np.arange(cells) // 20

    def run() -> None:
        comp = compare(c, t, 0.05)
        confidence_sequence(comp.estimate_abs, comp.se_abs, comp.n_control + comp.n_treatment, 0.05, 10_000)
        noninferiority_p(comp.estimate_abs, comp.se_abs, comp.df, np.full(cells, 0.1), np.ones(cells, bool))
        adjust_groups(comp.p_value, families, "holm")

    return _rate(run, cells, repeats)


def initiative(metrics: int, segments: int, repeats: int) -> tuple[int, Rate]:
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
    return cells, _rate(lambda: analyze_aggregates(agg, spec, units={"control": 100_000, "treatment": 100_000}), cells, repeats)


def _breakdown_table(segments: int) -> pd.DataFrame:
    """Sums of one metric per arm x segment; units split 50/50 at random in every segment."""
    rng = np.random.default_rng(2)
    total = rng.integers(400, 10_000, segments + 1)
    n_control = rng.binomial(total, 0.5).astype(float)
    rows = []
    for arm, mu, n in (("control", 10.0, n_control), ("treatment", 10.1, total - n_control)):
        s = rng.normal(mu * n, np.sqrt(n) * 2.0)
        ss = s * s / n + 4.0 * rng.chisquare(n - 1)
        labels = ["all", *(f"region=r{k}" for k in range(segments))]
        rows.append(pd.DataFrame({"metric": "m0", "arm": arm, "segment": labels, "n": n, "sum": s, "sum_squares": ss}))
    return pd.concat(rows, ignore_index=True)


def breakdown(segments: int, repeats: int) -> tuple[Rate, Rate]:
    """Comparisons per second of a one-metric breakdown: the kit's path, and plain arrays on the same sums."""
    agg = _breakdown_table(segments)
    spec = InitiativeSpec.model_validate(
        {"id": "bench", "data": {"unit": "unit", "arm": "arm", "control": "control", "segments": ["region"]},
         "metrics": [{"column": "m0", "role": "primary"}]}
    )
    units = agg[agg["segment"] == "all"].set_index("arm")["n"].astype(int).to_dict()
    c, t = (agg[agg["arm"] == a][["n", "sum", "sum_squares"]].to_numpy().T for a in ("control", "treatment"))

    def plain() -> None:
        m_c, m_t = c[1] / c[0], t[1] / t[0]
        v_c = (c[2] - c[1] ** 2 / c[0]) / (c[0] - 1) / c[0]
        v_t = (t[2] - t[1] ** 2 / t[0]) / (t[0] - 1) / t[0]
        df = (v_c + v_t) ** 2 / (v_c**2 / (c[0] - 1) + v_t**2 / (t[0] - 1))
        stats.t.sf(np.abs(m_t - m_c) / np.sqrt(v_c + v_t), df)
        expected = (c[0] + t[0]) / 2
        stats.chi2.sf(((c[0] - expected) ** 2 + (t[0] - expected) ** 2) / expected, 1)

    cells = segments + 1
    return _rate(lambda: analyze_aggregates(agg, spec, units=units), cells, repeats), _rate(plain, cells, repeats)


_GBSTATS = """
import sys, time
import numpy as np
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import SampleMeanStatistic
from gbstats.utils import check_srm
c, t = np.load(sys.argv[1])["c"], np.load(sys.argv[1])["t"]
cpu = wall = float("inf")
for _ in range(int(sys.argv[2])):
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for k in range(c.shape[1]):
        a = SampleMeanStatistic(n=int(c[0, k]), sum=float(c[1, k]), sum_squares=float(c[2, k]))
        b = SampleMeanStatistic(n=int(t[0, k]), sum=float(t[1, k]), sum_squares=float(t[2, k]))
        TwoSidedTTest(a, b, FrequentistConfig(difference_type="absolute")).compute_result()
        check_srm([int(c[0, k]), int(t[0, k])], [0.5, 0.5])
    cpu, wall = min(cpu, time.process_time() - start_cpu), min(wall, time.perf_counter() - start_wall)
print(c.shape[1] / cpu, c.shape[1] / wall)
"""


def gbstats_breakdown(python: str, segments: int, repeats: int) -> Rate:
    """Comparisons per second of gbstats (its Welch test and SRM check once per segment), in its own venv."""
    agg = _breakdown_table(segments)
    c, t = (agg[agg["arm"] == a][["n", "sum", "sum_squares"]].to_numpy().T for a in ("control", "treatment"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sums.npz"
        np.savez(data, c=c, t=t)
        out = subprocess.run([python, "-c", _GBSTATS, str(data), str(repeats)], check=True, capture_output=True, text=True)
    cpu, wall = map(float, out.stdout.split())
    return Rate(cpu, wall)


def _load() -> str:
    """The 1, 5 and 15 minute load averages (runnable processes; this machine has ``os.cpu_count()`` cores)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000, help="cells for the array engine")
    parser.add_argument("--metrics", type=int, default=20, help="metrics for the initiative path")
    parser.add_argument("--segments", type=int, default=500, help="segment levels per metric for the initiative path")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--breakdown", type=int, default=3000, help="segments of the one-metric breakdown")
    parser.add_argument("--gbstats-python", help="python of a venv with gbstats installed (pip install gbstats)")
    args = parser.parse_args()
    print(f"load average before: {_load()}")
    rate = engine(args.cells, args.repeats)
    print(f"engine:     {args.cells:>9,} comparisons  {rate} (one core)")
    cells, rate = initiative(args.metrics, args.segments, args.repeats)
    print(f"initiative: {cells:>9,} comparisons  {rate} (one core, result objects included)")
    kit, plain = breakdown(args.breakdown, args.repeats)
    cells = args.breakdown + 1
    print(f"breakdown:  {cells:>9,} comparisons  {kit} (analyze_aggregates, with SRM per segment)")
    print(f"  plain numpy/scipy arrays, same sums: {plain} (Welch p-value and chi-squared only)")
    if args.gbstats_python:
        rate = gbstats_breakdown(args.gbstats_python, args.breakdown, args.repeats)
        print(f"  gbstats, one segment at a time:      {rate} (TwoSidedTTest + check_srm)")
    else:
        print("  gbstats: not run (give --gbstats-python, a venv with `pip install gbstats`)")
    print(f"load average after:  {_load()}")


if __name__ == "__main__":
    main()
