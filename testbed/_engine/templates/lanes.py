"""Structure-of-arrays gradient descent for SymPy landscapes (the "lanes" backend).

The arithmetic is that of the generic runner (:mod:`.runner` with
:mod:`testbed.rules.gd`), so final points, status, stop steps and loss observations
are the same bit for bit; only the memory layout and the loop order differ:

- coordinates are d contiguous rows of length N (``X[i, r]``), step sizes one row
  ``eta[r]``; the landscape parameters are shared (a tuple ``q`` of scalars);
- replicas are cut into blocks, ranges of which
  :func:`testbed._engine.parallel.over_range` hands to threads; a block is copied to
  a C-contiguous (d, m) array whose working set stays in cache for all the steps;
  inside it the time loop is the outer loop and the loop over replicas the inner one;
- the inner loop body is the oracle's ``lane`` kernel, inlined: it reads x = B[:, r],
  evaluates f and grad f from the same common subexpressions as ``value_grad``, and
  writes B[:, r] = (x - eta g) - z, z = f - f, with no call and no branch, so LLVM
  vectorises it across replicas.

Divergence without branches. The generic runner stops a replica at the first step t
where f(x_t) is not finite, after that step's update (stop step t, final point
x_t - eta g(x_t)). In the block, ``z = f - f``: +0.0 when f is finite, and
``a - (+0.0)`` is ``a`` bit for bit (-0.0 included), so a replica is untouched while
its loss is finite and NaN from its first non-finite loss on. Every ``chunk`` steps
the block is scanned: replicas whose coordinates are all finite are exact so far and
are snapshotted; one that is not left the finite numbers in that chunk and is
replayed from its snapshot at the end by :func:`_exact` (``lane_exact``, the step
without z: the generic runner's loop, per-step divergence test, the end-of-run finiteness check, the final
loss observation, NaN observations after the stop).

Bound at instantiation (see :mod:`testbed._engine.lanes`): ``lane(B, r, q, eta) ->
f``, ``lane_exact`` (the same without z) and ``lane_params(p) -> q`` from the
landscape's generated module.
"""
import math

import numpy as np

from testbed._engine.jit import njit
from testbed._engine.status import BUDGET, DIVERGED
from testbed._engine.templates import unbound


lane = lane_exact = lane_params = lane_rows = unbound


@njit(inline="always")
def _finite_column(B, r) -> bool:
    for i in range(B.shape[0]):
        if not (abs(B[i, r]) < math.inf):
            return False
    return True


@njit(inline="always")
def _value_at(B, r, q) -> float:
    """f at B[:, r] (the same expressions as the steps), leaving B unchanged."""
    tmp = np.empty((B.shape[0], 1))
    for i in range(B.shape[0]):
        tmp[i, 0] = B[i, r]
    return lane_exact(lane_rows(tmp), 0, q, 0.0)


@njit
def _exact(X, eta, q, r, t0, n_steps, stride, loss, stop, status):
    """The generic runner's loop for replica r from step t0 on, X[:, r] holding x_t0;
    rewrites r's observations from t0 on."""
    d = X.shape[0]
    n_obs = loss.shape[0]
    for k in range((t0 + stride - 1) // stride, n_obs):
        loss[k, r] = math.nan
    col = np.empty((d, 1))
    for i in range(d):
        col[i, 0] = X[i, r]
    e = eta[r]
    R = lane_rows(col)
    st = BUDGET
    s = n_steps
    for t in range(t0, n_steps):
        f = lane_exact(R, 0, q, e)
        k = t // stride
        if t == k * stride and k < n_obs:
            loss[k, r] = f
        if not (abs(f) < math.inf):
            st = DIVERGED
            s = t
            break
    if st == BUDGET and not _finite_column(col, 0):
        st = DIVERGED
    for i in range(d):
        X[i, r] = col[i, 0]
    if st != DIVERGED and s == (s // stride) * stride and s // stride < n_obs:
        loss[s // stride, r] = _value_at(col, 0, q)
    stop[r] = s
    status[r] = st


@njit
def _block(X, eta_all, q, lo, hi, n_steps, stride, chunk, loss, stop, status):
    d = X.shape[0]
    m = hi - lo
    n_obs = loss.shape[0]
    B = np.empty((d, m))
    for i in range(d):
        for r in range(m):
            B[i, r] = X[i, lo + r]
    eta = eta_all[lo:hi].copy()
    snap = B.copy()
    R = lane_rows(B)
    t0 = np.zeros(m, np.int64)
    dead = np.zeros(m, np.bool_)
    ok = np.empty(m, np.bool_)
    for c0 in range(0, n_steps, chunk):
        c1 = min(n_steps, c0 + chunk)
        for t in range(c0, c1):
            k = t // stride
            if t == k * stride and k < n_obs:
                lk = loss[k, lo:hi]
                for r in range(m):
                    lk[r] = lane(R, r, q, eta[r])
            else:
                for r in range(m):
                    lane(R, r, q, eta[r])
        # a replica that went non-finite in this chunk is replayed exactly later,
        # from its last snapshot; the others are exact so far: snapshot them (row by
        # row, without branches, so that the scan vectorises like the steps)
        for r in range(m):
            ok[r] = not dead[r]
        for i in range(d):
            for r in range(m):
                ok[r] = ok[r] and abs(B[i, r]) < math.inf
        for i in range(d):
            for r in range(m):
                snap[i, r] = B[i, r] if ok[r] else snap[i, r]
        for r in range(m):
            dead[r] = not ok[r]
            t0[r] = c1 if ok[r] else t0[r]
    last = n_steps // stride
    final_obs = n_steps == last * stride and last < n_obs
    for r in range(m):
        if dead[r]:
            for i in range(d):
                X[i, lo + r] = snap[i, r]
            _exact(X, eta_all, q, lo + r, t0[r], n_steps, stride, loss, stop, status)
        else:
            for i in range(d):
                X[i, lo + r] = B[i, r]
            stop[lo + r] = n_steps
            status[lo + r] = BUDGET
            if final_obs:
                loss[last, lo + r] = _value_at(B, r, q)


@njit
def run(b0, b1, X, eta, p, n_steps, stride, block, chunk, loss, stop, status):
    """Blocks b0..b1-1 of ``block`` replicas each (the last may be short)."""
    n = X.shape[1]
    q = lane_params(p)
    for b in range(b0, b1):
        lo = b * block
        hi = min(n, lo + block)
        _block(X, eta, q, lo, hi, n_steps, stride, chunk, loss, stop, status)
