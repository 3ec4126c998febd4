"""Figure of quadratic-stability: losses against the predicted (1 - eta lam)^t decay,
and the measured contraction factor per step against eta / (2 / lam_max)."""
import numpy as np

from ..quadratic_stability import TINY


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    eta, lam, loss = data["eta"], data["lam"], data["loss"]
    t = np.arange(loss.shape[0])
    picks = [0, len(eta) // 3, len(eta) - 4, len(eta) - 3, len(eta) - 2]
    colors = plotting.palette(len(picks))
    for c, k in zip(colors, picks):
        pred = 0.5 * np.sum(lam[None, :] * prediction["factor"][k][None, :] ** (2 * t[:, None]),
                            axis=1)
        a.semilogy(t, loss[:, k], color=c, lw=2, alpha=0.6,
                   label=f"eta = {eta[k] / prediction['eta_crit']:.3f} x 2/lam_max")
        a.semilogy(t, pred, color="k", lw=0.8, ls="--")
    a.set(xlabel="step t", ylabel="loss", title="GD on a quadratic: measured (colour), "
          "predicted (dashed)")
    a.legend(fontsize=7)
    n = len(eta) - 1                                 # the far replica is off the chart
    x = np.abs(data["x"][:, :, :n])                    # (T+1, d, n)
    ok = x > TINY
    t_end = np.maximum(ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0), 1)   # last usable step
    x_end = np.take_along_axis(x, t_end[None], axis=0)[0]
    measured = np.max(x_end ** (1.0 / t_end), axis=0)
    rel = eta / prediction["eta_crit"]
    grid = np.linspace(0.0, rel[n - 1] * 1.02, 400)
    factor = np.abs(1.0 - grid[:, None] * prediction["eta_crit"] * lam[None, :])
    b.plot(grid, factor.max(axis=1), "k--", lw=1, label="predicted max_i |1 - eta lam_i|")
    b.plot(rel[:n], measured, "o", ms=3, label="measured per-step factor")
    b.axvline(1.0, color="k", ls=":", label="eta = 2 / lam_max")
    b.axhline(1.0, color="grey", lw=0.5)
    b.set(xlabel="eta / (2 / lam_max)", ylabel="contraction factor per step",
          title="converges iff eta < 2 / lam_max")
    b.legend(fontsize=7)
    plotting.save(fig, path)
