"""Projected mini-batch SGD on a finite sum f = (1/n) sum_j f_j:

    B_t = `batch` indices drawn uniformly without replacement from {0, ..., n-1},
    x_{t+1} = P_C(x_t - eta * (1/|B_t|) sum_{j in B_t} grad f_j(x_t)),

with P_C the projection chosen for the run (``projection=`` in :func:`testbed.run`;
:mod:`testbed.projections`), whose parameters follow eta and batch in the hyper
vector; the start is projected too. The batch is drawn from the replica's stream
exactly as rule ``sgd`` draws it, so with the identity projection (or one that never
moves a point) the trajectory is ``sgd``'s bit for bit. The value returned is the
mini-batch loss f_B(x_t). Needs a finite-sum landscape (the networks of
:mod:`testbed.nets`).
"""
from ._api import n_samples, project, value_grad_batch
from ._sampling import uniform_subset
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "batch": Param(None, 1.0, integer=True, doc="mini-batch size")}
STATE = 0
SCALARS = 0
NEEDS = ("value_grad_batch", "n_samples")


def init(x, s, c, h, p, rng):
    project(x, h[2:])


def step(t, x, g, s, c, h, p, rng):
    n = n_samples(p)
    b = min(max(int(h[1]), 1), n)
    perm = uniform_subset(n, b, rng)
    f = value_grad_batch(x, p, perm[:b], g)
    eta = h[0]
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    project(x, h[2:])
    return f
