"""Figure of gd-saddle-escape: escape step against log10(1/delta) with the exact
staircase and the two closed forms; the prediction errors; and GD (and, at the paper
scale, noisy GD) trajectories on a 2-D strict saddle."""
import math

import numpy as np

from ...kernel import EVENT
from ...theory import saddle_escape as th
from ..gd_saddle_escape import LAW2_TOL


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, r, b) = plt.subplots(1, 3, figsize=(16, 4.6),
                                  gridspec_kw={"width_ratios": [1.1, 0.9, 1.1]})
    eta, R = params["eta"], params["radius"]
    gamma = -params["lam1"]
    lg = -np.log10(data["delta"])
    fine = np.linspace(lg.min(), lg.max(), 800)
    a.plot(fine, th.deterministic_escape_estimate(10.0 ** -fine, eta, R, gamma, 1.0), "k-",
           lw=0.8, drawstyle="steps-post", label="exact (Koenigs): floor(log_mu h(R)/h(delta)) + 1")
    a.plot(fine, th.quartic_escape_estimate(10.0 ** -fine, eta, R, gamma, 1.0), "--",
           color="tab:red", lw=1, label="P1 law 2 (quartic-corrected)")
    a.plot(fine, np.log(R / 10.0 ** -fine) / math.log1p(eta * gamma), ":", color="tab:blue",
           lw=1.2, label="linear ln(R/delta)/ln(1+eta gamma)")
    ok = data["status"] == EVENT
    a.plot(lg[ok], data["T"][ok], "o", ms=4, color="tab:green", label="GD (measured)")
    a.set(xlabel="log10(1/delta)", ylabel="escape step T (|x_1| > R)",
          title=f"escape step vs distance delta from the stable manifold\n"
                f"slope ln10/ln(1+eta gamma) = {prediction['slope']:.2f}")
    a.text(0.98, 0.04, f"delta = 0: x_1 = 0 for {int(data['zero_n_obs']) - 1} steps "
           f"(status budget), |x| -> {float(data['zero_final_norm']):.0e}",
           transform=a.transAxes, ha="right", fontsize=7)
    a.legend(fontsize=7)
    # residuals
    T = data["T"][ok]
    r.axhspan(-LAW2_TOL, LAW2_TOL, color="tab:red", alpha=0.08, label=f"+-{LAW2_TOL} steps")
    r.plot(lg[ok], T - prediction["exact"][ok], "ko", ms=4,
           label="minus exact (Koenigs): 0 everywhere")
    r.plot(lg[ok], T - prediction["law2"][ok], "s", color="tab:red", ms=3,
           label="minus law 2")
    r.plot(lg[ok], T - np.log(R / data["delta"][ok]) / math.log1p(eta * gamma), "^",
           color="tab:blue", ms=3, label="minus linear ln(R/delta)/ln(1+eta gamma)")
    r.axhline(0, color="k", lw=0.5)
    r.set(xlabel="log10(1/delta)", ylabel="measured T - prediction (steps)",
          title="prediction errors", ylim=(-2.6, 2.9))
    r.legend(fontsize=7, loc="upper left")
    # 2-D picture
    xs, ys = np.linspace(-1.3, 1.3, 200), np.linspace(-0.35, 1.15, 150)
    XX, YY = np.meshgrid(xs, ys)
    F = params["lam1"] * XX ** 2 / 2 + XX ** 4 / 4 + params["lam_rest"] * YY ** 2 / 2 + YY ** 4 / 4
    b.contour(XX, YY, F, levels=25, colors="0.8", linewidths=0.6)
    if "noisy_xy" in data:
        nz = data["noisy_xy"]
        for k in range(nz.shape[2]):
            b.plot(nz[:, 0, k], nz[:, 1, k], color="0.35", lw=0.7, alpha=0.8,
                   label=f"noisy GD from (0, {params['traj_y0']}), sigma = {params['sigma']}"
                   if k == 0 else None)
    tr, td = data["traj_xy"], data["traj_delta"]
    cols = plotting.palette(len(td))
    for k, (c, dl) in enumerate(zip(cols, td)):
        style = dict(color="k", ls="--") if dl == 0 else dict(color=c)
        b.plot(tr[:, 0, k], tr[:, 1, k], lw=1.6, **style,
               label=f"GD, delta = {dl:g}" + (" (stable manifold)" if dl == 0 else ""))
        b.plot(tr[::10, 0, k], tr[::10, 1, k], ".", ms=3, color=style["color"])
    b.plot([0], [0], "kx", ms=8)
    b.plot([-math.sqrt(gamma), math.sqrt(gamma)], [0, 0], "k*", ms=8)
    b.set(xlabel="x_1 (unstable)", ylabel="x_2 (stable)", xlim=(-1.3, 1.3), ylim=(-0.35, 1.15),
          title="d = 2 (dots every 10 steps): GD lingers ~ln(1/delta) steps;\n"
                "from the manifold it converges to the saddle, noisy GD leaves")
    b.legend(fontsize=6, loc="upper right")
    plotting.save(fig, path)
