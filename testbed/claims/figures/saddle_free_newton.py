"""Figure of saddle-free-newton: losses of GD, Newton and SFN from the same starts on
a Gaussian field, the end points' index against energy on the index-energy law, and
the median gradient norm against the iteration."""
import math

import numpy as np

from ..saddle_free_newton import METHODS


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    from ...theory.gaussian_fields import semicircle_cdf
    plt = plotting.pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.4))
    d = params["d"]
    colors = dict(zip(METHODS, plotting.palette(3)))
    names = {"gd": "gradient descent", "newton": "Newton (capped)",
             "sfn": "saddle-free Newton (capped)"}

    def held(trace):            # a stopped run keeps its last value (traces are NaN after)
        out = trace.copy()
        for k in range(1, out.shape[0]):
            gone = np.isnan(out[k])
            out[k, gone] = out[k - 1, gone]
        return out

    for rule in METHODS:
        steps = data[f"{rule}_steps"]
        loss = held(data[f"{rule}_loss"])
        x = np.maximum(steps, 0.5)
        a.plot(x, loss, color=colors[rule], lw=0.4, alpha=0.25)
        a.plot(x, np.nanmedian(loss, axis=1), color=colors[rule], lw=2.2, label=names[rule])
        gn = held(data[f"{rule}_grad_norm"])
        c.loglog(x, np.nanmedian(gn, axis=1), color=colors[rule], lw=2, label=names[rule])
    a.axhline(prediction["threshold_energy"], color="k", ls=":", lw=1,
              label="threshold energy -2 sigma sqrt(d)")
    a.set_xscale("log")
    a.set(xlabel="iteration", ylabel="loss f(x)",
          title=f"same {params['n']} starts, Gaussian field d = {d}")
    a.legend(fontsize=7)
    t = np.linspace(-1.1, 1.1, 200)
    b.plot(semicircle_cdf(t), t, "k-", lw=1, label="index-energy law F_sc")
    markers = {"gd": "s", "newton": "o", "sfn": "^"}
    for rule in METHODS:
        b.plot(data[f"{rule}_index"] / d, data[f"{rule}_energy"] / (2 * math.sqrt(d)),
               markers[rule], color=colors[rule], ms=5, alpha=0.7, label=names[rule])
    b.set(xlabel="index alpha of the end point", ylabel="end energy u / (2 sigma sqrt d)",
          title="Newton ends on saddles; SFN and GD at minima")
    b.legend(fontsize=7)
    c.set(xlabel="iteration", ylabel="median |grad f|",
          title="Newton converges (to saddles) as fast as SFN (to minima)")
    c.legend(fontsize=7)
    plotting.save(fig, path)
