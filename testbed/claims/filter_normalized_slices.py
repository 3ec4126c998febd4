"""filter-normalized-slices (Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the
Loss Landscape of Neural Nets", NeurIPS; arXiv:1712.09913; code
tomgoldstein/loss-landscape).

Claim: with filter-normalised random directions, 2-D loss slices can be compared
across networks; skip connections keep deep networks' slices smooth and nearly
convex, while deep networks without them have chaotic, strongly non-convex slices;
at small depth the two look alike.

What is checked, and how (all conventions from the authors' code, see
:mod:`testbed.slices`; the recipe is P1's calibrated experiment, claims-part1.md
sec. 4):

1. Unit checks (exact, on every trained network): every row ("filter") of each
   normalised direction has the norm of the same row of theta, up to the authors'
   guard: |d_i| / |theta_i| = |r_i| / (|r_i| + 1e-10) (r the Gaussian draw), checked
   to 1e-12 relative (a few roundings of norms of 32-vectors: ~1e-15), so the raw
   norm mismatch is at most 1e-10 / min |r_i| (~3e-11 here; reported); bias entries
   of the directions are exactly 0 (ignore='biasbn'); the slice at (0, 0) equals
   the trained loss (the point is theta itself: difference 0 up to the 1e-12 we
   allow for a BLAS that might reorder sums between calls); linear interpolation
   between two trained networks reproduces both endpoint losses (same argument).
2. Residual versus plain, on deep narrow networks on digits (P1's calibration):
   input layer 64 -> 32 (ReLU), D blocks of width 32, head 32 -> 10, cross-entropy
   on the first 1000 digits of a fixed permutation (seed 123, pixels / 16). Plain
   block h <- ReLU(W h + b) (He init), residual block h <- h + ReLU(W h + b) with W
   std sqrt(2/32) / sqrt(D); biases 0. SGD with momentum 0.9 (PyTorch's form:
   buf <- 0.9 buf + g, theta <- theta - lr buf), lr 0.02, batch 50, reshuffled
   every epoch. Two filter-normalised directions (rows, biases zeroed), a 2-D
   slice on [-1, 1]^2 on a num x num grid of full-training-set losses. Measures
   per slice: mean and max loss, and the non-convex fraction: the share of the
   interior grid points where the slice's central-difference 2 x 2 Hessian has a
   negative eigenvalue.
   Scientific acceptance, as P1 states it (empirical; there is no theory for
   these numbers, so the thresholds are P1's, set at ~3x the separation P1
   observed, and the effect sizes are reported): over training seeds x direction
   seeds, medians; for each deep D (D >= 12): residual fraction <= 0.1, plain
   fraction >= 0.3, residual mean slice loss <= 0.3 x plain; for the shallow D
   (D = 4): the two fractions within a factor 2.
   The claim is "not reproduced" (passed = False, said so in the reason) when any
   of these fails; a unit-check failure is a failure of the code.
   Not gated (P1: noisy at this scale): |lambda_min / lambda_max| of Li et al.'s
   weights-only Hessian at (0, 0) and (0.5, 0.5) of one slice per network, by
   Lanczos on exact Hessian-vector products (reported when ``hessian_points``).

Training that diverges (a non-finite final loss: it happens to deep plain networks
with this recipe, e.g. D = 24, seed 1) leaves no landscape to slice; such runs are
counted (``diverged_trainings``) and left out of the medians, and a depth where every
run of one kind diverged fails the check. ``clip`` (a global gradient-norm bound,
off in P1's recipe) is available as a control.

Confound reported, not removed: deep plain networks also train worse (their final
training loss is recorded; one plain D = 12 run ends with dead ReLUs at loss ln 10).

Scales: ``paper`` is P1's recipe above (3 depths x 2 kinds x 3 training seeds x 2
direction seeds, 21 x 21 grids). ``quick`` (CI, seconds) keeps only the deep
contrast and the unit checks: D = 12, width 16 (residual W std sqrt(2/16)/sqrt(D)),
300 samples, 30 epochs, one seed of each kind, an 11 x 11 grid.

Provenance: the code facts (normalisation, biasbn, grids, keys, the Hessian
restricted to weights) were read in the authors' repository (net_plotter.py,
plot_surface.py, hess_vec_prod.py, plot_2D.py, projection.py); the paper's figures
were not opened, so the comparison is against P1's calibrated, self-contained
experiment, not against the paper's numbers.
"""
from __future__ import annotations

import numpy as np

from ._base import Verdict

ID = "filter-normalized-slices"
PAPER = ("Li, Xu, Taylor, Studer & Goldstein (2018), Visualizing the Loss Landscape of "
         "Neural Nets, NeurIPS (arXiv:1712.09913); code tomgoldstein/loss-landscape")
CLAIM = ("filter-normalised 2-D slices of deep plain networks are chaotic and non-convex, "
         "those of residual networks of the same depth smooth and near-convex; shallow "
         "networks of both kinds look alike")
SCALES = {
    "quick": {"depths": [12], "n": 300, "width": 16, "epochs": 30, "lr": 0.02,
              "momentum": 0.9, "batch": 50, "train_seeds": [0], "dir_seeds": [5],
              "num": 11, "hessian_points": [], "seed": 0},
    "paper": {"depths": [4, 12, 24], "n": 1000, "width": 32, "epochs": 100, "lr": 0.02,
              "momentum": 0.9, "batch": 50, "train_seeds": [0, 1, 2], "dir_seeds": [5, 6],
              "num": 21, "hessian_points": [[0.0, 0.0], [0.5, 0.5]], "seed": 0},
}
BLOCKS = ("plain", "residual")
RATIO_TOL = 1e-12     # filter norms, f(0, 0), interpolation endpoints (relative)
DEEP = 12             # depths >= DEEP are "deep" in the acceptance


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


def train(L, x0, params, seed):
    """Mini-batch SGD with momentum (PyTorch's form), batches from a per-epoch
    permutation of the training set (numpy.random.default_rng(seed))."""
    o, p = L.oracle, L.p
    n = int(o.n_samples(p))
    rng = np.random.default_rng([seed, 17])
    x = x0.copy()
    buf = np.zeros_like(x)
    g = np.empty_like(x)
    lr, mu, bs = params["lr"], params["momentum"], params["batch"]
    clip = params.get("clip")
    for _ in range(params["epochs"]):
        order = rng.permutation(n).astype(np.int64)
        for s in range(0, n, bs):
            o.value_grad_batch(x, p, order[s:s + bs], g)
            if clip:
                gn = np.linalg.norm(g)
                if gn > clip:
                    g *= clip / gn
            buf *= mu
            buf += g
            x -= lr * buf
    return x


def _filter_checks(L, theta, draws, directions):
    """Max |ratio - guarded ratio| (should be ~1e-16), max |ratio - 1| (the guard's
    effect) over all weight rows, and max |bias-direction entry|."""
    from ..slices import layout_of
    dev_formula, dev_raw, bias_max = 0.0, 0.0, 0.0
    for r, d in zip(draws, directions):
        for b in layout_of(L):
            sl = slice(b.offset, b.offset + b.size)
            if b.kind != "weight":
                bias_max = max(bias_max, float(np.max(np.abs(d[sl]))))
                continue
            rows = d[sl].reshape(b.shape[0], -1)
            w = theta[sl].reshape(b.shape[0], -1)
            rn = np.linalg.norm(r[sl].reshape(b.shape[0], -1), axis=1)
            ratio = np.linalg.norm(rows, axis=1) / np.linalg.norm(w, axis=1)
            dev_formula = max(dev_formula, float(np.max(np.abs(ratio / (rn / (rn + 1e-10)) - 1))))
            dev_raw = max(dev_raw, float(np.max(np.abs(ratio - 1))))
    return dev_formula, dev_raw, bias_max


def experiment(params) -> dict:
    """All networks, slices and checks (BLAS pinned to one thread: the matrices are
    32 wide, and BLAS threads on busy cores cost up to 14x)."""
    from .. import _blas
    with _blas.limit(1):
        return _experiment(params)


def _experiment(params) -> dict:
    from ..curvature import extreme_eigenvalues
    from ..slices import interpolate, normalize, parse_range, slice_curvature, surface, \
        weight_mask
    depths, seeds, dseeds = params["depths"], params["train_seeds"], params["dir_seeds"]
    num = params["num"]
    xs = parse_range(f"-1:1:{num}")
    shape = (len(depths), 2, len(seeds))
    final_loss = np.empty(shape)
    init_loss = np.empty(shape)
    slices = np.empty(shape + (len(dseeds), num, num))
    frac = np.empty(shape + (len(dseeds),))
    ratio_map = np.empty(shape + (len(dseeds), num, num))
    pts = params["hessian_points"]
    eigs = np.full((len(depths), 2, max(len(pts), 1), 2), np.nan)
    f00_dev = interp_dev = dev_formula = dev_raw = bias_max = 0.0
    for i, D in enumerate(depths):
        for j, block in enumerate(BLOCKS):
            L = _network(D, block, params)
            trained = []
            for k, s in enumerate(seeds):
                x0 = _init(L, D, block, s)
                init_loss[i, j, k] = L.value(x0)
                theta = train(L, x0, params, s)
                final_loss[i, j, k] = L.value(theta)
                if not np.isfinite(final_loss[i, j, k]):      # diverged: no landscape
                    slices[i, j, k] = frac[i, j, k] = ratio_map[i, j, k] = np.nan
                    continue
                trained.append((k, theta))
                for m, ds in enumerate(dseeds):
                    rng = np.random.default_rng(ds)
                    draws = rng.standard_normal((2, L.d))
                    d1, d2 = (normalize(r, theta, L, "filter", "biasbn") for r in draws)
                    a, b, c = _filter_checks(L, theta, draws, (d1, d2))
                    dev_formula, dev_raw, bias_max = (max(dev_formula, a), max(dev_raw, b),
                                                      max(bias_max, c))
                    surf = surface(L, theta, d1, d2, x=xs)
                    Z = surf["train_loss"]
                    f00_dev = max(f00_dev, abs(Z[num // 2, num // 2] / final_loss[i, j, k] - 1))
                    slices[i, j, k, m] = Z
                    curv = slice_curvature(Z, xs, xs)
                    frac[i, j, k, m] = curv["nonconvex_fraction"]
                    ratio_map[i, j, k, m] = curv["slice_nonconvexity"]
                    if len(trained) == 1 and m == 0 and pts:
                        mask = weight_mask(L)
                        for q, (pa, pb) in enumerate(pts):
                            lo, hi, _ = extreme_eigenvalues(L, theta + pa * d1 + pb * d2,
                                                            tol=1e-2, max_iter=40, mask=mask)
                            eigs[i, j, q] = lo, hi
            if len(trained) >= 2:                      # interpolation endpoints
                (k0, t0), (k1, t1) = trained[:2]
                line = interpolate(L, t0, t1, x="0:1:3")["train_loss"]
                interp_dev = max(interp_dev, abs(line[0] / final_loss[i, j, k0] - 1),
                                 abs(line[-1] / final_loss[i, j, k1] - 1))
    return {"depths": np.asarray(depths), "xcoordinates": xs, "ycoordinates": xs,
            "init_loss": init_loss, "final_loss": final_loss, "train_loss": slices,
            "nonconvex_fraction": frac, "slice_nonconvexity": ratio_map,
            "min_eig": eigs[..., 0], "max_eig": eigs[..., 1],
            "hessian_points": np.asarray(pts if pts else [[np.nan, np.nan]], dtype=float),
            "unit_checks": np.array([dev_formula, dev_raw, bias_max, f00_dev, interp_dev])}


def predict(params) -> dict:
    return {"residual_fraction_max": 0.1, "plain_fraction_min": 0.3,
            "mean_ratio_max": 0.3, "shallow_factor": 2.0,
            "filter_norm_ratio": "|r_i| / (|r_i| + 1e-10)", "bias_direction": 0.0,
            "f00_equals_trained_loss": True, "interpolation_endpoints_exact": True}


def _median(a) -> float:
    a = np.asarray(a, dtype=float).ravel()
    return float(np.median(a)) if a.size else float("nan")


def effect_sizes(data) -> dict:
    """Per depth, medians over training x direction seeds: non-convex fractions,
    mean and max slice losses, final training losses, for plain and residual."""
    out = {}
    Z = data["train_loss"]
    for i, D in enumerate(data["depths"]):
        row = {}
        for j, block in enumerate(BLOCKS):
            fl = data["final_loss"][i, j]
            ok = np.isfinite(fl)
            row[block] = {
                "nonconvex_fraction": _median(data["nonconvex_fraction"][i, j][ok]),
                "slice_mean": _median(Z[i, j][ok].mean(axis=(-1, -2))),
                "slice_max": _median(Z[i, j][ok].max(axis=(-1, -2))),
                "final_train_loss": _median(fl[ok]),
                "diverged_trainings": int(np.sum(~ok)),
            }
            if np.isfinite(data["min_eig"][i, j]).any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios = np.abs(data["min_eig"][i, j] / data["max_eig"][i, j])
                # None where the Hessian vanished (a dead network: 0 / 0)
                row[block]["abs_min_over_max_eig"] = [float(r) if np.isfinite(r) else None
                                                      for r in ratios]
        row["mean_ratio_residual_over_plain"] = (row["residual"]["slice_mean"]
                                                 / row["plain"]["slice_mean"])
        out[int(D)] = row
    return out


def check(data, prediction, params) -> Verdict:
    dev_formula, dev_raw, bias_max, f00_dev, interp_dev = (float(v) for v in data["unit_checks"])
    units_ok = (dev_formula <= RATIO_TOL and bias_max == prediction["bias_direction"]
                and f00_dev <= RATIO_TOL and interp_dev <= RATIO_TOL)
    eff = effect_sizes(data)
    failures = []
    for D, row in eff.items():
        fp, fr = row["plain"]["nonconvex_fraction"], row["residual"]["nonconvex_fraction"]
        if not (np.isfinite(fp) and np.isfinite(fr)):
            failures.append(f"D={D}: every training of one kind diverged; nothing to compare")
            continue
        if D >= DEEP:
            if fr > prediction["residual_fraction_max"]:
                failures.append(f"D={D}: residual non-convex fraction {fr:.3f} > "
                                f"{prediction['residual_fraction_max']}")
            if fp < prediction["plain_fraction_min"]:
                failures.append(f"D={D}: plain non-convex fraction {fp:.3f} < "
                                f"{prediction['plain_fraction_min']}")
            if row["mean_ratio_residual_over_plain"] > prediction["mean_ratio_max"]:
                failures.append(f"D={D}: residual/plain mean slice loss "
                                f"{row['mean_ratio_residual_over_plain']:.3f} > "
                                f"{prediction['mean_ratio_max']}")
        else:
            alike = max(fp, fr) <= prediction["shallow_factor"] * min(fp, fr)
            if not alike:
                failures.append(f"D={D}: fractions {fp:.3f} (plain) and {fr:.3f} (residual) "
                                f"differ by more than a factor {prediction['shallow_factor']}")
    science_ok = not failures
    if not units_ok:
        reason = (f"unit checks FAILED (code error): filter-norm formula dev {dev_formula:.1e}, "
                  f"bias direction max {bias_max:.1e}, f(0,0) dev {f00_dev:.1e}, "
                  f"interpolation endpoints dev {interp_dev:.1e} (tolerance {RATIO_TOL})")
    elif not science_ok:
        reason = "claim NOT reproduced at this scale: " + "; ".join(failures)
    else:
        reason = ("reproduced: P1's empirical thresholds (set at ~3x P1's observed separation; "
                  "no theoretical tolerance exists) hold for the medians over seeds; unit "
                  f"checks exact to {RATIO_TOL} (rounding of a few norms)")
    return Verdict(
        passed=bool(units_ok and science_ok),
        reproduced=science_ok if units_ok else None,
        measured={"effect_sizes": eff,
                  "unit_checks": {"filter_norm_formula_rel_dev": dev_formula,
                                  "filter_norm_vs_weight_norm_rel_dev": dev_raw,
                                  "bias_direction_max_abs": bias_max,
                                  "f00_vs_trained_loss_rel_dev": f00_dev,
                                  "interpolation_endpoint_rel_dev": interp_dev}},
        predicted={k: v for k, v in prediction.items()},
        tolerance={"unit_checks_rel": RATIO_TOL, "deep_depths": f">= {DEEP}",
                   "thresholds": "P1 (claims-part1.md sec. 4), empirical"},
        reason=reason)


# ----------------------------------------------------------------------------- figures
def contour(ax, xs, ys, Z, vmin=0.1, vmax=10.0, vlevel=0.5, title=""):
    """Li et al.'s 2-D contour (plot_2D.plot_2d_contour: levels arange(vmin, vmax,
    vlevel), clabel'd); Z[j, i] = f(x_i, y_j)."""
    X, Y = np.meshgrid(xs, ys)
    cs = ax.contour(X, Y, Z, levels=np.arange(vmin, vmax, vlevel), cmap="summer")
    ax.clabel(cs, inline=1, fontsize=5)
    ax.plot([0], [0], "k+", ms=6)
    ax.set(title=title, xlabel="alpha", ylabel="beta", aspect="equal")


def eig_ratio_heatmap(ax, ratio, title="", cbar=True, cbar_ax=None):
    """Li et al.'s eigenvalue-ratio heatmap (plot_2D.plot_2d_eig_ratio: seaborn
    viridis, vmin 0, vmax 0.5, y axis inverted so that beta grows upwards; blue =
    convex, yellow = non-convex) of any ratio map (Li et al.'s |min_eig / max_eig|
    from :func:`testbed.slices.hessian_eig_map`, or a slice's ``slice_nonconvexity``);
    NaN (the border of a finite-difference map) is left blank."""
    import seaborn as sns
    sns.heatmap(ratio, cmap="viridis", vmin=0, vmax=0.5, cbar=cbar, cbar_ax=cbar_ax,
                square=True, xticklabels=False, yticklabels=False, ax=ax)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=8)


def _first_trained(data, i, j):
    ok = np.flatnonzero(np.isfinite(data["final_loss"][i, j]))
    return int(ok[0]) if ok.size else 0


def figure(data, prediction, params, path) -> None:
    from .. import plotting
    plt = plotting.pyplot()
    depths = data["depths"]
    nd = len(depths)
    eff = effect_sizes(data)
    fig, axes = plt.subplots(nd + 1, 4, figsize=(13, 3.2 * (nd + 1)))
    xs, ys = data["xcoordinates"], data["ycoordinates"]
    for i, D in enumerate(depths):
        for j, block in enumerate(BLOCKS):
            k = _first_trained(data, i, j)
            contour(axes[i, j], xs, ys, data["train_loss"][i, j, k, 0],
                    title=f"{block}, D = {D}: train loss (final "
                          f"{data['final_loss'][i, j, k]:.1e})")
            axes[i, j].title.set_fontsize(8)
            last = j == len(BLOCKS) - 1          # one colour bar per row, outside
            eig_ratio_heatmap(axes[i, 2 + j], data["slice_nonconvexity"][i, j, k, 0],
                              title=f"{block}, D = {D}: max(-min, 0) / max eig\n"
                                    f"of the slice (share < 0: "
                                    f"{data['nonconvex_fraction'][i, j, k, 0]:.2f})",
                              cbar=last, cbar_ax=axes[i, 3].inset_axes([1.05, 0.0, 0.05, 1.0])
                              if last else None)
    colors = plotting.palette(2)
    ax = axes[nd, 0]
    for j, block in enumerate(BLOCKS):
        fr = data["nonconvex_fraction"][:, j].reshape(nd, -1)
        ax.plot(depths, [eff[int(D)][block]["nonconvex_fraction"] for D in depths], "o-",
                color=colors[j], label=f"{block} (median)")
        for i, D in enumerate(depths):
            ax.plot(np.full(fr.shape[1], D), fr[i], ".", color=colors[j], alpha=0.5)
    ax.axhline(prediction["plain_fraction_min"], color="grey", ls="--", lw=0.8,
               label="P1: plain >= (deep)")
    ax.axhline(prediction["residual_fraction_max"], color="grey", ls=":", lw=0.8,
               label="P1: residual <= (deep)")
    ax.set(xlabel="depth D", ylabel="non-convex fraction of the 2-D slice",
           title="slice non-convexity: medians, all seeds (dots)")
    ax.legend(fontsize=6)
    for ax, key, label in ((axes[nd, 1], "slice_mean", "mean loss over the slice"),
                           (axes[nd, 2], "final_train_loss", "final training loss "
                                                             "(confound)")):
        for j, block in enumerate(BLOCKS):
            ax.semilogy(depths, [eff[int(D)][block][key] for D in depths], "o-",
                        color=colors[j], label=block)
        ax.set(xlabel="depth D", ylabel=label, title=label + ", medians")
        ax.legend(fontsize=7)
    axes[nd, 3].axis("off")
    text = "\n".join(
        f"D={D}: non-convex plain {r['plain']['nonconvex_fraction']:.2f}, residual "
        f"{r['residual']['nonconvex_fraction']:.2f}\n      mean ratio res/plain "
        f"{r['mean_ratio_residual_over_plain']:.3f}, diverged plain "
        f"{r['plain']['diverged_trainings']}" for D, r in eff.items())
    axes[nd, 3].text(-0.2, 0.5, text, fontsize=6.5, va="center", family="monospace")
    plotting.save(fig, path)
