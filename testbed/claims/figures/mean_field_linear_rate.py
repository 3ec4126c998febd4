"""Figure of mean-field-linear-rate: log training loss against mean-field time, one
colour per input dimension k, with the uniform certificate L(0) exp(-kappa_0 tau)
dashed; and the decay rate rho(tau) against the trajectory certificate
(2/n) lambda_min(H_tau) and the Schur bound (2/n) min_j A_jj lambda_min(G)."""
import numpy as np

from ..mean_field_linear_rate import _gram_min


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    n, ks = params["n"], params["inputs"]
    T = data["loss"].shape[-1] - 1
    tau = params["eta"] * np.arange(T + 1)
    colors = plotting.palette(len(ks))
    for i, (k, col) in enumerate(zip(ks, colors)):
        for r in range(data["loss"].shape[1]):
            a.semilogy(tau, data["loss"][i, r], color=col, lw=1.2, alpha=0.7,
                       label=f"k = {k} (k/n = {k / n:g})" if r == 0 else None)
            b.semilogy(tau, data["rho"][i, r], color=col, lw=1.2, alpha=0.7,
                       label=f"rho, k = {k}" if r == 0 else None)
            b.semilogy(tau, 2.0 / n * data["lam_min"][i, r], color=col, lw=0.8, ls=":",
                       label="(2/n) lambda_min(H)" if r == 0 and i == len(ks) - 1 else None)
        if prediction["kappa0"][i] > 0:
            l0 = data["loss"][i, :, 0].max()
            a.semilogy(tau, l0 * np.exp(-prediction["kappa0"][i] * tau), color=col,
                       ls="--", lw=0.9)
            schur = 2.0 / n * data["a_min"][i].min(axis=0) * _gram_min(params, k)
            b.semilogy(tau, schur, color=col, ls="--", lw=0.9,
                       label="Schur bound" if i == len(ks) - 1 else None)
    a.set(xlabel="mean-field time tau", ylabel="training loss",
          title="gradient flow; dashed: L(0) exp(-kappa_0 tau)")
    a.legend(fontsize=7)
    b.set(xlabel="mean-field time tau", ylabel="rate", title="-d log L / dtau and "
          "its certificates")
    b.legend(fontsize=7)
    fig.suptitle(f"mean-field two-layer net, n = {n}, m = {params['width']}, "
                 f"sigma(u) = u/2 + tanh u, {data['loss'].shape[1]} networks per k",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
