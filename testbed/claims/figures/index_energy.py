"""Figure of index-energy: critical points' index against their energy on the
semicircle law (GOE and field tiers), Hessian spectra at low, middle and high
critical points against the shifted semicircle, and the spectrum's centre against
the energy."""
import math

import numpy as np

from ...theory import gaussian_fields as th
from ..index_energy import ELL, SIGMA


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    dims = list(params["dims"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    a, b, c = axes
    colors = plotting.palette(len(dims) + 1)
    a.plot(prediction["alpha_curve"], 2 * prediction["t_curve"], "k-", lw=1.2,
           label="F_sc: u = 2 sigma sqrt(d) F_sc^-1(alpha)")
    gt = data["goe_t"]
    a.plot(data["goe_alpha"].mean(axis=1), 2 * gt, "kx", ms=6,
           label=f"GOE tier, d = {params['d_goe']}")
    for col, d in zip(colors, dims):
        u, alpha = data[f"d{d}_energy"], data[f"d{d}_index"] / d
        a.plot(alpha, u / math.sqrt(d), "o", color=col, ms=4, alpha=0.8,
               label=f"field, d = {d} ({len(u)} points)")
    a.set(xlabel="index alpha (fraction of negative Hessian eigenvalues)",
          ylabel="critical value u / (sigma sqrt d)", xlim=(-0.03, 1.03),
          title="critical points lie on the index-energy curve")
    a.legend(fontsize=7, loc="upper left")
    # Hessian spectra at low, middle and high critical values of the largest d
    d = dims[-1]
    u, W = data[f"d{d}_energy"], data[f"d{d}_eigenvalues"]
    order = np.argsort(u)
    picks = [order[0], order[len(order) // 2], order[-1]]
    pc = plotting.palette(3)
    R = th.hessian_radius(d, SIGMA, ELL)
    for col, k in zip(pc, picks):
        b.hist(W[k], bins=max(8, int(round(2 * math.sqrt(d)))), density=True, color=col,
               alpha=0.45,
               label=f"u/(2 sigma sqrt d) = {u[k] / (2 * math.sqrt(d)):+.2f}, "
                     f"alpha = {np.mean(W[k] < 0):.2f}")
        lam = np.linspace(-u[k] - 1.1 * R, -u[k] + 1.1 * R, 300)
        b.plot(lam, th.semicircle_density(lam, th.hessian_centre(u[k], ELL), R), color=col,
               lw=1.5)
    b.axvline(0.0, color="k", lw=0.6, ls=":")
    b.set(xlabel="Hessian eigenvalue", ylabel="density",
          title=f"spectra at critical points (d = {d}) vs shifted semicircle")
    b.legend(fontsize=7)
    for col, dd in zip(colors, dims):
        uu = data[f"d{dd}_energy"]
        c.plot(-uu / math.sqrt(dd), data[f"d{dd}_eigenvalues"].mean(axis=1) / math.sqrt(dd),
               "o", color=col, ms=3, label=f"d = {dd}")
    lo = min(float(np.min(-data[f"d{dd}_energy"] / math.sqrt(dd))) for dd in dims)
    hi = max(float(np.max(-data[f"d{dd}_energy"] / math.sqrt(dd))) for dd in dims)
    xs = np.linspace(lo, hi, 10)
    c.plot(xs, prediction["slope"] * xs, "k--", lw=1, label="predicted: -u / ell^2")
    c.set(xlabel="-u / (sigma sqrt d)", ylabel="mean eigenvalue tr H / d, / sqrt d",
          title="centre of the spectrum moves linearly with u")
    c.legend(fontsize=7)
    plotting.save(fig, path)
