"""The panel's history kept across monthly runs: months are recomputed only when their data change.

The scorecard's panel covers 24 months; the next month's run finds 23 of them unchanged.
:func:`compute_with_history` keeps each month's computed rows (the wide aggregates of
:func:`outcomes.metrics.compute.compute_wide`) in a folder, one Parquet file per month named
by its key, and computes only the months whose key has no file. The key of a month is a
hash of everything its figures can depend on, so a stale month can never be served:

* the kit's version, DuckDB's version and the source of the metric definitions
  (``metrics/compute.py``, ``metrics/allocation.py``, ``metrics/catalog/metrics.yaml``);
* what is computed: the metric ids, segment dimensions, requesters and allocation rules;
* the data: for each table with a month (:data:`MONTH_COLUMNS`), the fingerprint (rows
  and a hash sum) of every month up to and including this one, since metrics with a
  look-back (the customer base, churn, the backlog) read earlier months; for every other
  table, its whole fingerprint (a change there recomputes every month).

A row belongs to the month of its column in :data:`MONTH_COLUMNS`; the metrics of a
month read only rows of that month and earlier ones (a ticket resolved in a month was
opened in it or before; a customer counted was signed up by then). Rows referring to
a row of a later month (a ticket raised by a customer whose signup is later, an answer
about a ticket opened later: :data:`REFERENCES`) would break that; when the warehouse
holds any, the table referred to is keyed whole instead, so its every change recomputes
every month.

Month fingerprints are computed with one grouped hash aggregate per table, and are
themselves kept, keyed by the whole-table fingerprints ingest stores
(:func:`outcomes.warehouse.store.fingerprints`): a run on an unchanged warehouse reads
no table row to key its months.

DuckDB only: a Spark source has no fingerprints the kit can trust, and computes the panel
whole. During ``outcomes run`` the folder is named by :data:`HISTORY_DIR_ENV` (beside the
warehouse: ``<warehouse folder>/cache/history``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

import outcomes
from outcomes import cache
from outcomes.metrics import allocation, catalog, compute
from outcomes.metrics.allocation import AllocationRules
from outcomes.periods import Month, MonthLike, Window
from outcomes.warehouse import store
from outcomes.warehouse.datamodel import MONTH_COLUMNS
from outcomes.warehouse.sql import quote

log = logging.getLogger("outcomes.metrics.history")

#: Environment variable naming the history folder (set by ``outcomes run``).
HISTORY_DIR_ENV = "OUTCOMES_HISTORY_DIR"

#: Rows of one table referring to rows of another: (table, column, table referred to, its key).
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("tickets", "requester_id", "customers", "customer_id"),
    ("orders", "customer_id", "customers", "customer_id"),
    ("customer_surveys", "customer_id", "customers", "customer_id"),
    ("ticket_surveys", "ticket_id", "tickets", "ticket_id"),
)

#: Files whose content defines the figures (part of every key).
_DEFINITIONS = (
    Path(compute.__file__),
    Path(allocation.__file__),
    Path(catalog.__file__).with_name("metrics.yaml"),
)


def folder() -> Path | None:
    """The history folder of this run (:data:`HISTORY_DIR_ENV`), or None."""
    value = os.environ.get(HISTORY_DIR_ENV)
    return Path(value) if value else None


def folder_for(engine: str) -> Path | None:
    """The run's history folder when ``engine`` computes through it (DuckDB), else None."""
    return folder() if engine == "duckdb" else None


def _sorted(wide: pd.DataFrame) -> pd.DataFrame:
    """The wide rows by period, dimension and segment (sums over them then never depend on the path)."""
    return wide.sort_values(compute.KEYS, ignore_index=True) if len(wide) else wide


def _digest(doc: Any) -> str:
    text = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_tables(con: ibis.BaseBackend) -> dict[str, dict[str, int | str]]:
    """Whole-table fingerprints of the canonical tables (bookkeeping tables left out)."""
    return {k: v for k, v in store.fingerprints(con).items() if not k.startswith("_")}


def month_fingerprints(con: ibis.BaseBackend, table: str) -> dict[str, str]:
    """Rows and hash sum of each month of ``table`` (by its :data:`MONTH_COLUMNS` column).

    Parameters
    ----------
    con : ibis.BaseBackend
        A DuckDB connection to the warehouse.
    table : str
        A table of :data:`MONTH_COLUMNS`.

    Returns
    -------
    dict
        ``YYYY-MM`` (``none`` for rows without a month) -> ``"<rows>:<hash>"``.
    """
    column = quote(MONTH_COLUMNS[table])
    rows = con.raw_sql(
        f"SELECT coalesce(strftime(date_trunc('month', {column}), '%Y-%m'), 'none'), count(*), "
        f"sum(hash(*COLUMNS(*))::HUGEINT) FROM {quote(table)} GROUP BY ALL"
    ).fetchall()
    return {month: f"{n}:{total}" for month, n, total in rows}


def forward_references(con: ibis.BaseBackend, child: str, column: str, parent: str, key: str) -> int:
    """Rows of ``child`` referring to a row of ``parent`` whose month is later than their own."""
    sql = (
        f"SELECT count(*) FROM {quote(child)} AS c JOIN {quote(parent)} AS p ON c.{quote(column)} = p.{quote(key)} "
        f"WHERE date_trunc('month', p.{quote(MONTH_COLUMNS[parent])}) > date_trunc('month', c.{quote(MONTH_COLUMNS[child])})"
    )
    return int(con.raw_sql(sql).fetchall()[0][0])


def _remembered(root: Path, name: str, parts: Mapping[str, Any], make: Any) -> Any:
    """``make()`` kept in ``root/name-<key>.json`` under a key of ``parts``."""
    path = root / "fingerprints" / f"{name}-{_digest(parts)[:32]}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(json.dumps(value), encoding="utf-8")
    os.replace(staging, path)
    return value


def data_state(con: ibis.BaseBackend, root: Path) -> dict[str, Any]:
    """What every month's key reads from the warehouse: month fingerprints and whole tables.

    Parameters
    ----------
    con : ibis.BaseBackend
        A DuckDB connection to the warehouse.
    root : Path
        The history folder (month fingerprints are kept there, keyed by whole-table fingerprints).

    Returns
    -------
    dict
        ``monthly``: table -> {month -> fingerprint}; ``whole``: table -> fingerprint (a
        table of :data:`MONTH_COLUMNS` without its month column is keyed whole).
    """
    tables = _data_tables(con)
    engine = {"duckdb": _duckdb_version(con), "kit": outcomes.__version__}
    demoted = set()
    for child, column, parent, key in REFERENCES:
        if child in tables and parent in tables:
            parts = {**engine, "check": [child, column, parent, key], child: tables[child], parent: tables[parent]}
            if _remembered(root, f"references-{child}-{parent}", parts, lambda c=child, col=column, p=parent, k=key: forward_references(con, c, col, p, k)):
                demoted.add(parent)
    dated = {
        t
        for t, c in con.raw_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = 'main'"
        ).fetchall()
        if MONTH_COLUMNS.get(t) == c
    }
    monthly = {
        t: _remembered(root, f"months-{t}", {**engine, "table": t, "fingerprint": tables[t]}, lambda t=t: month_fingerprints(con, t))
        for t in sorted(tables)
        if t in dated and t not in demoted
    }
    return {"monthly": monthly, "whole": {t: v for t, v in tables.items() if t not in monthly}}


def _duckdb_version(con: ibis.BaseBackend) -> str:
    return str(con.raw_sql("SELECT version()").fetchall()[0][0])


def month_keys(
    window: Window, state: Mapping[str, Any], *, metrics: Sequence[str], dims: Sequence[str], requester: str, rules: AllocationRules
) -> dict[Month, str]:
    """The key of every month of ``window`` (see the module's description).

    Parameters
    ----------
    window : Window
        The months.
    state : mapping
        :func:`data_state` of the warehouse.
    metrics, dims, requester, rules
        What is computed (as in :func:`outcomes.metrics.compute.compute`).

    Returns
    -------
    dict
        Month -> 64 hexadecimal digits.
    """
    common = {
        "kit": outcomes.__version__,
        "definitions": [hashlib.sha256(p.read_bytes()).hexdigest() for p in _DEFINITIONS],
        "metrics": list(metrics),
        "dims": list(dims),
        "requester": requester,
        "rules": rules.model_dump(mode="json"),
        "whole": state["whole"],
    }
    keys = {}
    for month in window:
        upto = str(month)
        reads = {t: {m: fp for m, fp in months.items() if m == "none" or m <= upto} for t, months in state["monthly"].items()}
        keys[month] = _digest({**common, "month": upto, "reads": reads})
    return keys


def compute_with_history(
    con: ibis.BaseBackend,
    root: str | Path,
    *,
    start: MonthLike,
    end: MonthLike,
    dims: Sequence[str] = ("all",),
    metrics: Sequence[str] | None = None,
    requester: compute.Requester = "all",
    min_customers: int = 10,
    allocation_rules: AllocationRules | None = None,
) -> pd.DataFrame:
    """:func:`outcomes.metrics.compute.compute`, reading unchanged months from ``root``
    (:func:`wide_with_history`); the result equals it with the same arguments.

    Parameters
    ----------
    con : ibis.BaseBackend
        A DuckDB connection to the warehouse.
    root : str or Path
        The history folder (created when missing).
    start, end, dims, metrics, requester, min_customers, allocation_rules
        As in :func:`outcomes.metrics.compute.compute`.

    Returns
    -------
    pandas.DataFrame
        The tidy panel.
    """
    compute.check_arguments(dims, requester, min_customers)
    metric_ids = list(catalog.ids() if metrics is None else metrics)
    rules = allocation_rules if allocation_rules is not None else allocation.load_rules()
    scope = compute.Scope(Window(start, end), tuple(dict.fromkeys(dims)), requester, rules)
    return compute._to_tidy(wide_with_history(con, root, metric_ids, scope), metric_ids, scope, min_customers)


def wide_with_history(con: ibis.BaseBackend, root: str | Path, metric_ids: Sequence[str], scope: compute.Scope) -> pd.DataFrame:
    """:func:`outcomes.metrics.compute.compute_wide`, reading unchanged months from ``root``.

    The months whose key has no file in ``root`` are computed (in one window from the
    first to the last of them) and written there; the others are read.

    Parameters
    ----------
    con : ibis.BaseBackend
        A DuckDB connection to the warehouse.
    root : str or Path
        The history folder (created when missing).
    metric_ids : sequence of str
        Catalog metric ids.
    scope : Scope
        The months, dimensions, requesters and allocation rules.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`~outcomes.metrics.compute.compute_wide`, sorted by period,
        dimension and segment.
    """
    root = Path(root)
    keys = month_keys(
        scope.window, data_state(con, root), metrics=metric_ids, dims=scope.dims, requester=scope.requester, rules=scope.allocation
    )
    files = {m: root / "panel" / f"{m}-{k[:32]}.parquet" for m, k in keys.items()}
    stale = [m for m, path in files.items() if not path.is_file()]
    parts: list[pd.DataFrame] = []
    if stale:
        fresh = compute.compute_wide(con, metric_ids, replace(scope, window=Window(stale[0], stale[-1])))
        periods = pd.to_datetime(fresh["period"]) if len(fresh) else pd.Series(dtype="datetime64[ns]")
        for month in Window(stale[0], stale[-1]):
            rows = fresh[(periods == pd.Timestamp(month.start)).to_numpy()].reset_index(drop=True)
            _write(files[month], rows)
        parts.append(fresh)
        log.info("panel history: %d of %d months computed (%s to %s)", len(stale), len(files), stale[0], stale[-1])
    computed = set(Window(stale[0], stale[-1])) if stale else set()
    parts.extend(cache.FRAME.read(path) for m, path in files.items() if m not in computed)
    wide = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    return _sorted(wide)


def run_wide(con: ibis.BaseBackend, metric_ids: Sequence[str], scope: compute.Scope) -> pd.DataFrame:
    """:func:`outcomes.metrics.compute.compute_wide` as a report run computes it: through the
    run's history folder (:func:`folder`) on DuckDB, whole otherwise; sorted by period,
    dimension and segment either way, so that sums over its rows do not depend on the path.
    """
    root = folder_for(con.name)
    return wide_with_history(con, root, metric_ids, scope) if root is not None else _sorted(compute.compute_wide(con, metric_ids, scope))


def _write(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    cache.FRAME.write(staging, frame)
    os.replace(staging, path)


__all__ = [
    "HISTORY_DIR_ENV",
    "MONTH_COLUMNS",
    "REFERENCES",
    "compute_with_history",
    "run_wide",
    "wide_with_history",
    "data_state",
    "folder",
    "folder_for",
    "forward_references",
    "month_fingerprints",
    "month_keys",
]
