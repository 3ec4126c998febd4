"""Gradient flow dx/dt = -grad f(x), integrated by classical Runge-Kutta 4 with time
step eta (local error O(eta^5)): the small-step reference the discrete rules are
compared with. Step t reaches time (t+1) eta."""

from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="RK4 time step")}
STATE = 4
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    dt = h[0]
    f = value_grad(x, p, g)
    s[0] = g
    value_grad(x - 0.5 * dt * s[0], p, s[1])
    value_grad(x - 0.5 * dt * s[1], p, s[2])
    value_grad(x - dt * s[2], p, s[3])
    for i in range(x.shape[0]):
        x[i] -= dt / 6.0 * (s[0, i] + 2.0 * s[1, i] + 2.0 * s[2, i] + s[3, i])
    return f
