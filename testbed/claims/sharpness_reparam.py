"""sharpness-reparam (Dinh, Pascanu, Bengio & Bengio 2017; Keskar et al. 2017):
Hessian-based sharpness is not invariant to the layer rescalings of a ReLU network,
although the function is. P1 section 7, experiment E7a.

Network: ReLU MLP 5-8-3 (and 5-8-8-3), squared loss 1/(2n) sum_j |f(x_j) - y_j|^2
(``loss="mse"``) on n = 50 Gaussian inputs with Gaussian targets, float64, at a
PyTorch-style random point theta (the law below holds at every theta, not only at
minima). The alpha-scale transformation

    T_alpha: (W1, b1, W2, b2) -> (alpha W1, alpha b1, W2 / alpha, b2),   alpha > 0,

(Dinh et al.'s, from a secondary source [V-sec], P1 section 7) and its 3-layer
version with factors (a1, a2, a3), a1 a2 a3 = 1: W_l -> a_l W_l and
b_l -> (a_1 ... a_l) b_l.

Predictions (self-contained, derived from this toy's own math [D], not from the
paper's notation):
- outputs: relu(a z) = a relu(z) for a > 0, so f(T theta; x) = f(theta; x) for every
  input x (the biases of the scaled layers must be scaled too, P1 pitfall);
- Hessian: T is linear and diagonal, T = diag(s), and L(T theta) = L(theta) for all
  theta; differentiating twice, T H(T theta) T = H(theta), i.e.
  H(T theta) = D H(theta) D with D = T^-1 = diag(1/alpha on (W1, b1), alpha on W2,
  1 on b2). So H11 -> H11 / alpha^2, H22 -> alpha^2 H22, H12 unchanged;
- trace law: tr H(T theta) = tr H11 / alpha^2 + alpha^2 tr H22 + tr H_b2;
- lambda_max(H(T theta)) >= alpha^2 lambda_max(H22) (Cauchy interlacing on the W2
  block), which grows without bound: the same function can be made as sharp as one
  likes.

Every criterion is a check of exact mathematics (the Hessians are exact, by the
R-operator of :mod:`testbed.nets.mlp`, no finite differences), so each tolerance
is a rounding bound; the exact Hessian is that of the smooth piece the point lies
in, so the point must keep away from the ReLU kinks (T_alpha preserves every
activation pattern).
"""
import numpy as np

from ._base import Verdict, at_least, at_most

ID = "sharpness-reparam"
PAPER = ("Dinh, Pascanu, Bengio & Bengio (2017), Sharp Minima Can Generalize For Deep "
         "Nets, ICML; Keskar et al. (2017), On Large-Batch Training ..., ICLR")
CLAIM = ("alpha-rescaling the layers of a ReLU network leaves its function unchanged but "
         "rescales its Hessian as D H D, so Hessian-based sharpness can be made "
         "arbitrarily large or small")
SCALES = {
    "quick": {"widths": [5, 8, 3], "widths3": [5, 8, 8, 3], "n": 50,
              "alphas": [0.25, 0.5, 1.0, 2.0, 4.0, 0.3, 3.0],
              "alphas3": [[2.0, 0.5, 1.0], [4.0, 1.0, 0.25], [0.5, 0.5, 4.0],
                          [3.0, 0.5, 2.0 / 3.0]],
              "scale_bias": True, "seed": 0},
    "paper": {"widths": [5, 8, 3], "widths3": [5, 8, 8, 3], "n": 50,
              "alphas": np.round(np.logspace(-1, 1, 41), 6).tolist(),
              "alphas3": [[2.0, 0.5, 1.0], [4.0, 1.0, 0.25], [0.5, 0.5, 4.0],
                          [3.0, 0.5, 2.0 / 3.0], [10.0, 0.1, 1.0]],
              "scale_bias": True, "seed": 0},
}
OUT_TOL = 1e-12
LAW_TOL = 1e-11
KINK = 1e-8
INTERLACE_TOL = 1e-12


def _net(widths, n, seed):
    from .. import nets
    rng = np.random.default_rng([seed, len(widths)])
    X = rng.standard_normal((n, widths[0]))
    Y = rng.standard_normal((n, widths[-1]))
    L = nets.feedforward(widths, X, Y, act="relu", loss="mse")
    return L, nets.init_params(L, seed, "pytorch"), X


def _scales(L, factors, scale_bias=True):
    """The diagonal s of T (T theta = s * theta) for layer factors a_1 .. a_L: the
    weights of layer l times a_l, its bias times a_1 ... a_l (times 1 when
    ``scale_bias`` is False: the pitfall that changes the function)."""
    from ..nets.layout import layout
    s = np.ones(L.d)
    for piece in layout(L):
        l = int(piece.name[len("layer"):piece.name.index(".")])
        if piece.kind == "weight":
            s[piece.offset:piece.offset + piece.size] = factors[l]
        elif piece.kind == "bias" and scale_bias:
            s[piece.offset:piece.offset + piece.size] = float(np.prod(factors[:l + 1]))
    return s


def _preactivations(L, x, X):
    """min |pre-activation| over hidden layers and samples (distance to a kink)."""
    from .. import nets
    worst = np.inf
    H = X
    for piece_w, block in zip([p for p in nets.layout.layout(L) if p.kind == "weight"],
                              nets.blocks(L)):
        W = x[piece_w.offset:piece_w.offset + piece_w.size].reshape(piece_w.shape)
        b = x[piece_w.offset + piece_w.size:piece_w.offset + piece_w.size + piece_w.shape[0]]
        Z = H @ W.T + b
        if block.act == "relu":
            worst = min(worst, float(np.abs(Z).min()))
        H = np.maximum(Z, 0.0) if block.act == "relu" else Z
    return worst


def _family(widths, n, seed, factor_list, scale_bias):
    from .. import nets
    L, theta, X = _net(widths, n, seed)
    F0 = nets.outputs(L, theta)
    H0 = L.hessian(theta)
    S, Hs, dF, loss, kinks = [], [], [], [], []
    for factors in factor_list:
        s = _scales(L, factors, scale_bias)
        th = s * theta
        S.append(s)
        Hs.append(L.hessian(th))
        dF.append(float(np.abs(nets.outputs(L, th) - F0).max()))
        loss.append(L.value(th))
        kinks.append(_preactivations(L, th, X))
    return {"theta": theta, "H": H0, "H_scaled": np.array(Hs), "s": np.array(S),
            "out_diff": np.array(dF), "loss": np.array(loss), "kink": np.array(kinks),
            "loss0": np.array(L.value(theta))}


def experiment(params) -> dict:
    two = _family(params["widths"], params["n"], params["seed"],
                  [[a, 1.0 / a] for a in params["alphas"]], params["scale_bias"])
    three = _family(params["widths3"], params["n"], params["seed"], params["alphas3"],
                    params["scale_bias"])
    out = {f"two_{k}": v for k, v in two.items()}
    out.update({f"three_{k}": v for k, v in three.items()})
    out["alphas"] = np.array(params["alphas"], dtype=float)
    out["alphas3"] = np.array(params["alphas3"], dtype=float)
    return out


def _blocks2(widths):
    """Index masks of (W1, b1), W2, b2 in the 2-layer parameter vector."""
    n0, n1, n2 = widths
    d = n1 * n0 + n1 + n2 * n1 + n2
    first = np.zeros(d, bool)
    first[:n1 * n0 + n1] = True
    second = np.zeros(d, bool)
    second[n1 * n0 + n1:n1 * n0 + n1 + n2 * n1] = True
    return first, second, ~(first | second)


def predict(params) -> dict:
    """D = T^-1 per transformation (from the architecture and the factors alone)."""
    def dvec(widths, factors):
        cum, out = 1.0, []
        for l in range(len(widths) - 1):
            cum *= factors[l]
            out += [1.0 / factors[l]] * (widths[l + 1] * widths[l]) + [1.0 / cum] * widths[l + 1]
        return np.array(out)
    two = np.array([dvec(params["widths"], [a, 1.0 / a]) for a in params["alphas"]])
    three = np.array([dvec(params["widths3"], f) for f in params["alphas3"]])
    return {"D_two": two, "D_three": three, "output_change": 0.0}


def _law_error(H, Hs, D):
    err = []
    for Ha, dvec in zip(Hs, D):
        pred = dvec[:, None] * H * dvec[None, :]
        err.append(float(np.abs(Ha - pred).max() / np.abs(pred).max()))
    return np.array(err)


def _sharpness(data, params):
    """lambda_max of every H(T_alpha theta), and the bound's ingredients from H(theta):
    tr H11, tr H22, tr H_b2 and lambda_max(H22)."""
    H = data["two_H"]
    first, second, rest = _blocks2(params["widths"])
    traces = [float(np.trace(H[np.ix_(m, m)])) for m in (first, second, rest)]
    lam22 = float(np.linalg.eigvalsh(H[np.ix_(second, second)])[-1])
    lam = np.array([np.linalg.eigvalsh(Ha)[-1] for Ha in data["two_H_scaled"]])
    return lam, lam22, traces


def check(data, prediction, params) -> Verdict:
    alphas = data["alphas"]
    law2 = _law_error(data["two_H"], data["two_H_scaled"], prediction["D_two"])
    law3 = _law_error(data["three_H"], data["three_H_scaled"], prediction["D_three"])
    out_diff = max(float(data["two_out_diff"].max()), float(data["three_out_diff"].max()))
    lam, lam22, (tr11, tr22, trb) = _sharpness(data, params)
    tr_pred = tr11 / alphas**2 + alphas**2 * tr22 + trb
    tr_meas = np.array([np.trace(Ha) for Ha in data["two_H_scaled"]])
    tr_err = float(np.max(np.abs(tr_meas - tr_pred) / np.abs(tr_pred)))
    bound = alphas**2 * lam22
    i1 = int(np.argmin(np.abs(alphas - 1.0)))
    i4 = int(np.argmin(np.abs(alphas - 4.0)))
    kink = min(float(data["two_kink"].min()), float(data["three_kink"].min()))
    hess_reason = (f"each Hessian entry sums n = {params['n']} samples of products of "
                   f"O(width) terms: relative rounding ~(n + width) u ~ 1e-14, so 1e-11 "
                   f"leaves 1000x headroom while a wrong law errs by O(1) (alpha^2 - 1)")
    return Verdict([
        at_most("hessian_law_rel_error_2layer", float(law2.max()), LAW_TOL, hess_reason),
        at_most("hessian_law_rel_error_3layer", float(law3.max()), LAW_TOL, hess_reason),
        at_most("trace_law_rel_error", tr_err, LAW_TOL, hess_reason),
        at_most("max_output_change", out_diff, OUT_TOL,
                "outputs are O(1) and differ by rounding only (~10 ulp for alpha not a "
                "power of two, exactly 0 for powers of two)"),
        at_least("interlacing_min_ratio", float(np.min(lam / bound)), 1.0 - INTERLACE_TOL,
                 "lambda_max(H(T theta)) >= alpha^2 lambda_max(H22) exactly (Cauchy "
                 "interlacing); eigvalsh is backward stable to a few ulps of lambda_max"),
        at_least("sharpness_ratio_alpha4_over_alpha1", float(lam[i4] / lam[i1]), 1.0,
                 "the same function gets sharper: lambda_max at alpha = 4 is at least 16 "
                 "lambda_max(H22) by interlacing, no tolerance needed"),
        at_least("min_distance_to_relu_kink", kink, KINK,
                 "the exact Hessian is that of the smooth piece the point lies in; a "
                 "pre-activation within 1e-8 of 0 would make the law's test ill-posed"),
    ], evidence={
        "lambda_max": dict(zip([float(a) for a in alphas], lam.tolist())),
        "lambda_max_lower_bound": dict(zip([float(a) for a in alphas], bound.tolist())),
        "loss_range": [float(data["two_loss"].min()), float(data["two_loss"].max())],
    }, headline="hessian_law_rel_error_2layer")
