"""Merging (testbed.merge): SLERP per tensor in mergekit's convention, uniform and
greedy soups, the soup after alignment; the classification metrics and the data split
they rely on (testbed.nets.metrics, testbed.nets.split); bad input.

SLERP tolerances: the coefficients sin((1-t) W)/sin W and sin(t W)/sin W carry a
relative rounding error of a few units of 1e-16 divided by sin W (acos loses accuracy
near +-1, where mergekit switches to the lerp anyway), so norms and angles agree to
1e-10 with W kept away from 0 and pi (random directions in 30 dimensions).
"""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import testbed
from testbed import align, merge, nets
from testbed.errors import TestbedError
from testbed.nets import metrics
from testbed.nets.splits import split


def _pair(seed, n=30, same_norm=False):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, n)) * rng.uniform(0.1, 10, size=(2, 1))
    if same_norm:
        b *= np.linalg.norm(a) / np.linalg.norm(b)
    return a, b


def _angle(u, v):
    """The angle between u and v, accurate near 0 and pi too (acos of the cosine is
    not: it loses half the digits there): 2 atan2(|u^ - v^|, |u^ + v^|)."""
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    return 2.0 * math.atan2(np.linalg.norm(u - v), np.linalg.norm(u + v))


# ------------------------------------------------------------------------------ SLERP
@given(st.integers(0, 2**32 - 1))
def test_slerp_hits_its_ends(seed):
    a, b = _pair(seed)
    np.testing.assert_allclose(merge.slerp(a, b, 0.0), a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(merge.slerp(a, b, 1.0), b, rtol=0, atol=1e-12)


@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_slerp_of_equal_norms_keeps_the_norm_and_turns_by_t_omega(seed, t):
    a, b = _pair(seed, same_norm=True)
    omega = _angle(a, b)
    s = merge.slerp(a, b, t)
    assert np.linalg.norm(s) == pytest.approx(np.linalg.norm(a), rel=1e-10)
    assert _angle(a, s) == pytest.approx(t * omega, abs=1e-10)


def test_slerp_coefficients_come_from_the_normalised_angle():
    a, b = _pair(5)                                         # different norms
    omega = _angle(a, b)
    for t in (0.2, 0.5, 0.9):
        expected = (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)
        np.testing.assert_allclose(merge.slerp(a, b, t), expected, rtol=1e-12, atol=1e-12)


def test_near_colinear_slerp_is_the_lerp():
    a = np.random.default_rng(6).standard_normal(30)
    for b in (3.0 * a + 1e-3 * np.ones(30), -0.5 * a):      # |cos| > 0.9995
        for t in (0.0, 0.3, 1.0):
            np.testing.assert_array_equal(merge.slerp(a, b, t), (1 - t) * a + t * b)


def test_slerp_model_works_per_tensor():
    L = nets.feedforward((5, 4, 3), np.zeros((2, 5)), np.eye(3)[:2])
    x0, x1 = nets.init_params(L, seed=[0, 1])
    s = merge.slerp_model(L, x0, x1, 0.4)
    for p in nets.layout.layout(L):
        sl = slice(p.offset, p.offset + p.size)
        np.testing.assert_array_equal(s[sl], merge.slerp(x0[sl], x1[sl], 0.4))
    # not the flattened model's slerp: the two conventions differ
    assert np.abs(s - merge.slerp(x0, x1, 0.4)).max() > 1e-3


# ------------------------------------------------------------------------------ soups
def test_uniform_soup_is_the_mean():
    X = np.random.default_rng(7).standard_normal((4, 9))
    np.testing.assert_allclose(merge.uniform_soup(X), X.mean(axis=0), rtol=0, atol=1e-15)


def test_greedy_soup_is_never_worse_than_its_best_ingredient():
    rng = np.random.default_rng(8)
    target = rng.standard_normal(20)
    X = target + rng.standard_normal((6, 20)) * rng.uniform(0.5, 2.0, size=(6, 1))

    def score(x):
        return -float(np.linalg.norm(x - target))
    soup = merge.greedy_soup(X, score)
    assert soup.kept[0] == int(np.argmax(soup.scores))
    assert soup.score >= soup.scores.max() and soup.score == score(soup.x)
    assert len(soup.kept) > 1                   # averaging independent noise helps
    np.testing.assert_allclose(soup.x, X[list(soup.kept)].mean(axis=0), atol=1e-14)
    # strict '>': a score that never improves keeps the best (first of ties) alone
    flat = merge.greedy_soup(X, lambda x: 0.5)
    assert flat.kept == (0,) and np.array_equal(flat.x, X[0])


@pytest.fixture(scope="module")
def digit_sets():
    X, Y = nets.data.digits(360, permute_seed=0)
    return split(X, Y, (200, 80, 80), seed=1)


def test_soups_of_networks_from_one_initialisation(digit_sets):
    (Xtr, Ytr), (Xva, Yva), (Xte, Yte) = digit_sets
    L = nets.feedforward((64, 16, 10), Xtr, Ytr, act="relu", loss="ce")
    Lva = metrics.on_data(L, Xva, Yva)
    pre = testbed.run(L, "sgd_momentum", nets.init_params(L, seed=0, scheme="he"), 100,
                      seed=0, observe=(), eta=0.05, batch=20).x[0]
    fine = testbed.run(L, "sgd_momentum", np.repeat(pre[None], 4, axis=0), 100, seed=1,
                       observe=(), eta=np.array([0.01, 0.02, 0.04, 0.08]), batch=20).x
    soup = merge.greedy_soup(fine, Lva)
    np.testing.assert_array_equal(soup.scores, metrics.accuracy(Lva, fine))
    assert soup.score >= soup.scores.max()              # by construction
    assert soup.score == metrics.accuracy(Lva, soup.x)


def test_aligned_soup_undoes_planted_permutations(digit_sets):
    (Xtr, Ytr) = digit_sets[0]
    L = nets.feedforward((64, 16, 16, 10), Xtr, Ytr, act="tanh", loss="ce")
    x = nets.init_params(L, seed=3)
    rng = np.random.default_rng(4)
    copies = [x] + [align.permute(L, x, [rng.permutation(16), rng.permutation(16)])
                    for _ in range(2)]
    for method in ("weight", "activation"):
        soup, alignments = merge.aligned_soup(L, copies, method=method)
        assert alignments[0] is None
        # the mean of three identical vectors: one rounding of the sum and the division
        np.testing.assert_allclose(soup, x, rtol=1e-15, atol=1e-16)
    assert np.abs(merge.uniform_soup(copies) - x).max() > 0.1      # naive: not the model


# ------------------------------------------------------------------- metrics and split
def test_accuracy_counts_argmax_agreement(digit_sets):
    (Xtr, Ytr), (Xva, Yva) = digit_sets[:2]
    L = nets.feedforward((64, 8, 10), Xtr, Ytr, act="tanh", loss="ce")
    P = nets.init_params(L, seed=range(6)).reshape(2, 3, L.d)
    acc = metrics.accuracy(L, P)
    assert acc.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            manual = np.mean(np.argmax(nets.outputs(L, P[i, j]), 1) == np.argmax(Ytr, 1))
            assert acc[i, j] == manual
    assert metrics.error(L, P[0, 0]) == 1.0 - acc[0, 0]
    val = metrics.on_data(L, Xva, Yva)
    assert metrics.accuracy(val, P[1, 2]) == metrics.accuracy(L, P[1, 2], Xva, Yva)
    assert val.value(P[1, 2]) == nets.network(nets.blocks(L), Xva, Yva, "ce").value(P[1, 2])


def test_split_is_a_seeded_partition():
    X = np.arange(20.0)[:, None]
    Y = -X
    parts = split(X, Y, (5, 7, 3), seed=2)
    assert [p[0].shape[0] for p in parts] == [5, 7, 3]
    rows = np.concatenate([p[0][:, 0] for p in parts])
    order = np.random.default_rng(2).permutation(20)[:15]
    np.testing.assert_array_equal(rows, order)
    assert all(np.array_equal(p[1], -p[0]) for p in parts)
    np.testing.assert_array_equal(split(X, Y, (4,))[0][0][:, 0], np.arange(4))


# ------------------------------------------------------------------------- bad input
def test_bad_input_is_refused():
    a, b = _pair(0)
    with pytest.raises(TestbedError, match="one shape"):
        merge.slerp(a, b[:-1], 0.5)
    for t in (-0.1, 1.5, float("nan")):
        with pytest.raises(TestbedError, match=r"\[0, 1\]"):
            merge.slerp(a, b, t)
    with pytest.raises(TestbedError, match=r"\(K, d\)"):
        merge.uniform_soup([a, b[:-1]])
    with pytest.raises(TestbedError, match="score must"):
        merge.greedy_soup([a, b], "accuracy")
    with pytest.raises(TestbedError, match="return a number"):
        merge.greedy_soup([a, b], lambda x: None)
    L = nets.feedforward((5, 4, 3), np.zeros((2, 5)), np.eye(3)[:2])
    with pytest.raises(TestbedError, match="parameters"):
        merge.slerp_model(L, np.zeros(L.d), np.zeros(L.d + 1), 0.5)
    with pytest.raises(TestbedError, match="reference"):
        merge.aligned_soup(L, np.zeros((2, L.d)), reference=2)
    with pytest.raises(TestbedError, match="method"):
        merge.aligned_soup(L, np.zeros((2, L.d)), method="git")
    regression = nets.feedforward((5, 1), np.zeros((2, 5)), np.zeros((2, 1)))
    with pytest.raises(TestbedError, match="k >= 2"):
        metrics.accuracy(regression, np.zeros(regression.d))
    with pytest.raises(TestbedError, match="both X and Y"):
        metrics.accuracy(L, np.zeros(L.d), X=np.zeros((2, 5)))
    with pytest.raises(TestbedError, match=r"\(\.\.\., "):
        metrics.accuracy(L, np.zeros(L.d + 2))
    X = np.zeros((10, 2))
    with pytest.raises(TestbedError, match="more than the 10"):
        split(X, X, (6, 5))
    with pytest.raises(TestbedError, match="positive integers"):
        split(X, X, (6, 0))
    with pytest.raises(TestbedError, match="as many rows"):
        split(X, X[:9], (2,))
    with pytest.raises(TestbedError, match="non-negative"):
        split(X, X, (2,), seed=-1)
