"""The vectorised GD backend for SymPy landscapes ("lanes"): when it applies, and
an instance of :mod:`testbed._engine.templates.lanes` (which documents the layout and
why the results equal the generic runner's bit for bit) per landscape oracle.

``testbed.run(L, "gd", ...)`` takes this backend when the work is plain GD on a SymPy
landscape with no event, no projection, shared landscape parameters, at most the loss
observed, no coordinates recorded and at least :data:`MIN_REPLICAS` replicas (see
:func:`eligible`).
"""
from __future__ import annotations

import numba
import numpy as np

from . import codegen, parallel
from .templates import lanes as template

# most replicas per block: a (d, BLOCK) float64 block stays in cache for the run
BLOCK = 1024
# below this many replicas the generic runner is used (too few to fill vectors)
MIN_REPLICAS = 64
# steps between snapshots (a replica that goes non-finite is replayed from its last)
CHUNK = 64


def lanes_module(oracle):
    """The lanes instance for this oracle, its ``lane``, ``lane_exact`` and
    ``lane_params`` bound to the oracle's (memoised by :func:`codegen.instantiate`)."""
    return codegen.instantiate(template, oracle.__name__,
                               {"lane": oracle.lane, "lane_exact": oracle.lane_exact,
                                "lane_params": oracle.lane_params,
                                "lane_rows": oracle.lane_rows})


def eligible(landscape, rule_module, event, projection, params, observe, coords, n) -> bool:
    """Whether ``testbed.run`` may take the lanes path for these arguments."""
    from ..events import NEVER
    from ..projections import IDENTITY
    from ..rules import gd
    return (rule_module is gd and event is NEVER and projection is IDENTITY
            and params is None and set(observe) <= {"loss"} and len(coords) == 0
            and n >= MIN_REPLICAS and landscape.kernels[0] == "sympy"
            and hasattr(landscape.oracle, "lane"))


def run(oracle, X, eta, p, steps: int, stride: int, observe_loss: bool, block: int | None = None,
        chunk: int = CHUNK):
    """GD on the rows of ``X`` (N, d), per-replica ``eta`` (N,) and shared ``p``.

    Returns (x (N, d) final, status (N,) int8, stop_step (N,) int64, loss (n_obs, N)
    or None), the same as the generic runner's.
    """
    N = X.shape[0]
    module = lanes_module(oracle)
    rows = np.ascontiguousarray(X.T)
    eta = np.ascontiguousarray(np.broadcast_to(np.asarray(eta, dtype=np.float64), (N,)))
    n_obs = steps // stride + 1 if observe_loss else 0
    loss = np.full((n_obs, N), np.nan)
    stop = np.empty(N, np.int64)
    status = np.empty(N, np.int8)
    threads = numba.get_num_threads()
    if block is None:   # at least one block per thread; any blocking gives the same numbers
        block = min(BLOCK, -(-N // (8 * threads)) * 8)
    parallel.over_range(module.run, -(-N // block), threads, rows, eta,
                        np.ascontiguousarray(p, dtype=np.float64), steps, stride, int(block),
                        int(chunk), loss, stop, status)
    return np.ascontiguousarray(rows.T), status, stop, (loss if observe_loss else None)
