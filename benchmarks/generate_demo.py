"""Time the demo company generator and watch its memory.

Generation runs month by month, so peak memory should grow with the customer base (a few
arrays per customer) and one month of events, not with the whole period. Run it at two
scales and compare the peak resident set size (RSS)::

    .venv/bin/python benchmarks/generate_demo.py --scale 1
    .venv/bin/python benchmarks/generate_demo.py --scale 10

It prints the wall time, rows written per second, tickets per second, the peak RSS
sampled every 20 ms with psutil, and the peak of Arrow's memory pool. The exports go to a temporary folder that is deleted
afterwards unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa

from outcomes.simulate import generate


class PeakRSS:
    """Sample this process's resident set size in a background thread and keep the peak."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def main() -> None:
    """Parse the arguments, generate once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="company size (1: about 100,000 tickets)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="keep the exports in this folder")
    args = parser.parse_args()

    baseline = psutil.Process().memory_info().rss
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        out = args.out or Path(tmp)
        began = time.perf_counter()
        with PeakRSS() as rss:
            summary = generate(out, scale=args.scale, seed=args.seed)
        seconds = time.perf_counter() - began
        size = sum(f.bytes for f in summary.files)
    tickets = summary.rows("tickets/")
    print(f"scale {args.scale:g}, seed {args.seed}")
    print(f"  wall time          {seconds:10.1f} s")
    print(f"  rows written       {summary.total_rows:10,d}  ({summary.total_rows / seconds:,.0f} rows/s)")
    print(f"  tickets            {tickets:10,d}  ({tickets / seconds:,.0f} tickets/s)")
    print(f"  orders             {summary.rows('orders/'):10,d}")
    print(f"  exports on disk    {size / 1e6:10,.1f} MB")
    print(f"  peak RSS           {rss.peak / 1e6:10,.0f} MB  (imports and interpreter: {baseline / 1e6:,.0f} MB)")
    print(f"  peak Arrow memory  {pa.default_memory_pool().max_memory() / 1e6:10,.0f} MB")


if __name__ == "__main__":
    main()
