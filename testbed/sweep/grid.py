"""The sweep grammar: parameter axes, seeds, and the tasks of a grid.

A grid is a set of axes, one per parameter; its tasks are every combination of the
axes' values (their Cartesian product, in the order the axes are given) times every
seed, the seed varying fastest. An axis is written

- ``'min:max:num'``: ``np.linspace(min, max, num)`` (the grammar of
  :func:`testbed.slices.parse_range`: ``min < max``, an integer ``num >= 2``); its
  points are integers when ``min`` and ``max`` are written as integers and every
  point is one (``'10:100:4'`` is 10, 40, 70, 100);
- ``'a,b,c'``: a list; each item an integer, else a number, else a string
  (``true``/``false`` are booleans);
- ``'v'``: one value (a parameter fixed for the whole sweep);

or, from Python, a list, tuple, range or 1-D array of values, or one scalar. Seeds are
``'start:stop'`` (``range(start, stop)``, Python's half-open range), ``'a,b,c'``, one
integer, or any iterable of integers in [-2**63, 2**63 - 1].
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re

import numpy as np

from ..errors import TestbedError
from ..slices import parse_range

#: Names a grid axis cannot take: they are columns of every sweep table.
RESERVED = ("seed", "task", "key", "code", "user_code", "version", "seconds", "worker",
            "cached", "replica")
_INT = re.compile(r"^[+-]?\d+$")
_SEED_MIN, _SEED_MAX = -2**63, 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Task:
    """One point of the grid with one seed: ``index`` in task order, ``point`` the
    axes' values (name -> scalar)."""
    index: int
    point: dict
    seed: int

    def label(self) -> str:
        """``name=value ... seed=s``, for messages."""
        return " ".join(f"{k}={v!r}" for k, v in self.point.items()) + f" seed={self.seed}"


def _scalar(text: str):
    """An item of a list axis: integer, else float, else boolean, else the string."""
    text = text.strip()
    if _INT.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _plain(value, name):
    """A Python scalar (int, float, bool or str) from a NumPy or Python scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            raise TestbedError(f"axis {name!r}: value {value!r} is not finite")
        return value
    raise TestbedError(f"axis {name!r}: value {value!r} is not a number, boolean or "
                       f"string (a sweep axis holds scalars; fix other parameters in the "
                       f"experiment itself)")


def parse_axis(name: str, spec) -> list:
    """The values of one axis.

    Parameters
    ----------
    name : str
        The parameter's name (for error messages).
    spec : str, sequence, array or scalar
        ``'min:max:num'``, ``'a,b,c'``, ``'v'``, or the values themselves.

    Returns
    -------
    list
        Python scalars, distinct, in the order given.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text == "":
            raise TestbedError(f"axis {name!r} is empty; give 'min:max:num', 'a,b,c' or "
                               f"one value")
        if ":" in text:
            values = parse_range(text, name)
            lo, hi = (s.strip() for s in text.split(":")[:2])
            if _INT.match(lo) and _INT.match(hi) and np.all(values == np.round(values)):
                values = [int(v) for v in np.round(values)]
            else:
                values = [float(v) for v in values]
        else:
            items = text.split(",")
            if any(not s.strip() for s in items):
                raise TestbedError(f"axis {name}={spec!r} has an empty item")
            values = [_scalar(s) for s in items]
    elif isinstance(spec, (list, tuple, range, np.ndarray)):
        arr = np.asarray(spec, dtype=object) if not isinstance(spec, np.ndarray) else spec
        if arr.ndim != 1:
            raise TestbedError(f"axis {name!r} must be one-dimensional, got shape {arr.shape}")
        values = [_plain(v, name) for v in spec]
    else:
        values = [_plain(spec, name)]
    if not values:
        raise TestbedError(f"axis {name!r} is empty (no values)")
    seen = set()
    for v in values:
        if (type(v), v) in seen:
            raise TestbedError(f"axis {name!r} repeats the value {v!r}")
        seen.add((type(v), v))
    return values


def parse_grid(grid) -> dict:
    """Axis name -> values, from a dict (name -> spec) or from strings ``'name=spec'``
    (the command line's ``--grid``).

    Parameters
    ----------
    grid : dict or iterable of str

    Returns
    -------
    dict
        name -> list of values, in the order given.
    """
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        pairs = {}
        for item in grid:
            if not isinstance(item, str) or "=" not in item:
                raise TestbedError(f"grid item {item!r} must be 'name=values', e.g. "
                                   f"'d=10:100:4' or 'eta=0.1,0.2'")
            name, spec = item.split("=", 1)
            name = name.strip()
            if name in pairs:
                raise TestbedError(f"grid names the parameter {name!r} twice")
            pairs[name] = spec
        grid = pairs
    axes = {}
    for name, spec in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TestbedError(f"grid parameter name {name!r} is not a Python identifier")
        if name in RESERVED:
            hint = "; give seeds with seeds= (--seeds)" if name == "seed" else ""
            raise TestbedError(f"grid parameter {name!r} is reserved (a column of every "
                               f"sweep table: {', '.join(RESERVED)}){hint}")
        axes[name] = parse_axis(name, spec)
    return axes


def parse_seeds(seeds) -> list[int]:
    """The seeds of a sweep.

    Parameters
    ----------
    seeds : str, int or iterable of int
        ``'start:stop'`` (``range(start, stop)``), ``'a,b,c'``, one integer, or
        integers.

    Returns
    -------
    list of int
        Distinct, in the order given.
    """
    grammar = "use 'start:stop' (range(start, stop)), 'a,b,c' or one integer"
    if isinstance(seeds, str):
        text = seeds.strip()
        parts = text.split(":")
        if len(parts) == 2:
            if not all(_INT.match(p.strip()) for p in parts):
                raise TestbedError(f"seeds {seeds!r}: start and stop must be integers; "
                                   f"{grammar}")
            values = list(range(int(parts[0]), int(parts[1])))
            if not values:
                raise TestbedError(f"seeds {seeds!r} is an empty range (stop must exceed "
                                   f"start); {grammar}")
        elif len(parts) == 1 and text and all(_INT.match(p.strip()) for p in text.split(",")):
            values = [int(p) for p in text.split(",")]
        else:
            raise TestbedError(f"seeds {seeds!r} are not integers; {grammar}")
    elif isinstance(seeds, (bool, np.bool_)):
        raise TestbedError(f"seeds must be integers, got {seeds!r}")
    elif isinstance(seeds, (int, np.integer)):
        values = [int(seeds)]
    else:
        try:
            values = list(seeds)
        except TypeError:
            raise TestbedError(f"seeds {seeds!r} are not integers; {grammar}") from None
        bad = [s for s in values if isinstance(s, (bool, np.bool_))
               or not isinstance(s, (int, np.integer))]
        if bad:
            raise TestbedError(f"seeds must be integers, got {bad[0]!r}")
        values = [int(s) for s in values]
        if not values:
            raise TestbedError(f"seeds are empty; {grammar}")
    out = [s for s in values if not _SEED_MIN <= s <= _SEED_MAX]
    if out:
        raise TestbedError(f"seed {out[0]} is outside [-2**63, 2**63 - 1]")
    if len(set(values)) != len(values):
        raise TestbedError(f"seeds repeat: {values}")
    return values


def tasks(axes: dict, seeds: list) -> list[Task]:
    """Every combination of the axes' values (the last axis varying fastest) with
    every seed (fastest of all), numbered in that order.

    Parameters
    ----------
    axes : dict
        name -> values, as :func:`parse_grid` gives.
    seeds : list of int

    Returns
    -------
    list of Task
    """
    names = list(axes)
    combos = itertools.product(*(axes[n] for n in names)) if names else [()]
    out = []
    for values in combos:
        for seed in seeds:
            out.append(Task(len(out), dict(zip(names, values)), seed))
    return out


__all__ = ["RESERVED", "Task", "parse_axis", "parse_grid", "parse_seeds", "tasks"]
