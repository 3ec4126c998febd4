"""saddle-free-newton (Dauphin et al. 2014, sec. 4 and Figs. 2, 4): Newton's method
is attracted to saddle points, which it cannot tell from minima; saddle-free Newton,
x <- x - |H|^-1 grad f with |H| = Q |Lambda| Q^T, is repelled by them and descends,
like gradient descent but with curvature-scaled steps.

Provenance: the update is the one described in the paper (generalised trust region,
|H| from the absolute eigenvalues) [secondary sources; the engine's rule
testbed/rules/sfn.py follows it]; both tiers are self-contained (derived from the
math of the toy itself).

Experiment, two tiers:
- property tier: f = 1/2 x^T H x with H = Q diag(lam) Q^T (Q a random rotation),
  lam indefinite and nonsingular; one unit step (eta = 1, no damping, no cap) of the
  ``newton`` and ``sfn`` rules' update, x <- x - spectral_step(H, g) (the function
  both rules step with), from x0; compared in eigen-coordinates. In those
  coordinates a unit SFN step maps x_i -> x_i - (lam_i x_i) / |lam_i| =
  x_i (1 - sign lam_i): positive-curvature coordinates go to 0, negative-curvature
  ones double; a unit Newton step maps every x_i to 0 (it lands on the saddle).
- field tier: one sampled Gaussian field (gaussian_field, d, K = k_factor d,
  sigma = ell = 1); from the same N starts x ~ N(0, ell^2 I), all three through
  ``testbed.run``: the engine's ``gd`` rule (eta = 0.3 ell^2 / (sigma sqrt d), below
  2 / L with L <= 4 sigma sqrt(d) / ell^2 the largest curvature near the threshold)
  and its ``newton`` and ``sfn`` rules (steps capped at 0.25 ell); each run stopped
  by the event converged(1e-10) (at step t + 1 once |grad f(x_t)| < 1e-10); the end
  points classified by their dense Hessian spectra
  (testbed.critical.classify). Predicted: every Newton run ends at a point of index
  > 0 (it converges to critical points near its starting heights, u ~ N(0, sigma^2),
  where by the index-energy law alpha = F_sc(u/(2 sigma sqrt d)) is near 1/2 and
  minima are exponentially rare), no SFN or GD run does (a saddle of index k > 0
  repels them; they stop only at minima). Which critical point a run reaches is
  chaotic in the rounding; the count of runs contradicting the prediction is a
  statistic over the N runs, bounded by a binomial quantile.
"""
import math

import numpy as np

from ._base import Verdict, at_most

ID = "saddle-free-newton"
PAPER = ("Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio 2014, NeurIPS "
         "(arXiv:1406.2572), sec. 4, Figs. 2 and 4")
CLAIM = ("Newton's method is attracted to saddles; saddle-free Newton (|H|^-1 step) is "
         "repelled by them and descends to minima, as gradient descent does")
SCALES = {
    "quick": {"d": 20, "k_factor": 20, "n": 16, "steps_newton": 100, "steps_gd": 600,
              "max_step": 0.25, "eta_gd": 0.3, "damping": 0.0, "stride": 2,
              "lam": [-2.0, -1.0, -0.5, 0.5, 1.0, 3.0], "seed": 0},
    "paper": {"d": 50, "k_factor": 20, "n": 64, "steps_newton": 300, "steps_gd": 2000,
              "max_step": 0.25, "eta_gd": 0.3, "damping": 0.0, "stride": 2,
              "lam": [-2.0, -1.0, -0.5, 0.5, 1.0, 3.0], "seed": 0},
}
PROPERTY_TOL = 1e-12
STOP_GTOL = 1e-10    # a run stops once |grad f| < STOP_GTOL
EPS = 0.05            # allowed chance that a run has not settled within the budget
LEVEL = 0.999
METHODS = ("gd", "newton", "sfn")


def _property(params):
    """One unit step of each rule's update on the quadratic: the rules' step is
    x <- x - eta spectral_step(H, g, ...) (testbed/rules/newton.py, sfn.py), evaluated
    here on H = Q diag(lam) Q^T, g = H x (the field tier runs the same rules end to
    end through testbed.run; a quadratic ensemble would cost two more compiled
    runners, ~25 s of cold compilation each on 2 cores)."""
    from ..rules._linalg import spectral_step
    lam = np.asarray(params["lam"], dtype=float)
    rng = np.random.default_rng(np.random.SeedSequence([params["seed"], 11]))
    x0 = rng.uniform(0.5, 2.0, lam.size) * rng.choice([-1.0, 1.0], lam.size)
    # a random rotation: the eigenbasis is not the coordinate basis
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    H = np.ascontiguousarray((Q * lam) @ Q.T)
    H = 0.5 * (H + H.T)
    x = Q @ x0                                    # eigen-coordinates x0
    out = {"lam": lam, "quad_x0": x0}
    for rule, absolute in (("newton", False), ("sfn", True)):
        step = np.empty(lam.size)
        spectral_step(H, np.ascontiguousarray(H @ x), absolute, 0.0, 1e-12, math.inf, step)
        out[f"quad_{rule}"] = Q.T @ (x - 1.0 * step)   # back to eigen-coordinates
    return out


def experiment(params) -> dict:
    import testbed
    from ..ensemble import run
    from ..events import converged
    out = _property(params)
    d, seed = params["d"], params["seed"]
    L = testbed.landscape("gaussian_field", d=d, K=params["k_factor"] * d, sigma=1.0,
                          ell=1.0, field_seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, d, 5]))
    X0 = rng.standard_normal((params["n"], d))
    cap = params["max_step"]
    arms = {"newton": dict(eta=1.0, max_step=cap, steps=params["steps_newton"]),
            "sfn": dict(eta=1.0, max_step=cap, damping=params["damping"],
                        steps=params["steps_newton"]),
            "gd": dict(eta=params["eta_gd"] / math.sqrt(d), steps=params["steps_gd"])}
    out["x0"] = X0
    for rule, kw in arms.items():
        steps = kw.pop("steps")
        # testbed.run perturbs the starts at the level of rounding when testbed.perturb
        # asks (the same for every arm)
        res = run(L, rule, X0, steps=steps, seed=seed, stride=params["stride"],
                  observe=("loss", "grad_norm"), event=converged(STOP_GTOL), **kw)
        _record(out, rule, L, res.x, res.steps, res.traces["loss"],
                res.traces["grad_norm"], res.status)
    return out


def _record(out, rule, L, X, steps, loss, gnorm, status):
    from .. import critical
    F, gn, W, index, _ = critical.classify(L, X)
    out.update({f"{rule}_steps": steps, f"{rule}_loss": loss, f"{rule}_grad_norm": gnorm,
                f"{rule}_energy": F, f"{rule}_end_grad_norm": gn, f"{rule}_index": index,
                f"{rule}_status": status})


def predict(params) -> dict:
    lam = np.asarray(params["lam"], dtype=float)
    from scipy.stats import binom
    n = params["n"]
    return {"quad_newton_factor": np.zeros(lam.size),
            "quad_sfn_factor": 1.0 - np.sign(lam),
            "saddle_fraction": {"gd": 0.0, "newton": 1.0, "sfn": 0.0},
            "max_exceptions": int(binom.ppf(LEVEL, n, EPS)),
            "threshold_energy": -2.0 * math.sqrt(params["d"])}


def check(data, prediction, params) -> Verdict:
    q0 = data["quad_x0"]
    scale = np.max(np.abs(q0))
    err = {rule: float(np.max(np.abs(data[f"quad_{rule}"] - prediction[f"quad_{rule}_factor"]
                                     * q0)) / scale) for rule in ("newton", "sfn")}
    prop_reason = ("the eigen-decomposition of a well-conditioned 6 x 6 matrix and the "
                   "rotations back and forth are exact to a few ulps times cond(H) = 6 "
                   "per coordinate (measured ~1e-15)")
    criteria = [
        at_most("quad_newton_rel_error", err["newton"], PROPERTY_TOL,
                "a unit Newton step maps every eigen-coordinate to 0; " + prop_reason),
        at_most("quad_sfn_rel_error", err["sfn"], PROPERTY_TOL,
                "a unit SFN step maps x_i to x_i (1 - sign lam_i); " + prop_reason)]
    n, kmax, d = params["n"], prediction["max_exceptions"], params["d"]
    evidence = {}
    for rule in METHODS:
        saddle = data[f"{rule}_index"] > 0
        want = prediction["saddle_fraction"][rule]
        exceptions = int(np.sum(saddle != (want >= 0.5)))
        criteria.append(at_most(
            f"{rule}_runs_contradicting", exceptions, kmax,
            f"predicted saddle fraction {want:g} of {n} runs; allowing each run a chance "
            f"{EPS} of not having settled within the budget, the {LEVEL} quantile of "
            f"Binomial({n}, {EPS}) (a false alarm has probability <= {1 - LEVEL:.3g})",
            science=True))
        evidence[f"{rule}_saddle_fraction"] = float(np.mean(saddle))
        evidence[f"{rule}_converged_fraction"] = float(np.mean(
            data[f"{rule}_end_grad_norm"] < 1e-8))
        evidence[f"{rule}_mean_end_energy_t"] = float(np.mean(data[f"{rule}_energy"])
                                                      / (2 * math.sqrt(d)))
    return Verdict(criteria, evidence=evidence, headline="newton_runs_contradicting")
