r"""The curve objective of Garipov et al. (2018) as a landscape over a curve's free
control points, composed from a base landscape's compiled oracle
(:func:`testbed.paths.curve` builds it; the math is documented there).

Bound at instantiation: ``base_value``, ``base_value_grad``, ``base_hvp`` (the base
landscape's oracle) and, for a finite-sum base, ``base_value_grad_batch`` and
``base_n_samples``; for any other base they are bound to :func:`whole_batch` and
:func:`one_sample` below (one "sample": the full function).

Coordinates x: the free bends :math:`\theta_1, \dots, \theta_{n-2}` (each of the base
dimension d), concatenated. Packed p::

    p[0] MAGIC, p[1] d, p[2] n (bends, endpoints included), p[3] n_t (t nodes),
    p[4] weight decay wd, p[5] offset of the coefficient table C (n_t x n, row-major:
    C[i, k] = c_k(t_i)), p[6] offset of the endpoints (w1 then w2), p[7] offset of
    the base landscape's p (which runs to the end).

With :math:`\phi(t_i) = C_{i0} w_1 + \sum_{k=1}^{n-2} C_{ik} \theta_k + C_{i,n-1}
w_2` and :math:`F_i(\theta) = L(\phi(t_i)) + \tfrac{wd}{2} \lVert \phi(t_i)
\rVert^2`, the objective is :math:`\frac{1}{n_t} \sum_i F_i`, with gradient
:math:`\partial / \partial \theta_k = \frac{1}{n_t} \sum_i C_{ik} (\nabla L(\phi(t_i))
+ wd\, \phi(t_i))` (the chain-rule factor :math:`C_{ik}`, e.g. :math:`2t(1-t)` for
the middle bend of a quadratic Bezier curve) and Hessian-vector product
:math:`\frac{1}{n_t} \sum_i C_{ik} (\nabla^2 L(\phi(t_i)) + wd\, I) u_i`,
:math:`u_i = \sum_{k'} C_{ik'} v_{k'}` (exact where the base's is).

As a finite sum, sample :math:`s = i\, m + j` (:math:`m` = the base's sample count)
is datum :math:`j` of the base at node :math:`t_i`:
:math:`f_s = \ell_j(\phi(t_i)) + \tfrac{wd}{2}\lVert \phi(t_i) \rVert^2`, so the mean
over all :math:`n_t m` samples is the objective above, and a mini-batch rule (sgd,
sgd_momentum) samples (t node, datum) pairs uniformly.
"""
import numpy as np

from testbed._engine.jit import njit
from testbed._engine.templates import unbound

MAGIC = 7151.0
HEADER = 8


base_value = base_value_grad = base_hvp = unbound
base_value_grad_batch = base_n_samples = unbound


@njit
def whole_batch(x, p, idx, g):
    """The full function as its only sample (for a base that is not a finite sum)."""
    return base_value_grad(x, p, g)


@njit
def one_sample(p):
    return 1


@njit
def _phi(x, p, i, out):
    """out = phi(t_i) = sum_k C[i, k] B_k (B_0 = w1, B_{n-1} = w2, the rest from x)."""
    d = int(p[1])
    n = int(p[2])
    row = int(p[5]) + i * n
    oe = int(p[6])
    a = p[row]
    b = p[row + n - 1]
    for j in range(d):
        out[j] = a * p[oe + j] + b * p[oe + d + j]
    for k in range(1, n - 1):
        c = p[row + k]
        if c != 0.0:
            o = (k - 1) * d
            for j in range(d):
                out[j] += c * x[o + j]


@njit
def _scatter(p, i, gb, scale, g):
    """g[bend k] += scale C[i, k] gb for each free bend k."""
    d = int(p[1])
    n = int(p[2])
    row = int(p[5]) + i * n
    for k in range(1, n - 1):
        c = scale * p[row + k]
        if c != 0.0:
            o = (k - 1) * d
            for j in range(d):
                g[o + j] += c * gb[j]


@njit
def _decay(phi, wd, gb):
    """wd/2 |phi|^2, and gb += wd phi."""
    if wd == 0.0:
        return 0.0
    s = 0.0
    for j in range(phi.shape[0]):
        s += phi[j] * phi[j]
        gb[j] += wd * phi[j]
    return 0.5 * wd * s


@njit
def n_samples(p):
    """n_t times the base landscape's sample count."""
    return int(p[3]) * base_n_samples(p[int(p[7]):])


@njit
def value(x, p):
    d = int(p[1])
    nt = int(p[3])
    wd = p[4]
    bp = p[int(p[7]):]
    phi = np.empty(d)
    f = 0.0
    for i in range(nt):
        _phi(x, p, i, phi)
        f += base_value(phi, bp)
        if wd != 0.0:
            f += 0.5 * wd * np.dot(phi, phi)
    return f / nt


@njit
def value_grad(x, p, g):
    d = int(p[1])
    nt = int(p[3])
    bp = p[int(p[7]):]
    phi = np.empty(d)
    gb = np.empty(d)
    for j in range(g.shape[0]):
        g[j] = 0.0
    f = 0.0
    for i in range(nt):
        _phi(x, p, i, phi)
        f += base_value_grad(phi, bp, gb) + _decay(phi, p[4], gb)
        _scatter(p, i, gb, 1.0 / nt, g)
    return f / nt


@njit
def value_grad_batch(x, p, idx, g):
    """The mean of f_s over the samples s in ``idx`` (s = i m + j: node i, datum j),
    one base mini-batch call per node present in the batch."""
    d = int(p[1])
    nt = int(p[3])
    bp = p[int(p[7]):]
    m = base_n_samples(bp)
    b = idx.shape[0]
    count = np.zeros(nt, np.int64)
    for s in range(b):
        count[idx[s] // m] += 1
    start = np.zeros(nt + 1, np.int64)
    for i in range(nt):
        start[i + 1] = start[i] + count[i]
    data = np.empty(b, np.int64)                # data indices grouped by node
    fill = start[:nt].copy()
    for s in range(b):
        i = idx[s] // m
        data[fill[i]] = idx[s] - i * m
        fill[i] += 1
    for j in range(g.shape[0]):
        g[j] = 0.0
    phi = np.empty(d)
    gb = np.empty(d)
    f = 0.0
    for i in range(nt):
        c = count[i]
        if c == 0:
            continue
        _phi(x, p, i, phi)
        fi = base_value_grad_batch(phi, bp, data[start[i]:start[i + 1]], gb)
        fi += _decay(phi, p[4], gb)
        f += c * fi
        _scatter(p, i, gb, c / b, g)
    return f / b


@njit
def hvp(x, p, v, out):
    d = int(p[1])
    n = int(p[2])
    nt = int(p[3])
    wd = p[4]
    bp = p[int(p[7]):]
    phi = np.empty(d)
    u = np.empty(d)
    hu = np.empty(d)
    for j in range(out.shape[0]):
        out[j] = 0.0
    for i in range(nt):
        _phi(x, p, i, phi)
        row = int(p[5]) + i * n
        for j in range(d):
            u[j] = 0.0
        for k in range(1, n - 1):
            c = p[row + k]
            if c != 0.0:
                o = (k - 1) * d
                for j in range(d):
                    u[j] += c * v[o + j]
        base_hvp(phi, bp, u, hu)
        for j in range(d):
            hu[j] += wd * u[j]
        _scatter(p, i, hu, 1.0 / nt, out)
