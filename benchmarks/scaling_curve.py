"""Measure how ingest, the metric panel and the monthly pack grow with the size of the company.

For each ``--scales`` value the demo company's exports (generated with ``outcomes demo
--scale S``, or an existing folder given with ``--raw S=DIR``, read only) are ingested into
a work folder, then the scorecard's metric panel (24 months by region), the pack
(``outcomes run``) and one month's scorecard (kit, hand-written SQL, pandas) are timed,
each in its own process with the peak RSS of its process tree (``run_pack.measure``).
Measurements accumulate in a JSON file (``--data``), so scales can be measured in separate
invocations (the largest alone, when the machine is quiet); the page is rendered from every
scale measured so far, with a least-squares fit of ``seconds = a + b * rows`` (and of the
peak memory) per stage and its extrapolation to 100 times the largest scale::

    .venv/bin/python benchmarks/scaling_curve.py --scales 1 10 30
    .venv/bin/python benchmarks/scaling_curve.py --scales 100 --raw 100=/data/demo-s100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_pack  # noqa: E402  (the stages and the measuring live there)

REPO = run_pack.REPO
DATA = REPO / "benchmarks" / "results" / "scaling.json"
PAGE = REPO / "benchmarks" / "results" / f"{dt.date.today():%Y-%m-%d}-scaling.md"
#: Stages fitted against the warehouse's rows, in the page's order.
STAGES = ("ingest", "metric panel", "pack", "kit, one month", "hand-written SQL", "pandas baseline")
#: The scale the plan extrapolates to: 100 times scale 100, about a billion tickets.
EXTRAPOLATE = 10_000


def measure_scale(scale: float, raw: Path | None, work_root: Path) -> dict[str, Any]:
    """Ingest, panel, pack and one month's scorecard at one scale; the figures as a dict."""
    from outcomes.run.monthly import last_data_month

    work = work_root / f"scale{scale:g}"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "params").exists():
        env = run_pack.prepare(work)
    else:
        env = {**os.environ, "OUTCOMES_ROOT": str(work), "PYTHONHASHSEED": "0"}
    (work / "data").mkdir(exist_ok=True)
    if raw is not None and not (work / "data" / "raw").exists():
        (work / "data" / "raw").symlink_to(raw.resolve(), target_is_directory=True)
    elif raw is None and not (work / "data" / "raw").exists():
        run_pack.generate(work, scale, 42)
    load_before = os.getloadavg()
    this = [sys.executable, str(REPO / "benchmarks" / "run_pack.py")]
    stages: dict[str, run_pack.Measured] = {}

    def step(name: str, cmd: list[str]) -> None:
        stages[name] = s = run_pack.measure(name, cmd, env, work)
        print(f"  scale {scale:g} {name:<18} {s.seconds:7.1f} s   peak {run_pack.gb(s.peak):>9}", flush=True)

    step("ingest", [str(run_pack.BIN / "outcomes"), "ingest", "--sources", str(work / "params" / "sources.yaml")])
    warehouse = work / "data" / "warehouse.duckdb"
    period = last_data_month(warehouse)
    child = [*this, "--period", period, "--no-profile", "--stage"]
    step("metric panel", [*child, "panel"])
    step("pack", [str(run_pack.BIN / "outcomes"), "run", "--config", str(work / "params" / "monthly.yaml"), "--period", period])
    outs = {name: work / f"{stage}.parquet" for name, stage in (("kit", "month"), ("sql", "sql"), ("pandas", "baseline"))}
    step("kit, one month", [*child, "month", "--stage-out", str(outs["kit"])])
    step("hand-written SQL", [*child, "sql", "--stage-out", str(outs["sql"])])
    step("pandas baseline", [*child, "baseline", "--stage-out", str(outs["pandas"])])
    counts = run_pack._count(warehouse)
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE NOT starts_with(table_name, '_')").fetchall()]
        rows = sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    return {
        "scale": scale,
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows,
        "tickets": counts["tickets"],
        "export_mb": run_pack._size_mb(work / "data" / "raw"),
        "period": period,
        "load_before": " ".join(f"{x:.1f}" for x in load_before),
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "stages": {
            name: {"seconds": s.seconds, "compute_s": s.report.get("compute_s"), "peak_bytes": s.peak}
            for name, s in stages.items()
        },
        "same_numbers": {
            "sql": run_pack.max_relative_difference(outs["kit"], outs["sql"])[0],
            "pandas": run_pack.max_relative_difference(outs["kit"], outs["pandas"])[0],
        },
    }


def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares ``y = a + b * x``; returns ``(a, b)``."""
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def render(records: list[dict[str, Any]]) -> str:
    """The scaling page (Markdown): the measured table, the fits and the extrapolation."""
    records = sorted(records, key=lambda r: r["scale"])
    machine = run_pack.machine()
    lines = [
        "# Scaling curve: ingest, metric panel and pack against the size of the company",
        "",
        "Command: `benchmarks/scaling_curve.py` (one invocation per group of scales; each record says when)  ",
        f"Machine: {machine['cores']} cores, {machine['memory']}, {machine['cpu']}; shared (load averages per scale below)  ",
        f"Packages: {machine['packages']}",
        "",
        "Wall seconds and peak RSS of each stage's process tree, default settings. *Metric panel* is the "
        "scorecard's panel (every catalog metric, 24 months, company and regions); *kit, one month* is "
        "``build_panel`` for one month's 15 scorecard metrics, beside the same numbers by hand-written DuckDB "
        "SQL on the same warehouse and by pandas from the exports (compute seconds, imports excluded).",
        "",
        "| scale | tickets | warehouse rows | exports (MB) | load before / after | "
        + " | ".join(STAGES)
        + " | kit / SQL | pandas / kit |",
        "|---:|---:|---:|---:|---|" + "---:|" * (len(STAGES) + 2),
    ]
    for r in records:
        s = r["stages"]
        cells = []
        for name in STAGES:
            v = s[name]
            secs = v["compute_s"] if name in ("kit, one month", "hand-written SQL", "pandas baseline") else v["seconds"]
            cells.append(f"{secs:.1f} s, {v['peak_bytes'] / 1e9:.2f} GB")
        kit, sql, pandas = (s[n]["compute_s"] for n in ("kit, one month", "hand-written SQL", "pandas baseline"))
        lines.append(
            f"| {r['scale']:g} | {r['tickets']:,} | {r['rows']:,} | {r['export_mb']:,.0f} | {r['load_before']} / {r['load_after']} | "
            + " | ".join(cells)
            + f" | {kit / sql:.2f} | {pandas / kit:.1f} |"
        )
    if len(records) >= 2:
        x = np.array([r["rows"] for r in records], dtype=float)
        target = EXTRAPOLATE * float(np.mean([r["rows"] / r["scale"] for r in records]))
        lines += [
            "",
            f"## Fit: seconds = a + b x rows, peak = c + d x rows (least squares over {len(records)} scales)",
            "",
            f"Extrapolated to scale {EXTRAPOLATE:,} (100 times scale 100: {target:,.0f} warehouse rows) on the same "
            "2-core machine, which is what one machine would face; the plan in docs/scaling.md moves the largest "
            "steps to Spark. A negative slope means the machine's load varied more between scales than the stage grew.",
            "",
            "| stage | a (s) | b (s per million rows) | c (GB) | d (GB per million rows) | "
            f"time at scale {EXTRAPOLATE:,} | memory at scale {EXTRAPOLATE:,} |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name in STAGES:
            key = "compute_s" if name in ("kit, one month", "hand-written SQL", "pandas baseline") else "seconds"
            secs = np.array([r["stages"][name][key] for r in records], dtype=float)
            peaks = np.array([r["stages"][name]["peak_bytes"] / 1e9 for r in records], dtype=float)
            a, b = fit(x, secs)
            c, d = fit(x, peaks)
            lines.append(
                f"| {name} | {a:.1f} | {b * 1e6:.3f} | {c:.2f} | {d * 1e6:.4f} | "
                f"{(a + b * target) / 3600:.1f} h | {c + d * target:.0f} GB |"
            )
    lines += ["", "Largest relative difference between the kit's numbers and each baseline's (a check, not a timing):", ""]
    lines += [
        f"- scale {r['scale']:g}: SQL {r['same_numbers']['sql']:.1e}, pandas {r['same_numbers']['pandas']:.1e}"
        for r in records
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure the scales asked for, add them to the JSON record, render the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="*", default=[1.0, 10.0, 30.0])
    parser.add_argument("--raw", action="append", default=[], help="SCALE=DIR: existing exports for a scale (read only)")
    parser.add_argument("--work-root", type=Path, required=True, help="where the work folders go (kept: delete them after)")
    parser.add_argument("--data", type=Path, default=DATA, help="the JSON record of every scale measured")
    parser.add_argument("--out", type=Path, default=PAGE, help="the results page")
    args = parser.parse_args()
    raws = {float(k): Path(v) for k, v in (item.split("=", 1) for item in args.raw)}
    records = {r["scale"]: r for r in (json.loads(args.data.read_text()) if args.data.is_file() else [])}
    for scale in args.scales:
        measured = measure_scale(scale, raws.get(scale), args.work_root)
        # read again: another invocation (a larger scale, measured alone) may have written meanwhile
        records = {r["scale"]: r for r in (json.loads(args.data.read_text()) if args.data.is_file() else [])}
        records[scale] = measured
        args.data.write_text(json.dumps(sorted(records.values(), key=lambda r: r["scale"]), indent=1), encoding="utf-8")
    page = render(list(records.values()))
    args.out.write_text(page, encoding="utf-8")
    print(page)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
