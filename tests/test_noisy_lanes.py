"""The structure-of-arrays noisy-GD backend (noisy lanes) against the generic runner,
bit for bit: module and SymPy landscapes, every stopping path (event, divergence,
budget), loss observations, per-replica hyper-parameters, lane refills and the
compaction of the tail, thread counts; and the check of a hand-written
``value_grad_lanes``.

Kernels compiled here: noisy lanes and the generic noisy_gd runner for strict_saddle
(d = 6) and eos_minimalist with the escape, converged and never events.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import testbed
from testbed import TestbedError
from testbed._engine import lanes as _lanes
from testbed.kernel import BUDGET, DIVERGED, EVENT

from test_bench import assert_same, awkward_starts
from test_oracle import user_landscape

pytestmark = pytest.mark.filterwarnings("ignore:.* in their first step")


@pytest.fixture(scope="module")
def saddle():
    return testbed.landscape("strict_saddle", d=6, lam=[-1.0, 0.5, 0.8, 1.1, 1.5, 2.0])


@pytest.fixture(scope="module")
def eos():
    return testbed.landscape("eos_minimalist")


def both(L, X, steps, monkeypatch, slots=None, **kw):
    """(noisy lanes, generic runner) on the same arguments; the first must take the
    lanes path (an explicit ``params`` makes it ineligible for the second)."""
    calls = []
    real = _lanes.run_noisy
    monkeypatch.setattr(_lanes, "run_noisy",
                        lambda *a, **k: calls.append(1) or real(*a, slots=slots, **k))
    fast = testbed.run(L, "noisy_gd", X, steps, **kw)
    assert calls, "testbed.run did not take the noisy lanes path"
    slow = testbed.run(L, "noisy_gd", X, steps, params=L.p[None, :], **kw)
    fast.meta.pop("params"), slow.meta.pop("params")
    return fast, slow


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), n=st.integers(64, 300), slots=st.sampled_from([8, 24, 256]),
       stride=st.integers(1, 40), threads=st.sampled_from([1, 2]))
def test_escape_ensembles_equal_generic(saddle, seed, n, slots, stride, threads):
    with pytest.MonkeyPatch.context() as mp:
        fast, slow = both(saddle, np.zeros(6), 400, mp, slots=slots, n=n, seed=seed,
                          eta=0.1, sigma=1e-3, event=testbed.events.escape(0, 0.5),
                          observe=("loss",), stride=stride, threads=threads)
    assert_same(fast, slow)
    assert np.all(fast.status == EVENT)


@pytest.mark.parametrize("event", [testbed.events.converged(1e-3), None])
def test_divergence_budget_and_per_replica_hyper_parameters(eos, event, monkeypatch):
    X, eta = awkward_starts(150, seed=4)
    sigma = np.random.default_rng(5).uniform(0.0, 0.05, 150) + 1e-6
    fast, slow = both(eos, X, 60, monkeypatch, slots=16, eta=eta, sigma=sigma, seed=11,
                      event=event, observe=("loss",), stride=3)
    assert_same(fast, slow)
    assert {DIVERGED, BUDGET} <= set(fast.status.tolist())
    if event is not None:
        assert EVENT in set(fast.status.tolist())


def test_results_do_not_depend_on_slots_threads_or_n(saddle):
    kw = dict(seed=3, eta=0.1, sigma=1e-3, event=testbed.events.escape(0, 0.5))
    ref = testbed.run(saddle, "noisy_gd", np.zeros(6), 500, n=200, threads=1, **kw)
    more = testbed.run(saddle, "noisy_gd", np.zeros(6), 500, n=300, threads=2, **kw)
    np.testing.assert_array_equal(ref.x, more.x[:200])
    np.testing.assert_array_equal(ref.stop_step, more.stop_step[:200])


def test_eligibility(saddle, eos):
    ok = dict(landscape=saddle, rule_module=testbed.rules.get("noisy_gd"),
              event=testbed.events.escape(0, 0.5), projection=testbed.projections.IDENTITY,
              params=None, observe=(), coords=np.zeros(0, np.int64), n=64)
    assert _lanes.eligible(**ok) == "noisy_gd"
    assert _lanes.eligible(**{**ok, "landscape": eos}) == "noisy_gd"
    for change in [dict(n=63), dict(observe=("grad_norm",)), dict(coords=[0]),
                   dict(params=saddle.p[None, :]), dict(rule_module=testbed.rules.get("sgd")),
                   dict(landscape=testbed.landscape("quadratic", d=2))]:
        assert _lanes.eligible(**{**ok, **change}) is None, change


WRONG_LANES = """
@njit
def value_grad(x, p, g):
    f = 0.0
    for i in range(x.shape[0]):
        f += 0.5 * x[i] * x[i]
        g[i] = x[i]
    return f


@njit
def value_grad_lanes(B, p, G, F):
    d, m = B.shape
    for r in range(m):
        F[r] = 0.0
    for i in range(d):
        for r in range(m):
            F[r] += 0.5 * B[i, r] * B[i, r] + 1e-17     # off by a rounding-level term
            G[i, r] = B[i, r]
"""


def test_value_grad_lanes_that_differs_is_refused(tmp_path):
    L = user_landscape(tmp_path, WRONG_LANES, d=3)
    with pytest.raises(TestbedError, match="value_grad_lanes .* differs from value_grad"):
        testbed.run(L, "noisy_gd", np.zeros(3), 5, n=64, eta=0.1, sigma=0.1)
