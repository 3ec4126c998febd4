"""Claims sgd-escapes-faster and gd-exponential-escape: the quick scales pass, each check
fails when the prediction or a key parameter is deliberately wrong; the saddle_chain
landscape's declared critical points; the theory added for them; bad input refused."""
import math

import numpy as np
import pytest
from scipy.optimize import root

import testbed
from testbed.claims import gd_exponential_escape as gx
from testbed.claims import sgd_escapes_faster as sf
from testbed.claims._base import PASS, figure_module
from testbed.errors import TestbedError
from testbed.theory import saddle_escape as th


# the engine's refusal of a hyper-parameter outside its domain (either wording)
_REFUSED = "'{}'( must be positive| = .* is outside its domain)"

@pytest.fixture(scope="module")
def sf_data():
    params = sf.SCALES["quick"]
    return sf.experiment(params), sf.predict(params), params


@pytest.fixture(scope="module")
def gx_data():
    params = gx.SCALES["quick"]
    return gx.experiment(params), gx.predict(params), params


def _fails(v, *names):
    """Each named criterion does not hold, and the verdict is not a pass."""
    for name in names:
        assert v[name].holds is False, (name, v[name])
    assert v.status != PASS and v.passed is False


# ---- sgd-escapes-faster ----------------------------------------------------------------

def test_sgd_escapes_faster_passes(sf_data):
    data, pred, params = sf_data
    v = sf.check(data, pred, params)
    assert v.status == PASS and v.passed is True, v.failed
    assert v["gd_escape_step"].measured == pred["t_gd"] == 188
    assert v.headline == "noise_faster_than_gd"
    assert v["noise_faster_than_gd"].measured > 0.5           # noise escapes first
    assert v["minibatch_faster_than_gd"].measured > 0.5
    # the crossover lies near sigma_c = h(delta) sqrt(mu^2 - 1)
    assert 0.5 < pred["sigma_half"] / pred["sigma_c"] < 2.0


def test_sgd_check_fails_with_sigma_off_by_two(sf_data):
    data, _, params = sf_data
    wrong = sf.predict({**params, "sigmas": [2 * s for s in params["sigmas"]],
                        "sigma_star": 2 * params["sigma_star"]})
    v = sf.check(data, wrong, params)
    _fails(v, "ks_noisy_max", "binomial_min_pvalue")


def test_sgd_check_fails_with_wrong_start(sf_data):
    data, _, params = sf_data
    wrong = sf.predict({**params, "delta": 2 * params["delta"]})   # T_GD 188 -> 181
    assert wrong["t_gd"] != 188
    _fails(sf.check(data, wrong, params), "gd_escape_step")


def test_sgd_gd_step_allows_the_adjacent_step_only_at_an_integer_boundary(sf_data):
    data, pred, params = sf_data
    late = {**data, "gd_stop": data["gd_stop"] + np.array([1, 0])}
    _fails(sf.check(late, pred, params), "gd_escape_step")
    near = {**pred, "t_gd_phase": pred["t_gd"] - 1e-12}      # rounding could give t_gd + 1
    assert sf.check(late, near, params)["gd_escape_step"].holds is True


def test_sgd_check_fails_when_gd_leaves_the_manifold(sf_data):
    data, pred, params = sf_data
    gd_x = data["gd_x"].copy()
    gd_x[1, 0] = 1e-300
    _fails(sf.check({**data, "gd_x": gd_x}, pred, params), "gd_on_manifold_stays")


def test_sgd_faster_criterion_fails_when_noise_is_not_faster(sf_data):
    data, pred, params = sf_data
    star = params["sigmas"].index(params["sigma_star"])
    T = data["noisy_T"].copy()
    T[data["noisy_group"] == star] = pred["t_gd"] + 5          # all after GD
    _fails(sf.check({**data, "noisy_T": T}, pred, params), "noise_faster_than_gd")


def test_sgd_check_fails_with_wrong_minibatch_noise(sf_data):
    data, pred, params = sf_data
    wrong = sf.predict({**params, "mb_sigma": 2 * params["mb_sigma"]})
    v = sf.check(data, {**pred, **{k: wrong[k] for k in wrong if k.startswith("mb_")}},
                 params)
    _fails(v, "minibatch_ks", "minibatch_binomial")


def test_sgd_minibatch_faster_criterion(sf_data):
    data, pred, params = sf_data
    late = {**data, "mb_T": np.full_like(data["mb_T"], pred["t_gd"] + 5)}
    _fails(sf.check(late, pred, params), "minibatch_faster_than_gd")


def test_sgd_figure_is_drawn(sf_data, tmp_path):
    data, pred, params = sf_data
    figure_module(sf).draw(data, pred, params, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 10_000


# ---- gd-exponential-escape -------------------------------------------------------------

def test_gd_exponential_escape_passes(gx_data):
    data, pred, params = gx_data
    v = gx.check(data, pred, params)
    assert v.status == PASS and v.passed is True, v.failed
    assert v["gd_crossings_exact"].measured == 0
    T = v.measured["gd_T_mean"]
    assert T[-1] > 20 * T[0]                                 # geometric growth
    assert v.measured["steps_to_minimum"]["pgd"] < v.measured["steps_to_minimum"]["gd"] / 5


def test_gd_check_fails_with_wrong_kappa(gx_data):
    data, _, params = gx_data
    wrong = gx.predict({**params, "L": 0.6})               # kappa 0.538 -> 0.649
    v = gx.check(data, wrong, params)
    _fails(v, "gd_crossings_exact", "gd_phase_error")
    assert v["gd_phase_error"].measured > 10.0


def test_gd_slope_criterion_alone_fails_with_wrong_kappa(gx_data):
    data, pred, params = gx_data
    kappa = 1.25 * pred["kappa"]
    v = gx.check(data, {**pred, "kappa": kappa, "slope": math.log1p(kappa)}, params)
    _fails(v, "gd_slope_ln_T")
    assert v.status == "not reproduced"                    # the code's criteria hold


def test_gd_short_budget_is_reported_not_raised(gx_data):
    """A per-saddle budget too short for the later saddles: the replicas stuck at a
    saddle are counted (crossings -1 from there on), not raised."""
    data, pred, params = gx_data
    short = {**params, "gd_max_steps": 1000}
    data = {**data, **gx._gd_runs(short, gx._landscape(short))}
    assert np.any(data["gd_cross"] == -1)
    v = gx.check(data, pred, short)
    _fails(v, "gd_passed_every_saddle", "gd_crossings_exact")
    assert v["gd_passed_every_saddle"].measured == params["n_gd"]


def test_pgd_success_criterion(gx_data):
    data, pred, params = gx_data
    gnorm = data["pgd_gnorm"].copy()
    gnorm[:5] = 1.0                                         # 5% not at a minimum
    _fails(gx.check({**data, "pgd_gnorm": gnorm}, pred, params), "pgd_success")


def test_pgd_constancy_criterion_rejects_exponential_times(gx_data):
    data, pred, params = gx_data
    fake = {**data, "pgd_cross": data["gd_cross"][:, np.arange(data["pgd_cross"].shape[1])
                                                  % data["gd_cross"].shape[1]]}
    v = gx.check(fake, pred, params)
    _fails(v, "pgd_T_spread")


def test_gd_figure_is_drawn(gx_data, tmp_path):
    data, pred, params = gx_data
    figure_module(gx).draw(data, pred, params, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 10_000


# ---- the saddle_chain landscape --------------------------------------------------------

@pytest.mark.parametrize("d,params", [(1, {}), (3, {}), (5, {}),
                                      (4, {"gamma": 2.0, "L": 0.3, "beta": 0.5})])
def test_saddle_chain_declared_critical_points(d, params):
    L = testbed.landscape("saddle_chain", d=d, **params)
    cps = L.critical_points()
    assert len(cps) == 2 ** (d + 1) - 1
    for cp in cps:
        x = np.array(cp.x)
        assert np.max(np.abs(L.grad(x))) <= 1e-12
        ev = np.linalg.eigvalsh(L.hessian(x))
        assert int(np.sum(ev < 0)) == cp.index and np.min(np.abs(ev)) > 1e-6
        assert L.value(x) == pytest.approx(cp.energy, abs=1e-12)
    assert sum(cp.index == 0 for cp in cps) == 2 ** d          # the minima


def test_saddle_chain_kernels_agree():
    L = testbed.landscape("saddle_chain", d=6)
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, v = rng.normal(size=6), rng.normal(size=6)
        H = L.hessian(x)
        h = 1e-6
        fd = np.array([(L.grad(x + h * e) - L.grad(x - h * e)) / (2 * h) for e in np.eye(6)])
        assert np.allclose(H, fd, atol=1e-7) and np.allclose(H, H.T)
        assert np.allclose(L.hvp(x, v), H @ v, atol=1e-12)


def test_saddle_chain_small_d_has_no_other_critical_points():
    """d <= 3: a root search from a grid of starts finds only the declared points (the
    docstring says why more appear from d = 4 on)."""
    L = testbed.landscape("saddle_chain", d=3)
    declared = np.array([cp.x for cp in L.critical_points()])
    grid = np.linspace(-1.4, 1.4, 6)
    for x0 in np.stack(np.meshgrid(grid, grid, grid), -1).reshape(-1, 3):
        sol = root(L.grad, x0, jac=L.hessian, tol=1e-13)
        if sol.success and np.linalg.norm(L.grad(sol.x)) < 1e-10:
            assert np.min(np.linalg.norm(declared - sol.x, axis=1)) < 1e-6, sol.x


def test_saddle_chain_refuses_too_many_points():
    with pytest.raises(TestbedError, match="too many"):
        testbed.landscape("saddle_chain", d=20).critical_points()


# ---- theory ------------------------------------------------------------------------------

def test_start_at_zero_reduces_to_the_known_law():
    a = th.noisy_escape_distribution(0.1, 1e-4, 0.5, t_max=300)
    b = th.noisy_escape_distribution_from(0.0, 0.1, 1e-4, 0.5, t_max=300)
    assert np.allclose(a.cdf, b.cdf, atol=1e-15) and a.mean == pytest.approx(b.mean)


def test_tiny_noise_reduces_to_gradient_descent():
    t_gd = th.deterministic_escape_estimate(1e-6, 0.1, 0.5)
    law = th.noisy_escape_distribution_from(1e-6, 0.1, 1e-16, 0.5, t_max=300)
    assert law.pmf[t_gd] > 1 - 1e-9


def test_discrete_law_of_gaussian_like_noise_is_close_to_the_gaussian_law():
    """A symmetric five-point noise (binomial) has nearly Gaussian sums: the two laws agree."""
    k = np.arange(9)
    probs = np.array([math.comb(8, j) for j in k]) / 2 ** 8
    atoms = (k - 4) * 1e-8 / math.sqrt(2.0)          # sd 1e-8
    d = th.discrete_noise_escape_distribution(1e-8, 0.1, atoms, probs, 0.5, t_max=300)
    g = th.noisy_escape_distribution_from(1e-8, 0.1, 1e-8, 0.5, t_max=300)
    assert np.max(np.abs(d.cdf - g.cdf)) < 3e-3


def test_chain_prediction_matches_direct_iteration():
    """Crossing steps of GD on saddle_chain (d = 4), iterated in numpy with the landscape's
    gradient, equal floor(t_i*) + 1."""
    L = testbed.landscape("saddle_chain", d=4)
    x = np.array([1e-3, 5e-4, 8e-4, 2e-4])
    _, steps = th.chain_crossing_phases(x, 0.1, 1.0, 0.5, 1.0, 0.5)
    seen, t = [], 0
    while len(seen) < 4:
        x = x - 0.1 * L.grad(x)
        t += 1
        if abs(x[len(seen)]) > 0.5:
            seen.append(t)
    assert seen == steps.tolist()


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [0.0, -1e-3, np.array([1e-3, 0.0])])
def test_engine_refuses_nonpositive_sigma(sigma):
    L = testbed.landscape("strict_saddle", d=2)
    with pytest.raises(TestbedError, match=_REFUSED.format("sigma")):
        testbed.run(L, "noisy_gd", np.zeros(2), steps=5, n=2, eta=0.1, sigma=sigma)


def test_theory_refuses_bad_input():
    with pytest.raises(TestbedError, match="sigma > 0"):
        th.noisy_escape_distribution_from(1e-8, 0.1, 0.0, 0.5)
    with pytest.raises(TestbedError, match="inside the escape radius"):
        th.noisy_escape_distribution_from(0.6, 0.1, 1e-3, 0.5)
    with pytest.raises(TestbedError, match="mean 0"):
        th.discrete_noise_escape_distribution(0.0, 0.1, [1.0, -0.5], [0.5, 0.5], 0.5)
    with pytest.raises(TestbedError, match="eta L < 1"):
        th.chain_kappa(0.5, 1.0, 2.5)
