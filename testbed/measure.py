"""Measurements at a point: Hessian spectra and the classification of critical points.

For a bound landscape L and a point x in R^d, with H = Hess f(x) and its eigenvalues
lambda_1 <= ... <= lambda_d:

- :func:`hessian_spectrum` returns all of them, exactly (dense symmetric
  eigen-decomposition, ``np.linalg.eigvalsh``, of L.hessian(x)); O(d^3).
- :func:`top_eigenvalues` returns the k largest, lambda_d >= ... >= lambda_{d-k+1}:
  from the dense decomposition for d <= 64, else by Lanczos on Hessian-vector
  products (:func:`testbed.curvature.top_eigenvalues`, the one owner of eigenvalue
  estimates), run until every residual bound is below ``tol`` times the largest
  |Ritz value|; a value it cannot certify is reported with a warning giving its
  bound, never silently.
- :func:`classify` reports, with s = tol * max(1, max_i |lambda_i|), the Morse index
  #{i : lambda_i < -s} (the number of descent directions of curvature), whether
  the point is degenerate (some |lambda_i| <= s: a flat direction, where the
  second-order test says nothing), the gradient norm |grad f(x)| (zero at a
  critical point; classify does not check it) and the energy f(x).
"""
from __future__ import annotations

import math
import numbers
import warnings

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


def top_eigenvalues(L, x, k=1, n_iter=None, seed=0, tol=1e-8) -> np.ndarray:
    """The ``k`` largest Hessian eigenvalues of ``L`` at ``x``, descending.

    Parameters
    ----------
    L : Landscape (bound); x : array (d,)
    k : int, how many
    n_iter : int, optional; the Lanczos steps to start from (they double until
        converged; at most min(d, 400))
    seed : int, the seeded Gaussian start of Lanczos
    tol : float, the relative accuracy: every residual bound <= tol * max|Ritz value|

    Returns
    -------
    array (k,): exact for d <= 64; else converged Ritz values. Lanczos sees one copy of
    a repeated eigenvalue and stops on an invariant subspace: entries it cannot
    resolve are NaN. A value whose bound is above ``tol`` after max_iter steps comes
    with a warning stating the bound.
    """
    from .curvature import top_eigenvalues as lanczos_top
    seed = check_seed(seed)
    x = L._point(x, finite=True)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise TestbedError(f"k must be a positive integer, got {k!r}")
    if L.d <= 64:
        return lanczos_top(L, x, k, dense=True).values
    eig = lanczos_top(L, x, k, n_iter=None, tol=tol, seed=seed,
                      max_iter=max(n_iter or 0, min(L.d, 400)),
                      start_iter=n_iter)
    if not eig.converged:
        warnings.warn(f"top eigenvalues of {L.name!r} not converged to tol = {tol:g} in "
                      f"{eig.n_iter} Lanczos steps: error bounds {eig.bounds.tolist()}",
                      stacklevel=2)
    return eig.values


def classify(L, x, tol=1e-8) -> dict:
    """Index, degeneracy, spectrum, gradient norm and energy of ``L`` at ``x``
    (see the module docstring for the definitions and the tolerance)."""
    if (isinstance(tol, bool) or not isinstance(tol, numbers.Real)
            or not (math.isfinite(tol) and tol >= 0)):
        raise TestbedError(f"tol must be a non-negative number, got {tol!r}")
    from .critical import classify_spectra
    x = L._point(x, finite=True)
    w = hessian_spectrum(L, x)
    index, degenerate = classify_spectra(w, tol)
    return {"index": int(index[0]),
            "degenerate": bool(degenerate[0]),
            "eigenvalues": w,
            "grad_norm": float(np.linalg.norm(L.grad(x))),
            "energy": L.value(x)}

__all__ = ["classify", "hessian_spectrum", "top_eigenvalues"]
