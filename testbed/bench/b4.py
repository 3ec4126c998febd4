"""B4: edge of stability on a small network, benchmarks.md.

Data: the first 1,000 scikit-learn digits, pixels / 16, one-hot targets; loss half
the mean over all 1000 x 10 entries of the squared error (``loss="mse_entries"``).
Network 64-32-32-10, tanh, biases (d = 3466), PyTorch-default uniform initialisation
(``testbed.nets.init_params(L, seed, "pytorch")``). Full-batch GD, eta = 1.5, 2,000
steps, one ``testbed.run`` with ``observe=("loss", "sharpness")``, ``stride=20``,
``sharpness_iters=20``: every 20 steps the runner's observer takes the largest
Hessian eigenvalue by Lanczos on exact Hessian-vector products (R-operator,
:mod:`testbed.nets.mlp`), converged to a relative residual of 1e-6.

Check: ``loss_final``, ``sharpness`` (the 100 values after steps 20, 40, ..., 2000:
observation k is taken before step 20 k, i.e. after 20 k steps) and
``sharpness_times_eta_last_quarter_median`` (the median of eta * S over the last 25
of them), which must lie in [1.9, 2.1] (``passed``): GD on this network sharpens
progressively until eta * S reaches 2 (about step 500) and then hovers at the edge
of stability (Cohen et al. 2021).

Parallelism: one network, so the replica loop has nothing to share. The GD steps run
on one core while the spare cores compute the sharpness observations (Lanczos on
Hessian-vector products, more work than the 2,000 steps) of the iterates already
recorded, the rest once the steps are done (:func:`testbed.ensemble.run`; the values
equal the in-run observer's bit for bit, tests/test_ensemble.py). BLAS inside the
kernels runs single-threaded (:func:`testbed.nets.blas_threads`; 2 threads measured
slower for these 32-wide matrices); the check records the count used.
"""
from __future__ import annotations

import numpy as np

NAME = "B4"
UNIT = "steps"
DESCRIPTION = "GD (eta 1.5) on a 64-32-32-10 tanh MLP, 1000 digits; sharpness every 20 steps"

ETA = 1.5
STEPS = 2000
STRIDE = 20
LANCZOS = 20
N_SAMPLES = 1000
BAND = (1.9, 2.1)


def setup(seed: int = 0, scale: float = 1.0) -> dict:
    """``scale`` < 1 shrinks the number of steps (tests), in whole strides."""
    from .. import nets
    steps = max(STRIDE, int(round(STEPS * scale / STRIDE)) * STRIDE)
    L = nets.digits_mlp((64, 32, 32, 10), n=N_SAMPLES, act="tanh", loss="mse_entries")
    return {"landscape": L, "x0": nets.init_params(L, seed, "pytorch"), "steps": steps,
            "seed": seed}


def run(state, rule="gd", **hyper):
    """The timed work: ``rule`` (GD here, SAM in B4-SAM) with the observations."""
    from ..ensemble import run as run_ensemble
    return run_ensemble(state["landscape"], rule, state["x0"], steps=state["steps"],
                        seed=state["seed"], eta=ETA, stride=STRIDE,
                        observe=("loss", "sharpness"), sharpness_iters=LANCZOS, **hyper)


def flops_per_step(state, gradients_per_step=1) -> float:
    """The work model, counted in the matrix products of :mod:`testbed.nets.mlp`, each
    2 m n_in n_out flops on m samples (the elementwise work is left out):

    - a gradient: per layer the forward product, the weight gradient and the input
      adjoint (none in the first layer): 3 products, 2 in the first;
    - an observation: the forward and plain backward passes at the iterate once
      (``hvp_prepare``: 2 products a layer, 1 in the first), then LANCZOS
      Hessian-vector products (R-operator), each the forward tangents (2 products,
      1 in the first layer) and the adjoints' tangents (4: two weight-gradient terms,
      two adjoint terms; 1 in the first layer): 6 products a layer, 2 in the first.

    Per step: ``gradients_per_step`` gradients plus the observations' share."""
    widths = (64, 32, 32, 10)
    m = N_SAMPLES
    grad = prepare = hvp = 0.0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        product = 2.0 * m * a * b
        grad += (3 if i else 2) * product
        prepare += (2 if i else 1) * product
        hvp += (6 if i else 2) * product
    observations = state["steps"] // STRIDE
    return gradients_per_step * grad + observations * (prepare + LANCZOS * hvp) / state["steps"]


def bound(state, rates, gradients_per_step=1) -> dict:
    """Arithmetic bound: :func:`flops_per_step` at dgemm's rate at the largest layer's
    shape (1000 x 32 times 32 x 64)."""
    flops = flops_per_step(state, gradients_per_step)
    return {"units_per_second": rates.dgemm(N_SAMPLES, 32, 64) / flops,
            "by": "arithmetic (dgemm at the layer shapes)",
            "model": f"{flops:.3g} flops per step"}


def observed(res) -> dict:
    """What B4 and B4-SAM report of a run: losses, the sharpness trace (after steps 20,
    40, ..., steps), the median of eta S over its last quarter, the first step at the
    edge, the status and the BLAS thread count."""
    from .. import nets
    from ..kernel import STATUS_NAMES
    sharp = res.traces["sharpness"][1:, 0]
    loss = res.traces["loss"][:, 0]
    tail = sharp[len(sharp) - max(1, len(sharp) // 4):] * ETA
    first = np.flatnonzero(sharp * ETA >= 2.0)
    return {
        "loss_final": float(loss[-1]),
        "loss_initial": float(loss[0]),
        "sharpness": sharp.tolist(),
        "sharpness_times_eta_last_quarter_median": float(np.median(tail)),
        "first_step_at_edge": int((first[0] + 1) * STRIDE) if first.size else None,
        "status": STATUS_NAMES.get(int(res.status[0]), str(int(res.status[0]))),
        "blas_threads": nets.blas_threads(),
    }


def check(state, res) -> tuple[float, dict]:
    from ..kernel import BUDGET
    out = observed(res)
    median = out["sharpness_times_eta_last_quarter_median"]
    out["passed"] = bool(BAND[0] <= median <= BAND[1] and res.status[0] == BUDGET)
    return float(state["steps"]), out
