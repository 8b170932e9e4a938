"""``outcomes init``: a project folder of one's own, and the file writing it shares with the demo.

A project folder holds ``params/`` (the run, sources for one export preset, targets, value
model, engine settings, an empty ``initiatives/``), the report notebooks, ``data/raw/`` for
the exports and a README of next steps. Nothing a user wrote is ever overwritten: a
non-empty folder is refused unless ``force`` is given, and even then existing files are
kept and listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from outcomes.errors import ParamsError
from outcomes.scaffold import bundled

Preset = Literal["servicenow", "jira"]
#: The export presets ``outcomes init --preset`` offers, with the tool's name for the README.
PRESETS: dict[str, str] = {"servicenow": "ServiceNow", "jira": "Jira Service Management"}
TEMPLATES: Path = Path(__file__).resolve().parent / "templates"
#: Folders every project has, even when empty.
FOLDERS: tuple[str, ...] = ("params/initiatives", "data/raw", "notebooks")


@dataclass(frozen=True)
class Written:
    """What writing a project folder did.

    Parameters
    ----------
    root : Path
        The project folder.
    written : tuple of str
        Files written, relative to ``root``.
    kept : tuple of str
        Files that already existed and were left as they were.
    """

    root: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]


def is_empty(folder: Path) -> bool:
    """True when ``folder`` does not exist or holds nothing.

    Raises
    ------
    ParamsError
        When ``folder`` is a file.
    """
    if folder.exists() and not folder.is_dir():
        raise ParamsError(f"{folder} is a file, not a folder; name a new or empty folder for the project")
    return not folder.exists() or not any(folder.iterdir())


def write_files(root: Path, files: Mapping[str, bytes], *, replace: bool = False) -> Written:
    """Write ``files`` (relative path -> content) under ``root`` and create :data:`FOLDERS`.

    Parameters
    ----------
    root : Path
        The project folder; created when missing.
    files : mapping of str to bytes
        The files' paths relative to ``root`` and their contents.
    replace : bool
        Replace existing files (the demo, in a folder that holds only the demo); by
        default an existing file is kept and listed in :attr:`Written.kept`.
    """
    root = root.expanduser().resolve()
    written, kept = [], []
    for relative, content in files.items():
        path = root / relative
        if path.exists() and not replace:
            kept.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(relative)
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return Written(root, tuple(written), tuple(kept))


def notebooks() -> dict[str, bytes]:
    """The report notebooks, as ``notebooks/<name>.ipynb`` -> content."""
    return {f"notebooks/{name}": path.read_bytes() for name, path in bundled.files("notebooks").items()}


def project_files(root: Path, preset: Preset) -> dict[str, bytes]:
    """Every file of a new project folder for exports of ``preset``."""
    if preset not in PRESETS:
        raise ParamsError(f"preset {preset!r} is not known; valid presets are: {', '.join(PRESETS)}")
    demo = bundled.files("demo")
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    return {
        # the run and the engine settings are the same for every project: taken from the demo's
        "params/monthly.yaml": demo["monthly.yaml"].read_bytes(),
        "params/engine.yaml": demo["engine.yaml"].read_bytes(),
        "params/sources.yaml": (TEMPLATES / f"sources-{preset}.yaml").read_bytes(),
        "params/targets.yaml": (TEMPLATES / "targets.yaml").read_bytes(),
        "params/value.yaml": (TEMPLATES / "value.yaml").read_bytes(),
        "README.md": readme.format(name=root.name, root=root, preset_name=PRESETS[preset]).encode("utf-8"),
        **notebooks(),
    }


def init_project(folder: str | Path, preset: Preset = "servicenow", *, force: bool = False) -> Written:
    """Create a project folder for one's own data.

    Parameters
    ----------
    folder : str or Path
        The new project folder: missing or empty, unless ``force``.
    preset : {"servicenow", "jira"}
        The service-desk tool whose ticket export ``params/sources.yaml`` maps.
    force : bool
        Write into a non-empty folder; files already there are kept, never overwritten.

    Returns
    -------
    Written
        The files written and the ones kept.

    Raises
    ------
    ParamsError
        When ``folder`` is not empty and ``force`` is not given, or ``preset`` is unknown.
    """
    root = Path(folder).expanduser().resolve()
    files = project_files(root, preset)
    if not is_empty(root) and not force:
        clash = sorted(rel for rel in files if (root / rel).exists())
        detail = f"; of the files init writes, it already holds {', '.join(clash)}" if clash else ""
        raise ParamsError(
            f"{root} is not empty{detail}; name a new or empty folder, or pass --force to add the missing "
            "files (existing files are kept, never overwritten)"
        )
    return write_files(root, files)
