"""The compiled ensemble: one instance of :mod:`testbed._engine.templates.runner`
per landscape oracle, update rule, stopping event and projection.

A rule's ``init`` and ``step`` are compiled in the instance's globals, where the
oracle's kernels, the replica's random-number functions, the event and the
projection are bound; the names the rule module itself defines and its functions use
(its compiled helpers, its constants) are bound beside them.
"""
from __future__ import annotations

from . import codegen
from .status import BUDGET, DIVERGED, DONE, EVENT, STATUS_NAMES  # noqa: F401
from .templates import runner as template

# the oracle functions a rule may call (finite-sum landscapes add the last two)
ORACLE_NAMES = ("value_grad", "hessian", "hvp", "sharpness", "value_grad_batch", "n_samples")
# names the instance provides to a rule (the rest of what it uses comes from its module)
_PROVIDED = {*ORACLE_NAMES, "project", "normal", "uniform", "uniform_ball"}

_MODULES: dict = {}


def _identity(fn) -> str:
    """Module, name and source hash of a (compiled) function."""
    py = getattr(fn, "py_func", fn)
    return f"{py.__module__}.{py.__qualname__}:{codegen.source_hash(py)[:16]}"


def _rule_globals(rule) -> dict:
    """What the rule's init and step take from their own module."""
    names = set()
    for fn in (rule.init, rule.step):
        names |= set(fn.__code__.co_names)
    return {n: vars(rule)[n] for n in names - _PROVIDED if n in vars(rule)}


def runner_module(oracle, rule, event, projection, with_sharpness=False):
    """The instance holding ``run`` for this combination (memoised). The sharpness
    observer is compiled in only when asked for (it is most of the compile time)."""
    memo = (oracle.__name__, rule.__name__, event.pred, projection.fn, with_sharpness)
    if memo not in _MODULES:
        key = "|".join([oracle.__name__, rule.__name__, codegen.source_hash(rule),
                        _identity(event.pred), _identity(projection.fn), str(with_sharpness)])
        bindings = {n: getattr(oracle, n) for n in ORACLE_NAMES if hasattr(oracle, n)}
        if not with_sharpness:
            bindings.pop("sharpness", None)
        bindings.update(_rule_globals(rule), event=event.pred, project=projection.fn)
        module = codegen.instantiate(template, key, bindings,
                                     functions=(("init", rule.init), ("step", rule.step)))
        if not with_sharpness:
            module.sharpness = module.no_sharpness
        _MODULES[memo] = module
    return _MODULES[memo]
