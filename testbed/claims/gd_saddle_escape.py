"""gd-saddle-escape (Lee, Simchowitz, Jordan & Recht 2016; Du et al. 2017): GD started
delta away from the stable manifold of a strict saddle escapes in about
ln(1/delta)/ln(1 + eta gamma) steps; started on the manifold it never escapes.

Landscape: strict_saddle, f = sum_i lam_i x_i^2/2 + x_i^4/4 with lam = (lam_1 = -gamma,
lam_rest, ..., lam_rest), d = 10 (P1 section 2, E2b: gamma = 1, lam_i = 1, eta = 0.1,
R = 0.5). The stable manifold of the saddle 0 is {x_1 = 0}. GD starts at
delta e_1 + o, where o holds small generic offsets (uniform in [-1e-3, 1e-3]) in the
stable coordinates 2..d, for delta = 1e-2 .. 1e-12; T = first t with |x_1(t)| > R
(testbed.events.escape(0, R)).

Predictions:
- exact [D, self-contained]: f is separable, so x_1 follows the 1-D map
  phi(x) = x + eta(gamma x - x^3) whatever the offsets; with the Koenigs coordinate h
  (h(phi(x)) = mu h(x), mu = 1 + eta gamma; testbed.theory.saddle_escape)
  T = floor(ln(h(R)/h(delta))/ln mu) + 1: the escape step itself, not an
  approximation. Rounding (or a start moved by a few ulps) shifts the real-valued
  phase ln(h(R)/h(delta))/ln mu by ~1e-12 steps, so T can differ from the formula
  only where that phase lies within rounding of an integer (here it stays >= 0.015
  away).
- P1 law 2 [D in P1: gradient-flow quartic correction], real-valued:
  [ln(R/delta) + ln((gamma/q)/(gamma/q - R^2))/2]/ln(1 + eta gamma) (claims.md).
- linear-only law 1, ceil(ln(R/delta)/ln(1 + eta gamma)): reported with its error
  (it ignores the cubic slow-down near R: 1.3 steps late, ln(h(R)/R)/ln mu).
- delta = 0 exactly (Lee et al.'s measure-zero exception): x_1 stays exactly 0 for
  the whole budget of 1e5 steps (GD multiplies 0 by mu: no rounding can create a
  non-zero), the replica ends with status 'budget', never 'event', and it converges
  to the saddle (the stable coordinates contract by <= 0.9 per step).

Figure: T against log10(1/delta) with the exact staircase and the two closed forms
(slope ln 10/ln(1 + eta gamma) = 24.16); and a 2-D strict saddle (d = 2): GD
trajectories from several delta hug the stable manifold longer the smaller delta is,
the delta = 0 one runs into the saddle, while noisy GD (x <- x - eta grad + sigma xi)
from the manifold itself leaves it (paper scale only; the quick scale skips the noisy
runs to spare a compilation).
"""
import math

import numpy as np

from ..ensemble import run
from ..errors import TestbedError
from ..events import escape
from ..objective.registry import landscape
from ..theory import saddle_escape as th
from ..kernel import BUDGET, EVENT, STATUS_NAMES
from ._base import Verdict, at_most, holds

ID = "gd-saddle-escape"
PAPER = ("Lee, Simchowitz, Jordan & Recht (2016), Gradient Descent Only Converges to "
         "Minimizers, COLT; Du, Jin, Lee, Jordan, Poczos & Singh (2017), NeurIPS")
CLAIM = ("GD started delta from the stable manifold of a strict saddle escapes in "
         "~ ln(1/delta)/ln(1 + eta gamma) steps; started on the manifold it never escapes")
_COMMON = {"d": 10, "lam1": -1.0, "lam_rest": 1.0, "eta": 0.1, "radius": 0.5,
           "offset": 1e-3, "steps": 2000, "steps_manifold": 100_000,
           "traj_deltas": [1e-1, 1e-2, 1e-4, 1e-6, 0.0], "traj_y0": 1.0, "traj_steps": 250,
           "sigma": 2e-3, "guard": 10.0}
SCALES = {
    "quick": {**_COMMON, "log10_deltas": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
              "n_noisy": 0, "seed": 0},
    "paper": {**_COMMON, "log10_deltas": [2 + k / 4 for k in range(41)],
              "n_noisy": 12, "seed": 0},
}
LAW2_TOL = 2          # steps (claims.md)
MIN_MARGIN = 1e-9     # steps: 1000 x the rounding of the phase (3uT/ln mu ~ 1e-12)
CONVERGED = 1e-12


def _validate(params):
    gamma = th.saddle_gamma(params["lam1"])
    for key in ("eta", "radius", "offset", "sigma"):
        if not params[key] > 0:
            raise TestbedError(f"{ID}: {key} must be positive, got {params[key]}")
    if not params["lam_rest"] > 0:
        raise TestbedError(f"{ID}: lam_rest must be positive (stable directions), "
                           f"got {params['lam_rest']}")
    return gamma


def _deltas(params):
    return 10.0 ** -np.asarray(params["log10_deltas"], dtype=float)


def _landscape(d, params):
    lam = np.full(d, float(params["lam_rest"]))
    lam[0] = params["lam1"]
    return landscape("strict_saddle", d=d, lam=lam)


def experiment(params) -> dict:
    _validate(params)
    d, R = int(params["d"]), params["radius"]
    L = _landscape(d, params)
    deltas = _deltas(params)
    rng = np.random.default_rng(params["seed"])
    X = np.zeros((deltas.size, d))
    X[:, 1:] = params["offset"] * rng.uniform(-1.0, 1.0, size=(deltas.size, d - 1))
    X[:, 0] = deltas
    res = run(L, "gd", X, steps=int(params["steps"]), stride=int(params["steps"]),
              event=escape(0, R), eta=params["eta"])
    # delta = 0 exactly: on the stable manifold, with generic stable offsets
    x0 = np.zeros(d)
    x0[1:] = params["offset"] * rng.uniform(-1.0, 1.0, size=d - 1)
    steps0 = int(params["steps_manifold"])
    zero = run(L, "gd", x0, steps=steps0, coords=(0,), event=escape(0, R), eta=params["eta"])
    x1 = zero.traces["coords"][:, 0, 0]
    # 2-D picture: GD from (delta, y0), and noisy GD from (0, y0)
    L2 = _landscape(2, params)
    td = np.asarray(params["traj_deltas"], dtype=float)
    starts = np.column_stack([td, np.full(td.size, params["traj_y0"])])
    tr = run(L2, "gd", starts, steps=int(params["traj_steps"]), coords=(0, 1),
             event=escape(0, params["guard"]), eta=params["eta"])
    data = {"delta": deltas, "T": res.stop_step, "status": res.status,
            "zero_x1_max_abs": np.array(float(np.max(np.abs(x1)))),
            "zero_n_obs": np.array(int(np.sum(np.isfinite(x1)))),
            "zero_status": zero.status, "zero_stop": zero.stop_step,
            "zero_final_norm": np.array(float(np.linalg.norm(zero.x[0]))),
            "zero_loss": zero.traces["loss"][::1000, 0],
            "traj_delta": td, "traj_xy": tr.traces["coords"]}
    if int(params["n_noisy"]) > 0:
        nz = run(L2, "noisy_gd", np.array([0.0, params["traj_y0"]]),
                 steps=int(params["traj_steps"]), n=int(params["n_noisy"]),
                 seed=params["seed"], coords=(0, 1), event=escape(0, params["guard"]),
                 eta=params["eta"], sigma=params["sigma"])
        data["noisy_xy"] = nz.traces["coords"]
    return data


def predict(params) -> dict:
    gamma = _validate(params)
    eta, R = params["eta"], params["radius"]
    deltas = _deltas(params)
    mu = 1.0 + eta * gamma
    h = th.koenigs_h(np.append(deltas, R), eta, gamma, 1.0)
    real = np.log(h[-1] / h[:-1]) / math.log(mu)
    return {"exact": th.deterministic_escape_estimate(deltas, eta, R, gamma, 1.0),
            "phase": real, "margin": np.abs(real - np.round(real)),
            "law2": th.quartic_escape_estimate(deltas, eta, R, gamma, 1.0),
            "linear": th.linear_escape_estimate(deltas, eta, R, gamma),
            "slope": math.log(10.0) / math.log(mu)}


def _allowed(prediction):
    """The escape steps the exact law allows per delta: floor(phase) + 1, and where the
    phase lies within MIN_MARGIN of an integer n (rounding could put it on either
    side), both n and n + 1."""
    exact = np.asarray(prediction["exact"])
    near = np.asarray(prediction["margin"]) < MIN_MARGIN
    n = np.round(prediction["phase"]).astype(int)                      # the nearest integer
    return np.where(near, n, exact), np.where(near, n + 1, exact), near


def check(data, prediction, params) -> Verdict:
    T, status = data["T"], data["status"]
    escaped = status == EVENT
    lo, hi, near = _allowed(prediction)
    off = np.where(T < lo, T - lo, np.where(T > hi, T - hi, 0))      # steps outside
    err_exact = T - prediction["exact"]
    err_law2 = T - prediction["law2"]
    slope = float(np.polyfit(-np.log10(data["delta"][escaped]), T[escaped], 1)[0]) \
        if escaped.sum() >= 2 else float("nan")
    budget = int(params["steps_manifold"])
    rounding = 3 * 2.0**-53 * float(np.max(prediction["exact"])) / math.log1p(
        -params["eta"] * params["lam1"])
    criteria = [
        holds("escape_step_exact", int(np.max(np.abs(err_exact))), 0,
              "x_1 follows the 1-D map exactly, so T is the Koenigs step itself; rounding "
              f"(or a start moved by ulps) moves the phase by ~3uT/ln mu = {rounding:.0e} "
              "steps, so only a phase "
              f"within {MIN_MARGIN:g} of an integer (min distance here "
              f"{float(np.min(prediction['margin'])):.3g}) may give the adjacent step",
              bool(escaped.all() and np.all(off == 0)),
              tolerance=f"0 steps ({int(near.sum())} delta(s) within {MIN_MARGIN:g} of an "
                        "integer allow the adjacent step)"),
        at_most("law2_max_abs_error", float(np.max(np.abs(err_law2))) if escaped.all()
                else float("nan"), LAW2_TOL,
                "claims.md: the O(eta gamma) discretisation error of the quartic "
                "correction (~0.4 steps here) plus the integer ceiling"),
        holds("all_escaped", int((~escaped).sum()), 0,
              f"every delta > 0 escapes well within the budget of {int(params['steps'])} "
              f"steps (the latest predicted: {int(np.max(prediction['exact']))})",
              bool(escaped.all()), tolerance="none left"),
        holds("manifold_x1_stays_zero", float(data["zero_x1_max_abs"]), 0.0,
              "GD maps x_1 = 0 to exactly 0 (no rounding can create a non-zero), so from "
              f"delta = 0 the run keeps x_1 = 0 and runs its whole budget of {budget} "
              "steps with status budget",
              bool(data["zero_status"][0] == BUDGET and int(data["zero_stop"][0]) == budget
                   and float(data["zero_x1_max_abs"]) == 0.0
                   and int(data["zero_n_obs"]) == budget + 1)),
        at_most("manifold_converges_to_saddle", float(data["zero_final_norm"]), CONVERGED,
                "on the manifold the stable coordinates contract by <= 0.9 per step: "
                f"1e-3 x 0.9^{budget} is far below the tolerance"),
    ]
    evidence = {"T": T.tolist(), "exact": np.asarray(prediction["exact"]).tolist(),
                "err_exact": err_exact.tolist(),
                "err_law2": [round(float(e), 3) for e in err_law2],
                "err_linear": (T - prediction["linear"]).tolist(),
                "fitted_slope": slope, "predicted_slope": prediction["slope"],
                "min_integer_margin": float(np.min(prediction["margin"])),
                "near_integer_deltas": data["delta"][near].tolist(),
                "not_escaped": data["delta"][~escaped].tolist(),
                "zero_status": STATUS_NAMES[int(data["zero_status"][0])],
                "zero_steps_observed": int(data["zero_n_obs"]) - 1}
    return Verdict(criteria, evidence=evidence)
