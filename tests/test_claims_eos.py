"""Edge-of-stability claims: eos-minimalist, self-stabilization and eos-network pass
at the quick scale, and each of their criteria fails when the prediction, a key
parameter or the outcome is deliberately wrong; diverging runs are flagged with their
step and never enter the statistics. Plus the toy's exact math in testbed.theory."""
import copy
import math

import numpy as np
import pytest

import testbed
from testbed.claims import eos_minimalist as em
from testbed.claims import eos_network as en
from testbed.claims import self_stabilization as ss
from testbed.claims._base import figure_module
from testbed.kernel import BUDGET, DIVERGED
from testbed.theory import edge_of_stability as th


@pytest.fixture(scope="module")
def em_run():
    params = em.SCALES["quick"]
    return em.experiment(params), em.predict(params), params


@pytest.fixture(scope="module")
def en_run():
    params = en.SCALES["quick"]
    return en.experiment(params), en.predict(params), params


@pytest.fixture(scope="module")
def ss_run(tmp_path_factory):
    params = ss.SCALES["quick"]
    with pytest.MonkeyPatch.context() as mp:       # predict caches the network PGD run
        mp.setenv("TESTBED_RESULTS", str(tmp_path_factory.mktemp("results")))
        return ss.experiment(params), ss.predict(params), params


# ------------------------------------------------------------------ theory


def test_closed_forms_match_the_catalogue_landscape():
    L = testbed.landscape("eos_minimalist")
    rng = np.random.default_rng(0)
    for x, y in rng.normal(size=(6, 2)) * 1.3:
        H = L.hessian(np.array([x, y]))
        assert th.sharpness(x, y) == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-12, abs=1e-12)
        # one GD step with the landscape's own gradient obeys the exact identity
        eta = 0.07
        x1, y1 = np.array([x, y]) - eta * L.grad(np.array([x, y]))
        assert x1 * x1 - y1 * y1 == pytest.approx(th.gd_identity(x, y, eta),
                                                  rel=1e-12, abs=1e-12 * (x1 * x1 + y1 * y1))


def test_valley_geometry():
    for eta in (0.3, 0.1, 0.02):
        xs, ys = th.eos_minimum(eta)
        assert xs * ys == pytest.approx(1.0, rel=1e-14)
        assert th.sharpness(xs, ys) == pytest.approx(2 / eta, rel=1e-12)
        x0, y0 = th.init_on_gf_orbit(eta, 1.3, 0.6)
        assert th.sharpness_gf(x0 ** 2 - y0 ** 2) == pytest.approx(1.3 * 2 / eta, rel=1e-12)
    # beta = |d S / d arclength|^2 along the valley, by finite differences
    q, h = 3.0, 1e-5
    s = math.sqrt(q * q + 4)
    x, y = math.sqrt((q + s) / 2), math.sqrt((s - q) / 2)
    t = np.array([x, -y]) / math.hypot(x, y)            # tangent of x y = 1
    pts = [np.array([x, y]) + k * h * t for k in (-1, 1)]
    pts = [pt / math.sqrt(pt[0] * pt[1]) for pt in pts]  # back onto the valley
    dS = th.sharpness(*pts[1]) - th.sharpness(*pts[0])
    dl = np.linalg.norm(pts[1] - pts[0])
    assert (dS / dl) ** 2 == pytest.approx(float(th.damian_beta(q)), rel=1e-6)


def test_balanced_map_flips_at_one_half():
    eta = np.array([0.3, 0.49, 0.51, 0.6])
    assert np.allclose(th.balanced_derivative(1.0, eta), 1 - 4 * eta)
    e1, e2, e3 = th.flip_points()
    assert e1 == 0.5 and 0.6 < e2 < e3 < 0.66
    assert th.attracting_cycle(0.55)[0] == 2 and th.attracting_cycle(0.645)[0] == 4


# ------------------------------------------------------------------ eos-minimalist


def _copy(data):
    return {k: np.array(v, copy=True) for k, v in data.items()}


def _fails(v, *names):
    assert v.status != "pass", v.status
    for name in names:
        assert v[name].holds is False, (name, v[name])


def test_eos_minimalist_passes(em_run):
    data, pred, params = em_run
    v = em.check(data, pred, params)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert v.headline == "gap_coefficient"
    assert v.measured["identity_max_rel_error"] < em.IDENTITY_TOL
    assert abs(v.measured["gap_coefficient"] - 0.5) < em.C0_TOL
    assert v.measured["bifurcation"]["cycles_checked_by_period"].get("2", 0) > 0
    assert v.measured["bifurcation"]["below_checked"] > 0


def test_eos_minimalist_fails_with_wrong_gap(em_run):
    data, pred, params = em_run
    for coef in (0.25, 1.0):
        wrong = dict(pred, gap_coefficient=coef,
                     final_sharpness=2 / pred["etas"] - coef * pred["etas"])
        _fails(em.check(data, wrong, params), "final_sharpness_law", "gap_coefficient")


def test_eos_minimalist_fails_with_wrong_step_size_in_identity(em_run):
    data, pred, params = em_run
    v = em.check(data, dict(pred, identity_eta_scale=1.001), params)
    _fails(v, "identity_max_rel_error")
    assert v.measured["identity_max_rel_error"] > em.IDENTITY_TOL


def test_eos_minimalist_fails_with_wrong_bifurcation(em_run):
    data, pred, params = em_run
    wrong = copy.deepcopy(pred)
    for i, eta in enumerate(wrong["bif_eta"]):        # the cycles of a map 2% off in eta
        if eta > 0.5:
            k, pts, m = th.attracting_cycle(eta * 1.02, max_period=em.MAX_PERIOD)
            wrong["bif_points"][i] = np.nan
            if k > 0:
                wrong["bif_period"][i], wrong["bif_multiplier"][i] = k, m
                wrong["bif_points"][i, :k] = pts
    v = em.check(data, wrong, params)
    _fails(v, "bif_cycle_mismatches")
    assert v.measured["bif_cycle_mismatches"] > 0


def test_eos_minimalist_fails_when_gd_oscillates_below_one_half(em_run):
    data, pred, params = em_run
    bad = _copy(data)
    r = int(np.flatnonzero(bad["bif_eta"] <= em.BELOW_HALF)[0])
    bad["bif_late"][::2, 0, r] *= 1.001               # a 2-cycle where a minimum is stable
    _fails(em.check(bad, pred, params), "bif_below_half_not_converged")


def test_eos_minimalist_fails_with_an_end_point_above_2_over_eta(em_run):
    data, pred, params = em_run
    bad = _copy(data)
    r = int(np.flatnonzero(bad["sweep_kind"] == 0)[0])
    eta = bad["sweep_eta"][r]
    q = th.imbalance_for_sharpness(1.001 * 2 / eta)   # a converged point of S > 2/eta
    s = math.sqrt(q * q + 4)
    bad["sweep_x"][r] = [math.sqrt((s + q) / 2), math.sqrt((s - q) / 2)]
    v = em.check(bad, pred, params)
    _fails(v, "max_eta_S_final_over_2")
    assert v.status == "not reproduced"                # the paper's effect, not the code


def test_eos_minimalist_fails_with_wrong_control_starts(em_run):
    data, pred, params = em_run
    ctrl = data["sweep_kind"] == 1
    for fac, name in ((0.78, "control_S_final_over_S_GF_max"),
                      (0.85, "control_S_final_over_S_GF_min")):
        bad = _copy(data)                               # controls said to start at fac
        x0 = th.init_on_gf_orbit(bad["sweep_eta"][ctrl], fac, bad["sweep_p0"][ctrl])
        bad["sweep_x0"][ctrl] = np.stack(x0, axis=1)
        _fails(em.check(bad, pred, params), name)


def test_eos_minimalist_fails_when_divergence_is_not_flagged(em_run):
    data, pred, params = em_run
    bad = _copy(data)
    r = int(np.flatnonzero(bad["sweep_kind"] == 2)[0])
    bad["sweep_status"][r] = BUDGET
    _fails(em.check(bad, pred, params), "divergent_starts_flagged")


def test_divergence_is_flagged_and_never_poisons_statistics(em_run):
    data, pred, params = em_run
    v = em.check(data, pred, params)
    div = v.measured["diverged"]
    assert len(div["eta"]) == len(params["etas"])      # one fac = 3 start per eta
    assert all(0 < s < 100 for s in div["step"])
    # a further replica diverging (an edge start, NaN end point) is reported and
    # excluded: the per-eta statistics of the others are unchanged and finite
    bad = _copy(data)
    r = int(np.flatnonzero(bad["sweep_kind"] == 0)[0])
    bad["sweep_status"][r], bad["sweep_stop"][r] = DIVERGED, 17
    bad["sweep_x"][r] = np.nan
    v2 = em.check(bad, pred, params)
    _fails(v2, "starts_converged")                     # an edge start did not converge
    assert 17 in v2.measured["diverged"]["step"]
    for e, row in v.measured["per_eta"].items():
        row2 = v2.measured["per_eta"][e]
        assert np.isfinite(row2["S_final_median"])
        assert row2["S_final_median"] == pytest.approx(row["S_final_median"], rel=1e-9)
    # and the bifurcation sweep reports the step sizes at which GD diverged, with steps
    assert v.measured["bifurcation"]["diverged_steps_by_eta"]


def test_figures_are_drawn(em_run, ss_run, en_run, tmp_path):
    for module, (data, pred, params) in ((em, em_run), (ss, ss_run), (en, en_run)):
        path = tmp_path / f"{module.ID}.png"
        figure_module(module).draw(data, pred, params, path)
        assert path.stat().st_size > 20_000


# ------------------------------------------------------------------ self-stabilization


def test_self_stabilization_passes(ss_run):
    data, pred, params = ss_run
    v = ss.check(data, pred, params)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert v.headline == "tracking"
    assert v.measured["mechanism_ratio_deviation"] <= ss.RATIO_TOL
    assert len(v.measured["diverged"]) == len(params["etas"])
    net = v.measured["network"]
    assert net["max_dist_to_pgd_after_crossing"] <= ss.NET_TRACK_TOL
    assert net["end_dist_to_pgd"] < net["end_dist_to_gradient_flow"]


def test_self_stabilization_fails_with_wrong_beta(ss_run):
    data, pred, params = ss_run
    for scale in (0.5, 2.0):
        _fails(ss.check(data, dict(pred, beta_scale=scale), params),
               "mechanism_ratio_deviation")


def test_self_stabilization_fails_with_wrong_constraint(ss_run, tmp_path, monkeypatch):
    data, _, params = ss_run
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path))
    # PGD onto S <= 2.2/eta on the toy: the tracking and the end points fail
    wrong = ss.predict(dict(params, cap_scale=1.1, network=None))
    v = ss.check(data, wrong, dict(params, network=None))
    _fails(v, "tracking", "pgd_end_deviation", "gd_end_gap_over_eta")
    # on the network: gradient flow in place of the constrained trajectory fails
    data_, pred, params = ss_run
    wrong = dict(pred, net_pgd_x=data_["net_gf_x"])
    _fails(ss.check(data_, wrong, params), "net_end_pgd_over_flow")
    # and a constrained trajectory said to hold a cap it exceeds
    _fails(ss.check(data_, dict(pred, cap_scale=0.9), params), "net_pgd_over_cap")


def test_self_stabilization_network_tracking_fails_far_from_pgd(ss_run):
    data, pred, params = ss_run
    x0 = data["net_x0"]                                 # PGD said to stay at the start
    wrong = dict(pred, net_pgd_x=np.repeat(x0[None, :], pred["net_pgd_x"].shape[0], 0))
    _fails(ss.check(data, wrong, params), "net_tracking")


def test_self_stabilization_flags_runs_that_miss_the_edge_or_diverge(ss_run):
    data, pred, params = ss_run
    bad = _copy(data)
    bad["gd_status_0"][0] = DIVERGED                    # a start meant to reach the edge
    _fails(ss.check(bad, pred, params), "starts_through_edge")
    bad = _copy(data)
    div = bad["fac_0"] >= ss.DIVERGENT_FAC
    bad["end_status_0"][div] = BUDGET                   # the fac = 3 start not flagged
    _fails(ss.check(bad, pred, params), "divergent_starts_flagged")


# ------------------------------------------------------------------ eos-network


def test_eos_network_passes(en_run):
    data, pred, params = en_run
    v = en.check(data, pred, params)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert v.headline == "last_quarter_eta_S_over_2"
    assert len(v.measured["per_eta"]) == len(params["etas"]) >= 3
    for row in v.measured["per_eta"]:
        assert row["start"] < en.START_MAX              # progressive sharpening from below
        assert en.BAND[0] <= row["last_quarter_min"] <= row["last_quarter_max"] <= en.BAND[1]


def test_eos_network_fails_with_wrong_threshold(en_run):
    data, pred, params = en_run
    for factor in (1.25, 2.0):                          # 2/(1.25 eta), and 1/eta
        wrong = dict(pred, threshold=pred["threshold"] / factor)
        _fails(en.check(data, wrong, params), "last_quarter_eta_S_over_2",
               "median_after_crossing")
    # 4/eta: the sharpness never reaches the threshold
    _fails(en.check(data, dict(pred, threshold=pred["threshold"] * 2), params),
           "first_crossing_fraction")


def test_eos_network_fails_when_starting_at_the_edge(en_run):
    data, pred, params = en_run
    bad = _copy(data)
    bad["sharpness"][0] = 0.95 * 2 / bad["etas"]        # no progressive sharpening
    _fails(en.check(bad, pred, params), "start_eta_S_over_2")


def test_eos_network_fails_when_the_loss_does_not_fall_or_is_monotone(en_run):
    data, pred, params = en_run
    bad = _copy(data)
    bad["loss"][-1] = 10 * bad["loss"][0]               # ends above its value at the edge
    _fails(en.check(bad, pred, params), "loss_final_over_loss_at_crossing")
    bad = _copy(data)
    bad["loss"] = np.fmin.accumulate(bad["loss"], axis=0)   # never rises
    _fails(en.check(bad, pred, params), "loss_increases_after_crossing")


def test_eos_network_divergence_is_flagged_and_excluded(en_run):
    data, pred, params = en_run
    v = en.check(data, pred, params)
    assert v.measured["diverged"] == [{"eta": params["diverge_eta"],
                                       "step": int(data["stop_step"][-1])}]
    assert 0 < v.measured["diverged"][0]["step"] < params["steps"]
    assert all(row["eta"] != params["diverge_eta"] for row in v.measured["per_eta"])
    assert all(np.isfinite(row["last_quarter_median"]) for row in v.measured["per_eta"])
    bad = _copy(data)
    bad["status"][-1] = BUDGET
    _fails(en.check(bad, pred, params), "divergent_run_flagged")
    bad = _copy(data)
    bad["status"][0] = DIVERGED                         # a step size meant to converge
    v = en.check(bad, pred, params)
    _fails(v, "converging_runs_diverged")
    assert len(v.measured["per_eta"]) == len(params["etas"]) - 1


def test_eos_network_sharpness_is_certified(en_run):
    """Every sharpness carries its Lanczos residual bound: all converge to 1e-10 of the
    value; a point that did not converge is counted, and a loose bound fails."""
    data, pred, params = en_run
    n_eta = len(params["etas"])
    v = en.check(data, pred, params)
    assert v["sharpness_relative_bound"].holds
    assert v.measured["sharpness_not_converged"] == 0
    assert 0 < v.measured["sharpness_max_relative_bound"] <= en.LANCZOS_TOL
    assert v.measured["sharpness_points"] == int(np.isfinite(data["sharpness"][:, :n_eta]).sum())
    bad = _copy(data)
    bad["sharpness_converged"][5, 0] = False
    bad["sharpness_bound"][5, 0] = 1e-3 * bad["sharpness"][5, 0]
    v = en.check(bad, pred, params)
    _fails(v, "sharpness_relative_bound")
    assert v.measured["sharpness_not_converged"] == 1
    assert v.measured["sharpness_max_relative_bound"] == pytest.approx(1e-3)


def test_top_eigenpairs_is_curvature_lanczos_and_raises_unconverged(monkeypatch):
    """theory.top_eigenpairs is a thin call of curvature.top_eigenvalues (one owner of
    eigenvalues): exact eigenpairs of a known spectrum, warm start accepted, and a
    TestbedError, not a silent number, when Lanczos does not converge."""
    lam = np.concatenate([np.linspace(0.0, 1.0, 296), [7.0, 8.0, 9.0, 10.0]])
    L = testbed.landscape("quadratic", d=300, lam=lam)
    x = np.zeros(300)
    w, V = th.top_eigenpairs(L, x, 4, tol=1e-10)
    np.testing.assert_allclose(w, [10, 9, 8, 7], rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.abs(V[-4:, :]), np.eye(4)[::-1], atol=1e-6)
    S, v = th.top_eigenpair(L, x, v0=V[:, 0] + 1e-3)
    assert S == pytest.approx(10.0, abs=1e-9) and abs(abs(v[-1]) - 1) < 1e-6
    e = th.top_eigs(L, x, 1, V[:, 0])
    assert e.converged and e.bounds[0] <= 1e-10 * 10 and e.n_iter >= 20
    # a start inside an invariant subspace (the eigenvector of 9) still finds 10: the
    # Krylov space goes on from a fresh direction, as ARPACK's did
    e = th.top_eigs(L, x, 1, V[:, 1])
    assert e.converged and abs(e.values[0] - 10.0) <= e.bounds[0] + 1e-12
    from testbed import curvature
    real = curvature.top_eigenvalues

    def unconverged(*a, **kw):
        e = real(*a, **kw)
        return curvature.Eigs(e.values, e.bounds * 0 + 1.0, 400, False, e.vectors)
    monkeypatch.setattr(curvature, "top_eigenvalues", unconverged)
    with pytest.raises(testbed.TestbedError, match="not converged"):
        th.top_eigenpair(L, x)
