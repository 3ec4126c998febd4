"""Curvature estimators against spectra known exactly: Lanczos top-k and its
certificates, Hutchinson's trace and its standard error, SLQ moments and CDF.

Landscapes: ``quadratic`` (H = diag(lam), any chosen spectrum), ``strict_saddle`` at
its saddle (H = diag(lam), one negative eigenvalue), and a Householder-rotated
quadratic written here (H = Q diag(lam) Q, Q = I - 2 u u^T: the same exact spectrum
with a dense Hessian, needed because Rademacher probes are exact on every diagonal
Hessian)."""
import itertools
import math
import textwrap
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import testbed
from testbed import TestbedError
from testbed import curvature as C

D = 1000


def spectrum(d=D):
    """A bulk in [0, 1] plus five separated outliers 6..10 (a network-like shape)."""
    return np.concatenate([np.linspace(0.0, 1.0, d - 5), [6.0, 7.0, 8.0, 9.0, 10.0]])


@pytest.fixture(scope="module")
def quad():
    return testbed.landscape("quadratic", d=D, lam=spectrum())


@pytest.fixture(scope="module")
def saddle():
    return testbed.landscape("strict_saddle", d=D)      # B1: lam = -1, [0.5, 2]


ROTATED = """
import numpy as np
from testbed import Param, from_kernels
from testbed.kernel import njit


@njit
def _apply(x, p, out):
    # out = Q diag(lam) Q x with Q = I - 2 u u^T; p = [lam (d), u (d)], |u| = 1
    d = x.shape[0]
    s = 0.0
    for i in range(d):
        s += p[d + i] * x[i]
    t = 0.0
    for i in range(d):
        z = p[i] * (x[i] - 2.0 * s * p[d + i])
        out[i] = z
        t += p[d + i] * z
    for i in range(d):
        out[i] -= 2.0 * t * p[d + i]


@njit
def value_grad(x, p, g):
    _apply(x, p, g)
    f = 0.0
    for i in range(x.shape[0]):
        f += 0.5 * x[i] * g[i]
    return f


@njit
def hvp(x, p, v, out):
    _apply(v, p, out)

"""


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    name = "rotq_" + uuid.uuid4().hex[:8]
    folder = tmp_path_factory.mktemp(name)
    (folder / f"{name}.py").write_text(textwrap.dedent(ROTATED) + textwrap.dedent(f"""
        ENTRY = from_kernels({name!r}, __name__, params={{
            "lam": Param(lambda d: np.ones(d), vector=True),
            "u": Param(lambda d: np.ones(d) / np.sqrt(d), vector=True)}})
        """))
    testbed.add_folder(folder)
    d = 200
    rng = np.random.default_rng(7)
    lam = np.sort(rng.uniform(-1.0, 3.0, d))
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    L = testbed.landscape(name, d=d, lam=lam, u=u)
    Q = np.eye(d) - 2.0 * np.outer(u, u)
    return L, lam, Q @ np.diag(lam) @ Q


# ------------------------------------------------------------------ Lanczos top-k
def test_top_k_largest_with_gaps_is_exact_to_rounding(quad):
    x = np.zeros(D)
    e = C.top_eigenvalues(quad, x, k=5)
    assert e.converged
    np.testing.assert_allclose(e.values, [10, 9, 8, 7, 6], rtol=0, atol=1e-12)
    assert np.all(np.abs(e.values - [10, 9, 8, 7, 6]) <= e.bounds + 1e-12)


def test_top_k_smallest_and_both_extremes_at_a_saddle(saddle):
    x = np.zeros(D)
    e = C.top_eigenvalues(saddle, x, k=1, which="SA")
    assert e.converged and abs(e.values[0] + 1.0) < 1e-12
    lo, hi, both = C.extreme_eigenvalues(saddle, x, tol=1e-10)
    assert both.converged
    assert abs(lo + 1.0) < 1e-12 and abs(hi - 2.0) < 1e-9
    assert abs(C.eig_ratio(saddle, x, tol=1e-10) - 0.5) < 1e-9
    # the certificate: each value is within its bound of a true eigenvalue
    assert abs(lo + 1.0) <= both.bounds[0] + 1e-12 and abs(hi - 2.0) <= both.bounds[1] + 1e-12


@settings(max_examples=20)
@given(seed=st.integers(0, 10_000), n_iter=st.integers(3, 60))
def test_ritz_values_are_certified_and_interlace(quad, seed, n_iter):
    """Whatever the number of steps: every Ritz value lies within its residual bound
    of some eigenvalue, the top one is a lower bound on lambda_max (Cauchy
    interlacing) and obeys Kato-Temple, lambda_1 - theta_1 <= r^2 / (theta_1 - lambda_2)."""
    rng = np.random.default_rng(seed)
    lam = np.sort(rng.uniform(-2, 2, 200))
    lam[-1] = 4.0
    L = quad.bind(d=200, lam=lam)
    alpha, beta, _ = C.lanczos(L, np.zeros(200), n_iter, seed=seed)
    theta, _, res = C.ritz(alpha, beta)
    dist = np.min(np.abs(theta[:, None] - lam[None, :]), axis=1)
    assert np.all(dist <= res + 1e-12 * 4)
    assert lam[0] - 1e-12 <= theta[0] and theta[-1] <= lam[-1] + 1e-12
    if theta[-1] > lam[-2]:
        assert lam[-1] - theta[-1] <= res[-1] ** 2 / (theta[-1] - lam[-2]) + 1e-12


def test_repeated_eigenvalue_values_stay_certified_dense_path_sees_all(quad):
    """The documented limit of single-vector Lanczos: in exact arithmetic a triple
    top eigenvalue is one Ritz value; in floating point its copies re-enter through
    rounding (quickly when it dominates), so the multiplicity found is not reliable.
    Every value stays certified; the dense path returns the multiplicity."""
    lam = np.concatenate([np.linspace(0, 1, 197), [5.0, 5.0, 5.0]])
    L = quad.bind(d=200, lam=lam)
    e = C.top_eigenvalues(L, np.zeros(200), k=4, n_iter=12)
    assert abs(e.values[0] - 5.0) < 1e-12 and e.values[1] <= 1.0 + 1e-12
    dist = np.min(np.abs(e.values[:, None] - lam[None, :]), axis=1)
    assert np.all(dist <= e.bounds + 1e-12)
    np.testing.assert_allclose(C.top_eigenvalues(L, np.zeros(200), k=3, dense=True).values, 5.0)


def test_masked_sub_hessian_and_ritz_vectors(quad):
    """Restricting H to a coordinate subset (Li et al.'s weights-only Hessian) and
    returning Ritz vectors: eigenpairs of the sub-block, vectors supported on it."""
    lam = spectrum()
    mask = np.zeros(D, bool)
    mask[::3] = True
    e = C.top_eigenvalues(quad, np.zeros(D), k=2, mask=mask, vectors=True)
    want = np.sort(lam[mask])[::-1][:2]
    np.testing.assert_allclose(e.values, want, atol=1e-10)
    assert np.all(e.vectors[:, ~mask] == 0.0)
    for val, y in zip(e.values, e.vectors):
        assert abs(np.linalg.norm(y) - 1) < 1e-10
        assert np.linalg.norm(quad.hvp(np.zeros(D), y) - val * y) < 1e-8


def test_warm_start_v0_converges_in_fewer_steps_to_the_same_value(quad):
    """A start vector near the top eigenvector (the previous Ritz vector along a
    trajectory) converges in fewer steps to the same certified value; a chosen start
    runs the NumPy Lanczos, which extends its Krylov space rather than restarting (its
    numbers are those of one run of the final length from v0)."""
    x = np.zeros(D)
    lam = np.concatenate([np.linspace(0.0, 1.0, D - 1), [1.05]])    # a small top gap
    L = quad.bind(d=D, lam=lam)
    cold = C.top_eigenvalues(L, x, k=1, tol=1e-10, vectors=True, start_iter=2)
    rng = np.random.default_rng(3)
    v0 = cold.vectors[0] + 1e-6 * rng.standard_normal(D) / math.sqrt(D)
    warm = C.top_eigenvalues(L, x, k=1, tol=1e-10, vectors=True, start_iter=2, v0=v0)
    assert cold.converged and warm.converged
    assert warm.n_iter < cold.n_iter / 2, (warm.n_iter, cold.n_iter)
    for e in (cold, warm):                              # certified, and the same value
        assert abs(e.values[0] - 1.05) <= e.bounds[0] + 1e-14
        assert e.bounds[0] <= 1e-10 * 1.05
    assert abs(warm.values[0] - cold.values[0]) < 1e-12
    y = warm.vectors[0]                                 # the eigenvector e_D, up to sign
    assert abs(np.linalg.norm(y) - 1) < 1e-12 and abs(abs(y[-1]) - 1) < 1e-9
    # without vectors too (v0 leaves the compiled seeded path), and the same numbers
    # as a single Lanczos run of warm.n_iter steps from v0
    plain = C.top_eigenvalues(L, x, k=1, tol=1e-10, start_iter=2, v0=v0)
    assert plain.n_iter == warm.n_iter and plain.values[0] == warm.values[0]
    alpha, beta, _ = C.lanczos(L, x, warm.n_iter, v0=v0)
    theta, _, res = C.ritz(alpha, beta)
    assert abs(theta[-1] - warm.values[0]) <= 1e-13 and abs(res[-1] - warm.bounds[0]) <= 1e-13
    # a start inside an invariant subspace (an exact eigenvector, of 1.0) does not end
    # the run: Lanczos goes on from a seeded fresh direction and finds the top, while a
    # plain Lanczos run from it (the SLQ quadrature of that start) stops there
    e = C.top_eigenvalues(L, x, k=1, tol=1e-10, v0=np.eye(D)[-2], start_iter=20)
    assert e.converged and abs(e.values[0] - 1.05) <= e.bounds[0] + 1e-14
    assert C.lanczos(L, x, 10, v0=np.eye(D)[-2])[0].size == 1
    # a warm start on a masked sub-Hessian has the reduced length
    mask = np.zeros(D, bool)
    mask[1::2] = True
    e = C.top_eigenvalues(quad, x, k=1, tol=1e-10, mask=mask, v0=np.ones(mask.sum()))
    assert e.converged and abs(e.values[0] - spectrum()[mask].max()) < 1e-9
    with pytest.raises(TestbedError, match="v0 has shape"):
        C.top_eigenvalues(quad, x, v0=np.ones(D - 1))
    with pytest.raises(TestbedError, match="v0 has shape"):
        C.top_eigenvalues(quad, x, mask=mask, v0=np.ones(D))
    with pytest.raises(TestbedError, match="start vector"):
        C.top_eigenvalues(quad, x, v0=np.zeros(D))


def test_lanczos_rejects_bad_arguments(quad):
    with pytest.raises(TestbedError, match="which"):
        C.top_eigenvalues(quad, np.zeros(D), which="LM")
    with pytest.raises(TestbedError, match="mask"):
        C.top_eigenvalues(quad, np.zeros(D), mask=np.ones(3, bool))
    with pytest.raises(TestbedError, match="n_iter"):
        C.top_eigenvalues(quad, np.zeros(D), k=5, n_iter=3)


# ------------------------------------------------------------------ Hutchinson
def test_probe_variance_formula_by_enumeration():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    H = A + A.T
    values = [np.array(s) @ H @ np.array(s) for s in itertools.product((-1.0, 1.0), repeat=4)]
    assert abs(np.mean(values) - np.trace(H)) < 1e-12
    assert abs(np.var(values) - C.probe_variance(H, "rademacher")) < 1e-10


def test_rademacher_is_exact_on_a_diagonal_hessian(quad):
    t = C.hutchinson_trace(quad, np.zeros(D), n_probes=5)
    assert abs(t.trace - spectrum().sum()) <= 1e-12 * spectrum().sum()
    assert t.stderr <= 1e-12 * spectrum().sum()


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_error_and_standard_error_match_theory(rotated, probe):
    """Over R = 1000 seeds of m = 10 probes: (i) the mean squared z-score
    ((estimate - tr H)^2 / (sigma^2 / m), sigma^2 the exact per-probe variance) is 1
    to within 4 standard errors sqrt(2 / R) (the estimator is a sum of 10 nearly
    Gaussian terms: its excess kurtosis is < 0.1); (ii) the reported squared
    standard error averages sigma^2 / m (s^2 is unbiased; its relative spread is
    sqrt(2 / (m - 1)) per seed, i.e. 0.015 over R seeds, tolerance 0.06); (iii) the
    default 100-probe estimate lies within 3 reported standard errors."""
    L, lam, H = rotated
    x = np.zeros(L.d)
    sigma2 = C.probe_variance(H, probe)
    assert sigma2 > 1.0                                 # the test is not vacuous
    R, m = 1000, 10
    est = np.empty(R)
    se2 = np.empty(R)
    for r in range(R):
        t = C.hutchinson_trace(L, x, n_probes=m, seed=r, probe=probe)
        est[r], se2[r] = t.trace, t.stderr ** 2
    z2 = (est - lam.sum()) ** 2 / (sigma2 / m)
    assert abs(z2.mean() - 1.0) < 4 * math.sqrt(2.0 / R)
    assert abs(se2.mean() / (sigma2 / m) - 1.0) < 0.06
    t = C.hutchinson_trace(L, x, probe=probe)
    assert abs(t.trace - lam.sum()) <= 3 * t.stderr
    assert abs(t.stderr / math.sqrt(sigma2 / 100) - 1) < 0.3


def test_hutchinson_rejects_bad_arguments(quad):
    with pytest.raises(TestbedError, match="probe"):
        C.hutchinson_trace(quad, np.zeros(D), probe="normal")
    with pytest.raises(TestbedError, match="n_probes"):
        C.hutchinson_trace(quad, np.zeros(D), n_probes=0)


# ------------------------------------------------------------------ SLQ
def test_slq_is_gauss_quadrature_of_the_probe_measure(quad):
    """Per probe, sum_j w_j theta_j^k = v^T H^k v for k <= 2m - 1 (weights are the
    squared FIRST components of T's eigenvectors), and the Chebyshev-Markov-Stieltjes
    inequalities hold at every node."""
    lam = spectrum()
    m = 8
    s = C.slq(quad, np.zeros(D), n_probes=3, n_iter=m, seed=3, keep_probes=True)
    for l in range(3):
        v2 = s.probes[l] ** 2
        th, w = s.nodes[l], s.weights[l]
        assert abs(w.sum() - 1) < 1e-13
        for k in range(2 * m):
            exact = v2 @ lam ** k
            assert abs(w @ th ** k - exact) <= 1e-10 * max(exact, 1.0), k
        F_left = np.array([v2[lam < t].sum() for t in th])
        F_right = np.array([v2[lam <= t].sum() for t in th])
        W = np.cumsum(w)
        assert np.all(W - w <= F_left + 1e-12) and np.all(F_right <= W + 1e-12)


def test_slq_moments_and_their_standard_errors(quad):
    """v^T H^k v over 600 sphere probes: the mean is tr(H^k)/d within 4 standard
    errors, and the empirical variance matches 2 (m_2k - m_k^2) / (d + 2) to 20%
    (relative sampling error of a variance from 600 draws: ~ sqrt(2/600) (1 + kurtosis
    terms) < 0.1 for these spectra)."""
    lam = spectrum()
    n = 600
    s = C.slq(quad, np.zeros(D), n_probes=n, n_iter=4, seed=11)
    for k in (1, 2, 3, 4):
        mk, m2k = np.mean(lam ** k), np.mean(lam ** (2 * k))
        var = 2 * (m2k - mk ** 2) / (D + 2)
        est, se = s.moment(k)
        assert abs(est - mk) <= 4 * math.sqrt(var / n), k
        assert abs((se * math.sqrt(n)) ** 2 / var - 1) < 0.2, k


def test_slq_cdf_w1_deterministic_part(quad):
    """Rademacher probes on a diagonal Hessian see mu exactly (sampling error 0), so
    W1(SLQ, mu) is pure quadrature error: below the a-posteriori CMS bound of each
    probe and below Jackson's a-priori pi (b - a) / (4 m). For an evenly spread
    spectrum the a-priori bound is within a factor 4 of the truth (measured ~2.7x:
    W1 ~ 0.29 (b - a) / m), so it is not a vacuous bound."""
    for even, lam in ((False, spectrum()), (True, np.linspace(0.0, 10.0, D))):
        L = quad.bind(d=D, lam=lam)
        a, b = lam.min(), lam.max()
        for m in (10, 20, 40):
            s = C.slq(L, np.zeros(D), n_probes=2, n_iter=m, seed=m, probe="rademacher")
            post = s.quadrature_w1_bound(a, b)
            jackson = C.jackson_w1_bound(a, b, m)
            for l in range(2):
                w1 = C.wasserstein1(s.nodes[l], s.weights[l], lam, np.ones(D))
                assert w1 <= post[l] + 1e-12 and w1 <= jackson
            if even:
                assert w1 >= jackson / 4


@pytest.mark.parametrize("case", ["gaussian-diagonal", "rademacher-rotated", "gaussian-saddle"])
def test_slq_cdf_w1_against_the_true_spectrum(quad, saddle, rotated, case):
    """W1(SLQ, mu) <= Jackson(m) + 3 S for seeds 0..4, S the bound on the expected
    sampling part (module docstring; Markov's inequality makes a 3 S excess a
    <= 1/3 event per seed, and the measured excess is far smaller: see the
    assertion on the mean ratio). The smoothed density integrates to 1 and its CDF
    is within sigma sqrt(2/pi) more."""
    if case == "gaussian-diagonal":
        L, lam, probe = quad, spectrum(), "gaussian"
    elif case == "rademacher-rotated":
        L, lam, _ = rotated
        probe = "rademacher"
    else:
        L, lam, probe = saddle, np.concatenate([[-1.0], np.linspace(0.5, 2, D - 1)]), "gaussian"
    m, nv = 30, 10
    a, b = lam.min(), lam.max()
    S = C.slq_sampling_w1(lam, nv, probe)
    bound = C.jackson_w1_bound(a, b, m) + 3 * S
    ratios = []
    for seed in range(5):
        s = C.slq(L, np.zeros(L.d), n_probes=nv, n_iter=m, seed=seed, probe=probe)
        w1 = C.wasserstein1(*s.measure(), lam, np.ones(lam.size))
        assert w1 <= bound, (seed, w1, bound)
        ratios.append(w1 / bound)
        grid, phi = s.density(sigma=0.02 * (b - a), n_grid=4000)
        assert abs(np.trapezoid(phi, grid) - 1) < 1e-6
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (phi[1:] + phi[:-1]) * np.diff(grid))])
        dF = np.abs(cdf - np.searchsorted(np.sort(lam), grid, side="right") / lam.size)
        w1_smooth = float(np.sum(0.5 * (dF[1:] + dF[:-1]) * np.diff(grid)))
        assert w1_smooth <= bound + 0.02 * (b - a) * math.sqrt(2 / math.pi) + 1e-3 * (b - a)
    assert np.mean(ratios) < 0.5
    if case == "gaussian-saddle":
        # the isolated negative eigenvalue: a node at -1 in every probe
        assert np.all(np.abs(np.nanmin(s.nodes, axis=1) + 1.0) < 1e-10)
        assert s.cdf(0.0) < 5.0 / D


def test_wasserstein1_elementary():
    assert C.wasserstein1([0.0], [1.0], [2.0], [1.0]) == 2.0
    assert abs(C.wasserstein1([0, 1], [1, 1], [0, 1], [1, 1])) < 1e-15
    assert abs(C.wasserstein1([0, 1], [1, 1], [0.5], [1]) - 0.5) < 1e-15
