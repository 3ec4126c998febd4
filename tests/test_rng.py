"""Tests for testbed._rng: bit-exactness against a slow twin, distributions, streams."""
import math
import warnings

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from testbed._engine import rng as R
from testbed._engine.jit import njit

INT64 = st.integers(-(2 ** 63), 2 ** 63 - 1)

# --- slow pure-Python twin of splitmix64 seeding + xoshiro256** ---------------
MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def py_mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def py_seed(seed, replica):
    key = py_mix64(py_mix64((seed + GAMMA) & MASK) ^ (replica & MASK))
    return [py_mix64((key + k * GAMMA) & MASK) for k in range(1, 5)]


def py_rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def py_next(s):
    result = (py_rotl((s[1] * 5) & MASK, 7) * 9) & MASK
    t = (s[1] << 17) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = py_rotl(s[3], 45)
    return result


def py_uniform(s):
    return (py_next(s) >> 11) * 2.0 ** -53


def py_normal(s):
    """The ziggurat of R.normal step by step as Marsaglia & Tsang state it (with R's
    tables): the box, the tail by Marsaglia's method, the wedge, the retry."""
    u = py_next(s)
    while True:
        i = u & 0xFF
        j = (u - (1 << 64) if u >> 63 else u) >> 11             # signed top 53 bits
        z = j * R._ZW[i]
        if abs(j) < R._ZK[i]:
            return z
        if i == 0:
            while True:
                a = -math.log1p(-py_uniform(s)) / R._ZR
                b = -math.log1p(-py_uniform(s))
                if b + b > a * a:
                    return -(R._ZR + a) if j < 0 else R._ZR + a
        if R._ZF[i] + py_uniform(s) * (R._ZF[i + 1] - R._ZF[i]) < math.exp(-0.5 * z * z):
            return z
        u = py_next(s)


# --- small compiled drivers ---------------------------------------------------
@njit
def _u64s(seed, replica, out):
    state = np.empty(4, np.uint64)
    R.seed_state(seed, replica, state)
    for n in range(out.size):
        out[n] = R.next_u64(state)


@njit
def _uniforms(seed, replica, out):
    state = np.empty(4, np.uint64)
    R.seed_state(seed, replica, state)
    for n in range(out.size):
        out[n] = R.uniform(state)


@njit
def _balls(seed, out, radius):
    state = np.empty(4, np.uint64)
    R.seed_state(seed, 0, state)
    for n in range(out.shape[0]):
        R.uniform_ball(state, out[n], radius)


@numba.njit(parallel=True, cache=True)   # a user's prange ensemble
def _ensemble(seed, n_rep, n_draw):
    out = np.empty((n_rep, n_draw))
    for r in numba.prange(n_rep):
        state = np.empty(4, np.uint64)
        R.seed_state(seed, r, state)
        R.fill_normal(state, out[r])
    return out


@njit
def _tail_draws(seed, sign, out):
    """Ziggurat slow path entered from the base layer beyond r: a pure tail draw."""
    state = np.empty(4, np.uint64)
    R.seed_state(seed, 0, state)
    j = np.uint64(2 ** 52 - 1) if sign > 0 else np.uint64(2 ** 52)  # |j| max, i = 0
    u = j << np.uint64(11)
    for n in range(out.size):
        out[n] = R._normal_slow(state, u)


@njit
def _lane_normals(seed, m, rows, split):
    """rows x m normals from normal_rows, lane r on the stream (seed, r): rows 0..split-1
    in one call, the others in a second (the state carries over between calls)."""
    S = np.empty((4, m), np.uint64)
    state = np.empty(4, np.uint64)
    for r in range(m):
        R.seed_state(seed, r, state)
        S[:, r] = state
    out = np.empty((rows, m))
    u = np.empty(m, np.uint64)
    miss = np.zeros(-(-m // 8) * 8, np.uint8)
    words = miss.view(np.uint64)
    R.normal_rows(S, out[:split], u, miss, words, state)
    R.normal_rows(S, out[split:], u, miss, words, state)
    return out


def normals(seed, n, replica=0):
    state = np.empty(4, np.uint64)
    R.seed_state(seed, replica, state)
    out = np.empty(n)
    R.fill_normal(state, out)
    return out


@pytest.fixture(scope="module", autouse=True)
def warm():
    """Compile (or load) every kernel once; returns the warnings raised meanwhile."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warm()
    return caught


def _warm():
    state = np.empty(4, np.uint64)
    R.seed_state(1, 2, state)
    R.next_u64(state), R.uniform(state), R.normal(state)
    R.uniform_ball(state, np.empty(3), 1.0)
    _u64s(1, 2, np.empty(2, np.uint64))
    _uniforms(1, 2, np.empty(2))
    _balls(1, np.empty((2, 3)), 1.0)
    _ensemble(1, 2, 2)
    _tail_draws(1, 1, np.empty(2))
    _lane_normals(1, 3, 2, 1)
    normals(1, 2)


# --- bit-exactness -------------------------------------------------------------
@settings(max_examples=30)
@given(seed=INT64, replica=st.one_of(st.integers(0, 1000), INT64))
def test_matches_python_twin(seed, replica):
    state = np.empty(4, np.uint64)
    R.seed_state(seed, replica, state)
    twin = py_seed(seed, replica)
    assert [int(w) for w in state] == twin
    assert any(twin)
    got = np.empty(50, np.uint64)
    _u64s(seed, replica, got)
    assert [int(v) for v in got] == [py_next(twin) for _ in range(50)]
    assert int(R.next_u64(state)) == int(got[0])      # the Python-callable path too


def test_known_xoshiro_step():
    # xoshiro256** from state (1, 2, 3, 4), worked by hand: 11520, 0, 1509978240.
    state = np.array([1, 2, 3, 4], np.uint64)
    assert [int(R.next_u64(state)) for _ in range(3)] == [11520, 0, 1509978240]


# --- uniform -----------------------------------------------------------------
def test_uniform_range_and_resolution():
    u = np.empty(200_000)
    _uniforms(7, 0, u)
    assert u.min() >= 0.0 and u.max() < 1.0
    k = u * 2.0 ** 53
    assert np.array_equal(k, np.floor(k)) and np.any(k % 2 == 1)   # 53-bit grid
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert R.uniform(np.array([MASK] * 4, np.uint64)) < 1.0


# --- normal --------------------------------------------------------------------
def test_normal_ks_and_moments():
    n = 200_000
    z = normals(20240611, n)
    assert stats.kstest(z, stats.norm.cdf).pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)    # excess kurtosis
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    state = np.array(py_seed(20240611, 0), np.uint64)
    assert [R.normal(state) for _ in range(3)] == list(z[:3])   # scalar path == fill


@pytest.mark.parametrize("seed", [5, -77])
def test_normal_matches_python_twin(seed):
    """Bit for bit, over enough draws that wedges (1.5%), retries and tails occur."""
    n = 60_000
    z = normals(seed, n)
    twin = py_seed(seed, 0)
    assert np.array_equal(z, [py_normal(twin) for _ in range(n)])
    assert np.sum(np.abs(z) > R._ZR) > 0


def test_normal_tail_and_fine_histogram():
    n = 2_000_000
    z = normals(99, n)
    for c in (3.5, R._ZR):                # beyond 3.5; beyond the ziggurat base r
        p = 2 * stats.norm.sf(c)
        assert abs(np.mean(np.abs(z) > c) - p) < 5 * np.sqrt(p * (1 - p) / n)
    # bins of width 0.05 catch a mis-handled wedge (layers are ~0.01-0.25 wide)
    edges = np.concatenate(([-np.inf], np.arange(-4.0, 4.0001, 0.05), [np.inf]))
    counts = np.histogram(z, edges)[0]
    expected = n * np.diff(stats.norm.cdf(edges))
    assert stats.chisquare(counts, expected).pvalue > 1e-3


@pytest.mark.parametrize("sign", [1, -1])
def test_normal_tail_sampler_is_conditional_gaussian(sign):
    r = R._ZR
    t = np.empty(100_000)
    _tail_draws(5, sign, t)
    assert np.all(sign * t > r)
    cdf = lambda x: 1.0 - stats.norm.sf(x) / stats.norm.sf(r)   # noqa: E731
    assert stats.kstest(sign * t, cdf).pvalue > 1e-3


# --- uniform ball ------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 5])
def test_uniform_ball(d):
    radius, n = 2.5, 40_000
    x = np.empty((n, d))
    _balls(3 + d, x, radius)
    s = np.linalg.norm(x, axis=1) / radius
    assert s.max() <= 1.0
    assert stats.kstest(s, lambda t: np.clip(t, 0, 1) ** d).pvalue > 1e-3
    t = x[:, 0] ** 2 / radius ** 2      # one-coordinate marginal of the ball
    assert stats.kstest(t, stats.beta(0.5, (d + 1) / 2).cdf).pvalue > 1e-3


def test_uniform_ball_not_sphere():
    x = np.empty((20_000, 5))
    _balls(11, x, 1.0)
    assert np.median(np.linalg.norm(x, axis=1)) < 0.9     # interior is populated


# --- streams -----------------------------------------------------------------------
def test_streams_distinct_and_reproducible():
    first = {}
    for seed in (-1, 0, 1, 2, 2 ** 62):
        for rep in range(200):
            v = np.empty(4, np.uint64)
            _u64s(seed, rep, v)
            first[(seed, rep)] = tuple(int(a) for a in v)
    assert len(set(first.values())) == len(first)
    a, b = np.empty(1000, np.uint64), np.empty(1000, np.uint64)
    _u64s(5, 3, a)
    _u64s(5, 3, b)
    assert np.array_equal(a, b)
    z0, z1, z2 = normals(5, 50_000, 0), normals(5, 50_000, 1), normals(6, 50_000, 0)
    assert abs(np.corrcoef(z0, z1)[0, 1]) < 5 / np.sqrt(z0.size)
    assert abs(np.corrcoef(z0, z2)[0, 1]) < 5 / np.sqrt(z0.size)


def test_stream_independent_of_ensemble_size_and_threads():
    old = numba.get_num_threads()
    try:
        big = _ensemble(42, 17, 64)
        numba.set_num_threads(1)
        small = _ensemble(42, 3, 64)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(big[:3], small)
    assert np.array_equal(big[9], normals(42, 64, replica=9))


# --- normals across lanes ----------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(seed=INT64, m=st.integers(1, 70), rows=st.integers(1, 40), data=st.data())
def test_normal_rows_equal_each_lanes_stream(seed, m, rows, data):
    """Lane r of normal_rows draws exactly normal()'s numbers from the stream (seed, r),
    whatever the number of lanes (m not a multiple of 8 included) and however the rows
    are split between calls."""
    got = _lane_normals(seed, m, rows, data.draw(st.integers(0, rows)))
    for r in range(m):
        np.testing.assert_array_equal(got[:, r], normals(seed, rows, replica=r))


def test_normal_rows_slow_paths_and_tails():
    """Enough draws that wedges and tails (|z| > r = 3.654) occur in many lanes."""
    got = _lane_normals(7, 64, 3000, 1234)
    assert np.sum(np.abs(got) > R._ZR) > 10
    for r in range(64):
        np.testing.assert_array_equal(got[:, r], normals(7, 3000, replica=r))


# --- caching ------------------------------------------------------------------------
PUBLIC = ["seed_state", "next_u64", "uniform", "normal", "fill_normal", "uniform_ball"]


def test_kernels_are_cached(warm):
    """No NumbaWarning while compiling (cold cache) and every kernel is on disk."""
    assert not [w for w in warm if issubclass(w.category, numba.NumbaWarning)]
    for name in PUBLIC:
        f = getattr(R, name)
        assert f.signatures, name
        for sig in f.signatures:
            assert f._cache.load_overload(sig, f.targetctx) is not None, name
