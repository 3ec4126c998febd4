"""A sweep's results as tidy tables and labelled arrays, in the sweep's folder:

- ``tasks.parquet``: one row per finished task: the grid parameters, ``seed``,
  ``task`` (its number), ``key`` (its cache key), ``code`` (the package's code hash),
  ``user_code`` (the hash of the user's code, if any), ``version``, ``seconds`` (the
  task's wall time on its worker; NaN when it was loaded from the cache),
  ``worker`` (host:pid), ``cached``; then every scalar output as a column and every
  other output, except the per-replica ones, as a (nested) list column;
- ``replicas.parquet``: one row per task and replica, for the per-replica outputs:
  1-D outputs of one common length per task (``rows=`` names them; by default the
  largest group of 1-D outputs of equal length in the first task), with the
  parameters, seed, task, code and ``replica`` columns;
- ``grid.nc``: NetCDF 3 (xarray's scipy engine) with dimensions the grid's axes and
  ``seed``, then each output's own (``replica`` for the per-replica ones,
  ``<name>_dim<k>`` otherwise), for every output whose shape is the same in every
  task. A task that failed leaves NaN (integer and boolean outputs then become
  floats); NetCDF 3 stores 64-bit integers as 32-bit ones (an entry beyond that
  range leaves the file out, with a warning: the Parquet tables keep it);
- ``sweep.json``: what was swept, the files, the outputs on the grid and off it, and
  every failed task with its reason.

An output named like a column (``seed``, a parameter...) is stored as
``<name>_out``.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .._version import __version__
from .grid import RESERVED

TASKS, REPLICAS, GRID, META = "tasks.parquet", "replicas.parquet", "grid.nc", "sweep.json"


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _column(values):
    """A pyarrow array of per-task values (NumPy scalars or arrays, or None)."""
    import pyarrow as pa
    present = [v for v in values if v is not None]
    if len(present) == len(values) and all(np.ndim(v) == 0 for v in values):
        arr = np.array([np.asarray(v)[()] for v in values])
        if arr.dtype != object:
            return pa.array(arr)
    return pa.array([None if v is None else np.asarray(v).tolist() for v in values])


def replica_outputs(data: dict, rows=None) -> list[str]:
    """The outputs that give one row per replica: ``rows`` if given, else the largest
    group of 1-D outputs of one length (ties: the group named first)."""
    if rows is not None:
        return [r for r in rows if r in data]
    groups = {}
    for name, arr in data.items():
        if np.ndim(arr) == 1:
            groups.setdefault(len(arr), []).append(name)
    if not groups:
        return []
    return max(groups.values(), key=len)


def _name(name, taken) -> str:
    return f"{name}_out" if name in taken else name


def _write_parquet(path, columns: dict, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table(columns)
    table = table.replace_schema_metadata({b"testbed": json.dumps(meta).encode()})
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def _coord(values):
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype == object else arr


def _dataset(axes, seeds, records, replicas, meta):
    """The grid's outputs as an xarray Dataset (the outputs of one shape in every
    task), and the names left off it."""
    import xarray as xr
    shape = [len(v) for v in axes.values()] + [len(seeds)]
    index = {name: {v: i for i, v in enumerate(vals)} for name, vals in axes.items()}
    seed_at = {s: i for i, s in enumerate(seeds)}
    names = list(dict.fromkeys(n for r in records for n in r["data"]))
    taken = set(axes) | set(RESERVED)
    variables, off = {}, []
    for name in names:
        arrays = [r["data"].get(name) for r in records]
        shapes = {None if a is None else a.shape for a in arrays}
        dtypes = {a.dtype for a in arrays if a is not None}
        if None in shapes or len(shapes) != 1 or len(dtypes) != 1:
            off.append(name)
            continue
        (own,), (dtype,) = shapes, dtypes
        full = len(records) == int(np.prod(shape))
        if not full and dtype.kind in "biu":
            dtype = np.dtype(float)
        if full:
            cube = np.empty(shape + list(own), dtype=dtype)
        else:
            cube = np.full(shape + list(own), "" if dtype.kind in "US" else np.nan, dtype=dtype)
        for r, a in zip(records, arrays):
            at = tuple(index[n][v] for n, v in r["task"].point.items()) + (seed_at[r["task"].seed],)
            cube[at] = a
        dims = list(axes) + ["seed"] + (["replica"] if name in replicas else
                                        [f"{name}_dim{k}" for k in range(len(own))])
        variables[_name(name, taken)] = (dims, cube)
    coords = {n: _coord(v) for n, v in axes.items()}
    coords["seed"] = np.asarray(seeds)
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update({k: (json.dumps(v) if not isinstance(v, (str, int, float)) else v)
                     for k, v in meta.items() if v is not None})
    return ds, off


def write(out: Path, experiment, axes: dict, seeds: list, records: list, failures: list,
          rows=None) -> dict:
    """Write the sweep's tables and its record.

    Parameters
    ----------
    out : Path
        The sweep's folder (it exists and is writable).
    experiment : testbed.sweep.tasks.Experiment
    axes : dict
        name -> values.
    seeds : list of int
    records : list of dict
        Per finished task, in task order: ``task``, ``data``, ``key``, ``seconds``,
        ``worker``, ``cached``.
    failures : list of dict
        Per failed task: ``task`` (its number), ``point``, ``seed``, ``reason``.
    rows : list of str, optional
        The per-replica outputs (default: see :func:`replica_outputs`).

    Returns
    -------
    dict
        The record written to ``sweep.json``.
    """
    meta = {"experiment": experiment.name, "kind": experiment.kind,
            "scale": experiment.scale, "code": experiment.code,
            "user_code": experiment.source, "version": __version__}
    taken = set(axes) | set(RESERVED)
    replicas = replica_outputs(records[0]["data"], rows) if records else []
    base = {n: [r["task"].point[n] for r in records] for n in axes}
    base.update(seed=[r["task"].seed for r in records], task=[r["task"].index for r in records],
                key=[r["key"] for r in records], code=[experiment.code] * len(records))
    if experiment.source is not None:
        base["user_code"] = [experiment.source] * len(records)
    base["version"] = [__version__] * len(records)
    per_task = dict(base)
    per_task.update(seconds=[r["seconds"] for r in records],
                    worker=[r["worker"] for r in records],
                    cached=[r["cached"] for r in records])
    names = list(dict.fromkeys(n for r in records for n in r["data"]))
    for name in names:
        if name not in replicas:
            per_task[_name(name, taken)] = [r["data"].get(name) for r in records]
    import pyarrow as pa
    cols = {k: (v if k in base or k in ("seconds", "worker", "cached") else _column(v))
            for k, v in per_task.items()}
    cols = {k: (v if isinstance(v, pa.Array) else pa.array(_coerce(v))) for k, v in cols.items()}
    _write_parquet(out / TASKS, cols, meta)
    files = {"tasks": TASKS}
    skipped = []
    if replicas:
        rep = {k: [] for k in list(base) + ["replica"] + replicas}
        for i, r in enumerate(records):
            arrays = [r["data"].get(n) for n in replicas]
            if any(a is None or a.ndim != 1 for a in arrays) or len({len(a) for a in arrays}) != 1:
                skipped.append(r["task"].index)
                continue
            n = len(arrays[0])
            for k in base:
                rep[k].append(np.repeat(np.asarray(_coerce([base[k][i]])), n))
            rep["replica"].append(np.arange(n))
            for name, a in zip(replicas, arrays):
                rep[name].append(a)
        rep = {(_name(k, taken) if k in replicas else k): pa.array(np.concatenate(v))
               for k, v in rep.items()} if len(skipped) < len(records) else None
        if rep is not None:
            _write_parquet(out / REPLICAS, rep, meta)
            files["replicas"] = REPLICAS
    grid_off = []
    if records:
        ds, grid_off = _dataset(axes, seeds, records, replicas, meta)
        try:
            _atomic(out / GRID, lambda tmp: ds.to_netcdf(tmp, engine="scipy"))
            files["grid"] = GRID
        except (ValueError, TypeError, OverflowError) as exc:
            warnings.warn(f"the sweep's grid was not written as NetCDF ({exc}); the Parquet "
                          f"tables hold every result", stacklevel=3)
    for stale in set((TASKS, REPLICAS, GRID)) - set(files.values()):
        (out / stale).unlink(missing_ok=True)
    record = {**meta, "grid": {k: list(v) for k, v in axes.items()}, "seeds": seeds,
              "tasks": len(records) + len(failures), "finished": len(records),
              "files": files, "replica_outputs": replicas,
              "replicas_skipped_tasks": skipped, "outputs_off_grid": grid_off,
              "failures": failures}
    _atomic(out / META, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
    return record


def _coerce(values):
    """Per-task parameter values as one NumPy array (strings if types mix)."""
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype == object else arr


__all__ = ["GRID", "META", "REPLICAS", "TASKS", "replica_outputs", "write"]
