"""invariant-measure and score-loss-design: the experiments at a reduced scale, each
criterion failing under a wrong prediction or tampered data, the derived formulas
(the W1 sampling floor, Stein's identity for the mixture score) and bad input."""
import math

import numpy as np
import pytest

from testbed.claims import invariant_measure as IM
from testbed.claims import score_loss_design as SL
from testbed.errors import TestbedError

IM_SMALL = {**IM.SCALES["quick"], "toy_steps": 2000, "toy_replicas": 3, "replicas": 300,
            "steps": 256, "boot": 300}
SL_SMALL = {**SL.SCALES["quick"], "d": 2, "ns": (300, 3000, 30000), "draws": 2, "inits": 2,
            "steps": 600, "l2_steps": 100}


# ---- invariant-measure ---------------------------------------------------------------

@pytest.fixture(scope="module")
def im():
    return IM.experiment(IM_SMALL)


def _im_check(data, **pred):
    return IM.check(data, {**IM.predict(IM_SMALL), **pred}, IM_SMALL)


def test_invariant_measure_passes(im):
    v = _im_check(im)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert im["ens_coords"].shape == (IM_SMALL["steps"] + 1, 2, IM_SMALL["replicas"])


def test_stationary_criterion_fails_when_gd_below_2_over_L_does_not_converge(im):
    bad = {**im, "toy_small_grad": im["toy_small_grad"].copy()}
    bad["toy_small_grad"][-1, 0] = 1e-6
    v = _im_check(bad)
    assert v["stationary_below_2_over_L"].holds is False and v.status == "fail"


def test_floor_formula_criterion_fails_under_a_wrong_prediction(im):
    v = _im_check(im, floor_rel_error=0.5)
    assert v["floor_formula"].holds is False and v.status == "fail"


def test_toy_gradient_criterion_fails_when_a_replica_stops(im):
    bad = {**im, "toy_large_grad": im["toy_large_grad"].copy()}
    bad["toy_large_grad"][-3, 1] = 1.0
    v = _im_check(bad)
    assert v["toy_min_grad_norm"].holds is False and v.status == "not reproduced"


def test_running_average_criterion_fails_under_a_drift(im):
    bad = {**im, "toy_large_loss": im["toy_large_loss"].copy()}
    T = IM_SMALL["toy_steps"]
    bad["toy_large_loss"][T // 2:, 0] += 0.5 * np.ptp(im["toy_large_loss"][-IM.WINDOW:, 0])
    assert _im_check(bad)["running_average_settles"].holds is False


def test_w1_criteria_fail_when_the_law_does_not_move_or_does_not_settle(im):
    still = {**im, "ens_coords": np.repeat(im["ens_coords"][-1:], im["ens_coords"].shape[0], 0)}
    v = _im_check(still)
    assert v["w1_early_over_floor"].holds is False
    moving = {**im, "ens_coords": im["ens_coords"].copy()}
    t = IM.times(IM_SMALL)["late"][-1]
    moving["ens_coords"][2 * t, 0] += 1.0                  # the law at 2t shifted
    v = _im_check(moving)
    assert v["w1_late_over_floor"].holds is False and v.status == "not reproduced"


def test_ensemble_gradient_criterion_fails_when_a_replica_is_stationary(im):
    bad = {**im, "ens_grad": im["ens_grad"].copy()}
    bad["ens_grad"][-IM_SMALL["steps"] // 2:, 7] = 1e-3
    assert _im_check(bad)["ensemble_min_mean_grad_norm"].holds is False


def test_floor_matches_the_uniform_law():
    # Uniform on [0, 1]: int sqrt(F (1 - F)) = pi / 8, so E W1 = sqrt(pi) / (4 sqrt(N)).
    z = np.linspace(0.0, 1.0, 200_001)
    assert abs(IM.floor(z, 400) / (math.sqrt(math.pi) / 80) - 1) < 1e-4
    rng = np.random.default_rng(3)
    w = IM._w1_equal(rng.random((2000, 400)), rng.random((2000, 400)))
    assert abs(w.mean() / (math.sqrt(math.pi) / 80) - 1) < 0.03   # normal approximation


def test_wasserstein1_of_the_testbed_matches_sorted_samples_and_scipy():
    from scipy.stats import wasserstein_distance

    from testbed.curvature import wasserstein1
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.exponential(size=500)
    w = np.full(500, 1 / 500)
    ours = wasserstein1(a, w, b, w)
    assert abs(ours - float(IM._w1_equal(a, b))) < 1e-12
    assert abs(ours - wasserstein_distance(a, b)) < 1e-12
    c = rng.normal(size=300)
    assert abs(wasserstein1(a, w, c, np.full(300, 1 / 300)) - wasserstein_distance(a, c)) < 1e-12


@pytest.mark.parametrize("change, word", [({"replicas": 5}, "replicas"),
                                          ({"steps": 1000}, "power of 2"),
                                          ({"toy_steps": 1000}, "toy_steps"),
                                          ({"width": 0.0}, "width"),
                                          ({"boot": 0}, "boot"),
                                          ({"t_early": 3, "stride": 2}, "t_early")])
def test_invariant_measure_bad_input(change, word):
    with pytest.raises(TestbedError, match=word):
        IM.experiment({**IM_SMALL, **change})


def test_invariant_measure_figure(im, tmp_path):
    from testbed.claims.figures import invariant_measure as figure
    path = tmp_path / "im.png"
    figure.draw(im, IM.predict(IM_SMALL), IM_SMALL, path)
    assert path.stat().st_size > 10_000


# ---- score-loss-design -----------------------------------------------------------------

@pytest.fixture(scope="module")
def sl():
    return SL.experiment(SL_SMALL)


def _sl_check(data, **pred):
    return SL.check(data, {**SL.predict(SL_SMALL), **pred}, SL_SMALL)


def test_score_loss_code_criteria_hold_and_the_science_is_measured(sl):
    v = _sl_check(sl)
    assert v["tensor_rate"].holds and v["population_recovery"].holds, v.criteria
    assert v["score_recovery"].holds and v["score_error_falls"].holds, v.criteria
    assert v.status in ("pass", "not reproduced")
    assert sl["score_error"].shape == (3, SL_SMALL["draws"] * SL_SMALL["inits"])


def test_tensor_rate_fails_under_a_wrong_rate(sl):
    v = _sl_check(sl, tensor_slope=-1.5)
    assert v["tensor_rate"].holds is False and v.status == "fail"


def test_population_recovery_fails_when_a_start_is_stuck(sl):
    bad = {**sl, "pop_error": sl["pop_error"].copy()}
    bad["pop_error"][1] = 0.2
    v = _sl_check(bad)
    assert v["population_recovery"].holds is False and v.status == "fail"


def test_score_recovery_and_fall_fail_on_tampered_errors(sl):
    bad = {**sl, "score_error": np.full_like(sl["score_error"], 0.3)}
    v = _sl_check(bad)
    assert v["score_recovery"].holds is False and v["score_error_falls"].holds is False
    assert v.status == "not reproduced"


def test_gap_criteria_hold_and_fail(sl):
    s = sl["score_error"]
    wide = {**sl, "gauss_error": 10 * s, "squared_error": 10 * s}
    v = _sl_check(wide)
    assert v["gauss_over_score"].holds and v["squared_over_score"].holds
    equal = {**sl, "gauss_error": s.copy(), "squared_error": 2 * s}
    v = _sl_check(equal)
    assert v["gauss_over_score"].holds is False and v["squared_over_score"].holds is False


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_mixture_tensor_obeys_steins_identity(beta):
    # E[y S_4(x)] = sum_m kappa a_m^4, kappa = (beta^2 - 1) phi(beta); beta = 0: Gaussian.
    rng = np.random.default_rng(1)
    X, y = SL.draw_data(400_000, 2, beta, rng)
    T, Tp = SL.mixture_tensor(X, y, beta), SL.population_tensor(2, beta)
    assert abs(Tp[0, 0, 0, 0] - SL.predict({"beta": beta})["kappa"]) < 1e-15
    assert np.max(np.abs(T - Tp)) < 0.05           # sampling error at n = 4e5: about 0.01
    assert np.allclose(T, T.transpose(1, 0, 2, 3)) and np.allclose(T, T.transpose(0, 2, 1, 3))


def test_designed_loss_is_lowest_at_the_teacher_and_its_gradient_is_exact():
    T = SL.population_tensor(3, 0.5)
    L = SL._landscape(SL._tensor_p(T, 30.0))
    rng = np.random.default_rng(2)
    B = rng.normal(size=(3, 3))
    B /= np.linalg.norm(B, axis=0)
    assert L.value(np.eye(3).ravel()) < L.value(B.ravel())
    g = L.grad(B.ravel())
    h = 1e-6
    fd = [(L.value(B.ravel() + h * e) - L.value(B.ravel() - h * e)) / (2 * h) for e in np.eye(9)]
    assert np.allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_recovery_error_is_permutation_and_sign_invariant():
    A = np.eye(3)
    B = -np.eye(3)[:, [2, 0, 1]] * np.array([1.0, 2.0, 0.5])
    assert abs(SL.recovery_error(A, B)) < 1e-15
    C = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    assert SL.recovery_error(A, C) > 0.2


@pytest.mark.parametrize("change, word", [({"d": 1}, "width d"),
                                          ({"ns": (1000,)}, "ns"),
                                          ({"ns": (1000, 500)}, "ns"),
                                          ({"ns": (5, 1000)}, "ns"),
                                          ({"draws": 0}, "draws"),
                                          ({"beta": 1.2}, "beta"),
                                          ({"lr": -1.0}, "lr")])
def test_score_loss_bad_input(change, word):
    with pytest.raises(TestbedError, match=word):
        SL.experiment({**SL_SMALL, **change})


def test_score_loss_figure(sl, tmp_path):
    from testbed.claims.figures import score_loss_design as figure
    path = tmp_path / "sl.png"
    figure.draw(sl, SL.predict(SL_SMALL), SL_SMALL, path)
    assert path.stat().st_size > 10_000
