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
* panels are stored as Parquet, initiative results as JSON; beside each artefact a
  ``.record.json`` says what it is, on which backend it was computed, by which notebook
  and in how many seconds (:func:`inventory`, listed in the run's ``manifest.json``).

A stale artefact is never read: the warehouse's stamp (the DuckDB file's path, size and
modification time; on Spark, the same stamp of the file the Parquet export is refreshed
from) is part of every key, so a warehouse rebuilt during the run gives new keys and a
new computation. A source without such a stamp (Spark reading a catalog database or a
remote Parquet folder) is never shared. Without the variable (a notebook opened in
JupyterLab, nbval, a script) every function computes what it needs itself, as before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pandas as pd

import outcomes
from outcomes import config
from outcomes.periods import Month

if TYPE_CHECKING:
    import ibis

    from outcomes.experiment.results import InitiativeResult
    from outcomes.report.review import Review
    from outcomes.experiment.spec import InitiativeSpec

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
        if t == object
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


def result_to_dict(result: InitiativeResult) -> dict[str, Any]:
    """Every field of an initiative result, nested dataclasses as dicts (NaN kept)."""
    return dataclasses.asdict(result)


def result_from_dict(doc: Mapping[str, Any]) -> InitiativeResult:
    """Rebuild an :class:`~outcomes.experiment.results.InitiativeResult` from :func:`result_to_dict`."""
    from outcomes.experiment.results import Condition, Decision, InitiativeResult, MetricEffect, SegmentSplit

    def conditions(rows: Any) -> tuple[Condition, ...]:
        return tuple(Condition(**c) for c in rows)

    def effects(rows: Any) -> tuple[MetricEffect, ...]:
        return tuple(MetricEffect(**{**e, "conditions": conditions(e["conditions"])}) for e in rows)

    decision = dict(doc["decision"])
    return InitiativeResult(
        **{
            **doc,
            "effects": effects(doc["effects"]),
            "segment_effects": effects(doc["segment_effects"]),
            "decision": Decision(**{**decision, "codes": tuple(decision["codes"])}),
            "conditions": conditions(doc["conditions"]),
            "notes": tuple(doc["notes"]),
            "segment_splits": tuple(SegmentSplit(**x) for x in doc.get("segment_splits", ())),
        }
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store a value of type {type(value).__name__} ({value!r})")


def _write_result(path: Path, result: InitiativeResult) -> None:
    path.write_text(json.dumps(result_to_dict(result), default=_json_default), encoding="utf-8")


def _read_result(path: Path) -> InitiativeResult:
    return result_from_dict(json.loads(path.read_text(encoding="utf-8")))


#: Initiative results, as JSON (NaN and infinity written as such, so they round-trip).
RESULT: Codec[InitiativeResult] = Codec(".json", _write_result, _read_result)


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
    from outcomes.report.results import RESULTS_PATH_ENV

    path = os.environ.get(RESULTS_PATH_ENV)
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
        The warehouse's stamp (:func:`outcomes.warehouse.store.source_stamp`); None when the
        source cannot be stamped, and then nothing is shared.
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


# --------------------------------------------------------------------------- what is shared


def frame(
    build: Callable[..., pd.DataFrame],
    con: ibis.BaseBackend | None = None,
    *,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    **arguments: Any,
) -> pd.DataFrame:
    """``build(con, **arguments)``, computed once per report run and shared.

    Parameters
    ----------
    build : callable
        A function of a warehouse connection and keyword arguments returning a frame
        (:func:`outcomes.metrics.panel.build_panel`, :func:`outcomes.scorecard.drivers.drivers_panel`).
    con : ibis.BaseBackend, optional
        An open connection to that warehouse on that engine, used when the frame must be
        computed; one is opened then when not given.
    engine : {"duckdb", "spark"}
        The engine computing it.
    warehouse_path : str or Path, optional
        The DuckDB file; default :data:`outcomes.config.WAREHOUSE_PATH`.
    **arguments
        Passed to ``build``. The key holds every argument of ``build`` with its default
        filled in, and months (``start``, ``end``) as ``YYYY-MM``, so equivalent calls
        share one frame.

    Returns
    -------
    pandas.DataFrame
    """
    from outcomes.warehouse import store as warehouse

    bound = inspect.signature(build).bind(None, **arguments)
    bound.apply_defaults()
    parts = dict(list(bound.arguments.items())[1:])  # every argument but the connection
    for name in ("start", "end"):
        if name in parts:
            parts[name] = str(Month.parse(parts[name]))
    parts = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in parts.items()}
    parts.update(builder=f"{build.__module__}.{build.__qualname__}", engine=engine)

    def compute() -> tuple[pd.DataFrame, str]:
        c = con if con is not None else warehouse.connect(warehouse_path, engine=engine)  # type: ignore[arg-type]
        return build(c, **arguments), c.name

    describe = f"{build.__name__}({', '.join(f'{k}={v}' for k, v in arguments.items())})"
    return get_or_compute(
        "panel", parts, compute, FRAME, source=warehouse.source_stamp(engine, warehouse_path), describe=describe
    )


def _backend(con: ibis.BaseBackend | None, engine: str) -> str:
    """The ibis backend name of ``con``, or of the connection ``engine`` opens."""
    return con.name if con is not None else {"spark": "pyspark"}.get(engine, engine)


def _review_parts(spec: InitiativeSpec, period: str | None, engine: str) -> dict[str, Any]:
    parts: dict[str, Any] = {"spec": spec.model_dump(mode="json"), "period": period, "engine": engine}
    if spec.data.table:  # the review reads this file: its state is part of the key
        table = config.resolve(spec.data.table)
        st = table.stat() if table.is_file() else None
        parts["table"] = {"path": str(table), "size": st and st.st_size, "mtime_ns": st and st.st_mtime_ns}
    return parts


def review(
    initiative: str | Path | InitiativeSpec,
    *,
    period: str | None = None,
    engine: str = "duckdb",
    con: ibis.BaseBackend | None = None,
) -> Review:
    """Review an initiative (:func:`outcomes.report.review.review`) and share its result.

    The review's charts need the whole :class:`~outcomes.report.review.Review`, so
    it is always computed; its :class:`~outcomes.experiment.results.InitiativeResult` is
    then stored for :func:`review_result` (what the ROI page needs), unless another
    notebook of the run stored it first: then the review carries the stored result, so
    every page renders the same figures.

    Parameters
    ----------
    initiative : str, Path or InitiativeSpec
        A params file, an initiative id, or a spec.
    period : str, optional
        ``YYYY-MM``: data up to the end of this month.
    engine : {"duckdb", "spark"}
        The engine of the warehouse.
    con : ibis.BaseBackend, optional
        An open connection to the warehouse on that engine.

    Returns
    -------
    Review
    """
    from outcomes.warehouse import store as warehouse
    from outcomes.report.review import load_spec
    from outcomes.report.review import review as run_review

    spec = load_spec(initiative, con)
    made: list[Review] = []

    def compute() -> tuple[InitiativeResult, str]:
        made.append(run_review(spec, period=period, con=con, engine=engine))
        return made[0].result, _backend(con, engine)

    stored = get_or_compute(
        "review", _review_parts(spec, period, engine), compute, RESULT,
        source=warehouse.source_stamp(engine), describe=f"{spec.id} up to {period or 'the end of the data'}",
    )
    if made:
        return made[0]
    # the charts need the whole review; its figures are the stored result the other pages read
    return dataclasses.replace(run_review(spec, period=period, con=con, engine=engine), result=stored)


def review_result(
    initiative: str | Path | InitiativeSpec,
    *,
    period: str | None = None,
    engine: str = "duckdb",
    con: ibis.BaseBackend | None = None,
) -> InitiativeResult:
    """An initiative's result, read from the run's shared folder when a review stored it.

    Parameters are those of :func:`review`.

    Returns
    -------
    InitiativeResult
    """
    from outcomes.warehouse import store as warehouse
    from outcomes.report.review import load_spec
    from outcomes.report.review import review as run_review

    spec = load_spec(initiative, con)

    def compute() -> tuple[InitiativeResult, str]:
        return run_review(spec, period=period, con=con, engine=engine).result, _backend(con, engine)

    return get_or_compute(
        "review", _review_parts(spec, period, engine), compute, RESULT,
        source=warehouse.source_stamp(engine), describe=f"{spec.id} up to {period or 'the end of the data'}",
    )


__all__ = [
    "FRAME",
    "RESULT",
    "SHARED_DIR_ENV",
    "Codec",
    "folder",
    "frame",
    "get_or_compute",
    "inventory",
    "key",
    "result_from_dict",
    "result_to_dict",
    "review",
    "review_result",
]
