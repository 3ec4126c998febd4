"""A claim's grid through the sweep machinery (testbed.claims._grid): the points equal
a plain loop bit for bit, each is cached on its own the moment it finishes (an
interrupted run resumes from the points it finished), a stale or damaged entry is
never used, a Dask cluster gives the in-process result bit for bit; the ``large``
scales are valid parameters; ``--scale`` and ``--scheduler`` of check and figures."""

import numpy as np
import pytest

from testbed import claims
from testbed.claims import _grid
from testbed.claims import perturbed_gd_escape as pge
from testbed.cli import main, parser
from testbed.errors import TestbedError

ID = "test-claims-grid"          # the point functions below belong to this "claim"
CALLS = []                       # (value, index) of every computed point
FAIL_AT = []                     # the index whose point raises (an interruption)
#: perturbed-gd-escape at its quick parameters with fewer replicas (three points)
SMALL = {**pge.SCALES["quick"], "n": [300, 300], "ds": [10, 100], "pgd_ds": [10],
         "pgd_seeds": 20}


def _point(params, value, index):
    """A point with its own stream (seed, index); raises at an index in FAIL_AT."""
    if index in FAIL_AT:
        raise RuntimeError(f"interrupted at point {index}")
    CALLS.append((value, index))
    rng = np.random.default_rng([params["seed"], index])
    return {"x": value * rng.standard_normal(3), "index": np.array(index)}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path / "res"))
    monkeypatch.delenv("TESTBED_SCHEDULER", raising=False)
    CALLS.clear()
    FAIL_AT.clear()
    return tmp_path


def _same(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")
        for k in a)


def test_points_equal_a_plain_loop_and_the_claims_direct_computation(results):
    got = _grid.points(pge._escape_point, SMALL, SMALL["ds"])
    for k, d in enumerate(SMALL["ds"]):
        assert _same(got[k], pge._escape_point(SMALL, d, k))
    direct = {f"esc_{key}": np.concatenate([p[key] for p in got]) for key in pge.ESC_KEYS}
    data = pge.experiment(SMALL)                     # the escape points now from the cache
    assert _same({k: v for k, v in data.items() if k.startswith("esc_")}, direct)
    assert data["esc_d"].tolist() == [10] * 300 + [100] * 300


def test_each_point_is_cached_the_moment_it_finishes(results):
    """A run interrupted at the third of four points; the rerun computes only the
    third and fourth, and a third run nothing."""
    params = {"seed": 3}
    FAIL_AT.append(2)
    with pytest.raises(RuntimeError, match="interrupted at point 2"):
        _grid.points(_point, params, [1.0, 2.0, 3.0, 4.0])
    assert CALLS == [(1.0, 0), (2.0, 1)]
    assert len(list((results / "res" / ID).glob("*.npz"))) == 2
    FAIL_AT.clear()
    CALLS.clear()
    first = _grid.points(_point, params, [1.0, 2.0, 3.0, 4.0])
    assert CALLS == [(3.0, 2), (4.0, 3)]
    CALLS.clear()
    again = _grid.points(_point, params, [1.0, 2.0, 3.0, 4.0])
    assert CALLS == [] and all(_same(a, b) for a, b in zip(first, again))
    assert [int(p["index"]) for p in again] == [0, 1, 2, 3]
    assert len(list((results / "res" / ID).glob("*.npz"))) == 4     # one per point
    fresh = [_point(params, v, i) for i, v in enumerate([1.0, 2.0, 3.0, 4.0])]
    assert all(_same(a, b) for a, b in zip(first, fresh))


def test_a_stale_or_damaged_point_is_never_used(results, monkeypatch):
    import testbed.cache
    params = {"seed": 0}
    first = _grid.points(_point, params, [1.0, 2.0])
    # other parameters, or other code: other keys, so every point is computed again
    CALLS.clear()
    _grid.points(_point, {"seed": 1}, [1.0, 2.0])
    assert len(CALLS) == 2
    CALLS.clear()
    monkeypatch.setattr(testbed.cache, "code_hash", lambda: "0123456789abcdef")
    _grid.points(_point, params, [1.0, 2.0])
    assert len(CALLS) == 2
    monkeypatch.undo()
    monkeypatch.setenv("TESTBED_RESULTS", str(results / "res"))
    monkeypatch.delenv("TESTBED_SCHEDULER", raising=False)
    # an entry whose arrays were altered after it was written: reported and recomputed
    entry = _grid.experiment_of(_point, params)
    key = testbed.cache.key_of(entry.key({"value": 2.0, "index": 1}, 0))
    path = results / "res" / ID / f"{key}.npz"
    np.savez_compressed(path, x=np.zeros(3), index=np.array(1))
    CALLS.clear()
    with pytest.warns(UserWarning, match="damaged"):
        again = _grid.points(_point, params, [1.0, 2.0])
    assert CALLS == [(2.0, 1)] and all(_same(a, b) for a, b in zip(first, again))


def test_point_function_must_live_in_a_claim_module():
    from testbed.cache import key_of
    with pytest.raises(TestbedError, match="claim's module"):
        _grid.points(key_of, {}, [1])
    with pytest.raises(TestbedError, match="top level"):
        _grid.points(lambda p, v, i: {}, {}, [1])


def test_dask_cluster_gives_the_local_result_bit_for_bit(results, cluster, monkeypatch):
    from testbed.sweep import backends
    local = pge.experiment(SMALL)
    monkeypatch.setenv("TESTBED_RESULTS", str(results / "dask"))      # nothing cached
    monkeypatch.setenv("TESTBED_SCHEDULER", cluster.scheduler_address)
    sent = []
    run_dask = backends.run_dask

    def spy(experiment, tasks, env, monitor, client):
        sent.extend(t.point["value"] for t in tasks)
        return run_dask(experiment, tasks, env, monitor, client)
    monkeypatch.setattr(backends, "run_dask", spy)
    remote = pge.experiment(SMALL)
    assert sent == [10, 100, 10]                     # the escape points, then the PGD one
    assert _same(local, remote)
    # stored on the client as they finished: a local run now computes nothing
    monkeypatch.delenv("TESTBED_SCHEDULER")
    monkeypatch.setattr(_grid.PointExperiment, "call", lambda *a: pytest.fail("computed"))
    assert _same(pge.experiment(SMALL), local)


def test_large_scales_are_valid_parameters():
    """``large`` (where a claim has it) sets the paper's parameters, no others, and
    passes the claim's own validation; it is never run here."""
    with_large = [m for m in claims.modules().values() if "large" in m.SCALES]
    assert {m.ID for m in with_large} >= {"index-energy", "perturbed-gd-escape",
                                          "eos-network", "filter-normalized-slices",
                                          "narrow-networks", "mean-field-linear-rate"}
    for m in with_large:
        large, paper = m.SCALES["large"], m.SCALES["paper"]
        assert set(large) == set(paper) and large != paper, m.ID
        if hasattr(m, "_validate"):
            m._validate(large)
    assert len(pge.SCALES["large"]["n"]) == len(pge.SCALES["large"]["ds"])


def test_cli_scale_from_the_claims_scales(results, capsys):
    from testbed.cli import _at_scale
    args = parser().parse_args(["figures", "index-energy", "--scale", "large"])
    assert args.scale == "large" and args.scheduler is None
    assert [m.ID for m in _at_scale([claims.get("index-energy")], "large", True)] \
        == ["index-energy"]
    with pytest.warns(UserWarning, match="no 'large' scale and are skipped: "
                                         "quadratic-stability"):
        kept = _at_scale([claims.get("index-energy"), claims.get("quadratic-stability")],
                         "large", explicit=False)
    assert [m.ID for m in kept] == ["index-energy"]
    assert main(["check", "quadratic-stability", "--scale", "large"]) == 2
    assert "no scale 'large' in claim(s) quadratic-stability; their scales: quick, " \
           "paper" in capsys.readouterr().err
    assert main(["check", "index-energy", "--scale", "huge"]) == 2
    assert "their scales: quick, paper, large" in capsys.readouterr().err


def test_cli_scheduler_checked_before_any_work(results, capsys, monkeypatch):
    import os
    assert main(["check", "quadratic-stability", "--scheduler", "tcp://localhost"]) == 2
    err = capsys.readouterr().err
    assert "is not usable" in err and "--fallback-local" in err
    assert main(["check", "quadratic-stability", "--scheduler", "tcp://localhost",
                 "--fallback-local"]) == 0
    assert "running locally as asked" in capsys.readouterr().err
    assert "TESTBED_SCHEDULER" not in os.environ
