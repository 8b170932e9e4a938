"""Time the monthly pack stage by stage, and compare the metrics with a hand-written pandas baseline.

The demo company is generated once at ``--scale`` (not timed) into a work folder, which
becomes the project root of every step (``OUTCOMES_ROOT``): a copy of ``params/`` whose
``sources.yaml`` and ``monthly.yaml`` point at the work folder, and a link to
``notebooks/``. The repository's ``data/`` and ``reports/`` are never touched. Each stage
then runs in its own process, so its memory is its own:

=====================  ========================================================================
ingest                 ``outcomes ingest --full``: the exports into the DuckDB warehouse
plain DuckDB load      the reference for ingest: the same exports into a DuckDB file with declared types,
                       and key, timestamp-order and sign checks as SQL (``plain_load.py``); it and
                       the ingest run in turn :data:`INGEST_ROUNDS` times, and the page reports every
                       round and judges the target on the median one
metric panel           ``panel.build_panel``: every catalog metric, 24 months, by region (the scorecard's panel)
statistics             ``experiment.review.review`` of every active initiative
ROI                    ``investment.evaluate``: value inputs, drivers, reviews, Monte Carlo
pack                   ``outcomes run``: every notebook executed and rendered to HTML, checked, published
end to end             ingest + pack, the two commands of a monthly run after the exports land
=====================  ========================================================================

Peak memory is the resident set size (RSS) of the stage's whole process tree (the
notebook kernels of the pack are grandchildren), summed and sampled every 50 ms with
psutil, and never less than the largest process's own high-water mark (``VmHWM`` in
``/proc/<pid>/status``, read at each sample; ``getrusage`` is not used, because a child's
``ru_maxrss`` starts from the parent's size at the fork).

The baseline is what an analyst would write by hand for the scorecard of one month:
``pd.read_csv`` (the pyarrow engine) / ``pd.read_parquet`` of the exports, only the columns needed, and ``groupby`` by region (volume,
first response median and P90, MTTR, FCR, SLA, reopen rate, reassignments, self-service
rate; CSAT, NPS, churn, revenue, ARPU, active customers). The kit computes the same
numbers for the same month from the warehouse (``build_panel``); the script prints both
times and peaks, their ratios, and the largest relative difference between the two sets
of numbers (a correctness check, not a timing). A second reference, ``SCORECARD_SQL``, is
the same scorecard as one hand-written DuckDB script on the same warehouse; the page sets
the kit, the SQL and pandas side by side (``metrics_side_by_side``).

Then, unless ``--no-profile``, the in-process stages run again under cProfile, and
ingest once more with the time of each source (its private steps wrapped in timers).
papermill's per-cell timings are read from the executed notebooks, and the time the run
spent after its last notebook (results, manifest, checks, publishing) from their end times. Everything is printed
and written to ``benchmarks/results/<YYYY-MM-DD>-scale<S>.md``::

    .venv/bin/python benchmarks/run_pack.py --scale 1
    make bench BENCH_SCALE=100 BENCH_ARGS="--memory-limit 600MB"
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import io
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from plain_load import plain_load

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS_DIR = REPO / "benchmarks" / "results"
HISTORY_MONTHS = 24

#: The scorecard numbers the baseline computes by hand, by region and for the company.
BASELINE_METRICS = (
    "ticket_volume",
    "first_response_median_hours",
    "first_response_p90_hours",
    "mttr_hours",
    "fcr_rate",
    "sla_attainment",
    "reopen_rate",
    "reassignments_per_ticket",
    "self_service_rate",
    "csat",
    "nps",
    "active_customers",
    "churn_rate",
    "revenue",
    "arpu",
)
SELF_SERVICE_CONTACT_TYPES = ("Self-service", "Self service", "Virtual Agent")
PACKAGES = ("duckdb", "ibis-framework", "pandas", "pyarrow", "papermill", "nbclient", "altair", "vl-convert-python")
#: The metrics' memory against the pandas baseline's (the time targets are PACK_TARGET_S and METRIC_TARGETS).
MEMORY_RATIO_TARGET = 1 / 3
#: Ingest at scale 100: at most this multiple of the plain DuckDB load's wall time, this peak (GB), and a
#: refresh after one new month at most this share of the full ingest's time.
INGEST_TARGETS = {"ratio": 1.5, "rss_gb": 2.0, "refresh_share": 0.10}


# --------------------------------------------------------------------------- measuring a process tree


@dataclasses.dataclass
class Measured:
    """Wall time and memory of one stage's process tree.

    Attributes
    ----------
    name : str
        Stage name.
    seconds : float
        Wall time from start to exit, interpreter start-up and imports included.
    peak_tree : int
        Peak of the summed RSS of the process and its descendants (bytes, sampled).
    peak_process : int
        Largest RSS of one process of the tree (bytes, its ``VmHWM`` high-water mark).
    processes : int
        Most processes alive at once.
    report : dict
        What the stage wrote about itself (compute time without imports, figures).
    started : float
        When it started (seconds since the epoch).
    """

    name: str
    seconds: float
    peak_tree: int
    peak_process: int
    processes: int
    report: dict[str, Any]
    started: float = 0.0

    @property
    def peak(self) -> int:
        """The stage's peak memory: the tree's sampled sum, at least the largest process's high-water mark."""
        return max(self.peak_tree, self.peak_process)


def _high_water(pid: int) -> int:
    """A process's peak RSS so far (``VmHWM``, bytes; 0 when unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_rss(root: psutil.Process) -> tuple[int, int, int]:
    """Summed RSS, number and largest high-water mark of the live processes of ``root``'s tree."""
    total, count, largest = 0, 0, 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0, 0
    for p in procs:
        try:
            total += p.memory_info().rss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        largest = max(largest, _high_water(p.pid))
    return total, count, largest


def measure(name: str, cmd: list[str], env: dict[str, str], cwd: Path, interval: float = 0.05) -> Measured:
    """Run ``cmd`` to its end while sampling its process tree; fail loudly if it fails.

    A stage that writes a JSON report gets its path in ``OUTCOMES_BENCH_REPORT``.
    """
    report_file = Path(tempfile.mkstemp(prefix=f"bench-{name.replace(' ', '_')}-", suffix=".json")[1])
    env = {**env, "OUTCOMES_BENCH_REPORT": str(report_file)}
    started = time.time()
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    root = psutil.Process(proc.pid)
    peak, most, largest = 0, 0, 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, most, largest
        while not stop.is_set():
            rss, count, high = _tree_rss(root)
            peak, most, largest = max(peak, rss), max(most, count), max(largest, high)
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read() if proc.stdout else b""
    proc.wait()
    seconds = time.perf_counter() - began
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.stderr.write(output.decode(errors="replace")[-6000:])
        raise SystemExit(f"stage {name!r} failed with exit code {proc.returncode}: {' '.join(cmd)}")
    text = report_file.read_text(encoding="utf-8") if report_file.stat().st_size else "{}"
    report_file.unlink()
    return Measured(name, seconds, peak, largest, most, json.loads(text), started)


# --------------------------------------------------------------------------- stages run in a child process


def _write_report(values: dict[str, Any]) -> None:
    Path(os.environ["OUTCOMES_BENCH_REPORT"]).write_text(json.dumps(values, default=str), encoding="utf-8")


def stage_ingest(period: str) -> dict[str, Any]:
    """``outcomes ingest`` in this process, with the seconds of each source and of the final schema check."""
    from outcomes.ingest import checks
    from outcomes.ingest import load as ingest

    parts: dict[str, float] = {}

    def timed(label_of: Any, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[label_of(args)] = time.perf_counter() - began

        return run

    ingest._ingest_source = timed(lambda a: f"source {a[1]}", ingest._ingest_source)
    checks.validate_tables = timed(lambda a: "schema check (pandera)", checks.validate_tables)
    began = time.perf_counter()
    ingest.run_ingest(Path(os.environ["OUTCOMES_ROOT"]) / "params" / "sources.yaml")
    return {"compute_s": time.perf_counter() - began, "parts": parts}


def stage_plain_load(period: str) -> dict[str, Any]:
    """The reference for ingest: a plain DuckDB load of the same exports, with its checks (``plain_load.py``)."""
    root = Path(os.environ["OUTCOMES_ROOT"])
    return plain_load(root / "params" / "sources.yaml", root / "data" / "plain.duckdb")


def stage_panel(period: str) -> dict[str, Any]:
    """The scorecard's panel: every catalog metric, 24 months, company and regions."""
    from outcomes.metrics import panel
    from outcomes.periods import Window
    from outcomes.warehouse import store

    began = time.perf_counter()
    months = Window.last(HISTORY_MONTHS, ending=period)
    frame = panel.build_panel(store.connect(), start=months.first_month, end=months.last_month, segment="region")
    return {"compute_s": time.perf_counter() - began, "rows": len(frame)}


def stage_month(period: str, out: str) -> dict[str, Any]:
    """The baseline's numbers from the kit: one month, company and regions, saved for the check."""
    from outcomes.metrics import panel
    from outcomes.warehouse import store

    began = time.perf_counter()
    frame = panel.build_panel(store.connect(), start=period, end=period, segment="region", metrics=BASELINE_METRICS)
    seconds = time.perf_counter() - began
    frame[["segment", "metric", "value"]].to_parquet(out)
    return {"compute_s": seconds, "rows": len(frame)}


def stage_statistics(period: str) -> dict[str, Any]:
    """Review every active initiative, as ``02_initiative_review`` does once per initiative."""
    from outcomes.report import investment
    from outcomes.report import review

    began = time.perf_counter()
    decisions = {key: review.review(path, period=period).result.decision.action for key, path in investment.active_specs().items()}
    return {"compute_s": time.perf_counter() - began, "decisions": decisions}


def stage_roi(period: str) -> dict[str, Any]:
    """Evaluate every investment case, as ``03_roi`` does."""
    from outcomes.report import investment

    began = time.perf_counter()
    inv = investment.evaluate(period)
    return {"compute_s": time.perf_counter() - began, "cases": len(inv.cases)}


def stage_baseline(period: str, out: str) -> dict[str, Any]:
    """The scorecard of one month written by hand with pandas, from the exports."""
    import pandas as pd

    began = time.perf_counter()
    raw = Path(os.environ["OUTCOMES_ROOT"]) / "data" / "raw"
    first = pd.Timestamp(f"{period}-01")
    after = first + pd.offsets.MonthBegin(1)

    # tickets opened up to the month (a ticket resolved in the month may be older), the demand
    # surge's extra tickets included (the same layout, in their own folder)
    files = [
        f
        for folder in ("tickets", "tickets_surge")
        for f in sorted((raw / folder).glob(f"{folder}_*.csv"))
        if f.stem.removeprefix(f"{folder}_") <= period
    ]
    dates = ["opened_at", "u_first_response_at", "resolved_at"]
    columns = [*dates, "caller_id", "u_requester_type", "contact_type", "location", "reassignment_count",
               "reopen_count", "u_first_contact_resolution", "u_sla_target_hours", "made_sla"]
    t = pd.concat([pd.read_csv(f, usecols=columns, parse_dates=dates, engine="pyarrow") for f in files], ignore_index=True)
    customers = pd.read_parquet(raw / "customers.parquet", columns=["customer_no", "sales_region", "customer_since"])
    region_of = customers.set_index("customer_no")["sales_region"]
    t["region"] = t["location"].str.lower()
    from_customer = t["region"].isna() & (t["u_requester_type"] == "customer")
    t.loc[from_customer, "region"] = t.loc[from_customer, "caller_id"].map(region_of)
    t["region"] = t["region"].fillna("unassigned")
    t["response_hours"] = (t["u_first_response_at"] - t["opened_at"]).dt.total_seconds() / 3600
    t["resolve_hours"] = (t["resolved_at"] - t["opened_at"]).dt.total_seconds() / 3600
    t["self_service"] = t["contact_type"].isin(SELF_SERVICE_CONTACT_TYPES).astype(float)
    t["sla_ok"] = t["made_sla"].fillna(t["resolve_hours"] <= t["u_sla_target_hours"]).astype(float)
    t["reopened"] = (t["reopen_count"] > 0).astype(float)
    t["fcr"] = t["u_first_contact_resolution"].astype(float)

    def by_region(frame: pd.DataFrame, **aggs: Any) -> pd.DataFrame:
        """Aggregates per region, plus the company as segment ``all``."""
        per_region = frame.groupby("region").agg(**aggs)
        company = frame.assign(region="all").groupby("region").agg(**aggs)
        return pd.concat([company, per_region])

    opened = t[(t["opened_at"] >= first) & (t["opened_at"] < after)]
    resolved = t[(t["resolved_at"] >= first) & (t["resolved_at"] < after)]
    ticket_opened = by_region(
        opened,
        ticket_volume=("opened_at", "size"),
        first_response_median_hours=("response_hours", "median"),
        first_response_p90_hours=("response_hours", lambda s: s.quantile(0.9)),
        fcr_rate=("fcr", "mean"),
        reassignments_per_ticket=("reassignment_count", "mean"),
        self_service_rate=("self_service", "mean"),
    )
    ticket_resolved = by_region(
        resolved, mttr_hours=("resolve_hours", "mean"), sla_attainment=("sla_ok", "mean"), reopen_rate=("reopened", "mean")
    )
    del t, opened, resolved

    # customers active in the month, churn, surveys and orders by the customer's region
    churn = pd.read_csv(raw / "churn.csv", usecols=["customer_no", "churn_date"], engine="pyarrow")
    churn["churn_date"] = pd.to_datetime(churn["churn_date"], format="%d/%m/%Y")
    c = customers.rename(columns={"sales_region": "region"}).merge(churn, on="customer_no", how="left")
    c["customer_since"] = pd.to_datetime(c["customer_since"])
    c = c[(c["customer_since"] < after) & (c["churn_date"].isna() | (c["churn_date"] >= first))]
    c = c.assign(at_start=c["customer_since"] < first, lost=(c["customer_since"] < first) & (c["churn_date"] < after))
    base = by_region(c, active_customers=("customer_no", "size"), at_start=("at_start", "sum"), lost=("lost", "sum"))
    base["churn_rate"] = base["lost"] / base["at_start"]

    surveys = pd.read_parquet(raw / "surveys.parquet", columns=["customer_no", "submitted_at", "question", "answer"])
    surveys = surveys[(surveys["submitted_at"] >= first) & (surveys["submitted_at"] < after)]
    surveys = surveys.merge(customers.rename(columns={"sales_region": "region"}), on="customer_no")
    surveys["csat_point"] = (surveys["answer"] >= 4).astype(float).where(surveys["question"] == "CSAT")
    nps = pd.Series(0.0, index=surveys.index).mask(surveys["answer"] >= 9, 100.0).mask(surveys["answer"] <= 6, -100.0)
    surveys["nps_point"] = nps.where(surveys["question"] == "NPS")
    satisfaction = by_region(surveys, csat=("csat_point", "mean"), nps=("nps_point", "mean"))

    orders = pd.read_parquet(raw / "orders" / f"orders_{period}.parquet", columns=["customer_no", "order_ts", "net_amount_eur"])
    orders = orders.merge(customers.rename(columns={"sales_region": "region"}), on="customer_no")
    sales = by_region(orders, revenue=("net_amount_eur", "sum"))

    card = pd.concat([ticket_opened, ticket_resolved, base[["active_customers", "churn_rate"]], satisfaction, sales], axis=1)
    card["arpu"] = card["revenue"] / card["active_customers"]
    seconds = time.perf_counter() - began
    tidy = card[list(BASELINE_METRICS)].rename_axis("segment").reset_index().melt(id_vars="segment", var_name="metric")
    tidy.to_parquet(out)
    return {"compute_s": seconds, "rows": len(tidy)}


# --------------------------------------------------------------------------- hand-written SQL on the warehouse

#: One month's scorecard by hand in DuckDB SQL on the warehouse: what an analyst who knows the
#: canonical tables would write (one script, month filters on the raw timestamps, the company
#: and the regions in one pass with GROUPING SETS). ``$first`` and ``$after`` are the month's
#: first day and the next month's first day.
SCORECARD_SQL = """
WITH
  cust AS (SELECT customer_id, region FROM customers),
  t AS (
    SELECT t.opened_at, t.resolved_at,
           (epoch(t.first_response_at)::BIGINT - epoch(t.opened_at)::BIGINT)::DOUBLE / 3600 AS response_hours,
           (epoch(t.resolved_at)::BIGINT - epoch(t.opened_at)::BIGINT)::DOUBLE / 3600 AS resolve_hours,
           t.first_contact_resolved::DOUBLE AS fcr, t.reopened::DOUBLE AS reopened,
           t.reassignment_count::DOUBLE AS reassignments,
           (t.channel IN ('portal', 'chatbot'))::DOUBLE AS self_service,
           t.sla_met, t.sla_target_hours,
           coalesce(t.region, CASE WHEN t.requester_type = 'customer' THEN c.region END, 'unassigned') AS region
    FROM tickets t LEFT JOIN cust c ON t.requester_id = c.customer_id
    WHERE (t.opened_at >= $first AND t.opened_at < $after) OR (t.resolved_at >= $first AND t.resolved_at < $after)
  ),
  opened AS (
    SELECT coalesce(region, 'all') AS segment, count(*)::DOUBLE AS ticket_volume,
           median(response_hours) AS first_response_median_hours,
           quantile_cont(response_hours, 0.9) AS first_response_p90_hours,
           avg(fcr) AS fcr_rate, avg(reassignments) AS reassignments_per_ticket, avg(self_service) AS self_service_rate
    FROM t WHERE opened_at >= $first AND opened_at < $after
    GROUP BY GROUPING SETS ((), (region))
  ),
  resolved AS (
    SELECT coalesce(region, 'all') AS segment, avg(resolve_hours) AS mttr_hours,
           avg(coalesce(sla_met, resolve_hours <= sla_target_hours)::DOUBLE) AS sla_attainment,
           avg(reopened) AS reopen_rate
    FROM t WHERE resolved_at >= $first AND resolved_at < $after
    GROUP BY GROUPING SETS ((), (region))
  ),
  base AS (
    SELECT coalesce(c.region, 'all') AS segment, count(*)::DOUBLE AS active_customers,
           sum((c.signup_date < $first AND ch.churned_at < $after)::INT)::DOUBLE
             / sum((c.signup_date < $first)::INT) AS churn_rate
    FROM customers c LEFT JOIN churn ch USING (customer_id)
    WHERE c.signup_date < $after AND (ch.churned_at IS NULL OR ch.churned_at >= $first)
    GROUP BY GROUPING SETS ((), (c.region))
  ),
  surveys AS (
    SELECT coalesce(c.region, 'all') AS segment,
           avg(CASE WHEN s.kind = 'csat' THEN (s.score >= 4)::DOUBLE END) AS csat,
           avg(CASE WHEN s.kind = 'nps' THEN CASE WHEN s.score >= 9 THEN 100.0 WHEN s.score <= 6 THEN -100.0 ELSE 0.0 END END) AS nps
    FROM customer_surveys s JOIN cust c USING (customer_id)
    WHERE s.responded_at >= $first AND s.responded_at < $after
    GROUP BY GROUPING SETS ((), (c.region))
  ),
  sales AS (
    SELECT coalesce(c.region, 'all') AS segment, sum(o.revenue) AS revenue
    FROM orders o JOIN cust c USING (customer_id)
    WHERE o.ordered_at >= $first AND o.ordered_at < $after
    GROUP BY GROUPING SETS ((), (c.region))
  )
SELECT segment, o.* EXCLUDE (segment), r.* EXCLUDE (segment), b.active_customers, b.churn_rate,
       s.csat, s.nps, sa.revenue, sa.revenue / b.active_customers AS arpu
FROM opened o
FULL JOIN resolved r USING (segment)
FULL JOIN base b USING (segment)
FULL JOIN surveys s USING (segment)
FULL JOIN sales sa USING (segment)
"""


def stage_sql(period: str, out: str) -> dict[str, Any]:
    """The scorecard of one month by hand-written DuckDB SQL on the same warehouse, default settings."""
    import duckdb
    import pandas as pd

    began = time.perf_counter()
    first = dt.date.fromisoformat(f"{period}-01")
    after = (first + dt.timedelta(days=32)).replace(day=1)
    con = duckdb.connect(str(Path(os.environ["OUTCOMES_ROOT"]) / "data" / "warehouse.duckdb"), read_only=True)
    card = con.execute(SCORECARD_SQL, {"first": first, "after": after}).df()
    con.close()
    seconds = time.perf_counter() - began
    tidy = card.melt(id_vars="segment", value_vars=list(BASELINE_METRICS), var_name="metric")
    tidy["value"] = tidy["value"].astype("float64")
    pd.DataFrame(tidy).to_parquet(out)
    return {"compute_s": seconds, "rows": len(tidy)}


CHILD_STAGES = {
    "ingest": stage_ingest,
    "plain_load": stage_plain_load,
    "panel": stage_panel,
    "month": stage_month,
    "statistics": stage_statistics,
    "roi": stage_roi,
    "baseline": stage_baseline,
    "sql": stage_sql,
}


#: Modules each stage imports before its clock starts (and before the profiler does).
STAGE_IMPORTS = {
    "ingest": ("outcomes.ingest.load", "outcomes.warehouse.schemas", "ibis.backends.duckdb"),
    "plain_load": ("duckdb", "outcomes.ingest.sources"),
    "panel": ("outcomes.metrics.panel", "outcomes.warehouse.store", "ibis.backends.duckdb"),
    "month": ("outcomes.metrics.panel", "outcomes.warehouse.store", "ibis.backends.duckdb"),
    "statistics": ("outcomes.report", "outcomes.report.investment", "outcomes.report.review", "ibis.backends.duckdb"),
    "roi": ("outcomes.report", "outcomes.report.investment", "outcomes.report.review", "ibis.backends.duckdb"),
    "baseline": ("pandas", "pyarrow.parquet"),
    "sql": ("duckdb", "pandas", "pyarrow.parquet"),
}


def run_child(stage: str, period: str, out: str | None, profile: bool) -> None:
    """Run one stage in this process and write its report (optionally its cProfile top entries)."""
    import importlib

    began = time.perf_counter()
    for module in STAGE_IMPORTS[stage]:
        importlib.import_module(module)
    imported = time.perf_counter()
    fn = CHILD_STAGES[stage]
    args = (period, out) if stage in ("month", "baseline", "sql") else (period,)
    if profile:
        prof = cProfile.Profile()
        values = prof.runcall(fn, *args)
        values["profile"] = _top_entries(prof)
    else:
        values = fn(*args)
    values["process_s"] = time.perf_counter() - began
    values["import_s"] = imported - began
    _write_report(values)


def _top_entries(prof: cProfile.Profile, top: int = 8) -> list[dict[str, Any]]:
    """The functions with the most time spent in themselves (not in what they call)."""
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = func if file == "~" else f"{func} ({_short(file)}:{line})"
        rows.append({"function": where, "calls": calls, "own_s": own, "cumulative_s": cumulative})
    return sorted(rows, key=lambda r: r["own_s"], reverse=True)[:top]


def _short(file: str) -> str:
    parts = Path(file).parts
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(anchor) :])
    return Path(file).name


# --------------------------------------------------------------------------- the work folder


def prepare(work: Path, memory_limit: str | None = None) -> dict[str, str]:
    """Make ``work`` a project root: params (pointing into ``work``), notebooks; return the stages' environment.

    ``memory_limit`` goes into the copy of ``params/engine.yaml`` (DuckDB, per connection).
    """
    import yaml

    shutil.copytree(REPO / "params", work / "params")
    if memory_limit is not None:
        engine_yaml = work / "params" / "engine.yaml"
        values = yaml.safe_load(engine_yaml.read_text(encoding="utf-8"))
        values.setdefault("duckdb", {})["memory_limit"] = memory_limit
        engine_yaml.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    (work / "notebooks").symlink_to(REPO / "notebooks", target_is_directory=True)
    data = work / "data"
    for name, keys in (
        ("sources.yaml", {"raw_dir": data / "raw", "warehouse": data / "warehouse.duckdb", "rejects_dir": data / "rejects"}),
        ("monthly.yaml", {"raw_dir": data / "raw", "warehouse": data / "warehouse.duckdb", "reports_dir": work / "reports"}),
    ):
        path = work / "params" / name
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        values.update({k: str(v) for k, v in keys.items()})
        path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return {**os.environ, "OUTCOMES_ROOT": str(work), "PYTHONHASHSEED": "0"}


def generate(work: Path, scale: float, seed: int) -> float:
    """Write the demo company's exports into ``work/data/raw``; return the seconds it took (not a stage)."""
    began = time.perf_counter()
    cmd = [str(BIN / "outcomes"), "demo", "--scale", f"{scale:g}", "--seed", str(seed), "--out", str(work / "data" / "raw")]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=work)
    return time.perf_counter() - began


# --------------------------------------------------------------------------- the pack's own timings


PACK_TARGET_S, PACK_TARGET_BYTES = 45.0, 2.5e9


def pack_next_month(work: Path, env: dict[str, str], period: str) -> tuple[Measured, Measured]:
    """The pack as it runs month after month: last month's run, then this month's with the history kept.

    The panel's history folder (beside the warehouse: ``data/cache/history``) is emptied,
    the month before ``period`` is run (not measured: it is last month's run, which keeps
    its months), then ``period`` is run and measured: the months both runs cover are read
    back and only the new month is computed. Returns (last month's run, this month's run).
    """
    from outcomes.periods import Month

    shutil.rmtree(work / "data" / "cache" / "history", ignore_errors=True)
    cmd = [str(BIN / "outcomes"), "run", "--config", str(work / "params" / "monthly.yaml"), "--period"]
    previous = str(Month.parse(period) - 1)
    before = measure("pack, last month (history empty)", [*cmd, previous], env, work)
    after = measure("pack, next month (history kept)", [*cmd, period], env, work)
    return before, after


def pack_rows(stages: dict[str, Measured]) -> list[str]:
    """Rows of the page: the pack with defaults against its target (45 s, 2.5 GB for the process tree)."""
    lines = [
        "## The pack with default settings against its target",
        "",
        f"Target: under {PACK_TARGET_S:.0f} s wall and {PACK_TARGET_BYTES / 1e9:.1f} GB peak RSS for the process tree, "
        "with params/engine.yaml's defaults (DuckDB's memory and threads chosen from the machine).",
        "",
        "| Run | Wall (s) | Target (s) | Ratio | Peak RSS | Target | Ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("pack", "pack, last month (history empty)", "pack, next month (history kept)"):
        if name in stages:
            s = stages[name]
            lines.append(
                f"| {name} | {s.seconds:.1f} | {PACK_TARGET_S:.0f} | {s.seconds / PACK_TARGET_S:.2f} | {gb(s.peak)} | "
                f"{gb(PACK_TARGET_BYTES)} | {s.peak / PACK_TARGET_BYTES:.2f} |"
            )
    return [*lines, ""]


def notebook_profile(build: Path) -> list[dict[str, Any]]:
    """Per executed notebook: total, kernel start-up and overhead, imports, charts, other cells, rendering.

    ``seconds`` is the run's wall time of the notebook (execution and HTML rendering,
    from ``manifest.json``); papermill's ``duration`` covers the execution; the cells'
    durations come from each cell's papermill metadata; ``ended`` is when it finished
    (seconds since the epoch, to the second).
    """
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    rows = []
    for entry in manifest["notebooks"]:
        nb = json.loads((build / entry["ipynb"]).read_text(encoding="utf-8"))
        executed = nb["metadata"]["papermill"]["duration"]
        cells = [
            (c["metadata"].get("papermill", {}).get("duration") or 0.0, "".join(c["source"]))
            for c in nb["cells"]
            if c["cell_type"] == "code"
        ]
        imports = sum(d for d, src in cells if src.lstrip().startswith(("import ", "from ")))
        charts = sum(d for d, src in cells if "chart" in src and not src.lstrip().startswith(("import ", "from ")))
        slowest = max(cells, key=lambda c: c[0])
        rows.append(
            {
                "notebook": entry["name"],
                "seconds": entry["seconds"],
                "kernel_s": executed - sum(d for d, _ in cells),
                "imports_s": imports,
                "charts_s": charts,
                "other_cells_s": sum(d for d, _ in cells) - imports - charts,
                "render_s": entry["seconds"] - executed,
                "slowest_cell": slowest[1].strip().splitlines()[0][:70],
                "slowest_s": slowest[0],
                "ended": dt.datetime.fromisoformat(entry["started_at"]).timestamp() + entry["seconds"],
            }
        )
    return rows


# --------------------------------------------------------------------------- comparing and writing


def max_relative_difference(kit_file: Path, baseline_file: Path) -> tuple[float, str, int]:
    """Largest relative difference between the kit's and the baseline's numbers, where it is, cells compared."""
    import numpy as np
    import pandas as pd

    kit = pd.read_parquet(kit_file).set_index(["segment", "metric"])["value"]
    base = pd.read_parquet(baseline_file).set_index(["segment", "metric"])["value"]
    joined = pd.concat({"kit": kit, "baseline": base}, axis=1)
    missing = joined[joined.isna().any(axis=1)]
    if len(missing):
        raise SystemExit(f"the kit and the baseline do not give the same cells; missing on one side:\n{missing}")
    rel = (joined["kit"] - joined["baseline"]).abs() / joined["baseline"].abs().clip(lower=np.finfo(float).tiny)
    where = rel.idxmax()
    return float(rel.max()), f"{where[1]} / {where[0]}", len(joined)


def machine() -> dict[str, str]:
    """Cores, memory, CPU model, load, OS, Python and package versions."""
    model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for pkg in PACKAGES:
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": ", ".join(versions),
    }


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def render(ctx: dict[str, Any]) -> str:
    """The results page (Markdown)."""
    m: dict[str, Measured] = ctx["stages"]
    lines = [
        f"# Monthly pack benchmark, scale {ctx['scale']:g}, {ctx['date']}",
        "",
        f"Command: `{ctx['command']}`  ",
        f"Machine: {ctx['machine']['cores']} cores, {ctx['machine']['memory']}, {ctx['machine']['cpu']}  ",
        f"OS: {ctx['machine']['os']}; Python {ctx['machine']['python']}  ",
        f"Packages: {ctx['machine']['packages']}  ",
        f"Load average (1, 5, 15 min) before: {ctx['load_before']}; after: {ctx['load_after']} "
        "(the machine is shared; a load above the core count slows every figure)  ",
        f"Data: {ctx['tickets']:,} tickets, {ctx['orders']:,} orders, {ctx['customers']:,} customers; "
        f"exports {ctx['export_mb']:,.0f} MB, warehouse {ctx['warehouse_mb']:,.0f} MB; reported month {ctx['period']}  ",
        f"Generation (not a stage): {ctx['generate_s']:.1f} s",
        "",
        "## Stages",
        "",
        "Each stage runs in its own process. *Wall* includes the interpreter start-up and imports; *compute* is "
        "the stage's own work. *Peak RSS* is the summed resident memory of the stage's process tree.",
        "",
        "| Stage | Wall (s) | Compute (s) | Peak RSS | Largest process | Processes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in m.values():
        compute = s.report.get("compute_s")
        lines.append(
            f"| {s.name} | {s.seconds:.1f} | {'' if compute is None else f'{compute:.1f}'} | {gb(s.peak)} | "
            f"{gb(s.peak_process)} | {s.processes} |"
        )
    e2e_s, e2e_rss = ctx["end_to_end"]
    lines += [
        f"| **end to end** (ingest + pack) | **{e2e_s:.1f}** | | **{gb(e2e_rss)}** | | |",
        "",
        *render_ingest(ctx["ingest_rounds"], ctx["refresh"]),
        *pack_rows(m),
        "## Metrics: the kit against a hand-written pandas baseline (one month, company and regions)",
        "",
        "| | Wall (s) | Compute (s) | Peak RSS |",
        "|---|---:|---:|---:|",
    ]
    kit, base = m["kit, one month"], m["pandas baseline"]
    for s in (kit, base):
        lines.append(f"| {s.name} | {s.seconds:.1f} | {s.report['compute_s']:.2f} | {gb(s.peak)} |")
    lines += [
        "",
        f"- Kit / baseline, compute time: **{ctx['time_ratio']:.3f}** (the kit runs {1 / ctx['time_ratio']:.1f}x as fast); "
        f"wall: {kit.seconds / base.seconds:.3f}",
        f"- Kit / baseline, peak RSS: **{ctx['memory_ratio']:.3f}**",
        f"- Counting the ingest the kit needs first: kit time + ingest = {ctx['with_ingest_s']:.1f} s against "
        f"{base.seconds:.1f} s ({ctx['with_ingest_s'] / base.seconds:.2f}x the baseline's wall); the warehouse is built "
        "once a month and then serves every notebook and every question",
        f"- Same numbers: {ctx['cells']} values (15 metrics x company and regions), largest relative difference "
        f"**{ctx['max_rel']:.2e}** ({ctx['max_rel_where']})",
        "",
        "## Against the targets (2 cores)",
        "",
        "The targets are set for scale 100 (about 10 million tickets); at a smaller scale fixed costs (kernel "
        "start-up, query planning) weigh more, so the ratios there are not the measure.",
        "",
    ]
    lines += [f"- {t}" for t in ctx["verdicts"]]
    lines += ctx["metrics_side_by_side"]
    lines += [
        "",
        "## Where the pack's time goes",
        "",
        "Per notebook of the last run of the month (next month's, with the history kept, when it ran; they run "
        "two at a time, so the sum is more than the run's wall time). *Kernel* is "
        "papermill's execution time not spent in cells (a kernel's start-up, or the reset of the kernel its worker "
        "kept from the notebook before; parameter injection); *render* is the "
        "HTML export after execution.",
        "",
        "| Notebook | Total (s) | Kernel (s) | Imports (s) | Chart cells (s) | Other cells (s) | Render (s) | Slowest cell | (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in ctx["notebooks"]:
        lines.append(
            f"| {r['notebook']} | {r['seconds']:.1f} | {r['kernel_s']:.1f} | {r['imports_s']:.1f} | {r['charts_s']:.1f} | "
            f"{r['other_cells_s']:.1f} | {r['render_s']:.1f} | `{r['slowest_cell']}` | {r['slowest_s']:.1f} |"
        )
    totals = {k: sum(r[k] for r in ctx["notebooks"]) for k in ("seconds", "kernel_s", "imports_s", "charts_s", "other_cells_s", "render_s")}
    lines.append(
        f"| **sum** | {totals['seconds']:.1f} | {totals['kernel_s']:.1f} | {totals['imports_s']:.1f} | "
        f"{totals['charts_s']:.1f} | {totals['other_cells_s']:.1f} | {totals['render_s']:.1f} | | |"
    )
    if ctx["ingest_parts"]:
        lines += [
            "",
            "### Ingest by source (the profiled run)",
            "",
            "| Part | Seconds |",
            "|---|---:|",
        ]
        ranked = sorted(ctx["ingest_parts"].items(), key=lambda kv: kv[1], reverse=True)
        lines += [f"| {part} | {seconds:.1f} |" for part, seconds in ranked]
    lines += [
        "",
        f"After the last notebook finished, the run spent about **{ctx['after_notebooks_s']:.0f} s** (to the second) "
        "assembling `results.json` and `manifest.json` (with the data fingerprints), running the page and "
        "personal-data checks and publishing.",
    ]
    for name, entries in ctx["profiles"].items():
        lines += [
            "",
            f"### cProfile: {name} (functions by own time)",
            "",
            "| Function | Calls | Own (s) | Cumulative (s) |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| `{e['function']}` | {e['calls']:,} | {e['own_s']:.2f} | {e['cumulative_s']:.2f} |" for e in entries
        ]
    return "\n".join(lines) + "\n"


#: Rounds of the full ingest and the plain load, one after the other: the machine's speed drifts by
#: a tenth from one minute to the next, so the ratio is judged on the median round, not on one.
INGEST_ROUNDS = 3


def median_round(rounds: list[tuple[Measured, Measured]]) -> tuple[Measured, Measured]:
    """The (kit, plain load) pair of the round whose ratio of wall times is the median."""
    return sorted(rounds, key=lambda pair: pair[0].seconds / pair[1].seconds)[len(rounds) // 2]


def render_ingest(rounds: list[tuple[Measured, Measured]], refresh: Measured) -> list[str]:
    """The section comparing the kit's ingest with a plain DuckDB load of the same exports, and the refresh after a new month."""
    kit, plain = median_round(rounds)
    broken = sum(n for checks in plain.report["broken"].values() for n in checks.values())
    ratio = kit.seconds / plain.seconds
    return [
        "## Ingest against a plain DuckDB load of the same exports",
        "",
        "Both read every export into a new DuckDB file, one after the other in this run, in their own process, "
        "with default settings. The reference (`benchmarks/plain_load.py`) declares the types, renames the "
        "columns and checks keys, timestamp order and signs as SQL; the kit also maps values, rejects rows "
        "with a message each, logs and hashes every file, fingerprints every table and validates the schemas. "
        f"They run {len(rounds)} times in turn (`outcomes ingest --full`, then the plain load); the target is "
        "judged on the round with the median ratio, since the machine's speed drifts between minutes.",
        "",
        "| Round | kit, `outcomes ingest --full` (s) | plain DuckDB load (s) | Ratio | kit peak RSS | plain peak RSS |",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {i} | {k.seconds:.1f} | {p.seconds:.1f} | {k.seconds / p.seconds:.2f} | {gb(k.peak)} | {gb(p.peak)} |"
            for i, (k, p) in enumerate(rounds, start=1)
        ),
        "",
        "| | Wall (s) | Compute (s) | Peak RSS |",
        "|---|---:|---:|---:|",
        f"| kit, `outcomes ingest` (full, median round) | {kit.seconds:.1f} | | {gb(kit.peak)} |",
        f"| plain DuckDB load (same round) | {plain.seconds:.1f} | {plain.report['compute_s']:.1f} | {gb(plain.peak)} |",
        f"| kit, `outcomes ingest` after one new month ({', '.join(refresh.report['files'])}) | {refresh.seconds:.1f} | | "
        f"{gb(refresh.peak)} |",
        "",
        f"- Kit / reference, wall time, median round: **{ratio:.2f}** (target at most {INGEST_TARGETS['ratio']:.1f} at scale 100: "
        f"{'met' if ratio <= INGEST_TARGETS['ratio'] else 'NOT met'})",
        f"- Kit peak RSS {gb(kit.peak)} (target at most {INGEST_TARGETS['rss_gb']:.0f} GB: "
        f"{'met' if kit.peak <= INGEST_TARGETS['rss_gb'] * 1e9 else 'NOT met'}); reference {gb(plain.peak)}, "
        f"ratio {kit.peak / plain.peak:.2f}",
        f"- Refresh after one new month / full ingest, wall time: **{refresh.seconds / kit.seconds:.1%}** (target at "
        f"most {INGEST_TARGETS['refresh_share']:.0%} at scale 100: "
        f"{'met' if refresh.seconds <= INGEST_TARGETS['refresh_share'] * kit.seconds else 'NOT met'}; measured after the "
        "pack, on a warehouse first built without the last month)",
        f"- The reference loaded {plain.report['rows']:,} rows in {plain.report['load_s']:.1f} s and checked them "
        f"in {plain.report['checks_s']:.1f} s; rows breaking its checks: {broken:,}",
        "",
    ]


# --------------------------------------------------------------------------- metrics: kit, hand-written SQL, pandas

#: One month's scorecard: the kit at most this many times the hand-written SQL, pandas at least this many times the kit.
METRIC_TARGETS = {"kit_over_sql": 1.5, "pandas_over_kit": 8.0}


#: Rounds of the three metric stages (kit, SQL, pandas, in turn); each is reported by its median round.
METRIC_ROUNDS = 3


def metric_rounds(
    named: dict[str, tuple[str, Path]], child: list[str], env: dict[str, str], work: Path
) -> dict[str, Measured]:
    """Run the metric stages in turn, :data:`METRIC_ROUNDS` times; each stage's round of median compute time.

    One run of each is at the mercy of what else the machine does for those two seconds;
    rounds in turn share that fairly, and the median leaves out one slow and one fast round.
    """
    rounds: dict[str, list[Measured]] = {name: [] for name in named}
    for _ in range(METRIC_ROUNDS):
        for name, (stage, out) in named.items():
            rounds[name].append(measure(name, [*child, stage, "--stage-out", str(out)], env, work))
    return {name: sorted(ms, key=lambda m: m.report["compute_s"])[len(ms) // 2] for name, ms in rounds.items()}


def metrics_side_by_side(stages: dict[str, Measured], kit_file: Path, sql_file: Path) -> list[str]:
    """The page's lines comparing the kit's month with hand-written SQL and pandas, in the same run."""
    kit, sql, pandas = stages["kit, one month"], stages["hand-written SQL"], stages["pandas baseline"]
    max_rel, where, cells = max_relative_difference(kit_file, sql_file)
    over_sql = kit.report["compute_s"] / sql.report["compute_s"]
    over_kit = pandas.report["compute_s"] / kit.report["compute_s"]

    def word(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = [
        "",
        "## Metrics side by side: the kit, hand-written SQL on the same warehouse, pandas from the exports",
        "",
        "One month's 15 scorecard metrics for the company and each region. *Compute* excludes interpreter "
        f"start-up and imports; each runs in its own process, default settings; the three run in turn, "
        f"{METRIC_ROUNDS} rounds, and each row is its median round.",
        "",
        "| | Compute (s) | Wall (s) | Peak RSS | Compute / kit's |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in (kit, sql, pandas):
        lines.append(
            f"| {s.name} | {s.report['compute_s']:.2f} | {s.seconds:.1f} | {gb(s.peak)} | "
            f"{s.report['compute_s'] / kit.report['compute_s']:.2f} |"
        )
    lines += [
        "",
        f"- Kit / hand-written SQL: **{over_sql:.2f}**, target at most {METRIC_TARGETS['kit_over_sql']:.1f}: "
        f"{word(over_sql <= METRIC_TARGETS['kit_over_sql'])}",
        f"- pandas / kit: **{over_kit:.1f}x**, target at least {METRIC_TARGETS['pandas_over_kit']:.0f}x: "
        f"{word(over_kit >= METRIC_TARGETS['pandas_over_kit'])}",
        f"- Same numbers as the SQL: {cells} values, largest relative difference **{max_rel:.2e}** ({where})",
    ]
    return lines


def verdicts(pack: Measured, time_ratio: float, memory_ratio: float) -> list[str]:
    """One line per target: the measured figure, the target, met or not.

    ``pack`` is the run the pack's target is about: the next month's, with the history kept,
    when the benchmark ran it (a monthly run), else the only pack measured.
    """

    def word(ok: bool) -> str:
        return "met" if ok else "NOT met"

    run = pack.name[:1].upper() + pack.name[1:]
    return [
        f"{run}: wall time {pack.seconds:.1f} s, target under {PACK_TARGET_S:.0f} s: {word(pack.seconds < PACK_TARGET_S)}",
        f"{run}: peak RSS {gb(pack.peak)}, target under {gb(PACK_TARGET_BYTES)}: {word(pack.peak < PACK_TARGET_BYTES)}",
        f"Metrics {1 / time_ratio:.1f}x as fast as the pandas baseline, target at least "
        f"{METRIC_TARGETS['pandas_over_kit']:.0f}x: {word(1 / time_ratio >= METRIC_TARGETS['pandas_over_kit'])}",
        f"Metrics memory {memory_ratio:.2f} of the baseline's, target at most {MEMORY_RATIO_TARGET:.2f}: "
        f"{word(memory_ratio <= MEMORY_RATIO_TARGET)}",
    ]


def _count(warehouse: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("tickets", "orders", "customers")}
    finally:
        con.close()


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6 if path.is_dir() else path.stat().st_size / 1e6


def main() -> None:
    """Parse the arguments; run one stage (``--stage``) or the whole benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0, help="company size (1: about 100,000 tickets; 100: about 10 million)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--period", default=None, help="reported month, YYYY-MM (default: the last complete month of the data)")
    parser.add_argument("--work-root", type=Path, default=None, help="where the temporary work folder goes (default: the system's)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit per connection, e.g. 1GB (params/engine.yaml)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (exports, warehouse, reports)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile pass")
    parser.add_argument("--out", type=Path, default=None, help="results file (default benchmarks/results/<date>-scale<S>.md)")
    parser.add_argument("--stage", choices=sorted(CHILD_STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--stage-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_child(args.stage, args.period, args.stage_out, args.profile)
        return

    from outcomes.run.monthly import last_data_month

    work = Path(tempfile.mkdtemp(prefix=f"outcomes-bench-{args.scale:g}-", dir=args.work_root))
    try:
        env = prepare(work, args.memory_limit)
        print(f"scale {args.scale:g}, seed {args.seed}: generating the demo company into {work} (not timed)", flush=True)
        generate_s = generate(work, args.scale, args.seed)
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        stages: dict[str, Measured] = {}

        def step(name: str, cmd: list[str]) -> Measured:
            # Each stage starts with the files written before it on disk (not timed), so that
            # none pays for writing back what another one wrote: the exports just generated
            # would otherwise be written back during the ingest.
            os.sync()
            stages[name] = measure(name, cmd, env, work)
            s = stages[name]
            compute = s.report.get("compute_s")
            work_s = "" if compute is None else f"   compute {compute:6.1f} s"
            print(f"  {name:<18} {s.seconds:7.1f} s wall{work_s}   peak RSS {gb(s.peak):>9}", flush=True)
            return s

        this = [sys.executable, str(Path(__file__).resolve())]
        ingest_rounds = []
        for _ in range(INGEST_ROUNDS):
            kit_ingest = step("ingest", [str(BIN / "outcomes"), "ingest", "--full", "--sources", str(work / "params" / "sources.yaml")])
            ingest_rounds.append((kit_ingest, step("plain DuckDB load", [*this, "--no-profile", "--stage", "plain_load"])))
        # The stages' figures are those of the round with the median ratio: both from that round.
        stages["ingest"], stages["plain DuckDB load"] = median_round(ingest_rounds)
        period = args.period or last_data_month(work / "data" / "warehouse.duckdb")
        child = [*this, "--period", period, "--no-profile", "--stage"]
        step("metric panel", [*child, "panel"])
        step("statistics", [*child, "statistics"])
        step("ROI", [*child, "roi"])
        pack = step("pack", [str(BIN / "outcomes"), "run", "--config", str(work / "params" / "monthly.yaml"), "--period", period])
        for measured in pack_next_month(work, env, period):
            stages[measured.name] = measured
            print(f"  {measured.name:<18} {measured.seconds:7.1f} s wall   peak RSS {gb(measured.peak):>9}", flush=True)
        kit_file, base_file, sql_file = (work / f"{n}-month.parquet" for n in ("kit", "baseline", "sql"))
        metric_stages = {
            "kit, one month": ("month", kit_file),
            "hand-written SQL": ("sql", sql_file),
            "pandas baseline": ("baseline", base_file),
        }
        for name, measured in metric_rounds(metric_stages, child, env, work).items():
            stages[name] = measured
            print(f"  {name:<18} {measured.report['compute_s']:7.2f} s compute (median of {METRIC_ROUNDS})", flush=True)
        kit, base = stages["kit, one month"], stages["pandas baseline"]
        # Imported here: ingest_refresh imports this module's measuring functions.
        from ingest_refresh import refresh_after_new_month

        _, refresh = refresh_after_new_month(work, env)
        print(f"  {'refresh, new month':<18} {refresh.seconds:7.1f} s wall   peak RSS {gb(refresh.peak):>9}", flush=True)
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        max_rel, where, cells = max_relative_difference(kit_file, base_file)

        profiles: dict[str, list[dict[str, Any]]] = {}
        ingest_parts: dict[str, float] = {}
        if args.profile:
            print("profiling (cProfile, not timed)", flush=True)
            stages_to_profile = (
                ("ingest", "ingest"),
                ("metric panel", "panel"),
                ("statistics", "statistics"),
                ("ROI", "roi"),
                ("pandas baseline", "baseline"),
            )
            for name, stage in stages_to_profile:
                cmd = [*this, "--period", period, "--stage", stage]
                if stage == "baseline":
                    cmd += ["--stage-out", str(work / "profiled-baseline.parquet")]
                report = measure(f"profile {stage}", cmd, env, work).report
                profiles[name] = report["profile"]
                ingest_parts = report.get("parts", ingest_parts)

        counts = _count(work / "data" / "warehouse.duckdb")
        # The month's reports are those of its last run: next month's, with the history kept, when it ran.
        last = stages.get("pack, next month (history kept)", pack)
        notebooks = notebook_profile(work / "reports" / period)
        time_ratio = kit.report["compute_s"] / base.report["compute_s"]
        memory_ratio = kit.peak / base.peak
        ctx = {
            "scale": args.scale,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join([Path(sys.executable).name, "benchmarks/run_pack.py", *sys.argv[1:]]),
            "machine": machine(),
            "load_before": load_before,
            "load_after": load_after,
            "tickets": counts["tickets"],
            "orders": counts["orders"],
            "customers": counts["customers"],
            "export_mb": _size_mb(work / "data" / "raw"),
            "warehouse_mb": _size_mb(work / "data" / "warehouse.duckdb"),
            "period": period,
            "generate_s": generate_s,
            "stages": stages,
            "end_to_end": (stages["ingest"].seconds + pack.seconds, max(stages["ingest"].peak, pack.peak)),
            "time_ratio": time_ratio,
            "memory_ratio": memory_ratio,
            "with_ingest_s": kit.seconds + stages["ingest"].seconds,
            "max_rel": max_rel,
            "max_rel_where": where,
            "cells": cells,
            "verdicts": verdicts(stages.get("pack, next month (history kept)", pack), time_ratio, memory_ratio),
            "metrics_side_by_side": metrics_side_by_side(stages, kit_file, sql_file),
            "notebooks": notebooks,
            "after_notebooks_s": last.started + last.seconds - max(r["ended"] for r in notebooks),
            "profiles": profiles,
            "ingest_parts": ingest_parts,
            "refresh": refresh,
            "ingest_rounds": ingest_rounds,
        }
        page = render(ctx)
        out = args.out or RESULTS_DIR / f"{dt.datetime.now(dt.UTC):%Y-%m-%d}-scale{args.scale:g}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
        print()
        print(page)
        print(f"wrote {out}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
