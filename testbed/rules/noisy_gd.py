"""Noisy gradient descent: x_{t+1} = x_t - eta grad f(x_t) + sigma xi_t,
xi_t ~ N(0, I_d) drawn from the replica's own stream (an isotropic model of
mini-batch noise; Ge et al. 2015)."""
from ._api import normal, value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "sigma": Param(None, 0.0, exclusive_low=True, doc="noise standard deviation")}
STATE = 0
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    f = value_grad(x, p, g)
    eta = h[0]
    sigma = h[1]
    for i in range(x.shape[0]):
        x[i] = x[i] - eta * g[i] + sigma * normal(rng)
    return f
