"""Inputs perturbed at the level of rounding: a stand-in, on one machine, for another
machine's arithmetic.

Another CPU's BLAS kernels and vector widths round sums in another order, which
changes results by a few units in the last place; in a chaotic run (training a
network, a trajectory near a bifurcation) that grows into a different run. Setting
``TESTBED_PERTURB=eps`` (or ``testbed check --perturb eps``) multiplies every starting
point given to :func:`testbed.run` and every data matrix of :mod:`testbed.nets` by
``1 + eps * u``, u uniform on [-1, 1] from a fixed stream, so a verdict can be checked
to survive it. ``eps`` is a relative size, 0 (the default, no change) up to 1e-6;
2**-52 ~ 2.2e-16 is one rounding. The level is part of every cached result's key.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import TestbedError

#: The environment variable that sets the level.
ENV = "TESTBED_PERTURB"
#: The largest level accepted (a relative size).
MAX_LEVEL = 1e-6


def level() -> float:
    """The relative perturbation in force (``$TESTBED_PERTURB``, default 0)."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return 0.0
    try:
        eps = float(text)
    except ValueError:
        raise TestbedError(f"{ENV}={text!r} is not a number") from None
    return validate(eps)


def validate(eps: float) -> float:
    """``eps`` if it is a relative size in [0, MAX_LEVEL], else a TestbedError."""
    if not (0.0 <= eps <= MAX_LEVEL):
        raise TestbedError(f"the perturbation ({ENV}) must lie in [0, {MAX_LEVEL:g}] "
                           f"(a relative size at the level of rounding); got {eps!r}")
    return float(eps)


def inputs(a: np.ndarray, salt: int = 0) -> np.ndarray:
    r""":math:`a (1 + \varepsilon u)` entrywise at the level :math:`\varepsilon` in force
    (``a`` itself when it is 0); :math:`u` is uniform on :math:`[-1, 1]`, drawn from a
    stream fixed by ``salt`` and the shape, so the same input gets the same
    perturbation in every process."""
    eps = level()
    if eps == 0.0:
        return a
    u = np.random.default_rng([0x7E57, salt, *a.shape]).uniform(-1.0, 1.0, a.shape)
    return a * (1.0 + eps * u)

__all__ = ["ENV", "MAX_LEVEL", "inputs", "level", "validate"]
