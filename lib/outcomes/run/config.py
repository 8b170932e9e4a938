"""The monthly run's parameters file (``params/monthly.yaml``) as a typed, frozen model.

Example::

    kernel: null                 # "outcomes" when installed, else "python3"
    execution_timeout: 900       # seconds per cell
    parameters:                  # given to every notebook whose parameters cell declares them
      currency: EUR
    notebooks:
      - name: 01_joint_scorecard
      - name: 02_initiative_review
        per_initiative: true     # once per params/initiatives/*.yaml with active: true
      - name: 00_executive_summary
        after: [01_joint_scorecard, 02_initiative_review]

Keys of ``parameters`` are checked against each notebook's ``parameters`` cell before
anything runs (papermill itself only warns about unknown names).

A pack that is not a monthly report (the case study, ``params/case_study.yaml``) sets
``publish_as``: it is then published into ``reports/<publish_as>/`` under its own
``title``, and ``requires`` names the data it cannot run without::

    publish_as: case-study
    title: "Case study: the kit on public data"
    requires:
      - path: ../shared/data/hillstrom_email_experiment
        help: Kevin Hillstrom's MineThatData e-mail test (2008); see docs/case-study.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from outcomes import config, params
from outcomes.errors import ParamsError
from outcomes.params import Params
from outcomes.periods import Month
from outcomes.run.notify import NotifySettings

Engine = Literal["duckdb", "spark"]


class NotebookEntry(Params):
    """One notebook of the pack.

    Parameters
    ----------
    name : str
        The report's file stem; the notebook is ``notebooks/<name>.ipynb`` unless ``path`` says otherwise.
    path : Path, optional
        The notebook, relative to the project root.
    title : str, optional
        Link text on the month's index page; defaults to the notebook's first heading.
    parameters : dict
        Values for the notebook's ``parameters`` cell (override the run-wide ``parameters``).
    per_initiative : bool
        Run once per active initiative, passing its id in ``initiative_parameter``.
    initiative_parameter : str
        Name of the parameter that receives the initiative id.
    after : list of str
        Names of notebooks that must finish first (their results are readable with
        ``report.results()``).
    optional : bool
        Skip the notebook with a warning when its file does not exist (otherwise a
        missing file is a configuration error).
    execution_timeout : int, optional
        Seconds a single cell of this notebook may run (default: the run's).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    path: Path | None = None
    title: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    per_initiative: bool = False
    initiative_parameter: str = "initiative"
    after: list[str] = Field(default_factory=list)
    optional: bool = False
    execution_timeout: int | None = Field(default=None, gt=0)

    @property
    def notebook_path(self) -> Path:
        """The notebook file, relative to the project root unless absolute."""
        return self.path if self.path is not None else Path("notebooks") / f"{self.name}.ipynb"


class PIIFile(Params):
    """Columns of a data file (CSV, optionally gzipped) whose values must never be published.

    Parameters
    ----------
    path : Path
        The file, relative to the project root; skipped when it does not exist.
    columns : list of str
        Its columns holding personal data or customer ids.
    """

    path: Path
    columns: list[str] = Field(min_length=1)


class PIIScan(Params):
    """The final personal-data scan of the published pages and notebooks.

    Parameters
    ----------
    columns : list of str
        More ``table.column`` values in the warehouse that must never appear in a report;
        every column the data model marks as personal data (ids, names, e-mails) is
        scanned anyway. Values are matched as whole tokens, case-insensitively (the rule
        is in :mod:`outcomes.run.pii`). Tables or columns missing from the warehouse are
        skipped.
    files : list of PIIFile
        Columns of data files read directly (not through the warehouse), scanned the same way.
    deny_list : Path, optional
        A text file with more strings, one per line.
    min_length : int
        Shorter strings are not searched for (they match ordinary words), except values of
        at least 3 characters mixing letters and digits (ids such as ``C001``).
    """

    columns: list[str] = Field(default_factory=lambda: ["customers.name", "customers.email"])
    files: list[PIIFile] = Field(default_factory=list)
    deny_list: Path | None = None
    min_length: int = Field(default=5, ge=1)

    @field_validator("columns")
    @classmethod
    def _table_dot_column(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v.count(".") != 1]
        if bad:
            raise ValueError(f"write columns as table.column (e.g. customers.email); got {bad}")
        return value


class Requirement(Params):
    """A file or folder the pack cannot run without (checked before anything runs).

    Parameters
    ----------
    path : Path
        Relative to the project root.
    help : str
        Where to get it, shown when it is missing.
    """

    path: Path
    help: str = Field(min_length=1)


class RunConfig(Params):
    """A pack's run configuration (``params/monthly.yaml``, ``params/case_study.yaml``): its notebooks and how they run.

    Parameters
    ----------
    notebooks : list of NotebookEntry
        The pack, in the order reports are listed on the index page (the executive
        summary is always listed first).
    parameters : dict
        Run-wide values, given to every notebook whose parameters cell declares the name.
        The run's settings (:data:`outcomes.run.context.NOTEBOOK_SETTINGS`) come from
        the keys below and ``--period``, never from here.
    kernel : str, optional
        Jupyter kernel; ``None`` picks ``outcomes`` when installed, else ``python3``.
    execution_timeout : int
        Seconds a single cell may run.
    start_timeout : int
        Seconds a kernel may take to start.
    max_workers : int, optional
        Notebooks run at the same time; defaults to the number of cores.
    engine : {"duckdb", "spark"}
        Query engine, passed to notebooks declaring an ``engine`` parameter.
    engine_settings : Path, optional
        The engine settings file; default the file named by ``OUTCOMES_ENGINE_PARAMS``,
        else ``params/engine.yaml``.
    targets_file, value_model : Path
        The scorecard targets and the value model.
    reports_dir, initiatives_dir, warehouse, raw_dir : Path
        Folders and files, relative to the project root. The warehouse, engine, engine
        settings, targets, value model, initiatives folder and period reach every notebook
        declaring them (:class:`outcomes.run.context.RunContext`). ``warehouse: null`` for a pack
        that reads no single warehouse (the case study reads one per dataset): the
        manifest then fingerprints the files under ``raw_dir`` and the personal-data scan
        uses ``pii.files`` and the deny-list only.
    max_page_mb : float
        Largest HTML page that may be published.
    max_report_age_months : int
        How many months before the run's month the reported month may lie before the
        month's index page warns that newer data may exist (default 2: a run in
        February reporting on December passes, one in December 2026 reporting on
        December 2025 is warned about).
    pii : PIIScan
        The final personal-data scan.
    publish_as : str, optional
        Publish the pack into ``reports/<publish_as>/`` under ``title`` instead of into
        ``reports/<period>/`` as a monthly report (lower-case letters, digits, ``-`` and
        ``_``, starting with a letter). Its ``results.json`` then has ``period: null``.
    title : str, optional
        Title of the pack's index page (only with ``publish_as``; default: ``publish_as``).
    description : str, optional
        A line under the title of the pack's index page (only with ``publish_as``).
    sections : dict of str to str
        Labels of the ``findings`` sections on the pack's index page, in display order
        (only with ``publish_as``); a section without a label shows under its name.
    requires : list of Requirement
        Files or folders that must exist before anything runs; a missing one stops the
        run with its ``help`` (where to get it).
    notify : NotifySettings
        Webhooks and e-mail told when a run fails, succeeds or a month is missing
        (:mod:`outcomes.run.notify`); nothing is sent when empty.
    """

    notebooks: list[NotebookEntry] = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    kernel: str | None = None
    execution_timeout: int = Field(default=900, gt=0)
    start_timeout: int = Field(default=120, gt=0)
    max_workers: int | None = Field(default=None, ge=1)
    engine: Engine = "duckdb"
    engine_settings: Path | None = None
    targets_file: Path = Path("params/targets.yaml")
    value_model: Path = Path("params/value.yaml")
    reports_dir: Path = Path("reports")
    initiatives_dir: Path = Path("params/initiatives")
    warehouse: Path | None = Path("data/warehouse.duckdb")
    raw_dir: Path = Path("data/raw")
    max_page_mb: float = Field(default=5.0, gt=0)
    max_report_age_months: int = Field(default=2, ge=0)
    pii: PIIScan = Field(default_factory=PIIScan)
    publish_as: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]*$")
    title: str | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, min_length=1)
    sections: dict[str, str] = Field(default_factory=dict)
    requires: list[Requirement] = Field(default_factory=list)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @model_validator(mode="after")
    def _pack_keys_need_publish_as(self) -> RunConfig:
        given = [k for k in ("title", "description") if getattr(self, k) is not None]
        if given and self.publish_as is None:
            raise ValueError(
                f"{' and '.join(given)} name a pack published under its own name; set publish_as "
                "(e.g. publish_as: case-study) or remove them (a monthly pack's title is its month)"
            )
        if self.sections and self.publish_as is None:
            raise ValueError("sections label the findings of a pack published under its own name; set publish_as or remove them")
        return self

    @property
    def pack_title(self) -> str | None:
        """The index page's title of a pack published under its own name (None for the monthly pack)."""
        if self.publish_as is None:
            return None
        return self.title or self.publish_as


def load(path: str | Path) -> RunConfig:
    """Read and check ``params/monthly.yaml``.

    Parameters
    ----------
    path : str or Path
        The run's parameters file.

    Returns
    -------
    RunConfig
        The validated configuration.

    Raises
    ------
    ParamsError
        Naming the file, the key and the valid keys or names.
    """
    cfg = params.load(path, RunConfig)
    check(cfg, str(path))
    return cfg


def check_requirements(cfg: RunConfig, source: str, project: config.Project) -> None:
    """Check that every ``requires`` path exists (relative paths from ``project``'s folder).

    Raises
    ------
    ParamsError
        Naming each missing path and where to get it.
    """
    missing = [r for r in cfg.requires if not project.resolve(r.path).exists()]
    if missing:
        lines = "\n".join(f"  - {project.resolve(r.path)} ({r.path}): {r.help}" for r in missing)
        raise ParamsError(f"{source}: nothing was run; the pack needs data that are not there:\n{lines}")


def check(cfg: RunConfig, source: str) -> None:
    """Check what one key cannot: unique names, known ``after`` names, no cycles, months.

    Raises
    ------
    ParamsError
        Naming the file, the notebook and the valid names.
    """
    names = [nb.name for nb in cfg.notebooks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ParamsError(f"{source}: notebook names must be unique; repeated: {', '.join(dupes)}")
    for nb in cfg.notebooks:
        unknown = [a for a in nb.after if a not in names]
        if unknown:
            raise ParamsError(
                f"{source}: notebook '{nb.name}' key 'after' names {unknown}, which are not in the pack; "
                f"valid names are: {', '.join(names)}"
            )
    try:
        _check_acyclic({nb.name: list(nb.after) for nb in cfg.notebooks})
    except ValueError as exc:
        raise ParamsError(f"{source}: {exc}") from None
    given = [("parameters", cfg.parameters)]
    given += [(f"notebook '{nb.name}' parameters", nb.parameters) for nb in cfg.notebooks]
    for where, values in given:
        if values.get("period"):  # empty: the notebook's "no month"
            try:
                Month.parse(values["period"])
            except ParamsError as exc:
                raise ParamsError(f"{source}: {where}: {exc}") from None


def _check_acyclic(after: dict[str, list[str]]) -> None:
    """Raise ``ValueError`` naming a cycle in the ``after`` relation, if there is one."""
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name) :] + [name]
            raise ValueError(f"the 'after' lists form a cycle: {' -> '.join(cycle)}; remove one of these links")
        state[name] = 1
        for dep in after[name]:
            visit(dep, [*trail, name])
        state[name] = 2

    for name in after:
        visit(name, [])
