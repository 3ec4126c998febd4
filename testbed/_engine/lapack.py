"""LAPACK from compiled code, without the checks and copies np.linalg wraps around it.

:func:`eigh_into` makes the call that ``np.linalg.eigh`` makes in compiled code,
LAPACK's dsyevd through Numba's own entry ``numba_ez_xxxevd``, on the caller's
symmetric matrix in place: the same call, so the same numbers, without the
finiteness check, the column-major copy and the error handling, which took about a
second to compile in every kernel that used them (the sharpness observer's).
"""
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.linalg import ensure_lapack

_EVD = types.ExternalFunction("numba_ez_xxxevd", types.intc(
    types.char, types.char, types.char, types.intp, types.CPointer(types.float64),
    types.intp, types.CPointer(types.float64)))
_DOUBLE, _VECTORS, _LOWER = ord("d"), ord("V"), ord("L")


def eigh_into(A, w):
    """The eigenvalues of the symmetric (n, n) float64 C-contiguous A into w (ascending)
    and its unit eigenvectors into A's rows (row j for w[j]; a symmetric matrix's
    row-major buffer is its column-major one, where dsyevd writes them as columns).
    Returns LAPACK's info: 0 when it converged. (Run as Python, under
    NUMBA_DISABLE_JIT=1: np.linalg.eigh, which raises instead.)"""
    values, vectors = np.linalg.eigh(A)
    w[:] = values
    A[:, :] = vectors.T
    return 0


@overload(eigh_into)
def _eigh_into(A, w):
    ensure_lapack()
    if not (isinstance(A, types.Array) and A.ndim == 2 and A.layout == "C"
            and A.dtype == types.float64 and isinstance(w, types.Array)
            and w.dtype == types.float64 and w.layout == "C"):
        return None

    def impl(A, w):
        n = A.shape[0]
        return _EVD(_DOUBLE, _VECTORS, _LOWER, n, A.ctypes, n, w.ctypes)
    return impl
