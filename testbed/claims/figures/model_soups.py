"""Figure of model-soups: held-out against test accuracy of the fine-tuned ingredients
and their uniform and greedy soups (Wortsman et al.'s Fig. 1 layout, one colour per
pretraining seed); the independent networks against their naive and aligned
averages; test accuracy along the straight and the spherical (SLERP per tensor)
interpolation between two fine-tunes and between two independent networks."""
import numpy as np

from ..model_soups import statistics


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    S = data["uniform_test"].size
    colors = plotting.palette(S)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))

    ax = axes[0]
    for s, c in enumerate(colors):
        ax.plot(data["ingredient_val"][s], data["ingredient_test"][s], "o", color=c,
                alpha=0.6, ms=5, label="fine-tuned ingredients" if s == 0 else None)
        ax.plot(data["uniform_val"][s], data["uniform_test"][s], "*", color=c, ms=14,
                mec="k", label="uniform soup" if s == 0 else None)
        ax.plot(data["greedy_val"][s], data["greedy_test"][s], "D", color=c, ms=8, mec="k",
                label="greedy soup" if s == 0 else None)
    ax.set(xlabel="held-out accuracy (300 images)", ylabel="test accuracy (497 images)",
           title=f"soups of fine-tunes from one initialisation ({S} seeds)")
    ax.legend(fontsize=7)

    ax = axes[1]
    st = statistics(data)
    for s, c in enumerate(colors):
        ind = data["independent_test"][s]
        ax.plot(np.zeros(ind.size) + 0.05 * s, ind, "o", color=c, ms=5)
        ax.plot([1 + 0.05 * s], [data["naive_test"][s]], "s", color=c, ms=7)
        ax.plot([2 + 0.05 * s], [data["aligned_test"][s]], "^", color=c, ms=8)
        ax.plot([3 + 0.05 * s], [data["activation_aligned_test"][s]], "v", color=c, ms=8)
    ax.set_xticks(range(4))
    ax.set_xticklabels(["independent\nnetworks", "naive\naverage", "weight-matched\naverage",
                        "activation-matched\naverage"], fontsize=7)
    ax.set(ylabel="test accuracy",
           title=f"averaging {params['independent']} independent networks: median drop "
                 f"{np.median(st['naive_drop']):.2f} naive, "
                 f"{np.median(st['aligned_drop']):.3f} aligned")
    ax.title.set_fontsize(8)

    ax = axes[2]
    t = data["slerp_t"]
    pal = plotting.palette(2)
    for j, (name, c) in enumerate(zip(("two fine-tunes (lr min, max)",
                                       "two independent networks"), pal)):
        ax.plot(t, data["interpolation_test"][j, 0], "-", color=c, label=f"{name}: lerp")
        ax.plot(t, data["interpolation_test"][j, 1], "o--", color=c, ms=3,
                label=f"{name}: SLERP per tensor")
    ax.set(xlabel="t", ylabel="test accuracy", title="interpolating two models (seed 1)")
    ax.legend(fontsize=7)
    fig.suptitle("Model soups (Wortsman et al. 2022) and merging after alignment: digits "
                 "MLPs 64-64-64-10", fontsize=10)
    plotting.save(fig, path)
