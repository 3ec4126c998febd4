"""Published claims as code: one module per claim (see :mod:`testbed.claims._base`).

``testbed check ID`` runs a claim's experiment and check; ``testbed figures ID``
draws its figure. Adding a claim is adding one module here, named after its id
(``eos-minimalist`` lives in ``eos_minimalist.py``), with its figure in
``figures/`` under the same name -- or one module in a folder of your own (see
:mod:`testbed.objective.registry`), which defines its figure ``draw`` itself and runs
beside the shipped claims. A claim's check is built from :class:`Verdict` and the
criterion helpers :func:`close`, :func:`at_most`, :func:`at_least` and :func:`holds`
(re-exported from :mod:`._base`).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from ..errors import TestbedError
from ._base import Criterion, Verdict, at_least, at_most, close, holds


def modules() -> dict:
    """Claim id -> module, for every shipped claim and every claim in the user's
    folders."""
    found = {}
    for name in shipped():
        module = importlib.import_module(f"{__name__}.{name}")
        found[module.ID] = module
    return {**found, **_user()}


@functools.cache
def shipped() -> tuple[str, ...]:
    """The module names of the shipped claims."""
    return tuple(sorted(i.name for i in pkgutil.iter_modules(__path__)
                        if not i.name.startswith("_") and not i.ispkg))


def _user() -> dict:
    from ..objective.registry import user_claims
    return user_claims()


def ids() -> list[str]:
    """Every claim id, sorted: the shipped ones and the user's."""
    return sorted([n.replace("_", "-") for n in shipped()] + list(_user()))


def get(claim_id: str):
    """The module of one claim, imported alone (claims import heavy libraries)."""
    name = claim_id.replace("-", "_")
    if name in shipped():
        return importlib.import_module(f"{__name__}.{name}")
    user = _user()
    if claim_id in user:
        return user[claim_id]
    raise TestbedError(f"unknown claim {claim_id!r}; available: {', '.join(ids())}")


def is_user(module) -> bool:
    """Whether a claim module comes from a user's folder (not the package)."""
    return not module.__name__.startswith(__name__ + ".")


def user_code(module) -> str | None:
    """For a user's claim, the hash of the user's folders (the claim's code and the
    landscapes and rules it may use: part of its results' cache key); None for a
    shipped claim, whose code the package's own hash covers."""
    if not is_user(module):
        return None
    from ..objective.registry import user_code as folders_hash
    return folders_hash()


__all__ = ["Criterion", "Verdict", "at_least", "at_most", "close", "get", "holds", "ids",
           "is_user", "modules", "shipped", "user_code"]
