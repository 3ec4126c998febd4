r"""Robust accuracy of networks under ell_inf attacks: PGD with random starts (Madry et
al. 2018) and FGSM from the clean input (Goodfellow et al. 2015), as used to detect
catastrophic overfitting (Wong, Rice & Kolter 2020; Zhang et al. 2022).

For an input a with label y and the network's cross-entropy CE(x; a + delta, y), the
attack iterates

.. math::
    \delta_0 = P_C(u), \qquad
    \delta_{i+1} = P_C(\delta_i + \alpha\, \mathrm{sign}\, \nabla_\delta CE), \quad
    i = 0, \dots, \text{steps} - 1,

with :math:`P_C(\delta) = \mathrm{clip}(\mathrm{clip}(\delta, -\epsilon, \epsilon) + a,
lo, hi) - a` (the ell_inf ball within the data box) and u uniform on
:math:`[-\epsilon, \epsilon]` per coordinate (PGD; one fresh start per restart) or
u = 0 (FGSM: one step with :math:`\alpha = \epsilon`). A sample counts as robust
only if the network classifies it correctly at every iterate of every restart (an
attacker keeps the first point that fools it). So, on a fixed seed, robust accuracy
is non-increasing in ``steps`` and in ``restarts`` by construction, and eps = 0 gives
the clean accuracy. The input gradients of the whole evaluation set come from one
backward pass per iterate (:func:`testbed.nets.mlp.value_grad_inputs`; the sign of
the gradient of the mean loss is that of each sample's own). Start r of a call with
``seed`` s is drawn from ``numpy.random.default_rng([s, r])``, the same for every
network, so networks are compared on the same starts.
"""
from __future__ import annotations

import concurrent.futures
import numbers

import numpy as np

from ..errors import TestbedError
from ..kernel import njit
from . import mlp

__all__ = ["pgd_accuracy", "fgsm_accuracy"]


@njit
def _robust(x, p, Xf, Yf, labels, starts, eps, alpha, steps, lo, hi):
    """1 where sample j is classified correctly at every iterate of every start."""
    m = labels.shape[0]
    n_in = Xf.shape[0] // m
    ok = np.ones(m, np.bool_)
    delta = np.empty(Xf.shape[0])
    Xa = np.empty(Xf.shape[0])
    gx = np.empty(Xf.shape[0])
    g = np.empty(x.shape[0])
    for r in range(starts.shape[0]):
        for i in range(Xf.shape[0]):
            d = min(max(starts[r, i], -eps), eps)
            delta[i] = min(max(Xf[i] + d, lo), hi) - Xf[i]
        for it in range(steps + 1):
            for i in range(Xf.shape[0]):
                Xa[i] = Xf[i] + delta[i]
            F = mlp.outputs(x, p, Xa.reshape(m, n_in))
            for j in range(m):
                if np.argmax(F[j]) != labels[j]:
                    ok[j] = False
            if it == steps:
                break
            mlp.value_grad_inputs(x, p, Xa, Yf, g, gx)
            for i in range(Xf.shape[0]):
                s = 1.0 if gx[i] > 0.0 else (-1.0 if gx[i] < 0.0 else 0.0)
                d = min(max(delta[i] + alpha * s, -eps), eps)
                delta[i] = min(max(Xf[i] + d, lo), hi) - Xf[i]
    return ok


def _number(name, value, low=0.0):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value < low):
        raise TestbedError(f"{name} must be a finite number >= {low:g}, got {value!r}")
    return float(value)


def _count(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise TestbedError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _attack(L, x, X, Y, eps, alpha, steps, starts_of, lo, hi, threads):
    from . import blocks
    from .metrics import _classes
    from .._engine import blas
    blocks(L)
    _, X, labels = _classes(L, X, Y)
    if X.shape[1] != int(L.p[2]) or X.shape[0] == 0:
        raise TestbedError(f"X must have shape (m >= 1, {int(L.p[2])}), got {X.shape}")
    eps, alpha = _number("eps", eps), _number("alpha", alpha)
    lo, hi = _number("lo", lo, -np.inf), _number("hi", hi, -np.inf)
    if not lo < hi:
        raise TestbedError(f"the data box needs lo < hi, got lo = {lo:g}, hi = {hi:g}")
    P = np.asarray(x, dtype=np.float64)
    if P.ndim not in (1, 2) or P.shape[-1] != L.d or not np.all(np.isfinite(P)):
        raise TestbedError(f"x must be finite with shape ({L.d},) or (N, {L.d}), got "
                           f"{P.shape}")
    flat = np.ascontiguousarray(P.reshape(-1, L.d))
    Xf = np.ascontiguousarray(X).reshape(-1)
    Yf = np.ascontiguousarray(np.eye(int(L.p[3]))[labels]).reshape(-1)
    starts = np.ascontiguousarray(starts_of(X.shape))
    labels = labels.astype(np.int64)

    def one(row):
        return np.mean(_robust(row, L.p, Xf, Yf, labels, starts, eps, alpha, steps, lo, hi))

    t = max(1, min(threads or 1, flat.shape[0]))
    with blas.limit(1), concurrent.futures.ThreadPoolExecutor(t) as ex:
        acc = np.array(list(ex.map(one, flat)))
    return float(acc[0]) if P.ndim == 1 else acc


def pgd_accuracy(L, x, X, Y, eps, alpha, steps, restarts=1, seed=0, lo=0.0, hi=1.0,
                 threads=2):
    """Robust accuracy under ell_inf PGD with random starts.

    Parameters
    ----------
    L : Landscape
        A classifier network of :mod:`testbed.nets` (its architecture; the data are X, Y).
    x : array (d,) or (N, d)
        One network's parameters or several.
    X, Y : arrays (m, n_in), (m, k)
        Inputs (inside [lo, hi]) and one-hot targets.
    eps, alpha : float >= 0
        The ell_inf radius and the step of each sign step.
    steps : int >= 0
        Sign steps per start (0: the random start itself).
    restarts : int >= 1
        Random starts; a sample is robust only if no start breaks it.
    seed : int
        Start r is ``numpy.random.default_rng([seed, r]).uniform(-eps, eps, X.shape)``.
    lo, hi : float
        The data box.
    threads : int
        Networks evaluated at once.

    Returns
    -------
    float, or array (N,)
        The fraction of samples classified correctly at every iterate of every start.
    """
    steps = _count("steps", steps, 0)
    restarts = _count("restarts", restarts, 1)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TestbedError(f"seed must be an integer >= 0, got {seed!r}")
    e = _number("eps", eps)

    def starts_of(shape):
        return np.stack([np.random.default_rng([int(seed), r]).uniform(-e, e, shape).ravel()
                         for r in range(restarts)])
    return _attack(L, x, X, Y, eps, alpha, steps, starts_of, lo, hi, threads)


def fgsm_accuracy(L, x, X, Y, eps, lo=0.0, hi=1.0, threads=2):
    """Robust accuracy under FGSM from the clean input: one sign step of size eps
    (a sample is robust if classified correctly at the clean and the attacked input).

    Parameters
    ----------
    L, x, X, Y, lo, hi, threads
        As for :func:`pgd_accuracy`.
    eps : float >= 0
        The ell_inf radius (and the step).

    Returns
    -------
    float, or array (N,)
    """
    return _attack(L, x, X, Y, eps, eps, 1, lambda shape: np.zeros((1, shape[0] * shape[1])),
                   lo, hi, threads)
