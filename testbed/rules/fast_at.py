"""FAST-AT: FGSM adversarial training with a random start (Wong, Rice & Kolter 2020,
"Fast is better than free", ICLR, arXiv:2001.03994; the ``fast_at`` mode of Zhang et
al. 2022's code, OPTML-Group/Fast-BAT ``trainer.py``) on a network's finite sum of
cross-entropies CE(x; a_j, y_j), x the parameters, a_j the inputs:

    B_t = ``batch`` indices drawn uniformly without replacement (as by ``sgd``),
    delta_0 = P_C(U[-eps, eps])  (rs = 1)   or   delta_0 = 0  (rs = 0: plain FGSM),
    delta   = P_C(delta_0 + alpha sign(grad_delta CE_B(x_t; a + delta_0))),
    x_{t+1} = x_t - eta grad_x CE_B(x_t; a + delta),

CE_B the mean over B_t, P_C the projection on the ell_inf ball of radius eps within
the data box [lo, lo + span] (:mod:`testbed.rules._adversarial`). The code's default
is alpha = 1.25 eps with rs = 1; rs = 0 with alpha = eps is FGSM training without a
random start, the setting most prone to catastrophic overfitting. The update is
plain SGD (no momentum, no weight decay). Draws from the replica's stream: the batch
(one ``uniform`` per index), then, when rs = 1, one ``uniform`` per input coordinate
of the batch, row by row. The value returned is CE_B at the adversarial inputs; a
non-finite value ends the replica as diverged at step t with x left at x_t. Needs the
networks of :mod:`testbed.nets` (``value_grad_inputs``).
"""
import math

import numpy as np

from ._api import n_samples, value_grad_inputs
from ._adversarial import batch_of, random_start, shifted, sign_step
from ._sampling import uniform_subset
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "eps": Param(None, 0.0, doc="ell_inf radius of the perturbation"),
         "alpha": Param(None, 0.0, doc="step of the FGSM ascent (Wong et al.: 1.25 eps)"),
         "batch": Param(None, 1.0, integer=True, doc="mini-batch size"),
         "rs": Param(1.0, 0.0, 1.0, integer=True, doc="random start (1) or zero start (0)"),
         "lo": Param(0.0, doc="lower end of the data box"),
         "span": Param(1.0, 0.0, exclusive_low=True, doc="width of the data box")}
STATE = 0
SCALARS = 0
NEEDS = ("value_grad_inputs", "n_samples")


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    eps = h[1]
    lo = h[5]
    hi = h[5] + h[6]
    n = n_samples(p)
    b = min(max(int(h[3]), 1), n)
    perm = uniform_subset(n, b, rng)
    Xb, Yb = batch_of(p, perm[:b])
    delta = np.zeros(Xb.shape[0])
    if h[4] != 0.0:
        random_start(delta, Xb, eps, lo, hi, rng)
    Xa = np.empty_like(Xb)
    gx = np.empty_like(Xb)
    shifted(Xa, Xb, delta)
    f = value_grad_inputs(x, p, Xa, Yb, g, gx)
    if not math.isfinite(f):
        return f
    sign_step(delta, gx, h[2], Xb, eps, lo, hi)
    shifted(Xa, Xb, delta)
    f = value_grad_inputs(x, p, Xa, Yb, g, gx)
    if not math.isfinite(f):
        return f
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f
