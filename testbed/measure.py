r"""Measurements at a point: Hessian spectra and the classification of critical points.

For a bound landscape ``L`` and a point :math:`x \in \mathbb{R}^d`, with
:math:`H = \nabla^2 f(x)` and its eigenvalues
:math:`\lambda_1 \le \dots \le \lambda_d`:

- :func:`hessian_spectrum` returns all of them, exactly (dense symmetric
  eigen-decomposition, ``np.linalg.eigvalsh``, of ``L.hessian(x)``);
  :math:`O(d^3)`.
- :func:`top_eigenvalues` returns the :math:`k` largest,
  :math:`\lambda_d \ge \dots \ge \lambda_{d-k+1}`: from the dense decomposition
  for :math:`d \le 64`, else by Lanczos on Hessian-vector products
  (:func:`testbed.curvature.top_eigenvalues`, the one owner of eigenvalue
  estimates), run until every residual bound is below ``tol`` times the largest
  absolute Ritz value; a value it cannot certify is reported with a warning giving
  its bound, never silently.
- :func:`classify` reports, with :math:`s = \text{tol} \cdot \max(1, \max_i
  |\lambda_i|)`, the Morse index :math:`\#\{i : \lambda_i < -s\}` (the number of
  descent directions of curvature), whether the point is degenerate (some
  :math:`|\lambda_i| \le s`: a flat direction, where the second-order test says
  nothing), the gradient norm :math:`\lVert \nabla f(x) \rVert` (zero at a critical
  point; ``classify`` does not check it) and the energy :math:`f(x)`.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .ensemble import check_seed
from .errors import TestbedError


def hessian_spectrum(L, x) -> np.ndarray:
    """All Hessian eigenvalues of ``L`` at ``x``, ascending (exact, dense).

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.

    Returns
    -------
    array (d,)
        The eigenvalues of ``L.hessian(x)``, ascending.

    Raises
    ------
    TestbedError
        If the Hessian is not finite at ``x``.
    """
    H = L.hessian(x)
    if not np.all(np.isfinite(H)):
        raise TestbedError(f"the Hessian of {L.name!r} at x = {np.asarray(x).tolist()} "
                           f"is not finite (x outside the landscape's domain?)")
    return np.linalg.eigvalsh(H)


def top_eigenvalues(L, x, k=1, n_iter=None, seed=0, tol=1e-8) -> np.ndarray:
    r"""The ``k`` largest Hessian eigenvalues of ``L`` at ``x``, descending.

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    k : int
        How many.
    n_iter : int, optional
        The Lanczos steps to start from (they double until converged; at most
        :math:`\min(d, 400)`).
    seed : int
        Seeds the Gaussian start vector of Lanczos.
    tol : float
        The relative accuracy: every residual bound
        :math:`\le \text{tol} \cdot \max_j |\theta_j|` over the Ritz values
        :math:`\theta_j`.

    Returns
    -------
    array (k,)
        Exact for :math:`d \le 64`; else converged Ritz values. Lanczos sees one copy
        of a repeated eigenvalue and stops on an invariant subspace: entries it
        cannot resolve are NaN. A value whose bound is above ``tol`` after the last
        step comes with a warning stating the bound.
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
    r"""Index, degeneracy, spectrum, gradient norm and energy of ``L`` at ``x``.

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    tol : float
        Relative threshold, :math:`\ge 0`: eigenvalues with
        :math:`|\lambda_i| \le s = \text{tol} \cdot \max(1, \max_i |\lambda_i|)`
        count as zero.

    Returns
    -------
    dict
        ``index`` (:math:`\#\{i : \lambda_i < -s\}`), ``degenerate`` (some
        :math:`|\lambda_i| \le s`), ``eigenvalues`` (ascending), ``grad_norm``
        (:math:`\lVert \nabla f(x) \rVert`, not checked to be zero) and ``energy``
        (:math:`f(x)`).
    """
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
