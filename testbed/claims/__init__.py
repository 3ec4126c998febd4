"""Published claims as code: one module per claim (see :mod:`testbed.claims._base`).

``testbed check ID`` runs a claim's experiment and check; ``testbed figures ID``
draws its figure. Adding a claim is adding one module here.
"""
from __future__ import annotations

import importlib
import pkgutil

from ..errors import TestbedError


def modules() -> dict:
    """Claim id -> module, for every claim module in this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found[module.ID] = module
    return found


def get(claim_id: str):
    claims = modules()
    if claim_id not in claims:
        raise TestbedError(f"unknown claim {claim_id!r}; available: {', '.join(sorted(claims))}")
    return claims[claim_id]
