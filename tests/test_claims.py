"""Claims: the quick scale passes, and every check fails when the prediction or a
key parameter is deliberately wrong."""
import numpy as np
import pytest

from testbed import claims
from testbed.claims import quadratic_stability as qs
from testbed.claims._base import evaluate


@pytest.fixture(scope="module")
def qs_data():
    params = qs.SCALES["quick"]
    return qs.experiment(params), params


def test_quadratic_stability_passes(qs_data):
    data, params = qs_data
    verdict = qs.check(data, qs.predict(params), params)
    assert verdict.passed, verdict
    assert verdict.measured["rate_rel_error"] < qs.RATE_TOL


def test_quadratic_stability_fails_with_wrong_threshold(qs_data):
    data, params = qs_data
    wrong = qs.predict(params)
    wrong["eta_crit"] *= 1.05          # outside the measured bracket (delta = 1e-2)
    assert qs.check(data, wrong, params).passed is False


def test_quadratic_stability_fails_with_wrong_step_size(qs_data):
    data, params = qs_data
    wrong = qs.predict(params)
    # the prediction for step sizes off by one part in a million
    lam = data["lam"]
    wrong["factor"] = 1.0 - (data["eta"] * (1 + 1e-6))[:, None] * lam[None, :]
    verdict = qs.check(data, wrong, params)
    assert verdict.passed is False
    assert verdict.measured["rate_rel_error"] > qs.RATE_TOL


def test_evaluate_record_has_the_json_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path))
    record = evaluate(claims.get("quadratic-stability"), "quick")
    for key in ("id", "passed", "measured", "predicted", "tolerance", "reason", "seconds"):
        assert key in record
    assert record["passed"] is True
    # the result was cached: a second evaluation loads it
    assert list(tmp_path.glob("quadratic-stability/*.npz"))
    again = evaluate(claims.get("quadratic-stability"), "quick")
    assert again["measured"] == record["measured"]


def test_every_claim_module_declares_its_parts():
    for claim_id, module in claims.modules().items():
        assert module.ID == claim_id
        assert module.__name__.rsplit(".", 1)[-1] == claim_id.replace("-", "_")
        assert set(module.SCALES) == {"quick", "paper"}
        for name in ("experiment", "predict", "check", "figure", "PAPER", "CLAIM"):
            assert hasattr(module, name), (claim_id, name)
        assert "seed" in module.SCALES["quick"]


def test_figure_is_drawn(qs_data, tmp_path):
    data, params = qs_data
    path = tmp_path / "q.png"
    qs.figure(data, qs.predict(params), params, path)
    assert path.stat().st_size > 10_000
    assert np.all(np.isfinite(data["eta"]))


def test_status_tells_a_scientific_outcome_from_an_error():
    from testbed.claims._base import status
    assert status({"passed": True}) == "pass"
    assert status({"passed": None}) == "inconclusive"
    assert status({"passed": False}) == "FAIL"
    assert status({"passed": False, "reproduced": None}) == "FAIL"
    assert status({"passed": False, "reproduced": False}) == "not reproduced"
