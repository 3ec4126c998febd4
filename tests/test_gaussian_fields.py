"""The Gaussian random field family, its covariance statement, the shifted-semicircle
theory, the critical-point finder and benchmark B3 (small)."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import testbed
from testbed import critical
from testbed.errors import TestbedError
from testbed.functions import gaussian_fields as gf
from testbed.theory import gaussian_fields as th


def field(d=6, K=300, **kw):
    return testbed.landscape("gaussian_field", d=d, K=K, **kw)


def twin(L, x):
    """NumPy twin: value, gradient, Hessian of the sampled field."""
    K, sigma, ell, A, b, W = gf.unpack(L.p, L.d)
    th_ = W @ x + b
    return (A @ np.cos(th_), -(A * np.sin(th_)) @ W,
            -(W.T * (A * np.cos(th_))) @ W)


# -- kernels ---------------------------------------------------------------------------------

@settings(max_examples=15)
@given(seed=st.integers(0, 10), gauss=st.sampled_from([0, 1]),
       data=st.data())
def test_kernels_match_numpy_twin(seed, gauss, data):
    L = field(d=7, K=200, field_seed=seed, gaussian_amplitudes=gauss, ell=0.7, sigma=1.3)
    x = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=7, max_size=7)))
    v = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=7, max_size=7)))
    f, g, H = twin(L, x)
    scale = 1e-12 * (1 + np.abs(H).max())
    assert abs(L.value(x) - f) < 1e-12 * (1 + abs(f) + np.abs(g).max())
    assert np.allclose(L.grad(x), g, rtol=0, atol=scale * 10)
    assert np.allclose(L.hessian(x), H, rtol=0, atol=scale * 10)
    assert np.array_equal(L.hessian(x), L.hessian(x).T)
    assert np.allclose(L.hvp(x, v), H @ v, rtol=0, atol=scale * 10)


@pytest.mark.parametrize("z_bytes", [256 * 2**20, 8 * 21 * 50])   # whole table / blocks
def test_batch_evaluator_matches_kernels(z_bytes):
    L = field(d=6, K=300, field_seed=3)
    ev = gf.Batch(L.p, 6, z_bytes=z_bytes)
    X = np.random.default_rng(0).standard_normal((5, 6))
    F, G, H = ev.value_grad_hessian(X)
    F2, G2 = ev.value_grad(X)
    for r in range(5):
        f, g, h = twin(L, X[r])
        assert abs(F[r] - f) < 1e-12 and abs(F2[r] - f) < 1e-12
        assert np.allclose(G[r], g, atol=1e-12) and np.allclose(G2[r], g, atol=1e-12)
        assert np.allclose(H[r], h, atol=1e-11)
        assert np.array_equal(H[r], H[r].T)
    assert np.allclose(ev.hessian(X), H, atol=0)


def test_features_are_a_function_of_seed_and_shape():
    a, b = field(field_seed=4), field(field_seed=4)
    assert np.array_equal(a.p, b.p)
    assert not np.array_equal(a.p, field(field_seed=5).p)
    _, _, _, _, _, W1 = gf.unpack(field(ell=1.0).p, 6)
    _, _, _, _, _, W2 = gf.unpack(field(ell=2.0).p, 6)
    assert np.allclose(W2, W1 / 2.0, rtol=1e-15, atol=0)
    _, s, _, A, _, _ = gf.unpack(field(sigma=3.0, gaussian_amplitudes=0).p, 6)
    assert s == 3.0 and np.allclose(A, 3.0 * math.sqrt(2 / 300))


# -- the covariance statement ---------------------------------------------------------------

def test_rff_covariance_error_has_the_stated_variance():
    """C_K(r) = (1/K) sum cos(w_k . r) is unbiased for k(r) = exp(-r^2/(2 ell^2)) with
    Var = (1 - k^2)^2 / (2K): over 400 independent feature draws, the standardised
    errors have mean 0 and variance 1 (within 5 standard errors), at three lags and
    two K; the RMS error falls as 1/sqrt(K)."""
    d, ell, n = 5, 1.5, 400
    rms = {}
    for K in (32, 512):
        for r in (0.5 * ell, 1.2 * ell, 3.0 * ell):
            direction = np.ones(d) / math.sqrt(d)
            z = np.empty(n)
            err = np.empty(n)
            k = math.exp(-r**2 / (2 * ell**2))
            sd = th.rff_covariance_sd(r, ell=ell, K=K)
            assert sd == pytest.approx((1 - k * k) / math.sqrt(2 * K))
            for s in range(n):
                W = gf.features(d, K, ell, field_seed=1000 + s)[0] / ell
                err[s] = np.mean(np.cos(W @ (r * direction))) - k
                z[s] = err[s] / sd
            assert abs(z.mean()) < 5 / math.sqrt(n)
            assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
            rms[(K, r)] = math.sqrt(np.mean(err**2))
    assert rms[(32, 3 * ell)] / rms[(512, 3 * ell)] == pytest.approx(4.0, rel=0.25)
    assert gf.covariance_error(512) == pytest.approx(1 / 32)


def test_field_covariance_over_draws_is_the_target():
    """Over draws of all features, Cov(f(x), f(y)) = sigma^2 k(x - y) for every K."""
    d, K, sigma, ell, n = 4, 16, 1.7, 0.8, 3000
    x = np.zeros(d)
    y = np.full(d, 0.4)
    fx, fy = np.empty(n), np.empty(n)
    for s in range(n):
        z, b, a = gf.features(d, K, ell, field_seed=s)
        A = sigma * math.sqrt(2 / K) * a
        fx[s] = A @ np.cos(z @ x / ell + b)
        fy[s] = A @ np.cos(z @ y / ell + b)
    target = sigma**2 * math.exp(-np.sum((x - y) ** 2) / (2 * ell**2))
    prod = fx * fy
    assert abs(prod.mean() - target) < 5 * prod.std() / math.sqrt(n)
    assert abs(np.mean(fx**2) - sigma**2) < 5 * np.std(fx**2) / math.sqrt(n)


def test_conditional_hessian_is_shifted_goe():
    """The law the theory derives: given f = u, H = -(u/ell^2) I + (sigma/ell^2) GOE.
    Over many fields at x = 0: the regression of H on f has slope -1/ell^2 on the
    diagonal, 0 off it, and the residual variances are 2 sigma^2/ell^4 (diagonal),
    sigma^2/ell^4 (off-diagonal). Tolerances: 5 standard errors (n = 1500)."""
    d, K, sigma, ell, n = 3, 4000, 1.2, 0.9, 1500
    F, Hs = np.empty(n), np.empty((n, d, d))
    for s in range(n):
        z, b, a = gf.features(d, K, ell, field_seed=s)
        A = sigma * math.sqrt(2 / K) * a
        W = z / ell
        F[s] = A @ np.cos(b)
        Hs[s] = -(W.T * (A * np.cos(b))) @ W
    slope_diag = np.mean(F[:, None] * np.diagonal(Hs, axis1=1, axis2=2), axis=0) / sigma**2
    assert np.allclose(slope_diag, -1 / ell**2, atol=5 * math.sqrt(3) / ell**2 / math.sqrt(n))
    resid = np.diagonal(Hs, axis1=1, axis2=2) + F[:, None] / ell**2
    var_diag = resid.var(axis=0) * ell**4 / sigma**2
    assert np.allclose(var_diag, 2.0, atol=5 * 2 * math.sqrt(2 / n))
    off = Hs[:, 0, 1] * ell**2 / sigma
    assert abs(off.var() - 1.0) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(F * Hs[:, 0, 1])) < 5 * sigma**2 / ell**2 / math.sqrt(n)


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,named", [
    ({"sigma": 0.0}, "'sigma'.*outside"), ({"sigma": -1.0}, "'sigma'.*outside"),
    ({"ell": 0.0}, "'ell'.*outside"), ({"ell": -2.0}, "'ell'.*outside"),
    ({"K": 0}, "'K'.*outside"), ({"ell": math.nan}, "finite"),
])
def test_bind_refuses_bad_parameters(kw, named):
    with pytest.raises(TestbedError, match=named):
        testbed.landscape("gaussian_field", d=5, **kw)


def test_non_integer_K_is_refused():
    with pytest.raises(TestbedError, match="'K' must be an integer"):
        testbed.landscape("gaussian_field", d=5, K=10.5).p


def test_small_K_warns_with_the_expected_error():
    with pytest.warns(UserWarning, match=r"covariance error of sigma\^2/sqrt\(2K\) = 0\.158"):
        testbed.landscape("gaussian_field", d=5, K=20).p
    with pytest.warns(UserWarning, match="rank <= K"):
        testbed.landscape("gaussian_field", d=50, K=40, cov_tol=1.0).p
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        testbed.landscape("gaussian_field", d=5).p          # the default K: no warning


# -- theory ------------------------------------------------------------------------------------

def test_semicircle_functions():
    t = np.linspace(-0.99, 0.99, 201)
    F = th.semicircle_cdf(t)
    assert th.semicircle_cdf(0.0) == 0.5
    assert th.semicircle_cdf(-1.3) == 0.0 and th.semicircle_cdf(1.3) == 1.0
    dens = th.semicircle_density(t)
    assert np.allclose(np.gradient(F, t)[1:-1], dens[1:-1], atol=2e-3)
    assert np.allclose(th.semicircle_cdf_inverse(F), t, atol=1e-10)
    assert np.allclose(th.alpha(th.energy_of_index(F, 40, 2.0), 40, 2.0), F, atol=1e-10)
    assert th.threshold_energy(100, 0.5) == -10.0
    assert np.allclose(th.alpha_rff([-5.0, 0.0], 25, 10**9), th.alpha([-5.0, 0.0], 25))


def test_goe_index_follows_semicircle():
    rng = np.random.default_rng(0)
    d = 150
    ev = np.linalg.eigvalsh(th.goe(d, rng, size=20))
    for t in (-0.6, 0.0, 0.4):
        frac = np.mean(ev < 2 * math.sqrt(d) * t)
        assert abs(frac - th.semicircle_cdf(t)) < 0.02


# -- the critical-point finder -------------------------------------------------------------------

def test_newton_steps_on_singular_hessians_are_finite():
    H = np.diag([2.0, 0.0, -1.0])[None].repeat(2, axis=0)
    H[1, 1, 1] = 1e-17                          # nearly singular
    G = np.array([[2.0, 1.0, -1.0], [2.0, 1.0, -1.0]])
    S = critical.newton_steps(H, G)
    assert np.all(np.isfinite(S))
    assert np.allclose(S, [[1.0, 0.0, 1.0]] * 2)      # the zero direction is dropped
    S = critical.spectral_steps(np.diag([0.0, 0.0])[None], np.array([[1.0, 1.0]]), [0])
    assert np.all(S == 0.0)


def test_find_every_index_and_classify():
    d = 12
    L = field(d=d, K=1200, field_seed=2)
    rng = np.random.default_rng(1)
    X0 = rng.standard_normal((9, d))
    targets = [0, 0, 0, 2, 2, 2, 5, 5, 5]
    found = critical.find(L, X0, "index", 300, target=targets, max_step=0.5, gtol=1e-11)
    assert found.n_converged >= 7
    assert np.all(found.grad_norm < 1e-11)
    assert set(found.index.tolist()) <= {0, 2, 5} and 0 in found.index
    # classification agrees with testbed.measure.classify and with the eigenvalues
    from testbed.measure import classify
    c = classify(L, found.x[0])
    assert c["index"] == found.index[0] and c["energy"] == pytest.approx(found.energy[0])
    assert np.allclose(c["eigenvalues"], found.eigenvalues[0], atol=1e-10)
    # duplicates collapse: the same start twice gives one point
    again = critical.find(L, np.vstack([found.x[:1], found.x[:1] + 1e-9]), "newton", 20)
    assert len(again) == 1 and again.n_converged == 2
    # minima from SFN, saddles near f ~ 0 from Newton, LM converges too
    sfn = critical.search(L, X0[:4], "sfn", 200, max_step=0.5)
    assert np.all(critical.classify(L, sfn.x[sfn.converged])[3] == 0)
    lm = critical.search(L, X0[:4], "lm", 200, max_step=0.5)
    assert lm.converged.sum() >= 2


def test_finder_on_a_landscape_without_batch_kernels():
    L = testbed.landscape("quadratic", d=3, lam=[-1.0, 2.0, 0.5])
    res = critical.find(L, [[1.0, 2.0, 3.0], [0.5, 0.1, -0.2]], "newton", 5)
    assert len(res) == 1 and res.index[0] == 1 and np.allclose(res.x[0], 0.0)


def test_finder_refuses_bad_input():
    L = field(d=4, K=100)
    with pytest.raises(TestbedError, match="unknown method"):
        critical.search(L, np.zeros((1, 4)), "bfgs")
    with pytest.raises(TestbedError, match="shape"):
        critical.search(L, np.zeros((1, 3)))
    with pytest.raises(TestbedError, match="target"):
        critical.search(L, np.zeros((1, 4)), "index")
    with pytest.raises(TestbedError, match="eta"):
        critical.search(L, np.zeros((1, 4)), "gd")
    with pytest.raises(TestbedError, match="max_step"):
        critical.search(L, np.zeros((1, 4)), max_step=0.0)


def test_declared_critical_points_are_critical():
    L = field(d=5, K=800, field_seed=1)
    cps = L.critical_points()
    assert cps
    for cp in cps:
        x = np.array(cp.x)
        assert np.linalg.norm(L.grad(x)) < 1e-10
        assert int(np.sum(np.linalg.eigvalsh(L.hessian(x)) < 0)) == cp.index


def test_blas_limit_restores():
    from threadpoolctl import threadpool_info

    from testbed._engine import blas as _blas
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with _blas.limit(1):
        assert all(lib["num_threads"] == 1 for lib in threadpool_info()
                   if lib["user_api"] == "blas")
    assert [lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas"] == before
    with pytest.raises(testbed.TestbedError, match="positive integer"):
        _blas.threads(0)


# -- benchmark B3, small ----------------------------------------------------------------

def test_b3_small():
    from testbed.bench import run_benchmark
    r = run_benchmark("B3", scale=0.25, repeats=1)
    assert r["workload"] == "B3" and r["unit"] == "Hessian evaluations"
    assert r["units"] == 16 * 12
    c = r["check"]
    assert len(c["energy"]) == len(c["index"]) == c["found"]
    assert all(0.0 <= a <= 1.0 for a in c["index"])


def test_high_dimension_kernels():
    """d = 1000: value, gradient and Hessian-vector product (O(K d)) agree with
    central differences; the catalogue refuses to search for critical points."""
    d = 1000
    L = testbed.landscape("gaussian_field", d=d, K=1024)
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal(d), rng.standard_normal(d)
    v /= np.linalg.norm(v)
    h = 1e-5
    g = L.grad(x)
    assert abs((L.value(x + h * v) - L.value(x - h * v)) / (2 * h) - g @ v) < 1e-6
    fd = (L.grad(x + h * v) - L.grad(x - h * v)) / (2 * h)
    assert np.abs(L.hvp(x, v) - fd).max() < 1e-6 * (1 + np.abs(fd).max())
    with pytest.raises(TestbedError, match="critical.find"):
        L.critical_points()


# -- the batched evaluator's speed-ups (issue 17, B3): same results, any thread count ----

def test_sincos_is_within_an_ulp_of_libm_everywhere():
    """The vectorised C = A cos(T), S = A sin(T) against NumPy's libm: within 2 ulps of
    |A| over the reduced range (the Taylor truncation is below 1e-19), and libm itself
    beyond 2^20 and for inf and NaN."""
    rng = np.random.default_rng(0)
    T = np.concatenate([rng.uniform(-300, 300, 5000), np.linspace(-7, 7, 999),
                        [0.0, -0.0, np.pi / 4, 2.0**20, -(2.0**20) - 1, 1e7, 1e300,
                         np.inf, -np.inf, np.nan]])[None, :]
    A = rng.standard_normal(T.shape[1])
    C, S = np.empty_like(T), np.empty_like(T)
    gf._sincos(T, A, C, S)
    with np.errstate(invalid="ignore"):
        C0, S0 = A * np.cos(T), A * np.sin(T)
    assert np.array_equal(np.isnan(C), np.isnan(C0)) and np.array_equal(np.isnan(S), np.isnan(S0))
    fin = np.isfinite(C0)
    assert np.all(np.abs(C - C0)[fin] <= 4.5e-16 * np.abs(A)[fin[0]])
    assert np.all(np.abs(S - S0)[fin] <= 4.5e-16 * np.abs(A)[fin[0]])
    big = np.abs(T) > 2.0**20
    assert np.array_equal(C[big & fin], C0[big & fin])


class _Pool:
    """A pool that runs its tasks in reverse order (as a racing thread might)."""

    def map(self, fn, items):
        items = list(items)
        out = [fn(i) for i in reversed(items)]
        return reversed(out)


def test_batch_blocks_and_pool_give_identical_results():
    L = field(d=9, K=400, field_seed=2)
    X = np.random.default_rng(1).standard_normal((37, 9))
    kept = gf.Batch(L.p, 9)
    small = gf.Batch(L.p, 9, z_bytes=8 * 400 * 7)          # rebuilt in blocks of 7 pairs
    assert kept.kept and not small.kept and len(small.blocks) == 7
    F, G, H = kept.value_grad_hessian(X)
    for ev, pool in ((kept, _Pool()), (small, None), (small, _Pool())):
        F2, G2, H2 = ev.value_grad_hessian(X, pool)
        assert np.array_equal(F, F2) and np.array_equal(G, G2)
        assert np.allclose(H, H2, rtol=0, atol=1e-12)          # other product shapes
    assert np.array_equal(kept.value_grad_hessian(X, _Pool())[2], H)
    for r in (0, 36):
        f, g, h = twin(L, X[r])
        assert abs(F[r] - f) < 1e-12 and np.allclose(G[r], g, atol=1e-12)
        assert np.allclose(H[r], h, atol=1e-11) and np.array_equal(H[r], H[r].T)


def test_batch_is_reused_for_equal_parameters_only():
    L = field(d=5, K=64, field_seed=8)
    p = L.p.copy()
    ev = gf.batch(p, 5)
    assert gf.batch(p.copy(), 5) is ev                       # same field: same table
    x = np.random.default_rng(0).standard_normal((1, 5))
    p[gf.HEAD + 2 * 64:] *= 2.0                              # W doubled in place
    ev2 = gf.batch(p, 5)
    assert ev2 is not ev
    H = np.empty((5, 5))
    L.oracle.hessian(x[0], p, H)
    assert np.allclose(ev2.hessian(x)[0], H, atol=1e-12)


@pytest.mark.parametrize("with_batch", [True, False])
def test_search_is_identical_whatever_the_thread_count(with_batch, monkeypatch):
    """The threads share fixed tasks, so the search's result is bit-identical for 1, 2
    and 3 threads (with the batched evaluator, and point by point without one)."""
    monkeypatch.setattr(critical, "CHUNK_WORK", 0)          # many small tasks
    monkeypatch.setattr(gf, "ROWS", 8)
    if with_batch:
        L = field(d=60, K=400, field_seed=1)     # two blocks of the product table
    else:
        L = testbed.landscape("himmelblau")
    X0 = np.random.default_rng(5).standard_normal((21, L.d))
    runs = [critical.search(L, X0, "newton", 30, max_step=0.25, threads=t) for t in (1, 2, 3)]
    for r in runs[1:]:
        assert np.array_equal(r.x, runs[0].x) and np.array_equal(r.energy, runs[0].energy)
        assert np.array_equal(r.iterations, runs[0].iterations)
        assert r.hessian_evals == runs[0].hessian_evals
    assert runs[0].converged.sum() >= 5
