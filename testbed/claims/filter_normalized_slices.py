"""filter-normalized-slices (Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the
Loss Landscape of Neural Nets", NeurIPS; arXiv:1712.09913; code
tomgoldstein/loss-landscape).

Claim: with filter-normalised random directions, 2-D loss slices can be compared
across networks; skip connections keep deep networks' slices smooth and nearly
convex, while deep networks without them have chaotic, strongly non-convex slices;
at small depth the two look alike.

Conventions (all from the authors' code, see :mod:`testbed.slices`): every row
("filter") of a direction is rescaled to the norm of the same row of theta,
d_i <- r_i |theta_i| / (|r_i| + 1e-10) (r a Gaussian draw); bias entries of the
directions are 0 (ignore='biasbn'); a 2-D slice is f(theta + a d1 + b d2) on
[-1, 1]^2; the Hessian of Li et al.'s eigenvalue maps is restricted to the weights.
The unit checks test these on every trained network: the filter norms, the zero
bias directions, f(0, 0) = the trained loss, and linear interpolation between two
trained networks reproducing both endpoint losses.

Experiment (P1's calibrated recipe, claims-part1.md sec. 4): deep narrow networks on
digits, input layer 64 -> w (ReLU), D blocks of width w, head w -> 10, cross-entropy
on the first n digits of a fixed permutation (seed 123, pixels / 16). Plain block
h <- ReLU(W h + b) (He init), residual block h <- h + ReLU(W h + b) with W std
sqrt(2/w) / sqrt(D); biases 0. SGD with momentum 0.9 (the engine's rule
``sgd_momentum``, PyTorch's form: buf <- 0.9 buf + g, theta <- theta - lr buf), lr
0.02, batch 50, reshuffled every epoch; the networks of one depth and kind train as
one ensemble, training seed k initialised with He(seed k) and drawing its batches from
the replica stream (``seed``, k). Per trained
network and direction seed, one filter-normalised 2-D slice on a num x num grid of
full-training-set losses; per slice its mean loss and its non-convex fraction, the
share of interior grid points where the slice's central-difference 2 x 2 Hessian has
a negative eigenvalue. Not gated (P1: noisy at this scale): |lambda_min / lambda_max|
of the weights-only Hessian at ``hessian_points`` of one slice per network, by
Lanczos on exact Hessian-vector products.

Scientific criteria (P1's, empirical: there is no theory for these numbers; P1 set
the thresholds at ~3x the separation it observed): medians over the slices (training
seeds x direction seeds) of the deep depths (D >= 12) pooled: residual non-convex
fraction <= 0.1, plain >= 0.3, residual mean slice loss <= 0.3 x plain; at each
shallow depth (D = 4) the two kinds' median fractions within a factor 2.

Rounding: training a deep network with this recipe is chaotic in the rounding (an
input perturbed by 1e-15 changes a D = 12 plain network's final loss by O(1)), and a
deep plain training often leaves the finite numbers (its loss, its parameters or its
filter norms overflow; the ReLU can hide NaN parameters behind a finite loss). Such
a training leaves no landscape to slice: it is counted (``diverged_trainings``) and
left out, and so is a Hessian-vector product that is not finite at a slice point (a
NaN eigenvalue, counted). Which deep plain runs survive depends on the machine (0 to
2 of the 3 plain D = 24 trainings, 0 or 1 at D = 12, under eight roundings tried),
so the deep criteria pool D >= 12: a per-depth median of one surviving network, or
of none, would let the rounding decide the verdict; the per-depth medians are
evidence. Shallow (D = 4) training contracts rounding differences (1e-15 grows to
~1e-11 in the final loss), so its median fractions do not depend on the machine.

Confound reported, not removed: deep plain networks also train worse (their final
training loss is recorded; a plain D = 12 run can end with dead ReLUs at loss ln 10).
``clip`` (a global gradient-norm bound, off in P1's recipe) is available as a control.

Scales: ``paper`` is P1's recipe (depths 4, 12, 24 x 2 kinds x 3 training seeds x 2
direction seeds, width 32, 1000 samples, 100 epochs, 21 x 21 grids). ``quick`` keeps
only the deep contrast and the unit checks: D = 12, width 16, 300 samples, 30 epochs,
three training seeds of each kind (a single network's fraction moved across the 0.3
threshold under inputs perturbed by 1e-9; the median of three keeps a margin of 0.06
under perturbations up to 1e-7), one direction seed, an 11 x 11 grid.
``large`` (for a cluster) is ``paper`` with 6 training seeds and 4 direction seeds:
4x the slices in each pooled median of the deep depths. Each (depth, kind) pair is a
grid point, trained and sliced on its own (:func:`testbed.claims._grid.points`).

Provenance: the code facts (normalisation, biasbn, grids, keys, the Hessian
restricted to weights) were read in the authors' repository (net_plotter.py,
plot_surface.py, hess_vec_prod.py, plot_2D.py, projection.py); the paper's figures
were not opened, so the comparison is against P1's calibrated, self-contained
experiment, not against the paper's numbers.
"""
from __future__ import annotations

import numpy as np

from ._base import Verdict, at_least, at_most, holds
from ._grid import points

ID = "filter-normalized-slices"
PAPER = ("Li, Xu, Taylor, Studer & Goldstein (2018), Visualizing the Loss Landscape of "
         "Neural Nets, NeurIPS (arXiv:1712.09913); code tomgoldstein/loss-landscape")
CLAIM = ("filter-normalised 2-D slices of deep plain networks are chaotic and non-convex, "
         "those of residual networks of the same depth smooth and near-convex; shallow "
         "networks of both kinds look alike")
SCALES = {
    "quick": {"depths": [12], "n": 300, "width": 16, "epochs": 30, "lr": 0.02,
              "momentum": 0.9, "batch": 50, "train_seeds": [0, 1, 2], "dir_seeds": [5],
              "num": 11, "hessian_points": [], "seed": 0},
    "paper": {"depths": [4, 12, 24], "n": 1000, "width": 32, "epochs": 100, "lr": 0.02,
              "momentum": 0.9, "batch": 50, "train_seeds": [0, 1, 2], "dir_seeds": [5, 6],
              "num": 21, "hessian_points": [[0.0, 0.0], [0.5, 0.5]], "seed": 0},
}
# large (for a cluster): 4x the slices per pooled median (see Scales above)
SCALES["large"] = {**SCALES["paper"], "train_seeds": [0, 1, 2, 3, 4, 5],
                   "dir_seeds": [5, 6, 7, 8]}
BLOCKS = ("plain", "residual")
RATIO_TOL = 1e-12     # filter norms, f(0, 0), interpolation endpoints (relative)
DEEP = 12             # depths >= DEEP are "deep" in the acceptance
GUARD = 1e-10         # the authors' guard in the filter normalisation


def _network(D, block, params):
    from ..nets import network
    from ..nets.data import digits
    from ..nets.layout import Dense, Residual
    w = params["width"]
    X, Y = digits(params["n"], permute_seed=123)
    mid = [Residual(w, "relu") if block == "residual" else Dense(w, w, "relu")
           for _ in range(D)]
    arch = [Dense(64, w, "relu"), *mid, Dense(w, 10, "identity")]
    L = network(arch, X, Y, loss="ce", name=f"digits-{block}{D}-w{w}-n{params['n']}")
    return L


def _init(L, D, block, seed):
    """He initialisation (W ~ N(0, 2 / fan_in), b = 0); residual blocks' W scaled by
    1 / sqrt(D)."""
    from ..nets.layout import init_params, layout
    x = init_params(L, seed=seed, scheme="he")
    if block == "residual":
        for b in layout(L)[2:-2]:                       # the D middle blocks
            if b.kind == "weight":
                x[b.offset:b.offset + b.size] /= np.sqrt(D)
    return x


def train(L, X0, params):
    """The networks trained from the rows of ``X0``, as one ensemble through the
    engine: rule ``sgd_momentum`` (PyTorch's momentum form, batches from a fresh
    permutation of the training set every epoch), replica k drawing its batches from
    stream (params["seed"], k). Returns the final parameters (N, d); a replica whose
    loss left the finite numbers keeps its non-finite iterate."""
    from .. import run
    n = int(L.oracle.n_samples(L.p))
    steps = params["epochs"] * -(-n // params["batch"])
    res = run(L, "sgd_momentum", X0, steps=steps, seed=params["seed"], stride=steps,
              observe=(), eta=params["lr"], momentum=params["momentum"],
              batch=params["batch"], clip=params.get("clip") or np.inf)
    return res.x


def _nanmax(acc, values) -> float:
    """max(acc, max(values)), NaN if either holds a NaN (Python's max would drop it)."""
    return float(np.max(np.append(np.asarray(values, dtype=float).ravel(), acc)))


def _sliceable(L, theta) -> bool:
    """Finite parameters with finite filter norms: a landscape that can be sliced (a
    trained network whose weights overflowed has neither, even when the ReLU hides
    the NaN behind a finite loss)."""
    from ..slices import layout_of
    if not np.all(np.isfinite(theta)):
        return False
    for b in layout_of(L):
        if b.kind == "weight":
            w = theta[b.offset:b.offset + b.size].reshape(b.shape[0], -1)
            if not np.all(np.isfinite(np.linalg.norm(w, axis=1))):
                return False
    return True


def _filter_checks(L, theta, draws, directions):
    """Max |ratio - guarded ratio| (should be ~1e-16), max |ratio - 1| (the guard's
    effect) over all weight rows, and max |bias-direction entry| (NaN propagates)."""
    from ..slices import layout_of
    dev_formula, dev_raw, bias_max = 0.0, 0.0, 0.0
    for r, d in zip(draws, directions):
        for b in layout_of(L):
            sl = slice(b.offset, b.offset + b.size)
            if b.kind != "weight":
                bias_max = _nanmax(bias_max, np.abs(d[sl]))
                continue
            rows = d[sl].reshape(b.shape[0], -1)
            w = theta[sl].reshape(b.shape[0], -1)
            rn = np.linalg.norm(r[sl].reshape(b.shape[0], -1), axis=1)
            ratio = np.linalg.norm(rows, axis=1) / np.linalg.norm(w, axis=1)
            dev_formula = _nanmax(dev_formula, np.abs(ratio / (rn / (rn + GUARD)) - 1))
            dev_raw = _nanmax(dev_raw, np.abs(ratio - 1))
    return dev_formula, dev_raw, bias_max


def experiment(params) -> dict:
    """All networks, slices and checks: one grid point per depth and kind of block
    (:func:`_network_point`, run by :func:`testbed.claims._grid.points`)."""
    from ..slices import parse_range
    depths, num = params["depths"], params["num"]
    pairs = [[D, block] for D in depths for block in BLOCKS]
    parts = points(_network_point, params, pairs)

    def stacked(key):          # (depth, kind of block, ...) from the grid points
        return np.stack([part[key] for part in parts]).reshape(
            (len(depths), len(BLOCKS)) + np.shape(parts[0][key]))
    pts = params["hessian_points"]
    eigs = stacked("eigs")
    unit = dict.fromkeys(UNIT_CHECKS, 0.0)
    for part in parts:
        for key, value in zip(UNIT_CHECKS, part["unit_checks"]):
            unit[key] = _nanmax(unit[key], value)
    xs = parse_range(f"-1:1:{num}")
    return {"depths": np.asarray(depths), "xcoordinates": xs, "ycoordinates": xs,
            "init_loss": stacked("init_loss"), "final_loss": stacked("final_loss"),
            "theta_max_abs": stacked("theta_max_abs"), "diverged": stacked("diverged"),
            "train_loss": stacked("train_loss"),
            "nonconvex_fraction": stacked("nonconvex_fraction"),
            "slice_nonconvexity": stacked("slice_nonconvexity"),
            "min_eig": eigs[..., 0], "max_eig": eigs[..., 1],
            "hvp_failed": stacked("hvp_failed"),
            "hessian_points": np.asarray(pts if pts else [[np.nan, np.nan]], dtype=float),
            "unit_checks": np.array([unit[k] for k in UNIT_CHECKS])}


def _network_point(params, value, index) -> dict:
    """One grid point: the networks of depth D and kind ``block`` (``value = [D,
    block]``), BLAS pinned to one thread (the matrices are 32 wide, and BLAS threads
    on busy cores cost up to 14x)."""
    from .._engine import blas as _blas
    with _blas.limit(1), np.errstate(over="ignore", invalid="ignore"):
        return _network_slices(params, *value)


def _network_slices(params, D, block) -> dict:
    """Train the networks of depth D and kind ``block`` from every training seed in
    one ensemble, slice each trained one along every direction seed, and run the unit
    checks; Hessian extremes at ``hessian_points`` of the first trained network."""
    from ..curvature import extreme_eigenvalues
    from ..errors import TestbedError
    from ..slices import interpolate, normalize, parse_range, slice_curvature, surface, \
        weight_mask
    seeds, dseeds = params["train_seeds"], params["dir_seeds"]
    num = params["num"]
    xs = parse_range(f"-1:1:{num}")
    shape = (len(seeds),)
    final_loss, init_loss, theta_max = np.empty(shape), np.empty(shape), np.empty(shape)
    diverged = np.zeros(shape, bool)
    slices = np.full(shape + (len(dseeds), num, num), np.nan)
    frac = np.full(shape + (len(dseeds),), np.nan)
    ratio_map = np.full(shape + (len(dseeds), num, num), np.nan)
    pts = params["hessian_points"]
    eigs = np.full((max(len(pts), 1), 2), np.nan)
    hvp_failed = np.zeros(max(len(pts), 1), bool)
    unit = dict.fromkeys(UNIT_CHECKS, 0.0)
    L = _network(D, block, params)
    trained = []
    X0 = np.array([_init(L, D, block, s) for s in seeds])
    thetas = train(L, X0, params)
    for k, theta in enumerate(thetas):
        init_loss[k] = L.value(X0[k])
        final_loss[k] = L.value(theta)
        theta_max[k] = np.max(np.abs(theta))
        if not (np.isfinite(final_loss[k]) and _sliceable(L, theta)):
            diverged[k] = True                              # no landscape to slice
            continue
        trained.append((k, theta))
        for m, ds in enumerate(dseeds):
            rng = np.random.default_rng(ds)
            draws = rng.standard_normal((2, L.d))
            d1, d2 = (normalize(r, theta, L, "filter", "biasbn") for r in draws)
            checks = _filter_checks(L, theta, draws, (d1, d2))
            for key, value in zip(("dev_formula", "dev_raw", "bias_max"), checks):
                unit[key] = _nanmax(unit[key], value)
            Z = surface(L, theta, d1, d2, x=xs)["train_loss"]
            unit["f00"] = _nanmax(unit["f00"], abs(Z[num // 2, num // 2]
                                                   / final_loss[k] - 1))
            slices[k, m] = Z
            curv = slice_curvature(Z, xs, xs)
            frac[k, m] = curv["nonconvex_fraction"]
            ratio_map[k, m] = curv["slice_nonconvexity"]
            if len(trained) == 1 and m == 0 and pts:
                mask = weight_mask(L)
                for q, (pa, pb) in enumerate(pts):
                    try:
                        lo, hi, _ = extreme_eigenvalues(
                            L, theta + pa * d1 + pb * d2, tol=1e-2, max_iter=40, mask=mask)
                    except TestbedError:   # a non-finite Hessian-vector product:
                        hvp_failed[q] = True                # NaN, counted
                        continue
                    eigs[q] = lo, hi
    if len(trained) >= 2:                                   # interpolation endpoints
        (k0, t0), (k1, t1) = trained[:2]
        line = interpolate(L, t0, t1, x="0:1:3")["train_loss"]
        unit["interp"] = _nanmax(unit["interp"], [abs(line[0] / final_loss[k0] - 1),
                                                  abs(line[-1] / final_loss[k1] - 1)])
    return {"init_loss": init_loss, "final_loss": final_loss, "theta_max_abs": theta_max,
            "diverged": diverged, "train_loss": slices, "nonconvex_fraction": frac,
            "slice_nonconvexity": ratio_map, "eigs": eigs, "hvp_failed": hvp_failed,
            "unit_checks": np.array([unit[k] for k in UNIT_CHECKS])}


UNIT_CHECKS = ("dev_formula", "dev_raw", "bias_max", "f00", "interp")


def predict(params) -> dict:
    return {"residual_fraction_max": 0.1, "plain_fraction_min": 0.3,
            "mean_ratio_max": 0.3, "shallow_factor": 2.0,
            "filter_norm_ratio": f"|r_i| / (|r_i| + {GUARD:g})", "bias_direction": 0.0,
            "f00_equals_trained_loss": True, "interpolation_endpoints_exact": True}


def _median(a) -> float:
    a = np.asarray(a, dtype=float).ravel()
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else float("nan")


def _slice_stats(data, i, j):
    """Per slice of the trained (not diverged) networks of depth index i, kind j:
    non-convex fractions and mean losses (flat arrays over training x direction seeds)."""
    ok = ~data["diverged"][i, j]
    return (data["nonconvex_fraction"][i, j][ok].ravel(),
            data["train_loss"][i, j][ok].mean(axis=(-1, -2)).ravel())


def effect_sizes(data) -> dict:
    """Per depth, medians over training x direction seeds: non-convex fractions,
    mean and max slice losses, final training losses, for plain and residual; the
    counts of diverged trainings and of failed Hessian-vector products."""
    out = {}
    Z = data["train_loss"]
    for i, D in enumerate(data["depths"]):
        row = {}
        for j, block in enumerate(BLOCKS):
            ok = ~data["diverged"][i, j]
            fr, mean = _slice_stats(data, i, j)
            row[block] = {
                "nonconvex_fraction": _median(fr),
                "slice_mean": _median(mean),
                "slice_max": _median(Z[i, j][ok].max(axis=(-1, -2))),
                "final_train_loss": _median(data["final_loss"][i, j][ok]),
                "diverged_trainings": int(np.sum(~ok)),
                "nonfinite_hessian_products": int(np.sum(data["hvp_failed"][i, j])),
            }
            if np.isfinite(data["min_eig"][i, j]).any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios = np.abs(data["min_eig"][i, j] / data["max_eig"][i, j])
                # None where the Hessian vanished (a dead network: 0 / 0) or failed
                row[block]["abs_min_over_max_eig"] = [float(r) if np.isfinite(r) else None
                                                      for r in ratios]
        row["mean_ratio_residual_over_plain"] = (row["residual"]["slice_mean"]
                                                 / row["plain"]["slice_mean"])
        out[int(D)] = row
    return out


def deep_pool(data) -> dict:
    """Medians over every slice of the deep depths (D >= DEEP) pooled, per kind: the
    non-convex fraction, the mean slice loss, and the number of slices."""
    deep = [i for i, D in enumerate(data["depths"]) if D >= DEEP]
    out = {}
    for j, block in enumerate(BLOCKS):
        parts = [_slice_stats(data, i, j) for i in deep]
        fr = np.concatenate([p[0] for p in parts]) if parts else np.empty(0)
        mean = np.concatenate([p[1] for p in parts]) if parts else np.empty(0)
        out[block] = {"nonconvex_fraction": _median(fr), "slice_mean": _median(mean),
                      "slices": int(np.sum(np.isfinite(fr)))}
    out["mean_ratio_residual_over_plain"] = (out["residual"]["slice_mean"]
                                             / out["plain"]["slice_mean"])
    return out


def _decided(criterion, *counts):
    """The criterion, undecided (holds None) when a kind has no slice to measure."""
    if min(counts) > 0:
        return criterion
    return holds(criterion.name, criterion.measured, criterion.predicted,
                 criterion.reason + " (undecided: every training of one kind diverged)",
                 None, tolerance=criterion.tolerance, science=criterion.science)


def check(data, prediction, params) -> Verdict:
    dev_formula, dev_raw, bias_max, f00_dev, interp_dev = (float(v) for v in data["unit_checks"])
    rounding = "a few roundings of norms and sums of O(width) terms: ~1e-15"
    criteria = [
        at_most("filter_norm_rel_dev", dev_formula, RATIO_TOL,
                f"|d_i| / |theta_i| = |r_i| / (|r_i| + {GUARD:g}) up to {rounding}"),
        at_most("bias_direction_max_abs", bias_max, prediction["bias_direction"],
                "ignore='biasbn' sets the bias entries of the directions to 0 exactly"),
        at_most("f00_rel_dev", f00_dev, RATIO_TOL,
                f"the slice at (0, 0) is theta itself: the same loss up to {rounding} "
                "(a BLAS may reorder sums between calls)"),
        at_most("interpolation_endpoint_rel_dev", interp_dev, RATIO_TOL,
                f"a = 0 and a = 1 are the endpoints themselves: up to {rounding}"),
    ]
    pool = deep_pool(data)
    n_res, n_plain = pool["residual"]["slices"], pool["plain"]["slices"]
    pooled = (f"slices (training x direction seeds) of the deep depths D >= {DEEP} "
              f"pooled, so that the verdict does not hang on which chaotic deep trainings "
              f"survive the rounding; P1's empirical threshold (~3x the separation P1 "
              f"observed)")
    if any(D >= DEEP for D in data["depths"]):
        criteria += [
            _decided(at_most("deep_residual_nonconvex_fraction",
                             pool["residual"]["nonconvex_fraction"],
                             prediction["residual_fraction_max"],
                             f"median over the {n_res} residual " + pooled, science=True),
                     n_res),
            _decided(at_least("deep_plain_nonconvex_fraction",
                              pool["plain"]["nonconvex_fraction"],
                              prediction["plain_fraction_min"],
                              f"median over the {n_plain} plain " + pooled, science=True),
                     n_plain),
            _decided(at_most("deep_mean_loss_ratio_residual_over_plain",
                             pool["mean_ratio_residual_over_plain"],
                             prediction["mean_ratio_max"],
                             f"ratio of the median mean slice losses over the {n_res} "
                             f"residual and {n_plain} plain " + pooled, science=True),
                     n_res, n_plain)]
    eff = effect_sizes(data)
    for i, D in enumerate(int(D) for D in data["depths"]):
        if D >= DEEP:
            continue
        fp, fr = (eff[D][block]["nonconvex_fraction"] for block in BLOCKS)
        counts = [int(np.sum(np.isfinite(_slice_stats(data, i, j)[0]))) for j in range(2)]
        factor = (max(fp, fr) / min(fp, fr) if min(counts) and min(fp, fr) > 0
                  else 1.0 if fp == fr else float("inf"))
        criteria.append(_decided(at_most(
            f"D{D}_nonconvex_fraction_factor_plain_vs_residual", factor,
            prediction["shallow_factor"],
            f"larger over smaller median over {counts[0]} plain and {counts[1]} residual "
            f"slices; shallow training contracts rounding differences (1e-15 grows to "
            f"~1e-11), so the medians are the same on every machine; P1's empirical "
            f"factor", science=True), *counts))
    diverged = int(np.sum(data["diverged"]))
    return Verdict(criteria, evidence={
        "effect_sizes": eff, "deep_pooled": pool,
        "diverged_trainings": diverged,
        "nonfinite_hessian_products": int(np.sum(data["hvp_failed"])),
        "filter_norm_vs_weight_norm_rel_dev": dev_raw,
    }, headline=("deep_plain_nonconvex_fraction"
                 if any(D >= DEEP for D in data["depths"]) else None))
