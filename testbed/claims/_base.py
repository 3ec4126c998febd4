"""What a claim is: an experiment, a prediction, a check with a justified tolerance,
and a figure.

A claim module in :mod:`testbed.claims` defines

- ``ID``, ``PAPER``, ``CLAIM`` (one sentence) and ``SCALES`` (``quick`` and ``paper``
  parameter dicts, each with a ``seed``);
- ``experiment(params) -> dict of arrays`` (cached by :mod:`testbed.cache`);
- ``predict(params) -> dict`` (the theory, computed without the experiment);
- ``check(data, prediction, params) -> Verdict``;
- ``figure(data, prediction, params, path)`` (reads the data, never recomputes).

Claims ask the runner for results; the runner knows nothing of claims.
"""
from __future__ import annotations

import dataclasses
import time

from .._codegen import source_hash
from ..cache import cached


@dataclasses.dataclass
class Verdict:
    """passed: True, False, or None (inconclusive); measured / predicted / tolerance
    are JSON-friendly; reason says why the tolerance is what it is. ``reproduced``
    False marks a failure that is a scientific outcome (the code's own checks pass,
    the paper's effect does not appear at this scale: "not reproduced", with the
    evidence), not an error."""
    passed: bool | None
    measured: object
    predicted: object
    tolerance: object
    reason: str
    reproduced: bool | None = None


def status(record) -> str:
    """'pass', 'FAIL', 'not reproduced' or 'inconclusive' for a check record."""
    if record["passed"] is None:
        return "inconclusive"
    if record["passed"]:
        return "pass"
    return "not reproduced" if record.get("reproduced") is False else "FAIL"


def experiment_data(module, scale: str) -> dict:
    """The claim's experiment at ``scale``, from the result cache when it was already
    run with the same parameters, seed, package version and claim code."""
    params = module.SCALES[scale]
    key = {"scale": scale, **params, "code": source_hash(module)}
    return cached(module.ID, key, lambda: module.experiment(params))


def evaluate(module, scale: str = "quick", prediction=None) -> dict:
    """Run (or load) a claim's experiment at ``scale`` and check it: the JSON record
    that ``testbed check --json`` prints."""
    params = module.SCALES[scale]
    start = time.perf_counter()
    data = experiment_data(module, scale)
    prediction = module.predict(params) if prediction is None else prediction
    verdict = module.check(data, prediction, params)
    return {"id": module.ID, "passed": verdict.passed, "measured": verdict.measured,
            "predicted": verdict.predicted, "tolerance": verdict.tolerance,
            "reason": verdict.reason, "reproduced": verdict.reproduced, "scale": scale, "seed": params.get("seed"),
            "seconds": round(time.perf_counter() - start, 3)}


def draw(module, scale: str, path) -> dict:
    """Check the claim and draw its figure at ``path``; returns the check record."""
    record = evaluate(module, scale)
    params = module.SCALES[scale]
    module.figure(experiment_data(module, scale), module.predict(params), params, path)
    return record
