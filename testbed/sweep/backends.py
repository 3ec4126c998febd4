"""Where a sweep's tasks run: in this process, in a local process pool, or on a Dask
distributed cluster.

Every backend runs :func:`testbed.sweep.tasks.run_task` per task and reports to a
monitor (``started``, ``finished``, ``failed``, ``retry``, ``running``):

- :func:`run_serial`: one task after another in this process (``workers=0``);
- :func:`run_pool`: a :class:`concurrent.futures.ProcessPoolExecutor` of ``spawn``
  processes, at most one task per worker in flight, so an interruption loses at
  most ``workers`` tasks. Workers ignore SIGINT (Ctrl-C reaches the client, which
  terminates them); each runs Numba on ``cpu_count // workers`` threads. A worker
  that dies (killed, out of memory, a crash in compiled code) breaks the pool: the
  tasks it held are put back and run on a fresh pool, and a task in flight during
  :data:`MAX_DEATHS` deaths is failed (then the failure is taken to be its own);
- :func:`run_dask`: every task submitted to the scheduler at once; Dask re-runs a
  task whose worker died on another worker, and fails it with ``KilledWorker``
  after ``distributed.scheduler.allowed-failures`` deaths (3 by default, as here).

Kernels compile once per worker process, not per task: compiled code lives on in
the worker between tasks, and Numba's disk cache under the client's
``$TESTBED_CACHE`` (a shared path on a cluster) serves every later worker.
"""
from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import TestbedError
from .tasks import apply_env, run_task

#: Worker deaths a task may be in flight for before it is failed.
MAX_DEATHS = 3
#: The environment variable naming the Dask scheduler (``tcp://host:8786``).
SCHEDULER_ENV = "TESTBED_SCHEDULER"


class SchedulerUnreachable(TestbedError):
    """The Dask scheduler did not answer (or Dask is not installed)."""


def run_serial(experiment, tasks, env, monitor) -> None:
    """Each task in turn, in this process."""
    for t in tasks:
        monitor.started(t)
        monitor.finished(t, run_task(experiment, t.point, t.seed, env))


def _init_worker(env: dict, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    apply_env(env)
    import numba
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _terminate(pool) -> None:
    """Stop a pool now: queued tasks cancelled, running ones killed."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(5)


def run_pool(experiment, tasks, env, monitor, workers: int) -> None:
    """The tasks on a local pool of ``workers`` spawned processes."""
    ctx = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)

    def new_pool():
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(env, threads))

    queue = collections.deque(tasks)
    running = {}
    deaths = collections.Counter()
    pool = new_pool()

    def settle(future, task) -> bool:
        """Report a done future; True if its worker died."""
        exc = future.exception()
        if isinstance(exc, BrokenProcessPool):
            deaths[task.index] += 1
            if deaths[task.index] >= MAX_DEATHS:
                monitor.failed(task, f"its worker process died {deaths[task.index]} times "
                                     f"while running it (killed, out of memory, or a crash "
                                     f"in compiled code)")
            else:
                queue.appendleft(task)
                monitor.retry(task, "its worker process died")
            return True
        if exc is not None:
            monitor.failed(task, f"{type(exc).__name__}: {exc}")
        else:
            monitor.finished(task, future.result())
        return False

    try:
        while queue or running:
            broken = False
            while queue and len(running) < workers and not broken:
                t = queue.popleft()
                try:
                    future = pool.submit(run_task, experiment, t.point, t.seed, env)
                except BrokenProcessPool:   # a worker died since the last wait: the
                    queue.appendleft(t)     # task never ran; the pool is rebuilt below
                    broken = True
                    continue
                running[future] = t
                monitor.started(t)
            done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for f in done:
                broken |= settle(f, running.pop(f))
            if broken:                      # the pool is gone: settle all it held
                wait(running)
                for f in list(running):
                    settle(f, running.pop(f))
                pool.shutdown(wait=True)
                pool = new_pool()
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True)


def _check_address(address: str) -> None:
    """ValueError unless ``address`` is ``scheme://host:port`` of a known scheme (before
    a Client is made: a half-made one prints a traceback when collected)."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    from distributed.comm.registry import backends as schemes
    scheme, location = parse_address(address)
    if scheme not in schemes:
        raise ValueError(f"unknown scheme {scheme!r}; known: {', '.join(sorted(schemes))}")
    if scheme in ("tcp", "tls"):
        parse_host_port(location)


def connect(address: str, timeout: float):
    """A :class:`distributed.Client` of the scheduler at ``address``.

    Raises
    ------
    SchedulerUnreachable
        Dask is not installed, the address is malformed, or nothing answered within
        ``timeout`` seconds.
    """
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerUnreachable(
            f"scheduler {address!r} given, but Dask distributed is not installed: "
            f"pip install 'testbed[cluster]'") from None
    try:
        _check_address(address)
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(f"the Dask scheduler {address!r} did not answer within "
                                   f"{timeout:g} s ({type(exc).__name__}: {exc})") from None
    except (ValueError, TypeError) as exc:
        raise SchedulerUnreachable(f"scheduler address {address!r} is not usable "
                                   f"({exc}); give e.g. tcp://host:8786") from None


def run_dask(experiment, tasks, env, monitor, client) -> None:
    """The tasks on the Dask cluster of ``client``."""
    from distributed import wait as dask_wait
    tag = uuid.uuid4().hex[:8]
    futures = {}
    for t in tasks:
        f = client.submit(run_task, experiment, t.point, t.seed, env, pure=False, retries=0,
                          key=f"testbed-sweep-{tag}-{t.index}")
        futures[f] = t
    monitor.running(0)
    pending = set(futures)
    try:
        while pending:
            try:
                with client.as_current():
                    done = dask_wait(pending, timeout=1.0, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            for f in done:
                pending.discard(f)
                t = futures[f]
                if f.status == "finished":
                    monitor.finished(t, f.result())
                else:
                    exc = f.exception() if f.status == "error" else None
                    why = (f"{type(exc).__name__}: {exc}" if exc is not None
                           else f"its future was {f.status}")
                    if type(exc).__name__ == "KilledWorker":
                        why = f"its workers died while running it ({exc})"
                    monitor.failed(t, why)
                f.release()
            keys = {f.key for f in pending}
            assigned = sum(len(keys.intersection(v)) for v in client.processing().values())
            monitor.running(min(assigned, sum(client.nthreads().values())))
    except BaseException:
        client.cancel(list(pending))
        raise


__all__ = ["MAX_DEATHS", "SCHEDULER_ENV", "SchedulerUnreachable", "connect", "run_dask",
           "run_pool", "run_serial"]
