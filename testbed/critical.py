r"""Critical points of every index: search, polish, classify, deduplicate.

::

    found = testbed.critical.find(L, X0, method="newton", iters=100, max_step=0.25)
    found.energy, found.index, found.alpha, found.eigenvalues

All starts ``X0`` (B, d) advance together; each iteration evaluates the gradients and
Hessians of all live points at once (a landscape's kernel module may offer a batched
evaluator ``batch(p, d)``, as ``functions/gaussian_fields.py`` does: one BLAS product
for all Hessians, in column blocks; otherwise the compiled per-point oracle is called
point by point).
The methods, with :math:`g = \nabla f` and
:math:`H = \nabla^2 f = Q \operatorname{diag}(\lambda) Q^T` at the current point:

- ``newton``: :math:`x \leftarrow x - H^+ g`. The step solves :math:`H s = g` by LU;
  where :math:`H` is singular or nearly so (the solve fails, or
  :math:`\lVert s \rVert > \lVert g \rVert / (\text{rcond}\, \lVert H \rVert_F)`,
  which can only happen when some :math:`|\lambda_i| < \text{rcond}\, \lVert H
  \rVert_F`), it is recomputed as the pseudo-inverse step (eigen-directions with
  :math:`|\lambda_i| \le \text{rcond} \max_j |\lambda_j|` dropped). This is the
  documented safeguard for a singular Hessian: never a NaN step. Newton is
  attracted to critical points of every index (Dauphin et al. 2014).
- ``lm``: Levenberg-Marquardt on :math:`\phi = \lVert g \rVert^2 / 2`
  (:math:`\nabla \phi = H g`, Gauss-Newton matrix :math:`H^2`):
  :math:`s = -(H^2 + \mu I)^{-1} H g`, accepted when :math:`\lVert g \rVert`
  decreases (then :math:`\mu \leftarrow \mu / 3`), else :math:`\mu \leftarrow 3 \mu`.
  Minima of :math:`\phi` with :math:`g \ne 0` exist; they are not reported (the
  gradient test below rejects them).
- ``sfn``: saddle-free Newton,
  :math:`x \leftarrow x - Q \operatorname{diag}(1 / (|\lambda| + \text{damping}))
  Q^T g`: repelled by saddles, it converges to minima.
- ``index``: eigenvector following towards index :math:`k` (``target``, one per
  start): :math:`x \leftarrow x - Q \operatorname{diag}(\sigma_i / (|\lambda_i| +
  \text{damping})) Q^T g` with :math:`\sigma_i = -1` for the :math:`k` lowest
  eigen-directions (ascended) and :math:`+1` for the others. Near a critical point
  of index :math:`k` it is exactly Newton, so those points attract and no other
  does; :math:`k = 0` is ``sfn``.
- ``gd``: :math:`x \leftarrow x - \eta g`.

Every step is capped at length ``max_step`` (a trust radius; ``inf`` for none).
After the search, points with :math:`\lVert g \rVert <` ``polish_below`` get up to
``polish`` uncapped Newton iterations; a point is *converged* when
:math:`\lVert g \rVert <` ``gtol``. Converged points are classified exactly as
:func:`testbed.measure.classify` does (dense eigenvalues of the Hessian; with
:math:`s = \text{tol} \max(1, \max_i |\lambda_i|)`, index
:math:`= \#\{i : \lambda_i < -s\}`, degenerate if some :math:`|\lambda_i| \le s`) and
deduplicated: a point within ``dedup`` (Euclidean) of one already kept, scanning in
order of energy, is dropped.

Threads: every iteration's work is cut into fixed tasks that a pool of ``threads``
Python threads (default: Numba's thread count) shares, each with single-threaded BLAS:
chunks of points for evaluations and steps (:data:`ROWS`), and the batched evaluator's
own blocks (all points times one block of its product table, so the table is read
once per iteration). The tasks do not depend on the thread count, so neither do the
results; on a shared machine the pool degrades gracefully (a busy core takes fewer
tasks) where multi-threaded BLAS spin-waits.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._engine import blas as _blas
from .errors import TestbedError
from .rules._linalg import newton_steps, spectral_steps

#: The search methods of :func:`search` and :func:`find`.
METHODS = ("newton", "lm", "sfn", "index", "gd")

#: Points per task when the threads share per-point work: at least ROWS, and at least
#: CHUNK_WORK / d^2 in dimension d (small problems: fewer, larger tasks). Fixed by d, so
#: the results do not depend on the thread count.
ROWS = 8
CHUNK_WORK = 2**14

_SERIAL = types.SimpleNamespace(map=map)


def _by_rows(pool, fn, *arrays):
    """``fn`` over chunks of rows of ``arrays`` (the first is (B, d); see ROWS), run by
    ``pool``; the results (arrays or tuples of arrays) stacked in row order."""
    n, d = arrays[0].shape[:2]
    rows = max(ROWS, CHUNK_WORK // max(1, d * d))
    if n <= rows:
        return fn(*arrays)
    parts = list(pool.map(lambda r: fn(*(a[r:r + rows] for a in arrays)),
                          range(0, n, rows)))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)


def _evaluate(ev, name, X, pool):
    """``ev.value_grad`` or ``ev.value_grad_hessian`` at the rows of X: split by the
    evaluator itself where it takes a pool (``pooled``), else in chunks of rows."""
    if getattr(ev, "pooled", False):
        return getattr(ev, name)(X, pool)
    return _by_rows(pool, getattr(ev, name), X)

# -- evaluators --------------------------------------------------------------------------

class _PointOracle:
    """The batched interface over a landscape's compiled per-point kernels."""

    def __init__(self, L, p):
        self.o, self.p, self.d = L.oracle, p, L.d

    def value_grad(self, X):
        F = np.empty(len(X))
        G = np.empty_like(X)
        for r in range(len(X)):
            F[r] = self.o.value_grad(np.ascontiguousarray(X[r]), self.p, G[r])
        return F, G

    def value_grad_hessian(self, X):
        F, G = self.value_grad(X)
        H = np.empty((len(X), self.d, self.d))
        for r in range(len(X)):
            self.o.hessian(np.ascontiguousarray(X[r]), self.p, H[r])
        return F, G, H


def evaluator(L, p=None):
    """A batched evaluator of the bound landscape ``L``.

    Parameters
    ----------
    L : Landscape
        Bound.
    p : array, optional
        Landscape parameter vector (default ``L.p``).

    Returns
    -------
    object
        With ``value_grad(X) -> (F, G)`` and ``value_grad_hessian(X) -> (F, G, H)``
        over the rows of ``X``: the landscape's optional batched kernel
        ``batch(p, d)`` (see :class:`testbed.Landscape`) where its kernel module
        defines one, else the compiled oracle point by point.
    """
    L._require_bound()
    p = L.p if p is None else p
    batch = getattr(L.oracle.KERNELS, "batch", None)
    return batch(p, L.d) if batch is not None else _PointOracle(L, p)


# -- steps -------------------------------------------------------------------------------

def _cap(S, max_step):
    if math.isinf(max_step):
        return S
    n = np.linalg.norm(S, axis=1, keepdims=True)
    return S * np.minimum(1.0, max_step / np.maximum(n, 1e-300))


# -- the search ---------------------------------------------------------------------------

@dataclasses.dataclass
class Search:
    """End points of a search, one row per start: ``x`` (B, d), ``energy``,
    ``grad_norm``, ``converged`` (gradient norm below ``gtol``) and ``iterations``
    (B,), and the number of Hessian evaluations."""
    x: np.ndarray
    energy: np.ndarray
    grad_norm: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    hessian_evals: int


def _lm_steps(H, G, mu):
    M = H @ H
    diag = np.arange(H.shape[1])
    M[:, diag, diag] += mu[:, None]
    return np.linalg.solve(M, np.einsum("rij,rj->ri", H, G)[..., None])[..., 0]


def _step(method, H, G, target, damping, rcond, mu, pool):
    """The step of ``method`` (not capped) at every row, in chunks of rows."""
    if method == "newton":
        return -_by_rows(pool, lambda h, g: newton_steps(h, g, rcond), H, G)
    if method == "lm":
        return -_by_rows(pool, _lm_steps, H, G, mu)
    if target is None:                    # sfn: ascend no direction
        target = np.zeros(len(G), np.int64)
    return -_by_rows(pool, lambda h, g, t: spectral_steps(h, g, t, damping, rcond),
                     H, G, target)


def _advance(ev, X, method, iters, max_step, gtol, eta, damping, rcond, target, mu0,
               polish, polish_below, pool):
    """Advance the starts X, the work of each iteration shared by ``pool``; returns
    (X, f, |g|, iterations, Hessians)."""
    X = np.array(X, dtype=float, copy=True)
    B, d = X.shape
    live = np.ones(B, bool)
    its = np.zeros(B, np.int64)
    n_hess = 0
    F, G = _evaluate(ev, "value_grad", X, pool)
    gn = np.linalg.norm(G, axis=1)
    mu = np.full(B, float(mu0))
    H = np.empty((B, d, d)) if method == "lm" else None
    stale = np.ones(B, bool)              # lm: Hessian not yet evaluated at X
    fresh = True                          # F, G are those at X for every start
    for _ in range(iters):
        live &= np.isfinite(gn)
        idx = np.flatnonzero(live & (gn >= gtol)) if fresh else np.flatnonzero(live)
        if idx.size == 0:
            break
        if method == "gd":
            its[idx] += 1
            X[idx] -= _cap(eta * G[idx], max_step)
            F[idx], G[idx] = _evaluate(ev, "value_grad", X[idx], pool)
            gn[idx] = np.linalg.norm(G[idx], axis=1)
            continue
        if method == "lm":
            new = idx[stale[idx]]
            if new.size:
                F[new], G[new], H[new] = _evaluate(ev, "value_grad_hessian", X[new], pool)
                n_hess += new.size
                stale[new] = False
            Hi, Gi = H[idx], G[idx]
        else:
            # one evaluation per iteration: f, g and H at the current points
            F[idx], Gi, Hi = _evaluate(ev, "value_grad_hessian", X[idx], pool)
            G[idx] = Gi
            n_hess += idx.size
            gn[idx] = np.linalg.norm(Gi, axis=1)
            fresh = True
            ok = np.isfinite(gn[idx]) & (gn[idx] >= gtol)
            live[idx[~np.isfinite(gn[idx])]] = False
            if not ok.all():              # copy the Hessians only where a start stopped
                idx, Gi, Hi = idx[ok], Gi[ok], Hi[ok]
            if idx.size == 0:
                break
        its[idx] += 1
        S = _cap(_step(method, Hi, Gi, None if target is None else target[idx], damping,
                       rcond, mu[idx], pool), max_step)
        if method == "lm":
            Ft, Gt = _evaluate(ev, "value_grad", X[idx] + S, pool)
            gt = np.linalg.norm(Gt, axis=1)
            better = gt < gn[idx]
            acc = idx[better]
            X[acc] += S[better]
            F[acc], G[acc], gn[acc] = Ft[better], Gt[better], gt[better]
            stale[acc] = True
            mu[acc] /= 3.0
            mu[idx[~better]] *= 3.0
        else:
            X[idx] += S
            fresh = False                 # g at the moved points is evaluated next
    if not fresh:
        moved = np.flatnonzero(live)
        if moved.size:
            F[moved], G[moved] = _evaluate(ev, "value_grad", X[moved], pool)
            gn[moved] = np.linalg.norm(G[moved], axis=1)
    # polish: uncapped Newton from points already near a critical point
    for _ in range(polish):
        idx = np.flatnonzero((gn < polish_below) & (gn >= gtol))
        if idx.size == 0:
            break
        _, Gi, Hi = _evaluate(ev, "value_grad_hessian", X[idx], pool)
        n_hess += idx.size
        X[idx] += _step("newton", Hi, Gi, None, damping, rcond, None, pool)
        F[idx], G[idx] = _evaluate(ev, "value_grad", X[idx], pool)
        gn[idx] = np.linalg.norm(G[idx], axis=1)
    gn = np.where(np.isfinite(gn), gn, np.inf)
    return X, F, gn, its, n_hess


def search(L, X0, method="newton", iters=100, *, max_step=math.inf, gtol=1e-10, eta=None,
           damping=0.0, rcond=1e-12, target=None, mu0=1.0, polish=10, polish_below=1e-3,
           threads=None, p=None) -> Search:
    r"""Run ``method`` from every row of ``X0``, then polish; one row per start.

    Parameters
    ----------
    L : Landscape
        Bound.
    X0 : array (B, d)
        Starting points.
    method : str
        One of :data:`METHODS` (the update rules are in the module docstring).
    iters : int
        At most this many iterations per start; a start stops once
        :math:`\lVert g \rVert <` ``gtol``.
    max_step : float
        Trust radius: every step is capped at this length (``inf``: no cap).
    gtol : float
        Gradient norm below which a point is converged.
    eta : float, optional
        Step size, required by ``gd``.
    damping : float
        Added to :math:`|\lambda_i|` by ``sfn`` and ``index``.
    rcond : float
        Eigen-directions with :math:`|\lambda_i| \le \text{rcond} \max_j |\lambda_j|`
        are dropped (pseudo-inverse).
    target : int or array (B,), optional
        The index each start converges to, required by ``index``.
    mu0 : float
        The initial Levenberg-Marquardt damping :math:`\mu` (``lm``).
    polish, polish_below : int, float
        Up to ``polish`` uncapped Newton iterations for points with
        :math:`\lVert g \rVert <` ``polish_below``.
    threads : int, optional
        Python threads sharing each iteration's work (default: Numba's thread
        count); the results do not depend on it.
    p : array, optional
        Landscape parameter vector (default ``L.p``).

    Returns
    -------
    Search

    Raises
    ------
    TestbedError
        For an unknown method, starts of the wrong shape or not finite, or a
        parameter outside its domain.
    """
    if method not in METHODS:
        raise TestbedError(f"unknown method {method!r}; choose from {METHODS}")
    L._require_bound()
    X0 = np.array(X0, dtype=float, ndmin=2)
    if X0.ndim != 2 or X0.shape[1] != L.d:
        raise TestbedError(f"X0 must have shape (B, {L.d}), got {X0.shape}")
    if not np.all(np.isfinite(X0)):
        raise TestbedError("X0 contains NaN or inf")
    if not (max_step > 0):
        raise TestbedError(f"max_step must be positive (inf for no cap), got {max_step!r}")
    if not (gtol > 0 and math.isfinite(gtol)):
        raise TestbedError(f"gtol must be a positive number, got {gtol!r}")
    if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 0:
        raise TestbedError(f"iters must be a non-negative integer, got {iters!r}")
    if method == "gd" and not (eta is not None and eta > 0):
        raise TestbedError("method 'gd' needs a positive step size eta=...")
    if damping < 0 or rcond < 0:
        raise TestbedError("damping and rcond must be non-negative")
    B = X0.shape[0]
    if method == "index":
        if target is None:
            raise TestbedError("method 'index' needs target=k (the index to converge to), "
                               "a scalar or one per start")
        target = np.broadcast_to(np.asarray(target, dtype=np.int64), (B,)).copy()
        if np.any((target < 0) | (target > L.d)):
            raise TestbedError(f"target indices must lie in [0, d = {L.d}]")
    import numba
    n = numba.get_num_threads() if threads is None else int(threads)
    n = max(1, min(n, B))
    ev = evaluator(L, p)
    if hasattr(ev, "prepare"):
        ev.prepare()                           # shared tables, built before the threads
    pool = ThreadPoolExecutor(n) if n > 1 else contextlib.nullcontext(_SERIAL)
    with _blas.limit(1), pool as pool:
        X, F, gn, its, n_hess = _advance(
            ev, X0, method, int(iters), float(max_step), float(gtol), eta,
            float(damping), float(rcond), target, mu0, polish, polish_below, pool)
    return Search(x=X, energy=F, grad_norm=gn, converged=gn < gtol, iterations=its,
                  hessian_evals=int(n_hess))


# -- classification and deduplication --------------------------------------------------------

@dataclasses.dataclass
class Found:
    r"""Distinct critical points: location ``x``, ``energy``, Morse ``index`` (count)
    and index fraction ``alpha`` :math:`= \text{index} / d`, ``degenerate``, Hessian
    ``eigenvalues`` (ascending), ``grad_norm``, and the ``start`` that found each.
    ``n_starts`` / ``n_converged`` count the search."""
    x: np.ndarray
    energy: np.ndarray
    index: np.ndarray
    alpha: np.ndarray
    degenerate: np.ndarray
    eigenvalues: np.ndarray
    grad_norm: np.ndarray
    start: np.ndarray
    n_starts: int
    n_converged: int
    hessian_evals: int

    def __len__(self):
        return self.x.shape[0]


def classify_spectra(W, tol=1e-8):
    r"""Morse index and degeneracy from rows of ascending eigenvalues.

    The rule of :func:`testbed.measure.classify`: with
    :math:`s = \text{tol} \max(1, \max_i |\lambda_i|)` per row, index
    :math:`= \#\{i : \lambda_i < -s\}`, degenerate if some :math:`|\lambda_i| \le s`.

    Parameters
    ----------
    W : array (B, d) or (d,)
        Eigenvalues, ascending along each row.
    tol : float
        Relative threshold.

    Returns
    -------
    index : int array (B,)
    degenerate : bool array (B,)
    """
    W = np.atleast_2d(W)
    s = tol * np.maximum(1.0, np.max(np.abs(W), axis=1))
    return (np.sum(W < -s[:, None], axis=1).astype(np.int64),
            np.any(np.abs(W) <= s[:, None], axis=1))


def deduplicate(X, energy, radius):
    """Indices of the points kept, ascending: scanning by increasing energy, a point
    within ``radius`` (Euclidean) of one already kept is dropped.

    Parameters
    ----------
    X : array (B, d)
    energy : array (B,)
    radius : float

    Returns
    -------
    int array
    """
    order = np.argsort(energy, kind="stable")
    kept = []
    for i in order:
        if kept and np.min(np.linalg.norm(X[kept] - X[i], axis=1)) < radius:
            continue
        kept.append(i)
    return np.array(sorted(kept), dtype=np.int64)


def classify(L, X, tol=1e-8, p=None):
    """Energies, gradient norms and Hessian spectra at the rows of ``X``, classified.

    Parameters
    ----------
    L : Landscape
        Bound.
    X : array (B, d)
    tol : float
        Relative eigenvalue threshold (:func:`classify_spectra`).
    p : array, optional
        Landscape parameter vector (default ``L.p``).

    Returns
    -------
    energy, grad_norm : array (B,)
    eigenvalues : array (B, d)
        Ascending.
    index, degenerate : array (B,)
        As :func:`classify_spectra` gives them.
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    if len(X) == 0:
        z = np.zeros(0)
        return z, z, np.zeros((0, L.d)), z.astype(np.int64), z.astype(bool)
    ev = evaluator(L, p)
    with _blas.limit(1):
        F, G, H = ev.value_grad_hessian(X)
        W = np.linalg.eigvalsh(H)
    index, degenerate = classify_spectra(W, tol)
    return F, np.linalg.norm(G, axis=1), W, index, degenerate


def find(L, X0, method="newton", iters=100, *, dedup=None, tol=1e-8, p=None, **kw) -> Found:
    r"""Critical points found from many starts, deduplicated and classified.

    Parameters
    ----------
    L : Landscape
        Bound.
    X0 : array (N, d)
        Starting points.
    method : str
        One of :data:`METHODS` (Newton, Levenberg-Marquardt, saddle-free Newton,
        eigenvector following to a target index).
    iters : int
        Steps per start.
    dedup : float, optional
        Points closer than this are one (default :math:`10^{-4} \ell` where the
        landscape has a length scale :math:`\ell`, else :math:`10^{-4}`).
    tol : float
        Relative eigenvalue threshold of the classification (:func:`classify_spectra`).
    p : array, optional
        Landscape parameter vector (default ``L.p``).
    **kw
        Passed to :func:`search` (max_step, gtol, eta, damping, rcond, target).

    Returns
    -------
    Found
        Points, energies, Morse indices (and :math:`\alpha = \text{index} / d`),
        degeneracy, Hessian spectra, gradient norms, the start each came from, and
        the counts of starts, converged searches and Hessian evaluations.
    """
    res = search(L, X0, method, iters, p=p, **kw)
    ok = np.flatnonzero(res.converged)
    if dedup is None:
        dedup = 1e-4 * float(L.values.get("ell", 1.0))
    keep = ok[deduplicate(res.x[ok], res.energy[ok], dedup)] if ok.size else ok
    F, gn, W, index, degenerate = classify(L, res.x[keep], tol, p)
    return Found(x=res.x[keep], energy=F, index=index, alpha=index / L.d,
                 degenerate=degenerate, eigenvalues=W, grad_norm=gn, start=keep,
                 n_starts=len(X0), n_converged=int(ok.size),
                 hessian_evals=res.hessian_evals)

__all__ = ["Found", "METHODS", "Search", "classify", "classify_spectra", "deduplicate",
           "evaluator", "find", "newton_steps", "search", "spectral_steps"]
