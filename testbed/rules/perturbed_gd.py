"""Perturbed gradient descent, Jin, Ge, Netrapalli, Kakade & Jordan (2017),
"How to Escape Saddle Points Efficiently", Algorithm 2:

    if |grad f(x_t)| <= g_thres and t - t_noise > t_thres:
        x~ = x_t; t_noise = t; x_t = x~ + xi,  xi ~ Uniform(B_0(r))
    if t - t_noise == t_thres and f(x_t) - f(x~) > -f_thres:
        return x~                      (the replica stops at x~)
    x_{t+1} = x_t - eta grad f(x_t)

with t_noise = -t_thres - 1 initially. The paper's constants (eta = c/l,
r = sqrt(c) eps / (chi^2 l), ...) are computed by ``testbed.rules.perturbed_gd.
theory_hyper``; any values can be given directly. Scalars: c[1] = t_noise,
c[2] = f(x~), c[3] = the number of perturbations.
"""
import math

from ._api import uniform_ball, value_grad
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "r": Param(None, 0.0, exclusive_low=True, doc="perturbation radius"),
         "g_thres": Param(None, 0.0, exclusive_low=True, doc="gradient-norm threshold"),
         "t_thres": Param(None, 0.0, exclusive_low=True, integer=True,
                          doc="steps between perturbations"),
         "f_thres": Param(None, 0.0, doc="required decrease after a perturbation")}
STATE = 2   # s[0] = x~, s[1] = scratch for the perturbation
SCALARS = 3


def init(x, s, c, h, p, rng):
    c[1] = -h[3] - 1.0
    c[2] = 0.0
    c[3] = 0.0


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    t_thres = h[3]
    f = value_grad(x, p, g)
    gn = 0.0
    for i in range(x.shape[0]):
        gn += g[i] * g[i]
    if math.sqrt(gn) <= h[2] and t - c[1] > t_thres:
        s[0, :] = x
        c[1] = t
        c[2] = f
        c[3] += 1.0
        uniform_ball(rng, s[1], h[1])
        for i in range(x.shape[0]):
            x[i] += s[1, i]
        f = value_grad(x, p, g)
    if t - c[1] == t_thres and f - c[2] > -h[4]:
        x[:] = s[0]
        c[0] = 1.0
        return f
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f


def theory_hyper(d, ell, rho, eps, c=1.0, delta=0.1, delta_f=1.0):
    """Algorithm 2's constants: chi = 3 max(ln(d l Df / (c eps^2 delta)), 4),
    eta = c/l, r = sqrt(c) eps / (chi^2 l), g_thres = sqrt(c) eps / chi^2,
    f_thres = (c / chi^3) sqrt(eps^3 / rho), t_thres = (chi / c^2) l / sqrt(rho eps)."""
    chi = 3.0 * max(math.log(d * ell * delta_f / (c * eps * eps * delta)), 4.0)
    return {"eta": c / ell, "r": math.sqrt(c) * eps / (chi * chi * ell),
            "g_thres": math.sqrt(c) * eps / (chi * chi),
            "t_thres": float(math.ceil(chi / (c * c) * ell / math.sqrt(rho * eps))),
            "f_thres": c / chi ** 3 * math.sqrt(eps ** 3 / rho)}
