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

from . import b4

NAME = "B4-SAM"
UNIT = "steps"
DESCRIPTION = "SAM (rho 0.05, eta 1.5) on B4's 64-32-32-10 tanh MLP; sharpness every 20 steps"
RHO = 0.05


def setup(seed: int = 0, scale: float = 1.0) -> dict:
    return b4.setup(seed=seed, scale=scale)


def run(state):
    return b4.run(state, "sam", rho=RHO)


def bound(state, rates) -> dict:
    """B4's work model with two gradients per step."""
    return b4.bound(state, rates, gradients_per_step=2)


def check(state, res) -> tuple[float, dict]:
    from ..kernel import BUDGET
    out = b4.observed(res)
    out["passed"] = bool(res.status[0] == BUDGET and out["loss_final"] < out["loss_initial"])
    return float(state["steps"]), out
