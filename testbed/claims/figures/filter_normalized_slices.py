"""Figure of filter-normalized-slices: per depth, the first trained network of each
kind: Li et al.'s contour of its 2-D slice and the slice's non-convexity heatmap;
then the non-convex fractions, mean slice losses and final training losses against
depth (medians and every slice), and the effect sizes in text."""
import numpy as np

from ..filter_normalized_slices import BLOCKS, deep_pool, effect_sizes


def _first_trained(data, i, j):
    """Index of the first training seed that did not diverge (None if all did)."""
    ok = np.flatnonzero(~data["diverged"][i, j])
    return int(ok[0]) if ok.size else None


def draw(data, prediction, params, path) -> None:
    from ... import plotting
    plt = plotting.pyplot()
    depths = data["depths"]
    nd = len(depths)
    eff = effect_sizes(data)
    fig, axes = plt.subplots(nd + 1, 4, figsize=(13, 3.2 * (nd + 1)))
    xs, ys = data["xcoordinates"], data["ycoordinates"]
    for i, D in enumerate(depths):
        for j, block in enumerate(BLOCKS):
            k = _first_trained(data, i, j)
            last = j == len(BLOCKS) - 1          # one colour bar per row, outside
            if k is None:
                for ax in (axes[i, j], axes[i, 2 + j]):
                    ax.axis("off")
                    ax.text(0.5, 0.5, f"{block}, D = {D}:\nevery training diverged",
                            ha="center", va="center", fontsize=8)
                continue
            plotting.contour(axes[i, j], xs, ys, data["train_loss"][i, j, k, 0],
                             title=f"{block}, D = {D}: train loss (final "
                                   f"{data['final_loss'][i, j, k]:.1e})")
            axes[i, j].title.set_fontsize(8)
            plotting.eig_ratio_heatmap(
                axes[i, 2 + j], data["slice_nonconvexity"][i, j, k, 0],
                title=f"{block}, D = {D}: max(-min, 0) / max eig\n"
                      f"of the slice (share < 0: {data['nonconvex_fraction'][i, j, k, 0]:.2f})",
                cbar=last,
                cbar_ax=axes[i, 3].inset_axes([1.05, 0.0, 0.05, 1.0]) if last else None)
    colors = plotting.palette(2)
    ax = axes[nd, 0]
    for j, block in enumerate(BLOCKS):
        fr = data["nonconvex_fraction"][:, j].reshape(nd, -1)
        ax.plot(depths, [eff[int(D)][block]["nonconvex_fraction"] for D in depths], "o-",
                color=colors[j], label=f"{block} (median)")
        for i, D in enumerate(depths):
            ax.plot(np.full(fr.shape[1], D), fr[i], ".", color=colors[j], alpha=0.5)
    ax.axhline(prediction["plain_fraction_min"], color="grey", ls="--", lw=0.8,
               label="P1: plain >= (deep)")
    ax.axhline(prediction["residual_fraction_max"], color="grey", ls=":", lw=0.8,
               label="P1: residual <= (deep)")
    ax.set(xlabel="depth D", ylabel="non-convex fraction of the 2-D slice",
           title="slice non-convexity: medians, all slices (dots)")
    ax.legend(fontsize=6)
    for ax, key, label in ((axes[nd, 1], "slice_mean", "mean loss over the slice"),
                           (axes[nd, 2], "final_train_loss", "final training loss "
                                                             "(confound)")):
        for j, block in enumerate(BLOCKS):
            ax.semilogy(depths, [eff[int(D)][block][key] for D in depths], "o-",
                        color=colors[j], label=block)
        ax.set(xlabel="depth D", ylabel=label, title=label + ", medians")
        ax.legend(fontsize=7)
    axes[nd, 3].axis("off")
    lines = [f"D={D}: non-convex plain {r['plain']['nonconvex_fraction']:.2f}, residual "
             f"{r['residual']['nonconvex_fraction']:.2f}\n      mean ratio res/plain "
             f"{r['mean_ratio_residual_over_plain']:.3f}, diverged plain "
             f"{r['plain']['diverged_trainings']}" for D, r in eff.items()]
    pool = deep_pool(data)
    if pool["plain"]["slices"] or pool["residual"]["slices"]:
        lines.append(f"deep pooled: plain {pool['plain']['nonconvex_fraction']:.2f}, "
                     f"residual {pool['residual']['nonconvex_fraction']:.2f}\n"
                     f"      mean ratio res/plain {pool['mean_ratio_residual_over_plain']:.3f}")
    axes[nd, 3].text(-0.2, 0.5, "\n".join(lines), fontsize=6.5, va="center",
                     family="monospace")
    plotting.save(fig, path)
