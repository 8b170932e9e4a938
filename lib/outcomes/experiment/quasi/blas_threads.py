"""Run SciPy's small linear-algebra calls on one thread.

SciPy's wheels bundle their own OpenBLAS, which splits even a 30 by 30 factorisation over
every core. For the many tiny problems of an optimiser (SLSQP solves one least-squares
subproblem per iteration) the threads cost far more than they save, and on a busy
machine each call waits for its helper threads to be scheduled: the smoothness interval
of an event study with 13 leads and 10 lags took seconds instead of tens of
milliseconds. :func:`single_blas_thread` sets the bundled OpenBLAS to one thread for the
duration of a block and restores the previous count. Where SciPy uses another BLAS (a
conda MKL build, say) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import scipy


@functools.cache
def _scipy_openblas() -> ctypes.CDLL | None:
    """SciPy's bundled OpenBLAS (already loaded by :mod:`scipy.linalg`), or None when SciPy has none."""
    libs = Path(scipy.__file__).resolve().parent.parent / "scipy.libs"
    for path in sorted(libs.glob("libscipy_openblas*.so*")):
        lib = ctypes.CDLL(str(path))
        if hasattr(lib, "scipy_openblas_set_num_threads") and hasattr(lib, "scipy_openblas_get_num_threads"):
            lib.scipy_openblas_set_num_threads.argtypes = [ctypes.c_int]
            lib.scipy_openblas_get_num_threads.restype = ctypes.c_int
            return lib
    return None


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit SciPy's bundled OpenBLAS to one thread inside the block (the previous count comes back after)."""
    lib = _scipy_openblas()
    if lib is None:
        yield
        return
    before = lib.scipy_openblas_get_num_threads()
    lib.scipy_openblas_set_num_threads(1)
    try:
        yield
    finally:
        lib.scipy_openblas_set_num_threads(before)
