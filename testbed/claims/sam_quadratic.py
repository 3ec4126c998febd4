"""sam-quadratic (Foret et al. 2021; Bartlett, Long & Bousquet 2023; Long & Bartlett
2023): on a convex quadratic f = 1/2 sum_i lam_i w_i^2 (lam_1 the largest), full-batch
SAM with a GD base step, w <- w - eta A (w + rho A w / |A w|), settles into a 2-cycle
+-A e_1 along the top eigenvector, of amplitude A = eta lam_1 rho / (2 - eta lam_1),
and stays bounded iff eta < 2 / lam_1; unnormalised SAM (eps = rho grad f) converges
iff eta lam_1 (1 + rho lam_1) < 2.

Whose statement it is. Bartlett et al. (2023, "bouncing across ravines") describe the
cycle across the top direction; the amplitude, the contraction factors and both
thresholds below are derived here from the update rules (self-contained, P1 sec. 3
[D]); the SAM-edge is derived by the linearisation Long & Bartlett describe (the
gradient norm frozen) and believed, not confirmed against their PDF, to be theirs.

- Cycle. Along e_1 the map is w <- (1 - eta lam_1) w - eta lam_1 rho sign(w) (when w
  is along e_1), whose 2-cycle +-A has A = eta lam_1 rho / (2 - eta lam_1) and
  attracts with factor |1 - eta lam_1| per step for 0 < eta lam_1 < 2. On the cycle
  (|A w| = lam_1 A) coordinate i is multiplied each step by
  r_i = 1 - eta lam_i - lam_i^2 (2 - eta lam_1) / lam_1^2, in (-1, 1) for lam_i < lam_1,
  so generic starts end on it.
- SAM-edge. With |g| = |grad f| frozen, SAM is the linear map w <- (I - eta A -
  (eta rho / |g|) A^2) w, stable along lam iff eta lam (1 + rho lam / |g|) < 2, i.e.
  lam < lam_SAM(|g|) = (|g| / (2 rho)) (sqrt(1 + 8 rho / (eta |g|)) - 1) < 2 / eta. On
  the cycle |g| = lam_1 A, and then lam_SAM(|g|) = lam_1 exactly: the cycle sits on
  SAM's edge of stability.
- Thresholds. Unnormalised SAM is the same linear map with rho in place of
  rho / |g|: it converges iff eta < eta_U = 2 / (lam_1 (1 + rho lam_1)) and diverges
  above (factor |1 - eta lam_1 (1 + rho lam_1)| = 1 + 2 delta at eta = (1 + delta) eta_U).
  Normalised SAM's ascent term is bounded by eta rho lam_1, so for eta > 2 / lam_1 it
  cannot stop the GD part from growing: |w_1| grows at least by eta lam_1 - 1 > 1 per
  step (the ascent term only adds to it); for eta < 2 / lam_1 it ends on the cycle,
  whose amplitude blows up as eta -> 2 / lam_1.

Experiment (all through ``testbed.run``): (1) cycle: SAM on the d = 20 quadratic
lam = linspace(0.1, 5) for several eta, and three 1-D quadratics (per-replica lam),
every step recorded; (2) sweeps: SAM and unnormalised SAM on the d = 10 quadratic
lam = linspace(1, 5) (a spectrum whose small directions converge fast), for two rho,
eta on a grid of (0, 1) x threshold, at (1 -+ delta) x threshold and at 10 x threshold.

Margins. At (1 -+ delta) x threshold the top factor is 1 -+ 2 delta, so over
T = 20 / delta steps the amplitude changes by e^(-+40) relative: far beyond rounding
(a few u = 1.1e-16 per step), so the bracket [1 - delta, 1 + delta] is decided by the
dynamics, and resolves the threshold to delta (1e-2 quick, 1e-3 paper).
"""
import math

import numpy as np

from ..ensemble import run
from ..kernel import DIVERGED, STATUS_NAMES
from ..objective.registry import landscape
from ._base import Verdict, at_most, holds

ID = "sam-quadratic"
PAPER = ("Foret, Kleiner, Mobahi & Neyshabur (2021), arXiv:2010.01412; Bartlett, Long & "
         "Bousquet (2023), JMLR 24(316), arXiv:2210.01513; Long & Bartlett (2023), "
         "arXiv:2309.12488")
CLAIM = ("SAM on a quadratic settles into a 2-cycle along the top eigenvector of amplitude "
         "eta*l1*rho/(2 - eta*l1), on SAM's edge of stability; it stays bounded iff "
         "eta < 2/l1, and unnormalised SAM converges iff eta*l1*(1 + rho*l1) < 2")
SCALES = {
    "quick": {"cycle_d": 20, "cycle_lam": [0.1, 5.0], "cycle_etas": [0.2, 0.3, 0.38],
              "cycle_rho": 0.05, "cycle_steps": 2000,
              "one_d": [[1.0, 0.5, 0.1], [4.0, 0.3, 0.05], [10.0, 0.1, 0.2]],
              "sweep_d": 10, "sweep_lam": [1.0, 5.0], "sweep_rhos": [0.05, 0.2],
              "n_eta": 8, "delta": 1e-2, "sweep_steps": 2000, "far": 10.0, "seed": 0},
    "paper": {"cycle_d": 20, "cycle_lam": [0.1, 5.0], "cycle_etas": [0.1, 0.2, 0.3, 0.38],
              "cycle_rho": 0.05, "cycle_steps": 20000,
              "one_d": [[1.0, 0.5, 0.1], [4.0, 0.3, 0.05], [10.0, 0.1, 0.2]],
              "sweep_d": 10, "sweep_lam": [1.0, 5.0], "sweep_rhos": [0.05, 0.2],
              "n_eta": 48, "delta": 1e-3, "sweep_steps": 20000, "far": 10.0, "seed": 0},
}
RULES = ("sam", "sam_unnormalized")
CYCLE_TOL = 1e-10
OFF_AXIS_TOL = 1e-10
EDGE_TOL = 1e-10
GROWTH_SLACK = 1e-9      # rounding allowance on the exact lower bound of the growth
EXPLODED = 1e6           # |w_1| beyond every cycle amplitude of the sweeps (<= rho / delta = 200)


def sam_edge(gnorm, eta, rho):
    """lam_SAM(|g|) = (|g| / (2 rho)) (sqrt(1 + 8 rho / (eta |g|)) - 1), written as
    4 / (eta (sqrt(1 + z) + 1)) with z = 8 rho / (eta |g|) (no cancellation)."""
    z = 8.0 * np.asarray(rho) / (np.asarray(eta) * np.asarray(gnorm))
    return 4.0 / (np.asarray(eta) * (np.sqrt(1.0 + z) + 1.0))


def cycle_amplitude(lam1, eta, rho):
    """A = eta lam_1 rho / (2 - eta lam_1)."""
    return eta * lam1 * rho / (2.0 - eta * lam1)


def _spectrum(lo_hi, d):
    """Eigenvalues from the largest down: coordinate 0 is the top eigenvector e_1."""
    return np.linspace(lo_hi[1], lo_hi[0], d)


def _thresholds(lam1, rhos):
    """Critical step sizes: normalised SAM 2 / lam_1, unnormalised 2 / (lam_1 (1 + rho lam_1))."""
    rhos = np.asarray(rhos, float)
    return {"sam": np.full(rhos.shape, 2.0 / lam1),
            "sam_unnormalized": 2.0 / (lam1 * (1 + rhos * lam1))}


def _sweep_grid(params, eta_crit):
    """Rows (rho, rel, eta) per rule: rel on a grid of (0, 1), at 1 -+ delta and far."""
    rel = np.concatenate([np.linspace(0.05, 0.95, params["n_eta"]),
                          [1 - params["delta"], 1 + params["delta"], params["far"]]])
    rho = np.repeat(np.asarray(params["sweep_rhos"], float), rel.size)
    rel = np.tile(rel, len(params["sweep_rhos"]))
    crit = np.repeat(eta_crit, rel.size // len(eta_crit))
    return rho, rel, rel * crit


def experiment(params) -> dict:
    out = {}
    # 1. the cycle: d-dimensional runs for several eta, and 1-D quadratics
    lam = _spectrum(params["cycle_lam"], params["cycle_d"])
    L = landscape("quadratic", d=params["cycle_d"], lam=lam)
    etas = np.asarray(params["cycle_etas"], float)
    T = params["cycle_steps"]
    x0 = np.ones((etas.size, params["cycle_d"]))
    res = run(L, "sam", x0, steps=T, seed=params["seed"], eta=etas, rho=params["cycle_rho"],
              coords=(0,), observe=("loss", "grad_norm"))
    out.update(cycle_lam=lam, cycle_eta=etas, cycle_w1=res.traces["coords"][:, 0, :],
               cycle_x=res.x, cycle_gnorm=res.traces["grad_norm"], cycle_status=res.status)
    one = np.asarray(params["one_d"], float)            # rows (lam, eta, rho)
    L1 = landscape("quadratic", d=1, lam=[1.0])
    res = run(L1, "sam", np.ones((one.shape[0], 1)), steps=T, seed=params["seed"],
              eta=one[:, 1], rho=one[:, 2], params=one[:, :1], coords=(0,),
              observe=("loss", "grad_norm"))
    out.update(one_d=one, one_w=res.traces["coords"][:, 0, :],
               one_gnorm=res.traces["grad_norm"], one_status=res.status)
    # 2. the threshold sweeps, one run per rule
    lam_s = _spectrum(params["sweep_lam"], params["sweep_d"])
    Ls = landscape("quadratic", d=params["sweep_d"], lam=lam_s)
    crit = _thresholds(lam_s.max(), params["sweep_rhos"])
    stride = max(1, params["sweep_steps"] // 200)
    out["sweep_lam"] = lam_s
    for rule in RULES:
        rho, rel, eta = _sweep_grid(params, crit[rule])
        res = run(Ls, rule, np.ones((eta.size, params["sweep_d"])), steps=params["sweep_steps"],
                  seed=params["seed"], eta=eta, rho=rho, stride=stride, observe=("loss",))
        out.update({f"{rule}_rho": rho, f"{rule}_rel": rel, f"{rule}_eta": eta,
                    f"{rule}_x": res.x, f"{rule}_loss": res.traces["loss"],
                    f"{rule}_status": res.status, f"{rule}_stop": res.stop_step})
    out["sweep_steps"] = np.array(params["sweep_steps"])
    out["sweep_stride"] = np.array(stride)
    return out


def predict(params) -> dict:
    lam = _spectrum(params["cycle_lam"], params["cycle_d"])
    etas = np.asarray(params["cycle_etas"], float)
    one = np.asarray(params["one_d"], float)
    lam1, rho = lam.max(), params["cycle_rho"]
    # the slowest contraction of the off-axis coordinates on the cycle
    e, li = etas[:, None], lam[None, 1:]
    r = 1 - e * li - li**2 * (2 - e * lam1) / lam1**2
    lam_s = _spectrum(params["sweep_lam"], params["sweep_d"])
    return {"cycle_amplitude": cycle_amplitude(lam1, etas, rho),
            "one_amplitude": cycle_amplitude(one[:, 0], one[:, 1], one[:, 2]),
            "off_axis_factor": float(np.abs(r).max()),
            "sam_edge": sam_edge, "amplitude_law": cycle_amplitude,
            "sweep_lam1": float(lam_s.max()),
            "eta_crit": _thresholds(lam_s.max(), params["sweep_rhos"])}


def _cycle_error(w_last2, amplitude):
    """Max relative error of |w| at the last two iterates, inf unless their signs alternate."""
    err = np.max(np.abs(np.abs(w_last2) - amplitude[None, :]), axis=0) / amplitude
    alternate = w_last2[0] * w_last2[1] < 0
    return np.where(alternate, err, np.inf)


def _crit_of(prediction, rule, rho, params):
    crit = np.asarray(prediction["eta_crit"][rule], float)
    table = dict(zip(np.asarray(params["sweep_rhos"], float), crit))
    return np.array([table[r] for r in rho])


def _predicted(prediction, rule, rhos, params):
    return {float(r): float(c) for r, c in zip(rhos, _crit_of(prediction, rule, rhos, params))}


def _sweep(data, prediction, params, rule):
    """Per-replica classification of a sweep against the predicted thresholds."""
    rho, eta = data[f"{rule}_rho"], data[f"{rule}_eta"]
    crit = _crit_of(prediction, rule, rho, params)
    far = np.isclose(data[f"{rule}_rel"], params["far"])
    below, above = (eta < crit) & ~far, (eta > crit) & ~far
    return rho, eta, crit, far, below, above


def _bracket(eta, ok, bad, rho, rhos):
    """Per rho: (largest eta that behaved as below, smallest that behaved as above)."""
    out = {}
    for r in rhos:
        m = rho == r
        lo = eta[m & ok].max() if np.any(m & ok) else 0.0
        hi = eta[m & bad].min() if np.any(m & bad) else math.inf
        out[float(r)] = (float(lo), float(hi))
    return out


def check(data, prediction, params) -> Verdict:
    lam1 = float(np.max(data["cycle_lam"]))
    rho_c = params["cycle_rho"]
    T = params["sweep_steps"]
    rhos = np.asarray(params["sweep_rhos"], float)
    # 1. cycle amplitude, d-D and 1-D runs
    amp = prediction["amplitude_law"]
    A_d = amp(lam1, data["cycle_eta"], rho_c)
    one = data["one_d"]
    A_1 = amp(one[:, 0], one[:, 1], one[:, 2])
    err = np.concatenate([_cycle_error(data["cycle_w1"][-2:], A_d),
                          _cycle_error(data["one_w"][-2:], A_1)])
    off = float(np.max(np.abs(data["cycle_x"][:, 1:])))
    # 2. the cycle's gradient norm sits on SAM's edge
    edge_fn = prediction["sam_edge"]
    lam_edge_d = edge_fn(data["cycle_gnorm"][-1], data["cycle_eta"], rho_c)
    lam_edge_1 = edge_fn(data["one_gnorm"][-1], one[:, 1], one[:, 2])
    edge_err = float(max(np.max(np.abs(lam_edge_d / lam1 - 1)),
                         np.max(np.abs(lam_edge_1 / one[:, 0] - 1))))
    # 3. unnormalised SAM: loss falls below the threshold, grows above
    rule = "sam_unnormalized"
    rho, eta, crit, far, below, above = _sweep(data, prediction, params, rule)
    loss, stop = data[f"{rule}_loss"], data[f"{rule}_stop"]
    last = np.minimum(stop // int(data["sweep_stride"]), loss.shape[0] - 1)
    final = loss[last, np.arange(eta.size)]
    grew = (final > loss[0]) | (data[f"{rule}_status"] == DIVERGED)
    fell = (final < loss[0]) & (data[f"{rule}_status"] != DIVERGED)
    u_bracket = _bracket(eta[~far], fell[~far], grew[~far], rho[~far], rhos)
    u_ok = bool(np.all(fell[below]) and np.all(grew[above])
                and all(lo < c < hi for (lo, hi), c in
                        zip(u_bracket.values(), _crit_of(prediction, rule, rhos, params))))
    # 4. normalised SAM: below, on its cycle; above, |w_1| grows at least by (eta lam1 - 1)^T
    rule = "sam"
    rho, eta, crit, far, below, above = _sweep(data, prediction, params, rule)
    lam1_s = float(np.max(data["sweep_lam"]))
    w1 = np.abs(data[f"{rule}_x"][:, 0])
    status = data[f"{rule}_status"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        A_s = amp(lam1_s, eta, rho)
        on_cycle_err = np.where(A_s > 0, np.abs(w1 - A_s) / A_s, np.inf)
        bound = np.where(eta * lam1_s > 2, (eta * lam1_s - 1.0) ** T, np.inf)  # |w_1(0)| = 1
    on_cycle = (on_cycle_err <= CYCLE_TOL) & (status != DIVERGED)
    exploded = (status == DIVERGED) | (w1 > EXPLODED)
    beats_bound = (status == DIVERGED) | (w1 >= (1 - GROWTH_SLACK) * bound)
    s_below_err = float(np.max(on_cycle_err[below])) if below.any() else math.inf
    s_bracket = _bracket(eta[~far], on_cycle[~far], exploded[~far], rho[~far], rhos)
    s_ok = bool(np.all(exploded[above] & beats_bound[above])
                and all(lo < c < hi for (lo, hi), c in
                        zip(s_bracket.values(), _crit_of(prediction, rule, rhos, params))))
    # 5. far above: flagged diverged, with a step
    far_flags = {}
    for rule in RULES:
        m = np.isclose(data[f"{rule}_rel"], params["far"])
        far_flags[rule] = [STATUS_NAMES[int(s)] for s in data[f"{rule}_status"][m]]
    far_ok = all(all(s == "diverged" for s in v) for v in far_flags.values())
    steps_far = {r: data[f"{r}_stop"][np.isclose(data[f"{r}_rel"], params["far"])].tolist()
                 for r in RULES}
    reason_margin = (f"at (1 -+ {params['delta']:g}) x threshold the top factor is "
                     f"1 -+ {2 * params['delta']:g}; over T = {T} steps the change is "
                     f"e^(-+{2 * params['delta'] * T:.0f}), far beyond rounding")
    criteria = [
        at_most("cycle_amplitude_rel_error", float(np.max(err)), CYCLE_TOL,
                f"the exact attracting 2-cycle of a map contracting by |1 - eta lam_1| "
                f"<= 0.9 per step: after {params['cycle_steps']} steps only rounding is "
                f"left (~10 u / (1 - |1 - eta lam_1|) < 1e-14 relative); a wrong law "
                f"(2 + eta lam_1 in the denominator, lam_2 for lam_1) is off by > 1e-2"),
        at_most("cycle_off_axis_max", off, OFF_AXIS_TOL,
                f"coordinates i >= 2 shrink on the cycle by the derived factor r_i; the "
                f"slowest, {prediction['off_axis_factor']:.4f}, to the power "
                f"{params['cycle_steps']} is "
                f"{prediction['off_axis_factor'] ** params['cycle_steps']:.1e}"),
        at_most("cycle_at_sam_edge", edge_err, EDGE_TOL,
                "lam_SAM(|g| on the cycle) = lam_1 is an identity of the derived formulas; "
                "its relative sensitivity to |g| is below 1/2, so the cycle's 1e-14 "
                "precision carries over"),
        holds("usam_threshold_bracket", u_bracket,
              _predicted(prediction, "sam_unnormalized", rhos, params),
              "the loss of unnormalised SAM falls for every eta below 2 / (lam_1 (1 + rho "
              "lam_1)) and grows for every eta above; " + reason_margin, u_ok,
              tolerance=f"bracket [1 - delta, 1 + delta] x eta_U, delta = {params['delta']}"),
        at_most("sam_below_threshold_cycle_rel_error", s_below_err, CYCLE_TOL,
                f"below 2 / lam_1 every SAM replica ends on its 2-cycle: the slowest "
                f"contraction is 1 - 2 delta per step, (1 - 2 delta)^T = "
                f"e^-{2 * params['delta'] * T:.0f}; rounding on the cycle is u / (2 delta) "
                f"relative, < 1e-13"),
        holds("sam_threshold_bracket", s_bracket,
              _predicted(prediction, "sam", rhos, params),
              f"above 2 / lam_1, |w_1| grows at least by eta lam_1 - 1 per step (an exact "
              f"lower bound, the ascent term only adds to it) and ends beyond {EXPLODED:g}, "
              f"above every cycle amplitude of the sweep (<= rho / delta); below it ends on "
              f"the cycle; " + reason_margin, s_ok,
              tolerance=f"bracket [1 - delta, 1 + delta] x 2 / lam_1, delta = {params['delta']}"),
        holds("far_above_diverged", far_flags, "diverged",
              f"at {params['far']:g} x threshold the loss overflows within the budget; the "
              f"replica must be flagged diverged with its step", far_ok),
    ]
    evidence = {"cycle_amplitude_measured": np.abs(data["cycle_w1"][-1]).tolist(),
                "cycle_amplitude_predicted": A_d.tolist(),
                "one_d_amplitude_measured": np.abs(data["one_w"][-1]).tolist(),
                "one_d_amplitude_predicted": A_1.tolist(),
                "gd_threshold": 2.0 / prediction["sweep_lam1"],
                "diverged_at_step": steps_far}
    return Verdict(criteria, evidence, headline="cycle_amplitude_rel_error")
