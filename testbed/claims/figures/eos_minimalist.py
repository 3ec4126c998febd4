"""Figure of eos-minimalist: final sharpness and its gap below 2/eta against eta, the
bifurcation diagram, loss / sharpness / imbalance traces, the period of the late
oscillation, and the residual of the exact GD identity."""
import numpy as np

from ...kernel import DIVERGED
from ...theory import edge_of_stability as th
from ..eos_minimalist import GAP_CUBIC, GAP_ETA_MAX, IDENTITY_TOL, _final_table, _late_sets


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, ax = plt.subplots(3, 3, figsize=(15, 12))
    eta, kind = data["sweep_eta"], data["sweep_kind"]
    S, ok = _final_table(data)
    grid = np.geomspace(eta.min() * 0.9, eta.max() * 1.1, 200)
    # (a) eta S_final / 2 against eta
    a = ax[0, 0]
    for k, lab, mk in ((0, "edge starts (S_GF > 2/eta)", "o"), (1, "controls (S_GF = 0.8 x 2/eta)", "s")):
        m = ok & (kind == k)
        a.plot(eta[m], eta[m] * S[m] / 2, mk, ms=4, alpha=0.6, label=lab)
    a.plot(grid, np.ones_like(grid), "k:", label="2/eta")
    a.plot(grid, grid * th.final_sharpness(grid) / 2, "r--", lw=1,
           label="predicted 2/eta - eta/2")
    a.set(xscale="log", xlabel="eta", ylabel="eta * S_final / 2",
          title="final sharpness (units of 2/eta)")
    a.legend(fontsize=7)
    # (b) gap against eta
    b = ax[0, 1]
    m = ok & (kind == 0)
    b.loglog(eta[m], 2 / eta[m] - S[m], "o", ms=4, label="measured 2/eta - S_final")
    b.loglog(grid, grid / 2, "r--", lw=1, label="predicted eta/2")
    lo = np.clip(grid / 2 - GAP_CUBIC * grid ** 3, 1e-6, None)
    gm = grid <= GAP_ETA_MAX
    b.fill_between(grid[gm], lo[gm], (grid / 2 + GAP_CUBIC * grid ** 3)[gm], color="r",
                   alpha=0.12, label=f"tolerance +-{GAP_CUBIC:g} eta^3")
    b.set(xlabel="eta", ylabel="2/eta - S_final", title="the gap below 2/eta")
    b.legend(fontsize=7)
    # (c) bifurcation diagram across eta
    c = ax[0, 2]
    be, late, st = data["bif_eta"], data["bif_late"], data["bif_status"]
    pl = np.abs(late[:, 0, :] * late[:, 1, :])
    alive = st != DIVERGED
    c.plot(np.repeat(be[alive][None, :], pl.shape[0], 0).ravel(), pl[:, alive].ravel(),
           ".", color="C0", ms=1.5, alpha=0.5)
    pe, pp = prediction["bif_eta"], prediction["bif_points"]
    for k in range(pp.shape[1]):
        c.plot(pe, pp[:, k], "_", color="r", ms=5, alpha=0.7)
    c.plot([], [], "_", color="r", label="attracting cycle of the balanced map g")
    c.plot([], [], ".", color="C0", label="GD late iterates |x y|")
    dv = np.unique(be[~alive])
    c.plot(dv, np.full(dv.size, 0.02), "x", color="k", ms=4, label="diverged (some start)")
    for f in prediction["flip_points"]:
        c.axvline(f, color="grey", ls=":", lw=0.8)
    c.set(xlabel="eta", ylabel="late |x y|", title="bifurcation diagram", ylim=(0, 1.5))
    c.legend(fontsize=7, loc="lower left")
    # traces
    xy = data["trace_xy"]
    x, y = xy[:, 0, :], xy[:, 1, :]
    teta = data["trace_eta"]
    t = np.arange(xy.shape[0])
    cols = plotting.palette(len(teta))
    labels = [f"eta={e:g}, S_GF={f:g} x 2/eta, x0y0={p:g}" for e, f, p in
              zip(teta, data["trace_fac"], data["trace_p0"])]
    for j in range(len(teta)):
        plotting.band(ax[1, 0], t, np.maximum(th.loss(x[:, j], y[:, j]), 1e-30), cols[j],
                      alpha=0.6)
        ax[1, 0].plot([], [], color=cols[j], label=labels[j])
        plotting.band(ax[1, 1], t, teta[j] * th.sharpness(x[:, j], y[:, j]) / 2, cols[j])
        ax[1, 1].plot(t, teta[j] * th.sharpness_gf(x[:, j] ** 2 - y[:, j] ** 2) / 2,
                      color=cols[j], lw=1.5, ls="--")
        ax[1, 2].plot(t, (x[:, j] ** 2 - y[:, j] ** 2) * teta[j], color=cols[j], lw=1.2)
    ax[1, 0].set(xlabel="step", ylabel="loss", title="loss (non-monotone at the edge)",
                 ylim=(1e-26, 1), yscale="log")
    ax[1, 0].legend(fontsize=6)
    ax[1, 1].axhline(1.0, color="k", ls=":", label="2/eta")
    ax[1, 1].set(xlabel="step", ylabel="eta S / 2", ylim=(0, 3),
                 title="sharpness S(theta_t) (band: its oscillation), S_GF(q_t) (dashed)")
    ax[1, 1].legend(fontsize=7)
    ax[1, 2].axhline(np.sqrt(1 - 4 * teta[1] ** 2), color="k", ls=":",
                     label="eta-EoS minimum: eta q* = sqrt(1 - 4 eta^2)")
    ax[1, 2].set(xlabel="step", ylabel="eta (x^2 - y^2)",
                 title="imbalance (shrinks only while the loss oscillates)")
    ax[1, 2].legend(fontsize=7)
    # (g) bifurcation in time (fac = 2 start)
    j = 2
    g = ax[2, 0]
    g.plot(t, x[:, j] * y[:, j], ".", color="C3", ms=1, alpha=0.6)
    g.set(xlabel="step", ylabel="x y", title=f"x y along one run ({labels[j]})")
    # (h) period against eta
    h = ax[2, 1]
    per = np.array([len(s) if s is not None else 0 for s in _late_sets(late)])
    per = np.where(st == DIVERGED, -1, per)
    h.plot(be, np.where(per > 0, per, np.nan), "o", ms=3, label="GD: distinct late |x y|")
    h.plot(pe, np.where(prediction["bif_period"] > 0, prediction["bif_period"], np.nan), "r.",
           ms=3, label="predicted period (g)")
    h.set(yscale="log", xlabel="eta", ylabel="period", title="period of the late oscillation")
    h.legend(fontsize=7)
    # (i) identity residual
    i_ = ax[2, 2]
    pred = th.gd_identity(x[:-1], y[:-1], teta[None, :])
    err = np.abs(x[1:] ** 2 - y[1:] ** 2 - pred) / (x[1:] ** 2 + y[1:] ** 2)
    for j in range(len(teta)):
        plotting.band(i_, t[1:], np.maximum(err[:, j], 1e-18), cols[j], alpha=0.5)
    i_.set_yscale("log")
    i_.axhline(IDENTITY_TOL, color="k", ls=":", label="tolerance")
    i_.set(xlabel="step", ylabel="relative residual", ylim=(1e-18, 1e-10),
           title="q' = q (1 - eta^2 u^2 p^2): residual per step")
    i_.legend(fontsize=7)
    from matplotlib.ticker import NullFormatter
    for a_ in fig.axes:
        if a_.get_xscale() == "log":
            a_.xaxis.set_minor_formatter(NullFormatter())
    plotting.save(fig, path)
