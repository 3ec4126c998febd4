"""Nesterov's accelerated gradient in the momentum form of Sutskever et al. (2013):
y_t = x_t + beta v_t; v_{t+1} = beta v_t - eta grad f(y_t); x_{t+1} = x_t + v_{t+1}.
The returned loss (and g) are those at the look-ahead point y_t."""

from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "beta": Param(0.9, 0.0, 1.0, exclusive_high=True, doc="momentum")}
STATE = 1
SCALARS = 0


def init(x, s, c, h, p, rng):
    s[0, :] = 0.0


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    beta = h[1]
    y = x + beta * s[0]
    f = value_grad(y, p, g)
    for i in range(x.shape[0]):
        s[0, i] = beta * s[0, i] - eta * g[i]
        x[i] += s[0, i]
    return f
