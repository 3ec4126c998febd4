"""Isotropic Gaussian random fields in high dimension (Bray & Dean 2007; Dauphin et
al. 2014), sampled by random Fourier features (Rahimi & Recht 2007).

gaussian_field (any d): the target is a centred field with the squared-exponential
covariance C(x, y) = sigma^2 exp(-|x - y|^2 / (2 ell^2)). One sample is

    f(x) = sigma sqrt(2/K) sum_k a_k cos(w_k . x + b_k),
    w_k ~ N(0, I_d / ell^2),  b_k ~ U[0, 2 pi),  a_k ~ N(0, 1) (or a_k = 1),

with exact derivatives grad f = -sigma sqrt(2/K) sum_k a_k sin(theta_k) w_k and
Hess f = -sigma sqrt(2/K) sum_k a_k cos(theta_k) w_k w_k^T (theta_k = w_k . x + b_k).
The features are a deterministic function of (field_seed, d, K) (drawn from
``np.random.SeedSequence([field_seed, d, K])``: standard normals z_k, then b_k, then
a_k), scaled by ell and sigma, and packed into the parameter vector p that every
kernel receives: p = [K, d, sigma, ell, A (K), b (K), W (K*d, row-major)] with
A_k = sigma sqrt(2/K) a_k and W the rows w_k = z_k / ell.

How close the sample is to the target covariance (checked in
tests/test_gaussian_fields.py). Averaging over the phases and amplitudes with the
frequencies held fixed, the covariance of the sampled field is the empirical kernel

    C_K(x, y) = sigma^2 (1/K) sum_k cos(w_k . r),   r = x - y,

an average of K independent terms with mean k(r) = exp(-|r|^2 / (2 ell^2)) (the
characteristic function of N(0, I/ell^2)), so C_K is unbiased and, since
E cos^2(w . r) = (1 + k(2r)) / 2 and k(2r) = k(r)^4,

    Var[C_K(r)] / sigma^4 = (1 - k(r)^2)^2 / (2K)   (exactly),

an RMS error of sigma^2 (1 - k^2) / sqrt(2K): zero at r = 0 and at most
sigma^2 / sqrt(2K) at long range. Over the draws of all features (w, b and a), the
covariance of f is exactly the target for every K; a_k ~ N(0, 1) moreover makes f
exactly Gaussian given (w, b). Derivatives converge the same way (the gradient
covariance (sigma^2/K) sum_k w_k w_k^T -> sigma^2/ell^2 I with relative error
~ sqrt(d/K)), and the Hessian has rank <= K, so K >> d is needed for Hessian spectra:
the conditional Hessian at height u, -u/ell^2 (1/K) sum w w^T + fluctuation, carries
a Marchenko-Pastur spread of relative size ~ 2 |u| sqrt(d/K) / (sigma sqrt(d)), which
stays small for the energies u ~ sigma sqrt(d) of critical points only when K is a
large multiple of d (see testbed/theory/gaussian_fields.py).

Bad input: sigma, ell <= 0 or K < 1 are refused at bind; a K whose RMS covariance
error sigma^2/sqrt(2K) exceeds the requested ``cov_tol`` (relative to sigma^2), or a
K < d (rank-deficient Hessian: spurious zero eigenvalues), draws a warning with the
expected error when the parameters are first packed.

Critical points of a random field are not known in closed form: ``critical_points()``
returns those found by a seeded, safeguarded Newton search (testbed.critical) from 8
starts x ~ N(0, ell^2 I) and polished to |grad f| < 1e-10 -- a sample, not the
complete list (computed on demand, for d <= 200).

Cost per point: value and gradient O(K d), Hessian-vector product O(K d), Hessian
K d^2 multiply-adds in one BLAS dgemm (W^T diag(c) W), then symmetrised exactly.
The batched evaluator :func:`batch` evaluates many points at once and forms all their
Hessians in one dgemm over the packed upper triangles, using the symmetry (half the
multiply-adds), cut into column blocks that threads share; its table of feature
products is kept per field -- the path testbed.critical and benchmark B3 take.
"""
import decimal
import math
import types
import warnings

import numpy as np

from testbed import CriticalPoint, Param, from_kernels
from testbed.kernel import njit
from testbed.errors import TestbedError

HEAD = 4          # p = [K, d, sigma, ell, A (K), b (K), W (K*d)]


@njit
def _unpack(p, d):
    K = int(p[0])
    A = p[HEAD:HEAD + K]
    b = p[HEAD + K:HEAD + 2 * K]
    W = p[HEAD + 2 * K:HEAD + 2 * K + K * d].reshape((K, d))
    return K, A, b, W


@njit
def value_grad(x, p, g):
    d = x.shape[0]
    K, A, b, W = _unpack(p, d)
    theta = np.dot(W, x)
    u = np.empty(K)
    f = 0.0
    for k in range(K):
        t = theta[k] + b[k]
        f += A[k] * math.cos(t)
        u[k] = A[k] * math.sin(t)
    gg = np.dot(u, W)
    for i in range(d):
        g[i] = -gg[i]
    return f


@njit
def value(x, p):
    d = x.shape[0]
    K, A, b, W = _unpack(p, d)
    theta = np.dot(W, x)
    f = 0.0
    for k in range(K):
        f += A[k] * math.cos(theta[k] + b[k])
    return f


@njit
def hessian(x, p, H):
    d = x.shape[0]
    K, A, b, W = _unpack(p, d)
    theta = np.dot(W, x)
    M = np.empty((K, d))
    for k in range(K):
        c = A[k] * math.cos(theta[k] + b[k])
        for i in range(d):
            M[k, i] = c * W[k, i]
    G = np.dot(W.T, M)
    for i in range(d):
        for j in range(i + 1):
            s = -0.5 * (G[i, j] + G[j, i])
            H[i, j] = s
            H[j, i] = s


@njit
def hvp(x, p, v, out):
    d = x.shape[0]
    K, A, b, W = _unpack(p, d)
    theta = np.dot(W, x)
    u = np.dot(W, v)
    for k in range(K):
        u[k] *= A[k] * math.cos(theta[k] + b[k])
    gg = np.dot(u, W)
    for i in range(d):
        out[i] = -gg[i]


# -- features ---------------------------------------------------------------------------

def _integer(name, value, low):
    v = float(value)
    if v != round(v) or v < low:
        raise TestbedError(f"parameter {name!r} must be an integer >= {low}, got {value!r}")
    return int(round(v))


def covariance_error(K) -> float:
    """RMS error of the sampled covariance at long range, relative to sigma^2:
    sqrt(Var C_K) / sigma^2 = 1 / sqrt(2K) (the worst case over lags r)."""
    return 1.0 / math.sqrt(2.0 * K)


def features(d, K, ell=1.0, field_seed=0, gaussian_amplitudes=1):
    """(z, b, a): standard-normal directions z (K, d) (w = z / ell), phases b (K,) and
    amplitudes a (K,), a deterministic function of (field_seed, d, K)."""
    del ell
    rng = np.random.default_rng(np.random.SeedSequence([int(field_seed), int(d), int(K)]))
    z = rng.standard_normal((K, d))
    b = rng.uniform(0.0, 2.0 * math.pi, K)
    a = rng.standard_normal(K) if gaussian_amplitudes else np.ones(K)
    return z, b, a


def _pack(d, sigma, ell, K, field_seed, gaussian_amplitudes, cov_tol):
    K = _integer("K", K, 1)
    seed = _integer("field_seed", field_seed, 0)
    gauss = _integer("gaussian_amplitudes", gaussian_amplitudes, 0)
    sigma, ell, cov_tol = float(sigma), float(ell), float(cov_tol)
    err = covariance_error(K)
    if err > cov_tol:
        warnings.warn(f"gaussian_field: K = {K} random features give an expected RMS "
                      f"covariance error of sigma^2/sqrt(2K) = {err:.3g} sigma^2, above the "
                      f"requested cov_tol = {cov_tol:g}; use K >= "
                      f"{math.ceil(0.5 / cov_tol**2)}", stacklevel=3)
    if K < d:
        warnings.warn(f"gaussian_field: K = {K} < d = {d}: the Hessian has rank <= K and "
                      f"{d - K} spurious zero eigenvalues; use K >> d (K >= 50 d for "
                      f"Hessian spectra)", stacklevel=3)
    z, b, a = features(d, K, ell, seed, gauss)
    p = np.empty(HEAD + 2 * K + K * d)
    p[:HEAD] = (K, d, sigma, ell)
    p[HEAD:HEAD + K] = sigma * math.sqrt(2.0 / K) * a
    p[HEAD + K:HEAD + 2 * K] = b
    p[HEAD + 2 * K:] = (z / ell).ravel()
    return p


def unpack(p, d):
    """NumPy views (K, sigma, ell, A, b, W) of a packed parameter vector."""
    K = int(p[0])
    if int(p[1]) != d or p.shape[0] != HEAD + 2 * K + K * d:
        raise TestbedError(f"parameter vector of length {p.shape[0]} is not a packed "
                           f"gaussian_field of dimension {d}")
    return (K, float(p[2]), float(p[3]), p[HEAD:HEAD + K], p[HEAD + K:HEAD + 2 * K],
            p[HEAD + 2 * K:].reshape(K, d))


# -- batched evaluation (many points at once, NumPy + BLAS) -------------------------------

def _cut(x, bits):
    """x with its significand cut to ``bits`` bits."""
    m, e = math.frexp(x)
    return math.ldexp(math.floor(m * 2.0**bits) / 2.0**bits, e)


def _half_pi_parts():
    """pi/2 = P1 + P2 + P3 (30, 30 and 53 significant bits; Cody & Waite 1980)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 70
        half_pi = decimal.Decimal("1.57079632679489661923132169163975144209858469968755291"
                                  "0487472296153908")
        p1 = _cut(float(half_pi), 30)
        p2 = _cut(float(half_pi - decimal.Decimal(p1)), 30)
        return p1, p2, float(half_pi - decimal.Decimal(p1) - decimal.Decimal(p2))


_P1, _P2, _P3 = _half_pi_parts()
_TWO_OVER_PI = 2.0 / math.pi
_REDUCE_MAX = 2.0**20              # |theta| up to which n * P1, n * P2 are exact
_SIN = tuple((-1.0)**n / math.factorial(2 * n + 1) for n in range(1, 9))
_COS = tuple((-1.0)**n / math.factorial(2 * n) for n in range(1, 10))


@njit
def _sincos(T, A, C, S):
    """C = A cos(T), S = A sin(T) (A scales the columns). theta = n pi/2 + y with
    n = round(2 theta / pi) and |y| <= pi/4 (Cody-Waite reduction, exact for
    |theta| <= 2^20), sin y and cos y by their Taylor series to y^17 and y^18
    (truncation below 1e-19 on |y| <= pi/4), then the quadrant n mod 4: within an ulp
    of libm, in a loop the compiler vectorises. Larger or non-finite theta: libm."""
    B, K = T.shape
    for r in range(B):
        for k in range(K):
            t = T[r, k]
            x = t if abs(t) <= _REDUCE_MAX else 0.0
            n = math.floor(x * _TWO_OVER_PI + 0.5)
            y = ((x - n * _P1) - n * _P2) - n * _P3
            z = y * y
            ps = _SIN[7]
            for c in _SIN[6::-1]:
                ps = c + z * ps
            pc = _COS[8]
            for c in _COS[7::-1]:
                pc = c + z * pc
            s = y + y * z * ps
            c = 1.0 + z * pc
            q = n - 4.0 * math.floor(0.25 * n)            # quadrant 0..3
            odd = q == 1.0 or q == 3.0
            sv = c if odd else s
            cv = s if odd else c
            S[r, k] = A[k] * (-sv if q >= 2.0 else sv)
            C[r, k] = A[k] * (-cv if q == 1.0 or q == 2.0 else cv)
        for k in range(K):
            t = T[r, k]
            if not abs(t) <= _REDUCE_MAX:
                C[r, k] = A[k] * np.cos(t)
                S[r, k] = A[k] * np.sin(t)


@njit
def _pair(m, d):
    """(i, j): the m-th pair i <= j in row-major upper order."""
    i = 0
    while m >= d - i:
        m -= d - i
        i += 1
    return i, i + m


@njit
def _pair_block(W, m0, m1):
    """Z[k, m - m0] = W[k, i] W[k, j] over the pairs m0 <= m < m1."""
    K, d = W.shape
    Z = np.empty((K, m1 - m0))
    i0, j0 = _pair(m0, d)
    for k in range(K):
        i, j = i0, j0
        for m in range(m1 - m0):
            Z[k, m] = W[k, i] * W[k, j]
            j += 1
            if j == d:
                i += 1
                j = i
    return Z


@njit
def _fill_block(U, H, m0):
    """H[r, i, j] = H[r, j, i] = -U[r, m - m0] over the pairs m0 <= m < m0 + n."""
    B, n = U.shape
    d = H.shape[1]
    i0, j0 = _pair(m0, d)
    for r in range(B):
        i, j = i0, j0
        for m in range(n):
            v = -U[r, m]
            H[r, i, j] = v
            H[r, j, i] = v
            j += 1
            if j == d:
                i += 1
                j = i


COLS = 1280      # at most this many pairs (i, j) per block of the Hessian product
ROWS = 32        # points per task of the value and gradient
_SERIAL = types.SimpleNamespace(map=map)


class Batch:
    """Value, gradient and Hessian of one sampled field at B points at once.

    With Theta = X W^T + b (B x K), C = A cos(Theta) and S = A sin(Theta)
    (:func:`_sincos`): f = C 1 and grad f = -S W. Hessians: vec_upper(H(x)) =
    -Z^T c(x) with Z[k, (i, j)] = W_ki W_kj over the d(d+1)/2 pairs i <= j, so the B
    Hessians are one product C (B x K) @ Z (K x d(d+1)/2): half the multiply-adds of
    the full products. The pairs are cut into fixed blocks of at most ``COLS``
    columns, each its own product and symmetric fill; a thread pool given to the
    methods (any object with ``map``, as a ``concurrent.futures`` executor) runs the
    blocks, and chunks of ``ROWS`` points for value and gradient, in parallel. Every
    block of the table is read once per call, and the result is the same whatever
    the number of threads. Z is built once and kept while it fits in ``z_bytes``;
    else each block is rebuilt per call (each at most ``z_bytes``). The evaluator
    keeps its own copy of ``p``, the parameters its table belongs to."""

    pooled = True      # the methods take a pool: testbed.critical passes its own

    def __init__(self, p, d, z_bytes=256 * 2**20):
        self.p = np.array(p, dtype=float)
        self.d = d
        self.K, self.sigma, self.ell, self.A, self.b, self.W = unpack(self.p, d)
        self.n_pairs = d * (d + 1) // 2
        self.kept = 8 * self.K * self.n_pairs <= z_bytes
        width = COLS if self.kept else max(1, min(COLS, z_bytes // (8 * self.K)))
        edges = np.linspace(0, self.n_pairs, -(-self.n_pairs // width) + 1).round()
        self.blocks = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        self._Z = None

    def prepare(self):
        """Build the product table now (before threads share it), if it is kept."""
        if self.kept and self._Z is None:
            self._Z = [_pair_block(self.W, m0, m1) for m0, m1 in self.blocks]

    def _table(self, t):
        if self.kept:
            return self._Z[t]
        return _pair_block(self.W, *self.blocks[t])

    def _first(self, X, pool):
        """F (B,), G (B, d) and C (B, K), in chunks of ROWS points."""
        B = X.shape[0]
        F, G, C = np.empty(B), np.empty((B, self.d)), np.empty((B, self.K))

        def chunk(r0):
            r1 = min(B, r0 + ROWS)
            T = X[r0:r1] @ self.W.T
            T += self.b
            S = np.empty_like(T)
            _sincos(T, self.A, C[r0:r1], S)
            F[r0:r1] = C[r0:r1].sum(axis=1)
            np.negative(S @ self.W, out=G[r0:r1])

        list((pool or _SERIAL).map(chunk, range(0, B, ROWS)))
        return F, G, C

    def value_grad(self, X, pool=None):
        """F (B,), G (B, d)."""
        F, G, _ = self._first(np.atleast_2d(np.asarray(X, dtype=float)), pool)
        return F, G

    def value_grad_hessian(self, X, pool=None):
        """F (B,), G (B, d), H (B, d, d) exactly symmetric."""
        F, G, C = self._first(np.atleast_2d(np.asarray(X, dtype=float)), pool)
        self.prepare()
        H = np.empty((C.shape[0], self.d, self.d))

        def block(t):
            _fill_block(C @ self._table(t), H, self.blocks[t][0])

        list((pool or _SERIAL).map(block, range(len(self.blocks))))
        return F, G, H

    def hessian(self, X, pool=None):
        """Hessians (B, d, d), exactly symmetric."""
        return self.value_grad_hessian(X, pool)[2]


_LAST = [None]     # the last evaluator, with its product table (one entry: it can be large)


def batch(p, d):
    """The batched evaluator (:class:`Batch`) of a packed field (testbed.critical
    uses it when the kernel module offers it). The last one is kept, with its product
    table, and returned again for a parameter vector equal to its own, element by
    element (a copy of ``p`` reuses it; a ``p`` changed in place does not), until
    another field is evaluated."""
    p = np.asarray(p, dtype=float)
    ev = _LAST[0]
    if not (ev is not None and ev.d == d and ev.p.shape == p.shape
            and np.array_equal(ev.p, p)):
        ev = _LAST[0] = Batch(p, d)
    return ev


# -- critical points: a sample found by search --------------------------------------------

SEARCH_MAX_D = 200     # critical_points() searches only up to this dimension


def _critical_points(d, sigma, ell, K, field_seed, gaussian_amplitudes, cov_tol):
    from testbed.critical import find
    if d > SEARCH_MAX_D:
        raise TestbedError(f"gaussian_field lists no critical points above d = {SEARCH_MAX_D} "
                           f"(they are found by search, at O(K d^2) per Hessian); call "
                           f"testbed.critical.find(L, X0, ...) with starts of your choice")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = _pack(d, sigma, ell, K, field_seed, gaussian_amplitudes, cov_tol)
    rng = np.random.default_rng(np.random.SeedSequence([int(field_seed), int(d), 7]))
    X0 = ell * rng.standard_normal((8, d))
    found = find(GAUSSIAN_FIELD.bind(d=d, sigma=sigma, ell=ell, K=K, field_seed=field_seed,
                                     gaussian_amplitudes=gaussian_amplitudes,
                                     cov_tol=cov_tol),
                 X0, method="newton", iters=200, max_step=0.25 * ell, p=p)
    return [CriticalPoint(tuple(float(v) for v in x), float(e), int(i), bool(dg))
            for x, e, i, dg in zip(found.x, found.energy, found.index, found.degenerate)]


def _default_K(d):
    return max(2048, 4 * d)


GAUSSIAN_FIELD = from_kernels(
    "gaussian_field", __name__,
    params={
        "sigma": Param(1.0, 0.0, math.inf, "standard deviation of f (sigma^2 = Var f)",
                       exclusive_low=True),
        "ell": Param(1.0, 0.0, math.inf, "length scale of the squared-exponential covariance",
                     exclusive_low=True),
        "K": Param(_default_K, 1.0, math.inf, "number of random Fourier features (integer)"),
        "field_seed": Param(0.0, 0.0, math.inf, "seed of the features (integer): one seed, "
                            "one field"),
        "gaussian_amplitudes": Param(1.0, 0.0, 1.0, "1: a_k ~ N(0,1) (f Gaussian given the "
                                     "features); 0: a_k = 1"),
        "cov_tol": Param(0.05, 0.0, math.inf, "requested RMS covariance accuracy (relative "
                         "to sigma^2); a smaller K warns", exclusive_low=True),
    },
    pack=_pack,
    critical_points=_critical_points,
    tags=("random-field", "high-dimensional", "saddles", "critical-points"),
    paper="Bray & Dean 2007 (PRL 98, 150201); Dauphin et al. 2014 (NeurIPS); "
          "Rahimi & Recht 2007 (random features)",
    description="isotropic Gaussian field, squared-exponential covariance, K random "
                "Fourier features",
)
