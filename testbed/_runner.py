"""Source of the compiled ensemble loops (one generated module per landscape, update
rule, stopping event and projection; see :mod:`testbed._codegen`).

``run`` advances N replicas in parallel (``prange``); replica r draws from the stream
``seed_state(seed, r0 + r)`` only, so results do not depend on the thread count or on
N. (Plain GD on SymPy landscapes takes the vectorised path of :mod:`testbed._lanes`.)
"""
from __future__ import annotations

import inspect

from . import _codegen

# the oracle functions a rule may call (finite-sum landscapes add the last two)
ORACLE_NAMES = ("value_grad", "hessian", "hvp", "sharpness", "value_grad_batch", "n_samples")

# status codes of a replica
BUDGET, EVENT, RULE_DONE, DIVERGED = 1, 2, 3, 4
STATUS_NAMES = {BUDGET: "budget", EVENT: "event", RULE_DONE: "done", DIVERGED: "diverged"}

_HEADER = '''
import math
import numpy as np
from numba import prange
from testbed._jit import njit, njit_parallel
from testbed._rng import normal, uniform, uniform_ball, seed_state
from testbed._codegen import import_path
_o = import_path({oracle!r}, {oracle_path!r})
{oracle_names}
event = import_path({ev_mod!r}, {ev_path!r}).{ev_name}
project = import_path({pj_mod!r}, {pj_path!r}).{pj_name}
'''

_LOOP = '''

@njit
def _observe(k, r, x, p, loss, gnorm, xs, coords, sharp, sharp_iters):
    d = x.shape[0]
    gg = np.empty(d)
    f = value_grad(x, p, gg)
    loss[k, r] = f
    gnorm[k, r] = math.sqrt(np.dot(gg, gg))
    for j in range(coords.shape[0]):
        xs[k, j, r] = x[coords[j]]
    if sharp.shape[0] > k:
        sharp[k, r] = {sharpness_call} if math.isfinite(f) else np.nan


@njit
def _one(r, X, P, H, Q, seed, r0, n_steps, stride, n_state, n_scalars, coords,
         sharp_iters, loss, gnorm, xs, sharp, status, stop_step, scalars):
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
            _observe(t // stride, r, x, p, loss, gnorm, xs, coords, sharp, sharp_iters)
        f = step(t, x, g, s, c, h, p, rng)
        if not math.isfinite(f):
            st = DIVERGED
            stop = t
            break
        if c[0] != 0.0:
            st = RULE_DONE
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
        _observe(stop // stride, r, x, p, loss, gnorm, xs, coords, sharp, sharp_iters)
    status[r] = st
    stop_step[r] = stop
    for i in range(n_scalars):
        scalars[r, i] = c[1 + i]


@njit_parallel
def run(X, P, H, Q, seed, r0, n_steps, stride, n_state, n_scalars, coords,
        sharp_iters, loss, gnorm, xs, sharp, status, stop_step, scalars):
    for r in prange(X.shape[0]):
        _one(np.int64(r), X, P, H, Q, seed, r0, n_steps, stride, n_state, n_scalars, coords,
             sharp_iters, loss, gnorm, xs, sharp, status, stop_step, scalars)
'''


def _where(fn):
    """(module name, file) of a compiled function, for the generated import."""
    py = getattr(fn, "py_func", fn)
    module = inspect.getmodule(py)
    return module.__name__, inspect.getsourcefile(py), py.__name__


_MODULES: dict = {}


def runner_module(oracle, rule, event, projection, with_sharpness=False):
    """The generated module holding ``run`` for this combination (memoised). The
    sharpness observer is compiled in only when asked for (it is most of the compile
    time)."""
    memo = (oracle.__name__, rule.__name__, event.pred, projection.fn, with_sharpness)
    if memo not in _MODULES:
        _MODULES[memo] = _build(oracle, rule, event, projection, with_sharpness)
    return _MODULES[memo]


def _build(oracle, rule, event, projection, with_sharpness):
    ev_mod, ev_path, ev_name = _where(event.pred)
    pj_mod, pj_path, pj_name = _where(projection.fn)
    rule_src = inspect.getsource(rule)
    key = "|".join([oracle.__name__, rule.__name__, _codegen.digest(rule_src),
                    ev_mod, ev_name, _codegen.digest(inspect.getsource(event.pred.py_func)),
                    pj_mod, pj_name, _codegen.digest(inspect.getsource(projection.fn.py_func)),
                    _codegen.digest(_LOOP + _HEADER), str(with_sharpness)])

    def source():
        bound = [n for n in ORACLE_NAMES if hasattr(oracle, n)]
        head = _HEADER.format(oracle=oracle.__name__, oracle_path=oracle.__file__,
                              oracle_names="\n".join(f"{n} = _o.{n}" for n in bound),
                              ev_mod=ev_mod, ev_path=ev_path, ev_name=ev_name,
                              pj_mod=pj_mod, pj_path=pj_path, pj_name=pj_name)
        codes = (f"BUDGET, EVENT, RULE_DONE, DIVERGED = "
                 f"{BUDGET}, {EVENT}, {RULE_DONE}, {DIVERGED}\n")
        call = "sharpness(x, p, sharp_iters)" if with_sharpness else "np.nan"
        return (head + codes + _codegen.functions_source(rule, ("init", "step"))
                + _LOOP.replace("{sharpness_call}", call))

    return _codegen.load_generated("run", key, source)
