"""eos-network (Cohen, Kaur, Li, Kolter & Talwalkar, ICLR 2021, "Gradient Descent on
Neural Networks Typically Occurs at the Edge of Stability"): full-batch GD on a
neural network first sharpens (progressive sharpening: the top Hessian eigenvalue S
rises) until S reaches 2/eta, then hovers at 2/eta while the loss keeps decreasing,
non-monotonically.

Setup (a small version of the paper's fc-tanh / MSE runs, which used 5,000 CIFAR-10
images and 200-200 tanh layers; read from the authors' code): the first n images of
scikit-learn's 8x8 digits (pixels / 16, one-hot targets), a tanh MLP with biases
(``testbed.nets.digits_mlp``), loss = half the mean over all n x 10 entries of the
squared error (benchmark B4's; the paper's sums over the 10 classes, which scales S
by 10 and eta by 1/10 -- the claim is about eta S only), PyTorch-style uniform
initialisation (seed ``init_seed``), the same start for every step size. A
``testbed.run`` per step size (a grid point, cached on its own) records the
parameters every ``stride`` steps; the sharpness at each recorded point is the algebraically largest Hessian
eigenvalue by Lanczos (:func:`testbed.curvature.top_eigenvalues` with full
reorthogonalisation, warm-started from the previous Ritz vector) on exact
Hessian-vector products, converged to a residual bound of 1e-10 times the largest
|Ritz value| (here the sharpness itself: 1e-10 relative). Every point keeps its
bound; a point that did not converge keeps its value too, is counted in the
evidence, and fails a criterion if its bound exceeds 1e-6 of the value. (The
engine's observer, ``observe=("sharpness",)``, which benchmark B4 uses, converges the
same quantity to a relative residual of 1e-6; here the tighter tolerance keeps the
band free of any estimator error.) A step size from which GD diverges is included: it
must be flagged diverged with its step and stay out of every statistic.

Prediction: eta S / 2 starts below 1, reaches 1 within the first three quarters of
the run, then stays at 1 (the paper's wording is "hovers just above 2/eta"; its own
numerical band could not be read, so the bands are operational definitions of
"hovers"), while the loss ends below its value at the crossing and rises at some
observation after it. Past the crossing the trajectory is chaotic in the rounding
(the oscillation along the top eigenvector amplifies differences of one ulp), so
the criteria are statistics of the edge phase -- extremes over the last quarter,
medians -- which hold on any machine, not values of one trajectory.
"""
from __future__ import annotations

import numpy as np

from ..ensemble import run
from ..kernel import DIVERGED
from ..theory.edge_of_stability import top_eigs
from ._base import Verdict, at_least, at_most, holds
from ._grid import points

ID = "eos-network"
PAPER = ("Cohen, Kaur, Li, Kolter & Talwalkar (2021), Gradient Descent on Neural Networks "
         "Typically Occurs at the Edge of Stability, ICLR 2021")
CLAIM = ("full-batch GD on a tanh network sharpens until the sharpness reaches 2/eta, then "
         "hovers at 2/eta (last quarter within [0.9, 1.1] x 2/eta) while the loss decreases")
SCALES = {
    "quick": {"widths": [64, 16, 16, 10], "n": 300, "etas": [1.5, 2.0, 2.5],
              "diverge_eta": 12.0, "steps": 1200, "stride": 20, "init_seed": 0, "seed": 0},
    "paper": {"widths": [64, 32, 32, 10], "n": 1000, "etas": [1.0, 1.25, 1.5, 2.0],
              "diverge_eta": 12.0, "steps": 3000, "stride": 25, "init_seed": 0, "seed": 0},
}
# large (for a cluster): twice the steps (the band and the median are checked over a
# last quarter twice as long) and eta = 1.75 between the paper's 1.5 and 2.0
SCALES["large"] = {**SCALES["paper"], "etas": [1.0, 1.25, 1.5, 1.75, 2.0], "steps": 6000}
START_MAX = 0.9
CROSS_BY = 0.75             # eta S / 2 reaches 1 within this fraction of the run
LAST = 0.25                 # the band is checked over this last fraction of the run
BAND = (0.9, 1.1)
MEDIAN_BAND = (0.95, 1.10)
LANCZOS_TOL = 1e-10         # residual bound / largest |Ritz value| (the sharpness here)
BOUND_MAX = 1e-6            # a sharpness certified only this loosely is an estimator error


def network(params):
    from .. import nets
    return nets.digits_mlp(widths=tuple(params["widths"]), n=params["n"])


def experiment(params) -> dict:
    """GD at every step size of ``etas`` and at ``diverge_eta``, from one start: one
    grid point each (:func:`_eta_point`, run by :func:`testbed.claims._grid.points`;
    a replica of an ensemble is the same run alone, bit for bit)."""
    etas = np.array(list(params["etas"]) + [params["diverge_eta"]], float)
    parts = points(_eta_point, params, [float(eta) for eta in etas])
    column = {k: np.stack([p[k] for p in parts], axis=1)
              for k in ("loss", "sharpness", "sharpness_bound", "sharpness_converged")}
    return {"etas": etas, "steps": parts[0]["steps"], **column,
            "status": np.concatenate([p["status"] for p in parts]),
            "stop_step": np.concatenate([p["stop_step"] for p in parts]),
            "d": parts[0]["d"]}


def _eta_point(params, eta, index) -> dict:
    """One grid point: GD at step size ``eta`` from the network's initialisation, and
    the sharpness at every snapshot before a stop (Lanczos, each warm-started from the
    previous top eigenvector, the first from a Gaussian vector of ``seed``)."""
    from .. import nets
    L = network(params)
    x0 = nets.init_params(L, seed=params["init_seed"])
    res = run(L, "gd", x0[None, :], steps=params["steps"], n=1, eta=np.array([eta]),
              stride=params["stride"], observe=("loss",), coords=np.arange(L.d),
              seed=params["seed"])
    xs = res.traces["coords"]                          # (n_obs, d, 1), NaN after a stop
    S = np.full(xs.shape[0], np.nan)
    bound = np.full_like(S, np.nan)                    # residual bound of each S
    conv = np.zeros(S.shape, bool)
    v = np.random.default_rng(params["seed"]).standard_normal(L.d)
    for k in range(xs.shape[0]):
        if np.all(np.isfinite(xs[k, :, 0])):
            e = top_eigs(L, xs[k, :, 0], 1, v, tol=LANCZOS_TOL)
            S[k], bound[k], conv[k], v = (e.values[0], e.bounds[0], e.converged,
                                          e.vectors[0])
    return {"steps": res.steps, "loss": res.traces["loss"][:, 0], "sharpness": S,
            "sharpness_bound": bound, "sharpness_converged": conv, "status": res.status,
            "stop_step": res.stop_step, "d": np.array(L.d)}


def predict(params) -> dict:
    etas = np.array(list(params["etas"]) + [params["diverge_eta"]], float)
    return {"etas": etas, "threshold": 2.0 / etas, "band": BAND}


def _stat(f, v) -> float | None:
    return float(f(v)) if v.size else None


def _analyse(data, prediction, n_eta):
    """Per step size meant to reach the edge and not diverged: where eta S / 2 starts,
    when it first reaches 1, its extremes and medians, and the loss around it."""
    rows = []
    S, loss, steps = data["sharpness"], data["loss"], data["steps"]
    T = int(steps[-1])
    for r, eta in enumerate(data["etas"][:n_eta]):
        if data["status"][r] == DIVERGED:
            continue
        v = S[:, r] / prediction["threshold"][r]               # S / (2/eta)
        ok = np.isfinite(v)
        cross = np.flatnonzero(ok & (v >= 1.0))
        t_star = int(cross[0]) if cross.size else None
        last = v[ok & (steps >= (1 - LAST) * T)]
        after = ok & (np.arange(v.size) >= (t_star if t_star is not None else v.size))
        lv = loss[:, r]
        inc = int(np.sum(np.diff(lv[after]) > 0)) if after.sum() > 1 else 0
        rows.append({
            "eta": float(eta), "start": float(v[0]),
            "first_crossing_step": int(steps[t_star]) if t_star is not None else None,
            "last_quarter_min": _stat(np.min, last), "last_quarter_max": _stat(np.max, last),
            "last_quarter_median": _stat(np.median, last),
            "median_after_crossing": _stat(np.median, v[after]),
            "loss_at_crossing": float(lv[t_star]) if t_star is not None else None,
            "loss_final": float(lv[ok][-1]) if ok.any() else None,
            "loss_increases_after_crossing": inc})
    return rows


def _span(rows, key) -> list:
    """[lowest, highest] of a per-run value (NaN if any run lacks it, or no run)."""
    v = np.array([np.nan if r[key] is None else r[key] for r in rows], float)
    return [float(v.min()), float(v.max())] if v.size else [float("nan")] * 2


def check(data, prediction, params) -> Verdict:
    n_eta = len(params["etas"])
    rows = _analyse(data, prediction, n_eta)
    T = int(data["steps"][-1])
    crossed = [r for r in rows if r["first_crossing_step"] is not None]
    cross_frac = max((r["first_crossing_step"] / T if r["first_crossing_step"] is not None
                      else float("inf")) for r in rows) if rows else float("nan")
    band_lh = _span(rows, "last_quarter_min")[:1] + _span(rows, "last_quarter_max")[1:]
    med = _span(crossed, "median_after_crossing")
    loss_ratio = _span([{"x": None if r["loss_final"] is None else
                         r["loss_final"] / r["loss_at_crossing"]} for r in crossed], "x")[1]
    increases = _span(crossed, "loss_increases_after_crossing")[0]
    div = data["status"][n_eta:] == DIVERGED
    diverged = [{"eta": float(e), "step": int(s)} for e, s, d in
                zip(data["etas"][n_eta:], data["stop_step"][n_eta:], div) if d]
    lost = [float(e) for e, st in zip(data["etas"][:n_eta], data["status"][:n_eta])
            if st == DIVERGED]
    S = data["sharpness"][:, :n_eta]
    have = np.isfinite(S)
    rel_bound = data["sharpness_bound"][:, :n_eta][have] / np.abs(S[have])
    not_converged = int(np.sum(~data["sharpness_converged"][:, :n_eta][have]))
    worst_bound = float(np.max(rel_bound)) if rel_bound.size else float("nan")
    criteria = [
        holds("last_quarter_eta_S_over_2", band_lh, 1.0,
              "eta S / 2 over the last quarter of every run, lowest and highest: the "
              "acceptance band for 'hovers at 2/eta' (the paper's own could not be read); "
              f"the sharpness is converged to {LANCZOS_TOL:g} relative, and the extremes "
              "of the chaotic edge phase move by ~0.01 under rounding-level perturbations "
              "(0.993-1.005 and 1.043-1.065 over 10 runs at the quick scale, 0.996-0.997 and "
              "1.03-1.04 over 7 at the paper scale), far inside the band",
              BAND[0] <= band_lh[0] and band_lh[1] <= BAND[1],
              tolerance=list(BAND), science=True),
        holds("median_after_crossing", med, 1.0,
              "median of eta S / 2 over all observations after the first crossing, lowest "
              "and highest over the step sizes: the band of claims-part2 5b; the median of "
              "the edge phase moves by < 0.005 under rounding-level perturbations (10 runs "
              "at the quick scale, 7 at the paper scale), far inside the band",
              MEDIAN_BAND[0] <= med[0] and med[1] <= MEDIAN_BAND[1],
              tolerance=list(MEDIAN_BAND), science=True),
        at_most("start_eta_S_over_2", _span(rows, "start")[1], START_MAX,
                "progressive sharpening needs every run to start well below the edge "
                "(one shared start, before any chaos)", science=True),
        at_most("first_crossing_fraction", cross_frac, CROSS_BY,
                "eta S / 2 reaches 1 within the first three quarters of the run, leaving "
                "the last quarter for the edge phase", science=True),
        at_most("loss_final_over_loss_at_crossing", loss_ratio, 1.0,
                "the loss keeps decreasing at the edge: it ends below its value at the "
                "first crossing, for every step size (largest ratio)", science=True),
        at_least("loss_increases_after_crossing", increases, 1,
                 "non-monotone: at least one observed increase of the loss after the "
                 "crossing, for every step size (fewest)", science=True),
        holds("converging_runs_diverged", len(lost), 0,
              "the step sizes meant to reach the edge must train to the end, self-"
              "stabilised (a diverged one is flagged with its step and in no statistic)",
              not lost, science=True),
        at_most("sharpness_relative_bound", worst_bound, BOUND_MAX,
                f"largest residual bound of a computed sharpness over its value (runs "
                f"meant to reach the edge): Lanczos stops at {LANCZOS_TOL:g}, and a point "
                f"not converged within its 400 steps keeps its value and bound (counted "
                f"in the evidence); a bound above {BOUND_MAX:g} would be an estimator "
                f"error next to the 0.1 band"),
        holds("divergent_run_flagged", len(diverged), int(div.size),
              f"eta = {params['diverge_eta']:g} is far beyond any edge and must be flagged "
              "diverged with its step", bool(np.all(div))),
    ]
    evidence = {"per_eta": rows, "diverged": diverged, "diverged_meant_to_converge": lost,
                "d": int(data["d"]), "lanczos_tol": LANCZOS_TOL,
                "sharpness_points": int(have.sum()),
                "sharpness_not_converged": not_converged,
                "sharpness_max_relative_bound": worst_bound}
    return Verdict(criteria, evidence, headline="last_quarter_eta_S_over_2")
