"""testbed.measure: Hessian spectra (dense and Lanczos) and critical-point
classification, against quadratics with known spectra, a NumPy Lanczos twin and
eos_minimalist's declared critical points."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import testbed
from testbed import measure
from testbed._engine.rng import normal, seed_state
from testbed.errors import TestbedError


def eos_hessian(z):
    """Hessian of (x^2 y^2 - 1)^2 / 4 by hand, u = x^2 y^2 - 1."""
    x, y = z
    u = x * x * y * y - 1.0
    hxy = 2 * x**3 * y**3 + 2 * u * x * y
    return np.array([[2 * x * x * y**4 + u * y * y, hxy], [hxy, 2 * x**4 * y * y + u * x * x]])


def lanczos_twin(A, n_iter, seed):
    """Lanczos with full reorthogonalisation (twice) on the dense symmetric A, from the
    Gaussian vector of stream (seed, 0); the Ritz values, descending."""
    d = A.shape[0]
    state = np.empty(4, np.uint64)
    seed_state(seed, 0, state)
    v = np.array([normal(state) for _ in range(d)])
    V = [v / np.linalg.norm(v)]
    alpha, beta = [], []
    for j in range(n_iter):
        w = A @ V[j]
        alpha.append(w @ V[j])
        for _ in range(2):
            w = w - np.array(V).T @ (np.array(V) @ w)
        b = np.linalg.norm(w)
        if b <= 1e-13 * max(1.0, abs(alpha[-1])):
            break
        beta.append(b)
        V.append(w / b)
    m = len(alpha)
    T = np.diag(alpha) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    return np.linalg.eigvalsh(T)[::-1]


@pytest.fixture(scope="module")
def gapped():
    """d = 200: five separated top eigenvalues 10, 9, 8, 7, 6 above a bulk in [-1, 1]."""
    rng = np.random.default_rng(0)
    lam = np.concatenate([[7.0, 10.0, 6.0, 9.0, 8.0], rng.uniform(-1, 1, 195)])
    return testbed.landscape("quadratic", d=200, lam=lam), lam


def test_exact_spectrum_d10():
    lam = np.array([3.0, -1.0, 0.0, 2.5, 7.0, -4.0, 1e-3, 5.0, 5.0, 0.5])
    L = testbed.landscape("quadratic", d=10, lam=lam)
    x = np.linspace(-1, 1, 10)
    np.testing.assert_array_equal(measure.hessian_spectrum(L, x), np.sort(lam))
    np.testing.assert_array_equal(measure.top_eigenvalues(L, x, k=4), [7.0, 5.0, 5.0, 3.0])
    np.testing.assert_array_equal(measure.top_eigenvalues(L, x), [7.0])


def test_lanczos_top5_with_a_gap(gapped):
    """30 Lanczos steps resolve the five outliers: the bulk has spread 2 and the gap
    from 6 to the bulk is 5, so the Kaniel-Paige-Saad bound is far below 1e-8."""
    L, lam = gapped
    top = measure.top_eigenvalues(L, np.zeros(200), k=5, n_iter=30, seed=4)
    np.testing.assert_allclose(top, [10.0, 9.0, 8.0, 7.0, 6.0], rtol=0, atol=1e-8)


@pytest.mark.parametrize("seed, n_iter", [(0, 12), (7, 30), (-3, 65)])
def test_lanczos_matches_numpy_twin(gapped, seed, n_iter):
    """The compiled Lanczos (the oracle's, seeded start) against its NumPy twin."""
    from testbed import curvature
    L, lam = gapped
    twin = lanczos_twin(np.diag(lam), n_iter, seed)
    alpha, beta, _ = curvature.lanczos(L, np.ones(200), n_iter, seed=seed)
    got = curvature.ritz(alpha, beta)[0][::-1]
    np.testing.assert_allclose(got[:6], twin[:6], rtol=1e-10)


def test_top_eigenvalue_without_a_gap_is_converged():
    """The shipped quadratic at d = 200 with a linear spectrum up to 10 (no gap below
    the top): 30 fixed Lanczos steps gave 9.99317; converged to tol, the estimate is
    within its bound tol * 10 of the truth, and so is the runner's sharpness
    observer (converged to SHARPNESS_TOL)."""
    from testbed._engine.templates.oracle import SHARPNESS_TOL
    L = testbed.landscape("quadratic", d=200, lam=np.linspace(0.05, 10.0, 200))
    top = measure.top_eigenvalues(L, np.zeros(200), k=1, n_iter=30)
    assert abs(top[0] - 10.0) <= 1e-8 * 10.0
    res = testbed.run(L, "gd", np.ones(200), steps=2, eta=0.01, observe=("sharpness",))
    assert np.all(np.abs(res.traces["sharpness"] - 10.0) <= SHARPNESS_TOL * 10.0)


@settings(max_examples=20)
@given(lam=st.lists(st.sampled_from([-3.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 2.0, 9.0]),
                    min_size=5, max_size=5),
       x=st.lists(st.floats(-2, 2), min_size=5, max_size=5))
def test_classify_quadratic(lam, x):
    lam, x = np.array(lam), np.array(x)
    L = testbed.landscape("quadratic", d=5, lam=lam)
    c = measure.classify(L, x)
    assert c["index"] == int(np.sum(lam < 0))
    assert c["degenerate"] == bool(np.any(lam == 0))
    np.testing.assert_array_equal(c["eigenvalues"], np.sort(lam))
    assert c["grad_norm"] == pytest.approx(np.linalg.norm(lam * x), rel=1e-14, abs=1e-300)
    assert c["energy"] == pytest.approx(0.5 * np.sum(lam * x * x), rel=1e-14, abs=1e-14)
    at_zero = measure.classify(L, np.zeros(5))
    assert at_zero["grad_norm"] == 0.0 and at_zero["energy"] == 0.0


def test_classify_tolerance_is_relative_to_the_largest_eigenvalue():
    L = testbed.landscape("quadratic", d=3, lam=[1e6, -1e-3, 2.0])
    # |-1e-3| <= 1e-8 * 1e6 * 1e3: at tol = 1e-6 the small eigenvalue counts as zero
    assert measure.classify(L, np.zeros(3), tol=1e-6) | {"eigenvalues": None} == {
        "index": 0, "degenerate": True, "eigenvalues": None, "grad_norm": 0.0, "energy": 0.0}
    assert measure.classify(L, np.zeros(3), tol=1e-10)["index"] == 1


def test_classify_eos_declared_points():
    L = testbed.landscape("eos_minimalist")
    points = L.critical_points()
    assert len(points) >= 5
    for cp in points:
        c = measure.classify(L, cp.x)
        assert c["index"] == cp.index, cp
        assert c["degenerate"] == cp.degenerate, cp
        assert c["energy"] == pytest.approx(cp.energy, abs=1e-15)
        assert c["grad_norm"] <= 1e-12
        np.testing.assert_allclose(c["eigenvalues"], np.linalg.eigvalsh(eos_hessian(cp.x)),
                                   atol=1e-12)


@settings(max_examples=20)
@given(z=st.lists(st.floats(-2, 2), min_size=2, max_size=2))
def test_eos_spectrum_matches_the_hand_hessian(z):
    L = testbed.landscape("eos_minimalist")
    want = np.linalg.eigvalsh(eos_hessian(z))
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(measure.hessian_spectrum(L, z), want, rtol=0,
                               atol=1e-13 * scale)


@pytest.mark.parametrize("call, match", [
    (lambda L: measure.top_eigenvalues(L, np.zeros(200), k=0), "k must be a positive"),
    (lambda L: measure.top_eigenvalues(L, np.zeros(200), k=2.0), "k must be a positive"),
    (lambda L: measure.top_eigenvalues(L, np.zeros(200), k=201), "k = 201"),
    (lambda L: measure.top_eigenvalues(L, np.zeros(200), k=8, n_iter=5), "n_iter"),
    (lambda L: measure.top_eigenvalues(L, np.zeros(200), seed=0.5), "seed"),
    (lambda L: measure.top_eigenvalues(L, np.zeros(3)), "shape"),
    (lambda L: measure.classify(L, np.zeros(200), tol=-1.0), "tol"),
    (lambda L: measure.hessian_spectrum(L, np.zeros((2, 100))), "shape"),
])
def test_bad_input(gapped, call, match):
    with pytest.raises(TestbedError, match=match):
        call(gapped[0])


def test_non_finite_hessian_is_an_error():
    L = testbed.landscape("eos_minimalist")
    with pytest.raises(TestbedError, match="not finite"):
        measure.classify(L, [1e200, 1e200])
