r"""narrow-networks (J. Zhang, Y. Zhang, Hong, Sun & Luo 2021, "When Expressivity Meets
Trainability: Fewer than n Neurons Can Work", NeurIPS 34, pp. 9167-9180,
arXiv:2210.12001).

Claim (the paper's abstract, verified): for one-hidden-layer networks with a smooth
activation, width m >= 2n/d already admits a zero-loss global minimiser; a "nice
local region" has no local minima or saddles; with that region as the feasible set
every KKT point is nearly a global minimiser, and projected gradient methods on this
constrained formulation "significantly outperform SGD for training narrow neural
nets".

What could not be confirmed. The paper's definition of the region, its constants,
its projection, activation, initialisation and data could not be read (only the
abstract and introduction were reachable; no author code was found). Everything
below the network is therefore a reconstruction [R], fixed before any run and not
tuned afterwards:

- network [R]: f(x) = sum_j v_j sigma(w_j . x), sigma = softplus, no biases, both
  layers trained, loss L = 1/(2n) sum_i (f(x_i) - y_i)^2 (``testbed.nets``,
  ``feedforward((d, m, 1), act="softplus", bias=False)``);
- data [R]: x_i ~ N(0, I_d), random labels y_i = +-1 (memorisation, the hard case),
  LeCun-normal initialisation (W ~ N(0, 1/d), v ~ N(0, 1/m));
- region [R]: S = {(W, v): s_j v_j >= v_min for all j, |W - W_0|_F <= R}, with
  s_j = sign(v_j(0)), v_min = 1/(2 sqrt m) (half the scale of v at initialisation),
  R = |W_0|_F. Keeping every |v_j| away from 0 keeps the Jacobian of the outputs in
  W, J_W (row i: (v_j sigma'(w_j . x_i) x_i)_j), from losing rank through a dead
  output weight, and the ball keeps W where J_W was of full row rank at
  initialisation (m d >= n needed): the mechanism the abstract describes;
- projected GD [R]: (W, v) <- P_S((W, v) - eta grad L), P_S the exact Euclidean
  projection onto S, a product of convex sets: v_j <- s_j max(s_j v_j, v_min),
  W <- W_0 + (W - W_0) min(1, R / |W - W_0|_F) (rule ``projected_gd`` with the
  projection :func:`region`).

Why a KKT point is near-global (derived, exact linear algebra): at any W,
grad_W L = (1/n) J_W^T r, so |r| <= n |grad_W L| / sigma_min(J_W) whenever J_W has
full row rank. At a KKT point where the W-ball is inactive, grad_W L = 0, so r = 0.
The claim reports this certificate at the end of projected GD.

Experiment: for each width in ``widths`` (around 2n/d), ``seeds`` networks (the
initialisation of network k from seed k), each started from the same feasible point
P_S(x_0) under three methods at equal budget (``epochs`` passes over the data, in
per-sample gradients): projected GD (full batch, ``epochs`` steps); projected SGD
(rule ``projected_sgd``: the SGD step, then P_S; batch ``batch``, epochs n / batch
steps), whose batches are SGD's own (replica stream (``seed``, k) for network k), so
that it differs from SGD only by the projection; and SGD (rule ``sgd``). Each method
runs at every step size of the grid ``etas`` and is scored at the one with the
least median final loss over networks (the same tuning for all).

Criteria, and why these tolerances:

- code, ``identity_max_abs_diff``: projected SGD with the identity projection is
  SGD bit for bit on network 0 over ``check_steps`` steps (same stream, same
  arithmetic): the premise of the pairing;
- code, ``feasible``: max violation of the constraints at the end of projected GD,
  relative to v_min and R: <= 1e-12 (the projection is exact up to rounding);
- code, ``jacobian_gradient_identity``: max over networks of |J_W^T r / n -
  grad_W L| / |grad_W L| <= 1e-10 (the same sums in another order): the J_W of the
  certificate is the one the engine differentiates;
- science, ``pgd_beats_sgd`` and ``psgd_beats_sgd``: at m = 2n/d, the upper end of
  the 95% Student-t interval of the mean over paired networks of
  log10(L_method / L_SGD) is < 0 (the constrained method lower beyond the spread
  between seeds). Evidence, per width: every final loss, the chosen step sizes,
  the certificate |r| <= n |grad_W L| / sigma_min(J_W) and the condition number of
  J_W at the end of projected GD (large for md near n: the certificate is then weak,
  the pitfall the catalogue notes), how far W went into its ball, and how many
  output weights sit at v_min.

Scales: ``paper``: n = 200, d = 10 (2n/d = 40), widths {20, 40, 60}, 6 networks, 1500
epochs, batch 20. ``quick``: n = 60, d = 6 (2n/d = 20), widths {10, 20, 30}, 4
networks, 800 epochs, batch 10. Step sizes {0.025, 0.05, 0.1} at both (0.2 diverged
for most networks of every method in a calibration run).

"""
from __future__ import annotations

import math

import numpy as np

from ..kernel import njit
from ._base import Verdict, at_most, holds
from ._grid import points

ID = "narrow-networks"
PAPER = ("J. Zhang, Y. Zhang, Hong, Sun & Luo (2021), When Expressivity Meets Trainability: "
         "Fewer than n Neurons Can Work, NeurIPS 34 (arXiv:2210.12001)")
CLAIM = ("at width around 2n/d, projected GD on the constrained formulation reaches a lower "
         "training loss than SGD at equal budget (constraint set reconstructed, [R])")
SCALES = {
    "quick": {"n": 60, "dim": 6, "widths": (10, 20, 30), "seeds": 4, "epochs": 800,
              "batch": 10, "etas": (0.025, 0.05, 0.1), "check_steps": 50, "data_seed": 0,
              "seed": 0},
    "paper": {"n": 200, "dim": 10, "widths": (20, 40, 60), "seeds": 6, "epochs": 1500,
              "batch": 20, "etas": (0.025, 0.05, 0.1), "check_steps": 100, "data_seed": 0,
              "seed": 0},
}
# large (for a cluster): 20 networks per width instead of 6: the paired Student-t
# intervals of pgd/psgd_beats_sgd narrow by about 2x (sqrt(20/6), and t's quantile)
SCALES["large"] = {**SCALES["paper"], "seeds": 20}
CONFIDENCE = 0.975
FEASIBLE_TOL = 1e-12
IDENTITY_TOL = 1e-10


@njit
def _region(x, q):
    """In place onto S: q = (offset of v, m, v_min, R, W_0 (offset entries), s (m))."""
    off = int(q[0])
    m = int(q[1])
    vmin = q[2]
    radius = q[3]
    s = 0.0
    for i in range(off):
        e = x[i] - q[4 + i]
        s += e * e
    s = math.sqrt(s)
    if s > radius:
        for i in range(off):
            x[i] = q[4 + i] + (x[i] - q[4 + i]) * (radius / s)
    for j in range(m):
        sign = q[4 + off + j]
        if sign * x[off + j] < vmin:
            x[off + j] = sign * vmin


def region(x0, m, dim):
    """The projection onto S around the starting point ``x0`` (layout: W (m, dim)
    then v (m)) as a :class:`testbed.projections.Projection`, and (v_min, R)."""
    from ..projections import Projection
    off = m * dim
    W0, v0 = x0[:off], x0[off:off + m]
    signs = np.where(v0 >= 0, 1.0, -1.0)
    vmin, radius = 0.5 / math.sqrt(m), float(np.linalg.norm(W0))
    q = (float(off), float(m), vmin, radius, *W0.tolist(), *signs.tolist())
    return Projection(_region, q, f"narrow-region(m={m})"), vmin, radius


def _validate(params):
    from ..errors import TestbedError
    for key in ("n", "dim", "seeds", "epochs", "batch"):
        v = params[key]
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise TestbedError(f"narrow-networks: {key} must be a positive integer, "
                               f"got {v!r}")
    if params["seeds"] < 2:
        raise TestbedError("narrow-networks: seeds must be >= 2 (a paired interval), got "
                           f"{params['seeds']!r}")
    if params["batch"] > params["n"] or params["n"] % params["batch"]:
        raise TestbedError(f"narrow-networks: batch must divide n = {params['n']}, got "
                           f"{params['batch']!r}")
    ws = params["widths"]
    if not (len(ws) >= 1 and all(isinstance(w, (int, np.integer)) and w >= 1 for w in ws)):
        raise TestbedError(f"narrow-networks: widths must be positive integers, got {ws!r}")
    if _critical(params) not in ws:
        raise TestbedError(f"narrow-networks: widths must include 2n/d = "
                           f"{_critical(params)}, got {ws!r}")
    if any(w * params["dim"] < params["n"] for w in ws):
        raise TestbedError("narrow-networks: every width needs m d >= n (a Jacobian of "
                           f"full row rank), got widths {ws!r} with d = {params['dim']}")
    if not (len(params["etas"]) >= 1 and all(np.isfinite(e) and e > 0 for e in params["etas"])):
        raise TestbedError(f"narrow-networks: etas must be positive, got {params['etas']!r}")


def _critical(params):
    return int(math.ceil(2 * params["n"] / params["dim"]))


def data(params):
    """Inputs X ~ N(0, I_d) (n, d) and random labels y = +-1 (n, 1)."""
    rng = np.random.default_rng(int(params["data_seed"]))
    X = rng.standard_normal((params["n"], params["dim"]))
    y = np.where(rng.random(params["n"]) < 0.5, -1.0, 1.0)[:, None]
    return X, y


def _network(params, m):
    from ..nets import feedforward
    X, y = data(params)
    return feedforward((params["dim"], m, 1), X, y, act="softplus", loss="mse",
                       bias=False, name=f"narrow-softplus-m{m}-n{params['n']}")


def jacobian(x, X, m):
    """J_W (n, m, d) of the outputs in W (entry (i, j, a) = v_j sigma'(w_j . x_i)
    x_ia, sigma' the logistic function), and the pre-activations Z = X W^T."""
    d = X.shape[1]
    W, v = x[:m * d].reshape(m, d), x[m * d:m * d + m]
    Z = X @ W.T
    S = 1.0 / (1.0 + np.exp(-Z))                     # softplus' = logistic
    return (S * v)[:, :, None] * X[:, None, :], Z


def _kkt(L, x, X, y, m):
    """The certificate at x: |r|, n |grad_W L| / sigma_min(J_W), sigma_min(J_W), the
    condition number of J_W and the identity error |J^T r / n - grad_W L| / |grad_W L|."""
    n, d = X.shape
    J, Z = jacobian(x, X, m)
    J = J.reshape(n, m * d)
    v = x[m * d:m * d + m]
    r = np.log1p(np.exp(Z)) @ v - y[:, 0]
    g = L.grad(x)[:m * d]
    sv = np.linalg.svd(J, compute_uv=False)
    return {"residual": float(np.linalg.norm(r)),
            "bound": float(n * np.linalg.norm(g) / sv[-1]),
            "sigma_min": float(sv[-1]), "condition": float(sv[0] / sv[-1]),
            "identity": float(np.linalg.norm(J.T @ r / n - g) / np.linalg.norm(g))}


METHODS = ("pgd", "psgd", "sgd")


def _train(L, method, x0, proj, eta, params):
    """Final points (networks, d) of one method at step size eta from x0."""
    from .. import run
    n, b, e, seed = params["n"], params["batch"], params["epochs"], params["seed"]
    if method == "sgd":
        return run(L, "sgd", x0, steps=e * n // b, eta=eta, batch=b, seed=seed,
                   observe=()).x
    rows = []
    for k, P in enumerate(proj):                   # the region depends on x0[k]
        if method == "pgd":
            res = run(L, "projected_gd", x0[k], steps=e, eta=eta, projection=P,
                      observe=())
        else:
            res = run(L, "projected_sgd", x0[k], steps=e * n // b, eta=eta, batch=b,
                      seed=seed, replica_offset=k, projection=P, observe=())
        rows.append(res.x[0])
    return np.stack(rows)


def _width_point(params, m, index) -> dict:
    """One grid point: the networks of width m, every method and step size from the
    same feasible starts, and the certificate of the best projected-GD run."""
    from ..nets import init_params
    X, y = data(params)
    S, etas, dim = params["seeds"], params["etas"], params["dim"]
    out = {}
    L = _network(params, m)
    raw = init_params(L, range(S), "lecun")
    regions = [region(raw[k], m, dim) for k in range(S)]
    proj = [P for P, _, _ in regions]
    x0 = raw.copy()
    for k in range(S):
        _region(x0[k], proj[k].params)          # a feasible start, shared by all
    ends = {}
    for method in METHODS:
        loss = np.empty((len(etas), S))
        for a, eta in enumerate(etas):
            xe = _train(L, method, x0, proj, eta, params)
            loss[a] = [L.value(x) for x in xe]
            ends[method, a] = xe
        out[f"{method}_loss_m{m}"] = np.where(np.isfinite(loss), loss, np.inf)
    xe = ends["pgd", int(np.argmin(np.median(out[f"pgd_loss_m{m}"], axis=1)))]
    vmin, radius = np.array([(v, r) for _, v, r in regions]).T
    off = m * dim
    v_gap = np.max(vmin[:, None] - np.abs(xe[:, off:]), axis=1) / vmin
    ball = np.linalg.norm(xe[:, :off] - x0[:, :off], axis=1) / radius
    out[f"violation_m{m}"] = np.array(max(float(np.max(v_gap)), float(np.max(ball)) - 1))
    out[f"ball_m{m}"] = ball
    out[f"active_v_m{m}"] = np.sum(np.abs(xe[:, off:]) <= vmin[:, None] * (1 + 1e-12),
                                   axis=1)
    kkt = [_kkt(L, xe[k], X, y, m) for k in range(S)]
    for key in kkt[0]:
        out[f"kkt_{key}_m{m}"] = np.array([row[key] for row in kkt])
    return out


def experiment(params) -> dict:
    """The networks of every width (one grid point each, :func:`_width_point`), and
    plain SGD against projected SGD without a projection (``identity_max_abs_diff``)."""
    from .. import run
    from ..nets import init_params
    _validate(params)
    etas = params["etas"]
    out = {"widths": np.asarray(params["widths"]), "etas": np.asarray(etas)}
    for part in points(_width_point, params, params["widths"]):
        out.update(part)
    m = params["widths"][0]
    L = _network(params, m)
    x0 = init_params(L, range(1), "lecun")
    common = dict(steps=params["check_steps"], eta=etas[0], batch=params["batch"],
                  seed=params["seed"], observe=())
    plain = run(L, "sgd", x0, **common).x
    identity = run(L, "projected_sgd", x0, **common).x
    out["identity_max_abs_diff"] = np.array(float(np.max(np.abs(plain - identity))))
    return out


def predict(params) -> dict:
    _validate(params)
    return {"critical_width": _critical(params), "log_ratio_upper": 0.0,
            "violation": FEASIBLE_TOL, "identity": IDENTITY_TOL,
            "identity_max_abs_diff": 0.0}


def best(losses):
    """Final losses (networks,) at the step size of the grid with the least median."""
    return losses[int(np.argmin(np.median(losses, axis=1)))]


def _eta(data, key):
    return float(data["etas"][int(np.argmin(np.median(data[key], axis=1)))])


def check(data, prediction, params) -> Verdict:
    from .sam_network import paired
    m2 = prediction["critical_width"]
    widths = [int(w) for w in data["widths"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = {(meth, m): paired(np.log10(best(data[f"{meth}_loss_m{m}"]))
                                   - np.log10(best(data[f"sgd_loss_m{m}"])))
                 for meth in ("pgd", "psgd") for m in widths}
    violation = max(float(data[f"violation_m{m}"]) for m in widths)
    identity = max(float(np.max(data[f"kkt_identity_m{m}"])) for m in widths)
    level = f"{2 * CONFIDENCE - 1:.0%}"

    def beats(meth, label):
        r = ratio[meth, m2]
        return holds(f"{meth}_beats_sgd", r["high"], f"< {prediction['log_ratio_upper']:g}",
                     f"upper end of the {level} Student-t interval (t = {r['t']:.3g}) of "
                     f"the mean over {r['n']} paired networks (same start{label}) of "
                     f"log10(L_{meth.upper()} / L_SGD) at m = 2n/d = {m2}, each method at "
                     f"its best step size of the same grid, equal epochs",
                     bool(np.isfinite(r["high"]) and r["high"] < prediction["log_ratio_upper"]),
                     tolerance="interval", science=True)

    criteria = [
        at_most("identity_max_abs_diff", float(data["identity_max_abs_diff"]),
                prediction["identity_max_abs_diff"],
                "projected SGD with the identity projection against SGD, same stream: "
                "identical arithmetic, so identical bits; the premise of the pairing"),
        at_most("feasible", violation, prediction["violation"],
                "largest constraint violation at the end of projected GD, relative to "
                "v_min and to R: the projection is exact up to rounding"),
        at_most("jacobian_gradient_identity", identity, prediction["identity"],
                "max |J_W^T r / n - grad_W L| / |grad_W L|: the same sums in another "
                "order, so a few rounding errors; the certificate uses the engine's J_W"),
        beats("pgd", ""),
        beats("psgd", " and batches"),
    ]
    per_width = {}
    for m in widths:
        per_width[str(m)] = {
            **{f"{meth}_final_loss": best(data[f"{meth}_loss_m{m}"]).tolist()
               for meth in METHODS},
            **{f"{meth}_eta": _eta(data, f"{meth}_loss_m{m}") for meth in METHODS},
            "pgd_log10_ratio": ratio["pgd", m], "psgd_log10_ratio": ratio["psgd", m],
            "kkt_residual": data[f"kkt_residual_m{m}"].tolist(),
            "kkt_bound": data[f"kkt_bound_m{m}"].tolist(),
            "jacobian_condition": data[f"kkt_condition_m{m}"].tolist(),
            "ball_use": data[f"ball_m{m}"].tolist(),
            "active_v": data[f"active_v_m{m}"].tolist(),
        }
    evidence = {"widths": per_width, "critical_width": m2,
                "budget": f"{params['epochs']} epochs each: projected GD full batch, "
                          f"projected SGD and SGD batch {params['batch']}"}
    return Verdict(criteria, evidence, headline="pgd_beats_sgd")
