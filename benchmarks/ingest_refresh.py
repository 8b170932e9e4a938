"""Time a monthly refresh of the warehouse against a full ingest of the same exports, side by side.

The demo company is generated at ``--scale`` (not timed) into a work folder set up as in
``run_pack.py`` (a copy of ``params/`` pointing into it). Its last month of monthly exports
(``tickets/tickets_<month>.csv`` and ``orders/orders_<month>.parquet``) is moved aside, and:

===================  ====================================================================
first build          ``outcomes ingest --full`` of every month but the last
refresh              the last month's files put back, ``outcomes ingest``: reads only them
full ingest          ``outcomes ingest --full`` of every month: what the refresh replaces
===================  ====================================================================

Each step runs in its own process; its peak memory is the resident set size of its
process tree, sampled (``run_pack.measure``). The refreshed warehouse's fingerprints
(row count and content hash of every table) are compared with the full ingest's, as a
check that both hold the same rows. The script prints the times, their ratio, the peaks,
the refresh's report, the cores, the load average before and after, and the versions::

    .venv/bin/python benchmarks/ingest_refresh.py --scale 10
    make bench-refresh BENCH_SCALE=100
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
from run_pack import BIN, Measured, gb, generate, machine, measure, prepare

#: The monthly exports of the demo company (one file per month), relative to the raw folder.
MONTHLY = ("tickets/tickets_*.csv", "orders/orders_*.parquet")


def fingerprints(warehouse: Path) -> list[tuple]:
    """The ``_fingerprints`` lines of a warehouse (table, rows, hash)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT * FROM _fingerprints ORDER BY table_name").fetchall()
    finally:
        con.close()


def refresh_after_new_month(work: Path, env: dict[str, str]) -> tuple[Measured, Measured]:
    """Build the warehouse without the last month's exports, put them back and refresh; return both steps.

    ``work`` is a work folder set up by ``run_pack.prepare`` with the exports generated
    into ``work/data/raw``; the steps run in their own process (``run_pack.measure``).
    """
    raw, aside = work / "data" / "raw", work / "aside"
    aside.mkdir(exist_ok=True)
    moved = [sorted(raw.glob(pattern))[-1] for pattern in MONTHLY]
    for path in moved:
        shutil.move(path, aside / path.name)
    first = measure("first build", [*_ingest(work), "--full"], env, work)
    for path in moved:
        shutil.move(aside / path.name, path)
    refresh = measure("refresh", _ingest(work), env, work)
    refresh.report["files"] = [p.name for p in moved]
    return first, refresh


def _ingest(work: Path) -> list[str]:
    return [str(BIN / "outcomes"), "ingest", "--sources", str(work / "params" / "sources.yaml")]


def main() -> None:
    """Parse the arguments, run the three steps, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0, help="company size (1: about 100,000 tickets)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work-root", type=Path, default=None, help="where the temporary work folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix=f"outcomes-refresh-{args.scale:g}-", dir=args.work_root))
    try:
        env = prepare(work)
        print(f"scale {args.scale:g}, seed {args.seed}: generating the demo company into {work} (not timed)", flush=True)
        generate_s = generate(work, args.scale, args.seed)
        warehouse = work / "data" / "warehouse.duckdb"
        load_before = os.getloadavg()

        first, refresh = refresh_after_new_month(work, env)
        refreshed = fingerprints(warehouse)
        full = measure("full ingest", [*_ingest(work), "--full"], env, work)
        same = refreshed == fingerprints(warehouse)
        load_after = os.getloadavg()

        m = machine()
        print(f"  generation {generate_s:.1f} s; month added back: {', '.join(refresh.report['files'])}")
        print(f"  {'step':<14} {'wall':>9} {'peak RSS':>10}")
        for s in (first, refresh, full):
            print(f"  {s.name:<14} {s.seconds:7.1f} s {gb(s.peak):>10}")
        print(f"  refresh / full ingest: {refresh.seconds / full.seconds:.1%} of the time, {refresh.peak / full.peak:.0%} of the peak memory")
        print(f"  refreshed warehouse equals the full ingest's (fingerprints of every table): {same}")
        print(f"  cores {m['cores']}, {m['memory']}, {m['cpu']}")
        print(f"  load average before {' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}")
        print(f"  {m['os']}; Python {m['python']}; {m['packages']}")
        if not same:
            raise SystemExit("the refreshed warehouse differs from the full ingest's")
    finally:
        if args.keep:
            print(f"  work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
