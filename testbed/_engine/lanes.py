"""Structure-of-arrays gradient descent for SymPy landscapes (the "lanes" path).

``testbed.run(L, "gd", ...)`` comes here when the work is plain GD on a SymPy
landscape with no event, no projection, shared landscape parameters, at most the loss
observed, no coordinates recorded and at least :data:`MIN_REPLICAS` replicas (see
:func:`eligible`). The arithmetic is that of the generic runner
(:mod:`testbed._engine.templates.runner` with :mod:`testbed.rules.gd`), so the results -- final
points, status, stop steps, loss observations -- are the same bit for bit; only the
memory layout and the loop order differ:

- coordinates are stored as d contiguous rows of length N (``X[i, r]``), step sizes
  as one row ``eta[r]``; the landscape parameters are scalars shared by all;
- replicas are cut into blocks of at most :data:`BLOCK` that ``prange`` hands to
  threads; inside a block the time loop is the outer loop and the loop over the
  block's replicas the inner one, whose working set (d + 1 rows of the block) stays
  in cache for all the steps;
- the inner loop body is the oracle's scalar ``lane`` kernel (inlined) and the
  update, without calls or branches, so LLVM vectorises it across replicas (4
  float64 lanes with AVX2).

Divergence without branches. The generic runner stops a replica at the first step t
where f(x_t) is not finite, after that step's update (stop step t, final point
x_t - eta g(x_t)). Here every replica is updated as ``(x - eta*g) - (f - f)``:
``f - f`` is +0.0 when f is finite, and ``a - (+0.0)`` is ``a`` bit for bit (-0.0
included), so a replica is untouched while its loss is finite and NaN from the first
non-finite loss on (NaN then propagates). Every :data:`CHUNK` steps the block is
scanned: replicas whose coordinates are all finite are exact so far and are
snapshotted; one that is not has left the finite numbers in that chunk (a non-finite
loss, or a non-finite gradient with a finite loss) and is replayed from its snapshot
at the end of the block by ``_exact``, a scalar copy of the generic runner's loop
(per-step divergence test, the end-of-run finiteness check of the final point, the
final loss observation, NaN observations after the stop), which also rewrites its
observations from the snapshot on.
"""
from __future__ import annotations

import numba
import numpy as np

from . import codegen

# most replicas per block: (d + 1) rows of BLOCK float64 stay in cache for the run
BLOCK = 1024
# below this many replicas the generic runner is used (too few to fill vectors)
MIN_REPLICAS = 64
# steps between snapshots (a replica that goes non-finite is replayed from its last)
CHUNK = 64

_HEADER = '''
import math
import numpy as np
from numba import prange
from testbed._engine.jit import njit, njit_parallel
from testbed._engine.status import BUDGET, DIVERGED
lane = None     # the oracle's scalar kernel, bound by testbed._engine.lanes on import
'''

_TEMPLATE = """

@njit
def _exact(X, eta, p, r, t0, n_steps, stride, loss, stop, status):
    # the generic runner's loop (templates/runner.py's _one with the gd rule) for replica
    # r from step t0 on, X[:, r] holding x_t0; rewrites r's observations from t0 on
    n_obs = loss.shape[0]
    inf = math.inf
{unpack_p}
{load_r}
    _e = eta[r]
    for k in range((t0 + stride - 1) // stride, n_obs):
        loss[k, r] = math.nan
    st = BUDGET
    s = n_steps
    for t in range(t0, n_steps):
        _f, {gs} = {call}
        k = t // stride
        if t == k * stride and k < n_obs:
            loss[k, r] = _f
{update_r}
        if not (abs(_f) < inf):
            st = DIVERGED
            s = t
            break
    if st == BUDGET:
{finite_r}
{store_r}
    if st != DIVERGED and s == (s // stride) * stride and s // stride < n_obs:
        loss[s // stride, r] = {call}[0]
    stop[r] = s
    status[r] = st


@njit
def _block(X, eta_all, p, lo, hi, n_steps, stride, chunk, loss, stop, status):
    # Slices indexed from 0 (LLVM then knows the index is non-negative, drops
    # Numba's negative-index wraparound and vectorises the replica loop).
    m = hi - lo
    n_obs = loss.shape[0]
    inf = math.inf
{unpack_p}
{rows}
    eta = eta_all[lo:hi]
    snap = np.empty(({d}, m))
    t0 = np.zeros(m, np.int64)
    dead = np.zeros(m, np.bool_)
    for r in range(m):
{snap_r}
    for c0 in range(0, n_steps, chunk):
        c1 = min(n_steps, c0 + chunk)
        for t in range(c0, c1):
            k = t // stride
            if t == k * stride and k < n_obs:
                lk = loss[k, lo:hi]
                for r in range(m):
{body}
                    lk[r] = _f
            else:
                for r in range(m):
{body}
        # a replica that went non-finite in this chunk is replayed exactly later,
        # from its last snapshot; the others are exact so far: snapshot them
        for r in range(m):
            if not dead[r]:
                ok = True
{check_r}
                if ok:
{snap_r2}
                    t0[r] = c1
                else:
                    dead[r] = True
    last = n_steps // stride
    final_obs = n_steps == last * stride and last < n_obs
    for r in range(m):
        if dead[r]:
{restore_r}
            _exact(X, eta_all, p, lo + r, t0[r], n_steps, stride, loss, stop, status)
        else:
            stop[lo + r] = n_steps
            status[lo + r] = BUDGET
            if final_obs:
{final_load}
                loss[last, lo + r] = {call}[0]


@njit_parallel
def run(X, eta, p, n_steps, stride, block, chunk, loss, stop, status):
    n = X.shape[1]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        hi = min(n, lo + block)
        _block(X, eta, p, lo, hi, n_steps, stride, chunk, loss, stop, status)
"""


def _source(d: int, n_p: int) -> str:
    xs = [f"_x{i}" for i in range(d)]
    gs = [f"_g{i}" for i in range(d)]
    ps = [f"_q{j}" for j in range(n_p)]
    call = f"lane({', '.join(xs + ps)})"

    def lines(indent, items):
        return "\n".join(" " * indent + item for item in items)

    # the vectorised body: x - eta*g, then minus (f - f), which is +0.0 when f is
    # finite (a - (+0.0) == a bit for bit, -0.0 included) and NaN otherwise, so a
    # replica whose loss leaves the finite numbers is NaN from then on
    body = [f"{x} = row{i}[r]" for i, x in enumerate(xs)]
    body += ["_e = eta[r]", f"_f, {', '.join(gs)}{',' if d == 1 else ''} = {call}",
             "_z = _f - _f"]
    body += [f"row{i}[r] = ({x} - _e * {g}) - _z" for i, (x, g) in enumerate(zip(xs, gs))]
    return _HEADER + _TEMPLATE.format(
        d=d, call=call, gs=", ".join(gs) + ("," if d == 1 else ""),
        unpack_p=lines(4, [f"{q} = p[{j}]" for j, q in enumerate(ps)] or ["pass"]),
        load_r=lines(4, [f"{x} = X[{i}, r]" for i, x in enumerate(xs)]),
        update_r=lines(8, [f"{x} = {x} - _e * {g}" for x, g in zip(xs, gs)]),
        finite_r=lines(8, [f"if not (abs({x}) < inf):\n            st = DIVERGED" for x in xs]),
        store_r=lines(4, [f"X[{i}, r] = {x}" for i, x in enumerate(xs)]),
        rows=lines(4, [f"row{i} = X[{i}, lo:hi]" for i in range(d)]),
        snap_r=lines(8, [f"snap[{i}, r] = row{i}[r]" for i in range(d)]),
        body=lines(20, body),
        check_r=lines(16, [f"if not (abs(row{i}[r]) < inf):\n                    ok = False"
                           for i in range(d)]),
        snap_r2=lines(20, [f"snap[{i}, r] = row{i}[r]" for i in range(d)]),
        restore_r=lines(12, [f"row{i}[r] = snap[{i}, r]" for i in range(d)]),
        final_load=lines(16, [f"{x} = row{i}[r]" for i, x in enumerate(xs)]))


def lanes_module(oracle, d: int, n_p: int):
    """The generated lanes module for this oracle, dimension and parameter count, its
    ``lane`` bound to the oracle's."""
    module = codegen.generated("lanes", f"{oracle.__name__}|{d}|{n_p}",
                               lambda: _source(d, n_p))
    module.lane = oracle.lane
    return module


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
    N, d = X.shape
    module = lanes_module(oracle, d, p.shape[0])
    rows = np.ascontiguousarray(X.T)
    eta = np.ascontiguousarray(np.broadcast_to(np.asarray(eta, dtype=np.float64), (N,)))
    n_obs = steps // stride + 1 if observe_loss else 0
    loss = np.full((n_obs, N), np.nan)
    stop = np.empty(N, np.int64)
    status = np.empty(N, np.int8)
    if block is None:   # at least one block per thread; any blocking gives the same numbers
        block = min(BLOCK, -(-N // (8 * numba.get_num_threads())) * 8)
    module.run(rows, eta, np.ascontiguousarray(p, dtype=np.float64), steps, stride,
               int(block), int(chunk), loss, stop, status)
    return np.ascontiguousarray(rows.T), status, stop, (loss if observe_loss else None)
