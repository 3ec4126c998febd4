"""The saddle-escape claims (gd-saddle-escape, perturbed-gd-escape) and the theory they
rest on: the quick scale passes; each check fails when its prediction (or a key
parameter of it) is deliberately wrong; a budget too short gives 'not escaped'
(status budget), not a hang; bad input gives a TestbedError.

Compiled ensembles used (two, shared by every test): strict_saddle x {gd,
perturbed_gd} x escape event."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import testbed
from testbed.claims import gd_saddle_escape as gse
from testbed.claims import perturbed_gd_escape as pge
from testbed.claims._base import PASS, figure_module
from testbed.errors import TestbedError
from testbed.kernel import BUDGET, DONE, EVENT
from testbed.theory import saddle_escape as th


# the engine's refusal of a hyper-parameter outside its domain (either wording)
_REFUSED = "'{}'( must be positive| = .* is outside its domain)"

@pytest.fixture(scope="module")
def gd_quick():
    params = gse.SCALES["quick"]
    return gse.experiment(params), params


@pytest.fixture(scope="module")
def pgd_quick():
    params = pge.SCALES["quick"]
    return pge.experiment(params), params


def _fails(v, *names):
    """Each named criterion does not hold, and the verdict is not a pass."""
    for name in names:
        assert v[name].holds is False, (name, v[name])
    assert v.status != PASS and v.passed is False


# ---- gd-saddle-escape ---------------------------------------------------------------

def test_gd_escape_quick_passes_exactly(gd_quick):
    data, params = gd_quick
    v = gse.check(data, gse.predict(params), params)
    assert v.status == PASS and v.passed is True, v.failed
    assert v.headline is None and v.criteria[0].name == "escape_step_exact"
    assert v["escape_step_exact"].measured == 0                 # tolerance 0 steps
    assert v["law2_max_abs_error"].measured <= gse.LAW2_TOL
    assert v.measured["zero_status"] == "budget"                # not 'event'
    assert v["manifold_x1_stays_zero"].measured == 0.0
    assert v.measured["zero_steps_observed"] == params["steps_manifold"]
    assert v.measured["min_integer_margin"] > gse.MIN_MARGIN
    assert v.measured["near_integer_deltas"] == []
    assert abs(v.measured["fitted_slope"] - math.log(10) / math.log(1.1)) < 0.1


@pytest.mark.parametrize("wrong", [{"eta": 0.11}, {"eta": 0.09}, {"lam1": -1.1},
                                   {"lam1": -0.9}])
def test_gd_escape_fails_with_eta_or_gamma_off_by_10_percent(gd_quick, wrong):
    data, params = gd_quick
    v = gse.check(data, gse.predict({**params, **wrong}), params)
    _fails(v, "escape_step_exact", "law2_max_abs_error")


def test_gd_escape_law2_check_catches_a_shift(gd_quick):
    data, params = gd_quick
    wrong = gse.predict(params)
    wrong["law2"] = wrong["law2"] + 2.5
    v = gse.check(data, wrong, params)
    _fails(v, "law2_max_abs_error")
    assert [c.name for c in v.failed] == ["law2_max_abs_error"]


def test_gd_escape_adjacent_step_allowed_only_at_an_integer_boundary(gd_quick):
    """One step early is allowed where the predicted phase lies within MIN_MARGIN above
    an integer (rounding could put it below), and nowhere else; two steps never."""
    data, params = gd_quick
    pred = gse.predict(params)
    early = {**data, "T": data["T"] - np.eye(data["T"].size, dtype=data["T"].dtype)[3]}
    _fails(gse.check(early, pred, params), "escape_step_exact")
    near = {**pred, "phase": pred["phase"].copy(), "margin": pred["margin"].copy()}
    near["phase"][3] = pred["exact"][3] - 1 + 1e-12        # floor(phase) + 1 = exact
    near["margin"][3] = 1e-12
    v = gse.check(early, near, params)
    assert v["escape_step_exact"].holds is True and v.measured["near_integer_deltas"] == [
        data["delta"][3]]
    two = {**data, "T": data["T"] - 2 * np.eye(data["T"].size, dtype=data["T"].dtype)[3]}
    _fails(gse.check(two, near, params), "escape_step_exact")


def test_gd_escape_manifold_check_catches_a_leak(gd_quick):
    data, params = gd_quick
    leaked = {**data, "zero_x1_max_abs": np.array(1e-300)}
    _fails(gse.check(leaked, gse.predict(params), params), "manifold_x1_stays_zero")
    fired = {**data, "zero_status": np.array([EVENT], np.int8)}
    _fails(gse.check(fired, gse.predict(params), params), "manifold_x1_stays_zero")


def test_gd_escape_manifold_check_catches_no_convergence(gd_quick):
    data, params = gd_quick
    stuck = {**data, "zero_final_norm": np.array(1e-6)}
    v = gse.check(stuck, gse.predict(params), params)
    _fails(v, "manifold_converges_to_saddle")


def test_gd_escape_short_budget_reports_not_escaped(gd_quick):
    _, params = gd_quick
    short = {**params, "steps": 100, "steps_manifold": 500}
    data = gse.experiment(short)
    late = gse.predict(short)["exact"] > 100
    assert late.any() and np.all(data["status"][late] == BUDGET)     # budget, no hang
    assert np.all(data["T"][late] == 100)
    v = gse.check(data, gse.predict(short), short)
    _fails(v, "all_escaped", "escape_step_exact")
    assert v["all_escaped"].measured == int(late.sum())
    assert v.measured["not_escaped"] == data["delta"][late].tolist()


def test_gd_escape_bad_input():
    params = gse.SCALES["quick"]
    for lam1 in (0.0, 0.5):
        with pytest.raises(TestbedError, match="not negative"):
            gse.predict({**params, "lam1": lam1})
        with pytest.raises(TestbedError, match="not negative"):
            gse.experiment({**params, "lam1": lam1})
    with pytest.raises(TestbedError, match="sigma"):
        gse.experiment({**params, "sigma": 0.0})


# ---- perturbed-gd-escape ------------------------------------------------------------

def test_perturbed_escape_quick_passes(pgd_quick):
    data, params = pgd_quick
    v = pge.check(data, pge.predict(params), params)
    assert v.status == PASS and v.passed is True, v.failed
    assert v.headline == "slope_vs_asymptotic"
    for d in params["ds"]:
        assert v[f"ks_d{d}"].measured < v[f"ks_d{d}"].tolerance
    assert abs(v.measured["slope_over_asymptotic"] - 1) < pge.REL_SLOPE
    assert v["pgd_success_min"].measured >= pge.MIN_SUCCESS
    assert abs(pge.ks_constant(1) - 1.628) < 1e-3          # claims.md's 1.63, one test
    assert abs(2 * 3 * math.exp(-2 * pge.ks_constant(3) ** 2) - 0.01) < 1e-12


@pytest.mark.parametrize("wrong", [{"eta": 0.11}, {"eta": 0.09}, {"lam1": -1.1},
                                   {"lam1": -0.9}])
def test_perturbed_escape_fails_with_eta_or_gamma_off_by_10_percent(pgd_quick, wrong):
    data, params = pgd_quick
    v = pge.check(data, pge.predict({**params, **wrong}), params)
    _fails(v, "ks_d10", "slope_vs_exact", "slope_vs_asymptotic")


@pytest.mark.parametrize("wrong", [{"law": "sphere"}, {"law": "gaussian"},
                                   {"quartic": 0.0}, {"r": 1.1e-3}])
def test_perturbed_escape_ks_catches_the_wrong_law(pgd_quick, wrong):
    """Sphere (Beta(1/2, (d-1)/2)) and N(0, r^2/d I) differ from the ball's law by a
    KS distance 0.051 and 0.032 at d = 10, above the quick bound 1.788/sqrt(6000) =
    0.023 (and the paper's 1.828/sqrt(20000) = 0.013); the difference falls like 1/d
    (0.005 and 0.003 at d = 100), so only d = 10 tells them apart, at either N. The
    pure-quadratic law (a_t = R mu^-t) is off by 0.06 at every d; r off by 10% by
    ~0.05."""
    data, params = pgd_quick
    v = pge.check(data, pge.predict({**params, **wrong}), params)
    _fails(v, "ks_d10")


def test_perturbed_escape_slope_check_alone(pgd_quick):
    data, params = pgd_quick
    wrong = pge.predict(params)
    wrong["slope"], _ = th.mean_escape_slope(params["ds"], params["r"], 1.1 * params["eta"],
                                             params["radius"])
    v = pge.check(data, wrong, params)
    _fails(v, "slope_vs_exact", "exact_slope_vs_asymptotic")
    assert all(v[f"ks_d{d}"].holds for d in params["ds"])
    assert v["slope_vs_asymptotic"].holds is True         # the measured slope is fine


def test_perturbed_escape_rule_check(pgd_quick):
    data, params = pgd_quick
    twice = {**data, "esc_n_pert": data["esc_n_pert"].copy()}
    twice["esc_n_pert"][5] = 2
    _fails(pge.check(twice, pge.predict(params), params), "rule_perturbs_once_at_0")


def test_perturbed_escape_unexpected_non_escape_fails(pgd_quick):
    """A replica still at the saddle after 600 steps, where the law expects 1e-17 of
    them: a failure (and the slope, whose means it would bias, is undecided)."""
    data, params = pgd_quick
    stuck = {**data, "esc_status": data["esc_status"].copy(), "esc_T": data["esc_T"].copy()}
    stuck["esc_status"][0], stuck["esc_T"][0] = BUDGET, params["steps"]
    v = pge.check(stuck, pge.predict(params), params)
    _fails(v, "budget_non_escapes")
    assert v["slope_vs_exact"].holds is None and v.status == "fail"


def test_perturbed_escape_saddle_return_count_is_checked(pgd_quick):
    data, params = pgd_quick
    wrong = pge.predict(params)
    wrong["p_saddle_return"] = {d: 100 * p for d, p in wrong["p_saddle_return"].items()}
    v = pge.check(data, wrong, params)        # expects ~9 returns, sees 0
    _fails(v, "saddle_returns")


def test_perturbed_escape_hessian_check(pgd_quick):
    data, params = pgd_quick
    off = {**data, "pgd_eig_check_err": np.array(1e-6)}
    _fails(pge.check(off, pge.predict(params), params), "hessian_diagonal")


def test_lax_pgd_termination_fails_the_end_to_end_check(pgd_quick):
    """t_thres = 5: after 5 steps the kick has not lowered f, so PGD returns the saddle
    (lambda_min = -1) in most seeds; the >= 99% check must fail."""
    data, params = pgd_quick
    lax = {**params, "t_thres": 5, "pgd_ds": [10], "pgd_seeds": 100}
    data = {**data, **pge._pgd_runs(lax)}
    v = pge.check(data, pge.predict(lax), lax)
    _fails(v, "pgd_success_min")
    assert v.measured["pgd_success"][10] < 0.5


def test_pgd_saddle_return_rate_matches_the_law():
    """t_thres = 10 makes returning the saddle after the first kick common (predicted
    0.30 at d = 10); the engine's Algorithm 2 agrees with pgd_saddle_return_probability
    within 4 sd, and returns it exactly at step t_thres + 1."""
    params = {**pge.SCALES["quick"], "t_thres": 10, "pgd_ds": [10], "pgd_seeds": 2000}
    data = pge._pgd_runs(params)
    returned = (data["pgd_status"] == DONE) & (data["pgd_xnorm"] == 0.0)
    p = th.pgd_saddle_return_probability(10, params["r"], params["eta"], 10,
                                         params["f_thres"])
    n = returned.size
    assert 0.2 < p < 0.5
    assert abs(returned.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert np.all(data["pgd_stop"][returned] == 11) and np.all(data["pgd_n_pert"][returned] == 1)
    assert np.all(data["pgd_lam_min"][returned] == -1.0)


def test_perturbed_escape_short_budget_is_inconclusive(pgd_quick):
    """A budget too short for the law's escape times: nothing escapes, which the law
    expects, so the means and the slope are undecided (inconclusive), not failed."""
    data, params = pgd_quick
    short = {**params, "steps": 30}
    data = {**data, **pge._escape_runs(short)}
    v = pge.check(data, pge.predict(short), short)
    assert v.passed is None and v.status == "inconclusive"
    assert v["slope_vs_exact"].holds is None and v["slope_vs_asymptotic"].holds is None
    assert v["budget_non_escapes"].holds is True
    assert v.measured["not_escaped"] == dict(zip(short["ds"], short["n"]))
    assert np.all(data["esc_status"] == BUDGET)


def test_perturbed_escape_bad_input():
    params = pge.SCALES["quick"]
    for lam1 in (0.0, 1.0):
        with pytest.raises(TestbedError, match="not negative"):
            pge.predict({**params, "lam1": lam1})
    for r in (0.0, -1e-3):
        with pytest.raises(TestbedError, match="r must be positive"):
            pge.experiment({**params, "r": r})
        with pytest.raises(TestbedError, match="positive"):
            th.perturbed_escape_distribution(10, r, 0.1, 0.5)
    with pytest.raises(TestbedError, match="below the escape radius"):
        pge.predict({**params, "r": 0.6})


def test_engine_refuses_nonpositive_radius_and_noise():
    L = testbed.landscape("strict_saddle", d=3, lam=[-1.0, 1.0, 1.0])
    for r in (0.0, -1.0):
        with pytest.raises(TestbedError, match=_REFUSED.format("r")):
            testbed.run(L, "perturbed_gd", np.zeros(3), steps=5, eta=0.1, r=r, g_thres=1e-3,
                        t_thres=5.0, f_thres=0.0)
    for sigma in (0.0, -1e-3):
        with pytest.raises(TestbedError, match=_REFUSED.format("sigma")):
            testbed.run(L, "noisy_gd", np.zeros(3), steps=5, eta=0.1, sigma=sigma)
    with pytest.raises(TestbedError, match="radius must be (a )?positive"):
        testbed.events.escape(0, 0.0)


def test_figures_are_drawn(gd_quick, pgd_quick, tmp_path):
    for module, (data, params) in ((gse, gd_quick), (pge, pgd_quick)):
        path = tmp_path / f"{module.ID}.png"
        figure_module(module).draw(data, module.predict(params), params, path)
        assert path.stat().st_size > 20_000


# ---- theory ------------------------------------------------------------------------

def test_inverse_orbit_is_the_koenigs_pullback():
    eta, R = 0.1, 0.5
    a = th.inverse_orbit(R, 300, eta)
    t = np.arange(1, 301)
    assert np.allclose(th.koenigs_h(a[1:], eta), th.koenigs_h(R, eta) * 1.1 ** -t,
                       rtol=1e-13, atol=0)
    assert np.allclose(th.inverse_orbit(R, 50, eta, quartic=0.0), R * 1.1 ** -np.arange(51),
                       rtol=1e-14)


@settings(max_examples=25, deadline=None)
@given(eta=st.floats(0.02, 0.3), R=st.floats(0.05, 0.8), t=st.integers(1, 120))
def test_threshold_separates_escape_before_and_after_t(eta, R, t):
    a_t = th.inverse_orbit(R, t, eta)[t]
    assert th.deterministic_escape_step(a_t * (1 - 1e-9), eta, R) > t
    assert th.deterministic_escape_step(a_t * (1 + 1e-9), eta, R) <= t


def test_ball_marginal_law():
    # d = 1: xi uniform on [-r, r]; d = 3: P(|u_1| > s) = (1 - s)^2 (1 + s/2) ... from
    # the density (3/4)(1 - u^2)
    s = np.linspace(0, 1, 11)
    assert np.allclose(th.coordinate_tail(s, 1.0, 1)[0], 1 - s, atol=1e-14)
    exact3 = 1 - 1.5 * s + 0.5 * s ** 3
    assert np.allclose(th.coordinate_tail(s, 1.0, 3)[0], exact3, atol=1e-14)
    # Monte Carlo from numpy's own uniform-ball sampler at d = 50
    rng = np.random.default_rng(1)
    g = rng.standard_normal((40_000, 50))
    xi = g / np.linalg.norm(g, axis=1, keepdims=True) * rng.uniform(size=(40_000, 1)) ** (1 / 50)
    for a in (0.05, 0.1, 0.2):
        p, q = th.coordinate_tail(a, 1.0, 50)
        assert abs(np.mean(np.abs(xi[:, 0]) > a) - p) < 4 * math.sqrt(p * q / 40_000)
    for bad in ("cube", "normal"):
        with pytest.raises(TestbedError, match="unknown perturbation law"):
            th.coordinate_tail(0.1, 1.0, 5, bad)


def test_escape_law_moments_and_slope():
    law = th.perturbed_escape_distribution(100, 1e-3, 0.1, 0.5)
    assert law.survival[-1] < 1e-17 and abs(law.cdf[-1] - 1) < 1e-15
    assert abs(np.dot(law.t, law.pmf) - law.mean) < 1e-9
    assert np.allclose(law.cdf + law.survival, 1.0, atol=1e-15)
    # E ln(1/u_1^2) = digamma(d/2 + 1) - digamma(1/2): the continuous part of E T
    from scipy.special import digamma
    H = th.koenigs_h(0.5, 0.1)
    cont = (math.log(H / 1e-3) + 0.5 * (digamma(51) - digamma(0.5))) / math.log(1.1)
    assert abs(law.mean - cont - 0.5) < 0.05    # + 1/2 for the integer ceiling
    slope, _ = th.mean_escape_slope([10 ** 6, 10 ** 7], 1e-3, 0.1, 0.5)
    assert abs(slope * 2 * math.log(1.1) - 1) < 1e-3
    with pytest.raises(TestbedError, match="two distinct"):
        th.mean_escape_slope([10, 10], 1e-3, 0.1, 0.5)


def test_linear_and_quartic_closed_forms():
    # P1's calibration: gamma = beta = 1, eta = 0.1, delta = 1e-6, R = 0.5: simulated 139,
    # law 2 139.2, linear 137.7
    assert th.deterministic_escape_step(1e-6, 0.1, 0.5) == 139
    assert abs(th.quartic_escape_estimate(1e-6, 0.1, 0.5) - 139.19) < 0.01
    assert th.linear_escape_estimate(1e-6, 0.1, 0.5) == 138
    assert th.linear_escape_estimate(1e-6, 0.1, 0.5, gamma=2.0) == math.ceil(
        math.log(0.5e6) / math.log(1.2))
    with pytest.raises(TestbedError, match="not negative"):
        th.saddle_gamma(0.0)
    assert th.saddle_gamma(-2.5) == 2.5
