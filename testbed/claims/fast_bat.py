"""fast-bat (Zhang, Zhang, Khanduri, Hong, Chang & Liu 2022, "Revisiting and Advancing
Fast Adversarial Training Through the Lens of Bi-Level Optimization", ICML, PMLR
pp. 26693-26712, arXiv:2112.12376; code OPTML-Group/Fast-BAT @926599de).

Claim: sign-based fast adversarial training (FAST-AT, Wong et al. 2020's FGSM with a
random start) suffers catastrophic overfitting (CO: robust accuracy under PGD
collapses within a few epochs while accuracy under the FGSM attack it trains on keeps
rising), which FAST-BAT, its bi-level alternative with a smooth lower level and an
implicit-gradient term, avoids without losing clean accuracy.

Updates ([C]: the authors' ``trainer.py``, the engine's rules of the same names):
``fast_at`` delta = P_C(delta_0 + alpha sign grad_delta CE), delta_0 = P_C(U[-eps,
eps]) (or 0: FGSM from the clean input), then SGD on CE at a + delta; ``fast_bat`` two
projected *non-sign* ascent steps of size 1/lambda_ll on the summed loss, the
active-set mask H, and the cross term (1/(lambda B)) grad_x[grad_delta S(x, z) . (H *
grad_delta S(x, delta*))] with the code's two different lambdas; ``pgd_at`` k sign
steps from a random start. P_C(d) = clip(clip(d, -eps, eps) + a, 0, 1) - a. The
cross term is a central difference of the parameter gradient along the input
direction u ([R], exact up to O(h^2); the authors use double back-propagation).

Experiment (reconstructed at small scale [R], claims-part2.md sec. 6.4): digits
(pixels / 16 in [0, 1]) split by a seeded permutation (seed 123) into ``n_train``
training and ``n_test`` test images; an MLP 64 -> ``hidden`` -> 10 with cross-entropy,
He initialisation, one network per seed 0 .. ``seeds`` - 1, trained with plain
mini-batch SGD (``lr``, ``batch``) in every arm: for each eps in ``eps``, FAST-AT
with alpha in ``alphas`` x eps, FGSM from zero with alpha = eps (the most CO-prone
setting), FAST-BAT, and PGD-AT (``pgd_k`` steps of eps / 2) as the reference; each
arm at each step size in ``lrs``. Each rule's arms and seeds are one ensemble
(``testbed.run``, hyper-parameters per replica), trained in segments of
``eval_every`` epochs (segment s draws from the streams (``seed`` * 1000 + s, r)),
and after each segment every network is evaluated
(:mod:`testbed.nets.adversarial`): PGD-``pgd_steps`` (alpha = eps / 4,
``restarts`` random starts) on the test set, the clean test accuracy, and FGSM
(from zero, alpha = eps) on the first ``n_fgsm`` training images.
The activation is ELU, the C^1 activation nearest to ReLU: with ReLU the
input-gradient's jumps at the kinks enter the cross term's central difference at
O(1) in expectation whatever h, where the authors' double back-propagation ignores
them. lambda = 10 (the code's default ``--lmbda``); 1/lambda_ll = eps / (the median
of |grad_delta CE_j| over the training set at the initial networks): the spec's
calibration "(1/lambda) median |grad_delta CE_sum| = eps" (the code's 5000/255 is the
same rule on CIFAR-10's O(1e-3) input gradients).

CO indicator of a network (sec. 6.4): at some evaluation k >= 1 the PGD test
accuracy falls below half the larger of its two previous values (a collapse within
two evaluations), that value was at least ``CO_FLOOR`` (so a drop between
near-chance values is not a collapse), and the FGSM training accuracy at k is at
least its running maximum minus ``FGSM_SLACK`` (still rising: the FGSM-vs-PGD
signature of CO rather than a general breakdown).

Criteria:

- code: ``eps0_is_clean`` -- PGD at eps = 0 reproduces the clean accuracy of every
  final network exactly (P_C maps every start to 0);
- code: ``pgd_monotone`` -- robust accuracy of the final networks non-increasing in
  the PGD steps (0, 1, 5, ``pgd_steps``) and restarts (1, ``restarts``) on a fixed
  seed: true by construction of the evaluation (Zhang et al.'s pitfall list asks for
  this sanity check), so any violation is a bug;
- code: ``input_gradient_fd`` -- the kernel's input gradient against central
  differences of the loss, median relative error over test images;
- code: ``cross_term_fd`` -- FAST-BAT's cross term (the central difference along u
  in input space, as the rule forms it) against a central difference of
  grad_delta S . u in parameter space along random directions (the mixed
  derivative taken in the other order);
- science (a) ``co_fast_at``: the largest fraction over (eps, FAST-AT / FGSM arm,
  lr) of seeds showing CO is at least 3/5;
- science (b) ``co_fast_bat``: at that arm's (eps, lr), the fraction of FAST-BAT
  networks showing CO is at most 1/5;
- science (c) ``bat_robust_gap`` / ``bat_clean_gap``: there, FAST-BAT's mean final
  PGD accuracy is at least FAST-AT's minus 0.02, and its mean clean accuracy within
  0.05 of FAST-AT's.

If CO does not appear (claims-part2.md found none on digits), (a) fails and the
claim is "not reproduced", with the whole sweep in the evidence (CO counts, the
deepest PGD drop ratio seen per arm, final accuracies) and the figure. Counts over
seeds with the margins above keep the verdict independent of rounding.

Scales: ``quick`` 600 images, 64 -> 64 -> 10, eps 0.2, FAST-AT at 1.25 eps only,
3 seeds, 12 epochs, PGD-10 x 2; ``paper`` 1000 images, 64 -> 128 -> 10, eps 0.15 and
0.25, FAST-AT at 1.25 eps and 2 eps, lr 0.05 and 0.2 (the spec's levers for CO:
eps, alpha, zero-init FGSM, step size, length), 5 seeds, 60 epochs, PGD-AT with 3
steps, PGD-20 x 2. The spec's 1400 images and 64 -> 256 -> 256 -> 10 network (about
9 times the cost) do not fit the claim's budget of 4 minutes on 2 cores.
"""
from __future__ import annotations

import numpy as np

from ._base import Verdict, at_least, at_most, holds

ID = "fast-bat"
PAPER = ("Zhang, Zhang, Khanduri, Hong, Chang & Liu (2022), Revisiting and Advancing "
         "Fast Adversarial Training Through the Lens of Bi-Level Optimization, ICML "
         "(arXiv:2112.12376)")
CLAIM = ("sign-based FAST-AT suffers catastrophic overfitting (PGD robust accuracy "
         "collapses) that FAST-BAT avoids without losing clean accuracy")
SCALES = {
    "quick": {"n_train": 600, "n_test": 397, "n_fgsm": 300, "hidden": (64,),
              "eps": (0.2,), "alphas": (1.25,), "lrs": (0.05,), "seeds": 3,
              "epochs": 12, "eval_every": 3, "batch": 64, "pgd_k": 2, "pgd_steps": 10,
              "restarts": 2, "lmbda": 10.0, "h": 1e-4, "seed": 0},
    "paper": {"n_train": 1000, "n_test": 397, "n_fgsm": 400, "hidden": (128,),
              "eps": (0.15, 0.25), "alphas": (1.25, 2.0), "lrs": (0.05, 0.2),
              "seeds": 5, "epochs": 60, "eval_every": 5, "batch": 64, "pgd_k": 3,
              "pgd_steps": 20, "restarts": 2, "lmbda": 10.0, "h": 1e-4, "seed": 0},
}
SPLIT_SEED = 123
CO_DROP = 0.5          # PGD accuracy below this fraction of its recent value
CO_FLOOR = 0.2         # ... which was at least twice chance (10 classes)
FGSM_SLACK = 0.02      # FGSM train accuracy within this of its running maximum
CO_AT = 0.6            # (a): at least 3 of 5 seeds
CO_BAT = 0.2           # (b): at most 1 of 5 seeds
ROBUST_GAP = 0.02      # (c)
CLEAN_GAP = 0.05       # (c)
FD_REL = 1e-5          # input gradient vs central differences
CROSS_REL = 1e-5       # cross term: input-side vs parameter-side differences
METHODS = ("fast_at", "fgsm", "fast_bat", "pgd_at")


def _validate(params):
    from ..errors import TestbedError
    for key in ("n_train", "n_test", "n_fgsm", "seeds", "epochs", "eval_every", "batch",
                "pgd_k", "pgd_steps", "restarts"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise TestbedError(f"fast-bat: {key} must be an integer >= 1, got {v!r}")
    if params["epochs"] % params["eval_every"]:
        raise TestbedError(f"fast-bat: epochs ({params['epochs']}) must be a multiple of "
                           f"eval_every ({params['eval_every']})")
    if params["n_fgsm"] > params["n_train"] or params["n_train"] + params["n_test"] > 1797:
        raise TestbedError("fast-bat: need n_fgsm <= n_train and n_train + n_test <= 1797")
    if not params["hidden"] or any(int(w) < 1 for w in params["hidden"]):
        raise TestbedError(f"fast-bat: hidden widths must be >= 1, got {params['hidden']}")
    for key in ("eps", "alphas", "lrs"):
        vals = np.asarray(params[key], dtype=float)
        low = 0.0 if key == "eps" else 1e-300
        if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)) \
                or np.any(vals < low):
            raise TestbedError(f"fast-bat: {key} must be a non-empty list of finite "
                               f"numbers {'>= 0' if key == 'eps' else '> 0'}, got "
                               f"{params[key]!r}")
    for key in ("lmbda", "h"):
        if not (np.isfinite(params[key]) and params[key] > 0):
            raise TestbedError(f"fast-bat: {key} must be > 0, got {params[key]!r}")


def _data(params):
    from ..nets import data, feedforward
    from ..nets.splits import split
    X, Y = data.digits()
    (Xtr, Ytr), (Xte, Yte) = split(X, Y, (params["n_train"], params["n_test"]),
                                   seed=SPLIT_SEED)
    widths = (64, *[int(w) for w in params["hidden"]], 10)
    L = feedforward(widths, Xtr, Ytr, act="elu", loss="ce",
                    name=f"digits-elu-{'-'.join(map(str, widths))}-n{params['n_train']}")
    return L, Xtr, Ytr, Xte, Yte


def arms(params) -> list:
    """Every (method, eps, alpha, lr) of the sweep, in the order of the data's rows."""
    out = []
    for eps in params["eps"]:
        for lr in params["lrs"]:
            for a in params["alphas"]:
                out.append({"method": "fast_at", "eps": eps, "alpha": a * eps, "lr": lr})
            out.append({"method": "fgsm", "eps": eps, "alpha": eps, "lr": lr})
            out.append({"method": "fast_bat", "eps": eps, "alpha": float("nan"), "lr": lr})
            out.append({"method": "pgd_at", "eps": eps, "alpha": eps / 2, "lr": lr})
    return out


def _input_grad_scale(L, X0):
    """median |grad_delta CE_j| over samples, coordinates and the initial networks."""
    from ..nets import mlp
    n = int(L.p[1])
    Xf = L.p[int(L.p[7]):int(L.p[7]) + n * int(L.p[2])].copy()
    Yf = L.p[int(L.p[8]):int(L.p[8]) + n * int(L.p[3])].copy()
    g, gx = np.empty(L.d), np.empty_like(Xf)
    vals = []
    for x in X0:
        mlp.value_grad_inputs(x, L.p, Xf, Yf, g, gx)
        vals.append(np.abs(n * gx))
    return float(np.median(np.concatenate(vals)))


def _hyper(rule_arms, seeds, params, scale):
    """Per-replica hyper-parameters of one rule's ensemble (arm-major, then seed)."""
    def rep(key):
        return np.repeat([a[key] for a in rule_arms], seeds)
    h = {"eta": rep("lr"), "eps": rep("eps"), "batch": params["batch"]}
    method = rule_arms[0]["method"]
    if method in ("fast_at", "fgsm"):
        h.update(alpha=rep("alpha"),
                 rs=np.repeat([0.0 if a["method"] == "fgsm" else 1.0 for a in rule_arms],
                              seeds))
    elif method == "fast_bat":
        h.update(lr_ll=rep("eps") / scale, lmbda=params["lmbda"], h=params["h"])
    else:
        h.update(alpha=rep("alpha"), k=params["pgd_k"])
    return h


def experiment(params) -> dict:
    from .. import run
    from ..nets import accuracy, init_params
    from ..nets.adversarial import fgsm_accuracy, pgd_accuracy
    from ._digits_mlps import steps as epoch_steps
    _validate(params)
    L, Xtr, Ytr, Xte, Yte = _data(params)
    S = int(params["seeds"])
    X0 = np.atleast_2d(init_params(L, seed=list(range(S)), scheme="he"))
    scale = _input_grad_scale(L, X0)
    table = arms(params)
    groups = {"fast_at": [a for a in table if a["method"] in ("fast_at", "fgsm")],
              "fast_bat": [a for a in table if a["method"] == "fast_bat"],
              "pgd_at": [a for a in table if a["method"] == "pgd_at"]}
    rows = {rule: [table.index(a) for a in group] for rule, group in groups.items()}
    state = {rule: np.tile(X0, (len(group), 1)) for rule, group in groups.items()}
    n_seg = params["epochs"] // params["eval_every"]
    A = len(table)
    pgd = np.full((n_seg, A, S), np.nan)
    clean = np.full((n_seg, A, S), np.nan)
    fgsm = np.full((n_seg, A, S), np.nan)
    diverged_at = np.full((A, S), -1, np.int64)
    active = np.full((A, S), np.nan)
    seg_steps = epoch_steps(L, params["eval_every"], params["batch"])
    Xf, Yf = Xtr[:params["n_fgsm"]], Ytr[:params["n_fgsm"]]
    for s in range(n_seg):
        for rule, group in groups.items():
            res = run(L, rule, state[rule], seg_steps, seed=params["seed"] * 1000 + s,
                      observe=(), **_hyper(group, S, params, scale))
            state[rule] = res.x
            for j, row in enumerate(rows[rule]):
                for k in range(S):
                    r = j * S + k
                    if res.diverged[r] and diverged_at[row, k] < 0:
                        diverged_at[row, k] = s * seg_steps + int(res.stop_step[r])
                    if rule == "fast_bat":
                        active[row, k] = res.scalars[r, 0]
            for j, row in enumerate(rows[rule]):
                eps = table[row]["eps"]
                xs = res.x[j * S:(j + 1) * S]
                pgd[s, row] = pgd_accuracy(L, xs, Xte, Yte, eps, eps / 4,
                                           params["pgd_steps"], params["restarts"],
                                           seed=params["seed"])
                clean[s, row] = accuracy(L, xs, Xte, Yte)
                fgsm[s, row] = fgsm_accuracy(L, xs, Xf, Yf, eps)
    final = np.empty((A, S, L.d))
    for rule in groups:
        for j, row in enumerate(rows[rule]):
            final[row] = state[rule][j * S:(j + 1) * S]
    out = {"pgd": pgd, "clean": clean, "fgsm": fgsm, "diverged_at": diverged_at,
           "active_fraction": active, "input_grad_scale": np.array(scale),
           "eps": np.array([a["eps"] for a in table]),
           "alpha": np.array([a["alpha"] for a in table]),
           "lr": np.array([a["lr"] for a in table]),
           "method": np.array([METHODS.index(a["method"]) for a in table]),
           "epochs": params["eval_every"] * np.arange(1, n_seg + 1)}
    out.update(_code_checks(L, final, table, Xte, Yte, params, scale))
    return out


def _code_checks(L, final, table, Xte, Yte, params, scale) -> dict:
    """The measurements of the code criteria, on the final networks."""
    from ..nets import accuracy
    from ..nets.adversarial import pgd_accuracy
    flat = final.reshape(-1, L.d)
    ok = np.all(np.isfinite(flat), axis=1)
    eps0 = pgd_accuracy(L, flat[ok], Xte, Yte, 0.0, 0.05, 3, 2, seed=params["seed"])
    cl = accuracy(L, flat[ok], Xte, Yte)
    eps_max = max(params["eps"])
    grid = []
    for restarts in (1, params["restarts"]):
        grid.append([pgd_accuracy(L, flat[ok], Xte, Yte, eps_max, eps_max / 4, k, restarts,
                                  seed=params["seed"])
                     for k in (0, 1, 5, params["pgd_steps"])])
    grid = np.array(grid)                       # (2 restarts, 4 steps, networks)
    viol = int(np.sum(np.diff(grid, axis=1) > 0) + np.sum(grid[1] > grid[0]))
    bat = next(i for i, a in enumerate(table) if a["method"] == "fast_bat")
    x = final[bat, 0]
    return {"eps0_mismatch": np.array(int(np.sum(eps0 != cl))),
            "monotone_violations": np.array(viol), "monotone_grid": grid,
            "input_grad_rel_err": np.array(input_gradient_error(L, x, Xte[:32], Yte[:32])),
            "cross_term_rel_err": np.array(cross_term_error(
                L, x, Xte[:params["batch"]], Yte[:params["batch"]], table[bat]["eps"],
                table[bat]["eps"] / scale, params["lmbda"], params["h"], params["seed"]))}


def input_gradient_error(L, x, X, Y, h=1e-6) -> float:
    """Median over the rows j of X of |gx_j . v - (f_j(a_j + h v) - f_j(a_j - h v)) /
    (2 h)| / |gx_j . v|, v a seeded Gaussian direction, f_j the loss of sample j
    alone, gx_j its input gradient by :func:`testbed.nets.mlp.value_grad_inputs`."""
    from ..nets import mlp
    rng = np.random.default_rng(1)
    g = np.empty(L.d)
    errs = []
    for a, y in zip(X, Y):
        v = rng.normal(size=a.size)
        gx = np.empty(a.size)
        mlp.value_grad_inputs(x, L.p, a.copy(), y.astype(float), g, gx)
        fp = mlp.value_grad_inputs(x, L.p, a + h * v, y.astype(float), g, np.empty(a.size))
        fm = mlp.value_grad_inputs(x, L.p, a - h * v, y.astype(float), g, np.empty(a.size))
        exact = float(gx @ v)
        errs.append(abs(exact - (fp - fm) / (2 * h)) / abs(exact))
    return float(np.median(errs))


def cross_term(L, x, Xb, Yb, z, u, lmbda, h):
    """FAST-BAT's cross term as the rule forms it: (|u|_inf / lambda) [grad_x CE_B(x;
    a + z + h v) - grad_x CE_B(x; a + z - h v)] / (2 h), v = u / |u|_inf, Xb, Yb, z, u
    flat (B rows)."""
    from ..nets import mlp
    top = np.max(np.abs(u))
    gp, gm, gx = np.empty(L.d), np.empty(L.d), np.empty(Xb.size)
    mlp.value_grad_inputs(x, L.p, Xb + z + h * u / top, Yb, gp, gx)
    mlp.value_grad_inputs(x, L.p, Xb + z - h * u / top, Yb, gm, gx)
    return top / (lmbda * 2 * h) * (gp - gm)


def cross_term_error(L, x, X, Y, eps, lr_ll, lmbda, h, seed, directions=8, step=1e-4):
    """Median over seeded unit directions w of the relative difference between w .
    cross_term (input-side difference, the rule's) and the parameter-side central
    difference [phi(x + s w) - phi(x - s w)] / (2 s) / (lambda B), phi(x) = grad_delta
    S(x, z) . u = B gx(x) . u: the mixed derivative taken in the other order. z and
    delta* are the rule's two projected ascent steps from a seeded start, u = H *
    grad_delta S(x, delta*)."""
    from ..nets import mlp
    rng = np.random.default_rng(seed)
    B = X.shape[0]
    Xb, Yb = X.ravel().copy(), Y.astype(float).ravel().copy()
    g, gx = np.empty(L.d), np.empty(Xb.size)

    def proj(d):
        return np.clip(np.clip(d, -eps, eps) + Xb, 0.0, 1.0) - Xb
    z = proj(rng.uniform(-eps, eps, Xb.size))
    mlp.value_grad_inputs(x, L.p, Xb + z, Yb, g, gx)
    z = proj(z + lr_ll * B * gx)
    mlp.value_grad_inputs(x, L.p, Xb + z, Yb, g, gx)
    ds = proj(z + lr_ll * B * gx)
    mlp.value_grad_inputs(x, L.p, Xb + ds, Yb, g, gx)
    on = (ds > np.maximum(-Xb, -eps) + 1e-7) & (ds < np.minimum(1 - Xb, eps) - 1e-7)
    u = np.where(on, B * gx, 0.0)
    if not np.any(u):
        return float("nan")
    c = cross_term(L, x, Xb, Yb, z, u, lmbda, h)

    def phi(theta):
        mlp.value_grad_inputs(theta, L.p, Xb + z, Yb, g, gx)
        return B * float(gx @ u)
    errs = []
    for _ in range(directions):
        w = rng.normal(size=L.d)
        w /= np.linalg.norm(w)
        other = (phi(x + step * w) - phi(x - step * w)) / (2 * step) / (lmbda * B)
        errs.append(abs(float(c @ w) - other) / abs(other))
    return float(np.median(errs))


def co_events(pgd, fgsm) -> np.ndarray:
    """Per network (the trailing axes), whether the CO indicator fires at some
    evaluation (axis 0): see the module docstring."""
    n = pgd.shape[0]
    fired = np.zeros(pgd.shape[1:], bool)
    for k in range(1, n):
        before = np.nanmax(pgd[max(0, k - 2):k], axis=0)
        peak = np.nanmax(fgsm[:k], axis=0)
        fired |= ((pgd[k] < CO_DROP * before) & (before >= CO_FLOOR)
                  & (fgsm[k] >= peak - FGSM_SLACK))
    return fired


def drop_ratio(pgd) -> np.ndarray:
    """Per network, the smallest PGD accuracy over the larger of its two previous
    values (1: never dropped; CO needs < CO_DROP)."""
    ratios = [pgd[k] / np.maximum(np.nanmax(pgd[max(0, k - 2):k], axis=0), 1e-12)
              for k in range(1, pgd.shape[0])]
    return np.nanmin(np.array(ratios), axis=0) if ratios else np.ones(pgd.shape[1:])


def predict(params) -> dict:
    return {"co_fast_at": CO_AT, "co_fast_bat": CO_BAT, "bat_robust_gap": -ROBUST_GAP,
            "bat_clean_gap": CLEAN_GAP, "eps0_mismatch": 0, "monotone_violations": 0,
            "input_grad_rel_err": FD_REL, "cross_term_rel_err": CROSS_REL}


def check(data, prediction, params) -> Verdict:
    method = data["method"]
    co = co_events(data["pgd"], data["fgsm"])                  # (A, S)
    gone = data["diverged_at"] >= 0
    co_frac = np.mean(co & ~gone, axis=1)
    fast = np.flatnonzero((method == METHODS.index("fast_at"))
                          | (method == METHODS.index("fgsm")))
    # the FAST-AT arm with the most CO (ties: the first in the sweep's order)
    best = int(fast[np.argmax(co_frac[fast])])
    same = (data["eps"] == data["eps"][best]) & (data["lr"] == data["lr"][best])
    bat = int(np.flatnonzero(same & (method == METHODS.index("fast_bat")))[0])
    final_pgd, final_clean = data["pgd"][-1], data["clean"][-1]
    robust_gap = float(np.nanmean(final_pgd[bat]) - np.nanmean(final_pgd[best]))
    clean_gap = float(abs(np.nanmean(final_clean[bat]) - np.nanmean(final_clean[best])))
    S = data["pgd"].shape[2]
    where = (f"{METHODS[method[best]]} eps = {data['eps'][best]:g}, alpha = "
             f"{data['alpha'][best]:g}, lr = {data['lr'][best]:g}")
    criteria = [
        at_most("eps0_mismatch", int(data["eps0_mismatch"]), prediction["eps0_mismatch"],
                "at eps = 0 every start projects to 0 and every step to 0: the robust "
                "accuracy is the clean accuracy, exactly, on every final network"),
        at_most("monotone_violations", int(data["monotone_violations"]),
                prediction["monotone_violations"],
                "a sample counts as robust only if no iterate of any start fools the "
                "network, on fixed starts: accuracy cannot rise with more steps or "
                "restarts (sec. 6.6's sanity check, exact by construction)"),
        at_most("input_grad_rel_err", float(data["input_grad_rel_err"]),
                prediction["input_grad_rel_err"],
                "median over 32 test images: central difference at h = 1e-6 of an ELU "
                "network (C^1; truncation O(h^2) ~ 1e-12 away from kinks, O(h) at the "
                "rare ones crossed) plus rounding ~ 1e-16 / 1e-6; a wrong adjoint is O(1)"),
        at_most("cross_term_rel_err", float(data["cross_term_rel_err"]),
                prediction["cross_term_rel_err"],
                "median over 8 directions: the rule's input-side difference (h = "
                f"{params['h']:g}) against the parameter-side difference (1e-4), both "
                "O(step^2) on the smooth pieces, O(step) where an ELU unit changes "
                "side (measured 1e-10 to 2e-7 on digits networks); a wrong sign, scale "
                "or reduction (sum vs mean: a factor B) is O(1)"),
        at_least("co_fast_at", float(co_frac[best]), prediction["co_fast_at"],
                 f"(a) fraction of {S} seeds with the CO indicator, at the sweep's most "
                 f"CO-prone fast arm ({where}); 3 of 5 seeds, as specified",
                 science=True),
        at_most("co_fast_bat", float(co_frac[bat]), prediction["co_fast_bat"],
                "(b) FAST-BAT at the same eps and lr: at most 1 of 5 seeds",
                science=True),
        at_least("bat_robust_gap", robust_gap, prediction["bat_robust_gap"],
                 "(c) mean final PGD accuracy FAST-BAT minus FAST-AT at that arm: "
                 "FAST-BAT at most 2 points lower", science=True),
        at_most("bat_clean_gap", clean_gap, prediction["bat_clean_gap"],
                "(c) |mean clean accuracy FAST-BAT - FAST-AT| at that arm: within 5 "
                "points", science=True),
    ]
    if np.any(gone):
        criteria.append(holds("no_divergence", int(np.sum(gone)), 0,
                              "a network whose loss left the finite numbers (flagged with "
                              "its step in the evidence); the step sizes are small", False))
    labels = [f"{METHODS[m]} eps={e:g} alpha={a:g} lr={lr:g}"
              for m, e, a, lr in zip(method, data["eps"], data["alpha"], data["lr"])]
    ratio = drop_ratio(data["pgd"])
    evidence = {
        "sweep": {lab: {"co_seeds": int(np.sum(co[i] & ~gone[i])),
                        "min_drop_ratio": float(np.nanmin(ratio[i])),
                        "final_pgd": float(np.nanmean(final_pgd[i])),
                        "final_clean": float(np.nanmean(final_clean[i])),
                        "final_fgsm_train": float(np.nanmean(data["fgsm"][-1][i]))}
                  for i, lab in enumerate(labels)},
        "most_co_prone_arm": labels[best],
        "min_drop_ratio_fast_at": float(np.nanmin(ratio[fast])),
        "diverged": {labels[i]: data["diverged_at"][i].tolist()
                     for i in range(len(labels)) if np.any(gone[i])},
        "fast_bat_active_fraction": float(np.nanmean(
            data["active_fraction"][method == METHODS.index("fast_bat")])),
        "input_grad_scale": float(data["input_grad_scale"]),
    }
    return Verdict(criteria, evidence, headline="co_fast_at")
