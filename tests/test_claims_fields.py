"""The Gaussian-field claims (index-energy, saddle-free-newton): the quick scale
passes, and each check fails when the prediction or a key parameter is wrong."""
import copy

import numpy as np
import pytest

from testbed.claims import index_energy as ie
from testbed.claims import saddle_free_newton as sfn


@pytest.fixture(scope="module")
def ie_data():
    params = ie.SCALES["quick"]
    return ie.experiment(params), params


@pytest.fixture(scope="module")
def sfn_data():
    params = sfn.SCALES["quick"]
    return sfn.experiment(params), params


# -- index-energy -------------------------------------------------------------------------

def test_index_energy_passes(ie_data):
    data, params = ie_data
    v = ie.check(data, ie.predict(params), params)
    assert v.passed, v
    d = params["dims"][0]
    assert v.measured[f"d={d}"]["t_min"] <= -0.8      # the search reaches near-minima
    assert v.measured["goe_max_abs_dev"] < ie.GOE_TOL


def test_index_energy_fails_with_the_energy_scale_off_by_two(ie_data):
    data, params = ie_data
    wrong = ie.predict(params)
    wrong["energy_scale"] /= 2.0          # u / (sigma sqrt d) instead of u / (2 sigma sqrt d)
    assert ie.check(data, wrong, params).passed is False


def test_index_energy_fails_with_a_wrong_sigma(ie_data):
    data, params = ie_data
    wrong = ie.predict({**params, "sigma": 1.5})   # the field has sigma = 1
    assert ie.check(data, wrong, params).passed is False


def test_index_energy_fails_with_a_wrong_slope(ie_data):
    data, params = ie_data
    wrong = ie.predict({**params, "ell": 1.2})     # slope 1/ell^2 = 0.69 instead of 1
    v = ie.check(data, wrong, params)
    assert v.passed is False


def test_index_energy_fails_when_the_goe_tier_is_wrong(ie_data):
    data, params = ie_data
    wrong = ie.predict(params)
    wrong["goe_alpha"] = wrong["goe_alpha"] + 0.05
    assert ie.check(data, wrong, params).passed is False


def test_index_energy_figure(ie_data, tmp_path):
    data, params = ie_data
    path = tmp_path / "ie.png"
    ie.figure(data, ie.predict(params), params, path)
    assert path.stat().st_size > 20_000


# -- saddle-free-newton --------------------------------------------------------------------

def test_saddle_free_newton_passes(sfn_data):
    data, params = sfn_data
    v = sfn.check(data, sfn.predict(params), params)
    assert v.passed, v
    assert v.measured["quad_newton_rel_error"] < 1e-12
    assert v.measured["newton_saddle_fraction"] > 0.75
    assert v.measured["sfn_saddle_fraction"] < 0.25


def test_saddle_free_newton_fails_with_swapped_predictions(sfn_data):
    data, params = sfn_data
    wrong = sfn.predict(params)
    wrong["saddle_fraction"] = {"gd": 0.0, "newton": 0.0, "sfn": 1.0}
    assert sfn.check(data, wrong, params).passed is False


def test_saddle_free_newton_fails_with_a_wrong_step_law(sfn_data):
    data, params = sfn_data
    wrong = sfn.predict(params)
    wrong["quad_sfn_factor"] = 1.0 + np.sign(data["lam"])      # the sign flipped
    assert sfn.check(data, wrong, params).passed is False
    wrong = sfn.predict(params)
    wrong["quad_newton_factor"] = wrong["quad_newton_factor"] + 1e-9
    assert sfn.check(data, wrong, params).passed is False


def test_saddle_free_newton_fails_when_sfn_is_over_damped():
    """A key parameter wrong: with damping 1e3 the SFN step is g / 1e3, which in the
    budget stays where it started (index ~ d/2), so the check must fail."""
    params = copy.deepcopy(sfn.SCALES["quick"])
    params["damping"] = 1e3
    data = sfn.experiment(params)
    v = sfn.check(data, sfn.predict(params), params)
    assert v.passed is False
    assert v.measured["sfn_saddle_fraction"] > 0.5


def test_saddle_free_newton_figure(sfn_data, tmp_path):
    data, params = sfn_data
    path = tmp_path / "sfn.png"
    sfn.figure(data, sfn.predict(params), params, path)
    assert path.stat().st_size > 20_000
