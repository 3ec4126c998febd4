"""Stopping events: compiled predicates checked after every step of every replica.

An event is a Numba function ``pred(t, x, g, f, q) -> bool`` defined at module level
in a file (so the compiled ensemble can import it and be cached), with parameters
``q`` (a float array). After step t it sees the new point x = x_{t+1} and the
gradient g and loss f at x_t; when it returns True the replica stops, with
stop step t + 1. Wrap your own with ``Event(pred, q)``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._jit import njit
from .errors import TestbedError


@dataclasses.dataclass(frozen=True)
class Event:
    """A predicate and its parameters; ``name`` is for results and messages."""
    pred: object
    q: tuple = ()
    name: str = ""

    def __post_init__(self):
        if not hasattr(self.pred, "py_func"):
            raise TestbedError("an event predicate must be a Numba function (decorate it "
                               "with @numba.njit) defined at module level in a file")

    @property
    def params(self) -> np.ndarray:
        return np.asarray(self.q, dtype=np.float64).reshape(-1)


@njit
def _never(t, x, g, f, q):
    return False


@njit
def _escape(t, x, g, f, q):
    return abs(x[int(q[0])]) > q[1]


@njit
def _leave_ball(t, x, g, f, q):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s > q[0] * q[0]


@njit
def _converged(t, x, g, f, q):
    s = 0.0
    for i in range(g.shape[0]):
        s += g[i] * g[i]
    return math.sqrt(s) < q[0]


NEVER = Event(_never, (), "never")


def escape(coord: int, radius: float) -> Event:
    """Stop at the first t with |x_coord(t)| > radius."""
    if radius <= 0:
        raise TestbedError(f"escape radius must be positive, got {radius}")
    return Event(_escape, (coord, radius), f"escape(|x[{coord}]| > {radius})")


def leave_ball(radius: float) -> Event:
    """Stop at the first t with |x(t)| > radius."""
    if radius <= 0:
        raise TestbedError(f"ball radius must be positive, got {radius}")
    return Event(_leave_ball, (radius,), f"leave_ball(|x| > {radius})")


def converged(gtol: float) -> Event:
    """Stop once |grad f(x_t)| < gtol (stop step t + 1)."""
    if gtol <= 0:
        raise TestbedError(f"gradient tolerance must be positive, got {gtol}")
    return Event(_converged, (gtol,), f"converged(|g| < {gtol})")
