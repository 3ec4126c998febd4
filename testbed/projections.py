r"""Projections onto constraint sets for projected gradient descent
(``rule="projected_gd"``: :math:`x_{t+1} = P_C(x_t - \eta \nabla f(x_t))`).

A projection is a Numba function ``project(x, q)`` that maps :math:`x` in place onto
the set :math:`C`, with parameters ``q``, defined at module level in a file; wrap
your own with ``Projection(fn, q)``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._engine.jit import is_compiled, njit
from .errors import TestbedError


@dataclasses.dataclass(frozen=True)
class Projection:
    """A projection: a compiled function and its parameters.

    Parameters
    ----------
    fn : Numba function
        ``fn(x, q)``, mapping ``x`` in place onto the set; defined at module level in
        a file.
    q : tuple of float
        Its parameters (no NaN).
    name : str
        For results (``Result.meta["projection"]``) and messages.

    Raises
    ------
    TestbedError
        If ``fn`` is not a compiled function or ``q`` holds a NaN.
    """
    fn: object
    q: tuple = ()
    name: str = ""

    def __post_init__(self):
        if not is_compiled(self.fn):
            raise TestbedError("a projection must be a Numba function (decorate it with "
                               "@numba.njit) defined at module level in a file")
        if np.any(np.isnan(self.params)):
            raise TestbedError(f"projection {self.name!r} has NaN parameters {self.q}")

    @property
    def params(self) -> np.ndarray:
        """``q`` as the float64 array the compiled function receives."""
        return np.asarray(self.q, dtype=np.float64).reshape(-1)


@njit
def _identity(x, q):
    pass


@njit
def _ball(x, q):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    s = math.sqrt(s)
    if s > q[0]:
        for i in range(x.shape[0]):
            x[i] *= q[0] / s


@njit
def _box(x, q):
    for i in range(x.shape[0]):
        x[i] = min(max(x[i], q[0]), q[1])


#: No constraint (the default of :func:`testbed.run`).
IDENTITY = Projection(_identity, (), "identity")


def ball(radius: float) -> Projection:
    r"""Euclidean projection onto the ball :math:`\{x : \lVert x \rVert_2 \le r\}`,
    ``r = radius > 0``: :math:`x \mapsto x \min(1, r / \lVert x \rVert_2)`."""
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise TestbedError(f"ball radius must be a positive finite number, got {radius!r}")
    return Projection(_ball, (radius,), f"ball({radius})")


def box(low: float, high: float) -> Projection:
    r"""Projection onto the box :math:`[\text{low}, \text{high}]^d` (coordinate-wise
    clipping), ``low < high``."""
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
        raise TestbedError(f"box needs low < high, got [{low}, {high}]")
    return Projection(_box, (low, high), f"box({low}, {high})")

__all__ = ["IDENTITY", "Projection", "ball", "box"]
