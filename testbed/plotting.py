"""Shared figure style (seaborn's whitegrid, paper context) and saving.

Plotting reads results and never recomputes them.
"""
from __future__ import annotations


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    sns.set_theme(context="paper", style="whitegrid")
    return plt


def palette(n: int):
    import seaborn as sns
    return sns.color_palette("viridis", n)


def save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=130, metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)
