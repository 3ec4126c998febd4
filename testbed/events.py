r"""Stopping events: compiled predicates checked after every step of every replica.

An event is a Numba function ``pred(t, x, g, f, q) -> bool`` defined at module level
in a file (so the compiled ensemble can import it and be cached), with parameters
``q`` (a float array). After step :math:`t` it sees the new point
:math:`x = x_{t+1}` and the gradient :math:`g` and loss :math:`f` at :math:`x_t`;
when it returns True the replica stops, with stop step :math:`t + 1`. Wrap your own
with ``Event(pred, q)``::

    @njit                                  # from testbed.kernel import njit
    def _left_half(t, x, g, f, q):
        return x[0] < q[0]

    LEFT = Event(_left_half, (-1.0,), "x0 < -1")
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
    """A stopping event: a compiled predicate and its parameters.

    Parameters
    ----------
    pred : Numba function
        ``pred(t, x, g, f, q) -> bool``, defined at module level in a file.
    q : tuple of float
        Its parameters (finite).
    name : str
        For results (``Result.meta["event"]``) and messages.
    coords : tuple of int
        The positions in ``q`` that hold coordinate indices (the predicate reads
        ``x[int(q[i])]``), checked against the landscape's dimension before the run.

    Raises
    ------
    TestbedError
        If ``pred`` is not a compiled function or ``q`` is not finite.
    """
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
        """``q`` as the float64 array the compiled predicate receives."""
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


#: The event that never fires (the default of :func:`testbed.run`).
NEVER = Event(_never, (), "never")


def escape(coord: int, radius: float) -> Event:
    r"""Stop at the first :math:`t` with :math:`|x_c(t)| > r`, ``c = coord``,
    ``r = radius``.

    Parameters
    ----------
    coord : int
        The coordinate :math:`c`, in :math:`[0, d)` (checked by :func:`testbed.run`
        against the landscape).
    radius : float
        :math:`r > 0`.

    Returns
    -------
    Event
    """
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
    r"""Stop at the first :math:`t` with :math:`\lVert x(t) \rVert_2 > r`, ``r = radius > 0``."""
    _positive("ball radius", radius)
    return Event(_leave_ball, (radius,), f"leave_ball(|x| > {radius})")


def converged(gtol: float) -> Event:
    r"""Stop once :math:`\lVert \nabla f(x_t) \rVert_2 < \text{gtol}` (stop step
    :math:`t + 1`), ``gtol > 0``."""
    _positive("gradient tolerance", gtol)
    return Event(_converged, (gtol,), f"converged(|g| < {gtol})")

__all__ = ["Event", "NEVER", "converged", "escape", "leave_ball"]
