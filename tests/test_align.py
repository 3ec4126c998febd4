"""Permutation alignment of MLP hidden units (testbed.align): permutations act on the
right rows, biases and columns and keep the function; weight matching and activation
matching recover a planted permutation exactly; the weight-matching objective never
decreases; bad input.

Permuting hidden units only reorders the terms of each sum, so outputs agree to a
few units of rounding (observed <= 1e-15); 1e-12 is the claim's tolerance.
"""
import numpy as np
import pytest

import testbed
from testbed import align, nets, paths
from testbed.errors import TestbedError
from testbed.nets import Dense, Norm, Residual


@pytest.fixture(scope="module")
def digits():
    return nets.data.digits(120)


def _net(digits, widths, act):
    return nets.feedforward(widths, *digits, act=act, loss="ce")


def _planted(L, seed):
    rng = np.random.default_rng(seed)
    return [rng.permutation(w) for w in align.hidden_widths(L)]


def test_permute_moves_rows_bias_and_next_columns():
    arch = [Dense(2, 3, "relu"), Dense(3, 2, "identity")]
    x = np.arange(nets.param_count(arch), dtype=float)
    W0, b0 = x[:6].reshape(3, 2), x[6:9]
    W1, b1 = x[9:15].reshape(2, 3), x[15:]
    pi = np.array([2, 0, 1])
    y = align.permute(arch, x, [pi])
    np.testing.assert_array_equal(y[:6].reshape(3, 2), W0[pi])
    np.testing.assert_array_equal(y[6:9], b0[pi])
    np.testing.assert_array_equal(y[9:15].reshape(2, 3), W1[:, pi])
    np.testing.assert_array_equal(y[15:], b1)            # outputs are not permuted


@pytest.mark.parametrize("widths, act", [((64, 16, 16, 10), "relu"),
                                         ((64, 8, 8, 8, 10), "tanh"),
                                         ((64, 12, 10), "relu")])
def test_permuted_network_computes_the_same_function(digits, widths, act):
    L = _net(digits, widths, act)
    x = nets.init_params(L, seed=1, scheme="he")
    y = align.permute(L, x, _planted(L, 2))
    assert not np.array_equal(x, y)
    np.testing.assert_allclose(nets.outputs(L, y), nets.outputs(L, x), rtol=0, atol=1e-12)
    Xnew = np.random.default_rng(3).uniform(size=(40, 64))
    np.testing.assert_allclose(nets.outputs(L, y, Xnew), nets.outputs(L, x, Xnew), rtol=0,
                               atol=1e-12)
    assert L.value(y) == pytest.approx(L.value(x), abs=1e-12)


@pytest.mark.parametrize("widths, act", [((64, 16, 16, 10), "relu"),
                                         ((64, 8, 8, 8, 10), "tanh"),
                                         ((64, 32, 10), "relu")])
@pytest.mark.parametrize("seed", range(4))
def test_weight_matching_recovers_a_planted_permutation(digits, widths, act, seed):
    # J(pi) = xa . pi(xb) <= |xa| |xb| with equality only at pi(xb) = xa (Cauchy-
    # Schwarz; units with distinct weights): the planted permutation is the unique
    # maximum, and coordinate descent from the identity reaches it
    L = _net(digits, widths, act)
    xa = nets.init_params(L, seed=seed, scheme="he")
    planted = _planted(L, 100 + seed)
    xb = align.permute(L, xa, planted)
    a = align.weight_matching(L, xa, xb, seed=seed)
    assert np.array_equal(a.x, xa) and a.converged
    for found, p in zip(a.perms, planted):
        assert np.array_equal(found, np.argsort(p))
    assert a.objective[-1] == pytest.approx(xa @ xa, rel=1e-13)


def test_activation_matching_recovers_a_planted_permutation(digits):
    # tanh units have distinct, non-constant activations: each unit correlates 1 with
    # its copy only (ReLU units dead on all inputs are indistinguishable by activation)
    L = _net(digits, (64, 16, 16, 10), "tanh")
    for seed in range(3):
        xa = nets.init_params(L, seed=seed)
        planted = _planted(L, 7 + seed)
        a = align.activation_matching(L, xa, align.permute(L, xa, planted))
        assert np.array_equal(a.x, xa)
        np.testing.assert_allclose(a.objective, 1.0, rtol=0, atol=1e-12)


def test_weight_matching_objective_never_decreases_between_unrelated_networks(digits):
    L = _net(digits, (64, 16, 16, 16, 10), "relu")
    X = nets.init_params(L, seed=range(6), scheme="he")
    for k in range(3):
        xa, xb = X[2 * k], X[2 * k + 1]
        a = align.weight_matching(L, xa, xb, seed=k)
        J = np.array(a.objective)
        assert a.converged and a.sweeps == len(J) - 1
        assert np.all(np.diff(J) >= 0) and J[-1] > J[0]
        assert J[-1] == pytest.approx(xa @ a.x, rel=1e-13)
        np.testing.assert_allclose(nets.outputs(L, a.x), nets.outputs(L, xb), atol=1e-12)


def test_alignment_lowers_the_barrier_of_trained_networks(digits):
    L = _net(digits, (64, 16, 16, 10), "relu")
    x0 = nets.init_params(L, seed=range(2), scheme="he")
    W = testbed.run(L, "sgd_momentum", x0, 400, seed=0, observe=(), eta=0.05,
                    batch=20).x
    t = paths.grid(11)
    naive = paths.barrier(paths.losses(L, paths.linear(W[0], W[1], t)))
    aligned = paths.barrier(paths.losses(
        L, paths.linear(W[0], align.weight_matching(L, W[0], W[1]).x, t)))
    # observed (4 seeds): naive 1.3-2.3 nats, aligned 0.10-0.38 (ratio 0.04-0.29)
    assert aligned < 0.5 * naive


def test_bad_input_is_refused(digits):
    L = _net(digits, (64, 16, 16, 10), "relu")
    x = nets.init_params(L, seed=0)
    other = _net(digits, (64, 8, 24, 10), "relu")
    with pytest.raises(TestbedError, match="incompatible networks"):
        align.weight_matching(L, x, x, net_b=other)
    with pytest.raises(TestbedError, match="incompatible networks"):
        align.activation_matching(L, x, x, net_b=_net(digits, (64, 16, 16, 10), "tanh"))
    with pytest.raises(TestbedError, match="incompatible networks"):
        align.weight_matching(L, x, x[:-3])
    res = nets.network([Dense(64, 16), Residual(16), Dense(16, 10, "identity")], *digits)
    with pytest.raises(TestbedError, match="plain MLPs"):
        align.weight_matching(res, np.zeros(res.d), np.zeros(res.d))
    normed = [Dense(64, 16), Norm(16), Dense(16, 10, "identity")]
    with pytest.raises(TestbedError, match="plain MLPs"):
        align.hidden_widths(normed)
    single = nets.feedforward((64, 10), *digits)
    with pytest.raises(TestbedError, match="no hidden units"):
        align.weight_matching(single, np.zeros(single.d), np.zeros(single.d))
    with pytest.raises(TestbedError, match="not a network"):
        align.hidden_widths(testbed.landscape("rosenbrock"))
    with pytest.raises(TestbedError, match="permutation of 0..15"):
        align.permute(L, x, [np.zeros(16, int), np.arange(16)])
    with pytest.raises(TestbedError, match="one permutation per hidden layer"):
        align.permute(L, x, [np.arange(16)])
    with pytest.raises(TestbedError, match="needs inputs"):
        align.activation_matching(align.mlp_blocks(L), x, x)
