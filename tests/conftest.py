"""One Hypothesis profile for the whole suite, deterministic and without deadlines
(the first call of a kernel compiles it), and the ``slow`` marker on the claim tests
(``pytest -m "not slow"`` runs the engine's tests alone), ``clean_registry``,
which restores the global catalogue after a test that loads a user's folder, a
session folder for the results tests compute, and ``cluster``, a Dask LocalCluster
of two worker processes."""
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("testbed", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("testbed")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).name.startswith("test_claims"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def private_results(tmp_path_factory):
    """Results the tests compute (claims' grid points are cached as they finish) go
    to a folder of the session's, never into the checkout's ./results."""
    import os
    if "TESTBED_RESULTS" not in os.environ:
        os.environ["TESTBED_RESULTS"] = str(tmp_path_factory.mktemp("results"))
    yield


@pytest.fixture(scope="module")
def cluster():
    """A Dask LocalCluster of two worker processes (skipped without distributed)."""
    import warnings
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None)
    yield c
    c.close()


@pytest.fixture
def clean_registry():
    """The registry is global: forget whatever a test added to it (landscapes,
    claims, rules, folders, load problems)."""
    from testbed.objective import registry
    registry.names()                                   # the catalogue, loaded first
    saved = [dict(registry._ENTRIES), dict(registry._CLAIMS), dict(registry._RULES),
             list(registry._FOLDERS), list(registry._PROBLEMS)]
    yield
    for live, old in zip((registry._ENTRIES, registry._CLAIMS, registry._RULES), saved):
        live.clear()
        live.update(old)
    registry._FOLDERS[:] = saved[3]
    registry._PROBLEMS[:] = saved[4]
