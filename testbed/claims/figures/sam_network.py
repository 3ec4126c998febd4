"""Figure of sam-network: per network, SGD against SAM (paired lines) for the final
sharpness, the training loss and the test accuracy; means with their Student-t
intervals."""
import numpy as np

from ..sam_network import paired


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = [("sharpness", "top Hessian eigenvalue (train loss)"),
              ("train_loss", "final training loss"),
              ("test_accuracy", "test accuracy (497 images)")]
    colors = plotting.palette(2)
    for ax, (key, label) in zip(axes, panels):
        a, b = data[f"sgd_{key}"], data[f"sam_{key}"]
        for y0, y1 in zip(a, b):
            ax.plot([0, 1], [y0, y1], color="grey", lw=0.8, alpha=0.6)
        for j, (vals, name) in enumerate(((a, "SGD"), (b, "SAM"))):
            ax.plot(np.full(vals.size, j), vals, "o", color=colors[j], ms=4)
            s = paired(vals)
            ax.errorbar(j + 0.12, s["mean"], yerr=s["t"] * s["se"], fmt="s",
                        color=colors[j], capsize=4, label=f"{name}: mean, 95% interval")
        ax.set(xticks=[0, 1], xticklabels=["SGD", "SAM"], xlim=(-0.4, 1.5), title=label)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"SGD vs SAM (rho = {params['rho']:g}), {params['seeds']} networks "
                 f"64-{params['width']}-10, {params['steps']} steps, eta = {params['eta']:g}, "
                 f"batch {params['batch']}; grey lines pair a network's two runs", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
