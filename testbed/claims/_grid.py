"""A claim's grid as sweep tasks: one task per grid point, each cached on its own.

A claim whose experiment is a loop of independent computations over a grid (escape
times over d, index-energy fields over d, networks over depth) writes the loop body
as a top-level function ``point(params, value, index) -> dict of arrays`` and calls
:func:`points`, which evaluates it once per grid value and returns the results in
grid order. Each point is stored by :func:`testbed.cache.cached` under its own key
(the claim's id, the scale's parameters, the point function, the value and its
index, with the package's code, the rounding perturbation and the CPU added by the
cache) the moment it finishes, so an interrupted ``testbed check`` or ``testbed
figures`` resumes from the points it finished, and an entry made by other code is
never used.

Where the points run:

- with a Dask scheduler in ``$TESTBED_SCHEDULER`` (``testbed figures --scheduler``
  sets it), every point not yet stored is a task of :func:`testbed.sweep.backends.
  run_dask`, run by :func:`testbed.sweep.tasks.run_task` on the cluster's workers
  (which share the client's ``TESTBED_RESULTS`` and ``TESTBED_CACHE``);
- otherwise in this process, one after another, exactly as a loop would (no extra
  processes or compilations), an exception propagating as it is.

The point function derives its random streams from ``params`` and ``index`` alone,
so the assembled output is the same wherever and in whatever order the points ran.
"""
from __future__ import annotations

import dataclasses
import os
import sys

from ..errors import TestbedError
from ..sweep.tasks import Experiment, as_arrays, function_name, load_function

#: Seconds a Dask scheduler has to answer.
TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class PointExperiment(Experiment):
    """The sweep experiment of one claim's grid: ``name`` is the point function
    (``'testbed.claims.<claim>:<function>'``), ``base`` the scale's parameters, a
    task's point ``{'value': v, 'index': i}``.

    Attributes
    ----------
    claim : str
        The claim's id: the results sub-folder of the points' entries.
    """
    claim: str = ""

    @property
    def group(self) -> str:
        return self.claim

    @property
    def label(self) -> str:
        return f"{self.claim} grid points"

    def key(self, point: dict, seed: int) -> dict:
        key = {"claim": self.claim, "point": self.name, "params": self.base,
               "value": point["value"], "index": point["index"]}
        if self.source is not None:
            key["user_code"] = self.source
        return key

    def mismatch(self) -> str | None:
        """Why this worker cannot compute the points as the client would (other
        package code, another CPU for Numba), else None."""
        from ..cache import code_hash, cpu_name
        from ..sweep.tasks import worker_name
        if code_hash() != self.code:
            return (f"worker {worker_name()} runs other testbed code (code hash "
                    f"{code_hash()}, the client's {self.code}): install the same version")
        if cpu_name() != self.cpu:
            return (f"worker {worker_name()} compiles for CPU {cpu_name()!r}, the client "
                    f"for {self.cpu!r}: set NUMBA_CPU_NAME to one name for all")
        return None

    def call(self, point: dict, seed: int) -> dict:
        fn = load_function(self.name)
        return as_arrays(fn(self.base, point["value"], point["index"]), self.label)


def experiment_of(fn, params: dict) -> PointExperiment:
    """The :class:`PointExperiment` of point function ``fn`` (top level of a claim's
    module, which defines ``ID``) at parameters ``params``; for a claim in a user's
    folder, the hash of the user's folders joins the points' keys (as it joins the
    claim's own, :func:`testbed.claims.user_code`)."""
    from ..cache import code_hash, cpu_name
    from . import user_code
    name = function_name(fn)
    module = sys.modules.get(fn.__module__)
    claim = getattr(module, "ID", None)
    if claim is None:
        raise TestbedError(f"point function {name!r} must live in a claim's module "
                           f"(one that defines ID)")
    return PointExperiment("point", name, None, dict(params), None, (), False,
                           user_code(module), code_hash(), cpu_name(), claim=claim)


def points(fn, params: dict, values) -> list:
    """``fn(params, value, index)`` for each grid value, each point cached on its own.

    Parameters
    ----------
    fn : callable
        A top-level function of a claim's module returning a dict of arrays; it
        must derive everything random from ``params`` and ``index``.
    params : dict
        The claim's parameters at its scale (JSON-able).
    values : sequence
        The grid values (JSON-able: numbers, strings, or lists of them).

    Returns
    -------
    list of dict
        Each point's arrays, in the order of ``values``.

    Raises
    ------
    TestbedError
        On a cluster: points that failed (after the others finished and were
        stored), or a scheduler that does not answer.
    """
    from ..cache import cached
    from ..sweep.backends import SCHEDULER_ENV
    exp = experiment_of(fn, params)
    tasks = [{"value": v, "index": i} for i, v in enumerate(values)]
    address = os.environ.get(SCHEDULER_ENV)
    if not address:
        return [cached(exp.group, exp.key(t, 0), lambda t=t: exp.call(t, 0)) for t in tasks]
    return _on_cluster(exp, tasks, address)


def _on_cluster(exp: PointExperiment, points_: list, address: str) -> list:
    """The points on the Dask cluster at ``address`` (those stored are loaded)."""
    from ..sweep import backends
    from ..sweep.grid import Task
    from ..sweep.progress import Progress
    from ..sweep.run import Monitor
    from ..sweep.tasks import stored, worker_env
    records, failures = {}, []
    todo = []
    for i, p in enumerate(points_):
        data = stored(exp, p, 0)
        if data is None:
            todo.append(Task(i, p, 0))
        else:
            records[i] = {"data": data}
    if todo:
        prog = Progress(exp.label, len(points_))
        prog.loaded(len(records))
        client = backends.connect(address, TIMEOUT)
        try:
            backends.run_dask(exp, todo, worker_env(), Monitor(exp, prog, records, failures),
                              client)
        finally:
            prog.close()
            client.close()
    if failures:
        raise TestbedError(f"{len(failures)} of the {len(points_)} points of {exp.claim} "
                           f"failed on the cluster (the others are stored): "
                           + "; ".join(f"{f['point']}: {f['reason']}" for f in failures))
    return [records[i]["data"] for i in range(len(points_))]


__all__ = ["TIMEOUT", "PointExperiment", "experiment_of", "points"]
