"""``outcomes demo DIR``: the demo company in a folder of its own, ingested and ready for ``outcomes run``.

The folder gets the demo's parameters (its sources, targets, value model and initiatives),
the report notebooks, the generated exports in ``data/raw/`` and the warehouse. A marker
file tells a demo folder from a user's project: the demo writes only into a new or empty
folder, or one it made before, and never over a user's data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.ingest.load import IngestSummary, Progress, run_ingest
from outcomes.scaffold import bundled
from outcomes.scaffold.create import is_empty, notebooks, write_files
from outcomes.simulate import GenerationSummary, generate

#: File in a folder made by ``outcomes demo``; its presence allows writing there again.
MARKER = ".outcomes-demo"


@dataclass(frozen=True)
class DemoFolder:
    """A demo folder made by :func:`make_demo`: where it is, what was generated and loaded."""

    root: Path
    generation: GenerationSummary
    ingest: IngestSummary


def check_folder(root: Path) -> None:
    """Raise unless ``root`` is new, empty, or a demo folder.

    Raises
    ------
    ParamsError
        When ``root`` holds a project that is not a demo, or other files.
    """
    if is_empty(root) or (root / MARKER).is_file():
        return
    what = "a project that is not a demo (it has params/)" if (root / "params").is_dir() else "files"
    raise ParamsError(
        f"{root} holds {what}; the demo writes only into a new or empty folder, or one it made before "
        f"(holding {MARKER}), so as never to write over your data; name another folder, e.g. outcomes-demo"
    )


def make_demo(
    folder: str | Path,
    *,
    scale: float = 1.0,
    seed: int = 42,
    month_done: Callable[[str, int, int], None] | None = None,
    file_read: Progress | None = None,
) -> DemoFolder:
    """Write the demo company into ``folder``, ingest it, and make it this process's project.

    Parameters
    ----------
    folder : str or Path
        New, empty, or a folder made by this function before (its files are replaced).
    scale, seed : float, int
        Size and random seed of the company (see :func:`outcomes.simulate.generate`).
    month_done : callable, optional
        Called after each simulated month with its label, the months done and the total.
    file_read : callable, optional
        Called by the ingest after each export file (see :data:`outcomes.ingest.load.Progress`).

    Returns
    -------
    DemoFolder
    """
    root = Path(folder).expanduser().resolve()
    check_folder(root)
    files = {f"params/{rel}": path.read_bytes() for rel, path in bundled.files("demo").items()}
    files |= notebooks()
    files[MARKER] = f"outcomes demo --scale {scale:g} --seed {seed}\n".encode()
    write_files(root, files, replace=True)
    project = config.use_project(config.Project(root, "outcomes demo"))
    generation = generate(out_dir=project.raw_dir, scale=scale, seed=seed, month_done=month_done)
    summary = run_ingest(project.params_dir / "sources.yaml", progress=file_read)
    return DemoFolder(root, generation, summary)
