r"""Paths between parameter vectors of any landscape: the straight line, curves whose
control points are trained (Garipov et al. 2018), nudged elastic bands (Draxler et
al. 2018), and the barrier along a path.

**Curves** (Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, "Loss Surfaces,
Mode Connectivity, and Fast Ensembling of DNNs", NeurIPS; code
timgaripov/dnn-mode-connectivity, curves.py). A curve with :math:`n` bends
:math:`B_0 = w_1, B_1 = \theta_1, \dots, B_{n-1} = w_2` is
:math:`\phi_\theta(t) = \sum_k c_k(t) B_k`, :math:`t \in [0, 1]`, with

- Bezier: :math:`c_k(t) = \binom{n-1}{k} t^k (1-t)^{n-1-k}`; for :math:`n = 3`,
  :math:`\phi(t) = (1-t)^2 w_1 + 2t(1-t)\theta + t^2 w_2`;
- polygonal chain: :math:`c_k(t) = \max(0, 1 - |t(n-1) - k|)`, piecewise linear
  through the bends, bend :math:`k` at :math:`t = k/(n-1)`.

Both have :math:`\sum_k c_k(t) = 1`. The endpoints are fixed; the free bends
:math:`\theta` minimise :math:`E_{t \sim U(0,1)} L(\phi_\theta(t))` (plus, as in
their ``l2_regularizer``, :math:`\tfrac{wd}{2} \lVert \phi_\theta(t) \rVert^2`).

*Design.* :func:`curve` makes that objective a :class:`~testbed.Landscape` over the
free bends, so the engine's rules (``testbed.run``) train it like any other: the
expectation is the midpoint rule on :math:`n_t` nodes :math:`t_i = (i + 1/2)/n_t`
(stratified uniform t; or nodes of your choice), and the landscape is a finite sum
over (node, datum) pairs -- sample :math:`s = i\,m + j` is datum :math:`j` of the
base landscape at :math:`\phi(t_i)` (:math:`m = 1` for a base that is not a finite
sum) -- so ``gd`` descends the quadrature and ``sgd`` / ``sgd_momentum`` sample
(t, datum) pairs uniformly, an unbiased estimate of its gradient. Garipov et al.
draw one continuous t per mini-batch; here each pair has its own node (the same
expectation, a lower-variance estimate). The curve's kernels
(``testbed/_engine/templates/curve.py``) are compiled once per base oracle and call
the base's compiled ``value_grad`` / ``value_grad_batch`` / ``hvp`` at
:math:`\phi(t_i)`, with the chain-rule factor :math:`c_k(t_i)`; the coefficients and
endpoints live in the curve's parameter vector, so N curves between N pairs of
endpoints train as one ensemble (``params=``, rows per replica).

**Nudged elastic band** (Jonsson, Mills & Jacobsen 1998; improved tangent and
climbing image: Henkelman & Jonsson 2000, J. Chem. Phys. 113, 9978; Henkelman,
Uberuaga & Jonsson 2000, ibid. 9901; for networks Draxler, Veschgini, Salmhofer &
Hamprecht 2018, "Essentially No Barriers in Neural Network Energy Landscape", ICML,
code fdraxler/PyTorch-AutoNEB): see :func:`neb`.

**Barrier** along a path with values :math:`v_0, \dots, v_{m-1}`:
:math:`\max_i v_i - \tfrac12 (v_0 + v_{m-1})` (git-re-basin's plotting scripts;
Frankle et al. 2020's instability with the test error as v). Some papers subtract
the chord :math:`(1-\lambda) v_0 + \lambda v_{m-1}` instead; this module does not.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from .errors import TestbedError
from .objective.landscape import Landscape

__all__ = ["KINDS", "Curve", "NEB", "along", "barrier", "bezier_coefficients", "check_t",
           "coefficients", "curve", "grid", "linear", "losses", "neb", "plane",
           "plane_coordinates", "polychain_coefficients", "tangents"]

KINDS = ("bezier", "polychain")


# ----------------------------------------------------------------------------- checks
def check_t(t, name="t") -> np.ndarray:
    """Parameter values of a path, checked.

    Parameters
    ----------
    t : float or array (m,)
    name : str
        For the message.

    Returns
    -------
    array (m,)
        Float64, finite, in [0, 1] (a scalar gives one value).

    Raises
    ------
    TestbedError
        For a value outside [0, 1], NaN, or not a scalar / 1-D array.
    """
    try:
        arr = np.array(t, dtype=np.float64, ndmin=1)
    except (TypeError, ValueError):
        raise TestbedError(f"{name} must be numbers in [0, 1], got {t!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise TestbedError(f"{name} must be a scalar or a non-empty 1-D array, got shape "
                           f"{arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        raise TestbedError(f"{name} must lie in [0, 1] (a path is parametrised on [0, 1]); "
                           f"got {arr[bad][0]!r}")
    return arr


def _vector(w, name) -> np.ndarray:
    try:
        arr = np.array(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise TestbedError(f"{name} must be an array of numbers, got {w!r}") from None
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise TestbedError(f"{name} must be a parameter vector (d,) or a stack (N, d), got "
                           f"shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise TestbedError(f"{name} contains NaN or inf")
    return arr


def _pair(w1, w2, d=None) -> tuple[np.ndarray, np.ndarray]:
    """Endpoints as (N, d) stacks of one shape (a single vector broadcast to N)."""
    a, b = _vector(w1, "w1"), _vector(w2, "w2")
    if a.shape[-1] != b.shape[-1]:
        raise TestbedError(f"endpoints of different shapes: w1 {a.shape}, w2 {b.shape}; a "
                           f"path joins two parameter vectors of the same landscape (same "
                           f"architecture)")
    if d is not None and a.shape[-1] != d:
        raise TestbedError(f"endpoints have {a.shape[-1]} coordinates but the landscape is "
                           f"{d}-dimensional")
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise TestbedError(f"w1 holds {a.shape[0]} endpoints and w2 {b.shape[0]}; give as "
                           f"many of each (or one to share)")
    n = max(a.shape[0], b.shape[0])
    return (np.ascontiguousarray(np.broadcast_to(a, (n, a.shape[1]))),
            np.ascontiguousarray(np.broadcast_to(b, (n, b.shape[1]))))


def _bends(bends, least=2) -> int:
    if isinstance(bends, bool) or not isinstance(bends, numbers.Integral) or bends < least:
        raise TestbedError(f"bends (control points, endpoints included) must be an integer "
                           f">= {least}, got {bends!r}")
    return int(bends)


# ------------------------------------------------------------------------- coefficients
def grid(num=61) -> np.ndarray:
    """Equally spaced evaluation points of a path.

    Parameters
    ----------
    num : int
        >= 2 (Garipov et al.'s eval_curve.py: 61; git-re-basin's plots: 25).

    Returns
    -------
    array (num,)
        ``linspace(0, 1, num)``, both ends included.
    """
    if isinstance(num, bool) or not isinstance(num, numbers.Integral) or num < 2:
        raise TestbedError(f"a path is evaluated at num >= 2 points (its two ends at "
                           f"least), got {num!r}")
    return np.linspace(0.0, 1.0, int(num))


def bezier_coefficients(t, bends=3) -> np.ndarray:
    r"""Bernstein coefficients :math:`c_k(t) = \binom{n-1}{k} t^k (1-t)^{n-1-k}`.

    Parameters
    ----------
    t : float or array (m,)
        In [0, 1].
    bends : int
        n, the control points with the endpoints (>= 2).

    Returns
    -------
    array (m, n)
        Rows sum to 1 (to rounding); at t = 0 and t = 1 exactly one unit entry.
    """
    t = check_t(t)
    n = _bends(bends)
    k = np.arange(n)
    binom = np.array([math.comb(n - 1, int(j)) for j in k], dtype=np.float64)
    return binom * t[:, None] ** k * (1.0 - t[:, None]) ** (n - 1 - k)


def polychain_coefficients(t, bends=3) -> np.ndarray:
    r"""Polygonal-chain coefficients :math:`c_k(t) = \max(0, 1 - |t(n-1) - k|)`: at most
    two non-zero, linear in t on each segment :math:`[k/(n-1), (k+1)/(n-1)]`.

    Parameters
    ----------
    t : float or array (m,)
        In [0, 1].
    bends : int
        n, the control points with the endpoints (>= 2).

    Returns
    -------
    array (m, n)
    """
    t = check_t(t)
    n = _bends(bends)
    return np.maximum(0.0, 1.0 - np.abs(t[:, None] * (n - 1) - np.arange(n)))


def coefficients(kind, t, bends=3) -> np.ndarray:
    """The coefficients of a curve of either kind.

    Parameters
    ----------
    kind : {"bezier", "polychain"}
    t : float or array (m,)
        In [0, 1].
    bends : int
        n >= 2.

    Returns
    -------
    array (m, n)
        :func:`bezier_coefficients` or :func:`polychain_coefficients`.
    """
    if kind == "bezier":
        return bezier_coefficients(t, bends)
    if kind == "polychain":
        return polychain_coefficients(t, bends)
    raise TestbedError(f"unknown curve kind {kind!r}; choose from {KINDS}")


def linear(w1, w2, t) -> np.ndarray:
    r"""Points :math:`(1 - t) w_1 + t w_2` of the straight segment (computed in this
    form, so t = 0 and t = 1 give the endpoints exactly).

    Parameters
    ----------
    w1, w2 : array (d,)
        The endpoints.
    t : float or array (m,)
        In [0, 1].

    Returns
    -------
    array (m, d)
    """
    a, b = _pair(w1, w2)
    if a.shape[0] != 1:
        raise TestbedError("linear joins one pair of endpoints: pass vectors of shape (d,)")
    t = check_t(t)[:, None]
    return (1.0 - t) * a[0] + t * b[0]


def along(kind, control, t) -> np.ndarray:
    r"""Points :math:`\phi(t) = \sum_k c_k(t) B_k` of a curve given all its control
    points.

    Parameters
    ----------
    kind : {"bezier", "polychain"}
        ``"polychain"`` through the rows of ``control`` is the piecewise-linear path
        through a chain of images (e.g. :attr:`NEB.points`).
    control : array (n, d) or (N, n, d)
        :math:`B_0 = w_1, \dots, B_{n-1} = w_2` (n >= 2: a path has two points at least).
    t : float or array (m,)
        In [0, 1].

    Returns
    -------
    array (m, d) or (N, m, d)
    """
    B = np.asarray(control, dtype=np.float64)
    if B.ndim not in (2, 3) or B.shape[-2] < 2:
        raise TestbedError(f"control points must have shape (n, d) or (N, n, d) with n >= 2 "
                           f"(a path has two points at least), got {B.shape}")
    C = coefficients(kind, t, B.shape[-2])
    return np.einsum("mk,...kd->...md", C, B)


def losses(L, points, *, threads=None) -> np.ndarray:
    """The landscape's value at each point.

    Parameters
    ----------
    L : Landscape
        Bound (any landscape; for a network, the loss on its own data: pass the same
        network on other data, :func:`testbed.nets.metrics.on_data`, for test losses).
    points : array (..., d)
    threads : int, optional
        Points evaluated in parallel (the compiled kernels release the GIL).

    Returns
    -------
    array (...)
    """
    from .slices import _map_points
    L._require_bound()
    P = np.asarray(points, dtype=np.float64)
    if P.ndim < 1 or P.shape[-1] != L.d:
        raise TestbedError(f"points must have shape (..., {L.d}) for landscape {L.name!r}, "
                           f"got {P.shape}")
    flat = np.ascontiguousarray(P.reshape(-1, L.d))
    o, p = L.oracle, L.p
    out = _map_points(lambda k: flat[k], flat.shape[0], lambda x: float(o.value(x, p)),
                      threads)
    return out.reshape(P.shape[:-1])


def barrier(values) -> np.ndarray | float:
    r"""The barrier along a path, :math:`\max_i v_i - \tfrac12 (v_0 + v_{m-1})`.

    Parameters
    ----------
    values : array (..., m)
        Values (loss, error) at m >= 2 points along each path, the ends first and last.

    Returns
    -------
    float or array (...)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim < 1 or v.shape[-1] < 2:
        raise TestbedError(f"a path has two points at least (its ends); got values of shape "
                           f"{v.shape}")
    b = v.max(axis=-1) - 0.5 * (v[..., 0] + v[..., -1])
    return float(b) if b.ndim == 0 else b


def plane(w1, w2, w3) -> dict:
    r"""The plane through three parameter vectors (Garipov et al.'s figures: two
    endpoints and a curve's middle bend): origin :math:`w_1`, unit
    :math:`u = (w_2 - w_1)/\lVert w_2 - w_1 \rVert` and :math:`v` the unit part of
    :math:`w_3 - w_1` orthogonal to u (Gram-Schmidt).

    Parameters
    ----------
    w1, w2, w3 : array (d,)
        Not on one line.

    Returns
    -------
    dict
        ``origin``, ``u``, ``v`` (arrays (d,)), for :func:`testbed.slices.surface`
        (``theta=origin, xdirection=u, ydirection=v``), and ``coords``: (3, 2) the
        three points in the plane's coordinates.
    """
    a, b = _pair(w1, w2)
    _, c = _pair(w1, w3)
    a, b, c = a[0], b[0], c[0]
    u = b - a
    nu = np.linalg.norm(u)
    if nu == 0.0:
        raise TestbedError("w1 and w2 coincide: they span no plane")
    u = u / nu
    v = (c - a) - np.dot(c - a, u) * u
    nv = np.linalg.norm(v)
    if nv <= 1e-12 * max(nu, np.linalg.norm(c - a)):
        raise TestbedError("w3 lies on the line through w1 and w2: they span no plane")
    v = v / nv
    out = {"origin": a, "u": u, "v": v}
    out["coords"] = plane_coordinates(np.stack([a, b, c]), out)
    return out


def plane_coordinates(points, plane_) -> np.ndarray:
    r"""Coordinates :math:`(\langle x - o, u \rangle, \langle x - o, v \rangle)` of
    points in a plane (their orthogonal projection onto it).

    Parameters
    ----------
    points : array (..., d)
        E.g. a curve's points, to draw it on the plane's surface.
    plane_ : dict
        From :func:`plane`.

    Returns
    -------
    array (..., 2)
    """
    P = np.asarray(points, dtype=np.float64) - plane_["origin"]
    return np.stack([P @ plane_["u"], P @ plane_["v"]], axis=-1)


# ------------------------------------------------------------------------------- curves
@dataclasses.dataclass(frozen=True)
class Curve:
    r"""Curves between N pairs of endpoints and their training objective as a
    landscape over the free bends (made by :func:`curve`).

    Attributes
    ----------
    landscape : Landscape
        Bound, of dimension (n - 2) d: :math:`\frac{1}{n_t} \sum_i [L(\phi(t_i)) +
        \tfrac{wd}{2} \lVert \phi(t_i) \rVert^2]`, a finite sum of :attr:`n_samples`
        terms; its own parameter vector holds the first pair of endpoints.
    base : Landscape
        The landscape the curves live in.
    kind : str
    bends : int
        n, endpoints included.
    nodes : array (n_t,)
        The t nodes of the objective.
    ends : array (N, 2, d)
        The endpoints of each curve.
    params : array (N, n_p) or None
        One parameter row per curve for ``testbed.run(..., params=...)`` (None for
        N = 1).
    weight_decay : float
    """
    landscape: Landscape
    base: Landscape
    kind: str
    bends: int
    nodes: np.ndarray
    ends: np.ndarray
    params: np.ndarray | None
    weight_decay: float

    @property
    def replicas(self) -> int:
        """N, the number of curves."""
        return self.ends.shape[0]

    @property
    def n_samples(self) -> int:
        """n_t times the base's sample count (1 if it is not a finite sum)."""
        return int(self.landscape.oracle.n_samples(self.landscape.p))

    def start(self) -> np.ndarray:
        r"""Free bends on the chord, :math:`\theta_k = (1 - k/(n-1)) w_1 + k/(n-1) w_2`
        (Garipov et al.'s ``init_linear``: the curve starts as the straight segment).

        Returns
        -------
        array (N, (n-2) d)
        """
        a = np.arange(1, self.bends - 1)[None, :, None] / (self.bends - 1)
        theta = (1.0 - a) * self.ends[:, :1] + a * self.ends[:, 1:]
        return theta.reshape(self.replicas, -1)

    def control(self, theta) -> np.ndarray:
        """All control points, endpoints included.

        Parameters
        ----------
        theta : array (N, (n-2) d) or ((n-2) d,)
            Free bends (one row is shared by all N curves).

        Returns
        -------
        array (N, n, d)
        """
        d = self.base.d
        th = np.asarray(theta, dtype=np.float64)
        if th.shape[-1] != (self.bends - 2) * d or th.ndim not in (1, 2) or (
                th.ndim == 2 and th.shape[0] not in (1, self.replicas)):
            raise TestbedError(f"free bends must have shape (N, {(self.bends - 2) * d}) with "
                               f"N = {self.replicas} (or ({(self.bends - 2) * d},)), got "
                               f"{th.shape}")
        th = np.broadcast_to(np.atleast_2d(th), (self.replicas, th.shape[-1]))
        mid = th.reshape(self.replicas, self.bends - 2, d)
        return np.concatenate([self.ends[:, :1], mid, self.ends[:, 1:]], axis=1)

    def points(self, theta, t) -> np.ndarray:
        r"""Points :math:`\phi_\theta(t)` of each curve.

        Parameters
        ----------
        theta : array (N, (n-2) d) or ((n-2) d,)
            Free bends (e.g. ``Result.x`` of :meth:`train`).
        t : float or array (m,)
            In [0, 1].

        Returns
        -------
        array (N, m, d)
        """
        return along(self.kind, self.control(theta), t)

    def train(self, rule, steps, theta0=None, **kw):
        """Train the curves' free bends with an engine rule, all N as one ensemble.

        Parameters
        ----------
        rule : str
            Any rule of :func:`testbed.run` (``gd``; ``sgd`` / ``sgd_momentum``
            sample (t node, datum) pairs).
        steps : int
        theta0 : array (N, (n-2) d), optional
            Default :meth:`start`.
        **kw
            ``testbed.run``'s (seed, stride, observe, ...) and the rule's
            hyper-parameters. Observing the loss evaluates the whole objective (n_t
            full passes over the base's data): on networks pass a large ``stride``
            or ``observe=()``.

        Returns
        -------
        Result
            ``x``: the trained free bends (N, (n-2) d).
        """
        from .ensemble import run
        x0 = self.start() if theta0 is None else theta0
        return run(self.landscape, rule, x0, steps, params=self.params, **kw)


def _kernels(oracle):
    """The curve template (testbed/_engine/templates/curve.py) bound to a base oracle."""
    from ._engine import codegen
    from ._engine.templates import curve as template
    finite = hasattr(oracle, "value_grad_batch") and hasattr(oracle, "n_samples")
    bindings = {"base_value": oracle.value, "base_value_grad": oracle.value_grad,
                "base_hvp": oracle.hvp}
    if finite:
        bindings.update(base_value_grad_batch=oracle.value_grad_batch,
                        base_n_samples=oracle.n_samples)
    module = codegen.instantiate(template, f"curve|{oracle.__name__}|{finite}", bindings)
    if not finite:
        module.base_value_grad_batch = module.whole_batch
        module.base_n_samples = module.one_sample
    return module


def _nodes(nodes) -> np.ndarray:
    if isinstance(nodes, numbers.Integral) and not isinstance(nodes, bool):
        if nodes < 1:
            raise TestbedError(f"nodes must be a positive integer or t values in [0, 1], "
                               f"got {nodes!r}")
        return (np.arange(int(nodes)) + 0.5) / int(nodes)
    return check_t(nodes, "nodes")


def curve(L, w1, w2, kind="bezier", bends=3, nodes=16, weight_decay=0.0) -> Curve:
    r"""Curves between pairs of endpoints whose free bends the engine's rules train
    (Garipov et al. 2018): the objective
    :math:`\frac{1}{n_t} \sum_i [L(\phi_\theta(t_i)) + \tfrac{wd}{2} \lVert
    \phi_\theta(t_i) \rVert^2]` as a landscape over :math:`\theta`, with gradient
    :math:`\frac{1}{n_t} \sum_i c_k(t_i) [\nabla L + wd\, \phi](\phi_\theta(t_i))`.

    Parameters
    ----------
    L : Landscape
        Bound, any (a network: the objective is then a finite sum over (t node, datum)
        pairs, so ``sgd`` and ``sgd_momentum`` train it on mini-batches).
    w1, w2 : array (d,) or (N, d)
        Fixed endpoints: one pair, or N pairs (one curve each, trained as N replicas of
        one ensemble).
    kind : {"bezier", "polychain"}
    bends : int
        n >= 3 control points, endpoints included (3: one free bend).
    nodes : int or array
        The t nodes: an integer n_t gives the midpoints :math:`(i + 1/2)/n_t`; or
        values in [0, 1].
    weight_decay : float
        wd >= 0 on :math:`\phi(t)` (Garipov et al.'s ``l2_regularizer``).

    Returns
    -------
    Curve
        ``curve.train(rule, steps, **kw)`` or ``testbed.run(curve.landscape, rule,
        curve.start(), steps, params=curve.params, ...)`` trains it;
        ``curve.points(theta, t)`` evaluates it.

    Raises
    ------
    TestbedError
        For endpoints of different shapes or not of the landscape's dimension, t
        nodes outside [0, 1], fewer than 3 bends, an unknown kind.
    """
    if not isinstance(L, Landscape):
        raise TestbedError(f"L must be a bound Landscape, got {L!r}")
    L._require_bound()
    W1, W2 = _pair(w1, w2, L.d)
    if isinstance(bends, numbers.Integral) and bends == 2:
        raise TestbedError("a curve with bends = 2 has no free control point: it is the "
                           "straight segment (paths.linear)")
    n = _bends(bends, 3)
    t = _nodes(nodes)
    C = coefficients(kind, t, n)
    wd = float(weight_decay)
    if not (math.isfinite(wd) and wd >= 0.0):
        raise TestbedError(f"weight_decay must be finite and >= 0, got {weight_decay!r}")
    module = _kernels(L.oracle)
    d, nt = L.d, t.size
    oc = module.HEADER
    oe = oc + nt * n
    ob = oe + 2 * d

    def pack(a, b):
        p = np.empty(ob + L.p.size)
        p[:oc] = [module.MAGIC, d, n, nt, wd, oc, oe, ob]
        p[oc:oe] = C.ravel()
        p[oe:oe + d] = a
        p[oe + d:ob] = b
        p[ob:] = L.p
        return p

    rows = np.stack([pack(a, b) for a, b in zip(W1, W2)])
    name = f"curve[{kind}{n}|{L.name}|nodes={nt}" + (f"|wd={wd:g}]" if wd else "]")
    first = rows[0]
    CL = Landscape(name, kernels=("module", module.__name__), dim=(n - 2) * d,
                   tags=("curve",), paper="Garipov et al. 2018, arXiv:1802.10026",
                   description=f"{kind} curve objective over the free bends in {L.name}",
                   pack=lambda dim: first).bind()
    return Curve(landscape=CL, base=L, kind=kind, bends=n, nodes=t,
                 ends=np.stack([W1, W2], axis=1), params=None if len(rows) == 1 else rows,
                 weight_decay=wd)


# --------------------------------------------------------------------------------- NEB
@dataclasses.dataclass(frozen=True)
class NEB:
    """The outcome of :func:`neb`.

    Attributes
    ----------
    points : array (M, d)
        The images, endpoints first and last.
    values : array (M,)
        The landscape's value at each image.
    converged : bool
        Whether the largest image force fell to ``tol``.
    steps : int
        Iterations done.
    max_force : float
        The largest norm of an image's force at the end.
    climbing : int or None
        The index of the climbing image at the end (None without one).
    """
    points: np.ndarray
    values: np.ndarray
    converged: bool
    steps: int
    max_force: float
    climbing: int | None

    @property
    def barrier(self) -> float:
        """:func:`barrier` of the image values."""
        return barrier(self.values)

    @property
    def highest(self) -> int:
        """The index of the highest image."""
        return int(np.argmax(self.values))


def tangents(points, values) -> np.ndarray:
    r"""Henkelman & Jonsson's (2000) improved tangents at the interior images: with
    :math:`\tau^+ = R_{i+1} - R_i`, :math:`\tau^- = R_i - R_{i-1}`, :math:`\tau^+` if
    :math:`V_{i+1} > V_i > V_{i-1}`, :math:`\tau^-` if :math:`V_{i+1} < V_i < V_{i-1}`,
    else (an extremum) :math:`\tau^+ \Delta V_{\max} + \tau^- \Delta V_{\min}` when
    :math:`V_{i+1} > V_{i-1}` and :math:`\tau^+ \Delta V_{\min} + \tau^- \Delta V_{\max}`
    otherwise, :math:`\Delta V_{\max/\min} = \max/\min(|V_{i+1} - V_i|, |V_{i-1} -
    V_i|)`; normalised (the central chord where all three values are equal).

    Parameters
    ----------
    points : array (M, d)
        The images, ends included.
    values : array (M,)
        The energies there.

    Returns
    -------
    array (M - 2, d)
        Unit tangents at the interior images.
    """
    R = np.asarray(points, dtype=np.float64)
    V = np.asarray(values, dtype=np.float64)
    tp = R[2:] - R[1:-1]
    tm = R[1:-1] - R[:-2]
    vp, v0, vm = V[2:], V[1:-1], V[:-2]
    up = (vp > v0) & (v0 > vm)
    down = (vp < v0) & (v0 < vm)
    dmax = np.maximum(np.abs(vp - v0), np.abs(vm - v0))[:, None]
    dmin = np.minimum(np.abs(vp - v0), np.abs(vm - v0))[:, None]
    mixed = np.where((vp > vm)[:, None], tp * dmax + tm * dmin, tp * dmin + tm * dmax)
    tau = np.where(up[:, None], tp, np.where(down[:, None], tm, mixed))
    norm = np.linalg.norm(tau, axis=1, keepdims=True)
    fallback = R[2:] - R[:-2]                # flat neighbourhood: the central chord
    tau = np.where(norm > 0, tau, fallback)
    return tau / np.linalg.norm(tau, axis=1, keepdims=True)


def _respace(R, fixed):
    """Images moved along the polyline through them to equal arc-length spacing,
    separately on each stretch between the fixed indices (the ends, and a climbing
    image): Draxler et al.'s infinite spring constant (``distribute_by_weights``)."""
    out = R.copy()
    for a, b in zip(fixed[:-1], fixed[1:]):
        seg = R[a:b + 1]
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(seg, axis=0), axis=1))])
        if s[-1] == 0.0:
            continue
        target = np.linspace(0.0, s[-1], b - a + 1)[1:-1]
        j = np.clip(np.searchsorted(s, target, side="right") - 1, 0, len(s) - 2)
        w = ((target - s[j]) / np.where(s[j + 1] > s[j], s[j + 1] - s[j], 1.0))[:, None]
        out[a + 1:b] = (1.0 - w) * seg[j] + w * seg[j + 1]
    return out


def neb(L, w1, w2, images=11, steps=5000, eta=0.01, *, spring=math.inf, climb=False,
        momentum=0.0, tol=1e-8, path=None) -> NEB:
    r"""A nudged elastic band between two points of a landscape, run as an
    optimisation of its interior images.

    Each iteration computes, at every interior image :math:`R_i` with gradient
    :math:`G_i` and improved tangent :math:`\tau_i` (:func:`tangents`), the force
    :math:`F_i = -(G_i - (G_i \cdot \tau_i) \tau_i) + k(\lVert R_{i+1} - R_i \rVert -
    \lVert R_i - R_{i-1} \rVert) \tau_i` (true force perpendicular to the path, spring
    force along it); the climbing image (with ``climb``: the highest image at each
    step) feels :math:`F = -G + 2 (G \cdot \tau) \tau` instead: no spring, the force
    along the path reversed, so it converges to the saddle itself (Henkelman,
    Uberuaga & Jonsson 2000). The images move by
    :math:`v \leftarrow \mu v + F`, :math:`R \leftarrow R + \eta v` (Draxler et al.:
    SGD with momentum). With ``spring = inf`` (Draxler et al.'s configurations) there
    is no spring force: after every step the images are moved along the chain to
    equal arc-length spacing (between the ends and the climbing image).

    Converged when :math:`\max_i \lVert F_i \rVert \le` ``tol``. At a converged band
    the perpendicular gradient vanishes at every image (a discrete minimum-energy
    path) and, with ``climb``, the gradient vanishes at the climbing image: within
    ``tol`` / :math:`|\lambda|_{\min}` of an index-1 saddle, :math:`\lambda` the
    Hessian's eigenvalues there.

    Parameters
    ----------
    L : Landscape
        Bound, any (on a network: the full-batch loss).
    w1, w2 : array (d,)
        The fixed ends (minima, usually).
    images : int
        M >= 3 points, ends included.
    steps : int
        The most iterations.
    eta : float
        Step size (> 0; stable below 2 / the largest curvature).
    spring : float
        k > 0, or inf (equal spacing enforced).
    climb : bool
        Climbing image.
    momentum : float
        mu in [0, 1).
    tol : float
        Force tolerance (> 0).
    path : array (M, d), optional
        Starting images (its first and last rows must equal w1 and w2); default the
        straight segment.

    Returns
    -------
    NEB
    """
    L._require_bound()
    a, b = _pair(w1, w2, L.d)
    if a.shape[0] != 1:
        raise TestbedError("neb joins one pair of endpoints: pass vectors of shape (d,)")
    if isinstance(images, bool) or not isinstance(images, numbers.Integral) or images < 3:
        raise TestbedError(f"images must be an integer >= 3 (the two ends and at least one "
                           f"movable image), got {images!r}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise TestbedError(f"steps must be a positive integer, got {steps!r}")
    for name, value, ok in (("eta", eta, eta > 0), ("tol", tol, tol > 0),
                            ("spring", spring, spring > 0),
                            ("momentum", momentum, 0 <= momentum < 1)):
        if not (isinstance(value, numbers.Real) and ok and not math.isnan(value)):
            raise TestbedError(f"{name} = {value!r} is out of range (eta, tol, spring > 0; "
                               f"momentum in [0, 1))")
    if path is None:
        R = linear(a[0], b[0], np.linspace(0.0, 1.0, images))
    else:
        R = np.array(path, dtype=np.float64)
        if R.shape != (images, L.d) or not np.all(np.isfinite(R)):
            raise TestbedError(f"path must be finite with shape ({images}, {L.d}), got "
                               f"{R.shape}")
        if not (np.array_equal(R[0], a[0]) and np.array_equal(R[-1], b[0])):
            raise TestbedError("path must start at w1 and end at w2")
    o, p = L.oracle, L.p
    M, d = R.shape
    V = np.empty(M)
    G = np.zeros((M, d))
    V[0] = o.value(R[0], p)
    V[-1] = o.value(R[-1], p)
    vel = np.zeros((M - 2, d))
    ci = None
    fmax = math.inf
    done = 0
    for step in range(steps + 1):
        for i in range(1, M - 1):
            V[i] = o.value_grad(R[i], p, G[i])
        if not np.all(np.isfinite(V)):
            raise TestbedError(f"the band left the finite values of {L.name!r} at step "
                               f"{step}; lower eta")
        if climb:
            ci = 1 + int(np.argmax(V[1:-1]))
        tau = tangents(R, V)
        g = G[1:-1]
        along_ = np.sum(g * tau, axis=1, keepdims=True)
        F = -(g - along_ * tau)
        if math.isfinite(spring):
            dist = np.linalg.norm(np.diff(R, axis=0), axis=1)
            F += spring * (dist[1:] - dist[:-1])[:, None] * tau
        if ci is not None:
            F[ci - 1] = -g[ci - 1] + 2.0 * along_[ci - 1] * tau[ci - 1]
        fmax = float(np.max(np.linalg.norm(F, axis=1)))
        done = step
        if fmax <= tol or step == steps:
            break
        vel = momentum * vel + F
        R[1:-1] += eta * vel
        if not math.isfinite(spring):
            R = _respace(R, [0, M - 1] if ci is None else [0, ci, M - 1])
    return NEB(points=R, values=V.copy(), converged=fmax <= tol, steps=done,
               max_force=fmax, climbing=ci)
