"""How the run executes one notebook: the executed copy is written whole, not at every cell.

papermill writes the executed notebook before and after every cell; a pack of about 200
cells paid 400 writes of growing notebooks in the run's own process. The ``outcomes``
engine spaces them out, and the final write, whether the notebook succeeds or fails,
holds every cell that ran.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill.engines
import pytest

from outcomes.run import execute
from outcomes.run.monthly import default_kernel

CELLS = 12


def _notebook(path: Path, *, fail_at: int | None = None) -> Path:
    cells = [nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]})]
    for i in range(CELLS):
        source = f"raise ValueError('cell {i} fails')" if i == fail_at else f"x += {i}\nprint('cell', {i}, x)"
        cells.append(nbformat.v4.new_code_cell(source))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": default_kernel(), "language": "python", "display_name": "Python"}
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, every: float, fail_at: int | None = None) -> tuple[execute.Execution, int]:
    writes = []
    write = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: writes.append(path) or write(nb, path))
    monkeypatch.setattr(execute, "CELL_SAVE_EVERY", every)
    source = _notebook(tmp_path / f"source-{every}-{fail_at}.ipynb", fail_at=fail_at)
    done = execute.execute(
        source, tmp_path / f"out-{every}-{fail_at}.ipynb", {"x": 1}, name="counts", kernel=default_kernel(),
        execution_timeout=60, start_timeout=60, cwd=tmp_path,
    )
    return done, len(writes)


def test_the_executed_notebook_is_written_whole_not_at_every_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done, writes = _run(tmp_path, monkeypatch, every=execute.CELL_SAVE_EVERY)
    every_cell, writes_each_cell = _run(tmp_path, monkeypatch, every=0.0)
    assert done.failure is None and every_cell.failure is None
    # papermill's own behaviour: a write at the start, before and after each cell (parameters
    # cells included), and at the end
    assert writes_each_cell >= 2 * CELLS + 2
    assert writes <= 3  # the start, the end, and at most one in between for this short notebook
    nb, reference = (nbformat.read(e.output, as_version=4) for e in (done, every_cell))
    printed = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert printed[-1] == f"cell {CELLS - 1} {1 + sum(range(CELLS))}\n"  # the injected x = 1, then every cell
    assert [c.get("outputs") for c in nb.cells] == [c.get("outputs") for c in reference.cells]
    assert all(c.metadata.papermill["status"] == "completed" for c in nb.cells)


def test_a_failing_notebook_is_written_up_to_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done, writes = _run(tmp_path, monkeypatch, every=execute.CELL_SAVE_EVERY, fail_at=5)
    assert done.failure is not None and done.failure.evalue == "cell 5 fails" and writes <= 4
    nb = nbformat.read(done.output, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    printed = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert errors and errors[0]["evalue"] == "cell 5 fails"
    assert printed == [f"cell {i} {1 + sum(range(i + 1))}\n" for i in range(5)]


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two kernels starting at once can draw the same free port; the one that dies is started again, up to a limit."""
    calls = []
    real = execute._papermill

    def flaky(*args, dies: int, **kwargs):
        calls.append(len(calls))
        if len(calls) <= dies:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(*args, **kwargs)

    source = _notebook(tmp_path / "source.ipynb")

    def run(dies: int) -> execute.Execution:
        calls.clear()
        monkeypatch.setattr(execute, "_papermill", lambda *a, **k: flaky(*a, dies=dies, **k))
        return execute.execute(
            source, tmp_path / f"out-{dies}.ipynb", {"x": 1}, name="counts", kernel=default_kernel(),
            execution_timeout=60, start_timeout=60, cwd=tmp_path,
        )

    done = run(dies=1)
    assert done.failure is None and len(calls) == 2
    done = run(dies=execute.KERNEL_START_ATTEMPTS)
    assert len(calls) == execute.KERNEL_START_ATTEMPTS
    assert done.failure is not None and done.failure.cell_index is None
    assert "before replying to kernel_info" in done.failure.evalue


def test_a_notebook_failing_in_a_cell_is_not_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = execute._papermill
    monkeypatch.setattr(execute, "_papermill", lambda *a, **k: calls.append(1) or real(*a, **k))
    done = execute.execute(
        _notebook(tmp_path / "source.ipynb", fail_at=3), tmp_path / "out.ipynb", {"x": 1}, name="counts",
        kernel=default_kernel(), execution_timeout=60, start_timeout=60, cwd=tmp_path,
    )
    assert len(calls) == 1 and done.failure is not None and done.failure.ename == "ValueError"
