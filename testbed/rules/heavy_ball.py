"""Polyak's heavy ball: v_{t+1} = beta v_t - eta grad f(x_t); x_{t+1} = x_t + v_{t+1}
(Polyak 1964), v_0 = 0."""
from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "beta": Param(0.9, 0.0, 1.0, exclusive_high=True, doc="momentum")}
STATE = 1
SCALARS = 0


def init(x, s, c, h, p, rng):
    s[0, :] = 0.0


def step(t, x, g, s, c, h, p, rng):
    f = value_grad(x, p, g)
    eta = h[0]
    beta = h[1]
    for i in range(x.shape[0]):
        s[0, i] = beta * s[0, i] - eta * g[i]
        x[i] += s[0, i]
    return f
