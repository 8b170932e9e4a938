"""Project paths, taken from one place.

Every path in the kit hangs off the project folder, a :class:`Project`. The command line
chooses it once (:func:`find_project`): ``--project DIR``, else the environment variable
``OUTCOMES_ROOT``, else the current working directory when it holds ``params/`` (or its
nearest parent that does: a notebook's kernel starts in ``notebooks/``); never the folder
the package is installed in. Code below the command line asks
:func:`project` for the chosen folder; a script or notebook that chooses none gets the
same search on first use.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from outcomes.errors import ParamsError

log = logging.getLogger("outcomes.config")

#: Environment variable naming the project folder.
ROOT_ENV = "OUTCOMES_ROOT"

#: The installed package (its templates, schemas and presets), never the project.
PACKAGE_DIR: Path = Path(__file__).resolve().parent

#: Name of the Jupyter kernel that `outcomes kernel install` (and `make`) installs, that the
#: report notebooks ask for and the report run uses.
KERNEL_NAME: str = "outcomes"
#: The kernel's name as Jupyter shows it.
KERNEL_DISPLAY_NAME: str = "Python (outcomes)"

#: Environment variable naming the file a notebook of a report run records its results in
#: (its stem is the notebook's name in the run).
RESULTS_PATH_ENV = "OUTCOMES_RESULTS_PATH"
#: Environment variable naming the folder of every notebook's results file in a report run.
RESULTS_DIR_ENV = "OUTCOMES_RESULTS_DIR"


@dataclass(frozen=True)
class Project:
    """A project folder and the paths the kit reads and writes in it.

    Parameters
    ----------
    root : Path
        The project folder (absolute).
    source : str
        How it was chosen (``--project``, ``OUTCOMES_ROOT``, ``the working directory``).
    """

    root: Path
    source: str = "given"

    @property
    def data_dir(self) -> Path:
        """``data/``: raw exports, rejects and the warehouse."""
        return self.root / "data"

    @property
    def raw_dir(self) -> Path:
        """``data/raw/``: the source exports."""
        return self.data_dir / "raw"

    @property
    def rejects_dir(self) -> Path:
        """``data/rejects/``: rows the ingest refused."""
        return self.data_dir / "rejects"

    @property
    def warehouse(self) -> Path:
        """``data/warehouse.duckdb``: the default warehouse."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def params_dir(self) -> Path:
        """``params/``: every parameters file."""
        return self.root / "params"

    @property
    def initiatives_dir(self) -> Path:
        """``params/initiatives/``: one file per initiative."""
        return self.params_dir / "initiatives"

    @property
    def notebooks_dir(self) -> Path:
        """``notebooks/``: the report notebooks."""
        return self.root / "notebooks"

    @property
    def reports_dir(self) -> Path:
        """``reports/``: the published reports."""
        return self.root / "reports"

    @property
    def docs_dir(self) -> Path:
        """``docs/``: the documentation pages."""
        return self.root / "docs"

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """Return ``path`` as an absolute path, relative paths taken from :attr:`root`."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.root / p)


def find_project(given: str | os.PathLike[str] | None = None, *, cwd: Path | None = None) -> Project:
    """Choose the project folder: ``given``, else ``OUTCOMES_ROOT``, else the working directory.

    The working directory counts when it, or its nearest parent, holds ``params/``.

    Parameters
    ----------
    given : str or PathLike, optional
        The folder named on the command line (``--project``).
    cwd : Path, optional
        The working directory (default: this process's).

    Returns
    -------
    Project

    Raises
    ------
    ParamsError
        When the chosen folder does not exist, or none is given and neither the working
        directory nor a parent of it holds a ``params/`` folder.
    """
    if given is not None:
        root, source = Path(given), "--project"
    elif os.environ.get(ROOT_ENV):
        root, source = Path(os.environ[ROOT_ENV]), ROOT_ENV
    else:
        here = (cwd or Path.cwd()).resolve()
        found = next((d for d in (here, *here.parents) if (d / "params").is_dir()), None)
        if found is None:
            raise ParamsError(
                f"{here} holds no params/ folder, nor does a folder above it, so it is not in an outcomes project; "
                f"run the command in the project folder, pass --project DIR, or set {ROOT_ENV}=DIR"
            )
        root, source = found, "the working directory"
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise ParamsError(f"project folder {root} (from {source}) does not exist; name an existing folder")
    return Project(root, source)


_current: list[Project] = []


def use_project(chosen: Project) -> Project:
    """Make ``chosen`` the project of this process (the command line calls it once)."""
    _current[:] = [chosen]
    return chosen


def project() -> Project:
    """The project of this process: the one chosen with :func:`use_project`, else :func:`find_project`."""
    if not _current:
        _current.append(find_project())
    return _current[0]


def resolve(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as an absolute path, relative paths taken from the project folder.

    Parameters
    ----------
    path : str or PathLike
        A path from a parameters file or the command line.

    Returns
    -------
    Path
        The absolute path.
    """
    return project().resolve(path)
