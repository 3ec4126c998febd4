"""Figure of gd-exponential-escape: the objective along GD and perturbed GD (plateaus
at the saddles' levels), and the steps spent at each saddle, measured and predicted."""
import numpy as np

from ..gd_exponential_escape import _pgd_times, _times


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    levels = prediction["saddle_f"]
    loss = data["gd_loss"]
    a.plot(np.arange(loss.size), loss, color="C3", lw=1.2, label="GD")
    pl = data["pgd_loss"]
    for j in range(pl.shape[1]):
        a.plot(np.arange(pl.shape[0]), pl[:, j], color="C0", lw=1, alpha=0.8,
               label="perturbed GD" if j == 0 else None)
    for lv in levels:
        a.axhline(lv, color="grey", lw=0.4, ls=":")
    a.set_xlim(0, loss.size)
    a.set(xlabel="iteration", ylabel="objective f(x_t)",
          title=f"saddle_chain, d = {params['d']}: plateaus at the saddles' levels")
    a.legend(fontsize=8)

    T = _times(data["gd_cross"])
    Tp, _ = _pgd_times(data)
    i = np.arange(1, T.shape[0] + 1)
    for j in range(T.shape[1]):
        b.semilogy(i, T[:, j], color="C3", alpha=0.25, lw=0.8)
    b.semilogy(i, np.exp(np.mean(np.log(T), axis=1)), "o-", color="C3",
               label="GD (geometric mean over inits)")
    Tpred = _times(prediction["cross"])
    b.semilogy(i, np.exp(np.mean(np.log(Tpred), axis=1)), "k+", ms=10,
               label="GD exact prediction")
    ref = np.exp(np.mean(np.log(T[0]))) * (1 + prediction["kappa"]) ** (i - 1)
    b.semilogy(i, ref, "k:", lw=1, label=f"(1 + kappa)^(i-1), kappa = {prediction['kappa']:.3f}")
    sd = Tp.std(axis=1) / np.sqrt(Tp.shape[1])
    b.errorbar(i, Tp.mean(axis=1), yerr=2 * sd, fmt="s-", color="C0", ms=4,
               label="perturbed GD (mean ± 2 s.e.)")
    b.set(xlabel="saddle i", ylabel="steps spent at saddle i, T_i",
          title="time to pass each saddle")
    b.legend(fontsize=8)
    plotting.save(fig, path)
