"""gd-exponential-escape (Du, Jin, Lee, Jordan, Poczos & Singh 2017, "Gradient Descent
Can Take Exponential Time to Escape Saddle Points", NeurIPS, arXiv:1705.10412): on a
chain of strict saddles, GD needs a time that grows geometrically with the number of
saddles passed (exponential in d), while perturbed GD passes each saddle in about the
same time.

Landscape -- a RECONSTRUCTION, not Du et al.'s function. Their construction (a
piecewise tube of saddles joined by splines, mirrored into an "octopus", extended by
Whitney's theorem) could not be read in full (only the abstract and third-party
summaries of arXiv:1705.10412 were available), so its constants are not reproduced.
saddle_chain (functions/du_saddles.py) keeps the mechanism: a smooth polynomial on
R^d with d index-1 saddles s_1, ..., s_d and minima at the end, where the escape
direction of saddle i+1 is a stable direction (curvature L) at saddle i. Defaults:
gamma = 1, L = 0.5, beta = 1 (wells at +-a = +-1, each saddle 1/4 below the last).

Prediction [D, self-contained: derived from the landscape's own math;
testbed.theory.saddle_escape, section 3 "The saddle chain"]. With eta = 0.1, once
x_{i-1} sits at a, x_i follows the 1-D map phi(x) = x + eta(gamma x - beta x^3)
exactly; its Koenigs phase t_i* (h(x_i(t)) = mu^(t - t_i*) h(theta), mu = 1 + eta gamma)
gives the first step with |x_i| > theta = a/2 as floor(t_i*) + 1. While x_i escapes,
x_{i+1} is tiny and linear, contracting by 1 - eta L per step until x_i's transition,
so
    t_{i+1}* = (1 + kappa) t_i* + (ln h(theta) - ln|x_{i+1}(0)| - C) / ln mu,
    kappa = ln(1/(1 - eta L)) / ln(1 + eta gamma) = 0.538,
C a transition constant of the 1-D orbit (computed; independent of the phase to
1e-14). With T_i = t_i - t_{i-1} (steps spent at saddle i), T_{i+1} = (1 + kappa) T_i
+ (ln|x_{i+1}(0)| - ln|x_{i+2}(0)|)/ln mu: ln T_i grows linearly in i with slope
ln(1 + kappa) = 0.431, i.e. the time to reach the minimum is exponential in d. The
prediction is exact per replica (every crossing step), not only the slope.
Perturbed GD (Jin et al. 2017, Algorithm 2, rule perturbed_gd, the practical
constants of P1 E2c: r = 1e-3, g_thres = 1e-3, t_thres = 50, f_thres = 1e-12) is
perturbed near each saddle, so each saddle is left from a fresh O(r/sqrt(d))
displacement instead of the exponentially contracted one: T_i does not grow.

Initialisation: x(0) uniform in the cube [-eps, eps]^d, eps = 1e-3 (the analogue of
Du et al.'s random initialisation, here near the first saddle; their cube
initialisation relies on the octopus geometry, not reproduced). d = 10 saddles: GD's
T_10 ~ 3700 steps is half-way to the limit of doubles (the escape direction arrives at
saddle i at ~mu^-T_i, and mu^-7400 underflows), which is why kappa is moderate.

Experiment: GD runs as a chain of d ensembles, segment i stopping each replica at
its first step with |x_i| > theta (event escape(i, theta)), so every crossing step
and the state there are exact (GD is memoryless); one replica's objective is
recorded at every step for the figure. PGD runs once per replica (in chunks, with
replica_offset), recording the coordinates at every step.

Check:
- GD exactly: the measured Koenigs phase (t_i - log_mu(h(|x_i(t_i)|)/h(theta)))
  agrees with t_i* within a bound B_i, and every measured crossing step equals
  floor(t_i*) + 1 (where t_i* lies farther than B_i from an integer). B_i bounds what
  the prediction neglects: three terms of order x(0)^2 per saddle -- the coupling
  m'(x_i) x_{i+1}^2/2 that speeds up x_i, the same coupling of x_{i+1} with x_{i+2},
  and the early contraction of x_i (not on the orbit) seen by x_{i+1} -- each at most
  eta 2 (L+gamma)/a^2 eps^2 / ((1 - (1-eta L)^2)(1 - eta L)) in ln|x| (x decays as
  (1 - eta L)^t), so e = 3 of them / ln mu steps per saddle (1.0e-4 at the defaults);
  each is carried forward with the factor (1 + kappa), giving
  B_i = e ((1 + kappa)^i - 1)/kappa (0.014 steps at i = 10; measured: at most 29% of
  B_i, all of one sign, as the couplings predict).
- the claims.md criterion: the least-squares slope of ln T_i on i (i = 1..d, mean
  over replicas) against ln(1 + kappa).
- PGD: the fraction of replicas ending at a minimum, and the spread of the mean T_i
  over saddles i = 2..d (i = 1 is excluded: PGD starts at the first saddle with no
  approach phase). Algorithm 2 can return a saddle (when f has not dropped by f_thres
  t_thres steps after a perturbation); at the paper scale 1 replica in 1000 does so.
"""
import math

import numpy as np

from ..ensemble import run
from ..errors import TestbedError
from ..events import escape
from ..objective.registry import landscape
from ..theory import saddle_escape as th
from ..kernel import EVENT
from ._base import Verdict, at_least, at_most, close, holds

ID = "gd-exponential-escape"
PAPER = ("Du, Jin, Lee, Jordan, Poczos & Singh (2017), Gradient Descent Can Take "
         "Exponential Time to Escape Saddle Points, NeurIPS (arXiv:1705.10412); "
         "reconstruction of the mechanism, not their function")
CLAIM = ("on a chain of strict saddles GD's time to pass saddle i grows as (1+kappa)^i "
         "(exponential in d), while perturbed GD passes each saddle in constant time")
_COMMON = {"d": 10, "eta": 0.1, "gamma": 1.0, "L": 0.5, "beta": 1.0, "theta": 0.5,
           "eps": 1e-3, "gd_max_steps": 50_000,
           "r": 1e-3, "g_thres": 1e-3, "t_thres": 50, "f_thres": 1e-12,
           "pgd_steps": 2500, "pgd_chunk": 250}
SCALES = {
    "quick": {**_COMMON, "n_gd": 8, "n_pgd": 100, "seed": 0},
    "paper": {**_COMMON, "n_gd": 64, "n_pgd": 1000, "seed": 0},
}
REL_SLOPE = 0.10
PGD_REL = 0.10
MIN_SUCCESS = 0.99
PGD_GTOL, PGD_FTOL = 1e-3, 1e-6     # at a minimum: |grad f| and f - f_min
GUARD = 10.0   # escape(0, GUARD) never fires (|x| < 1.1 here); it lets all runs share one
               # compiled ensemble per rule (the event kernel is the same as escape(i, theta))


def _landscape(params):
    return landscape("saddle_chain", d=int(params["d"]), gamma=params["gamma"],
                     L=params["L"], beta=params["beta"])


def _validate(params):
    th.chain_kappa(params["eta"], params["gamma"], params["L"])
    a = math.sqrt(params["gamma"] / params["beta"])
    if not 0 < params["theta"] < a:
        raise TestbedError(f"{ID}: theta must lie in (0, a) = (0, {a})")
    if not 0 < params["eps"] < params["theta"]:
        raise TestbedError(f"{ID}: eps must lie in (0, theta)")


def _init(params, n, stream):
    """Starting points, uniform in [-eps, eps]^d (stream 0: GD, 1: PGD)."""
    rng = np.random.default_rng([int(params["seed"]), stream])
    return rng.uniform(-params["eps"], params["eps"], size=(n, int(params["d"])))


def _gd_runs(params, L):
    X = _init(params, int(params["n_gd"]), 0)
    n, d = X.shape
    cross = np.zeros((d, n), dtype=np.int64)
    xcross = np.zeros((d, n))
    t = np.zeros(n, dtype=np.int64)
    stuck = np.zeros(n, dtype=bool)                 # not past some saddle within the budget
    for i in range(d):
        steps = int(params["gd_max_steps"])
        res = run(L, "gd", X, steps=steps, n=n, seed=params["seed"], stride=steps,
                  event=escape(i, params["theta"]), eta=params["eta"])
        stuck |= res.status != EVENT
        t = t + res.stop_step
        cross[i], xcross[i] = np.where(stuck, -1, t), res.x[:, i]
        X = res.x
    # one replica's objective at every step, for the figure
    total = int(cross[-1, 0]) + 300
    res = run(L, "gd", _init(params, 1, 0)[:1], steps=total, n=1, seed=params["seed"],
              stride=1, event=escape(0, GUARD), eta=params["eta"])
    return {"gd_cross": cross, "gd_xcross": xcross, "gd_loss": res.traces["loss"][:, 0]}


def _pgd_runs(params, L):
    X0 = _init(params, int(params["n_pgd"]), 1)
    n, d = X0.shape
    steps, theta = int(params["pgd_steps"]), params["theta"]
    cross = np.full((d, n), -1, dtype=np.int64)
    status, stop, gnorm, fval = (np.zeros(n, np.int8), np.zeros(n, np.int64), np.zeros(n),
                                 np.zeros(n))
    loss_keep = None
    chunk = int(params["pgd_chunk"])
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        res = run(L, "perturbed_gd", X0[start:start + m], steps=steps, n=m,
                  seed=params["seed"], replica_offset=start, stride=1, coords=range(d),
                  event=escape(0, GUARD), eta=params["eta"], r=params["r"],
                  g_thres=params["g_thres"], t_thres=float(params["t_thres"]),
                  f_thres=params["f_thres"])
        above = np.abs(res.traces["coords"]) > theta          # (steps+1, d, m), NaN -> False
        hit = above.any(axis=0)
        cross[:, start:start + m] = np.where(hit, np.argmax(above, axis=0), -1)
        status[start:start + m], stop[start:start + m] = res.status, res.stop_step
        for j, x in enumerate(res.x):
            gnorm[start + j] = np.linalg.norm(L.grad(x))
            fval[start + j] = L.value(x)
        if loss_keep is None:
            loss_keep = res.traces["loss"][:, :3]
    return {"pgd_cross": cross, "pgd_status": status, "pgd_stop": stop,
            "pgd_gnorm": gnorm, "pgd_f": fval, "pgd_loss": loss_keep}


def experiment(params) -> dict:
    _validate(params)
    L = _landscape(params)
    return {**_gd_runs(params, L), **_pgd_runs(params, L)}


def predict(params) -> dict:
    """Exact per-replica Koenigs phases and crossing steps of GD, kappa, the slope."""
    _validate(params)
    eta, gamma, L, beta, theta = (params[k] for k in ("eta", "gamma", "L", "beta", "theta"))
    kappa = th.chain_kappa(eta, gamma, L)
    X = _init(params, int(params["n_gd"]), 0)
    phases, steps = zip(*(th.chain_crossing_phases(x, eta, gamma, L, beta, theta)
                          for x in X))
    steps = np.array(steps).T                              # (d, n)
    T = _times(steps)
    return {"kappa": kappa, "slope": math.log1p(kappa),
            "phases": np.array(phases).T, "cross": steps,
            "slope_exact": float(np.mean(_slopes(T))),
            "minimum_f": -int(params["d"]) * gamma * gamma / (4.0 * beta),
            "saddle_f": -np.arange(int(params["d"]) + 1) * gamma * gamma / (4.0 * beta)}


def _phase_bound(params):
    """B_i (i = 1..d): the neglected O(x(0)^2) terms, carried forward (see the docstring)."""
    eta, gamma, L, beta, eps = (params[k] for k in ("eta", "gamma", "L", "beta", "eps"))
    kappa = th.chain_kappa(eta, gamma, L)
    q = 1.0 - eta * L
    e = 3.0 * eta * 2.0 * (L + gamma) * (beta / gamma) * eps ** 2 / ((1.0 - q * q) * q)
    e /= math.log1p(eta * gamma)
    i = np.arange(1, int(params["d"]) + 1)
    return e * ((1.0 + kappa) ** i - 1.0) / kappa


def _times(cross):
    """T_i = t_i - t_{i-1} (t_0 = 0): steps spent at saddle i, from crossing steps (d, n)."""
    return np.diff(np.vstack([np.zeros((1, cross.shape[1]), cross.dtype), cross]), axis=0)


def _slopes(T):
    """Least-squares slope of ln T_i on i, per replica (T: (d, n))."""
    i = np.arange(1, T.shape[0] + 1, dtype=float)
    w = (i - i.mean()) / np.sum((i - i.mean()) ** 2)
    return w @ np.log(T)


def _measured_phases(data, params):
    eta, gamma, beta, theta = (params[k] for k in ("eta", "gamma", "beta", "theta"))
    lnmu = math.log1p(eta * gamma)
    h = th.koenigs_h(np.abs(data["gd_xcross"]), eta, gamma, beta)
    return data["gd_cross"] - np.log(h / th.koenigs_h(theta, eta, gamma, beta)) / lnmu


def _pgd_times(data):
    cross = data["pgd_cross"]
    ok = np.all(cross >= 0, axis=0)
    return _times(cross)[:, ok], ok


def check(data, prediction, params) -> Verdict:
    cross = data["gd_cross"]
    passed_all = np.all(cross > 0, axis=0)        # replicas that passed every saddle
    ok = passed_all if passed_all.any() else np.ones_like(passed_all)
    B = _phase_bound(params)
    err = np.abs(_measured_phases(data, params) - prediction["phases"])[:, ok]
    frac = prediction["phases"] - np.floor(prediction["phases"])
    clear = (np.minimum(frac, 1.0 - frac) > B[:, None])[:, ok]   # not within B_i of an integer
    diff = (cross - prediction["cross"])[:, ok]
    steps_equal = bool(passed_all.all() and np.all(diff[clear] == 0)
                       and np.all(np.abs(diff) <= 1))
    T = _times(cross[:, ok])
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = _slopes(T)
    slope = float(np.mean(slopes)) if passed_all.any() else float("nan")
    i = np.arange(1, T.shape[0] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = np.log(T) - (np.mean(np.log(T), axis=0) + np.outer(i - i.mean(), slopes))

    Tp, reached = _pgd_times(data)
    at_min = ((data["pgd_gnorm"] <= PGD_GTOL)
              & (np.abs(data["pgd_f"] - prediction["minimum_f"]) <= PGD_FTOL))
    success = float(np.mean(at_min & reached))
    means = Tp.mean(axis=1) if Tp.shape[1] else np.full(Tp.shape[0], np.nan)
    later = means[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        sem = float(np.max(Tp.std(axis=1)[1:] / np.sqrt(Tp.shape[1]) / later))
    spread = float(np.max(np.abs(later / later.mean() - 1.0)))
    criteria = [
        holds("gd_crossings_exact", int(np.max(np.abs(diff))) if diff.size else None, 0,
              "every crossing step is floor(t_i*) + 1; where t_i* lies within B_i of an "
              "integer (the neglected O(x(0)^2) couplings, carried forward) the adjacent "
              "step is allowed; rounding moves t_i* by ~u T (1 + kappa)^d / ln mu < 1e-9 "
              "steps, far inside B_i",
              steps_equal, tolerance="0 steps (1 where t_i* is within B_i of an integer)"),
        holds("gd_phase_error", float(np.max(err)) if err.size else float("nan"), 0.0,
              "B_i bounds the three neglected O(x(0)^2) couplings per saddle, each carried "
              "forward with the factor (1 + kappa); a wrong kappa moves the phases by tens "
              "of steps", bool(passed_all.all() and np.all(err <= B[:, None])),
              tolerance=f"B_i per saddle, {B[0]:.1e} (i = 1) to {B[-1]:.1e} (i = {B.size})"),
        holds("gd_passed_every_saddle", int((~passed_all).sum()), 0,
              f"GD passes all {cross.shape[0]} saddles well within "
              f"{int(params['gd_max_steps'])} steps per saddle (predicted: at most "
              f"{int(np.max(_times(prediction['cross'])))})", bool(passed_all.all()),
              tolerance="none left"),
        close("gd_slope_ln_T", slope, prediction["slope"], REL_SLOPE,
              "claims.md: the slope of ln T_i on i within 10% of ln(1 + kappa); the exact "
              "slope for these starts differs from it through the initial coordinates only",
              relative=True, science=True),
        at_least("pgd_success", success, MIN_SUCCESS,
                 f"Algorithm 2 can return a saddle (1 replica in 1000 at the paper scale); "
                 f"at a minimum: |grad| <= {PGD_GTOL:g} and f within {PGD_FTOL:g} of "
                 "-d gamma^2/(4 beta)", science=True),
        at_most("pgd_T_spread", spread, PGD_REL,
                "the mean T_i (i = 2..d) stays within 10% of its average; each mean's "
                f"sampling error sd/sqrt(N) is <= {sem:.1%} of it at N = {Tp.shape[1]} "
                "(i = 1 excluded: PGD starts at the first saddle with no approach phase)",
                science=True),
    ]
    evidence = {
        "gd_T_mean": np.mean(T, axis=1).round(2).tolist(),
        "gd_T_mean_predicted": np.mean(_times(prediction["cross"]), axis=1).round(2).tolist(),
        "gd_max_phase_error_over_bound": float(np.max(err / B[:, None])) if err.size
        else float("nan"),
        "gd_phase_bound": B.tolist(), "kappa": prediction["kappa"],
        "gd_slope_exact_for_these_inits": prediction["slope_exact"],
        "gd_max_abs_residual_ln_T": float(np.max(np.abs(resid))),
        "pgd_T_mean": means.round(2).tolist(),
        "pgd_not_reaching_every_saddle": int((~reached).sum()),
        "steps_to_minimum": {"gd": float(np.mean(cross[-1, ok])),
                             "pgd": float(np.mean(data["pgd_cross"][-1][reached]))
                             if reached.any() else float("nan")}}
    return Verdict(criteria, evidence=evidence, headline="gd_slope_ln_T")
