"""The one place for Numba compile options.

Every kernel in the package is compiled in nopython mode (``numba.njit``; there is
no object-mode fallback), cached on disk, releases the GIL, and uses NumPy's
error model so that a division by zero gives inf/NaN instead of raising: NaN and
inf must survive, because divergence detection relies on them (hence no
``fastmath``).
"""
import functools

import numba

njit = functools.partial(numba.njit, cache=True, nogil=True, error_model="numpy")
njit_parallel = functools.partial(numba.njit, cache=True, nogil=True,
                                  error_model="numpy", parallel=True)
