"""``outcomes kernel install``: the ``outcomes`` Jupyter kernel for the running interpreter.

The report notebooks ask for the kernel ``outcomes`` ("Python (outcomes)"). Installing its
spec where a system JupyterLab or JupyterHub looks (the user's Jupyter folder) lets them
run the notebooks with the interpreter the kit is installed in; ``--sys-prefix`` installs
it into this environment only (what ``make setup`` does for ``.venv``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from ipykernel import kernelspec

from outcomes.config import KERNEL_DISPLAY_NAME, KERNEL_NAME

Where = Literal["user", "sys-prefix"]


def install_kernel(where: Where = "user", *, prefix: str | Path | None = None) -> Path:
    """Install the ``outcomes`` kernel spec, running this interpreter, and return its folder.

    Parameters
    ----------
    where : {"user", "sys-prefix"}
        ``user``: the user's Jupyter data folder (seen by every Jupyter of this user);
        ``sys-prefix``: this environment's ``share/jupyter/kernels``.
    prefix : str or Path, optional
        Install under ``<prefix>/share/jupyter/kernels`` instead (overrides ``where``).

    Returns
    -------
    Path
        The kernel spec's folder.
    """
    if prefix is None and where == "sys-prefix":
        prefix = sys.prefix
    path = kernelspec.install(
        kernel_name=KERNEL_NAME,
        display_name=KERNEL_DISPLAY_NAME,
        user=prefix is None and where == "user",
        prefix=str(prefix) if prefix is not None else None,
    )
    return Path(path)
