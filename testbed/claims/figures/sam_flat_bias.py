"""Figure of sam-flat-bias: trajectories of GD, SAM and exact-max SAM over the valley
(1 + y^2) x^2 / 2; the position along the valley and the sharpness against time with
the drift equation; the exact-max variant against the one-step one (the ratio of their
drifts and the one step's shortfall of the maximum); and SAM's late iterates in the
sharp and flat wells against rho / rho*."""
import numpy as np

from ..sam_flat_bias import (FLAT_MIN, RIDGE, SHARP_MIN, WELLS_MARGIN, _f, _grad, h,
                             sharpness)


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, ax = plt.subplots(2, 3, figsize=(16, 9.5))
    rhos = params["rhos"]
    t = data["steps_recorded"]
    cols = plotting.palette(len(rhos) + 1)[:-1]
    sam, ex, gd = data["sam_xy"], data["sam_exact_xy"], data["gd_xy"]
    # (a) trajectories over the landscape
    a = ax[0, 0]
    xs, ys = np.linspace(-0.12, 0.32, 200), np.linspace(-0.1, 2.1, 200)
    X, Y = np.meshgrid(xs, ys)
    a.contourf(X, Y, np.log10(_f(X, Y) + 1e-4), levels=30, cmap="Greys", alpha=0.6)
    a.plot(gd[:, 0, 0], gd[:, 1, 0], "k.-", ms=3, lw=0.8, label="GD")
    for c, k in zip(cols, range(len(rhos))):
        a.plot(sam[:, 0, k], sam[:, 1, k], ".", color=c, ms=1.5, label=f"SAM, rho = {rhos[k]:g}")
        a.plot(ex[::5, 0, k], ex[::5, 1, k], "x", color=c, ms=2.5, alpha=0.5)
    a.plot([], [], "kx", ms=3, label="exact-max SAM (x)")
    a.set(xlabel="x (across the valley)", ylabel="y (along the valley)",
          title="f = (1 + y^2) x^2 / 2 (log10 f shaded): SAM bounces across and drifts to y = 0")
    a.legend(fontsize=7, loc="upper right")
    # (b) y(t) against the drift equation
    b = ax[0, 1]
    for c, k in zip(cols, range(len(rhos))):
        r = rhos[k]
        b.semilogy(t, sam[:, 1, k], color=c, lw=2, alpha=0.6, label=f"SAM, rho = {r:g}")
        b.semilogy(t, ex[:, 1, k], color=c, lw=1, ls="-.", label=f"exact-max SAM, rho = {r:g}")
        b.semilogy(t, prediction["drift"][r][t], "k--", lw=0.8)
        b.semilogy(t, prediction["drift_exact"][r][t], "k:", lw=0.8)
    b.semilogy(t, gd[:, 1, 0], "k-", lw=1.5, label="GD")
    b.plot([], [], "k--", lw=0.8, label="drift equation (leading order)")
    b.plot([], [], "k:", lw=0.8, label="refined, exact maximiser")
    b.set(xlabel="step t", ylabel="y (position along the valley)",
          title="drift toward the flat end: y_{t+1} = y_t - eta 2 rho^2 h'/(2 - eta h)^2")
    b.legend(fontsize=6)
    # (c) sharpness against time
    c_ = ax[0, 2]
    for c, k in zip(cols, range(len(rhos))):
        r = rhos[k]
        c_.plot(t, sharpness(sam[:, 0, k], sam[:, 1, k]), color=c, lw=2, alpha=0.5)
        c_.plot(t, h(prediction["drift"][r][t]), "--", color=c, lw=1,
                label=f"SAM rho = {r:g}: h(y_pred(t)), the valley floor (thick: measured)")
    c_.plot(t, sharpness(gd[:, 0, 0], gd[:, 1, 0]), "k-", lw=1.5, label="GD")
    c_.axhline(1.0, color="grey", ls=":", label="flattest point of the valley (h = 1)")
    c_.set_xscale("symlog", linthresh=10)
    c_.set_xlim(0, t[-1])
    c_.set(xlabel="step t", ylabel="sharpness (top Hessian eigenvalue)",
           title="sharpness against time")
    c_.legend(fontsize=6)
    # (d) exact over one-step: the ratio of drifts
    d = ax[1, 0]
    for c, k in zip(cols, range(len(rhos))):
        r = rhos[k]
        d.plot(t, ex[:, 1, k] / sam[:, 1, k], color=c, lw=1.5, label=f"measured, rho = {r:g}")
        d.plot(t, prediction["drift_exact"][r][t] / prediction["drift_sam"][r][t], "k--", lw=0.8)
    d.plot([], [], "k--", lw=0.8, label="ratio of the refined recursions")
    d.set(xlabel="step t", ylabel="y_exact / y_SAM",
          title="the exact maximiser drifts faster (a relative rate ~ rho^2)")
    d.legend(fontsize=7)
    # (e) the one step's shortfall of the maximum over the ball
    e = ax[1, 1]
    pts, rho_p = data["gap_x"], data["gap_rho"]
    for c, r in zip(cols, rhos):
        m = rho_p == r
        short, ys_ = [], []
        for x, y in pts[m]:
            z = prediction["ascent_max"](x, y, r)
            g0 = _grad(x, y)
            zs = np.array([x, y]) + r * g0 / np.linalg.norm(g0)
            short.append((_f(*z) - _f(*zs)) / (_f(*z) - _f(x, y)))
            ys_.append(y)
        e.loglog(ys_, np.maximum(short, 1e-18), "o", color=c, ms=4, label=f"rho = {r:g}")
    e.set(xlabel="y at the point of SAM's path", ylabel="(f(z*) - f(z_SAM)) / (f(z*) - f(x))",
          title="how far SAM's one step is from the max over the ball")
    e.legend(fontsize=7)
    # (f) the wells: late iterates against rho / rho*
    f_ = ax[1, 2]
    rs = prediction["wells_rho_star"]
    rel = data["wells_rho"] / rs
    late = data["wells_late"]
    f_.plot(np.repeat(rel[None, :], late.shape[0], 0).ravel(), late.ravel(), ".", ms=2,
            color="C0", label="SAM: last iterates")
    grid = np.linspace(0, rel.max() * 1.02, 200)
    A = prediction["wells_amplitude"](params["wells_eta"], grid * rs)
    inside = grid <= 1
    f_.plot(grid[inside], SHARP_MIN + A[inside], "r-", lw=0.8, label="sharp 2-cycle -5 +- 4 rho")
    f_.plot(grid[inside], SHARP_MIN - A[inside], "r-", lw=0.8)
    f_.axhline(RIDGE, color="k", ls=":", lw=0.8, label="ridge")
    f_.axhline(FLAT_MIN, color="g", ls="--", lw=0.8, label="flat minimum")
    f_.axvline(1.0, color="grey", ls=":", label="rho* = a (2 - eta lam_s) / 2")
    f_.axvspan(WELLS_MARGIN, 2 - WELLS_MARGIN, color="grey", alpha=0.15)
    f_.plot([0], [data["wells_gd_x"][-1]], "ks", ms=6, label="GD's end point")
    f_.set(xlabel="rho / rho*", ylabel="x",
           title="sharp (16) and flat (1) wells: SAM leaves the sharp one above rho*")
    f_.legend(fontsize=6, loc="center right")
    plotting.save(fig, path)
