"""Mini-batch SGD with momentum and epoch-wise reshuffling: the training loop of deep
learning (PyTorch's ``SGD(momentum=mu)`` over a shuffled ``DataLoader``) on a finite sum
f = (1/n) sum_j f_j:

    epoch e = t // m, m = ceil(n / batch) steps per epoch, k = t mod m;
    B_t = entries k*batch .. min((k+1)*batch, n) - 1 of pi_e, a uniform permutation
          of {0, ..., n-1} drawn afresh for every epoch (the last batch may be short);
    g_t = (1/|B_t|) sum_{j in B_t} grad f_j(x_t), rescaled to norm ``clip`` if longer;
    buf_{t+1} = mu buf_t + g_t  (buf_0 = 0),   x_{t+1} = x_t - eta buf_{t+1}.

Every sample is used once per epoch (sampling without replacement), unlike
:mod:`testbed.rules.sgd`, whose steps draw independently. pi_e is a pure function of
(the replica's key, e): the key is one 53-bit draw from the replica's stream at
``init`` (kept in ``scalars[:, 0]``), and pi_e is a Fisher-Yates shuffle from the
sub-stream (key, e). Each step regenerates the prefix of pi_e it needs (O(n) uniform
draws, small beside a mini-batch gradient), so the rule keeps no index table.
The value returned is the mini-batch loss f_B(x_t). Needs ``value_grad_batch`` and
``n_samples`` (the networks of :mod:`testbed.nets`).
"""
import math

import numpy as np

from ._api import n_samples, uniform, value_grad_batch
from ._sampling import uniform_subset
from .._engine.rng import seed_state
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "momentum": Param(0.9, 0.0, 1.0, exclusive_high=True, doc="momentum mu"),
         "batch": Param(None, 1.0, integer=True, doc="mini-batch size"),
         "clip": Param(math.inf, 0.0, exclusive_low=True, finite=False,
                       doc="bound on the mini-batch gradient's norm (inf: none)")}
STATE = 1
SCALARS = 1
NEEDS = ("value_grad_batch", "n_samples")


def init(x, s, c, h, p, rng):
    s[0, :] = 0.0
    c[1] = math.floor(uniform(rng) * 2.0 ** 53)     # the replica's shuffling key


def step(t, x, g, s, c, h, p, rng):
    n = n_samples(p)
    b = min(max(int(h[2]), 1), n)
    m = (n + b - 1) // b
    k = t % m
    end = min((k + 1) * b, n)
    sub = np.empty(4, np.uint64)
    seed_state(np.int64(c[1]), t // m, sub)
    perm = uniform_subset(n, end, sub)
    f = value_grad_batch(x, p, perm[k * b:end], g)
    gn = math.sqrt(np.dot(g, g))
    scale = h[3] / gn if gn > h[3] else 1.0
    eta = h[0]
    mu = h[1]
    for i in range(x.shape[0]):
        s[0, i] = mu * s[0, i] + scale * g[i]
        x[i] -= eta * s[0, i]
    return f
