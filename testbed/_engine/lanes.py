"""The vectorised backends ("lanes"), vectorised across replicas: when they apply,
and their instances per landscape oracle: plain GD
(:mod:`testbed._engine.templates.lanes`) and noisy GD
(:mod:`testbed._engine.templates.noisy_lanes`); each template documents its layout and
why its results equal the generic runner's bit for bit.

``testbed.run(L, rule, ...)`` takes a lanes backend (see :func:`eligible`) when the
rule is ``gd`` with no event on a SymPy landscape, or ``noisy_gd`` with any event on a
landscape whose oracle has ``value_grad_lanes`` (generated for SymPy landscapes; a
hand-written kernel module may define it), with no projection, shared landscape
parameters, at most the loss observed, no coordinates recorded and at least
:data:`MIN_REPLICAS` replicas.
"""
from __future__ import annotations

import numba
import numpy as np

from . import codegen, parallel
from .templates import lanes as template
from .templates import noisy_lanes as noisy_template

# most replicas per block: a (d, BLOCK) float64 block stays in cache for the run
BLOCK = 1024
# below this many replicas the generic runner is used (too few to fill vectors)
MIN_REPLICAS = 64
# steps between snapshots (a replica that goes non-finite is replayed from its last)
CHUNK = 64
# lanes a share of noisy-GD replicas runs through (a (d, SLOTS) block per thread;
# 256 measured fastest for B1 among 64..1024)
SLOTS = 256


def lanes_module(oracle):
    """The lanes instance for this oracle, its ``lane``, ``lane_exact`` and
    ``lane_params`` bound to the oracle's (memoised by :func:`codegen.instantiate`)."""
    return codegen.instantiate(template, oracle.__name__,
                               {"lane": oracle.lane, "lane_exact": oracle.lane_exact,
                                "lane_params": oracle.lane_params,
                                "lane_rows": oracle.lane_rows})


def noisy_module(oracle, event):
    """The noisy-GD lanes instance for this oracle and stopping event (memoised)."""
    key = f"{oracle.__name__}|{codegen.function_identity(event.pred)}"
    return codegen.instantiate(noisy_template, key,
                               {"value_grad_lanes": oracle.value_grad_lanes,
                                "value_grad": oracle.value_grad, "event": event.pred})


def eligible(landscape, rule_module, event, projection, params, observe, coords, n):
    """The lanes backend ``testbed.run`` may take for these arguments: ``"gd"``,
    ``"noisy_gd"`` or None (the generic runner)."""
    from ..events import NEVER
    from ..projections import IDENTITY
    from ..rules import gd, noisy_gd
    if not (projection is IDENTITY and params is None and set(observe) <= {"loss"}
            and len(coords) == 0 and n >= MIN_REPLICAS):
        return None
    if rule_module is gd and event is NEVER and hasattr(landscape.oracle, "lane"):
        return "gd"
    if rule_module is noisy_gd and hasattr(landscape.oracle, "value_grad_lanes"):
        return "noisy_gd"
    return None


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


def run_noisy(landscape, X, H, event, seed, r0, steps: int, stride: int, observe_loss: bool,
              slots: int | None = None):
    """Noisy GD on the rows of ``X`` (N, d, updated in place), (eta, sigma) in the 1 or N
    rows of ``H``, the landscape's parameters, replica r drawing from the stream
    (seed, r0 + r).

    Returns (x, status, stop_step, loss or None), the same as the generic runner's.
    """
    from ..objective.checks import check_lanes
    N, d = X.shape
    oracle = landscape.oracle
    check_lanes(landscape, oracle)
    module = noisy_module(oracle, event)
    n_obs = steps // stride + 1 if observe_loss else 0
    loss = np.full((n_obs, N), np.nan)
    stop = np.empty(N, np.int64)
    status = np.empty(N, np.int8)
    H = np.ascontiguousarray(H[:, :2])
    p = np.ascontiguousarray(landscape.p, dtype=np.float64)

    def scratch(m):
        """The kernel's scratch for m lanes (see the template's ``steps``)."""
        miss = np.zeros(-(-m // 8) * 8, np.uint8)
        return (np.empty((d, m)), np.empty(m), np.empty((d, m)), np.empty(m, np.uint64),
                miss, miss.view(np.uint64), np.empty(4, np.uint64), np.empty(d))

    def share(lo, hi):
        """Replicas lo..hi-1 through at most ``slots`` lanes, halving the block as the
        tail empties (the compiled steps release the GIL)."""
        m = min(slots or SLOTS, hi - lo)
        B, S = np.zeros((d, m)), np.ones((4, m), np.uint64)
        T, rep = np.zeros(m, np.int64), np.full(m, -1, np.int64)
        eta, sigma = np.zeros(m), np.zeros(m)
        nxt = lo
        while True:
            nxt, busy = module.steps(nxt, hi, X, H, event.params, p, seed, r0, steps, stride,
                                     B, S, T, rep, eta, sigma, loss, stop, status,
                                     *scratch(m))
            if busy == 0:
                return
            keep = np.flatnonzero(rep >= 0)       # move the busy lanes to the front
            m = max(8, -(-busy // 8) * 8)
            B2, S2 = np.zeros((d, m)), np.ones((4, m), np.uint64)
            B2[:, :busy], S2[:, :busy] = B[:, keep], S[:, keep]
            B, S = B2, S2
            T, rep, eta, sigma = (np.concatenate((a[keep], np.full(m - busy, fill, a.dtype)))
                                  for a, fill in ((T, 0), (rep, -1), (eta, 0), (sigma, 0)))

    # one share per thread: its lanes refill from its queue, so a share needs no
    # splitting for balance, and each share ends in a tail of idling lanes
    parallel.over_range(share, N, numba.get_num_threads(), per_thread=1)
    return X, status, stop, (loss if observe_loss else None)
