"""The `testbed` command: output formats, exit codes, and clear errors."""
import json

import pytest

from testbed.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json(capsys):
    code, out, _ = run_cli(capsys, "list", "--json")
    data = json.loads(out)
    assert code == 0
    assert "quadratic" in [e["name"] for e in data["landscapes"]]
    assert "gd" in data["rules"] and "sam" in data["rules"]
    assert "quadratic-stability" in [c["id"] for c in data["claims"]]


def test_check_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path))
    code, out, _ = run_cli(capsys, "check", "quadratic-stability", "--json")
    records = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert records[0]["id"] == "quadratic-stability" and records[0]["passed"] is True
    assert {"measured", "predicted", "tolerance", "reason", "seconds"} <= set(records[0])


def test_figures_write_report(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path / "res"))
    code, _, _ = run_cli(capsys, "figures", "quadratic-stability", "--scale", "quick",
                         "--out", str(tmp_path / "figs"))
    assert code == 0
    assert (tmp_path / "figs" / "quadratic-stability.png").exists()
    report = json.loads((tmp_path / "figs" / "claims-report.json").read_text())
    assert report["claims"][0]["figure"] == "quadratic-stability.png"


@pytest.mark.parametrize("argv, needle", [
    (("check", "no-such-claim"), "unknown claim 'no-such-claim'"),
    (("bench", "B99"), "B99"),
])
def test_errors_are_one_line(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("testbed: error:") and needle in err
    assert "Traceback" not in err
