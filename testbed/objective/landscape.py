r"""Landscapes: a catalogue entry (parameters, critical points, provenance) bound to
compiled kernels for the value, gradient, Hessian and Hessian-vector product.

A landscape is a family :math:`f(x; p)` over :math:`x \in \mathbb{R}^d`. Its
parameters are declared with a default and a domain; binding values
(``L.bind(d=..., name=value)``) packs them into the flat float64 vector :math:`p`
that every kernel receives. Kernels come from :func:`testbed.symbolic` (SymPy, all
derivatives exact) or from a module of hand-written Numba functions
(:func:`from_kernels`); whatever is missing is derived in
``testbed/_engine/templates/oracle.py`` (documented there, with its accuracy).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from ..errors import TestbedError


@dataclasses.dataclass(frozen=True)
class Param:
    """A declared parameter of a landscape or an update rule.

    Parameters
    ----------
    default : float, array, callable or None
        The default value (None: required; a callable ``default(d)`` gives a default
        that depends on the dimension).
    low, high : float
        The domain ``[low, high]``.
    doc : str
        What it is, for ``testbed list`` and messages.
    vector : bool
        A vector of length d instead of a scalar.
    exclusive_low, exclusive_high : bool
        Open the domain at that end.
    integer : bool
        Whole numbers only.
    finite : bool
        False allows +-inf (NaN never is).
    """
    default: object = None
    low: float = -math.inf
    high: float = math.inf
    doc: str = ""
    vector: bool = False
    exclusive_low: bool = False
    exclusive_high: bool = False
    integer: bool = False
    finite: bool = True

    def domain(self) -> str:
        """The domain in interval notation, e.g. ``(0, inf)``."""
        lo = "(" if self.exclusive_low or self.low == -math.inf else "["
        hi = ")" if self.exclusive_high or self.high == math.inf else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}"

    def check(self, name: str, value, what: str = "parameter") -> np.ndarray:
        """``value`` as a float array, or a :class:`~testbed.TestbedError` naming
        ``name`` (a ``what``) when it is not a number, not finite or outside the
        domain."""
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TestbedError(f"{what} {name!r} must be a number or an array of "
                               f"numbers, got {value!r}") from None
        if np.any(np.isnan(arr)) or (self.finite and not np.all(np.isfinite(arr))):
            raise TestbedError(f"{what} {name!r} must be finite, got {value!r}")
        below = arr <= self.low if self.exclusive_low else arr < self.low
        above = arr >= self.high if self.exclusive_high else arr > self.high
        if np.any(below) or np.any(above):
            raise TestbedError(f"{what} {name!r} = {value!r} is outside its domain "
                               f"{self.domain()}")
        if self.integer and np.any(arr != np.round(arr)):
            raise TestbedError(f"{what} {name!r} must be a whole number, got {value!r}")
        return arr


@dataclasses.dataclass(frozen=True)
class CriticalPoint:
    r"""A known critical point: location ``x``, ``energy`` :math:`f(x)`, Morse
    ``index`` (the number of negative Hessian eigenvalues) and whether the Hessian is
    singular there (``degenerate``)."""
    x: tuple
    energy: float
    index: int
    degenerate: bool = False


class Landscape:
    r"""A family of functions :math:`f(x; p)`, :math:`x \in \mathbb{R}^d`, with
    compiled kernels.

    Kernel contract (all Numba-compiled, float64, contiguous arrays):
    ``value_grad(x, p, g) -> f`` (writes the gradient into ``g``), and optionally
    ``value(x, p)``, ``hessian(x, p, H)``, ``hvp(x, p, v, out)``,
    ``hvp_prepare(x, p) -> state`` with ``hvp_prepared(x, p, state, v, out)`` (work
    shared by many products at one point), and for finite sums
    :math:`f = \frac{1}{n} \sum_j f_j` ``value_grad_batch(x, p, idx, g) -> f_B`` with
    ``n_samples(p)``; what is missing is derived
    (``testbed/_engine/templates/oracle.py``). A kernel module may also define
    ``CALLED``, a tuple of its kernels' names that the engine's kernels call by symbol
    instead of compiling them again inside each caller (large kernels, such as a
    network's passes: :mod:`testbed._engine.calls`), and
    ``batch(p, d)``, a plain-Python object whose ``value_grad(X)`` and
    ``value_grad_hessian(X)`` evaluate many points (rows of ``X``) at once, which the
    critical-point finder uses where present (:func:`testbed.critical.evaluator`).
    An evaluator with a true attribute ``pooled`` takes a second argument ``pool`` (an
    executor whose ``map`` runs tasks on the finder's threads) and splits its own work
    into tasks whose results do not depend on the thread count.

    Build one with :func:`testbed.symbolic` or :func:`testbed.from_kernels`; take
    one from the catalogue, bound, with :func:`testbed.landscape`.

    Parameters
    ----------
    name : str
        The catalogue name.
    kernels : tuple
        Where the kernels come from (set by :func:`~testbed.symbolic` and
        :func:`~testbed.from_kernels`).
    params : dict of str to Param, optional
        The declared parameters, in the order they are packed into :math:`p`.
    dim : int, optional
        The fixed dimension (None: any :math:`d`, chosen at :meth:`bind`).
    critical_points : sequence of CriticalPoint, or callable
        The known critical points, or ``critical_points(d, **params)`` giving them.
    domain : (low, high), optional
        A box (corners as sequences of length :math:`d`) where the declared critical
        points are all there are.
    tags : sequence of str
        For ``testbed list``.
    paper, description : str
        Provenance and a one-line description.
    pack : callable, optional
        ``pack(d, **values) -> p``, when the flat vector is not the parameters
        concatenated in order.
    """

    def __init__(self, name: str, *, kernels, params: dict[str, Param] | None = None,
                 dim: int | None = None, critical_points=(), domain=None,
                 tags: Sequence[str] = (), paper: str = "", description: str = "",
                 pack: Callable | None = None):
        self.name = name
        self.kernels = kernels          # import target resolved by testbed.objective.oracle
        self.params = dict(params or {})
        self.dim = dim                  # None: any d, chosen at bind time
        self._critical_points = critical_points
        self.domain = domain            # (low, high) box or None
        self.tags = tuple(tags)
        self.paper = paper
        self.description = description
        self._pack = pack
        self.values: dict = {}
        self.d = dim
        self.source = ""                # file the entry came from (set by the registry)

    # -- binding ---------------------------------------------------------------
    def bind(self, d: int | None = None, **values) -> "Landscape":
        """A bound copy: dimension ``d`` and parameter values (defaults for the rest),
        each checked against its declared domain.

        Raises
        ------
        TestbedError
            For an unknown parameter, a value outside its domain or of the wrong
            shape, or a missing dimension.
        """
        unknown = set(values) - set(self.params)
        if unknown:
            raise TestbedError(f"landscape {self.name!r} has no parameter(s) "
                               f"{sorted(unknown)}; its parameters are {sorted(self.params)}")
        if self.dim is not None and d is not None and d != self.dim:
            raise TestbedError(f"landscape {self.name!r} is {self.dim}-dimensional, "
                               f"not {d}-dimensional")
        d = self.dim if self.dim is not None else (d if d is not None else self.d)
        if d is None:
            raise TestbedError(f"landscape {self.name!r} works in any dimension: "
                               f"pass d=... to bind()")
        if not (isinstance(d, (int, np.integer)) and d >= 1):
            raise TestbedError(f"dimension d must be a positive integer, got {d!r}")
        merged = {**{k: v for k, v in self.values.items()}, **values}
        checked = {}
        for key, spec in self.params.items():
            value = merged.get(key, spec.default)
            if callable(value):
                value = value(int(d))
            if value is None:
                raise TestbedError(f"landscape {self.name!r} needs parameter {key!r}")
            shape = np.shape(value)
            if spec.vector and shape != (d,):
                raise TestbedError(f"landscape {self.name!r}: parameter {key!r} must have "
                                   f"length d = {d}, got shape {shape}")
            if not spec.vector and shape != ():
                raise TestbedError(f"landscape {self.name!r}: parameter {key!r} must be a "
                                   f"scalar, got shape {shape}")
            try:
                arr = spec.check(key, value)
            except TestbedError as exc:
                raise TestbedError(f"landscape {self.name!r}: {exc}") from None
            checked[key] = arr
        new = object.__new__(Landscape)
        new.__dict__.update(self.__dict__)
        new.values = checked
        new.d = int(d)
        new._p = None
        new.p                              # pack now, so its errors point at bind()
        return new

    @property
    def p(self) -> np.ndarray:
        """The packed parameter vector the kernels receive."""
        self._require_bound()
        if getattr(self, "_p", None) is None:
            if self._pack is not None:
                p = self._pack(self.d, **self.values)
            else:
                parts = [np.atleast_1d(self.values[k]) for k in self.params]
                p = np.concatenate(parts) if parts else np.zeros(0)
            self._p = np.ascontiguousarray(p, dtype=np.float64)
        return self._p

    def _require_bound(self):
        if self.d is None or (self.params and not self.values):
            raise TestbedError(f"landscape {self.name!r} is not bound: call "
                               f".bind(d=..., **params) or testbed.landscape(name, ...)")

    def critical_points(self) -> list[CriticalPoint]:
        """The declared critical points at the bound dimension and parameters."""
        self._require_bound()
        cps = self._critical_points
        if callable(cps):
            cps = cps(self.d, **{k: (v if v.shape else float(v))
                                 for k, v in self.values.items()})
        return list(cps)

    # -- evaluation (validated wrappers over the compiled kernels) ---------------
    @property
    def oracle(self):
        """The compiled module with value, value_grad, hessian and hvp."""
        from .oracle import oracle_module
        from .checks import check_kernels
        self._require_bound()
        module = oracle_module(self)
        if self.kernels[0] == "module":      # hand-written: check before first use
            check_kernels(self, module)
        return module

    def _point(self, x, what="x", finite=False) -> np.ndarray:
        """x as a contiguous float64 vector of length d (and finite if asked)."""
        try:
            arr = np.ascontiguousarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise TestbedError(f"{what} must be an array of numbers, got {x!r}") from None
        if finite and arr.shape == (self.d,) and not np.all(np.isfinite(arr)):
            raise TestbedError(f"{what} contains NaN or inf")
        if arr.shape != (self.d,):
            raise TestbedError(f"{what} has shape {arr.shape}, but landscape "
                               f"{self.name!r} is {self.d}-dimensional: pass shape ({self.d},)")
        return arr

    def value(self, x) -> float:
        """:math:`f(x)`."""
        return float(self.oracle.value(self._point(x), self.p))

    def grad(self, x) -> np.ndarray:
        r""":math:`\nabla f(x)`, shape (d,)."""
        g = np.empty(self.d)
        self.oracle.value_grad(self._point(x), self.p, g)
        return g

    def hessian(self, x) -> np.ndarray:
        r""":math:`\nabla^2 f(x)`, shape (d, d)."""
        H = np.empty((self.d, self.d))
        self.oracle.hessian(self._point(x), self.p, H)
        return H

    def hvp(self, x, v) -> np.ndarray:
        r"""The Hessian-vector product :math:`\nabla^2 f(x)\, v`, shape (d,)."""
        out = np.empty(self.d)
        self.oracle.hvp(self._point(x), self.p, self._point(v, "v"), out)
        return out

    def __repr__(self):
        bound = f", d={self.d}" if self.d is not None else ""
        return f"<Landscape {self.name}{bound}>"


def from_kernels(name: str, module: str, **kw) -> Landscape:
    """A landscape whose kernels are hand-written Numba functions.

    Parameters
    ----------
    name : str
        The catalogue name.
    module : str
        The module holding the kernels, usually ``__name__`` of the declaring file:
        ``value_grad(x, p, g) -> f`` is required, the rest of the contract of
        :class:`Landscape` optional (what is missing is derived, its accuracy stated).
    **kw
        params (name -> :class:`Param`), dim, critical_points, domain, tags, paper,
        description, pack (parameters -> the flat vector p the kernels receive): as
        for :class:`Landscape`.

    Returns
    -------
    Landscape
        Unbound; a hand-written gradient is checked against finite differences on
        first use.
    """
    return Landscape(name, kernels=("module", module), **kw)
