"""Figure of score-loss-design: recovery error against n for the three losses (every
replica and the medians), and the moment tensor's error against n with the fitted
slope and the n^(-1/2) rate."""
import numpy as np

from ..score_loss_design import slope


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    ns = data["ns"]
    labels = {"score": "designed loss, mixture score", "gauss": "designed loss, Gaussian score",
              "squared": "squared loss (projected GD)"}
    for (key, label), col, shift in zip(labels.items(), plotting.palette(3), (0.94, 1.0, 1.06)):
        e = np.maximum(data[f"{key}_error"], 1e-12)
        a.loglog(np.repeat(ns * shift, e.shape[1]), e.ravel(), ".", color=col, alpha=0.5, ms=4)
        a.loglog(ns, np.nanmedian(e, axis=1), "o-", color=col, label=f"{label}: median")
    a.axhline(prediction["recovery"], color="k", ls=":", lw=1, label="recovery threshold")
    a.set(xlabel="n (samples)", ylabel="parameter error (authors' weight_loss)",
          title=f"teacher sum ReLU(x_m), d = {params['d']}, "
                f"inputs 1/2 N(+-{params['beta']:g} 1, I)")
    a.legend(fontsize=7)
    err = data["tensor_error"] / float(data["tensor_norm"])
    b.loglog(np.repeat(ns, err.shape[1]), err.ravel(), ".", alpha=0.6, label="data sets")
    s, se = slope(ns, data["tensor_error"])
    ref = np.median(err[0]) * (ns / ns[0]) ** -0.5
    b.loglog(ns, ref, "k--", lw=1, label="n^(-1/2)")
    b.set(xlabel="n (samples)", ylabel="||T_n - T||_F / ||T||_F",
          title=f"moment tensor vs Stein's identity: slope {s:.2f} +- {se:.2f}")
    b.legend(fontsize=7)
    plotting.save(fig, path)
