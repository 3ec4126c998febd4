"""Adam, Kingma & Ba (2015): m_t = b1 m + (1-b1) g, v_t = b2 v + (1-b2) g^2,
x_{t+1} = x_t - eta m_t/(1-b1^(t+1)) / (sqrt(v_t/(1-b2^(t+1))) + eps)."""
import math

from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "beta1": Param(0.9, 0.0, 1.0, exclusive_high=True, doc="first-moment decay"),
         "beta2": Param(0.999, 0.0, 1.0, exclusive_high=True, doc="second-moment decay"),
         "eps": Param(1e-8, 0.0, doc="denominator guard")}
STATE = 2
SCALARS = 0


def init(x, s, c, h, p, rng):
    s[:, :] = 0.0


def step(t, x, g, s, c, h, p, rng):
    eta, b1, b2, eps = h[0], h[1], h[2], h[3]
    f = value_grad(x, p, g)
    c1 = 1.0 - b1 ** (t + 1)
    c2 = 1.0 - b2 ** (t + 1)
    for i in range(x.shape[0]):
        s[0, i] = b1 * s[0, i] + (1.0 - b1) * g[i]
        s[1, i] = b2 * s[1, i] + (1.0 - b2) * g[i] * g[i]
        x[i] -= eta * (s[0, i] / c1) / (math.sqrt(s[1, i] / c2) + eps)
    return f
