r"""Curvature estimators for any landscape, through its oracle: extreme Hessian
eigenvalues by Lanczos, Hutchinson's trace estimator, and the spectral density by
stochastic Lanczos quadrature (SLQ). Each returns its own error estimate, and each
is tested against landscapes whose spectrum is known exactly (tests/test_curvature.py).

Notation: :math:`H = \nabla^2 f(x)` (symmetric, :math:`d \times d`), eigenpairs
:math:`(\lambda_i, q_i)`, spectral measure
:math:`\mu = \frac{1}{d} \sum_i \delta_{\lambda_i}`, its CDF
:math:`F(t) = \#\{i : \lambda_i \le t\} / d`. Only Hessian-vector products
:math:`v \mapsto Hv` are used (``L.oracle.hvp``; exact for every catalogue
landscape unless its ``DERIVED`` says otherwise).

**Lanczos** (:func:`lanczos`, :func:`top_eigenvalues`, :func:`extreme_eigenvalues`).
:math:`m` steps from a unit start vector :math:`v` build an orthonormal basis
:math:`V_m` of the Krylov space :math:`\operatorname{span}\{v, Hv, \dots,
H^{m-1} v\}` and the tridiagonal :math:`T_m = V_m^T H V_m` (diagonal
:math:`\alpha`, off-diagonal :math:`\beta`), with
:math:`H V_m = V_m T_m + \beta_m v_{m+1} e_m^T`. Full reorthogonalisation
(Gram-Schmidt twice against all previous vectors) keeps :math:`V_m` orthonormal to
rounding, so there are no spurious copies ("ghosts") of converged eigenvalues. For
an eigenpair :math:`(\theta_j, s_j)` of :math:`T_m`, the Ritz vector
:math:`y = V_m s_j` has residual
:math:`\lVert H y - \theta_j y \rVert = \beta_m |s_j[m]|`, and for a symmetric
:math:`H` that residual :math:`r_j` bounds the distance from :math:`\theta_j` to the
NEAREST eigenvalue of :math:`H` (e.g. Parlett, The Symmetric Eigenvalue Problem,
1998, ch. 4): this is the ``bounds`` field of :class:`Eigs`, a certificate computed
from :math:`T_m` alone. When the wanted eigenvalue is separated from the rest of the
spectrum by a gap :math:`\delta`, the error is in fact :math:`\le r_j^2 / \delta`
(Kato-Temple; Parlett ch. 10), and the Kaniel-Paige-Saad theory gives geometric
convergence: error :math:`\sim (\lambda_{\max} - \lambda_{\min})
T_{m-1}(1 + 2\gamma)^{-2}`, :math:`\gamma = \text{gap} / \text{spread}`,
:math:`T` Chebyshev (Saad, Numerical Methods for Large Eigenvalue Problems, 2nd ed.
2011, ch. 6). Both ends of the spectrum converge in the same run, so
:func:`extreme_eigenvalues` gets :math:`\lambda_{\min}` and :math:`\lambda_{\max}`
from one Krylov space (Li et al. 2018 use two ARPACK runs, the second on
:math:`H - 0.51 \lambda I`). Limits, stated rather than hidden: a single start
vector sees each eigenSPACE once, so in exact arithmetic a repeated eigenvalue is
returned once; in floating point its other copies re-enter through rounding (within
tens of steps when it dominates), so the multiplicity found is NOT reliable (top-k
with multiplicities needs a block method or ``dense=True``), while each value stays
certified; without a gap the largest Ritz value is a lower bound on
:math:`\lambda_{\max}` that converges slowly, and ``converged`` says so. The
Gaussian-start, full-Hessian case runs the compiled ``L.oracle.lanczos``; a chosen
start vector (Rademacher SLQ probes; warm starts, ``top_eigenvalues(..., v0=...)``),
a restriction to a subset of the coordinates (Li et al.'s weights-only Hessian,
``mask``) or Ritz vectors use the NumPy routine :func:`lanczos_operator` (same
algorithm; the cost is the HVPs), whose Krylov space :func:`top_eigenvalues` extends
step by step until converged instead of restarting it.

**Hutchinson trace** (:func:`hutchinson_trace`; Hutchinson 1990, Commun. Stat.
Simul. Comput. 19(2)). :math:`\operatorname{tr} H = \mathbb{E}[v^T H v]` for any
probe with :math:`\mathbb{E}[v v^T] = I`. The estimate is the mean of :math:`n`
probes; its standard error is the sample standard deviation of the :math:`n` values
:math:`v^T H v` over :math:`\sqrt{n}` (returned with the estimate). The per-probe
variance is exactly (:func:`probe_variance`)

.. math::

    \text{Rademacher } (v_i = \pm 1):&\quad 2 \Big(\lVert H \rVert_F^2 - \sum_i H_{ii}^2\Big)
        = 2 \sum_{i \ne j} H_{ij}^2, \\
    \text{Gaussian } (v \sim N(0, I)):&\quad 2 \lVert H \rVert_F^2 = 2 \sum_i \lambda_i^2.

Rademacher probes are never worse and are EXACT for a diagonal Hessian (every
separable landscape): zero variance, standard error 0.

**Spectral density by SLQ** (:func:`slq`; Ubaru, Chen & Saad 2017, SIAM J. Matrix
Anal. Appl. 38(4), "Fast estimation of tr(f(A)) via stochastic Lanczos quadrature";
Lin, Saad & Yang 2016, SIAM Review 58(1), for the density view). For a unit probe
:math:`v`, :math:`v^T g(H) v = \sum_i (q_i^T v)^2 g(\lambda_i)` is the integral of
:math:`g` against the probe's measure
:math:`\mu_v = \sum_i (q_i^T v)^2 \delta_{\lambda_i}`. :math:`m` Lanczos steps from
:math:`v` give the :math:`m`-point Gauss quadrature of :math:`\mu_v`: nodes
:math:`\theta_j` (eigenvalues of :math:`T_m`), weights :math:`\tau_j^2 = s_j[1]^2`
(FIRST components of :math:`T_m`'s eigenvectors -- PyHessian used the whole
eigenvector matrix until its PR #23), exact for polynomials :math:`g` of degree
:math:`\le 2m - 1` (Golub & Meurant, Matrices, Moments and Quadrature, 2010). The
estimate of :math:`\mu` is the average of the :math:`n_v` quadratures; the smoothed
density convolves it with a Gaussian of width :math:`\sigma`. Probes are uniform on
the unit sphere (normalised Gaussians; default) or normalised Rademacher vectors.
The error of the estimated measure is measured in the Wasserstein-1 distance
:math:`W_1(a, b) = \int |F_a - F_b|\, dt` and split by the triangle inequality and
the convexity of :math:`W_1` in mixtures:

- quadrature: :math:`W_1(\text{Gauss}_m(\mu_v), \mu_v) \le 2 E_{2m-1} \le \pi (b - a)
  / (4 m)` for a spectrum in :math:`[a, b]` (Gauss quadrature is exact to degree
  :math:`2m - 1`, both measures are probabilities, and Jackson's theorem with the
  Favard constant bounds the best uniform polynomial approximation of a 1-Lipschitz
  function on :math:`[a, b]`: :math:`E_n \le \pi (b - a) / (4 (n+1))`, via
  :math:`f(\cos t)` on :math:`[-1, 1]`; :func:`jackson_w1_bound`); and a posteriori,
  from the Chebyshev-Markov-Stieltjes inequalities
  (:math:`\sum_{i<j} w_i \le \mu_v((-\infty, \theta_j))` and
  :math:`\mu_v((-\infty, \theta_j]) \le \sum_{i \le j} w_i`),
  :math:`|F_Q - F_v| \le \max(w_j, w_{j+1})` between consecutive nodes, hence
  (:meth:`SpectralDensity.quadrature_w1_bound`)

  .. math::

      W_1 \le \sum_j (\theta_{j+1} - \theta_j) \max(w_j, w_{j+1})
          + w_1 (\theta_1 - a) + w_m (b - \theta_m);

- sampling: :math:`F_v(t) = v^T P_t v` (:math:`P_t` the spectral projector on
  :math:`\lambda \le t`) has mean :math:`F(t)` and variance
  :math:`2 F (1 - F) / (d + 2)` for sphere probes (and at most
  :math:`2 F (1 - F) / d` for Rademacher ones, zero when :math:`H` is diagonal), so
  (:func:`slq_sampling_w1`)

  .. math::

      \mathbb{E}\, W_1\Big(\frac{1}{n_v} \sum_v \mu_v, \mu\Big)
          \le \int \sqrt{\frac{2 F (1 - F)}{(d + 2) n_v}}\, dt
          \le \frac{b - a}{\sqrt{2 (d + 2) n_v}}.

Moments: the :math:`k`-th moment of the estimate is the mean of :math:`v^T H^k v`
(exactly, for :math:`k \le 2m - 1`), an unbiased estimate of
:math:`\operatorname{tr}(H^k) / d` with the standard error
``SpectralDensity.moment(k)[1]``; for sphere probes its variance is
:math:`2 (m_{2k} - m_k^2) / ((d + 2) n_v)`, :math:`m_k = \operatorname{tr}(H^k) / d`.
Gaussian smoothing moves the measure by at most :math:`\sigma \sqrt{2/\pi}` in
:math:`W_1`.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
from scipy.linalg import eigh_tridiagonal

from .errors import TestbedError

__all__ = ["Eigs", "TraceEstimate", "SpectralDensity", "lanczos", "lanczos_operator",
           "ritz", "top_eigenvalues", "extreme_eigenvalues", "hvp_error", "eig_ratio",
           "hutchinson_trace", "probe_variance", "slq", "slq_sampling_w1",
           "wasserstein1", "jackson_w1_bound"]


# ----------------------------------------------------------------------------- helpers
def _int(name, value, minimum=1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise TestbedError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _seed(seed) -> int:
    """A seed in the package's one range, [-2**63, 2**63 - 1]
    (:func:`testbed.ensemble.check_seed`)."""
    from .ensemble import check_seed
    return check_seed(seed)


def _rng(seed):
    """NumPy's generator for ``seed``, taken as its uint64 two's complement (the bits the
    compiled streams see)."""
    return np.random.default_rng(_seed(seed) % 2**64)


def _mask(L, mask):
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (L.d,):
        raise TestbedError(f"mask must be a boolean array of shape ({L.d},) selecting the "
                           f"coordinates of the sub-Hessian, got dtype {m.dtype} shape {m.shape}")
    if not m.any():
        raise TestbedError("mask selects no coordinate: the restricted Hessian is empty")
    return m


def _operator(L, x, mask=None, shift=0.0):
    """v -> (H - shift I) v on the coordinates ``mask`` (all if None), as a function of
    the reduced vector. Returns (matvec, n)."""
    o, p = L.oracle, L.p
    d = L.d
    out = np.empty(d)
    if mask is None:
        def matvec(v):
            o.hvp(x, p, np.ascontiguousarray(v), out)
            return out - shift * v if shift else out.copy()
        return matvec, d
    full = np.zeros(d)

    def matvec_masked(v):
        full[mask] = v
        o.hvp(x, p, full, out)
        r = out[mask]
        return r - shift * v if shift else r
    return matvec_masked, int(mask.sum())


def _probe_seeds(seed: int, n: int) -> np.ndarray:
    """n independent 32-bit seeds for the oracle's seeded Lanczos starts."""
    return np.random.SeedSequence([seed, 0x51C]).generate_state(n, np.uint32).astype(np.int64)


# ----------------------------------------------------------------------------- Lanczos
class _Krylov:
    """Lanczos with full reorthogonalisation on a symmetric operator ``matvec``, grown
    step by step: :meth:`extend` continues the SAME recurrence (a longer run from the
    same start has the same first alpha, beta and basis vectors), so asking for more
    steps costs only the new Hessian-vector products, not a restart. ``m`` steps are
    done; ``invariant`` is True once beta_m vanished (an invariant subspace: no more
    steps). With a generator ``restart``, a vanishing beta_m instead continues from a
    random vector orthogonal to the basis, with a zero coupling in T (ARPACK's remedy:
    a start inside an invariant subspace, e.g. an exact eigenvector given as a warm
    start, then still reaches the rest of the spectrum)."""

    def __init__(self, matvec, v0, restart=None):
        v0 = np.asarray(v0, dtype=float)
        nrm = np.linalg.norm(v0)
        if not np.isfinite(nrm) or nrm == 0.0:
            raise TestbedError("the Lanczos start vector must be finite and nonzero")
        self.matvec, self.n, self.restart = matvec, v0.size, restart
        self.V = (v0 / nrm)[None, :]          # room for the basis grows in _room
        self.alpha, self.beta = np.zeros(0), np.zeros(0)
        self.m, self.scale, self.invariant = 0, 0.0, False

    def _room(self, k):
        """Storage for k steps (k + 1 basis vectors); grown geometrically."""
        if k + 1 <= self.V.shape[0]:
            return
        size = min(self.n, max(k, 2 * (self.V.shape[0] - 1))) + 1
        V = np.empty((size, self.n))
        V[:self.m + 1] = self.V[:self.m + 1]
        self.V = V
        self.alpha = np.concatenate([self.alpha[:self.m], np.zeros(size - 1 - self.m)])
        self.beta = np.concatenate([self.beta[:self.m], np.zeros(size - 1 - self.m)])

    def extend(self, steps):
        """Continue to min(steps, n) steps (fewer if an invariant subspace is found)."""
        k = min(steps, self.n)
        if self.invariant or k <= self.m:
            return self
        j, extra = self.m, 1
        while j < k:
            self._room(k)
            V, alpha, beta = self.V, self.alpha, self.beta
            w = np.asarray(self.matvec(V[j]), dtype=float)
            alpha[j] = w @ V[j]
            B = V[:j + 1]
            w = w - B.T @ (B @ w)            # Gram-Schmidt twice is enough (Kahan-Parlett)
            w = w - B.T @ (B @ w)
            b = float(np.linalg.norm(w))
            beta[j] = b
            self.scale = max(self.scale, abs(alpha[j]), b)
            if not np.isfinite(b):
                raise TestbedError("Hessian-vector product is not finite (x outside the "
                                   "landscape's domain?)")
            self.m = j + 1
            if b <= 1e-13 * self.scale:
                w = self._fresh(B) if self.restart is not None and j + 1 < self.n else None
                if w is None:
                    self.invariant = True
                    return self
                beta[j], b = 0.0, 1.0
                if j + 1 == k and extra:    # a zero beta_m would certify every Ritz
                    k, extra = k + 1, 0         # value: one step into the fresh direction
            V[j + 1] = w / b
            j += 1
        return self

    def _fresh(self, B):
        """A unit random vector orthogonal to the basis B, or None if B spans (nearly)
        everything."""
        w = self.restart.standard_normal(self.n)
        nrm = np.linalg.norm(w)
        w = w - B.T @ (B @ w)
        w = w - B.T @ (B @ w)
        b = float(np.linalg.norm(w))
        return w / b if b > 1e-8 * nrm else None

    def result(self, want_vectors=False):
        m = self.m
        return (self.alpha[:m].copy(), self.beta[:m].copy(),
                self.V[:m].copy() if want_vectors else None)


def lanczos_operator(matvec, v0, n_iter, want_vectors=False):
    r"""Lanczos with full reorthogonalisation on any symmetric operator.

    Parameters
    ----------
    matvec : callable
        :math:`v \mapsto Hv` for vectors of length :math:`n`.
    v0 : array (n,)
        The start vector, finite and nonzero (normalised here).
    n_iter : int
        Steps :math:`m`, at most; fewer when an invariant subspace is found.
    want_vectors : bool
        Return the basis too.

    Returns
    -------
    alpha, beta : array (m,)
        The tridiagonal :math:`T_m`; ``beta[m-1]`` is the residual coefficient
        :math:`\beta_m`.
    V : array (m, n) or None
        The orthonormal basis if ``want_vectors``.
    """
    kry = _Krylov(matvec, v0)
    return kry.extend(_int("n_iter", n_iter)).result(want_vectors)


def lanczos(L, x, n_iter, seed=0, v0=None, mask=None, want_vectors=False):
    r"""``n_iter`` Lanczos steps on :math:`H(x)` of landscape ``L``.

    From the oracle's seeded Gaussian start (compiled ``L.oracle.lanczos``) unless a
    start ``v0``, a coordinate ``mask`` or the basis vectors are asked for (then
    :func:`lanczos_operator`).

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    n_iter : int
        Steps.
    seed : int
        Seeds the Gaussian start vector.
    v0 : array, optional
        The start vector (length :math:`d`, or the number of masked coordinates).
    mask : bool array (d,), optional
        Restricts :math:`H` to these coordinates.
    want_vectors : bool
        Return the basis too.

    Returns
    -------
    alpha, beta : array (m,)
    V : array (m, n) or None
        As :func:`lanczos_operator` returns them.
    """
    x = L._point(x, finite=True)
    n_iter = _int("n_iter", n_iter)
    mask = _mask(L, mask)
    if v0 is None and mask is None and not want_vectors:
        k = min(n_iter, L.d)
        alpha, beta = np.zeros(k), np.zeros(k)
        m = int(L.oracle.lanczos(x, L.p, k, _seed(seed), alpha, beta))
        if not (np.all(np.isfinite(alpha[:m])) and np.all(np.isfinite(beta[:m]))):
            raise TestbedError(f"Hessian-vector products of {L.name!r} are not finite at "
                               f"this x (outside the landscape's domain?)")
        return alpha[:m], beta[:m], None
    matvec, n = _operator(L, x, mask)
    if v0 is None:
        v0 = _rng(seed).standard_normal(n)
    elif np.shape(v0) != (n,):
        raise TestbedError(f"v0 has shape {np.shape(v0)}; the (restricted) Hessian is "
                           f"{n} x {n}")
    return lanczos_operator(matvec, v0, n_iter, want_vectors)


def ritz(alpha, beta):
    r"""Ritz values, first components and residual bounds of a Lanczos tridiagonal.

    Parameters
    ----------
    alpha, beta : array (m,)
        :math:`T_m`'s diagonal and off-diagonal, ``beta[m-1]`` :math:`= \beta_m`.

    Returns
    -------
    theta : array (m,)
        The eigenvalues of :math:`T_m`, ascending.
    first : array (m,)
        The first components :math:`s_j[1]` of their eigenvectors (the Gauss
        quadrature weights are their squares).
    bounds : array (m,)
        :math:`\beta_m |s_j[m]|`: an eigenvalue of :math:`H` lies within this of
        :math:`\theta_j`.
    """
    m = len(alpha)
    if m == 1:
        return np.array([alpha[0]]), np.ones(1), np.array([abs(beta[0])])
    theta, S = eigh_tridiagonal(alpha, beta[:m - 1])
    return theta, S[0].copy(), np.abs(beta[m - 1] * S[m - 1])


@dataclasses.dataclass
class Eigs:
    r"""Eigenvalues from Lanczos: ``values`` (LA: descending; SA: ascending),
    ``bounds`` (an eigenvalue of :math:`H` lies within ``bounds[i]`` of
    ``values[i]``), the number of Lanczos steps ``n_iter``, ``converged`` (every bound
    :math:`\le \text{tol} \cdot \max_j |\theta_j|`, the spectral scale) and the Ritz
    ``vectors`` (k, d) when asked for."""
    values: np.ndarray
    bounds: np.ndarray
    n_iter: int
    converged: bool
    vectors: np.ndarray | None = None


def _dense(L, x, mask):
    H = L.hessian(x)
    if mask is not None:
        H = H[np.ix_(mask, mask)]
    return H


def top_eigenvalues(L, x, k=1, which="LA", *, n_iter=None, tol=1e-8, max_iter=None,
                    seed=0, mask=None, vectors=False, dense=False, start_iter=None,
                    v0=None) -> Eigs:
    r"""The :math:`k` algebraically largest (``which="LA"``, descending) or smallest
    (``"SA"``, ascending) Hessian eigenvalues of ``L`` at ``x``, with error bounds.

    With ``n_iter`` given, exactly that many Lanczos steps; otherwise steps start at
    ``start_iter`` (default :math:`\max(2k + 20, 40)`) and grow until every wanted
    bound is below ``tol`` times the largest absolute Ritz value or ``max_iter``
    (default :math:`\min(d, 400)`) is reached. A bound is the Ritz residual plus,
    where the landscape's Hessian-vector product is a finite difference, that
    product's error times the spectral scale (:func:`hvp_error`). The tolerance is
    thus relative to the spectral scale, not to each eigenvalue (ARPACK's ``tol``);
    the two agree for the eigenvalue of largest magnitude.

    A warm start ``v0`` -- e.g. the previous Ritz vector along a trajectory --
    converges in fewer steps; give it a smaller ``start_iter`` too (the steps are
    never fewer than ``start_iter``, so that the Krylov space sees beyond the start
    vector; should that space close, as from an exact eigenvector, Lanczos goes on
    from a seeded random vector orthogonal to it, as ARPACK does). How the steps
    grow: the seeded full-Hessian case runs the compiled ``L.oracle.lanczos``, which
    starts afresh each time, so its steps double (total cost at most twice the last
    run); a chosen start, a ``mask`` or ``vectors`` run the NumPy Lanczos, which
    EXTENDS its Krylov space (the first :math:`m` steps of a longer run are the
    :math:`m`-step run), so its steps grow by an eighth and the cost is the steps
    finally taken (at most an eighth more than needed).

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    k : int
        How many eigenvalues.
    which : {"LA", "SA"}
        Largest or smallest.
    n_iter : int, optional
        Exactly this many Lanczos steps (no convergence loop).
    tol : float
        Relative accuracy, as above.
    max_iter, start_iter : int, optional
        The last and the first number of steps of the convergence loop.
    seed : int
        Seeds the Gaussian start vector (and the restart vectors).
    mask : bool array (d,), optional
        Restricts :math:`H` to a subset of coordinates (Li et al.'s weights-only
        Hessian).
    vectors : bool
        Return the Ritz vectors too.
    dense : bool
        Use the exact dense decomposition instead (bounds 0).
    v0 : array, optional
        The start vector (length :math:`d`, or the number of masked coordinates;
        default the seeded Gaussian one).

    Returns
    -------
    Eigs
        Entries Lanczos could not reach (an invariant subspace smaller than
        :math:`k`) are NaN with an infinite bound.
    """
    if which not in ("LA", "SA"):
        raise TestbedError(f"which must be 'LA' (largest) or 'SA' (smallest), got {which!r}")
    k = _int("k", k)
    x = L._point(x, finite=True)
    mask = _mask(L, mask)
    n = L.d if mask is None else int(mask.sum())
    if k > n:
        raise TestbedError(f"k = {k} eigenvalues asked of a {n} x {n} Hessian")
    if v0 is not None:
        v0 = np.asarray(v0, dtype=float)
        if v0.shape != (n,):
            raise TestbedError(f"v0 has shape {v0.shape}; the (restricted) Hessian is "
                               f"{n} x {n}")
    if dense:
        H = _dense(L, x, mask)
        w, Q = np.linalg.eigh(H)
        idx = np.arange(n)[::-1][:k] if which == "LA" else np.arange(k)
        return Eigs(w[idx], np.zeros(k), 0, True, Q[:, idx].T.copy() if vectors else None)
    if not (np.isfinite(tol) and tol >= 0):
        raise TestbedError(f"tol must be a non-negative number, got {tol!r}")
    fixed = n_iter is not None
    steps = _int("n_iter", n_iter) if fixed else min(n, _int("start_iter", start_iter)
                                                      if start_iter else max(2 * k + 20, 40))
    cap = steps if fixed else min(n, _int("max_iter", max_iter) if max_iter else 400)
    extra = hvp_error(L)
    if steps < k and steps < n:
        raise TestbedError(f"{steps} Lanczos steps give at most {steps} Ritz values; "
                           f"raise n_iter to at least k = {k}")
    kry = None
    if v0 is not None or mask is not None or vectors:      # the NumPy Lanczos, grown
        matvec, _ = _operator(L, x, mask)
        kry = (_Krylov(matvec, _rng(seed).standard_normal(n)) if v0 is None
               else _Krylov(matvec, v0, restart=_rng(seed)))
    while True:
        if kry is None:
            alpha, beta, V = lanczos(L, x, steps, seed=seed)
        else:
            m = kry.extend(steps).m
            alpha, beta, V = kry.alpha[:m], kry.beta[:m], kry.V[:m]
        m = len(alpha)
        if vectors:
            theta, S = (eigh_tridiagonal(alpha, beta[:m - 1]) if m > 1
                        else (alpha.copy(), np.ones((1, 1))))
            res = np.abs(beta[m - 1] * S[m - 1])
        else:
            theta, _, res = ritz(alpha, beta)
        idx = np.arange(m)[::-1][:k] if which == "LA" else np.arange(min(k, m))
        scale = float(np.max(np.abs(theta))) if m else 0.0
        res = res + extra * scale
        converged = bool(np.all(res[idx] <= tol * max(scale, np.finfo(float).tiny)))
        exhausted = m < steps or steps >= n       # invariant subspace found
        if converged or fixed or exhausted or steps >= cap:
            break
        steps = min(2 * steps if kry is None else steps + max(1, steps // 8), cap)
    values = np.full(k, np.nan)
    bounds = np.full(k, np.inf)
    values[:idx.size], bounds[:idx.size] = theta[idx], res[idx]
    vecs = None
    if vectors:
        Y = (S[:, idx].T @ V)
        if mask is not None:
            full = np.zeros((idx.size, L.d))
            full[:, mask] = Y
            Y = full
        vecs = Y
    return Eigs(values, bounds, m, converged and idx.size == k, vecs)


def hvp_error(L) -> float:
    r"""Relative error of ``L``'s Hessian-vector products: 0 where they are exact, the
    finite difference's (about :math:`10^{-10}` for smooth functions of unit scale,
    ``testbed._engine.templates.oracle.FD_HVP_REL_ERROR``) where they are derived
    from the gradient. By Weyl's inequality an eigenvalue moves by at most the
    operator's error, so this times the spectral scale adds to every bound."""
    from ._engine.templates.oracle import FD_HVP_REL_ERROR
    derived = getattr(L.oracle, "DERIVED", ())
    return FD_HVP_REL_ERROR if any(d.startswith("hvp (central") for d in derived) else 0.0


def extreme_eigenvalues(L, x, *, n_iter=None, tol=1e-6, max_iter=None, seed=0, mask=None):
    r""":math:`\lambda_{\min}` and :math:`\lambda_{\max}` of :math:`H(x)` from ONE
    Lanczos run (both ends of the spectrum converge together).

    Parameters
    ----------
    L, x, n_iter, tol, max_iter, seed, mask
        As for :func:`top_eigenvalues` (steps start at :math:`\min(d, 40)` and
        double).

    Returns
    -------
    lambda_min, lambda_max : float
    eigs : Eigs
        Both values with their bounds.
    """
    x = L._point(x, finite=True)
    mask = _mask(L, mask)
    n = L.d if mask is None else int(mask.sum())
    fixed = n_iter is not None
    steps = _int("n_iter", n_iter) if fixed else min(n, 40)
    cap = steps if fixed else min(n, _int("max_iter", max_iter) if max_iter else 400)
    while True:
        alpha, beta, _ = lanczos(L, x, steps, seed=seed, mask=mask)
        theta, _, res = ritz(alpha, beta)
        m = len(alpha)
        scale = max(float(np.max(np.abs(theta))), np.finfo(float).tiny)
        b = np.array([res[0], res[-1]]) + hvp_error(L) * scale
        converged = bool(np.all(b <= tol * scale))
        if converged or fixed or m < steps or steps >= cap:
            break
        steps = min(2 * steps, cap)
    eig = Eigs(np.array([theta[0], theta[-1]]), b, m, converged)
    return float(theta[0]), float(theta[-1]), eig


def eig_ratio(L, x, **kw) -> float:
    r"""Li et al.'s (2018) non-convexity measure
    :math:`|\lambda_{\min} / \lambda_{\max}|` of :math:`H(x)` (algebraic extremes,
    from :func:`extreme_eigenvalues`, which takes the keyword arguments; large where
    the curvature is strongly negative somewhere)."""
    lo, hi, _ = extreme_eigenvalues(L, x, **kw)
    return abs(lo / hi) if hi != 0 else math.inf


# ----------------------------------------------------------------------------- Hutchinson
@dataclasses.dataclass
class TraceEstimate:
    r"""Hutchinson's estimate of :math:`\operatorname{tr} H` (``trace``), its standard
    error ``stderr`` (sample standard deviation of the probe values over
    :math:`\sqrt{n}`), the number of probes and the probe values ``samples``
    (:math:`v^T H v`). Unpacks as ``trace, stderr``."""
    trace: float
    stderr: float
    n_probes: int
    samples: np.ndarray

    def __iter__(self):            # trace, stderr = hutchinson_trace(...)
        return iter((self.trace, self.stderr))


def _probe(rng, n, kind):
    if kind == "rademacher":
        return rng.integers(0, 2, n).astype(float) * 2.0 - 1.0
    return rng.standard_normal(n)


def _probe_kind(probe):
    if probe not in ("rademacher", "gaussian"):
        raise TestbedError(f"probe must be 'rademacher' or 'gaussian', got {probe!r}")
    return probe


def hutchinson_trace(L, x, n_probes=100, seed=0, probe="rademacher", mask=None) -> TraceEstimate:
    r"""Hutchinson's estimate of :math:`\operatorname{tr} H(x)`,
    :math:`\frac{1}{n} \sum_{l=1}^{n} v_l^T H v_l`, with its standard error.

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    n_probes : int
        :math:`n`.
    seed : int
        The probes' random stream.
    probe : {"rademacher", "gaussian"}
        :math:`v_i = \pm 1`, or :math:`v \sim N(0, I)`.
    mask : bool array (d,), optional
        Restricts :math:`H` to these coordinates.

    Returns
    -------
    TraceEstimate
    """
    n_probes = _int("n_probes", n_probes)
    probe = _probe_kind(probe)
    x = L._point(x, finite=True)
    mask = _mask(L, mask)
    matvec, n = _operator(L, x, mask)
    rng = _rng(seed)
    samples = np.empty(n_probes)
    for i in range(n_probes):
        v = _probe(rng, n, probe)
        samples[i] = v @ matvec(v)
    if not np.all(np.isfinite(samples)):
        raise TestbedError(f"Hessian-vector products of {L.name!r} are not finite at this x")
    se = float(np.std(samples, ddof=1) / math.sqrt(n_probes)) if n_probes > 1 else math.inf
    return TraceEstimate(float(samples.mean()), se, n_probes, samples)


def probe_variance(H, probe="rademacher") -> float:
    r"""Exact variance of one Hutchinson sample :math:`v^T H v` for a symmetric
    matrix :math:`H`: :math:`2 (\lVert H \rVert_F^2 - \sum_i H_{ii}^2)` for Rademacher
    probes, :math:`2 \lVert H \rVert_F^2` for Gaussian ones."""
    H = np.asarray(H, dtype=float)
    fro2 = float(np.sum(H * H))
    if _probe_kind(probe) == "gaussian":
        return 2.0 * fro2
    return 2.0 * (fro2 - float(np.sum(np.diag(H) ** 2)))


# ----------------------------------------------------------------------------- SLQ
@dataclasses.dataclass
class SpectralDensity:
    r"""The SLQ estimate of the spectral measure: per probe :math:`l`, Gauss nodes
    ``nodes[l, :m_l]`` and weights ``weights[l, :m_l]`` (summing to 1; padded with
    NaN / 0 beyond :math:`m_l`, the steps taken, in ``steps``), the Hessian size
    ``d``, ``n_iter``, the probe kind and ``seed``. ``residuals`` are the Ritz
    residual bounds of the nodes; ``probes`` the unit start vectors when kept."""
    nodes: np.ndarray
    weights: np.ndarray
    residuals: np.ndarray
    steps: np.ndarray
    d: int
    n_iter: int
    probe: str
    seed: int
    probes: np.ndarray | None = None

    @property
    def n_probes(self) -> int:
        """The number of probes."""
        return self.nodes.shape[0]

    def measure(self):
        r"""The pooled discrete estimate of :math:`\mu`: (nodes, weights), the weights
        summing to 1."""
        ok = self.weights > 0
        return self.nodes[ok], self.weights[ok] / self.n_probes

    def moment(self, k: int):
        r"""(estimate, standard error) of :math:`\operatorname{tr}(H^k) / d`: the mean
        over probes of :math:`\sum_j w_j \theta_j^k` (:math:`= v^T H^k v` exactly when
        :math:`k \le 2 m - 1`)."""
        k = _int("k", k, minimum=0)
        per = np.nansum(self.weights * np.where(self.weights > 0, self.nodes, 0.0) ** k, axis=1)
        se = per.std(ddof=1) / math.sqrt(per.size) if per.size > 1 else math.inf
        return float(per.mean()), float(se)

    def cdf(self, t):
        r"""Estimated fraction of eigenvalues :math:`\le t` (``t`` scalar or array)."""
        t = np.asarray(t, dtype=float)
        nodes, w = self.measure()
        order = np.argsort(nodes)
        cum = np.concatenate(([0.0], np.cumsum(w[order])))
        return cum[np.searchsorted(nodes[order], t, side="right")]

    def density(self, grid=None, sigma=None, n_grid=1000):
        r"""(grid, phi): the estimate smoothed by a Gaussian of width ``sigma``
        (default 1% of the node range),
        :math:`\phi(t) = \sum_j w_j\, N(t; \theta_j, \sigma^2)`, on ``grid`` (default
        ``n_grid`` points covering the nodes :math:`\pm 5 \sigma`)."""
        nodes, w = self.measure()
        lo, hi = float(nodes.min()), float(nodes.max())
        if sigma is None:
            sigma = 0.01 * max(hi - lo, abs(hi), 1e-12)
        if not (np.isfinite(sigma) and sigma > 0):
            raise TestbedError(f"sigma must be a positive number, got {sigma!r}")
        if grid is None:
            grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, _int("n_grid", n_grid, 2))
        grid = np.asarray(grid, dtype=float)
        z = (grid[:, None] - nodes[None, :]) / sigma
        phi = (np.exp(-0.5 * z * z) @ w) / (sigma * math.sqrt(2 * math.pi))
        return grid, phi

    def quadrature_w1_bound(self, a=None, b=None) -> np.ndarray:
        r"""Per probe, a rigorous bound on :math:`W_1(\text{Gauss quadrature}, \mu_v)`
        from the Chebyshev-Markov-Stieltjes inequalities (module docstring), for a
        spectrum inside :math:`[a, b]` (default: the extreme nodes widened by their
        residual bounds). Zero for a probe whose Krylov space became invariant (exact
        quadrature)."""
        out = np.zeros(self.n_probes)
        for l in range(self.n_probes):
            m = int(self.steps[l])
            th, w = self.nodes[l, :m], self.weights[l, :m]
            if m < self.n_iter or m >= self.d:        # invariant subspace: exact
                continue
            lo = th[0] - self.residuals[l, 0] if a is None else min(a, th[0])
            hi = th[-1] + self.residuals[l, m - 1] if b is None else max(b, th[-1])
            inner = np.sum(np.diff(th) * np.maximum(w[:-1], w[1:]))
            out[l] = inner + w[0] * (th[0] - lo) + w[-1] * (hi - th[-1])
        return out


def jackson_w1_bound(a, b, m) -> float:
    r"""A priori bound :math:`\pi (b - a) / (4 m)` on :math:`W_1` between an
    :math:`m`-node Gauss quadrature and its measure, for measures on :math:`[a, b]`
    (module docstring)."""
    return math.pi * (b - a) / (4.0 * m)


def slq_sampling_w1(eigenvalues, n_probes, probe="gaussian") -> float:
    r"""The bound :math:`\int \sqrt{\operatorname{Var} F_v(t) / n_v}\, dt` on the
    expected :math:`W_1` between the probe-averaged measure and the true spectral
    measure of a matrix with the given eigenvalues (sphere probes:
    :math:`\operatorname{Var} = 2 F (1 - F) / (d + 2)`; Rademacher: the bound
    :math:`2 F (1 - F) / d`); :math:`n_v` = ``n_probes``."""
    lam = np.sort(np.asarray(eigenvalues, dtype=float))
    d = lam.size
    F = np.arange(1, d) / d                       # on [lam_i, lam_(i+1))
    denom = (d + 2) if _probe_kind(probe) == "gaussian" else d
    return float(np.sum(np.diff(lam) * np.sqrt(2 * F * (1 - F) / (denom * n_probes))))


def slq(L, x, n_probes=10, n_iter=40, seed=0, probe="gaussian", mask=None,
        keep_probes=False) -> SpectralDensity:
    r"""Stochastic Lanczos quadrature estimate of the spectral density of :math:`H(x)`.

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    n_probes : int
        Probes :math:`n_v`.
    n_iter : int
        Lanczos steps :math:`m` per probe (the quadrature is exact to degree
        :math:`2m - 1`).
    seed : int
        The probes' random stream.
    probe : {"gaussian", "rademacher"}
        Uniform on the sphere (via the compiled oracle), or normalised
        :math:`\pm 1` vectors.
    mask : bool array (d,), optional
        Restricts :math:`H` to these coordinates.
    keep_probes : bool
        Store the unit start vectors (n_probes, n) in ``probes``.

    Returns
    -------
    SpectralDensity
    """
    n_probes = _int("n_probes", n_probes)
    n_iter = _int("n_iter", n_iter)
    probe = _probe_kind(probe)
    seed = _seed(seed) % 2**64
    x = L._point(x, finite=True)
    mask = _mask(L, mask)
    n = L.d if mask is None else int(mask.sum())
    k = min(n_iter, n)
    nodes = np.full((n_probes, k), np.nan)
    weights = np.zeros((n_probes, k))
    resid = np.full((n_probes, k), np.nan)
    steps = np.zeros(n_probes, dtype=np.int64)
    seeds = _probe_seeds(seed, n_probes)
    rng = np.random.default_rng(seed)
    kept = np.empty((n_probes, n)) if keep_probes else None
    for l in range(n_probes):
        if probe == "gaussian" and mask is None:      # the oracle's seeded start
            alpha, beta, _ = lanczos(L, x, k, seed=int(seeds[l]))
            if keep_probes:
                kept[l] = _oracle_start(int(seeds[l]), n)
        else:
            v0 = rng.standard_normal(n) if probe == "gaussian" else _probe(rng, n, probe)
            alpha, beta, _ = lanczos(L, x, k, v0=v0, mask=mask)
            if keep_probes:
                kept[l] = v0 / np.linalg.norm(v0)
        theta, s0, res = ritz(alpha, beta)
        m = len(theta)
        nodes[l, :m], weights[l, :m], resid[l, :m] = theta, s0 * s0, res
        steps[l] = m
    return SpectralDensity(nodes, weights, resid, steps, n, k, probe, seed, kept)


def _oracle_start(seed: int, n: int) -> np.ndarray:
    """The unit start vector of ``L.oracle.lanczos(..., seed, ...)`` (stream
    (seed, replica 0), n standard normals, normalised)."""
    from ._engine.rng import fill_normal, seed_state
    state = np.empty(4, np.uint64)
    seed_state(seed, 0, state)
    v = np.empty(n)
    fill_normal(state, v)
    return v / np.linalg.norm(v)


# ----------------------------------------------------------------------------- W1
def wasserstein1(x, wx, y, wy) -> float:
    r""":math:`W_1 = \int |F_a - F_b|\, dt` between two discrete probability measures
    on the line (support points ``x``, ``y`` with weights ``wx``, ``wy``; each
    normalised to total 1)."""
    x, wx = np.asarray(x, float).ravel(), np.asarray(wx, float).ravel()
    y, wy = np.asarray(y, float).ravel(), np.asarray(wy, float).ravel()
    if x.shape != wx.shape or y.shape != wy.shape:
        raise TestbedError("wasserstein1: each support needs one weight per point")
    wx, wy = wx / wx.sum(), wy / wy.sum()
    pts = np.concatenate([x, y])
    mass = np.concatenate([wx, -wy])
    order = np.argsort(pts, kind="mergesort")
    pts, diff = pts[order], np.cumsum(mass[order])
    return float(np.sum(np.abs(diff[:-1]) * np.diff(pts)))
