"""Update rules: one module each, all in the ``(init, step)`` form of
:mod:`testbed.rules._api`. Named optimizers are these modules, not new loops.

gd, heavy_ball, nesterov, noisy_gd, perturbed_gd, sam, sam_unnormalized, asam,
sam_exact, sam_msharp, adam, newton, sfn, projected_gd, gradient_flow,
gradient_ascent, sgd, sgd_momentum; and the rules in the user's
folders, by the name of their file.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from ..errors import TestbedError


@functools.cache
def shipped() -> tuple[str, ...]:
    """The names of the rules shipped in this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if not m.name.startswith("_")))


def _user() -> dict:
    from ..objective.registry import user_rules
    return user_rules()


def names() -> tuple[str, ...]:
    """Every rule name: the shipped rules and those in the user's folders
    (:mod:`testbed.objective.registry`), each named after its file."""
    return tuple(sorted((*shipped(), *_user())))


def get(rule):
    """The rule module for a name (or a module following the contract)."""
    if not isinstance(rule, str):
        return rule
    if rule in shipped():
        return importlib.import_module(f"{__name__}.{rule}")
    user = _user()
    if rule not in user:
        raise TestbedError(f"unknown update rule {rule!r}; available: {', '.join(names())}")
    return user[rule]


def hyper_params(rule) -> dict:
    """The rule's hyper-parameters as declared ``Param``s, in its order (a plain default
    in a user's rule becomes a Param with no domain beyond finiteness)."""
    from ..objective.landscape import Param
    module = get(rule)
    return {k: v if isinstance(v, Param) else Param(v) for k, v in module.HYPER.items()}


def hyper_vector(rule, given: dict) -> tuple[list[str], list]:
    """Hyper-parameter names and values in the rule's order (defaults filled in)."""
    module = get(rule)
    name = module.__name__.rsplit(".", 1)[-1]
    declared = hyper_params(module)
    unknown = set(given) - set(declared)
    if unknown:
        raise TestbedError(f"rule {name!r} has no hyper-parameter(s) {sorted(unknown)}; "
                           f"it takes {list(declared)}")
    values = []
    for key, param in declared.items():
        value = given.get(key, param.default)
        if value is None:
            raise TestbedError(f"rule {name!r} needs {key}=...")
        values.append(value)
    return list(declared), values

__all__ = ["get", "hyper_params", "hyper_vector", "names", "shipped"]
