"""Tiny experiments for tests/test_sweep.py: functions of keyword parameters that
return arrays, log each call as a file in ``log`` (so tests count calls made in
worker processes), and can hold one task long enough to interrupt it."""
import os
import time
import uuid
from pathlib import Path

import numpy as np


def toy(a, b=1.0, n=4, log="", hold=-1, pause=0.0, seed=0):
    """x = a N(0, 1) + b, n replicas from the stream (seed, n); a == hold sleeps
    ``pause`` seconds on its first attempt (a marker file says it started)."""
    if log:
        folder = Path(log)
        tag = f"{a}-{b}-{n}-{seed}"
        first = not any(folder.glob(f"start-{tag}-*"))
        (folder / f"start-{tag}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()
        if a == hold and first:
            time.sleep(pause)
        elif a != hold:
            time.sleep(pause / 10)
    rng = np.random.default_rng([seed, n])
    x = a * rng.normal(size=n) + b
    return {"x": x, "escaped": x > b, "mean": x.mean(), "outer": np.outer(x[:2], x[:2])}


def calls(log) -> list[str]:
    """The tasks started, one 'a-b-n-seed' per call."""
    return sorted(p.name.split("-", 1)[1].rsplit("-", 2)[0] for p in Path(log).glob("start-*"))


def broken(a, seed=0):
    """Fails for a == 2 (the task's own failure)."""
    if a == 2:
        raise ValueError("a = 2 is not allowed")
    return {"y": np.array(float(a + seed))}
