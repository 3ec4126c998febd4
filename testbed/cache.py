"""On-disk cache of finished results, so figures never recompute and an interrupted
run resumes from what it finished.

A result is stored under ``$TESTBED_RESULTS`` (default ``./results``) as
``<group>/<key>.npz`` with a JSON sidecar ``<key>.json``. The key is a hash of the
parameters and of everything that computes the result: the source of the whole
package (engine, catalogue, theory, claims), the NumPy and Numba versions, the
rounding perturbation in force (:mod:`testbed.perturb`) and the CPU Numba compiles
for. The sidecar records these
in clear with the SHA-256 of the ``.npz``; an entry whose sidecar is missing, whose
hash or parameters do not match, or whose arrays cannot be read is reported as
damaged and recomputed. Writes are atomic (temporary file, then rename; the sidecar
last), so a killed run leaves either a whole entry or one that is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ._engine.codegen import code_hash
from ._version import __version__
from .errors import TestbedError


def results_dir() -> Path:
    return Path(os.environ.get("TESTBED_RESULTS", "results"))


def ensure_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and prove it writable, or raise a TestbedError
    naming it (before any work starts)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TestbedError(f"{what} {str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise TestbedError(f"{what} {str(folder)!r} cannot be written "
                           f"({exc.strerror or exc})") from None


def _key_params(params: dict) -> dict:
    """The parameters with what else determines a result: the code, the rounding
    perturbation and the CPU Numba compiles for (``NUMBA_CPU_NAME=generic`` rounds
    differently from the host)."""
    from .perturb import level
    return {**params, "code": code_hash(), "perturb": level(), "cpu": cpu_name()}


def cpu_name() -> str:
    """The CPU Numba generates code for: ``$NUMBA_CPU_NAME``, else the host's."""
    import numba
    if numba.config.CPU_NAME:
        return numba.config.CPU_NAME
    import llvmlite.binding
    return llvmlite.binding.get_host_cpu_name()


def key_of(params: dict) -> str:
    text = json.dumps(_key_params(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path, meta_path: Path, expected: dict):
    """The entry's arrays, or the reason it cannot be used."""
    if not meta_path.exists():
        return None, "its sidecar is missing (an interrupted write?)"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"its sidecar is unreadable ({exc})"
    if meta.get("sha256") != _sha(path):
        return None, "its contents do not match the recorded SHA-256 (damaged or foreign)"
    if json.loads(json.dumps(expected, default=str)) != meta.get("params"):
        return None, "it was made with other parameters or code"
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:          # noqa: BLE001 - any unreadable archive is damaged
        return None, f"it cannot be read ({type(exc).__name__}: {exc})"
    if sorted(data) != meta.get("keys"):
        return None, "its arrays are not the recorded ones"
    return data, None


def _atomic_write(folder: Path, target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lookup(group: str, params: dict) -> dict | None:
    """The arrays stored under (group, params) if a sound entry made by this code is
    there, else None; nothing is computed, and a damaged or foreign entry is left in
    place for :func:`cached` to replace."""
    path = results_dir() / group / f"{key_of(params)}.npz"
    if not path.exists():
        return None
    data, _ = _load(path, path.with_suffix(".json"), _key_params(params))
    return data


def cached(group: str, params: dict, compute) -> dict:
    """``compute()`` -> dict of arrays, stored under (group, params) unless a sound
    entry is present; a damaged one is reported (a warning) and recomputed."""
    folder = results_dir() / group
    expected = _key_params(params)
    path = folder / f"{key_of(params)}.npz"
    meta_path = path.with_suffix(".json")
    if path.exists():
        data, problem = _load(path, meta_path, expected)
        if data is not None:
            return data
        warnings.warn(f"cached result {path} is damaged: {problem}; recomputing",
                      stacklevel=2)
    data = {k: np.asarray(v) for k, v in compute().items()}
    folder.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    _atomic_write(folder, path, lambda fh: np.savez_compressed(fh, **data))
    meta = {"params": json.loads(json.dumps(expected, default=str)), "version": __version__,
            "sha256": _sha(path), "keys": sorted(data)}
    _atomic_write(folder, meta_path, lambda fh: fh.write(json.dumps(meta, indent=1).encode()))
    return data

__all__ = ["cached", "code_hash", "cpu_name", "ensure_writable", "key_of", "lookup",
           "results_dir"]
