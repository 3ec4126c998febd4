"""Figure of weight-matching: the training loss and the test error along the straight
segment from A to B, to B weight-matched and to B activation-matched (every pair of
the main width, medians bold; Ainsworth et al.'s interpolation plots); the median
barriers against the hidden width; the weight-matching objective per sweep."""
import numpy as np

from ..weight_matching import METHODS, statistics

LABELS = {"naive": "naive (B as trained)", "weight": "weight matching",
          "activation": "activation matching"}


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    colors = plotting.palette(len(METHODS))
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.3))
    t = data["t"]
    w0 = int(data["widths"][0])
    for ax, key, label in ((axes[0], "loss", "training loss"), (axes[1], "error",
                                                                 "test error")):
        v = data[key][0]                               # (pairs, methods, points)
        for j, (m, c) in enumerate(zip(METHODS, colors)):
            for row in v[:, j]:
                ax.plot(t, row, color=c, lw=0.6, alpha=0.4)
            ax.plot(t, np.median(v[:, j], axis=0), color=c, lw=2, label=LABELS[m])
        ax.set(xlabel="lambda: (1 - lambda) A + lambda B", ylabel=label,
               title=f"{label} along the segment, width {w0}, {v.shape[0]} pairs")
    axes[0].legend(fontsize=7)

    s = statistics(data)
    ax = axes[2]
    widths = data["widths"]
    order = np.argsort(widths)
    for j, (m, c) in enumerate(zip(METHODS, colors)):
        b = s["barrier"][order, :, j]
        ax.plot(widths[order], np.median(b, axis=1), "o-", color=c, label=LABELS[m])
        for w, row in zip(widths[order], b):
            ax.plot(np.full(row.size, w), row, ".", color=c, alpha=0.5)
    ax.set(xscale="log", yscale="log", xlabel="hidden width", ylabel="training-loss barrier",
           title="barrier against width (medians, pairs as dots)")
    from matplotlib.ticker import NullLocator
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(widths[order])
    ax.set_xticklabels([str(int(w)) for w in widths[order]])
    ax.legend(fontsize=7)

    ax = axes[3]
    J = data["objective_history"]
    ax.plot(np.arange(J.size), J / J[-1], "o-", color=colors[0])
    ax.set(xlabel="sweep (0: identity)", ylabel="J / J at the end",
           title=f"weight-matching objective J = x_A . x_B' (pair 1)\nratio median "
                 f"{np.median(s['ratio_weight'][0]):.3f} (P1: <= "
                 f"{prediction['barrier_ratio_max']:g}), max |dlogit| "
                 f"{np.max(data['max_abs_logit']):.1e}")
    ax.title.set_fontsize(8)
    fig.suptitle("Weight matching (Ainsworth et al. 2023): digits MLPs 64-w-w-10", fontsize=10)
    plotting.save(fig, path)
