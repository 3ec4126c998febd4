"""The catalogue: every landscape declared in the shipped ``functions/`` folder
(installed as ``testbed.functions``), and everything in the user's folders.

A user's folder is named by the environment variable ``TESTBED_FUNCTIONS`` (folders
separated by ``os.pathsep``), by ``testbed.add_folder(path)`` or by the command's
``--folder``. One loader reads it: every ``.py`` file under it is imported once, as a
module of a package named after the folder (so ``from . import helpers`` works), and
classified by what it defines:

- module-level :class:`Landscape` objects: landscapes (a copy of an entry already
  registered, such as ``L = testbed.landscape("name")`` in a claim, is not a new one);
- ``ID``, ``CLAIM``, ``SCALES``, ``experiment`` or ``predict``: a claim, which must have
  every part of the contract of :mod:`testbed.claims._base` (:data:`CLAIM_PARTS`),
  its figure being the module's own ``draw(data, prediction, params, path)``;
- ``HYPER``, ``STATE`` or ``SCALARS``: an update rule named after its file, which must
  have every part of :mod:`testbed.rules._api` (:data:`RULE_PARTS`).

A problem confined to one file (a syntax error, an exception on import, a claim or rule
missing a part) is a :class:`FolderWarning` naming the file (and line) and the rest
loads. A name given twice -- two landscapes, claim ids or rules, or one that a shipped
one already has -- is a :class:`~testbed.errors.TestbedError` naming both files, raised
once the rest of the folder has loaded; so is a folder that does not exist or defines
nothing.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
import traceback
import types
import warnings
from pathlib import Path

from .._engine.codegen import exec_file
from ..errors import TestbedError
from .landscape import Landscape

CLAIM_PARTS = ("ID", "PAPER", "CLAIM", "SCALES", "experiment", "predict", "check", "draw")
CLAIM_MARKS = ("ID", "CLAIM", "SCALES", "experiment", "predict")
RULE_PARTS = ("HYPER", "STATE", "SCALARS", "init", "step")
RULE_MARKS = ("HYPER", "STATE", "SCALARS")

_ENTRIES: dict[str, Landscape] = {}
_CLAIMS: dict[str, types.ModuleType] = {}      # user claims by id
_RULES: dict[str, types.ModuleType] = {}       # user rules by name
_LOADED: set[str] = set()                      # modules done (loaded, or reported)
_FOLDERS: list[Path] = []
_CONTENTS: dict[Path, dict] = {}               # folder -> what it added, by kind
_PROBLEMS: list[str] = []                      # files that did not load, and why


class FolderWarning(UserWarning):
    """A file in a user's folder that was not loaded (the message says why)."""


def register(entry: Landscape, source: str = "") -> Landscape:
    """Add a landscape to the catalogue; a second entry with the same name is refused."""
    if not isinstance(entry, Landscape):
        raise TestbedError(f"only Landscape objects can be registered, got {type(entry)}")
    if entry.name in _ENTRIES and _ENTRIES[entry.name] is not entry:
        other = _ENTRIES[entry.name].source or "an earlier registration"
        raise TestbedError(f"landscape name {entry.name!r} is declared twice: in {other} and "
                           f"in {source or 'this registration'}; rename one of them")
    entry.source = entry.source or source
    _ENTRIES[entry.name] = entry
    return entry


def _declared(module) -> list[Landscape]:
    """The landscapes a module declares: its module-level Landscape objects, less
    copies of registered entries (they carry their source) and, within the module,
    copies of one declaration (same name and kernels)."""
    seen, out = set(), []
    for value in list(vars(module).values()):
        if isinstance(value, Landscape) and not value.source:
            key = (value.name, repr(value.kernels))
            if key not in seen:
                seen.add(key)
                out.append(value)
    return out


def _load_package() -> None:
    package = importlib.import_module("testbed.functions")
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name not in _LOADED:
            _LOADED.add(info.name)
            module = importlib.import_module(info.name)
            for entry in _declared(module):
                register(entry, module.__file__)


# -- users' folders ---------------------------------------------------------------------

def _identifier(part: str) -> str:
    name = re.sub(r"\W", "_", part)
    return "_" + name if name[:1].isdigit() else name


def _package(name: str, folder: Path) -> None:
    """The package ``name`` for ``folder`` (its ``__init__.py`` if it has one)."""
    if name in sys.modules:
        return
    init = folder / "__init__.py"
    if init.exists():
        exec_file(name, init, package_dir=folder)
    else:
        module = types.ModuleType(name)
        module.__path__ = [str(folder)]
        module.__file__ = None
        sys.modules[name] = module


def _module_name(root: str, folder: Path, file: Path) -> str:
    parts = [_identifier(p) for p in file.relative_to(folder).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([root, *parts])


def _import(root: str, folder: Path, file: Path):
    """Import one file of a user's folder, after its parent packages."""
    dirs = file.relative_to(folder).parts[:-1]
    _package(root, folder)
    for k in range(1, len(dirs) + 1):
        _package(".".join([root, *map(_identifier, dirs[:k])]), folder.joinpath(*dirs[:k]))
    name = _module_name(root, folder, file)
    if name in sys.modules:              # a package's __init__.py, or imported by a sibling
        return sys.modules[name]
    return exec_file(name, file)


def _import_problem(file: Path, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        file = Path(exc.filename) if exc.filename else file
        return (f"{file}:{exc.lineno}: syntax error: {exc.msg}; the file was not loaded "
                f"(the rest of the folder was)")
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if Path(f.filename).resolve() == file]
    where = f"{file}:{frames[-1].lineno}" if frames else str(file)
    return (f"{where}: {type(exc).__name__} on import: {exc}; the file was not loaded "
            f"(the rest of the folder was)")


def _claim_problem(module, file: Path) -> str | None:
    missing = [p for p in CLAIM_PARTS if not hasattr(module, p)]
    wrong = []
    if not missing:
        if not (isinstance(module.ID, str) and re.fullmatch(r"[A-Za-z0-9][\w.-]*", module.ID)):
            wrong.append(f"ID must be a name such as 'my-claim', got {module.ID!r}")
        wrong += [f"{k} must be a string" for k in ("PAPER", "CLAIM")
                  if not isinstance(getattr(module, k), str)]
        scales = module.SCALES
        if not (isinstance(scales, dict) and {"quick", "paper"} <= set(scales)
                and all(isinstance(scales[s], dict) for s in ("quick", "paper"))):
            wrong.append("SCALES must map 'quick' and 'paper' to parameter dicts")
        wrong += [f"{k} must be a function" for k in CLAIM_PARTS[4:]
                  if not callable(getattr(module, k))]
    if not (missing or wrong):
        return None
    what = f"lacks {', '.join(missing)}" if missing else "; ".join(wrong)
    return (f"{file}: claim module {what}. A claim module defines ID, PAPER, CLAIM, "
            f"SCALES ({{'quick': {{...}}, 'paper': {{...}}}}), experiment(params), "
            f"predict(params), check(data, prediction, params) and its figure "
            f"draw(data, prediction, params, path); it was not loaded")


def _rule_problem(module, file: Path) -> str | None:
    missing = [p for p in RULE_PARTS if not hasattr(module, p)]
    wrong = []
    if not missing:
        if not isinstance(module.HYPER, dict):
            wrong.append("HYPER must be a dict of hyper-parameter names to defaults")
        wrong += [f"{k} must be a non-negative integer" for k in ("STATE", "SCALARS")
                  if not (isinstance(getattr(module, k), int) and getattr(module, k) >= 0)]
        wrong += [f"{k} must be a plain Python function (it is compiled with the "
                  f"landscape's kernels; do not decorate it)" for k in ("init", "step")
                  if not inspect.isfunction(getattr(module, k))]
    if not (missing or wrong):
        return None
    what = f"lacks {', '.join(missing)}" if missing else "; ".join(wrong)
    return (f"{file}: update-rule module {what}. A rule defines HYPER, STATE, SCALARS, "
            f"init(x, s, c, h, p, rng) and step(t, x, g, s, c, h, p, rng) -> f (see "
            f"testbed.rules._api); it was not loaded")


def _shipped_claim_file(claim_id: str) -> Path | None:
    from .. import claims
    name = claim_id.replace("-", "_")
    return Path(claims.__file__).parent / f"{name}.py" if name in claims.shipped() else None


def _shipped_rule_file(rule: str) -> Path | None:
    from .. import rules
    return Path(rules.__file__).parent / f"{rule}.py" if rule in rules.shipped() else None


def _classify(module, file: Path, added: dict) -> list[str]:
    """Register what ``module`` defines; returns the collisions (both files named)."""
    collisions = []
    for entry in _declared(module):
        try:
            register(entry, str(file))
            added["landscapes"].add(entry.name)
        except TestbedError as exc:
            collisions.append(str(exc))
    is_claim = any(hasattr(module, k) for k in CLAIM_MARKS)
    is_rule = any(hasattr(module, k) for k in RULE_MARKS)
    if is_claim and is_rule:
        _problem(f"{file}: the module defines parts of both a claim ({', '.join(CLAIM_MARKS)}) "
                 f"and an update rule ({', '.join(RULE_MARKS)}); split it in two files; it "
                 f"was not loaded as either")
    elif is_claim:
        problem = _claim_problem(module, file)
        if problem:
            _problem(problem)
        else:
            other = _shipped_claim_file(module.ID) or (
                _CLAIMS[module.ID].__file__ if module.ID in _CLAIMS
                and _CLAIMS[module.ID] is not module else None)
            if other:
                collisions.append(f"claim id {module.ID!r} is declared twice: in {other} and "
                                  f"in {file}; change the ID of yours")
            else:
                _CLAIMS[module.ID] = module
                added["claims"].add(module.ID)
    elif is_rule:
        problem = _rule_problem(module, file)
        name = module.__name__.rsplit(".", 1)[-1]
        if problem:
            _problem(problem)
        else:
            other = _shipped_rule_file(name) or (
                _RULES[name].__file__ if name in _RULES and _RULES[name] is not module
                else None)
            if other:
                collisions.append(f"update rule {name!r} is declared twice: in {other} and in "
                                  f"{file}; rename your file (a rule is named after it)")
            else:
                _RULES[name] = module
                added["rules"].add(name)
    return collisions


def _problem(message: str) -> None:
    if message not in _PROBLEMS:
        _PROBLEMS.append(message)
        warnings.warn(message, FolderWarning, stacklevel=2)


def _files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*.py")
                  if not any(p.startswith(".") or p == "__pycache__"
                             for p in f.relative_to(folder).parts))


def add_folder(path) -> dict:
    """Load every landscape, claim and update-rule file under ``path`` (recursively).

    Parameters
    ----------
    path : str or Path
        A folder of ``.py`` files (as ``$TESTBED_FUNCTIONS`` names).

    Returns
    -------
    dict
        ``{"landscapes": [...], "claims": [...], "rules": [...]}``: the names the folder
        defines.

    Raises
    ------
    TestbedError
        If the folder does not exist, holds no ``.py`` file or defines nothing, or a
        name is declared twice (both files named; the rest of the folder is loaded
        first). A file that cannot be imported, or a claim or rule missing a part, is a
        :class:`FolderWarning` instead, and the rest loads.
    """
    folder = Path(path).expanduser().resolve()
    if not folder.exists():
        raise TestbedError(f"folder {str(path)!r} does not exist")
    if not folder.is_dir():
        raise TestbedError(f"{str(path)!r} is a file, not a folder of landscape, claim "
                           f"and rule modules")
    files = _files(folder)
    if not files:
        raise TestbedError(f"folder {str(path)!r} holds no .py file: put landscape, claim "
                           f"or update-rule modules there")
    if folder not in _FOLDERS:
        _FOLDERS.append(folder)
    added = _CONTENTS.setdefault(folder, {"landscapes": set(), "claims": set(),
                                          "rules": set()})
    root = "testbed_user_" + hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    collisions = []
    for file in files:
        name = _module_name(root, folder, file)
        if name in _LOADED:
            continue
        _LOADED.add(name)              # first: a file that looks itself up is not reloaded
        try:
            module = _import(root, folder, file)
        except Exception as exc:       # noqa: BLE001 - reported, and the rest loads
            _problem(_import_problem(file, exc))
            continue
        found = _classify(module, file, added)
        if found:
            collisions += found
            _LOADED.discard(name)      # reported again on every use
    if collisions:
        raise TestbedError("; ".join(collisions))
    if not any(added.values()):
        raise TestbedError(f"folder {str(path)!r} defines no landscape (a module-level "
                           f"Landscape), claim or update rule in its {len(files)} .py "
                           f"file(s){'; see the warnings above' if _PROBLEMS else ''}")
    return {k: sorted(v) for k, v in added.items()}


def _ensure_loaded() -> None:
    _load_package()
    for folder in filter(None, os.environ.get("TESTBED_FUNCTIONS", "").split(os.pathsep)):
        add_folder(folder)


def folders() -> list[Path]:
    """The user's folders loaded so far."""
    _ensure_loaded()
    return list(_FOLDERS)


def contents(folder) -> dict:
    """What the user's folder ``folder`` defines (loading it first):
    ``{"landscapes": [...], "claims": [...], "rules": [...]}``."""
    add_folder(folder)
    return {k: sorted(v) for k, v in _CONTENTS[Path(folder).expanduser().resolve()].items()}


def problems() -> list[str]:
    """Every file of the user's folders that was not loaded, and why."""
    _ensure_loaded()
    return list(_PROBLEMS)


def user_claims() -> dict:
    """Claim id -> module, for the claims in the user's folders."""
    _ensure_loaded()
    return dict(_CLAIMS)


def user_rules() -> dict:
    """Rule name -> module, for the update rules in the user's folders."""
    _ensure_loaded()
    return dict(_RULES)


def user_code() -> str:
    """SHA-256 (16 hex digits) of every ``.py`` file of the user's folders: part of the
    cache key of a user's claim, so that editing any of them recomputes it."""
    h = hashlib.sha256()
    for folder in folders():
        for file in _files(folder):
            h.update(str(file).encode())
            h.update(file.read_bytes())
    return h.hexdigest()[:16]


def names() -> list[str]:
    _ensure_loaded()
    return sorted(_ENTRIES)


def entry(name: str) -> Landscape:
    """The unbound catalogue entry called ``name``."""
    _ensure_loaded()
    if name not in _ENTRIES:
        close = [n for n in _ENTRIES if name.lower() in n.lower()]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise TestbedError(f"unknown landscape {name!r}{hint}; `testbed list` shows them all")
    return _ENTRIES[name]


def landscape(name: str, d: int | None = None, **params) -> Landscape:
    """The catalogue entry ``name``, bound.

    Parameters
    ----------
    name : str
        A catalogue name (``testbed.landscapes()``), yours included.
    d : int, optional
        The dimension, for entries that work in any d.
    **params
        Parameter values, each checked against its declared domain (defaults for the
        rest).

    Returns
    -------
    Landscape
        Bound: ``value``, ``grad``, ``hessian``, ``hvp`` and ``critical_points`` work.
    """
    return entry(name).bind(d=d, **params)
