"""The run's read snapshot: one copy of the warehouse that every part of a run reads.

A run copies the DuckDB warehouse into its private work folder before any notebook
starts, holding the ingest's lock (:mod:`outcomes.warehouse.lock`) so an ingest cannot
swap a new file in half-way through the copy. Every notebook, the personal-data scan and
the manifest's fingerprints then read the copy, so an ingest during the run changes
nothing the run reports. The copy is deleted with the work folder; it is never published.

On Spark with a local Parquet export (``spark.data.parquet`` in ``params/engine.yaml``), the
run's kernels get engine settings whose export folder lies in the work folder too
(:func:`private_spark_settings`): the first notebook that connects exports the copy there,
and no other process (``outcomes export-parquet``, a notebook opened by hand) can replace
that folder under the run's queries. Spark reading a catalog database or a remote Parquet
folder reads those tables as they are when each query runs; the kit cannot copy them.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from outcomes.warehouse import lock as warehouse_lock
from outcomes.warehouse.spark_backend import load_settings

log = logging.getLogger("outcomes.run.monthly")

#: DuckDB's write-ahead log beside a file that was not checkpointed; copied with it.
WAL_SUFFIX = ".wal"


@dataclass(frozen=True)
class Snapshot:
    """A copy of the warehouse taken for one run.

    Parameters
    ----------
    source : Path
        The user's warehouse.
    path : Path
        The copy the run reads.
    bytes : int
        Size of the copy (with its write-ahead log, if any).
    seconds : float
        Time taken, waiting for the lock included.
    """

    source: Path
    path: Path
    bytes: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """For ``manifest.json``: the copy's size and how long it took."""
        return {"bytes": self.bytes, "seconds": self.seconds}


def take(warehouse: Path, folder: Path) -> Snapshot:
    """Copy ``warehouse`` into ``folder`` under the warehouse's lock.

    Parameters
    ----------
    warehouse : Path
        The DuckDB file (must exist).
    folder : Path
        The run's private work folder (created when missing).

    Returns
    -------
    Snapshot
    """
    clock = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / warehouse.name
    with warehouse_lock.exclusive(warehouse):
        shutil.copy2(warehouse, target)
        wal = warehouse.with_name(warehouse.name + WAL_SUFFIX)
        if wal.is_file():
            shutil.copy2(wal, target.with_name(target.name + WAL_SUFFIX))
    size = sum(p.stat().st_size for p in (target, target.with_name(target.name + WAL_SUFFIX)) if p.is_file())
    seconds = round(time.monotonic() - clock, 2)
    log.info("read snapshot of %s: %.1f MB copied in %.2f s to %s", warehouse, size / 1e6, seconds, target)
    return Snapshot(warehouse, target, size, seconds)


def private_spark_settings(engine_settings: Path, folder: Path) -> Path | None:
    """Engine settings for the run's kernels whose Spark Parquet export lies in ``folder``.

    Parameters
    ----------
    engine_settings : Path
        The run's engine settings file (``params/engine.yaml``).
    folder : Path
        The run's private work folder.

    Returns
    -------
    Path or None
        ``<folder>/engine.yaml``, the same settings with ``spark.data.parquet`` set to
        ``<folder>/parquet``; None when Spark reads a catalog database or a remote folder
        (nothing the run can export privately).
    """
    settings = load_settings(engine_settings)
    data = settings.spark.data
    if data.parquet is None or data.is_remote:
        return None
    private = settings.model_copy(update={"spark": settings.spark.model_copy(update={"data": data.model_copy(update={"parquet": str(folder / "parquet")})})})
    path = folder / "engine.yaml"
    path.write_text(yaml.safe_dump(private.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    load_settings(path)  # the copy must read back as valid settings
    return path
