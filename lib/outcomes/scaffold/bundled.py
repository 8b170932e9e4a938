"""The files of the repository that an installed kit carries: report notebooks and the demo's parameters.

The repository's ``notebooks/`` and ``params/`` are their only source. Building a wheel
copies the files named in :data:`BUNDLES` into ``outcomes/scaffold/bundled/<bundle>/``
(``setup.py`` reads this module for the list); a source checkout (editable install, or
``PYTHONPATH=lib``) reads them where they are. This module imports nothing of the kit, so
that the build can load it on its own.
"""

from __future__ import annotations

from pathlib import Path

#: bundle name -> (folder of the repository, glob patterns of its files relative to that folder)
BUNDLES: dict[str, tuple[str, tuple[str, ...]]] = {
    # the monthly report pack's notebooks (the case-study notebooks stay with the repository)
    "notebooks": ("notebooks", ("*.ipynb",)),
    # the demo company's run, sources, targets, value model, engine settings, cost allocation and initiatives
    "demo": (
        "params",
        ("monthly.yaml", "sources.yaml", "targets.yaml", "value.yaml", "engine.yaml", "allocation.yaml", "initiatives/*.yaml"),
    ),
}

#: Folder of the copies inside an installed package.
PACKAGED = Path(__file__).resolve().parent / "bundled"
#: The source checkout this module sits in (``lib/outcomes/scaffold`` -> the repository).
CHECKOUT = Path(__file__).resolve().parents[3]


def collect(bundle: str, root: Path) -> dict[str, Path]:
    """Files of ``bundle`` under ``root``: their path relative to the bundle's folder -> the file.

    Parameters
    ----------
    bundle : str
        A key of :data:`BUNDLES`.
    root : Path
        The folder holding the bundle's folder (the repository, or :data:`PACKAGED` whose
        subfolders are named after the bundles).
    """
    folder, patterns = BUNDLES[bundle]
    base = root / (bundle if root == PACKAGED else folder)
    return {p.relative_to(base).as_posix(): p for pattern in patterns for p in sorted(base.glob(pattern)) if p.is_file()}


def files(bundle: str) -> dict[str, Path]:
    """Files of ``bundle`` in this installation: the packaged copies, else the source checkout's.

    Raises
    ------
    FileNotFoundError
        When neither holds them (a wheel built without ``setup.py``'s build step).
    """
    for root in (PACKAGED, CHECKOUT):
        found = collect(bundle, root)
        if found:
            return found
    raise FileNotFoundError(
        f"the kit's {bundle} files are in neither {PACKAGED / bundle} nor {CHECKOUT / BUNDLES[bundle][0]}; "
        "reinstall the kit from a wheel built with its setup.py (pip install .)"
    )
