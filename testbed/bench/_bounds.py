"""The rates of the machine that bound the workloads, measured where the benchmark runs.

- **dgemm**: ``C = A B`` through NumPy's BLAS (float64, ``A`` m x k, ``B`` k x n,
  2 m n k flops), on the benchmark's threads; at the workload's own shapes and at
  :data:`LARGE` (the machine's attainable arithmetic rate);
- **normals**: standard normals per second from the engine's generator (one
  xoshiro256** stream per replica, 256-layer ziggurat; :mod:`testbed._engine.rng`),
  drawn by the engine's threads across lanes, as noisy GD's vectorised backend
  draws them (:func:`~testbed._engine.rng.normal_rows`, a block of rows a call);
- **memory**: the bandwidth of a triad ``a = b + s c`` over three arrays of
  :data:`TRIAD_BYTES` each (far beyond the caches), 24 bytes a element, on the
  benchmark's threads.

Each rate is the best of repetitions lasting at least :data:`MIN_SECONDS` in all, so a
busy machine lowers it less than it lowers a single run. A workload module may define
``bound(state, rates) -> dict`` with ``units_per_second`` (its throughput bound, in
its own unit, from these rates), ``by`` (what bounds it) and ``model`` (the work per
unit it assumes); :func:`testbed.bench.run_benchmark` reports the measured throughput
as a fraction of it.
"""
from __future__ import annotations

import functools
import math
import time

import numpy as np

from .._engine import blas, parallel
from .._engine.jit import njit
from .._engine.rng import normal_rows, seed_state

LARGE = 2048
MIN_SECONDS = 0.3
TRIAD_BYTES = 64 * 2**20
NORMALS = 4_000_000
ROWS = 100             # normals a lane a call: one step of noisy GD in d = 100 (B1)


def _best_rate(fn, work: float) -> float:
    """work / the best time of ``fn()`` over repetitions lasting MIN_SECONDS in all."""
    fn()                                   # warm-up: first touch, compilation
    best, spent = math.inf, 0.0
    while spent < MIN_SECONDS or best == math.inf:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return work / best


@functools.cache
def dgemm_flops(m: int, n: int, k: int, threads: int) -> float:
    """Flops per second of NumPy's dgemm at (m, n, k) on ``threads`` BLAS threads."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    C = np.empty((m, n))
    with blas.limit(threads):
        return _best_rate(lambda: np.matmul(A, B, out=C), 2.0 * m * n * k)


@njit
def _normals(lo, hi, per, out):
    """``per`` normals from each stream lo..hi-1, drawn across lanes."""
    m = hi - lo
    S = np.empty((4, m), np.uint64)
    state = np.empty(4, np.uint64)
    for r in range(m):
        seed_state(0, lo + r, state)
        S[:, r] = state
    Z = np.empty((ROWS, m))
    u = np.empty(m, np.uint64)
    miss = np.zeros(-(-m // 8) * 8, np.uint8)
    words = miss.view(np.uint64)
    acc = np.zeros(m)
    for _ in range(per // ROWS):
        normal_rows(S, Z, u, miss, words, state)
        for i in range(ROWS):
            for r in range(m):
                acc[r] += Z[i, r]
    out[lo:hi] = acc


@functools.cache
def normals_per_second(threads: int) -> float:
    """Normals per second from the per-replica streams, :data:`~testbed._engine.lanes.SLOTS`
    lanes a thread (as noisy GD's vectorised backend draws them)."""
    from .._engine.lanes import SLOTS
    replicas = SLOTS * threads
    per = NORMALS // replicas // ROWS * ROWS
    out = np.empty(replicas)
    return _best_rate(lambda: parallel.over_range(_normals, replicas, threads, per, out,
                                                  per_thread=1), float(per * replicas))


@njit
def _triad(lo, hi, a, b, c, s):
    for i in range(lo, hi):
        a[i] = b[i] + s * c[i]


@functools.cache
def memory_bytes_per_second(threads: int) -> float:
    """Bytes per second moved by the triad a = b + s c, shared by ``threads``."""
    n = TRIAD_BYTES // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    return _best_rate(lambda: parallel.over_range(_triad, n, threads, a, b, c, 0.5),
                      24.0 * n)


class Rates:
    """The bounding rates on ``threads`` threads, each measured on first use."""

    def __init__(self, threads: int):
        self.threads = int(threads)
        self.used: dict = {}

    def dgemm(self, m: int, n: int, k: int) -> float:
        rate = dgemm_flops(int(m), int(n), int(k), self.threads)
        self.used[f"dgemm_{m}x{n}x{k}_flops"] = rate
        return rate

    def peak(self) -> float:
        """dgemm's rate at LARGE^3: the attainable arithmetic rate."""
        return self.dgemm(LARGE, LARGE, LARGE)

    def normals(self) -> float:
        rate = normals_per_second(self.threads)
        self.used["normals_per_second"] = rate
        return rate

    def memory(self) -> float:
        rate = memory_bytes_per_second(self.threads)
        self.used["memory_bytes_per_second"] = rate
        return rate


def machine() -> dict:
    """The machine a record was made on: CPU model and Numba's name for it, cores, BLAS."""
    import os
    import platform

    from threadpoolctl import threadpool_info

    from ..cache import cpu_name
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "numba_cpu": cpu_name(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "blas": [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()
                     if i.get("user_api") == "blas"]}
