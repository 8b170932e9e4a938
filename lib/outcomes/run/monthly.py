"""The monthly report run: ``outcomes run``.

Steps, in order:

1. **Plan** (:func:`plan`): read ``params/monthly.yaml``, find every notebook, expand
   ``per_initiative`` notebooks over the active initiatives, and check every parameter
   name and type against the notebook's ``parameters`` cell. Nothing runs if anything
   is wrong.
2. **Execute** (:func:`execute_and_render`, in threads up to the core count, ``after:``
   respected): papermill runs each notebook in a fresh kernel with a per-cell timeout,
   writes the executed ``.ipynb`` and renders the offline HTML page. A failing notebook
   does not stop the others; notebooks that run after it are skipped.
3. **Assemble**: merge the results each notebook recorded into ``results.json``
   (validated against ``results_schema.json``), write ``manifest.json`` and the month's
   ``index.html``.
4. **Check**: every page is self-contained and under the size limit, links only to
   ``http``, ``https`` or relative addresses, and no page or notebook holds a deny-listed
   string (the values of every column the data model marks as personal data: customer,
   requester, employee and unit ids, names, e-mails; see :mod:`outcomes.run.pii`).
5. **Publish** atomically into ``reports/<period>/`` and refresh ``reports/index.html``.

A pack with ``publish_as`` in its configuration (the case study) is built and published
the same way into ``reports/<publish_as>/``, with its own index page, after checking that
the data it ``requires`` exist.

Everything is built in ``reports/.tmp-<period>-<pid>/``. A failed or interrupted run
moves that folder to ``reports/_failed/`` and leaves the published month untouched.

One run at a time publishes into a reports folder: a run holds ``reports/.run.lock``
(:mod:`outcomes.run.lock`) from its start to its end, and a second one refuses at once.
Before any kernel starts, the run copies the warehouse into its work folder
(:mod:`outcomes.run.snapshot`); every notebook, the personal-data scan and the manifest
read that copy, so an ingest during the run cannot mix two states of the data. A rerun
keeps the month it replaces in ``reports/<period>/history/<revision>/``
(:func:`outcomes.run.publish.swap_in`).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outcomes import config
from outcomes import cache
from outcomes.errors import ParamsError, ReportRunError
from outcomes.experiment.arms import check_arms
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load as load_params
from outcomes.params import read_yaml
from outcomes.periods import Month
from outcomes.run import execute as nbexec
from outcomes.run import html as report_html
from outcomes.run import manifest as run_manifest
from outcomes.report import changes, results
from outcomes.report.investment import register_names
from outcomes.report.summary import results_brief
from outcomes.value.model import load_value_model
from outcomes.run import pages
from outcomes.run import pii
from outcomes.run import preflight
from outcomes.run.preflight import Preflight
from outcomes.run import publish
from outcomes.run import snapshot as read_snapshot
from outcomes.run import status as run_status
from outcomes.run import workbook
from outcomes.run import writes
from outcomes.run.lock import run_lock
from outcomes.run.execute import CellFailure
from outcomes.run.config import Engine, RunConfig
from outcomes.run.config import check_requirements
from outcomes.run.config import load as load_config
from outcomes.run.context import NOTEBOOK_SETTINGS, RunContext
from outcomes.metrics import history
from outcomes.warehouse import sizing, store

log = logging.getLogger("outcomes.run.monthly")

LOG_NAME = "run.log"
WORK_DIR = ".work"
#: Inside WORK_DIR: what the notebooks compute once and share (:mod:`outcomes.cache`).
SHARED_DIR = "shared"
#: Inside WORK_DIR: the copy of the warehouse the run reads (:mod:`outcomes.run.snapshot`).
SNAPSHOT_DIR = "snapshot"


# --------------------------------------------------------------------------- planning


def last_complete_month(now: dt.datetime | None = None) -> str:
    """The last complete calendar month in UTC, ``YYYY-MM`` (in January: December of last year)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return str(Month.of(now).previous())


def last_data_month(warehouse: Path | None) -> str | None:
    """The last complete month that the warehouse's tickets and orders cover, ``YYYY-MM``.

    A month counts as complete when the newest ticket or order falls in its last two days.
    Returns ``None`` when there is no warehouse or it holds no timestamps.
    """
    import duckdb

    path = warehouse
    if path is None or not Path(path).is_file():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        newest = con.execute(
            "SELECT max(t) FROM (SELECT max(opened_at) AS t FROM tickets UNION ALL SELECT max(ordered_at) FROM orders)"
        ).fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()
    if newest is None:
        return None
    day = newest.date() if isinstance(newest, dt.datetime) else newest
    month = Month.of(day)
    return str(month if (month.last_day - day).days <= 1 else month.previous())


def default_period(now: dt.datetime | None = None, warehouse: Path | None = None) -> str:
    """The period a run reports on when none is given.

    The last complete calendar month in UTC, unless the warehouse's data end earlier: then
    the last complete month of the data (a report on a month without data says nothing).
    """
    calendar = last_complete_month(now)
    data = last_data_month(warehouse)
    if data is not None and Month.parse(data) < Month.parse(calendar):
        log.warning("the data end in %s, before the last calendar month %s; reporting on %s", data, calendar, data)
        return data
    return calendar


def default_kernel() -> str:
    """``outcomes`` when that kernel is installed (``outcomes kernel install``, ``make setup``), else ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return config.KERNEL_NAME if config.KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def check_kernel(name: str, source: str) -> str:
    """Return ``name`` if a kernel of that name is installed, else raise naming the installed ones."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if name not in specs:
        raise ParamsError(
            f"{source}: key 'kernel' is {name!r}, which is not an installed Jupyter kernel; "
            f"installed kernels are: {', '.join(sorted(specs))} "
            "(`outcomes kernel install` installs 'outcomes'; `make setup` does so in .venv)"
        )
    return name


def active_initiatives(folder: Path) -> list[str]:
    """Ids of the initiatives to review: ``<folder>/*.yaml`` files with ``active: true``.

    Only ``id`` (defaulting to the file name) and ``active`` are read, so the rest of
    each file is left to the initiative model.

    Parameters
    ----------
    folder : Path
        The run's initiatives folder (:attr:`RunContext.initiatives_dir`).

    Returns
    -------
    list of str
        Sorted ids.

    Raises
    ------
    ParamsError
        When a file is not a YAML mapping, or two files share an id.
    """
    return sorted(_active_files(folder))


def _active_files(folder: Path) -> dict[str, Path]:
    """Id -> file of the active initiatives of ``folder`` (see :func:`active_initiatives`)."""
    ids: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        doc = read_yaml(path)
        if not isinstance(doc, dict):
            raise ParamsError(f"{path}: expected a mapping of keys to values, found {type(doc).__name__}")
        if doc.get("active") is not True:
            continue
        ident = str(doc.get("id") or path.stem)
        if ident in ids:
            raise ParamsError(f"{path}: initiative id '{ident}' is also used by {ids[ident]}; ids must be unique")
        ids[ident] = path
    return ids


def check_initiative_arms(folder: Path, warehouse: Path | None) -> None:
    """Refuse an active randomized initiative whose data's arms do not fit its file, before any kernel starts.

    Files naming ``data.arm`` and ``data.control`` are validated and their arm column's
    distinct values read (:func:`outcomes.experiment.arms.check_arms`): from ``data.table``,
    or from the warehouse's ``assignments`` table (skipped when the warehouse file does not
    exist yet).

    Parameters
    ----------
    folder : Path
        The run's initiatives folder.
    warehouse : Path, optional
        The DuckDB warehouse.

    Raises
    ------
    ParamsError
        Naming the file, ``data.control`` or ``data.arm``, its value and the arm values found.
    """
    con = None
    try:
        for path in _active_files(folder).values():
            doc = read_yaml(path)
            data = doc.get("data")
            if doc.get("design", "randomized") != "randomized" or not isinstance(data, dict):
                continue
            if not (data.get("arm") and data.get("control")):
                continue
            spec = load_params(path, InitiativeSpec)
            if not spec.data.table:
                if warehouse is None or not warehouse.is_file():
                    continue
                con = con or store.connect(warehouse)
            check_arms(spec, path, con)
    finally:
        if con is not None:
            con.disconnect()


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The names, types, defaults and help of a notebook's ``parameters`` cell (papermill's inspection).

    Returns
    -------
    dict
        Name -> ``{"name", "inferred_type_name", "default", "help"}``; empty when the
        notebook has no cell tagged ``parameters``.
    """
    import papermill

    try:
        return dict(papermill.inspect_notebook(str(notebook)))
    except ValueError:  # no kernelspec in the notebook (e.g. made by jupytext): it is Python
        import nbformat
        from papermill.translators import PythonTranslator

        nb = nbformat.read(notebook, as_version=4)
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        return {p.name: p._asdict() for p in PythonTranslator.inspect(cells[0])} if cells else {}


_TYPE_NAMES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict, "tuple": tuple,
    "None": type(None), "NoneType": type(None), "Any": Any,
}


def _declared_type(type_name: str) -> Any:
    """Evaluate a parameter's annotation with only builtin type names available (None if unknown)."""
    if type_name in {"None", ""}:  # no annotation: papermill infers nothing
        return None
    from typing import Literal, Optional, Union

    try:
        return eval(type_name, {"__builtins__": {}}, {**_TYPE_NAMES, "Literal": Literal, "Optional": Optional, "Union": Union})  # noqa: S307 - names restricted to types
    except Exception:  # noqa: BLE001 - an annotation the check does not understand is not checked
        return None


def check_parameters(notebook: Path, values: Mapping[str, Any], declared: Mapping[str, dict[str, Any]], source: str) -> None:
    """Check names and types of the values given to a notebook against its ``parameters`` cell.

    Parameters
    ----------
    notebook : Path
        Named in error messages.
    values : mapping
        The parameters the run will inject.
    declared : mapping
        From :func:`declared_parameters`.
    source : str
        Where the values come from (the YAML file and the notebook entry).

    Raises
    ------
    ParamsError
        Naming the key, the notebook, the file and the valid parameter names or the
        declared type.
    """
    import difflib

    from pydantic import TypeAdapter, ValidationError

    valid = sorted(declared)
    for key, value in values.items():
        if key not in declared:
            if not declared:
                raise ParamsError(
                    f"{source}: parameter '{key}' cannot be passed to {notebook}: the notebook has no cell tagged "
                    "'parameters'; add one that declares it"
                )
            hint = difflib.get_close_matches(key, valid, n=1)
            raise ParamsError(
                f"{source}: unknown parameter '{key}' for {notebook}"
                + (f" (did you mean '{hint[0]}'?)" if hint else "")
                + f"; the notebook's parameters cell declares: {', '.join(valid)}"
            )
        type_name = declared[key].get("inferred_type_name") or ""
        annotation = _declared_type(type_name)
        if annotation is None:
            continue
        try:
            TypeAdapter(annotation).validate_python(value, strict=True)
        except ValidationError:
            raise ParamsError(
                f"{source}: parameter '{key}' has value {value!r} ({type(value).__name__}) but {notebook} declares "
                f"it as {type_name} (default {declared[key].get('default')}); give a {type_name} value"
            ) from None


@dataclass(frozen=True)
class Task:
    """One notebook execution of the run (a ``per_initiative`` notebook gives one task per initiative).

    Parameters
    ----------
    stem : str
        File stem of the outputs (``<name>`` or ``<name>--<initiative>``).
    entry : str
        The notebook's name in the configuration.
    notebook : Path
        The source notebook.
    parameters : dict
        The validated values to inject.
    after : tuple of str
        Configuration names that must finish first.
    title : str or None
        Link title from the configuration.
    initiative : str or None
        The initiative reviewed, for ``per_initiative`` notebooks.
    timeout : int or None
        Seconds per cell for this notebook (None: the run's).
    """

    stem: str
    entry: str
    notebook: Path
    parameters: dict[str, Any]
    after: tuple[str, ...] = ()
    title: str | None = None
    initiative: str | None = None
    timeout: int | None = None


def file_stem(name: str, initiative: str | None = None) -> str:
    """Output file stem: the name, plus a file-safe form of the initiative id (with a hash when altered)."""
    if initiative is None:
        return name
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", initiative).strip("-")[:60] or "initiative"
    if safe != initiative:
        safe += "-" + hashlib.sha1(initiative.encode("utf-8")).hexdigest()[:8]
    return f"{name}--{safe}"


def plan(cfg: RunConfig, context: RunContext, *, source: str) -> list[Task]:
    """Turn the configuration into checked tasks; nothing runs if anything is wrong.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    context : RunContext
        The run's settings; each notebook gets those its parameters cell declares
        (:meth:`RunContext.notebook_values`).
    source : str
        The configuration file, named in error messages.

    Returns
    -------
    list of Task
        In configuration order.

    Raises
    ------
    ParamsError
        For a missing notebook (unless ``optional``), an unknown parameter name, a value
        of the wrong type, a run-wide parameter that no notebook declares, or a
        notebook parameter naming a setting of the run context (set in one place only).
    """
    _check_settings_not_parameters(cfg, source)
    settings = context.notebook_values()
    tasks: list[Task] = []
    used_run_wide: set[str] = set()
    initiatives: list[str] | None = None
    for i, entry in enumerate(cfg.notebooks):
        where = f"{source}: notebooks[{i}] ({entry.name})"
        path = context.resolve(entry.notebook_path)
        if not path.is_file():
            if entry.optional:
                log.warning("%s: notebook %s does not exist yet; skipped (optional: true)", where, path)
                continue
            raise ParamsError(
                f"{where}: notebook {path} not found; create it, fix 'path', or mark the entry 'optional: true'"
            )
        declared = declared_parameters(path)
        base = {k: v for k, v in cfg.parameters.items() if k in declared}
        used_run_wide.update(base)
        base.update({k: v for k, v in settings.items() if k in declared})
        check_parameters(path, entry.parameters, declared, where)
        check_parameters(path, base, declared, f"{source}: parameters")
        values = {**base, **entry.parameters}
        if not entry.per_initiative:
            tasks.append(Task(entry.name, entry.name, path, values, tuple(entry.after), entry.title, None, entry.execution_timeout))
            continue
        if entry.initiative_parameter not in declared:
            raise ParamsError(
                f"{where}: per_initiative needs a parameter '{entry.initiative_parameter}' (initiative_parameter) "
                f"in {path}'s parameters cell; it declares: {', '.join(sorted(declared)) or 'nothing'}"
            )
        if initiatives is None:
            initiatives = active_initiatives(context.initiatives_dir)
        if not initiatives:
            log.warning("%s: no active initiative in %s; nothing to review", where, context.initiatives_dir)
        for ident in initiatives:
            per = {**values, entry.initiative_parameter: ident}
            check_parameters(path, {entry.initiative_parameter: ident}, declared, where)
            tasks.append(
                Task(file_stem(entry.name, ident), entry.name, path, per, tuple(entry.after), entry.title, ident, entry.execution_timeout)
            )
    unused = sorted(set(cfg.parameters) - used_run_wide)
    if unused:
        raise ParamsError(
            f"{source}: run-wide parameters {unused} are declared by no notebook of the pack; remove them or add "
            "them to a notebook's parameters cell"
        )
    return tasks


def _check_settings_not_parameters(cfg: RunConfig, source: str) -> None:
    """Refuse notebook parameters that name a run-context setting: those come from the run's keys."""
    given = [("parameters", k) for k in cfg.parameters if k in NOTEBOOK_SETTINGS]
    given += [(f"notebooks[{i}] ({nb.name}) parameters", k) for i, nb in enumerate(cfg.notebooks) for k in nb.parameters if k in NOTEBOOK_SETTINGS]
    if given:
        where, key = given[0]
        top = {"period": "--period", "engine": "the top-level key 'engine' or --engine"}.get(key, f"the top-level key '{key}'")
        raise ParamsError(
            f"{source}: {where} sets '{key}', a setting every notebook of the run shares; set it with {top} "
            "instead, so the whole run reads the same value"
        )


# --------------------------------------------------------------------------- one notebook


@dataclass(frozen=True)
class ExecutionOptions:
    """How notebooks are executed.

    Parameters
    ----------
    kernel : str
        Jupyter kernel name.
    execution_timeout : int
        Seconds per cell.
    start_timeout : int
        Seconds for the kernel to start.
    cwd : Path, optional
        The kernel's working directory (the project root: notebooks resolve paths from
        it); default the project folder of this process.
    """

    kernel: str = "python3"
    execution_timeout: int = 900
    start_timeout: int = 120
    cwd: Path | None = None


@dataclass
class NotebookRun:
    """The outcome of one notebook execution.

    Attributes
    ----------
    name : str
        Output file stem.
    notebook : Path
        The source notebook.
    parameters : dict
        The injected values.
    ipynb : Path
        The executed notebook (kept for debugging when the run fails).
    html : Path or None
        The rendered page (None when the notebook failed).
    title : str
        The report's title.
    results : dict
        Sections the notebook recorded.
    failure : CellFailure or None
        Where and why it stopped.
    started_at : str
        ISO 8601, UTC.
    seconds : float
        Wall time of execution and rendering.
    cells : int
        Cells in the executed notebook.
    """

    name: str
    notebook: Path
    parameters: dict[str, Any]
    ipynb: Path
    html: Path | None = None
    title: str = ""
    results: dict[str, list[Any]] = field(default_factory=dict)
    failure: CellFailure | None = None
    started_at: str = ""
    seconds: float = 0.0
    cells: int = 0

    @property
    def ok(self) -> bool:
        """Whether the notebook ran to the end and was rendered."""
        return self.failure is None


def execute_and_render(
    notebook: Path,
    parameters: Mapping[str, Any],
    out_dir: Path,
    *,
    stem: str | None = None,
    title: str | None = None,
    options: ExecutionOptions | None = None,
    results_dir: Path | None = None,
    meta: str = "",
    on_cell: nbexec.CellHook | None = None,
    shared_dir: Path | None = None,
    kernel_env: Mapping[str, str] | None = None,
    kernel_slot: nbexec.KernelSlot | None = None,
) -> NotebookRun:
    """Run one notebook with parameters and render its offline HTML page into ``out_dir``.

    This is the building block of the monthly run, and of single analyses::

        run = execute_and_render(Path("notebooks/02_initiative_review.ipynb"), {"initiative": "chatbot"}, out)
        write_results(out / "results.json", [run], period="2025-12")

    Parameters
    ----------
    notebook : Path
        The source notebook.
    parameters : mapping
        Values for its ``parameters`` cell (check them with :func:`check_parameters`).
    out_dir : Path
        Receives ``<stem>.ipynb`` and, on success, ``<stem>.html``.
    stem : str, optional
        Output file stem; defaults to the notebook's.
    title : str, optional
        Page title; defaults to the notebook's first heading.
    options : ExecutionOptions, optional
        Kernel and timeouts.
    results_dir : Path, optional
        Folder of the run's per-notebook results files (the notebook writes
        ``<stem>.json`` there and reads the others with ``report.results()``); a
        temporary folder when omitted.
    meta : str
        A line shown at the top of the page.
    on_cell : callable, optional
        Progress hook, called before each cell with ``(index, total, source)``.
    shared_dir : Path, optional
        Folder of what the run's notebooks compute once and share (panels, initiative
        results: :mod:`outcomes.cache`); nothing is shared when omitted.
    kernel_env : mapping, optional
        More environment variables for the kernel (the DuckDB share of the machine,
        :mod:`outcomes.warehouse.sizing`; the scorecard history folder).
    kernel_slot : KernelSlot, optional
        Run in the kernel it kept from the notebook before, and keep this one's
        (:mod:`outcomes.run.execute`); default a fresh kernel of its own.

    Returns
    -------
    NotebookRun
        With ``failure`` set (and no page) when a cell raised, hung past the timeout, or
        the kernel died.
    """
    options = options or ExecutionOptions(kernel=default_kernel())
    stem = stem or notebook.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    own_results = results_dir is None
    results_dir = Path(tempfile.mkdtemp(prefix="outcomes-results-")) if results_dir is None else results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    results_file = results_dir / f"{stem}.json"
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    run = NotebookRun(stem, notebook, dict(parameters), out_dir / f"{stem}.ipynb", started_at=started.isoformat(timespec="seconds"))
    try:
        done = nbexec.execute(
            notebook,
            run.ipynb,
            parameters,
            name=stem,
            kernel=options.kernel,
            execution_timeout=options.execution_timeout,
            start_timeout=options.start_timeout,
            cwd=options.cwd or config.project().root,
            env={
                results.RESULTS_PATH_ENV: str(results_file),
                results.RESULTS_DIR_ENV: str(results_dir),
                **({cache.SHARED_DIR_ENV: str(shared_dir)} if shared_dir is not None else {}),
                **(kernel_env or {}),
            },
            kernel_log=results_dir / f"{stem}.kernel.log",
            on_cell=on_cell,
            slot=kernel_slot,
        )
        run.failure = done.failure
        if run.ipynb.is_file():
            nb = nbexec.read(run.ipynb)
            run.cells = len(nb.cells)
            run.title = title or report_html.first_heading(nb) or stem
        if run.ok:
            if results_file.is_file():
                run.results = json.loads(results_file.read_text(encoding="utf-8"))
            run.html = report_html.export_html(nb, out_dir / f"{stem}.html", title=run.title, meta=meta)
    except (ReportRunError, OSError, ValueError) as exc:
        if writes.refused(exc):
            raise writes.write_error(exc, f"writing {stem} into {out_dir}") from exc  # type: ignore[arg-type]
        run.failure = CellFailure(stem, None, "", type(exc).__name__, f"while rendering: {exc}")
    finally:
        run.seconds = round(time.monotonic() - clock, 2)
        if own_results:
            shutil.rmtree(results_dir, ignore_errors=True)
    return run


def write_results(
    path: Path, runs: list[NotebookRun], period: str | None, parts: Sequence[Mapping[str, list[Any]]] = ()
) -> dict[str, Any]:
    """Merge what the runs recorded, validate it against the schema and write ``results.json``.

    ``parts`` are sections the run itself adds (the pre-flight's ``unavailable`` rows).

    Returns
    -------
    dict
        The results document.
    """
    doc = results.build([*(r.results for r in runs if r.ok), *parts], period)
    results.write_json(path, doc)
    return doc


# --------------------------------------------------------------------------- the monthly run


@dataclass
class RunSummary:
    """What a run produced (``period`` is the published folder: the month, or ``publish_as``)."""

    period: str
    index: Path
    runs: list[NotebookRun]
    seconds: float


class _Progress:
    """Rich progress rows, one per notebook: cells done, elapsed time, status."""

    def __init__(self, tasks: list[Task], console: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        self.rows = {t.stem: self.progress.add_task(t.stem, total=None, start=False, status="waiting") for t in tasks}

    def cell(self, stem: str) -> nbexec.CellHook:
        def hook(index: int, total: int, source: str) -> None:
            row = self.rows[stem]
            if index == 0:
                self.progress.start_task(row)
            self.progress.update(row, completed=index, total=total, status=f"cell {index}: {nbexec.first_line(source)[:40]}")

        return hook

    def finish(self, stem: str, status: str) -> None:
        row = self.rows[stem]
        task = self.progress.tasks[row]
        self.progress.update(row, completed=task.total or 0, status=status)
        self.progress.stop_task(row)


def _stop_kernels() -> None:
    """Kill the kernels this process started (its child processes), so worker threads return."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


class RunInterrupted(ReportRunError):
    """The run was interrupted (Ctrl-C or SIGTERM); nothing was published."""


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _schedule(
    tasks: list[Task],
    *,
    workers: int,
    start: Callable[[Task], NotebookRun],
    on_done: Callable[[Task, NotebookRun | None, str], None],
) -> dict[str, NotebookRun | None]:
    """Run tasks in threads, each once every task of the entries it comes ``after`` succeeded.

    Returns
    -------
    dict
        Stem -> run (None when skipped because an earlier notebook failed).
    """
    by_entry: dict[str, list[str]] = {}
    for t in tasks:
        by_entry.setdefault(t.entry, []).append(t.stem)
    outcome: dict[str, NotebookRun | None] = {}
    waiting = {t.stem: t for t in tasks}
    running: dict[cf.Future[NotebookRun], Task] = {}
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook") as pool:
        try:
            while waiting or running:
                for stem, task in list(waiting.items()):
                    deps = [s for name in task.after for s in by_entry.get(name, [])]
                    if any(d in outcome and (outcome[d] is None or not outcome[d].ok) for d in deps):
                        failed = [d for d in deps if d in outcome and (outcome[d] is None or not outcome[d].ok)]
                        outcome[stem] = None
                        del waiting[stem]
                        on_done(task, None, f"skipped: runs after {', '.join(failed)}, which did not succeed")
                    elif all(d in outcome for d in deps):
                        running[pool.submit(start, task)] = task
                        del waiting[stem]
                if not running:
                    if waiting:  # cannot happen with an acyclic 'after' relation (checked when loading)
                        raise ReportRunError(f"no notebook can start: {', '.join(waiting)} wait for each other")
                    break
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    task = running.pop(fut)
                    run = fut.result()
                    outcome[task.stem] = run
                    on_done(task, run, "")
        except BaseException:
            for fut in running:
                fut.cancel()
            _stop_kernels()
            raise
    return outcome


def _order_links(
    cfg: RunConfig, runs: list[NotebookRun], tasks: list[Task], names: Mapping[str, str]
) -> list[pages.ReportLink]:
    """Links for the month's index: the notebooks that run after others and before none (the summary) first.

    A review's link reads its page title (the initiative's register name, which the review
    prints as its heading) and is noted as a review; ``names`` (by id) stands in for a page
    without a title of its own.
    """
    task_of = {t.stem: t for t in tasks}
    awaited = {name for nb in cfg.notebooks for name in nb.after}
    leads = {nb.name for nb in cfg.notebooks if nb.after and nb.name not in awaited}
    position = {nb.name: i for i, nb in enumerate(cfg.notebooks)}

    def key(run: NotebookRun) -> tuple[int, int, str]:
        entry = task_of[run.name].entry
        return (0 if entry in leads else 1, position[entry], run.name)

    links = []
    for run in sorted(runs, key=key):
        task = task_of[run.name]
        if task.initiative is not None:
            note = "Initiative review"
        else:
            summary = "the pack in a few sentences" if cfg.publish_as else "the month in a few sentences"
            note = f"Start here: {summary}" if task.entry in leads else ""
        title = run.title if task.initiative is None or run.title != run.name else names.get(task.initiative, run.title)
        links.append(pages.ReportLink(f"{run.name}.html", title, note, lead=task.entry in leads))
    return links


def _log_to(path: Path) -> logging.Handler:
    """Send the kit's and papermill's records to the run's log file.

    A ``logging.config.dictConfig`` elsewhere in the process (a host application, a
    tool's command line) disables the loggers that existed before it; the run log must
    not go silent because of that, so the kit's and papermill's loggers are re-enabled.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"))
    for name in ("outcomes", "papermill"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        for child in [logger, *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith(f"{name}."))]:
            child.disabled = False
    return handler


def _unlog(handler: logging.Handler) -> None:
    for name in ("outcomes", "papermill"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def _checks(build: Path, cfg: RunConfig, context: RunContext) -> list[str]:
    """Self-containment, size and personal-data checks of everything about to be published."""
    problems = []
    for page in sorted(build.glob("*.html")):
        problems.extend(report_html.check_page(page, int(cfg.max_page_mb * 1e6)))
    files = sorted([*build.glob("*.html"), *build.glob("*.ipynb")])
    hits = pii.scan_with(
        files, cfg.pii, warehouse=context.reads, root=context.root, skip=report_html.vega_bundle(), keep=history_folder(context)
    )
    problems.extend(f"personal data found: {h.summary()}" for h in hits)
    return problems


@dataclass(frozen=True)
class RunPlan:
    """A checked run, before anything executes: its configuration, context, kernel and tasks.

    Parameters
    ----------
    config_path : Path
        The run's parameters file.
    cfg : RunConfig
        Its validated content.
    context : RunContext
        The settings every notebook and the checks read.
    kernel : str
        The installed Jupyter kernel.
    tasks : list of Task
        The notebook executions that run, in configuration order.
    preflight : Preflight
        The pre-flight: which pages run, what each leaves out and why (:mod:`outcomes.run.preflight`).
    snapshot : Snapshot or None
        The copy of the warehouse the run reads, once taken (:mod:`outcomes.run.snapshot`).
    """

    config_path: Path
    cfg: RunConfig
    context: RunContext
    kernel: str
    tasks: list[Task]
    preflight: Preflight[Task]
    snapshot: read_snapshot.Snapshot | None = None

    @property
    def folder(self) -> str:
        """The published folder's name: ``publish_as``, else the period."""
        return self.cfg.publish_as or self.context.period

    @property
    def reports_dir(self) -> Path:
        """Where reports are published."""
        return self.context.resolve(self.cfg.reports_dir)


def prepare(
    config_path: Path, *, project: config.Project, period: str | None = None, engine: Engine | None = None
) -> RunPlan:
    """Read and check the configuration, build the run context and plan every notebook.

    Parameters
    ----------
    config_path : Path
        The run's parameters file.
    project : Project
        The project folder the run's relative paths hang off.
    period : str, optional
        ``YYYY-MM``; defaults to :func:`default_period` on the configuration's warehouse
        (a pack published under its own name: the last complete calendar month).
    engine : {"duckdb", "spark"}, optional
        Overrides the configuration's engine.

    Returns
    -------
    RunPlan

    Raises
    ------
    ParamsError
        For an invalid configuration, parameter, kernel or missing requirement, a run
        the pre-flight finds doomed (:func:`outcomes.run.preflight.check`), or an active
        initiative whose data's arms do not fit its file (:func:`check_initiative_arms`).
    """
    given = None if period is None else str(Month.parse(period))
    cfg = load_config(config_path)
    check_requirements(cfg, str(config_path), project)
    # a pack published under its own name reports on no month: the warehouse's last month is irrelevant
    chosen = given or (
        last_complete_month() if cfg.publish_as else default_period(warehouse=RunContext.warehouse_of(cfg, project))
    )
    context = RunContext.build(cfg, project, period=chosen, engine=engine)
    kernel = check_kernel(cfg.kernel or default_kernel(), str(config_path))
    tasks = plan(cfg, context, source=str(config_path))
    if not tasks:
        raise ParamsError(f"{config_path}: no notebook to run (every listed notebook is optional and missing)")
    checked = preflight.check(cfg, context, kernel, tasks, source=str(config_path))
    if any(t.initiative is not None for t in checked.tasks):
        check_initiative_arms(context.initiatives_dir, context.warehouse)
    return RunPlan(config_path, cfg, context, kernel, list(checked.tasks), checked)


def kernel_environment(run_plan: RunPlan, parallel: int) -> dict[str, str]:
    """What the run adds to every kernel's environment for its engine.

    On DuckDB: each kernel's share of the machine's memory and cores, for ``parallel``
    kernels at once (:func:`outcomes.warehouse.sizing.derive`; settings written in
    ``params/engine.yaml`` win), and the folder keeping the panel's months across runs,
    beside the warehouse (``<warehouse folder>/cache/history``: :mod:`outcomes.metrics.history`).
    """
    context = run_plan.context
    if context.engine != "duckdb":
        return {}
    env = sizing.share_env(parallel)
    folder = history_folder(context)
    if folder is not None:
        env[history.HISTORY_DIR_ENV] = str(folder)
    return env


def history_folder(context: RunContext) -> Path | None:
    """The folder keeping what a DuckDB run computes across months, beside the warehouse; None on Spark.

    It holds the panel's months (:mod:`outcomes.metrics.history`) and the hashed values the
    personal-data scan looks for (:mod:`outcomes.run.pii`).
    """
    if context.engine != "duckdb" or context.warehouse is None:
        return None
    return context.warehouse.parent / "cache" / "history"


def _execute_all(run_plan: RunPlan, build: Path, console: Any) -> tuple[list[NotebookRun], list[str]]:
    """Run every task into ``build`` (``after`` respected); return the runs and the failures."""
    cfg, context = run_plan.cfg, run_plan.context
    work = build / WORK_DIR
    options = ExecutionOptions(run_plan.kernel, cfg.execution_timeout, cfg.start_timeout, context.root)
    generated = dt.datetime.now(dt.UTC)
    meta = f"{cfg.pack_title or Month.parse(context.period).label} · generated {generated:%d %b %Y %H:%M} UTC"
    progress = _Progress(run_plan.tasks, console)
    failures: list[str] = []
    workers = cfg.max_workers or os.cpu_count() or 1
    kernel_env = kernel_environment(run_plan, min(workers, len(run_plan.tasks)) or 1)
    # each worker thread keeps its kernel from one notebook to its next (nbexec.KernelSlot)
    local, slots = threading.local(), []

    def slot() -> nbexec.KernelSlot:
        if not hasattr(local, "slot"):
            local.slot = nbexec.KernelSlot()
            slots.append(local.slot)
        return local.slot

    def start(task: Task) -> NotebookRun:
        log.info("%s: started (%s)", task.stem, task.notebook)
        return execute_and_render(
            task.notebook,
            context.kernel_values(task.parameters),
            build,
            stem=task.stem,
            title=task.title,
            options=dataclasses.replace(options, execution_timeout=task.timeout) if task.timeout else options,
            results_dir=work / "results",
            meta=meta,
            on_cell=progress.cell(task.stem),
            shared_dir=work / SHARED_DIR,
            kernel_env=kernel_env,
            kernel_slot=slot(),
        )

    def done(task: Task, run: NotebookRun | None, note: str) -> None:
        if run is None:
            failures.append(f"{task.stem}: {note}")
            log.warning("%s: %s", task.stem, note)
            progress.finish(task.stem, f"[yellow]{note}")
        elif run.ok:
            log.info("%s: done in %.1f s (%d cells)", task.stem, run.seconds, run.cells)
            progress.finish(task.stem, f"[green]done in {run.seconds:.1f} s")
        else:
            failures.append(run.failure.summary())
            log.error("%s: FAILED: %s (executed notebook: %s)", task.stem, run.failure.summary(), run.ipynb.name)
            progress.finish(task.stem, "[red]failed")

    try:
        with progress.progress:
            outcome = _schedule(run_plan.tasks, workers=workers, start=start, on_done=done)
    finally:
        for kept in slots:
            kept.drop()
    return [r for r in (outcome[t.stem] for t in run_plan.tasks) if r is not None], failures


def _publish(run_plan: RunPlan, build: Path, handler: logging.Handler) -> None:
    """Move the checked build into ``reports/<folder>/`` and refresh the archive index."""
    log.info("run of %s: all checks passed; publishing", run_plan.folder)
    _unlog(handler)
    publish.swap_in(build, run_plan.reports_dir / run_plan.folder)
    publish.write_text_atomic(run_plan.reports_dir / "index.html", pages.archive_index(run_plan.reports_dir))


def _with_snapshot(run_plan: RunPlan, build: Path) -> RunPlan:
    """Copy the warehouse into the build's work folder; the plan's context then reads the copy.

    On Spark with a local Parquet export, the kernels also get settings exporting the copy
    into the work folder. A pack without a warehouse (or whose warehouse does not exist
    yet) is left as it is.
    """
    warehouse = run_plan.context.warehouse
    if warehouse is None or not warehouse.is_file():
        return run_plan
    folder = build / WORK_DIR / SNAPSHOT_DIR
    taken = read_snapshot.take(warehouse, folder)
    settings = read_snapshot.private_spark_settings(run_plan.context.engine_settings, folder) if run_plan.context.engine == "spark" else None
    context = dataclasses.replace(run_plan.context, snapshot=taken.path, snapshot_settings=settings)
    return dataclasses.replace(run_plan, context=context, snapshot=taken)


def _drop_snapshot(build: Path) -> None:
    """Delete the warehouse copy from a build about to be kept in ``_failed/`` (it is large and holds personal data)."""
    shutil.rmtree(build / WORK_DIR / SNAPSHOT_DIR, ignore_errors=True)


def _fail(run_plan: RunPlan, build: Path, handler: logging.Handler, failures: list[str]) -> ReportRunError:
    """Keep the failed build in ``reports/_failed/`` and return the error naming every failure."""
    folder = run_plan.folder
    log.error("run of %s failed:\n%s", folder, "\n".join(failures))
    _unlog(handler)
    _drop_snapshot(build)
    kept = publish.keep_failed(build, run_plan.reports_dir, folder)
    lines = "\n".join(f"  - {f}" for f in failures)
    return ReportRunError(
        f"run of {folder} failed; reports/{folder} was left as it was.\n{lines}\n"
        f"The executed notebooks and {LOG_NAME} are kept in {kept}"
    )


def run_monthly(
    config_path: Path | None = None,
    *,
    period: str | None = None,
    engine: Engine | None = None,
    console: Any = None,
) -> RunSummary:
    """Run the monthly report pack and publish ``reports/<period>/`` atomically.

    Parameters
    ----------
    config_path : Path, optional
        ``params/monthly.yaml`` of the project (the default).
    period : str, optional
        ``YYYY-MM``; defaults to :func:`default_period` (the last complete month in UTC,
        or the last complete month of the configured warehouse's data when they end earlier).
    engine : {"duckdb", "spark"}, optional
        Overrides the configuration's engine.
    console : rich.console.Console, optional
        Where progress is shown (standard error by default).

    Returns
    -------
    RunSummary
        The published index page and every notebook run.

    Raises
    ------
    ParamsError
        Before anything runs, for an invalid configuration or parameter.
    ReportRunError
        When a notebook failed or a check did not pass; the message lists each failing
        notebook with its cell and error, and where the failed build was kept.
    RunInterrupted
        On Ctrl-C or SIGTERM; the published month is untouched.
    PublishError
        When the reports folder or its disk refuses a write (permission, read-only, full):
        the message names the path and what to do; the published month is untouched.
    RunBusyError
        When another run holds the reports folder (:func:`outcomes.run.lock.run_lock`).

    Notes
    -----
    However the run ends, ``reports/status.json`` records it and the ``notify:`` channels
    hear of it (:mod:`outcomes.run.status`); neither can change the run's outcome.
    """
    from rich.console import Console

    clock = time.monotonic()
    project = config.project()
    run_plan = prepare(config_path or project.params_dir / "monthly.yaml", project=project, period=period, engine=engine)
    folder, reports_dir = run_plan.folder, run_plan.reports_dir
    # one run per reports folder: a second one is refused before it touches status.json or the build
    with writes.user_errors(f"building the report of {folder} in {reports_dir}"), run_lock(reports_dir, folder):
        # the run's end, whatever it is, is recorded in reports/status.json and notified (notify:)
        with run_status.recorded(
            reports_dir, folder, run_plan.cfg.notify, expected=last_complete_month(), monthly=run_plan.cfg.publish_as is None
        ):
            return _run_locked(run_plan, console or Console(stderr=True), clock)


def _run_locked(run_plan: RunPlan, console: Any, clock: float) -> RunSummary:
    """The run, once it holds the reports folder's run lock: snapshot, execute, assemble, publish."""
    context, folder, reports_dir = run_plan.context, run_plan.folder, run_plan.reports_dir
    publish.recover(reports_dir)
    build = publish.build_dir(reports_dir, folder)
    shutil.rmtree(build, ignore_errors=True)
    (build / WORK_DIR / "results").mkdir(parents=True)
    handler = _log_to(build / LOG_NAME)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    log.info(
        "run of %s: %d notebook(s), kernel %s, engine %s, warehouse %s, config %s",
        context.period, len(run_plan.tasks), run_plan.kernel, context.engine, context.warehouse, run_plan.config_path,
    )
    log.info("%s", run_plan.preflight.summary())
    run_plan.preflight.write_part(build / WORK_DIR / "results")
    failures: list[str] = []
    try:
        run_plan = _with_snapshot(run_plan, build)
        runs, failures = _execute_all(run_plan, build, console)
        if not failures:
            try:
                failures.extend(_assemble(build, run_plan, runs))
            except ReportRunError as exc:
                failures.append(str(exc))
        if not failures:
            _publish(run_plan, build, handler)
    except KeyboardInterrupt:
        log.error("interrupted; nothing was published")
        _unlog(handler)
        _drop_snapshot(build)
        kept = publish.keep_failed(build, reports_dir, folder, interrupted=True)
        raise RunInterrupted(
            f"run of {folder} interrupted; reports/{folder} was left as it was"
            + (f"; the partial build is kept in {kept}" if kept else "")
        ) from None
    except Exception:
        log.exception("run of %s stopped by an unexpected error", folder)
        _unlog(handler)
        _drop_snapshot(build)
        publish.keep_failed(build, reports_dir, folder)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if failures:
        raise _fail(run_plan, build, handler, failures)
    return RunSummary(folder, reports_dir / folder / "index.html", runs, round(time.monotonic() - clock, 1))


def _assemble(build: Path, run_plan: RunPlan, runs: list[NotebookRun]) -> list[str]:
    """Write results.json, manifest.json, the month's workbook and index.html into ``build``; return the check problems."""
    cfg, context = run_plan.cfg, run_plan.context
    doc = write_results(
        build / "results.json", runs, None if cfg.publish_as else context.period, [run_plan.preflight.results_part()]
    )
    replaces = publish.replaced_version(run_plan.reports_dir / run_plan.folder)
    given = {t.stem: t.parameters for t in run_plan.tasks}
    data = run_manifest.data_fingerprints(context.reads, context.resolve(cfg.raw_dir), named=context.warehouse)
    if run_plan.snapshot is not None:
        data["snapshot"] = run_plan.snapshot.to_dict()
    manifest = {
        "period": doc["period"],
        "publish_as": cfg.publish_as,
        "generated_at": doc["generated_at"],
        "revision": replaces["revision"] + 1 if replaces else 1,
        "replaces": replaces,
        "config_file": str(run_plan.config_path),
        "config": cfg.model_dump(mode="json"),
        "context": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(context).items()},
        "engine": context.engine,
        "kernel": run_plan.kernel,
        "shared": cache.inventory(build / WORK_DIR / SHARED_DIR),
        "notebooks": [
            {
                "name": r.name,
                "notebook": _relative(r.notebook, context.root),
                "title": r.title,
                "parameters": given.get(r.name, r.parameters),
                "started_at": r.started_at,
                "seconds": r.seconds,
                "cells": r.cells,
                "html": r.html.name if r.html else None,
                "ipynb": r.ipynb.name,
            }
            for r in runs
        ],
        "data": data,
        "packages": run_manifest.package_versions(),
        "git": run_manifest.git_state(context.root),
        **run_manifest.environment(),
    }
    results.write_json(build / "manifest.json", manifest)
    links = _order_links(cfg, runs, run_plan.tasks, register_names(run_plan.context.initiatives_dir))
    links += run_plan.preflight.write_left_out_pages(build, meta=Month.parse(context.period).label)
    if cfg.pack_title:
        index = pages.pack_index(cfg.pack_title, cfg.description or "", links, doc, manifest, sections=cfg.sections)
    else:
        book = workbook.write_workbook(doc, build / workbook.workbook_name(run_plan.folder))
        links.append(pages.ReportLink(book.name, "Figures for finance (Excel)", "the scorecard, decisions, ROI cases and portfolio as numbers"))
        since = changes.since_previous(run_plan.reports_dir, context.period, doc)
        run_day = dt.datetime.fromisoformat(str(doc["generated_at"]).replace("Z", "+00:00")).date()
        warning = changes.report_age_warning(context.period, run_day, cfg.max_report_age_months)
        if warning:
            log.warning(warning)
        currency = load_value_model(context.value_model).currency if doc.get("roi") else "EUR"  # no case: no money shown
        brief = results_brief(doc, context.period, currency)
        index = pages.month_index(context.period, links, doc, manifest, changes=since, warning=warning, answer=brief)
    publish.write_text_atomic(build / "index.html", index)
    problems = _checks(build, cfg, context)
    shutil.rmtree(build / WORK_DIR, ignore_errors=True)
    return problems


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
