"""Mini-batch stochastic gradient descent on a finite sum f = (1/n) sum_j f_j:

    B_t = `batch` indices drawn uniformly without replacement from {0, ..., n-1},
    x_{t+1} = x_t - eta * (1/|B_t|) sum_{j in B_t} grad f_j(x_t).

The batch is drawn from the replica's own stream (partial Fisher-Yates shuffle, one
``uniform`` per index), so a replica's trajectory depends only on (seed, replica).
Successive steps draw independently (sampling with replacement across steps, as in
the usual SGD analyses; not epoch-wise shuffling). ``batch`` is rounded down to an
integer and clipped to [1, n]; batch = n is full-batch GD (up to the summation order).
The value returned is the mini-batch loss f_B(x_t). Needs a finite-sum landscape
(``value_grad_batch``, ``n_samples``: the networks of :mod:`testbed.nets`).
"""
from ._api import n_samples, value_grad_batch
from ._sampling import uniform_subset
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "batch": Param(None, 1.0, integer=True, doc="mini-batch size")}
STATE = 0
SCALARS = 0
NEEDS = ("value_grad_batch", "n_samples")


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    n = n_samples(p)
    b = min(max(int(h[1]), 1), n)
    perm = uniform_subset(n, b, rng)
    f = value_grad_batch(x, p, perm[:b], g)
    eta = h[0]
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f
