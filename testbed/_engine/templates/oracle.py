"""A landscape's oracle: its kernels, what they lack derived, and the spectral kernels.

Bound at instantiation (see :mod:`testbed.objective.oracle`): ``value_grad(x, p, g)
-> f`` and whichever of ``value``, ``hessian``, ``hvp``, ``hvp_prepare`` /
``hvp_prepared`` the landscape's kernels provide; each one missing is bound to its
derivation below:

- ``value`` from ``value_grad`` (exact);
- ``hvp`` from ``hessian`` (exact), else a central difference of the gradient,
  Hv ~ (g(x + h v) - g(x - h v)) / (2h), h = eps^(1/3) max(1, |x|) / |v|: truncation
  h^2/6 |D^3 f[v, v, .]| plus rounding eps |g| / h, a relative error of about
  :data:`FD_HVP_REL_ERROR` for smooth functions of unit scale;
- ``hessian`` from ``hvp_prepared``, column by column, then symmetrised (exact if
  hvp is);
- ``hvp_prepare`` / ``hvp_prepared`` (per-point work shared by many products) as a
  plain ``hvp``.

Spectral kernels on these: :func:`lanczos` and :func:`sharpness` (the top eigenvalue,
converged to :data:`SHARPNESS_TOL`; :func:`sharpness_lanczos` its branch for large d).
"""
import math

import numpy as np

from testbed._engine.jit import njit
from testbed._engine.lapack import eigh_into
from testbed._engine.rng import fill_normal, seed_state
from testbed._engine.templates import unbound

# relative accuracy of the central-difference HVP on smooth functions of unit scale
FD_HVP_REL_ERROR = 1e-10
# the sharpness observer's Lanczos runs until its residual bound is this, relative
SHARPNESS_TOL = 1e-6
CHECK_FROM = 8              # Lanczos steps before the first convergence check
_FD_STEP = 6.0554544523933395e-06          # eps^(1/3), eps = 2^-52


value = value_grad = hessian = hvp = hvp_prepare = hvp_prepared = unbound


@njit
def derived_value(x, p):
    g = np.empty(x.shape[0])
    return value_grad(x, p, g)


@njit
def derived_hvp_difference(x, p, v, out):
    d = x.shape[0]
    vn = 0.0
    xn = 0.0
    for i in range(d):
        vn += v[i] * v[i]
        xn += x[i] * x[i]
    if vn == 0.0:
        out[:] = 0.0
        return
    h = _FD_STEP * max(1.0, math.sqrt(xn)) / math.sqrt(vn)
    gp = np.empty(d)
    gm = np.empty(d)
    value_grad(x + h * v, p, gp)
    value_grad(x - h * v, p, gm)
    for i in range(d):
        out[i] = (gp[i] - gm[i]) / (2.0 * h)


@njit
def derived_hvp_from_hessian(x, p, v, out):
    d = x.shape[0]
    H = np.empty((d, d))
    hessian(x, p, H)
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += H[i, j] * v[j]
        out[i] = s


@njit
def derived_hessian(x, p, H):
    d = x.shape[0]
    e = np.zeros(d)
    col = np.empty(d)
    state = hvp_prepare(x, p)
    for j in range(d):
        e[j] = 1.0
        hvp_prepared(x, p, state, e, col)
        e[j] = 0.0
        for i in range(d):
            H[i, j] = col[i]
    for i in range(d):
        for j in range(i):
            s = 0.5 * (H[i, j] + H[j, i])
            H[i, j] = s
            H[j, i] = s


@njit
def derived_hvp_prepare(x, p):
    return np.empty(0)


@njit
def derived_hvp_prepared(x, p, state, v, out):
    hvp(x, p, v, out)


@njit
def _top_ritz(alpha, beta, m):
    """The largest Ritz value of the tridiagonal (alpha, beta)[:m] and its residual
    bound beta_m |s_m| (the last component of its eigenvector), by LAPACK as
    np.linalg.eigh (:func:`testbed._engine.lapack.eigh_into`). NaN if LAPACK does not
    converge (it does on the finite tridiagonals that Lanczos gives)."""
    T = np.zeros((m, m))
    for i in range(m):
        T[i, i] = alpha[i]
        if i + 1 < m:
            T[i, i + 1] = beta[i]
            T[i + 1, i] = beta[i]
    w = np.empty(m)
    if eigh_into(T, w) != 0:
        return np.nan, np.nan
    return w[m - 1], abs(beta[m - 1] * T[m - 1, m - 1])


# inlined (Numba IR) into sharpness_lanczos, which the sharpness observers call: a
# library of its own would be compiled once alone and again inside it, the network's
# Hessian-vector product with it (B4's first run: 1 s less)
@njit(inline='always')
def lanczos(x, p, k, seed, alpha, beta, top_tol=0.0):
    """k steps of Lanczos on v -> H(x) v with full reorthogonalisation, from a seeded
    Gaussian start. Fills the tridiagonal (alpha, beta) and returns the number of
    steps done: fewer if an invariant subspace is found, or, with ``top_tol`` > 0, as
    soon as (from CHECK_FROM steps on) the largest Ritz value's residual bound is at
    most ``top_tol`` times its size. (Vector updates are written as loops: the same
    arithmetic as the array expressions, without their shape checks, whose error
    messages took seconds to compile.)"""
    d = x.shape[0]
    V = np.empty((k + 1, d))            # row j is written before it is read
    rng = np.empty(4, np.uint64)
    seed_state(np.int64(seed), np.int64(0), rng)     # as the runners type them
    fill_normal(rng, V[0])              # compiled once, not inlined into each oracle
    nrm = 0.0
    for i in range(d):
        nrm += V[0, i] * V[0, i]
    nrm = math.sqrt(nrm)
    for i in range(d):
        V[0, i] /= nrm
    w = np.empty(d)
    state = hvp_prepare(x, p)           # work shared by the k products at x
    for j in range(k):
        hvp_prepared(x, p, state, V[j], w)
        alpha[j] = np.dot(w, V[j])
        for _ in range(2):              # full reorthogonalisation (twice is enough)
            for i in range(j + 1):
                c = np.dot(w, V[i])
                for n in range(d):
                    w[n] -= c * V[i, n]
        b = math.sqrt(np.dot(w, w))
        beta[j] = b
        if b <= 1e-13 * max(1.0, abs(alpha[j])) or not math.isfinite(b):
            return j + 1                # invariant subspace, or a non-finite product
        if top_tol > 0.0 and j + 1 >= CHECK_FROM:
            theta, bound = _top_ritz(alpha, beta, j + 1)
            if bound <= top_tol * max(abs(theta), 1e-300):
                return j + 1
        for n in range(d):
            V[j + 1, n] = w[n] / b
    return k


@njit
def sharpness(x, p, n_iter):
    """The largest Hessian eigenvalue at x: exact (dense) when d <= max(64, n_iter);
    else :func:`sharpness_lanczos`. NaN where the Hessian is not finite."""
    d = x.shape[0]
    if d <= max(64, n_iter):
        H = np.empty((d, d))
        hessian(x, p, H)
        if not np.all(np.isfinite(H)):
            return np.nan
        return np.linalg.eigvalsh(H)[d - 1]
    return sharpness_lanczos(x, p, n_iter)


@njit
def sharpness_lanczos(x, p, n_iter):
    """The top Ritz value of :func:`lanczos` stopped at a residual bound of
    SHARPNESS_TOL times its size (the eigenvalue is then within that bound), or at an
    invariant subspace (exact), or after min(d, max(8 n_iter, 160)) steps (documented
    cap; not reached on the shipped workloads). NaN where a product is not finite.
    :func:`sharpness` for d > max(64, n_iter); callers that know d is that large call
    it directly, which spares compiling the dense branch (the whole Hessian)."""
    d = x.shape[0]
    cap = min(d, max(8 * n_iter, 160))
    alpha = np.zeros(cap)
    beta = np.zeros(cap)
    m = lanczos(x, p, cap, 0, alpha, beta, SHARPNESS_TOL)
    for i in range(m):
        if not (math.isfinite(alpha[i]) and math.isfinite(beta[i])):
            return np.nan
    return _top_ritz(alpha, beta, m)[0]
