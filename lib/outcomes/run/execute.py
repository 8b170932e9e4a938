"""Run one notebook with papermill, with its own environment and cell hooks.

papermill's default engine starts the kernel with the caller's environment and working
directory (changing the working directory of the whole process, which is unsafe when
several notebooks run in threads). The ``outcomes`` engine registered here passes the
environment and the working directory to the kernel itself, and calls a hook before each
cell so the run can show progress and name the cell that failed or hung. papermill writes
the whole executed notebook before and after every cell; the ``outcomes`` engine writes it
at most every :data:`CELL_SAVE_EVERY` seconds between cells, and always when the notebook
ends, however it ends (papermill's final save), which is when the run reads it.

A notebook runs in a fresh kernel, or in the kernel a :class:`KernelSlot` kept from the
notebook before it, when that one succeeded: its environment and working directory are
replaced by the new notebook's, then its variables deleted and a new history session
begun (IPython's ``reset``: the cell count starts again at 1). The modules it imported
stay imported, which is the point: a kernel's start and the kit's imports take 2 to 3 s
of CPU per notebook, most of a short page's time. A notebook that fails, hangs or loses
its kernel leaves no kernel to reuse.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger as papermill_logger
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "outcomes"

#: Seconds between two writes of a running notebook at cell boundaries (papermill writes at
#: every cell's start and end: for a pack of 200 cells, 400 writes of a growing notebook).
CELL_SAVE_EVERY = 10.0
#: Times a notebook is started when its kernel dies before replying to its first request,
#: before any cell ran. jupyter_client picks free ports before the kernel binds them, so two
#: kernels starting at once on one machine can draw the same port and one of them dies
#: ("Address already in use" in its kernel log); a fresh start draws other ports.
KERNEL_START_ATTEMPTS = 3

#: ``on_cell(index, total, source)`` is called before each cell runs.
CellHook = Callable[[int, int, str], None]


class OutcomesEngine(NBClientEngine):
    """papermill engine: nbclient with a per-kernel environment, working directory and cell hook."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        kernel_env: Mapping[str, str] | None = None,
        kernel_cwd: str | None = None,
        kernel_stderr: Any = None,
        on_cell: CellHook | None = None,
        kernel_slot: KernelSlot | None = None,
        **kwargs: Any,
    ) -> Any:
        """Execute the notebook held by papermill's execution manager (see :class:`NBClientEngine`)."""
        if on_cell is not None:
            start = nb_man.cell_start
            total = len(nb_man.nb.cells)

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> None:
                on_cell(cell_index or 0, total, cell.source)
                start(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
        _space_out_saves(nb_man, CELL_SAVE_EVERY)
        safe_kwargs = remove_args(["timeout", "startup_timeout", "input_path"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        launch: dict[str, Any] = {}
        if kernel_env is not None:
            launch["env"] = dict(kernel_env)
        if kernel_cwd is not None:
            launch["cwd"] = kernel_cwd
        if kernel_stderr is not None:
            launch["stdout"] = launch["stderr"] = kernel_stderr
        if kernel_slot is None:
            return PapermillNotebookClient(nb_man, **final_kwargs).execute(**launch)
        km = kernel_slot.take(kernel_name, launch.get("env"), launch.get("cwd"), start_timeout)
        client = PapermillNotebookClient(nb_man, km=km, **final_kwargs)
        client.owns_km = False  # the slot keeps the kernel: nbclient does not shut it down
        try:
            return client.execute(**({} if km is not None else launch))
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            kernel_slot.km = client.km


class KernelSlot:
    """A kernel kept from one notebook to the next of a worker (see the module's description).

    :meth:`take` gives the kept kernel, ready for a new notebook, or None (a fresh kernel
    is started and kept in :attr:`km`); :meth:`drop` shuts the kept kernel down, as
    :func:`execute` does after a failure.
    """

    def __init__(self) -> None:
        self.km: Any = None

    def take(self, kernel_name: str, env: Mapping[str, str] | None, cwd: str | None, timeout: int) -> Any:
        """The kept kernel, reset for the next notebook; None when there is none to reuse."""
        km = self.km
        if km is None:
            return None
        if km.kernel_name != kernel_name or not _alive(km):
            self.drop()
            return None
        try:
            _reset(km, env, cwd, timeout)
        except Exception:  # a kernel that does not answer its reset is not reused
            self.drop()
            return None
        return km

    def drop(self) -> None:
        """Shut the kept kernel down now (if any)."""
        km, self.km = self.km, None
        if km is not None:
            with contextlib.suppress(Exception):
                run_sync(_call)(km.shutdown_kernel, now=True)


async def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await a kernel manager's method, whether it is a coroutine (nbclient's default manager) or not."""
    return await ensure_async(method(*args, **kwargs))


def _alive(km: Any) -> bool:
    return bool(run_sync(_call)(km.is_alive))


#: Code run in a kept kernel before its next notebook: its environment and working
#: directory those of the new notebook, its variables deleted and a new history session
#: begun (IPython's reset: the cell count starts again at 1).
_RESET = """\
import os as _os
_os.chdir({cwd!r})
_os.environ.clear()
_os.environ.update({env!r})
del _os
get_ipython().reset(new_session=True)
"""


def _reset(km: Any, env: Mapping[str, str] | None, cwd: str | None, timeout: int) -> None:
    """Prepare a kept kernel for its next notebook (:data:`_RESET`); raise when it fails."""
    from jupyter_client import BlockingKernelClient

    kc = BlockingKernelClient()
    kc.load_connection_info(km.get_connection_info())
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
        code = _RESET.format(cwd=cwd or os.getcwd(), env=dict(env if env is not None else os.environ))
        reply = kc.execute_interactive(code, store_history=False, timeout=timeout, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel's reset failed: {reply['content'].get('evalue', '')}")
    finally:
        kc.stop_channels()


def _space_out_saves(nb_man: Any, every: float) -> None:
    """Make papermill's execution manager write the notebook at most every ``every`` seconds until it completes.

    ``notebook_complete`` (called by papermill whether the notebook succeeded, failed or
    timed out) gets the manager's own save back, so the final notebook is always written.
    """
    save, complete = nb_man.save, nb_man.notebook_complete
    last = [time.monotonic()]

    def spaced(**kwargs: Any) -> None:
        if time.monotonic() - last[0] >= every:
            save(**kwargs)
            last[0] = time.monotonic()

    def completed(**kwargs: Any) -> Any:
        nb_man.save = save
        return complete(**kwargs)

    nb_man.save = spaced
    nb_man.notebook_complete = completed


papermill_engines.register(ENGINE_NAME, OutcomesEngine)


@dataclass(frozen=True)
class CellFailure:
    """Where and why a notebook stopped.

    Parameters
    ----------
    notebook : str
        The report's name (file stem).
    cell_index : int or None
        Position of the cell in the executed notebook (0-based; the injected-parameters
        cell counts), or None when the kernel never ran a cell.
    first_line : str
        The cell's first non-empty source line.
    ename, evalue : str
        Exception class name and message.
    """

    notebook: str
    cell_index: int | None
    first_line: str
    ename: str
    evalue: str

    def summary(self) -> str:
        """One line for the run summary: notebook, cell, error."""
        where = f"cell {self.cell_index}" if self.cell_index is not None else "before the first cell"
        line = f" `{self.first_line}`" if self.first_line else ""
        return f"{self.notebook}: {where}{line}: {self.ename}: {self.evalue}"


def first_line(source: str) -> str:
    """The first non-empty line of a cell's source, shortened to 100 characters."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:100]
    return ""


@dataclass(frozen=True)
class Execution:
    """What :func:`execute` did: the output notebook, and the failure when there was one."""

    output: Path
    failure: CellFailure | None


def execute(
    notebook: Path,
    output: Path,
    parameters: Mapping[str, Any],
    *,
    name: str,
    kernel: str,
    execution_timeout: int,
    start_timeout: int,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    kernel_log: Path | None = None,
    on_cell: CellHook | None = None,
    slot: KernelSlot | None = None,
) -> Execution:
    """Run ``notebook`` in a fresh kernel, or the one ``slot`` kept, and write the executed copy to ``output``.

    A failing, hanging or dying notebook is not an exception here: the executed notebook
    (with the error, or up to the cell that hung) is written all the same, and the
    failure is returned.

    Parameters
    ----------
    notebook, output : Path
        The source notebook and the executed notebook to write.
    parameters : mapping
        Values injected after the ``parameters`` cell (already validated).
    name : str
        The report's name, used in the failure message.
    kernel : str
        Jupyter kernel name.
    execution_timeout, start_timeout : int
        Seconds per cell, and for the kernel to start.
    cwd : Path
        The kernel's working directory.
    env : mapping, optional
        Extra environment variables for the kernel (added to this process's environment).
    kernel_log : Path, optional
        File receiving the kernel process's own output (start-up warnings, crashes);
        by default it goes to this process's terminal.
    on_cell : callable, optional
        Called before each cell with ``(index, total, source)``.
    slot : KernelSlot, optional
        Run in the kernel it kept from the notebook before, and keep this one's kernel
        when it succeeds (see the module's description); default a fresh kernel, shut
        down at the end. A kept kernel writes its own output (``kernel_log``) to the log
        of the notebook that started it.

    Returns
    -------
    Execution
        The output path and the failure, if any.
    """
    current: dict[str, Any] = {"index": None, "source": ""}

    def hook(index: int, total: int, source: str) -> None:
        current["index"], current["source"] = index, source
        if on_cell is not None:
            on_cell(index, total, source)

    output.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(kernel_log.open("a", encoding="utf-8")) if kernel_log is not None else None
        arguments = {
            "input_path": str(notebook),
            "output_path": str(output),
            "parameters": dict(parameters),
            "kernel_name": kernel,
            "start_timeout": start_timeout,
            "execution_timeout": execution_timeout,
            "kernel_env": {**os.environ, **(env or {})},
            "kernel_cwd": str(cwd),
            "kernel_stderr": stderr,
            "on_cell": hook,
        }
        if slot is not None:
            arguments["kernel_slot"] = slot
        done = _execute(arguments, output, name, execution_timeout, current)
        if slot is not None and done.failure is not None:
            slot.drop()
        return done


def _execute(
    arguments: dict[str, Any], output: Path, name: str, execution_timeout: int, current: dict[str, Any]
) -> Execution:
    """Run the notebook (:func:`_papermill`), started again when its kernel dies while starting."""
    attempt = 1
    while True:
        try:
            _papermill(arguments)
        except (PapermillExecutionError, CellTimeoutError, RuntimeError) as exc:
            if attempt < KERNEL_START_ATTEMPTS and current["index"] is None and _died_starting(exc):
                papermill_logger.warning("%s: the kernel died while starting (attempt %d); starting it again", name, attempt)
                attempt += 1
                continue
            return Execution(output, _failed(exc, name, execution_timeout, current))
        return Execution(output, None)


def _died_starting(exc: Exception) -> bool:
    """Whether a kernel died before replying to its first request (jupyter_client's message)."""
    return type(exc) is RuntimeError and "before replying to kernel_info" in str(exc)


def _papermill(arguments: dict[str, Any]) -> None:
    """Execute a notebook with papermill on the ``outcomes`` engine (:class:`OutcomesEngine`), quietly."""
    papermill.execute_notebook(engine_name=ENGINE_NAME, language="python", progress_bar=False, log_output=False, **arguments)


def _failed(exc: Exception, name: str, execution_timeout: int, current: dict[str, Any]) -> CellFailure:
    """The failure a notebook's run raised: a cell's error, a cell over its time, a dead kernel, a start-up failure."""
    where = (name, current["index"], first_line(current["source"]))
    if isinstance(exc, PapermillExecutionError):
        return CellFailure(name, exc.cell_index, first_line(exc.source), exc.ename, exc.evalue)
    if isinstance(exc, CellTimeoutError):
        limit = f"the cell ran longer than the {execution_timeout} s limit (execution_timeout in the run's parameters)"
        return CellFailure(*where, "CellTimeoutError", limit)
    return CellFailure(*where, type(exc).__name__, str(exc))  # a dead kernel, start-up failures and timeouts


def read(path: Path) -> nbformat.NotebookNode:
    """Read an executed notebook (version 4)."""
    return nbformat.read(path, as_version=4)
