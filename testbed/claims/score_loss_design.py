"""score-loss-design (Gao, Makkuva, Oh & Viswanath 2019, "Learning One-hidden-layer
Neural Networks under General Input Distributions", AISTATS, arXiv:1810.04133).

Claim: a loss built from the input law's 4th-order score function recovers the
hidden weights of a one-hidden-layer ReLU teacher under non-Gaussian inputs, from
random initialisations, where the loss built for Gaussian inputs and the squared loss
do not.

The loss, as the authors implement it (``wgao9/score_function`` @25041658,
``experiment_2.py``; [C] in ``shared/papers/claims-part2.md`` sec. 3.3): with the
score tensor S_4(x) = grad^4 p(x) / p(x), the moment tensor T = (1/n) sum_i y_i S_4(x_i)
(symmetric) and the student's columns b_m,

    L(B) = - sum_{m != n} T(b_m, b_m, b_n, b_n) + mu sum_m T(b_m, b_m, b_m, b_m),

minimised by GD with every column renormalised to unit length after each step
(projected GD on a product of spheres), mu = 30. Its gradient in b_m is
-4 (sum_n Q_n) b_m + 4 (mu + 1) Q_m b_m with Q_n = T(., ., b_n, b_n).

Input law (non-Gaussian, smooth): the mixture 1/2 N(beta 1, I) + 1/2 N(-beta 1, I) in
d dimensions, whose exact score tensor is S_4(x) = sum_k w_k(x) He_4(x - m_k), with
posterior weights w_k and He_4 the Hermite tensor (the authors' ``S_4_mixed``).
Teacher: y = sum_m ReLU(a_m . x) with A = I (the authors'). Why this law and not the
authors' Laplace run: their Laplace S_4 is the product of the signs -sgn(x_j), which
drops the delta terms of the Laplace density's kink; with it T is (d/2) times the
indicator that the indices pair up, whatever the teacher, so the loss's minima are
the coordinate axes for any teacher (derived here; checked numerically: A = I is
recovered, a random orthogonal teacher is not). The mixture's density is smooth, so
Stein's identity holds exactly.

The population tensor (derived here from Stein's identity, not from the paper):
E[y S_4(x)] = E[grad^4 y] = sum_m E[delta''(a_m . x)] a_m^{(x)4} = sum_m kappa_m a_m^{(x)4},
where z_m = a_m . x has density 1/2 phi(z - c_m) + 1/2 phi(z + c_m), c_m = beta (a_m . 1)
for unit a_m, so kappa_m = p_{z_m}''(0) = (c_m^2 - 1) phi(c_m). At beta = 0 this is
-1/sqrt(2 pi), the Gaussian value; kappa < 0 for |c| < 1, the sign for which the
authors' loss (no sign factor) is built.

Experiment: per sample size n, ``draws`` independent data sets; per data set,
``inits`` random starts B_0 with N(0, 1) entries (columns normalised), shared by three
losses: (i) the designed loss with the exact mixture score (ii) the same loss with
the Gaussian score He_4(x) (the authors' "G() loss", mis-specified here) (iii) the
squared loss (1/2n) sum_i (sum_m ReLU(b_m . x_i) - y_i)^2, also with the columns
renormalised after each step, as the authors' code does for it too (it used Adam; plain
projected GD here). All runs go through the engine (``projected_gd`` with a column
normalisation), one replica per (data set, start), each with its own landscape
parameters. Error: the authors' ``weight_loss``, Q = |A^{-1} B| with unit columns
of B, min(1 - min_col max_row Q, 1 - min_row max_col Q) (0: exact up to permutation
and sign).

Criteria:

- code/theory: the estimated tensors T_n approach the population tensor at the rate
  of a sample mean: the fitted slope of log ||T_n - T||_F against log n is -1/2
  within 4 of its standard errors (from the regression's residuals over all draws);
- code/theory: projected GD on the population loss reaches error <= 1e-6 from every
  start (the landscape has no spurious minima here; measured 0 to rounding);
- science: the designed loss recovers the teacher at the largest n: median error over
  data sets and starts <= 0.05, and its error falls with n (median at the smallest n
  at least 2x that at the largest);
- science: at the largest n the mis-specified Gaussian-score loss and the squared loss
  err at least 5x more (median), the catalogue's acceptance (the authors recorded
  900x and 300x at d = 50 on Laplace inputs).

Outcome at these scales (d = 3): the squared loss, whose labels are noiseless, recovers
the teacher exactly (projected GD at step 0.5 reaches error 0 from every start
within 300 steps), better than the designed loss, whose error is the sampling
error of T; so the claim is "not reproduced" against the squared loss, while the
score-adapted loss beats the Gaussian-score loss by far. The authors' squared-loss
failure was at d = 50 (Adam, error 0.156); at d = 6 the designed loss's sampling error
already dominates at n = 8192 (all starts above 0.3, measured), so a larger d is out of
reach of a CPU check here. Rounding: each
replica is a descent to an isolated minimum (up to permutation and sign), so rounding
differences do not change the errors beyond their last digits.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..errors import TestbedError
from ..kernel import njit
from ._base import Verdict, at_least, at_most, close

ID = "score-loss-design"
PAPER = ("Gao, Makkuva, Oh & Viswanath (2019), Learning One-hidden-layer Neural Networks "
         "under General Input Distributions, AISTATS (arXiv:1810.04133)")
CLAIM = ("the score-function loss recovers a one-hidden-layer ReLU teacher under "
         "non-Gaussian inputs; the Gaussian-score and squared losses do not")
SCALES = {
    "quick": {"d": 3, "beta": 0.5, "mu": 30.0, "ns": (1000, 10000, 100000), "draws": 4,
              "inits": 2, "steps": 1500, "lr": 1e-2, "l2_steps": 300, "l2_lr": 0.5,
              "seed": 0},
    "paper": {"d": 3, "beta": 0.5, "mu": 30.0, "ns": (1000, 3000, 10000, 30000, 100000),
              "draws": 8, "inits": 2, "steps": 2000, "lr": 1e-2, "l2_steps": 400,
              "l2_lr": 0.5, "seed": 0},
}
TENSOR, SQUARED = 0.0, 1.0
POP_TOL = 1e-6
RECOVERY = 0.05
FALL_RATIO = 2.0
GAP = 5.0


# ---- the two losses as one kernel module: p = [kind, d, ...] ---------------------
# kind 0 (designed loss): p = [0, d, mu, T (d^4, C order)]; x = B (d x d, row-major,
# column m is the hidden unit b_m). kind 1 (squared loss): p = [1, d, n, X (n x d), y].

@njit
def value_grad(x, p, g):
    if p[0] == 0.0:
        return _tensor_loss(x, p, g)
    return _squared_loss(x, p, g)


@njit
def _tensor_loss(x, p, g):
    d = int(p[1])
    mu = p[2]
    T = p[3:].reshape((d, d, d, d))
    B = x.reshape((d, d))
    Q = np.zeros((d, d, d))                       # Q[n] = T(., ., b_n, b_n)
    for n in range(d):
        for i in range(d):
            for j in range(d):
                s = 0.0
                for k in range(d):
                    for l in range(d):
                        s += T[i, j, k, l] * B[k, n] * B[l, n]
                Q[n, i, j] = s
    S = Q.sum(axis=0)
    f = 0.0
    for m in range(d):
        for i in range(d):
            sb, qb = 0.0, 0.0
            for j in range(d):
                sb += S[i, j] * B[j, m]
                qb += Q[m, i, j] * B[j, m]
            f += B[i, m] * (-sb + (mu + 1.0) * qb)
            g[i * d + m] = -4.0 * sb + 4.0 * (mu + 1.0) * qb
    return f


@njit
def _squared_loss(x, p, g):
    d = int(p[1])
    n = int(p[2])
    X = p[3:3 + n * d].reshape((n, d))
    y = p[3 + n * d:3 + n * d + n]
    B = x.reshape((d, d))
    for k in range(d * d):
        g[k] = 0.0
    f = 0.0
    z = np.empty(d)
    for s in range(n):
        out = 0.0
        for m in range(d):
            zm = 0.0
            for i in range(d):
                zm += X[s, i] * B[i, m]
            z[m] = zm
            if zm > 0.0:
                out += zm
        r = out - y[s]
        f += 0.5 * r * r
        for m in range(d):
            if z[m] > 0.0:
                for i in range(d):
                    g[i * d + m] += r * X[s, i]
    for k in range(d * d):
        g[k] /= n
    return f / n


@njit
def normalise_columns(x, q):
    """Projection: every column of the d x d matrix x (row-major) to unit length."""
    d = int(q[0])
    for m in range(d):
        s = 0.0
        for i in range(d):
            s += x[i * d + m] ** 2
        s = math.sqrt(s)
        if s > 0.0:
            for i in range(d):
                x[i * d + m] /= s


# ---- the math ---------------------------------------------------------------------

def _validate(params) -> None:
    d = params["d"]
    if not isinstance(d, (int, np.integer)) or d < 2:
        raise TestbedError(f"score-loss-design: width d must be an integer >= 2, got {d!r}")
    ns = params["ns"]
    if (len(ns) < 2 or any(not isinstance(n, (int, np.integer)) or n < 10 * d for n in ns)
            or list(ns) != sorted(set(ns))):
        raise TestbedError("score-loss-design: ns must be at least two increasing sample "
                           f"counts, each an integer >= 10 d = {10 * d}, got {ns!r}")
    for key in ("draws", "inits", "steps", "l2_steps"):
        v = params[key]
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise TestbedError(f"score-loss-design: {key} must be a positive integer, got {v!r}")
    if params["draws"] * params["inits"] < 2:
        raise TestbedError("score-loss-design: draws x inits must be at least 2")
    for key in ("mu", "lr", "l2_lr"):
        if not params[key] > 0:
            raise TestbedError(f"score-loss-design: {key} must be > 0, got {params[key]!r}")
    if not 0 <= params["beta"] * 1.0 < 1.0:
        raise TestbedError("score-loss-design: beta must be in [0, 1) (kappa < 0, the "
                           f"sign the loss is built for), got {params['beta']!r}")


def hermite4(X, w) -> np.ndarray:
    """(1/n) sum_i w_i He_4(x_i), He_4(x) = x^4 - sum_6 x x I + sum_3 I I (tensors)."""
    n, d = X.shape
    M4 = np.einsum("n,ni,nj,nk,nl->ijkl", w, X, X, X, X) / n
    M2 = np.einsum("n,ni,nj->ij", w, X, X) / n
    I = np.eye(d)
    out = M4.copy()
    for pair in itertools.combinations(range(4), 2):
        rest = [a for a in range(4) if a not in pair]
        out -= np.transpose(np.einsum("ij,kl->ijkl", M2, I), np.argsort([*pair, *rest]))
    II = np.einsum("ij,kl->ijkl", I, I)
    out += np.mean(w) * (II + II.transpose(0, 2, 1, 3) + II.transpose(0, 2, 3, 1))
    return out


def mixture_tensor(X, y, beta) -> np.ndarray:
    """(1/n) sum_i y_i S_4(x_i) with the exact score of 1/2 N(beta 1, I) + 1/2 N(-beta 1, I):
    S_4 = sum_k w_k(x) He_4(x - m_k), w_+(x) = 1 / (1 + exp(-2 beta 1.x))."""
    m = beta * np.ones(X.shape[1])
    w = 0.5 * (1.0 + np.tanh(X @ m))
    return hermite4(X - m, y * w) + hermite4(X + m, y * (1.0 - w))


def population_tensor(d, beta) -> np.ndarray:
    """sum_m kappa_m a_m^{(x)4} for A = I: kappa = (c^2 - 1) phi(c), c = beta."""
    kappa = (beta**2 - 1.0) * math.exp(-beta**2 / 2) / math.sqrt(2 * math.pi)
    T = np.zeros((d,) * 4)
    for m in range(d):
        T[m, m, m, m] = kappa
    return T


def draw_data(n, d, beta, rng):
    """n inputs from the mixture and the teacher's labels y = sum_m ReLU(x_m) (A = I)."""
    sign = rng.choice([-1.0, 1.0], size=(n, 1))
    X = sign * beta + rng.standard_normal((n, d))
    return X, np.maximum(X, 0.0).sum(axis=1)


def recovery_error(A, B) -> np.ndarray:
    """The authors' ``weight_loss`` for B (..., d, d), columns normalised first."""
    B = np.asarray(B, float)
    B = B / np.linalg.norm(B, axis=-2, keepdims=True)
    Q = np.abs(np.linalg.solve(A, B))
    return np.minimum(1.0 - Q.max(axis=-2).min(axis=-1), 1.0 - Q.max(axis=-1).min(axis=-1))


def _landscape(p):
    from ..objective.landscape import from_kernels
    d = int(p[1])
    return from_kernels("score-loss-design", __name__, dim=d * d,
                        pack=lambda dim: p).bind()


def _tensor_p(T, mu):
    d = T.shape[0]
    return np.concatenate([[TENSOR, d, mu], T.ravel()])


def experiment(params) -> dict:
    from .. import run
    from ..projections import Projection
    _validate(params)
    d, beta, R = params["d"], params["beta"], params["draws"] * params["inits"]
    rng = np.random.default_rng(params["seed"])
    A = np.eye(d)
    proj = Projection(normalise_columns, (d,), "unit columns")
    B0 = rng.standard_normal((R, d, d))
    B0 /= np.linalg.norm(B0, axis=1, keepdims=True)
    x0 = B0.reshape(R, d * d)
    T_pop = population_tensor(d, beta)
    pop = run(_landscape(_tensor_p(T_pop, params["mu"])), "projected_gd", x0,
              steps=params["steps"], seed=params["seed"], eta=params["lr"],
              projection=proj, observe=())
    out = {"pop_error": recovery_error(A, pop.x.reshape(R, d, d)), "ns": np.array(params["ns"])}
    errs = {k: [] for k in ("score", "gauss", "squared")}
    tensor_err = []
    for n in params["ns"]:
        P = {"score": [], "gauss": [], "squared": []}
        dist = []
        for _ in range(params["draws"]):
            X, y = draw_data(n, d, beta, rng)
            Tm = mixture_tensor(X, y, beta)
            dist.append(np.linalg.norm(Tm - T_pop))
            P["score"].append(_tensor_p(Tm, params["mu"]))
            P["gauss"].append(_tensor_p(hermite4(X, y), params["mu"]))
            P["squared"].append(np.concatenate([[SQUARED, d, n], X.ravel(), y]))
        tensor_err.append(dist)
        for key, ps in P.items():
            ps = np.repeat(np.array(ps), params["inits"], axis=0)   # replica = (draw, init)
            L = _landscape(ps[0])
            steps, lr = ((params["l2_steps"], params["l2_lr"]) if key == "squared"
                         else (params["steps"], params["lr"]))
            res = run(L, "projected_gd", x0, steps=steps, seed=params["seed"], eta=lr,
                      projection=proj, params=ps, observe=())
            e = recovery_error(A, res.x.reshape(R, d, d))
            errs[key].append(np.where(res.diverged, np.nan, e))
    out.update({f"{k}_error": np.array(v) for k, v in errs.items()})     # (n_ns, R)
    out["tensor_error"] = np.array(tensor_err)                            # (n_ns, draws)
    out["tensor_norm"] = np.array(np.linalg.norm(T_pop))
    return out


def predict(params) -> dict:
    beta = params["beta"]
    return {"kappa": (beta**2 - 1.0) * math.exp(-beta**2 / 2) / math.sqrt(2 * math.pi),
            "tensor_slope": -0.5, "pop_error": POP_TOL, "recovery": RECOVERY,
            "fall_ratio": FALL_RATIO, "gap": GAP}


def slope(ns, values):
    """Least-squares slope of log(values) on log(n) over all draws, and its standard
    error from the residuals."""
    x = np.repeat(np.log(np.asarray(ns, float)), values.shape[1])
    y = np.log(values.ravel())
    X = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    s2 = resid @ resid / (x.size - 2)
    se = math.sqrt(s2 / np.sum((x - x.mean())**2))
    return float(coef[1]), se


def check(data, prediction, params) -> Verdict:
    b, se = slope(data["ns"], data["tensor_error"])
    med = {k: np.nanmedian(data[f"{k}_error"], axis=1) for k in ("score", "gauss", "squared")}
    score_last = float(med["score"][-1])
    floor = max(score_last, 1e-12)
    ns = data["ns"]
    criteria = [
        close("tensor_rate", b, prediction["tensor_slope"], 4 * se,
              f"fitted slope of log ||T_n - T||_F on log n over {data['tensor_error'].size} "
              f"data sets; a sample mean's error falls like n^(-1/2); tolerance 4 standard "
              f"errors of the fit (se = {se:.3f})"),
        at_most("population_recovery", float(np.max(data["pop_error"])), POP_TOL,
                "projected GD on the population loss (T = sum kappa a^4, kappa = "
                f"{prediction['kappa']:.4f}) from every start: no spurious minima; the "
                "tolerance is far above rounding, far below any finite-sample error"),
        at_most("score_recovery", score_last, RECOVERY,
                f"median error at n = {ns[-1]} over data sets and starts; the catalogue's "
                "recovery threshold (1 - cos of 0.32 rad)", science=True),
        at_least("score_error_falls", float(med["score"][0]) / floor, FALL_RATIO,
                 f"median error at n = {ns[0]} over that at n = {ns[-1]}: the error "
                 "falls with n (sampling error of T ~ n^(-1/2))", science=True),
        at_least("gauss_over_score", float(med["gauss"][-1]) / floor, GAP,
                 f"median error ratio at n = {ns[-1]}, Gaussian-score loss over the "
                 "mixture-score loss; the catalogue's acceptance (5x)", science=True),
        at_least("squared_over_score", float(med["squared"][-1]) / floor, GAP,
                 f"median error ratio at n = {ns[-1]}, squared loss over the "
                 "mixture-score loss; the catalogue's acceptance (5x)", science=True),
    ]
    evidence = {"median_error": {k: v for k, v in med.items()}, "ns": ns,
                "tensor_slope_se": se, "kappa": prediction["kappa"],
                "tensor_rel_error_median": np.median(data["tensor_error"], axis=1)
                / float(data["tensor_norm"])}
    return Verdict(criteria, evidence, headline="score_recovery")
