"""Figure of self-stabilization: on the toy, GD against the constrained trajectory
(sharpness of the projected point, sharpness at the iterate, loss), the cubic-Taylor
drop per step, tracking error and summed ratio against eta; on the network, loss,
sharpness and distances of GD to PGD and to gradient flow."""
import numpy as np

from ...theory import edge_of_stability as th
from ..self_stabilization import (DIVERGENT_FAC, GF_REFINE, NET_TRACK_TOL, RATIO_TOL,
                                  TRACK_FAC_MAX, TRACK_TOL, WINDOW, _network_distances,
                                  _per_eta)


def _network_panels(ax, data, prediction, net):
    eta, stride = net["eta"], net["stride"]
    t = np.arange(data["net_gd_loss"].size) * stride
    ax[0].semilogy(t, data["net_gd_loss"], color="C0", lw=1.2, label="GD")
    ax[0].semilogy(t, prediction["net_pgd_loss"], color="C3", lw=1.2, ls="--",
                   label="PGD on {S <= 2/eta} (constrained)")
    ax[0].semilogy(t, data["net_gf_loss"], color="grey", lw=1.0, ls=":",
                   label=f"gradient flow (GD, eta/{GF_REFINE})")
    ax[0].set(xlabel="step", ylabel="train loss",
              title=f"digits MLP {'-'.join(map(str, net['widths']))} tanh, eta = {eta:g}")
    ax[0].legend(fontsize=7)
    ax[1].plot(t, eta * data["net_gd_S"] / 2, color="C0", lw=1.2, label="GD")
    ax[1].plot(t, eta * prediction["net_pgd_sharpness"] / 2, color="C3", lw=1.2, ls="--",
               label="PGD")
    ax[1].axhline(1.0, color="k", ls=":")
    ax[1].set(xlabel="step", ylabel="eta S / 2", ylim=(0, 1.5), title="sharpness")
    ax[1].legend(fontsize=7)
    d_pgd, d_gf = _network_distances(data, prediction)
    ax[2].plot(t, d_pgd, color="C3", lw=1.2, label="|GD - PGD| / |GD - x0|")
    ax[2].plot(t, d_gf, color="grey", lw=1.2, ls=":", label="|GD - gradient flow| / |GD - x0|")
    ax[2].axhline(NET_TRACK_TOL, color="r", ls=":", lw=0.8, label="criterion")
    ax[2].set(xlabel="step", ylabel="relative distance", ylim=(0, None),
              title="GD follows the constrained trajectory, not the flow")
    ax[2].legend(fontsize=7)


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    net = params.get("network")
    fig, ax = plt.subplots(3 if net else 2, 3, figsize=(15, 13 if net else 8.5))
    etas = data["etas"]
    i = int(np.argmin(np.abs(etas - 0.1)))
    eta = float(etas[i])
    fac = data[f"fac_{i}"]
    keep = fac < DIVERGENT_FAC
    gd, pgd = data[f"gd_xy_{i}"][:, :, keep], prediction[f"pgd_xy_{i}"]
    t = np.arange(gd.shape[0])
    cols = plotting.palette(int(keep.sum()))
    labels = [f"S_GF = {f:g} x 2/eta, x0y0 = {p:g}" for f, p in
              zip(fac[keep], data[f"p0_{i}"][keep])]
    for j in range(gd.shape[2]):
        qg = gd[:, 0, j] ** 2 - gd[:, 1, j] ** 2
        qp = pgd[:, 0, j] ** 2 - pgd[:, 1, j] ** 2
        ax[0, 0].plot(t, eta * th.sharpness_gf(qg) / 2, color=cols[j], lw=1.5, label=labels[j])
        ax[0, 0].plot(t, eta * th.sharpness_gf(qp) / 2, color=cols[j], lw=1, ls="--")
        plotting.band(ax[0, 1], t, eta * th.sharpness(gd[:, 0, j], gd[:, 1, j]) / 2, cols[j],
                      alpha=0.3)
        ax[0, 1].plot(t, eta * th.sharpness(pgd[:, 0, j], pgd[:, 1, j]) / 2, color=cols[j],
                      lw=1.2, ls="--")
        plotting.band(ax[0, 2], t, np.maximum(th.loss(gd[:, 0, j], gd[:, 1, j]), 1e-30),
                      cols[j], alpha=0.4)
        ax[0, 2].semilogy(t, np.maximum(th.loss(pgd[:, 0, j], pgd[:, 1, j]), 1e-30),
                          color=cols[j], lw=1.2, ls="--")
    ax[0, 0].axhline(1, color="k", ls=":")
    ax[0, 0].set_xscale("symlog", linthresh=10)
    ax[0, 0].set(xlabel="step", ylabel="eta S_GF(q_t) / 2", xlim=(0, t[-1]),
                 title=f"eta = {eta:g}: GD (solid) vs constrained PGD (dashed)")
    ax[0, 0].legend(fontsize=6)
    ax[0, 1].axhline(1, color="k", ls=":")
    ax[0, 1].set(xlabel="step", ylabel="eta S(theta_t) / 2", ylim=(0, 3),
                 title="sharpness at the iterate: GD (band), PGD (dashed)")
    ax[0, 2].set(xlabel="step", ylabel="loss", ylim=(1e-26, 1), yscale="log",
                 title="loss: GD (band: its oscillation), PGD (dashed)")
    # mechanism scatter at this eta
    m = ax[1, 0]
    for j in range(gd.shape[2]):
        x, y = gd[:-1, 0, j], gd[:-1, 1, j]
        Sg = th.sharpness_gf(gd[:, 0, j] ** 2 - gd[:, 1, j] ** 2)
        win = np.abs(eta * Sg[:-1] / 2 - 1) <= WINDOW
        pr = -th.predicted_sharpness_drop(x, y, eta)
        ds = -(Sg[1:] - Sg[:-1])
        k = np.flatnonzero(win)
        k = k[:: max(1, k.size // 300)]
        m.loglog(pr[k], ds[k], ".", ms=2, color=cols[j], alpha=0.6)
    lim = np.array([1e-12, 1e-1])
    m.loglog(lim, lim, "k--", lw=1, label="predicted: drop = (eta/2) beta x^2")
    m.set(xlabel="(eta/2) beta x_t^2", ylabel="S_GF(q_t) - S_GF(q_t+1)",
          title="self-stabilisation per step (edge window)")
    m.legend(fontsize=7)
    # tracking and ratio against eta
    rows = [_per_eta(data, prediction, k) for k in range(len(etas))]
    facs = np.unique(np.concatenate([r["fac"] for r in rows]))
    fcol = plotting.palette(len(facs))
    for f, c in zip(facs, fcol):
        e = np.concatenate([np.full((r["fac"] == f).sum(), r["eta"]) for r in rows])
        tr = np.concatenate([r["track"][r["fac"] == f] for r in rows])
        ra = np.concatenate([r["ratio"][r["fac"] == f] for r in rows])
        ax[1, 1].plot(e, tr, "o", color=c, ms=4, label=f"fac = {f:g}")
        ax[1, 2].plot(e, ra, "o", color=c, ms=4, label=f"fac = {f:g}")
    ax[1, 1].axhline(TRACK_TOL, color="r", ls=":", label=f"criterion (fac <= {TRACK_FAC_MAX})")
    ax[1, 1].axhline(1.0, color="grey", ls="--", label="gradient flow (no self-stabilisation)")
    ax[1, 1].set(xscale="log", xlabel="eta", ylabel="max |S_GF(GD) - S_GF(PGD)| / drop",
                 title="tracking error of GD against the constrained trajectory")
    ax[1, 1].legend(fontsize=7)
    ax[1, 2].axhspan(1 - RATIO_TOL, 1 + RATIO_TOL, color="r", alpha=0.1, label="tolerance")
    ax[1, 2].set(xscale="log", xlabel="eta", ylabel="measured / predicted drop",
                 title="cubic-Taylor law, summed over the edge window")
    ax[1, 2].legend(fontsize=7)
    if net:
        _network_panels(ax[2], data, prediction, net)
    from matplotlib.ticker import NullFormatter
    for a_ in fig.axes:
        if a_.get_xscale() == "log":
            a_.xaxis.set_minor_formatter(NullFormatter())
    plotting.save(fig, path)
