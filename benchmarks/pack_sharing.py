"""Time the monthly pack with and without the artefacts its notebooks share.

``outcomes run`` lets its notebooks compute the panels and the initiative reviews once
and share them (:mod:`outcomes.cache`): the ROI page reads the reviews the review pages
made and the drivers panel the scorecard made. Without sharing, every notebook computes
what it needs itself, as it does when opened alone. This script runs the real pack both
ways on the demo company at ``--scale`` and prints the wall time of the run and of each
notebook, and what was shared::

    .venv/bin/python benchmarks/pack_sharing.py --scale 1
    .venv/bin/python benchmarks/pack_sharing.py --scale 10 --work /tmp/pack10 --repeat 2
    .venv/bin/python benchmarks/pack_sharing.py --scale 1 --engine spark --modes shared

The demo company is generated and ingested once into ``--work`` (kept, and reused when
it already holds a warehouse of that scale), which becomes the project root of the runs
(``OUTCOMES_ROOT``): a copy of ``params/`` pointing at it and a link to ``notebooks/``.
The repository's ``data/`` and ``reports/`` are never touched. The modes alternate, so
load from other processes on the machine falls on both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_pack import prepare as project  # noqa: E402

BIN = Path(sys.executable).parent


def prepare(work: Path, scale: float) -> dict[str, str]:
    """Generate and ingest the demo company into ``work`` unless it is already there."""
    data = work / "data"
    stamp = work / "scale.txt"
    env = {**os.environ, "OUTCOMES_ROOT": str(work)}
    env.pop("OUTCOMES_SHARED_DIR", None)
    if stamp.is_file() and stamp.read_text() == str(scale) and (data / "warehouse.duckdb").is_file():
        return env
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    project(work)  # params pointing into ``work``, notebooks: as benchmarks/run_pack.py lays them out
    began = time.perf_counter()
    subprocess.run([str(BIN / "outcomes"), "demo", "--scale", str(scale), "--out", str(data / "raw")], check=True, env=env)
    subprocess.run([str(BIN / "outcomes"), "ingest", "--sources", str(work / "params" / "sources.yaml")], check=True, env=env)
    print(f"demo company at scale {scale} generated and ingested in {time.perf_counter() - began:.0f} s")
    stamp.write_text(str(scale))
    return env


def child(mode: str, period: str, engine: str) -> None:
    """One run of the pack in this process (``OUTCOMES_ROOT`` set); prints a JSON line."""
    from rich.console import Console

    from outcomes import config
    from outcomes.run import monthly as run

    if mode == "recomputed":
        # The run without a shared folder: every notebook computes what it needs.
        execute = run.execute_and_render
        run.execute_and_render = lambda *a, shared_dir=None, **k: execute(*a, **k)  # type: ignore[assignment]
    began = time.perf_counter()
    summary = run.run_monthly(config.project().params_dir / "monthly.yaml", period=period, engine=engine, console=Console(file=open(os.devnull, "w")))  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    manifest = json.loads((summary.index.parent / "manifest.json").read_text(encoding="utf-8"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "notebooks": {n["name"]: n["seconds"] for n in manifest["notebooks"]},
                "shared": [(s["describe"], s["backend"], s["computed_by"], s["seconds"]) for s in manifest["shared"]],
            }
        )
    )


def main() -> None:
    """Parse the arguments, prepare the data once, run the pack in each mode, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--work", type=Path, default=None, help="project root for the runs (kept; default: a temporary folder)")
    parser.add_argument("--modes", default="recomputed,shared", help="comma-separated: recomputed, shared")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.period, args.engine)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="outcomes-pack-"))
    env = prepare(work, args.scale)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for round_ in range(args.repeat):
        for mode in modes:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--period", args.period, "--engine", args.engine],
                check=True, env=env, capture_output=True, text=True,
            )
            doc = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"\nscale {args.scale}, engine {args.engine}, {mode} (round {round_ + 1}): pack {doc['seconds']:.1f} s")
            for name, seconds in doc["notebooks"].items():
                print(f"  {name:45s} {seconds:7.1f} s")
            for describe, backend, by, seconds in doc["shared"]:
                print(f"  shared: {describe[:70]:70s} on {backend}, by {by}, {seconds:.1f} s")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
