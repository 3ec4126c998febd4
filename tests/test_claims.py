"""Claims: the quick scale passes, and every check fails when the prediction or a
key parameter is deliberately wrong."""
import numpy as np
import pytest

from testbed import claims
from testbed.claims import quadratic_stability as qs
from testbed.claims._base import Criterion, Verdict, at_most, close, evaluate, holds
from testbed.kernel import BUDGET


@pytest.fixture(scope="module")
def qs_data():
    params = qs.SCALES["quick"]
    return qs.experiment(params), params


def test_quadratic_stability_passes(qs_data):
    data, params = qs_data
    verdict = qs.check(data, qs.predict(params), params)
    assert verdict.status == "pass", verdict
    assert verdict.measured["rate_rel_error"] < qs.RATE_TOL


def test_quadratic_stability_fails_with_wrong_threshold(qs_data):
    data, params = qs_data
    wrong = qs.predict(params)
    wrong["eta_crit"] *= 1.05          # outside the measured bracket (delta = 1e-2)
    verdict = qs.check(data, wrong, params)
    assert verdict.status == "fail"
    assert [c.name for c in verdict.failed] == ["eta_crit_bracket"]


def test_quadratic_stability_fails_with_wrong_step_size(qs_data):
    data, params = qs_data
    wrong = qs.predict(params)
    # the prediction for step sizes off by one part in a million
    lam = data["lam"]
    wrong["factor"] = 1.0 - (data["eta"] * (1 + 1e-6))[:, None] * lam[None, :]
    verdict = qs.check(data, wrong, params)
    assert verdict.status == "fail"
    assert [c.name for c in verdict.failed] == ["rate_rel_error"]


def test_quadratic_stability_fails_when_far_run_is_not_flagged(qs_data):
    data, params = qs_data
    tampered = {**data, "status": data["status"].copy()}
    tampered["status"][-1] = BUDGET              # as if the far-above run had not diverged
    verdict = qs.check(tampered, qs.predict(params), params)
    assert [c.name for c in verdict.failed] == ["far_above_diverged"]


def test_evaluate_record_has_the_json_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path))
    record = evaluate(claims.get("quadratic-stability"), "quick")
    for key in ("id", "status", "criteria", "evidence", "headline", "scale", "seed", "code",
                "seconds"):
        assert key in record
    assert record["status"] == "pass"
    assert {c["name"] for c in record["criteria"]} == {
        "rate_rel_error", "eta_crit_bracket", "far_above_diverged"}
    # the result was cached: a second evaluation loads it
    assert list(tmp_path.glob("quadratic-stability/*.npz"))
    again = evaluate(claims.get("quadratic-stability"), "quick")
    assert again["criteria"] == record["criteria"]


def test_every_claim_module_declares_its_parts():
    from testbed.claims._base import figure_module
    for claim_id, module in claims.modules().items():
        assert module.ID == claim_id
        assert module.__name__.rsplit(".", 1)[-1] == claim_id.replace("-", "_")
        assert {"quick", "paper"} <= set(module.SCALES) <= {"quick", "paper", "large"}
        for name in ("experiment", "predict", "check", "PAPER", "CLAIM"):
            assert hasattr(module, name), (claim_id, name)
        assert not hasattr(module, "figure"), f"{claim_id}: the figure lives in claims/figures"
        assert callable(figure_module(module).draw)
        assert "seed" in module.SCALES["quick"]


def test_figure_is_drawn(qs_data, tmp_path):
    from testbed.claims.figures import quadratic_stability as qs_figure
    data, params = qs_data
    path = tmp_path / "q.png"
    qs_figure.draw(data, qs.predict(params), params, path)
    assert path.stat().st_size > 10_000


def _verdict(*rows):
    return Verdict(list(rows))


def test_status_is_derived_from_the_criteria():
    ok = holds("a", 1, 1, "exact", True)
    code_bad = holds("b", 1, 2, "exact", False)
    science_bad = holds("c", 0.1, ">= 0.3", "empirical", False, science=True)
    undecided = holds("d", None, 1, "too short to measure", None)
    assert _verdict(ok).status == "pass"
    assert _verdict(ok, science_bad).status == "not reproduced"
    assert _verdict(ok, science_bad, code_bad).status == "fail"
    assert _verdict(ok, undecided).status == "inconclusive"
    assert _verdict(ok, science_bad).passed is False
    assert _verdict(ok, undecided).passed is None


def test_criterion_helpers_hold_and_fail_as_stated():
    assert close("x", 1.05, 1.0, 0.1, "r").holds
    assert not close("x", 1.2, 1.0, 0.1, "r").holds
    assert close("x", 105.0, 100.0, 0.06, "r", relative=True).holds
    assert not close("x", float("nan"), 1.0, 0.1, "r").holds
    assert at_most("x", 1e-12, 1e-10, "r").holds and not at_most("x", 1e-9, 1e-10, "r").holds
    with pytest.raises(ValueError, match="repeat"):
        _verdict(holds("a", 1, 1, "r", True), holds("a", 1, 1, "r", True))
    assert isinstance(_verdict(holds("a", 1, 1, "r", True))["a"], Criterion)
