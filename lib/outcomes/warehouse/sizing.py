"""DuckDB memory chosen from the machine, for connections that run side by side.

A report run executes several notebooks at once, each in its own kernel with its own
DuckDB connection. Left to DuckDB's defaults every connection may take 80 % of the
machine's memory, so two kernels together can ask for more than the machine has. When
``params/engine.yaml`` leaves ``duckdb.memory_limit`` empty, the run computes a share per
kernel (:func:`derive`) and hands it to each kernel in the environment variable
:data:`DUCKDB_SHARE_ENV`;
:func:`outcomes.warehouse.store.connect` applies it (:func:`effective`). A value written
in ``params/engine.yaml`` always wins.

The share: DuckDB connections of the run together get :data:`MEMORY_SHARE` of the
machine's memory (never more than half of what is available when the run starts),
divided by the kernels running at once, kept between :data:`MEMORY_FLOOR` and
:data:`MEMORY_CEILING`. Threads are left to DuckDB (one per core): the run's notebooks
do not all query at once, and a kernel that runs alone, as the last ones of a run do,
would leave cores idle with a share of them. DuckDB spills to disk beyond its limit, and
the pack's notebooks keep only aggregates,
so a small limit costs little time while leaving memory to the kernels' Python and to
the operating system's file cache, which serves the warehouse's pages to every kernel.

Ingest
------
DuckDB's own default ``memory_limit`` is 80% of the machine's memory. An ingest of
the demo company at scale 100 (10 million tickets) then grew to 12.8 GB resident on a
24 GB machine, though it streams through the exports and never needs them all in
memory at once: DuckDB keeps what it may keep. With a limit it spills the few steps
that need more (sorting the rows into file order, the duplicate-key window) to its
temporary folder next to the warehouse, and the time barely changes.

:func:`ingest_memory_limit` picks the limit from the machine: a quarter of the memory
available when ingest starts, 256 MB per core at least, and never more than
:data:`MAX_INGEST_MEMORY` (the ingest's own Python memory comes on top, about 0.3 GB).
``duckdb.memory_limit`` in ``params/engine.yaml`` overrides it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import psutil

#: Environment variable carrying the per-kernel share (JSON: ``memory_limit``).
DUCKDB_SHARE_ENV = "OUTCOMES_DUCKDB_SHARE"

#: Fraction of the machine's memory the DuckDB connections of one run share.
MEMORY_SHARE = 0.05
#: Smallest and largest ``memory_limit`` given to one connection, in bytes.
MEMORY_FLOOR = 256 * 2**20
MEMORY_CEILING = 8 * 2**30


def derive(parallel: int, *, total_bytes: int | None = None, available_bytes: int | None = None) -> dict[str, Any]:
    """The DuckDB memory of one of ``parallel`` connections running at once on this machine.

    Parameters
    ----------
    parallel : int
        Connections (notebook kernels) running at the same time, at least 1.
    total_bytes, available_bytes : int, optional
        The machine's memory and what is free now; default from ``psutil.virtual_memory()``.

    Returns
    -------
    dict
        ``memory_limit`` (a DuckDB size in MB, e.g. ``"602MB"``).

    Raises
    ------
    ValueError
        When ``parallel`` is below 1.

    Examples
    --------
    >>> derive(2, total_bytes=24 * 2**30, available_bytes=20 * 2**30)
    {'memory_limit': '614MB'}
    """
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1 (the kernels running at once), got {parallel}")
    if total_bytes is None or available_bytes is None:
        memory = psutil.virtual_memory()
        total_bytes = memory.total if total_bytes is None else total_bytes
        available_bytes = memory.available if available_bytes is None else available_bytes
    budget = min(total_bytes * MEMORY_SHARE, available_bytes / 2)
    per_connection = min(MEMORY_CEILING, max(MEMORY_FLOOR, budget / parallel))
    return {"memory_limit": f"{int(per_connection // 2**20)}MB"}


def share_env(parallel: int) -> dict[str, str]:
    """The environment giving a kernel its share of :func:`derive` (:data:`DUCKDB_SHARE_ENV`)."""
    return {DUCKDB_SHARE_ENV: json.dumps(derive(parallel))}


def effective(configured: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings a connection applies: those configured, the run's share for the others.

    Parameters
    ----------
    configured : mapping
        The settings written in ``params/engine.yaml`` (``DuckDBSettings.config()``:
        only those given).
    environ : mapping, optional
        Where :data:`DUCKDB_SHARE_ENV` is read; default ``os.environ``.

    Returns
    -------
    dict
        ``memory_limit`` and ``threads`` where known; DuckDB's defaults apply to the rest.
    """
    value = (os.environ if environ is None else environ).get(DUCKDB_SHARE_ENV)
    share = json.loads(value) if value else {}
    return {**{k: v for k, v in share.items() if k in ("memory_limit", "threads")}, **configured}


#: The largest memory limit chosen for an ingest: enough for every step to run in memory
#: at scale 100, and under 2 GB of resident memory with the Python process around it.
MAX_INGEST_MEMORY = 1 << 30
#: The smallest memory limit per core (each DuckDB thread needs its own buffers).
MIN_INGEST_MEMORY_PER_CORE = 256 << 20


def ingest_memory_limit(available: int | None = None, cores: int | None = None) -> str:
    """DuckDB's ``memory_limit`` for an ingest, chosen from the machine (in MB, as DuckDB reads it).

    Parameters
    ----------
    available : int, optional
        Bytes of memory available; default what the machine has available now
        (``psutil.virtual_memory().available``).
    cores : int, optional
        Cores DuckDB runs on; default the machine's (``os.cpu_count()``).

    Returns
    -------
    str
        For example ``1024MB``: a quarter of ``available``, at least 256 MB per core, at
        most :data:`MAX_INGEST_MEMORY`.

    Examples
    --------
    >>> ingest_memory_limit(available=24 << 30, cores=2)
    '1024MB'
    >>> ingest_memory_limit(available=2 << 30, cores=2)
    '512MB'
    """
    available = psutil.virtual_memory().available if available is None else available
    cores = (os.cpu_count() or 1) if cores is None else cores
    floor = MIN_INGEST_MEMORY_PER_CORE * cores
    chosen = max(floor, min(available // 4, MAX_INGEST_MEMORY))
    return f"{chosen >> 20}MB"


__all__ = [
    "DUCKDB_SHARE_ENV",
    "MAX_INGEST_MEMORY",
    "MEMORY_CEILING",
    "MEMORY_FLOOR",
    "MEMORY_SHARE",
    "MIN_INGEST_MEMORY_PER_CORE",
    "derive",
    "effective",
    "ingest_memory_limit",
    "share_env",
]
