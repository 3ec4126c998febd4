"""Newton-type steps, the one home of their linear algebra (no oracle calls):
:func:`spectral_step`, compiled, for one replica inside the newton and sfn rules, and
its vectorised NumPy twins over a batch, :func:`newton_steps` and
:func:`spectral_steps`, which :mod:`testbed.critical` uses."""
import math

import numpy as np

from .._engine.jit import njit


@njit
def spectral_step(H, g, absolute, damping, rcond, max_step, out):
    """out = Q diag(1/w') Q^T g with H = Q diag(w) Q^T and w' = w (Newton) or
    w' = |w| + damping (saddle-free Newton, ``absolute=True``). Eigen-directions with
    |w'| <= rcond * max|w'| are dropped (pseudo-inverse: the safeguard for a singular
    Hessian), and the step is scaled down to length max_step if longer."""
    w, Q = np.linalg.eigh(H)
    if absolute:
        w = np.abs(w) + damping
    top = np.max(np.abs(w))
    coef = Q.T @ g
    for i in range(w.shape[0]):
        if abs(w[i]) <= rcond * top or top == 0.0:
            coef[i] = 0.0
        else:
            coef[i] /= w[i]
    step = Q @ coef
    n = math.sqrt(np.sum(step * step))
    if n > max_step:
        step *= max_step / n
    out[:] = step


# -- vectorised twins over a batch of points (rows) ---------------------------------

def _pinv_step(H, g, rcond):
    w, Q = np.linalg.eigh(H)
    top = np.max(np.abs(w)) if w.size else 0.0
    coef = Q.T @ g
    keep = np.abs(w) > rcond * top
    coef = np.where(keep, coef / np.where(keep, w, 1.0), 0.0)
    return Q @ coef


def newton_steps(H, G, rcond=1e-12):
    r""":math:`S_r = H_r^+ G_r`: LU where :math:`H_r` is safely invertible, else the
    pseudo-inverse (eigen-directions with :math:`|\lambda| \le \text{rcond} \max
    |\lambda|` dropped). Never NaN for finite input."""
    B = G.shape[0]
    try:
        S = np.linalg.solve(H, G[..., None])[..., 0]
        bad = ~np.all(np.isfinite(S), axis=1)
    except np.linalg.LinAlgError:
        S = np.zeros_like(G)
        bad = np.ones(B, bool)
    hn = np.sqrt(np.einsum("rij,rij->r", H, H))
    bad |= np.linalg.norm(S, axis=1) * rcond * hn > np.linalg.norm(G, axis=1)
    for r in np.flatnonzero(bad):
        S[r] = _pinv_step(H[r], G[r], rcond)
    return S


def spectral_steps(H, G, ascend, damping=0.0, rcond=1e-12):
    r""":math:`S_r = Q \operatorname{diag}(\sigma_i / (|\lambda_i| + \text{damping}))
    Q^T G_r`, :math:`\sigma_i = -1` for the ``ascend[r]`` lowest eigen-directions;
    directions with :math:`|\lambda_i| + \text{damping} \le \text{rcond} \max` are
    dropped. ``ascend = 0``: the saddle-free Newton step."""
    w, Q = np.linalg.eigh(H)
    a = np.abs(w) + damping
    top = a.max(axis=1, keepdims=True)
    coef = np.einsum("rji,rj->ri", Q, G)
    keep = a > rcond * top
    coef = np.where(keep, coef / np.where(keep, a, 1.0), 0.0)
    sign = np.where(np.arange(w.shape[1])[None, :] < np.asarray(ascend)[:, None], -1.0, 1.0)
    return np.einsum("rij,rj->ri", Q, sign * coef)
