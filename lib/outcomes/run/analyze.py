"""``outcomes analyze`` and ``outcomes new-initiative``: one initiative's review, outside the monthly run.

:func:`analyze` runs the review notebook (``notebooks/02_initiative_review.ipynb``) on
one initiative file and writes its page and ``results.json``; :func:`write_template`
writes a commented initiative file for an analyst to fill in.

Before a kernel starts, the output folder is checked (:func:`check_out_folder`: never a
published report) and so are the arms of a randomized initiative
(:func:`outcomes.experiment.arms.check_arms`). After the notebook ran, its page, notebook
and ``results.json`` pass the personal-data scan of the monthly run
(:func:`outcomes.run.pii.scan_with`); on a hit they are removed and the analysis fails.
"""

from __future__ import annotations

import re
from pathlib import Path

from outcomes import config
from outcomes.errors import ParamsError, PublishError, ReportRunError
from outcomes.experiment.arms import check_arms
from outcomes.experiment.design_choice import suggest
from outcomes.experiment.spec import InitiativeSpec
from outcomes.periods import Month
from outcomes.report.review import analysed_month
from outcomes.run import html as report_html
from outcomes.run import pii, writes
from outcomes.run.config import PIIScan
from outcomes.run.config import load as load_run_config
from outcomes.warehouse import store
from outcomes.run.monthly import (
    ExecutionOptions,
    default_kernel,
    execute_and_render,
    write_results,
)

#: The review notebook, relative to the project folder.
NOTEBOOK = Path("notebooks") / "02_initiative_review.ipynb"
#: The file every published month or pack holds.
MANIFEST_NAME = "manifest.json"
#: A published month's folder name under the reports folder.
MONTH_FOLDER = re.compile(r"^\d{4}-\d{2}$")


def check_out_folder(out: Path, reports_dir: Path, ident: str) -> None:
    """Refuse an output folder inside a published report: the analysis would overwrite it.

    Refused: the reports folder itself, a month folder ``YYYY-MM`` directly under it, and
    any folder holding a ``manifest.json`` (a published month or pack), with everything
    inside them.

    Parameters
    ----------
    out : Path
        The ``--out`` folder (absolute).
    reports_dir : Path
        The project's reports folder (absolute).
    ident : str
        The initiative id, for the suggested folder.

    Raises
    ------
    PublishError
        Naming the published folder and suggesting ``<reports>/analyze/<id>``.
    """
    out, reports = out.resolve(), reports_dir.resolve()
    published = None
    if out == reports:
        published = reports
    for folder in [out, *out.parents]:
        if folder == reports:
            continue
        if (folder.parent == reports and MONTH_FOLDER.match(folder.name)) or (folder / MANIFEST_NAME).is_file():
            published = folder
    if published is not None:
        raise PublishError(
            f"--out {out} is inside {published}, "
            + ("the reports folder" if published == reports else "a published report")
            + f"; an analysis there would overwrite published results. Write it to its own folder, e.g. "
            f"--out {reports / 'analyze' / ident} (the default)"
        )


def _pii_settings(project: config.Project) -> PIIScan:
    """The ``pii`` section of the project's ``params/monthly.yaml`` (its defaults when there is none)."""
    monthly = project.params_dir / "monthly.yaml"
    return load_run_config(monthly).pii if monthly.is_file() else PIIScan()


def analyze(
    spec: InitiativeSpec, params: Path, out: Path, *, period: str | None = None, project: config.Project | None = None
) -> tuple[Path, Path]:
    """Run the review notebook on one initiative; write its HTML page and ``results.json``.

    The caller validates the file (a misspelt key fails at once, before a kernel starts)
    and passes the spec; the notebook's kernel reads the file itself.

    Parameters
    ----------
    spec : InitiativeSpec
        The validated content of ``params``.
    params : Path
        ``params/initiatives/<id>.yaml`` or any initiative parameters file.
    out : Path
        Receives ``<id>.html``, the executed ``<id>.ipynb`` and ``results.json``.
    period : str, optional
        ``YYYY-MM``: analyse data up to the end of this month; default all data.
        ``results.json`` is labelled with this month, else with the last month the data
        cover (:func:`outcomes.report.review.analysed_month`).
    project : Project, optional
        The project folder (default: this process's).

    Returns
    -------
    tuple of Path
        The HTML page and ``results.json``.

    Raises
    ------
    ParamsError
        For an invalid period, or arms of the data that do not fit ``data.control`` or
        ``data.arm`` (before a kernel starts).
    PublishError
        For an output folder inside a published report (before a kernel starts), a
        folder or disk refusing the write, or personal data in the output (removed).
    ReportRunError
        When a cell of the notebook failed (naming the cell and the error).
    """
    project = project or config.project()
    path = project.resolve(params)
    out = project.resolve(out)
    check_out_folder(out, project.reports_dir, spec.id)
    period = str(Month.parse(period)) if period else None
    if spec.design == "randomized":
        con = None if spec.data.table else store.connect(project.warehouse)
        try:
            check_arms(spec, path, con)
        finally:
            if con is not None:
                con.disconnect()
    month = period or analysed_month(spec, warehouse_path=project.warehouse)
    options = ExecutionOptions(kernel=default_kernel(), cwd=project.root)
    values = {"initiative": str(path), "period": period or "", "warehouse": str(project.warehouse)}
    with writes.user_errors(f"writing the analysis of {spec.id} into {out}"):
        run = execute_and_render(project.root / NOTEBOOK, values, out, stem=spec.id, options=options)
        if run.failure is not None:
            raise ReportRunError(f"the review of {path} failed: {run.failure.summary()} (executed notebook: {run.ipynb})")
        results = out / "results.json"
        write_results(results, [run], month)
    written = [p for p in (run.html, run.ipynb, results) if p is not None]
    hits = pii.scan_with(written, _pii_settings(project), warehouse=project.warehouse, root=project.root, skip=report_html.vega_bundle())
    if hits:
        for p in written:
            p.unlink(missing_ok=True)
        lines = "\n".join(f"  - {h.summary()}" for h in hits)
        raise PublishError(
            f"personal data found in the analysis of {path} written to {out}; its page, notebook and results.json "
            f"were removed:\n{lines}\nPages show aggregates only: remove the cell, table or label that prints ids, "
            "names or e-mails (pii in params/monthly.yaml says what is scanned), then run the analysis again"
        )
    assert run.html is not None  # a run without failure has its page
    return run.html, results


TEMPLATE = """\
# Initiative parameters: fill in every value, then check the file with
#   outcomes analyze params/initiatives/{id}.yaml --out reports/{id}
# Keys are checked: a misspelt key is refused, with the valid keys listed.
{suggestion}
id: {id}
name: {name}                     # shown in the report
hypothesis: >-
  What the initiative should change, for whom, and what must not get worse.
design: {design}{design_pad}# randomized | did | its | synthetic_control | staggered (docs/statistics-quasi.md)
active: false                    # true: the monthly report reviews it
{start_lines}# min_pre_periods: 3             # quasi designs: fewer periods before the start block the result
#                                # (did 3, its 8, synthetic_control 5)
# end_date: "2025-06-30"         # last day of the test; default: the reported month

data:
  # A table you bring (CSV or Parquet; relative paths from the project root).
  # Remove `table` to read the warehouse instead: randomized tests then use the `assignments`
  # table (unit: customer, arm: arm) and per-customer columns such as tickets,
  # self_service_tickets, csat_answers, csat_satisfied, customer_months, revenue (see
  # outcomes.experiment.aggregates.UNIT_COLUMNS); quasi designs use catalog metric ids.
  table: data/raw/{id}.csv
{data}
  # segments: [segment]          # break effects down by these columns (ideas, not decisions)
{treated}
metrics:
  # Exactly one primary metric: the decision rests on it.
  - column: spend                # a column of the table (warehouse: `metric: <catalog id>`)
    kind: mean                   # mean | proportion (0/1 column) | ratio (numerator, denominator)
    role: primary
    direction: higher            # higher | lower: which way is better
    mde: 1.0                     # smallest change worth having, in the metric's unit
    label: spend per customer
    # pre: spend_before          # the same metric before the start: CUPED narrows the interval
    #                            # (a ratio also needs pre_denominator: its denominator before the start)
  # Guardrails must not get worse; a margin makes that a non-inferiority test.
  - column: conversion
    kind: proportion
    role: guardrail
    direction: higher
    margin: 0.01                 # may not fall by 1 pp or more
    label: conversion rate

alpha: 0.05                      # 1 - confidence level
correction: holm                 # holm | bh | none, within the goal and guardrail families
interval: {interval}{interval_pad}# sequential (looked at every month) | fixed (one planned look)
# planned_split: {{control: 1, treatment: 1}}
# expected_n: 10000              # units in control plus one arm at the planned end
# units_per_month: 2000          # eligible units per month, for the duration of the plan
"""

#: The ``data`` keys of a randomized test (one row per unit, an arm column).
_RANDOMIZED_DATA = """\
  unit: customer_id              # the unit id column, one row per unit
  arm: arm                       # the arm column
  control: control               # the control arm's value
  # cluster: queue               # when whole queues, teams or sites got an arm: the cluster column"""
#: The ``data`` keys of a quasi design (one row per unit and period).
_PANEL_DATA = """\
  unit: region                   # the unit column (sites, regions, teams), one row per unit and period
  time: month                    # the period column"""
#: ``treated_units`` by design (ITS: every unit is treated).
_TREATED = {
    "randomized": "",
    "its": "",
    "synthetic_control": "treated_units: [north]          # the one site that got the change\n",
    "staggered": (
        "rollout:                         # each unit that got the change and its first period with it;\n"
        "  north: 2025-03                 # units not named were never treated\n"
        "  east: 2025-06\n"
    ),
}
_DEFAULT_TREATED = "treated_units: [north, east]    # the units that got the change (the first wave, if several)\n"


def _pad(text: str, width: int = 25) -> str:
    """Spaces that align a trailing comment after ``text`` (at least one)."""
    return " " * max(1, width - len(text))


def _start_lines(design: str, start: str) -> str:
    """The template's ``start_date`` lines; a staggered rollout gives each unit's start in ``rollout`` instead."""
    if design == "staggered":
        return "# start_date is not used: each unit's first period with the change is in `rollout` below\n"
    return (
        f'start_date: "{start}"{_pad(f"start_date: {start!r}", 33)}# first day with the change (YYYY-MM-DD); '
        "did/its on a table: the first\n"
        "                                 # period with it, as the time column has it (1931, 2025Q1, 2025-W09, 2025-03)\n"
    )


def template_text(ident: str, assignment: str = "randomized", planning: str = "") -> str:
    """The commented parameters template of initiative ``ident`` for units assigned as ``assignment``.

    Parameters
    ----------
    ident : str
        The initiative id.
    assignment : str
        How units got the change (:data:`outcomes.experiment.design_choice.Assignment`).
    planning : str
        Comment lines proposing the size and duration
        (:meth:`outcomes.experiment.randomized.history.MetricHistory.comment`), placed
        after the design suggestion.

    Returns
    -------
    str
        YAML with the suggested design, its reasons as comments, and the keys that design needs.

    Raises
    ------
    ParamsError
        For an unknown ``assignment``.
    """
    choice = suggest(assignment)
    design, note = choice.design, choice.comment() + (f"\n{planning}" if planning else "")
    randomized = design == "randomized"
    start = "2025-01-01" if randomized else "2025-03"
    interval = "sequential" if randomized else "fixed"
    text = TEMPLATE.format(
        id=ident, name=ident.replace("-", " ").replace("_", " ").capitalize(), suggestion=note,
        design=design, design_pad=_pad(f"design: {design}", 33), start_lines=_start_lines(design, start),
        data=_RANDOMIZED_DATA if randomized else _PANEL_DATA, treated=_TREATED.get(design, _DEFAULT_TREATED),
        interval=interval, interval_pad=_pad(f"interval: {interval}", 33),
    )
    return text


def write_template(
    ident: str, folder: Path | None = None, assignment: str = "randomized", planning: str = ""
) -> Path:
    """Write a commented parameters template ``<folder>/<ident>.yaml`` for an analyst.

    Parameters
    ----------
    ident : str
        The initiative id: lower-case letters, digits, ``-`` and ``_``.
    folder : Path, optional
        Defaults to the project's ``params/initiatives``.
    assignment : str
        How units got the change; the template carries the design suggested for it
        (:func:`outcomes.experiment.design_choice.suggest`).
    planning : str
        Planning comment lines, as :func:`template_text`.

    Returns
    -------
    Path
        The new file.

    Raises
    ------
    ParamsError
        When the id is not valid, the assignment unknown, or the file exists (it is never overwritten).
    """
    if not ident or not (ident[0].isalnum() and ident == ident.lower()) or not all(
        ch.isalnum() or ch in "-_" for ch in ident
    ):
        raise ParamsError(
            f"initiative id {ident!r} is not valid: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. self-service-portal)"
        )
    text = template_text(ident, assignment, planning)
    path = (folder or config.project().initiatives_dir) / f"{ident}.yaml"
    if path.exists():
        raise ParamsError(f"{path} already exists; edit it, or choose another id (it is never overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path
