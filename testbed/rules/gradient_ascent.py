"""Gradient ascent: x_{t+1} = x_t + eta * grad f(x_t). It climbs: on a bounded
landscape (a Gaussian field) it reaches high points, near saddles of high index, from
which critical-point searches start (the index-energy claim); on an unbounded one
(a quadratic with a positive eigenvalue) it diverges."""
from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size")}
STATE = 0
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    f = value_grad(x, p, g)
    eta = h[0]
    for i in range(x.shape[0]):
        x[i] += eta * g[i]
    return f
