"""Ranges of independent work run in a pool of Python threads.

The compiled kernels release the GIL (``nogil=True``), so plain threads run them in
parallel. Numba's own parallel backend (``parallel=True`` with ``prange``) did the
same at a price paid on every cold start: compiling the ``prange`` wrapper of a
runner or lanes instance took about 1.5 s of its 2.5 to 4 s. Each unit of work
(a replica, a block of replicas) is computed the same way whichever thread takes it,
so results are identical for every thread count.
"""
from __future__ import annotations

import concurrent.futures

# shares per thread: more than one, so that a thread whose replicas stop early takes
# another share instead of idling
SHARES_PER_THREAD = 4


def shares(n: int, threads: int, per_thread: int = SHARES_PER_THREAD) -> list[tuple[int, int]]:
    """[lo, hi) bounds cutting range(n) into at most ``per_thread * threads``
    contiguous pieces of near-equal length (one piece when threads == 1)."""
    k = max(1, min(n, threads * per_thread if threads > 1 else 1))
    cuts = [n * i // k for i in range(k + 1)]
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]


def over_range(fn, n: int, threads: int, *args, per_thread: int = SHARES_PER_THREAD) -> None:
    """``fn(lo, hi, *args)`` for the :func:`shares` of range(n), on ``threads`` threads
    (in the calling thread when there is one share). An exception in any share is
    raised here."""
    parts = shares(n, threads, per_thread)
    if len(parts) <= 1:
        for lo, hi in parts:
            fn(lo, hi, *args)
        return
    with concurrent.futures.ThreadPoolExecutor(min(threads, len(parts))) as pool:
        for future in [pool.submit(fn, lo, hi, *args) for lo, hi in parts]:
            future.result()
