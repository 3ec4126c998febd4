"""Sharpness-aware minimisation: the SAM-family rules' behaviour at their boundaries
(bad hyper-parameters, a zero gradient, an ascent point off the landscape's domain),
the exact-max and adaptive variants against closed forms, and the claims
sam-quadratic and sam-flat-bias: they pass at the quick scale, and each criterion
fails when the prediction, a key parameter or the outcome is deliberately wrong.
(The rules' NumPy twins are in tests/test_rules.py.)"""
import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import brentq

import testbed
from testbed import TestbedError, nets
from testbed.claims import sam_flat_bias as fb
from testbed.claims import sam_quadratic as sq
from testbed.claims._base import figure_module
from testbed.kernel import BUDGET, DIVERGED

SAM_RULES = ("sam", "sam_unnormalized", "asam", "sam_exact")


@pytest.fixture(scope="module")
def quad():
    return testbed.landscape("quadratic", d=3, lam=[0.5, 1.0, 2.0])


@pytest.fixture(scope="module")
def tiny_net():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    L = nets.network([nets.Dense(3, 2, act="identity")], X, Y, "mse")
    return L, rng.normal(size=L.d)


# ------------------------------------------------------------------ the rules

@pytest.mark.parametrize("rule", SAM_RULES + ("sam_msharp",))
@pytest.mark.parametrize("rho", [-0.1, math.inf, -math.inf, math.nan])
def test_rho_outside_its_domain_is_refused(quad, tiny_net, rule, rho):
    L, x0 = (tiny_net if rule == "sam_msharp" else (quad, np.ones(3)))
    extra = {"batch": 4, "m": 2} if rule == "sam_msharp" else {}
    with pytest.raises(TestbedError, match="'rho'"):
        testbed.run(L, rule, x0, 2, eta=0.1, rho=rho, **extra)


@pytest.mark.parametrize("rule, bad", [
    ("asam", {"eta_asam": -0.01}), ("asam", {"eta_asam": math.inf}),
    ("sam_exact", {"alpha": 0.0}), ("sam_exact", {"tol": 0.0}),
    ("sam_exact", {"max_iter": 0}), ("sam_exact", {"max_iter": 2.5}),
    ("sam_msharp", {"m": 0}), ("sam_msharp", {"m": 1.5}), ("sam_msharp", {"batch": 0}),
])
def test_other_hyper_parameters_are_checked(quad, tiny_net, rule, bad):
    L, x0 = (tiny_net if rule == "sam_msharp" else (quad, np.ones(3)))
    hyper = {"eta": 0.1, **({"batch": 4, "m": 2} if rule == "sam_msharp" else {}), **bad}
    with pytest.raises(TestbedError, match=f"'{next(iter(bad))}'"):
        testbed.run(L, rule, x0, 2, **hyper)


@pytest.mark.parametrize("rule", SAM_RULES)
def test_zero_gradient_is_a_plain_gd_step(rule):
    """At a critical point (here the strict saddle of 1/2 sum lam_i x_i^2, lam_0 < 0)
    the normalised ascent rho g / |g| is undefined: the documented behaviour is eps = 0,
    a plain GD step, which stays put, with no NaN; a start next to it moves."""
    L = testbed.landscape("quadratic", d=3, lam=[-0.5, 1.0, 2.0])
    X0 = np.array([[0.0, 0.0, 0.0], [1e-3, 0.0, 0.0]])
    res = testbed.run(L, rule, X0, 20, eta=0.1, rho=0.3, coords=(0, 1, 2))
    gd = testbed.run(L, "gd", X0, 20, eta=0.1, coords=(0, 1, 2))
    assert np.all(res.status == BUDGET)
    np.testing.assert_array_equal(res.traces["coords"][:, :, 0], gd.traces["coords"][:, :, 0])
    np.testing.assert_array_equal(res.x[0], 0.0)
    assert np.all(np.isfinite(res.traces["coords"])) and not np.array_equal(res.x[1], X0[1])


def test_zero_sub_batch_gradient_is_a_plain_step():
    """sam_msharp where every sub-batch gradient is exactly zero (zero weights, zero
    targets: zero residuals): eps = 0, a plain step, which stays put. (A gradient that
    is zero only to rounding is not: its normalised direction is a full rho step.)"""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 3)), np.zeros((10, 2))
    L = nets.network([nets.Dense(3, 2, act="identity")], X, Y, "mse")
    res = testbed.run(L, "sam_msharp", np.zeros(L.d), 5, eta=0.1, rho=0.5, batch=6, m=2)
    assert res.status[0] == BUDGET
    np.testing.assert_array_equal(res.x[0], 0.0)


def _log_barrier():
    x = sp.Symbol("x", real=True)
    return testbed.symbolic("test_sam_log_barrier", x**2 - sp.log(x), (x,))


@pytest.mark.parametrize("rule, rho", [
    ("sam_unnormalized", 0.2), ("asam", 2.0), ("sam_exact", 1.0),
    ("sam", 1.0)])
def test_ascent_point_off_the_domain_is_flagged_with_its_step(rule, rho):
    """f = x^2 - log x is NaN for x < 0 (its gradient 2x - 1/x is not). From x = 0.3
    the ascent goes toward 0 and, with this rho, past it: the replica is flagged
    diverged at that step (0) with x left at x_0, the ascent point's loss being what
    the rule returns; the other replica (small rho) runs on to the minimum."""
    L = _log_barrier()
    X0 = np.array([[0.3], [0.3]])
    res = testbed.run(L, rule, X0, 50, eta=0.05, rho=np.array([rho, 0.01]), coords=(0,))
    assert res.status.tolist() == [DIVERGED, BUDGET]
    assert res.stop_step[0] == 0 and res.x[0, 0] == 0.3
    assert abs(res.x[1, 0] - 2**-0.5) < 0.05


def test_overflowing_ascent_point_is_flagged(quad):
    """rho = 1e200: the loss at the ascent point overflows to inf (its gradient does not)."""
    for rule in ("sam_unnormalized", "sam_exact", "asam"):
        res = testbed.run(quad, rule, np.ones(3), 10, eta=0.1, rho=1e200)
        assert res.status[0] == DIVERGED and res.stop_step[0] == 0, rule
        np.testing.assert_array_equal(res.x[0], 1.0)


def _trust_region(lam, x, rho):
    """argmax_{|e| <= rho} 1/2 (x + e)^T diag(lam) (x + e), lam > 0, x_1 != 0:
    e_i = lam_i x_i / (mu - lam_i) with mu > lam_max solving |e| = rho."""
    F = lambda mu: np.sum((lam * x / (mu - lam)) ** 2) - rho**2
    top = lam.max()
    mu = brentq(F, top * (1 + 1e-14), top + np.linalg.norm(lam * x) / rho + 1.0,
                xtol=1e-15, rtol=1e-15)
    return lam * x / (mu - lam)


def test_sam_exact_reaches_the_trust_region_maximiser():
    """On a convex quadratic the inner ascent ends at the global maximiser over the
    ball (the trust-region solution), recovered from one step: eps = A^-1 G - x with
    G = (x_0 - x_1) / eta; with max_iter = 1 it is SAM's point."""
    lam = np.array([2.0, 1.0, 0.5, 0.1])
    L = testbed.landscape("quadratic", d=4, lam=lam)
    X0 = np.random.default_rng(1).normal(size=(12, 4)) * np.array([[1.0], [0.1], [0.02]] * 4)
    eta, rho = 0.1, 0.05
    fine = testbed.run(L, "sam_exact", X0, 1, eta=eta, rho=rho, tol=1e-13, max_iter=5000)
    default = testbed.run(L, "sam_exact", X0, 1, eta=eta, rho=rho)
    assert fine.scalars[:, 0].max() == 0 and default.scalars[:, 0].max() == 0  # met tol
    sam = testbed.run(L, "sam", X0, 1, eta=eta, rho=rho)
    gaps = []
    for r in range(X0.shape[0]):
        exact = _trust_region(lam, X0[r], rho)
        for res, tol in ((fine, 1e-11), (default, 1e-8)):
            eps = (X0[r] - res.x[r]) / eta / lam - X0[r]
            np.testing.assert_allclose(eps, exact, rtol=0, atol=tol * rho)
        eps_sam = (X0[r] - sam.x[r]) / eta / lam - X0[r]
        f = lambda e: 0.5 * np.sum(lam * (X0[r] + e) ** 2)
        gaps.append((f(exact) - f(eps_sam)) / (f(exact) - f(0 * exact)))
    # the one step falls short of the max off the axes, most where |x| ~ rho
    assert max(gaps) > 0.1 and min(gaps) < 1e-3
    one = testbed.run(L, "sam_exact", X0, 1, eta=eta, rho=rho, max_iter=1)
    np.testing.assert_allclose(one.x, sam.x, rtol=1e-14, atol=1e-16)


def test_asam_ascent_is_covariant_under_diagonal_rescaling():
    """With eta_asam = 0 the ascent point scales with the weights: on f'(w') = f(D^-1 w')
    (lam' = lam / D^2) started at D x, eps' = D eps (Kwon et al. 2021's scale
    invariance); SAM's eps is not."""
    lam, D = np.array([2.0, 1.0, 0.5]), np.array([3.0, 0.5, 2.0])
    x0 = np.array([0.7, -0.4, 0.9])
    La = testbed.landscape("quadratic", d=3, lam=lam)
    Lb = testbed.landscape("quadratic", d=3, lam=lam / D**2)
    eta = 0.01

    def eps(L, lam_, x, rule, **kw):
        x1 = testbed.run(L, rule, x, 1, eta=eta, **kw).x[0]
        return (x - x1) / eta / lam_ - x

    for rule, kw, covariant in (("asam", {"rho": 0.5, "eta_asam": 0.0}, True),
                                ("sam", {"rho": 0.5}, False)):
        ea = eps(La, lam, x0, rule, **kw)
        eb = eps(Lb, lam / D**2, D * x0, rule, **kw)
        assert np.allclose(eb, D * ea, rtol=1e-10, atol=1e-12) == covariant, rule


def test_sam_msharp_with_one_sub_batch_of_everything_is_sam(tiny_net):
    L, x0 = tiny_net
    n = nets.packed_data(L)[0].shape[0]
    a = testbed.run(L, "sam_msharp", x0, 15, eta=0.2, rho=0.1, batch=n, m=n)
    b = testbed.run(L, "sam", x0, 15, eta=0.2, rho=0.1)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-12, atol=1e-14)
    # m = 1 (each sample its own ascent) is a different method
    c = testbed.run(L, "sam_msharp", x0, 15, eta=0.2, rho=0.1, batch=n, m=1)
    assert np.abs(c.x - b.x).max() > 1e-4


def test_sam_msharp_needs_a_finite_sum(quad):
    with pytest.raises(TestbedError, match="value_grad_batch"):
        testbed.run(quad, "sam_msharp", np.ones(3), 2, eta=0.1, batch=2, m=1)


# ------------------------------------------------------------------ sam-quadratic

@pytest.fixture(scope="module")
def sq_run():
    params = sq.SCALES["quick"]
    return sq.experiment(params), sq.predict(params), params


def _copy(data):
    return {k: np.array(v, copy=True) for k, v in data.items()}


def _fails(v, *names):
    assert v.status != "pass", v.status
    for name in names:
        assert v[name].holds is False, (name, v[name])


def test_sam_quadratic_passes(sq_run):
    data, pred, params = sq_run
    v = sq.check(data, pred, params)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert v.headline == "cycle_amplitude_rel_error"
    assert v.measured["cycle_amplitude_rel_error"] < 1e-13
    # the spec's example: d = 20, eta = 0.3, rho = 0.05 -> |w_1| = 0.15
    k = params["cycle_etas"].index(0.3)
    assert v.measured["cycle_amplitude_measured"][k] == pytest.approx(0.15, rel=1e-12)


def test_sam_quadratic_fails_with_a_wrong_amplitude_law(sq_run):
    data, pred, params = sq_run
    for law in (lambda l1, e, r: e * l1 * r / (2 + e * l1),
                lambda l1, e, r: e * l1 * r / (2 - e * l1) * (1 + 1e-8)):
        _fails(sq.check(data, dict(pred, amplitude_law=law), params),
               "cycle_amplitude_rel_error", "sam_below_threshold_cycle_rel_error")


def test_sam_quadratic_fails_when_the_cycle_has_not_formed(sq_run):
    _, pred, params = sq_run
    short = dict(params, cycle_steps=40)           # too few steps for the small directions
    _fails(sq.check(sq.experiment(short), sq.predict(short), short), "cycle_off_axis_max")


def test_sam_quadratic_fails_with_a_wrong_edge(sq_run):
    data, pred, params = sq_run
    wrong = lambda g, eta, rho: sq.sam_edge(g, eta, rho / 2)       # 4 rho for 8 rho
    _fails(sq.check(data, dict(pred, sam_edge=wrong), params), "cycle_at_sam_edge")
    _fails(sq.check(data, dict(pred, sam_edge=lambda g, eta, rho: 2 / eta + 0 * g), params),
           "cycle_at_sam_edge")


def test_sam_quadratic_fails_with_swapped_thresholds(sq_run):
    data, pred, params = sq_run
    crit = pred["eta_crit"]
    # unnormalised SAM said to have GD's threshold 2 / lam_1, SAM the USAM one
    wrong = dict(pred, eta_crit={"sam": crit["sam_unnormalized"],
                                 "sam_unnormalized": crit["sam"]})
    _fails(sq.check(data, wrong, params), "usam_threshold_bracket", "sam_threshold_bracket")
    # off by 3 delta: outside the bracket
    d = params["delta"]
    wrong = dict(pred, eta_crit={k: v * (1 + 3 * d) for k, v in crit.items()})
    _fails(sq.check(data, wrong, params), "usam_threshold_bracket", "sam_threshold_bracket")


def test_sam_quadratic_fails_when_divergence_is_not_flagged(sq_run):
    data, pred, params = sq_run
    bad = _copy(data)
    r = int(np.flatnonzero(np.isclose(bad["sam_rel"], params["far"]))[0])
    bad["sam_status"][r] = BUDGET
    _fails(sq.check(bad, pred, params), "far_above_diverged")


# ------------------------------------------------------------------ sam-flat-bias

@pytest.fixture(scope="module")
def fb_run():
    params = fb.SCALES["quick"]
    return fb.experiment(params), fb.predict(params), params


def test_sam_flat_bias_passes(fb_run):
    data, pred, params = fb_run
    v = fb.check(data, pred, params)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert v.headline == "sam_drift_rel_error"
    # SAM drifts to the flat end, GD barely moves; the one step falls short of the max
    for row in v.measured["per_rho"].values():
        assert row["y_final_sam"] < 0.5 * params["start"][1]
    assert v.measured["gd_y_final"] > 1.9
    assert 0 < v.measured["one_step_shortfall"]["max"] < 0.01


def _scaled(drifts, factor):
    return {r: y[0] * (y / y[0]) ** factor for r, y in drifts.items()}


def test_sam_flat_bias_fails_with_a_wrong_drift(fb_run):
    data, pred, params = fb_run
    # the effective step linear in rho (rho for rho^2 at rho < 1: slower) or doubled
    for k, factor in (("leading", 2.0), ("leading", 0.5)):
        _fails(fb.check(data, dict(pred, drift=_scaled(pred["drift"], factor)), params),
               "sam_drift_rel_error")
    _fails(fb.check(data, dict(pred, drift_exact=_scaled(pred["drift_exact"], 2.0)), params),
           "exact_drift_rel_error")


def test_sam_flat_bias_fails_without_the_gap(fb_run):
    data, pred, params = fb_run
    # the exact maximiser predicted to drift like the one step: ratio 1
    _fails(fb.check(data, dict(pred, drift_exact=pred["drift_sam"]), params),
           "exact_over_onestep_ratio")


def test_sam_flat_bias_fails_with_the_one_step_as_the_maximiser(fb_run):
    data, pred, params = fb_run

    def one_step(x, y, rho):
        g = fb._grad(x, y)
        return np.array([x, y]) + rho * g / np.linalg.norm(g)

    _fails(fb.check(data, dict(pred, ascent_max=one_step), params), "exact_ascent_matches_max")


def test_sam_flat_bias_fails_when_the_inner_ascent_runs_out(fb_run):
    data, pred, params = fb_run
    bad = _copy(data)
    bad["exact_scalars"][0, 0] = 3.0
    _fails(fb.check(bad, pred, params), "exact_inner_converged")


def test_sam_flat_bias_fails_when_gd_drifts_or_ends_sharper(fb_run):
    data, pred, params = fb_run
    bad = _copy(data)
    bad["gd_xy"] = bad["sam_xy"][:, :, :1].copy()        # "GD" that drifts like SAM
    _fails(fb.check(bad, pred, params), "gd_total_drift", "gd_drift_law",
           "end_sharpness_sam_below_gd")
    wrong = dict(pred, gd_displacement=-params["eta"] * 2.0 * 0.09)   # no geometric sum
    _fails(fb.check(data, wrong, params), "gd_drift_law")


def test_sam_flat_bias_fails_with_a_wrong_basin_threshold(fb_run):
    data, pred, params = fb_run
    rs = pred["wells_rho_star"]
    _fails(fb.check(data, dict(pred, wells_rho_star=1.2 * rs), params),
           "wells_sharp_cycle_below_rel_error")
    v = fb.check(data, dict(pred, wells_rho_star=0.85 * rs), params)
    _fails(v, "wells_sharp_cycle_left_above")
    assert v.status == "not reproduced"                 # the paper's effect, not the code
    law = lambda eta, rho: eta * 16 * rho / (2 - eta * 16) * (1 + 1e-5)
    _fails(fb.check(data, dict(pred, wells_amplitude=law), params),
           "wells_sharp_cycle_below_rel_error")


def test_sam_flat_bias_fails_when_gd_leaves_the_sharp_minimum(fb_run):
    data, pred, params = fb_run
    bad = _copy(data)
    bad["wells_gd_x"][-1] = fb.FLAT_MIN
    _fails(fb.check(bad, pred, params), "wells_gd_stays_sharp")


def test_figures_are_drawn(sq_run, fb_run, tmp_path):
    for module, (data, pred, params) in ((sq, sq_run), (fb, fb_run)):
        path = tmp_path / f"{module.ID}.png"
        figure_module(module).draw(data, pred, params, path)
        assert path.stat().st_size > 20_000
