"""Artefacts shared by the notebooks of one report run: computed once, read by the others.

Several notebooks of the monthly pack need the same expensive pieces: the scorecard and
the ROI page fit the drivers model on the same region x month panel, and the ROI page
needs every initiative's review, which ``02_initiative_review`` has just made. During
``outcomes run`` they are computed once and shared:

* the run gives every kernel the environment variable :data:`SHARED_DIR_ENV`, a folder
  inside the run's build folder (deleted with it once the month is published);
* :func:`get_or_compute` stores each artefact there under a key: a hash of what it is
  computed from (the function and all its arguments, the engine, the warehouse's stamp
  and the kit version); the first notebook that needs it computes it while holding a lock
  on the key, so a notebook needing it meanwhile waits and then reads it;
* each kind of artefact is stored with its :class:`Codec` (data frames as Parquet:
  :data:`FRAME`; initiative results as JSON, beside them in
  :mod:`outcomes.experiment.results`; a whole review, with its charts' data, pickled:
  :data:`OBJECT`, which only ever reads what the run's own kernels wrote); beside each artefact a
  ``.record.json`` says what it is, on which backend it was computed, by which notebook
  and in how many seconds (:func:`inventory`, listed in the run's ``manifest.json``).

A stale artefact is never read: the warehouse's stamp (the DuckDB file's path, size and
modification time; on Spark, the same stamp of the file the Parquet export is refreshed
from) is part of every key, so a warehouse rebuilt during the run gives new keys and a
new computation. A source without such a stamp (Spark reading a catalog database or a
remote Parquet folder) is never shared. Without the variable (a notebook opened in
JupyterLab, nbval, a script) every function computes what it needs itself, as before.

This module knows nothing of what it stores: the callers (:func:`outcomes.metrics.panel.shared_frame`,
:func:`outcomes.report.review.shared_review`) name the kind, the key's parts, the
computation and the codec.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import math
import os
import pickle
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

import outcomes
from outcomes import config

log = logging.getLogger("outcomes.cache")

#: Environment variable naming the run's shared folder (set by ``outcomes run``).
SHARED_DIR_ENV = "OUTCOMES_SHARED_DIR"

T = TypeVar("T")


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How one kind of artefact is written to and read from a file.

    Parameters
    ----------
    suffix : str
        File suffix (``.parquet``, ``.json``).
    write : callable
        ``write(path, value)``.
    read : callable
        ``read(path) -> value``.
    """

    suffix: str
    write: Callable[[Path, T], None]
    read: Callable[[Path], T]


_DTYPES = b"outcomes.dtypes"


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    nones = {
        str(c): [int(i) for i in range(len(frame)) if frame[c].iat[i] is None]
        for c, t in frame.dtypes.items()
        if t == object  # noqa: E721 - a numpy dtype equals `object` without being it
    }
    meta = {"dtypes": {str(c): str(t) for c, t in frame.dtypes.items()}, "nones": nones}
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), _DTYPES: json.dumps(meta)}), path)


def _read_frame(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[_DTYPES])
    # pandas reads text back as its string type: a column of Python objects (text with
    # None or NaN for missing) gets its type and its own missing values back, so the frame
    # equals the one computed.
    frame = table.to_pandas().astype(meta["dtypes"])
    for column, rows in meta["nones"].items():
        values = frame[column].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = math.nan
        values[rows] = None
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame


#: Data frames, as Parquet, with the pandas column types they were computed with.
FRAME: Codec[pd.DataFrame] = Codec(".parquet", _write_frame, _read_frame)


def _write_object(path: Path, value: Any) -> None:
    path.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _read_object(path: Path) -> Any:
    return pickle.loads(path.read_bytes())  # noqa: S301 - written by this run's own kernels, in its own folder


#: Objects the kit computed (a whole review with its charts' data), pickled. Only for the
#: run's own shared folder: written and read by the run's kernels, removed with the run's
#: work folder, never published.
OBJECT: Codec[Any] = Codec(".pickle", _write_object, _read_object)


# --------------------------------------------------------------------------- the store


def folder() -> Path | None:
    """The run's shared folder (:data:`SHARED_DIR_ENV`), or None outside a report run."""
    value = os.environ.get(SHARED_DIR_ENV)
    return Path(value) if value else None


def key(kind: str, parts: Mapping[str, Any]) -> str:
    """The artefact's key: a SHA-256 of its kind, its parts and the kit version.

    Parameters
    ----------
    kind : str
        What the artefact is (``panel``, ``review``).
    parts : mapping
        Everything it is computed from: arguments, engine, the warehouse's stamp. Values
        must be JSON values (dates and paths are written as text).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    doc = {"kind": kind, "kit": outcomes.__version__, "parts": parts}
    text = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _computed_by() -> str | None:
    """The notebook computing (its results file's stem during a run), for the inventory."""
    path = os.environ.get(config.RESULTS_PATH_ENV)
    return Path(path).stem if path else None


def get_or_compute(
    kind: str,
    parts: Mapping[str, Any],
    compute: Callable[[], tuple[T, str]],
    codec: Codec[T],
    *,
    source: Mapping[str, Any] | None,
    describe: str = "",
) -> T:
    """Read an artefact from the run's shared folder, or compute and store it there.

    Parameters
    ----------
    kind : str
        What the artefact is; the file name starts with it.
    parts : mapping
        The arguments it is computed from (part of the key).
    compute : callable
        Computes it; returns the value and the name of the backend that did the work
        (``duckdb``, ``pyspark``), which the inventory records.
    codec : Codec
        How it is stored.
    source : mapping or None
        The stamp of the data it is computed from (e.g.
        :func:`outcomes.warehouse.store.source_stamp`); None when the data cannot be
        stamped, and then nothing is shared.
    describe : str
        A few words for the run log.

    Returns
    -------
    object
        The value: read when a notebook of this run already computed it with the same
        key, computed otherwise.
    """
    root = folder()
    if root is None or source is None:
        return compute()[0]
    root.mkdir(parents=True, exist_ok=True)
    digest = key(kind, {**parts, "source": dict(source)})
    path = root / f"{kind}-{digest[:24]}{codec.suffix}"
    with _locked(root / f".{path.name}.lock"):
        if path.is_file():
            log.info("%s %s: read from the run's shared artefacts (%s)", kind, describe, path.name)
            return codec.read(path)
        started = time.perf_counter()
        value, backend = compute()
        seconds = round(time.perf_counter() - started, 3)
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        codec.write(staging, value)
        os.replace(staging, path)
        record = {
            "file": path.name,
            "kind": kind,
            "describe": describe,
            "backend": backend,
            "engine": parts.get("engine"),
            "computed_by": _computed_by(),
            "seconds": seconds,
            "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "key": digest,
        }
        path.with_name(f"{path.name}.record.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        log.info("%s %s: computed on %s in %.2f s and shared (%s)", kind, describe, backend, seconds, path.name)
        return value


def inventory(root: Path) -> list[dict[str, Any]]:
    """What a run's shared folder holds: one record per artefact (see :func:`get_or_compute`).

    Parameters
    ----------
    root : Path
        The shared folder; a missing folder holds nothing.

    Returns
    -------
    list of dict
        ``file, kind, describe, backend, engine, computed_by, seconds, computed_at, key``,
        in file-name order.
    """
    if not root.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*.record.json"))]


__all__ = [
    "FRAME",
    "OBJECT",
    "SHARED_DIR_ENV",
    "Codec",
    "folder",
    "get_or_compute",
    "inventory",
    "key",
]
