"""The ensemble runner (testbed.run): stability and divergence, reproducibility,
events, observers, results and input errors.

Only a few (landscape, rule, event) pairs are compiled, all on the quadratic
1/2 sum lam_i x_i^2 (d = 3, the spectrum is a per-run or per-replica parameter):
gd and noisy_gd (shared with tests/test_rules.py), gd with the escape and converged
events, gd with the sharpness observer, and gd on a SymPy landscape that is NaN on
half the line.
"""
import math

import numba
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import testbed
from testbed import events
from testbed.kernel import BUDGET, DIVERGED, EVENT
from testbed.errors import TestbedError

SETTINGS = settings(max_examples=20,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
LAMS = st.lists(st.floats(0.5, 4.0), min_size=3, max_size=3)
COORD = st.floats(0.5, 2.0).flatmap(lambda a: st.sampled_from([a, -a]))
X0S = st.lists(COORD, min_size=3, max_size=3)
SEEDS = st.integers(-(2**63), 2**63 - 1)


@pytest.fixture(scope="module")
def quad():
    """The compiled pairs, warmed once so that hypothesis times no compilation."""
    L = testbed.landscape("quadratic", d=3, lam=[1.0, 2.0, 4.0])
    testbed.run(L, "gd", np.ones(3), 2, eta=0.1)
    testbed.run(L, "noisy_gd", np.ones(3), 2, eta=0.1, sigma=0.1)
    return L


def f_quad(lam, x):
    s = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(x.shape[0]):
            s += 0.5 * lam[i] * x[i] * x[i]
    return s


def norm(v):
    return math.sqrt(sum(float(c) * float(c) for c in v))


def gd_twin(lam, eta, x, steps):
    """NumPy GD on the quadratic: the iterates, and the first step whose loss is not
    finite (None if there is none)."""
    lam = np.asarray(lam, dtype=float)
    xs = [np.asarray(x, dtype=float)]
    for t in range(steps):
        if not math.isfinite(f_quad(lam, xs[-1])):
            return xs, t
        xs.append(xs[-1] - eta * (lam * xs[-1]))
    return xs, None


# --- stability of GD: eta < 2 / lam_max converges, eta > 2 / lam_max diverges --------
@SETTINGS
@given(lam=LAMS, c=st.floats(0.05, 0.9), x0=X0S)
def test_gd_converges_below_two_over_lambda_max(quad, lam, c, x0):
    """eta = c 2/lam_max, 0.05 <= c <= 0.9: every factor |1 - eta lam_i| <= q with
    q <= max(0.8, 1 - 0.1 lam_min / lam_max) <= 1 - 0.1/8 = 0.9875, so 1000 steps
    shrink x by q^1000 < 4e-6; the iterates are NumPy's GD bit for bit and f never
    increases."""
    eta = c * 2.0 / max(lam)
    res = testbed.run(quad.bind(lam=lam), "gd", x0, 1000, eta=eta)
    xs, stop = gd_twin(lam, eta, x0, 1000)
    assert stop is None and res.status[0] == BUDGET and res.stop_step[0] == 1000
    np.testing.assert_array_equal(res.x[0], xs[-1])
    q = max(abs(1.0 - eta * v) for v in lam)
    # (+1e-300: near the underflow threshold rounding is absolute, not relative)
    assert np.max(np.abs(res.x[0])) <= q**1000 * np.max(np.abs(x0)) * (1 + 1e-12) + 1e-300
    assert np.max(np.abs(res.x[0])) < 4e-6 * np.max(np.abs(x0))
    assert np.all(np.diff(res.traces["loss"][:, 0]) <= 0)


@SETTINGS
@given(lam=LAMS, c=st.floats(1.15, 3.0), x0=X0S)
def test_gd_diverges_above_two_over_lambda_max(quad, lam, c, x0):
    """eta = c 2/lam_max, c >= 1.15: the top coordinate grows by 2c - 1 >= 1.3 per
    step from |x| >= 0.5, so f = 1/2 lam x^2 overflows (|x| > ~2.7e154) within
    log(5.4e154) / log(1.3) < 1400 steps of the 2000 allowed. The replica is flagged
    diverged at the first step whose loss is not finite."""
    eta = c * 2.0 / max(lam)
    res = testbed.run(quad.bind(lam=lam), "gd", x0, 2000, eta=eta)
    _, stop = gd_twin(lam, eta, x0, 2000)
    assert stop is not None and stop < 1400
    assert res.status[0] == DIVERGED and res.stop_step[0] == stop
    loss = res.traces["loss"][:, 0]
    assert np.all(np.isfinite(loss[:stop])) and not np.isfinite(loss[stop])
    assert np.all(np.isnan(loss[stop + 1:]))


def test_divergence_is_per_replica(quad):
    """Mixed step sizes on lam = (1, 2, 4) (threshold eta = 0.5): the replicas with
    eta > 0.5 are flagged diverged; the others finish as if they had run alone."""
    eta = np.array([0.1, 0.6, 0.3, 1.0, 0.45, 0.65])   # growth >= 1.4: < 1100 steps
    unstable = eta > 0.5
    x0 = np.array([1.0, -1.0, 0.5])
    res = testbed.run(quad, "gd", x0, 1500, n=eta.size, eta=eta,
                      observe=("loss", "grad_norm"))
    assert np.all(res.status[unstable] == DIVERGED)
    assert np.all(res.status[~unstable] == BUDGET)
    for r in range(eta.size):
        _, stop = gd_twin([1.0, 2.0, 4.0], eta[r], x0, 1500)
        loss = res.traces["loss"][:, r]
        if unstable[r]:
            assert res.stop_step[r] == stop
            assert np.all(np.isnan(loss[stop + 1:]))
        else:
            alone = testbed.run(quad, "gd", x0, 1500, eta=eta[r],
                                observe=("loss", "grad_norm"))
            np.testing.assert_array_equal(res.x[r], alone.x[0])
            np.testing.assert_array_equal(loss, alone.traces["loss"][:, 0])
            np.testing.assert_array_equal(res.traces["grad_norm"][:, r],
                                          alone.traces["grad_norm"][:, 0])
            assert np.all(np.isfinite(loss)) and np.all(np.isfinite(res.x[r]))
    assert res.diverged.tolist() == unstable.tolist()


# --- reproducibility: the stream belongs to the replica ------------------------------
def _same(a, b, rows=slice(None)):
    np.testing.assert_array_equal(a.x[rows], b.x)
    np.testing.assert_array_equal(a.status[rows], b.status)
    np.testing.assert_array_equal(a.stop_step[rows], b.stop_step)
    for key in b.traces:
        np.testing.assert_array_equal(a.traces[key][..., rows], b.traces[key])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@SETTINGS
@given(seed=SEEDS, sigma=st.floats(1e-3, 1.0))
def test_noisy_gd_same_on_one_or_two_threads(quad, seed, sigma):
    kw = dict(n=16, seed=seed, eta=np.linspace(0.05, 0.45, 16), sigma=sigma,
              coords=(0, 2), observe=("loss", "grad_norm"))
    one = testbed.run(quad, "noisy_gd", np.ones(3), 60, threads=1, **kw)
    two = testbed.run(quad, "noisy_gd", np.ones(3), 60, threads=2, **kw)
    _same(one, two)


@SETTINGS
@given(seed=SEEDS, sigma=st.floats(1e-3, 1.0))
def test_noisy_gd_replica_does_not_depend_on_n(quad, seed, sigma):
    small = testbed.run(quad, "noisy_gd", np.ones(3), 60, n=7, seed=seed, eta=0.2,
                        sigma=sigma, coords=(1,))
    big = testbed.run(quad, "noisy_gd", np.ones(3), 60, n=50, seed=seed, eta=0.2,
                      sigma=sigma, coords=(1,))
    _same(big, small, rows=slice(0, 7))
    assert not np.array_equal(big.x[0], big.x[1])


@SETTINGS
@given(seed=SEEDS, lo=st.integers(0, 10), size=st.integers(1, 6))
def test_replica_offset_reproduces_a_chunk(quad, seed, lo, size):
    X0 = np.linspace(-1, 1, 48).reshape(16, 3)
    eta = np.linspace(0.05, 0.45, 16)
    whole = testbed.run(quad, "noisy_gd", X0, 40, seed=seed, eta=eta, sigma=0.1,
                        coords=(0, 1, 2))
    rows = slice(lo, lo + size)
    chunk = testbed.run(quad, "noisy_gd", X0[rows], 40, seed=seed, eta=eta[rows],
                        sigma=0.1, coords=(0, 1, 2), replica_offset=lo)
    _same(whole, chunk, rows=rows)
    assert chunk.meta["replica_offset"] == lo


# --- events ------------------------------------------------------------------------
@SETTINGS
@given(a=st.floats(0.01, 0.5), R=st.floats(1.0, 100.0), eta=st.floats(0.05, 0.5),
       rest=st.lists(st.floats(-2, 2), min_size=2, max_size=2))
def test_escape_stops_at_the_first_step_outside(quad, a, R, eta, rest):
    """On lam = (-0.5, 1, 2) GD multiplies x_0 by 1 + eta/2 >= 1.025 per step, so
    |x_0| passes R <= 100 from a >= 0.01 within 400 steps. The replica stops at the
    first t with |x_0(t)| > R (stop step t, x = x_t)."""
    L = quad.bind(lam=[-0.5, 1.0, 2.0])
    x0 = np.array([a, *rest])
    res = testbed.run(L, "gd", x0, 1000, eta=eta, event=events.escape(0, R))
    xs, _ = gd_twin([-0.5, 1.0, 2.0], eta, x0, 1000)
    t = next(k for k, x in enumerate(xs) if abs(x[0]) > R)
    assert res.status[0] == EVENT and res.stop_step[0] == t
    np.testing.assert_array_equal(res.x[0], xs[t])
    assert np.isfinite(res.traces["loss"][t, 0]) and np.all(np.isnan(res.traces["loss"][t + 1:, 0]))


@SETTINGS
@given(lam=LAMS, gtol=st.floats(1e-8, 1e-2), x0=X0S)
def test_converged_stops_when_the_gradient_is_small(quad, lam, gtol, x0):
    """converged(gtol): stop after the first step t taken from a point with
    |grad f(x_t)| < gtol (stop step t + 1, x = x_{t+1})."""
    eta = 1.0 / max(lam)
    res = testbed.run(quad.bind(lam=lam), "gd", x0, 3000, eta=eta,
                      event=events.converged(gtol))
    xs, _ = gd_twin(lam, eta, x0, 3000)
    t = next(k for k, x in enumerate(xs) if norm(np.asarray(lam) * x) < gtol)
    assert res.status[0] == EVENT and res.stop_step[0] == t + 1
    np.testing.assert_array_equal(res.x[0], xs[t + 1])


# --- observers ----------------------------------------------------------------------
@pytest.mark.parametrize("stride", [1, 3])
def test_loss_grad_norm_coords_traces(quad, stride):
    lam = np.array([1.0, 2.0, 4.0])
    X0 = np.array([[1.0, -1.0, 0.5], [0.2, 0.3, -0.4]])
    eta = np.array([0.2, 0.6])                       # the second diverges
    res = testbed.run(quad, "gd", X0, 1500, eta=eta, stride=stride,
                      observe=("loss", "grad_norm"), coords=(2, 0))
    assert res.steps.tolist() == list(range(0, 1501, stride))
    for r in range(2):
        xs, stop = gd_twin(lam, eta[r], X0[r], 1500)
        stop = 1500 if stop is None else stop
        for k, step in enumerate(res.steps):
            loss, gn = res.traces["loss"][k, r], res.traces["grad_norm"][k, r]
            coords = res.traces["coords"][k, :, r]
            if step > stop:
                assert np.isnan(loss) and np.isnan(gn) and np.all(np.isnan(coords))
                continue
            x = xs[step]
            np.testing.assert_array_equal(coords, x[[2, 0]])
            assert loss == f_quad(lam, x) or (np.isinf(loss) and step == stop)
            if np.isfinite(loss):
                assert gn == pytest.approx(norm(lam * x), rel=1e-15)


def test_sharpness_is_the_top_hessian_eigenvalue(quad):
    """The largest eigenvalue, not the largest in modulus; per-replica parameters."""
    P = np.array([[-5.0, 1.0, 2.0], [1.0, 3.0, 2.0], [0.5, -0.5, 0.0]])
    res = testbed.run(quad, "gd", np.ones(3), 12, n=3, eta=0.1, params=P, stride=4,
                      observe=("loss", "grad_norm", "sharpness"))
    expected = [np.linalg.eigvalsh(np.diag(p))[-1] for p in P]
    np.testing.assert_allclose(res.traces["sharpness"], np.tile(expected, (4, 1)),
                               rtol=1e-14)
    assert res.traces["sharpness"].shape == (4, 3)


def test_sharpness_observer_survives_a_diverging_run():
    eos = testbed.landscape("eos_minimalist")
    res = testbed.run(eos, "gd", [3.0, 3.0], 20, n=2, eta=np.array([1.0, 1e-3]),
                      observe=("loss", "sharpness"))
    assert res.status.tolist() == [DIVERGED, BUDGET]
    assert np.isnan(res.traces["sharpness"][-1, 0])
    assert np.all(np.isfinite(res.traces["sharpness"][:, 1]))


def test_sharpness_after_the_run_equals_the_in_run_observer(monkeypatch):
    """d > 64: the sharpness is computed after the run on the recorded iterates (in
    threads); forcing the in-runner observer gives the same values bit for bit, the
    same coordinate traces, and NaN after a divergence in both."""
    from testbed._engine import runner as _runner
    L = testbed.landscape("gaussian_field", d=80, K=200)
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((3, 80))
    X0[2] *= 1e3                                   # this one diverges at eta = 50
    kw = dict(n=3, eta=np.array([0.05, 0.1, 50.0]), stride=3, coords=(1, 7),
              observe=("loss", "sharpness"), sharpness_iters=12)
    assert _runner._sharpness_after(3, 80, 5)
    after = testbed.run(L, "gd", X0, 12, **kw)
    monkeypatch.setattr(_runner, "SHARPNESS_AFTER_BYTES", -1)
    inside = testbed.run(L, "gd", X0, 12, **kw)
    for k in ("loss", "sharpness", "coords"):
        np.testing.assert_array_equal(after.traces[k], inside.traces[k])
    assert after.traces["coords"].shape == (5, 2, 3)
    assert np.isfinite(after.traces["sharpness"][:, :2]).all()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("eta", [0.05, 1e3])
def test_sharpness_alongside_the_run_equals_the_in_run_observer(monkeypatch, eta):
    """N = 1 < threads: the spare thread computes the sharpness of recorded iterates
    while the run goes on; the values equal those computed after the run (1 thread)
    and inside the runner, bit for bit, NaN after a divergence included."""
    from testbed._engine import runner as _runner
    L = testbed.landscape("quadratic", d=80)      # eta = 1e3 overflows near step 100
    x0 = np.random.default_rng(1).standard_normal(80)
    kw = dict(eta=eta, stride=4, observe=("loss", "sharpness"), sharpness_iters=12)
    alongside = testbed.run(L, "gd", x0, 200, threads=2, **kw)
    after = testbed.run(L, "gd", x0, 200, threads=1, **kw)
    monkeypatch.setattr(_runner, "SHARPNESS_AFTER_BYTES", -1)
    inside = testbed.run(L, "gd", x0, 200, threads=2, **kw)
    for other in (after, inside):
        for k in ("loss", "sharpness"):
            np.testing.assert_array_equal(alongside.traces[k], other.traces[k])
    finite = np.isfinite(alongside.traces["loss"][:, 0])
    assert np.isfinite(alongside.traces["sharpness"][finite, 0]).all()
    assert finite.all() == (eta < 1)


@pytest.mark.parametrize("where", ["run", "observer"])
def test_an_error_alongside_the_sharpness_is_raised(where):
    """An exception in the run or in an observation reaches the caller and the other
    threads stop (no hang)."""
    import types
    from testbed._engine import runner as _runner

    class Kernel:
        @staticmethod
        def run(lo, hi, *args):
            if where == "run":
                raise RuntimeError("step failed")
            loss[:, lo] = 1.0                   # every observation ready and finite
            progress[lo] = loss.shape[0]

    def sharpness(x, p, n_iter):
        raise RuntimeError("observation failed")
    loss = np.full((5, 1), np.nan)
    progress = np.zeros(1, np.int64)
    job = types.SimpleNamespace(P=np.zeros((1, 0)), sharpness_iters=12)
    oracle = types.SimpleNamespace(sharpness=sharpness, sharpness_lanczos=sharpness)
    with pytest.raises(RuntimeError, match="step failed" if where == "run" else "observation"):
        _runner._run_with_sharpness_alongside(Kernel, oracle, job, (), 2,
                                              np.zeros((5, 80, 1)), loss, loss.copy(),
                                              progress)


def test_nan_params_are_refused(quad):
    with pytest.raises(TestbedError, match="params contain NaN"):
        testbed.run(quad, "gd", np.ones(3), 5, n=2, eta=0.1,
                    params=[[np.nan, 1.0, 2.0], [1.0, 2.0, 4.0]])


# --- results ------------------------------------------------------------------------
def test_meta_and_save_load_round_trip(quad, tmp_path):
    eta = np.array([0.1, 0.2, 0.3])
    res = testbed.run(quad, "noisy_gd", np.ones(3), 20, n=3, seed=123, eta=eta,
                      sigma=0.01, coords=(1,), stride=5, observe=("loss", "grad_norm"))
    m = res.meta
    assert m["seed"] == 123 and m["rule"] == "noisy_gd" and m["landscape"] == "quadratic"
    assert m["hyper"] == {"eta": [0.1, 0.2, 0.3], "sigma": 0.01}
    assert m["params"] == {"lam": [1.0, 2.0, 4.0]}
    assert m["version"] == testbed.__version__
    assert (m["steps"], m["stride"], m["n"], m["d"]) == (20, 5, 3, 3)
    path = tmp_path / "res.npz"
    res.save(path)
    back = testbed.Result.load(path)
    assert back.meta == m
    for key in ("x", "status", "stop_step", "steps", "scalars"):
        np.testing.assert_array_equal(getattr(back, key), getattr(res, key))
        assert getattr(back, key).dtype == getattr(res, key).dtype
    assert back.traces.keys() == res.traces.keys()
    for key in res.traces:
        np.testing.assert_array_equal(back.traces[key], res.traces[key])


# --- bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=-0.1), r"'eta' = -0.1 is outside its domain \(0, inf\)"),
    (dict(eta=0.0), r"'eta' = 0.0 is outside its domain \(0"),
    (dict(rule="noisy_gd", eta=0.1, sigma=0.0), r"'sigma' = 0.0 is outside its domain \(0"),
    (dict(rule="noisy_gd", eta=0.1, sigma=-1.0), r"'sigma' = -1.0 is outside"),
    (dict(rule="adam", eta=0.1, beta1=1.5), r"'beta1' = 1.5 is outside its domain \[0, 1\)"),
    (dict(rule="sgd", eta=0.1, batch=2.5), "'batch' must be a whole number"),
    (dict(eta=0.1, n=0), r"n must be an integer in \[1"),
    (dict(eta=0.1, seed=2**64 - 1), r"seed must lie in \[-2\*\*63"),
    (dict(rule="noisy_gd", eta=0.1), "needs sigma"),
    (dict(), "needs eta"),
    (dict(eta=0.1, momentum=0.9), "no hyper-parameter.*momentum"),
    (dict(eta=0.1, seed=1.5), "seed must be an integer"),
    (dict(eta=0.1, seed="3"), "seed must be an integer"),
    (dict(eta=0.1, seed=True), "seed must be an integer"),
    (dict(eta=0.1, x0=[1.0, 2.0]), "x0 has 2 coordinates"),
    (dict(eta=0.1, x0=np.ones((2, 4))), r"x0 must have shape \(3,\) or \(N, 3\)"),
    (dict(eta=0.1, x0=[1.0, np.nan, 0.0]), "x0 contains NaN"),
    (dict(eta=0.1, x0=[1.0, np.inf, 0.0]), "x0 contains NaN or inf"),
    (dict(rule="sgd_with_typo", eta=0.1), "unknown update rule 'sgd_with_typo'"),
    (dict(eta=0.1, observe=("loss", "curvature")), "unknown observable"),
    (dict(eta=0.1, steps=0), r"steps must be an integer in \[1, 2\*\*62\]"),
    (dict(eta=0.1, steps=2.5), "steps must be an integer"),
    (dict(rule="projected_gd", eta=0.1), "projected_gd needs projection"),
    (dict(eta=[0.1, 0.2, 0.3], n=2), "length 2"),
    (dict(eta=0.1, n=2, params=np.ones((3, 3))), "params must have shape"),
    (dict(eta=0.1, coords=(3,)), "coords"),
    (dict(eta=0.1, threads=0), "threads"),
])
def test_bad_input_raises_a_clear_error(quad, kwargs, match):
    kwargs = {"rule": "gd", "x0": np.ones(3), "steps": 10, **kwargs}
    with pytest.raises(TestbedError, match=match):
        testbed.run(quad, **kwargs)


def test_unknown_landscape_name():
    with pytest.raises(TestbedError, match="unknown landscape 'no_such_landscape'"):
        testbed.run("no_such_landscape", "gd", [0.0], 10, eta=0.1)


def test_unbound_landscape():
    from testbed.objective.registry import entry
    with pytest.raises(TestbedError, match="not bound"):
        testbed.run(entry("quadratic"), "gd", np.ones(3), 10, eta=0.1)


# --- a landscape that is NaN off its domain ----------------------------------------------
def test_nan_landscape_is_flagged_diverged_at_step_zero():
    """f = x^2 - log x is NaN for x < 0: those replicas are flagged diverged at step 0
    (with a warning); the others converge to 1/sqrt 2, unaffected."""
    x = sp.Symbol("x", real=True)
    L = testbed.symbolic("test_ensemble_nan_log", x**2 - sp.log(x), (x,))
    X0 = np.array([[-1.0], [0.5], [-0.1], [2.0]])
    with pytest.warns(UserWarning, match="2 of 4 replicas"):
        res = testbed.run(L, "gd", X0, 200, eta=0.1, coords=(0,))
    assert res.status.tolist() == [DIVERGED, BUDGET, DIVERGED, BUDGET]
    assert res.stop_step.tolist() == [0, 200, 0, 200]
    np.testing.assert_allclose(res.x[[1, 3], 0], 2**-0.5, rtol=1e-12)
    assert np.all(np.isnan(res.traces["loss"][1:, [0, 2]]))
    alone = testbed.run(L, "gd", X0[1], 200, eta=0.1, coords=(0,))
    np.testing.assert_array_equal(res.traces["loss"][:, 1], alone.traces["loss"][:, 0])
    np.testing.assert_array_equal(res.x[1], alone.x[0])
