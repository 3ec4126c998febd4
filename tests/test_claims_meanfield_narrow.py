"""mean-field-linear-rate and narrow-networks: each experiment at a reduced scale, each
criterion failing when its prediction or the data it reads is deliberately wrong, the
landscape against a NumPy twin, and bad input refused with one clear error."""
import numpy as np
import pytest

import testbed
from testbed.claims import mean_field_linear_rate as MFR
from testbed.errors import TestbedError
from testbed.functions import mean_field as MF

SMALL = {**MFR.SCALES["quick"], "n": 4, "width": 16, "inputs": (2, 8, 16), "steps": 60}


@pytest.fixture(scope="module")
def mf():
    return MFR.experiment(SMALL)


def _mf_check(data, prediction=None):
    return MFR.check(data, prediction or MFR.predict(SMALL), SMALL)


def test_mean_field_landscape_matches_numpy_twin():
    n, m, k = 5, 6, 3
    L = testbed.landscape("mean_field_two_layer", d=m * k, inputs=k, n=n, seed=3)
    X, y = MF.data(n, k, 3)
    c = MF.signs(m)
    W = np.random.default_rng(1).standard_normal((m, k))
    f, g = L.value(W.ravel()), L.grad(W.ravel())
    Z = W @ X.T
    r = c @ (0.5 * Z + np.tanh(Z)) / m - y
    S = 1.5 - np.tanh(Z) ** 2
    grad = (c[:, None] * S * r[None, :]) @ X / (m * n)
    assert abs(f - 0.5 * r @ r / n) < 1e-14
    assert np.max(np.abs(g - grad.ravel())) < 1e-14
    assert abs(MFR.diagnostics(W, X, y, c)[0] - f) < 1e-14


def test_mean_field_passes_and_rates(mf):
    v = _mf_check(mf)
    assert v.status == "pass", [c for c in v.criteria if not c.holds]
    rates = np.array(v.evidence["fitted_rate"])
    assert np.all(rates[1:] > 0)


def test_flow_identity_fails_when_rho_is_wrong(mf):
    v = _mf_check({**mf, "rho": mf["rho"] * 1.1})
    assert v["flow_identity"].holds is False and v.status == "fail"


def test_schur_inequality_fails_when_diagonal_is_inflated(mf):
    v = _mf_check({**mf, "a_min": mf["a_min"] * 10})
    assert v["schur_inequality"].holds is False and v.status == "fail"


def test_control_criterion_fails_under_a_wrong_prediction(mf):
    p = MFR.predict(SMALL)
    p["gram_ratio"] = p["gram_ratio"].copy()
    p["gram_ratio"][0] = 0.01
    assert _mf_check(mf, p)["control_gram_singular"].holds is False


def test_rate_over_certificate_fails(mf):
    p = {**MFR.predict(SMALL), "rate_over_certificate": 3.0}
    v = _mf_check(mf, p)
    assert v["rate_over_certificate"].holds is False and v.status == "not reproduced"
    assert _mf_check({**mf, "lam_min": mf["lam_min"] * 3})["rate_over_certificate"].holds is False


def test_linear_rate_bound_fails_under_a_larger_kappa0(mf):
    p = MFR.predict(SMALL)
    v = _mf_check(mf, {**p, "kappa0": p["kappa0"] * 50})
    assert v["linear_rate_bound"].holds is False


def test_rate_increase_fails_when_sizes_are_swapped(mf):
    swapped = {key: val[[0, 2, 1]] for key, val in mf.items()}
    assert _mf_check(swapped)["rate_increases_with_k"].holds is False


@pytest.mark.parametrize("change", [{"width": 1}, {"n": 0}, {"replicas": 2.5},
                                    {"inputs": (3,)}, {"inputs": (1, 2)},
                                    {"eta": -1.0}, {"steps": 0}])
def test_mean_field_bad_input(change):
    with pytest.raises(TestbedError):
        MFR.predict({**SMALL, **change})


def test_mean_field_landscape_bad_dimension():
    with pytest.raises(TestbedError, match="width times inputs"):
        testbed.landscape("mean_field_two_layer", d=7, inputs=3, n=4)


def test_mean_field_figure(mf, tmp_path):
    from testbed.claims.figures import mean_field_linear_rate as figure
    path = tmp_path / "mf.png"
    figure.draw(mf, MFR.predict(SMALL), SMALL, path)
    assert path.stat().st_size > 10_000


# -- narrow-networks -----------------------------------------------------------------
from testbed import nets                                           # noqa: E402
from testbed._engine.rng import seed_state, uniform                 # noqa: E402
from testbed.claims import narrow_networks as NN                    # noqa: E402

NSMALL = {**NN.SCALES["quick"], "n": 24, "dim": 4, "widths": (6, 12), "seeds": 3,
          "epochs": 60, "batch": 6, "etas": (0.05, 0.1), "check_steps": 10}


@pytest.fixture(scope="module")
def nn():
    return NN.experiment(NSMALL)


def _nn_check(data, prediction=None):
    return NN.check(data, prediction or NN.predict(NSMALL), NSMALL)


def _softplus_twin(x, X, y, m):
    """Loss 1/(2b) |softplus(X W^T) v - y|^2 and its gradient (W then v), in NumPy."""
    d = X.shape[1]
    W, v = x[:m * d].reshape(m, d), x[m * d:]
    Z = X @ W.T
    r = np.logaddexp(0.0, Z) @ v - y
    S = 1.0 / (1.0 + np.exp(-Z))
    gW = ((r[:, None] * S * v[None, :]).T @ X) / X.shape[0]
    gv = np.logaddexp(0.0, Z).T @ r / X.shape[0]
    return 0.5 * r @ r / X.shape[0], np.concatenate([gW.ravel(), gv])


def _region_twin(x, x0, m, d):
    off = m * d
    out = x.copy()
    vmin, R = 0.5 / np.sqrt(m), np.linalg.norm(x0[:off])
    e = out[:off] - x0[:off]
    out[:off] = x0[:off] + e * min(1.0, R / np.linalg.norm(e))
    s = np.where(x0[off:] >= 0, 1.0, -1.0)
    out[off:] = s * np.maximum(s * out[off:], vmin)
    return out


def test_region_projection_matches_numpy_twin():
    m, d = 5, 3
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(m * d + m)
    P, vmin, R = NN.region(x0, m, d)
    for scale in (0.1, 3.0):
        x = x0 + scale * rng.standard_normal(x0.size)
        y = x.copy()
        NN._region(y, P.params)
        assert np.max(np.abs(y - _region_twin(x, x0, m, d))) < 1e-14
        z = y.copy()
        NN._region(z, P.params)
        assert np.array_equal(y, z)                                  # idempotent
        assert np.linalg.norm(y[:m * d] - x0[:m * d]) <= R * (1 + 1e-14)


def test_projected_sgd_matches_a_numpy_twin():
    n, d, m, b, steps, eta, seed = 12, 3, 4, 5, 15, 0.2, 7
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    L = nets.feedforward((d, m, 1), X, y[:, None], act="softplus", loss="mse", bias=False)
    x0 = nets.init_params(L, range(2), "lecun")
    proj = testbed.projections.ball(1.5)
    res = testbed.run(L, "projected_sgd", x0, steps=steps, eta=eta, batch=b, seed=seed,
                      projection=proj, observe=())
    for r in range(2):
        state = np.empty(4, np.uint64)
        seed_state(seed, r, state)
        x = x0[r] * min(1.0, 1.5 / np.linalg.norm(x0[r]))
        for _ in range(steps):
            perm = np.arange(n)
            for i in range(b):
                j = min(i + int(uniform(state) * (n - i)), n - 1)
                perm[i], perm[j] = perm[j], perm[i]
            idx = perm[:b]
            x = x - eta * _softplus_twin(x, X[idx], y[idx], m)[1]
            x = x * min(1.0, 1.5 / np.linalg.norm(x))
        assert np.max(np.abs(res.x[r] - x)) < 1e-12
    assert abs(_softplus_twin(x0[0], X, y, m)[0] - L.value(x0[0])) < 1e-14


def test_narrow_code_criteria_hold_and_science_is_measured(nn):
    v = _nn_check(nn)
    for name in ("identity_max_abs_diff", "feasible", "jacobian_gradient_identity"):
        assert v[name].holds, v[name]
    assert v.status in ("pass", "not reproduced")
    assert set(v.evidence["widths"]) == {"6", "12"}


def test_identity_criterion_fails_when_projected_sgd_is_not_sgd(nn):
    v = _nn_check({**nn, "identity_max_abs_diff": np.array(1e-15)})
    assert v["identity_max_abs_diff"].holds is False and v.status == "fail"


def test_feasible_criterion_fails_on_a_violation(nn):
    v = _nn_check({**nn, "violation_m6": np.array(1e-9)})
    assert v["feasible"].holds is False and v.status == "fail"


def test_jacobian_identity_fails_when_tampered(nn):
    v = _nn_check({**nn, "kkt_identity_m12": nn["kkt_identity_m12"] + 1e-6})
    assert v["jacobian_gradient_identity"].holds is False and v.status == "fail"


def test_beats_sgd_criteria_hold_and_fail(nn):
    spread = 1.0 + 0.1 * np.arange(NSMALL["seeds"])
    better = {**nn, "pgd_loss_m12": nn["sgd_loss_m12"] * 1e-2 * spread,
              "psgd_loss_m12": nn["sgd_loss_m12"] * 1e-2 * spread}
    v = _nn_check(better)
    assert v["pgd_beats_sgd"].holds is True and v["psgd_beats_sgd"].holds is True
    worse = {**nn, "pgd_loss_m12": nn["sgd_loss_m12"] * 10 * spread,
             "psgd_loss_m12": nn["sgd_loss_m12"] * 10 * spread}
    v = _nn_check(worse)
    assert v["pgd_beats_sgd"].holds is False and v["psgd_beats_sgd"].holds is False
    assert v.status == "not reproduced"
    wrong = {**NN.predict(NSMALL), "log_ratio_upper": -5.0}      # 5 decades better
    v = _nn_check(better, wrong)
    assert v["pgd_beats_sgd"].holds is False and v["psgd_beats_sgd"].holds is False


@pytest.mark.parametrize("change", [{"n": 0}, {"seeds": 1}, {"batch": 5},
                                    {"widths": (6, 7)}, {"widths": (12, 0)},
                                    {"widths": (5, 12)}, {"etas": (-0.1,)},
                                    {"epochs": 2.5}])
def test_narrow_bad_input(change):
    with pytest.raises(TestbedError):
        NN.predict({**NSMALL, **change})


def test_narrow_figure(nn, tmp_path):
    from testbed.claims.figures import narrow_networks as figure
    path = tmp_path / "nn.png"
    figure.draw(nn, NN.predict(NSMALL), NSMALL, path)
    assert path.stat().st_size > 10_000
