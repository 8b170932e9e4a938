"""The `outcomes` command line: one entry point, one sub-command per pipeline step."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from outcomes import config
from outcomes.errors import OutcomesError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Join IT delivery with customer outcomes, test IT initiatives and report ROI.",
)
console = Console()
err_console = Console(stderr=True)


def _fail(exc: OutcomesError, code: int = 2) -> None:
    """Print a kit error without a traceback and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def choose_project(
    project: Path = typer.Option(
        None, "--project", help="The project folder; default OUTCOMES_ROOT, else the working directory (holding params/)."
    ),
) -> None:
    """Choose the project folder every path hangs off, and say which one."""
    try:
        chosen = config.use_project(config.find_project(project))
    except OutcomesError as exc:
        _fail(exc)
    err_console.print(f"project {chosen.root} (from {chosen.source})", highlight=False, soft_wrap=True)


@app.command()
def demo(
    scale: float = typer.Option(1.0, help="Size of the company; 1 runs in seconds, 100 gives about 10 million tickets."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives the same data."),
    out: Path = typer.Option(None, help="Folder for the exports and ground_truth.json; default data/raw."),
) -> None:
    """Write the demo company's raw exports (CSV and Parquet) and ground_truth.json."""
    from outcomes.simulate import generate

    try:
        summary = generate(out_dir=out or config.project().raw_dir, scale=scale, seed=seed)
    except OutcomesError as exc:
        _fail(exc)
    console.print(summary.to_table())


@app.command()
def ingest(
    sources: Path = typer.Option(None, help="Source mappings (YAML); default params/sources.yaml."),
) -> None:
    """Load every source into the warehouse; print rows read, loaded and rejected per source."""
    from outcomes.ingest.load import run_ingest

    try:
        summary = run_ingest(sources or config.project().params_dir / "sources.yaml")
    except OutcomesError as exc:
        _fail(exc)
    console.print(summary.to_table())


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
    out: Path = typer.Option(None, help="Folder for the HTML page and results.json; default reports/analyze/<id>."),
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
) -> None:
    """Write a commented parameters template params/initiatives/<ID>.yaml (never overwrites)."""
    from outcomes.run.analyze import write_template

    try:
        path = write_template(initiative_id, folder or config.project().initiatives_dir)
    except OutcomesError as exc:
        _fail(exc)
    console.print(str(path), highlight=False, soft_wrap=True)


@app.command("export-parquet")
def export_parquet(
    warehouse: Path = typer.Option(None, help="The DuckDB warehouse to export; default data/warehouse.duckdb."),
    out: Path = typer.Option(None, help="Export folder; default spark.data.parquet of params/engine.yaml."),
) -> None:
    """Write every canonical table to <out>/<table>.parquet for Spark (replaces the folder atomically)."""
    from outcomes.warehouse.spark_backend import export_parquet as export

    try:
        summary = export(warehouse or config.project().warehouse, out)
    except OutcomesError as exc:
        _fail(exc)
    console.print(summary.to_table())


def main() -> None:  # pragma: no cover - console entry
    """Run the command line."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

