"""Benchmarks B1, B2 at small scale, and the structure-of-arrays GD path (lanes) that
B2 runs on, against the generic runner bit for bit.

Kernels compiled here: the lanes module of eos_minimalist, the generic gd runner on
eos_minimalist (shared with test_rules), and noisy_gd x strict_saddle x escape (B1).
"""
import json
import math

import numpy as np
import pytest

import testbed
from testbed._engine import lanes as _lanes
from testbed.kernel import BUDGET, DIVERGED, EVENT
from testbed.bench import b1, b2, b3, b4, names, run_all, run_benchmark, table
from testbed.bench._bounds import LARGE, Rates, machine
from testbed.result import Result

# the awkward starts include one whose loss is already infinite (a warning says so)
pytestmark = pytest.mark.filterwarnings("ignore:1 of .* in their first step")


@pytest.fixture(scope="module")
def eos():
    return testbed.landscape("eos_minimalist")


def generic(L, X, steps, **kw):
    """The generic runner (an explicit ``params`` makes the lanes path ineligible)."""
    return testbed.run(L, "gd", X, steps, params=L.p[None, :], **kw)


def awkward_starts(n, seed):
    """Random starts plus replicas that diverge at step 0, step 1 (a non-finite loss),
    at the very end (finite loss, infinite gradient: x^2 y^4 overflows while
    (x^2 y^2 - 1)^2 does not), and a signed zero that must survive."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.5, 2.5, (n, 2))
    X[0] = [30.0, 30.0]           # f finite, overshoots: non-finite loss a few steps on
    X[1] = [1e80, 1e80]           # f(x_0) = inf: diverged at step 0
    X[2] = [1e-145, 1e150]        # f finite, g_x = inf: x_1 = -inf, f(x_1) = inf
    X[3] = [-0.0, 1.0]            # g_x = +0.0: x stays -0.0
    X[4] = [0.0, 0.0]             # a critical point
    eta = rng.uniform(0.05, 0.5, n)
    return X, eta


def assert_same(a, b):
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.stop_step, b.stop_step)
    # bit for bit, signed zeros and NaN payloads included
    np.testing.assert_array_equal(a.x.view(np.int64), b.x.view(np.int64))
    assert a.traces.keys() == b.traces.keys()
    for k in a.traces:
        np.testing.assert_array_equal(a.traces[k], b.traces[k])
    np.testing.assert_array_equal(a.steps, b.steps)
    assert a.meta == b.meta


@pytest.mark.parametrize("steps, stride, observe", [
    (50, 1, ("loss",)), (50, 7, ("loss",)), (130, 13, ()), (64, 64, ("loss",)),
    (1, 1, ("loss",)), (3, 5, ("loss",)), (200, 10, ())])
def test_lanes_bit_identical_to_generic(eos, steps, stride, observe, monkeypatch):
    X, eta = awkward_starts(150, seed=steps + stride)
    calls = []
    real = _lanes.run
    monkeypatch.setattr(_lanes, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    fast = testbed.run(eos, "gd", X, steps, eta=eta, stride=stride, observe=observe)
    assert calls, "testbed.run did not take the lanes path"
    slow = generic(eos, X, steps, eta=eta, stride=stride, observe=observe)
    fast.meta.pop("params"), slow.meta.pop("params")
    assert_same(fast, slow)
    assert fast.diverged.sum() >= 2


def test_lanes_divergence_cases(eos):
    X, eta = awkward_starts(100, seed=3)
    eta[:5] = 0.1
    with pytest.warns(UserWarning, match="diverged at step 0"):
        res = testbed.run(eos, "gd", X, 1, eta=eta)      # one step: end-of-run check
    assert res.status[1] == DIVERGED and res.stop_step[1] == 0
    assert res.status[2] == DIVERGED and res.stop_step[2] == 1 and res.x[2, 0] == -np.inf
    assert np.isnan(res.traces["loss"][1, 2])            # no final observation
    res = testbed.run(eos, "gd", X, 5, eta=eta)
    assert res.status[2] == DIVERGED and res.stop_step[2] == 1
    assert res.traces["loss"][1, 2] == np.inf and np.all(np.isnan(res.traces["loss"][2:, 2]))
    assert math.copysign(1.0, res.x[3, 0]) == -1.0
    assert res.status[4] == BUDGET and np.all(res.x[4] == 0.0)


@pytest.mark.parametrize("block, chunk", [(8, 1), (64, 7), (4096, 1000)])
def test_lanes_blocking_does_not_change_numbers(eos, block, chunk):
    X, eta = awkward_starts(100, seed=5)
    ref = _lanes.run(eos.oracle, X, eta, eos.p, 90, 4, True)
    got = _lanes.run(eos.oracle, X, eta, eos.p, 90, 4, True, block=block, chunk=chunk)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


def test_lanes_eligibility(eos):
    ok = dict(landscape=eos, rule_module=testbed.rules.get("gd"), event=testbed.events.NEVER,
              projection=testbed.projections.IDENTITY, params=None, observe=("loss",),
              coords=np.zeros(0, np.int64), n=64)
    assert _lanes.eligible(**ok)
    for change in [dict(n=63), dict(observe=("loss", "grad_norm")), dict(coords=[0]),
                   dict(params=eos.p[None, :]), dict(rule_module=testbed.rules.get("sam")),
                   dict(event=testbed.events.leave_ball(1.0)),
                   dict(landscape=testbed.landscape("quadratic", d=2))]:
        assert not _lanes.eligible(**{**ok, **change}), change


# -- the benchmark runner -----------------------------------------------------------
FIELDS = {"workload", "seconds", "units", "unit", "throughput", "compile_seconds",
          "threads", "check"}


def test_registry_and_unknown_name():
    assert {"B1", "B2"} <= set(names())
    with pytest.raises(testbed.TestbedError, match="B1, B2"):
        run_benchmark("B99")


def test_b2_small():
    out = run_benchmark("b2", scale=0.02, repeats=1, threads=1)
    assert FIELDS <= set(out) and out["workload"] == "B2" and out["threads"] == 1
    json.loads(json.dumps(out))
    assert out["units"] == 64 * 20 * 200 and out["unit"] == "trajectory-steps"
    assert out["throughput"] == pytest.approx(out["units"] / out["seconds"])
    c = out["check"]
    assert len(c["sharpness_times_eta_median"]) == 64 == len(c["converged_fraction"])
    assert c["passed"] is True
    # the bound: FLOPS_PER_STEP at the measured large-dgemm rate
    peak = out["rates"][f"dgemm_{LARGE}x{LARGE}x{LARGE}_flops"]
    assert out["bound"] == pytest.approx(peak / b2.FLOPS_PER_STEP)
    assert out["fraction_of_bound"] == pytest.approx(out["throughput"] / out["bound"])
    assert out["bound_by"].startswith("arithmetic")


def test_b2_check_logic():
    state = b2.setup(scale=1 / 512)               # 2 starts, 20 steps
    n = state["eta"].size
    x = np.empty((n, 2))
    x[:, 0] = 1.0
    x[:, 1] = 1.0                                 # on the valley: sharpness 2 (1 + 1) = 4
    x[1] = [1.0, 1.5]                             # not converged
    x[3] = [np.nan, np.nan]
    status = np.full(n, BUDGET, np.int8)
    status[3] = DIVERGED
    res = Result(x=x, status=status, stop_step=np.zeros(n, np.int64), steps=np.zeros(1),
                 traces={}, scalars=np.zeros((n, 0)), meta={})
    units, c = b2.check(state, res)
    assert units == 64 * 2 * state["steps"] and c["diverged"] == 1
    assert c["converged_fraction"][:3] == [0.5, 0.5, 1.0]
    np.testing.assert_allclose(c["sharpness_times_eta_median"], 4.0 * state["etas"])
    assert c["passed"] is True                    # eta * 4 <= 1.6
    x[-1] = [2.0, 0.5]                            # on the valley, sharpness 8.5: unstable
    units, c = b2.check(state, res)
    assert c["sharpness_times_eta_median"][-1] == pytest.approx((1.6 + 3.4) / 2)
    assert c["max_sharpness_times_eta"] == pytest.approx(3.4) and c["passed"] is False
    L = testbed.landscape("eos_minimalist")
    for p in ([1.3, -0.7], [2.0, 0.5], [0.1, 3.0]):
        top = np.linalg.eigvalsh(L.hessian(p))[-1]
        assert b2.top_hessian_eigenvalue(*np.array(p)) == pytest.approx(top, rel=1e-12)


def test_b1_small():
    out = run_benchmark("B1", scale=0.01, repeats=1)
    assert FIELDS <= set(out) and out["workload"] == "B1"
    c = out["check"]
    assert c["n"] == 100 and c["escaped_fraction"] == 1.0 and c["passed"] is True
    assert out["units"] == pytest.approx(100 * c["escape_mean"] * 100)
    assert c["escape_theory"] == pytest.approx(89.64, abs=0.01)
    assert abs(c["z"]) < 3 and c["standard_error"] == pytest.approx(c["escape_std"] / 10)


def test_b1_check_logic():
    state = {"n": 4}
    stop = np.array([80, 90, 100, 1000])
    status = np.array([EVENT, EVENT, EVENT, BUDGET], np.int8)
    res = Result(x=np.zeros((4, 100)), status=status, stop_step=stop, steps=np.zeros(1),
                 traces={}, scalars=np.zeros((4, 0)), meta={})
    units, c = b1.check(state, res)
    assert units == 100 * 1270 and c["escaped_fraction"] == 0.75
    assert c["escape_mean"] == 90.0 and c["escape_std"] == 10.0
    assert c["passed"] is False                   # not all escaped
    status[3] = EVENT
    stop[3] = 90
    units, c = b1.check(state, res)
    assert c["passed"] is True and c["z"] == pytest.approx((90 - c["escape_theory"]) / (
        np.std([80, 90, 100, 90], ddof=1) / 2))


# -- the machine's bounding rates ---------------------------------------------------
def test_rates_are_measured_and_recorded():
    r = Rates(1)
    small, large = r.dgemm(32, 32, 32), r.peak()
    assert 1e6 < small and 1e8 < large < 1e13      # flops per second
    assert 1e6 < r.normals() < 1e11                 # normals per second
    assert 1e8 < r.memory() < 1e13                  # bytes per second
    assert set(r.used) == {"dgemm_32x32x32_flops", f"dgemm_{LARGE}x{LARGE}x{LARGE}_flops",
                           "normals_per_second", "memory_bytes_per_second"}


def test_bounds_follow_the_work_models():
    """Each bound is the limiting rate over the workload's work per unit."""
    class Fixed:            # rates fixed at round numbers
        def dgemm(self, m, n, k):
            return 1e10

        def peak(self):
            return 1e11

        def normals(self):
            return 1e9

    assert b1.bound({}, Fixed())["units_per_second"] == 1e9
    assert b2.bound({}, Fixed())["units_per_second"] == pytest.approx(1e11 / 17)
    state = {"x0": np.zeros((64, 100))}
    assert b3.bound(state, Fixed())["units_per_second"] == pytest.approx(
        1e10 / (2 * 2048 * 5050))
    # B4: 1.63e7 flops a gradient (products: 2 in the first layer, 3 in the others);
    # each of the 100 observations prepares once (1 + 2 + 2 products) and takes 20 HVPs
    # (2 + 6 + 6 products): 4.10e7 flops per step over 2000 steps
    layer = [2 * 1000 * a * b for a, b in ((64, 32), (32, 32), (32, 10))]
    grad = 2 * layer[0] + 3 * (layer[1] + layer[2])
    prepare = layer[0] + 2 * (layer[1] + layer[2])
    hvp = 2 * layer[0] + 6 * (layer[1] + layer[2])
    assert b4.flops_per_step({"steps": 2000}) == pytest.approx(
        grad + 100 * (prepare + 20 * hvp) / 2000)
    assert b4.flops_per_step({"steps": 2000}) == pytest.approx(4.105e7, rel=1e-3)


def test_run_all_and_table():
    report = run_all(["B2"], threads=1, scale=0.02, repeats=1)
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    assert report["machine"]["rates"]["memory_bytes_per_second"] > 0
    assert report["date"] and report["version"]
    text = table(report["records"])
    assert "of bound" in text.splitlines()[0]
    assert text.splitlines()[2].startswith("B2") and "pass" in text
    assert machine()["numba_cpu"]
