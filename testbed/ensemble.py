"""Ensembles: N replicas of one update rule on one landscape, compiled and threaded.

    res = testbed.run(L, "noisy_gd", x0, steps=1000, n=10_000, seed=0,
                      eta=0.1, sigma=1e-4, event=testbed.events.escape(0, 0.5))

Replica r's randomness is the stream (seed, r) and nothing else: the same r gives the
same trajectory in a run of 10 replicas or 10^6, on 1 thread or 16. Hyper-parameters
and landscape parameters may differ per replica (pass an array of length N for a
hyper-parameter; bind landscapes with the same d for ``params``).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from numba.core.errors import NumbaError

from . import perturb, rules
from ._engine import runner as _runner
from ._engine.runner import threads_used
from ._engine.status import DIVERGED
from ._version import __version__
from .errors import TestbedError
from .events import NEVER, Event
from .objective.landscape import Landscape
from .projections import IDENTITY, Projection
from .result import Result
from .objective.checks import compile_error

OBSERVABLES = ("loss", "grad_norm", "sharpness")


def check_seed(seed) -> int:
    """A seed is an integer in [-2**63, 2**63 - 1] (the int64 the compiled streams take)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TestbedError(f"seed must be an integer, got {seed!r} ({type(seed).__name__})")
    if not -2**63 <= seed <= 2**63 - 1:
        raise TestbedError(f"seed must lie in [-2**63, 2**63 - 1], got {seed}")
    return int(seed)


COUNT_MAX = 2**62      # counts meet step indices in int64 arithmetic inside the kernels


def _check_count(name, value, minimum=1) -> int:
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not minimum <= value <= COUNT_MAX):
        raise TestbedError(f"{name} must be an integer in [{minimum}, 2**62], got {value!r}")
    return int(value)


def _hyper_matrix(rule, given: dict, n: int, extra: np.ndarray):
    """The (1 or N, n_h) matrix of hyper-parameters, each checked against the domain
    its rule declares (a scalar, or one value per replica)."""
    keys, values = rules.hyper_vector(rule, given)
    declared = rules.hyper_params(rule)
    cols, per_replica = [], False
    for key, value in zip(keys, values):
        arr = declared[key].check(key, value, what="hyper-parameter")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
            raise TestbedError(f"hyper-parameter {key!r} must be a scalar or have one "
                               f"value per replica (length {n}), got shape {arr.shape}")
        per_replica |= arr.ndim == 1
        cols.append(arr)
    rows = n if per_replica else 1
    H = np.empty((rows, len(cols) + extra.shape[0]))
    for j, col in enumerate(cols):
        H[:, j] = col
    H[:, len(cols):] = extra
    meta = {k: (v.tolist() if v.ndim else float(v)) for k, v in zip(keys, cols)}
    return np.ascontiguousarray(H), meta


def _starts(landscape: Landscape, x0, n) -> np.ndarray:
    d = landscape.d
    try:
        X = np.array(x0, dtype=np.float64, copy=True, ndmin=1)
    except (TypeError, ValueError):
        raise TestbedError(f"x0 must be an array of numbers, got {x0!r}") from None
    if X.ndim == 1:
        if X.shape[0] != d:
            raise TestbedError(f"x0 has {X.shape[0]} coordinates but landscape "
                               f"{landscape.name!r} is {d}-dimensional")
        X = np.repeat(X[None, :], 1 if n is None else n, axis=0)
    elif X.ndim != 2 or X.shape[1] != d:
        raise TestbedError(f"x0 must have shape ({d},) or (N, {d}); got {X.shape}")
    elif n is not None and n != X.shape[0]:
        raise TestbedError(f"n = {n} but x0 holds {X.shape[0]} starting points")
    if not np.all(np.isfinite(X)):
        raise TestbedError("x0 contains NaN or inf")
    return np.ascontiguousarray(perturb.inputs(X))      # no change unless asked


def run(landscape, rule="gd", x0=None, steps=100, *, n=None, seed=0, stride=1,
        observe=("loss",), coords=(), event: Event | None = None,
        projection: Projection | None = None, threads=None, sharpness_iters=20,
        replica_offset=0, params=None, **hyper) -> Result:
    """Run N replicas of an update rule on a landscape, in parallel.

    Parameters
    ----------
    landscape : Landscape or str
        A bound landscape (``testbed.landscape(name, d=..., ...)``) or a catalogue name.
    rule : str or module
        An update rule (``testbed.rules.names()``) or a module following its contract.
    x0 : array (d,) or (N, d)
        The starting point, shared by the replicas, or one per replica.
    steps : int
        Steps per replica, in [1, 2**62].
    n : int, optional
        Number of replicas N, in [1, 2**62] (default: 1, or the rows of ``x0``).
    seed : int
        In [-2**63, 2**63 - 1]; replica r draws from the stream (seed, r + replica_offset)
        only, so results do not depend on N or on the thread count.
    stride : int
        Observe every ``stride`` steps (and at the stop).
    observe : tuple of str
        Among ``"loss"``, ``"grad_norm"``, ``"sharpness"`` (the top Hessian eigenvalue:
        exact for d <= max(64, sharpness_iters), else Lanczos converged to a relative
        residual of 1e-6; :func:`testbed._engine.templates.oracle.sharpness`).
    coords : sequence of int
        Coordinates of x to record at each observation, each in [0, d).
    event : Event, optional
        Stops a replica when it fires (:mod:`testbed.events`); its coordinates are
        checked against d.
    projection : Projection, optional
        Required by ``projected_gd`` (:mod:`testbed.projections`).
    threads : int, optional
        Numba threads (default: all); results are the same for any value.
    sharpness_iters : int
        The sharpness observer is dense up to d = max(64, sharpness_iters) and takes at
        most max(8 sharpness_iters, 160) Lanczos steps.
    replica_offset : int
        Shifts the replica indices: a chunk of a larger run draws the same streams.
    params : array (N, n_p), optional
        Per-replica landscape parameter vectors (landscapes bound with the same d).
    **hyper
        The rule's hyper-parameters, each a scalar or one value per replica, checked
        against the domain the rule declares (``testbed.rules.hyper_params``).

    Returns
    -------
    Result
        Final points ``x`` (N, d), ``status`` (N,) (:mod:`testbed.kernel` codes; a
        replica whose loss or iterate leaves the finite numbers is ``DIVERGED`` at that
        step while the others go on), ``stop_step``, ``traces`` (n_obs, N), and
        ``meta``: everything that made it (landscape, parameters, rule,
        hyper-parameters, seed, perturbation, version).

    Raises
    ------
    TestbedError
        For any argument outside its domain, named in the message, before any
        compiled code runs.
    """
    if isinstance(landscape, str):
        from .objective.registry import landscape as lookup
        landscape = lookup(landscape)
    landscape._require_bound()
    module = rules.get(rule)
    rule_name = module.__name__.rsplit(".", 1)[-1]
    seed = check_seed(seed)
    steps = _check_count("steps", steps)
    stride = _check_count("stride", stride)
    replica_offset = _check_count("replica_offset", replica_offset, 0)
    if x0 is None:
        raise TestbedError("x0 (the starting point or points) is required")
    if n is not None:
        n = _check_count("n", n)
    sharpness_iters = _check_count("sharpness_iters", sharpness_iters)
    X = _starts(landscape, x0, n)
    N, d = X.shape
    unknown = set(observe) - set(OBSERVABLES)
    if unknown:
        raise TestbedError(f"unknown observable(s) {sorted(unknown)}; choose from {OBSERVABLES}")
    coords = np.asarray(coords, dtype=np.int64).reshape(-1)
    if np.any((coords < 0) | (coords >= d)):
        raise TestbedError(f"coords {coords.tolist()} out of range for d = {d}")
    event = event or NEVER
    if not isinstance(event, Event):
        raise TestbedError(f"event must be a testbed.events.Event, got {event!r}")
    event.check_dimension(d)
    if rule_name == "projected_gd" and projection is None:
        raise TestbedError("projected_gd needs projection=... (see testbed.projections)")
    projection = projection or IDENTITY
    if not isinstance(projection, Projection):
        raise TestbedError(f"projection must be a testbed.projections.Projection, got "
                           f"{projection!r}")
    H, hyper_meta = _hyper_matrix(module, hyper, N, projection.params)
    P = landscape.p[None, :] if params is None else np.ascontiguousarray(params, dtype=float)
    if P.ndim != 2 or P.shape[1] != landscape.p.shape[0] or P.shape[0] not in (1, N):
        raise TestbedError(f"params must have shape (N, {landscape.p.shape[0]})")
    if not np.all(np.isfinite(P)):
        raise TestbedError("params contain NaN or inf")

    oracle = landscape.oracle
    missing = [n for n in getattr(module, "NEEDS", ()) if not hasattr(oracle, n)]
    if missing:
        raise TestbedError(f"rule {rule_name!r} needs kernel(s) {missing}, which landscape "
                           f"{landscape.name!r} does not provide (a finite-sum landscape "
                           f"defines value_grad_batch(x, p, idx, g) and n_samples(p))")
    job = _runner.Job(landscape=landscape, rule=module, X=X, P=P, H=H, event=event,
                      projection=projection, seed=seed, offset=replica_offset, steps=steps,
                      stride=stride, observe=tuple(observe), coords=coords,
                      sharpness_iters=sharpness_iters, threads=threads,
                      shared_params=params is None)
    try:
        X, status, stop_step, traces, scalars = _runner.execute(job)
    except NumbaError as exc:
        raise compile_error(landscape, f"ensemble for rule {rule_name!r}", exc) from None
    n_obs = steps // stride + 1
    at_start = int(np.sum((status == DIVERGED) & (stop_step == 0)))
    if at_start:
        warnings.warn(f"{at_start} of {N} replicas met a non-finite loss in their first "
                      f"step on {landscape.name!r} (at the starting point, or at a point the "
                      f"rule evaluated from it, such as SAM's ascent point); they are "
                      f"flagged diverged at step 0", stacklevel=2)
    meta = {"landscape": landscape.name, "d": d,
            "params": {k: v.tolist() for k, v in landscape.values.items()},
            "rule": rule_name, "hyper": hyper_meta, "seed": seed, "steps": steps,
            "stride": stride, "n": N, "replica_offset": replica_offset,
            "event": event.name, "event_params": event.params.tolist(),
            "projection": projection.name, "observe": list(observe),
            "coords": coords.tolist(), "perturb": perturb.level(), "version": __version__}
    return Result(x=X, status=status, stop_step=stop_step,
                  steps=np.arange(n_obs) * stride, traces=traces, scalars=scalars, meta=meta)

__all__ = ["OBSERVABLES", "check_seed", "run", "threads_used"]
