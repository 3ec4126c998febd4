"""The Gaussian-field claims (index-energy, saddle-free-newton): the quick scale
passes, and each criterion fails when the prediction or a key parameter is wrong."""
import copy

import numpy as np
import pytest

from testbed.claims import index_energy as ie
from testbed.claims import saddle_free_newton as sfn
from testbed.claims.figures import index_energy as ie_figure
from testbed.claims.figures import saddle_free_newton as sfn_figure
from testbed.kernel import BUDGET, DIVERGED, EVENT


@pytest.fixture(scope="module")
def ie_data():
    params = ie.SCALES["quick"]
    return ie.experiment(params), params


@pytest.fixture(scope="module")
def sfn_data():
    params = sfn.SCALES["quick"]
    return sfn.experiment(params), params


def _fails(verdict, name):
    assert verdict[name].holds is False, verdict[name]
    assert verdict.status != "pass" and verdict.passed is False


# -- index-energy -------------------------------------------------------------------------

def test_index_energy_passes(ie_data):
    data, params = ie_data
    v = ie.check(data, ie.predict(params), params)
    assert v.status == "pass", v.failed
    d = params["dims"][0]
    assert v.measured[f"d={d}"]["t_min"] <= -0.8      # the search reaches near-minima
    assert v.measured["goe_max_abs_dev"] < ie.GOE_TOL
    assert v.headline == f"d{d}_energy_scale"


def test_index_energy_fails_with_the_energy_scale_off_by_two(ie_data):
    data, params = ie_data
    wrong = ie.predict(params)
    wrong["energy_scale"] /= 2.0          # u / (sigma sqrt d) instead of u / (2 sigma sqrt d)
    d = params["dims"][0]
    v = ie.check(data, wrong, params)
    _fails(v, f"d{d}_energy_scale")
    _fails(v, f"d{d}_max_point_dev_over_tol")
    assert v.status == "not reproduced"            # a science row, the code rows hold


def test_index_energy_fails_with_a_wrong_sigma(ie_data):
    data, params = ie_data
    wrong = ie.predict({**params, "sigma": 1.5})   # the field has sigma = 1
    _fails(ie.check(data, wrong, params), f"d{params['dims'][0]}_energy_scale")


def test_index_energy_fails_with_a_wrong_slope(ie_data):
    data, params = ie_data
    wrong = ie.predict({**params, "ell": 1.2})     # slope 1/ell^2 = 0.69 instead of 1
    _fails(ie.check(data, wrong, params), f"d{params['dims'][0]}_slope")


def test_index_energy_fails_when_the_goe_tier_is_wrong(ie_data):
    data, params = ie_data
    wrong = ie.predict(params)
    wrong["goe_alpha"] = wrong["goe_alpha"] + 0.05
    v = ie.check(data, wrong, params)
    _fails(v, "goe_max_abs_dev")
    assert v.status == "fail"                      # a code row


def test_index_energy_coverage_fails_without_minima(ie_data):
    """A search that found only the points above the threshold (t > -0.8) cannot test
    the law across energies."""
    data, params = ie_data
    d = params["dims"][0]
    t = data[f"d{d}_energy"] / (2 * np.sqrt(d))
    keep = t > -0.8
    cut = {k: (v[keep] if k.startswith(f"d{d}_") and k != f"d{d}_n_searches" else v)
           for k, v in data.items()}
    _fails(ie.check(cut, ie.predict(params), params), f"d{d}_coverage")


def test_index_energy_figure(ie_data, tmp_path):
    data, params = ie_data
    path = tmp_path / "ie.png"
    ie_figure.draw(data, ie.predict(params), params, path)
    assert path.stat().st_size > 20_000


# -- saddle-free-newton --------------------------------------------------------------------

def test_saddle_free_newton_passes(sfn_data):
    data, params = sfn_data
    v = sfn.check(data, sfn.predict(params), params)
    assert v.status == "pass", v.failed
    assert v.measured["quad_newton_rel_error"] < 1e-12
    assert v.measured["newton_saddle_fraction"] > 0.75
    assert v.measured["sfn_saddle_fraction"] < 0.25
    assert set(np.unique(data["gd_status"])) <= {BUDGET, EVENT}
    assert not np.any(data["newton_status"] == DIVERGED)


def test_saddle_free_newton_fails_with_swapped_predictions(sfn_data):
    data, params = sfn_data
    wrong = sfn.predict(params)
    wrong["saddle_fraction"] = {"gd": 0.0, "newton": 0.0, "sfn": 1.0}
    v = sfn.check(data, wrong, params)
    _fails(v, "newton_runs_contradicting")
    _fails(v, "sfn_runs_contradicting")
    assert v.status == "not reproduced"
    wrong["saddle_fraction"] = {"gd": 1.0, "newton": 1.0, "sfn": 0.0}
    _fails(sfn.check(data, wrong, params), "gd_runs_contradicting")


def test_saddle_free_newton_fails_with_a_wrong_step_law(sfn_data):
    data, params = sfn_data
    wrong = sfn.predict(params)
    wrong["quad_sfn_factor"] = 1.0 + np.sign(data["lam"])      # the sign flipped
    v = sfn.check(data, wrong, params)
    _fails(v, "quad_sfn_rel_error")
    assert v.status == "fail"
    wrong = sfn.predict(params)
    wrong["quad_newton_factor"] = wrong["quad_newton_factor"] + 1e-9
    _fails(sfn.check(data, wrong, params), "quad_newton_rel_error")


def test_saddle_free_newton_fails_when_sfn_is_over_damped():
    """A key parameter wrong: with damping 1e3 the SFN step is g / 1e3, which in the
    budget stays where it started (index ~ d/2), so the check must fail."""
    params = copy.deepcopy(sfn.SCALES["quick"])
    params["damping"] = 1e3
    data = sfn.experiment(params)
    v = sfn.check(data, sfn.predict(params), params)
    _fails(v, "sfn_runs_contradicting")
    assert v.measured["sfn_saddle_fraction"] > 0.5


def test_saddle_free_newton_figure(sfn_data, tmp_path):
    data, params = sfn_data
    path = tmp_path / "sfn.png"
    sfn_figure.draw(data, sfn.predict(params), params, path)
    assert path.stat().st_size > 20_000
