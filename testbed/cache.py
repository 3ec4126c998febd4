"""On-disk cache of finished results, so figures never recompute and an interrupted
sweep resumes from what it finished.

A result is stored under ``$TESTBED_RESULTS`` (default ``./results``) as
``<claim>/<key>.npz``, where key is a hash of the parameters, the seed and the
package version; a JSON sidecar records them in clear. Writes are atomic (temporary
file, then rename), so a killed run leaves either a whole entry or none.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ._version import __version__


def results_dir() -> Path:
    return Path(os.environ.get("TESTBED_RESULTS", "results"))


def key_of(params: dict) -> str:
    text = json.dumps({**params, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(group: str, params: dict, compute) -> dict:
    """``compute()`` -> dict of arrays, stored under (group, params) unless present."""
    folder = results_dir() / group
    path = folder / f"{key_of(params)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    data = compute()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez_compressed(fh, **{k: np.asarray(v) for k, v in data.items()})
    os.replace(tmp, path)
    meta = {**params, "version": __version__}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str))
    return data
