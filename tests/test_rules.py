"""Update rules against slow, obviously correct NumPy twins.

Every rule is run through ``testbed.run`` (the compiled ensemble) with its iterates
recorded at every step (``coords``), and compared with a plain NumPy loop that writes
the paper's equation directly, on the quadratic 1/2 sum lam_i x_i^2 (d = 3, one
negative eigenvalue), and GD and Newton also on ``eos_minimalist``
(x^2 y^2 - 1)^2 / 4, whose Hessian varies with x. The twins use their own closed-form gradients and
Hessians, not the landscape's kernels. Random rules draw from the same streams
(``testbed._rng`` called from Python). Agreement is to 1e-12 relative.

Each (landscape, rule) pair is a cold compile of ~5-10 s, so the pairs are few and
reused by the behavioural tests below.
"""
import math

import numpy as np
import pytest

import testbed
from testbed import projections, rules
from testbed._engine.rng import normal, seed_state, uniform_ball
from testbed.kernel import BUDGET, DONE as RULE_DONE

RTOL = 1e-12
LAM = [-0.5, 1.0, 2.0]
X0_Q = np.array([0.3, -0.7, 0.5])
X0_E = np.array([1.2, 0.6])


# --- landscapes, twice: the package's and a NumPy twin -----------------------------
class Quadratic:
    """f = 1/2 sum lam_i x_i^2."""

    def __init__(self, lam):
        self.lam = np.asarray(lam, dtype=float)

    def f(self, x):
        s = 0.0
        for i in range(x.shape[0]):
            s += 0.5 * self.lam[i] * x[i] * x[i]
        return s

    def g(self, x):
        return self.lam * x

    def H(self, x):
        return np.diag(self.lam)


class Eos:
    """f = (x^2 y^2 - 1)^2 / 4, u = x^2 y^2 - 1: grad = u (x y^2, x^2 y),
    Hess = [[2 x^2 y^4 + u y^2, 2 x^3 y^3 + 2 u x y], [., 2 x^4 y^2 + u x^2]]."""

    def f(self, z):
        x, y = z
        return (x * x * y * y - 1.0) ** 2 / 4.0

    def g(self, z):
        x, y = z
        u = x * x * y * y - 1.0
        return np.array([u * x * y * y, u * x * x * y])

    def H(self, z):
        x, y = z
        u = x * x * y * y - 1.0
        hxy = 2 * x**3 * y**3 + 2 * u * x * y
        return np.array([[2 * x * x * y**4 + u * y * y, hxy],
                         [hxy, 2 * x**4 * y * y + u * x * x]])


@pytest.fixture(scope="module")
def quad():
    return testbed.landscape("quadratic", d=3, lam=LAM), Quadratic(LAM)


@pytest.fixture(scope="module")
def eos():
    return testbed.landscape("eos_minimalist"), Eos()


def run_path(L, rule, x0, steps, **kw):
    """The run and replica 0's iterates x_0 .. x_steps (rows; NaN after a stop)."""
    res = testbed.run(L, rule, x0, steps, coords=tuple(range(L.d)), **kw)
    return res, res.traces["coords"][:, :, 0]


def assert_close(actual, twin, rtol=RTOL):
    twin = np.asarray(twin)
    scale = max(1.0, float(np.nanmax(np.abs(twin))))
    np.testing.assert_allclose(actual, twin, rtol=rtol, atol=rtol * scale)


def norm(v):
    return math.sqrt(sum(float(c) * float(c) for c in v))


# --- the twins: each returns the iterates x_0 .. x_K as rows ----------------------
def twin_gd(T, x, K, eta):
    xs = [x]
    for _ in range(K):
        x = x - eta * T.g(x)
        xs.append(x)
    return np.array(xs)


def twin_gradient_ascent(T, x, K, eta):
    xs = [x]
    for _ in range(K):
        x = x + eta * T.g(x)
        xs.append(x)
    return np.array(xs)


def twin_heavy_ball(T, x, K, eta, beta=0.9):
    xs, v = [x], np.zeros_like(x)
    for _ in range(K):
        v = beta * v - eta * T.g(x)
        x = x + v
        xs.append(x)
    return np.array(xs)


def twin_nesterov(T, x, K, eta, beta=0.9):
    xs, v = [x], np.zeros_like(x)
    for _ in range(K):
        v = beta * v - eta * T.g(x + beta * v)
        x = x + v
        xs.append(x)
    return np.array(xs)


def twin_noisy_gd(T, x, K, eta, sigma, seed=0, replica=0):
    state = np.empty(4, np.uint64)
    seed_state(seed, replica, state)
    xs = [x]
    for _ in range(K):
        xi = np.array([normal(state) for _ in range(x.shape[0])])
        x = x - eta * T.g(x) + sigma * xi
        xs.append(x)
    return np.array(xs)


def twin_sam(T, x, K, eta, rho=0.05):
    xs = [x]
    for _ in range(K):
        g = T.g(x)
        n = norm(g)
        eps = rho * g / n if n > 0 else 0.0 * g
        x = x - eta * T.g(x + eps)
        xs.append(x)
    return np.array(xs)


def twin_sam_unnormalized(T, x, K, eta, rho=0.05):
    xs = [x]
    for _ in range(K):
        x = x - eta * T.g(x + rho * T.g(x))
        xs.append(x)
    return np.array(xs)


def twin_asam(T, x, K, eta, rho=0.5, eta_asam=0.01):
    """Kwon et al. (2021): eps = rho T^2 g / |T g|, T = diag(|x| + eta_asam)."""
    xs = [x]
    for _ in range(K):
        g = T.g(x)
        t = np.abs(x) + eta_asam
        n = norm(t * g)
        eps = rho * t * t * g / n if n > 0 else 0.0 * g
        x = x - eta * T.g(x + eps)
        xs.append(x)
    return np.array(xs)


def twin_sam_exact(T, x, K, eta, rho=0.05, alpha=1.0, tol=1e-10, max_iter=200):
    """Projected gradient ascent on f(x + eps) over |eps| <= rho from eps = 0 with the
    step alpha rho / |grad f(x)|, stopped when a step moves eps by <= tol rho."""
    xs = [x]
    for _ in range(K):
        g0 = T.g(x)
        n0 = norm(g0)
        eps = np.zeros_like(x)
        if n0 > 0 and rho > 0:
            size = alpha * rho / n0
            for k in range(int(max_iter)):
                g = g0 if k == 0 else T.g(x + eps)
                v = eps + size * g
                nv = norm(v)
                v = v * (rho / nv) if nv > rho else v
                moved = norm(v - eps)
                eps = v
                if moved <= tol * rho:
                    break
        x = x - eta * T.g(x + eps)
        xs.append(x)
    return np.array(xs)


def twin_adam(T, x, K, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    xs, m, v = [x], np.zeros_like(x), np.zeros_like(x)
    for t in range(1, K + 1):
        g = T.g(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        x = x - eta * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        xs.append(x)
    return np.array(xs)


def _pinv_step(M, g, rcond, max_step):
    step = np.linalg.pinv(M, rcond=rcond, hermitian=True) @ g
    n = norm(step)
    return step * (max_step / n) if n > max_step else step


def twin_newton(T, x, K, eta=1.0, max_step=math.inf, rcond=1e-12):
    xs = [x]
    for _ in range(K):
        x = x - eta * _pinv_step(T.H(x), T.g(x), rcond, max_step)
        xs.append(x)
    return np.array(xs)


def twin_sfn(T, x, K, eta=1.0, damping=0.0, max_step=math.inf, rcond=1e-12):
    xs = [x]
    for _ in range(K):
        w, Q = np.linalg.eigh(T.H(x))
        absH = Q @ np.diag(np.abs(w) + damping) @ Q.T
        x = x - eta * _pinv_step(absH, T.g(x), rcond, max_step)
        xs.append(x)
    return np.array(xs)


def twin_projected_ball(T, x, K, eta, radius):
    def P(z):
        n = norm(z)
        return z * (radius / n) if n > radius else z
    x = P(x)
    xs = [x]
    for _ in range(K):
        x = P(x - eta * T.g(x))
        xs.append(x)
    return np.array(xs)


def twin_gradient_flow(T, x, K, eta):
    xs = [x]
    for _ in range(K):
        k1 = T.g(x)
        k2 = T.g(x - eta / 2 * k1)
        k3 = T.g(x - eta / 2 * k2)
        k4 = T.g(x - eta * k3)
        x = x - eta / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        xs.append(x)
    return np.array(xs)


def twin_perturbed_gd(T, x, K, eta, r, g_thres, t_thres, f_thres, seed=0, replica=0):
    """Jin et al. (2017), Algorithm 2, as written in the paper; returns the iterates,
    the status, the stop step and (t_noise, f(x~), number of perturbations)."""
    state = np.empty(4, np.uint64)
    seed_state(seed, replica, state)
    t_noise, f_tilde, count, x_tilde = -t_thres - 1, 0.0, 0, None
    xs = [x]
    for t in range(K):
        f, g = T.f(x), T.g(x)
        if norm(g) <= g_thres and t - t_noise > t_thres:
            x_tilde, t_noise, f_tilde, count = x, t, f, count + 1
            xi = np.empty(x.shape[0])
            uniform_ball(state, xi, r)
            x = x_tilde + xi
            f, g = T.f(x), T.g(x)
        if t - t_noise == t_thres and f - f_tilde > -f_thres:
            xs.append(x_tilde)
            return np.array(xs), RULE_DONE, t + 1, (t_noise, f_tilde, count)
        x = x - eta * g
        xs.append(x)
    return np.array(xs), BUDGET, K, (t_noise, f_tilde, count)


TWINS = {"gd": twin_gd, "gradient_ascent": twin_gradient_ascent,
         "heavy_ball": twin_heavy_ball, "nesterov": twin_nesterov, "sam": twin_sam,
         "sam_unnormalized": twin_sam_unnormalized, "asam": twin_asam,
         "sam_exact": twin_sam_exact,
         "adam": twin_adam, "newton": twin_newton, "sfn": twin_sfn,
         "gradient_flow": twin_gradient_flow}

# (rule, hyper, steps): hyper-parameters away from the defaults where it matters
QUAD_CASES = [
    ("gd", {"eta": 0.3}, 40),
    # ascent diverges here (coordinate i grows by 1 + eta lam_i a step, lam_i > 0):
    # 20 steps of 0.05 keep it finite (|x| grows ~7-fold)
    ("gradient_ascent", {"eta": 0.05}, 20),
    ("heavy_ball", {"eta": 0.1, "beta": 0.8}, 40),
    ("nesterov", {"eta": 0.1, "beta": 0.7}, 40),
    ("sam", {"eta": 0.2, "rho": 0.1}, 40),
    ("sam_unnormalized", {"eta": 0.2, "rho": 0.1}, 40),
    ("asam", {"eta": 0.2, "rho": 0.3, "eta_asam": 0.05}, 40),
    # a saddle (lam_0 < 0): the inner ascent is not monotone there, and some steps use
    # every iteration; the twin must follow the same stopping decisions
    ("sam_exact", {"eta": 0.2, "rho": 0.1, "alpha": 2.0, "tol": 1e-9, "max_iter": 30}, 40),
    ("adam", {"eta": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}, 40),
    ("newton", {"eta": 0.5}, 8),
    ("sfn", {"eta": 0.5, "damping": 0.1}, 8),
    ("gradient_flow", {"eta": 0.1}, 40),
]
# on eos_minimalist: GD (a SymPy oracle, non-linear gradient) and Newton (a Hessian
# that changes from step to step, which no quadratic exercises); every further pair
# costs a cold compile and tests nothing the quadratic does not
EOS_CASES = [
    ("gd", {"eta": 0.1}, 40),
    ("newton", {"eta": 0.5, "max_step": 0.3}, 8),
]
# every registered rule -> the test comparing it with its NumPy twin; a rule missing
# here fails test_every_rule_has_a_twin, naming it
TWIN_TESTS = {
    **{rule: "test_deterministic_rule_twin_quadratic" for rule, _, _ in QUAD_CASES},
    "noisy_gd": "test_noisy_gd_twin_same_stream_per_replica",
    "projected_gd": "test_projected_gd_ball_twin",
    "perturbed_gd": "test_perturbed_gd_is_gd_while_the_gradient_is_large",
    "sgd": "test_nets.py::test_sgd_is_reproducible_per_replica_and_matches_a_numpy_twin",
    "sgd_momentum": "test_nets.py::test_sgd_momentum_epochs_and_momentum_match_a_numpy_twin",
    "projected_sgd": "test_claims_meanfield_narrow.py::test_projected_sgd_matches_a_numpy_twin",
    "sam_msharp": "test_sam_msharp_twin_on_a_finite_sum",
    "fast_at": "test_adversarial_training_twins",
    "pgd_at": "test_adversarial_training_twins",
    "fast_bat": "test_adversarial_training_twins",
}


@pytest.mark.parametrize("rule, hyper, steps", QUAD_CASES, ids=[c[0] for c in QUAD_CASES])
def test_deterministic_rule_twin_quadratic(quad, rule, hyper, steps):
    L, T = quad
    res, xs = run_path(L, rule, X0_Q, steps, observe=("loss", "grad_norm"), **hyper)
    twin = TWINS[rule](T, X0_Q, steps, **hyper)
    assert res.status[0] == BUDGET and res.stop_step[0] == steps
    assert_close(xs, twin)
    assert_close(res.x[0], twin[-1])
    assert_close(res.traces["loss"][:, 0], [T.f(x) for x in twin])
    assert_close(res.traces["grad_norm"][:, 0], [norm(T.g(x)) for x in twin])


@pytest.mark.parametrize("rule, hyper, steps", EOS_CASES, ids=[c[0] for c in EOS_CASES])
def test_deterministic_rule_twin_eos(eos, rule, hyper, steps):
    L, T = eos
    res, xs = run_path(L, rule, X0_E, steps, **hyper)
    twin = TWINS[rule](T, X0_E, steps, **hyper)
    assert res.status[0] == BUDGET
    assert_close(xs, twin)
    assert_close(res.traces["loss"][:, 0], [T.f(x) for x in twin])


def test_noisy_gd_twin_same_stream_per_replica(quad):
    L, T = quad
    X0 = np.array([X0_Q, -X0_Q, 2 * X0_Q])
    res = testbed.run(L, "noisy_gd", X0, 30, seed=11, eta=0.1, sigma=0.05, coords=(0, 1, 2))
    for r in range(3):
        twin = twin_noisy_gd(T, X0[r], 30, 0.1, 0.05, seed=11, replica=r)
        assert_close(res.traces["coords"][:, :, r], twin)
    # the noise is there: replicas started at the same point part ways
    res2 = testbed.run(L, "noisy_gd", X0_Q, 5, n=2, seed=11, eta=0.1, sigma=0.05)
    assert not np.array_equal(res2.x[0], res2.x[1])


def test_projected_gd_ball_twin(quad):
    L, T = quad
    radius = 0.5
    x0 = np.array([0.8, -0.7, 0.5])          # outside the ball: projected first
    res, xs = run_path(L, "projected_gd", x0, 60, eta=0.2,
                       projection=projections.ball(radius))
    twin = twin_projected_ball(T, x0, 60, 0.2, radius)
    assert_close(xs, twin)
    assert np.all(np.linalg.norm(xs, axis=1) <= radius * (1 + 1e-15))
    # the negative direction is pushed to the boundary: x -> (+-r, 0, 0)
    np.testing.assert_allclose(res.x[0], [radius, 0, 0], atol=1e-6)


def test_sam_msharp_twin_on_a_finite_sum():
    """m-sharpness (Foret et al. 2021, sec. 4) on linear least squares
    f = 1/(2n) sum_j |W a_j + b - y_j|^2 (a one-layer network with identity output),
    against a NumPy loop with the same batches: k = batch // m sub-batches of m drawn
    samples, each ascending along its own normalised gradient."""
    from testbed import nets
    from testbed._engine.rng import uniform
    from testbed.nets import Dense, layout
    rng = np.random.default_rng(3)
    n, n_in, n_out = 12, 3, 2
    Xd, Yd = rng.normal(size=(n, n_in)), rng.normal(size=(n, n_out))
    arch = [Dense(n_in, n_out, act="identity")]
    L = nets.network(arch, Xd, Yd, "mse")
    pieces = {p.name: p for p in layout.layout(arch)}
    W_, b_ = pieces["layer0.W"], pieces["layer0.b"]

    def grad(theta, idx):
        W = theta[W_.offset:W_.offset + W_.size].reshape(W_.shape)
        b = theta[b_.offset:b_.offset + b_.size]
        D = (Xd[idx] @ W.T + b - Yd[idx]) / len(idx)
        g = np.zeros_like(theta)
        g[W_.offset:W_.offset + W_.size] = (D.T @ Xd[idx]).ravel()
        g[b_.offset:b_.offset + b_.size] = D.sum(axis=0)
        return g

    eta, rho, batch, m, K, seed = 0.3, 0.2, 7, 3, 20, 5
    X0 = rng.normal(size=(2, L.d))
    res = testbed.run(L, "sam_msharp", X0, K, seed=seed, eta=eta, rho=rho, batch=batch, m=m,
                      coords=tuple(range(L.d)), observe=("loss",))
    for r in range(2):
        state = np.empty(4, np.uint64)
        seed_state(seed, r, state)
        x, xs = X0[r].copy(), [X0[r].copy()]
        k = batch // m
        for _ in range(K):
            perm = np.arange(n)
            for i in range(k * m):
                j = min(i + int(uniform(state) * (n - i)), n - 1)
                perm[i], perm[j] = perm[j], perm[i]
            total = np.zeros_like(x)
            for s in range(k):
                idx = perm[s * m:(s + 1) * m]
                g = grad(x, idx)
                total += grad(x + rho * g / norm(g), idx)
            x = x - eta * total / k
            xs.append(x)
        assert_close(res.traces["coords"][:, :, r], np.array(xs))


def test_sam_rho_zero_is_gd_bit_for_bit(quad):
    L = quad[0]
    X0 = np.array([X0_Q, [3.0, -1.0, 0.2], np.zeros(3)])    # a zero gradient too
    a = testbed.run(L, "gd", X0, 30, eta=0.3, coords=(0, 1, 2))
    b = testbed.run(L, "sam", X0, 30, eta=0.3, rho=0.0, coords=(0, 1, 2))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.traces["coords"], b.traces["coords"])
    np.testing.assert_array_equal(a.traces["loss"], b.traces["loss"])


# --- perturbed gradient descent (Jin et al. 2017, Algorithm 2) --------------------
PGD = dict(eta=0.1, r=1e-3, g_thres=1e-3, t_thres=10.0, f_thres=1e-6)


def check_pgd(L, T, x0, steps, seed=0, **hyper):
    X0 = np.atleast_2d(x0)
    res = testbed.run(L, "perturbed_gd", X0, steps, seed=seed,
                      coords=tuple(range(L.d)), **hyper)
    out = []
    for r in range(X0.shape[0]):
        xs, status, stop, scalars = twin_perturbed_gd(T, X0[r], steps, seed=seed,
                                                      replica=r, **hyper)
        assert res.status[r] == status and res.stop_step[r] == stop
        trace = res.traces["coords"][:, :, r]
        assert_close(trace[: stop + 1], xs)
        assert np.all(np.isnan(trace[stop + 1:]))
        assert_close(res.x[r], xs[-1])
        assert_close(res.scalars[r], scalars)
        out.append(scalars)
    return res, out


def test_perturbed_gd_is_gd_while_the_gradient_is_large(quad):
    """No perturbation while |g| > g_thres: the first one comes at the first step t
    with |grad f(x_t)| <= g_thres, and until then the iterates are GD's, bit for bit."""
    L = quad[0].bind(lam=[0.5, 1.0, 2.0])
    T = Quadratic([0.5, 1.0, 2.0])
    hyper = dict(PGD, g_thres=1e-2, f_thres=1.0)   # f_thres large: return x~ at once
    gd_path = twin_gd(T, np.ones(3), 300, hyper["eta"])
    t_first = next(t for t, x in enumerate(gd_path) if norm(T.g(x)) <= hyper["g_thres"])
    res, [(t_noise, f_tilde, count)] = check_pgd(L, T, np.ones(3), 300, **hyper)
    assert (t_noise, count) == (t_first, 1)
    gd = testbed.run(L, "gd", np.ones(3), t_first, eta=hyper["eta"])
    np.testing.assert_array_equal(res.x[0], gd.x[0])      # x~ = x_{t_first}
    assert res.status[0] == RULE_DONE
    assert res.stop_step[0] == t_first + hyper["t_thres"] + 1


def test_perturbed_gd_waits_t_thres_between_perturbations(quad):
    """With g_thres above every gradient, perturbations come every t_thres + 1 steps
    (t - t_noise > t_thres) as long as each block decreases f by more than f_thres."""
    L = quad[0].bind(lam=[0.5, 1.0, 2.0])
    T = Quadratic([0.5, 1.0, 2.0])
    hyper = dict(PGD, g_thres=1e3, t_thres=4.0)
    res, [(t_noise, _, count)] = check_pgd(L, T, np.full(3, 10.0), 22, **hyper)
    assert res.status[0] == BUDGET
    assert (t_noise, count) == (20, 5)               # at t = 0, 5, 10, 15, 20


def test_perturbed_gd_returns_at_a_minimum(quad):
    """Started at the minimum, the perturbation cannot decrease f by f_thres in
    t_thres steps: the rule returns x~ = the minimum (status 'done')."""
    L = quad[0].bind(lam=[0.5, 1.0, 2.0])
    T = Quadratic([0.5, 1.0, 2.0])
    res, scalars = check_pgd(L, T, np.zeros((3, 3)), 100, seed=5, **PGD)
    assert np.all(res.status == RULE_DONE) and res.finished.all() and not res.ran_out.any()
    assert np.all(res.stop_step == PGD["t_thres"] + 1)
    np.testing.assert_array_equal(res.x, 0.0)
    assert all(c == 1 for _, _, c in scalars)


def test_perturbed_gd_escapes_a_saddle(quad):
    """At the strict saddle (lam_0 = -0.5) the perturbation grows along e_0 and f drops
    by more than f_thres within t_thres steps: no return, one perturbation."""
    L, T = quad
    hyper = dict(PGD, eta=0.5, t_thres=40.0, f_thres=1e-4)
    res, scalars = check_pgd(L, T, np.zeros((4, 3)), 80, seed=3, **hyper)
    assert np.all(res.status == BUDGET)
    assert all(c == 1 for _, _, c in scalars)
    assert np.all(np.abs(res.x[:, 0]) > 1.0)


# --- Newton and saddle-free Newton --------------------------------------------------
def test_newton_converges_in_one_step_on_a_quadratic(quad):
    L = quad[0].bind(lam=[0.5, 1.0, 2.0])
    res, xs = run_path(L, "newton", X0_Q, 3)
    np.testing.assert_allclose(xs[1:], 0.0, atol=1e-15)


def test_newton_is_attracted_to_a_saddle_and_sfn_is_not(quad):
    L, _ = quad                                      # lam = (-0.5, 1, 2): a saddle at 0
    _, xs = run_path(L, "newton", X0_Q, 3)
    np.testing.assert_allclose(xs[1:], 0.0, atol=1e-15)
    res, xs = run_path(L, "sfn", X0_Q, 5)
    # |H|^-1 g = (-x_0, x_1, x_2): the negative direction doubles, the others vanish
    expected = np.array([[X0_Q[0] * 2.0**k, 0, 0] for k in range(1, 6)])
    np.testing.assert_allclose(xs[1:], expected, rtol=1e-14, atol=1e-15)
    assert np.all(np.diff(res.traces["loss"][:, 0]) < 0)


def test_newton_singular_hessian_takes_the_pseudo_inverse_step(quad):
    L = quad[0].bind(lam=[0.0, 1.0, 2.0])
    res, xs = run_path(L, "newton", X0_Q, 3)
    assert np.all(np.isfinite(xs)) and res.status[0] == BUDGET
    # the null direction is left alone, the others are solved exactly
    np.testing.assert_allclose(xs[1:], [[X0_Q[0], 0, 0]] * 3, atol=1e-15)
    # max_step caps the step length
    _, xs = run_path(L, "newton", X0_Q, 1, max_step=0.1)
    assert norm(xs[1] - X0_Q) == pytest.approx(0.1, rel=1e-14)


# --- gradient flow ------------------------------------------------------------------
def test_gradient_flow_matches_the_exponential_to_fourth_order(quad):
    """On the quadratic x(t) = exp(-lam t) x0. RK4 multiplies by
    R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24 = e^z - z^5/120 + O(z^6), z = -lam eta, so
    at T = K eta the relative error is K z^5 / 120 (1 + O(z)) = T lam^5 eta^4 / 120."""
    L, _ = quad
    lam = np.array(LAM)
    T_end, errors = 2.0, []
    for eta in (0.05, 0.025):
        K = round(T_end / eta)
        res = testbed.run(L, "gradient_flow", X0_Q, K, eta=eta)
        exact = np.exp(-lam * T_end) * X0_Q
        rel = (res.x[0] - exact) / exact
        z = -lam * eta
        np.testing.assert_allclose(rel, -K * z**5 / 120, rtol=0.2)
        assert np.all(np.abs(rel) <= 1.2 * T_end * np.abs(lam) ** 5 * eta**4 / 120)
        errors.append(np.abs(rel))
    np.testing.assert_allclose(errors[0] / errors[1], 16.0, rtol=0.1)


def test_every_rule_has_a_twin():
    import sys
    from pathlib import Path
    missing = [r for r in rules.names() if r not in TWIN_TESTS]
    assert not missing, f"update rule(s) without a NumPy twin test: {missing}"
    here = sys.modules[__name__]
    for rule, test in TWIN_TESTS.items():
        if "::" in test:
            path, name = test.split("::")
            assert f"def {name}(" in (Path(__file__).parent / path).read_text(), (rule, test)
        else:
            assert callable(getattr(here, test, None)), (rule, test)


def test_rules_declare_their_hyper_parameters():
    from testbed.objective.landscape import Param
    for name in rules.names():
        module = rules.get(name)
        for key, param in module.HYPER.items():
            assert isinstance(param, Param), f"{name}.{key} is not declared with a Param"
            assert param.doc, f"{name}.{key} has no doc"


# --- adversarial training: fast_at, pgd_at, fast_bat --------------------------------
def _softmax_ce(theta, A, Y, W_, b_):
    """Mean cross-entropy of the linear classifier F = A W^T + b, and its gradients
    with respect to theta and to A (complex-safe, for the complex step)."""
    W = theta[W_.offset:W_.offset + W_.size].reshape(W_.shape)
    F = A @ W.T + theta[b_.offset:b_.offset + b_.size]
    e = np.exp(F - F.real.max(axis=1, keepdims=True))
    P = e / e.sum(axis=1, keepdims=True)
    m = A.shape[0]
    f = np.sum(np.log(e.sum(axis=1)) + F.real.max(axis=1) - np.sum(Y * F, axis=1)) / m
    D = (P - Y) / m
    g = np.zeros_like(theta)
    g[W_.offset:W_.offset + W_.size] = (D.T @ A).ravel()
    g[b_.offset:b_.offset + b_.size] = D.sum(axis=0)
    return f, g, D @ W


def _adv_twin(rule, theta, A, Y, pieces, K, seed, r, hyper):
    """The rule's K steps written from its docstring's equations in NumPy: the batch
    and the random starts from the same stream, the box [0, 1], the fast_bat cross
    term (1/(lambda B)) grad_theta[grad_delta S(theta, z) . u] by the complex step in
    theta (exact; the rule's central difference in the inputs agrees to O(h^2))."""
    from testbed._engine.rng import uniform
    W_, b_ = pieces
    n, n_in = A.shape
    eps, b = hyper["eps"], hyper["batch"]
    state = np.empty(4, np.uint64)
    seed_state(seed, r, state)

    def proj(d, Ab):
        return np.clip(np.clip(d, -eps, eps) + Ab, 0.0, 1.0) - Ab
    xs = [theta.copy()]
    for _ in range(K):
        perm = np.arange(n)
        for i in range(b):
            j = min(i + int(uniform(state) * (n - i)), n - 1)
            perm[i], perm[j] = perm[j], perm[i]
        Ab, Yb = A[perm[:b]], Y[perm[:b]]

        def start():
            u = np.array([uniform(state) for _ in range(b * n_in)]).reshape(b, n_in)
            return proj(eps * (2 * u - 1), Ab)
        if rule == "fast_at":
            d = start() if hyper["rs"] else np.zeros_like(Ab)
            d = proj(d + hyper["alpha"] * np.sign(_softmax_ce(theta, Ab + d, Yb, W_, b_)[2]), Ab)
            g = _softmax_ce(theta, Ab + d, Yb, W_, b_)[1]
        elif rule == "pgd_at":
            d = start()
            for _ in range(hyper["k"]):
                d = proj(d + hyper["alpha"] * np.sign(_softmax_ce(theta, Ab + d, Yb, W_, b_)[2]),
                         Ab)
            g = _softmax_ce(theta, Ab + d, Yb, W_, b_)[1]
        else:
            rl, lam = hyper["lr_ll"], hyper["lmbda"]
            z = start()
            z = proj(z + rl * b * _softmax_ce(theta, Ab + z, Yb, W_, b_)[2], Ab)
            ds = proj(z + rl * b * _softmax_ce(theta, Ab + z, Yb, W_, b_)[2], Ab)
            _, g, gA = _softmax_ce(theta, Ab + ds, Yb, W_, b_)
            inside = (ds > np.maximum(-Ab, -eps) + 1e-7) & (ds < np.minimum(1 - Ab, eps) - 1e-7)
            u = np.where(inside, b * gA, 0.0)
            cross = np.array([
                np.sum(b * _softmax_ce(theta + 1e-30j * e, Ab + z, Yb, W_, b_)[2] * u).imag
                / 1e-30 for e in np.eye(theta.size)]) / (lam * b)
            g = g + cross
        theta = theta - hyper["eta"] * g
        xs.append(theta.copy())
    return np.array(xs)


def test_adversarial_training_twins():
    """fast_at (with and without a random start), pgd_at and fast_bat on a linear
    softmax classifier (inputs in [0, 1]) against NumPy twins drawing the same batches
    and starts. Agreement to 1e-12 relative, except fast_bat (1e-8: its cross term is
    a central difference at h = 1e-4, truncation O(h^2) = 1e-8 times a third
    derivative of order 0.1 and 1/lambda = 2, over 6 steps, against the twin's exact
    complex step)."""
    from testbed import nets
    from testbed.nets import Dense, layout
    rng = np.random.default_rng(4)
    n, n_in, k = 12, 3, 3
    A = rng.uniform(0.0, 1.0, (n, n_in))
    A[:, 0] = np.where(A[:, 0] < 0.3, 0.0, A[:, 0])          # pixels at the box's edge
    Y = np.eye(k)[rng.integers(0, k, n)]
    arch = [Dense(n_in, k, act="identity")]
    L = nets.network(arch, A, Y, "ce")
    pieces = {p.name: p for p in layout.layout(arch)}
    pieces = (pieces["layer0.W"], pieces["layer0.b"])
    X0 = rng.normal(size=(2, L.d))
    K, seed = 6, 9
    cases = [("fast_at", {"eta": 0.5, "eps": 0.2, "alpha": 0.25, "batch": 5, "rs": 1}, 1e-12),
             ("fast_at", {"eta": 0.5, "eps": 0.2, "alpha": 0.2, "batch": 5, "rs": 0}, 1e-12),
             ("pgd_at", {"eta": 0.5, "eps": 0.2, "alpha": 0.1, "k": 3, "batch": 5}, 1e-12),
             ("fast_bat", {"eta": 0.5, "eps": 0.2, "lr_ll": 0.05, "lmbda": 0.5, "batch": 5},
              1e-8)]
    for rule, hyper, tol in cases:
        res = testbed.run(L, rule, X0, K, seed=seed, coords=tuple(range(L.d)),
                          observe=("loss",), **hyper)
        for r in range(2):
            twin = _adv_twin(rule, X0[r], A, Y, pieces, K, seed, r, hyper)
            err = np.max(np.abs(res.traces["coords"][:, :, r] - twin)) / np.max(np.abs(twin))
            assert err <= tol, (rule, hyper, err)
    # the cross term matters here (the twin without it is far off) and H is mixed
    off = testbed.run(L, "fast_bat", X0, K, seed=seed, **{**cases[3][1], "lmbda": np.inf})
    assert np.max(np.abs(off.x - res.x)) > 1e-3
    assert np.all((0.0 < res.scalars) & (res.scalars < 1.0))


def test_adversarial_rules_refuse_bad_hyper_parameters():
    from testbed import nets
    from testbed.errors import TestbedError
    from testbed.nets import Dense
    L = nets.network([Dense(2, 2, act="identity")], np.full((4, 2), 0.5), np.eye(2)[[0, 1, 0, 1]],
                     "ce")
    base = {"fast_at": {"eta": 0.1, "eps": 0.1, "alpha": 0.1, "batch": 2},
            "pgd_at": {"eta": 0.1, "eps": 0.1, "alpha": 0.1, "k": 2, "batch": 2},
            "fast_bat": {"eta": 0.1, "eps": 0.1, "lr_ll": 0.1, "batch": 2}}
    for rule, hyper in base.items():
        for key, bad in (("eps", -0.1), ("batch", 0), ("batch", 1.5), ("span", 0.0)) + (
                (("alpha", -1.0),) if "alpha" in hyper else (("lr_ll", -1.0),)):
            with pytest.raises(TestbedError, match=key):
                testbed.run(L, rule, np.zeros(L.d), 2, **{**hyper, key: bad})
    with pytest.raises(TestbedError, match="k"):
        testbed.run(L, "pgd_at", np.zeros(L.d), 2, **{**base["pgd_at"], "k": 0})
    with pytest.raises(TestbedError, match="lmbda"):
        testbed.run(L, "fast_bat", np.zeros(L.d), 2, **{**base["fast_bat"], "lmbda": 0.0})
    with pytest.raises(TestbedError, match="value_grad_inputs"):
        testbed.run(testbed.landscape("strict_saddle", d=3), "fast_at", np.zeros(3), 2,
                    **base["fast_at"])
