"""Running a sweep (:func:`sweep`) and reading one back (:class:`Sweep`, :func:`load`)."""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from ..errors import TestbedError
from . import backends, tables
from .grid import parse_grid, parse_seeds, tasks as grid_tasks
from .progress import Progress
from .tasks import resolve, stored, worker_env


class Monitor:
    """Collects what the backend reports: finished tasks (stored on the client too,
    for workers that do not share its disk), failures, and progress."""

    def __init__(self, experiment, progress, records, failures):
        self.experiment, self.progress = experiment, progress
        self.records, self.failures = records, failures

    def started(self, task) -> None:
        self.progress.started()

    def running(self, n: int) -> None:
        self.progress.begin()
        self.progress.set_running(n)

    def retry(self, task, reason) -> None:
        self.progress.retry()
        self.progress.note(f"task {task.index} ({task.label()}) runs again: {reason}")

    def failed(self, task, reason) -> None:
        self.failures.append({"task": task.index, "point": task.point, "seed": task.seed,
                              "reason": reason})
        self.progress.failure()
        self.progress.note(f"task {task.index} ({task.label()}) failed: {reason}")

    def finished(self, task, outcome) -> None:
        if "error" in outcome:
            e = outcome["error"]
            self.failed(task, f"{e['type']}: {e['message']} (at {e['where']}, on "
                              f"{outcome['worker']})")
            return
        from ..cache import cached
        key = self.experiment.key(task.point, task.seed)
        data = cached(self.experiment.group, key, lambda: outcome["data"])
        self.records[task.index] = _record(self.experiment, task, data, outcome["seconds"],
                                           outcome["worker"], not outcome["computed"])
        self.progress.finished()


def _record(experiment, task, data, seconds, worker, was_cached) -> dict:
    from ..cache import key_of
    return {"task": task, "data": data, "key": key_of(experiment.key(task.point, task.seed)),
            "seconds": seconds, "worker": worker, "cached": was_cached}


def _workers(workers) -> int:
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise TestbedError(f"workers must be an integer >= 0 (0: run in this process), "
                           f"got {workers!r}")
    return workers


def _default_out(experiment) -> Path:
    stem = experiment.group.replace("sweep-", "")
    return Path("sweeps") / stem


def sweep(experiment, grid=None, *, seeds=None, scale: str = "quick",
          scheduler: str | None = None, fallback_local: bool = False,
          workers: int | None = None, out=None, progress: bool = True,
          timeout: float = 5.0, rows=None) -> "Sweep":
    """Run an experiment over a parameter grid, task by task, each task cached the
    moment it finishes: run again after an interruption, and only the tasks not
    finished run.

    Parameters
    ----------
    experiment : str or callable
        A claim id (its ``experiment(params)`` at ``scale``, the grid overriding the
        scale's parameters), ``'module:function'``, ``'path/file.py:function'``, or a
        top-level function called as ``f(**point, seed=seed)`` that returns a dict of
        arrays (see :mod:`testbed.sweep.tasks`).
    grid : dict or list of str, optional
        name -> values (``'min:max:num'``, ``'a,b,c'``, one value, or a sequence), or
        ``'name=values'`` strings; see :mod:`testbed.sweep.grid`. The tasks are the
        Cartesian product of the axes times the seeds.
    seeds : str, int or iterable of int, optional
        ``'start:stop'``, ``'a,b,c'``, one integer, or integers (default: the
        claim scale's seed; 0 for a function).
    scale : str
        The claim scale the parameters start from (claims only).
    scheduler : str, optional
        A Dask scheduler's address (``tcp://host:8786``); default
        ``$TESTBED_SCHEDULER``; neither: a local process pool.
    fallback_local : bool
        If the scheduler does not answer (or Dask is missing), warn and run locally
        instead of raising.
    workers : int, optional
        Local pool size (default: the CPU count); 0 runs the tasks in this process.
        Ignored on a cluster.
    out : path, optional
        The folder of the tables (default ``sweeps/<experiment>``).
    progress : bool
        Print tasks done, running, failed and the time left to stderr.
    timeout : float
        Seconds to wait for the scheduler to answer.
    rows : list of str, optional
        The per-replica outputs of ``replicas.parquet`` (default: the largest group
        of 1-D outputs of one length).

    Returns
    -------
    Sweep
        The tables' paths, ``frame()``, ``dataset()`` and ``failures``.

    Raises
    ------
    TestbedError
        Bad input (an unknown parameter, an empty range, bad seeds), before any work;
        an unreachable scheduler unless ``fallback_local``.
    """
    from ..cache import ensure_writable, results_dir
    exp = resolve(experiment, scale)
    axes = exp.check_axes(parse_grid(grid))
    if seeds is None:
        seeds = [int(exp.base.get("seed", 0))] if exp.kind == "claim" else [0]
    seed_list = parse_seeds(seeds)
    if exp.kind == "function" and not exp.takes_seed and seed_list != [0]:
        raise TestbedError(f"{exp.label} takes no seed parameter, so seeds {seed_list} "
                           f"would all give the same result")
    todo_all = grid_tasks(axes, seed_list)
    n_workers = _workers(workers)
    out = Path(out) if out is not None else _default_out(exp)
    ensure_writable(results_dir(), "results folder ($TESTBED_RESULTS)")
    ensure_writable(out, "out")
    address = scheduler if scheduler is not None else os.environ.get(backends.SCHEDULER_ENV)
    client = None
    if address:
        try:
            client = backends.connect(address, timeout)
        except backends.SchedulerUnreachable as exc:
            if not fallback_local:
                raise TestbedError(f"{exc}; pass fallback_local=True (--fallback-local) to "
                                   f"run locally instead") from None
            warnings.warn(f"{exc}; running locally as asked (fallback_local)", stacklevel=2)

    records, failures = {}, []
    prog = Progress(exp.label, len(todo_all), enabled=progress)
    todo = []
    for t in todo_all:
        data = stored(exp, t.point, t.seed)
        if data is None:
            todo.append(t)
        else:
            records[t.index] = _record(exp, t, data, math.nan, "", True)
    prog.loaded(len(records))
    monitor = Monitor(exp, prog, records, failures)
    env = worker_env()
    try:
        if not todo:
            pass
        elif client is not None:
            backends.run_dask(exp, todo, env, monitor, client)
        elif n_workers == 0:
            backends.run_serial(exp, todo, env, monitor)
        else:
            backends.run_pool(exp, todo, env, monitor, min(n_workers, len(todo)))
    finally:
        prog.close()
        if client is not None:
            client.close()
    finished = [records[i] for i in sorted(records)]
    tables.write(out, exp, axes, seed_list, finished, sorted(failures, key=lambda f: f["task"]),
                 rows)
    return Sweep(out)


class Sweep:
    """A sweep's results, as written in its folder.

    Attributes
    ----------
    out : Path
        The folder.
    info : dict
        ``sweep.json``: the experiment, grid, seeds, code, files, failures.
    tasks_path, replicas_path, grid_path : Path or None
        ``tasks.parquet``, ``replicas.parquet`` and ``grid.nc`` (None where absent).
    """

    def __init__(self, out):
        self.out = Path(out)
        meta = self.out / tables.META
        if not meta.is_file():
            raise TestbedError(f"{str(self.out)!r} holds no sweep (no {tables.META})")
        self.info = json.loads(meta.read_text())
        files = self.info["files"]
        self.tasks_path = self.out / files["tasks"]
        self.replicas_path = self.out / files["replicas"] if "replicas" in files else None
        self.grid_path = self.out / files["grid"] if "grid" in files else None

    @property
    def failures(self) -> list:
        """The failed tasks: ``task``, ``point``, ``seed`` and ``reason`` each."""
        return self.info["failures"]

    def frame(self, per: str = "task"):
        """The results as a pandas DataFrame.

        Parameters
        ----------
        per : {'task', 'replica'}
            One row per task (``tasks.parquet``) or per task and replica
            (``replicas.parquet``).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd
        if per not in ("task", "replica"):
            raise TestbedError(f"per must be 'task' or 'replica', got {per!r}")
        path = self.tasks_path if per == "task" else self.replicas_path
        if path is None:
            raise TestbedError(f"the sweep in {str(self.out)!r} has no per-replica outputs")
        return pd.read_parquet(path)

    def dataset(self):
        """The results on the grid as an xarray Dataset (``grid.nc``, loaded).

        Returns
        -------
        xarray.Dataset
        """
        import xarray as xr
        if self.grid_path is None:
            raise TestbedError(f"the sweep in {str(self.out)!r} has no grid file (see the "
                               f"warning of its run); its Parquet tables hold the results")
        with xr.open_dataset(self.grid_path, engine="scipy") as ds:
            return ds.load()

    def __repr__(self):
        return (f"<Sweep {self.info['experiment']} in {self.out}: {self.info['finished']}/"
                f"{self.info['tasks']} tasks finished, {len(self.failures)} failed>")


def load(out) -> Sweep:
    """The sweep written in folder ``out``.

    Parameters
    ----------
    out : path

    Returns
    -------
    Sweep
    """
    return Sweep(out)


__all__ = ["Monitor", "Sweep", "load", "sweep"]
