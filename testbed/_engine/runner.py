"""The compiled ensemble, behind one interface: :func:`execute` runs a validated
:class:`Job` (from :func:`testbed.run`) on one of two backends -- the vectorised
lanes (:mod:`.lanes`, plain and noisy GD on a SymPy landscape) or an instance of
:mod:`testbed._engine.templates.runner` per landscape oracle, update rule, stopping
event and projection -- sizes the threads, and computes the sharpness observations
after the run where that is faster (same values).

A rule's ``init`` and ``step`` are compiled in the instance's globals, where the
oracle's kernels, the replica's random-number functions, the event and the
projection are bound; the names the rule module itself defines and its functions use
(its compiled helpers, its constants) are bound beside them.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import numbers
import threading
import time

import numba
import numpy as np

from . import blas, codegen, lanes, parallel
from ..errors import TestbedError
from .templates import runner as template

# the oracle functions a rule may call (finite-sum landscapes add the last two)
ORACLE_NAMES = ("value_grad", "hessian", "hvp", "sharpness", "value_grad_batch", "n_samples",
                "value_grad_inputs")
# names the instance provides to a rule (the rest of what it uses comes from its module)
_PROVIDED = {*ORACLE_NAMES, "project", "normal", "uniform", "uniform_ball"}

_MODULES: dict = {}


def _rule_globals(rule) -> dict:
    """What the rule's init and step take from their own module."""
    names = set()
    for fn in (rule.init, rule.step):
        names |= set(fn.__code__.co_names)
    return {n: vars(rule)[n] for n in names - _PROVIDED if n in vars(rule)}


def runner_module(oracle, rule, event, projection, with_sharpness=False):
    """The instance holding ``run`` for this combination (memoised). The sharpness
    observer is compiled in only when asked for (it is most of the compile time)."""
    memo = (oracle.__name__, rule.__name__, event.pred, projection.fn, with_sharpness)
    if memo not in _MODULES:
        key = "|".join([oracle.__name__, rule.__name__, codegen.source_hash(rule),
                        codegen.function_identity(event.pred),
                        codegen.function_identity(projection.fn), str(with_sharpness)])
        bindings = {n: getattr(oracle, n) for n in ORACLE_NAMES if hasattr(oracle, n)}
        if not with_sharpness:
            bindings.pop("sharpness", None)
        bindings.update(_rule_globals(rule), event=event.pred, project=projection.fn)
        module = codegen.instantiate(template, key, bindings,
                                     functions=(("init", rule.init), ("step", rule.step)))
        if not with_sharpness:
            module.sharpness = module.no_sharpness
        _MODULES[memo] = module
    return _MODULES[memo]


@dataclasses.dataclass
class Job:
    """A validated ensemble run (see :func:`testbed.run` for the meaning of each)."""
    landscape: object
    rule: object
    X: np.ndarray               # (N, d) starts
    P: np.ndarray               # (1 or N, n_p) landscape parameters
    H: np.ndarray               # (1 or N, n_h) hyper-parameters, projection's appended
    event: object
    projection: object
    seed: int
    offset: int
    steps: int
    stride: int
    observe: tuple
    coords: np.ndarray
    sharpness_iters: int
    threads: int | None
    shared_params: bool


def execute(job: Job):
    """Run the job on its backend: (x (N, d), status, stop_step, traces, scalars)."""
    N, d = job.X.shape
    oracle = job.landscape.oracle
    scalars = np.zeros((N, job.rule.SCALARS))
    kind = lanes.eligible(job.landscape, job.rule, job.event, job.projection,
                          None if job.shared_params else job.P, job.observe, job.coords, N)
    if kind is not None:
        with threads_used(job.threads, N):
            if kind == "gd":
                X, status, stop_step, loss = lanes.run(oracle, job.X, job.H[:, 0], job.P[0],
                                                       job.steps, job.stride,
                                                       "loss" in job.observe)
            else:
                X, status, stop_step, loss = lanes.run_noisy(
                    job.landscape, job.X, job.H, job.event, job.seed, job.offset,
                    job.steps, job.stride, "loss" in job.observe)
        return X, status, stop_step, ({} if loss is None else {"loss": loss}), scalars
    n_obs = job.steps // job.stride + 1
    rows = n_obs if (job.observe or job.coords.shape[0]) else 0   # nothing observed
    sharp_wanted = "sharpness" in job.observe
    after = sharp_wanted and _sharpness_after(N, d, rows)
    kernel = runner_module(oracle, job.rule, job.event, job.projection,
                           with_sharpness=sharp_wanted and not after)
    loss = np.full((rows, N), np.nan)       # loss and grad_norm come together
    gnorm = np.full((rows, N), np.nan)
    sharp = np.full((rows if sharp_wanted else 0, N), np.nan)
    coords = np.arange(d, dtype=np.int64) if after else job.coords  # whole iterates
    xs = np.full((rows, coords.shape[0], N), np.nan)
    status = np.zeros(N, np.int8)
    stop_step = np.zeros(N, np.int64)
    X = job.X
    progress = np.zeros(N, np.int64)
    args = (X, job.P, job.H, job.event.params, job.seed, job.offset, job.steps, job.stride,
            job.rule.STATE, job.rule.SCALARS, coords, job.sharpness_iters, loss, gnorm, xs,
            sharp, status, stop_step, scalars, progress)
    with threads_used(job.threads, N):
        threads = numba.get_num_threads()
        if after and N < threads:
            _run_with_sharpness_alongside(kernel, oracle, job, args, threads, xs, loss, sharp,
                                          progress)
        else:
            parallel.over_range(kernel.run, N, threads, *args)
            if after:
                _sharpness_of_iterates(oracle, xs, loss, job.P, job.sharpness_iters, sharp,
                                       threads)
    if after:
        xs = np.ascontiguousarray(xs[:, job.coords, :])
    traces = {k: v for k, v in (("loss", loss), ("grad_norm", gnorm), ("sharpness", sharp))
              if k in job.observe}
    if job.coords.shape[0]:
        traces["coords"] = xs
    return X, status, stop_step, traces, scalars


@contextlib.contextmanager
def threads_used(k, replicas=1):
    """Threads for the replicas (k, or Numba's thread count, read by
    :func:`numba.get_num_threads`, all cores by default); BLAS pinned to one thread while
    several replicas run at once, or the two thread pools oversubscribe the cores
    (numpy/scipy BLAS called from kernels, e.g. eigh in Newton steps, is threaded)."""
    with blas.limit(1 if replicas > 1 else None):
        with _numba_threads(k):
            yield


@contextlib.contextmanager
def _numba_threads(k):
    if k is None:
        yield
        return
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise TestbedError(f"threads must be an integer >= 1, got {k!r}")
    if k > numba.config.NUMBA_NUM_THREADS:
        raise TestbedError(f"threads = {k} exceeds the {numba.config.NUMBA_NUM_THREADS} "
                           f"Numba threads available")
    old = numba.get_num_threads()
    numba.set_num_threads(k)
    try:
        yield
    finally:
        numba.set_num_threads(old)


# iterates kept for the sharpness observer computed after the run (see below), in bytes
SHARPNESS_AFTER_BYTES = 256 * 2**20


def _sharpness_after(N, d, rows) -> bool:
    """Whether the sharpness observer runs after the ensemble, on the recorded iterates,
    instead of inside it: where it uses Lanczos on HVPs (d > 64; each observation then
    costs n_iter products, more than many steps) and the iterates fit in
    SHARPNESS_AFTER_BYTES. The values are the same (the same compiled ``sharpness`` on
    the same x); the gain is parallelism over (observation, replica) pairs, so a
    single network uses every core, and no sharpness code compiled into the runner.
    The choice depends on the sizes only, never on the thread count."""
    return d > 64 and rows * d * N * 8 <= SHARPNESS_AFTER_BYTES


def _sharpness_function(oracle, d, n_iter):
    """The branch ``oracle.sharpness`` takes at this d, called directly (nothing else
    compiled)."""
    return oracle.sharpness_lanczos if d > max(64, n_iter) else oracle.sharpness


def _sharpness_at(sharpness, xs, P, n_iter, k, r):
    """The sharpness at the recorded iterate xs[k, :, r]."""
    p = P[r] if P.shape[0] > 1 else P[0]
    return sharpness(np.ascontiguousarray(xs[k, :, r]), p, n_iter)


def _sharpness_of_iterates(oracle, xs, loss, P, n_iter, out, threads):
    """out[k, r] = sharpness at the recorded iterate xs[k, :, r] wherever the runner
    observed a finite loss (NaN stays elsewhere, as inside the runner); in threads
    over the (k, r) pairs, each with single-threaded BLAS (the kernels release the
    GIL)."""
    pairs = np.argwhere(np.isfinite(loss))
    sharpness = _sharpness_function(oracle, xs.shape[1], n_iter)

    def work(lo, hi):
        for k, r in pairs[lo:hi]:
            out[k, r] = _sharpness_at(sharpness, xs, P, n_iter, k, r)
    with blas.limit(1):
        parallel.over_range(work, len(pairs), threads)


def _run_with_sharpness_alongside(kernel, oracle, job, args, threads, xs, loss, sharp,
                                  progress):
    """The run of N < threads replicas, one thread each, while the spare threads compute
    the sharpness of the iterates already recorded (a network's GD steps run on one
    core; its sharpness observations, Lanczos on HVPs, cost more than the steps and
    need no step to wait). Every thread takes one observation at a time, the oldest
    ready; a replica's thread joins in once its run ends, so the observations left
    then are shared by all threads. Observation k of replica r is ready once the
    runner has recorded k + 2 of them (its row was written at least a stride of
    steps earlier) or finished. The values are those of the same compiled function on
    the same iterates, whatever the timing. An error in any thread, or an interrupt,
    stops the observers and is raised."""
    N = progress.shape[0]
    rows = np.arange(loss.shape[0])[:, None]
    taken = np.zeros(loss.shape, np.bool_)
    ended = np.zeros(N, np.bool_)
    lock = threading.Lock()
    failed = threading.Event()
    sharpness = _sharpness_function(oracle, xs.shape[1], job.sharpness_iters)

    def take():
        """The oldest ready observation not yet taken (with a finite loss: there is no
        sharpness where the loss is not finite), and whether every observation is
        taken and every run ended."""
        with lock:
            counts = np.where(ended, loss.shape[0], np.maximum(progress - 1, 0))
            for k, r in np.argwhere((rows < counts[None, :]) & ~taken):
                taken[k, r] = True
                if np.isfinite(loss[k, r]):
                    return (k, r), False
            return None, bool(ended.all() and taken.all())

    def observe():
        while not failed.is_set():
            pair, over = take()
            if over:
                return
            if pair is None:
                time.sleep(0.002)
                continue
            sharp[pair] = _sharpness_at(sharpness, xs, job.P, job.sharpness_iters, *pair)

    def run_then_observe(r):
        kernel.run(r, r + 1, *args)
        with lock:
            ended[r] = True
        observe()

    def stopping_all_on_error(work, *a):
        try:
            work(*a)
        except BaseException:
            failed.set()
            raise

    with blas.limit(1), concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(stopping_all_on_error, run_then_observe, r) for r in range(N)]
        futures += [pool.submit(stopping_all_on_error, observe) for _ in range(threads - N)]
        try:
            for future in futures:
                future.result()
        except BaseException:       # an error, or an interrupt here: the observers stop
            failed.set()            # (a run in progress ends on its own)
            raise
