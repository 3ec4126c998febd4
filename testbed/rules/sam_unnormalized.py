"""Unnormalised SAM ("USAM"): the ascent is the gradient itself, scaled by rho,

    eps_t = rho grad f(x_t);   x_{t+1} = x_t - eta grad f(x_t + eps_t).

On a quadratic 1/2 x^T A x the map is linear, x_{t+1} = (I - eta A - eta rho A^2) x_t,
so it converges iff eta lam (1 + rho lam) < 2 for every eigenvalue lam > 0 of A: a
threshold eta < 2 / (lam_max (1 + rho lam_max)), below GD's 2 / lam_max (derived
here; it is the stability condition studied for USAM by Agarwala & Dauphin 2023 and
Dai, Ahn & Sra 2023). Normalised SAM (``sam``) is this rule with rho replaced by
rho / |grad f(x_t)|. With rho = 0 it is gradient descent.

A non-finite loss at the ascent point (rho so large that x_t + eps_t leaves the
landscape's domain, or overflows) ends the replica as diverged at step t, with x
left at x_t: the value returned is that loss.
"""
import math

from ._api import value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "rho": Param(0.05, 0.0, doc="ascent scale: eps = rho grad f")}
STATE = 1   # s[0]: the ascent point
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    rho = h[1]
    f = value_grad(x, p, g)
    for i in range(x.shape[0]):
        s[0, i] = x[i] + rho * g[i]
    f_up = value_grad(s[0], p, g)
    if not math.isfinite(f_up):
        return f_up
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f
