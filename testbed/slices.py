r"""Loss-landscape slices in the conventions of Li, Xu, Taylor, Studer & Goldstein
(2018), "Visualizing the Loss Landscape of Neural Nets" (NeurIPS; code
tomgoldstein/loss-landscape, read at HEAD: net_plotter.py, plot_surface.py,
projection.py, hess_vec_prod.py, plot_2D.py), for any landscape.

**Directions.** A random direction is a standard Gaussian vector drawn for every
parameter (``torch.randn`` per tensor there; one NumPy stream in block order here),
then normalised block by block (``normalize_directions_for_weights``):

- a block with at most one dimension (bias, normalisation gamma/beta; here also any
  block of kind "bias" or "norm") is set to 0 with ``ignore='biasbn'`` (our default,
  as design.md asks) and otherwise set EQUAL TO THE WEIGHTS (``d.copy_(w)``);
- any other block (a weight matrix (out, in), row-major, so a Li et al. "filter" is
  one row = the incoming weights of one neuron) by ``norm``, with :math:`\theta` the
  weights, :math:`d_i` and :math:`\theta_i` row :math:`i` of the block and
  :math:`\lVert \cdot \rVert` the Frobenius norm:

  =============  ===============================================================
  ``'filter'``   each row :math:`d_i \leftarrow d_i \lVert \theta_i \rVert /
                 (\lVert d_i \rVert + 10^{-10})` (the paper's
                 :math:`d_{ij} \leftarrow d_{ij} \lVert \theta_{ij} \rVert /
                 \lVert d_{ij} \rVert`)
  ``'layer'``    the block :math:`d \leftarrow d \lVert \theta \rVert / \lVert d \rVert`
  ``'weight'``   :math:`d \leftarrow d \odot \theta` (entrywise)
  ``'dfilter'``  each row :math:`d_i \leftarrow d_i / (\lVert d_i \rVert + 10^{-10})`
                 (the authors' code has a typo, ``d.ngorm()``, that makes this
                 option raise)
  ``'dlayer'``   the block :math:`d \leftarrow d / \lVert d \rVert`
  ``None``       unchanged (their command line's default ``--xnorm ''``)
  =============  ===============================================================

The layout comes from :func:`testbed.nets.layout.layout` for network landscapes;
any other landscape is one block of shape (1, d) (one "filter": ``'filter'`` scales
the whole direction to :math:`\lVert \theta \rVert`). Pass ``blocks=`` to override.

**Slices.** 1-D: :math:`f(\theta + a d)` for :math:`a` in a range; linear
interpolation between two solutions :math:`\theta(a) = (1 - a) \theta + a \theta'`
(Goodfellow et al. 2015; Li et al.'s target direction :math:`\theta' - \theta`;
computed in this form, so :math:`a = 0` and :math:`1` reproduce both endpoints
exactly). 2-D: :math:`f(a, b) = f(\theta + a d_1 + b d_2)`, stored as
``train_loss[j, i]`` :math:`= f(x_i, y_j)` (rows follow :math:`y`: the array
``plt.contour(X, Y, Z)`` expects with ``X, Y = np.meshgrid(x, y)``, as plot_2D.py
does; Li et al.'s files declare shape (len(x), len(y)) but fill it in this order, so
the two agree for square grids). Ranges use their grammar ``'min:max:num'`` (default
``'-1:1:51'``). Grid points are evaluated in threads (the compiled kernels release
the GIL).

**Non-convexity.** (i) Li et al.'s map :math:`|\lambda_{\min} / \lambda_{\max}|` of
the Hessian at every grid point (hess_vec_prod.min_max_hessian_eigs; heatmap with
vmin 0, vmax 0.5). Their Hessian is restricted to parameters with more than one
dimension (``hessian='weights'``, our default; ``'full'`` for all). They get
:math:`\lambda_{\max}` from ARPACK 'LM' (largest magnitude) at tol
:math:`10^{-2}` and :math:`\lambda_{\min}` from a second run on
:math:`H - 0.51 \lambda_{\max} I`; we take both algebraic extremes from one Lanczos
run with certified residuals (:func:`testbed.curvature.extreme_eigenvalues`).
(ii) The 2-D slice's own curvature: at each interior grid point the
central-difference Hessian of the slice
:math:`\begin{pmatrix} S_{xx} & S_{xy} \\ S_{xy} & S_{yy} \end{pmatrix}` (error
:math:`O(h^2)`); a point is non-convex when its smaller eigenvalue is negative
(generically: :math:`S_{xx} < 0` or :math:`\det < 0`), and the non-convex fraction is
the share of interior points that are.

**Trajectories** (projection.py, plot_trajectory.py): the rows
:math:`\theta_t - \theta_{\text{final}}` (bias/norm entries zeroed with
``ignore='biasbn'``), PCA (centred, as sklearn's ``PCA(n_components=2)``, components
sign-fixed so that their largest entry is positive), and each
:math:`\theta_t - \theta_{\text{final}}` projected on the two unit directions
(``'cos'``: :math:`x = \langle d, u_1 \rangle / \lVert u_1 \rVert`; ``'lstsq'``:
least squares in the plane).

**Export** (:func:`save`): an ``.npz`` always and an HDF5 file when h5py is
installed, with Li et al.'s key names: ``xcoordinates``, ``ycoordinates``,
``train_loss`` (``train_acc`` if given), ``min_eig``, ``max_eig``, ``xdirection``,
``ydirection``, ``proj_xcoord``, ``proj_ycoord``, ``explained_variance_ratio_``,
``singular_values_``, ``explained_variance_``.
"""
from __future__ import annotations

import collections
import concurrent.futures
import math
import numbers
import os
from pathlib import Path

import numpy as np

from .errors import TestbedError

__all__ = ["Piece", "parse_range", "layout_of", "weight_mask", "random_direction", "normalize",
           "target_direction", "surface", "interpolate", "hessian_eig_map",
           "slice_curvature", "pca_directions", "project_trajectory",
           "trajectory_from_result", "save", "load", "NORMS"]

#: The direction normalisations of :func:`normalize`.
NORMS = ("filter", "layer", "weight", "dfilter", "dlayer", None)
_EPS = 1e-10           # Li et al.'s guard in d.norm() + 1e-10
#: A block of the parameter vector: ``x[offset:offset + size]`` reshaped to ``shape``;
#: ``kind`` is ``"weight"``, ``"bias"`` or ``"norm"``.
Piece = collections.namedtuple("Piece", "name offset size shape kind")


# ----------------------------------------------------------------------------- ranges
def parse_range(spec, name="x") -> np.ndarray:
    """Grid coordinates from a range.

    Parameters
    ----------
    spec : str, tuple or array
        Li et al.'s grammar ``'min:max:num'`` (``np.linspace(min, max, num)``,
        ``min < max``, integer ``num >= 2``), a ``(min, max, num)`` tuple, or an
        explicit increasing array.
    name : str
        The range's name in error messages.

    Returns
    -------
    array
    """
    grammar = "use 'min:max:num' with min < max and an integer num >= 2, e.g. '-1:1:51'"
    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) != 3:
            raise TestbedError(f"range {name}={spec!r} must have three fields; {grammar}")
        try:
            lo, hi, num = (float(s) for s in parts)
        except ValueError:
            raise TestbedError(f"range {name}={spec!r} has a field that is not a number; "
                               f"{grammar}") from None
    elif isinstance(spec, tuple) and len(spec) == 3:
        lo, hi, num = (float(v) for v in spec)
    else:
        arr = np.asarray(spec, dtype=float)
        if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)) \
                or not np.all(np.diff(arr) > 0):
            raise TestbedError(f"range {name} must be 'min:max:num' or an increasing array "
                               f"of at least 2 finite coordinates; got {spec!r}")
        return arr
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise TestbedError(f"range {name}={spec!r} has a non-finite bound; {grammar}")
    if num != int(num) or num < 2:
        raise TestbedError(f"range {name}={spec!r}: num = {num:g} must be an integer >= 2; "
                           f"{grammar}")
    if lo >= hi:
        raise TestbedError(f"range {name}={spec!r}: min = {lo:g} must be below "
                           f"max = {hi:g}; {grammar}")
    return np.linspace(lo, hi, int(num))


# ----------------------------------------------------------------------------- layout
def layout_of(L, blocks=None) -> list:
    """The parameter pieces (``name, offset, size, shape, kind``) of ``L`` (a
    landscape, or the dimension d): ``blocks`` if given, the network layout for a
    network landscape, else one (1, d) weight block."""
    d = int(L) if isinstance(L, numbers.Integral) else L.d
    if blocks is not None:
        pieces = list(blocks)
    else:
        pieces = None
        if not isinstance(L, numbers.Integral):
            try:
                from .nets.layout import layout
                pieces = layout(L)
            except (ImportError, TestbedError):
                pieces = None
        if pieces is None:
            pieces = [Piece("x", 0, d, (1, d), "weight")]
    end = 0
    for b in sorted(pieces, key=lambda b: b.offset):
        if b.offset < end or b.size != int(np.prod(b.shape)) or b.offset + b.size > d:
            raise TestbedError(f"block {b.name!r} (offset {b.offset}, size {b.size}, shape "
                               f"{b.shape}) overlaps another or does not fit in d = {d}")
        end = b.offset + b.size
    return pieces


def _bias_like(b) -> bool:
    return len(tuple(b.shape)) <= 1 or b.kind in ("bias", "norm")


def weight_mask(L, blocks=None) -> np.ndarray:
    """Boolean mask of the weight entries (blocks with more than one dimension): the
    coordinates of Li et al.'s Hessian (hess_vec_prod.py keeps ``p.ndim > 1``). ``L`` is
    a landscape or the dimension d."""
    mask = np.zeros(int(L) if isinstance(L, numbers.Integral) else L.d, bool)
    for b in layout_of(L, blocks):
        if not _bias_like(b):
            mask[b.offset:b.offset + b.size] = True
    return mask


# ----------------------------------------------------------------------------- directions
def _check_norm(norm, ignore):
    norm = None if norm == "" else norm
    if norm not in NORMS:
        raise TestbedError(f"norm must be one of {NORMS}, got {norm!r}")
    ignore = None if ignore == "" else ignore
    if ignore not in ("biasbn", None):
        raise TestbedError(f"ignore must be 'biasbn' or None, got {ignore!r}")
    return norm, ignore


def normalize(direction, theta, L=None, norm="filter", ignore="biasbn", blocks=None):
    """A copy of ``direction`` normalised block by block against ``theta``, as Li et
    al.'s ``normalize_directions_for_weights``.

    Parameters
    ----------
    direction, theta : array (d,)
    L : Landscape or int, optional
        For the block layout (default: one block of the length of ``theta``).
    norm : {"filter", "layer", "weight", "dfilter", "dlayer", None}
        The normalisation (table in the module docstring).
    ignore : {"biasbn", None}
        Zero the bias and normalisation blocks, or set them equal to ``theta``.
    blocks : list of pieces, optional
        Overrides the layout.

    Returns
    -------
    array (d,)
    """
    norm, ignore = _check_norm(norm, ignore)
    theta = np.asarray(theta, dtype=float)
    d = np.array(direction, dtype=float)
    if d.shape != theta.shape or d.ndim != 1:
        raise TestbedError(f"direction {d.shape} and theta {theta.shape} must be vectors "
                           f"of the same length")
    for b in layout_of(theta.size if L is None else L, blocks):
        sl = slice(b.offset, b.offset + b.size)
        if _bias_like(b):
            d[sl] = 0.0 if ignore == "biasbn" else theta[sl]
            continue
        rows = d[sl].reshape(b.shape[0], -1)          # views into d
        w = theta[sl].reshape(b.shape[0], -1)
        if norm == "filter":
            rows *= (np.linalg.norm(w, axis=1) / (np.linalg.norm(rows, axis=1) + _EPS))[:, None]
        elif norm == "layer":
            rows *= np.linalg.norm(w) / np.linalg.norm(rows)
        elif norm == "weight":
            rows *= w
        elif norm == "dfilter":
            rows /= (np.linalg.norm(rows, axis=1) + _EPS)[:, None]
        elif norm == "dlayer":
            rows /= np.linalg.norm(rows)
    return d


def random_direction(L, theta, seed=0, norm="filter", ignore="biasbn", blocks=None,
                     n=1):
    """``n`` random directions at ``theta``, normalised by :func:`normalize`.

    Drawn in order from ``numpy.random.default_rng(seed)`` (x direction first).

    Parameters
    ----------
    L : Landscape
        Bound.
    theta : array (d,)
        The centre.
    seed : int
    norm, ignore, blocks
        As for :func:`normalize`.
    n : int
        How many.

    Returns
    -------
    array (d,), or (n, d) for n > 1

    Raises
    ------
    TestbedError
        If every normalised direction is zero (``theta`` zero on every normalised
        block, or every block ignored).
    """
    theta = L._point(theta)
    rng = np.random.default_rng(seed)
    out = np.stack([normalize(rng.standard_normal(L.d), theta, L, norm, ignore, blocks)
                    for _ in range(int(n))])
    if not np.any(out):
        raise TestbedError("the normalised direction is zero: theta is zero on every "
                           "normalised block (e.g. at the origin) or every block is "
                           "ignored; use norm='dlayer', 'dfilter' or None")
    return out[0] if n == 1 else out


def target_direction(theta, theta2):
    r"""Li et al.'s target direction :math:`\theta_2 - \theta` (not normalised)."""
    return np.asarray(theta2, dtype=float) - np.asarray(theta, dtype=float)


# ----------------------------------------------------------------------------- evaluation
def _threads(threads) -> int:
    if threads is None:
        try:
            import numba
            return max(1, int(numba.get_num_threads()))
        except Exception:                              # pragma: no cover
            return max(1, os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise TestbedError(f"threads must be a positive integer, got {threads!r}")
    return int(threads)


def _map_points(make_point, n_points, fn, threads):
    """fn(make_point(k)) for k < n_points, in threads (BLAS limited to one thread
    each: the kernels' matrices are small, and nested BLAS threads oversubscribe the
    cores -- a network loss took 14x longer on 2 busy cores); a float64 array."""
    from ._engine import blas as _blas
    out = np.empty(n_points)

    def work(ks):
        for k in ks:
            out[k] = fn(make_point(k))
    t = min(_threads(threads), n_points)
    if t <= 1:
        work(range(n_points))
    else:
        with _blas.limit(1), concurrent.futures.ThreadPoolExecutor(t) as ex:
            list(ex.map(work, [range(i, n_points, t) for i in range(t)]))
    return out


def _value_fn(L, fn):
    if fn is not None:
        return lambda x: float(fn(x))
    o, p = L.oracle, L.p
    return lambda x: float(o.value(x, p))


def surface(L, theta, xdirection, ydirection=None, x="-1:1:51", y=None, *, fn=None,
            threads=None) -> dict:
    r"""A 1-D slice :math:`f(\theta + a d_1)` or 2-D slice
    :math:`f(\theta + a d_1 + b d_2)`.

    Parameters
    ----------
    L : Landscape
        Bound.
    theta : array (d,)
        The centre (a trained network, a minimum).
    xdirection, ydirection : array (d,)
        :math:`d_1` and :math:`d_2` (``ydirection`` None: a 1-D slice); see
        :func:`normalize` for Li et al.'s filter normalisation.
    x, y : str or array
        Ranges in the ``min:max:num`` grammar (y defaults to x).
    fn : callable, optional
        ``fn(point) -> float`` in place of the landscape's value (an accuracy, say).
    threads : int, optional
        Points evaluated in parallel.

    Returns
    -------
    dict
        Li et al.'s keys: ``xcoordinates``, ``ycoordinates`` (2-D), ``train_loss``
        ((ny, nx) in 2-D, rows following y).
    """
    theta = L._point(theta)
    d1 = L._point(xdirection, "xdirection")
    xs = parse_range(x, "x")
    value = _value_fn(L, fn)
    if ydirection is None:
        loss = _map_points(lambda k: theta + xs[k] * d1, xs.size, value, threads)
        return {"xcoordinates": xs, "train_loss": loss}
    d2 = L._point(ydirection, "ydirection")
    ys = parse_range(x if y is None else y, "y")
    nx = xs.size
    loss = _map_points(lambda k: theta + xs[k % nx] * d1 + ys[k // nx] * d2,
                       xs.size * ys.size, value, threads)
    return {"xcoordinates": xs, "ycoordinates": ys, "train_loss": loss.reshape(ys.size, nx)}


def interpolate(L, theta, theta2, x="-0.5:1.5:401", *, fn=None, threads=None) -> dict:
    r"""Linear interpolation :math:`f((1 - a) \theta + a \theta_2)` for :math:`a` in
    the range ``x`` (Li et al.'s README example: ``'-0.5:1.5:401'``); :math:`a = 0`
    and :math:`a = 1` reproduce the endpoints exactly. Returns ``xcoordinates`` and
    ``train_loss``; ``fn`` and ``threads`` as for :func:`surface`."""
    theta = L._point(theta)
    theta2 = L._point(theta2, "theta2")
    xs = parse_range(x, "x")
    loss = _map_points(lambda k: (1.0 - xs[k]) * theta + xs[k] * theta2, xs.size,
                       _value_fn(L, fn), threads)
    return {"xcoordinates": xs, "train_loss": loss}


# ----------------------------------------------------------------------------- curvature
def hessian_eig_map(L, theta, xdirection, ydirection=None, x="-1:1:51", y=None, *,
                    hessian="weights", blocks=None, tol=1e-3, n_iter=None, max_iter=200,
                    seed=0, threads=None) -> dict:
    r"""Li et al.'s eigenvalue maps: the algebraically smallest and largest Hessian
    eigenvalues at every point of the 1-D or 2-D slice (keys ``min_eig``,
    ``max_eig``, with the slice's coordinates; ``abs(min_eig / max_eig)`` is their
    non-convexity map). ``hessian='weights'`` restricts :math:`H` to the weight
    entries as their code does; ``'full'`` uses every coordinate. Lanczos stops when
    both residual bounds are below ``tol`` :math:`\times \max |\lambda|` or after
    ``max_iter`` steps (``n_iter`` fixes the count); the largest final bound is
    returned as ``eig_bound``. The other arguments are those of :func:`surface`."""
    from .curvature import extreme_eigenvalues
    if hessian not in ("weights", "full"):
        raise TestbedError(f"hessian must be 'weights' (Li et al.: parameters with more "
                           f"than one dimension) or 'full', got {hessian!r}")
    theta = L._point(theta)
    d1 = L._point(xdirection, "xdirection")
    xs = parse_range(x, "x")
    mask = None
    if hessian == "weights":
        mask = weight_mask(L, blocks)
        if mask.all():
            mask = None
    if ydirection is None:
        pts = [(a, 0.0) for a in xs]
        d2 = np.zeros(L.d)
        shape = (xs.size,)
    else:
        d2 = L._point(ydirection, "ydirection")
        ys = parse_range(x if y is None else y, "y")
        pts = [(a, b) for b in ys for a in xs]
        shape = (ys.size, xs.size)
    lo = np.empty(len(pts))
    hi = np.empty(len(pts))
    bound = np.empty(len(pts))

    def one(k):
        a, b = pts[k]
        mn, mx, e = extreme_eigenvalues(L, theta + a * d1 + b * d2, tol=tol, n_iter=n_iter,
                                        max_iter=max_iter, seed=seed, mask=mask)
        lo[k], hi[k], bound[k] = mn, mx, float(np.max(e.bounds))
        return 0.0
    _map_points(lambda k: k, len(pts), one, threads)
    out = {"xcoordinates": xs, "min_eig": lo.reshape(shape), "max_eig": hi.reshape(shape),
           "eig_bound": bound.reshape(shape)}
    if ydirection is not None:
        out["ycoordinates"] = ys
    return out


def slice_curvature(train_loss, xcoordinates, ycoordinates) -> dict:
    r"""Central-difference Hessian of a 2-D slice :math:`Z[j, i] = f(x_i, y_j)` on a
    uniform grid.

    Returns its eigenvalues ``slice_min_eig`` / ``slice_max_eig`` (NaN on the
    border), Li et al.'s ratio :math:`|\lambda_{\min} / \lambda_{\max}|`
    (``slice_eig_ratio``; for a 2 x 2 matrix it is also large where the slice is
    convex and isotropic), the non-convexity map ``slice_nonconvexity``
    :math:`= \max(-\lambda_{\min}, 0) / |\lambda_{\max}|` (0 where convex: the
    reading "blue = convex, yellow = non-convex" of their heatmaps), and the share of
    interior points whose slice Hessian is not positive semi-definite,
    ``nonconvex_fraction``. Needs at least 3 evenly spaced points per axis."""
    Z = np.asarray(train_loss, dtype=float)
    xs = np.asarray(xcoordinates, dtype=float)
    ys = np.asarray(ycoordinates, dtype=float)
    if Z.shape != (ys.size, xs.size) or xs.size < 3 or ys.size < 3:
        raise TestbedError(f"train_loss must have shape (len(y), len(x)) with at least 3 "
                           f"points per axis; got {Z.shape} for {ys.size} x {xs.size}")
    hx, hy = np.diff(xs), np.diff(ys)
    if np.ptp(hx) > 1e-9 * abs(hx[0]) or np.ptp(hy) > 1e-9 * abs(hy[0]):
        raise TestbedError("slice_curvature needs evenly spaced coordinates")
    hx, hy = hx[0], hy[0]
    c = Z[1:-1, 1:-1]
    sxx = (Z[1:-1, 2:] - 2 * c + Z[1:-1, :-2]) / hx ** 2
    syy = (Z[2:, 1:-1] - 2 * c + Z[:-2, 1:-1]) / hy ** 2
    sxy = (Z[2:, 2:] - Z[2:, :-2] - Z[:-2, 2:] + Z[:-2, :-2]) / (4 * hx * hy)
    mean = 0.5 * (sxx + syy)
    rad = np.sqrt(0.25 * (sxx - syy) ** 2 + sxy ** 2)
    lo = np.full(Z.shape, np.nan)
    hi = np.full(Z.shape, np.nan)
    lo[1:-1, 1:-1], hi[1:-1, 1:-1] = mean - rad, mean + rad
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(lo / hi)
        nonconvexity = np.maximum(-lo, 0.0) / np.abs(hi)
    nonconvexity[(lo >= 0) & np.isfinite(lo)] = 0.0
    return {"slice_min_eig": lo, "slice_max_eig": hi, "slice_eig_ratio": ratio,
            "slice_nonconvexity": nonconvexity,
            "nonconvex_fraction": float(np.mean(lo[1:-1, 1:-1] < 0))}


# ----------------------------------------------------------------------------- trajectories
def trajectory_from_result(result, replica=0) -> np.ndarray:
    """The (T, d) parameter trajectory of one replica from a :class:`~testbed.Result` run
    with ``coords=range(d)`` (observations after the replica stopped are dropped)."""
    if "coords" not in result.traces:
        raise TestbedError("the run recorded no coordinates: pass coords=range(d) to "
                           "testbed.run to keep the trajectory")
    X = result.traces["coords"][:, :, replica]
    if X.shape[1] != result.x.shape[1]:
        raise TestbedError(f"the run recorded {X.shape[1]} of {result.x.shape[1]} "
                           f"coordinates; PCA needs all of them (coords=range(d))")
    keep = np.all(np.isfinite(X), axis=1)
    return X[keep]


def pca_directions(trajectory, final=None, L=None, ignore="biasbn", blocks=None) -> dict:
    r"""Li et al.'s PCA directions of an optimisation path: PCA (centred, 2
    components) of the rows :math:`\theta_t - \theta_{\text{final}}`, bias/norm
    entries zeroed with ``ignore='biasbn'`` (needs ``L`` or ``blocks`` for the
    layout). Returns ``xdirection``, ``ydirection`` and sklearn's
    ``explained_variance_ratio_``, ``singular_values_``, ``explained_variance_``."""
    T = np.asarray(trajectory, dtype=float)
    if T.ndim != 2 or T.shape[0] < 3:
        raise TestbedError(f"trajectory must be (T, d) with T >= 3 points, got {T.shape}")
    final = T[-1] if final is None else np.asarray(final, dtype=float)
    M = T - final[None, :]
    if ignore not in ("biasbn", None, ""):
        raise TestbedError(f"ignore must be 'biasbn' or None, got {ignore!r}")
    if ignore == "biasbn" and (L is not None or blocks is not None):
        M[:, ~weight_mask(T.shape[1] if L is None else L, blocks)] = 0.0
    Mc = M - M.mean(axis=0)
    _, S, Vt = np.linalg.svd(Mc, full_matrices=False)
    comps = Vt[:2].copy()
    for c in comps:                       # sign: the largest entry is positive
        if c[np.argmax(np.abs(c))] < 0:
            c *= -1
    var = S ** 2 / (T.shape[0] - 1)
    return {"xdirection": comps[0], "ydirection": comps[1],
            "explained_variance_ratio_": var[:2] / var.sum(),
            "singular_values_": S[:2].copy(), "explained_variance_": var[:2]}


def project_trajectory(trajectory, final, xdirection, ydirection, method="cos") -> dict:
    r"""Coordinates ``proj_xcoord``, ``proj_ycoord`` of each
    :math:`\theta_t - \theta_{\text{final}}` in the plane of the two directions:
    ``'cos'`` (:math:`x = \langle d, u_1 \rangle / \lVert u_1 \rVert`,
    :math:`y = \langle d, u_2 \rangle / \lVert u_2 \rVert`, exact for orthogonal
    directions) or ``'lstsq'`` (least squares), Li et al.'s ``project_2D``."""
    T = np.asarray(trajectory, dtype=float)
    D = T - np.asarray(final, dtype=float)[None, :]
    u1, u2 = np.asarray(xdirection, float), np.asarray(ydirection, float)
    if method == "cos":
        return {"proj_xcoord": D @ u1 / np.linalg.norm(u1),
                "proj_ycoord": D @ u2 / np.linalg.norm(u2)}
    if method == "lstsq":
        A = np.stack([u1, u2], axis=1)
        coef = np.linalg.lstsq(A, D.T, rcond=None)[0]
        return {"proj_xcoord": coef[0], "proj_ycoord": coef[1]}
    raise TestbedError(f"method must be 'cos' or 'lstsq', got {method!r}")


# ----------------------------------------------------------------------------- export
def save(path, data: dict, blocks=None, h5="auto") -> list:
    """Write ``data`` (Li et al.'s keys; arrays) to ``<path>.npz`` and, when h5py is
    installed (``h5='auto'``) or asked for (``h5=True``), to ``<path>.h5`` with
    directions stored as groups of per-block arrays (``'0'``, ``'1'``, ...;
    h5_util.write_list) when ``blocks`` is given. Returns the paths written."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".h5") else path
    arrays = {k: np.asarray(v) for k, v in data.items()}
    written = [stem.with_suffix(".npz")]
    np.savez(written[0], **arrays)
    try:
        import h5py
    except ImportError:
        if h5 is True:
            raise TestbedError("h5py is not installed: pip install h5py, or use the .npz "
                               "file (same keys)") from None
        return written
    if h5 is False:
        return written
    out = stem.with_suffix(".h5")
    with h5py.File(out, "w") as f:
        for k, v in arrays.items():
            if k.endswith("direction") and blocks is not None and v.ndim == 1:
                grp = f.create_group(k)
                for i, b in enumerate(blocks):
                    grp.create_dataset(str(i), data=v[b.offset:b.offset + b.size]
                                       .reshape(b.shape))
            else:
                f[k] = v
    written.append(out)
    return written


def load(path) -> dict:
    """The arrays of a file written by :func:`save` (.npz; or .h5 with h5py)."""
    path = Path(path)
    if path.suffix == ".h5":
        import h5py
        out = {}
        with h5py.File(path, "r") as f:
            for k in f.keys():
                if isinstance(f[k], h5py.Group):
                    out[k] = [np.asarray(f[k][str(i)]) for i in range(len(f[k]))]
                else:
                    out[k] = np.asarray(f[k])
        return out
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
