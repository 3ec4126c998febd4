"""Figure of sam-quadratic: the top coordinate settling into the 2-cycle, the cycle
amplitude against eta lam_1 with its law, SAM's edge lam_SAM(|g_t|) along the runs
against lam_1 and 2/eta, and the threshold sweeps of SAM and unnormalised SAM."""
import numpy as np


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, ax = plt.subplots(2, 2, figsize=(11, 8.5))
    lam = data["cycle_lam"]
    lam1 = float(np.max(lam))
    etas = data["cycle_eta"]
    rho = params["cycle_rho"]
    amp = prediction["amplitude_law"]
    cols = plotting.palette(len(etas))
    # (a) w_1(t) early on, with +-A
    a = ax[0, 0]
    n = min(60, data["cycle_w1"].shape[0])
    t = np.arange(n)
    for c, k in zip(cols, range(len(etas))):
        A = amp(lam1, etas[k], rho)
        a.plot(t, data["cycle_w1"][:n, k], ".-", color=c, ms=3, lw=0.7,
               label=f"eta lam_1 = {etas[k] * lam1:.2f}")
        a.axhline(A, color=c, ls="--", lw=0.8)
        a.axhline(-A, color=c, ls="--", lw=0.8)
    a.set(xlabel="step t", ylabel="w_1 (top eigenvector)",
          title=f"SAM on a d = {data['cycle_lam'].size} quadratic: 2-cycle +-A (dashed)")
    a.legend(fontsize=7)
    # (b) amplitude against eta lam_1
    b = ax[0, 1]
    grid = np.linspace(0.02, 1.995, 400)
    lam1_s = float(np.max(data["sweep_lam"]))
    for r, mk in zip(params["sweep_rhos"], ("o", "s")):
        m = (data["sam_rho"] == r) & (data["sam_eta"] * lam1_s < 2)
        b.plot(data["sam_eta"][m] * lam1_s, np.abs(data["sam_x"][m, 0]), mk, ms=4, mfc="none",
               label=f"sweep, rho = {r:g}")
        b.plot(grid, amp(1.0, grid, r), "k-", lw=0.8)
    b.plot(etas * lam1, np.abs(data["cycle_w1"][-1]), "^", ms=6,
           label=f"d = {lam.size} runs, rho = {rho:g}")
    one = data["one_d"]
    b.plot(one[:, 0] * one[:, 1], np.abs(data["one_w"][-1]) / one[:, 2] * rho, "v", ms=6,
           label=f"1-D runs, |w| x {rho:g} / rho")
    b.plot(grid, amp(1.0, grid, rho), "k--", lw=0.8, label="eta lam_1 rho / (2 - eta lam_1)")
    b.axvline(2.0, color="grey", ls=":")
    b.set(yscale="log", xlabel="eta lam_1", ylabel="|w_1| on the cycle",
          title="cycle amplitude: blows up at eta lam_1 = 2")
    b.legend(fontsize=7)
    # (c) SAM's edge along the d-dimensional runs
    c = ax[1, 0]
    g = data["cycle_gnorm"]
    t = np.arange(g.shape[0])
    for col, k in zip(cols, range(len(etas))):
        with np.errstate(divide="ignore", invalid="ignore"):
            edge = prediction["sam_edge"](g[:, k], etas[k], rho)
        c.plot(t[1:], edge[1:], color=col, lw=1.2,
               label=f"lam_SAM(|g_t|), eta = {etas[k]:g} (2/eta = {2 / etas[k]:.1f})")
    c.axhline(lam1, color="k", ls="--", lw=1, label="lam_1 (sharpness)")
    c.set(xscale="log", yscale="log", xlabel="step t", ylabel="curvature",
          title="SAM-edge lam_SAM(|g_t|) reaches lam_1 exactly on the cycle")
    c.legend(fontsize=7)
    # (d) the sweeps: measured per-step factor against the predicted one
    d = ax[1, 1]
    T = int(data["sweep_steps"])
    lam = data["sweep_lam"]
    stride = int(data["sweep_stride"])
    for r, col in zip(params["sweep_rhos"], ("C0", "C3")):
        rule = "sam_unnormalized"
        m = (data[f"{rule}_rho"] == r) & ~np.isclose(data[f"{rule}_rel"], params["far"])
        loss = data[f"{rule}_loss"][:, m]
        factor = []
        for j in range(loss.shape[1]):          # last observation far from under/overflow
            ok = np.flatnonzero((loss[1:, j] > 1e-250) & (loss[1:, j] < 1e250)) + 1
            k = ok[-1] if ok.size else 1
            factor.append((loss[k, j] / loss[0, j]) ** (0.5 / (k * stride)))
        rel, eta = data[f"{rule}_rel"][m], data[f"{rule}_eta"][m]
        d.plot(rel, factor, "o", ms=4, color=col, label=f"unnormalised SAM, rho = {r:g}")
        top = np.abs(1 - eta[:, None] * lam[None, :] * (1 + r * lam[None, :])).max(axis=1)
        d.plot(rel, top, "-", color=col, lw=0.8)
        far = np.isclose(data["sam_rel"], params["far"])
        m = (data["sam_rho"] == r) & (data["sam_rel"] > 1) & ~far
        d.plot(data["sam_rel"][m], np.abs(data["sam_x"][m, 0]) ** (1 / T), "s", ms=6, mfc="none",
               color=col, label=f"SAM above 2/lam_1: |w_1(T)|^(1/T), rho = {r:g}")
        d.plot(data["sam_rel"][m], data["sam_eta"][m] * lam.max() - 1, "k_", ms=12)
    d.plot([], [], "k-", lw=0.8, label="predicted max_i |1 - eta lam_i (1 + rho lam_i)|")
    d.plot([], [], "k_", ms=12, label="lower bound eta lam_1 - 1 (SAM)")
    d.axvline(1.0, color="k", ls=":", label="predicted threshold")
    d.axhline(1.0, color="grey", lw=0.5)
    d.set(xlabel="eta / threshold (2/(lam_1 (1 + rho lam_1)) resp. 2/lam_1)",
          ylabel="factor per step", title="stability thresholds: converge below, grow above")
    d.legend(fontsize=6)
    plotting.save(fig, path)
