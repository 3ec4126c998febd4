"""Figure of narrow-networks: final training loss against width for projected GD,
projected SGD and SGD at equal budget (each network a point, medians joined), 2n/d
marked; and per width the 95% interval of the mean paired log10(L_method / L_SGD)."""
import numpy as np

from ..narrow_networks import METHODS, best
from ..sam_network import paired

LABELS = {"pgd": "projected GD (full batch)", "psgd": "projected SGD",
          "sgd": "SGD"}


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    widths = [int(w) for w in data["widths"]]
    colors = plotting.palette(len(METHODS))
    for j, (meth, col) in enumerate(zip(METHODS, colors)):
        med = []
        for m in widths:
            vals = best(data[f"{meth}_loss_m{m}"])
            a.plot(np.full(vals.size, m + (j - 1) * 0.6), vals, "o", color=col, ms=3,
                   alpha=0.6)
            med.append(np.median(vals))
        a.plot(widths, med, "-", color=col, label=LABELS[meth])
    m2 = prediction["critical_width"]
    for ax in (a, b):
        ax.axvline(m2, color="grey", ls=":", lw=1)
    a.set(yscale="log", xlabel="width m", ylabel="final training loss",
          title=f"equal budget ({params['epochs']} epochs); dotted: 2n/d = {m2}")
    a.legend(fontsize=7)
    for j, meth in enumerate(("pgd", "psgd")):
        for m in widths:
            with np.errstate(divide="ignore", invalid="ignore"):
                s = paired(np.log10(best(data[f"{meth}_loss_m{m}"]))
                           - np.log10(best(data[f"sgd_loss_m{m}"])))
            b.errorbar(m + (j - 0.5) * 0.8, s["mean"], yerr=s["t"] * s["se"], fmt="s",
                       color=colors[j], capsize=4,
                       label=f"{LABELS[meth]} / SGD" if m == widths[0] else None)
    b.axhline(0.0, color="k", lw=0.8)
    b.set(xlabel="width m", ylabel="log10(L_method / L_SGD)",
          title="paired mean, 95% Student-t interval (< 0: method better)")
    b.legend(fontsize=7)
    fig.suptitle(f"softplus net d = {params['dim']}, n = {params['n']} random labels, "
                 f"{params['seeds']} networks; constraint set reconstructed [R]", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
