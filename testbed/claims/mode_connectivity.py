r"""mode-connectivity (Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, "Loss
Surfaces, Mode Connectivity, and Fast Ensembling of DNNs", NeurIPS,
arXiv:1802.10026; Draxler, Veschgini, Salmhofer & Hamprecht 2018, "Essentially No
Barriers in Neural Network Energy Landscape", ICML, arXiv:1803.00885; Frankle,
Dziugaite, Roy & Carbin 2020, "Linear Mode Connectivity and the Lottery Ticket
Hypothesis", ICML, arXiv:1912.05671).

Claim: minima of independently trained networks are joined by a simple curve (a
quadratic Bezier :math:`\phi_\theta(t) = (1-t)^2 w_1 + 2t(1-t)\theta + t^2 w_2`
with a trained bend) along which the training loss stays low, though the straight
segment between them crosses a barrier; networks spawned from one shared checkpoint
and trained on with different data orders are linearly connected.

**Where the answer is exact** (the machinery checked before it is trusted on
networks): the bent double well :math:`f(x, y) = (x^2 - 1)^2 + (y - 1 + x^2)^2`,
whose only critical points are the minima :math:`(\pm 1, 0)` (f = 0) and the index-1
saddle :math:`(0, 1)` (f = 1, Hessian diag(-4, 2)): :math:`\partial_y f = 0` forces
:math:`y = 1 - x^2`, then :math:`\partial_x f = 4x(x^2 - 1)`. The straight segment
between the minima is :math:`f(x, 0) = 2 (x^2 - 1)^2`, barrier 2 at (0, 0); the
minimum-energy path runs along the valley floor :math:`y = 1 - x^2` over the saddle,
barrier 1. A climbing-image nudged elastic band (:func:`testbed.paths.neb`,
Henkelman, Uberuaga & Jonsson 2000), started from an asymmetric bent chain, must
converge with its climbing image on the saddle and its barrier equal to the
saddle's energy.

**Networks** (P1's calibrated recipe, :mod:`testbed.claims._digits_mlps`): ``pairs``
pairs of independently initialised ReLU MLPs (init seeds 2k and 2k + 1), all trained
as one ensemble; the straight segment and a trained Bezier curve between each pair,
evaluated at ``num`` equally spaced t (Garipov et al.'s eval_curve.py: 61), the
training loss and the test error at each. The curves train through the engine: the
curve objective :math:`\frac{1}{n_t}\sum_i L(\phi_\theta(t_i))` on ``nodes``
midpoint nodes is a landscape over the bend (:func:`testbed.paths.curve`), the bend
starts at the midpoint of the segment (Garipov et al.'s ``init_linear``) and
``sgd_momentum`` samples (t node, datum) pairs, all ``pairs`` curves as one
ensemble, for as many steps as ``curve_epochs`` epochs of the training set. For the
figure and as evidence: the straight segment after aligning the second network to
the first by weight matching (Ainsworth et al. 2023), and the training loss on the
plane through :math:`w_1, \theta, w_2` of the first pair
(:func:`testbed.paths.plane`, evaluated by :func:`testbed.slices.surface`) with the
curve on it. Spawning (Frankle et al.): ``pairs`` parents (init seeds 1000, 1001,
...) trained ``k`` epochs (stream seed ``seed`` + 100 + k), then two children of
each trained on for ``epochs - k`` epochs as replicas of one ensemble (stream seed
``seed`` + 200 + k), so with different data orders; the straight segment between the
two children. At ``paper`` scale, as evidence, a nudged elastic band between the
first pair (Draxler et al.: ``neb_images`` images, ``net_neb_steps`` steps of
momentum 0.9 at step 0.05 on the full-batch loss, equal spacing; not run to
convergence), its polyline evaluated at the ``num`` points.

Barrier: :math:`\max_i v_i - \tfrac12 (v_0 + v_{m-1})` (:func:`testbed.paths.barrier`,
git-re-basin's definition) of the training loss.

Criteria:

- code (exact): the well's straight barrier is 2; the band converges (largest force
  :math:`\le` ``neb_tol``), its climbing image lies within
  :math:`2\,\mathrm{tol}/|\lambda|_{\min}` of the saddle and its barrier equals the
  saddle's energy 1; every path of the networks starts at :math:`w_1` and ends at
  :math:`w_2` bit for bit (the coefficients at t = 0, 1 are exactly one-hot).
- science (P1's thresholds, set 2-3x looser than its calibration -- linear barrier
  0.525, Bezier max 0.066, spawned barriers <= 4e-4 -- to absorb the spread between
  seeds; medians over the pairs): median linear barrier >= 0.2; median over pairs of
  (max Bezier loss - the larger endpoint loss) / linear barrier <= 0.2 (P1's
  "Bezier max <= 0.2 x linear barrier + max endpoint loss", per pair); for each
  spawning epoch k, the median spawned barrier <= 0.01.

Rounding: at these step sizes the training contracts rounding differences: inputs
perturbed by 1e-15 moved every median by at most 2e-15 relative (by 1e-7, at paper
scale: at most 3e-7), and ``NUMBA_CPU_NAME=generic`` changed no bit, so the verdicts
do not depend on the machine. The margins are for the spread between seeds: with the stream seeds
1 and 2 the medians were 0.74-0.75 (linear barrier), 0.088-0.090 (Bezier ratio) and
at most 9e-4 (spawned barriers) at both scales.

Scales: ``paper`` is P1's recipe (1000 / 300 / 497 images, hidden 64-64, lr 0.02,
momentum 0.9, batch 32, 60 epochs; curves lr 0.01 for 60 epochs) with 5 pairs and
spawning at k = 0 and 2 epochs; ``quick``: 30 epochs, 3 pairs, 8 curve nodes, 25
points per path, spawning at k = 2 (tried smaller: hidden 32-32 or 500 images with
30-40 curve epochs put the median Bezier ratio at 0.17-0.21, too near the threshold
to be a verdict).
"""
from __future__ import annotations

import numpy as np

from ._base import Verdict, at_least, at_most, close, holds

ID = "mode-connectivity"
PAPER = ("Garipov, Izmailov, Podoprikhin, Vetrov & Wilson (2018), Loss Surfaces, Mode "
         "Connectivity, and Fast Ensembling of DNNs, NeurIPS (arXiv:1802.10026); Draxler, "
         "Veschgini, Salmhofer & Hamprecht (2018), Essentially No Barriers in Neural Network "
         "Energy Landscape, ICML (arXiv:1803.00885); Frankle, Dziugaite, Roy & Carbin (2020), "
         "Linear Mode Connectivity and the Lottery Ticket Hypothesis, ICML (arXiv:1912.05671)")
CLAIM = ("independently trained minima are joined by a low-loss Bezier curve though the "
         "straight line between them crosses a barrier; networks spawned from one checkpoint "
         "are linearly connected; on an analytic two-well landscape NEB finds the saddle")
SCALES = {
    "quick": {"n_train": 1000, "n_val": 300, "n_test": 497, "hidden": [64, 64],
              "epochs": 30, "lr": 0.02, "momentum": 0.9, "batch": 32, "pairs": 3,
              "curve_epochs": 60, "curve_lr": 0.01, "nodes": 8, "num": 25,
              "spawn_epochs": [2], "plane_num": 15, "neb_images": 9, "net_neb_steps": 0,
              "neb_steps": 20000, "neb_eta": 0.02, "neb_tol": 1e-9, "seed": 0},
    "paper": {"n_train": 1000, "n_val": 300, "n_test": 497, "hidden": [64, 64],
              "epochs": 60, "lr": 0.02, "momentum": 0.9, "batch": 32, "pairs": 5,
              "curve_epochs": 60, "curve_lr": 0.01, "nodes": 16, "num": 61,
              "spawn_epochs": [0, 2], "plane_num": 31, "neb_images": 9,
              "net_neb_steps": 300,
              "neb_steps": 20000, "neb_eta": 0.02, "neb_tol": 1e-9, "seed": 0},
}
WELL_MINIMA = (np.array([-1.0, 0.0]), np.array([1.0, 0.0]))
WELL_SADDLE = np.array([0.0, 1.0])
WELL_SADDLE_ENERGY = 1.0
WELL_STRAIGHT_BARRIER = 2.0       # f(0, 0) = 1 + 1
WELL_HESSIAN_EIGS = (-4.0, 2.0)   # at the saddle
ULP = 2.0 ** -52                  # one rounding of a number near 1 (relative)
SPAWN_SEED_OFFSET = 1000          # init seeds of the spawning parents


def well():
    """The bent double well (x^2 - 1)^2 + (y - 1 + x^2)^2, bound."""
    import sympy as sp

    from .. import symbolic
    x, y = sp.symbols("x y")
    return symbolic("bent_double_well", (x**2 - 1)**2 + (y - 1 + x**2)**2, (x, y),
                    paper="two minima joined over one index-1 saddle (P1 sec. 5)").bind()


def bent_start(images) -> np.ndarray:
    """An asymmetric chain between the minima (the straight segment lifted by
    1.5 sin(pi s) + 0.8 sin(2 pi s) in y), so the band must find the path."""
    from ..paths import linear
    s = np.linspace(0.0, 1.0, images)
    R = linear(*WELL_MINIMA, s)
    R[1:-1, 1] += (1.5 * np.sin(np.pi * s) + 0.8 * np.sin(2 * np.pi * s))[1:-1]
    return R


def _exact(params) -> dict:
    from ..paths import barrier, grid, linear, losses, neb
    from ..slices import surface
    W = well()
    straight = losses(W, linear(*WELL_MINIMA, grid(101)))
    k = params["neb_images"]
    band = neb(W, *WELL_MINIMA, images=k, steps=params["neb_steps"], eta=params["neb_eta"],
               climb=True, tol=params["neb_tol"], path=bent_start(k))
    gx, gy = np.linspace(-1.6, 1.6, 65), np.linspace(-0.8, 1.8, 53)     # for the figure
    grid_f = surface(W, np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0]), x=gx,
                     y=gy)["train_loss"]
    return {"well_straight_values": straight, "well_grid_x": gx, "well_grid_y": gy,
            "well_grid": grid_f, "well_neb_start": bent_start(k),
            "well_straight_barrier": np.array(barrier(straight)),
            "well_neb_points": band.points, "well_neb_values": band.values,
            "well_neb_barrier": np.array(band.barrier),
            "well_neb_converged": np.array(band.converged),
            "well_neb_max_force": np.array(band.max_force),
            "well_neb_steps": np.array(band.steps),
            "well_neb_climbing": np.array(-1 if band.climbing is None else band.climbing)}


def experiment(params) -> dict:
    """The exact band on the well, then the networks (BLAS pinned to one thread: the
    matrices are at most 64 wide)."""
    from .._engine import blas as _blas
    out = _exact(params)
    with _blas.limit(1):
        out.update(_networks(params))
    return out


def _networks(params) -> dict:
    from .. import paths
    from ..align import weight_matching
    from ..slices import surface
    from . import _digits_mlps as M
    nets = M.sets(params)
    L = nets["train"]
    S, seed = params["pairs"], params["seed"]
    t = paths.grid(params["num"])
    W, diverged = M.train(L, M.init(L, range(2 * S)), params["epochs"], params, seed)
    w1, w2 = W[0::2], W[1::2]
    lin_pts = np.stack([paths.linear(a, b, t) for a, b in zip(w1, w2)])
    curve = paths.curve(L, w1, w2, kind="bezier", bends=3, nodes=params["nodes"])
    res = curve.train("sgd_momentum", M.steps(L, params["curve_epochs"], params["batch"]),
                      seed=seed + 1, observe=(), eta=params["curve_lr"],
                      momentum=params["momentum"], batch=params["batch"])
    theta = res.x
    bez_pts = curve.points(theta, t)
    aligned = [weight_matching(L, a, b, seed=seed).x for a, b in zip(w1, w2)]
    al_pts = np.stack([paths.linear(a, b, t) for a, b in zip(w1, aligned)])
    ends = np.concatenate([lin_pts[:, [0, -1]], bez_pts[:, [0, -1]]], axis=1)
    want = np.stack([w1, w2, w1, w2], axis=1)
    out = {"t": t, "endpoint_max_abs_diff": np.array(float(np.max(np.abs(ends - want)))),
           "diverged": diverged, "curve_diverged": np.asarray(res.diverged, bool),
           "theta": theta}
    for name, pts in (("linear", lin_pts), ("bezier", bez_pts), ("aligned", al_pts)):
        v = M.along(nets, pts)
        out[f"{name}_loss"], out[f"{name}_error"] = v["loss"], v["error"]
    spawn, spawn_gone = [], []
    for k in params["spawn_epochs"]:
        parents, _ = M.train(L, M.init(L, SPAWN_SEED_OFFSET + np.arange(S)), k, params,
                             seed + 100 + k)
        kids, gone = M.train(L, np.repeat(parents, 2, axis=0), params["epochs"] - k, params,
                             seed + 200 + k)
        spawn_gone.append(gone)
        spawn.append(paths.losses(L, np.stack([paths.linear(a, b, t) for a, b in
                                               zip(kids[0::2], kids[1::2])])))
    out["spawn_epochs"] = np.asarray(params["spawn_epochs"])
    out["spawn_diverged"] = np.array(spawn_gone).reshape(len(params["spawn_epochs"]), 2 * S)
    out["spawn_loss"] = np.array(spawn).reshape(len(params["spawn_epochs"]), S, t.size)
    if params["net_neb_steps"]:
        band = paths.neb(L, w1[0], w2[0], images=params["neb_images"],
                         steps=params["net_neb_steps"], eta=0.05, momentum=0.9)
        v = M.along(nets, paths.along("polychain", band.points, t))
        out.update(net_neb_loss=v["loss"], net_neb_error=v["error"],
                   net_neb_max_force=np.array(band.max_force))
    pl = paths.plane(w1[0], w2[0], theta[0])
    xy = pl["coords"]
    span = max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]))
    lo, hi = xy.min(axis=0) - 0.25 * span, xy.max(axis=0) + 0.25 * span
    m = params["plane_num"]
    xs, ys = np.linspace(lo[0], hi[0], m), np.linspace(lo[1], hi[1], m)
    out.update(plane_x=xs, plane_y=ys, plane_points=xy,
               plane_loss=surface(L, pl["origin"], pl["u"], pl["v"], x=xs, y=ys)["train_loss"],
               plane_curve=paths.plane_coordinates(bez_pts[0], pl))
    return out


def predict(params) -> dict:
    tol = params["neb_tol"]
    lam = min(abs(e) for e in WELL_HESSIAN_EIGS)
    return {"well_straight_barrier": WELL_STRAIGHT_BARRIER,
            "well_neb_barrier": WELL_SADDLE_ENERGY,
            # |grad f| <= tol at the climbing image: Newton's bound on the distance
            # to the saddle, tol / min|lambda|, doubled for the cubic terms
            "well_neb_saddle_distance": 2.0 * tol / lam,
            "endpoint_max_abs_diff": 0.0,
            "linear_barrier_min": 0.2, "bezier_ratio_max": 0.2, "spawn_barrier_max": 0.01}


def pair_statistics(data) -> dict:
    """Per pair: the linear barrier, the Bezier curve's largest loss above the larger
    endpoint loss, their ratio, the error barriers, the aligned barrier; per spawning
    epoch the spawned barriers."""
    from ..paths import barrier
    lin, bez = data["linear_loss"], data["bezier_loss"]
    ends = np.maximum(lin[:, 0], lin[:, -1])
    lin_b = barrier(lin)
    excess = bez.max(axis=1) - ends
    with np.errstate(divide="ignore", invalid="ignore"):      # no barrier: ratio inf/NaN
        ratio = excess / lin_b
    return {"linear_barrier": lin_b, "bezier_max": bez.max(axis=1), "endpoint_max": ends,
            "bezier_excess": excess, "bezier_ratio": ratio,
            "aligned_barrier": barrier(data["aligned_loss"]),
            "linear_error_barrier": barrier(data["linear_error"]),
            "bezier_error_barrier": barrier(data["bezier_error"]),
            "aligned_error_barrier": barrier(data["aligned_error"]),
            "spawn_barrier": barrier(data["spawn_loss"])}


def check(data, prediction, params) -> Verdict:
    from ..paths import barrier
    s = pair_statistics(data)
    tol = params["neb_tol"]
    d = np.linalg.norm(data["well_neb_points"][int(data["well_neb_climbing"])] - WELL_SADDLE) \
        if int(data["well_neb_climbing"]) >= 0 else np.inf
    spawn_medians = np.median(s["spawn_barrier"], axis=1)
    worst_k = int(np.argmax(spawn_medians))
    n = s["linear_barrier"].size
    criteria = [
        close("well_straight_barrier", data["well_straight_barrier"],
              prediction["well_straight_barrier"], 4 * ULP,
              "the 101-point grid's midpoint is (0, 0) exactly, where f = 1 + 1; the ends "
              "are 0: the barrier is exact to a few roundings"),
        holds("well_neb_converged", float(data["well_neb_max_force"]), f"<= {tol:g}",
              f"the band's largest force after {int(data['well_neb_steps'])} steps; a band "
              f"that did not converge proves nothing about the saddle",
              bool(data["well_neb_converged"]), tolerance=tol),
        at_most("well_neb_saddle_distance", d, prediction["well_neb_saddle_distance"],
                "at the converged climbing image |grad f| <= tol (its force is the "
                "gradient with the tangent part reversed), so it lies within tol / "
                "min|lambda| = tol / 2 of the saddle (Newton's bound, Hessian diag(-4, 2)); "
                "doubled for the cubic terms"),
        close("well_neb_barrier", data["well_neb_barrier"], prediction["well_neb_barrier"],
              tol**2 + 45 * ULP,
              "within tol / 2 of the saddle the energy is off by <= (1/2) 4 (tol / 2)^2 = "
              "tol^2 / 2; f near 1 is rounded to a few ulps (45 allowed): the barrier of "
              "the minimum-energy path is the saddle's energy"),
        at_most("endpoint_max_abs_diff", data["endpoint_max_abs_diff"],
                prediction["endpoint_max_abs_diff"],
                "phi(0) = w1 and phi(1) = w2 bit for bit on every straight segment and "
                "Bezier curve: the coefficients there are exactly one-hot"),
        at_least("linear_barrier_median", np.median(s["linear_barrier"]),
                 prediction["linear_barrier_min"],
                 f"median over {n} pairs of independently initialised networks of the "
                 f"straight segment's training-loss barrier (nats); P1's threshold, 2.6x "
                 f"below its calibration (0.525), for the spread between seeds",
                 science=True),
        at_most("bezier_ratio_median", np.median(s["bezier_ratio"]),
                prediction["bezier_ratio_max"],
                f"median over {n} pairs of (max training loss along the trained Bezier "
                f"curve - the larger endpoint loss) / the linear barrier; P1's 0.2, ~1.7x "
                f"above its calibration (0.064 / 0.525 = 0.12)", science=True),
        at_most("spawn_barrier_median", spawn_medians[worst_k],
                prediction["spawn_barrier_max"],
                f"the largest over spawning epochs k = {list(map(int, data['spawn_epochs']))} "
                f"of the median over {n} parents of the barrier between two children "
                f"trained on with different data orders (here k = "
                f"{int(data['spawn_epochs'][worst_k])}); P1's 0.01, 25x above its "
                f"calibration (<= 4e-4): linearly connected", science=True),
    ]
    gone = sum(int(np.sum(data[k])) for k in ("diverged", "curve_diverged", "spawn_diverged"))
    if gone:
        criteria.append(holds("no_divergence", gone, 0,
                              "a training whose loss left the finite numbers leaves no "
                              "minimum to connect; lr 0.02 is far below the divergence "
                              "threshold", False))
    evidence = {k: np.asarray(v).tolist() for k, v in s.items()}
    evidence.update(
        spawn_barrier_medians=dict(zip(map(int, data["spawn_epochs"]), spawn_medians.tolist())),
        aligned_barrier_median=float(np.median(s["aligned_barrier"])),
        linear_midpoint_error=data["linear_error"][:, data["t"].size // 2].tolist(),
        bezier_midpoint_error=data["bezier_error"][:, data["t"].size // 2].tolist(),
        endpoint_test_error=np.concatenate([data["linear_error"][:, 0],
                                            data["linear_error"][:, -1]]).tolist(),
        well_neb_values=data["well_neb_values"].tolist())
    if "net_neb_loss" in data:
        evidence.update(net_neb_barrier_pair1=float(barrier(data["net_neb_loss"])),
                        net_neb_error_barrier_pair1=float(barrier(data["net_neb_error"])),
                        net_neb_max_force=float(data["net_neb_max_force"]))
    return Verdict(criteria, evidence, headline="bezier_ratio_median")
