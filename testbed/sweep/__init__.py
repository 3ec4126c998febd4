"""Sweeps: an experiment over a parameter grid, split into tasks that run in a local
process pool or on a Dask cluster, each cached the moment it finishes, with the
results as tidy tables (Parquet) and labelled arrays (xarray, NetCDF).

``testbed.sweep.sweep(experiment, grid, seeds=...)`` runs one (``testbed sweep`` on
the command line); :func:`load` reads a finished one back. The modules: :mod:`.grid`
(the grammar of axes and seeds, the tasks), :mod:`.tasks` (experiments, per-task
keys and caching, the worker's side), :mod:`.backends` (in-process, local pool,
Dask), :mod:`.tables` (Parquet and NetCDF), :mod:`.progress`.
"""
from .backends import SCHEDULER_ENV
from .grid import parse_axis, parse_grid, parse_seeds
from .run import Sweep, load, sweep

__all__ = ["SCHEDULER_ENV", "Sweep", "load", "parse_axis", "parse_grid", "parse_seeds",
           "sweep"]
