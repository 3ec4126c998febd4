"""Structure-of-arrays noisy gradient descent (the "noisy lanes" backend).

The update is the ``noisy_gd`` rule's, x <- (x - eta grad f(x)) + sigma xi with xi
drawn from the replica's own stream, and the results (final points, status, stop
steps, loss observations) equal the generic runner's (:mod:`.runner`) bit for bit;
only the loop order differs:

- a share of replicas runs through ``m`` lanes, columns of a (d, m) block B; when a
  lane's replica stops, the lane takes the next replica of the share, so lanes stay
  busy while stop steps differ (escape times) and each lane keeps its own step count;
  once the share's queue is empty and half the lanes idle, the driver
  (:func:`testbed._engine.lanes.run_noisy`) moves the busy ones into a block half as
  wide (a lane's numbers do not depend on its position);
- a step of all lanes is loops across lanes without branches, which LLVM vectorises:
  the oracle's ``value_grad_lanes`` (f and g at every column, the same operations in
  the same order as ``value_grad``), the lanes' normals Z (d, m)
  (:func:`testbed._engine.rng.normal_rows`, lane r drawing its d normals from its
  replica's stream in the rule's order; compiled once for all landscapes and called
  by symbol), then B[i, r] <- (B[i, r] - eta_r G[i, r]) + sigma_r Z[i, r], the rule's
  expression;
- then, per lane, what the generic runner does after a step, in its order: the loss
  observation at t (``f`` of the step is f(x_t), what the observer computes), a
  non-finite loss (DIVERGED at t), the event on (t, x_{t+1}, g_t, f_t) (EVENT at
  t + 1), the budget (with the end-of-run finiteness check), and the final
  observation f(x_stop) when the stop step is on the stride.

Bound at instantiation (see :mod:`testbed._engine.lanes`): the oracle's
``value_grad_lanes`` and ``value_grad`` (the final observation, as the runner takes
it), and ``event``.
"""
import math

import numpy as np

from testbed._engine.jit import njit
from testbed._engine.rng import normal_rows, seed_state
from testbed._engine.status import BUDGET, DIVERGED, EVENT
from testbed._engine.templates import unbound


value_grad_lanes = value_grad = event = unbound


@njit(inline="always")
def _load(r, k, X, H, seed, r0, B, S, T, eta, sigma, state):
    """Lane r takes replica k: its start, its stream, its hyper-parameters."""
    for i in range(B.shape[0]):
        B[i, r] = X[k, i]
    seed_state(seed, r0 + k, state)
    for j in range(4):
        S[j, r] = state[j]
    T[r] = 0
    h = k if H.shape[0] > 1 else 0
    eta[r] = H[h, 0]
    sigma[r] = H[h, 1]


@njit(inline="always")
def _finish(r, k, st, s, X, B, p, stride, loss, stop, status, g1):
    """Replica k, in lane r, stopped at step s with status st: the end-of-run
    finiteness check, the final observation (its gradient into the scratch g1), the
    results."""
    d = B.shape[0]
    if st == BUDGET:
        for i in range(d):
            if not math.isfinite(B[i, r]):
                st = DIVERGED
                break
    for i in range(d):
        X[k, i] = B[i, r]
    n_obs = loss.shape[0]
    if st != DIVERGED and s % stride == 0 and s // stride < n_obs:
        loss[s // stride, k] = value_grad(X[k], p, g1)
    stop[k] = s
    status[k] = st


@njit
def steps(nxt, hi, X, H, Q, p, seed, r0, n_steps, stride, B, S, T, rep, eta, sigma,
          loss, stop, status, G, F, Z, u, miss, words, state, g1):
    """Steps of every lane of the block B (d, m) until all lanes are idle, or until
    the queue (replicas nxt..hi-1) is empty and at most half the lanes are busy;
    an idle lane (rep -1) takes the next replica of the queue. Returns (nxt, busy).
    Scratch from the caller (allocating it here compiled NumPy's allocators for five
    more signatures): G and Z (d, m), F and u (m), miss (uint8, m rounded up to a multiple
    of 8, zero) and words (miss as uint64), state (uint64, 4), g1 (d)."""
    d, m = B.shape
    n_obs = loss.shape[0]
    while True:
        busy = 0
        for r in range(m):          # idle lanes take the next replicas, in lane order
            if rep[r] < 0 and nxt < hi:
                _load(r, nxt, X, H, seed, r0, B, S, T, eta, sigma, state)
                rep[r] = nxt
                nxt += 1
            busy += rep[r] >= 0
        if busy == 0 or (nxt == hi and m >= 16 and 2 * busy <= m):
            return nxt, busy
        value_grad_lanes(B, p, G, F)
        normal_rows(S, Z, u, miss, words, state)
        for i in range(d):
            b = B[i]
            g = G[i]
            z = Z[i]
            for r in range(m):
                b[r] = (b[r] - eta[r] * g[r]) + sigma[r] * z[r]
        for r in range(m):
            k = rep[r]
            if k < 0:
                continue
            t = T[r]
            f = F[r]
            if n_obs > 0 and t % stride == 0 and t // stride < n_obs:
                loss[t // stride, k] = f
            if not math.isfinite(f):
                st, s = DIVERGED, t
            elif event(t, B[:, r], G[:, r], f, Q):
                st, s = EVENT, t + 1
            elif t + 1 == n_steps:
                st, s = BUDGET, n_steps
            else:
                T[r] = t + 1
                continue
            _finish(r, k, st, s, X, B, p, stride, loss, stop, status, g1)
            rep[r] = -1
