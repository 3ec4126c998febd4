"""Quadratics with a given spectrum: f(x) = 1/2 sum_i lam_i x_i^2, any d.

The classical test bed of step-size stability: GD multiplies coordinate i by
(1 - eta lam_i) per step, so it converges iff eta < 2 / max|lam_i| (all lam_i > 0).
"""
import numpy as np

from testbed import CriticalPoint, Param, from_kernels
from testbed.kernel import njit


@njit
def value_grad(x, p, g):
    f = 0.0
    for i in range(x.shape[0]):
        g[i] = p[i] * x[i]
        f += 0.5 * p[i] * x[i] * x[i]
    return f


@njit
def hvp(x, p, v, out):
    for i in range(x.shape[0]):
        out[i] = p[i] * v[i]


@njit
def hessian(x, p, H):
    H[:, :] = 0.0
    for i in range(x.shape[0]):
        H[i, i] = p[i]


def _critical_points(d, lam):
    lam = np.atleast_1d(lam)
    return [CriticalPoint(tuple(np.zeros(d)), 0.0, int(np.sum(lam < 0)),
                          degenerate=bool(np.any(lam == 0)))]


QUADRATIC = from_kernels(
    "quadratic", __name__,
    params={"lam": Param(lambda d: np.linspace(1.0, 10.0, d), vector=True,
                         doc="the Hessian's eigenvalues (diagonal)")},
    critical_points=_critical_points,
    tags=("quadratic", "convex", "stability"),
    paper="classical (e.g. Nesterov 2004, Introductory Lectures, sec. 1.2)",
    description="1/2 sum lam_i x_i^2 with a chosen spectrum lam",
)
