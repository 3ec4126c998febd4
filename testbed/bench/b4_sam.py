"""B4-SAM: benchmark B4's network and schedule with SAM in place of GD (issue 13:
SAM's cost). The same data, network, initialisation, 2,000 steps at eta = 1.5 and
the same sharpness observations every 20 steps, with the normalised SAM step (rule
``sam``, rho = 0.05: x <- x - eta grad f(x + rho g / |g|)), which evaluates two
gradients per step. So its steps cost about twice B4's, while the 100 sharpness
observations (Lanczos on Hessian-vector products, computed after the run) cost the
same: compare ``seconds`` with B4's, and the step cost alone with both run with
``observe=("loss",)`` if needed.

Check: the run stays finite and lowers the loss; reported: the final loss, the
sharpness trace and the median of eta * S over the last quarter (SAM settles below
GD's edge 2 / eta; not a pass criterion here).
"""
from __future__ import annotations

import numpy as np

from . import b4

NAME = "B4-SAM"
UNIT = "steps"
DESCRIPTION = "SAM (rho 0.05, eta 1.5) on B4's 64-32-32-10 tanh MLP; sharpness every 20 steps"
RHO = 0.05


def setup(seed: int = 0, scale: float = 1.0) -> dict:
    return b4.setup(seed=seed, scale=scale)


def run(state):
    from ..ensemble import run as run_ensemble
    return run_ensemble(state["landscape"], "sam", state["x0"], steps=state["steps"],
                        seed=state["seed"], eta=b4.ETA, rho=RHO, stride=b4.STRIDE,
                        observe=("loss", "sharpness"), sharpness_iters=b4.LANCZOS)


def check(state, res) -> tuple[float, dict]:
    from ..kernel import BUDGET, STATUS_NAMES
    sharp = res.traces["sharpness"][1:, 0]
    loss = res.traces["loss"][:, 0]
    tail = sharp[len(sharp) - max(1, len(sharp) // 4):] * b4.ETA
    return float(state["steps"]), {
        "loss_final": float(loss[-1]),
        "loss_initial": float(loss[0]),
        "sharpness": sharp.tolist(),
        "sharpness_times_eta_last_quarter_median": float(np.median(tail)),
        "status": STATUS_NAMES.get(int(res.status[0]), str(int(res.status[0]))),
        "passed": bool(res.status[0] == BUDGET and loss[-1] < loss[0]),
    }
