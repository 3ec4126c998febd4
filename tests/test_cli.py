"""The `testbed` command: output formats, exit codes, isolated failures, and clear
errors for bad input."""
import json
import os
import types

import pytest

import testbed.claims
from testbed.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path / "res"))
    return tmp_path / "res"


def test_list_json(capsys):
    code, out, _ = run_cli(capsys, "list", "--json")
    data = json.loads(out)
    assert code == 0
    assert "quadratic" in [e["name"] for e in data["landscapes"]]
    assert "gd" in data["rules"] and "sam" in data["rules"]
    assert "quadratic-stability" in [c["id"] for c in data["claims"]]


def test_check_json(capsys, results):
    code, out, _ = run_cli(capsys, "check", "quadratic-stability", "--json")
    records = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert records[0]["id"] == "quadratic-stability" and records[0]["status"] == "pass"
    assert {"criteria", "evidence", "seconds", "code"} <= set(records[0])


def test_check_prints_one_line_per_claim(capsys, results):
    code, out, _ = run_cli(capsys, "check", "quadratic-stability")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("PASS") and "rate_rel_error" in lines[0]


def test_figures_write_gallery_and_json(capsys, results, tmp_path):
    out = tmp_path / "figs"
    code, _, _ = run_cli(capsys, "figures", "quadratic-stability", "--scale", "quick",
                         "--out", str(out))
    assert code == 0
    assert (out / "quadratic-stability.png").exists()
    report = json.loads((out / "claims.json").read_text())
    assert report["claims"][0]["figure"] == "quadratic-stability.png"
    page = (out / "README.md").read_text()
    assert "| [`quadratic-stability`](#quadratic-stability) | pass |" in page
    assert "![quadratic-stability](quadratic-stability.png)" in page
    assert "| rate_rel_error |" in page and "**Verdict: pass**" in page
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "claims.json",
                                                     "quadratic-stability.png"]


def _boom():
    """A planted claim whose experiment raises."""
    m = types.ModuleType("testbed.claims.boom")
    m.ID, m.PAPER, m.CLAIM = "boom", "nobody (2026)", "a claim that raises"
    m.SCALES = {"quick": {"seed": 0}, "paper": {"seed": 0}}

    def experiment(params):
        raise RuntimeError("planted failure")
    m.experiment = experiment
    m.predict = lambda params: {}
    return m


def test_a_claim_that_raises_does_not_stop_the_others(capsys, results, tmp_path,
                                                      monkeypatch):
    import testbed.claims.quadratic_stability as qs
    monkeypatch.setattr(testbed.claims, "modules",
                        lambda: {"boom": _boom(), "quadratic-stability": qs})
    out = tmp_path / "figs"
    code, stdout, _ = run_cli(capsys, "figures", "--scale", "quick", "--out", str(out))
    assert code == 1                                  # non-zero at the end
    assert (out / "quadratic-stability.png").exists()
    records = {r["id"]: r for r in json.loads((out / "claims.json").read_text())["claims"]}
    assert records["quadratic-stability"]["status"] == "pass"
    err = records["boom"]["error"]
    assert records["boom"]["status"] == "error"
    assert err["type"] == "RuntimeError" and err["message"] == "planted failure"
    assert "test_cli.py" in err["where"] and "experiment" in err["where"]
    assert "**error**" in (out / "README.md").read_text()
    assert "ERROR" in stdout and "planted failure" in stdout


def test_misspelled_id_runs_nothing_and_creates_nothing(capsys, results, tmp_path):
    out = tmp_path / "figs"
    code, _, err = run_cli(capsys, "figures", "quadratic-stability", "quadratic-stabilty",
                           "eos-netwrk", "--out", str(out))
    assert code == 2
    assert err.count("\n") == 1 and "'quadratic-stabilty', 'eos-netwrk'" in err
    assert not out.exists() and not results.exists()


@pytest.mark.parametrize("command", ["check", "figures"])
def test_results_folder_that_is_a_file(capsys, tmp_path, monkeypatch, command):
    blocker = tmp_path / "res"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TESTBED_RESULTS", str(blocker))
    code, _, err = run_cli(capsys, command, "quadratic-stability", "--out" if command ==
                           "figures" else "--json", *([str(tmp_path / "f")] if command ==
                                                       "figures" else []))
    assert code == 2 and err.count("\n") == 1
    assert "results folder" in err and "is a file" in err
    assert not (tmp_path / "f").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_results_folder_that_cannot_be_written(capsys, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("TESTBED_RESULTS", str(ro / "res"))
    code, _, err = run_cli(capsys, "check", "quadratic-stability")
    assert code == 2 and "cannot be written" in err


def test_out_that_is_a_file(capsys, results, tmp_path):
    target = tmp_path / "figs.png"
    target.write_text("x")
    code, _, err = run_cli(capsys, "figures", "quadratic-stability", "--out", str(target))
    assert code == 2 and err.count("\n") == 1 and "--out" in err and "is a file" in err


def test_ctrl_c_says_what_was_kept(capsys, results, monkeypatch):
    import testbed.claims._base as base

    def interrupted(module, scale, figure=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(base, "evaluate", interrupted)
    code, _, err = run_cli(capsys, "check", "quadratic-stability")
    assert code == 130
    assert err.count("\n") == 1 and "resume" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, needle", [
    (("check", "no-such-claim"), "unknown claim(s) 'no-such-claim'"),
    (("bench", "B99"), "B99"),
    (("check", "quadratic-stability", "--perturb", "0.5"), "TESTBED_PERTURB"),
])
def test_errors_are_one_line(capsys, results, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("testbed: error:") and needle in err
    assert "Traceback" not in err


# -- testbed verify ----------------------------------------------------------------------

def test_verify_prints_a_table_per_landscape(capsys):
    code, out, _ = run_cli(capsys, "verify", "quadratic", "himmelblau", "--d", "3")
    assert code == 0
    assert "PASS quadratic (d=3, lam=[1, 5.5, 10])" in out and "PASS himmelblau (d=2)" in out
    assert "why this tolerance" in out and "no undeclared critical point" in out
    assert out.strip().splitlines()[-1] == "verified 2 landscape(s): 2 passed, 0 failed"


def test_verify_json(capsys):
    code, out, _ = run_cli(capsys, "verify", "rosenbrock", "--json", "--points", "1")
    data = json.loads(out)
    assert code == 0 and data["problems"] == []
    [report] = data["landscapes"]
    assert report["passed"] and report["entry"] == "rosenbrock (d=2, a=1, b=100)"
    assert {"name", "measured", "tolerance", "reason", "passed", "detail"} == \
        set(report["checks"][0])


_WRONG = '''
import sympy as sp
from testbed import CriticalPoint, symbolic
x, y = sp.symbols("x y", real=True)
BOWL = symbolic("bowl_wrong_xyz", (x - 1)**2 / 2 + y**2, (x, y),
                critical_points=[CriticalPoint((1.0, 0.5), 0.0, 0)])
'''


def test_verify_a_folder_with_a_mistake(capsys, tmp_path, clean_registry):
    (tmp_path / "bowl.py").write_text(_WRONG)
    code, out, _ = run_cli(capsys, "verify", "--folder", str(tmp_path))
    assert code == 1
    assert "FAIL bowl_wrong_xyz (d=2)" in out                 # only the folder's entries
    assert ("FAIL bowl_wrong_xyz (d=2): declared points critical: declared point #0 at "
            "(1, 0.5): |grad f| = 1 -- not a critical point") in out
    assert "1 failed (bowl_wrong_xyz (d=2))" in out and "himmelblau" not in out


@pytest.mark.parametrize("argv, needle", [
    (("verify", "no_such_landscape"), "unknown landscape(s) 'no_such_landscape'"),
    (("verify", "--folder", "/no/such/folder"), "does not exist"),
    (("verify", "quadratic", "--d", "0"), "--d must be a positive integer"),
    (("verify", "quadratic", "--points", "0"), "--points must be a positive integer"),
])
def test_verify_bad_input_is_one_line(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err
