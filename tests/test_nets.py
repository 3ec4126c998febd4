"""Networks as landscapes (testbed.nets): exact derivatives against a NumPy twin and
finite differences, layout and initialisation, data sets and bad input, ensembles
and mini-batch SGD through testbed.run, the catalogue entries and benchmark B4.

The twin is a slow, plain NumPy network with hand-written backpropagation that
runs in complex arithmetic, so its Hessian-vector product comes from the complex
step: Hv = Im(grad f(x + i h v)) / h with h = 1e-30 has no subtractive cancellation
and no truncation error worth the name (O(h^2)), i.e. it is exact to rounding. The
kernels and the twin sum the same terms in different orders, so they agree to
rounding: with at most a few hundred terms per sum, a relative error of
~ 300 u ~ 7e-14 of the sums' magnitudes; tolerances are 1e-11 relative (value,
gradient, HVP), far below the error of any wrong derivative (O(1)).
"""
import math

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings, strategies as st

import testbed
from testbed import nets
from testbed._engine.rng import seed_state, uniform
from testbed.kernel import BUDGET, DIVERGED
from testbed.errors import TestbedError
from testbed.nets import Dense, Norm, Residual, data, layout

REL = 1e-11


# --- the NumPy twin ------------------------------------------------------------------
def _act(name, z):
    if name == "identity":
        return z, np.ones_like(z)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    if name == "relu":
        on = z.real > 0
        return np.where(on, z, 0), on.astype(float)
    if name == "softplus":
        return np.log1p(np.exp(z)), 1 / (1 + np.exp(-z))
    if name == "elu":
        on = z.real > 0
        return np.where(on, z, np.expm1(z)), np.where(on, 1.0, np.exp(z))
    if name == "gelu":
        cdf = 0.5 * sps.erfc(-z / np.sqrt(2))
        return z * cdf, cdf + z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s, s * (1 - s)
    raise ValueError(name)


def twin(theta, arch, X, Y, loss):
    """(f, grad) of the network by plain forward and backward passes."""
    pieces = {p.name: p for p in layout.layout(arch)}

    def get(name):
        p = pieces[name]
        return theta[p.offset:p.offset + p.size].reshape(p.shape)

    H, tape = X.astype(theta.dtype), []
    for l, b in enumerate(arch):
        if isinstance(b, (Dense, Residual)):
            W = get(f"layer{l}.W")
            Z = H @ W.T + (get(f"layer{l}.b") if b.bias else 0)
            S, dS = _act(b.act, Z)
            tape.append((H, dS))
            H = H + S if isinstance(b, Residual) else S
        else:
            C = H - H.mean(axis=1, keepdims=True)
            r = 1 / np.sqrt((C * C).mean(axis=1, keepdims=True) + 1e-5)
            U = C * r
            tape.append((U, r))
            H = U * get(f"layer{l}.gamma") + get(f"layer{l}.beta") if b.affine else U
    n, k = Y.shape
    if loss == "ce":
        m = H.real.max(axis=1, keepdims=True)
        e = np.exp(H - m)
        se = e.sum(axis=1, keepdims=True)
        s = Y.sum(axis=1, keepdims=True)
        f = np.sum(s * (m + np.log(se))) / n - np.sum(Y * H) / n
        D = (s * e / se - Y) / n
    else:
        scale = 1 / n if loss == "mse" else 1 / (n * k)
        f = 0.5 * scale * np.sum((H - Y) ** 2)
        D = scale * (H - Y)
    g = np.zeros_like(theta)

    def put(name, value):
        p = pieces[name]
        g[p.offset:p.offset + p.size] = value.ravel()

    for l in range(len(arch) - 1, -1, -1):
        b = arch[l]
        if isinstance(b, (Dense, Residual)):
            Hin, dS = tape[l]
            DZ = D * dS
            put(f"layer{l}.W", DZ.T @ Hin)
            if b.bias:
                put(f"layer{l}.b", DZ.sum(axis=0))
            D = DZ @ get(f"layer{l}.W") + (D if isinstance(b, Residual) else 0)
        else:
            U, r = tape[l]
            if b.affine:
                put(f"layer{l}.gamma", (D * U).sum(axis=0))
                put(f"layer{l}.beta", D.sum(axis=0))
                D = D * get(f"layer{l}.gamma")
            D = r * (D - D.mean(axis=1, keepdims=True)
                     - U * (D * U).mean(axis=1, keepdims=True))
    return f, g


def twin_hvp(theta, v, arch, X, Y, loss, h=1e-30):
    return twin(theta + 1j * h * v, arch, X, Y, loss)[1].imag / h


# --- architectures covering every block, activation and loss -------------------------
RNG = np.random.default_rng(7)
X7 = RNG.standard_normal((9, 3))
LAB = np.array([0, 1, 2, 3, 0, 1, 2, 3, 1])
ARCHS = {
    "tanh-mse": ([Dense(3, 5, "tanh"), Dense(5, 4, "tanh"), Dense(4, 4, "identity")], "mse"),
    "relu-ce": ([Dense(3, 6, "relu"), Dense(6, 4, "identity")], "ce"),
    "softplus-res-normaffine-ce": ([Dense(3, 5, "softplus"), Residual(5, "gelu"),
                                    Norm(5, affine=True), Dense(5, 4, "identity")], "ce"),
    "elu-norm-res-sigmoid-entries": ([Dense(3, 5, "elu"), Norm(5), Residual(5, "sigmoid"),
                                      Dense(5, 4, "tanh", bias=False)], "mse_entries"),
    "norm-first": ([Norm(3, affine=True), Dense(3, 4, "identity")], "ce"),
}


def _landscape(key):
    arch, loss = ARCHS[key]
    Y = data.one_hot(LAB, 4) if loss == "ce" else RNG.standard_normal((9, 4))
    return nets.network(arch, X7, Y, loss), arch, Y, loss


BUILT = {key: _landscape(key) for key in ARCHS}


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("key", list(ARCHS))
@settings(max_examples=8)
@given(seed=st.integers(0, 2**31 - 1))
def test_value_grad_hvp_match_the_numpy_twin(key, seed):
    L, arch, Y, loss = BUILT[key]
    rng = np.random.default_rng(seed)
    x = nets.init_params(L, seed % 1000) + 0.3 * rng.standard_normal(L.d)
    v = rng.standard_normal(L.d)
    f_t, g_t = twin(x, arch, X7, Y, loss)
    assert abs(L.value(x) - f_t) <= REL * max(1.0, abs(f_t))
    assert _rel(L.grad(x), g_t) <= REL
    assert _rel(L.hvp(x, v), twin_hvp(x, v, arch, X7, Y, loss)) <= REL


@pytest.mark.parametrize("key", list(ARCHS))
def test_prepared_products_equal_fresh_ones(key):
    """hvp_prepare keeps the forward and plain backward passes at x; every product
    taken from that one state (Lanczos takes many) equals a fresh ``hvp`` bit for bit,
    so no product disturbs what the next one reads."""
    L, *_ = BUILT[key]
    rng = np.random.default_rng(5)
    x = nets.init_params(L, 3) + 0.3 * rng.standard_normal(L.d)
    state = L.oracle.hvp_prepare(x, L.p)
    for _ in range(3):
        v = rng.standard_normal(L.d)
        out, fresh = np.empty(L.d), np.empty(L.d)
        L.oracle.hvp_prepared(x, L.p, state, v, out)
        L.oracle.hvp(x, L.p, v, fresh)
        assert out.tobytes() == fresh.tobytes()


@pytest.mark.parametrize("key", ["tanh-mse", "softplus-res-normaffine-ce"])
def test_derivatives_match_finite_differences(key):
    """Central differences, step h = 1e-5: truncation h^2 |f'''| / 6 ~ 1e-10, rounding
    u |f| / h ~ 1e-11; tolerance 1e-7 (relative to the gradient/HVP scale)."""
    L, *_ = BUILT[key]
    rng = np.random.default_rng(3)
    x = nets.init_params(L, 1) + 0.2 * rng.standard_normal(L.d)
    v = rng.standard_normal(L.d)
    h = 1e-5
    g = L.grad(x)
    g_fd = np.array([(L.value(x + h * e) - L.value(x - h * e)) / (2 * h) for e in np.eye(L.d)])
    assert _rel(g, g_fd) < 1e-7
    hv_fd = (L.grad(x + h * v) - L.grad(x - h * v)) / (2 * h)
    assert _rel(L.hvp(x, v), hv_fd) < 1e-7


def test_hessian_is_symmetric_and_matches_fd_of_the_exact_gradient():
    L, *_ = BUILT["softplus-res-normaffine-ce"]
    x = nets.init_params(L, 2)
    cols = np.array([L.hvp(x, e) for e in np.eye(L.d)]).T        # raw, unsymmetrised
    H = L.hessian(x)
    scale = np.abs(H).max()
    assert np.abs(cols - cols.T).max() <= 1e-13 * scale          # rounding only
    assert np.array_equal(H, H.T)
    assert np.abs(H - cols).max() <= 1e-13 * scale
    h = 1e-6       # FD of the exact gradient: error h^2 |f''''| + u |g| / h ~ 1e-10
    H_fd = np.array([(L.grad(x + h * e) - L.grad(x - h * e)) / (2 * h) for e in np.eye(L.d)])
    assert np.abs(H - H_fd).max() <= 1e-7 * max(1.0, scale)


def test_batch_gradient_is_the_mean_over_the_batch():
    L, arch, Y, loss = BUILT["elu-norm-res-sigmoid-entries"]
    x = nets.init_params(L, 4)
    idx = np.array([5, 0, 7, 7])
    g = np.empty(L.d)
    f = L.oracle.value_grad_batch(x, L.p, idx, g)
    f_t, g_t = twin(x, arch, X7[idx], Y[idx], loss)
    assert abs(f - f_t) <= REL * max(1.0, abs(f_t)) and _rel(g, g_t) <= REL
    g_all = np.empty(L.d)
    f_all = L.oracle.value_grad_batch(x, L.p, np.arange(9), g_all)
    assert abs(f_all - L.value(x)) <= 1e-15 and _rel(g_all, L.grad(x)) <= 1e-15
    assert L.oracle.n_samples(L.p) == 9


def test_outputs_match_the_twin_forward_and_collapsed_point_is_critical():
    L, arch, Y, loss = BUILT["tanh-mse"]
    x = nets.init_params(L, 5)
    F = nets.outputs(L, x)
    assert F.shape == (9, 4)
    new = RNG.standard_normal((2, 3))
    assert np.allclose(nets.outputs(L, x, new), nets.outputs(L, x, np.r_[new, X7])[:2],
                       rtol=0, atol=1e-15)
    for key in ("tanh-mse", "relu-ce", "softplus-res-normaffine-ce"):
        Lk = BUILT[key][0]
        xc, energy = nets.collapsed_point(Lk)
        assert abs(Lk.value(xc) - energy) < 1e-14 and np.abs(Lk.grad(xc)).max() < 1e-15


def test_fast_tanh_and_exp_are_accurate_to_a_few_ulp():
    from testbed.nets import mlp as k
    z = np.concatenate([np.linspace(-25, 25, 20001), np.logspace(-300, 1.5, 2000),
                        -np.logspace(-300, 1.5, 2000), [0.0, 0.25, -0.25, 20.0, -20.0]])
    t = np.empty_like(z)
    k.act_forward(k.TANH, z, t)
    ref = np.tanh(z)
    ulp = np.abs(t - ref) / np.maximum(np.spacing(np.abs(ref)), 5e-324)
    assert ulp.max() <= 4
    special = np.empty(3)
    k.act_forward(k.TANH, np.array([np.nan, np.inf, -np.inf]), special)
    assert np.isnan(special[0]) and special[1] == 1.0 and special[2] == -1.0


# --- layout and initialisation ---------------------------------------------------------
def test_layout_offsets_shapes_and_filters():
    arch = [Dense(3, 4, "tanh"), Residual(4, "relu"), Norm(4, affine=True),
            Dense(4, 2, "identity", bias=False)]
    pieces = layout.layout(arch)
    assert [(p.name, p.offset, p.size, p.shape, p.kind) for p in pieces] == [
        ("layer0.W", 0, 12, (4, 3), "weight"), ("layer0.b", 12, 4, (4,), "bias"),
        ("layer1.W", 16, 16, (4, 4), "weight"), ("layer1.b", 32, 4, (4,), "bias"),
        ("layer2.gamma", 36, 4, (4,), "norm"), ("layer2.beta", 40, 4, (4,), "norm"),
        ("layer3.W", 44, 8, (2, 4), "weight")]
    assert nets.param_count(arch) == 52
    L = nets.network(arch, X7, RNG.standard_normal((9, 2)))
    assert layout.layout(L) == pieces and nets.blocks(L) == arch
    # W is (out, in), row-major, as nn.Linear: F = X W^T + b, so a "filter" (Li et al.),
    # the weights into one output neuron, is one row
    lin = nets.network([Dense(3, 2, "identity")], X7, np.zeros((9, 2)))
    x = RNG.standard_normal(lin.d)
    W, b = (x[p.offset:p.offset + p.size].reshape(p.shape) for p in layout.layout(lin))
    assert np.allclose(nets.outputs(lin, x), X7 @ W.T + b, rtol=0, atol=1e-14)


def test_init_schemes():
    arch = nets.mlp_blocks((400, 300, 2))
    x = nets.init_params(arch, 0, "pytorch")
    W, b = x[:120000], x[120000:120300]
    bound = 1 / math.sqrt(400)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound and b.std() > 0
    assert abs(W.std() - bound / math.sqrt(3)) < 0.01 * bound
    for scheme, gain in (("lecun", 1.0), ("he", 2.0)):
        x = nets.init_params(arch, 1, scheme)
        assert abs(x[:120000].std() - math.sqrt(gain / 400)) < 0.01 * math.sqrt(gain / 400)
        assert np.all(x[120000:120300] == 0)
    X0 = nets.init_params(arch, range(3))
    assert X0.shape == (3, nets.param_count(arch))
    assert np.array_equal(X0[1], nets.init_params(arch, 1))
    with pytest.raises(TestbedError, match="initialisation"):
        nets.init_params(arch, 0, "xavier")


# --- data and bad input -------------------------------------------------------------------
def test_data_sets():
    X, Y = data.digits(1000)
    assert X.shape == (1000, 64) and Y.shape == (1000, 10)
    assert X.min() == 0.0 and X.max() == 1.0 and np.all(Y.sum(axis=1) == 1)
    for make, k in ((data.moons, 2), (data.circles, 2), (data.spirals, 3)):
        X, Y = make(90, seed=1)
        assert X.shape == (90, 2) and Y.shape == (90, k) and np.isfinite(X).all()
        assert np.array_equal(make(90, seed=1)[0], X)
    arch = nets.mlp_blocks((3, 4, 2))
    X, Y, theta = data.teacher_student(20, arch, seed=2)
    Lt = nets.network(arch, X, Y)
    assert Lt.value(theta) == 0.0 and np.abs(Lt.grad(theta)).max() == 0.0


@pytest.mark.parametrize("make,match", [
    (lambda: nets.network(nets.mlp_blocks((3, 2)), np.where(X7 > 1, np.nan, X7),
                          np.zeros((9, 2))), "NaN"),
    (lambda: data.one_hot([0, 1, 4], 4), "out of range"),
    (lambda: data.one_hot([0, -1], 3), "out of range"),
    (lambda: data.one_hot([0.5, 1.0], 3), "whole numbers"),
    (lambda: nets.mlp_blocks((3, 0, 2)), "size zero"),
    (lambda: Dense(3, 0), "size zero"),
    (lambda: Residual(0), "size zero"),
    (lambda: Dense(3, 2, "swish"), "unknown activation"),
    (lambda: nets.network([Dense(3, 4), Dense(5, 2)], X7, np.zeros((9, 2))), "width"),
    (lambda: nets.network([Dense(4, 2)], X7, np.zeros((9, 2))), "input features"),
    (lambda: nets.network([Dense(3, 2)], X7, np.zeros((9, 3))), "columns"),
    (lambda: nets.network([Dense(3, 2)], X7, np.zeros((8, 2))), "samples"),
    (lambda: nets.network([Dense(3, 2)], X7, -np.ones((9, 2)), loss="ce"), "non-negative"),
    (lambda: nets.network([Dense(3, 2)], X7, np.zeros((9, 2)), loss="hinge"), "unknown loss"),
    (lambda: data.digits(5000), "n"),
])
def test_bad_input_is_refused_with_a_named_problem(make, match):
    with pytest.raises(TestbedError, match=match):
        make()


# --- ensembles and mini-batch SGD through testbed.run ----------------------------------------
def test_many_networks_with_gd_match_a_numpy_loop():
    L, arch, Y, loss = BUILT["tanh-mse"]
    X0 = nets.init_params(L, range(3))
    eta = np.array([0.05, 0.1, 0.2])
    res = testbed.run(L, "gd", X0, steps=30, eta=eta, stride=10,
                      observe=("loss", "sharpness"))
    assert np.all(res.status == BUDGET)
    for r in range(3):
        x = X0[r].copy()
        for _ in range(30):
            x -= eta[r] * twin(x, arch, X7, Y, loss)[1]
        assert _rel(res.x[r], x) < 1e-12
        # the observer's sharpness is the top eigenvalue of the exact Hessian (d <= 64)
        assert abs(res.traces["sharpness"][-1, r]
                   - np.linalg.eigvalsh(L.hessian(res.x[r]))[-1]) < 1e-10
    assert np.all(res.traces["loss"][-1] < res.traces["loss"][0])


def _batches(seed, replica, n, b, steps):
    state = np.empty(4, np.uint64)
    seed_state(seed, replica, state)
    out = []
    for _ in range(steps):
        perm = np.arange(n)
        for i in range(b):
            j = min(i + int(uniform(state) * (n - i)), n - 1)
            perm[i], perm[j] = perm[j], perm[i]
        out.append(perm[:b].copy())
    return out


def test_sgd_is_reproducible_per_replica_and_matches_a_numpy_twin():
    L, arch, Y, loss = BUILT["tanh-mse"]
    X0 = nets.init_params(L, range(4))
    res = testbed.run(L, "sgd", X0, steps=25, seed=11, eta=0.1, batch=3, observe=("loss",))
    part = testbed.run(L, "sgd", X0[2:], steps=25, seed=11, eta=0.1, batch=3,
                       replica_offset=2, observe=("loss",), threads=1)
    assert np.array_equal(res.x[2:], part.x)
    for r in (0, 3):
        x = X0[r].copy()
        for idx in _batches(11, r, 9, 3, 25):
            assert len(set(idx.tolist())) == 3                 # without replacement
            x -= 0.1 * twin(x, arch, X7[idx], Y[idx], loss)[1]
        assert _rel(res.x[r], x) < 1e-12
    assert not np.array_equal(res.x[0], res.x[1])
    full = testbed.run(L, "sgd", X0[:1], steps=5, eta=0.1, batch=100, observe=("loss",))
    gd = testbed.run(L, "gd", X0[:1], steps=5, eta=0.1, stride=10,
                     observe=("loss", "sharpness"))
    assert _rel(full.x[0], gd.x[0]) < 1e-13        # batch >= n: full batch, reordered


def _epoch_batches(seed, replica, n, b, steps):
    """sgd_momentum's batches: per epoch e a Fisher-Yates permutation from the
    sub-stream (key, e), key a 53-bit draw from the replica's stream; consecutive
    slices of length b, the last one short."""
    state = np.empty(4, np.uint64)
    seed_state(seed, replica, state)
    key = math.floor(uniform(state) * 2.0 ** 53)
    m = -(-n // b)
    out = []
    for t in range(steps):
        sub = np.empty(4, np.uint64)
        seed_state(key, t // m, sub)
        perm = np.arange(n)
        for i in range(n):
            j = min(i + int(uniform(sub) * (n - i)), n - 1)
            perm[i], perm[j] = perm[j], perm[i]
        k = t % m
        out.append(perm[k * b:(k + 1) * b].copy())
    return out


def test_sgd_momentum_epochs_and_momentum_match_a_numpy_twin():
    L, arch, Y, loss = BUILT["tanh-mse"]
    X0 = nets.init_params(L, range(3))
    hyper = dict(eta=0.1, momentum=0.8, batch=4, clip=0.5)
    res = testbed.run(L, "sgd_momentum", X0, steps=13, seed=5, observe=("loss",), **hyper)
    part = testbed.run(L, "sgd_momentum", X0[1:], steps=13, seed=5, replica_offset=1,
                       observe=("loss",), threads=1, **hyper)
    assert np.array_equal(res.x[1:], part.x)                    # per-replica streams
    for r in range(3):
        x, buf = X0[r].copy(), np.zeros_like(X0[r])
        batches = _epoch_batches(5, r, 9, 4, 13)
        for e in range(4):                                     # epochs of 4 + 4 + 1
            assert sorted(np.concatenate(batches[3 * e:3 * e + 3]).tolist()) == list(range(9))
        for idx in batches:
            g = twin(x, arch, X7[idx], Y[idx], loss)[1]
            g *= min(1.0, 0.5 / np.linalg.norm(g))
            buf = 0.8 * buf + g
            x -= 0.1 * buf
        assert _rel(res.x[r], x) < 1e-12
    assert res.scalars.shape == (3, 1)                          # the shuffling keys


def test_sgd_needs_a_finite_sum_landscape():
    with pytest.raises(TestbedError, match="value_grad_batch"):
        testbed.run(testbed.landscape("quadratic", d=2), "sgd", [1.0, 1.0], eta=0.1, batch=1)


# --- catalogue and benchmark -----------------------------------------------------------
def test_catalogue_entries_bind_lazily_and_declare_critical_points():
    for name in ("teacher_student_tanh", "moons_tanh", "spirals_tanh", "circles_gelu"):
        entry = testbed.objective.registry.entry(name)
        assert "network" in entry.tags
        L = testbed.landscape(name, n=40)
        assert L.d == nets.param_count(nets.blocks(L))
        for cp in L.critical_points():
            x = np.asarray(cp.x)
            assert abs(L.value(x) - cp.energy) < 1e-12
            assert np.abs(L.grad(x)).max() < 1e-12


def test_b4_runs_at_a_small_scale_and_reports_its_check():
    from testbed.bench import run_benchmark
    record = run_benchmark("B4", repeats=1, scale=0.02)
    assert record["units"] == 40.0 and record["unit"] == "steps"
    check = record["check"]
    assert len(check["sharpness"]) == 2 and np.all(np.isfinite(check["sharpness"]))
    assert 0 < check["loss_final"] < check["loss_initial"]
    assert "blas_threads" in check and "passed" in check


def test_b4_check_fails_off_the_edge():
    """B4's check passes only when the last quarter's median of eta S is in [1.9, 2.1]
    and the run did not diverge."""
    import types

    from testbed.bench import b4
    n_obs = b4.STEPS // b4.STRIDE + 1

    def res(eta_s, status=BUDGET):
        sharp = np.full((n_obs, 1), eta_s / b4.ETA)
        loss = np.linspace(1.0, 0.1, n_obs)[:, None]
        return types.SimpleNamespace(traces={"sharpness": sharp, "loss": loss},
                                     status=np.array([status], np.int8))
    state = {"steps": b4.STEPS}
    assert b4.check(state, res(2.0))[1]["passed"] is True
    assert b4.check(state, res(1.8))[1]["passed"] is False      # below the edge
    assert b4.check(state, res(2.2))[1]["passed"] is False      # above it
    assert b4.check(state, res(2.0, status=DIVERGED))[1]["passed"] is False   # diverged


def test_a_diverging_network_is_flagged_not_crashed():
    """Two networks, one with a step size that blows it up: that one is flagged
    diverged with its step, the other trains on."""
    L = nets.digits_mlp((64, 8, 10), n=100)
    x0 = nets.init_params(L, seed=range(2))
    res = testbed.run(L, "gd", x0, 200, eta=np.array([0.5, 1e6]), stride=50)
    assert res.status[0] == BUDGET and res.status[1] == DIVERGED
    assert 0 <= res.stop_step[1] < 200
    assert np.isfinite(res.traces["loss"][:, 0]).all()
    assert res.traces["loss"][-1, 0] < res.traces["loss"][0, 0]


def test_relu_network_with_a_nan_parameter_is_not_finite():
    """ReLU passes NaN through (max(0, NaN) would hide it): a network whose parameters
    left the finite numbers has a non-finite loss and gradient, so it is flagged."""
    rng = np.random.default_rng(0)
    L = nets.network([Dense(3, 5, "relu"), Dense(5, 2, "identity")],
                     rng.standard_normal((7, 3)), rng.standard_normal((7, 2)))
    x = nets.init_params(L, seed=0)
    assert np.isfinite(L.value(x))
    x[0] = np.nan
    assert np.isnan(L.value(x)) and np.isnan(L.grad(x)).any()


def test_b4_sam_runs_at_a_small_scale_and_fails_when_the_loss_rises():
    import types

    from testbed.bench import b4_sam, run_benchmark
    record = run_benchmark("B4-SAM", repeats=1, scale=0.02)
    check = record["check"]
    assert record["units"] == 40.0 and check["passed"] is True
    assert 0 < check["loss_final"] < check["loss_initial"]
    rising = types.SimpleNamespace(
        traces={"sharpness": np.ones((3, 1)), "loss": np.array([[0.1], [0.2], [0.3]])},
        status=np.array([BUDGET], np.int8))
    assert b4_sam.check({"steps": 40}, rising)[1]["passed"] is False


# --- input gradients (adversarial rules and attacks) -----------------------------------
@pytest.mark.parametrize("key", list(ARCHS))
def test_value_grad_inputs_matches_differences_on_the_inputs(key):
    """value_grad_inputs: the loss and parameter gradient are value_grad_batch's on
    the same rows, bit for bit, and the input gradient is d f_B / d X: against the
    complex step of the NumPy twin (exact to rounding; relu's kinks are not met at
    these points) and against central differences, whose error is truncation
    O(h^2 f''') ~ 1e-10 plus rounding ~ 1e-16 / h, at h = 1e-5."""
    from testbed.nets import mlp
    L, arch, Y, loss = BUILT[key]
    rng = np.random.default_rng(5)
    x = nets.init_params(L, 3)
    idx = np.array([4, 0, 7, 7, 2])
    Xb = np.ascontiguousarray(X7[idx]).ravel()
    Yb = np.ascontiguousarray(Y[idx], dtype=float).ravel()
    g, gx, g_ref = np.empty(L.d), np.empty(Xb.size), np.empty(L.d)
    f = mlp.value_grad_inputs(x, L.p, Xb, Yb, g, gx)
    f_ref = mlp.value_grad_batch(x, L.p, idx, g_ref)
    assert f == f_ref and np.array_equal(g, g_ref)
    Xs, Ys = np.empty(Xb.size), np.empty(Yb.size)
    mlp.gather_rows(L.p, idx, Xs, Ys)
    assert np.array_equal(Xs, Xb) and np.array_equal(Ys, Yb)
    for _ in range(3):
        V = rng.standard_normal(Xb.size)
        cs = twin(x.astype(complex), arch, (Xb + 1e-30j * V).reshape(5, 3), Y[idx],
                  loss)[0].imag / 1e-30
        assert abs(gx @ V - cs) <= 1e-12 * max(1.0, abs(cs))
        h = 1e-5
        gp = mlp.value_grad_inputs(x, L.p, Xb + h * V, Yb, g, np.empty(Xb.size))
        gm = mlp.value_grad_inputs(x, L.p, Xb - h * V, Yb, g, np.empty(Xb.size))
        assert abs(gx @ V - (gp - gm) / (2 * h)) <= 1e-8 * max(1.0, abs(cs))
