"""How much of the machine an ingest lets DuckDB use, when ``params/engine.yaml`` does not say.

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

import os

import psutil

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


__all__ = ["MAX_INGEST_MEMORY", "MIN_INGEST_MEMORY_PER_CORE", "ingest_memory_limit"]
