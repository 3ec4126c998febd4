"""Shared figure style (seaborn's whitegrid, paper context), saving, and plotting
helpers that more than one figure may use (Li et al.'s slice contour and
eigenvalue-ratio heatmap).

Plotting reads results and never recomputes them.
"""
from __future__ import annotations


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    sns.set_theme(context="paper", style="whitegrid")
    return plt


def palette(n: int):
    import seaborn as sns
    return sns.color_palette("viridis", n)


def save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=130, metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)


def band(ax, t, v, color, width=None, alpha=0.35, label=None) -> None:
    """Draw an oscillating trace as the band between its running min and max over
    windows of ``width`` steps (cheap to render, and the oscillation stays visible)."""
    import numpy as np
    n = v.shape[0]
    width = width or max(1, n // 400)
    m = n // width
    if m == 0:
        return
    w = v[:m * width].reshape(m, width)
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanmin(w, axis=1), np.nanmax(w, axis=1)
    tt = t[:m * width].reshape(m, width)[:, 0]
    ax.fill_between(tt, lo, hi, color=color, alpha=alpha, lw=0, label=label)


def contour(ax, xs, ys, Z, vmin=0.1, vmax=10.0, vlevel=0.5, title=""):
    """Li et al.'s 2-D contour (plot_2D.plot_2d_contour: levels arange(vmin, vmax,
    vlevel), clabel'd); Z[j, i] = f(x_i, y_j)."""
    import numpy as np
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
