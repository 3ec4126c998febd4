"""Projected gradient descent: x_{t+1} = P_C(x_t - eta grad f(x_t)), with P_C the
projection chosen for the run (``projection=`` in :func:`testbed.run`; see
:mod:`testbed.projections`). Its parameters follow eta in the hyper vector."""
from ._api import project, value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size")}
STATE = 0
SCALARS = 0


def init(x, s, c, h, p, rng):
    project(x, h[1:])


def step(t, x, g, s, c, h, p, rng):
    f = value_grad(x, p, g)
    eta = h[0]
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    project(x, h[1:])
    return f
