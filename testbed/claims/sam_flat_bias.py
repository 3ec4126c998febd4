"""sam-flat-bias (Foret et al. 2021; Bartlett, Long & Bousquet 2023): along a valley of
minima whose sharpness varies, SAM drifts toward the flat end at the rate of gradient
descent on the sharpness with a small step, while GD stops where it meets the valley;
SAM cannot stay in a sharp minimum whose basin is narrower than its cycle.

Whose statement it is. Bartlett et al. (2023, abstract) describe SAM's oscillation
across a ravine as gradient descent with a small step on the Hessian's spectral norm;
the drift equation below, its refinement and the basin criterion are derived here on
the toys (self-contained; P1 sec. 3 [D]), and so are all tolerances.

Valley: f(x, y) = h(y) x^2 / 2, h = 1 + y^2 (``sharpness_valley``). SAM's x-coordinate
settles into the 2-cycle +-A, A = eta h rho / (2 - eta h) (see sam-quadratic), and its
ascent point sits at |x| + rho = 2 rho / (2 - eta h) across the valley, where
df/dy = h'(y) (A + rho)^2 / 2. Hence the drift equation (Bartlett et al.'s effective
step, derived)

    y_{t+1} = y_t - eta [2 rho^2 / (2 - eta h(y_t))^2] h'(y_t).

Refinement (ours): the ascent point is also displaced along the valley, by delta =
rho h' A / (2h) for SAM's normalised gradient and by delta = rho h' (A + rho) / (2h)
for the exact maximiser over the ball (maximising h(y + rho sin th) (A + rho cos th)^2
/ 2 over th to first order); both multiply the drift by 1 + h'' delta / h'. For SAM
this is a correction below 1e-3, for the exact maximiser a relative rate of
rho (A + rho) h'' / (2h) ~ rho^2, which compounds over the run: y_exact / y_SAM
follows the ratio of the two refined recursions. GD moves along the valley only while
x decays: y_T - y_0 ~ -eta y_0 x_0^2 / (1 - (1 - eta h_0)^2) (first order).

Sharp and flat wells (``sharp_flat_wells``: curvature 16 at -5, 1 at 20, ridge at a
distance a = 5.0139 from the sharp minimum): SAM can keep its 2-cycle in the sharp
well only if the ascent point stays inside the basin, A + rho = 2 rho / (2 - eta
lam_s) < a, i.e. rho < rho* = a (2 - eta lam_s) / 2 (= 1.0028 at eta = 0.1). Below,
the run from next to the sharp minimum ends on the cycle (the well is exactly quadratic
there to 1e-10 up to 0.25 from the ridge, hence the 0.95 rho* margin); above, the
cycle does not exist and is never re-established (where the run ends, flat well or an
orbit straddling the ridge, is reported, not asserted: 1-D sign-normalised SAM can be
chaotic, P1). GD from the same start stays in the sharp minimum.

The exact-max variant: ``sam_exact`` (projected gradient ascent in the ball to 1e-10
rho) is run alongside, and from points of SAM's trajectory one step of each rule is
taken: the exact ascent gradient is checked against an independent maximiser (the
maximum of f over the disk is on its boundary circle, f having no interior maxima;
found by a grid over the angle and root-finding on the angular derivative), and the
one-step approximation's shortfall f(z*) - f(z_SAM) is reported.

All runs are ``testbed.run`` calls (GD is the ``sam`` rule with rho = 0, which is GD
bit for bit, run as one more replica); the recursions above are the predictions. The
sharpness against time is the top Hessian eigenvalue of the valley at the recorded
points, in closed form.
"""
import math

import numpy as np
from scipy.optimize import brentq

from ..ensemble import run
from ..kernel import BUDGET, DIVERGED
from ..objective.registry import landscape
from ._base import Verdict, at_most, close, holds

ID = "sam-flat-bias"
PAPER = ("Foret, Kleiner, Mobahi & Neyshabur (2021), arXiv:2010.01412; Bartlett, Long & "
         "Bousquet (2023), The Dynamics of Sharpness-Aware Minimization, JMLR 24(316), "
         "arXiv:2210.01513")
CLAIM = ("SAM drifts along a valley of minima toward the flat end at the rate of the drift "
         "equation (GD on the sharpness with step 2 eta rho^2/(2 - eta h)^2), GD does not; "
         "SAM leaves a sharp minimum whose basin is narrower than its cycle")
SCALES = {
    "quick": {"eta": 0.1, "rhos": [0.05, 0.1], "start": [0.3, 2.0], "steps": 5000,
              "stride": 10, "t_check": 1000, "gap_points": 12,
              "wells_eta": 0.1, "wells_rels": [0.5, 0.8, 0.95, 1.05, 1.2, 1.5, 2.0, 3.0],
              "wells_offset": 0.01, "wells_steps": 2000, "late": 100, "seed": 0},
    "paper": {"eta": 0.1, "rhos": [0.02, 0.05, 0.1], "start": [0.3, 2.0], "steps": 20000,
              "stride": 10, "t_check": 1000, "gap_points": 40,
              "wells_eta": 0.1,
              "wells_rels": np.round(np.concatenate([np.linspace(0.3, 0.95, 14),
                                                     np.linspace(1.05, 3.0, 14)]), 6).tolist(),
              "wells_offset": 0.01, "wells_steps": 20000, "late": 100, "seed": 0},
}
DRIFT_TOL = 0.05          # P1's acceptance: observed 1-2.2 % (transient, higher orders)
RATIO_TOL = 0.01          # the common transient cancels in y_exact / y_SAM: observed <= 0.25 %
ASCENT_TOL = 1e-8
GD_DRIFT_TOL = 0.05       # P1: |y_T - y_0| <= 0.05 for GD
GD_LAW_TOL = 0.01
WELLS_CYCLE_TOL = 1e-6
WELLS_MARGIN = 0.95       # checked on the cycle below WELLS_MARGIN rho*, left above 2 - that
GD_MIN_TOL = 1e-10
SHARP_MIN, FLAT_MIN, SHARP_CURV, RIDGE = -5.0, 20.0, 16.0, 0.013883159784415207


# ------------------------------------------------------------------ the valley's math
def h(y):
    return 1.0 + y * y


def drift(y0, eta, rho, steps, kind="leading"):
    """The drift recursion y_{t+1} = y_t - eta (2 rho^2 / (2 - eta h)^2) h'(y_t) (1 + c),
    c = 0 ("leading"), h'' rho A / (2h) ("sam") or h'' rho (A + rho) / (2h) ("exact")."""
    y = np.empty(steps + 1)
    y[0] = y0
    for t in range(steps):
        hy = h(y[t])
        A = eta * hy * rho / (2 - eta * hy)
        c = {"leading": 0.0, "sam": rho * A / hy, "exact": rho * (A + rho) / hy}[kind]
        y[t + 1] = y[t] - eta * 2 * rho**2 / (2 - eta * hy) ** 2 * 2 * y[t] * (1 + c)
    return y


def _f(x, y):
    return 0.5 * h(y) * x * x


def _grad(x, y):
    return np.array([h(y) * x, y * x * x])


def ball_max(x, y, rho, n_grid=720):
    """The maximiser z* of f over the disk of radius rho around (x, y), on its boundary
    circle: a grid over the angle, then brentq on the angular derivative
    d/dth f(z(th)) = grad f(z) . rho (-sin th, cos th) around the best grid point."""
    th = np.linspace(0.0, 2 * math.pi, n_grid, endpoint=False)
    vals = _f(x + rho * np.cos(th), y + rho * np.sin(th))
    k = int(np.argmax(vals))
    step = 2 * math.pi / n_grid

    def dphi(t):
        gx, gy = _grad(x + rho * math.cos(t), y + rho * math.sin(t))
        return -gx * math.sin(t) + gy * math.cos(t)

    a, b = th[k] - step, th[k] + step
    t_star = brentq(dphi, a, b, xtol=1e-15, rtol=1e-15) if dphi(a) * dphi(b) < 0 else th[k]
    return np.array([x + rho * math.cos(t_star), y + rho * math.sin(t_star)])


# ------------------------------------------------------------------ the experiment
def _wells_rho_star(eta):
    """rho* = a (2 - eta lam_s) / 2, a = the sharp minimum's distance to the ridge."""
    return (RIDGE - SHARP_MIN) * (2 - eta * SHARP_CURV) / 2


def sharpness(x, y):
    """Top eigenvalue of the valley's Hessian [[h, 2 x y], [2 x y, x^2]] (closed form)."""
    m, d = (h(y) + x * x) / 2, (h(y) - x * x) / 2
    return m + np.sqrt(d * d + 4 * x * x * y * y)


def experiment(params) -> dict:
    out = {}
    V = landscape("sharpness_valley")
    eta, rhos = params["eta"], np.asarray(params["rhos"], float)
    start = np.asarray(params["start"], float)
    common = dict(steps=params["steps"], seed=params["seed"], stride=params["stride"],
                  coords=(0, 1), observe=("loss",))
    # GD is the sam rule with rho = 0 (bit for bit; tests/test_rules.py): the last replica
    res = run(V, "sam", np.tile(start, (rhos.size + 1, 1)), eta=eta,
              rho=np.append(rhos, 0.0), **common)
    xy = res.traces["coords"]
    out.update(sam_xy=xy[:, :, :-1], sam_status=res.status[:-1], gd_xy=xy[:, :, -1:],
               gd_status=res.status[-1:], steps_recorded=res.steps)
    res = run(V, "sam_exact", np.tile(start, (rhos.size, 1)), eta=eta, rho=rhos, **common)
    out.update(sam_exact_xy=res.traces["coords"], sam_exact_status=res.status,
               exact_scalars=res.scalars)
    # one step of each rule from points of SAM's trajectory
    n_obs = out["sam_xy"].shape[0]
    pick = np.unique(np.linspace(1, n_obs - 1, params["gap_points"]).astype(int))
    pts = out["sam_xy"][pick].transpose(0, 2, 1).reshape(-1, 2)      # (points x rho, 2)
    rho_pts = np.tile(rhos, pick.size)
    out.update(gap_steps=out["steps_recorded"][pick], gap_x=pts, gap_rho=rho_pts)
    for rule in ("sam", "sam_exact"):
        res = run(V, rule, pts, steps=1, seed=params["seed"], eta=eta, rho=rho_pts,
                  coords=(0, 1), observe=())
        out[f"gap_{rule}_x1"] = res.x
    # sharp and flat wells
    W = landscape("sharp_flat_wells")
    we = params["wells_eta"]
    rels = np.asarray(params["wells_rels"], float)
    w_rho = rels * _wells_rho_star(we)
    x0 = np.full((rels.size, 1), SHARP_MIN + params["wells_offset"])
    # GD is the last replica, sam with rho = 0
    res = run(W, "sam", np.vstack([x0, x0[:1]]), steps=params["wells_steps"],
              seed=params["seed"], eta=we, rho=np.append(w_rho, 0.0), coords=(0,),
              observe=("loss",))
    late = res.traces["coords"][-params["late"]:, 0, :]
    out.update(wells_rel=rels, wells_rho=w_rho, wells_late=late[:, :-1],
               wells_status=res.status[:-1], wells_gd_x=res.traces["coords"][:, 0, -1],
               wells_gd_status=res.status[-1:])
    return out


def predict(params) -> dict:
    eta, rhos = params["eta"], params["rhos"]
    y0, x0 = params["start"][1], params["start"][0]
    T = params["steps"]
    out = {"drift": {}, "drift_sam": {}, "drift_exact": {}}
    for rho in rhos:
        out["drift"][rho] = drift(y0, eta, rho, T, "leading")
        out["drift_sam"][rho] = drift(y0, eta, rho, T, "sam")
        out["drift_exact"][rho] = drift(y0, eta, rho, T, "exact")
    h0 = h(y0)
    out["gd_displacement"] = -eta * y0 * x0**2 / (1 - (1 - eta * h0) ** 2)
    out["wells_rho_star"] = _wells_rho_star(params["wells_eta"])
    out["wells_amplitude"] = (lambda eta_, rho_: eta_ * SHARP_CURV * rho_
                              / (2 - eta_ * SHARP_CURV))
    out["ascent_max"] = ball_max
    return out


# ------------------------------------------------------------------ the check
def _rel_dev(measured, predicted, mask):
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.max(np.abs(measured[mask] / predicted[mask] - 1.0)))


def check(data, prediction, params) -> Verdict:
    eta, rhos = params["eta"], params["rhos"]
    steps = data["steps_recorded"]
    late = steps >= params["t_check"]
    y_sam, y_ex = data["sam_xy"][:, 1, :], data["sam_exact_xy"][:, 1, :]
    dev_sam, dev_ex, dev_ratio, per_rho = [], [], [], {}
    for k, rho in enumerate(rhos):
        p_lead = prediction["drift"][rho][steps]
        p_sam = prediction["drift_sam"][rho][steps]
        p_ex = prediction["drift_exact"][rho][steps]
        dev_sam.append(_rel_dev(y_sam[:, k], p_lead, late))
        dev_ex.append(_rel_dev(y_ex[:, k], p_ex, late))
        dev_ratio.append(_rel_dev(y_ex[:, k] / y_sam[:, k], p_ex / p_sam, late))
        per_rho[rho] = {"y_final_sam": float(y_sam[-1, k]), "y_final_exact": float(y_ex[-1, k]),
                        "y_final_predicted": float(p_lead[-1]),
                        "sam_vs_leading_rel": dev_sam[-1],
                        "sam_vs_refined_rel": _rel_dev(y_sam[:, k], p_sam, late),
                        "exact_vs_leading_rel": _rel_dev(y_ex[:, k], p_lead, late),
                        "exact_over_sam_final": float(y_ex[-1, k] / y_sam[-1, k])}
    # the exact ascent against the independent maximiser; the one-step shortfall
    pts, rho_p = data["gap_x"], data["gap_rho"]
    amax = prediction["ascent_max"]
    asc_err, shortfall, angle = [], [], []
    for j in range(pts.shape[0]):
        x, y = pts[j]
        z_star = amax(x, y, rho_p[j])
        g_star = _grad(*z_star)
        G = (pts[j] - data["gap_sam_exact_x1"][j]) / eta
        asc_err.append(float(np.linalg.norm(G - g_star) / np.linalg.norm(g_star)))
        g0 = _grad(x, y)
        z_sam = pts[j] + rho_p[j] * g0 / np.linalg.norm(g0)
        rise = _f(*z_star) - _f(x, y)
        shortfall.append(float((_f(*z_star) - _f(*z_sam)) / rise))
        e1, e2 = z_sam - pts[j], z_star - pts[j]
        cos = e1 @ e2 / (np.linalg.norm(e1) * np.linalg.norm(e2))
        angle.append(float(math.acos(min(1.0, cos))))
    scal = data["exact_scalars"]
    # GD along the valley
    y_gd = data["gd_xy"][:, 1, 0]
    gd_move = float(y_gd[-1] - y_gd[0])
    # end sharpness
    s_gd = float(sharpness(*data["gd_xy"][-1, :, 0]))
    s_sam = float(np.max(sharpness(data["sam_xy"][-1, 0], data["sam_xy"][-1, 1])))
    # wells
    rs = prediction["wells_rho_star"]
    rho_w, lat = data["wells_rho"], data["wells_late"]
    A_w = prediction["wells_amplitude"](params["wells_eta"], rho_w)
    dev_w = np.max(np.abs(np.abs(lat - SHARP_MIN) - A_w[None, :]), axis=0) / A_w
    alt = np.all((lat[1:] - SHARP_MIN) * (lat[:-1] - SHARP_MIN) < 0, axis=0)
    on_cycle = (dev_w <= WELLS_CYCLE_TOL) & alt & (data["wells_status"] != DIVERGED)
    below = rho_w <= WELLS_MARGIN * rs
    above = rho_w >= (2 - WELLS_MARGIN) * rs
    in_flat = np.mean(lat > RIDGE, axis=0)
    A_f = params["wells_eta"] * rho_w / (2 - params["wells_eta"])      # flat cycle, lam_f = 1
    flat_dev = np.max(np.abs(np.abs(lat - FLAT_MIN) - A_f[None, :]), axis=0) / A_f
    flat_alt = np.all((lat[1:] - FLAT_MIN) * (lat[:-1] - FLAT_MIN) < 0, axis=0)
    flat_cycle = (flat_dev <= WELLS_CYCLE_TOL) & flat_alt
    gd_end = float(abs(data["wells_gd_x"][-1] - SHARP_MIN))
    margin_txt = f"{WELLS_MARGIN:g} rho* and {2 - WELLS_MARGIN:g} rho*"
    criteria = [
        at_most("sam_drift_rel_error", max(dev_sam), DRIFT_TOL,
                f"max over rho and t >= {params['t_check']} of |y_SAM / y_pred - 1| for the "
                f"leading-order drift equation (P1's acceptance): the residual is the O(eta "
                f"rho) transient and the neglected displacement along the valley, 1-2.2 % "
                f"measured; a step off by a factor 2 or linear in rho misses by > 30 %"),
        at_most("exact_drift_rel_error", max(dev_ex), DRIFT_TOL,
                "the exact-max variant against the refined recursion (its ascent point "
                "displaced by rho h' (A + rho) / (2h) along the valley): same transient, "
                "about 1 % measured"),
        at_most("exact_over_onestep_ratio", max(dev_ratio), RATIO_TOL,
                f"y_exact / y_SAM against the ratio of the two refined recursions, t >= "
                f"{params['t_check']}: the common transient cancels (measured <= 0.25 %); the "
                f"gap itself is {min(per_rho[r]['exact_over_sam_final'] for r in rhos) - 1:+.1%} "
                f"at the end, so 'no gap' (ratio 1) fails"),
        at_most("exact_ascent_matches_max", max(asc_err), ASCENT_TOL,
                "one sam_exact step from points of SAM's path: its gradient (x_t - x_t+1)/eta "
                "against grad f at the independent maximiser; the rule stops at steps of "
                "1e-10 rho, differencing costs |x| u / eta ~ 1e-15"),
        holds("exact_inner_converged", {"max_iter_hits": float(np.max(scal[:, 0])),
                                        "most_iterations": float(np.max(scal[:, 1]))}, 0,
              "the inner ascent met its tolerance at every step of every run (no step "
              "hit max_iter)", bool(np.all(scal[:, 0] == 0))),
        at_most("gd_total_drift", abs(gd_move), GD_DRIFT_TOL,
                "GD moves along the valley only while x decays; P1's acceptance bound",
                science=True),
        close("gd_drift_law", gd_move, prediction["gd_displacement"], GD_LAW_TOL,
              "first-order sum -eta y0 sum x_t^2 with x_t = x0 (1 - eta h0)^t: x halves "
              "every step, so y (and h) move by ~1 % while the sum accrues; measured 2e-4 "
              "relative; dropping the (1 - eta h0)^2 of the sum misses by 33 %", relative=True),
        holds("end_sharpness_sam_below_gd", {"sam_max": s_sam, "gd": s_gd}, "sam < gd",
              "the top Hessian eigenvalue at the end (closed form of the recorded point): "
              "SAM's runs end flatter than GD's from the same start", s_sam < s_gd,
              tolerance="strict", science=True),
        at_most("wells_sharp_cycle_below_rel_error",
                float(np.max(np.where(below, np.where(alt, dev_w, np.inf), 0.0))) if below.any()
                else math.inf, WELLS_CYCLE_TOL,
                f"for rho <= {margin_txt.split(' and ')[0]} the run from next to the sharp "
                f"minimum ends on the cycle -5 +- 4 rho: the ascent points stay >= 0.25 from "
                f"the ridge, where the well is quadratic to 1e-10, so only that and "
                f"rounding remain"),
        holds("wells_sharp_cycle_left_above",
              {float(r): bool(c) for r, c in zip(rho_w[above] / rs, on_cycle[above])},
              "none on the sharp cycle",
              f"for rho >= {2 - WELLS_MARGIN:g} rho* the sharp cycle does not exist (its "
              f"ascent point would be past the ridge); the last {params['late']} iterates are "
              f"not on it", bool(above.any() and not np.any(on_cycle[above])),
              tolerance=f"deviation > {WELLS_CYCLE_TOL:g}", science=True),
        at_most("wells_gd_stays_sharp", gd_end, GD_MIN_TOL,
                f"GD from the same start converges into the sharp minimum (factor |1 - eta "
                f"lam_s| = {abs(1 - params['wells_eta'] * SHARP_CURV):g} per step)"),
    ]
    statuses = {"sam": data["sam_status"].tolist(), "sam_exact": data["sam_exact_status"].tolist(),
                "gd": data["gd_status"].tolist()}
    evidence = {
        "per_rho": per_rho,
        "one_step_shortfall": {"median": float(np.median(shortfall)),
                               "max": float(np.max(shortfall)),
                               "angle_max_rad": float(np.max(angle))},
        "gd_y_final": float(y_gd[-1]), "gd_displacement_predicted": prediction["gd_displacement"],
        "wells_rho_star": rs,
        "wells_above": {f"{r / rs:.3f}": {"late_fraction_in_flat_basin": float(f),
                                          "ends_on_flat_cycle": bool(c)}
                        for r, f, c in zip(rho_w[above], in_flat[above], flat_cycle[above])},
        "statuses_all_budget": all(s == BUDGET for v in statuses.values() for s in v),
    }
    return Verdict(criteria, evidence, headline="sam_drift_rel_error")
