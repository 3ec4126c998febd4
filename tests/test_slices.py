"""Li et al. (2018) slices on any landscape: the range grammar, filter normalisation
and its variants on a fake layout (checked against the formulas), slices of a
quadratic against closed forms, the slice's finite-difference Hessian, the Hessian
eigenvalue maps, PCA trajectories, export, and the scale invariance that filter
normalisation exists for (on a small ReLU network)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import testbed
from testbed import TestbedError
from testbed import slices as S
from testbed.slices import Piece

# a fake network layout: W1 (4, 3), b1 (4,), W2 (2, 4), b2 (2,), gamma (2,) "norm"
BLOCKS = [Piece("W1", 0, 12, (4, 3), "weight"), Piece("b1", 12, 4, (4,), "bias"),
          Piece("W2", 16, 8, (2, 4), "weight"), Piece("b2", 24, 2, (2,), "bias"),
          Piece("g", 26, 2, (2,), "norm")]
D = 28
WEIGHTS = np.r_[0:12, 16:24]
BIASLIKE = np.r_[12:16, 24:28]


@pytest.fixture(scope="module")
def quad():
    lam = np.linspace(-1.0, 4.0, D)          # indefinite: one slice test needs it
    return testbed.landscape("quadratic", d=D, lam=lam), lam


def theta0(seed=0):
    return np.random.default_rng(seed).standard_normal(D)


def raw(seed, n=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(D) for _ in range(n)]


# ------------------------------------------------------------------ ranges
def test_range_grammar():
    np.testing.assert_array_equal(S.parse_range("-1:1:51"), np.linspace(-1, 1, 51))
    np.testing.assert_array_equal(S.parse_range("-0.5:1.5:401"), np.linspace(-0.5, 1.5, 401))
    np.testing.assert_array_equal(S.parse_range((-1, 1, 3)), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(S.parse_range([0.0, 0.5, 2.0]), [0.0, 0.5, 2.0])
    for bad, what in [("-1:1:1", "num"), ("1:1:5", "min"), ("2:1:5", "min"),
                      ("-1:1:2.5", "num"), ("-1:1", "three fields"), ("a:1:5", "not a number"),
                      ("-1:inf:5", "non-finite"), ([1.0, 0.0], "increasing")]:
        with pytest.raises(TestbedError, match=what) as err:
            S.parse_range(bad, "x")
        assert "x" in str(err.value)


# ------------------------------------------------------------------ directions
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3))
def test_filter_normalisation_is_the_code_formula(seed, scale):
    """Each row: d_i = r_i |theta_i| / (|r_i| + 1e-10) (Li et al.'s
    ``d.mul_(w.norm()/(d.norm() + 1e-10))``), so |d_i| / |theta_i| = |r_i| / (|r_i| +
    1e-10) to rounding (1e-12 relative), i.e. equal norms up to the guard's 1e-10 /
    |r_i|; bias and norm entries 0 with ignore='biasbn'."""
    theta = scale * theta0(seed % 1000)
    r = raw(seed)[0]
    d = S.normalize(r, theta, D, "filter", "biasbn", BLOCKS)
    assert np.all(d[BIASLIKE] == 0.0)
    for b in BLOCKS[::2][:2]:
        rows = d[b.offset:b.offset + b.size].reshape(b.shape)
        w = theta[b.offset:b.offset + b.size].reshape(b.shape)
        rr = r[b.offset:b.offset + b.size].reshape(b.shape)
        rn = np.linalg.norm(rr, axis=1)
        ratio = np.linalg.norm(rows, axis=1) / np.linalg.norm(w, axis=1)
        np.testing.assert_allclose(ratio, rn / (rn + 1e-10), rtol=1e-12)
        np.testing.assert_allclose(ratio, 1.0, rtol=1e-10 / rn.min() + 1e-12)
        # each row keeps the raw row's direction
        cos = np.sum(rows * rr, axis=1) / (np.linalg.norm(rows, axis=1) * rn)
        np.testing.assert_allclose(cos, 1.0, rtol=1e-13)


def test_other_norms_and_the_non_ignored_bias_rule():
    theta, r = theta0(1), raw(2)[0]
    # without biasbn the bias-like directions are the weights themselves (d.copy_(w))
    d = S.normalize(r, theta, D, "filter", None, BLOCKS)
    np.testing.assert_array_equal(d[BIASLIKE], theta[BIASLIKE])
    W = [b for b in BLOCKS if b.kind == "weight"]
    layer = S.normalize(r, theta, D, "layer", "biasbn", BLOCKS)
    weight = S.normalize(r, theta, D, "weight", "biasbn", BLOCKS)
    dfilter = S.normalize(r, theta, D, "dfilter", "biasbn", BLOCKS)
    dlayer = S.normalize(r, theta, D, "dlayer", "biasbn", BLOCKS)
    none = S.normalize(r, theta, D, None, "biasbn", BLOCKS)
    for b in W:
        sl = slice(b.offset, b.offset + b.size)
        assert abs(np.linalg.norm(layer[sl]) / np.linalg.norm(theta[sl]) - 1) < 1e-14
        np.testing.assert_array_equal(weight[sl], r[sl] * theta[sl])
        rows = dfilter[sl].reshape(b.shape)
        rn = np.linalg.norm(r[sl].reshape(b.shape), axis=1)
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), rn / (rn + 1e-10), rtol=1e-14)
        assert abs(np.linalg.norm(dlayer[sl]) - 1) < 1e-14
        np.testing.assert_array_equal(none[sl], r[sl])
    with pytest.raises(TestbedError, match="norm"):
        S.normalize(r, theta, D, "model", "biasbn", BLOCKS)
    with pytest.raises(TestbedError, match="ignore"):
        S.normalize(r, theta, D, "filter", "bias", BLOCKS)


def test_random_direction_reproducible_and_checked(quad):
    L, _ = quad
    theta = theta0()
    d1, d2 = S.random_direction(L, theta, seed=123, n=2, blocks=BLOCKS)
    r1, r2 = raw(123, 2)
    np.testing.assert_array_equal(d1, S.normalize(r1, theta, L, blocks=BLOCKS))
    np.testing.assert_array_equal(d2, S.normalize(r2, theta, L, blocks=BLOCKS))
    # a landscape without a layout is one (1, d) filter: the direction has |theta|
    d = S.random_direction(L, theta, seed=0)
    assert abs(np.linalg.norm(d) / np.linalg.norm(theta) - 1) < 1e-10
    with pytest.raises(TestbedError, match="zero"):
        S.random_direction(L, np.zeros(D), seed=0)
    with pytest.raises(TestbedError, match="overlaps"):
        S.layout_of(L, [Piece("a", 0, 20, (4, 5), "weight"), Piece("b", 10, 4, (4,), "bias")])


# ------------------------------------------------------------------ slices
def quad_value(lam, X):
    return 0.5 * np.sum(lam * X * X, axis=-1)


def test_surface_matches_the_closed_form_and_li_layout(quad):
    L, lam = quad
    theta = theta0()
    d1, d2 = S.random_direction(L, theta, seed=5, n=2, blocks=BLOCKS)
    s = S.surface(L, theta, d1, d2, x="-1:1:21", y="-2:1:7", threads=2)
    xs, ys, Z = s["xcoordinates"], s["ycoordinates"], s["train_loss"]
    assert Z.shape == (7, 21) and xs[10] == 0.0 and ys[4] == 0.0
    assert Z[4, 10] == L.value(theta)                    # f(0, 0) = the trained loss
    P = theta + xs[None, :, None] * d1 + ys[:, None, None] * d2
    np.testing.assert_allclose(Z, quad_value(lam, P), rtol=1e-13, atol=1e-13)
    one = S.surface(L, theta, d1, x="-1:1:21")
    np.testing.assert_array_equal(one["train_loss"], Z[4])
    assert set(s) == {"xcoordinates", "ycoordinates", "train_loss"}


def test_interpolation_reproduces_both_endpoints_exactly(quad):
    L, lam = quad
    a, b = theta0(1), theta0(2)
    s = S.interpolate(L, a, b, x="-0.5:1.5:401")
    xs = s["xcoordinates"]
    assert xs[100] == 0.0 and xs[300] == 1.0
    assert s["train_loss"][100] == L.value(a) and s["train_loss"][300] == L.value(b)
    P = (1 - xs[:, None]) * a + xs[:, None] * b
    np.testing.assert_allclose(s["train_loss"], quad_value(lam, P), rtol=1e-13)


def test_slice_curvature_is_exact_on_a_quadratic(quad):
    """f(a, b) on a quadratic is a quadratic in (a, b) with Hessian
    G = [[d1'Hd1, d1'Hd2], [d2'Hd1, d2'Hd2]]: central differences are exact up to
    rounding, so every interior point has G's eigenvalues; the non-convex fraction is
    0 or 1 as G is PSD or not."""
    L, lam = quad
    theta = theta0()
    for d1, d2, convex in [(np.eye(D)[20], np.eye(D)[27], True),
                           (np.eye(D)[0], np.eye(D)[27], False),
                           (*S.random_direction(L, theta, seed=1, n=2, blocks=BLOCKS), None)]:
        s = S.surface(L, theta, d1, d2, x="-1:1:11")
        c = S.slice_curvature(s["train_loss"], s["xcoordinates"], s["ycoordinates"])
        G = np.array([[d1 @ (lam * d1), d1 @ (lam * d2)], [d2 @ (lam * d1), d2 @ (lam * d2)]])
        g = np.linalg.eigvalsh(G)
        scale = np.abs(g).max() + np.abs(s["train_loss"]).max() / 0.2 ** 2
        assert np.nanmax(np.abs(c["slice_min_eig"] - g[0])) < 1e-11 * scale
        assert np.nanmax(np.abs(c["slice_max_eig"] - g[1])) < 1e-11 * scale
        assert np.isnan(c["slice_min_eig"][0]).all() and np.isnan(c["slice_min_eig"][:, -1]).all()
        if convex is not None:
            assert c["nonconvex_fraction"] == (0.0 if convex else 1.0)
    with pytest.raises(TestbedError, match="shape"):
        S.slice_curvature(np.zeros((3, 4)), np.arange(3.0), np.arange(4.0))


def test_hessian_eig_map_full_and_weights_only(quad):
    L, lam = quad
    theta = theta0()
    d1, d2 = S.random_direction(L, theta, seed=2, n=2, blocks=BLOCKS)
    full = S.hessian_eig_map(L, theta, d1, d2, x="-1:1:3", hessian="full", blocks=BLOCKS,
                             tol=1e-10)
    assert full["min_eig"].shape == (3, 3)
    np.testing.assert_allclose(full["min_eig"], lam.min(), atol=1e-10)
    np.testing.assert_allclose(full["max_eig"], lam.max(), atol=1e-10)
    w = S.hessian_eig_map(L, theta, d1, None, x="-1:1:3", blocks=BLOCKS, tol=1e-10)
    assert w["min_eig"].shape == (3,)
    np.testing.assert_allclose(w["min_eig"], lam[WEIGHTS].min(), atol=1e-10)
    np.testing.assert_allclose(w["max_eig"], lam[WEIGHTS].max(), atol=1e-10)
    assert np.all(w["eig_bound"] <= 1e-10 * 4)
    with pytest.raises(TestbedError, match="hessian"):
        S.hessian_eig_map(L, theta, d1, hessian="weight")


# ------------------------------------------------------------------ trajectories
def test_pca_recovers_a_planar_path_and_matches_sklearn():
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((D, 2)))
    Q[BIASLIKE] = 0.0                                   # a path in the weights
    Q, _ = np.linalg.qr(Q)
    t = np.linspace(0, 1, 40)
    s, r = 3.0 * (1 - t) ** 2, 0.5 * np.sin(6 * t) * (1 - t)
    final = theta0()
    noise = 1e-12 * rng.standard_normal((40, D))
    traj = final + s[:, None] * Q[:, 0] + r[:, None] * Q[:, 1] + noise
    traj[:, BIASLIKE] += rng.standard_normal((40, BIASLIKE.size))   # ignored by biasbn
    out = S.pca_directions(traj, final, blocks=BLOCKS)
    u1, u2 = out["xdirection"], out["ydirection"]
    # the two components span the path's plane; they are orthonormal
    assert abs(np.linalg.norm(Q.T @ u1) - 1) < 1e-9 and abs(np.linalg.norm(Q.T @ u2) - 1) < 1e-9
    assert abs(u1 @ u2) < 1e-12
    assert abs(out["explained_variance_ratio_"].sum() - 1) < 1e-10
    proj = S.project_trajectory(traj, final, u1, u2)
    lsq = S.project_trajectory(traj, final, u1, u2, method="lstsq")
    rebuilt = proj["proj_xcoord"][:, None] * u1 + proj["proj_ycoord"][:, None] * u2
    np.testing.assert_allclose(rebuilt[:, WEIGHTS], (traj - final)[:, WEIGHTS], atol=1e-9)
    np.testing.assert_allclose(lsq["proj_xcoord"], proj["proj_xcoord"], atol=1e-9)
    assert abs(proj["proj_xcoord"][-1]) < 1e-10 and abs(proj["proj_ycoord"][-1]) < 1e-10
    sklearn = pytest.importorskip("sklearn.decomposition")
    M = traj - final
    M[:, BIASLIKE] = 0.0
    pca = sklearn.PCA(n_components=2).fit(M)
    np.testing.assert_allclose(out["explained_variance_ratio_"], pca.explained_variance_ratio_,
                               rtol=1e-8)
    np.testing.assert_allclose(out["singular_values_"], pca.singular_values_, rtol=1e-8)
    for ours, theirs in zip((u1, u2), pca.components_):
        assert abs(abs(ours @ theirs) - 1) < 1e-8


def test_trajectory_from_result():
    from testbed.result import Result
    X = np.arange(5 * D * 2, dtype=float).reshape(5, D, 2)
    X[3:, :, 1] = np.nan
    res = Result(x=np.zeros((2, D)), status=np.zeros(2, np.int8), stop_step=np.zeros(2, int),
                 steps=np.arange(5), traces={"coords": X}, scalars=np.zeros((2, 0)), meta={})
    np.testing.assert_array_equal(S.trajectory_from_result(res, 1), X[:3, :, 1])
    with pytest.raises(TestbedError, match="coords"):
        S.trajectory_from_result(Result(np.zeros((1, D)), *([None] * 3), {}, None, {}))


# ------------------------------------------------------------------ export
def test_save_writes_li_keys(tmp_path, quad):
    L, _ = quad
    theta = theta0()
    d1, d2 = S.random_direction(L, theta, seed=5, n=2, blocks=BLOCKS)
    s = S.surface(L, theta, d1, d2, x="-1:1:5")
    s.update(xdirection=d1, ydirection=d2)
    paths = S.save(tmp_path / "surf", s, blocks=BLOCKS)
    back = S.load(paths[0])
    for k in ("xcoordinates", "ycoordinates", "train_loss", "xdirection"):
        np.testing.assert_array_equal(back[k], s[k])
    try:
        import h5py  # noqa: F401
    except ImportError:
        assert len(paths) == 1
        with pytest.raises(TestbedError, match="h5py"):
            S.save(tmp_path / "surf2", s, h5=True)
    else:
        h5 = S.load(paths[1])
        np.testing.assert_array_equal(h5["train_loss"], s["train_loss"])
        assert len(h5["xdirection"]) == len(BLOCKS) and h5["xdirection"][0].shape == (4, 3)


# ------------------------------------------------------------------ scale invariance
def test_filter_normalised_slices_are_invariant_to_relu_rescaling():
    """The point of filter normalisation (Li et al. sec. 4): a ReLU network is
    unchanged when layer l's weights and biases are multiplied by c > 0 and layer
    l+1's weights divided by c; filter- (and layer-) normalised directions scale the
    same way, so the whole slice is unchanged (to rounding), while a raw Gaussian
    direction gives a different slice."""
    nets = pytest.importorskip("testbed.nets")
    from testbed.nets.data import digits
    from testbed.nets.layout import init_params, layout, mlp
    X, Y = digits(60)
    L = nets.network(mlp((64, 8, 8, 10), act="relu"), X, Y, loss="ce")
    theta = init_params(L, seed=0, scheme="he")
    lay = {b.name: b for b in layout(L)}
    T = theta.copy()
    for name, c in (("layer1.W", 10.0), ("layer1.b", 10.0), ("layer2.W", 0.1)):
        b = lay[name]
        T[b.offset:b.offset + b.size] *= c
    assert abs(L.value(T) - L.value(theta)) < 1e-12 * L.value(theta)
    for norm, invariant in (("filter", True), ("layer", True), (None, False)):
        r1, r2 = np.random.default_rng(9).standard_normal((2, L.d))
        f = [S.surface(L, th, S.normalize(r1, th, L, norm), S.normalize(r2, th, L, norm),
                       x="-1:1:5")["train_loss"] for th in (theta, T)]
        err = np.max(np.abs(f[0] - f[1]) / np.abs(f[0]))
        assert (err < 1e-9) if invariant else (err > 1e-2), (norm, err)


# ------------------------------------------------------------------ the claim
@pytest.fixture(scope="module")
def fns_quick():
    from testbed.claims import filter_normalized_slices as F
    params = F.SCALES["quick"]
    return F, F.experiment(params), params


def _fns_fails(verdict, name, status):
    assert verdict[name].holds is False, verdict[name]
    assert verdict.status == status and verdict.passed is False


def test_filter_normalized_slices_quick_passes(fns_quick):
    F, data, params = fns_quick
    v = F.check(data, F.predict(params), params)
    assert v.status == "pass", v.failed
    m = v.measured
    assert m["filter_norm_rel_dev"] <= 1e-12 and m["bias_direction_max_abs"] == 0.0
    assert m["f00_rel_dev"] <= 1e-12
    assert m["filter_norm_vs_weight_norm_rel_dev"] < 1e-9      # the 1e-10 guard's effect
    assert m["diverged_trainings"] == 0 and m["nonfinite_hessian_products"] == 0
    science = {c.name for c in v.criteria if c.science}
    assert science == {"deep_residual_nonconvex_fraction", "deep_plain_nonconvex_fraction",
                       "deep_mean_loss_ratio_residual_over_plain"}


def test_filter_normalized_slices_science_rows_fail_when_wrong(fns_quick):
    F, data, params = fns_quick
    wrong = F.predict(params)
    wrong["plain_fraction_min"] = 0.95                 # a prediction the data refute
    _fns_fails(F.check(data, wrong, params), "deep_plain_nonconvex_fraction",
               "not reproduced")
    wrong = F.predict(params)
    wrong["mean_ratio_max"] = 1e-3
    _fns_fails(F.check(data, wrong, params), "deep_mean_loss_ratio_residual_over_plain",
               "not reproduced")
    swapped = dict(data)                               # plain and residual mislabelled
    for key in ("train_loss", "nonconvex_fraction", "final_loss", "slice_nonconvexity",
                "diverged"):
        swapped[key] = data[key][:, ::-1]
    v = F.check(swapped, F.predict(params), params)
    _fns_fails(v, "deep_residual_nonconvex_fraction", "not reproduced")
    _fns_fails(v, "deep_plain_nonconvex_fraction", "not reproduced")


@pytest.mark.parametrize("index, name", [(0, "filter_norm_rel_dev"),
                                         (2, "bias_direction_max_abs"),
                                         (3, "f00_rel_dev"),
                                         (4, "interpolation_endpoint_rel_dev")])
def test_filter_normalized_slices_unit_checks_fail_when_wrong(fns_quick, index, name):
    F, data, params = fns_quick
    broken = dict(data)
    broken["unit_checks"] = data["unit_checks"].copy()
    broken["unit_checks"][index] = 1e-6                # off by 1e-6: a code error
    _fns_fails(F.check(broken, F.predict(params), params), name, "fail")
    broken["unit_checks"][index] = np.nan              # NaN never holds
    _fns_fails(F.check(broken, F.predict(params), params), name, "fail")


def _with_shallow(data, plain_over_residual):
    """The quick data with a copy of its depth as a shallow D = 4, whose residual
    fractions are the plain ones divided by ``plain_over_residual``."""
    out = {}
    for key, value in data.items():
        if key in ("depths", "xcoordinates", "ycoordinates", "hessian_points",
                   "unit_checks"):
            out[key] = value
        else:
            out[key] = np.concatenate([value, value])
    out["depths"] = np.array([4, *data["depths"]])
    out["nonconvex_fraction"] = out["nonconvex_fraction"].copy()
    out["nonconvex_fraction"][0, 1] = out["nonconvex_fraction"][0, 0] / plain_over_residual
    return out


def test_filter_normalized_slices_shallow_factor(fns_quick):
    F, data, params = fns_quick
    name = "D4_nonconvex_fraction_factor_plain_vs_residual"
    alike = F.check(_with_shallow(data, 1.5), F.predict(params), params)
    assert alike[name].holds is True and alike[name].science and alike.status == "pass"
    _fns_fails(F.check(_with_shallow(data, 3.0), F.predict(params), params), name,
               "not reproduced")


def test_filter_normalized_slices_all_diverged_is_undecided(fns_quick):
    """Every plain training diverged: nothing to compare, the deep plain rows are
    undecided (inconclusive), the run is counted, nothing raises."""
    F, data, params = fns_quick
    gone = dict(data)
    gone["diverged"] = data["diverged"].copy()
    gone["diverged"][:, 0] = True
    v = F.check(gone, F.predict(params), params)
    assert v["deep_plain_nonconvex_fraction"].holds is None
    assert v["deep_mean_loss_ratio_residual_over_plain"].holds is None
    assert v.status == "inconclusive"
    assert v.measured["diverged_trainings"] == len(params["train_seeds"])   # every plain one


def test_filter_normalized_slices_counts_a_nonfinite_hessian_product():
    """The reported failure: a Hessian-vector product that is not finite at a slice
    point (here far outside, at a = 1e200) is a NaN eigenvalue, counted in the
    evidence; the experiment goes on and the check reports it."""
    from testbed.claims import filter_normalized_slices as F
    from testbed.nets.layout import init_params
    params = {**F.SCALES["quick"], "depths": [2], "n": 60, "width": 8, "epochs": 1,
              "num": 5, "hessian_points": [[0.0, 0.0], [1e200, 0.0]]}
    data = F.experiment(params)
    assert data["hvp_failed"][..., 1].all() and not data["hvp_failed"][..., 0].any()
    assert np.isnan(data["min_eig"][..., 1]).all()
    assert np.isfinite(data["min_eig"][..., 0]).all()
    v = F.check(data, F.predict(params), params)
    assert v.measured["nonfinite_hessian_products"] == 2
    L = F._network(2, "plain", params)
    theta = init_params(L, seed=0, scheme="he")
    assert F._sliceable(L, theta)
    theta[3] = np.nan                       # a NaN parameter, even behind a finite loss
    assert not F._sliceable(L, theta)


def test_filter_normalized_slices_figure(fns_quick, tmp_path):
    from testbed.claims.figures import filter_normalized_slices as figure
    F, data, params = fns_quick
    path = tmp_path / "fns.png"
    figure.draw(data, F.predict(params), params, path)
    assert path.stat().st_size > 10_000
    gone = dict(data)                       # a depth where every training diverged
    gone["diverged"] = np.ones_like(data["diverged"])
    figure.draw(gone, F.predict(params), params, tmp_path / "gone.png")
