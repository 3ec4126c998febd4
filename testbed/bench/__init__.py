"""Standard benchmark workloads (``testbed bench NAME``; /work/shared/benchmarks.md).

Each workload is one module in this package (``b1.py``, ``b2.py``, ...) defining

- ``NAME`` (``"B1"``), ``UNIT`` (``"coordinate-steps"``) and ``DESCRIPTION`` (a line);
- ``setup(seed=0, scale=1.0) -> state``: everything that is not timed (landscape,
  starting points, step sizes). ``scale`` shrinks the workload for tests; 1.0 is
  the standard size;
- ``run(state) -> raw``: the timed work, normally one ``testbed.run`` call;
- ``check(state, raw) -> (units, dict)``: the work done, in ``UNIT``, and the
  workload's own measured figures (with ``passed`` where the workload defines a
  pass criterion);
- optionally ``bound(state, rates) -> dict``: its throughput bound from the rates of
  the machine it runs on (:mod:`._bounds`: dgemm, normals, memory), with what bounds
  it and the work model.

Adding a workload is adding such a file; :func:`names` finds it.

:func:`run_benchmark` runs ``run`` once as a warm-up (it pays any JIT compilation),
then ``repeats`` more times; ``seconds`` is the best of the timed repetitions,
``compile_seconds`` the warm-up's wall time minus ``seconds``. ``cpu_seconds`` (the
process CPU time of that best repetition, all threads) shows contention: on an idle
machine it is about ``threads * seconds``. ``fraction_of_bound`` is ``throughput``
over the workload's bound, measured in the same process after the timed runs.
:func:`run_all` runs every workload; :func:`table` prints their records.
"""
from __future__ import annotations

import importlib
import pkgutil
import time

import numba

from ..ensemble import threads_used
from ..errors import TestbedError
from ._bounds import Rates, machine

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
    record = {"workload": module.NAME, "seconds": seconds, "units": float(units),
              "unit": module.UNIT, "throughput": float(units) / seconds,
              "compile_seconds": max(0.0, warm - seconds), "threads": used,
              "cpu_seconds": cpu, "seed": seed, "scale": scale, "repeats": repeats,
              "check": check}
    if hasattr(module, "bound"):
        rates = Rates(used)
        bound = module.bound(state, rates)
        record.update(bound=bound["units_per_second"], bound_by=bound["by"],
                      bound_model=bound["model"], rates=rates.used,
                      fraction_of_bound=record["throughput"] / bound["units_per_second"])
    return record


def run_all(workloads=None, threads=None, seed: int = 0, repeats: int = 3,
            scale: float = 1.0) -> dict:
    """The records of ``workloads`` (default: every one; :func:`run_benchmark`), with
    the date, the package version and the machine, whose bounding rates (dgemm at
    2048^3, normals, memory bandwidth) are measured whether or not a workload uses
    them."""
    import datetime
    from .._version import __version__
    records = [run_benchmark(n, threads, seed, repeats, scale) for n in (workloads or names())]
    rates = Rates(records[0]["threads"] if records else numba.get_num_threads())
    rates.peak(), rates.normals(), rates.memory()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "version": __version__, "machine": {**machine(), "rates": rates.used},
            "records": records}


def table(records) -> str:
    """One line per record: throughput, its bound and the fraction, compile time,
    whether the workload's check passed."""
    head = (f"{'workload':<8} {'throughput':>11} {'unit':<20} {'bound':>10} {'of bound':>8} "
            f"{'compile s':>9} {'check':>6}  bounded by")
    lines = [head, "-" * len(head)]
    for r in records:
        bound = r.get("bound")
        frac = r.get("fraction_of_bound")
        verdict = {True: "pass", False: "FAIL"}.get(r.get("check", {}).get("passed"), "-")
        lines.append(
            f"{r['workload']:<8} {r['throughput']:>11.3g} {r['unit']:<20} "
            f"{'-' if bound is None else format(bound, '.3g'):>10} "
            f"{'-' if frac is None else format(frac, '.0%'):>8} "
            f"{r['compile_seconds']:>9.2f} "
            f"{verdict:>6}  {r.get('bound_by', '')}")
    return "\n".join(lines)
