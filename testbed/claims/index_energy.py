"""index-energy (Bray & Dean 2007; Dauphin et al. 2014, sec. 2 and Fig. 1): in a
high-dimensional isotropic Gaussian field the Hessian at a critical point of height
u is a semicircle of centre -u/ell^2 and radius 2 sigma sqrt(d)/ell^2, so the index
fraction alpha (fraction of negative eigenvalues) is the increasing function
alpha = F_sc(u / (2 sigma sqrt(d))): low critical points are minima, high ones are
saddles with many descent directions.

Provenance: the law is derived in testbed/theory/gaussian_fields.py by Gaussian
conditioning on the field's own covariance (self-contained; it does not rest on the
papers' notation, whose normalisation differs). Dauphin et al. plot training error
against index for critical points of small networks found by Newton's method; here
the field is the one Bray & Dean study, with the covariance known exactly.

Experiment, two tiers (t = u / (2 sigma sqrt d)):
- GOE tier (the law alone): H = -(u/ell^2) I + (sigma/ell^2) G with G ~ GOE(d_goe);
  the fraction of eigenvalues below 0 at t on a grid, against F_sc(t).
- Field tier: for each d in ``dims``, one sampled field (gaussian_field,
  K = k_factor * d features, sigma = ell = 1, field_seed = seed + i). Points at all
  heights come from ``runs`` gradient-descent (and a few gradient-ascent)
  trajectories from x ~ N(0, ell^2 I) (testbed.run with the rules ``gd`` and
  ``gradient_ascent``, eta = 0.3 ell^2 / (sigma sqrt d)), snapshotted after the step
  counts ``descent`` (``ascent``); from every snapshot, eigenvector following
  (testbed.critical, method "index") towards the index of the Hessian there (near a
  critical point of that index it is Newton, so nearby points of that index
  attract); capped Newton and Levenberg-Marquardt on |g|^2/2 from every
  ``every_newton``-th / ``every_lm``-th snapshot. The converged points
  (|g| < gtol) are deduplicated and classified by their dense Hessian spectra.
  (Eigenvector following to fixed target indices from random starts converges
  poorly at d = 100: the ordering of nearby eigenvalues keeps changing.) Checked per
  d: every point's index against F_sc(t); the least-squares energy scale c of
  alpha = F_sc(u / (c sqrt d)) (predicted c = 2 sigma: the threshold energy is
  -c sqrt d); the least-squares slope of the mean Hessian eigenvalue tr H / d on -u
  (predicted 1/ell^2); and that the search covers both minima and saddles.

Finite-d corrections (derived, they set the tolerances): at a critical point the
Kac-Rice weight |det H| repels eigenvalues from 0 (the count moves by O(1)) and
tilts the GOE's trace s = tr G / d ~ N(0, 2/d) by exp(s sigma sum_i 1/mu_i) (mu_i
the Hessian's eigenvalues), which moves the spectrum's centre from -u/ell^2 to
-(u/ell^2)(1 + 1/d) inside the bulk (the principal value of the semicircle's
Stieltjes transform at 0 is 2c/R^2): a relative bias -1/d in c and +1/d in the
slope. The edge (Tracy-Widom) scale d^(-2/3) and the integer count add more of the
same order (measured relative energy-scale deficits 0.103, 0.068, 0.025, 0.018 and
slopes 1.087, 1.053, 1.010, 1.007 at d = 20, 25, 50, 100, seed 0). Random features
widen the spectrum by sqrt(1 + 4 t^2 d/K) (alpha moves by < 0.005 at K = 50 d), and
add to tr H / d a term of standard deviation sigma sqrt(2/d)/ell^2 uncorrelated with
u (|w_k|^2 ell^2 is chi-square with d degrees of freedom), which the regression's
standard error carries. Which critical points the searches reach may depend on the
rounding (starts perturbed by 1e-15 reach the same ones); every criterion holds for
each point found or is a fit over all of them with its sampling error, so it does
not depend on which ones.
"""
import math

import numpy as np

from ..theory import gaussian_fields as th
from ._base import Verdict, at_most, close, holds
from ._grid import points

ID = "index-energy"
PAPER = ("Bray & Dean 2007, PRL 98, 150201; Dauphin et al. 2014, NeurIPS "
         "(arXiv:1406.2572), Fig. 1")
CLAIM = ("in a high-dimensional Gaussian field the index of a critical point rises with "
         "its energy: alpha = F_sc(u / (2 sigma sqrt d)) (shifted semicircle law)")
DESCENT = [0, 3, 6, 10, 15, 25, 40, 70, 150]     # gradient-descent steps to the snapshots
ASCENT = [4, 12]                                 # gradient-ascent steps (u > 0)
SCALES = {
    "quick": {"dims": [20], "k_factor": 50, "runs": 3, "descent": DESCENT,
              "ascent": ASCENT, "eta": 0.3, "every_newton": 4, "every_lm": 4, "iters": 150,
              "max_step": 0.25, "gtol": 1e-9,
              "d_goe": 100, "n_goe": 40, "t_goe": [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5],
              "seed": 0},
    "paper": {"dims": [25, 50, 100], "k_factor": 50, "runs": 4, "descent": DESCENT,
              "ascent": ASCENT, "eta": 0.3, "every_newton": 4, "every_lm": 4, "iters": 150,
              "max_step": 0.25, "gtol": 1e-9, "d_goe": 200, "n_goe": 200,
              "t_goe": [-1.5, -1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5],
              "seed": 0},
}
# large (for a cluster): adds d = 200, where the O(1/d) finite-d biases of the energy
# scale and the slope halve again against d = 100
SCALES["large"] = {**SCALES["paper"], "dims": [25, 50, 100, 200]}
GOE_TOL = 0.03
SIGMA = 1.0
ELL = 1.0


def point_tolerance(t, d):
    """tol(t, d) = 1/d + 3 sqrt(log d)/(pi d) + F_sc'(t) d^(-2/3) (module docstring)."""
    t = np.clip(np.asarray(t, dtype=float), -1.0, 1.0)
    slope = 2.0 / math.pi * np.sqrt(1.0 - t * t)
    return 1.0 / d + 3.0 * math.sqrt(math.log(d)) / (math.pi * d) + slope * d ** (-2 / 3)


def _snapshots(L, X0, marks, rule, eta):
    """Points along the runs of ``rule`` (``gd``: descent; ``gradient_ascent``) from
    the rows of X0, taken after each number of steps in ``marks``: one run through
    testbed.run, its iterates recorded every gcd(marks) steps; the rows grouped by
    mark, in the order of ``marks``."""
    from ..ensemble import run
    stride = math.gcd(*marks) or 1
    res = run(L, rule, X0, steps=max(max(marks), 1), stride=stride, observe=(),
              coords=range(L.d), eta=eta)
    xs = res.traces["coords"]                     # (n_obs, d, runs)
    return np.vstack([xs[m // stride].T for m in marks])


def _field_points(params, d, i):
    """The critical points of the field in dimension ``d``, the ``i``-th of
    ``params['dims']`` (its field seed ``seed + i``): one grid point of the
    experiment (:func:`testbed.claims._grid.points`)."""
    import testbed
    from .. import critical
    seed = params["seed"]
    L = testbed.landscape("gaussian_field", d=d, K=params["k_factor"] * d, sigma=SIGMA,
                          ell=ELL, field_seed=seed + i)
    rng = np.random.default_rng(np.random.SeedSequence([seed, d, 1]))
    # testbed.run perturbs the starts at the level of rounding when testbed.perturb asks
    X0 = ELL * rng.standard_normal((params["runs"], d))
    eta = params["eta"] * ELL**2 / (SIGMA * math.sqrt(d))
    S = np.vstack([_snapshots(L, X0, params["descent"], "gd", eta),
                   _snapshots(L, X0, params["ascent"], "gradient_ascent", eta)])
    _, _, _, local_index, _ = critical.classify(L, S)
    common = dict(max_step=params["max_step"] * ELL, gtol=params["gtol"])
    runs = [("index", np.arange(len(S)), dict(target=local_index)),
            ("newton", np.arange(0, len(S), params["every_newton"]), {}),
            ("lm", np.arange(1, len(S), params["every_lm"]), {})]
    X, E, method = [], [], []
    for m, (name, rows, extra) in enumerate(runs):
        extra = {k: v[rows] for k, v in extra.items()}
        s = critical.search(L, S[rows], name, params["iters"], **common, **extra)
        X.append(s.x[s.converged])
        E.append(s.energy[s.converged])
        method += [m] * int(s.converged.sum())
    X, E = np.vstack(X), np.concatenate(E)
    method = np.asarray(method, dtype=np.int64)
    keep = critical.deduplicate(X, E, 1e-4 * ELL)
    F, gn, W, index, degenerate = critical.classify(L, X[keep])
    return {"energy": F, "index": index, "grad_norm": gn, "eigenvalues": W,
            "method": method[keep], "degenerate": degenerate,
            "n_searches": np.array([len(S), len(runs[1][1]), len(runs[2][1])])}


def experiment(params) -> dict:
    out = {}
    rng = np.random.default_rng(np.random.SeedSequence([params["seed"], 0]))
    dg = params["d_goe"]
    G = th.goe(dg, rng, size=params["n_goe"])
    ev = np.linalg.eigvalsh(G)                              # (n, d): G's spectrum
    t = np.asarray(params["t_goe"], dtype=float)
    # index of -(u/ell^2) I + (sigma/ell^2) G: eigenvalues of G below u/sigma
    level = 2.0 * math.sqrt(dg) * t
    out["goe_t"] = t
    out["goe_alpha"] = np.mean(ev[:, :, None] < level[None, None, :], axis=1).T  # (n_t, n)
    for d, fields in zip(params["dims"], points(_field_points, params, params["dims"])):
        for key, value in fields.items():
            out[f"d{d}_{key}"] = value
    return out


def predict(params) -> dict:
    sigma = params.get("sigma", SIGMA)
    ell = params.get("ell", ELL)
    return {"energy_scale": 2.0 * sigma,            # u_th = -energy_scale * sqrt(d)
            "slope": 1.0 / ell**2,                  # d(mean eigenvalue) / d(-u)
            "goe_alpha": th.semicircle_cdf(np.asarray(params["t_goe"], dtype=float)),
            "t_curve": np.linspace(-1.2, 1.2, 241),
            "alpha_curve": th.semicircle_cdf(np.linspace(-1.2, 1.2, 241))}


def _regression(x, y):
    A = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    sxx = np.sum((x - x.mean()) ** 2)
    se = math.sqrt(np.sum(resid**2) / max(1, len(x) - 2) / sxx) if sxx > 0 else math.inf
    return float(coef[0]), float(coef[1]), se


def fit_energy_scale(u, alpha, d):
    """Least-squares energy scale c of alpha = F_sc(u / (c sqrt d)) (the predicted
    c is 2 sigma), with its standard error from the residuals (Gauss-Newton)."""
    from scipy.optimize import minimize_scalar
    u, alpha = np.asarray(u, float), np.asarray(alpha, float)

    def sse(logc):
        return float(np.sum((alpha - th.semicircle_cdf(u / (math.exp(logc) * math.sqrt(d))))
                            ** 2))

    logc = minimize_scalar(sse, bounds=(math.log(0.2), math.log(20.0)), method="bounded",
                           options={"xatol": 1e-10}).x
    c = math.exp(logc)
    t = u / (c * math.sqrt(d))
    # d alpha / d c = -F_sc'(t) t / c
    jac = -(2.0 / math.pi) * np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0)) * t / c
    dof = max(1, len(u) - 1)
    s2 = sse(logc) / dof
    se = math.sqrt(s2 / np.sum(jac**2)) if np.sum(jac**2) > 0 else math.inf
    return c, se


def field_summary(data, prediction, d):
    u = data[f"d{d}_energy"]
    alpha = data[f"d{d}_index"] / d
    t_pred = u / (prediction["energy_scale"] * math.sqrt(d))
    t = u / (2.0 * SIGMA * math.sqrt(d))
    dev = alpha - th.semicircle_cdf(t_pred)
    tol = point_tolerance(t_pred, d)
    slope, intercept, se = _regression(-u, data[f"d{d}_eigenvalues"].mean(axis=1))
    scale, scale_se = fit_energy_scale(u, alpha, d)
    n = len(u)
    return {"n": n, "t_min": float(t.min()) if n else math.nan,
            "t_max": float(t.max()) if n else math.nan,
            "max_dev_ratio": float(np.max(np.abs(dev) / tol)) if n else math.inf,
            "max_abs_dev": float(np.max(np.abs(dev))) if n else math.nan,
            "mean_dev": float(np.mean(dev)) if n else math.nan,
            "energy_scale": scale, "energy_scale_se": scale_se,
            "energy_scale_tol": prediction["energy_scale"] * (4.0 * scale_se / scale + 3.0 / d),
            "slope": slope, "intercept": intercept, "slope_se": se,
            "slope_tol": 4.0 * se + 2.0 / d}


def check(data, prediction, params) -> Verdict:
    goe_dev = np.abs(data["goe_alpha"].mean(axis=1) - prediction["goe_alpha"])
    criteria = [at_most(
        "goe_max_abs_dev", float(goe_dev.max()), GOE_TOL,
        f"at d = {params['d_goe']} the edge scale moves alpha by at most "
        f"F_sc' d^(-2/3) <= {2 / math.pi * params['d_goe'] ** (-2 / 3):.3f}, the count "
        f"by 1/(2d), the mean over {params['n_goe']} draws by ~sqrt(log d)/(pi d sqrt n)")]
    evidence = {}
    for d in params["dims"]:
        s = field_summary(data, prediction, d)
        criteria += [
            at_most(f"d{d}_max_point_dev_over_tol", s["max_dev_ratio"], 1.0,
                    "per point |alpha - F_sc(t)| <= 1/d + 3 sqrt(log d)/(pi d) + F_sc'(t) "
                    "d^(-2/3): the count's rounding and the Kac-Rice O(1) shift, 3 SD of "
                    "the bulk eigenvalue count (variance log(d)/pi^2), the edge scale",
                    science=True),
            close(f"d{d}_energy_scale", s["energy_scale"], prediction["energy_scale"],
                  s["energy_scale_tol"],
                  "c (4 SE/c + 3/d): 4 standard errors of the Gauss-Newton fit, and the "
                  "Kac-Rice bias -1/d (derived) with the edge and count corrections "
                  "(measured (1.3 to 2.1)/d; the allowance 3/d is calibrated)",
                  science=True),
            close(f"d{d}_slope", s["slope"], prediction["slope"], s["slope_tol"],
                  "4 SE + 2/d: the regression's standard error (the random-feature term "
                  "is uncorrelated with u) and the Kac-Rice bias +1/d (derived, measured "
                  "(0.5 to 1.7)/d)", science=True),
            holds(f"d{d}_coverage", [s["n"], s["t_min"], s["t_max"]],
                  ">= 5 points, t_min <= -0.8, t_max >= 0.1",
                  "the search must reach near-minima and saddles for the law to be tested "
                  "across energies (a property of the search, not of the theory)",
                  s["n"] >= 5 and s["t_min"] <= -0.8 and s["t_max"] >= 0.1,
                  tolerance="none")]
        evidence[f"d={d}"] = {k: (round(v, 4) if isinstance(v, float) else v)
                              for k, v in s.items() if not k.endswith("_tol")}
    return Verdict(criteria, evidence=evidence,
                   headline=f"d{params['dims'][-1]}_energy_scale")
