"""FAST-BAT: fast bi-level adversarial training (Zhang, Zhang, Khanduri, Hong, Chang &
Liu 2022, "Revisiting and Advancing Fast Adversarial Training Through the Lens of
Bi-Level Optimization", ICML, arXiv:2112.12376), as implemented in the authors' code
(OPTML-Group/Fast-BAT ``trainer.py``, mode ``fast_bat``), on a network's finite sum of
cross-entropies CE(x; a_j, y_j), x the parameters, a_j the inputs.

With B_t = ``batch`` indices drawn as by ``sgd``, S(x, delta) = sum_{j in B_t}
CE(x; a_j + delta_j) (the code's attack loss is -S, **sum** reduction), r = ``lr_ll``
(the code's ``attack_lr`` = 1/lambda_ll) and P_C the projection on the ell_inf ball of
radius eps within the data box [lo, lo + span] (:mod:`testbed.rules._adversarial`):

1. z_0 = P_C(U[-eps, eps]);
2. z = P_C(z_0 + r grad_delta S(x_t, z_0))        (a non-sign ascent step);
3. delta* = P_C(z + r grad_delta S(x_t, z))       (the minimiser of the linearised
   lower level plus (lambda_ll / 2) |delta - z|^2);
4. H = 1[z_min + 1e-7 < delta* < z_max - 1e-7] coordinatewise, z_min = max(lo - a,
   -eps), z_max = min(lo + span - a, eps): the coordinates not at a bound;
5. u = H * grad_delta S(x_t, delta*) (held constant), and the implicit-gradient
   (cross) term, with lambda = ``lmbda`` (the code's ``--lmbda``, default 10, a
   different number from lambda_ll),
       c_t = (1 / (lambda B)) grad_x [grad_delta S(x_t, z) . u];
6. x_{t+1} = x_t - eta (grad_x CE_B(x_t; a + delta*) + c_t),  CE_B = S / B.

The code forms c_t by double back-propagation. Here the mixed derivative is the
derivative of the parameter gradient along u [R: the identity
grad_x [grad_delta S . u] = d/ds grad_x S(x, z + s u) at s = 0, exact; the central
difference is the approximation]: with u = |u|_inf v,

    c_t = (|u|_inf / lambda) [grad_x CE_B(x_t; a + z + h v)
                              - grad_x CE_B(x_t; a + z - h v)] / (2 h),

two more gradients, truncation O(h^2) on smooth activations and O(h) where a unit of
a C^1 activation (ELU) changes side within h. The default h = 1e-4 (the spec
suggests 1e-3: on a digits ELU network that left errors up to 2e-3 relative, 1e-4
about 1e-9, rounding about 1e-16 / h). With ReLU the parameter gradient jumps
at kinks and the difference picks the jumps up, which double back-propagation does
not: use a C^1 activation. c_t = 0 when u = 0.
The update is plain SGD (no momentum, no weight decay). Draws from the replica's
stream: the batch (one ``uniform`` per index), then one ``uniform`` per input
coordinate of the batch, row by row. ``scalars[:, 0]`` is the mean over the run's
steps of the fraction of coordinates in H (Zhang et al.'s implicit term matters only
where it is not near 0). The value returned is CE_B at delta*; a non-finite value
ends the replica as diverged at step t with x left at x_t. Needs the networks of
:mod:`testbed.nets` (``value_grad_inputs``).
"""
import math

import numpy as np

from ._api import n_samples, value_grad_inputs
from ._adversarial import batch_of, box_project, random_start, shifted
from ._sampling import uniform_subset
from ..objective.landscape import Param

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size"),
         "eps": Param(None, 0.0, doc="ell_inf radius of the perturbation"),
         "lr_ll": Param(None, 0.0, doc="lower-level step 1/lambda_ll on the summed loss"),
         "lmbda": Param(10.0, 0.0, exclusive_low=True, finite=False,
                        doc="lambda of the implicit (cross) term (inf: no cross term)"),
         "batch": Param(None, 1.0, integer=True, doc="mini-batch size"),
         "h": Param(1e-4, 0.0, exclusive_low=True,
                   doc="central-difference step of the cross term"),
         "lo": Param(0.0, doc="lower end of the data box"),
         "span": Param(1.0, 0.0, exclusive_low=True, doc="width of the data box")}
STATE = 0
SCALARS = 1
NEEDS = ("value_grad_inputs", "n_samples")
MARGIN = 1e-7       # the code's margin of the active-set mask H


def init(x, s, c, h, p, rng):
    c[1] = 0.0


def step(t, x, g, s, c, h, p, rng):
    eta = h[0]
    eps = h[1]
    r = h[2]
    lmbda = h[3]
    fd = h[5]
    lo = h[6]
    hi = h[6] + h[7]
    n = n_samples(p)
    b = min(max(int(h[4]), 1), n)
    perm = uniform_subset(n, b, rng)
    Xb, Yb = batch_of(p, perm[:b])
    m = Xb.shape[0]
    z = np.empty(m)
    random_start(z, Xb, eps, lo, hi, rng)                 # z_0
    Xa = np.empty(m)
    gx = np.empty(m)
    shifted(Xa, Xb, z)
    f = value_grad_inputs(x, p, Xa, Yb, g, gx)
    if not math.isfinite(f):
        return f
    for i in range(m):
        z[i] += r * b * gx[i]                             # grad_delta S = B grad_delta CE_B
    box_project(z, Xb, eps, lo, hi)                       # z
    shifted(Xa, Xb, z)
    f = value_grad_inputs(x, p, Xa, Yb, g, gx)
    if not math.isfinite(f):
        return f
    ds = z.copy()
    for i in range(m):
        ds[i] += r * b * gx[i]
    box_project(ds, Xb, eps, lo, hi)                      # delta*
    shifted(Xa, Xb, ds)
    f = value_grad_inputs(x, p, Xa, Yb, g, gx)
    if not math.isfinite(f):
        return f
    u = np.empty(m)
    top = 0.0
    active = 0
    for i in range(m):
        on = ds[i] > max(lo - Xb[i], -eps) + MARGIN and ds[i] < min(hi - Xb[i], eps) - MARGIN
        u[i] = b * gx[i] if on else 0.0
        active += 1 if on else 0
        top = max(top, abs(u[i]))
    c[1] += (active / m - c[1]) / (t + 1)
    if top > 0.0 and math.isfinite(lmbda):
        d = x.shape[0]
        gp = np.empty(d)
        gm = np.empty(d)
        for i in range(m):
            Xa[i] = Xb[i] + z[i] + fd * u[i] / top
        fp = value_grad_inputs(x, p, Xa, Yb, gp, gx)
        for i in range(m):
            Xa[i] = Xb[i] + z[i] - fd * u[i] / top
        fm = value_grad_inputs(x, p, Xa, Yb, gm, gx)
        if not (math.isfinite(fp) and math.isfinite(fm)):
            return fp + fm
        w = top / (lmbda * 2.0 * fd)
        for i in range(d):
            g[i] += w * (gp[i] - gm[i])
    for i in range(x.shape[0]):
        x[i] -= eta * g[i]
    return f
