"""sharpness-reparam: the quick scale passes, and the check fails when the predicted
law is wrong (the inverse missing on the first layer, alpha^2 on both layers) or when
a key part of the transformation is wrong (the first layer's bias left unscaled, so
the function changes)."""
import numpy as np
import pytest

from testbed.claims import sharpness_reparam as sr


@pytest.fixture(scope="module")
def quick():
    params = sr.SCALES["quick"]
    return sr.experiment(params), params


def test_quick_scale_passes(quick):
    data, params = quick
    verdict = sr.check(data, sr.predict(params), params)
    assert verdict.passed, verdict
    assert verdict.measured["max_output_change"] <= sr.OUT_TOL
    assert verdict.measured["hessian_law_rel_error_2layer"] <= sr.LAW_TOL
    lam = verdict.measured["lambda_max"]
    assert lam[4.0] > 5 * lam[1.0] and lam[0.25] > lam[1.0]      # sharpness moves a lot
    lo, hi = verdict.measured["loss_range"]
    assert hi - lo <= 1e-14 * hi                                  # the loss does not


def test_fails_without_the_inverse_on_the_first_layer(quick):
    data, params = quick
    wrong = sr.predict(params)
    first, _, _ = sr._blocks2(params["widths"])
    for D, a in zip(wrong["D_two"], params["alphas"]):
        D[first] = a                                  # D_alpha = alpha, not 1/alpha, on W1, b1
    verdict = sr.check(data, wrong, params)
    assert verdict.passed is False
    assert verdict.measured["hessian_law_rel_error_2layer"] > 0.1


def test_fails_with_a_uniform_rescaling_of_the_3_layer_law(quick):
    data, params = quick
    wrong = sr.predict(params)
    wrong["D_three"] = np.ones_like(wrong["D_three"]) * 2.0       # a uniform rescaling
    assert sr.check(data, wrong, params).passed is False


def test_fails_when_the_bias_is_not_rescaled():
    params = {**sr.SCALES["quick"], "alphas": [0.5, 1.0, 4.0], "alphas3": [[2.0, 0.5, 1.0]],
              "scale_bias": False}
    data = sr.experiment(params)
    verdict = sr.check(data, sr.predict(params), params)
    assert verdict.passed is False
    assert verdict.measured["max_output_change"] > 1e-3


def test_figure_is_drawn(quick, tmp_path):
    data, params = quick
    path = tmp_path / "reparam.png"
    sr.figure(data, sr.predict(params), params, path)
    assert path.stat().st_size > 10_000
