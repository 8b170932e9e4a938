"""The pre-flight of a report run: stop a doomed run before any kernel starts.

:func:`check` runs at the start of every run (``outcomes run``, from
:func:`outcomes.run.monthly.prepare`) and alone for ``outcomes run --dry-run``. After the
run configuration, its notebooks' parameters and the kernel were checked, it

1. validates the parameters files the pages read: the scorecard targets, the value model
   and every active initiative;
2. opens the warehouse and counts, for the reported month, the rows of every table the
   pages read (:mod:`outcomes.report.needs`);
3. decides for each page whether it runs and what it leaves out, and why, in words.

A page whose required tables have no rows in the month, that needs an initiative when none
is active, or none of whose tables has rows in the month, is left out of the run. When no
page that reads data is left, the run stops with one message naming the warehouse, the
month and the months the data cover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook

from outcomes.errors import ParamsError
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load
from outcomes.report import results
from outcomes.report.investment import active_specs, load_model
from outcomes.report.needs import (
    SECTION,
    PageNeeds,
    TableData,
    initiative_needs,
    page_needs,
    page_of,
    table_data,
    unavailable,
)
from outcomes.report.text import escape_md
from outcomes.run import html as report_html
from outcomes.run.pages import ReportLink
from outcomes.run.config import RunConfig
from outcomes.run.context import RunContext
from outcomes.scorecard.card import load_targets


class PlannedTask(Protocol):
    """What the pre-flight reads of a planned task (:class:`outcomes.run.monthly.Task`)."""

    @property
    def stem(self) -> str: ...  # noqa: D102 - see Task
    @property
    def entry(self) -> str: ...  # noqa: D102
    @property
    def parameters(self) -> Mapping[str, Any]: ...  # noqa: D102
    @property
    def initiative(self) -> str | None: ...  # noqa: D102


Task = TypeVar("Task", bound=PlannedTask)


@dataclass(frozen=True)
class PagePlan:
    """What one task of the run will do.

    Parameters
    ----------
    stem : str
        The task's output stem (``02_initiative_review--chatbot``), or the configuration
        name of a page with no task (a review with no active initiative).
    runs : bool
        Whether it runs.
    notes : tuple of str
        Why it does not run, or what it leaves out and why.
    """

    stem: str
    runs: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preflight(Generic[Task]):
    """The checked run: which pages run, what each leaves out, and the data behind it.

    Parameters
    ----------
    period : str
        The reported month.
    warehouse : Path or None
        The warehouse read (None when no page reads one).
    kernel : str
        The Jupyter kernel.
    pages : tuple of PagePlan
        One per task (and per review page without an initiative), in configuration order.
    tasks : tuple of Task
        The tasks that run.
    data : dict
        Table name -> :class:`~outcomes.report.needs.TableData` for every table the pages read.
    """

    period: str
    warehouse: Path | None
    kernel: str
    pages: tuple[PagePlan, ...]
    tasks: tuple[Task, ...]
    data: dict[str, TableData]

    @property
    def left_out(self) -> list[PagePlan]:
        """The pages that do not run."""
        return [p for p in self.pages if not p.runs]

    def rows(self) -> list[dict[str, Any]]:
        """The ``unavailable`` rows of ``results.json``: one per page left out or part of a page left out."""
        return [{"page": p.stem, "left_out": not p.runs, "sentence": note} for p in self.pages for note in p.notes]

    def results_part(self) -> dict[str, list[dict[str, Any]]]:
        """:meth:`rows` as a part of ``results.json`` (its ``unavailable`` section)."""
        return {SECTION: self.rows()}

    def write_part(self, results_dir: Path) -> Path:
        """Write :meth:`results_part` where the run's pages read it (``report.results()``) before they run.

        Parameters
        ----------
        results_dir : Path
            The run's per-notebook results folder.

        Returns
        -------
        Path
            The part file, ``<results_dir>/_preflight.json``.
        """
        path = results_dir / "_preflight.json"
        results.write_json(path, self.results_part())
        return path

    def write_left_out_pages(self, build: Path, meta: str = "") -> list[ReportLink]:
        """Publish a short page for each task left out, saying what it would show and why it does not.

        Parameters
        ----------
        build : Path
            The run's build folder; receives ``<stem>.html`` per left-out task.
        meta : str
            The line shown at the top of every page of the run.

        Returns
        -------
        list of ReportLink
            Links for the month's index, one per page written.
        """
        links = []
        for page in self.left_out:
            needs = page_needs(page_of(page.stem))
            title = needs.title if needs is not None else page.stem
            initiative = page.stem.split("--", 1)[1] if "--" in page.stem else ""
            heading = f"{title}: {initiative}" if initiative else title
            text = "\n".join(f"- {escape_md(note)}" for note in page.notes)
            nb = new_notebook(
                cells=[new_markdown_cell(f"# {escape_md(heading)}\n\nThis page has nothing to show for {self.period}:\n\n{text}")]
            )
            report_html.export_html(nbformat.from_dict(nb), build / f"{page.stem}.html", title=heading, meta=meta)
            links.append(ReportLink(f"{page.stem}.html", heading, "Nothing to show this month"))
        return links

    def summary(self) -> str:
        """The plan in words: the month, the warehouse, each page and what it shows or leaves out."""
        ran = [p for p in self.pages if p.runs]
        lines = [
            f"Pre-flight of {self.period}: warehouse {self.warehouse or '(none read)'}, kernel {self.kernel}; "
            f"{len(ran)} page(s) will run, {len(self.left_out)} left out.",
        ]
        for p in self.pages:
            lines.append(f"  {'run ' if p.runs else 'skip'} {p.stem}" + ("" if p.notes or not p.runs else ": everything"))
            lines += [f"       - {note}" for note in p.notes]
        return "\n".join(lines)


def validate_parameter_files(context: RunContext, tasks: Sequence[PlannedTask]) -> dict[str, InitiativeSpec]:
    """Load the targets, the value model and each active initiative the pack's pages read.

    Only the pages of :data:`outcomes.report.needs.PAGES` are taken into account: a
    notebook of its own reads its files its own way.

    Returns
    -------
    dict
        The active initiatives by id (empty when no page reads them).

    Raises
    ------
    ParamsError
        From the loader of the first invalid file, naming the file, the key and the fix.
    """
    pages = [t for t in tasks if page_needs(t.entry) is not None]
    declared = {key for t in pages for key in t.parameters}
    if "targets_file" in declared:
        load_targets(context.targets_file)
    if "value_model" in declared:
        load_model(context.value_model, context.initiatives_dir)
    if "initiatives_dir" in declared or any(t.initiative is not None for t in pages):
        return {ident: load(path, InitiativeSpec) for ident, path in active_specs(context.initiatives_dir).items()}
    return {}


def _page(
    task_stem: str, needs: PageNeeds | None, data: dict[str, TableData], period: str, initiatives: Path, active: bool
) -> PagePlan:
    """Whether one task runs and what it leaves out."""
    if needs is None:
        return PagePlan(task_stem, True)
    if needs.initiatives and not active:
        return PagePlan(task_stem, False, (_no_initiative(needs, initiatives),))
    missing = unavailable(needs, data, period, required_only=True)
    if missing:
        return PagePlan(task_stem, False, tuple(missing))
    if needs.tables and not any(data[t].usable for t in needs.tables):
        tables = ", ".join(needs.tables)
        return PagePlan(task_stem, False, (f"{needs.title}: nothing to show, because none of {tables} has rows in {period}.",))
    return PagePlan(task_stem, True, tuple(unavailable(needs, data, period)))


def _needs(task: PlannedTask, specs: Mapping[str, InitiativeSpec]) -> PageNeeds | None:
    """The needs of one task: its page's, narrowed to its initiative's metrics for a review."""
    needs = page_needs(task.entry)
    if needs is not None and task.initiative is not None and task.initiative in specs:
        return initiative_needs(specs[task.initiative])
    return needs


def _no_initiative(needs: PageNeeds, folder: Path) -> str:
    return (
        f"{needs.title} is not shown: no initiative in {folder} is active. "
        "Add one with `outcomes new-initiative <id>` and set `active: true`."
    )


def _coverage(data: dict[str, TableData]) -> str:
    spans = [f"{d.table} {d.first_month} to {d.last_month}" for d in data.values() if d.first_month is not None]
    return "; ".join(spans) if spans else "none: every table the pages read is empty or absent"


def check(cfg: RunConfig, context: RunContext, kernel: str, tasks: Sequence[Task], *, source: str) -> Preflight[Task]:
    """Check that the run can show something, before any kernel starts.

    Parameters
    ----------
    cfg : RunConfig
        The validated run configuration.
    context : RunContext
        The run's settings (period, warehouse, parameters files).
    kernel : str
        The checked Jupyter kernel.
    tasks : sequence of Task
        The planned tasks (:func:`outcomes.run.monthly.plan`).
    source : str
        The run configuration file, named in error messages.

    Returns
    -------
    Preflight
        With the tasks that run; the others are listed with the reason.

    Raises
    ------
    ParamsError
        For an invalid targets, value-model or initiative file, a warehouse that does not
        exist or does not open, or a month for which no page that reads data can run
        (naming the warehouse, the month and the months the data cover).
    """
    specs = validate_parameter_files(context, tasks)
    reads_warehouse = context.warehouse is not None and any("warehouse" in t.parameters for t in tasks)
    needs_of = {t.stem: _needs(t, specs) for t in tasks}
    wanted = sorted({table for n in needs_of.values() if n is not None for table in n.tables})
    data: dict[str, TableData] = {}
    if reads_warehouse:
        try:
            data = table_data(context.warehouse, context.period, wanted)
        except ParamsError as exc:
            raise ParamsError(f"{source}: nothing was run: {exc}") from None
    active = bool(active_specs(context.initiatives_dir)) if context.initiatives_dir.is_dir() else False
    plans: list[PagePlan] = []
    kept: list[Task] = []
    covered = {t.entry for t in tasks}
    for entry in cfg.notebooks:
        needs = page_needs(entry.name)
        if entry.per_initiative and entry.name not in covered and needs is not None:
            plans.append(PagePlan(entry.name, False, (_no_initiative(needs, context.initiatives_dir),)))
        for task in (t for t in tasks if t.entry == entry.name):
            checked = needs_of[task.stem] if reads_warehouse else None
            page = _page(task.stem, checked, data, context.period, context.initiatives_dir, active)
            plans.append(page)
            if page.runs:
                kept.append(task)
    reading = [t for t in tasks if page_needs(t.entry) is not None]
    if reads_warehouse and reading and not any(t in kept for t in reading):
        reasons = "\n".join(f"  - {p.stem}: {' '.join(p.notes)}" for p in plans if not p.runs and p.notes)
        raise ParamsError(
            f"{source}: nothing was run: no page has data to show for {context.period} in warehouse {context.warehouse}.\n"
            f"{reasons}\nThe warehouse's data cover: {_coverage(data)}. "
            "Choose a month in that span with --period YYYY-MM, or ingest the missing exports (`outcomes ingest`)."
        )
    return Preflight(context.period, context.warehouse if reads_warehouse else None, kernel, tuple(plans), tuple(kept), data)
