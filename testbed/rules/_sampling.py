"""What the mini-batch rules share: a uniform subset of the sample indices, drawn from
the replica's own stream."""
import numpy as np

from .._engine.jit import njit
from .._engine.rng import uniform


@njit
def uniform_subset(n, k, rng):
    """A permutation of 0..n-1 whose first k entries are a uniform k-subset in uniform
    order: the first k swaps of a Fisher-Yates shuffle, j_i = i + floor(u_i (n - i))
    (clipped to n - 1), one ``uniform`` draw per entry."""
    perm = np.arange(n)
    for i in range(k):
        j = min(i + int(uniform(rng) * (n - i)), n - 1)
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp
    return perm
