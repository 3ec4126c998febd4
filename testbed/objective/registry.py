"""The catalogue: every landscape declared in the shipped ``functions/`` folder
(installed as ``testbed.functions``) and in the user's folders.

Any ``.py`` file in such a folder that defines module-level :class:`Landscape`
objects adds them; nothing else needs editing. Point the testbed at your own folder
with the environment variable ``TESTBED_FUNCTIONS`` (folders separated by
``os.pathsep``) or ``testbed.add_folder(path)``. Two entries with one name are
refused, naming both files.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import re
from pathlib import Path

from .._engine.codegen import import_path
from ..errors import TestbedError
from .landscape import Landscape

_ENTRIES: dict[str, Landscape] = {}
_LOADED: set[str] = set()
_FOLDERS: list[Path] = []


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


def _collect(module) -> None:
    for value in list(vars(module).values()):
        if isinstance(value, Landscape):
            register(value, getattr(module, "__file__", module.__name__))


def _load_package() -> None:
    package = importlib.import_module("testbed.functions")
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name not in _LOADED:
            _LOADED.add(info.name)
            _collect(importlib.import_module(info.name))


def add_folder(path) -> None:
    """Load every landscape file under ``path`` (recursively) into the catalogue.

    Parameters
    ----------
    path : str or Path
        A folder of landscape files (as ``$TESTBED_FUNCTIONS`` names).

    Raises
    ------
    TestbedError
        If the folder does not exist, or a name is declared twice (both files named).
    """
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise TestbedError(f"functions folder {str(path)!r} does not exist")
    if folder not in _FOLDERS:
        _FOLDERS.append(folder)
    tag = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    for file in sorted(folder.rglob("*.py")):
        name = f"testbed_user_{tag}_" + re.sub(r"\W", "_", str(file.relative_to(folder))[:-3])
        if name not in _LOADED:
            _LOADED.add(name)
            _collect(import_path(name, file))


def _ensure_loaded() -> None:
    _load_package()
    for folder in filter(None, os.environ.get("TESTBED_FUNCTIONS", "").split(os.pathsep)):
        add_folder(folder)


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
