"""The `outcomes` command line: one entry point, one sub-command per pipeline step."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from outcomes import config
from outcomes.errors import OutcomesError, ParamsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Join IT delivery with customer outcomes, test IT initiatives and report ROI.",
)
kernel_app = typer.Typer(no_args_is_help=True, help="The `outcomes` Jupyter kernel the report notebooks ask for.")
app.add_typer(kernel_app, name="kernel")
console = Console()
err_console = Console(stderr=True)

#: Commands that make their own folder (or none) and so need no project folder.
WITHOUT_PROJECT = frozenset({"init", "demo", "kernel"})
#: Log level of the kit's loggers for -q, the default, -v and -vv.
LOG_LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}

_quiet: list[bool] = [False]


def _fail(exc: OutcomesError, code: int = 2) -> None:
    """Print a kit error without a traceback and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(show: bool) -> None:
    """Print the installed kit's version and exit (``--version``)."""
    if show:
        try:
            console.print(f"outcomes {version('outcomes')}", highlight=False)
        except PackageNotFoundError:
            console.print("outcomes (not installed: run from a source folder)", highlight=False)
        raise typer.Exit()


def _set_log_level(verbose: int, quiet: bool) -> None:
    """Send the kit's log records to stderr at the level ``-v``/``-q`` ask for."""
    level = LOG_LEVELS[-1 if quiet else min(verbose, 2)]
    logger = logging.getLogger("outcomes")
    if level < logging.WARNING:  # records below WARNING must reach the handler; a report run also lowers it
        logger.setLevel(level)
    handler = next((h for h in logger.handlers if isinstance(h, RichHandler)), None)
    if handler is None:
        handler = RichHandler(console=err_console, show_path=False, show_time=False)
        logger.addHandler(handler)
    handler.setLevel(level)
    _quiet[0] = quiet


@contextmanager
def _progress() -> Iterator[Progress]:
    """A progress display on stderr (hidden with ``-q``)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=_quiet[0], transient=False) as bars:
        yield bars


def _ingest_progress(bars: Progress) -> Callable[[str, Path, int], None]:
    """A callback for :func:`~outcomes.ingest.refresh.refresh_ingest` that counts files and rows on ``bars``."""
    task = bars.add_task("ingest: files read", total=None)
    rows = [0]

    def file_read(source: str, path: Path, n: int) -> None:
        rows[0] += n
        bars.update(task, advance=1, description=f"ingest: {source} {path.name}, {rows[0]:,} rows read")

    return file_read


@app.callback()
def main_options(
    ctx: typer.Context,
    project: Path = typer.Option(
        None, "--project", help="The project folder; default OUTCOMES_ROOT, else the working directory (holding params/)."
    ),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="Log more: -v progress notes, -vv debugging."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log errors only and hide progress bars."),
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the kit's version and exit."
    ),
) -> None:
    """Set the log level; choose the project folder every path hangs off, and say which one."""
    _set_log_level(verbose, quiet)
    if ctx.invoked_subcommand in WITHOUT_PROJECT:
        return
    try:
        chosen = config.use_project(config.find_project(project))
    except OutcomesError as exc:
        _fail(exc)
    if not quiet:
        err_console.print(f"project {chosen.root} (from {chosen.source})", highlight=False, soft_wrap=True)


@app.command()
def init(
    folder: Path = typer.Argument(..., help="The new project folder (created; must be empty unless --force)."),
    preset: str = typer.Option("servicenow", help="Service-desk tool of your ticket export: servicenow or jira."),
    force: bool = typer.Option(False, help="Add the missing files to a non-empty folder; existing files are kept."),
) -> None:
    """Create a project folder for your own data: params/, notebooks/, data/raw/ and a README of next steps."""
    from outcomes.scaffold.create import init_project

    try:
        done = init_project(folder, preset, force=force)  # type: ignore[arg-type]  # checked inside
    except OutcomesError as exc:
        _fail(exc)
    for relative in done.kept:
        err_console.print(f"kept {done.root / relative} (exists; not overwritten)", highlight=False, soft_wrap=True)
    err_console.print(f"wrote {len(done.written)} file(s); next steps are in {done.root / 'README.md'}", highlight=False)
    console.print(str(done.root), highlight=False, soft_wrap=True)


@app.command()
def demo(
    folder: Path = typer.Argument(
        None, help="Folder of the demo project (new, empty or an earlier demo); default ./outcomes-demo."
    ),
    scale: float = typer.Option(1.0, help="Size of the company; 1 runs in seconds, 100 gives about 10 million tickets."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives the same data."),
    out: Path = typer.Option(None, help="Only write the exports and ground_truth.json into this folder (no project)."),
) -> None:
    """Make the demo company's project folder: parameters, notebooks, exports, warehouse; then `outcomes run` there."""
    from outcomes.scaffold.demo import make_demo
    from outcomes.simulate import generate

    if folder is not None and out is not None:
        _fail(ParamsError(f"demo: give either a folder ({folder}) or --out ({out}), not both; --out writes the exports only"))
    with _progress() as bars:
        months = bars.add_task("demo: months simulated", total=None)

        def month_done(label: str, done: int, total: int) -> None:
            bars.update(months, completed=done, total=total, description=f"demo: simulated {label}")

        try:
            if out is not None:
                console.print(generate(out_dir=out, scale=scale, seed=seed, month_done=month_done).to_table())
                return
            made = make_demo(
                folder or Path("outcomes-demo"), scale=scale, seed=seed, month_done=month_done,
                file_read=_ingest_progress(bars),
            )
        except OutcomesError as exc:
            _fail(exc)
    console.print(made.generation.to_table())
    console.print(made.ingest.to_table())
    err_console.print(f"demo ready: cd {made.root} && outcomes run", highlight=False, soft_wrap=True)


@kernel_app.command("install")
def kernel_install(
    user: bool = typer.Option(False, "--user", help="For this user's Jupyter (the default): a system JupyterLab or JupyterHub sees it."),
    sys_prefix: bool = typer.Option(False, "--sys-prefix", help="Into this environment only (its share/jupyter)."),
    prefix: Path = typer.Option(None, help="Into <prefix>/share/jupyter/kernels."),
) -> None:
    """Install the `outcomes` kernel spec, running this Python, where Jupyter finds it."""
    from outcomes.scaffold.kernel import install_kernel

    if sum((user, sys_prefix, prefix is not None)) > 1:
        _fail(ParamsError("kernel install: give one of --user, --sys-prefix or --prefix"))
    path = install_kernel("sys-prefix" if sys_prefix else "user", prefix=prefix)
    console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def ingest(
    sources: Path = typer.Option(None, help="Source mappings (YAML); default params/sources.yaml."),
    full: bool = typer.Option(
        False, "--full", help="Rebuild from every export; by default only the exports that changed are read."
    ),
) -> None:
    """Bring the warehouse up to date with the exports; name files changed or removed; print rows per source."""
    from outcomes.ingest.refresh import refresh_ingest

    with _progress() as bars:
        try:
            result = refresh_ingest(
                sources or config.project().params_dir / "sources.yaml", full=full, progress=_ingest_progress(bars)
            )
        except OutcomesError as exc:
            _fail(exc)
    for line in result.report.lines():
        console.print(line, highlight=False, soft_wrap=True)
    console.print(result.summary.to_table())


sources_app = typer.Typer(no_args_is_help=True, help="Check the source mappings of params/sources.yaml.")
app.add_typer(sources_app, name="sources")


@sources_app.command("check")
def sources_check(
    sources: Path = typer.Option(None, help="Source mappings (YAML); default params/sources.yaml."),
    source: str = typer.Option(None, help="Check only this source; default: every source."),
    rows: int = typer.Option(5, min=0, help="Mapped rows to show per source."),
    show_personal_data: bool = typer.Option(
        False, "--show-personal-data", help="Show the values of columns the data model marks personal (masked by default)."
    ),
) -> None:
    """Show each source's settings in force (and where they come from), rows as mapped, and rejects by rule; write nothing."""
    from outcomes.ingest.preview import preview_sources

    try:
        previews = preview_sources(
            sources or config.project().params_dir / "sources.yaml",
            source=source,
            rows=rows,
            show_personal_data=show_personal_data,
        )
    except OutcomesError as exc:
        _fail(exc)
    for preview in previews:
        for table in preview.to_tables():
            console.print(table)


@app.command()
def docs(
    out: Path = typer.Option(None, help="Folder of the generated pages; default docs/."),
) -> None:
    """Regenerate the documentation pages built from the code (docs/data-model.md...)."""
    from outcomes.run.docs import write_docs

    for page in write_docs(out or config.project().docs_dir):
        console.print(f"wrote {page}")


@app.command()
def run(
    config_file: Path = typer.Option(None, "--config", help="The run's parameters (YAML); default params/monthly.yaml."),
    period: str = typer.Option(None, help="Month to report, YYYY-MM; default: the last complete month in UTC."),
    engine: str = typer.Option(None, help="Query engine passed to the notebooks: duckdb or spark (default: from --config)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only check the configuration, the warehouse, the month and the kernel; print the plan."
    ),
) -> None:
    """Run the monthly report pack and publish reports/<period>/ atomically; print its index page."""
    from outcomes.errors import ParamsError, ReportRunError
    from outcomes.run.monthly import RunInterrupted, prepare, run_monthly

    if engine not in (None, "duckdb", "spark"):
        _fail(ParamsError(f"--engine {engine!r} is not supported; valid engines are: duckdb, spark"))
    if dry_run:
        try:
            project = config.project()
            checked = prepare(config_file or project.params_dir / "monthly.yaml", project=project, period=period, engine=engine)
        except OutcomesError as exc:
            _fail(exc)
        console.print(checked.preflight.summary(), highlight=False, soft_wrap=True, markup=False)
        return
    try:
        summary = run_monthly(config_file or config.project().params_dir / "monthly.yaml", period=period, engine=engine)
    except RunInterrupted as exc:
        _fail(exc, code=130)
    except ReportRunError as exc:
        _fail(exc, code=1)
    except OutcomesError as exc:
        _fail(exc)
    err_console.print(f"published {len(summary.runs)} report(s) for {summary.period} in {summary.seconds:.0f} s")
    console.print(str(summary.index), highlight=False, soft_wrap=True)


@app.command()
def status(
    config_file: Path = typer.Option(None, "--config", help="The run's parameters (YAML); default params/monthly.yaml."),
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when the last complete month (UTC) has no report or the last run failed; send the missing event."
    ),
) -> None:
    """Say how the monthly runs went (reports/status.json); with --check, act as the scheduler's monitor.

    Exit codes: 0 all is well (always without --check), 1 a month is missing or the last run
    failed (--check), 2 invalid configuration or unreadable status file.
    """
    from outcomes.run import status as run_status
    from outcomes.run.config import load as load_config
    from outcomes.run.monthly import last_complete_month

    try:
        project = config.project()
        cfg = load_config(config_file or project.params_dir / "monthly.yaml")
        reports_dir = project.resolve(cfg.reports_dir)
        verdict = run_status.check(reports_dir, cfg.notify, expected=last_complete_month()) if check else None
        current = verdict.status if verdict else run_status.read(reports_dir)
    except OutcomesError as exc:
        _fail(exc)
    for line in run_status.describe(current):
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    if verdict is not None and not verdict.ok:
        for problem in verdict.problems:
            err_console.print(f"[bold red]problem:[/] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def pdf(
    config_file: Path = typer.Option(None, "--config", help="The run's parameters (YAML); default params/monthly.yaml."),
    period: str = typer.Option(None, help="Published month to print, YYYY-MM; default: the newest published month."),
    out: Path = typer.Option(None, help="Folder for the PDFs; default reports/pdf/<period>/ (the published month stays as it is)."),
) -> None:
    """Print a published month to PDF (A4) through headless Chromium: one PDF per page plus the index."""
    from outcomes.run.config import load as load_config
    from outcomes.run.pdf import month_folder, print_month

    try:
        project = config.project()
        cfg = load_config(config_file or project.params_dir / "monthly.yaml")
        pdfs = print_month(month_folder(project.resolve(cfg.reports_dir), period), out)
    except OutcomesError as exc:
        _fail(exc)
    for path in pdfs:
        console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def experiment(
    spec_file: Path = typer.Argument(..., help="Initiative parameters, params/initiatives/<id>.yaml (randomized design)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results.json entry to this file."),
) -> None:
    """Analyse a randomized initiative from its unit table (data.table); print effects and the decision."""
    import json

    from outcomes.experiment import InitiativeSpec, analyze_table, read_table
    from outcomes.params import load

    try:
        spec = load(spec_file, InitiativeSpec)
        result = analyze_table(read_table(spec), spec)
    except OutcomesError as exc:
        _fail(exc)
    console.print(result.summary(), highlight=False, soft_wrap=True, markup=False)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False), encoding="utf-8")
        err_console.print(f"wrote {json_out}")


@app.command()
def analyze(
    params_file: Path = typer.Argument(..., help="Initiative parameters, params/initiatives/<id>.yaml."),
    out: Path = typer.Option(None, help="Folder for the HTML page and results.json; default reports/analyze/<id>; never a published month."),
    period: str = typer.Option(None, help="Analyse data up to this month, YYYY-MM; default: all data."),
) -> None:
    """Review one initiative: run the review notebook, write its HTML page and results.json."""
    from outcomes.errors import ReportRunError
    from outcomes.experiment.spec import InitiativeSpec
    from outcomes.params import load
    from outcomes.run.analyze import analyze as run_analyze

    try:
        project = config.project()
        spec = load(project.resolve(params_file), InitiativeSpec)
        html, results = run_analyze(
            spec, params_file, out or project.reports_dir / "analyze" / spec.id, period=period, project=project
        )
    except ReportRunError as exc:
        _fail(exc, code=1)
    except OutcomesError as exc:
        _fail(exc)
    console.print(str(html), highlight=False, soft_wrap=True)
    err_console.print(f"wrote {results}")


@app.command("new-initiative")
def new_initiative(
    initiative_id: str = typer.Argument(..., help="Id of the new initiative (lower-case, digits, - and _)."),
    folder: Path = typer.Option(None, help="Folder of the initiative parameters; default params/initiatives."),
    assignment: str = typer.Option(
        None,
        help="How units got the change: randomized, some-units, unit-by-unit, one-site or everyone; the template "
        "carries the design that fits. Asked when omitted at a terminal; randomized otherwise.",
    ),
    metric: str = typer.Option(
        None, help="Plan from history: a per-ticket metric (first_response_mean_hours...) whose past variance and "
        "intake size the test; needs --mde."
    ),
    mde: float = typer.Option(None, help="Plan from history: the smallest change worth detecting, on the metric's scale."),
    unit: str = typer.Option("ticket", help="Plan from history: the unit randomized, ticket or customer."),
    months: int = typer.Option(3, help="Plan from history: whole months of the warehouse read, ending where data end."),
) -> None:
    """Write a commented parameters template params/initiatives/<ID>.yaml (never overwrites), with the design that fits."""
    from outcomes.experiment.design_choice import SUGGESTIONS
    from outcomes.run.analyze import write_template

    planning = ""
    if (metric is None) != (mde is None):
        _fail(ParamsError(
            f"--metric {metric!r} and --mde {mde!r}: planning from history needs both, e.g. "
            "--metric first_response_mean_hours --mde 0.1"
        ))
    if metric is not None:
        from outcomes.experiment.randomized.history import metric_history
        from outcomes.warehouse import store

        try:
            con = store.connect(config.project().warehouse)
            try:
                planning = metric_history(con, metric, unit, months).comment(mde)  # type: ignore[arg-type]
            finally:
                con.disconnect()
        except (OutcomesError, ValueError) as exc:
            _fail(exc if isinstance(exc, OutcomesError) else ParamsError(f"--mde {mde!r}: {exc}"))

    if assignment is None and sys.stdin.isatty():
        console.print("How were units assigned to the change?")
        for key, choice in SUGGESTIONS.items():
            console.print(f"  {key:<13} {choice.question} -> design {choice.design}", highlight=False)
        assignment = typer.prompt("assignment", default="randomized")
    try:
        path = write_template(
            initiative_id, folder or config.project().initiatives_dir, assignment or "randomized", planning
        )
    except OutcomesError as exc:
        _fail(exc)
    console.print(str(path), highlight=False, soft_wrap=True)


@app.command("export-parquet")
def export_parquet(
    warehouse: Path = typer.Option(None, help="The DuckDB warehouse to export; default data/warehouse.duckdb."),
    out: Path = typer.Option(None, help="Export folder; default spark.data.parquet of params/engine.yaml."),
    partition_by_month: bool | None = typer.Option(
        None,
        "--partition-by-month/--one-file-per-table",
        help="Split tickets, orders and surveys into month=YYYY-MM folders; default spark.data.partition_by_month.",
    ),
) -> None:
    """Write every canonical table to <out>/<table>.parquet for Spark (replaces the folder atomically)."""
    from outcomes.warehouse.spark_backend import export_parquet as export
    from outcomes.warehouse.spark_backend import load_settings

    try:
        if partition_by_month is None:
            partition_by_month = load_settings().spark.data.partition_by_month
        summary = export(warehouse or config.project().warehouse, out, partition_by_month=partition_by_month)
    except OutcomesError as exc:
        _fail(exc)
    console.print(summary.to_table())


def main() -> None:  # pragma: no cover - console entry
    """Run the command line."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

