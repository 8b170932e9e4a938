"""The settings of one report run, built once from its validated configuration.

Every notebook of a run and every library call it makes reads the warehouse, the engine
and the parameters files named here, never the project's defaults: the run gives each
notebook the settings its ``parameters`` cell declares (:meth:`RunContext.notebook_values`),
and the notebook passes them on explicitly (``store.connect(warehouse, engine=engine,
spark_settings=engine_settings)``). Once the run has copied the warehouse into its work
folder (:mod:`outcomes.run.snapshot`), the notebooks, the manifest's fingerprints and the
personal-data scan read that copy (:attr:`RunContext.reads`); :attr:`RunContext.warehouse`
keeps naming the user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outcomes.config import Project
from outcomes.run.config import Engine, RunConfig
from outcomes.warehouse.spark_backend import engine_params_path

#: Notebook parameter name -> what it receives (every path absolute, as text; the age limit as a number).
NOTEBOOK_SETTINGS = (
    "period", "engine", "engine_settings", "warehouse", "targets_file", "value_model", "initiatives_dir", "reports_dir",
    "max_report_age_months",
)


@dataclass(frozen=True)
class RunContext:
    """Where one run reads from and what it reports on.

    Parameters
    ----------
    root : Path
        The project folder: the kernels' working directory.
    warehouse : Path or None
        The DuckDB warehouse (None for a pack reading no single warehouse).
    engine : {"duckdb", "spark"}
        The query engine.
    engine_settings : Path
        The engine settings file (``params/engine.yaml``).
    targets_file : Path
        The scorecard targets (``params/targets.yaml``).
    value_model : Path
        The value model (``params/value.yaml``).
    initiatives_dir : Path
        The initiative files (``params/initiatives``).
    period : str
        The reported month, ``YYYY-MM``.
    max_report_age_months : int
        How many months before the run the reported month may lie without the report-age
        warning (``max_report_age_months`` of the run configuration).
    snapshot : Path or None
        The copy of the warehouse the run reads (None until the run has taken it).
    snapshot_settings : Path or None
        For Spark with a local Parquet export: engine settings whose export folder is the
        run's own (:func:`outcomes.run.snapshot.private_spark_settings`); None otherwise.
    reports_dir : Path or None
        The published reports; the executive summary compares the month with the latest
        one published before it.
    """

    root: Path
    warehouse: Path | None
    engine: Engine
    engine_settings: Path
    targets_file: Path
    value_model: Path
    initiatives_dir: Path
    period: str
    max_report_age_months: int
    snapshot: Path | None = None
    snapshot_settings: Path | None = None
    reports_dir: Path | None = None

    @classmethod
    def build(cls, cfg: RunConfig, project: Project, *, period: str, engine: Engine | None = None) -> RunContext:
        """The context of a run of ``cfg`` in ``project`` (relative paths from the project folder).

        Parameters
        ----------
        cfg : RunConfig
            The validated run configuration.
        project : Project
            The project folder.
        period : str
            The checked ``YYYY-MM`` month.
        engine : {"duckdb", "spark"}, optional
            Overrides the configuration's engine (``--engine``).

        Returns
        -------
        RunContext
        """
        return cls(
            root=project.root,
            warehouse=cls.warehouse_of(cfg, project),
            engine=engine or cfg.engine,
            engine_settings=project.resolve(cfg.engine_settings) if cfg.engine_settings else engine_params_path(),
            targets_file=project.resolve(cfg.targets_file),
            value_model=project.resolve(cfg.value_model),
            initiatives_dir=project.resolve(cfg.initiatives_dir),
            period=period,
            reports_dir=project.resolve(cfg.reports_dir),
            max_report_age_months=cfg.max_report_age_months,
        )

    def resolve(self, path: str | Path) -> Path:
        """``path`` as an absolute path, relative paths taken from the project folder."""
        return Project(self.root).resolve(path)

    @staticmethod
    def warehouse_of(cfg: RunConfig, project: Project) -> Path | None:
        """The warehouse ``cfg`` names, resolved in ``project`` (None when it names none).

        The run reads it before the context exists, to choose the default period.
        """
        return project.resolve(cfg.warehouse) if cfg.warehouse is not None else None

    @property
    def reads(self) -> Path | None:
        """The warehouse file the run reads: the snapshot once taken, else the user's file."""
        return self.snapshot or self.warehouse

    def kernel_values(self, parameters: dict[str, object]) -> dict[str, object]:
        """A task's parameters as injected into its kernel: ``warehouse`` names the snapshot.

        The task keeps the user's paths (the manifest records them); the kernel reads the
        copy, and on Spark the settings that export it into the run's own folder.
        """
        private = {"warehouse": self.snapshot, "engine_settings": self.snapshot_settings}
        return {k: str(private[k]) if private.get(k) is not None else v for k, v in parameters.items()}

    def notebook_values(self) -> dict[str, str | int]:
        """The settings as notebook parameters (:data:`NOTEBOOK_SETTINGS`), paths as text.

        A pack without a warehouse gives no ``warehouse`` value: its notebooks keep their own.
        """
        values: dict[str, str | int | None] = {
            "period": self.period,
            "engine": self.engine,
            "engine_settings": str(self.engine_settings),
            "warehouse": str(self.warehouse) if self.warehouse is not None else None,
            "targets_file": str(self.targets_file),
            "value_model": str(self.value_model),
            "initiatives_dir": str(self.initiatives_dir),
            "reports_dir": str(self.reports_dir) if self.reports_dir is not None else None,
            "max_report_age_months": self.max_report_age_months,
        }
        return {k: v for k, v in values.items() if v is not None}
