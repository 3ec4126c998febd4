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
import numbers

import numpy as np

from ._engine.jit import is_compiled, njit
from .errors import TestbedError


@dataclasses.dataclass(frozen=True)
class Event:
    """A predicate and its parameters; ``name`` is for results and messages;
    ``coords``: the positions in ``q`` that hold coordinate indices, checked against
    the landscape's dimension before the run (the compiled predicate reads x[q[i]])."""
    pred: object
    q: tuple = ()
    name: str = ""
    coords: tuple = ()

    def __post_init__(self):
        if not is_compiled(self.pred):
            raise TestbedError("an event predicate must be a Numba function (decorate it "
                               "with @numba.njit) defined at module level in a file")
        if not np.all(np.isfinite(self.params)):
            raise TestbedError(f"event {self.name or self.pred.__name__!r} has non-finite "
                               f"parameters {self.q}")

    def check_dimension(self, d: int) -> None:
        """Raise unless every coordinate index of the event lies in [0, d)."""
        for i in self.coords:
            c = self.params[i]
            if not (c == int(c) and 0 <= c < d):
                raise TestbedError(f"event {self.name!r}: coordinate {self.q[i]!r} is out of "
                                   f"range for a {d}-dimensional landscape")

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
    """Stop at the first t with |x_coord(t)| > radius (coord in [0, d), checked by
    :func:`testbed.run` against the landscape)."""
    if isinstance(coord, bool) or not isinstance(coord, numbers.Integral) or coord < 0:
        raise TestbedError(f"escape coordinate must be an integer >= 0, got {coord!r}")
    _positive("escape radius", radius)
    return Event(_escape, (int(coord), radius), f"escape(|x[{coord}]| > {radius})",
                 coords=(0,))


def _positive(what, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not (math.isfinite(value) and value > 0):
        raise TestbedError(f"{what} must be a positive finite number, got {value!r}")


def leave_ball(radius: float) -> Event:
    """Stop at the first t with |x(t)| > radius."""
    _positive("ball radius", radius)
    return Event(_leave_ball, (radius,), f"leave_ball(|x| > {radius})")


def converged(gtol: float) -> Event:
    """Stop once |grad f(x_t)| < gtol (stop step t + 1)."""
    _positive("gradient tolerance", gtol)
    return Event(_converged, (gtol,), f"converged(|g| < {gtol})")

__all__ = ["Event", "NEVER", "converged", "escape", "leave_ball"]
