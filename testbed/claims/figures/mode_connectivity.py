"""Figure of mode-connectivity: the training loss and the test error along the straight
segment, the trained Bezier curve and the segment after weight matching (every pair,
medians bold); the training loss on the plane through w1, the bend theta and w2 of
the first pair with the curve on it (Garipov et al.'s Fig. 1 layout); the nudged
elastic band on the bent double well; the barriers per pair; at paper scale the
nudged elastic band between the first pair, along its polyline."""
import numpy as np

from ..mode_connectivity import WELL_SADDLE, pair_statistics

PATHS = (("linear", "straight segment"), ("bezier", "trained Bezier curve"),
         ("aligned", "segment after weight matching"))


def _along(ax, data, key, label, colors, log):
    t = data["t"]
    for (name, text), c in zip(PATHS, colors):
        v = data[f"{name}_{key}"]
        for row in v:
            ax.plot(t, row, color=c, lw=0.6, alpha=0.4)
        ax.plot(t, np.median(v, axis=0), color=c, lw=2, label=f"{text} (median)")
    if f"net_neb_{key}" in data:
        ax.plot(t, data[f"net_neb_{key}"], "k:", lw=1.5, label="NEB polyline (pair 1)")
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="t (position along the path)", ylabel=label)


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    colors = plotting.palette(3)
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    _along(axes[0, 0], data, "loss", "training loss (cross-entropy)", colors, True)
    axes[0, 0].set_title(f"training loss along the paths, {params['pairs']} pairs")
    axes[0, 0].legend(fontsize=7)
    _along(axes[0, 1], data, "error", "test error", colors, False)
    axes[0, 1].set_title("test error along the paths")

    ax = axes[0, 2]
    xs, ys, Z = data["plane_x"], data["plane_y"], data["plane_loss"]
    X, Y = np.meshgrid(xs, ys)
    levels = np.linspace(np.log10(Z.min()), np.log10(Z.max()), 25)
    cs = ax.contourf(X, Y, np.log10(Z), levels=levels, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10 training loss")
    pts, cur = data["plane_points"], data["plane_curve"]
    ax.plot(pts[:2, 0], pts[:2, 1], "w--", lw=1, label="straight segment")
    ax.plot(cur[:, 0], cur[:, 1], color="orange", lw=2, label="Bezier curve")
    ax.plot(pts[:2, 0], pts[:2, 1], "wo", ms=6)
    ax.plot(pts[2, 0], pts[2, 1], "r^", ms=7, label="bend theta")
    for (x, y), name in zip(pts, ("w1", "w2", "theta")):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), color="w")
    ax.set(aspect="equal", xlabel="u: along w2 - w1", ylabel="v: theta - w1, orthogonal part",
           title="plane through w1, theta, w2 (pair 1)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3,
              facecolor="0.6")

    ax = axes[1, 0]
    gx, gy = data["well_grid_x"], data["well_grid_y"]
    GX, GY = np.meshgrid(gx, gy)
    ax.contour(GX, GY, data["well_grid"], levels=np.arange(0.0, 4.0, 0.25), cmap="summer",
               linewidths=0.7)
    start, band = data["well_neb_start"], data["well_neb_points"]
    ax.plot(start[:, 0], start[:, 1], "o:", color="grey", ms=3, label="band at the start")
    ax.plot(band[:, 0], band[:, 1], "o-", color=colors[0], ms=4, label="converged band")
    ci = int(data["well_neb_climbing"])
    ax.plot(*band[ci], "r*", ms=12, label=f"climbing image, barrier "
                                           f"{float(data['well_neb_barrier']):.15f}")
    ax.plot(*WELL_SADDLE, "kx", ms=9, label="saddle (0, 1), energy 1")
    ax.plot([-1, 1], [0, 0], "k--", lw=0.8, label="straight segment, barrier 2")
    ax.set(aspect="equal", xlabel="x", ylabel="y",
           title="NEB on (x^2-1)^2 + (y-1+x^2)^2 (exact check)")
    ax.set_ylim(-0.8, 2.6)
    ax.legend(fontsize=6, loc="upper center", ncol=2, framealpha=0.9)

    ax = axes[1, 1]
    s = pair_statistics(data)
    rows = [("linear barrier", s["linear_barrier"]),
            ("Bezier max - endpoint", s["bezier_excess"]),
            ("aligned linear barrier", s["aligned_barrier"])]
    rows += [(f"spawned at k = {int(k)}", b) for k, b in zip(data["spawn_epochs"],
                                                             s["spawn_barrier"])]
    for i, (name, v) in enumerate(rows):
        ax.plot(np.full(v.size, i), v, "o", color=plotting.palette(len(rows))[i], alpha=0.7)
        ax.plot([i - 0.25, i + 0.25], [np.median(v)] * 2, "k-", lw=2)
    ax.axhline(prediction["linear_barrier_min"], color="grey", ls="--", lw=0.8,
               label="P1: linear barrier >= 0.2")
    ax.axhline(prediction["spawn_barrier_max"], color="grey", ls=":", lw=0.8,
               label="P1: spawned <= 0.01")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[0] for r in rows], rotation=25, fontsize=7, ha="right")
    ax.set(ylabel="training-loss barrier (nats)", title="barriers per pair (bars: medians)")
    ax.legend(fontsize=7)

    ax = axes[1, 2]
    ax.axis("off")
    lines = [f"pairs: {params['pairs']}, hidden {params['hidden']}, {params['epochs']} epochs",
             f"median linear barrier: {np.median(s['linear_barrier']):.3f}",
             f"median (Bezier max - endpoint) / linear: {np.median(s['bezier_ratio']):.3f}"
             f"  (P1: <= {prediction['bezier_ratio_max']:g})",
             f"median aligned barrier: {np.median(s['aligned_barrier']):.3f}",
             f"median test-error barrier: linear {np.median(s['linear_error_barrier']):.3f},",
             f"   Bezier {np.median(s['bezier_error_barrier']):.3f}, aligned "
             f"{np.median(s['aligned_error_barrier']):.3f}"]
    lines += [f"spawned at k = {int(k)}: median barrier {np.median(b):.1e}"
              for k, b in zip(data["spawn_epochs"], s["spawn_barrier"])]
    lines += [f"NEB on the well: {int(data['well_neb_steps'])} steps, max force "
              f"{float(data['well_neb_max_force']):.1e}"]
    if "net_neb_loss" in data:
        from ...paths import barrier
        lines += [f"NEB between pair 1: barrier {barrier(data['net_neb_loss']):.4f} "
                  f"(linear {s['linear_barrier'][0]:.3f})"]
    ax.text(0.0, 0.5, "\n".join(lines), fontsize=8, va="center", family="monospace")
    fig.suptitle("Mode connectivity: digits MLPs (Garipov et al. 2018; Draxler et al. 2018; "
                 "Frankle et al. 2020)", fontsize=10)
    plotting.save(fig, path)
