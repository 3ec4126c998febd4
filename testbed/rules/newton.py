"""Newton's method: x_{t+1} = x_t - eta H(x_t)^+ grad f(x_t), H^+ the pseudo-inverse
(eigen-directions with |lambda| <= rcond max|lambda| dropped, so a singular Hessian
gives a defined step), the step capped at length max_step. Attracted to critical
points of every index (Dauphin et al. 2014)."""
import math

import numpy as np

from ._api import hessian, value_grad
from ._linalg import spectral_step
from ..objective.landscape import Param

HYPER = {"eta": Param(1.0, 0.0, exclusive_low=True, doc="step size"),
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
    spectral_step(H, g, False, 0.0, h[2], h[1], s[0])
    for i in range(d):
        x[i] -= h[0] * s[0, i]
    return f
