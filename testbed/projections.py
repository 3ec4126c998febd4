"""Projections onto constraint sets for projected gradient descent.

A projection is a Numba function ``project(x, q)`` that maps x in place onto the set,
with parameters q, defined at module level in a file; wrap your own with
``Projection(fn, q)``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._engine.jit import is_compiled, njit
from .errors import TestbedError


@dataclasses.dataclass(frozen=True)
class Projection:
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


IDENTITY = Projection(_identity, (), "identity")


def ball(radius: float) -> Projection:
    """Euclidean projection onto {|x| <= radius}."""
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise TestbedError(f"ball radius must be a positive finite number, got {radius!r}")
    return Projection(_ball, (radius,), f"ball({radius})")


def box(low: float, high: float) -> Projection:
    """Projection onto the box [low, high]^d (coordinate-wise clipping)."""
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
        raise TestbedError(f"box needs low < high, got [{low}, {high}]")
    return Projection(_box, (low, high), f"box({low}, {high})")

__all__ = ["IDENTITY", "Projection", "ball", "box"]
