"""Figure of invariant-measure: the paper's toy (loss and gradient norm with their
running averages, eta below and above 2/L), W1(t, 2t) over the sampling floor
against t for the ensemble, and the ensemble at the last step."""
import numpy as np

from ..invariant_measure import WINDOW, distances


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    a, b, c, d = axes
    colors = plotting.palette(2)
    t = np.arange(data["toy_large_loss"].shape[0])
    for tag, col in zip(("small", "large"), colors):
        eta = params[f"eta_{tag}"]
        loss, grad = data[f"toy_{tag}_loss"][:, 0], data[f"toy_{tag}_grad"][:, 0]
        a.plot(t, loss, color=col, lw=0.3, alpha=0.5)
        a.plot(t, np.cumsum(loss) / (t + 1), color=col, lw=2,
               label=f"eta = {eta:g}: f (thin), running average (thick)")
        b.semilogy(t, np.maximum(grad, 1e-16), color=col, lw=0.3, alpha=0.5)
        b.semilogy(t, np.cumsum(grad) / (t + 1), color=col, lw=2, label=f"eta = {eta:g}")
    b.axhline(prediction["grad_floor"], color="k", ls=":", lw=1, label="criterion floor")
    a.set(xlabel="iteration", ylabel="f", title="100 sin x sin y, replica 0 (Fig. 4 III)")
    b.set(xlabel="iteration", ylabel="|grad f|", title="gradient norm (Fig. 4 IV)")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    dist = distances(data, params)
    q = float(np.quantile(dist["null_max"], prediction["quantile"]))
    for k, col in enumerate(colors):
        c.loglog(dist["curve_t"], dist["curve"][:, k] / dist["floor"][k], "o-", color=col,
                 ms=3, label=f"coordinate {k + 1}")
    c.axhspan(np.min(dist["null_max"]), q, color="grey", alpha=0.3,
              label=f"null: independent samples, up to the {prediction['quantile']:.1%} "
                    "quantile")
    c.axhline(1.0, color="k", lw=0.8, ls="--", label="floor 2/sqrt(pi N) int sqrt(F(1-F)), N = E/2")
    c.set(xlabel="t", ylabel="W1(t [half 1], 2t [half 2]) / floor",
          title=f"{data['ens_coords'].shape[2]} noisy GD replicas, eta = "
                f"{params['eta_large']:g}, sigma = {params['noise']:g}")
    c.legend(fontsize=7)
    last = data["ens_coords"][-1]
    d.plot(last[0], last[1], ".", ms=1, alpha=0.5, color=colors[1])
    d.set(xlabel="theta 1 (mod 2 pi)", ylabel="theta 2 (mod 2 pi)", aspect="equal",
          title=f"the ensemble at t = {params['steps']}")
    fig.suptitle(f"weights do not converge, their law does (last {WINDOW} steps of the toy "
                 "in the criteria)", fontsize=9)
    plotting.save(fig, path)
