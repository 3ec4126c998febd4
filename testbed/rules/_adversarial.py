"""What the adversarial-training rules share (``fast_at``, ``fast_bat``, ``pgd_at``):
the mini-batch of inputs, the feasible set of a perturbation and the sign step.

The feasible set of the perturbation delta of an input x is the ell_inf ball of radius
eps intersected with the data box [lo, hi] shifted by -x; its projection, applied
coordinate by coordinate, is (Wong, Rice & Kolter 2020; Zhang et al. 2022's code)

    P_C(delta) = clip(clip(delta, -eps, eps) + x, lo, hi) - x.
"""
import numpy as np

from .._engine.jit import njit
from .._engine.rng import uniform
from ..nets.mlp import gather_rows


@njit
def batch_of(p, idx):
    """The inputs and targets (flat, row-major) of the samples ``idx`` of the network's
    data packed in p."""
    m = idx.shape[0]
    Xb = np.empty(m * int(p[2]))
    Yb = np.empty(m * int(p[3]))
    gather_rows(p, idx, Xb, Yb)
    return Xb, Yb


@njit
def box_project(delta, Xb, eps, lo, hi):
    """delta <- P_C(delta), in place."""
    for i in range(delta.shape[0]):
        d = min(max(delta[i], -eps), eps)
        delta[i] = min(max(Xb[i] + d, lo), hi) - Xb[i]


@njit
def random_start(delta, Xb, eps, lo, hi, rng):
    """delta <- P_C(U[-eps, eps]^m), one ``uniform`` draw per coordinate, in order."""
    for i in range(delta.shape[0]):
        delta[i] = eps * (2.0 * uniform(rng) - 1.0)
    box_project(delta, Xb, eps, lo, hi)


@njit
def sign_step(delta, gx, alpha, Xb, eps, lo, hi):
    """delta <- P_C(delta + alpha sign(gx)) (sign 0 = 0): an FGSM / PGD ascent step."""
    for i in range(delta.shape[0]):
        s = 1.0 if gx[i] > 0.0 else (-1.0 if gx[i] < 0.0 else 0.0)
        delta[i] += alpha * s
    box_project(delta, Xb, eps, lo, hi)


@njit
def shifted(Xa, Xb, delta):
    """Xa <- Xb + delta (the perturbed inputs)."""
    for i in range(Xa.shape[0]):
        Xa[i] = Xb[i] + delta[i]
