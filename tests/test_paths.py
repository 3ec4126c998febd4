"""Paths between parameter vectors (testbed.paths): the straight line, Bezier curves
and polygonal chains, the curve objective as a landscape trained by the engine's
rules, nudged elastic bands, barriers, and bad input.

The exact checks use the bent double well f(x, y) = (x^2 - 1)^2 + (y - 1 + x^2)^2:
its only critical points are the minima (+-1, 0) (f = 0) and the index-1 saddle
(0, 1) (f = 1, Hessian diag(-4, 2)), found by solving grad f = 0 by hand
(d/dy = 0 forces y = 1 - x^2, then d/dx = 4x(x^2 - 1) = 0). The straight segment
between the minima crosses (0, 0) at f = 2, so its barrier is 2 while the
minimum-energy path's is the saddle's energy, 1; by the mountain-pass property no
path between the minima stays below 1.
"""
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

import testbed
from testbed import nets, paths
from testbed.errors import TestbedError

X_, Y_ = sp.symbols("x y")
W1, W2 = np.array([-1.0, 0.0]), np.array([1.0, 0.0])
SADDLE, SADDLE_ENERGY = np.array([0.0, 1.0]), 1.0
LAMBDA_MIN = 2.0        # smallest |Hessian eigenvalue| at the saddle (diag(-4, 2))


@pytest.fixture(scope="module")
def well():
    return testbed.symbolic("bent_double_well", (X_**2 - 1)**2 + (Y_ - 1 + X_**2)**2,
                            (X_, Y_)).bind()


# ------------------------------------------------------------------------- coefficients
def test_linear_path_hits_its_endpoints_exactly():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    pts = paths.linear(a, b, [0.0, 0.3, 1.0])
    assert np.array_equal(pts[0], a) and np.array_equal(pts[-1], b)
    np.testing.assert_allclose(pts[1], 0.7 * a + 0.3 * b, rtol=0, atol=1e-15)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20), st.integers(2, 8))
def test_coefficients_sum_to_one_and_pick_the_endpoints(ts, n):
    for kind in paths.KINDS:
        C = paths.coefficients(kind, ts, n)
        assert C.shape == (len(ts), n) and np.all(C >= 0)
        # n terms of size <= 1 summed: rounding <= n u
        np.testing.assert_allclose(C.sum(axis=1), 1.0, rtol=0, atol=n * 2.3e-16)
        ends = paths.coefficients(kind, [0.0, 1.0], n)
        assert np.array_equal(ends, np.eye(n)[[0, n - 1]])


def test_quadratic_bezier_is_the_textbook_formula():
    rng = np.random.default_rng(1)
    w1, th, w2 = rng.standard_normal((3, 7))
    t = np.linspace(0, 1, 13)[:, None]
    expected = (1 - t)**2 * w1 + 2 * t * (1 - t) * th + t**2 * w2
    np.testing.assert_allclose(paths.along("bezier", [w1, th, w2], t[:, 0]), expected,
                               rtol=0, atol=1e-15)


def test_polychain_is_piecewise_linear_through_its_bends():
    rng = np.random.default_rng(2)
    B = rng.standard_normal((5, 4))
    knots = np.arange(5) / 4
    np.testing.assert_allclose(paths.along("polychain", B, knots), B, rtol=0, atol=1e-15)
    for k in range(4):      # linear on each segment: the midpoint is the mean of the ends
        a, b = knots[k], knots[k + 1]
        mid = paths.along("polychain", B, [(a + b) / 2])[0]
        np.testing.assert_allclose(mid, (B[k] + B[k + 1]) / 2, rtol=0, atol=1e-15)
        inner = paths.along("polychain", B, [a + 0.25 * (b - a)])[0]
        np.testing.assert_allclose(inner, 0.75 * B[k] + 0.25 * B[k + 1], rtol=0, atol=1e-15)


def test_barrier_is_the_max_minus_the_mean_of_the_ends():
    assert paths.barrier([0.0, 3.0, 1.0]) == 2.5
    np.testing.assert_array_equal(paths.barrier([[1.0, 2.0], [4.0, 0.0]]), [0.5, 2.0])


def test_plane_through_three_points_is_orthonormal():
    rng = np.random.default_rng(3)
    a, b, c = rng.standard_normal((3, 6))
    pl = paths.plane(a, b, c)
    G = np.array([[pl["u"] @ pl["u"], pl["u"] @ pl["v"]], [pl["v"] @ pl["v"], 0]])
    np.testing.assert_allclose(G, [[1, 0], [1, 0]], atol=1e-14)
    back = pl["origin"] + pl["coords"][:, :1] * pl["u"] + pl["coords"][:, 1:] * pl["v"]
    np.testing.assert_allclose(back, [a, b, c], atol=1e-13)    # all three lie in it


# ------------------------------------------------------------------------------- NEB
def _bent_start(M):
    """An asymmetric initial chain, so the band must find the path."""
    s = np.linspace(0, 1, M)
    R = paths.linear(W1, W2, s)
    R[1:-1, 1] += (1.5 * np.sin(np.pi * s) + 0.8 * np.sin(2 * np.pi * s))[1:-1]
    return R


@pytest.mark.parametrize("images", [9, 10])
@pytest.mark.parametrize("spring", [math.inf, 2.0])
def test_climbing_neb_finds_the_saddle_and_its_energy(well, images, spring):
    tol = 1e-9
    r = paths.neb(well, W1, W2, images=images, steps=20000, eta=0.02, climb=True,
                  spring=spring, tol=tol, path=_bent_start(images))
    assert r.converged and r.climbing == r.highest
    # at the climbing image |grad f| <= tol, so it is within tol / min|lambda| of the
    # saddle (Newton's bound; the Hessian is diag(-4, 2) there), and its energy within
    # (1/2) 4 (tol / 2)^2 + rounding (1e-16) of the saddle's
    np.testing.assert_allclose(r.points[r.highest], SADDLE, rtol=0, atol=2 * tol / LAMBDA_MIN)
    assert abs(r.barrier - SADDLE_ENERGY) <= 1e-14
    # no image above the saddle: the band is a minimum-energy path (to 1e-14, rounding)
    assert r.values.max() <= SADDLE_ENERGY + 1e-14
    straight = paths.barrier(paths.losses(well, paths.linear(W1, W2, paths.grid(101))))
    assert straight == pytest.approx(2.0, abs=1e-12) and r.barrier < straight


def test_plain_neb_odd_images_put_the_middle_one_on_the_saddle(well):
    # the minimum-energy path is symmetric under x -> -x, so equally spaced images
    # with an odd count have one at its midpoint, the saddle
    r = paths.neb(well, W1, W2, images=9, steps=20000, eta=0.02, tol=1e-9,
                  path=_bent_start(9))
    assert r.converged and r.highest == 4
    np.testing.assert_allclose(r.points[4], SADDLE, rtol=0, atol=1e-8)
    assert abs(r.barrier - SADDLE_ENERGY) <= 1e-14


def test_plain_neb_even_images_miss_the_saddle_by_the_discretisation(well):
    r = paths.neb(well, W1, W2, images=10, steps=20000, eta=0.02, tol=1e-9,
                  path=_bent_start(10))
    h = np.linalg.norm(np.diff(r.points, axis=0), axis=1).max()
    # the two middle images sit at x = +-s with |s| <= h / 2; on or above the valley
    # floor y = 1 - x^2, f >= (x^2 - 1)^2 >= 1 - 2 x^2, so the highest image lies
    # within 2 (h / 2)^2 below the saddle energy, and never above it
    assert r.converged
    assert SADDLE_ENERGY - h**2 / 2 <= r.barrier < SADDLE_ENERGY
    assert SADDLE_ENERGY - r.barrier > 0.01           # a real gap: not the saddle


def test_neb_between_trained_networks_removes_the_straight_barrier():
    X, Y = nets.data.digits(120)
    L = nets.feedforward((64, 16, 16, 10), X, Y, act="relu", loss="ce")
    x0 = nets.init_params(L, seed=[0, 1], scheme="he")
    W = testbed.run(L, "sgd_momentum", x0, 400, seed=0, observe=(), eta=0.05, batch=20).x
    straight = paths.barrier(paths.losses(L, paths.linear(W[0], W[1], paths.grid(25))))
    r = paths.neb(L, W[0], W[1], images=9, steps=300, eta=0.05, momentum=0.9)
    dense = paths.barrier(paths.losses(L, paths.along("polychain", r.points,
                                                      paths.grid(81))))
    # observed: straight 1.43 nats, band 3e-4 (Draxler et al.'s "essentially no
    # barriers"); between the images too (the polyline sampled 10 times per segment)
    assert straight > 0.5 and dense < 0.05 * straight and r.barrier <= dense + 1e-15


# ----------------------------------------------------------------- curves as landscapes
def test_curve_objective_matches_its_definition(well):
    rng = np.random.default_rng(4)
    for kind, n in (("bezier", 3), ("bezier", 4), ("polychain", 4)):
        C = paths.curve(well, W1, W2, kind=kind, bends=n, nodes=7, weight_decay=0.1)
        th = rng.standard_normal(C.landscape.d)
        pts = C.points(th, C.nodes)[0]
        coef = paths.coefficients(kind, C.nodes, n)[:, 1:-1]
        F = [well.value(p) + 0.05 * p @ p for p in pts]
        G = np.array([well.grad(p) + 0.1 * p for p in pts])
        H = [well.hessian(p) + 0.1 * np.eye(2) for p in pts]
        grad = np.einsum("ik,id->kd", coef, G).ravel() / 7
        hess = np.einsum("ik,il,ide->kdle", coef, coef, np.array(H)).reshape(
            C.landscape.d, C.landscape.d) / 7
        # sums of 7 terms of unit size: rounding ~1e-15; 1e-12 leaves room
        assert C.landscape.value(th) == pytest.approx(np.mean(F), rel=1e-12)
        np.testing.assert_allclose(C.landscape.grad(th), grad, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(C.landscape.hessian(th), hess, rtol=1e-12, atol=1e-12)
        g, gb = np.empty(C.landscape.d), np.empty(C.landscape.d)
        o = C.landscape.oracle
        assert o.n_samples(C.landscape.p) == 7
        f = o.value_grad(th, C.landscape.p, g)
        fb = o.value_grad_batch(th, C.landscape.p, np.arange(7), gb)
        assert fb == pytest.approx(f, rel=1e-13)
        np.testing.assert_allclose(gb, g, rtol=1e-13, atol=1e-14)


def test_the_valley_floor_bezier_is_critical_and_crosses_the_saddle(well):
    # theta = (0, 2) gives x(t) = 2t - 1, y(t) = 4t(1 - t) = 1 - x^2: the curve runs
    # along the valley floor, where the transverse term and its gradient vanish, so
    # its objective is stationary for any symmetric nodes; phi(1/2) is the saddle
    C = paths.curve(well, W1, W2, nodes=16)
    th = np.array([0.0, 2.0])
    np.testing.assert_allclose(C.landscape.grad(th), 0.0, atol=1e-15)
    np.testing.assert_allclose(C.points(th, [0.5])[0, 0], SADDLE, atol=1e-15)
    v = paths.losses(well, C.points(th, paths.grid(101)))
    assert v.max() == pytest.approx(SADDLE_ENERGY, abs=1e-15)


@pytest.mark.parametrize("rule, hyper", [("gd", dict(eta=0.05)),
                                         ("sgd", dict(eta=0.02, batch=4))])
def test_a_curve_trained_by_the_engine_lowers_the_barrier(well, rule, hyper):
    C = paths.curve(well, W1, W2, nodes=16)
    start = C.start() + np.array([0.05, 0.0])          # off the symmetric saddle
    straight = paths.losses(well, C.points(C.start(), paths.grid(201)))
    res = C.train(rule, 3000, theta0=start, seed=1, stride=3000, **hyper)
    trained = paths.losses(well, C.points(res.x, paths.grid(201)))
    assert straight.max() == pytest.approx(2.0, abs=1e-12)     # the start: the segment
    # observed max 1.23: well below the segment's 2, and (mountain pass) >= the saddle's
    # 1 up to the grid's error at the curve's maximum, (1/2) max|f''(t)| (dt / 2)^2
    # < 1e-3 with dt = 1/200 and |f''| < 300 along these curves
    assert SADDLE_ENERGY - 1e-3 <= trained.max() < 0.75 * straight.max()
    assert res.traces["loss"][-1, 0] < res.traces["loss"][0, 0]


def test_curves_train_as_one_ensemble_with_independent_replicas(well):
    ends1 = np.array([W1, W2])
    ends2 = np.array([W2, W1])                    # the same well, the other way round
    C = paths.curve(well, ends1, ends2, nodes=8)
    assert C.params.shape[0] == 2 and C.start().shape == (2, 2)
    both = C.train("sgd", 500, theta0=C.start() + 0.05, seed=7, eta=0.02, batch=3)
    alone = paths.curve(well, W2, W1, nodes=8).train(
        "sgd", 500, theta0=C.start()[1] + 0.05, seed=7, replica_offset=1, eta=0.02, batch=3)
    assert np.array_equal(both.x[1], alone.x[0])


def test_curve_between_networks_is_a_finite_sum_and_trains(tmp_path):
    X, Y = nets.data.digits(60)
    L = nets.feedforward((64, 6, 10), X, Y, act="tanh", loss="ce")
    W = nets.init_params(L, seed=range(4))
    C = paths.curve(L, W[:2], W[2:], nodes=5)
    o = C.landscape.oracle
    assert C.n_samples == 5 * 60
    th = C.start()[1] + 0.01
    g, gb = np.empty(C.landscape.d), np.empty(C.landscape.d)
    f = o.value_grad(th, C.params[1], g)
    fb = o.value_grad_batch(th, C.params[1], np.arange(C.n_samples), gb)
    assert fb == pytest.approx(f, rel=1e-12)
    np.testing.assert_allclose(gb, g, rtol=1e-11, atol=1e-13)
    assert f == pytest.approx(np.mean(paths.losses(L, C.points(th, C.nodes)[1])), rel=1e-12)
    res = C.train("sgd_momentum", 300, seed=0, stride=300, eta=0.05, batch=16)
    assert np.all(res.traces["loss"][-1] < 0.8 * res.traces["loss"][0])


# ------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_a_named_problem(well):
    with pytest.raises(TestbedError, match="different shapes"):
        paths.linear(np.zeros(3), np.zeros(4), 0.5)
    with pytest.raises(TestbedError, match="different shapes"):
        paths.curve(well, W1, np.zeros(3))
    with pytest.raises(TestbedError, match="2-dimensional"):
        paths.curve(well, np.zeros(3), np.zeros(3))
    with pytest.raises(TestbedError, match="2-dimensional"):
        paths.neb(well, np.zeros(3), np.zeros(3))
    for t in (1.5, -0.1, np.nan, [0.2, 2.0]):
        with pytest.raises(TestbedError, match=r"\[0, 1\]"):
            paths.linear(W1, W2, t)
    with pytest.raises(TestbedError, match=r"\[0, 1\]"):
        paths.bezier_coefficients(1.01)
    with pytest.raises(TestbedError, match=r"\[0, 1\]"):
        paths.curve(well, W1, W2, nodes=[0.5, 1.2])
    with pytest.raises(TestbedError, match="two points"):
        paths.barrier([1.0])
    with pytest.raises(TestbedError, match="two points"):
        paths.along("bezier", [W1], 0.5)
    with pytest.raises(TestbedError, match="num >= 2"):
        paths.grid(1)
    with pytest.raises(TestbedError, match="images"):
        paths.neb(well, W1, W2, images=2)
    with pytest.raises(TestbedError, match="straight segment"):
        paths.curve(well, W1, W2, bends=2)
    with pytest.raises(TestbedError, match="unknown curve kind"):
        paths.curve(well, W1, W2, kind="spline")
    with pytest.raises(TestbedError, match="start at w1"):
        paths.neb(well, W1, W2, images=3, path=[W2, SADDLE, W1])
    with pytest.raises(TestbedError, match="out of range"):
        paths.neb(well, W1, W2, eta=-1.0)
    with pytest.raises(TestbedError, match="no plane"):
        paths.plane(W1, W2, 0.5 * (W1 + W2))
