"""One Hypothesis profile for the whole suite, deterministic and without deadlines
(the first call of a kernel compiles it), and the ``slow`` marker on the claim tests
(``pytest -m "not slow"`` runs the engine's tests alone)."""
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("testbed", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("testbed")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).name.startswith("test_claims"):
            item.add_marker(pytest.mark.slow)
