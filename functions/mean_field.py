r"""A two-layer network under the mean-field scaling, first layer trained (Chen,
Vanden-Eijnden & Bruna 2022, "On Feature Learning in Neural Networks with Global
Convergence Guarantees", ICLR, arXiv:2204.10782).

With m hidden units w_i in R^k (``inputs`` = k; the coordinates are the rows of
W in R^{m x k}, so the dimension is d = m k), fixed output weights
c_i = (-1)^i and n unit-norm inputs x_j with targets y_j:

    f(x) = (1/m) sum_i c_i sigma(w_i . x),   sigma(u) = u/2 + tanh(u),
    L(W) = 1/(2n) sum_j (f(x_j) - y_j)^2,
    dL/dw_i = (1/n) sum_j r_j (c_i/m) sigma'(w_i . x_j) x_j,   r_j = f(x_j) - y_j,

with sigma'(u) = 1/2 + 1 - tanh(u)^2 in [1/2, 3/2]. Mean-field gradient flow is
dw_i/dtau = -m dL/dw_i: a rule run on L with step eta m advances the mean-field time
tau by eta per step. The data are drawn from ``seed``: x_j ~ N(0, I_k) normalised to
the unit sphere, y_j ~ U[-1/2, 1/2] (the linear part u/2 of sigma keeps f unbounded,
so any targets can be fitted; with tanh alone and c fixed, |f| <= 1). Used by the
claim ``mean-field-linear-rate``.
"""
import numpy as np

from testbed import CriticalPoint, Param, from_kernels
from testbed.errors import TestbedError
from testbed.kernel import njit

HEADER = 2          # p = [n, k, X (n k, row-major), y (n)]


def data(n, inputs, seed):
    """The inputs X (n, k) on the unit sphere and targets y (n,) in [-1/2, 1/2] of the
    entry with these parameters."""
    rng = np.random.default_rng(int(seed))
    X = rng.standard_normal((int(n), int(inputs)))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.uniform(-0.5, 0.5, int(n))
    return X, y


def signs(width):
    """The fixed output weights c_i = (-1)^i, i = 0 .. width - 1."""
    return np.where(np.arange(int(width)) % 2 == 0, 1.0, -1.0)


def _pack(d, n, inputs, seed):
    k = int(inputs)
    if d % k:
        raise TestbedError(f"mean_field_two_layer: the dimension d = {d} must be the "
                           f"width times inputs = {k}")
    X, y = data(n, k, seed)
    return np.concatenate([[float(n), float(k)], X.ravel(), y])


@njit
def value_grad(x, p, g):
    n = int(p[0])
    k = int(p[1])
    m = x.shape[0] // k
    X = p[HEADER:HEADER + n * k]
    y = p[HEADER + n * k:HEADER + n * k + n]
    r = np.empty(n)
    for j in range(n):
        f = 0.0
        for i in range(m):
            z = 0.0
            for a in range(k):
                z += x[i * k + a] * X[j * k + a]
            c = 1.0 if i % 2 == 0 else -1.0
            f += c * (0.5 * z + np.tanh(z))
        r[j] = f / m - y[j]
    loss = 0.0
    for j in range(n):
        loss += r[j] * r[j]
    for q in range(x.shape[0]):
        g[q] = 0.0
    for i in range(m):
        c = 1.0 if i % 2 == 0 else -1.0
        for j in range(n):
            z = 0.0
            for a in range(k):
                z += x[i * k + a] * X[j * k + a]
            t = np.tanh(z)
            coef = r[j] * c * (1.5 - t * t) / (m * n)
            for a in range(k):
                g[i * k + a] += coef * X[j * k + a]
    return 0.5 * loss / n


def _sigma(u):
    return 0.5 * u + np.tanh(u)


def critical_points(d, inputs, n, seed):
    """With one input (k = 1) every x_j is +1 or -1 and sigma is odd, so f(-1) = -f(1)
    = -a with a = (1/m) sum_i c_i sigma(w_i), and L depends on W only through a. Since
    sigma' is even, dL/dw_i = c_i sigma'(w_i) / (m n) * sum_j r_j x_j, zero exactly
    when a = a* = (1/n) sum_j y_j x_j, the least-squares value. So {W : a(W) = a*} is a
    manifold of global minima (index 0, degenerate); declared: w_0 = s with
    sigma(s) = m a* (bisection, sigma increasing), the other w_i = 0, energy
    1/(2n) sum_j (a* x_j - y_j)^2. None is declared for k > 1."""
    if int(inputs) != 1:
        return []
    X, y = data(n, 1, seed)
    x = X[:, 0]
    a = float(np.sum(y * x) / int(n))
    target = d * a
    hi = 2.0 * abs(target) + 1.0          # |sigma(u)| >= |u| / 2: the root is in [-hi, hi]
    lo = -hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _sigma(mid) < target:
            lo = mid
        else:
            hi = mid
    w = np.zeros(d)
    w[0] = 0.5 * (lo + hi)
    energy = float(0.5 * np.mean((a * x - y) ** 2))
    return [CriticalPoint(tuple(w), energy, 0, True)]


MEAN_FIELD_TWO_LAYER = from_kernels(
    "mean_field_two_layer", __name__,
    params={"inputs": Param(1, 1, 100000, "input dimension k (d = width * k)",
                            integer=True),
            "n": Param(4, 1, 100000, "number of samples", integer=True),
            "seed": Param(0, 0, 2**31 - 1, "seed of the data", integer=True)},
    pack=_pack,
    critical_points=critical_points,
    tags=("network", "mean-field", "critical-manifold"),
    paper="Chen, Vanden-Eijnden & Bruna (2022), ICLR, arXiv:2204.10782",
    description="(1/m) sum_i (-1)^i sigma(w_i . x), sigma(u) = u/2 + tanh u, first "
                "layer trained; squared loss 1/(2n) sum (f - y)^2 on unit-norm inputs",
)
