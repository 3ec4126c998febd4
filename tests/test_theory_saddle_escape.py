"""Checks of testbed.theory.saddle_escape against exact iteration and Monte Carlo of B1."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from testbed.errors import TestbedError
from testbed.theory.saddle_escape import (
    deterministic_escape_estimate, deterministic_escape_step, koenigs_h,
    naive_escape_estimate, noisy_escape_distribution)

ETA, SIGMA, R, GAMMA = 0.1, 1e-4, 0.5, 1.0   # benchmark B1 (x_1 only; d is irrelevant)
N = 20_000
ALPHA = 1e-3                                  # DKW false-alarm probability


def phi(x, eta=ETA):
    return x + eta * (GAMMA * x - x ** 3)


def simulate(n, seed, eta=ETA, t_max=1000):
    """Escape steps of the exact 1-D chain x <- phi(x) + sigma xi, x_0 = 0 (0 = not escaped)."""
    rng = np.random.default_rng(seed)
    x, idx, T = np.zeros(n), np.arange(n), np.zeros(n, dtype=int)
    for t in range(1, t_max + 1):
        x = phi(x, eta) + SIGMA * rng.standard_normal(x.size)
        out = np.abs(x) > R
        T[idx[out]] = t
        x, idx = x[~out], idx[~out]
        if idx.size == 0:
            break
    return T


@pytest.fixture(scope="module")
def sim():
    T = simulate(N, seed=20240611)
    assert (T > 0).all()
    return T


@pytest.fixture(scope="module")
def pred():
    return noisy_escape_distribution(ETA, SIGMA, R, GAMMA)


def std_error_of_std(d, n):
    """Delta method: sd(sample sd) = sqrt(mu4 - sigma^4) / (2 sigma sqrt(n)), mu4 from the pmf."""
    mu4 = float(np.dot((d.t - d.mean) ** 4, d.pmf))
    return math.sqrt(mu4 - d.std ** 4) / (2.0 * d.std * math.sqrt(n))


# ---- Koenigs coordinate ---------------------------------------------------------------

def test_koenigs_functional_equation_and_shape():
    x = np.linspace(-R, R, 41)
    h = koenigs_h(x, ETA)
    assert np.allclose(koenigs_h(phi(x), ETA), (1 + ETA * GAMMA) * h, rtol=1e-13, atol=1e-16)
    assert np.allclose(h, -h[::-1]) and np.all(np.diff(h) > 0)
    c = ETA / ((1 + ETA) * ((1 + ETA) ** 2 - 1))              # h = x + c x^3 + O(x^5)
    small = np.array([1e-3, 1e-2])
    assert np.allclose(koenigs_h(small, ETA), small + c * small ** 3, rtol=1e-7)
    assert koenigs_h(0.0, ETA) == 0.0 and koenigs_h(R, ETA) > R


@settings(max_examples=30)
@given(eta=st.floats(0.01, 0.3), gamma=st.floats(0.5, 2.0), u=st.floats(0.0, 0.95))
def test_koenigs_equation_random(eta, gamma, u):
    mu = 1 + eta * gamma
    x = u * min(math.sqrt(gamma), math.sqrt(mu / (3 * eta)))     # inside the monotone branch
    y = x + eta * (gamma * x - x ** 3)
    assume(y * y < 0.999 * gamma and mu - 3 * eta * y * y > 0)   # phi(x) inside it too
    assert koenigs_h(y, eta, gamma) == pytest.approx(mu * koenigs_h(x, eta, gamma), rel=1e-12, abs=1e-300)


def test_non_monotone_or_too_wide_raises():
    with pytest.raises(TestbedError, match="monotone"):
        koenigs_h(0.9, eta=1.0)                   # phi'(0.9) = 2 - 2.43 < 0
    with pytest.raises(TestbedError, match="fixed point"):
        noisy_escape_distribution(ETA, SIGMA, radius=1.0)
    with pytest.raises(TestbedError):
        deterministic_escape_step(0.0, ETA, R)


# ---- deterministic escape ---------------------------------------------------------------

@pytest.mark.parametrize("eta", [0.1, 0.03, 0.25])
def test_deterministic_closed_form_is_exact(eta):
    deltas = np.logspace(-2, -12, 201)
    exact = [deterministic_escape_step(d, eta, R) for d in deltas]
    assert np.array_equal(deterministic_escape_estimate(deltas, eta, R), exact)
    assert all(deterministic_escape_estimate(d, eta, R) == e for d, e in zip(deltas[::40], exact[::40]))
    assert deterministic_escape_estimate(0.6, eta, R) == deterministic_escape_step(0.6, eta, R) == 0


# ---- noisy escape: internal consistency ---------------------------------------------------

def test_distribution_is_consistent(pred):
    assert pred.pmf[0] == 0.0 and np.all(pred.pmf >= 0)
    assert pred.pmf.sum() + pred.p_not_escaped == pytest.approx(1.0, abs=1e-12)
    assert pred["mean"] == pred.mean and pred.model_error_steps < 0.01 and pred.late_noise_ratio < 0.01
    short = noisy_escape_distribution(ETA, SIGMA, R, t_max=85)
    assert short.p_not_escaped == pytest.approx(1 - pred.cdf[85], rel=1e-9)
    # large-t limit: T = ceil(log_mu(H/|Y|)), E ln|Z| = -(euler_gamma + ln 2)/2, sd ln|Z| = pi/sqrt(8)
    lnmu = math.log(1 + ETA * GAMMA)
    m = (math.log(pred.h_radius / pred.y_scale) + (np.euler_gamma + math.log(2)) / 2) / lnmu + 0.5
    assert pred.mean == pytest.approx(m, abs=0.01)
    assert pred.std == pytest.approx(math.hypot(math.pi / math.sqrt(8) / lnmu, math.sqrt(1 / 12)), abs=0.01)


def test_naive_formula():
    mu = 1 + ETA * GAMMA
    k = naive_escape_estimate(ETA, SIGMA, R, GAMMA)
    assert SIGMA * math.sqrt((mu ** (2 * k) - 1) / (mu ** 2 - 1)) == pytest.approx(R, rel=1e-12)


def test_linearised_noise_changes_almost_no_path():
    """Same xi for the exact chain in x and the linear chain y <- mu y + sigma xi with threshold
    H = h(R): the escape steps coincide on > 99% of paths, so the only approximation is tiny."""
    rng = np.random.default_rng(5)
    n, mu, H = 5000, 1 + ETA * GAMMA, koenigs_h(R, ETA)
    x, y, Tx, Ty = np.zeros(n), np.zeros(n), np.zeros(n, int), np.zeros(n, int)
    for t in range(1, 400):
        xi = SIGMA * rng.standard_normal(n)
        x, y = phi(x) + xi, mu * y + xi
        Tx[(Tx == 0) & (np.abs(x) > R)] = t
        Ty[(Ty == 0) & (np.abs(y) > H)] = t
    assert (Tx > 0).all() and np.mean(Tx != Ty) < 0.01 and np.all(np.abs(Tx - Ty) <= 1)


# ---- noisy escape: against Monte Carlo of B1 ------------------------------------------------

def test_mean_and_std_match_simulation(sim, pred):
    se = sim.std(ddof=1) / math.sqrt(N)
    assert abs(sim.mean() - pred.mean) < 3 * se
    # 3 delta-method standard errors of the sample sd (fixed seed: a deterministic check)
    assert abs(sim.std(ddof=1) - pred.std) < 3 * std_error_of_std(pred, N)


def test_naive_recipe_fails(sim):
    se = sim.std(ddof=1) / math.sqrt(N)
    naive = naive_escape_estimate(ETA, SIGMA, R, GAMMA)
    assert sim.mean() - naive > 5 * se and naive < 0.95 * sim.mean()


def test_cdf_within_dkw_band(sim, pred):
    """DKW: P(sup_t |F_N(t) - F(t)| > eps) <= 2 exp(-2 N eps^2) (also valid, conservatively,
    for discrete F), so eps = sqrt(ln(2/alpha)/(2N)) is a level-alpha band."""
    eps = math.sqrt(math.log(2 / ALPHA) / (2 * N))
    F_emp = np.searchsorted(np.sort(sim), pred.t, side="right") / N
    assert np.max(np.abs(F_emp - pred.cdf)) < eps


def test_wrong_eta_is_detected(sim):
    wrong = noisy_escape_distribution(1.1 * ETA, SIGMA, R, GAMMA)
    se = sim.std(ddof=1) / math.sqrt(N)
    assert abs(sim.mean() - wrong.mean) > 3 * se
    F_emp = np.searchsorted(np.sort(sim), wrong.t, side="right") / N
    assert np.max(np.abs(F_emp - wrong.cdf)) > math.sqrt(math.log(2 / ALPHA) / (2 * N))
