"""sharpness-reparam: the quick scale passes, and each criterion fails when the
predicted law is wrong (the inverse missing on the first layer, a uniform rescaling
of the 3-layer law, alpha^2 on W1 in the trace law) or when a key part of the
transformation is wrong (the first layer's bias left unscaled, so the function
changes; alpha = 4 replaced by a shrinking factor; a point on a ReLU kink)."""
import numpy as np
import pytest

from testbed.claims import sharpness_reparam as sr
from testbed.claims.figures import sharpness_reparam as figure


@pytest.fixture(scope="module")
def quick():
    params = sr.SCALES["quick"]
    return sr.experiment(params), params


def _fails(verdict, name):
    assert verdict[name].holds is False, verdict[name]
    assert verdict.status != "pass" and verdict.passed is False


def test_quick_scale_passes(quick):
    data, params = quick
    verdict = sr.check(data, sr.predict(params), params)
    assert verdict.status == "pass", verdict.failed
    assert verdict.measured["max_output_change"] <= sr.OUT_TOL
    assert verdict.measured["hessian_law_rel_error_2layer"] <= sr.LAW_TOL
    lam = verdict.measured["lambda_max"]
    assert lam[4.0] > 5 * lam[1.0] and lam[0.25] > lam[1.0]      # sharpness moves a lot
    lo, hi = verdict.measured["loss_range"]
    assert hi - lo <= 1e-14 * hi                                  # the loss does not
    assert not any(c.science for c in verdict.criteria)          # exact mathematics


def test_fails_without_the_inverse_on_the_first_layer(quick):
    data, params = quick
    wrong = sr.predict(params)
    first, _, _ = sr._blocks2(params["widths"])
    for D, a in zip(wrong["D_two"], params["alphas"]):
        D[first] = a                                  # D_alpha = alpha, not 1/alpha, on W1, b1
    verdict = sr.check(data, wrong, params)
    _fails(verdict, "hessian_law_rel_error_2layer")
    assert verdict.measured["hessian_law_rel_error_2layer"] > 0.1


def test_fails_with_a_uniform_rescaling_of_the_3_layer_law(quick):
    data, params = quick
    wrong = sr.predict(params)
    wrong["D_three"] = np.ones_like(wrong["D_three"]) * 2.0       # a uniform rescaling
    _fails(sr.check(data, wrong, params), "hessian_law_rel_error_3layer")


def test_trace_and_interlacing_fail_when_the_scaled_hessians_are_wrong(quick):
    """Hessians of the unscaled network in place of the scaled ones: the trace law
    and the interlacing bound alpha^2 lambda_max(H22) fail for alpha > 1, and the
    sharpness no longer grows."""
    data, params = quick
    wrong = dict(data)
    wrong["two_H_scaled"] = np.repeat(data["two_H"][None], len(params["alphas"]), axis=0)
    wrong["two_H_scaled"][params["alphas"].index(4.0)] *= 0.5
    verdict = sr.check(wrong, sr.predict(params), params)
    for name in ("trace_law_rel_error", "interlacing_min_ratio",
                 "sharpness_ratio_alpha4_over_alpha1"):
        _fails(verdict, name)


def test_fails_when_the_bias_is_not_rescaled():
    params = {**sr.SCALES["quick"], "alphas": [0.5, 1.0, 4.0], "alphas3": [[2.0, 0.5, 1.0]],
              "scale_bias": False}
    data = sr.experiment(params)
    verdict = sr.check(data, sr.predict(params), params)
    _fails(verdict, "max_output_change")
    assert verdict.measured["max_output_change"] > 1e-3


def test_fails_on_a_relu_kink(quick):
    data, params = quick
    wrong = dict(data)
    wrong["two_kink"] = data["two_kink"].copy()
    wrong["two_kink"][0] = 0.0                          # a pre-activation exactly at 0
    _fails(sr.check(wrong, sr.predict(params), params), "min_distance_to_relu_kink")


def test_figure_is_drawn(quick, tmp_path):
    data, params = quick
    path = tmp_path / "reparam.png"
    figure.draw(data, sr.predict(params), params, path)
    assert path.stat().st_size > 10_000
