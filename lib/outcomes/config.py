"""Project paths, taken from one place.

Every path in the kit hangs off :data:`PROJ_ROOT`. It is the repository root for an
editable install; set the environment variable ``OUTCOMES_ROOT`` to run the kit
against another project folder (for example a scheduled run's working copy).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT: Path = Path(os.environ.get("OUTCOMES_ROOT", Path(__file__).resolve().parents[2])).resolve()
DATA_DIR: Path = PROJ_ROOT / "data"
RAW_DIR: Path = DATA_DIR / "raw"
REJECTS_DIR: Path = DATA_DIR / "rejects"
WAREHOUSE_PATH: Path = DATA_DIR / "warehouse.duckdb"
PARAMS_DIR: Path = PROJ_ROOT / "params"
NOTEBOOKS_DIR: Path = PROJ_ROOT / "notebooks"
REPORTS_DIR: Path = PROJ_ROOT / "reports"
DOCS_DIR: Path = PROJ_ROOT / "docs"
PACKAGE_DIR: Path = Path(__file__).resolve().parent

#: Name of the Jupyter kernel that `make` installs and the report run uses.
KERNEL_NAME: str = "outcomes"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as an absolute path, relative paths taken from :data:`PROJ_ROOT`.

    Parameters
    ----------
    path : str or PathLike
        A path from a parameters file or the command line.

    Returns
    -------
    Path
        The absolute path.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else (PROJ_ROOT / p)
