"""Threads of the BLAS behind NumPy, SciPy and the compiled kernels (threadpoolctl).

Kernels that call BLAS from threads already running replicas (and Python threads
running one start each) oversubscribe the cores if the BLAS is
threaded too: every product then waits for a BLAS worker the scheduler has parked.
Measured on 2 cores: ``eigh`` in parallel replicas 28x slower, an ensemble of 4 digits
networks 46x slower with 2 BLAS threads than with 1. Hence :func:`limit` around
parallel work, and :func:`threads` for the process-wide setting.
"""
from __future__ import annotations

import contextlib
import numbers
import os

from ..errors import TestbedError

ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def env_set() -> bool:
    """Whether the user fixed the BLAS thread count through the environment."""
    return any(os.environ.get(name) for name in ENV)


@contextlib.contextmanager
def limit(k):
    """Run the block with every BLAS limited to ``k`` threads (None: unchanged, without
    the 2 ms threadpoolctl takes to find the libraries)."""
    if k is None:
        yield
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=k, user_api="blas"):
        yield


def _kernel_libs():
    """threadpoolctl's handles of the BLAS that compiled kernels call (SciPy's: Numba's
    ``np.dot`` and :func:`testbed.nets.mlp.gemm` go through scipy.linalg.cython_blas);
    every BLAS if SciPy's cannot be told apart (one shared library, as in conda)."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS)
    from threadpoolctl import ThreadpoolController
    libs = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    own = [lib for lib in libs if "scipy" in os.path.basename(os.path.dirname(lib.filepath))]
    return own or libs


def threads(k=None):
    """Set the thread count of the kernels' BLAS to ``k`` (None: report only); returns
    the previous count (None if no BLAS was found)."""
    libs = _kernel_libs()
    old = libs[0].num_threads if libs else None
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise TestbedError(f"BLAS threads must be a positive integer, got {k!r}")
        for lib in libs:
            lib.set_num_threads(int(k))
    return old
