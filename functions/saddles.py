"""Saddle points: the separable strict saddle of benchmark B1 and the monkey saddle.

strict_saddle (any d): f(x) = sum_i (lam_i x_i^2 / 2 + x_i^4 / 4). Each coordinate is
an independent 1-D problem with critical points x_i = 0 (curvature lam_i) and, when
lam_i < 0, x_i = +-sqrt(-lam_i) (curvature -2 lam_i > 0, energy -lam_i^2 / 4). With
k negative lam_i there are 3^k critical points; the index of one is the number of
negative lam_i whose coordinate sits at 0. The default lam_1 = -1,
lam_2..d evenly spaced in [0.5, 2] is benchmark B1 (/work/shared/benchmarks.md): a
strict saddle at 0 with minima at x_1 = +-1. The standard example of the strict-saddle
property (Ge, Huang, Jin & Yuan 2015, COLT; Lee et al. 2016; Jin et al. 2017).

monkey_saddle (2-D): f(x, y) = x^3 - 3 x y^2 = Re (x + i y)^3, whose only critical
point, the origin, has a zero Hessian: a degenerate (higher-order) saddle that no
second-order test detects; f falls along three directions (Dauphin et al. 2014,
"Identifying and attacking the saddle point problem", Fig. 2).
"""
import itertools

import numpy as np
import sympy as sp

from testbed import CriticalPoint, Param, from_kernels, symbolic
from testbed.kernel import njit
from testbed.errors import TestbedError


@njit
def value_grad(x, p, g):
    f = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        x2 = xi * xi
        g[i] = (p[i] + x2) * xi
        f += x2 * (0.5 * p[i] + 0.25 * x2)
    return f


@njit
def value_grad_lanes(B, p, G, F):
    """value_grad at every column of B (d, m) at once, the columns innermost (noisy
    GD's vectorised backend): the same operations in the same order, so F[r] and
    G[:, r] equal value_grad(B[:, r]) bit for bit."""
    d, m = B.shape
    for r in range(m):
        F[r] = 0.0
    for i in range(d):
        pi = p[i]
        for r in range(m):
            xi = B[i, r]
            x2 = xi * xi
            G[i, r] = (pi + x2) * xi
            F[r] += x2 * (0.5 * pi + 0.25 * x2)


@njit
def hessian(x, p, H):
    H[:, :] = 0.0
    for i in range(x.shape[0]):
        H[i, i] = p[i] + 3.0 * x[i] * x[i]


@njit
def hvp(x, p, v, out):
    for i in range(x.shape[0]):
        out[i] = (p[i] + 3.0 * x[i] * x[i]) * v[i]


def _default_lam(d):
    """B1's spectrum: lam_1 = -1, lam_2..d evenly spaced in [0.5, 2]."""
    return np.concatenate(([-1.0], np.linspace(0.5, 2.0, d - 1)))


_MAX_NEGATIVE = 12   # 3^12 = 531441 critical points; beyond that, refuse to list them


def _critical_points(d, lam):
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    if lam.shape != (d,):
        raise TestbedError(f"strict_saddle: lam must have length d = {d}, got {lam.shape}")
    neg = np.flatnonzero(lam < 0)
    if neg.size > _MAX_NEGATIVE:
        raise TestbedError(f"strict_saddle: lam has {neg.size} negative entries, so "
                           f"3^{neg.size} critical points; too many to list (at most "
                           f"{_MAX_NEGATIVE} negative entries)")
    degenerate = bool(np.any(lam == 0))
    roots = np.sqrt(-lam[neg])
    out = []
    for choice in itertools.product((0, 1, -1), repeat=neg.size):
        x = np.zeros(d)
        x[neg] = np.asarray(choice, dtype=float) * roots
        moved = np.asarray(choice, dtype=bool)
        energy = 0.0 - 0.25 * float(np.sum(lam[neg][moved] ** 2))
        index = int(np.sum(~moved))
        out.append(CriticalPoint(tuple(x.tolist()), energy, index, degenerate))
    return out


STRICT_SADDLE = from_kernels(
    "strict_saddle", __name__,
    params={"lam": Param(_default_lam, vector=True,
                         doc="curvatures at 0; lam_i < 0 adds minima at x_i = +-sqrt(-lam_i)")},
    critical_points=_critical_points,
    tags=("saddle", "strict-saddle", "separable", "benchmark-B1"),
    paper="Ge et al. 2015 (COLT), strict-saddle property; benchmark B1",
    description="sum lam_i x_i^2/2 + x_i^4/4: strict saddle at 0 (B1: lam_1 = -1)",
)

_x, _y = sp.symbols("x y", real=True)

MONKEY_SADDLE = symbolic(
    "monkey_saddle", _x**3 - 3 * _x * _y**2, (_x, _y),
    critical_points=[CriticalPoint((0.0, 0.0), 0.0, 0, degenerate=True)],
    domain=((-2.0, -2.0), (2.0, 2.0)),
    tags=("saddle", "degenerate-saddle", "higher-order"),
    paper="Dauphin et al. 2014 (NeurIPS), Fig. 2",
    description="x^3 - 3 x y^2: a saddle with zero Hessian (three descending valleys)",
)
