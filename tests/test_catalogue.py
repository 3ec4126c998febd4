"""Every catalogue entry checked against its own declarations.

For every registered landscape (bound with its defaults; d = 5, and d = 3 for
strict_saddle, where the dimension is free), plus a few non-default bindings:
declared critical points are critical (gradient), have the declared energy, Morse
index and degeneracy (Hessian eigenvalues), are distinct and inside the domain; for
2-D landscapes with a domain a Newton search on grad f = 0 finds nothing undeclared;
gradients, Hessians and Hessian-vector products agree with central differences.
Then: the hand-written strict_saddle kernels against a NumPy twin, the registry
(name collisions, user folders) and bad input to symbolic() and bind().
"""
import itertools
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import testbed
from testbed.objective import registry
from testbed.errors import TestbedError

EXTRA = [  # non-default bindings worth checking too
    ("strict_saddle", {"d": 3}),
    ("strict_saddle", {"d": 3, "lam": [-1.0, -4.0, 0.5]}),          # 9 points
    ("strict_saddle", {"d": 4, "lam": [-1.0, 0.0, -0.25, 2.0]}),    # degenerate
    ("strict_saddle", {"d": 2, "lam": [0.5, 3.0]}),                 # convex
    ("rosenbrock", {"a": -1.5, "b": 2.0}),
]


def _cases():
    out = []
    for name in testbed.landscapes():
        out.append((name, {} if registry.entry(name).dim else {"d": 5}))
    return out + EXTRA


CASES = _cases()
IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in CASES]
_BOUND = {}


def bound(name, kw):
    key = (name, repr(sorted(kw.items())))
    if key not in _BOUND:
        _BOUND[key] = testbed.landscape(name, **kw)
    return _BOUND[key]


def hess_tol(H):
    """Eigenvalues below this (relative to the Hessian's scale) count as zero."""
    return 1e-8 * max(1.0, float(np.abs(H).max()))


def classify(L, x):
    H = L.hessian(x)
    ev = np.linalg.eigvalsh(H)
    tol = hess_tol(H)
    return int(np.sum(ev < -tol)), bool(np.any(np.abs(ev) < tol)), H


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    name, kw = request.param
    return bound(name, kw)


# -- declarations ------------------------------------------------------------------

def test_declared_points_are_what_they_say(case):
    L = case
    cps = L.critical_points()
    assert cps, f"{L.name}: no critical point declared"
    for cp in cps:
        x = np.asarray(cp.x, dtype=float)
        assert x.shape == (L.d,) and np.all(np.isfinite(x)), (L.name, cp)
        index, degenerate, H = classify(L, x)
        scale = max(1.0, float(np.abs(H).max()), abs(cp.energy))
        g = L.grad(x)
        assert np.abs(g).max() < 1e-9 * scale, (L.name, cp, g)
        assert abs(L.value(x) - cp.energy) < 1e-9 * max(1.0, abs(cp.energy)), (L.name, cp)
        assert cp.index == index, (L.name, cp, np.linalg.eigvalsh(H))
        assert cp.degenerate == degenerate, (L.name, cp, np.linalg.eigvalsh(H))


def test_declared_points_distinct_and_in_domain(case):
    L = case
    X = np.array([cp.x for cp in L.critical_points()], dtype=float)
    for i, j in itertools.combinations(range(len(X)), 2):
        assert np.abs(X[i] - X[j]).max() > 1e-8, (L.name, X[i], X[j])
    if L.domain is not None:
        lo, hi = (np.asarray(b, dtype=float) for b in L.domain)
        assert lo.shape == hi.shape == (L.d,) and np.all(lo < hi), (L.name, L.domain)
        assert np.all((X >= lo) & (X <= hi)), (L.name, X)


def test_strict_saddle_point_table():
    L = testbed.landscape("strict_saddle", d=3, lam=[-1.0, -4.0, 2.0])
    table = {cp.x: (cp.energy, cp.index, cp.degenerate) for cp in L.critical_points()}
    assert len(table) == 9
    assert table[(0.0, 0.0, 0.0)] == (0.0, 2, False)
    assert table[(1.0, 0.0, 0.0)] == (-0.25, 1, False)
    assert table[(0.0, -2.0, 0.0)] == (-4.0, 1, False)
    assert table[(-1.0, 2.0, 0.0)] == (-4.25, 0, False)
    B1 = testbed.landscape("strict_saddle", d=100)   # benchmark B1
    assert B1.p[0] == -1.0 and np.array_equal(B1.p[1:], np.linspace(0.5, 2.0, 99))
    assert sorted((cp.x[0], cp.energy, cp.index) for cp in B1.critical_points()) == [
        (-1.0, -0.25, 0), (0.0, 0.0, 1), (1.0, -0.25, 0)]
    assert len(testbed.landscape("strict_saddle", d=1).critical_points()) == 3


# -- completeness: no undeclared critical point in a 2-D domain -----------------------

def newton_search(L, n_grid=24, n_random=150, iters=80, seed=0):
    """End points of Newton's method on grad f = 0 (x <- x - H^+ g, step capped) from
    a grid and random starts in the domain; those with a vanishing gradient.
    All starts advance together; the kernels are called directly (L.grad and
    L.hessian re-derive the oracle on every call)."""
    lo, hi = (np.asarray(b, dtype=float) for b in L.domain)
    axes = [np.linspace(a, b, n_grid + 2)[1:-1] for a, b in zip(lo, hi)]
    rng = np.random.default_rng(seed)
    X = np.vstack([np.array(list(itertools.product(*axes))),
                   lo + (hi - lo) * rng.random((n_random, L.d))])
    o, p, d = L.oracle, L.p, L.d
    G, H = np.empty_like(X), np.empty((len(X), d, d))
    cap, slack = 0.25 * float(np.min(hi - lo)), 0.1 * (hi - lo)
    live, done = np.ones(len(X), bool), np.zeros(len(X), bool)
    for _ in range(iters):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        for k in idx:
            o.value_grad(X[k], p, G[k])
            o.hessian(X[k], p, H[k])
        small = np.abs(G[idx]).max(axis=1) < 1e-11 * np.maximum(1, np.abs(H[idx]).max(axis=(1, 2)))
        done[idx[small]] = True
        live[idx[small]] = False
        idx = idx[~small]
        step = -np.einsum("nij,nj->ni", np.linalg.pinv(H[idx], rcond=1e-13), G[idx])
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        X[idx] += step * np.minimum(1.0, cap / np.maximum(norm, 1e-300))
        inside = np.all((X[idx] > lo - slack) & (X[idx] < hi + slack), axis=1)
        live[idx[~inside]] = False
    X = X[done]
    return X[np.all((X >= lo - 1e-9) & (X <= hi + 1e-9), axis=1)]


def _has_critical_sets(L):
    """Landscapes whose critical points are not all isolated (lines, valleys of
    minima): the tag 'degenerate' (as on eos_minimalist) or 'critical-manifold'."""
    return bool({"degenerate", "critical-manifold"} & set(L.tags))


TWO_D = [(c, i) for c, i in zip(CASES, IDS)
         if registry.entry(c[0]).dim == 2 and registry.entry(c[0]).domain is not None]


@pytest.mark.parametrize("name,kw", [c for c, _ in TWO_D], ids=[i for _, i in TWO_D])
def test_no_undeclared_critical_points(name, kw):
    L = bound(name, kw)
    cps = L.critical_points()
    X = np.array([cp.x for cp in cps], dtype=float)
    # degenerate points attract Newton only linearly: match them more loosely
    radius = np.array([1e-3 if cp.degenerate else 1e-6 for cp in cps])
    found = newton_search(L)
    assert len(found), f"{name}: the search found no critical point at all"
    dist = np.abs(found[:, None, :] - X[None, :, :]).max(axis=2)
    matched = dist < radius[None, :]
    # the search is strong enough: it finds every non-degenerate declared point
    for k, cp in enumerate(cps):
        if not cp.degenerate:
            assert matched[:, k].any(), f"{name}: search missed declared {cp}"
    extra = found[~matched.any(axis=1)]
    if not _has_critical_sets(L):
        assert len(extra) == 0, f"{name}: undeclared critical points, e.g. {extra[:5]}"
    # on critical sets every point is degenerate, at the energy of a declared point
    energies = np.array([cp.energy for cp in cps if cp.degenerate])
    for x in extra:
        H = L.hessian(x)
        assert np.abs(np.linalg.eigvalsh(H)).min() < 1e-5 * max(1, np.abs(H).max()), (name, x)
        assert np.abs(energies - L.value(x)).min() < 1e-8, (name, x, L.value(x))


# -- derivatives against central differences ----------------------------------------

def _box(L):
    if L.domain is not None:
        return tuple(np.asarray(b, dtype=float) for b in L.domain)
    return -2.0 * np.ones(L.d), 2.0 * np.ones(L.d)


@settings(max_examples=20)
@given(data=st.data())
def test_derivatives_match_finite_differences(case, data):
    L = case
    lo, hi = _box(L)
    x = np.array([data.draw(st.floats(a, b), label=f"x{i}")
                  for i, (a, b) in enumerate(zip(lo, hi))])
    v = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=L.d, max_size=L.d), label="v"))
    f, g, H = L.value(x), L.grad(x), L.hessian(x)
    h = 1e-5 * max(1.0, np.abs(x).max())
    E = np.eye(L.d) * h
    g_fd = np.array([(L.value(x + e) - L.value(x - e)) / (2 * h) for e in E])
    H_fd = np.array([(L.grad(x + e) - L.grad(x - e)) / (2 * h) for e in E]).T
    assert np.allclose(g, g_fd, rtol=0, atol=1e-6 * (1 + abs(f) + np.abs(g).max())), (x, g, g_fd)
    assert np.allclose(H, H_fd, rtol=0, atol=1e-6 * (1 + np.abs(g).max() + np.abs(H).max()))
    assert np.array_equal(H, H.T)
    assert np.allclose(L.hvp(x, v), H @ v, rtol=0, atol=1e-12 * (1 + np.abs(H).max()))


# -- hand-written strict_saddle kernels against a NumPy twin ---------------------------

def twin(x, lam):
    return (np.sum(lam * x**2 / 2 + x**4 / 4), lam * x + x**3, np.diag(lam + 3 * x**2))


@settings(max_examples=20)
@given(d=st.sampled_from([1, 3, 7]), data=st.data())
def test_strict_saddle_kernels_match_numpy_twin(d, data):
    floats = st.lists(st.floats(-3, 3), min_size=d, max_size=d)
    x, lam = np.array(data.draw(floats)), np.array(data.draw(floats))
    v = np.array(data.draw(floats))
    L = testbed.landscape("strict_saddle", d=d, lam=lam)
    f, g, H = twin(x, lam)
    scale = 1e-12 * (1 + np.sum(np.abs(lam) * x**2 + x**4))
    assert abs(L.value(x) - f) <= scale
    assert np.allclose(L.grad(x), g, rtol=1e-12, atol=1e-12)
    assert np.allclose(L.hessian(x), H, rtol=1e-12, atol=1e-12)
    assert np.allclose(L.hvp(x, v), H @ v, rtol=1e-12, atol=1e-12)


# -- the registry --------------------------------------------------------------------

_USER_FILE = '''
import sympy as sp
from testbed import CriticalPoint, symbolic
x, y = sp.symbols("x y", real=True)
{var} = symbolic("{name}", (x - 1)**2 / 2 + (y + 2)**2, (x, y),
                 critical_points=[CriticalPoint((1.0, -2.0), 0.0, 0)])
'''


@pytest.fixture
def clean_registry():
    """The registry is global: forget whatever a test added to it."""
    before, folders = dict(registry._ENTRIES), list(registry._FOLDERS)
    yield
    registry._ENTRIES.clear()
    registry._ENTRIES.update(before)
    registry._FOLDERS[:] = folders


def test_name_collision_names_both_files(tmp_path, clean_registry):
    for stem in ("collide_xyz_first", "collide_xyz_second"):
        (tmp_path / f"{stem}.py").write_text(
            _USER_FILE.format(var="F", name="collide_test_xyz"))
    with pytest.raises(TestbedError) as err:
        testbed.add_folder(tmp_path)
    msg = str(err.value)
    assert "collide_test_xyz" in msg
    assert "collide_xyz_first.py" in msg and "collide_xyz_second.py" in msg


def test_collision_with_shipped_landscape(tmp_path, clean_registry):
    (tmp_path / "collide_xyz_shipped.py").write_text(_USER_FILE.format(var="F", name="himmelblau"))
    with pytest.raises(TestbedError, match="classic.py"):
        testbed.add_folder(tmp_path)
    assert registry._ENTRIES["himmelblau"].source.endswith("classic.py")


def test_user_folder_adds_a_runnable_landscape(tmp_path, clean_registry):
    (tmp_path / "user_bowl_xyz.py").write_text(_USER_FILE.format(var="BOWL", name="user_bowl_xyz"))
    testbed.add_folder(tmp_path)
    assert "user_bowl_xyz" in testbed.landscapes()
    res = testbed.run("user_bowl_xyz", "gd", [3.0, 1.0], steps=200, n=2, eta=0.25)
    assert np.allclose(res.x, [[1.0, -2.0]] * 2, atol=1e-12)


# -- bad input -----------------------------------------------------------------------

_x, _y, _c = sp.symbols("x y c", real=True)


@pytest.mark.parametrize("expr,params,named", [
    (_x**2 + _c * _y**2, None, "'c'"),                          # undeclared free symbol
    (sp.besselj(0, _x) + _y**2, None, "besselj"),               # unsupported function
    (sp.Function("mystery")(_x) + _y**2, None, "mystery"),      # undefined function
    (_x**2 + _c * _y**2, {_c: 1.0}, "parameter 'c' "),           # not a Param
], ids=["free-symbol", "besselj", "undefined-function", "not-param"])
def test_symbolic_refuses_bad_input(expr, params, named):
    with pytest.raises(TestbedError, match=named):
        testbed.symbolic("bad_input_xyz", expr, (_x, _y), params=params)
    assert "bad_input_xyz" not in registry._ENTRIES


@pytest.mark.parametrize("name,kw,named", [
    ("strict_saddle", {"d": 3, "lam": [-1.0, 1.0]}, "length"),
    ("quadratic", {"d": 2, "lam": [1.0, 2.0, 3.0]}, "length"),
    ("strict_saddle", {"d": 2, "lam": [-1.0, math.nan]}, "finite"),
    ("rosenbrock", {"b": -1.0}, "'b'.*outside"),
    ("rosenbrock", {"b": 0.0}, "'b'.*outside"),
    ("rosenbrock", {"a": 2.0}, "'a'.*outside"),
    ("rosenbrock", {"a": [1.0, 1.5]}, "scalar"),
    ("himmelblau", {"d": 3}, "2-dimensional"),
    ("himmelblau", {"q": 1.0}, "no parameter"),
])
def test_bind_refuses_bad_parameters(name, kw, named):
    with pytest.raises(TestbedError, match=named):
        testbed.landscape(name, **kw)
