"""Landscapes with flat and sharp minima, where sharpness-aware minimisation (SAM)
is known to prefer the flat ones (Foret et al. 2021; Bartlett, Long & Bousquet 2023).

sharpness_valley (2-D): f(x, y) = (1 + y^2) x^2 / 2. Every point of the line x = 0
is a minimum (f = 0) with Hessian diag(h(y), 0), h(y) = 1 + y^2: a valley of minima
whose sharpness h grows away from y = 0. GD with eta h < 2 stops wherever it meets
the valley; SAM drifts along it toward y = 0 (its cycle across the valley makes it
descend h, Bartlett et al. 2023). The only critical points are the valley's.

sharp_flat_wells (1-D): the soft minimum of a sharp and a flat parabola,
f(x) = -log(exp(-a(x)) + exp(-b(x))), a = 8 (x + 5)^2 (curvature 16 at x = -5),
b = (x - 20)^2 / 2 (curvature 1 at x = 20). f equals the nearer parabola up to
log(1 + exp(-|a - b|)), below 1e-10 where |a - b| > 23 (on [-13, -0.25] and
[0.25, inf)), so the minima are -5 and 20 (f = 0) and the ridge between them, near
a = b, is a maximum at x = 0.0138831597844152 (f = 199.499982099671, f'' = -1599.34;
computed once with mpmath at 50 digits). The sharp well's right wall ends at the
ridge, 5 from its minimum; on its left, at x = -40/3, f passes over to the flat
parabola's left branch (a concave kink where both slopes are negative: no critical
point), so GD's basins are (-inf, ridge) and (ridge, inf) and these three are the
only critical points. The kernels evaluate the log-sum-exp shifted by min(a, b), so
f and its derivatives are finite for every finite x. This is the calibration toy of
the SAM basin-width criterion (/work/shared/papers/claims-part1.md sec. 3, E3d:
-tau log(exp(-8 (x + 1/2)^2 / tau) + exp(-(x - 2)^2 / (2 tau))), tau = 0.01) with x
scaled by 10 and f by 100: the same dynamics for the same eta and rho scaled by 10,
and a ridge 10 times wider, which finite differences with steps of 1e-5 resolve.
"""
import math

import sympy as sp

from testbed import CriticalPoint, from_kernels, symbolic
from testbed.kernel import njit

x, y = sp.symbols("x y", real=True)

SHARPNESS_VALLEY = symbolic(
    "sharpness_valley", (1 + y**2) * x**2 / 2, (x, y),
    critical_points=[CriticalPoint((0.0, 0.0), 0.0, 0, degenerate=True),
                     CriticalPoint((0.0, 1.0), 0.0, 0, degenerate=True),
                     CriticalPoint((0.0, -2.0), 0.0, 0, degenerate=True)],
    domain=((-1.0, -3.0), (1.0, 3.0)),
    tags=("valley", "degenerate", "critical-manifold", "sam"),
    paper="Bartlett, Long & Bousquet 2023, JMLR 24(316), arXiv:2210.01513 (a valley of "
          "minima of varying sharpness)",
    description="(1 + y^2) x^2 / 2: minima x = 0 with sharpness 1 + y^2",
)

SHARP_MIN, FLAT_MIN = -5.0, 20.0
SHARP_CURVATURE, FLAT_CURVATURE = 16.0, 1.0
RIDGE = 0.013883159784415207


@njit
def _wells(x0):
    """f, f', f'' of the soft minimum of a = 8 (x + 5)^2 and b = (x - 20)^2 / 2:
    f = m - log(e^(m - a) + e^(m - b)), m = min(a, b); with p_a, p_b = the softmax
    weights, f' = p_a a' + p_b b', f'' = p_a a'' + p_b b'' - p_a p_b (a' - b')^2."""
    u = x0 + 5.0
    v = x0 - 20.0
    a = 8.0 * u * u
    b = 0.5 * v * v
    da = 16.0 * u
    m = min(a, b)
    wa = math.exp(m - a)
    wb = math.exp(m - b)
    s = wa + wb
    pa = wa / s
    pb = wb / s
    f = m - math.log(s)
    f1 = pa * da + pb * v
    f2 = pa * 16.0 + pb - pa * pb * (da - v) ** 2
    return f, f1, f2


@njit
def value_grad(x, p, g):
    f, f1, f2 = _wells(x[0])
    g[0] = f1
    return f


@njit
def hessian(x, p, H):
    f, f1, f2 = _wells(x[0])
    H[0, 0] = f2


@njit
def hvp(x, p, v, out):
    f, f1, f2 = _wells(x[0])
    out[0] = f2 * v[0]


SHARP_FLAT_WELLS = from_kernels(
    "sharp_flat_wells", __name__, dim=1,
    critical_points=[CriticalPoint((SHARP_MIN,), 0.0, 0), CriticalPoint((FLAT_MIN,), 0.0, 0),
                     CriticalPoint((RIDGE,), 199.4999820996711, 1)],
    domain=((-8.0,), (25.0,)),
    tags=("sam", "flat-minima"),
    paper="Foret et al. 2021, arXiv:2010.01412 (sharp vs flat minima); the calibration "
          "toy of the SAM basin-width criterion, rescaled",
    description="-log(exp(-8 (x + 5)^2) + exp(-(x - 20)^2 / 2)): a sharp minimum "
                "(curvature 16) at -5, a flat one (curvature 1) at 20, ridge at 0.0139",
)
