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


def _sharpness_of_iterates(oracle, xs, loss, P, n_iter, out, threads, pairs=None):
    """out[k, r] = sharpness at the recorded iterate xs[k, :, r] for the (k, r) in
    ``pairs`` (default: every one where the runner observed a finite loss; NaN stays
    elsewhere, as inside the runner); in threads over the pairs, each with
    single-threaded BLAS (the kernels release the GIL)."""
    if pairs is None:
        pairs = np.argwhere(np.isfinite(loss))
    with blas.limit(1):
        _sharpness_of_pairs(oracle, xs, P, n_iter, out, threads, pairs)


def _sharpness_of_pairs(oracle, xs, P, n_iter, out, threads, pairs):
    """The work of :func:`_sharpness_of_iterates`, for callers that limit the BLAS
    threads already (threadpoolctl's limit costs about 2 ms a call)."""
    d = xs.shape[1]
    # the branch oracle.sharpness takes at this d, called directly (nothing else compiled)
    sharpness = oracle.sharpness_lanczos if d > max(64, n_iter) else oracle.sharpness

    def work(lo, hi):
        for k, r in pairs[lo:hi]:
            p = P[r] if P.shape[0] > 1 else P[0]
            out[k, r] = sharpness(np.ascontiguousarray(xs[k, :, r]), p, n_iter)
    parallel.over_range(work, len(pairs), threads)


def _run_with_sharpness_alongside(kernel, oracle, job, args, threads, xs, loss, sharp,
                                  progress):
    """The run on N < threads threads while the spare threads compute the sharpness of
    the iterates already recorded (a network's GD steps run on one core; its sharpness
    observations, Lanczos on HVPs, cost more than the steps and need no step to wait).
    Observation k of replica r is taken once the runner has recorded k + 2 of them (or
    finished): its row was written at least a stride of steps earlier. While the run
    goes on, the spare threads take one ready observation each at a time, so that the
    ones left when it ends are shared among all threads. The values are those of the
    same compiled function on the same iterates, whatever the timing."""
    N = progress.shape[0]
    done = np.zeros(loss.shape, np.bool_)
    spare = threads - N

    def ready(finished, most=None):
        """Up to ``most`` of the observations not yet taken whose iterates are
        recorded, oldest first, marked as taken; those with a non-finite loss (no
        sharpness) are dropped."""
        counts = np.full(N, loss.shape[0]) if finished else np.maximum(progress - 1, 0)
        mask = (np.arange(loss.shape[0])[:, None] < counts[None, :]) & ~done
        pairs = np.argwhere(mask)[:most]
        done[pairs[:, 0], pairs[:, 1]] = True
        return pairs[np.isfinite(loss[pairs[:, 0], pairs[:, 1]])]

    with blas.limit(1), concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(parallel.over_range, kernel.run, N, N, *args)
        while not future.done():
            pairs = ready(False, spare)
            if len(pairs):
                _sharpness_of_pairs(oracle, xs, job.P, job.sharpness_iters, sharp, spare,
                                    pairs)
            else:
                time.sleep(0.002)
        future.result()
        _sharpness_of_pairs(oracle, xs, job.P, job.sharpness_iters, sharp, threads,
                            ready(True))
