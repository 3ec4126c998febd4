"""The one place for Numba compile options.

Every kernel in the package is compiled in nopython mode (``numba.njit``; there is
no object-mode fallback), cached on disk, releases the GIL, and uses NumPy's error
model so that a division by zero gives inf/NaN instead of raising: NaN and inf must
survive, because divergence detection relies on them (hence no ``fastmath``).

Numba's cache files go to ``$TESTBED_CACHE/numba`` (unless ``NUMBA_CACHE_DIR`` is
set), beside the generated kernels, not into the package's ``__pycache__``.
"""
import functools
import os

import numba

from .codegen import cache_root

if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(cache_root() / "numba")

njit = functools.partial(numba.njit, cache=True, nogil=True, error_model="numpy")


def is_compiled(fn) -> bool:
    """A Numba function (or, with NUMBA_DISABLE_JIT=1, any function: it runs as Python)."""
    return hasattr(fn, "py_func") or (numba.config.DISABLE_JIT and callable(fn))
