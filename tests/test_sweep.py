"""testbed.sweep: the grid grammar and bad input, per-task caching and resumption
(after SIGINT to the client, after a killed worker), stale entries, tidy tables,
progress, and a Dask LocalCluster giving the local run's results bit for bit."""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sweep_helpers as H
from testbed.cli import main
from testbed.errors import TestbedError
from testbed.sweep import load, parse_axis, parse_grid, parse_seeds, sweep
from testbed.sweep.progress import Progress

HELPERS = str(Path(__file__).with_name("sweep_helpers.py"))


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path / "res"))
    monkeypatch.delenv("TESTBED_SCHEDULER", raising=False)
    (tmp_path / "log").mkdir()
    return tmp_path


def expected(a, seed, n=4, b=1.0):
    return H.toy(a=a, b=b, n=n, seed=seed)


def assert_toy_results(sw, axes_a, seeds, n=4):
    """Every task's arrays equal a direct call, bit for bit, in both tables and on
    the grid."""
    frame = sw.frame()
    reps = sw.frame("replica")
    ds = sw.dataset()
    for a in axes_a:
        for s in seeds:
            want = expected(a, s, n)
            row = frame[(frame.a == a) & (frame.seed == s)]
            assert len(row) == 1 and row["mean"].iloc[0] == want["mean"]
            assert np.array_equal(np.array(row["outer"].iloc[0].tolist()), want["outer"])
            r = reps[(reps.a == a) & (reps.seed == s)].sort_values("replica")
            assert np.array_equal(r["x"].to_numpy(), want["x"])
            assert np.array_equal(r["escaped"].to_numpy(), want["escaped"])
            cell = ds.sel(a=a, seed=s).squeeze()
            assert np.array_equal(cell["x"].values, want["x"])
            assert np.array_equal(cell["outer"].values, want["outer"])


# ----------------------------------------------------------------------------- grammar
def test_axis_grammar():
    assert parse_axis("d", "10:100:4") == [10, 40, 70, 100]
    assert parse_axis("d", "10:100:5") == [10.0, 32.5, 55.0, 77.5, 100.0]
    assert parse_axis("eta", "0.1:0.3:3") == pytest.approx([0.1, 0.2, 0.3])
    assert parse_axis("eta", "0.1,0.2") == [0.1, 0.2]
    assert parse_axis("rule", "gd,sam,true") == ["gd", "sam", True]
    assert parse_axis("n", "7") == [7] and parse_axis("n", 7) == [7]
    assert parse_axis("n", np.arange(3)) == [0, 1, 2]
    assert parse_grid(["d=1:3:3", "eta=0.5"]) == {"d": [1, 2, 3], "eta": [0.5]}
    assert parse_seeds("0:4") == [0, 1, 2, 3]
    assert parse_seeds("5,9") == [5, 9] and parse_seeds(3) == [3]
    assert parse_seeds(range(2)) == [0, 1]


@pytest.mark.parametrize("spec, words", [
    ("1:1:3", "below"), ("1:2:0", "integer >= 2"), ("1:2", "three fields"),
    ("", "empty"), ([], "empty"), ("1,,2", "empty item"), ("1,1", "repeats"),
    ("0:inf:3", "non-finite"), ([[1, 2]], "one-dimensional")])
def test_bad_axes(spec, words):
    with pytest.raises(TestbedError, match=words):
        parse_axis("d", spec)


@pytest.mark.parametrize("seeds, words", [
    ("3:3", "empty range"), ("a:b", "integers"), ("1.5", "not integers"),
    ([1.5], "integers"), (True, "integers"), ([], "empty"), ("1,1", "repeat"),
    (2**64, "outside")])
def test_bad_seeds(seeds, words):
    with pytest.raises(TestbedError, match=words):
        parse_seeds(seeds)


def test_bad_input_is_refused_before_any_work(results):
    log = str(results / "log")
    with pytest.raises(TestbedError, match=r"unknown parameter\(s\) 'zz'.*a, b, n, log"):
        sweep(H.toy, {"a": "1,2", "zz": 1, "log": log}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match=r"'dd'.*gd-saddle-escape.*: d, lam1"):
        sweep("gd-saddle-escape", {"dd": 3}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match="takes integers, got 2.5"):
        sweep("gd-saddle-escape", {"d": "1:4:3"}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match="needs the parameter"):
        sweep(H.toy, {"b": 1.0}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match="reserved"):
        sweep(H.toy, {"a": 1, "seed": "0,1"}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match="workers"):
        sweep(H.toy, {"a": 1}, workers=-1, out=results / "o")
    with pytest.raises(TestbedError, match="top level"):
        sweep(lambda a: {"y": a}, {"a": 1}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match="unknown experiment"):
        sweep("no-such-claim", {}, workers=0, out=results / "o")
    with pytest.raises(TestbedError, match="no function 'nope'"):
        sweep(f"{HELPERS}:nope", {}, workers=0, out=results / "o")
    assert not list(results.glob("log/*")) and not (results / "res").exists() \
        or not list((results / "res").rglob("*.npz"))


def test_cli_bad_input_exit_2(results, capsys):
    code = main(["sweep", f"{HELPERS}:toy", "--grid", "a=2:1:3", "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "testbed: error: range a='2:1:3'" in err


# ----------------------------------------------------------------------------- caching
def test_each_task_cached_second_run_computes_nothing(results, capsys):
    log = str(results / "log")
    grid = {"a": "1:2:2", "log": log}
    sw = sweep(H.toy, grid, seeds="0:2", workers=0, out=results / "o")
    assert len(H.calls(log)) == 4 and sw.info["finished"] == 4
    sw = sweep(H.toy, grid, seeds="0:2", workers=0, out=results / "o")
    assert len(H.calls(log)) == 4                        # nothing recomputed
    assert sw.frame()["cached"].all()
    sw = sweep(H.toy, {"a": "1:3:3", "log": log}, seeds="0:2", workers=0, out=results / "o")
    assert len(H.calls(log)) == 6                        # only the two new tasks
    assert_toy_results(sw, [1, 2, 3], [0, 1])


def test_entry_from_other_code_is_not_used(results, tmp_path):
    log = str(results / "log")
    sweep(H.toy, {"a": 1, "log": log}, workers=0, out=results / "o", progress=False)
    # (a) an entry at this task's key whose sidecar says other code made it
    (sidecar,) = (results / "res").rglob("*.json")
    meta = json.loads(sidecar.read_text())
    meta["params"]["code"] = "0000000000000000"
    sidecar.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="other parameters or code"):
        sw = sweep(H.toy, {"a": 1, "log": log}, workers=0, out=results / "o", progress=False)
    assert len(H.calls(log)) == 2 and not sw.frame()["cached"].any()
    # (b) the user's function edited: its file hash changes the key
    copy = tmp_path / "mine.py"
    copy.write_text(Path(HELPERS).read_text())
    sweep(f"{copy}:toy", {"a": 1, "log": log}, workers=0, out=results / "o", progress=False)
    assert len(H.calls(log)) == 3
    copy.write_text(Path(HELPERS).read_text().replace("a * rng.normal", "2 * a * rng.normal"))
    sw = sweep(f"{copy}:toy", {"a": 1, "log": log}, workers=0, out=results / "o",
               progress=False)
    assert len(H.calls(log)) == 4
    assert sw.frame()["mean"].iloc[0] != expected(1, 0)["mean"]


# ----------------------------------------------------------------------------- tables
def test_tables_round_trip(results):
    log = str(results / "log")
    sw = sweep(f"{HELPERS}:toy", ["a=1,3", "n=4", f"log={log}"], seeds="0,7", workers=0,
               out=results / "o", progress=False)
    frame = pd.read_parquet(results / "o" / "tasks.parquet")         # the README's one line
    assert {"a", "n", "log", "seed", "code", "version", "key", "user_code", "seconds",
            "worker", "mean", "outer"} <= set(frame.columns)
    assert len(frame) == 4 and frame["code"].nunique() == 1
    reps = pd.read_parquet(results / "o" / "replicas.parquet")
    assert len(reps) == 16 and {"replica", "x", "escaped", "seed", "a"} <= set(reps.columns)
    ds = xr.open_dataset(results / "o" / "grid.nc", engine="scipy")    # and the other one
    assert ds["x"].dims == ("a", "n", "log", "seed", "replica")
    assert ds.attrs["code"] == frame["code"].iloc[0]
    ds.close()
    assert_toy_results(load(results / "o"), [1, 3], [0, 7])
    assert sw.info["replica_outputs"] == ["x", "escaped"]


def test_task_failure_is_reported_and_others_finish(results, capsys):
    code = main(["sweep", f"{HELPERS}:broken", "--grid", "a=1:3:3", "--workers", "0",
                 "--out", str(results / "o")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "FAILED task 1" in out and "a = 2 is not allowed" in out
    assert "2/3 tasks finished" in out and "1 failed" in err
    frame = load(results / "o").frame()
    assert frame["y"].tolist() == [1.0, 3.0]


def test_progress_lines():
    stream = io.StringIO()
    p = Progress("x", 4, stream=stream, every=0.0)
    p.loaded(1)
    p.started()
    p.started()
    p.finished()
    assert p.time_left() is not None and p.time_left() >= 0
    p.failure()
    p.started()
    p.retry()
    p.started()
    p.finished()
    p.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("sweep x: 1/4 done (1 cached), 0 running, 0 failed")
    assert "sweep x: 2/4 done (1 cached), 1 running, 0 failed; ~" in lines[3]
    assert lines[-1] == "sweep x: 3/4 done (1 cached), 0 running, 1 failed, 1 retried; finished"


# ----------------------------------------------------------------------------- local pool
def test_local_pool_sigint_then_resume(results):
    """SIGINT to the client part-way: it stops with status 130, every finished task
    stays stored, and the resumed sweep recomputes none of them and equals an
    uninterrupted run."""
    log = str(results / "log")
    out = results / "o"
    env = {**os.environ, "TESTBED_RESULTS": str(results / "res")}
    # task a = 1 holds its worker for 10 s, so the sweep cannot end before the signal
    # (with short tasks only, the last ones could finish before it landed)
    cmd = [sys.executable, "-m", "testbed.cli", "sweep", f"{HELPERS}:toy", "--grid",
           "a=1:8:8", f"log={log}", "pause=10", "hold=1", "--workers", "2", "--out", str(out)]
    # SIGINT at its default in the client, whatever this process inherited (a test run
    # started in the background by a non-interactive shell ignores SIGINT, and so would
    # the client: the signal was then lost and the sweep ran to its end)
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while (len(list((results / "res").rglob("*.json"))) < 2 and time.time() < deadline
           and proc.poll() is None):
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before two tasks were stored"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    done = {p: p.stat().st_mtime_ns for p in (results / "res").rglob("*.npz")}
    assert 2 <= len(done) < 8
    before = H.calls(log)
    sw = sweep(f"{HELPERS}:toy", {"a": "1:8:8", "log": log, "pause": 10, "hold": 1},
               workers=0, out=out, progress=False)
    resumed = _new(before, H.calls(log))
    assert len(resumed) == 8 - len(done)                 # only the unfinished ran
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    assert sw.frame()["cached"].sum() == len(done)
    assert_toy_results(sw, range(1, 9), [0])


def test_pool_found_broken_at_submit_is_rebuilt(results, monkeypatch):
    """A worker that dies between two waits leaves the pool broken before its future
    is seen: the next submit raises. The task goes back to the queue, the pool is
    rebuilt, and the sweep ends with every result (seen once on a clean clone)."""
    from concurrent.futures.process import BrokenProcessPool

    from testbed.sweep import backends
    raised = []

    class BreaksOnce(backends.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            if not raised:
                raised.append(True)
                raise BrokenProcessPool("a worker died (simulated)")
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(backends, "ProcessPoolExecutor", BreaksOnce)
    sw = sweep(H.toy, {"a": "1:3:3"}, workers=2, out=results / "o", progress=False)
    assert raised
    assert_toy_results(sw, range(1, 4), [0])


def _new(before, after):
    left = list(before)
    new = []
    for c in after:
        if c in left:
            left.remove(c)
        else:
            new.append(c)
    return new


def _kill_task_2_once(log, run_sweep):
    """Run the sweep in a thread, SIGKILL the worker process as soon as task 2 starts
    (its marker file names the pid), and return the finished sweep."""
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("sw", run_sweep()))
    thread.start()
    deadline = time.time() + 40
    while not list(log.glob("start-2-*")) and time.time() < deadline and thread.is_alive():
        time.sleep(0.05)
    (marker,) = log.glob("start-2-*")
    os.kill(int(marker.name.split("-")[5]), signal.SIGKILL)
    thread.join(60)
    return box["sw"]


def test_local_pool_worker_killed_mid_task(results, capsys):
    """os.kill of the pool worker running a task: the task runs again on a fresh
    pool, and the results equal direct calls."""
    log = results / "log"
    grid = {"a": "1:4:4", "log": str(log), "hold": 2, "pause": 30}
    sw = _kill_task_2_once(log, lambda: sweep(H.toy, grid, workers=2, out=results / "o"))
    assert H.calls(log).count("2-1.0-4-0") == 2          # killed once, then re-run
    assert sw.info["finished"] == 4 and not sw.failures
    assert "runs again: its worker process died" in capsys.readouterr().err
    assert_toy_results(sw, [1, 2, 3, 4], [0])


# ----------------------------------------------------------------------------- Dask
def test_unreachable_scheduler_fails_fast_or_falls_back(results):
    start = time.perf_counter()
    with pytest.raises(TestbedError, match="did not answer within 1 s.*--fallback-local"):
        sweep(H.toy, {"a": 1}, scheduler="tcp://127.0.0.1:9", timeout=1,
              out=results / "o")
    assert time.perf_counter() - start < 5
    with pytest.warns(UserWarning, match="running locally as asked"):
        sw = sweep(H.toy, {"a": 1}, scheduler="tcp://127.0.0.1:9", timeout=1,
                   fallback_local=True, workers=0, out=results / "o", progress=False)
    assert sw.info["finished"] == 1
    with pytest.raises(TestbedError, match="'tcp://localhost' is not usable.*port"):
        sweep(H.toy, {"a": 1}, scheduler="tcp://localhost", out=results / "o")


def test_dask_equals_local_bit_for_bit(results, cluster, monkeypatch, capsys):
    """A claim and a user's function on a LocalCluster of two worker processes: the
    tables and grids equal the local run's, bit for bit; workers compile once each
    (a worker's later tasks take a fraction of its first)."""
    grid = {"d": "2:4:3", "steps": 40}
    monkeypatch.setenv("TESTBED_RESULTS", str(results / "local"))
    local = sweep("quadratic-stability", grid, seeds="0:2", workers=0, out=results / "lo",
                  progress=False)
    user = sweep(H.toy, {"a": "1:4:4"}, seeds="0:2", workers=2, out=results / "lu",
                 progress=False)
    monkeypatch.setenv("TESTBED_RESULTS", str(results / "dask"))     # nothing cached there
    monkeypatch.setenv("TESTBED_SCHEDULER", cluster.scheduler_address)
    remote = sweep("quadratic-stability", grid, seeds="0:2", out=results / "ro")
    assert not remote.failures, remote.failures
    assert "6/6 done (0 cached), 0 running, 0 failed; finished" in capsys.readouterr().err
    ruser = sweep(H.toy, {"a": "1:4:4"}, seeds="0:2", out=results / "ru", progress=False)
    for a, b in ((local, remote), (user, ruser)):
        fa, fb = a.frame(), b.frame()
        outputs = [c for c in fa.columns if c not in ("seconds", "worker", "cached")]
        pd.testing.assert_frame_equal(fa[outputs], fb[outputs], check_exact=True)
        pd.testing.assert_frame_equal(a.frame("replica"), b.frame("replica"),
                                      check_exact=True)
        assert a.dataset().identical(b.dataset())
    assert not remote.frame()["cached"].any()
    # the workers, started under another $TESTBED_RESULTS, wrote where the client said
    assert not list((results / "res").rglob("*.npz"))
    # kernels compile (or load from the shared disk cache) once per worker: a worker's
    # first task binds and loads them (~0.5 s warm, seconds cold), its later tasks
    # (same kernels, other d or seed) reuse them (~10 ms each; 100 ms is the margin
    # for a loaded machine)
    frame = remote.frame()
    for _, times in frame.groupby("worker", sort=False)["seconds"]:
        assert max(times.iloc[1:], default=0.0) < max(0.1, times.iloc[0] / 3), list(times)


def test_dask_worker_killed_mid_task(results, cluster):
    log = results / "log"
    grid = {"a": "1:3:3", "log": str(log), "hold": 2, "pause": 30}
    sw = _kill_task_2_once(log, lambda: sweep(
        H.toy, grid, scheduler=cluster.scheduler_address, out=results / "o", progress=False))
    assert H.calls(log).count("2-1.0-4-0") == 2
    assert sw.info["finished"] == 3 and not sw.failures
    assert_toy_results(sw, [1, 2, 3], [0])
