"""mode-connectivity, weight-matching and model-soups: each experiment at a reduced
scale (its code criteria must hold), and each criterion failing when its prediction,
a parameter, or the data it reads is deliberately wrong."""
import numpy as np
import pytest

from testbed import align
from testbed.claims import model_soups as MS
from testbed.claims import mode_connectivity as MC
from testbed.claims import weight_matching as WM

NET = {"n_train": 300, "n_val": 100, "n_test": 200, "lr": 0.02, "momentum": 0.9,
       "batch": 32}
SMALL_MC = {**MC.SCALES["quick"], **NET, "hidden": [16, 16], "epochs": 12, "pairs": 3,
            "curve_epochs": 8, "nodes": 4, "num": 9, "spawn_epochs": [1], "plane_num": 5,
            "net_neb_steps": 10}
SMALL_WM = {**WM.SCALES["quick"], **NET, "widths": [16, 8], "epochs": 12, "pairs": 3,
            "num": 9}
SMALL_MS = {**MS.SCALES["quick"], **NET, "hidden": [16, 16], "seeds": 3,
            "pretrain_epochs": 6, "finetune_epochs": 4, "finetune_lrs": [0.005, 0.02],
            "epochs": 12, "slerp_points": 5}


def _code_rows_hold(verdict):
    for c in verdict.criteria:
        if not c.science:
            assert c.holds, c
    assert verdict.status in ("pass", "not reproduced")


# --------------------------------------------------------------------- mode-connectivity
@pytest.fixture(scope="module")
def mc():
    return MC.experiment(SMALL_MC)


def test_the_well_is_what_the_claim_says():
    W = MC.well()
    np.testing.assert_array_equal(W.grad(MC.WELL_SADDLE), [0.0, 0.0])
    np.testing.assert_array_equal(W.hessian(MC.WELL_SADDLE), np.diag(MC.WELL_HESSIAN_EIGS))
    assert W.value(MC.WELL_SADDLE) == MC.WELL_SADDLE_ENERGY
    for m in MC.WELL_MINIMA:
        assert W.value(m) == 0.0 and np.array_equal(W.grad(m), [0.0, 0.0])


def test_mode_connectivity_code_rows_hold(mc):
    v = MC.check(mc, MC.predict(SMALL_MC), SMALL_MC)
    _code_rows_hold(v)
    assert v["well_neb_barrier"].measured == pytest.approx(1.0, abs=1e-14)
    assert v["endpoint_max_abs_diff"].measured == 0.0
    assert mc["linear_loss"].shape == (3, 9) and mc["plane_loss"].shape == (5, 5)
    assert mc["net_neb_loss"].shape == (9,) and "net_neb_barrier_pair1" in v.evidence
    # the curve lies in the plane through w1, theta, w2: its projection is exact, so the
    # endpoints land on the plane coordinates of w1 and w2
    np.testing.assert_allclose(mc["plane_curve"][[0, -1]], mc["plane_points"][:2], atol=1e-9)


def test_well_rows_fail_under_a_wrong_prediction_or_parameter(mc):
    p = MC.predict(SMALL_MC)
    wrong = {**p, "well_neb_barrier": MC.WELL_STRAIGHT_BARRIER,     # the segment's, not
             "well_straight_barrier": MC.WELL_SADDLE_ENERGY}         # the saddle's
    v = MC.check(mc, wrong, SMALL_MC)
    assert v["well_neb_barrier"].holds is False and v["well_straight_barrier"].holds is False
    assert v.status == "fail"
    short = {**SMALL_MC, "neb_steps": 20}                 # a band stopped far too early
    v = MC.check({**mc, **MC._exact(short)}, p, short)
    assert v["well_neb_converged"].holds is False
    assert v["well_neb_saddle_distance"].holds is False
    assert v["well_neb_barrier"].holds is False and v.status == "fail"
    moved = mc["well_neb_points"].copy()
    moved[int(mc["well_neb_climbing"])] += [1e-6, 0.0]     # 1e-6 off the saddle
    v = MC.check({**mc, "well_neb_points": moved}, p, SMALL_MC)
    assert v["well_neb_saddle_distance"].holds is False


def test_endpoint_row_fails_when_a_path_misses_its_ends(mc):
    v = MC.check({**mc, "endpoint_max_abs_diff": np.array(1e-16)}, MC.predict(SMALL_MC),
                 SMALL_MC)
    assert v["endpoint_max_abs_diff"].holds is False and v.status == "fail"


def test_science_rows_hold_and_fail(mc):
    p = MC.predict(SMALL_MC)
    lin = mc["linear_loss"]
    good = {**mc, "linear_loss": lin + 0.5 * np.sin(np.pi * mc["t"]),     # barrier >= 0.5
            "bezier_loss": lin * 0 + np.maximum(lin[:, :1], lin[:, -1:]),  # no excess
            "spawn_loss": np.zeros_like(mc["spawn_loss"])}
    v = MC.check(good, p, SMALL_MC)
    assert all(v[n].holds for n in ("linear_barrier_median", "bezier_ratio_median",
                                    "spawn_barrier_median"))
    flat = {**good, "linear_loss": np.tile(lin[:, :1], (1, lin.shape[1]))}   # no barrier
    v = MC.check(flat, p, SMALL_MC)
    assert v["linear_barrier_median"].holds is False and v.status == "not reproduced"
    v = MC.check({**good, "bezier_loss": good["linear_loss"]}, p, SMALL_MC)   # curve = line
    assert v["bezier_ratio_median"].holds is False
    v = MC.check({**good, "spawn_loss": good["linear_loss"][None]}, p, SMALL_MC)
    assert v["spawn_barrier_median"].holds is False
    v = MC.check(good, {**p, "linear_barrier_min": 10.0}, SMALL_MC)
    assert v["linear_barrier_median"].holds is False


def test_mode_connectivity_divergence_fails(mc):
    gone = {**mc, "curve_diverged": np.ones_like(mc["curve_diverged"])}
    v = MC.check(gone, MC.predict(SMALL_MC), SMALL_MC)
    assert v["no_divergence"].holds is False and v.status == "fail"


def test_mode_connectivity_figure(mc, tmp_path):
    from testbed.claims.figures import mode_connectivity as figure
    path = tmp_path / "mc.png"
    figure.draw(mc, MC.predict(SMALL_MC), SMALL_MC, path)
    assert path.stat().st_size > 10_000


# ----------------------------------------------------------------------- weight-matching
@pytest.fixture(scope="module")
def wm():
    return WM.experiment(SMALL_WM)


def test_weight_matching_code_rows_hold(wm):
    v = WM.check(wm, WM.predict(SMALL_WM), SMALL_WM)
    _code_rows_hold(v)
    assert v["planted_mismatched_units"].measured == 0
    assert v["planted_max_abs_diff"].measured == 0.0
    assert wm["loss"].shape == (2, 3, 3, 9)


def test_function_row_fails_for_a_half_applied_permutation(wm):
    # permuting the first layer's units (rows of W_0, b_0) without the columns of W_1
    # changes the function: the kind of error the row must catch
    from testbed.claims import _digits_mlps as M
    from testbed.nets import outputs
    from testbed.nets.layout import layout
    nets = M.sets(SMALL_WM, hidden=[16, 16])
    L, X = nets["train"], nets["X_train"]
    x = M.init(L, [0])[0]
    perm = np.roll(np.arange(16), 1)
    broken = x.copy()
    for piece in (p for p in layout(L) if p.name in ("layer0.W", "layer0.b")):
        sl = slice(piece.offset, piece.offset + piece.size)
        broken[sl] = x[sl].reshape(piece.shape)[perm].ravel()
    whole = align.permute(L, x, [perm, np.arange(16)])                # rows and columns
    assert np.max(np.abs(outputs(L, whole, X) - outputs(L, x, X))) <= WM.LOGIT_TOL
    change = float(np.max(np.abs(outputs(L, broken, X) - outputs(L, x, X))))
    assert change > 1e-3
    bad = {**wm, "max_abs_logit": np.full_like(wm["max_abs_logit"], change)}
    v = WM.check(bad, WM.predict(SMALL_WM), SMALL_WM)
    assert v["max_abs_logit"].holds is False and v.status == "fail"


def test_objective_and_planted_rows_fail(wm):
    p = WM.predict(SMALL_WM)
    v = WM.check({**wm, "objective_min_increment": np.full_like(
        wm["objective_min_increment"], -1e-9)}, p, SMALL_WM)
    assert v["objective_min_increment"].holds is False and v.status == "fail"
    v = WM.check({**wm, "planted_mismatched_units": np.array(2)}, p, SMALL_WM)
    assert v["planted_mismatched_units"].holds is False and v.status == "fail"
    v = WM.check({**wm, "planted_max_abs_diff": np.array(1e-300)}, p, SMALL_WM)
    assert v["planted_max_abs_diff"].holds is False


def test_barrier_ratio_row_holds_and_fails(wm):
    p = WM.predict(SMALL_WM)
    loss = wm["loss"].copy()
    loss[:, :, 1] = loss[:, :, 0] * 0.1 + 0.9 * loss[:, :, 0, :1]      # ratio 0.1
    good = {**wm, "loss": loss}
    assert WM.check(good, p, SMALL_WM)["barrier_ratio_median"].holds is True
    same = wm["loss"].copy()
    same[:, :, 1] = same[:, :, 0]                                     # alignment did nothing
    v = WM.check({**wm, "loss": same}, p, SMALL_WM)
    assert v["barrier_ratio_median"].holds is False and v.status == "not reproduced"
    v = WM.check(good, {**p, "barrier_ratio_max": 0.01}, SMALL_WM)
    assert v["barrier_ratio_median"].holds is False


def test_weight_matching_figure(wm, tmp_path):
    from testbed.claims.figures import weight_matching as figure
    path = tmp_path / "wm.png"
    figure.draw(wm, WM.predict(SMALL_WM), SMALL_WM, path)
    assert path.stat().st_size > 10_000


# --------------------------------------------------------------------------- model-soups
@pytest.fixture(scope="module")
def ms():
    return MS.experiment(SMALL_MS)


def test_model_soups_code_rows_hold(ms):
    v = MS.check(ms, MS.predict(SMALL_MS), SMALL_MS)
    _code_rows_hold(v)
    assert v["slerp_ends_max_abs_diff"].measured == 0.0
    assert ms["ingredient_test"].shape == (3, 2) and ms["independent_test"].shape == (3, 3)
    assert np.all(ms["greedy_kept"].sum(axis=1) >= 1)


def test_code_rows_fail(ms):
    p = MS.predict(SMALL_MS)
    v = MS.check({**ms, "greedy_val": ms["ingredient_val"].max(axis=1) - 0.01}, p, SMALL_MS)
    assert v["greedy_val_margin"].holds is False and v.status == "fail"
    v = MS.check({**ms, "slerp_ends_max_abs_diff": np.array(1e-9)}, p, SMALL_MS)
    assert v["slerp_ends_max_abs_diff"].holds is False and v.status == "fail"


def test_soup_science_rows_hold_and_fail(ms):
    p = MS.predict(SMALL_MS)
    best = ms["ingredient_test"].max(axis=1)
    mean_ind = ms["independent_test"].mean(axis=1)
    good = {**ms, "uniform_test": best.copy(), "naive_test": mean_ind - 0.3,
            "aligned_test": mean_ind - 0.02}
    v = MS.check(good, p, SMALL_MS)
    assert all(v[n].holds for n in ("uniform_gap_median", "naive_drop_median",
                                    "aligned_drop_median"))
    v = MS.check({**good, "uniform_test": best - 0.02}, p, SMALL_MS)       # 10 images worse
    assert v["uniform_gap_median"].holds is False and v.status == "not reproduced"
    v = MS.check({**good, "naive_test": mean_ind - 0.1}, p, SMALL_MS)      # averages fine
    assert v["naive_drop_median"].holds is False
    v = MS.check({**good, "aligned_test": good["naive_test"]}, p, SMALL_MS)  # no alignment
    assert v["aligned_drop_median"].holds is False
    v = MS.check(good, {**p, "naive_drop_min": 0.5}, SMALL_MS)
    assert v["naive_drop_median"].holds is False


def test_model_soups_figure(ms, tmp_path):
    from testbed.claims.figures import model_soups as figure
    path = tmp_path / "ms.png"
    figure.draw(ms, MS.predict(SMALL_MS), SMALL_MS, path)
    assert path.stat().st_size > 10_000
