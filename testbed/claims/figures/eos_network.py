"""Figure of eos-network: train loss, sharpness against 2/eta, and eta S / 2 with the
band and the last quarter over which it is checked."""
import numpy as np

from ...kernel import DIVERGED
from ..eos_network import BAND, LAST


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.6))
    steps, S, loss = data["steps"], data["sharpness"], data["loss"]
    n_eta = len(params["etas"])
    cols = plotting.palette(n_eta)
    for r in range(n_eta):
        if data["status"][r] == DIVERGED:
            continue
        eta, c = data["etas"][r], cols[r]
        ax[0].plot(steps, loss[:, r], color=c, lw=1.2, label=f"eta = {eta:g}")
        ax[1].plot(steps, S[:, r], color=c, lw=1.2)
        ax[1].axhline(prediction["threshold"][r], color=c, ls=":", lw=1.2)
        ax[2].plot(steps, eta * S[:, r] / 2, color=c, lw=1.0, label=f"eta = {eta:g}")
    div = [(data["etas"][r], data["stop_step"][r]) for r in range(data["etas"].size)
           if data["status"][r] == DIVERGED]
    ax[0].set(yscale="log", xlabel="step", ylabel="train loss",
              title="train loss" + (" (diverged: " + ", ".join(
                  f"eta={e:g} at step {s}" for e, s in div) + ")" if div else ""))
    ax[0].legend(fontsize=8)
    ax[1].set(xlabel="step", ylabel="sharpness (top Hessian eigenvalue)",
              title="sharpness; dotted: 2/eta", ylim=(0, 1.25 * np.nanmax(
                  prediction["threshold"][:n_eta])))
    T = steps[-1]
    ax[2].axhspan(*BAND, color="grey", alpha=0.15, label=f"[{BAND[0]:g}, {BAND[1]:g}]")
    ax[2].axvspan((1 - LAST) * T, T, color="C1", alpha=0.08, label="last quarter")
    ax[2].axhline(1.0, color="k", ls=":")
    ax[2].set(xlabel="step", ylabel="eta S / 2", ylim=(0, 1.5),
              title=f"sharpness in units of 2/eta ({'-'.join(map(str, params['widths']))} tanh, "
                    f"n = {params['n']}, d = {int(data['d'])})")
    ax[2].legend(fontsize=8)
    plotting.save(fig, path)
