"""SAM with the inner maximisation solved, not linearised: the descent gradient is
taken at (an approximation, to a stated tolerance, of) the maximiser of f over the
ball of radius rho around x_t (Foret et al. 2021's L^SAM(x) = max_{|eps| <= rho}
f(x + eps), whose one-step first-order solution is the ``sam`` rule):

    eps_t ~ argmax_{|eps|_2 <= rho} f(x_t + eps),   x_{t+1} = x_t - eta grad f(x_t + eps_t).

The maximiser is found by projected gradient ascent in the ball, started at eps = 0
with the constant step s = alpha rho / |grad f(x_t)|:

    eps_{k+1} = P_rho(eps_k + s grad f(x_t + eps_k)),   P_rho(v) = v min(1, rho / |v|),

stopped at the first k with |eps_{k+1} - eps_k| <= tol rho, or after ``max_iter``
iterations. With alpha >= 1 the first iterate is SAM's point rho g / |g|, so
max_iter = 1 is the ``sam`` rule (to rounding) and each further iteration refines it.

Accuracy. No iteration decreases f(x_t + eps) when f is convex in the ball
(convexity gives f(eps') >= f(eps) + |eps' - eps|^2 / s for any s > 0), or L-smooth
with s < 2 / L. On a convex quadratic 1/2 x^T A x the iterates converge to the global
maximiser, the trust-region solution eps_i = lam_i x_i / (mu - lam_i) with mu > lam_max
fixed by |eps| = rho (tests/test_claims_sam.py: within 1e-8 rho with the defaults,
1e-11 rho with tol = 1e-13; on 300 random points of a d = 4 quadratic the defaults
took at most 266 iterations, median 33, and were within 8.4e-10 rho); on a non-convex
f the ascent finds a local maximiser in the ball, the best a generic rule can do. With
linear convergence at rate r the distance to the maximiser at the stop is about
tol rho r / (1 - r). A larger alpha converges faster on convex f (alpha = 10: at most
193 iterations, median 18, on the same points) but gives up s < 2 / L on non-convex f.

How far SAM's one step is from the maximum depends on how much the gradient turns
inside the ball: along an eigenvector of a quadratic (SAM's 2-cycle) they coincide;
off the axes of the d = 4 quadratic above the one step falls short of the maximal
rise max f - f(x_t) by < 1e-4 of it where |x_t| >> rho and by up to 45 % where
|x_t| ~ rho (the gradient turns across the ball); on the valley (1 + y^2) x^2 / 2 the exact
ascent point is displaced along the valley by a further rho^2 h' / (2h), the one step
falls short by up to 2.3e-3 of the rise at rho = 0.1, and the drift along the valley
is faster by a relative rate ~ rho^2 (the ``sam-flat-bias`` claim measures both).

Scalars: c[1] = the number of steps at which the inner ascent hit ``max_iter``
without meeting ``tol``; c[2] = the most inner iterations any step used. A zero
gradient at x_t gives eps = 0 (a plain GD step). A non-finite loss at an inner or the
final ascent point ends the replica as diverged at step t, with x left at x_t.
"""
import math

from ._api import value_grad
from ._ascent import norm2
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "rho": Param(0.05, 0.0, doc="radius of the ball the maximum is taken over"),
         "alpha": Param(1.0, 0.0, exclusive_low=True,
                        doc="ascent step in units of rho / |grad f(x_t)|"),
         "tol": Param(1e-10, 0.0, exclusive_low=True,
                      doc="stop when an ascent step moves eps by <= tol * rho"),
         "max_iter": Param(1000, 1.0, integer=True, doc="most ascent iterations per step")}
STATE = 3   # s[0]: the ascent point x + eps (or the unprojected step), s[1]: eps, s[2]: scratch
SCALARS = 2


def init(x, s, c, h, p, rng):
    c[1] = 0.0
    c[2] = 0.0


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    rho = h[1]
    tol = h[3]
    max_iter = int(h[4])
    d = x.shape[0]
    f = value_grad(x, p, g)
    gn = norm2(g)
    for i in range(d):
        s[1, i] = 0.0
    if gn > 0.0 and rho > 0.0:
        size = h[2] * rho / gn
        converged = False
        k = 0
        while k < max_iter:
            if k > 0:
                for i in range(d):
                    s[0, i] = x[i] + s[1, i]
                f_in = value_grad(s[0], p, g)
                if not math.isfinite(f_in):
                    return f_in
            for i in range(d):
                s[0, i] = s[1, i] + size * g[i]
            vn = norm2(s[0])
            shrink = rho / vn if vn > rho else 1.0
            for i in range(d):
                v = s[0, i] * shrink
                s[2, i] = v - s[1, i]
                s[1, i] = v
            k += 1
            if norm2(s[2]) <= tol * rho:
                converged = True
                break
        if not converged:
            c[1] += 1.0
        if k > c[2]:
            c[2] = k
    for i in range(d):
        s[0, i] = x[i] + s[1, i]
    f_up = value_grad(s[0], p, g)
    if not math.isfinite(f_up):
        return f_up
    for i in range(d):
        x[i] -= eta * g[i]
    return f
