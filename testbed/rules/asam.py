"""Adaptive SAM (ASAM), Kwon, Kim, Park & Choi (2021), "ASAM: Adaptive Sharpness-Aware
Minimization for Scale-Invariant Learning of Deep Neural Networks", ICML 2021,
arXiv:2102.11600. The ascent maximises f over the ellipsoid |T_x^-1 eps|_2 <= rho
to first order (their p = 2 solution):

    T_t = diag(|x_t| + eta_asam),   g_t = grad f(x_t),
    eps_t = rho T_t^2 g_t / |T_t g_t|_2,
    x_{t+1} = x_t - eta grad f(x_t + eps_t).

T is the element-wise normalisation operator; eta_asam > 0 keeps it invertible at
zero weights (the authors' code, github.com/SamsungLabs/ASAM, asam.py: T = |w| + eta
with defaults rho = 0.5, eta = 0.01). Their code applies T to weight tensors only
(T = I on biases) and adds 1e-16 to the norm; on a flat parameter vector there are
no tensors, so here T acts on every coordinate and the norm has no epsilon.

With eta_asam = 0 the ascent point is covariant under positive diagonal rescalings
x -> D x (eps -> D eps), the scale invariance ASAM is built for. A zero T g (zero
gradient) gives eps = 0: a plain GD step. With rho = 0 it is gradient descent. A
non-finite loss at the ascent point ends the replica as diverged at step t, with x
left at x_t.
"""
import math

from ._api import value_grad
from ._ascent import norm2
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "rho": Param(0.5, 0.0, doc="radius of the adaptive ball |T^-1 eps| <= rho"),
         "eta_asam": Param(0.01, 0.0, doc="floor added to |x| in T = diag(|x| + eta_asam)")}
STATE = 1   # s[0]: T g, then the ascent point
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    rho = h[1]
    floor = h[2]
    f = value_grad(x, p, g)
    for i in range(x.shape[0]):
        s[0, i] = (abs(x[i]) + floor) * g[i]
    tn = norm2(s[0])
    scale = rho / tn if tn > 0.0 else 0.0
    for i in range(x.shape[0]):
        ti = abs(x[i]) + floor
        s[0, i] = x[i] + scale * ti * ti * g[i]
    f_up = value_grad(s[0], p, g)
    if not math.isfinite(f_up):
        return f_up
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f
