"""Mini-batch SAM with m-sharpness (Foret, Kleiner, Mobahi & Neyshabur 2021, ICLR,
arXiv:2010.01412, sec. 4): on a finite sum f = (1/n) sum_j f_j, the mini-batch is
split into sub-batches of m samples, each takes its own normalised ascent, and the
descent direction is the mean of the sub-batch gradients at their ascent points:

    B_t = k m indices drawn uniformly without replacement, split in order into
          S_1, ..., S_k of m each (k = floor(batch / m)),
    g_j = grad f_{S_j}(x_t),   eps_j = rho g_j / |g_j|   (eps_j = 0 if g_j = 0),
    x_{t+1} = x_t - eta (1/k) sum_j grad f_{S_j}(x_t + eps_j),

f_S the mean of f_i over S. This is the "m-sharpness" of the paper, what SAM
computes when each of k accelerators perturbs with its own sub-batch's gradient;
m = batch is mini-batch SAM, and m = batch = n is full-batch ``sam`` (up to the
summation order). ``batch`` is clipped to [1, n] and ``m`` to [1, batch]; samples
beyond k m are not drawn. The batch is drawn from the replica's own stream exactly
as by ``sgd`` (a partial Fisher-Yates shuffle, one ``uniform`` per index), so a
replica's trajectory depends only on (seed, replica). The value returned is the
mini-batch loss f_B(x_t). A non-finite loss at an ascent point ends the replica as
diverged at step t, with x left at x_t. Needs a finite-sum landscape
(``value_grad_batch``, ``n_samples``: the networks of :mod:`testbed.nets`).
"""
import math

from ._api import n_samples, value_grad_batch
from ._sampling import uniform_subset
from ._ascent import norm2
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "rho": Param(0.05, 0.0, doc="ascent radius of each sub-batch"),
         "batch": Param(None, 1.0, integer=True, doc="mini-batch size"),
         "m": Param(None, 1.0, integer=True, doc="sub-batch size of each ascent")}
STATE = 2   # s[0]: the ascent point, s[1]: the summed descent gradient
SCALARS = 0
NEEDS = ("value_grad_batch", "n_samples")


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    rho = h[1]
    n = n_samples(p)
    b = min(max(int(h[2]), 1), n)
    m = min(max(int(h[3]), 1), b)
    k = b // m
    used = k * m
    perm = uniform_subset(n, used, rng)
    d = x.shape[0]
    for i in range(d):
        s[1, i] = 0.0
    f = 0.0
    for j in range(k):
        idx = perm[j * m:(j + 1) * m]
        f += value_grad_batch(x, p, idx, g)
        gn = norm2(g)
        scale = rho / gn if gn > 0.0 else 0.0
        for i in range(d):
            s[0, i] = x[i] + scale * g[i]
        f_up = value_grad_batch(s[0], p, idx, g)
        if not math.isfinite(f_up):
            return f_up
        for i in range(d):
            s[1, i] += g[i]
    for i in range(d):
        x[i] -= eta * s[1, i] / k
    return f / k
