"""B2: edge-of-stability grid (plain gradient descent on a 2-D function), benchmarks.md.

f(x, y) = (x^2 y^2 - 1)^2 / 4 (catalogue entry ``eos_minimalist``); 64 step sizes
evenly spaced in [0.05, 0.4] times 1024 starts (x0 evenly spaced in [1.5, 2.5],
y0 = 0.5, the same for every eta): 65,536 trajectories of 10,000 GD steps, no early
stop, one ``testbed.run`` with a per-replica eta (replica i * 1024 + j has eta_i and
start j). That call takes the vectorised structure-of-arrays path
(:mod:`testbed._lanes`).

Check: a trajectory has converged when |x^2 y^2 - 1| < 1e-6 at its final point; its
sharpness is the top eigenvalue of the closed-form Hessian there. With
u = x^2 y^2 - 1, H = [[y^2 u + 2 x^2 y^4, 2 x y u + 2 x^3 y^3],
[2 x y u + 2 x^3 y^3, x^2 u + 2 x^4 y^2]] (on the valley u = 0 the top eigenvalue is
2 (x^2 + y^2)). Reported per eta: the median of eta * sharpness over converged
trajectories (None where none converged) and the converged fraction; and the count
of trajectories that left the finite numbers. A GD fixed point is linearly stable only
if eta * sharpness <= 2, so ``max_sharpness_times_eta`` (over converged trajectories)
must not exceed 2 (up to the 1e-6 slack of the convergence test): that is
``passed``.
"""
from __future__ import annotations

import numpy as np

NAME = "B2"
UNIT = "trajectory-steps"
DESCRIPTION = "GD on (x^2 y^2 - 1)^2/4: 64 step sizes x 1024 starts x 10^4 steps"

N_ETA = 64
N_START = 1024
STEPS = 10_000
TOL = 1e-6


def etas(n: int = N_ETA) -> np.ndarray:
    return np.linspace(0.05, 0.4, n)


def starts(n: int = N_START) -> np.ndarray:
    xy = np.empty((n, 2))
    xy[:, 0] = np.linspace(1.5, 2.5, n)
    xy[:, 1] = 0.5
    return xy


def setup(seed: int = 0, scale: float = 1.0) -> dict:
    """``scale`` < 1 shrinks the number of starts and of steps (tests)."""
    import testbed
    n_start = max(1, int(round(N_START * scale)))
    steps = max(1, int(round(STEPS * scale)))
    eta = etas()
    return {"landscape": testbed.landscape("eos_minimalist"), "etas": eta,
            "n_start": n_start, "steps": steps, "seed": seed,
            "x0": np.tile(starts(n_start), (eta.size, 1)),
            "eta": np.repeat(eta, n_start)}


def run(state):
    import testbed
    return testbed.run(state["landscape"], "gd", state["x0"], steps=state["steps"],
                       seed=state["seed"], eta=state["eta"], observe=())


# flops of one GD step of the lane kernel: a = x x, b = y y, c = a b - 1 (4),
# f = c c / 4 (2), g_x = x b c, g_y = a y c (4), x - eta g (4), z = f - f and the two
# subtractions of z (3)
FLOPS_PER_STEP = 17


def bound(state, rates) -> dict:
    """Arithmetic bound: FLOPS_PER_STEP operations (each counted as one flop, as
    dgemm counts a fused multiply-add as two) at dgemm's large-matrix rate."""
    return {"units_per_second": rates.peak() / FLOPS_PER_STEP,
            "by": "arithmetic (dgemm rate)", "model": f"{FLOPS_PER_STEP} flops per step"}


def top_hessian_eigenvalue(x, y):
    """Largest eigenvalue of the Hessian of (x^2 y^2 - 1)^2/4 at (x, y) (arrays)."""
    x2, y2 = x * x, y * y
    u = x2 * y2 - 1.0
    a = y2 * u + 2.0 * x2 * y2 * y2
    c = x2 * u + 2.0 * x2 * x2 * y2
    b = 2.0 * x * y * u + 2.0 * x2 * x * y2 * y
    return 0.5 * (a + c) + np.hypot(0.5 * (a - c), b)


def check(state, res) -> tuple[float, dict]:
    from ..kernel import DIVERGED
    n_eta, n_start = state["etas"].size, state["n_start"]
    units = float(n_eta * n_start * state["steps"])
    x, y = res.x[:, 0], res.x[:, 1]
    with np.errstate(invalid="ignore", over="ignore"):
        converged = np.abs(x * x * y * y - 1.0) < TOL
        s_eta = top_hessian_eigenvalue(x, y) * state["eta"]
    converged = converged.reshape(n_eta, n_start)
    s_eta = s_eta.reshape(n_eta, n_start)
    medians = [float(np.median(row[ok])) if ok.any() else None
               for row, ok in zip(s_eta, converged)]
    top = float(np.max(s_eta[converged])) if converged.any() else None
    return units, {
        "etas": state["etas"].tolist(),
        "sharpness_times_eta_median": medians,
        "converged_fraction": converged.mean(axis=1).tolist(),
        "diverged": int(np.sum(res.status == DIVERGED)),
        "max_sharpness_times_eta": top,
        "passed": bool(top is None or top <= 2.0 + 1e-5),
    }
