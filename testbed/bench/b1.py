"""B1: saddle escape ensemble (noisy gradient descent), benchmarks.md.

f(x) = sum_i (lam_i x_i^2/2 + x_i^4/4) in d = 100 (catalogue entry ``strict_saddle``),
lam_1 = -1, lam_2..100 evenly spaced in [0.5, 2]; x <- x - eta grad f(x) + sigma xi
with eta = 0.1, sigma = 1e-4 from x(0) = 0; N = 10,000 replicas, each stopped at its
escape step (the first t with |x_1(t)| > 0.5) or at T = 1000.

The prediction ``escape_theory`` is the mean of the escape-step law of
:func:`testbed.theory.saddle_escape.noisy_escape_distribution`: x_1 is an exact 1-D
chain (f is separable, the noise independent per coordinate); its Koenigs
linearisation turns the threshold 0.5 into the linear-equivalent H = h(0.5) (the
quartic term's slowing of the last steps), and the escape step is the first passage
of the linear chain through H, whose law is exact in the discrete time (not the
time at which the noise's standard deviation reaches the threshold). The check
passes when every replica escaped and the sample mean is within three standard
errors (sample standard deviation / sqrt(N)) of that prediction.
"""
from __future__ import annotations

import math

import numpy as np

NAME = "B1"
UNIT = "coordinate-steps"
DESCRIPTION = "noisy GD escaping the strict saddle of sum lam x^2/2 + x^4/4, d=100, N=10^4"

D = 100
N = 10_000
STEPS = 1000
ETA = 0.1
SIGMA = 1e-4
RADIUS = 0.5


def lam(d: int = D) -> np.ndarray:
    """lambda_1 = -1, lambda_2..d evenly spaced in [0.5, 2]."""
    return np.concatenate(([-1.0], np.linspace(0.5, 2.0, d - 1)))


def setup(seed: int = 0, scale: float = 1.0) -> dict:
    import testbed
    return {"landscape": testbed.landscape("strict_saddle", d=D, lam=lam(D)),
            "n": max(2, int(round(N * scale))), "seed": seed,
            "event": testbed.events.escape(0, RADIUS)}


def run(state):
    import testbed
    return testbed.run(state["landscape"], "noisy_gd", np.zeros(D), steps=STEPS,
                       n=state["n"], seed=state["seed"], eta=ETA, sigma=SIGMA,
                       event=state["event"], observe=())


def bound(state, rates) -> dict:
    """Each coordinate-step draws one normal; its arithmetic (the gradient
    lam x + x^3 and the update, 7 flops) is small beside the draw, so the rate of
    normals from the per-replica streams, drawn across lanes as the noisy-GD lanes
    draw them, bounds the coordinate-steps per second."""
    return {"units_per_second": rates.normals(), "by": "normal draws",
            "model": "1 normal per coordinate-step"}


def check(state, res) -> tuple[float, dict]:
    from ..kernel import EVENT
    from ..theory.saddle_escape import noisy_escape_distribution
    units = float(D * np.sum(res.stop_step))
    escaped = res.status == EVENT
    steps = res.stop_step[escaped].astype(float)
    n = int(steps.size)
    mean = float(np.mean(steps)) if n else math.nan
    std = float(np.std(steps, ddof=1)) if n > 1 else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    theory = noisy_escape_distribution(eta=ETA, sigma=SIGMA, radius=RADIUS, t_max=STEPS)
    z = (mean - theory.mean) / se if n > 1 and se > 0 else math.nan
    fraction = float(np.mean(escaped))
    return units, {
        "n": int(res.n),
        "escape_mean": mean,
        "escape_std": std,
        "escaped_fraction": fraction,
        "escape_theory": float(theory.mean),
        "escape_theory_std": float(theory.std),
        "standard_error": se,
        "z": z,
        "passed": bool(fraction == 1.0 and abs(z) < 3.0),
    }
