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
from ..registry import landscape
from ._base import Verdict

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
    rate_err = _rate_error(data, prediction["factor"])
    last = data["stop_step"][:-1]
    grew = loss[last, np.arange(eta.size - 1)] > loss[0, :-1]
    below, above = eta[:-1] < eta_crit, eta[:-1] > eta_crit
    bracket = (float(eta[:-1][~grew].max()), float(eta[:-1][grew].min())) if grew.any() \
        else (float(eta[:-1].max()), float("inf"))
    threshold_ok = bool(np.all(~grew[below]) and np.all(grew[above])
                        and bracket[0] < eta_crit < bracket[1])
    far_flagged = bool(data["status"][-1] == 4)
    passed = rate_err < RATE_TOL and threshold_ok and far_flagged
    return Verdict(
        passed=passed,
        measured={"rate_rel_error": rate_err, "eta_crit_bracket": bracket,
                  "far_above_flagged_diverged": far_flagged,
                  "far_above_diverged_at": int(data["stop_step"][-1])},
        predicted={"rate": "(1 - eta*lam_i)^t", "eta_crit": eta_crit},
        tolerance={"rate_rel_error": RATE_TOL,
                   "eta_crit": f"bracket of width 2*delta = {2 * params['delta']} x eta_crit"},
        reason=(f"rounding bound 3uT/min|1-eta*lam| = "
                f"{3 * 2.0**-53 * params['steps'] / MIN_FACTOR:.1e} < {RATE_TOL}; "
                f"threshold resolved to the grid spacing delta"))


def figure(data, prediction, params, path) -> None:
    from .. import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    eta, lam, loss = data["eta"], data["lam"], data["loss"]
    t = np.arange(loss.shape[0])
    picks = [0, len(eta) // 3, len(eta) - 4, len(eta) - 3, len(eta) - 2]
    colors = plotting.palette(len(picks))
    for c, k in zip(colors, picks):
        pred = 0.5 * np.sum(lam[None, :] * prediction["factor"][k][None, :] ** (2 * t[:, None]),
                            axis=1)
        a.semilogy(t, loss[:, k], color=c, lw=2, alpha=0.6,
                   label=f"eta = {eta[k] / prediction['eta_crit']:.3f} x 2/lam_max")
        a.semilogy(t, pred, color="k", lw=0.8, ls="--")
    a.set(xlabel="step t", ylabel="loss", title="GD on a quadratic: measured (colour), "
          "predicted (dashed)")
    a.legend(fontsize=7)
    n = len(eta) - 1                                 # the far replica is off the chart
    x = np.abs(data["x"][:, :, :n])                    # (T+1, d, n)
    ok = x > TINY
    t_end = np.maximum(ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0), 1)   # last usable step
    x_end = np.take_along_axis(x, t_end[None], axis=0)[0]
    measured = np.max(x_end ** (1.0 / t_end), axis=0)
    rel = eta / prediction["eta_crit"]
    grid = np.linspace(0.0, rel[n - 1] * 1.02, 400)
    factor = np.abs(1.0 - grid[:, None] * prediction["eta_crit"] * lam[None, :])
    b.plot(grid, factor.max(axis=1), "k--", lw=1, label="predicted max_i |1 - eta lam_i|")
    b.plot(rel[:n], measured, "o", ms=3, label="measured per-step factor")
    b.axvline(1.0, color="k", ls=":", label="eta = 2 / lam_max")
    b.axhline(1.0, color="grey", lw=0.5)
    b.set(xlabel="eta / (2 / lam_max)", ylabel="contraction factor per step",
          title="converges iff eta < 2 / lam_max")
    b.legend(fontsize=7)
    plotting.save(fig, path)
