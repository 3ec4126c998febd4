"""Figure of sgd-escapes-faster: mean escape step and P(T < T_GD) against the noise
level, escape-step histograms against the exact laws, and the mini-batch runs."""
import numpy as np


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    sig = np.asarray(params["sigmas"], dtype=float)
    T, group, t_gd = data["noisy_T"], data["noisy_group"], prediction["t_gd"]
    n = np.array([np.sum(group == g) for g in range(sig.size)])
    means = np.array([np.mean(T[(group == g) & (T >= 0)]) for g in range(sig.size)])
    sds = np.array([np.std(T[(group == g) & (T >= 0)]) for g in range(sig.size)])
    Tm = data["mb_T"]
    a = ax[0, 0]
    a.semilogx(prediction["curve_sigma"], prediction["curve_mean"], "k-", lw=1,
               label="noisy GD, exact law")
    a.errorbar(sig, means, yerr=2 * sds / np.sqrt(n), fmt="o", ms=4, color="C0",
               label="noisy GD, measured (±2 s.e.)")
    a.axhline(t_gd, color="C3", ls="--", label=f"full-batch GD: T = {t_gd}")
    a.axvline(prediction["sigma_c"], color="grey", ls=":",
              label="sigma_c = h(delta) sqrt(mu^2-1)")
    a.plot([params["mb_sigma"]], [np.mean(Tm[Tm >= 0])], "D", color="C2", ms=6,
           label="mini-batch SGD (sd of noise)")
    a.set(xlabel="noise sigma per step", ylabel="mean escape step",
          title=f"escape from delta = {params['delta']:g} off the stable manifold")
    a.legend(fontsize=7, loc="lower left")

    b = ax[0, 1]
    frac = np.array([np.mean((T[group == g] >= 0) & (T[group == g] < t_gd))
                     for g in range(sig.size)])
    b.semilogx(prediction["curve_sigma"], prediction["curve_p_before_gd"], "k-", lw=1,
               label="exact law")
    b.errorbar(sig, frac, yerr=2 * np.sqrt(np.maximum(frac * (1 - frac), 1e-12) / n),
               fmt="o", ms=4, color="C0", label="noisy GD, measured (±2 s.e.)")
    b.plot([params["mb_sigma"]], [np.mean((Tm >= 0) & (Tm < t_gd))], "D", color="C2",
           ms=6, label="mini-batch SGD")
    b.axhline(0.5, color="grey", lw=0.6)
    b.axvline(prediction["sigma_half"], color="grey", ls=":",
              label=f"P = 1/2 at sigma = {prediction['sigma_half']:.2g}")
    b.set(xlabel="noise sigma per step", ylabel="P(T < T_GD)",
          title="noise escapes before full-batch GD")
    b.legend(fontsize=7)

    c = ax[1, 0]
    picks = [g for g, v in enumerate(sig) if v in (3e-9, 1e-8, 1e-6, 1e-3)] or [0]
    colors = plotting.palette(len(picks))
    for col, g in zip(colors, picks):
        Tg = T[(group == g) & (T >= 0)]
        edges = np.arange(Tg.min() - 0.5, Tg.max() + 1.5)
        c.hist(Tg, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=col,
               label=f"sigma = {sig[g]:g}")
        tt = np.arange(prediction["pmf"].shape[1])
        keep = prediction["pmf"][g] > 1e-4
        c.plot(tt[keep], prediction["pmf"][g][keep], "-", lw=0.8, color="k")
    c.axvline(t_gd, color="C3", ls="--", label="full-batch GD")
    c.set(xlabel="escape step T", ylabel="probability",
          title="escape-step histograms; black: exact law")
    c.legend(fontsize=7)

    e = ax[1, 1]
    edges = np.arange(Tm[Tm >= 0].min() - 0.5, Tm.max() + 1.5)
    e.hist(Tm[Tm >= 0], bins=edges, density=True, histtype="stepfilled", alpha=0.4,
           color="C2", label=f"mini-batch SGD (n = {params['mb_n']}, b = {params['mb_batch']})")
    tt = np.arange(prediction["mb_pmf"].size)
    keep = prediction["mb_pmf"] > 1e-4
    e.plot(tt[keep], prediction["mb_pmf"][keep], "k-", lw=1, label="exact mini-batch law")
    e.plot(tt[keep], prediction["mb_gauss_pmf"][keep], "C1--", lw=1,
           label="Gaussian law, same variance")
    e.axvline(t_gd, color="C3", ls="--", label="full-batch GD")
    e.set(xlabel="escape step T", ylabel="probability",
          title="finite-sum SGD: skewed batch noise, exact law")
    e.legend(fontsize=7)
    plotting.save(fig, path)
