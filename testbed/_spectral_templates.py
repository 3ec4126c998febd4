"""Spectral kernels copied into every landscape's oracle module (they call its
``hessian``, ``hvp_prepare`` and ``hvp_prepared``, bound there; see
:mod:`testbed._oracle`)."""
import math

import numpy as np

from ._rng import normal, seed_state


def _placeholder(*args):
    raise RuntimeError("bound only inside a generated oracle module")


hessian = hvp_prepare = hvp_prepared = _placeholder


def lanczos(x, p, k, seed, alpha, beta):
    """k steps of Lanczos on v -> H(x) v with full reorthogonalisation, from a
    seeded Gaussian start. Fills the tridiagonal (alpha, beta) and returns the
    number of steps done (fewer if an invariant subspace is found)."""
    d = x.shape[0]
    V = np.zeros((k + 1, d))
    rng = np.empty(4, np.uint64)
    seed_state(seed, 0, rng)
    nrm = 0.0
    for i in range(d):
        V[0, i] = normal(rng)
        nrm += V[0, i] * V[0, i]
    V[0] /= math.sqrt(nrm)
    w = np.empty(d)
    state = hvp_prepare(x, p)           # work shared by the k products at x
    for j in range(k):
        hvp_prepared(x, p, state, V[j], w)
        alpha[j] = np.dot(w, V[j])
        for i in range(j + 1):          # full reorthogonalisation (twice is enough)
            w -= np.dot(w, V[i]) * V[i]
        for i in range(j + 1):
            w -= np.dot(w, V[i]) * V[i]
        b = math.sqrt(np.dot(w, w))
        beta[j] = b
        if b <= 1e-13 * max(1.0, abs(alpha[j])):
            return j + 1
        V[j + 1] = w / b
    return k


def top_eigenvalues(x, p, k, n_iter, seed):
    """The k algebraically largest Hessian eigenvalues, descending: exact
    (dense eigh) when d <= max(64, n_iter), else Ritz values of n_iter Lanczos steps.
    NaN where the Hessian is not finite."""
    d = x.shape[0]
    if d <= max(64, n_iter):
        H = np.empty((d, d))
        hessian(x, p, H)
        if not np.all(np.isfinite(H)):
            return np.full(k, np.nan)
        w = np.linalg.eigvalsh(H)
    else:
        alpha = np.zeros(n_iter)
        beta = np.zeros(n_iter)
        m = lanczos(x, p, n_iter, seed, alpha, beta)
        if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta))):
            return np.full(k, np.nan)
        T = np.zeros((m, m))
        for i in range(m):
            T[i, i] = alpha[i]
            if i + 1 < m:
                T[i, i + 1] = beta[i]
                T[i + 1, i] = beta[i]
        w = np.linalg.eigvalsh(T)
    out = np.full(k, np.nan)
    n = min(k, w.shape[0])
    for i in range(n):
        out[i] = w[w.shape[0] - 1 - i]
    return out


def sharpness(x, p, n_iter):
    """The largest Hessian eigenvalue at x (see top_eigenvalues)."""
    return top_eigenvalues(x, p, np.int64(1), n_iter, np.int64(0))[0]
