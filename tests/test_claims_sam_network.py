"""sam-network: the paired SGD / SAM experiment at a reduced scale, and each criterion
failing when its prediction or the data it reads is deliberately wrong."""
import numpy as np
import pytest

from testbed.claims import sam_network as S

SMALL = {**S.SCALES["quick"], "n_train": 200, "width": 8, "steps": 300, "check_steps": 20}


@pytest.fixture(scope="module")
def small():
    return S.experiment(SMALL)


def test_sam_is_flatter_and_rho0_is_sgd(small):
    v = S.check(small, S.predict(SMALL), SMALL)
    assert v["rho0_max_abs_diff"].holds and v["rho0_max_abs_diff"].measured == 0.0
    assert v["log_sharpness_ratio_upper"].holds, v["log_sharpness_ratio_upper"]
    assert np.all(small["sam_sharpness"] < small["sgd_sharpness"])
    assert small["sam_test_accuracy"].shape == (SMALL["seeds"],)
    assert v.status in ("pass", "not reproduced")       # the gain is measured, not assumed


def test_sharpness_criterion_fails_under_a_wrong_prediction(small):
    wrong = {**S.predict(SMALL), "log_sharpness_ratio_upper": -1.0}   # SAM 63% flatter
    v = S.check(small, wrong, SMALL)
    assert v["log_sharpness_ratio_upper"].holds is False
    assert v.status == "not reproduced"
    swapped = {**small, "sam_sharpness": small["sgd_sharpness"],
               "sgd_sharpness": small["sam_sharpness"]}             # SGD flatter instead
    assert S.check(swapped, S.predict(SMALL), SMALL)["log_sharpness_ratio_upper"].holds is False


def test_accuracy_gain_criterion_holds_and_fails(small):
    better = {**small, "sam_test_accuracy": small["sgd_test_accuracy"] + 0.02
              + 0.001 * np.arange(SMALL["seeds"])}
    assert S.check(better, S.predict(SMALL), SMALL)["accuracy_gain_lower"].holds is True
    same = {**small, "sam_test_accuracy": small["sgd_test_accuracy"].copy()}
    same["sam_test_accuracy"][0] += 0.002                              # one image, one seed
    v = S.check(same, S.predict(SMALL), SMALL)
    assert v["accuracy_gain_lower"].holds is False and v.status == "not reproduced"


def test_rho0_criterion_fails_when_sam_is_not_sgd(small):
    v = S.check({**small, "rho0_max_abs_diff": np.array(1e-15)}, S.predict(SMALL), SMALL)
    assert v["rho0_max_abs_diff"].holds is False and v.status == "fail"


def test_a_diverged_network_fails_the_check(small):
    gone = {**small, "sam_diverged": small["sam_diverged"].copy()}
    gone["sam_diverged"][1] = True
    v = S.check(gone, S.predict(SMALL), SMALL)
    assert v["no_divergence"].holds is False and v.status == "fail"


def test_paired_interval_is_students_t():
    s = S.paired([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and abs(s["se"] - 1 / np.sqrt(3)) < 1e-15
    assert abs(s["t"] - 4.302652729749462) < 1e-9           # t_{0.975, 2} (tables: 4.3027)
    assert abs(s["low"] - (2.0 - s["t"] * s["se"])) < 1e-15


def test_figure(small, tmp_path):
    from testbed.claims.figures import sam_network as figure
    path = tmp_path / "sam.png"
    figure.draw(small, S.predict(SMALL), SMALL, path)
    assert path.stat().st_size > 10_000
