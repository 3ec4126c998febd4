"""A chain of strict saddles on which gradient descent slows down exponentially.

saddle_chain (any d) -- a RECONSTRUCTION of the mechanism of Du, Jin, Lee, Jordan,
Poczos & Singh (2017), "Gradient Descent Can Take Exponential Time to Escape Saddle
Points" (NeurIPS; arXiv:1705.10412). It is NOT their function: their construction
(a piecewise "tube" of d saddles joined by splines, mirrored into an "octopus" and
extended to R^d by Whitney's theorem) could not be read in full here -- only the
abstract and third-party summaries were available -- so its constants are not
reproduced. This entry keeps their mechanism and is a smooth polynomial whose
critical points along the chain are known in closed form:

    f(x) = sum_{i=1}^d [ m_i x_i^2 / 2 + beta x_i^4 / 4 ],
    m_1 = -gamma,   m_i = m(x_{i-1}) (i >= 2),
    m(u) = -gamma + (L + gamma) (1 - u^2 / a^2)^2,   a^2 = gamma / beta.

The curvature of x_i is set by the previous coordinate: m(0) = L > 0 (x_i is a
stable direction while x_{i-1} sits at 0) and m(+-a) = -gamma (x_i becomes the
escape direction once x_{i-1} has reached its well at +-a); m'(0) = m'(+-a) = 0.

Critical points (declared): for j = 1..d+1, s_j = (+-a, ..., +-a, 0, ..., 0) with j-1
leading entries +-a (all sign choices; 2^(d+1) - 1 points). Gradient: coordinates at
+-a satisfy -gamma a + beta a^3 = 0 and m'(a) = 0; those at 0 have m'(0) = 0. The
Hessian there is diagonal (its off-diagonal m'(x_i) x_{i+1} vanishes):
    i < j-1: 2 gamma + 4 (L + gamma);   i = j-1: 2 gamma;   i = j: -gamma;
    i > j:  L,
so s_j (j <= d) is a strict saddle of index 1 with f(s_j) = -(j-1) gamma^2 / (4 beta),
and s_{d+1} = (+-a, ..., +-a) are the 2^d global minima (f >= -d gamma^2/(4 beta) since
m >= -gamma). Each saddle is a step of gamma^2 / (4 beta) down a staircase.

Completeness: every critical point begins with a (possibly empty) run of +-a followed
by a 0 -- at the first coordinate off +-a the curvature term is -gamma, and there the
gradient x_i (beta x_i^2 - gamma) + m'(x_i) x_{i+1}^2 / 2 has one sign on (0, a) and
the other beyond a, so x_i is 0 -- and the declared points are those whose later
coordinates are all 0. For d >= 4 there ARE critical points with nonzero coordinates
after the 0 (a root search at the defaults finds, for d = 4, (0, +-0.780, +-0.971,
+-0.997) of index 1 and (0, +-0.378, +-0.500, +-0.395) of index 2; all strict
saddles). They are not declared, and gradient descent started near s_1 with small
later coordinates never approaches them (x_1 grows monotonically to a and stays).

Why GD is slow (the claim gd-exponential-escape): while GD escapes saddle i along
x_i (growth 1 + eta gamma per step), x_{i+1} is a stable direction (factor 1 - eta L),
so it arrives at saddle i+1 smaller by (1 - eta L)^(t_i); escaping then takes kappa t_i
extra steps, kappa = ln(1/(1 - eta L)) / ln(1 + eta gamma), and the times to pass
successive saddles grow as (1 + kappa)^i (testbed.theory.saddle_escape, section
"Saddle chain"). Doubles limit the experiment: the escape direction at saddle i is
~(1 + eta gamma)^(-T_i), so T_i must stay below ~700 / ln(1 + eta gamma) steps.
"""
import itertools

import numpy as np

from testbed import CriticalPoint, Param, from_kernels
from testbed.kernel import njit
from testbed.errors import TestbedError


@njit
def value_grad(x, p, g):
    gam = p[0]
    c = p[1] + p[0]
    beta = p[2]
    r = beta / gam                    # 1 / a^2
    d = x.shape[0]
    f = 0.0
    m = -gam
    for i in range(d):
        xi = x[i]
        x2 = xi * xi
        f += 0.5 * m * x2 + 0.25 * beta * x2 * x2
        g[i] = (m + beta * x2) * xi
        if i + 1 < d:
            w = 1.0 - r * x2
            xn = x[i + 1]
            g[i] -= 2.0 * c * r * xi * w * xn * xn      # m'(x_i) x_{i+1}^2 / 2
            m = -gam + c * w * w
    return f


@njit
def hessian(x, p, H):
    gam = p[0]
    c = p[1] + p[0]
    beta = p[2]
    r = beta / gam
    d = x.shape[0]
    H[:, :] = 0.0
    m = -gam
    for i in range(d):
        xi = x[i]
        x2 = xi * xi
        H[i, i] = m + 3.0 * beta * x2
        if i + 1 < d:
            w = 1.0 - r * x2
            xn = x[i + 1]
            H[i, i] -= 2.0 * c * r * (1.0 - 3.0 * r * x2) * xn * xn   # m''(x_i) x_{i+1}^2 / 2
            off = -4.0 * c * r * xi * w * xn                           # m'(x_i) x_{i+1}
            H[i, i + 1] = off
            H[i + 1, i] = off
            m = -gam + c * w * w


@njit
def hvp(x, p, v, out):
    gam = p[0]
    c = p[1] + p[0]
    beta = p[2]
    r = beta / gam
    d = x.shape[0]
    m = -gam
    for i in range(d):
        out[i] = 0.0
    for i in range(d):
        xi = x[i]
        x2 = xi * xi
        hii = m + 3.0 * beta * x2
        if i + 1 < d:
            w = 1.0 - r * x2
            xn = x[i + 1]
            hii -= 2.0 * c * r * (1.0 - 3.0 * r * x2) * xn * xn
            off = -4.0 * c * r * xi * w * xn
            out[i] += off * v[i + 1]
            out[i + 1] += off * v[i]
            m = -gam + c * w * w
        out[i] += hii * v[i]


_MAX_D = 14   # 2^15 - 1 = 32767 declared points; beyond that, refuse to list them


def _critical_points(d, gamma, L, beta):
    if d > _MAX_D:
        raise TestbedError(f"saddle_chain: d = {d} has 2^{d + 1} - 1 declared critical "
                           f"points; too many to list (at most d = {_MAX_D})")
    a = float(np.sqrt(gamma / beta))
    step = gamma * gamma / (4.0 * beta)
    out = []
    for j in range(1, d + 2):                         # s_j: j - 1 leading +-a
        for signs in itertools.product((1.0, -1.0), repeat=j - 1):
            x = np.zeros(d)
            x[:j - 1] = a * np.asarray(signs)
            out.append(CriticalPoint(tuple(x.tolist()), -(j - 1) * step,
                                     1 if j <= d else 0, False))
    return out


SADDLE_CHAIN = from_kernels(
    "saddle_chain", __name__,
    params={
        "gamma": Param(1.0, 0.0, exclusive_low=True,
                       doc="escape curvature: Hessian -gamma along x_i at saddle s_i"),
        "L": Param(0.5, 0.0, exclusive_low=True,
                   doc="curvature of the next escape direction x_{i+1} at saddle s_i"),
        "beta": Param(1.0, 0.0, exclusive_low=True,
                      doc="quartic confinement; wells at +-a, a = sqrt(gamma / beta)"),
    },
    critical_points=_critical_points,
    tags=("saddle", "strict-saddle", "saddle-chain", "reconstruction"),
    paper=("reconstruction of the mechanism of Du et al. 2017 (NeurIPS), "
           "arXiv:1705.10412 -- not their function"),
    description=("sum m(x_{i-1}) x_i^2/2 + beta x_i^4/4: d index-1 saddles in a chain, "
                 "each escape direction stable at the saddle before"),
)
