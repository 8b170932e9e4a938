"""Machine-readable results: recorded by notebooks, merged by the run into ``results.json``.

A report notebook calls :func:`record` (or ``report.record``) with a section name and
its rows. During a run, ``outcomes run`` starts each notebook's kernel with the
environment variable :data:`RESULTS_PATH_ENV` pointing at a per-notebook file, and
:data:`RESULTS_DIR_ENV` at the folder of every notebook's file; the run then merges
the files with :func:`merge` and writes ``results.json`` after validating it against
``lib/outcomes/report/results_schema.json`` (documented in ``docs/results-schema.md``).

Outside a run (a notebook opened in JupyterLab, or nbval) the recorded sections are kept
in memory, so the same notebook runs unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from outcomes.config import RESULTS_DIR_ENV, RESULTS_PATH_ENV
from outcomes.errors import ReportRunError

SCHEMA_PATH = Path(__file__).resolve().parent / "results_schema.json"

#: Sections filled by the run itself rather than by notebooks.
RUN_KEYS = ("period", "generated_at")

_memory: dict[str, list[Any]] = {}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (``lib/outcomes/report/results_schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def sections() -> list[str]:
    """The section names notebooks may record (every list-valued key of the schema)."""
    return [k for k in schema()["properties"] if k not in RUN_KEYS]


def to_jsonable(value: Any) -> Any:
    """Convert results objects to plain JSON values.

    pandas frames become lists of row dicts, dataclasses and pydantic models become
    dicts, numpy scalars become Python numbers, dates become ISO strings, and NaN or
    infinite numbers become ``None`` (JSON has no NaN).

    Parameters
    ----------
    value : Any
        A frame, a series, a dataclass, a pydantic model, a mapping, a sequence or a scalar.

    Returns
    -------
    Any
        The same content made of dict, list, str, int, float, bool and None.
    """
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # pandas DataFrame
        return to_jsonable(value.to_dict(orient="records"))
    if hasattr(value, "model_dump"):  # pydantic model
        return to_jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return None if value != value else value.isoformat()  # pandas NaT is a datetime unequal to itself
    if hasattr(value, "tolist") and not isinstance(value, (int, float)):  # numpy arrays, pandas Series
        return to_jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # numpy and pandas scalars
        return to_jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, Iterable):
        return [to_jsonable(v) for v in value]
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError, ImportError):
        pass
    raise TypeError(f"cannot record a value of type {type(value).__name__} ({value!r}); pass numbers, strings, frames or dicts")


def _item_schema(section: str) -> dict[str, Any]:
    full = schema()
    items = dict(full["properties"][section]["items"])
    return {"$defs": full["$defs"], **items}


def _error_text(err: jsonschema.ValidationError, where: str) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
    msg = err.message
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        msg += f"; valid fields are: {', '.join(allowed)}"
    return f"{where}{'.' + path if path else ''}: {msg}"


def check_rows(section: str, rows: list[Any], where: str = "results") -> None:
    """Validate the rows of one section against the schema.

    Parameters
    ----------
    section : str
        A section name (see :func:`sections`).
    rows : list
        Its rows, already converted with :func:`to_jsonable`.
    where : str
        Named in the error message.

    Raises
    ------
    ReportRunError
        Naming the section, the row, the field and the rule broken.
    """
    if section not in sections():
        raise ReportRunError(f"{where}: unknown results section '{section}'; valid sections are: {', '.join(sections())}")
    validator = jsonschema.Draft202012Validator(_item_schema(section))
    errors = []
    for i, row in enumerate(rows):
        for err in validator.iter_errors(row):
            errors.append(_error_text(err, f"{where}.{section}[{i}]"))
    if errors:
        raise ReportRunError("results do not match lib/outcomes/report/results_schema.json:\n" + "\n".join(errors[:20]))


def record(section: str, data: Any) -> None:
    """Record machine-readable results of the running notebook.

    Parameters
    ----------
    section : str
        One of :func:`sections`: ``headlines`` (a list of sentences), ``scorecard``,
        ``initiatives``, ``roi`` or ``findings`` (rows with the fields of
        ``docs/results-schema.md``).
    data : Any
        A frame, a list of rows (dicts, dataclasses, pydantic models), one row, or for
        ``headlines`` a sentence or a list of sentences. Rows add to what the notebook
        recorded before in the same section.

    Raises
    ------
    ReportRunError
        When the section is unknown or a row does not match the schema (the message
        names the row, the field and the valid fields).
    """
    rows = to_jsonable(data)
    if not isinstance(rows, list):
        rows = [rows]
    check_rows(section, rows, where="record")
    path = os.environ.get(RESULTS_PATH_ENV)
    if not path:
        _memory.setdefault(section, []).extend(rows)
        return
    target = Path(path)
    current = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else {}
    current.setdefault(section, []).extend(rows)
    write_json(target, current)


def recorded() -> dict[str, list[Any]]:
    """The sections recorded so far by the running notebook (or this process)."""
    path = os.environ.get(RESULTS_PATH_ENV)
    if path and Path(path).is_file():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return {k: list(v) for k, v in _memory.items()}


def collected() -> dict[str, list[Any]]:
    """Every section recorded so far by the notebooks of the current run, merged.

    The executive summary, which runs after the other notebooks (``after:`` in
    ``params/monthly.yaml``), reads their results with this. Outside a run it returns
    what this process recorded.

    Returns
    -------
    dict
        Section name -> rows, as :func:`merge` combines them.
    """
    folder = os.environ.get(RESULTS_DIR_ENV)
    if not folder:
        return recorded()
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(folder).glob("*.json"))]
    return merge(parts)


def merge(parts: Iterable[Mapping[str, list[Any]]]) -> dict[str, list[Any]]:
    """Merge per-notebook results: rows of the same section are concatenated in order.

    Parameters
    ----------
    parts : iterable of mapping
        Per-notebook results, section -> rows.

    Returns
    -------
    dict
        Every section of the schema (empty when nobody recorded it) -> rows.
    """
    out: dict[str, list[Any]] = {name: [] for name in sections()}
    for part in parts:
        for name, rows in part.items():
            if name not in out:
                raise ReportRunError(f"unknown results section '{name}'; valid sections are: {', '.join(out)}")
            out[name].extend(rows)
    return out


def build(parts: Iterable[Mapping[str, list[Any]]], period: str | None, generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """Assemble and validate a complete results document.

    Parameters
    ----------
    parts : iterable of mapping
        Per-notebook results.
    period : str or None
        The reported month, ``YYYY-MM``; None for a pack that is not about a month.
    generated_at : datetime, optional
        Defaults to now (UTC).

    Returns
    -------
    dict
        The document, valid against the schema.
    """
    when = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    doc = {"period": period, "generated_at": when.isoformat(timespec="seconds").replace("+00:00", "Z"), **merge(parts)}
    validate(doc)
    return doc


def validate(doc: Any, where: str = "results.json") -> None:
    """Validate a complete results document against ``results_schema.json``.

    Raises
    ------
    ReportRunError
        Listing every violation with its JSON path.
    """
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [_error_text(e, where) for e in validator.iter_errors(doc)]
    if errors:
        raise ReportRunError("results do not match lib/outcomes/report/results_schema.json:\n" + "\n".join(errors[:20]))


def write_json(path: Path, doc: Any) -> None:
    """Write JSON atomically (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False, allow_nan=False)
            fh.write("\n")
        # mkstemp creates the file readable by its owner only; a published file is read by others
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
