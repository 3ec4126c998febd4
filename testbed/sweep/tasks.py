"""What a sweep runs, and each task's own cache entry.

An :class:`Experiment` is one of

- a claim (``'gd-saddle-escape'``): its ``experiment(params)`` at a scale, the grid's
  values and the seed overriding the scale's parameters; a task at exactly a scale's
  parameters shares its cache entry with ``testbed check`` (same group, same key);
- a function of keyword parameters returning a dict of arrays (or one array, stored
  as ``value``): ``'package.module:function'``, ``'path/to/file.py:function'``, or
  the function itself when it lives at the top level of a module. It is called as
  ``f(**point, seed=seed)`` (without ``seed`` when it takes none); its parameters
  are the ones its signature names (any, with ``**kwargs``).

Each task is stored by :func:`testbed.cache.cached` under its own key: the
parameters and seed, the package's code, the rounding perturbation, the CPU Numba
compiles for, and, for a user's function, the SHA-256 of its file (for a user's
claim, of the user's folders). An entry made by other code never matches a key of
this code, and one whose sidecar disagrees with its key is recomputed, so a sweep
never reads a stale result. Workers run :func:`run_task`, which writes the entry the
moment the task finishes, then returns the arrays with where and how long it ran; a
worker whose package code, copy of the user's code or CPU differs from the client's
refuses the task (a failure naming the difference), so no result is ever stored
under a key that does not describe how it was made.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import os
import socket
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from ..errors import TestbedError

#: Variables the client hands to every worker (where results and kernels live, and
#: what determines results: the rounding perturbation, the CPU Numba compiles for).
ENV = ("TESTBED_RESULTS", "TESTBED_CACHE", "TESTBED_PERTURB", "TESTBED_FUNCTIONS",
       "NUMBA_CPU_NAME", "NUMBA_CACHE_DIR")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A resolved experiment: picklable, so workers rebuild the callable from it.

    Attributes
    ----------
    kind : str
        ``'claim'`` or ``'function'``.
    name : str
        The claim id, ``'module:function'`` or ``'/abs/path.py:function'``.
    scale : str or None
        The claim's scale.
    base : dict
        Parameters every task starts from (a claim's scale; a function's defaults).
    known : tuple or None
        The parameters a grid may set (None: any, a function with ``**kwargs``).
    required : tuple
        A function's parameters without defaults (the grid must set them).
    takes_seed : bool
        Whether the callable receives the seed.
    source : str or None
        Hash of the user's code (file or folders); None for a shipped claim.
    code : str
        The client's package code hash: a worker running other code refuses the task.
    cpu : str
        The CPU the client's Numba compiles for (part of every cache key): a worker
        compiling for another refuses the task.
    """
    kind: str
    name: str
    scale: str | None
    base: dict
    known: tuple | None
    required: tuple
    takes_seed: bool
    source: str | None
    code: str
    cpu: str

    @property
    def group(self) -> str:
        """The results sub-folder of its entries (a claim's id, as ``testbed check``)."""
        if self.kind == "claim":
            return self.name
        module, func = self.name.rsplit(":", 1)
        stem = Path(module).stem if module.endswith(".py") else module
        return f"sweep-{stem}.{func}"

    @property
    def label(self) -> str:
        return self.name if self.scale is None else f"{self.name} ({self.scale})"

    def params(self, point: dict, seed: int) -> dict:
        """The full parameters of one task."""
        return {**self.base, **point, "seed": seed}

    def key(self, point: dict, seed: int) -> dict:
        """What identifies the task's result (with the code, added by the cache)."""
        if self.kind == "claim":
            key = {"claim": self.name, "scale": self.scale, **self.params(point, seed)}
            if self.source is not None:
                key["user_code"] = self.source
            return key
        return {"function": self.name.rsplit("/", 1)[-1], "user_code": self.source,
                **self.params(point, seed)}

    def check_axes(self, axes: dict) -> dict:
        """The axes with values cast to the types of the parameters they set (an integer
        parameter takes integer values only), every name checked against the
        experiment's parameters."""
        if self.known is not None:
            unknown = [n for n in axes if n not in self.known]
            if unknown:
                raise TestbedError(
                    f"unknown parameter(s) {', '.join(map(repr, unknown))} for "
                    f"{self.label}; its parameters are: {', '.join(self.known) or '(none)'}")
        missing = [n for n in self.required if n not in axes]
        if missing:
            raise TestbedError(f"{self.label} needs the parameter(s) "
                               f"{', '.join(map(repr, missing))}: give them in the grid")
        return {n: [_cast(self.label, n, self.base.get(n), v) for v in vals]
                for n, vals in axes.items()}

    def mismatch(self) -> str | None:
        """Why this process cannot run the experiment as the client would (other
        package code, or another copy of the user's code), else None."""
        from .. import claims
        from ..cache import code_hash, cpu_name
        if code_hash() != self.code:
            return (f"worker {worker_name()} runs other testbed code (code hash "
                    f"{code_hash()}, the client's {self.code}): install the same version")
        if cpu_name() != self.cpu:
            return (f"worker {worker_name()} compiles for CPU {cpu_name()!r}, the client "
                    f"for {self.cpu!r}, which round differently: set NUMBA_CPU_NAME to one "
                    f"name (e.g. generic) for the client and the workers")
        if self.kind == "claim":
            mine = claims.user_code(claims.get(self.name))
        else:
            source_file = inspect.getsourcefile(load_function(self.name))
            mine = _file_hash(source_file) if source_file else None
        if mine != self.source:
            return (f"worker {worker_name()} sees another version of the user's code of "
                    f"{self.label} (hash {mine}, the client's {self.source})")
        return None

    def call(self, point: dict, seed: int) -> dict:
        """Run the experiment for one task: a dict of arrays."""
        if self.kind == "claim":
            from .. import claims
            out = claims.get(self.name).experiment(self.params(point, seed))
        else:
            fn = load_function(self.name)
            kwargs = {**point, "seed": seed} if self.takes_seed else dict(point)
            out = fn(**kwargs)
        return as_arrays(out, self.label)


def _cast(label, name, default, value):
    """``value`` as the type of the parameter's default (int, float, bool)."""
    if default is None or isinstance(default, str):
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TestbedError(f"parameter {name!r} of {label} is true/false, got {value!r}")
        return value
    if isinstance(default, (int, np.integer)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or float(value) != round(float(value)):
            raise TestbedError(f"parameter {name!r} of {label} takes integers, got "
                               f"{value!r}")
        return int(value)
    if isinstance(default, (float, np.floating)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TestbedError(f"parameter {name!r} of {label} is a number, got {value!r}")
        return float(value)
    return value


def as_arrays(out, label) -> dict:
    """An experiment's return value as a dict of non-object arrays."""
    if not isinstance(out, dict):
        out = {"value": out}
    data = {}
    for k, v in out.items():
        arr = np.asarray(v)
        if arr.dtype == object:
            raise TestbedError(f"{label} returned {k!r} as objects ({type(v).__name__}); "
                               f"return numbers, booleans or strings")
        data[str(k)] = arr
    return data


def _file_hash(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def load_function(name: str):
    """The function named ``'module:function'`` or ``'/path/file.py:function'``."""
    from .._engine.codegen import exec_file
    module_name, _, func = name.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise TestbedError(f"experiment file {str(path)!r} does not exist")
        # named by path and contents: an edited file is imported afresh
        tag = hashlib.sha256(str(path).encode() + path.read_bytes()).hexdigest()[:16]
        mod_name = f"_testbed_sweep_{tag}"
        module = sys.modules.get(mod_name) or exec_file(mod_name, path)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise TestbedError(f"experiment module {module_name!r} cannot be imported "
                               f"({exc})") from None
    fn = module
    for part in func.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise TestbedError(f"{module_name!r} has no function {func!r}")
    return fn


def function_name(fn) -> str:
    """``'module:qualname'`` (``'/abs/file.py:qualname'`` for ``__main__``) of a
    top-level function, which workers can import."""
    qual = getattr(fn, "__qualname__", "")
    if not inspect.isfunction(fn) or "<" in qual:
        raise TestbedError(f"experiment {fn!r} must be a function defined at the top level "
                           f"of a module (workers import it by name; not a lambda or a "
                           f"nested function)")
    module = fn.__module__
    if module == "__main__":
        main = getattr(sys.modules["__main__"], "__file__", None)
        if main is None:
            raise TestbedError(f"experiment {qual!r} is defined interactively; put it in "
                               f"a file and pass 'file.py:{qual}'")
        return f"{Path(main).resolve()}:{qual}"
    return f"{module}:{qual}"


def resolve(experiment, scale: str = "quick") -> Experiment:
    """The :class:`Experiment` named by ``experiment``.

    Parameters
    ----------
    experiment : str or callable
        A claim id, ``'module:function'``, ``'path/file.py:function'``, or a
        top-level function.
    scale : str
        The claim scale whose parameters the tasks start from (claims only).

    Returns
    -------
    Experiment
    """
    from .. import claims
    from ..cache import code_hash, cpu_name
    if callable(experiment):
        name = function_name(experiment)
    elif isinstance(experiment, str) and ":" in experiment:
        module, _, func = experiment.rpartition(":")
        if not module or not func:
            raise TestbedError(f"experiment {experiment!r} must be 'module:function' or "
                               f"'path/file.py:function'")
        if module.endswith(".py"):
            module = str(Path(module).expanduser().resolve())
        name = f"{module}:{func}"
    elif isinstance(experiment, str):
        if experiment not in claims.ids():
            raise TestbedError(f"unknown experiment {experiment!r}: not a claim id "
                               f"(available: {', '.join(claims.ids())}) nor "
                               f"'module:function' / 'path/file.py:function'")
        module = claims.get(experiment)
        if scale not in module.SCALES:
            raise TestbedError(f"claim {experiment!r} has no scale {scale!r}; it has "
                               f"{', '.join(module.SCALES)}")
        base = {k: v for k, v in module.SCALES[scale].items() if k != "seed"}
        return Experiment("claim", experiment, scale, dict(module.SCALES[scale]),
                          tuple(base), (), True, claims.user_code(module), code_hash(),
                          cpu_name())
    else:
        raise TestbedError(f"experiment must be a claim id, 'module:function' or a "
                           f"function, got {experiment!r}")
    fn = load_function(name)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise TestbedError(f"experiment {name!r} has no inspectable signature") from None
    params = sig.parameters
    positional_only = [p.name for p in params.values() if p.kind == p.POSITIONAL_ONLY]
    if positional_only:
        raise TestbedError(f"experiment {name!r} takes positional-only parameters "
                           f"{positional_only}; it is called with keyword parameters")
    named = [p for p in params.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_seed = "seed" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    any_name = any(p.kind == p.VAR_KEYWORD for p in params.values())
    known = None if any_name else tuple(p.name for p in named if p.name != "seed")
    required = tuple(p.name for p in named if p.default is p.empty and p.name != "seed")
    base = {p.name: p.default for p in named
            if p.default is not p.empty and p.name != "seed"
            and isinstance(p.default, (bool, int, float, str, np.generic))}
    source_file = inspect.getsourcefile(fn)
    source = _file_hash(source_file) if source_file else None
    return Experiment("function", name, None, base, known, required, takes_seed, source,
                      code_hash(), cpu_name())


def worker_env() -> dict:
    """The client's variables that workers must share (absolute paths), including the
    user's folders added in this process (``--folder``, :func:`testbed.add_folder`)."""
    from .._engine.codegen import cache_root
    from ..cache import results_dir
    from ..objective import registry
    env = {k: os.environ[k] for k in ENV if os.environ.get(k)}
    env["TESTBED_RESULTS"] = str(results_dir().resolve())
    env["TESTBED_CACHE"] = str(cache_root().resolve())
    folders = [str(f) for f in registry.folders()]
    if folders:
        env["TESTBED_FUNCTIONS"] = os.pathsep.join(folders)
    return env


def apply_env(env: dict) -> None:
    """Make a worker's variables the client's (before the task runs)."""
    for k, v in env.items():
        if os.environ.get(k) != v:
            os.environ[k] = v
            if k == "TESTBED_CACHE" and not env.get("NUMBA_CACHE_DIR"):
                import numba
                numba.config.CACHE_DIR = str(Path(v) / "numba")


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_task(experiment: Experiment, point: dict, seed: int, env: dict) -> dict:
    """Run one task in a worker and store it under its key the moment it finishes.

    Parameters
    ----------
    experiment : Experiment
    point : dict
        The task's grid values.
    seed : int
    env : dict
        The client's variables (:func:`worker_env`).

    Returns
    -------
    dict
        ``data`` (the arrays) or ``error`` (type, message, where), with ``seconds``
        (wall time), ``worker`` (host:pid), ``computed`` (False if the entry was
        already there), ``code`` and ``user_code`` (the code that made it).
    """
    apply_env(env)
    from ..cache import cached, code_hash
    start = time.perf_counter()
    ran = []

    def compute():
        ran.append(True)
        return experiment.call(point, seed)
    out = {"worker": worker_name(), "code": code_hash(), "user_code": experiment.source}
    try:
        problem = experiment.mismatch()
        if problem:
            raise TestbedError(problem)
        out["data"] = cached(experiment.group, experiment.key(point, seed), compute)
    except Exception as exc:          # noqa: BLE001 - the task's own failure, reported
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        out["error"] = {"type": type(exc).__name__, "message": str(exc), "where": where}
    out["seconds"] = time.perf_counter() - start
    out["computed"] = bool(ran)
    return out


def stored(experiment: Experiment, point: dict, seed: int):
    """The task's arrays if a sound entry of this code is stored, else None (nothing
    is computed, and a damaged or foreign entry is left for the task to replace)."""
    from ..cache import lookup
    return lookup(experiment.group, experiment.key(point, seed))


__all__ = ["ENV", "Experiment", "apply_env", "as_arrays", "function_name", "load_function",
           "resolve", "run_task", "stored",
           "worker_env", "worker_name"]
