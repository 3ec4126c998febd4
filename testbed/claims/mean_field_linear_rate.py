r"""mean-field-linear-rate (Chen, Vanden-Eijnden & Bruna 2022, "On Feature Learning in
Neural Networks with Global Convergence Guarantees", ICLR, arXiv:2204.10782).

Claim (the paper's abstract, verified): for wide shallow networks under the
mean-field scaling, with a general class of activations, when the input dimension k
is at least the number n of training points, gradient flow drives the training loss
to zero at a linear rate.

The rate certificate is derived here from the toy itself (the paper's theorem, its
activation class and its constants could not be read: [R]); every step below is an
identity or a textbook inequality, checked on the run. The landscape is
``mean_field_two_layer`` (``functions/mean_field.py``): f(x) = (1/m) sum_i c_i
sigma(w_i . x), c_i = (-1)^i fixed, sigma(u) = u/2 + tanh u, L = |r|^2 / (2n),
unit-norm inputs. Mean-field gradient flow dw_i/dtau = -m dL/dw_i gives

    dr/dtau = -(1/n) H r,   H = A o G  (Hadamard product),
    G = X X^T,   A_jl = (1/m) sum_i c_i^2 sigma'(w_i . x_j) sigma'(w_i . x_l),

so d log L / dtau = -rho(tau), rho = (2/n) r^T H r / |r|^2 (an identity), and
rho >= (2/n) lambda_min(H) >= (2/n) min_j A_jj lambda_min(G), the second inequality
Schur's bound on the Hadamard product of two PSD matrices (Horn & Johnson, Topics in
Matrix Analysis, Thm. 5.3.4). With c_i^2 = 1 and sigma' in [1/2, 3/2], A_jj >= 1/4
along any trajectory, hence the uniform certificate

    L(tau) <= L(0) exp(-kappa_0 tau),   kappa_0 = lambda_min(G) / (2n),

independent of the width m and of time, and positive exactly when G = X X^T is
non-singular, which for inputs in general position needs k >= n: the paper's
condition. The trajectory certificate kappa = min_tau (2/n) lambda_min(H_tau) is
sharper (kappa >= kappa_0).

Experiment: for each input dimension k in ``inputs`` (one below n as the control,
the others >= n), ``replicas`` networks of width m with w_i ~ N(0, I_k) (replica r
from NumPy's generator seeded (seed, r)) are integrated by the engine's RK4 rule
``gradient_flow`` with step eta m on L (mean-field time eta per step), their weights
recorded at every step (``coords``, in calls of 50 steps) so that H is computed at
every step. The data come from the landscape's seed.
As evidence, the same networks are also trained by plain ``gd`` with mean-field step
``gd_eta`` and their fitted rate reported.

Criteria, and why these tolerances:

- code, ``flow_identity``: over the fit window, log L(T) - log L(0) against
  -int rho dtau (trapezoid on the steps); the tolerance is ten times the quadrature
  error estimated by Richardson's rule (trapezoid on every step against every
  second step, difference / 3) plus 1e-9 for RK4's local error O(eta^5) summed;
- code, ``schur_inequality``: lambda_min(H) - min_j A_jj lambda_min(G) >= -1e-12
  lambda_max(H) at every step (eigvalsh's backward error is a few n u |H|);
- code, ``control_gram_singular``: for the k < n control, lambda_min(G) <= 1e-12
  lambda_max(G): the uniform certificate is vacuous there (G has rank k), although
  the loss still decays (evidence: A o G can be definite when G is singular; the
  theorem is sufficient, not necessary);
- science, ``rate_over_certificate``: for every k >= n run, the fitted slope of
  -log L against tau (least squares over the window L >= 1e-20, above rounding)
  over the trajectory certificate kappa is >= 1 minus the largest relative change of
  lambda_min(H) between two consecutive steps (the certificate is sampled once per
  step; a least-squares slope is a positive average of the derivative, and the
  derivative is >= (2/n) lambda_min(H) at every instant);
- science, ``linear_rate_bound``: min over tau > 0 of the secant rate
  (log L(0) - log L(tau)) / tau over kappa_0 = lambda_min(G) / (2n) (predicted from
  the data alone) is >= 1 for k >= n: the linear rate, uniform in time;
- science, ``rate_increases_with_k``: the mean fitted rate increases with k over the
  k >= n sizes (lambda_min(G) grows with k/n).

Scales: ``paper``: n = 20, m = 200, k in {10, 40, 80}, 3 networks each, 600 steps
of tau = 1. ``quick``: n = 8, m = 64, k in {4, 16, 32}, 2 networks, 200 steps.
"""
from __future__ import annotations

import numpy as np

from ._base import Verdict, at_least, at_most, holds
from ._grid import points

ID = "mean-field-linear-rate"
PAPER = ("Chen, Vanden-Eijnden & Bruna (2022), On Feature Learning in Neural Networks with "
         "Global Convergence Guarantees, ICLR (arXiv:2204.10782)")
CLAIM = ("with input dimension d >= n, mean-field two-layer gradient flow drives the "
         "training loss to 0 at a linear rate, at least the rate certificate of the run")
SCALES = {
    "quick": {"n": 8, "width": 64, "inputs": (4, 16, 32), "replicas": 2, "steps": 200,
              "eta": 1.0, "gd_eta": 0.5, "data_seed": 0, "seed": 0},
    "paper": {"n": 20, "width": 200, "inputs": (10, 40, 80), "replicas": 3, "steps": 600,
              "eta": 1.0, "gd_eta": 0.5, "data_seed": 0, "seed": 0},
}
# large (for a cluster): 10 networks per input dimension instead of 3, so each
# certificate criterion holds over more trajectories (one grid point per dimension)
SCALES["large"] = {**SCALES["paper"], "replicas": 10}
FLOOR = 1e-20          # losses below are left out of fits: r ~ 1e-10, near rounding
SCHUR_TOL = 1e-12      # relative to lambda_max(H): eigvalsh's backward error
SINGULAR_TOL = 1e-12   # relative to lambda_max(G): a rank-deficient Gram matrix
CHUNK = 50          # steps per engine call whose trajectory is recorded
RK4_TOL = 1e-9         # RK4's summed local error in log L at these steps


def _validate(params):
    from ..errors import TestbedError
    for key in ("n", "width", "replicas", "steps"):
        v = params[key]
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise TestbedError(f"mean-field-linear-rate: {key} must be a positive "
                               f"integer, got {v!r}")
    if params["width"] < 2:
        raise TestbedError("mean-field-linear-rate: width must be >= 2 (output weights "
                           f"(-1)^i), got {params['width']!r}")
    ks = params["inputs"]
    if not (len(ks) >= 2 and all(isinstance(k, (int, np.integer)) and k >= 1 for k in ks)):
        raise TestbedError("mean-field-linear-rate: inputs must be two or more positive "
                           f"integers, got {ks!r}")
    if sum(k >= params["n"] for k in ks) < 1:
        raise TestbedError("mean-field-linear-rate: inputs needs an input dimension >= n "
                           f"= {params['n']}, got {ks!r}")
    for key in ("eta", "gd_eta"):
        if not (np.isfinite(params[key]) and params[key] > 0):
            raise TestbedError(f"mean-field-linear-rate: {key} must be positive, "
                               f"got {params[key]!r}")


def diagnostics(W, X, y, c):
    """At first-layer weights W (m, k): the loss L, the smallest and largest
    eigenvalues of H = A o G, the decay rate rho = (2/n) r^T H r / |r|^2 and
    min_j A_jj (see the module docstring)."""
    n, m = X.shape[0], W.shape[0]
    Z = W @ X.T
    S = 1.5 - np.tanh(Z) ** 2                         # sigma'(Z)
    A = (S.T * c ** 2) @ S / m
    H = A * (X @ X.T)
    r = c @ (0.5 * Z + np.tanh(Z)) / m - y
    lam = np.linalg.eigvalsh(H)
    rr = float(r @ r)
    return (0.5 * rr / n, lam[0], lam[-1], 2.0 / n * float(r @ H @ r) / rr,
            float(np.min(np.diag(A))))


def _landscape(params, k):
    from ..objective.registry import landscape
    return landscape("mean_field_two_layer", d=params["width"] * k, inputs=k,
                     n=params["n"], seed=params["data_seed"])


def experiment(params) -> dict:
    """GD and gradient flow from ``replicas`` starts at every input dimension of
    ``inputs``: one grid point each (:func:`_input_point`, run by
    :func:`testbed.claims._grid.points`)."""
    _validate(params)
    parts = points(_input_point, params, list(params["inputs"]))
    return {key: np.stack([p[key] for p in parts]) for key in (*KEYS, "gd_loss")}


KEYS = ("loss", "lam_min", "lam_max", "rho", "a_min")


def _input_point(params, k, index) -> dict:
    """One grid point, input dimension k: GD's losses, and the diagnostics along
    gradient flow (in chunks of CHUNK steps), each (replicas, steps + 1)."""
    from .. import run
    from ..functions import mean_field as MF
    m, R, T = params["width"], params["replicas"], params["steps"]
    c = MF.signs(m)
    out = {key: np.empty((R, T + 1)) for key in KEYS}
    L = _landscape(params, k)
    X, y = MF.data(params["n"], k, params["data_seed"])
    x = np.stack([np.random.default_rng([params["seed"], r]).standard_normal(m * k)
                  for r in range(R)])
    gd = run(L, "gd", x, steps=T, eta=params["gd_eta"] * m, observe=("loss",))
    out["gd_loss"] = np.asarray(gd.traces["loss"]).T
    for t0 in range(0, T, CHUNK):
        steps = min(CHUNK, T - t0)
        res = run(L, "gradient_flow", x, steps=steps, eta=params["eta"] * m,
                  coords=range(m * k), observe=())
        path = np.asarray(res.traces["coords"])          # (steps + 1, m k, R)
        for s in range(steps + 1):
            for r in range(R):
                row = diagnostics(path[s, :, r].reshape(m, k), X, y, c)
                for key, v in zip(KEYS, row):
                    out[key][r, t0 + s] = v
        x = res.x
    return out


def predict(params) -> dict:
    """The uniform certificate kappa_0 = lambda_min(G) / (2n) per input dimension, from
    the data alone, and lambda_min(G) / lambda_max(G)."""
    from ..functions import mean_field as MF
    _validate(params)
    kappa0, ratio = [], []
    for k in params["inputs"]:
        X, _ = MF.data(params["n"], k, params["data_seed"])
        g = np.linalg.eigvalsh(X @ X.T)
        kappa0.append(max(g[0], 0.0) / (2 * params["n"]))
        ratio.append(g[0] / g[-1])
    return {"kappa0": np.array(kappa0), "gram_ratio": np.array(ratio),
            "rate_over_certificate": 1.0}


def fitted_rate(tau, loss):
    """Least-squares slope of -log L against tau over the window L >= FLOOR (up to the
    first loss below it), and the fit's R^2."""
    ok = np.isfinite(loss) & (loss >= FLOOR)
    end = int(np.argmin(ok)) if not ok.all() else loss.size
    t, y = tau[:end], np.log(loss[:end])
    slope, icpt = np.polyfit(t, y, 1)
    resid = y - (slope * t + icpt)
    r2 = 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())
    return -float(slope), r2, end


def _identity_error(tau, loss, rho, end):
    """|Delta log L + int rho| / |Delta log L| over the first ``end`` steps, and the
    Richardson estimate of the trapezoid's error, relative to the same."""
    drop = np.log(loss[end - 1]) - np.log(loss[0])
    fine = np.trapezoid(rho[:end], tau[:end])
    e2 = end - 1 - (end - 1) % 2
    coarse = np.trapezoid(rho[:e2 + 1:2], tau[:e2 + 1:2]) + np.trapezoid(
        rho[e2:end], tau[e2:end])
    return abs(drop + fine) / abs(drop), abs(fine - coarse) / 3.0 / abs(drop)


def check(data, prediction, params) -> Verdict:
    n, ks = params["n"], np.asarray(params["inputs"])
    T = data["loss"].shape[-1] - 1
    tau = params["eta"] * np.arange(T + 1)
    big = ks >= n
    rates, r2s, ratios, jumps, id_err, id_tol, bound_gap, gd_rates = ([] for _ in range(8))
    for a, k in enumerate(ks):
        for r in range(data["loss"].shape[1]):
            loss, lam = data["loss"][a, r], data["lam_min"][a, r]
            rate, r2, end = fitted_rate(tau, loss)
            err, rich = _identity_error(tau, loss, data["rho"][a, r], end)
            id_err.append(err)
            id_tol.append(10 * rich + RK4_TOL)
            rates.append(rate)
            r2s.append(r2)
            gd_rates.append(fitted_rate(params["gd_eta"] * np.arange(T + 1),
                                        data["gd_loss"][a, r])[0])
            if big[a]:
                kappa = 2.0 / n * float(np.min(lam[:end]))
                ratios.append(rate / kappa)
                jumps.append(float(np.max(np.abs(np.diff(lam[:end])) / lam[:end - 1])))
                secant = (np.log(loss[0]) - np.log(loss[1:end])) / tau[1:end]
                bound_gap.append(float(np.min(secant)) / prediction["kappa0"][a])
    rates = np.array(rates).reshape(len(ks), -1)
    schur = data["lam_min"] - data["a_min"] * np.array(
        [_gram_min(params, k) for k in ks])[:, None, None]
    schur_rel = float(np.min(schur / data["lam_max"]))
    id_excess = float(np.max(np.array(id_err) - np.array(id_tol)))
    mean_rates = rates[big].mean(axis=1)
    control = prediction["gram_ratio"][~big]
    slack = 1.0 - float(np.max(jumps))
    criteria = [
        at_most("flow_identity", id_excess, 0.0,
                "max over runs of |log L(T) - log L(0) + int rho dtau| / |log L(T) - log "
                "L(0)| minus its tolerance: 10 x the trapezoid's Richardson error estimate "
                f"(largest {max(id_tol):.2g}) plus {RK4_TOL:g} for RK4; the decay is the "
                "derived H"),
        at_least("schur_inequality", schur_rel, -SCHUR_TOL,
                 "min over runs and steps of (lambda_min(H) - min_j A_jj lambda_min(G)) / "
                 "lambda_max(H): Schur's bound, to eigvalsh's backward error"),
        holds("control_gram_singular", float(np.max(control)) if control.size else 0.0,
              f"<= {SINGULAR_TOL:g}",
              "lambda_min(G) / lambda_max(G) of the k < n controls: G has rank k < n, so "
              "the uniform certificate is 0 there (the loss may still decay)",
              bool(np.all(control <= SINGULAR_TOL)), tolerance=SINGULAR_TOL),
        at_least("rate_over_certificate", float(np.min(ratios)),
                 prediction["rate_over_certificate"] * slack,
                 "min over k >= n runs of the fitted rate over kappa = min_tau (2/n) "
                 "lambda_min(H_tau); the bound is 1 minus the largest relative change of "
                 f"lambda_min(H) between steps ({1 - slack:.2g}), the certificate being "
                 "sampled once per step", science=True),
        at_least("linear_rate_bound", float(np.min(bound_gap)), 1.0,
                 "min over k >= n runs and tau > 0 of the secant rate (log L(0) - log "
                 "L(tau)) / tau over kappa_0 = lambda_min(G)/(2n), predicted from the data: "
                 "L(tau) <= L(0) exp(-kappa_0 tau) since A_jj >= 1/4 (sigma' >= 1/2); no "
                 "slack, the bound holding at every instant", science=True),
        holds("rate_increases_with_k", mean_rates.tolist(), "increasing",
              "mean fitted rate per k >= n, in increasing k: lambda_min(G) grows with k/n",
              bool(np.all(np.diff(mean_rates) > 0)), tolerance="strict", science=True),
    ]
    evidence = {
        "inputs": ks.tolist(), "fitted_rate": rates.tolist(),
        "r2": np.array(r2s).reshape(len(ks), -1).tolist(),
        "kappa0": prediction["kappa0"].tolist(),
        "gram_ratio": prediction["gram_ratio"].tolist(),
        "rate_over_certificate": ratios,
        "gd_fitted_rate": np.array(gd_rates).reshape(len(ks), -1).tolist(),
        "final_loss": data["loss"][:, :, -1].tolist(),
        "identity_error": id_err,
    }
    return Verdict(criteria, evidence, headline="rate_over_certificate")


def _gram_min(params, k):
    from ..functions import mean_field as MF
    X, _ = MF.data(params["n"], k, params["data_seed"])
    return float(np.linalg.eigvalsh(X @ X.T)[0])
