"""The ensemble loop: N replicas of one update rule, each from its own random stream.

``run`` advances replicas lo..hi-1 (one share of
:func:`testbed._engine.parallel.over_range`), each from X[r] for ``n_steps`` steps of
the rule's ``step``, observing loss, gradient norm, coordinates and sharpness every
``stride`` steps, and stops it when its loss or iterate leaves the finite numbers
(DIVERGED, at the step whose loss was not finite), when the rule says it is done
(DONE) or when the event fires (EVENT, stop step t + 1). Replica r draws only from
``seed_state(seed, r0 + r)``, so results do not depend on the thread count or on N.
``progress[r]`` counts replica r's observations recorded so far (n_obs once it has
finished), for a reader in another thread (the sharpness computed alongside the run).

Bound at instantiation (see :mod:`testbed._engine.runner`): the oracle's
``value_grad``, ``hessian``, ``hvp``, ``sharpness`` (or :func:`no_sharpness`) and,
on finite sums, ``value_grad_batch`` and ``n_samples``; the rule's ``init`` and
``step``; ``event`` and ``project``.
"""
import math

import numpy as np

from testbed._engine.jit import njit
from testbed._engine.rng import normal, seed_state, uniform, uniform_ball  # noqa: F401 (rules)
from testbed._engine.status import BUDGET, DIVERGED, DONE, EVENT
from testbed._engine.templates import unbound


value_grad = hessian = hvp = sharpness = value_grad_batch = n_samples = unbound
value_grad_inputs = unbound
init = step = event = project = unbound


@njit
def no_sharpness(x, p, n_iter):
    return np.nan


# _observe and _one are inlined (Numba IR) into run: Numba re-optimises and recompiles
# every linked callee at each level of calls, so each level removed saves that share
# of the cold compile (B4's runner: 6.6 s -> 3.8 s; B1's 2.9 s -> 2.5 s)
@njit(inline='always')
def _observe(k, r, x, p, loss, gnorm, xs, coords, sharp, sharp_iters, progress):
    d = x.shape[0]
    gg = np.empty(d)
    f = value_grad(x, p, gg)
    loss[k, r] = f
    gnorm[k, r] = math.sqrt(np.dot(gg, gg))
    for j in range(coords.shape[0]):
        xs[k, j, r] = x[coords[j]]
    if sharp.shape[0] > k:
        sharp[k, r] = sharpness(x, p, sharp_iters) if math.isfinite(f) else np.nan
    progress[r] = k + 1


@njit(inline='always')
def _one(r, X, P, H, Q, seed, r0, n_steps, stride, n_state, n_scalars, coords,
         sharp_iters, loss, gnorm, xs, sharp, status, stop_step, scalars, progress):
    d = X.shape[1]
    x = X[r]
    p = P[r] if P.shape[0] > 1 else P[0]
    h = H[r] if H.shape[0] > 1 else H[0]
    rng = np.empty(4, np.uint64)
    seed_state(seed, r0 + r, rng)
    g = np.zeros(d)
    s = np.zeros((n_state, d))
    c = np.zeros(1 + n_scalars)
    init(x, s, c, h, p, rng)
    n_obs = loss.shape[0]
    st = BUDGET
    stop = n_steps
    for t in range(n_steps):
        if t % stride == 0 and t // stride < n_obs:
            _observe(t // stride, r, x, p, loss, gnorm, xs, coords, sharp, sharp_iters,
                     progress)
        f = step(t, x, g, s, c, h, p, rng)
        if not math.isfinite(f):
            st = DIVERGED
            stop = t
            break
        if c[0] != 0.0:
            st = DONE
            stop = t + 1
            break
        if event(t, x, g, f, Q):
            st = EVENT
            stop = t + 1
            break
    if st == BUDGET:
        for i in range(d):
            if not math.isfinite(x[i]):
                st = DIVERGED
                break
    if st != DIVERGED and stop % stride == 0 and stop // stride < n_obs:
        _observe(stop // stride, r, x, p, loss, gnorm, xs, coords, sharp, sharp_iters,
                 progress)
    status[r] = st
    stop_step[r] = stop
    for i in range(n_scalars):
        scalars[r, i] = c[1 + i]
    progress[r] = n_obs


@njit
def run(lo, hi, X, P, H, Q, seed, r0, n_steps, stride, n_state, n_scalars, coords,
        sharp_iters, loss, gnorm, xs, sharp, status, stop_step, scalars, progress):
    for r in range(lo, hi):
        _one(np.int64(r), X, P, H, Q, seed, r0, n_steps, stride, n_state, n_scalars, coords,
             sharp_iters, loss, gnorm, xs, sharp, status, stop_step, scalars, progress)
