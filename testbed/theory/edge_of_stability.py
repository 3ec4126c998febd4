r"""Edge of stability on the minimalist toy :math:`f(x, y) = (x^2 y^2 - 1)^2 / 4`
(Zhu, Wang, Wang, Zhou & Ge, ICLR 2023, arXiv:2210.03294) and the self-stabilisation
picture of Damian, Nichani & Lee (ICLR 2023, arXiv:2209.15594), worked out for that
toy.

**Notation.** :math:`p = x y`, :math:`q = x^2 - y^2` (the imbalance),
:math:`u = p^2 - 1`, :math:`s = x^2 + y^2 = \sqrt{q^2 + 4 p^2}`.
:math:`\nabla f = u\, (x y^2, x^2 y)`; the Hessian is

.. math::

    H = \begin{pmatrix} 3 x^2 y^4 - y^2 & 4 x^3 y^3 - 2 x y \\
                        4 x^3 y^3 - 2 x y & 3 x^4 y^2 - x^2 \end{pmatrix};

on the valley :math:`u = 0` its eigenvalues are 0 and :math:`S = 2 s` (the
sharpness).

**What is the paper's and what is ours.** Verified from the paper (abstract and one
footnote of the ICLR-2023 text): GD on their toy ends "with sharpness close to
2/eta", just below it; the ":math:`\eta`-EoS minimum" is
:math:`(c, d) = ((\eta^{-2} - 4)^{1/4}, 1)` in their :math:`(c, d)` coordinates,
which for this :math:`f` is the valley point with
:math:`x^2 - y^2 = \sqrt{\eta^{-2} - 4}`, :math:`x y = 1`, i.e.
:math:`S = 2/\eta`. The paper's theorem (its exact statement and bound on the gap)
could NOT be read (searches of the text dump, arXiv pages and citing papers return
only the abstract and footnote). So nothing tested here rests on the paper's bound:
every prediction below is derived from the toy's own math, stated with its order of
accuracy, and checked numerically.

1. **Exact GD identity** (all orders, any :math:`\eta`). One GD step
   :math:`x' = x (1 - \eta u y^2)`, :math:`y' = y (1 - \eta u x^2)` gives

   .. math::

       q' = q (1 - \eta^2 u^2 p^2), \qquad p' = p (1 - \eta u s + \eta^2 u^2 p^2).

   Gradient flow conserves :math:`q` (:math:`dq/dt = 0`), so its end point from
   :math:`(x, y)` is the valley point with the same :math:`q`, of sharpness
   :math:`S_{GF}(q) = 2 \sqrt{q^2 + 4}`. GD lowers :math:`q` only while the loss is
   not zero (:math:`u \ne 0`), i.e. only while it oscillates.

2. **The gap** :math:`2/\eta - S_{\text{final}}` (derived here, leading order). Fix
   :math:`q`: the 1-D map :math:`p \mapsto p'` has the fixed point :math:`p = 1` with
   multiplier :math:`1 - \eta S_{GF}(q)`; write
   :math:`\varepsilon = \eta S_{GF} - 2` and :math:`p = 1 + a`. Expanding with
   :math:`\eta s = 1 + O(\varepsilon, \eta^2)`,

   .. math::

       a' = -(1 + \varepsilon) a - 3 a^2 - a^3 + O(\eta^2 a^2),

   whose second iterate is :math:`a'' = (1 + 2 \varepsilon) a - 16 a^3`: a
   supercritical flip, a stable 2-cycle of squared amplitude :math:`\varepsilon/8`
   for :math:`\varepsilon > 0`. The slow variable obeys, from the identity,
   :math:`\varepsilon' - \varepsilon = \eta\, dS_{GF} = -8 \eta^2 a^2 (1 + O(\eta^2))`.
   With :math:`b = a^2` (per step: :math:`d \ln b / dt = 2 \varepsilon - 16 b`,
   :math:`d\varepsilon/dt = -8 \eta^2 b`) and the scaling
   :math:`\varepsilon = \eta^2 e`, :math:`b = \eta^2 B`, :math:`t = T/\eta^2` the
   system is parameter-free:

   .. math::

       \frac{dB}{dT} = B (2 e - 16 B), \qquad \frac{de}{dT} = -8 B,

   so :math:`dB/de = -e/4 + 2 B`, with solutions
   :math:`B = e/8 + 1/16 + C \exp(2 e)`. A trajectory that enters the edge from far
   above (:math:`e \gg 1`, on the slow manifold :math:`B \approx e/8` of the
   2-cycle) has :math:`C \approx 0` exponentially accurately -- this is why the end
   point does not depend on the initialisation -- and the oscillation dies
   (:math:`B = 0`) at :math:`e = -1/2`:

   .. math::

       \eta S_{\text{final}} = 2 - \eta^2 / 2, \quad\text{i.e.}\quad
       2/\eta - S_{\text{final}} = \eta/2 + O(\eta^3).

   The next order is relative :math:`O(\eta^2)` (:math:`\eta^2` corrections to every
   coefficient above and to the continuous-time limit); its coefficient is not
   derived here: measured, :math:`2/\eta - S_{\text{final}} = \eta/2 - c \eta^3` with
   :math:`c` = 2.9, 3.4, 3.85, 3.98 at :math:`\eta` = 0.3, 0.2, 0.1, 0.05
   (:math:`c \to 4`).

3. **Global bifurcation in** :math:`\eta`. No :math:`\eta`-EoS minimum exists for
   :math:`\eta \ge 1/2` (the smallest sharpness on the valley is 4, at
   :math:`x = y = 1`). There :math:`u` never vanishes, so by the identity
   :math:`q \to 0` geometrically and GD lands on the balanced line :math:`x = \pm y`,
   where it is exactly the 1-D map

   .. math::

       g(p) = p\, (1 - \eta (p^2 - 1) p)^2 \qquad (p = |x y|).

   :math:`g'(1) = 1 - 4 \eta`: the fixed point flips at :math:`\eta = 1/2` exactly,
   then :math:`g` period-doubles (:math:`\eta_2 \approx 0.632`, ...) into chaos,
   until GD diverges. The late iterates :math:`|x y|` of the 2-D GD are the attractor
   of :math:`g` (:func:`balanced_attractor`).

4. **Self-stabilisation** (Damian et al.). Verified from their abstract: GD at the
   edge "implicitly follows projected gradient descent (PGD) under the constraint
   S(theta) <= 2/eta", and a cubic Taylor expansion explains it: the oscillation
   :math:`x` along the top eigenvector :math:`u` lowers the sharpness through
   :math:`\nabla S`. From the lecture notes of J. Lee (secondary):
   :math:`S(\theta_t) \approx 2/\eta + y_t`,
   :math:`x_{t+1} \approx -(1 + \eta y_t) x_t`, and the cubic term gives
   :math:`y_{t+1} - y_t \approx \eta (\alpha - \beta x_t^2 / 2)` with
   :math:`\alpha = -\nabla L \cdot \nabla S`,
   :math:`\beta = \lVert \nabla_\perp S \rVert^2` (the :math:`y`-recursion is our
   reconstruction). On the toy, at a valley point (:math:`\alpha = 0` there):

   .. math::

       \beta(q) = \Big|\frac{dS}{d\,\text{arclength}}\Big|^2 = \frac{16 q^2}{s},
       \qquad x = \frac{u}{\lVert \nabla u \rVert} = \frac{u}{2 \sqrt{s}},

   so the predicted per-step drop of the sharpness :math:`S_{GF}(q_t)` of the
   projected point is :math:`-(\eta/2) \beta x^2 = -2 \eta q^2 u^2 / s^2`, while the
   exact identity gives :math:`-2 \eta^2 u^2 p^2 q^2 / s` (to first order in the
   step): the ratio is :math:`\eta s p^2 = 1 + O(\varepsilon) + O(a)` at the edge.
   The constrained trajectory itself is computed with ``projected_gd`` and
   :func:`sharpness_cap` (PGD onto :math:`\{S(\theta) \le 2/\eta\}`, the set the
   abstract names; their full stable set also asks :math:`\nabla L \cdot u = 0`,
   which near the valley is the valley itself). It ends at the :math:`\eta`-EoS
   minimum (:math:`S = 2/\eta`); GD ends :math:`\eta/2` below it (item 2).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from .._engine.jit import njit
from ..errors import TestbedError
from ..projections import Projection

# ---------------------------------------------------------------- closed forms


def hessian_entries(x, y):
    r""":math:`(H_{11}, H_{12}, H_{22})` of :math:`f` at :math:`(x, y)` (arrays)."""
    x2, y2 = x * x, y * y
    return 3 * x2 * y2 * y2 - y2, 4 * x2 * x * y2 * y - 2 * x * y, 3 * x2 * x2 * y2 - x2


def sharpness(x, y):
    r"""Largest eigenvalue of the Hessian of :math:`f` at :math:`(x, y)` (arrays; exact
    closed form)."""
    a, b, c = hessian_entries(np.asarray(x, float), np.asarray(y, float))
    return 0.5 * (a + c) + np.hypot(0.5 * (a - c), b)


def loss(x, y):
    u = x * x * y * y - 1.0
    return 0.25 * u * u


def sharpness_gf(q):
    r"""Sharpness of the gradient-flow end point from any point of imbalance :math:`q`:
    :math:`S_{GF}(q) = 2 \sqrt{q^2 + 4}` (gradient flow conserves
    :math:`q = x^2 - y^2`)."""
    return 2.0 * np.sqrt(np.asarray(q, float) ** 2 + 4.0)


def imbalance_for_sharpness(S):
    r""":math:`q \ge 0` with :math:`S_{GF}(q) = S` (:math:`S \ge 4`)."""
    S = np.asarray(S, float)
    if np.any(S < 4.0):
        raise TestbedError(f"the valley's sharpness is at least 4, got {S}")
    return np.sqrt((S / 2.0) ** 2 - 4.0)


def gd_identity(x, y, eta):
    r"""Right-hand side of the exact identity :math:`q' = q (1 - \eta^2 u^2 p^2)`: the
    imbalance after one GD step from :math:`(x, y)`."""
    p = x * y
    u = p * p - 1.0
    return (x * x - y * y) * (1.0 - eta * eta * u * u * p * p)


def init_on_gf_orbit(eta, fac, p0):
    r"""Starting point :math:`(x_0, y_0)`, :math:`x_0 y_0 = p_0 > 0`, whose
    gradient-flow end point has sharpness :math:`S_{GF} = \text{fac} \cdot 2/\eta` (so
    fac > 1: the edge of stability is reached)."""
    eta, fac, p0 = (np.asarray(v, float) for v in (eta, fac, p0))
    q = imbalance_for_sharpness(fac * 2.0 / eta)
    y2 = (-q + np.sqrt(q * q + 4.0 * p0 * p0)) / 2.0
    y0 = np.sqrt(y2)
    return p0 / y0, y0


def eos_minimum(eta):
    r"""The :math:`\eta`-EoS minimum: the valley point (:math:`x y = 1`) of sharpness
    exactly :math:`2/\eta`, :math:`x^2 - y^2 = \sqrt{\eta^{-2} - 4}` (the paper's
    :math:`(c, d) = ((\eta^{-2} - 4)^{1/4}, 1)`)."""
    eta = float(eta)
    if not 0 < eta < 0.5:
        raise TestbedError(f"an eta-EoS minimum exists only for 0 < eta < 1/2, got {eta}")
    q = math.sqrt(eta ** -2 - 4.0)
    s = 1.0 / eta
    return math.sqrt((q + s) / 2.0), math.sqrt((s - q) / 2.0)


def final_sharpness(eta):
    r"""Leading-order prediction of the final sharpness after the edge of stability:
    :math:`2/\eta - \eta/2` (module docstring, item 2; error :math:`O(\eta^3)`)."""
    eta = np.asarray(eta, float)
    return 2.0 / eta - eta / 2.0


GAP_COEFFICIENT = 0.5        # (2/eta - S_final) / eta -> 1/2 as eta -> 0


# ---------------------------------------------------------------- the balanced map


@njit
def _balanced_iterate(p, eta, n_transient, n_keep, out):
    for t in range(n_transient + n_keep):
        if t >= n_transient:
            out[t - n_transient] = p
        u = p * p - 1.0
        w = 1.0 - eta * u * p
        p = p * w * w
        if not math.isfinite(p) or p > 1e6:
            for k in range(max(t - n_transient + 1, 0), n_keep):
                out[k] = math.nan
            return


def balanced_map(p, eta):
    r""":math:`g(p) = p (1 - \eta (p^2 - 1) p)^2`: GD on the balanced line
    :math:`x = y`, with :math:`p = x^2`."""
    p = np.asarray(p, float)
    w = 1.0 - eta * (p * p - 1.0) * p
    return p * w * w


def balanced_derivative(p, eta):
    w = 1.0 - eta * (p * p - 1.0) * p
    return w * (w - 2.0 * eta * p * (3.0 * p * p - 1.0))


def balanced_attractor(eta, n_transient=200_000, n_keep=256, p0=1.2):
    r"""Late iterates of :math:`g` (NaN where the orbit leaves every bound)."""
    out = np.empty(n_keep)
    _balanced_iterate(float(p0), float(eta), int(n_transient), int(n_keep), out)
    return out


def _refine_cycle(p, eta, k, iters=60):
    """Newton on g^k(p) - p from p; returns (p, multiplier) or (nan, nan)."""
    for _ in range(iters):
        z, m = p, 1.0
        for _ in range(k):
            m *= balanced_derivative(z, eta)
            z = balanced_map(z, eta)
        if not (math.isfinite(z) and math.isfinite(m)) or m == 1.0:
            return math.nan, math.nan
        step = (z - p) / (m - 1.0)
        p -= step
        if abs(step) < 1e-15 * max(1.0, abs(p)):
            break
    z, m = p, 1.0
    for _ in range(k):
        m *= balanced_derivative(z, eta)
        z = balanced_map(z, eta)
    return (p, m) if abs(z - p) < 1e-10 else (math.nan, math.nan)


def attracting_cycle(eta, max_period=16, tol=1e-9):
    r"""(period, points, multiplier) of the attracting cycle of :math:`g` at
    :math:`\eta`, found by iterating and refined by Newton; period 0 when none of
    period :math:`\le` ``max_period`` is found (chaos, or a cycle too slow to settle),
    -1 when the orbit diverges."""
    late = balanced_attractor(eta, n_transient=20_000, n_keep=4 * max_period)
    if not np.all(np.isfinite(late)):
        return -1, np.array([]), math.nan
    for k in range(1, max_period + 1):
        if abs(late[-1] - late[-1 - k]) < 1e-4:
            p, m = _refine_cycle(float(late[-1]), eta, k)
            if math.isfinite(p) and abs(m) < 1.0 + 1e-9:
                pts, z = [], p
                for _ in range(k):
                    pts.append(z)
                    z = float(balanced_map(z, eta))
                pts = np.sort(np.array(pts))
                if np.all(np.diff(pts) > tol) or k == 1:
                    return k, pts, m
    return 0, np.array([]), math.nan


def flip_point(k, bracket):
    r"""The :math:`\eta` in ``bracket`` at which the attracting :math:`k`-cycle of
    :math:`g` loses stability (multiplier :math:`-1`): the period-doubling
    :math:`k \to 2k`."""
    if k == 1:
        return 0.5                                 # g'(1) = 1 - 4 eta = -1

    def multiplier_plus_one(eta):
        late = balanced_attractor(eta, n_transient=20_000, n_keep=8 * k)
        # the k-cycle (stable or just unstable): Newton from the late orbit
        p, m = _refine_cycle(float(late[-1]), eta, k)
        return m + 1.0

    return brentq(multiplier_plus_one, *bracket, xtol=1e-12)


def flip_points():
    r""":math:`\eta_1 = 1/2` (exact), :math:`\eta_2`, :math:`\eta_3` of :math:`g`'s
    period-doubling cascade."""
    e2 = flip_point(2, (0.56, 0.64))
    e3 = flip_point(4, (e2 + 1e-4, 0.66))
    return np.array([0.5, e2, e3])


# ---------------------------------------------------------------- self-stabilisation


def damian_beta(q):
    r""":math:`\beta = \lVert \nabla_\perp S \rVert^2` at the valley point of imbalance
    :math:`q`: :math:`16 q^2 / s`."""
    q = np.asarray(q, float)
    return 16.0 * q * q / np.sqrt(q * q + 4.0)


def normal_displacement(x, y):
    r""":math:`x_t` of Damian et al.: the displacement from the valley along the top
    eigenvector, to first order :math:`u / \lVert \nabla u \rVert` with
    :math:`\lVert \nabla u \rVert^2 = 4 s` at the valley."""
    q = x * x - y * y
    s = np.sqrt(q * q + 4.0)
    return (x * x * y * y - 1.0) / (2.0 * np.sqrt(s))


def predicted_sharpness_drop(x, y, eta, beta_scale=1.0):
    r"""Damian's cubic-Taylor prediction of :math:`S_{GF}(q_{t+1}) - S_{GF}(q_t)`:
    :math:`-(\eta/2) \beta x^2` (``beta_scale`` multiplies :math:`\beta`: tests use it
    to inject a wrong constant)."""
    q = x * x - y * y
    return -0.5 * eta * beta_scale * damian_beta(q) * normal_displacement(x, y) ** 2


@njit
def _top_and_grad(x, y):
    x2, y2 = x * x, y * y
    a = 3 * x2 * y2 * y2 - y2
    b = 4 * x2 * x * y2 * y - 2 * x * y
    c = 3 * x2 * x2 * y2 - x2
    r = math.hypot(0.5 * (a - c), b)
    S = 0.5 * (a + c) + r
    vx, vy = b, S - a                              # eigenvector of the top eigenvalue
    if abs(vx) + abs(vy) < 1e-300:
        vx, vy = S - c, b
    if abs(vx) + abs(vy) < 1e-300:
        vx, vy = 1.0, 0.0
    n = math.hypot(vx, vy)
    vx /= n
    vy /= n
    # grad S = v^T (dH) v (first-order perturbation of a simple eigenvalue)
    d11x = 6 * x * y2 * y2
    d11y = 12 * x2 * y2 * y - 2 * y
    d12x = 12 * x2 * y2 * y - 2 * y
    d12y = 12 * x2 * x * y2 - 2 * x
    d22x = 12 * x2 * x * y2 - 2 * x
    d22y = 6 * x2 * x2 * y
    gx = vx * vx * d11x + 2 * vx * vy * d12x + vy * vy * d22x
    gy = vx * vx * d11y + 2 * vx * vy * d12y + vy * vy * d22y
    return S, gx, gy


@njit
def _sharpness_cap(x, q):
    """Move x onto {S <= q[0]}: Newton steps on S(theta) = q[0] along grad S (the
    Euclidean projection to first order in the distance moved)."""
    cap = q[0]
    for _ in range(60):
        S, gx, gy = _top_and_grad(x[0], x[1])
        if not S > cap:                            # also stops on NaN
            return
        g2 = gx * gx + gy * gy
        if not g2 > 0:
            return
        step = (S - cap) / g2
        x[0] -= step * gx
        x[1] -= step * gy
        if S - cap < 1e-13 * cap:
            return


@njit
def _constrained(x0, eta, steps, cap, out):
    for r in range(x0.shape[0]):
        z = np.empty(2)
        z[0], z[1] = x0[r, 0], x0[r, 1]
        _sharpness_cap(z, cap)                     # projected_gd projects the start too
        for t in range(steps + 1):
            out[t, 0, r] = z[0]
            out[t, 1, r] = z[1]
            x, y = z[0], z[1]
            u = x * x * y * y - 1.0
            z[0] = x - eta * u * x * y * y
            z[1] = y - eta * u * x * x * y
            _sharpness_cap(z, cap)


def constrained_trajectory(x0, eta, steps, cap_scale=1.0):
    r"""The constrained trajectory of Damian et al. on the toy: projected GD onto
    :math:`\{S(\theta) \le \text{cap\_scale} \cdot 2/\eta\}` from each start (rows of
    ``x0``), every step: an array (steps + 1, 2, N). The same iteration as
    ``testbed.run(L, "projected_gd", x0, projection=sharpness_cap(2/eta), ...)``, in
    a small loop of its own (no ensemble runner to compile)."""
    x0 = np.ascontiguousarray(np.atleast_2d(x0), dtype=np.float64)
    out = np.empty((int(steps) + 1, 2, x0.shape[0]))
    _constrained(x0, float(eta), int(steps), np.array([cap_scale * 2.0 / eta]), out)
    return out


def sharpness_cap(cap: float) -> Projection:
    r"""Projection onto :math:`\{\theta : S(\theta) \le \text{cap}\}` for the toy
    (``projected_gd``): Newton steps on :math:`S(\theta) = \text{cap}` along
    :math:`\nabla S`."""
    if not cap > 4.0:
        raise TestbedError(f"the sharpness cap must exceed 4 (the valley's minimum), got {cap}")
    return Projection(_sharpness_cap, (float(cap),), f"sharpness_cap({cap:g})")


# ---------------------------------------------------------------- networks


def top_eigs(L, x, k=1, v0=None, tol=1e-10):
    r"""The :math:`k` algebraically largest Hessian eigenvalues of landscape ``L`` at
    ``x``, with their residual bounds and unit Ritz vectors:
    :func:`testbed.curvature.top_eigenvalues` (Lanczos with full reorthogonalisation
    on exact Hessian-vector products), started from ``v0`` -- along a trajectory, the
    previous top eigenvector (warm start) -- with at least :math:`\max(2k + 1, 20)`
    steps (ARPACK's default Krylov dimension, so that the Krylov space always sees
    beyond the start vector) and grown until every bound is below ``tol`` times the
    largest absolute Ritz value. Where the top eigenvalue is also the largest in
    magnitude (the networks here, whose negative eigenvalues are smaller) that is a
    relative accuracy ``tol`` of the top eigenvalue, as ARPACK's ``tol`` (relative to
    each eigenvalue; ``scipy.sparse.linalg.eigsh`` was used here before); otherwise it
    is looser by :math:`\max|\lambda| / \lambda_{\max}`. Returns the
    :class:`~testbed.curvature.Eigs` (check ``converged``; ``bounds`` are the residual
    bounds)."""
    from ..curvature import top_eigenvalues
    return top_eigenvalues(L, x, k, tol=tol, vectors=True, v0=v0,
                           start_iter=max(2 * k + 1, 20))


def top_eigenpairs(L, x, k=1, v0=None, tol=1e-10):
    """The ``k`` algebraically largest Hessian eigenvalues at x (descending) and their unit
    eigenvectors (columns), by :func:`top_eigs`; raises a TestbedError (stating the
    bounds) when they are not converged to ``tol``."""
    e = top_eigs(L, x, k, v0, tol)
    if not e.converged:
        raise TestbedError(f"top {k} Hessian eigenvalue(s) of {L.name!r} not converged to "
                           f"{tol:g} (relative to the largest |Ritz value|) in {e.n_iter} "
                           f"Lanczos steps: values {e.values.tolist()}, residual bounds "
                           f"{e.bounds.tolist()}")
    return e.values, e.vectors.T


def top_eigenpair(L, x, v0=None, tol=1e-10):
    """The largest Hessian eigenvalue at x and its unit eigenvector."""
    w, V = top_eigenpairs(L, x, 1, v0, tol)
    return float(w[0]), V[:, 0]


def sharpness_gradient(L, x, v, h=1e-3, g0=None):
    r""":math:`\nabla_\theta (v^T H(\theta) v)` at ``x`` for a fixed unit :math:`v`
    (:math:`= \nabla \lambda` for the eigenvalue of eigenvector :math:`v`): the third
    derivative :math:`D^3 L[v, v, \cdot]` by the central second difference
    :math:`(g(x + h v) + g(x - h v) - 2 g(x)) / h^2` of exact gradients; truncation
    :math:`O(h^2)`, rounding :math:`\sim 10^{-16} \lVert g \rVert / h^2`."""
    g0 = L.grad(x) if g0 is None else g0
    return (L.grad(x + h * v) + L.grad(x - h * v) - 2.0 * g0) / (h * h)


def project_sharpness(L, x, cap, v0=None, k=4, max_newton=8, rtol=1e-4):
    r"""Move ``x`` onto :math:`\{S \le \text{cap}\}`. At the edge of stability of a
    network several top eigenvalues sit at the cap together, and Newton on their
    maximum alone zig-zags; so every eigenvalue of the top :math:`k` above the cap is
    a linearised constraint :math:`\lambda_i + \nabla \lambda_i \cdot \delta =
    \text{cap}`, and :math:`\delta` is their least-norm solution (Gauss-Newton on the
    active set), repeated until :math:`\max \lambda \le \text{cap}\, (1 +
    \text{rtol})`. Returns ``(x, S, v, newton_steps)`` with ``v`` the top
    eigenvector."""
    w, V = top_eigenpairs(L, x, k, v0)
    n = 0
    while w[0] > cap * (1 + rtol) and n < max_newton:
        active = np.flatnonzero(w > cap * (1 - 1e-3))
        g0 = L.grad(x)
        G = np.stack([sharpness_gradient(L, x, V[:, i], g0=g0) for i in active])
        excess = w[active] - cap
        x = x - G.T @ np.linalg.lstsq(G @ G.T, excess, rcond=None)[0]
        w, V = top_eigenpairs(L, x, k, V[:, 0])
        n += 1
    return x, float(w[0]), V[:, 0], n


def network_constrained_trajectory(L, x0, eta, steps, stride, cap_scale=1.0):
    r"""Damian et al.'s constrained trajectory on a network landscape: projected GD
    onto :math:`\{S(\theta) \le \text{cap\_scale} \cdot 2/\eta\}` (a GD step, then
    :func:`project_sharpness`), from ``x0``. Returns a dict with the parameters, loss
    and sharpness every ``stride`` steps (observation :math:`k` at step
    :math:`k \cdot \text{stride}`, as in :func:`testbed.run`) and the number of Newton
    projection steps taken."""
    cap = cap_scale * 2.0 / eta
    x = np.array(x0, dtype=np.float64, copy=True)
    x, S, v, k = project_sharpness(L, x, cap)
    n_obs = steps // stride + 1
    xs = np.empty((n_obs, x.size))
    loss = np.empty(n_obs)
    sharp = np.empty(n_obs)
    newton = k
    for t in range(steps + 1):
        if t % stride == 0:
            xs[t // stride], loss[t // stride], sharp[t // stride] = x, L.value(x), S
        if t == steps:
            break
        x = x - eta * L.grad(x)
        x, S, v, k = project_sharpness(L, x, cap, v)
        newton += k
    return {"x": xs, "loss": loss, "sharpness": sharp, "newton_steps": np.array(newton)}
