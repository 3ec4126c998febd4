"""Published claims as code: one module per claim (see :mod:`testbed.claims._base`).

``testbed check ID`` runs a claim's experiment and check; ``testbed figures ID``
draws its figure. Adding a claim is adding one module here, named after its id
(``eos-minimalist`` lives in ``eos_minimalist.py``).
"""
from __future__ import annotations

import importlib
import pkgutil

from ..errors import TestbedError


def modules() -> dict:
    """Claim id -> module, for every claim module in this package."""
    found = {}
    for name in _names():
        module = importlib.import_module(f"{__name__}.{name}")
        found[module.ID] = module
    return found


def _names() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(__path__)
                  if not i.name.startswith("_") and not i.ispkg)


def ids() -> list[str]:
    """Every claim id, sorted."""
    return [n.replace("_", "-") for n in _names()]


def get(claim_id: str):
    """The module of one claim, imported alone (claims import heavy libraries)."""
    name = claim_id.replace("-", "_")
    if name not in _names():
        known = ", ".join(n.replace("_", "-") for n in _names())
        raise TestbedError(f"unknown claim {claim_id!r}; available: {known}")
    return importlib.import_module(f"{__name__}.{name}")
