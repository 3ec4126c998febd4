"""Standard benchmark workloads (``testbed bench NAME``; /work/shared/benchmarks.md).

Each workload is one module in this package (``b1.py``, ``b2.py``, ...) defining

- ``NAME`` (``"B1"``), ``UNIT`` (``"coordinate-steps"``) and ``DESCRIPTION`` (a line);
- ``setup(seed=0, scale=1.0) -> state``: everything that is not timed (landscape,
  starting points, step sizes). ``scale`` shrinks the workload for tests; 1.0 is
  the standard size;
- ``run(state) -> raw``: the timed work, normally one ``testbed.run`` call;
- ``check(state, raw) -> (units, dict)``: the work done, in ``UNIT``, and the
  workload's own measured figures (with ``passed`` where the workload defines a
  pass criterion).

Adding a workload is adding such a file; :func:`names` finds it.

:func:`run_benchmark` runs ``run`` once as a warm-up (it pays any JIT compilation),
then ``repeats`` more times; ``seconds`` is the best of the timed repetitions,
``compile_seconds`` the warm-up's wall time minus ``seconds``. ``cpu_seconds`` (the
process CPU time of that best repetition, all threads) shows contention: on an idle
machine it is about ``threads * seconds``.
"""
from __future__ import annotations

import importlib
import pkgutil
import time

import numba

from ..ensemble import threads_used
from ..errors import TestbedError

_FIELDS = ("NAME", "UNIT", "setup", "run", "check")


def _modules() -> dict:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if all(hasattr(module, f) for f in _FIELDS):
            found[module.NAME.upper()] = module
    return found


def names() -> list[str]:
    """The workload names (B1, B2, ...)."""
    return sorted(_modules())


def workload(name: str):
    """The module of workload ``name`` (case-insensitive)."""
    modules = _modules()
    key = str(name).upper()
    if key not in modules:
        raise TestbedError(f"unknown benchmark {name!r}; available: {', '.join(sorted(modules))}")
    return modules[key]


def run_benchmark(name: str, threads=None, seed: int = 0, repeats: int = 3,
                  scale: float = 1.0) -> dict:
    """Run workload ``name``: a warm-up, then the best of ``repeats`` (>= 3 for a
    reported figure) timed runs; returns the JSON-ready record of benchmarks.md."""
    module = workload(name)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise TestbedError(f"repeats must be a positive integer, got {repeats!r}")
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1):
        raise TestbedError(f"scale must be in (0, 1], got {scale!r}")
    state = module.setup(seed=seed, scale=scale)
    with threads_used(threads):
        used = numba.get_num_threads()
        t0 = time.perf_counter()
        raw = module.run(state)
        warm = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            raw = module.run(state)
            times.append((time.perf_counter() - t0, time.process_time() - c0))
    seconds, cpu = min(times)
    units, check = module.check(state, raw)
    return {"workload": module.NAME, "seconds": seconds, "units": float(units),
            "unit": module.UNIT, "throughput": float(units) / seconds,
            "compile_seconds": max(0.0, warm - seconds), "threads": used,
            "cpu_seconds": cpu, "seed": seed, "scale": scale, "repeats": repeats,
            "check": check}
