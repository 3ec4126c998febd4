"""Calls by symbol (testbed._engine.calls) and LAPACK without np.linalg's wrapping
(testbed._engine.lapack): the callee's numbers, bit for bit, from a caller compiled
here and from one loaded from the cache in a new process; the callee's code is not
compiled again into its callers."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_oracle import SOFTPLUS, user_landscape

import testbed
from testbed import TestbedError, nets
from testbed._engine.jit import njit
from testbed._engine.lapack import eigh_into
from testbed.nets import mlp


def _network(seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 2))
    return nets.feedforward((3, 4, 2), X, Y, act="tanh")


def test_network_kernels_called_by_symbol_give_the_callees_numbers():
    L = _network()
    o, p, d = L.oracle, L.p, L.d
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(d), rng.standard_normal(d)
    for name in mlp.CALLED:
        assert getattr(o, name) is not getattr(mlp, name), name
    g1, g2 = np.empty(d), np.empty(d)
    assert o.value_grad(x, p, g1) == mlp.value_grad(x, p, g2)
    np.testing.assert_array_equal(g1, g2)
    assert o.value(x, p) == mlp.value(x, p)
    idx = np.array([3, 0, 3, 7])
    assert o.value_grad_batch(x, p, idx, g1) == mlp.value_grad_batch(x, p, idx, g2)
    np.testing.assert_array_equal(g1, g2)
    Xb, Yb = rng.standard_normal(6), rng.standard_normal(4)
    gx1, gx2 = np.empty(6), np.empty(6)
    assert (o.value_grad_inputs(x, p, Xb, Yb, g1, gx1)
            == mlp.value_grad_inputs(x, p, Xb, Yb, g2, gx2))
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(gx1, gx2)
    o.hvp(x, p, v, g1)
    mlp.hvp(x, p, v, g2)
    np.testing.assert_array_equal(g1, g2)
    o.hvp_prepared(x, p, o.hvp_prepare(x, p), v, g1)    # (the state holds scratch)
    mlp.hvp_prepared(x, p, mlp.hvp_prepare(x, p), v, g2)
    np.testing.assert_array_equal(g1, g2)


def test_a_caller_holds_a_call_not_the_callees_code():
    """A kernel that calls the oracle's value_grad declares its symbol and compiles
    none of the network's passes; one that calls mlp.value_grad itself links them
    (the check can tell the two apart)."""
    L = _network()
    by_symbol, linked = L.oracle.value_grad, mlp.value_grad

    @njit(cache=False)
    def through_symbol(x, p, g):
        return by_symbol(x, p, g)

    @njit(cache=False)
    def through_linking(x, p, g):
        return linked(x, p, g)

    x, g = np.zeros(L.d), np.empty(L.d)
    assert through_symbol(x, L.p, g) == through_linking(x, L.p, g)
    ir_symbol = "".join(through_symbol.inspect_llvm().values())
    ir_linked = "".join(through_linking.inspect_llvm().values())
    assert "testbed_call_value_grad_" in ir_symbol
    assert "_forward_pass" not in ir_symbol and "_forward_pass" in ir_linked


def test_a_user_module_may_ask_for_calls_by_symbol(tmp_path):
    """CALLED in a user's kernel module: the same run as without it; a name it does
    not define is refused with a message naming it."""
    plain = user_landscape(tmp_path, SOFTPLUS, d=4)
    called = user_landscape(tmp_path, SOFTPLUS + 'CALLED = ("value_grad",)\n', d=4)
    assert called.oracle.value_grad is not called.oracle.KERNELS.value_grad
    runs = [testbed.run(L, "gd", np.full(4, 0.3), steps=50, eta=0.05,
                        observe=("loss", "sharpness")) for L in (plain, called)]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    for key in ("loss", "sharpness"):
        np.testing.assert_array_equal(runs[0].traces[key], runs[1].traces[key])
    with pytest.raises(TestbedError, match="'hvp' in CALLED"):
        user_landscape(tmp_path, SOFTPLUS + 'CALLED = ("hvp",)\n', d=4).oracle


_RUN = """
import gc, json, numpy as np, testbed
from numba.core.registry import CPUDispatcher
from testbed import nets
rng = np.random.default_rng(0)
L = nets.feedforward((3, 4, 2), rng.standard_normal((12, 3)), rng.standard_normal((12, 2)))
r = testbed.run(L, "gd", np.full(L.d, 0.1), steps=20, eta=0.1, stride=5,
                observe=("loss", "sharpness"))
misses = sum(sum(f.stats.cache_misses.values()) for f in gc.get_objects()
             if isinstance(f, CPUDispatcher) and f.__module__.startswith("testbed_inst_"))
print(json.dumps({"x": r.x.tolist(), "loss": r.traces["loss"].tolist(),
                  "sharpness": r.traces["sharpness"].tolist(), "misses": misses}))
"""


def test_a_caller_loaded_from_the_cache_binds_its_callee_first(tmp_path):
    """Two processes on one empty kernel cache: the first compiles the runner and the
    sharpness kernel, the second loads them (Numba runs their reload_init, which binds
    the network's symbols, before loading their code) and gets the same numbers."""
    env = {**os.environ, "TESTBED_CACHE": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    runs = [json.loads(subprocess.run([sys.executable, "-c", _RUN], env=env, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(2)]
    assert runs[0]["misses"] > 0 and runs[1]["misses"] == 0
    for key in ("x", "loss", "sharpness"):
        assert runs[0][key] == runs[1][key]
    assert np.all(np.isfinite(runs[1]["sharpness"]))


@njit(cache=False)
def _compiled_eigh_into(A, w):
    return eigh_into(A, w)


@njit(cache=False)
def _compiled_eigh(A):
    return np.linalg.eigh(A)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 24), seed=st.integers(0, 2**31 - 1))
def test_eigh_into_is_np_linalg_eigh_bit_for_bit(n, seed):
    """The same LAPACK call as np.linalg.eigh in compiled code, on the matrix in place
    (eigenvectors in its rows); run as Python it is np.linalg.eigh itself."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n)) * 10.0 ** rng.uniform(-3, 3)
    A = B + B.T
    w_ref, V_ref = _compiled_eigh(A)
    T, w = A.copy(), np.empty(n)
    assert _compiled_eigh_into(T, w) == 0
    np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_array_equal(T, V_ref.T)
    T, w = A.copy(), np.empty(n)
    assert eigh_into(T, w) == 0
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A), rtol=1e-12,
                               atol=1e-12 * np.abs(w_ref).max())


def test_lanczos_sharpness_unchanged_by_the_direct_call():
    """The sharpness observer's Ritz values (now through eigh_into) equal a Lanczos
    tridiagonal's top eigenvalue from np.linalg.eigh."""
    L = _network(3)
    x = np.random.default_rng(2).standard_normal(L.d)
    o = L.oracle
    alpha, beta = np.zeros(L.d), np.zeros(L.d)
    m = o.lanczos(x, L.p, L.d, 0, alpha, beta)
    T = np.diag(alpha[:m]) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    w, _ = _compiled_eigh(T)
    assert o._top_ritz(alpha, beta, m)[0] == w[-1]
    top = np.linalg.eigvalsh(L.hessian(x))[-1]
    np.testing.assert_allclose(w[-1], top, rtol=1e-8)
