"""sgd-escapes-faster (Jin, Netrapalli, Ge, Kakade & Jordan 2021, J. ACM,
arXiv:1902.04811; the lecture-note picture of Ge et al. 2015): from the same start
near a strict saddle, gradient noise (isotropic noise, or genuine mini-batch sampling)
escapes faster than full-batch GD once it dominates the distance to the stable
manifold.

Landscape: strict_saddle at benchmark B1 (d = 10, lam_1 = -1, lam_2..10 in [0.5, 2]),
eta = 0.1, escape radius R = 0.5. Every run starts at x(0) = delta e_1 (delta = 1e-8
from the stable manifold {x_1 = 0}); one group starts exactly on it.

Prediction [D, self-contained: derived from the toy's own map, not from the papers;
testbed.theory.saddle_escape, sections "Noisy and mini-batch GD started off the stable
manifold"]. x_1 is an exact 1-D chain x <- phi(x) + eps, phi(x) = x + eta(x - x^3). In
its Koenigs coordinate h (h(phi(x)) = mu h(x), mu = 1 + eta) the escape step T (first t
with |x_1| > R) satisfies P(T <= t) = P(|h(delta) + Z_t| > h(R) mu^-t),
Z_t = sum_{j<t} mu^-(j+1) eps_j:
- full-batch GD (eps = 0): T_GD = floor(log_mu(h(R)/h(delta))) + 1 = 188 steps;
- noisy GD (rule noisy_gd, eps ~ N(0, sigma^2)): Y = h(delta) + Z ~ N(h(delta), s^2),
  s = sigma/sqrt(mu^2 - 1). The noise takes over once s > h(delta), i.e. above the
  crossover sigma_c = h(delta) sqrt(mu^2 - 1) = 4.6e-9; well above it the mean escape
  step falls by 1/ln mu = 10.5 steps per factor e of sigma, below it T -> T_GD
  (in between, noise that pushes x_1 back towards 0 makes E T slightly exceed T_GD);
- mini-batch SGD on the finite sum f = (1/n) sum_j f_j, f_j(x) = f(x) + c <v_j, x>,
  n = 16, v_{j,1} = 15 for one sample and -1 for the other 15 (mean 0; the other
  coordinates of v_j are balanced +-1), batches of b = 2 drawn without replacement
  each step: the stochastic gradient is grad f(x) + c v_B (v_B the batch mean), so
  eps = -eta c v_B,1, where v_B,1 takes two values (7 with probability 1/8, -1 with
  7/8): skewed, not Gaussian. Its law is computed exactly (grid convolution, error
  < 1e-4 in the CDF); c is set so that sd(eps) = mb_sigma.

Experiment: one noisy_gd ensemble with sigma per replica (the sweep 1e-10 .. 1e-3,
n_per replicas each, plus sigma_star started exactly at x = 0), one GD ensemble from
delta e_1 and from 0 (10^5 steps), and the mini-batch SGD runs. The testbed has no
mini-batch rule yet (missing: a rule that draws batch indices per replica from its
stream, and finite-sum kernels value_grad_batch; the oracle is being extended with
the latter), so each SGD step is one engine GD step (rule gd, the landscape's
compiled gradient) followed by the batch's constant gradient offset -eta c v_B,
sampled in numpy: exact for this finite sum because f_j - f is linear, so the
stochastic gradient noise does not depend on x.

Check. The family-wise false-alarm probability alpha = 1e-3 is split by Bonferroni
over the m statistical tests (a Kolmogorov distance per group against the
Dvoretzky-Kiefer-Wolfowitz-Massart bound, valid -- conservatively -- for discrete laws
too; an exact binomial test per sigma of the fraction escaping before T_GD against the
law's P(T < T_GD); the same two for the mini-batch runs; and, at sigma_star and for
the mini-batch runs, a one-sided test that this fraction exceeds 1/2). GD is checked
exactly: T_GD equals the closed form, and from x = 0 GD keeps x_1 = 0 exactly for
10^5 steps (the measure-zero exception of Lee et al. 2016). The law's own errors are
far below the bounds: the neglected h' - 1 moves T by < 0.03 steps even at
sigma = 1e-3, late noise is < 3% of the drift at the threshold, the mini-batch grid
error is < 1e-4. (The Gaussian law with the same variance is NOT good enough for the
mini-batch runs: at the paper scale its Kolmogorov distance is 0.06 against a bound
of 0.016, the exact discrete law's 0.006.) The crossover (the sigma where
P(T < T_GD) = 1/2) is reported; it is predicted near sigma_c.
"""
import math

import numpy as np
from scipy.stats import binomtest, hypergeom

from ..ensemble import run
from ..errors import TestbedError
from ..events import escape
from ..objective.registry import landscape
from ..theory import saddle_escape as th
from ..kernel import BUDGET, EVENT
from ._base import Verdict, at_least, at_most, holds

ID = "sgd-escapes-faster"
PAPER = ("Jin, Netrapalli, Ge, Kakade & Jordan (2021), On Nonconvex Optimization for "
         "Machine Learning: Gradients, Stochasticity, and Saddle Points, J. ACM "
         "(arXiv:1902.04811); Ge, Huang, Jin & Yuan (2015)")
CLAIM = ("from the same start near a strict saddle, noisy / mini-batch GD escapes faster "
         "than full-batch GD once the noise dominates the distance to the stable manifold; "
         "the escape-time law is exact")
_SWEEP = [1e-10, 1e-9, 3e-9, 1e-8, 3e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3]
_COMMON = {"d": 10, "eta": 0.1, "radius": 0.5, "delta": 1e-8, "sigmas": _SWEEP,
           "sigma_star": 1e-8, "t_max": 400, "gd_steps": 100_000,
           "mb_n": 16, "mb_batch": 2, "mb_sigma": 1e-8, "alpha": 1e-3}
SCALES = {
    "quick": {**_COMMON, "n_per": 1000, "mb_replicas": 2000, "seed": 0},
    "paper": {**_COMMON, "n_per": 20000, "mb_replicas": 20000, "seed": 0},
}
MIN_MARGIN = 1e-9     # steps: 1000 x the rounding of GD's Koenigs phase (3uT/ln mu ~ 1e-12)


def _validate(params):
    for key in ("eta", "radius", "sigma_star", "mb_sigma", "alpha"):
        if not params[key] > 0:
            raise TestbedError(f"{ID}: {key} must be positive, got {params[key]}")
    if not 0 < params["delta"] < params["radius"]:
        raise TestbedError(f"{ID}: delta must lie in (0, radius), got {params['delta']}")
    if params["sigma_star"] not in params["sigmas"]:
        raise TestbedError(f"{ID}: sigma_star must be one of the swept sigmas")
    if not 1 <= params["mb_batch"] < params["mb_n"]:
        raise TestbedError(f"{ID}: need 1 <= mb_batch < mb_n")


def _landscape(params):
    return landscape("strict_saddle", d=int(params["d"]))


def _gamma(L) -> float:
    return th.saddle_gamma(L.values["lam"][0])


def _samples(params):
    """The finite sum's per-sample directions v_j (n x d): v_{j,1} = n-1 for j = 0 and
    -1 otherwise; the other coordinates balanced +-1 (each column sums to 0)."""
    n, d = int(params["mb_n"]), int(params["d"])
    rng = np.random.default_rng(12345)
    V = np.empty((n, d))
    V[:, 0] = -1.0
    V[0, 0] = n - 1.0
    half = np.repeat([1.0, -1.0], n // 2)
    for i in range(1, d):
        V[:, i] = rng.permutation(half) if n % 2 == 0 else 0.0
    return V


def _minibatch_noise(params):
    """(c, atoms, probs) of eps = -eta c v_B,1: a batch of b distinct samples holds the
    outlier (v_1 = n - 1) with probability b/n (hypergeometric), and then v_B,1 =
    (n - 1 - (b - 1))/b, else -1; c makes sd(eps) = mb_sigma."""
    n, b, eta = int(params["mb_n"]), int(params["mb_batch"]), params["eta"]
    k = np.arange(2)                                 # outliers drawn: 0 or 1
    probs = hypergeom(n, 1, b).pmf(k)
    vb = (k * (n - 1.0) - (b - k)) / b               # batch mean of v_{j,1}
    sd = math.sqrt(float(probs @ vb ** 2))
    c = params["mb_sigma"] / (eta * sd)
    return c, -eta * c * vb, probs


def _noisy_runs(params, L):
    sig = np.asarray(params["sigmas"], dtype=float)
    n = int(params["n_per"])
    sigmas = np.concatenate([np.repeat(sig, n), np.full(n, params["sigma_star"])])
    group = np.repeat(np.arange(sig.size + 1), n)
    X = np.zeros((sigmas.size, L.d))
    X[: sig.size * n, 0] = params["delta"]            # the last group starts at x = 0
    t_max = int(params["t_max"])
    res = run(L, "noisy_gd", X, steps=t_max, n=sigmas.size, seed=params["seed"],
              stride=t_max, event=escape(0, params["radius"]), eta=params["eta"],
              sigma=sigmas)
    T = np.where(res.status == EVENT, res.stop_step, -1)     # -1: not escaped by t_max
    return {"noisy_T": T, "noisy_group": group, "noisy_sigma": sigmas}


def _gd_runs(params, L):
    X = np.zeros((2, L.d))
    X[0, 0] = params["delta"]
    steps = int(params["gd_steps"])
    res = run(L, "gd", X, steps=steps, n=2, seed=params["seed"], stride=steps,
              event=escape(0, params["radius"]), eta=params["eta"])
    return {"gd_status": res.status, "gd_stop": res.stop_step, "gd_x": res.x}


def _minibatch_runs(params, L):
    """Mini-batch SGD: an engine GD step, then the batch's offset -eta c v_B."""
    V = _samples(params)
    c, _, _ = _minibatch_noise(params)
    n, b = int(params["mb_n"]), int(params["mb_batch"])
    N, t_max, eta, R = int(params["mb_replicas"]), int(params["t_max"]), params["eta"], \
        params["radius"]
    rng = np.random.default_rng([int(params["seed"]), 7])
    X = np.zeros((N, L.d))
    X[:, 0] = params["delta"]
    T = np.full(N, -1, dtype=np.int64)
    alive = np.arange(N)
    outliers = np.zeros(N, dtype=np.int64)          # batches containing sample 0, per replica
    for t in range(1, t_max + 1):
        # one GD step (the escape event only shares the compiled ensemble of _gd_runs:
        # it stops a replica after its single step either way, at the same point)
        res = run(L, "gd", X, steps=1, n=alive.size, seed=0, stride=1, observe=(),
                  threads=1, event=escape(0, R), eta=eta)   # one thread: no barrier per step
        batch = np.argpartition(rng.random((alive.size, n)), b - 1, axis=1)[:, :b]
        outliers[alive] += np.any(batch == 0, axis=1)
        X = res.x - eta * c * V[batch].mean(axis=1)
        out = np.abs(X[:, 0]) > R
        T[alive[out]] = t
        X, alive = X[~out], alive[~out]
        if alive.size == 0:
            break
    return {"mb_T": T, "mb_outlier_batches": outliers, "mb_c": np.array(c)}


def experiment(params) -> dict:
    _validate(params)
    L = _landscape(params)
    return {**_noisy_runs(params, L), **_gd_runs(params, L), **_minibatch_runs(params, L)}


def predict(params) -> dict:
    """Exact laws per group (sweep at delta, then sigma_star at 0), GD's step, the
    mini-batch law, the crossover and curves over sigma for the figure."""
    _validate(params)
    L = _landscape(params)
    gamma = _gamma(L)
    eta, R, delta, t_max = params["eta"], params["radius"], params["delta"], int(params["t_max"])
    mu = 1.0 + eta * gamma
    t_gd = th.deterministic_escape_estimate(delta, eta, R, gamma)
    phase = math.log(th.koenigs_h(R, eta, gamma) / th.koenigs_h(delta, eta, gamma)) / math.log(mu)
    laws = [th.noisy_escape_distribution_from(delta, eta, s, R, gamma, t_max=t_max)
            for s in params["sigmas"]]
    laws.append(th.noisy_escape_distribution_from(0.0, eta, params["sigma_star"], R, gamma,
                                                  t_max=t_max))
    c, atoms, probs = _minibatch_noise(params)
    mb = th.discrete_noise_escape_distribution(delta, eta, atoms, probs, R, gamma,
                                               t_max=t_max)
    mb_gauss = th.noisy_escape_distribution_from(delta, eta, params["mb_sigma"], R, gamma,
                                                 t_max=t_max)
    grid = np.logspace(-11, -2.5, 60)
    curve = [th.noisy_escape_distribution_from(delta, eta, s, R, gamma, t_max=t_max)
             for s in grid]
    p_curve = np.array([lw.cdf[t_gd - 1] for lw in curve])
    k = int(np.argmax(p_curve > 0.5))                 # first grid point above 1/2
    lo, hi = math.log(grid[k - 1]), math.log(grid[k])
    for _ in range(40):                               # bisection for P(T < T_GD) = 1/2
        mid = 0.5 * (lo + hi)
        pm = th.noisy_escape_distribution_from(delta, eta, math.exp(mid), R, gamma,
                                               t_max=t_max).cdf[t_gd - 1]
        lo, hi = (mid, hi) if pm < 0.5 else (lo, mid)
    return {"t_gd": int(t_gd), "t_gd_phase": phase,
            "cdf": np.array([lw.cdf for lw in laws]),
            "pmf": np.array([lw.pmf for lw in laws]),
            "mean": np.array([lw.mean for lw in laws]),
            "std": np.array([lw.std for lw in laws]),
            "p_not_escaped": np.array([lw.p_not_escaped for lw in laws]),
            "p_before_gd": np.array([lw.cdf[t_gd - 1] for lw in laws[:-1]]),
            "model_error_steps": float(max(lw.model_error_steps for lw in laws)),
            "late_noise_ratio": float(max(lw.late_noise_ratio for lw in laws)),
            "sigma_c": float(th.koenigs_h(delta, eta, gamma) * math.sqrt(mu * mu - 1.0)),
            "sigma_half": float(math.exp(0.5 * (lo + hi))),
            "mb_cdf": mb.cdf, "mb_pmf": mb.pmf, "mb_mean": mb.mean, "mb_c": c,
            "mb_p_before_gd": float(mb.cdf[t_gd - 1]),
            "mb_gauss_cdf": mb_gauss.cdf, "mb_gauss_pmf": mb_gauss.pmf,
            "curve_sigma": grid, "curve_mean": np.array([lw.mean for lw in curve]),
            "curve_p_before_gd": p_curve}


def _ecdf(T, t_max):
    """F_N(t) = #(T <= t)/N for t = 0..t_max (T = -1: not escaped, counts as T > t_max)."""
    counts = np.bincount(T[T >= 0], minlength=t_max + 1)[: t_max + 1]
    return np.cumsum(counts) / T.size


def check(data, prediction, params) -> Verdict:
    t_max, alpha = int(params["t_max"]), params["alpha"]
    sig = list(params["sigmas"])
    n_groups = len(sig) + 1
    m = n_groups + len(sig) + 2 + 2          # KS per group, binomial per sigma, mb (2), > 1/2 (2)
    a = alpha / m
    level = f"level alpha/m = {a:.1e} (family-wise {alpha:g}, Bonferroni over {m} tests)"
    t_gd = prediction["t_gd"]

    T, group = data["noisy_T"], data["noisy_group"]
    ks, eps, frac, p_binom = [], [], [], []
    for g in range(n_groups):
        Tg = T[group == g]
        ks.append(float(np.max(np.abs(_ecdf(Tg, t_max) - prediction["cdf"][g]))))
        eps.append(math.sqrt(math.log(2.0 / a) / (2.0 * Tg.size)))
        if g < len(sig):
            k = int(np.sum((Tg >= 0) & (Tg < t_gd)))
            frac.append(k / Tg.size)
            p = float(min(max(prediction["p_before_gd"][g], 0.0), 1.0))
            p_binom.append(float(binomtest(k, Tg.size, p).pvalue))
    worst = int(np.argmax(np.array(ks) - np.array(eps)))     # the group nearest its bound

    star = sig.index(params["sigma_star"])
    Ts = T[group == star]
    k_star = int(np.sum((Ts >= 0) & (Ts < t_gd)))
    faster_p = float(binomtest(k_star, Ts.size, 0.5, alternative="greater").pvalue)

    Tm = data["mb_T"]
    mb_ks = float(np.max(np.abs(_ecdf(Tm, t_max) - prediction["mb_cdf"])))
    mb_ks_gauss = float(np.max(np.abs(_ecdf(Tm, t_max) - prediction["mb_gauss_cdf"])))
    mb_eps = math.sqrt(math.log(2.0 / a) / (2.0 * Tm.size))
    k_mb = int(np.sum((Tm >= 0) & (Tm < t_gd)))
    p_mb = prediction["mb_p_before_gd"]
    mb_binom_p = float(binomtest(k_mb, Tm.size, p_mb).pvalue)
    mb_faster_p = float(binomtest(k_mb, Tm.size, 0.5, alternative="greater").pvalue)

    above = [s for s, f in zip(sig, frac) if f > 0.5]
    below = [s for s, f in zip(sig, frac) if f <= 0.5]
    bracket = [max([s for s in below if s < min(above, default=np.inf)], default=None),
               min(above, default=None)]
    phase = prediction["t_gd_phase"]
    margin = abs(phase - round(phase))
    allowed = {t_gd} if margin >= MIN_MARGIN else {round(phase), round(phase) + 1}
    criteria = [
        holds("gd_escape_step", int(data["gd_stop"][0]), t_gd,
              "full-batch GD is the deterministic 1-D map, so T_GD is the Koenigs step "
              "floor(phase) + 1 itself; rounding moves the phase by ~3uT/ln mu ~ 1e-12 "
              f"steps, and it lies {margin:.3f} from an integer (the adjacent step would be "
              f"allowed within {MIN_MARGIN:g})",
              bool(data["gd_status"][0] == EVENT and int(data["gd_stop"][0]) in allowed),
              tolerance="0 steps"),
        holds("gd_on_manifold_stays", float(np.max(np.abs(data["gd_x"][1]))), 0.0,
              "GD maps x = 0 to exactly 0: from the stable manifold it never escapes "
              f"(status budget after {int(params['gd_steps'])} steps)",
              bool(data["gd_status"][1] == BUDGET and np.all(data["gd_x"][1] == 0.0))),
        at_most("ks_noisy_max", ks[worst], eps[worst],
                "DKW-Massart bound sqrt(ln(2m/alpha)/(2N)) at the " + level
                + "; the law neglects h' - 1 (a jitter <= "
                f"{prediction['model_error_steps']:.1e} steps) and late noise (<= "
                f"{prediction['late_noise_ratio']:.1e} of the drift at the threshold)"),
        at_least("binomial_min_pvalue", min(p_binom), a,
                 "exact two-sided binomial test of the fraction escaping before T_GD "
                 "against the law's P(T < T_GD), every sigma, at the " + level),
        holds("noise_faster_than_gd", k_star / Ts.size,
              round(float(prediction["p_before_gd"][star]), 4),
              f"at sigma = {params['sigma_star']:g} the law predicts P(T < T_GD) > 1/2 and "
              "the measured fraction exceeds 1/2 by a one-sided binomial test at the "
              + level, bool(prediction["p_before_gd"][star] > 0.5 and faster_p < a),
              tolerance=f"> 1/2 at p < {a:.1e}", science=True),
        at_most("minibatch_ks", mb_ks, mb_eps,
                "DKW-Massart bound at the " + level + "; the discrete mini-batch law's grid "
                "error is < 1e-4"),
        holds("minibatch_binomial", k_mb / Tm.size, round(p_mb, 4),
              "exact two-sided binomial test of the fraction escaping before T_GD against "
              "the mini-batch law at the " + level, mb_binom_p > a,
              tolerance=f"p-value > {a:.1e}"),
        holds("minibatch_faster_than_gd", k_mb / Tm.size, "> 1/2",
              "the mini-batch law predicts P(T < T_GD) > 1/2 and the measured fraction "
              "exceeds 1/2 by a one-sided binomial test at the " + level,
              bool(p_mb > 0.5 and mb_faster_p < a), tolerance=f"p < {a:.1e}", science=True),
    ]
    labels = [*map(str, sig), "star_at_0"]
    evidence = {
        "ks": dict(zip(labels, ks)), "ks_bound": dict(zip(labels, eps)),
        "frac_before_gd": dict(zip(map(str, sig), frac)),
        "predicted_p_before_gd": dict(zip(map(str, sig), prediction["p_before_gd"].tolist())),
        "binom_pvalues": dict(zip(map(str, sig), p_binom)),
        "mean_T": {str(s): float(np.mean(T[(group == g) & (T >= 0)]))
                   for g, s in enumerate(sig)},
        "predicted_mean_T": dict(zip(labels, prediction["mean"].tolist())),
        "sigma_star_pvalue_vs_half": faster_p,
        "minibatch": {"ks_vs_gaussian_law": mb_ks_gauss, "binom_pvalue": mb_binom_p,
                      "pvalue_vs_half": mb_faster_p, "mean_T": float(np.mean(Tm[Tm >= 0])),
                      "predicted_mean_T": prediction["mb_mean"]},
        "crossover_bracket": bracket, "sigma_c": prediction["sigma_c"],
        "sigma_half": prediction["sigma_half"], "test_level": a, "tests": m}
    return Verdict(criteria, evidence=evidence, headline="noise_faster_than_gd")
