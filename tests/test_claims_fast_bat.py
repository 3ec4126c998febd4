"""fast-bat: the robust-accuracy evaluation, the experiment at a reduced scale, and
each criterion failing when its prediction or the data it reads is deliberately
wrong (synthetic learning curves for the catastrophic-overfitting criteria)."""
import numpy as np
import pytest

from testbed import nets
from testbed.claims import fast_bat as F
from testbed.errors import TestbedError
from testbed.nets import adversarial as A

SMALL = {**F.SCALES["quick"], "n_train": 300, "n_test": 200, "n_fgsm": 100,
         "hidden": (16,), "seeds": 2, "epochs": 4, "eval_every": 2, "pgd_steps": 5}


@pytest.fixture(scope="module")
def small():
    return F.experiment(SMALL)


@pytest.fixture(scope="module")
def trained():
    X, Y = nets.data.digits()
    L = nets.feedforward((64, 16, 10), X[:300], Y[:300], act="elu", loss="ce")
    x0 = nets.init_params(L, seed=[0, 1], scheme="he")
    import testbed
    res = testbed.run(L, "sgd", x0, 200, seed=0, eta=0.2, batch=32, observe=())
    return L, res.x, X[300:500], Y[300:500]


# --- the evaluation ------------------------------------------------------------------
def test_pgd_accuracy_is_monotone_and_eps0_is_clean(trained):
    L, xs, X, Y = trained
    clean = nets.accuracy(L, xs, X, Y)
    assert np.array_equal(A.pgd_accuracy(L, xs, X, Y, 0.0, 0.05, 5, 3), clean)
    assert A.fgsm_accuracy(L, xs[0], X, Y, 0.0) == clean[0]
    grid = np.array([[A.pgd_accuracy(L, xs, X, Y, 0.1, 0.025, k, r, seed=4)
                      for k in (0, 1, 5, 20)] for r in (1, 3)])
    assert np.all(np.diff(grid, axis=1) <= 0) and np.all(grid[1] <= grid[0])
    assert np.all(grid[0, -1] < clean - 0.1)              # the attack does something
    assert np.all(A.fgsm_accuracy(L, xs, X, Y, 0.1) < clean)
    # seeded: the same starts give the same numbers; one network or a stack agree
    assert A.pgd_accuracy(L, xs[1], X, Y, 0.1, 0.025, 5, 3, seed=4) == grid[1, 2][1]


@pytest.mark.parametrize("kwargs, match", [
    ({"eps": -0.1}, "eps"), ({"alpha": -1.0}, "alpha"), ({"steps": -1}, "steps"),
    ({"restarts": 0}, "restarts"), ({"seed": -1}, "seed"), ({"lo": 1.0}, "lo < hi"),
    ({"steps": 1.5}, "steps")])
def test_pgd_accuracy_refuses_bad_input(trained, kwargs, match):
    L, xs, X, Y = trained
    args = {"eps": 0.1, "alpha": 0.1, "steps": 2, "restarts": 1, **kwargs}
    with pytest.raises(TestbedError, match=match):
        A.pgd_accuracy(L, xs, X, Y, **args)


def test_pgd_accuracy_refuses_bad_shapes(trained):
    L, xs, X, Y = trained
    with pytest.raises(TestbedError, match="x must"):
        A.pgd_accuracy(L, xs[:, :-1], X, Y, 0.1, 0.1, 2)
    with pytest.raises(TestbedError, match="X must"):
        A.fgsm_accuracy(L, xs, X[:, :10], Y, 0.1)


# --- the experiment, reduced -----------------------------------------------------------
def test_small_experiment_code_criteria_hold(small):
    v = F.check(small, F.predict(SMALL), SMALL)
    for name in ("eps0_mismatch", "monotone_violations", "input_grad_rel_err",
                 "cross_term_rel_err"):
        assert v[name].holds, v[name]
    n_eval = SMALL["epochs"] // SMALL["eval_every"]
    assert small["pgd"].shape == (n_eval, len(F.arms(SMALL)), SMALL["seeds"])
    assert v.status in ("pass", "not reproduced")
    assert 0.0 < v.evidence["fast_bat_active_fraction"] < 1.0


@pytest.mark.parametrize("key, bad", [("eps0_mismatch", 1), ("monotone_violations", 1),
                                      ("input_grad_rel_err", 0.3),
                                      ("cross_term_rel_err", 0.5)])
def test_code_criteria_fail_on_wrong_data(small, key, bad):
    v = F.check({**small, key: np.array(bad)}, F.predict(SMALL), SMALL)
    assert v[key].holds is False and v.status == "fail"


@pytest.mark.parametrize("key", ["input_grad_rel_err", "cross_term_rel_err"])
def test_code_criteria_fail_under_a_too_tight_prediction(small, key):
    v = F.check(small, {**F.predict(SMALL), key: 1e-16}, SMALL)
    assert v[key].holds is False and v.status == "fail"


def test_cross_term_check_catches_a_wrong_reduction(trained, monkeypatch):
    """A cross term off by the batch size (sum vs mean, sec. 6.6) is O(1) wrong."""
    L, xs, X, Y = trained
    args = (L, xs[0], X[:32], Y[:32], 0.2, 1.0, 10.0, 1e-4, 0)
    assert F.cross_term_error(*args) < F.CROSS_REL
    right = F.cross_term
    monkeypatch.setattr(F, "cross_term", lambda *a: 32 * right(*a))
    assert F.cross_term_error(*args) > 10


# --- the science criteria on synthetic learning curves ---------------------------------
def _synthetic(co_at=3, co_bat=0, bat_pgd=0.0, bat_clean=0.0, S=5):
    """One eps, arms fast_at / fgsm / fast_bat / pgd_at; PGD accuracy 0.4 rising, and
    in the first ``co_*`` seeds a collapse to 0.05 at evaluation 3 while FGSM rises."""
    params = {**SMALL, "eps": (0.2,), "alphas": (1.25,), "lrs": (0.05,), "seeds": S}
    table = F.arms(params)
    n = 6
    pgd = np.tile(np.linspace(0.3, 0.4, n)[:, None, None], (1, len(table), S))
    fgsm = np.tile(np.linspace(0.3, 0.5, n)[:, None, None], (1, len(table), S))
    clean = np.full((n, len(table), S), 0.9)
    for arm, count in ((0, co_at), (2, co_bat)):
        pgd[3:, arm, :count] = 0.05
        fgsm[3:, arm, :count] = 0.9
    pgd[-1, 2] += bat_pgd
    clean[-1, 2] += bat_clean
    data = {"pgd": pgd, "fgsm": fgsm, "clean": clean,
            "diverged_at": np.full((len(table), S), -1), "active_fraction":
            np.full((len(table), S), 0.3), "input_grad_scale": np.array(0.1),
            "eps": np.array([a["eps"] for a in table]),
            "alpha": np.array([a["alpha"] for a in table]),
            "lr": np.array([a["lr"] for a in table]),
            "method": np.array([F.METHODS.index(a["method"]) for a in table]),
            "epochs": np.arange(1, n + 1), "eps0_mismatch": np.array(0),
            "monotone_violations": np.array(0), "input_grad_rel_err": np.array(1e-9),
            "cross_term_rel_err": np.array(1e-5)}
    return data, params


def test_co_reproduced_passes():
    data, params = _synthetic()
    v = F.check(data, F.predict(params), params)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    assert v["co_fast_at"].measured == 0.6


def test_co_in_too_few_seeds_is_not_reproduced():
    data, params = _synthetic(co_at=2)
    v = F.check(data, F.predict(params), params)
    assert v["co_fast_at"].holds is False and v.status == "not reproduced"
    assert F.check(*_synthetic()[:1], {**F.predict(params), "co_fast_at": 0.8},
                   params)["co_fast_at"].holds is False


def test_fast_bat_with_co_fails_b():
    data, params = _synthetic(co_bat=2)
    v = F.check(data, F.predict(params), params)
    assert v["co_fast_bat"].holds is False and v.status == "not reproduced"


@pytest.mark.parametrize("kwargs, name", [({"bat_pgd": -0.35}, "bat_robust_gap"),
                                          ({"bat_clean": -0.3}, "bat_clean_gap")])
def test_fast_bat_accuracy_gaps_fail_c(kwargs, name):
    data, params = _synthetic(**kwargs)
    v = F.check(data, F.predict(params), params)
    assert v[name].holds is False and v.status == "not reproduced"


def test_co_indicator_needs_a_real_collapse_while_fgsm_rises():
    pgd = np.array([0.3, 0.35, 0.4, 0.1])[:, None]
    rising = np.array([0.3, 0.4, 0.5, 0.6])[:, None]
    falling = np.array([0.3, 0.4, 0.5, 0.2])[:, None]
    assert F.co_events(pgd, rising)[0]
    assert not F.co_events(pgd, falling)[0]                 # a general breakdown
    assert not F.co_events(pgd * 0.3, rising)[0]            # from below the floor
    assert not F.co_events(np.array([0.3, 0.35, 0.4, 0.25])[:, None], rising)[0]
    assert abs(F.drop_ratio(pgd)[0] - 0.25) < 1e-15


def test_a_diverged_network_fails_the_check():
    data, params = _synthetic()
    data["diverged_at"][1, 0] = 17
    v = F.check(data, F.predict(params), params)
    assert v["no_divergence"].holds is False and v.status == "fail"
    assert list(v.evidence["diverged"].values())[0][0] == 17


@pytest.mark.parametrize("change, match", [
    ({"eps": (-0.1,)}, "eps"), ({"alphas": (0.0,)}, "alphas"), ({"batch": 0}, "batch"),
    ({"hidden": (0,)}, "hidden"), ({"seeds": 0}, "seeds"), ({"epochs": 5}, "multiple"),
    ({"lmbda": 0.0}, "lmbda"), ({"n_train": 1700}, "n_train")])
def test_bad_parameters_are_refused(change, match):
    with pytest.raises(TestbedError, match=match):
        F.experiment({**SMALL, **change})


def test_figure(small, tmp_path):
    from testbed.claims.figures import fast_bat as figure
    path = tmp_path / "fast_bat.png"
    figure.draw(small, F.predict(SMALL), SMALL, path)
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("rule, hyper", [
    ("fast_at", {"alpha": 0.1}), ("pgd_at", {"alpha": 0.05, "k": 2}),
    ("fast_bat", {"lr_ll": 1.0})])
def test_diverging_adversarial_training_is_flagged_with_its_step(trained, rule, hyper):
    """A step size far beyond stability: the replica ends as diverged at the step
    whose loss left the finite numbers, with x left finite at the step before, and
    the other replica (a sane step size) runs on."""
    import testbed
    from testbed.kernel import BUDGET, DIVERGED
    L, xs, X, Y = trained
    res = testbed.run(L, rule, xs, 6, seed=0, eta=np.array([1e300, 0.01]), eps=0.1,
                      batch=16, observe=("loss",), **hyper)
    assert res.status[0] == DIVERGED and 1 <= res.stop_step[0] < 6
    assert np.all(np.isfinite(res.x[0]))
    assert res.status[1] == BUDGET
