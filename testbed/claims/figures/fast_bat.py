"""Figure of fast-bat: one panel per (eps, lr) of the sweep, PGD robust test accuracy
(solid, mean over seeds, the band from the lowest to the highest seed) and FGSM
training accuracy (dashed, mean) against the epoch, one colour per arm, with each
arm's count of networks showing catastrophic overfitting; and a last panel of the
final PGD accuracy against eps."""
import numpy as np

from ..fast_bat import METHODS, co_events


def _arm(data, i) -> str:
    m = METHODS[data["method"][i]]
    if m == "fast_at":
        return f"FAST-AT alpha = {data['alpha'][i] / data['eps'][i]:g} eps"
    return {"fgsm": "FGSM from 0, alpha = eps", "fast_bat": "FAST-BAT",
            "pgd_at": "PGD-AT"}[m]


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    panels = sorted({(e, lr) for e, lr in zip(data["eps"].tolist(), data["lr"].tolist())})
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3.6 * (len(panels) + 1), 3.8),
                             squeeze=False)
    axes = axes[0]
    names = list(dict.fromkeys(_arm(data, i) for i in range(data["eps"].size)))
    colors = dict(zip(names, plt.get_cmap("tab10").colors))
    epochs = data["epochs"]
    co = co_events(data["pgd"], data["fgsm"])
    for ax, (eps, lr) in zip(axes, panels):
        for i in np.flatnonzero((data["eps"] == eps) & (data["lr"] == lr)):
            name, c = _arm(data, i), colors[_arm(data, i)]
            pgd = data["pgd"][:, i, :]
            ax.fill_between(epochs, np.nanmin(pgd, axis=1), np.nanmax(pgd, axis=1),
                            color=c, alpha=0.15, lw=0)
            ax.plot(epochs, np.nanmean(pgd, axis=1), color=c, lw=1.8,
                    label=f"{name} (CO {int(np.sum(co[i]))}/{co.shape[1]})")
            ax.plot(epochs, np.nanmean(data["fgsm"][:, i, :], axis=1), color=c, lw=1,
                    ls="--")
        ax.set(title=f"eps = {eps:g}, lr = {lr:g}", xlabel="epoch", ylabel="accuracy",
               ylim=(0, 1))
        ax.legend(fontsize=6, loc="upper left")
    ax = axes[-1]
    for lr, mark in zip(sorted(set(data["lr"].tolist())), "os^v"):
        for name in names:
            idx = [i for i in range(data["eps"].size)
                   if _arm(data, i) == name and data["lr"][i] == lr]
            idx.sort(key=lambda i: data["eps"][i])
            ax.plot(data["eps"][idx], [np.nanmean(data["pgd"][-1, i]) for i in idx],
                    marker=mark, color=colors[name], lw=1, label=f"{name}, lr = {lr:g}")
    ax.set(title="final PGD test accuracy", xlabel="eps", ylabel="accuracy", ylim=(0, 1))
    ax.legend(fontsize=5)
    fig.suptitle(f"Digits MLP, {params['seeds']} seeds: solid PGD-{params['pgd_steps']} x "
                 f"{params['restarts']} test accuracy (band: seeds' range), dashed FGSM "
                 f"train accuracy; CO = PGD collapses while FGSM rises", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
