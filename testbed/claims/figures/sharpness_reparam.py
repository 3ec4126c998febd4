"""Figure of sharpness-reparam: lambda_max and the trace against alpha (log-log) with
the predicted trace law and interlacing bound, the loss flat across alpha; and the
law's residual per alpha against its tolerance, next to a wrong law's."""
import numpy as np

from ..sharpness_reparam import LAW_TOL, OUT_TOL, _blocks2, _law_error, _sharpness


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    alphas = data["alphas"]
    order = np.argsort(alphas)
    al = alphas[order]
    H = data["two_H"]
    first, _, _ = _blocks2(params["widths"])
    lam, lam22, (tr11, tr22, trb) = _sharpness(data, params)
    lam = lam[order]
    tr = np.array([np.trace(Ha) for Ha in data["two_H_scaled"]])[order]
    grid = np.logspace(np.log10(al.min()), np.log10(al.max()), 200)
    c = plotting.palette(3)
    a.loglog(al, lam, "o", color=c[0], label="lambda_max (measured)")
    a.loglog(al, tr, "s", color=c[1], ms=4, label="trace (measured)")
    a.loglog(grid, tr11 / grid**2 + grid**2 * tr22 + trb, "--", color=c[1], lw=1,
             label="trace law tr H11/a^2 + a^2 tr H22 + tr Hb")
    a.loglog(grid, grid**2 * lam22, ":", color="k", lw=1, label="bound a^2 lambda_max(H22)")
    ax2 = a.twinx()
    ax2.plot(al, data["two_loss"][order], "-", color="grey", lw=1)
    ax2.set_ylabel("loss (identical for every alpha)", color="grey")
    ax2.set_ylim(0, 2 * float(data["two_loss"].max()))
    a.set(xlabel="alpha", ylabel="curvature", title="ReLU 5-8-3: same function, any sharpness")
    a.legend(fontsize=7, loc="lower left", framealpha=0.9)
    law = _law_error(H, data["two_H_scaled"], prediction["D_two"])[order]
    b.semilogy(al, np.maximum(law, 1e-18), "o", color=c[0], label="|H(T theta) - D H D| / |DHD|")
    b.semilogy(al, np.maximum(data["two_out_diff"][order], 1e-18), "^", color=c[2],
               label="max |f(T theta) - f(theta)|")
    wrong = []
    for Ha, dvec, a_ in zip(data["two_H_scaled"][order], prediction["D_two"][order], al):
        dv = dvec.copy()
        dv[first] = a_                        # forgetting the inverse on the first layer
        pred = dv[:, None] * H * dv[None, :]
        wrong.append(np.abs(Ha - pred).max() / np.abs(pred).max())
    b.semilogy(al, np.maximum(wrong, 1e-18), "x", color="k", label="wrong law (alpha on W1)")
    b.axhline(LAW_TOL, color=c[0], ls="--", lw=0.8, label=f"tolerance {LAW_TOL:g}")
    b.axhline(OUT_TOL, color=c[2], ls=":", lw=0.8)
    b.set_xscale("log")
    b.set(xlabel="alpha", ylabel="error (1e-18 = exactly 0)", title="exact law vs residual")
    b.legend(fontsize=7)
    plotting.save(fig, path)
