"""What a claim is: an experiment, a prediction, named criteria with justified
tolerances, and a figure.

A claim module in :mod:`testbed.claims` defines

- ``ID``, ``PAPER``, ``CLAIM`` (one sentence) and ``SCALES`` (``quick`` and ``paper``
  parameter dicts, each with a ``seed``; optionally ``large``, for a cluster);
- ``experiment(params) -> dict of arrays`` (cached by :mod:`testbed.cache`);
- ``predict(params) -> dict`` (the theory, computed without the experiment);
- ``check(data, prediction, params) -> Verdict``: a list of :class:`Criterion` rows
  (name, measured, predicted, tolerance, the tolerance's reason, whether it holds),
  from which the verdict is derived, plus ungated ``evidence``.

Its figure lives in :mod:`testbed.claims.figures` under the same module name, as
``draw(data, prediction, params, path)``; it reads the data and never recomputes.
Claims ask the runner for results; the runner knows nothing of claims.

A claim's status is one of :data:`STATUSES`: ``pass``; ``fail`` (a criterion on the
code's own correctness fails); ``not reproduced`` (the code's criteria hold but a
scientific one, the paper's effect at this scale, does not: a scientific outcome,
reported with its evidence); ``inconclusive`` (a criterion could not be decided);
``error`` (the claim raised: the record says what and where).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import time
import traceback

import numpy as np

from ..cache import cached, code_hash

PASS, FAIL, NOT_REPRODUCED, INCONCLUSIVE, ERROR = (
    "pass", "fail", "not reproduced", "inconclusive", "error")
STATUSES = (PASS, FAIL, NOT_REPRODUCED, INCONCLUSIVE, ERROR)


@dataclasses.dataclass(frozen=True)
class Criterion:
    """One row of a check: ``measured`` against ``predicted`` within ``tolerance``,
    ``reason`` saying why the tolerance is what it is; ``holds`` True, False or None
    (undecidable). ``science`` marks the paper's effect (its failure makes the claim
    "not reproduced") as opposed to a check of the code and its theory (a failure)."""
    name: str
    measured: object
    predicted: object
    tolerance: object
    reason: str
    holds: bool | None
    science: bool = False

    def as_dict(self) -> dict:
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}


def close(name, measured, predicted, tolerance, reason, *, relative=False,
          science=False) -> Criterion:
    r""":math:`|\text{measured} - \text{predicted}| \le \text{tolerance}` (times
    :math:`|\text{predicted}|` if ``relative``)."""
    m, p = float(measured), float(predicted)
    scale = abs(p) if relative else 1.0
    holds = bool(np.isfinite(m) and abs(m - p) <= tolerance * scale)
    tol = f"{tolerance:g} relative" if relative else tolerance
    return Criterion(name, m, p, tol, reason, holds, science)


def at_most(name, measured, bound, reason, *, science=False) -> Criterion:
    """measured <= bound (a NaN measurement does not hold)."""
    m = float(measured)
    return Criterion(name, m, f"<= {bound:g}", bound, reason,
                     bool(np.isfinite(m) and m <= bound), science)


def at_least(name, measured, bound, reason, *, science=False) -> Criterion:
    """measured >= bound (a NaN measurement does not hold)."""
    m = float(measured)
    return Criterion(name, m, f">= {bound:g}", bound, reason,
                     bool(np.isfinite(m) and m >= bound), science)


def holds(name, measured, predicted, reason, ok, *, tolerance="exact",
          science=False) -> Criterion:
    """A criterion whose test the claim computes itself (``ok``: True, False or None)."""
    return Criterion(name, measured, predicted, tolerance, reason,
                     None if ok is None else bool(ok), science)


@dataclasses.dataclass
class Verdict:
    """A claim's criteria and its ungated evidence; the status is derived from the
    criteria. ``headline`` names the criterion whose number the summary table shows
    (default: the first)."""
    criteria: list
    evidence: dict = dataclasses.field(default_factory=dict)
    headline: str | None = None

    def __post_init__(self):
        if not self.criteria:
            raise ValueError("a verdict needs at least one criterion")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names):
            raise ValueError(f"criterion names repeat: {names}")

    @property
    def status(self) -> str:
        code = [c for c in self.criteria if not c.science]
        science = [c for c in self.criteria if c.science]
        if any(c.holds is False for c in code):
            return FAIL
        if any(c.holds is None for c in code):
            return INCONCLUSIVE
        if any(c.holds is False for c in science):
            return NOT_REPRODUCED
        if any(c.holds is None for c in science):
            return INCONCLUSIVE
        return PASS

    @property
    def passed(self) -> bool | None:
        """True (pass), None (inconclusive), False (fail or not reproduced)."""
        return {PASS: True, INCONCLUSIVE: None}.get(self.status, False)

    @property
    def failed(self) -> list:
        """The criteria that do not hold."""
        return [c for c in self.criteria if c.holds is False]

    def __getitem__(self, name) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(f"no criterion {name!r}; have {[c.name for c in self.criteria]}")

    @property
    def measured(self) -> dict:
        """Each criterion's measured value by name, then the evidence."""
        return {**{c.name: c.measured for c in self.criteria}, **self.evidence}


def _plain(value):
    """JSON-ready: numpy scalars and arrays to Python, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if value is None or isinstance(value, (int, str)):
        return value
    return str(value)


def experiment_data(module, scale: str) -> dict:
    """The claim's experiment at ``scale``, from the result cache when it was already
    run with the same parameters, seed and package code (and, for a claim in a user's
    folder, the same code in the user's folders: :func:`testbed.claims.user_code`)."""
    from . import user_code
    params = module.SCALES[scale]
    key = {"claim": module.ID, "scale": scale, **params}
    source = user_code(module)
    if source is not None:
        key["user_code"] = source
    return cached(module.ID, key, lambda: module.experiment(params))


def figure_module(module):
    """The module that draws a claim's figure: the claim's own module where it defines
    ``draw`` (a claim in a user's folder), else ``testbed.claims.figures.<name>``."""
    if hasattr(module, "draw"):
        return module
    name = module.__name__.rsplit(".", 1)[-1]
    return importlib.import_module(f"{__package__}.figures.{name}")


def _error(exc: BaseException) -> dict:
    """What raised and where: the exception's type and message, and the innermost
    frame of the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return {"type": type(exc).__name__, "message": str(exc), "where": where}


def evaluate(module, scale: str = "quick", prediction=None, figure=None) -> dict:
    """Run (or load) a claim's experiment at ``scale``, check it and, when ``figure``
    (a path) is given, draw its figure there: the record that ``testbed check --json``
    prints. An exception inside the claim becomes a record with status ``error``
    (its type, message and where it was raised), never a crash of the caller."""
    params = module.SCALES[scale]
    record = {"id": module.ID, "paper": module.PAPER, "claim": module.CLAIM,
              "scale": scale, "seed": params.get("seed"), "code": code_hash()}
    start = time.perf_counter()
    try:
        data = experiment_data(module, scale)
        prediction = module.predict(params) if prediction is None else prediction
        verdict = module.check(data, prediction, params)
        record.update(status=verdict.status,
                      headline=verdict.headline or verdict.criteria[0].name,
                      criteria=[c.as_dict() for c in verdict.criteria],
                      evidence=_plain(verdict.evidence))
        if figure is not None:
            figure_module(module).draw(data, prediction, params, figure)
            record["figure"] = figure.name
    except Exception as exc:            # noqa: BLE001 - isolated, reported as 'error'
        record.update(status=ERROR, error=_error(exc))
    record["seconds"] = round(time.perf_counter() - start, 3)
    return json.loads(json.dumps(record))


def failed_criteria(record) -> list:
    """The criteria of a record that do not hold."""
    return [c for c in record.get("criteria", []) if c["holds"] is False]
