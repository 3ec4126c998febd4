"""Sharpness-aware minimisation, Foret et al. (2021), the normalised first-order form:
eps_t = rho grad f(x_t) / |grad f(x_t)|;  x_{t+1} = x_t - eta grad f(x_t + eps_t).
With rho = 0 (or a zero gradient) it is gradient descent, bit for bit. A non-finite
loss at the ascent point x_t + eps_t flags the replica diverged at step t, x left at
x_t (never a step along a gradient taken where f is not defined)."""
import math

import numpy as np

from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "rho": Param(0.05, 0.0, doc="ascent radius")}
STATE = 0
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    rho = h[1]
    f = value_grad(x, p, g)
    gn = 0.0
    for i in range(x.shape[0]):
        gn += g[i] * g[i]
    gn = math.sqrt(gn)
    scale = rho / gn if gn > 0.0 else 0.0
    y = np.empty_like(x)
    for i in range(x.shape[0]):
        y[i] = x[i] + scale * g[i]
    f_up = value_grad(y, p, g)
    if not math.isfinite(f_up):
        return f_up          # ascent point off the domain: diverged at step t, x left at x_t
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f
