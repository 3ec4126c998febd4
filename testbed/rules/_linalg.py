"""Dense linear algebra shared by the second-order rules (no oracle calls)."""
import math

import numpy as np

from .._jit import njit


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
