"""Measurements at a point: Hessian spectra and the classification of critical points.

For a bound landscape L and a point x in R^d, with H = Hess f(x) and its eigenvalues
lambda_1 <= ... <= lambda_d:

- :func:`hessian_spectrum` returns all of them, exactly (dense symmetric
  eigen-decomposition, ``np.linalg.eigvalsh``, of L.hessian(x)); O(d^3).
- :func:`top_eigenvalues` returns the k largest, lambda_d >= ... >= lambda_{d-k+1}.
  For d <= max(64, n_iter) they come from the dense decomposition; above, from
  ``n_iter`` steps of Lanczos on exact Hessian-vector products v -> Hv (full
  reorthogonalisation, seeded Gaussian start): the Ritz values of the tridiagonal
  T = V^T H V. Extreme eigenvalues converge first, at a rate set by their gap to the
  rest of the spectrum (Kaniel-Paige-Saad: error ~ exp(-4 n sqrt(gap / spread)));
  without a gap they are lower bounds, not the truth.
- :func:`classify` reports, with s = tol * max(1, max_i |lambda_i|), the Morse index
  #{i : lambda_i < -s} (the number of descent directions of curvature), whether
  the point is degenerate (some |lambda_i| <= s: a flat direction, where the
  second-order test says nothing), the gradient norm |grad f(x)| (zero at a
  critical point; classify does not check it) and the energy f(x).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .ensemble import check_seed
from .errors import TestbedError


def hessian_spectrum(L, x) -> np.ndarray:
    """All Hessian eigenvalues of ``L`` at ``x``, ascending (exact, dense)."""
    H = L.hessian(x)
    if not np.all(np.isfinite(H)):
        raise TestbedError(f"the Hessian of {L.name!r} at x = {np.asarray(x).tolist()} "
                           f"is not finite (x outside the landscape's domain?)")
    return np.linalg.eigvalsh(H)


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TestbedError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def top_eigenvalues(L, x, k=1, n_iter=30, seed=0) -> np.ndarray:
    """The ``k`` largest Hessian eigenvalues of ``L`` at ``x``, descending: dense when
    d <= max(64, n_iter), else Ritz values of ``n_iter`` Lanczos steps on exact
    Hessian-vector products, started from the seeded vector ``seed``. Lanczos sees one
    copy of a repeated eigenvalue and stops early on an invariant subspace: entries it
    could not resolve are NaN."""
    k = _positive_int("k", k)
    n_iter = _positive_int("n_iter", n_iter)
    seed = check_seed(seed)
    x = L._point(x, finite=True)
    if k > L.d:
        raise TestbedError(f"k = {k} eigenvalues asked of a {L.d}-dimensional Hessian")
    if k > n_iter and L.d > max(64, n_iter):
        raise TestbedError(f"Lanczos with n_iter = {n_iter} steps gives at most {n_iter} "
                           f"Ritz values; raise n_iter to at least k = {k}")
    return L.oracle.top_eigenvalues(x, L.p, k, n_iter, seed)


def classify(L, x, tol=1e-8) -> dict:
    """Index, degeneracy, spectrum, gradient norm and energy of ``L`` at ``x``
    (see the module docstring for the definitions and the tolerance)."""
    if (isinstance(tol, bool) or not isinstance(tol, numbers.Real)
            or not (math.isfinite(tol) and tol >= 0)):
        raise TestbedError(f"tol must be a non-negative number, got {tol!r}")
    x = L._point(x, finite=True)
    w = hessian_spectrum(L, x)
    s = tol * max(1.0, float(np.max(np.abs(w))))
    return {"index": int(np.sum(w < -s)),
            "degenerate": bool(np.any(np.abs(w) <= s)),
            "eigenvalues": w,
            "grad_norm": float(np.linalg.norm(L.grad(x))),
            "energy": L.value(x)}
