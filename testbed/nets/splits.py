"""Train / validation / test splits of a data set."""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import TestbedError

__all__ = ["split"]


def split(X, Y, sizes, seed=None) -> tuple:
    """Consecutive, disjoint parts of (X, Y), after a seeded permutation of the rows.

    Parameters
    ----------
    X, Y : arrays (n, ...)
        Inputs and targets, one row per sample.
    sizes : sequence of int
        The sizes of the parts (each >= 1, sum <= n; rows beyond the sum are left
        out), e.g. (1000, 300, 497) for the 1797 digits as train / validation / test.
    seed : int >= 0, optional
        Rows are taken in the order ``numpy.random.default_rng(seed).permutation(n)``;
        None keeps the given order.

    Returns
    -------
    tuple of (X_part, Y_part)
        Contiguous float64 copies, one pair per size.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim < 1 or Y.ndim < 1 or X.shape[0] != Y.shape[0]:
        raise TestbedError(f"X and Y must have one row per sample (as many rows); got "
                           f"shapes {X.shape} and {Y.shape}")
    n = X.shape[0]
    try:
        sizes = list(sizes)
    except TypeError:
        raise TestbedError(f"sizes must be a sequence of integers, got {sizes!r}") from None
    if not sizes or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                        for s in sizes):
        raise TestbedError(f"sizes must be positive integers, got {sizes!r}")
    if sum(sizes) > n:
        raise TestbedError(f"sizes {sizes} add up to {sum(sizes)}, more than the {n} samples")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise TestbedError(f"seed must be a non-negative integer or None, got {seed!r}")
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    ends = np.cumsum([0, *sizes])
    return tuple((np.ascontiguousarray(X[order[a:b]]), np.ascontiguousarray(Y[order[a:b]]))
                 for a, b in zip(ends[:-1], ends[1:]))
