"""Figure of perturbed-gd-escape: escape-step histograms against the exact Beta law
per d, the mean escape step against ln d, and the end-to-end PGD outcomes."""
import math

import numpy as np

from ...kernel import DONE, EVENT
from ..perturbed_gd_escape import Z99, _ks, ks_constant


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.3))
    ds = [int(d) for d in params["ds"]]
    colors = plotting.palette(len(ds))
    eta = params["eta"]
    for col, d in zip(colors, ds):
        sel = (data["esc_d"] == d) & (data["esc_status"] == EVENT)
        T = data["esc_T"][sel]
        pmf = np.diff(prediction["cdf"][d], prepend=0.0)
        bins = np.arange(T.min() - 0.5, T.max() + 1.5)
        N = int(np.sum(data["esc_d"] == d))
        at_d = data["esc_d"] == d
        D, _ = _ks(data["esc_T"][at_d], data["esc_status"][at_d] == EVENT, prediction["cdf"][d])
        a.hist(T, bins=bins, density=True, color=col, alpha=0.45,
               label=f"d = {d}: N = {N}, KS {D:.4f} < {ks_constant(len(ds)) / math.sqrt(N):.4f}")
        t = np.arange(pmf.size)
        a.step(t, pmf, where="mid", color=col, lw=1.1)
    a.set(xlabel="escape step T (first t with |x_1| > R)", ylabel="probability",
          title="one uniform-ball kick, then GD:\nhistograms vs exact Beta law (lines)")
    ok = data["esc_status"] == EVENT
    a.set_xlim(data["esc_T"][ok].min() - 5, np.percentile(data["esc_T"][ok], 99.9) + 5)
    a.legend(fontsize=7)
    # escape time vs d
    dd = np.logspace(math.log10(min(ds)), math.log10(max(ds)), 50)
    means = [data["esc_T"][(data["esc_d"] == d)].mean() for d in ds]
    sds = [prediction["sd"][d] / math.sqrt(np.sum(data["esc_d"] == d)) for d in ds]
    meds = [np.median(data["esc_T"][data["esc_d"] == d]) for d in ds]
    asym = prediction["slope_asymptotic"]
    anchor = prediction["mean"][ds[-1]] - asym * math.log(ds[-1])
    b.plot(dd, anchor + asym * np.log(dd), "k--", lw=1,
           label=f"ln d / (2 ln(1+eta gamma)), slope {asym:.3f}")
    b.plot(ds, [prediction["mean"][d] for d in ds], "s", mfc="none", color="k", ms=9,
           label=f"exact E T (LS slope {prediction['slope']:.3f})")
    b.errorbar(ds, means, yerr=Z99 * np.array(sds), fmt="o", color=colors[0],
               label="measured mean (99% band)")
    b.plot(ds, meds, "^", color=colors[-1], label="measured median")
    b.plot(ds, [prediction["median"][d] for d in ds], "_", color="k", ms=14,
           label="exact median")
    b.set_xscale("log")
    b.set(xlabel="dimension d", ylabel="escape step",
          title="escape time grows like ln d")
    b.legend(fontsize=7)
    # end-to-end PGD
    pds = [int(d) for d in params["pgd_ds"]]
    succ = [np.mean((data["pgd_grad"][data["pgd_d"] == d] <= params["eps"])
                    & (data["pgd_lam_min"][data["pgd_d"] == d]
                       >= -math.sqrt(params["rho"] * params["eps"]))) for d in pds]
    iters = [data["pgd_stop"][data["pgd_d"] == d] for d in pds]
    c.boxplot(iters, positions=np.log10(pds), widths=0.25, showfliers=False)
    ret = [int(np.sum((data["pgd_d"] == d) & (data["pgd_status"] == DONE)
                      & (data["pgd_xnorm"] == 0.0))) for d in pds]
    n_pd = [int(np.sum(data["pgd_d"] == d)) for d in pds]
    labels = [f"d={d}\n{s:.1%} SOSP\nsaddle {k} ({nn * prediction['p_saddle_return'][d]:.2f})"
              for d, s, k, nn in zip(pds, succ, ret, n_pd)]
    c.set_xticks(np.log10(pds), labels, fontsize=7)
    c.set(xlabel="fraction returning an eps-SOSP; saddle returns (predicted mean)",
          ylabel="iterations until PGD returns",
          title=f"PGD from x0 = 0 (eta={eta}, r={params['r']}, t_thres={params['t_thres']})")
    plotting.save(fig, path)
