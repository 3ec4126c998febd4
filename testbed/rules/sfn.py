"""Saddle-free Newton, Dauphin et al. (2014): x_{t+1} = x_t - eta |H|^-1 grad f(x_t),
|H| = Q diag(|lambda_i| + damping) Q^T, so negative-curvature directions are
descended instead of attracting. Directions with |lambda_i| + damping <=
rcond * max are dropped; the step is capped at length max_step."""
import math

import numpy as np

from ._api import hessian, value_grad
from ._linalg import spectral_step
from ..objective.landscape import Param

HYPER = {"eta": Param(1.0, 0.0, exclusive_low=True, doc="step size"),
         "damping": Param(0.0, 0.0, doc="added to |eigenvalues|"),
         "max_step": Param(math.inf, 0.0, exclusive_low=True, finite=False,
                           doc="cap on the step's norm"),
         "rcond": Param(1e-12, 0.0, doc="relative cut-off of the pseudo-inverse")}
STATE = 1
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    d = x.shape[0]
    f = value_grad(x, p, g)
    H = np.empty((d, d))
    hessian(x, p, H)
    spectral_step(H, g, True, h[1], h[3], h[2], s[0])
    for i in range(d):
        x[i] -= h[0] * s[0, i]
    return f
