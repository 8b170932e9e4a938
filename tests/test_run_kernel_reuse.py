"""A worker's kernel kept from one notebook to the next (outcomes.run.execute.KernelSlot).

The next notebook must not see anything of the one before but its imported modules: no
variable, the new notebook's environment and working directory, a cell count from 1, and
nothing printed by the reset. A notebook that fails leaves no kernel to reuse.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from outcomes.run import execute
from outcomes.run.monthly import default_kernel

PROBE = """\
import os, sys, json
print(json.dumps({
    "pid": os.getpid(),
    "cwd": os.getcwd(),
    "mark": os.environ.get("OUTCOMES_TEST_MARK"),
    "before": os.environ.get("OUTCOMES_TEST_BEFORE"),
    "secret": "secret" in globals(),
    "imported": "colorsys" in sys.modules,
}))
"""


def _notebook(path: Path, *, fail: bool = False) -> Path:
    cells = [
        nbformat.v4.new_code_cell("mark = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(PROBE),
        nbformat.v4.new_code_cell("secret = 42\nimport colorsys\nos.environ['OUTCOMES_TEST_BEFORE'] = mark"),
    ]
    if fail:
        cells.append(nbformat.v4.new_code_cell("raise ValueError('this notebook fails')"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": default_kernel(), "language": "python", "display_name": "Python"}
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, slot: execute.KernelSlot, mark: str, *, fail: bool = False) -> tuple[execute.Execution, dict]:
    cwd = tmp_path / mark
    cwd.mkdir()
    done = execute.execute(
        _notebook(tmp_path / f"{mark}-source.ipynb", fail=fail), tmp_path / f"{mark}.ipynb", {"mark": mark},
        name=mark, kernel=default_kernel(), execution_timeout=60, start_timeout=60, cwd=cwd,
        env={"OUTCOMES_TEST_MARK": mark}, slot=slot,
    )
    nb = nbformat.read(done.output, as_version=4)
    probe = json.loads(next(c for c in nb.cells if c.source.startswith("import os, sys")).outputs[0]["text"])
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.execution_count is not None]
    printed = [o.get("text", "") for c in nb.cells for o in c.get("outputs", [])]
    return done, {**probe, "counts": counts, "printed": printed}


def test_the_next_notebook_reuses_the_kernel_and_sees_nothing_of_the_one_before(tmp_path: Path) -> None:
    slot = execute.KernelSlot()
    try:
        first, a = _run(tmp_path, slot, "first")
        second, b = _run(tmp_path, slot, "second")
    finally:
        slot.drop()
    assert first.failure is None and second.failure is None
    assert b["pid"] == a["pid"]  # the same kernel process
    assert a["mark"] == "first" and b["mark"] == "second"
    assert b["before"] is None  # the environment the first notebook changed is replaced
    assert Path(a["cwd"]).name == "first" and Path(b["cwd"]).name == "second"
    assert not b["secret"]  # no variable of the first notebook
    assert b["imported"] and not a["imported"]  # its modules stay imported
    assert b["counts"] == a["counts"] == [1, 2, 3, 4]  # the injected parameters cell included
    assert all("History" not in text and "ERROR" not in text for text in b["printed"])


def test_a_failed_notebook_leaves_no_kernel_to_reuse(tmp_path: Path) -> None:
    slot = execute.KernelSlot()
    try:
        failed, a = _run(tmp_path, slot, "first", fail=True)
        assert failed.failure is not None and slot.km is None
        after, b = _run(tmp_path, slot, "second")
    finally:
        slot.drop()
    assert after.failure is None
    assert b["pid"] != a["pid"] and not b["imported"]


@pytest.mark.parametrize("kernel_gone", [True, False])
def test_a_kernel_that_died_or_changed_name_is_started_afresh(tmp_path: Path, kernel_gone: bool) -> None:
    slot = execute.KernelSlot()
    try:
        _, a = _run(tmp_path, slot, "first")
        if kernel_gone:
            execute.run_sync(execute._call)(slot.km.shutdown_kernel, now=True)
        else:
            slot.km.kernel_name = "another-kernel"
        done, b = _run(tmp_path, slot, "second")
    finally:
        slot.drop()
    assert done.failure is None and b["pid"] != a["pid"]
