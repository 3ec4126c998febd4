"""quadratic-stability (classical): gradient descent on f(x) = 1/2 sum lam_i x_i^2
multiplies coordinate i by r_i = 1 - eta lam_i every step, x_i(t) = r_i^t x_i(0), so it
converges iff eta < 2 / lam_max and diverges for any eta above.

Experiment: one GD replica per step size, eta / (2 / lam_max) on a grid in (0, 1),
just below and just above 1 (1 -+ delta), and far above (where the loss overflows
and the replica must be flagged diverged), all from x(0) = (1, ..., 1).

Check, and why these tolerances:
- rate: max over replicas, coordinates and steps of |x_i(t) / (r_i^t x_i(0)) - 1|
  below 1e-10. Each GD step commits at most 3 rounding errors of size
  u = 2^-53 relative to |x_t|, which propagate with the same factor r_i, so the
  relative error after T steps is at most 3 u T / |r_i|; coordinates with
  |r_i| < 1e-2 (where cancellation in 1 - eta lam_i is all that is left) are
  excluded, which keeps the bound 3 u T / 1e-2 below 1e-10 for T <= 3000; so are
  values below 1e-290, near the subnormal range where relative precision is lost.
- threshold: the loss after T steps is below its start for every eta below
  2 / lam_max and above it for every eta beyond; the measured critical step is
  bracketed by [1 - delta, 1 + delta] x 2 / lam_max and must contain the
  predicted 2 / lam_max.
- the far-above replica is flagged ``diverged``.
"""
import numpy as np

from ..ensemble import run
from ..objective.registry import landscape
from ..kernel import DIVERGED, STATUS_NAMES
from ._base import Verdict, at_most, holds

ID = "quadratic-stability"
PAPER = "classical; e.g. Nesterov (2004), Introductory Lectures on Convex Optimization, 1.2.3"
CLAIM = ("GD on a quadratic converges iff eta < 2/lambda_max, "
         "with rate (1 - eta*lambda)^t along each eigenvector")
SCALES = {
    "quick": {"d": 10, "lam_min": 0.5, "lam_max": 4.0, "steps": 400, "n_eta": 24,
              "delta": 1e-2, "far": 10.0, "seed": 0},
    "paper": {"d": 20, "lam_min": 0.5, "lam_max": 4.0, "steps": 2000, "n_eta": 96,
              "delta": 1e-3, "far": 10.0, "seed": 0},
}
RATE_TOL = 1e-10
MIN_FACTOR = 1e-2
TINY = 1e-290       # above the subnormal range, where relative precision is lost


def _grid(params):
    rel = np.concatenate([np.linspace(0.05, 0.95, params["n_eta"]),
                          [1 - params["delta"], 1 + params["delta"], params["far"]]])
    lam = np.linspace(params["lam_min"], params["lam_max"], params["d"])
    return rel, lam


def experiment(params) -> dict:
    rel, lam = _grid(params)
    eta = rel * 2.0 / lam.max()
    L = landscape("quadratic", d=params["d"], lam=lam)
    res = run(L, "gd", np.ones(params["d"]), steps=params["steps"], n=eta.size,
              seed=params["seed"], eta=eta, coords=range(params["d"]), observe=("loss",))
    return {"eta": eta, "rel": rel, "lam": lam, "x": res.traces["coords"],
            "loss": res.traces["loss"], "status": res.status, "stop_step": res.stop_step}


def predict(params) -> dict:
    rel, lam = _grid(params)
    eta = rel * 2.0 / lam.max()
    return {"eta_crit": float(2.0 / lam.max()), "factor": 1.0 - eta[:, None] * lam[None, :]}


def _rate_error(data, factor) -> float:
    x = data["x"][:, :, :-1]                       # (T+1, d, N): the far replica is excluded
    t = np.arange(x.shape[0])[:, None, None]
    r = factor[:-1].T[None, :, :]                  # (1, d, N)
    usable = np.abs(r) >= MIN_FACTOR
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        pred = r ** t                              # x(0) = 1
        err = np.abs(x / pred - 1.0)
    usable = usable & (np.abs(pred) > TINY) & np.isfinite(pred)
    return float(np.max(np.where(usable, err, 0.0)))


def check(data, prediction, params) -> Verdict:
    eta, loss = data["eta"], data["loss"]
    eta_crit = prediction["eta_crit"]
    last = data["stop_step"][:-1]
    grew = loss[last, np.arange(eta.size - 1)] > loss[0, :-1]
    below, above = eta[:-1] < eta_crit, eta[:-1] > eta_crit
    bracket = (float(eta[:-1][~grew].max()), float(eta[:-1][grew].min())) if grew.any() \
        else (float(eta[:-1].max()), float("inf"))
    rounding = 3 * 2.0**-53 * params["steps"] / MIN_FACTOR
    return Verdict([
        at_most("rate_rel_error", _rate_error(data, prediction["factor"]), RATE_TOL,
                f"rounding bound 3uT/min|1 - eta lam| = {rounding:.1e} at T = "
                f"{params['steps']}, below the tolerance"),
        holds("eta_crit_bracket", bracket, eta_crit,
              "the loss falls for every eta below the threshold and grows for every eta "
              "above; the threshold is resolved to the grid spacing",
              np.all(~grew[below]) and np.all(grew[above]) and bracket[0] < eta_crit < bracket[1],
              tolerance=f"bracket [1 - delta, 1 + delta] x eta_crit, delta = {params['delta']}"),
        holds("far_above_diverged", STATUS_NAMES[int(data["status"][-1])], "diverged",
              "the loss overflows within the budget at eta = far x eta_crit",
              data["status"][-1] == DIVERGED),
    ], evidence={"far_above_diverged_at": int(data["stop_step"][-1])})
