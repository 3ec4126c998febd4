"""What user kernels, rules and analyses import from the engine.

- :data:`njit`: the one set of Numba options (nopython, cached on disk, NumPy's
  error model so NaN and inf survive for divergence detection);
- replica status codes, as stored in ``Result.status``: :data:`BUDGET` (ran its
  steps), :data:`EVENT` (its stopping event fired), :data:`DONE` (the rule declared
  itself done), :data:`DIVERGED` (its loss or iterate left the finite numbers), and
  :data:`STATUS_NAMES` from code to name;
- the per-replica random numbers a rule may call inside compiled code, from the
  replica's own stream ``state``: :func:`normal`, :func:`uniform`,
  :func:`uniform_ball` (see :mod:`testbed._engine.rng`).
"""
from ._engine.jit import njit
from ._engine.rng import normal, uniform, uniform_ball
from ._engine.status import BUDGET, DIVERGED, DONE, EVENT, STATUS_NAMES

__all__ = ["njit", "BUDGET", "EVENT", "DONE", "DIVERGED", "STATUS_NAMES", "normal",
           "uniform", "uniform_ball"]
