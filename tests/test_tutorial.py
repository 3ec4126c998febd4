"""docs/tutorial.md runs as written: in a fresh folder, each ``python`` block that
starts with ``# file: PATH`` is written to PATH and each line of a ``bash`` block is
run, in the page's order; every command must exit 0, and the PASS/FAIL lines and the
summary line of the output shown right after a command must appear in its output."""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import testbed

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
MARK = "# file: "


def steps() -> list:
    """("file", path, text), ("run", command, None) and ("output", None, text), in the
    page's order."""
    out = []
    for m in FENCE.finditer(TUTORIAL.read_text()):
        lang, text = m.group(1), m.group(2)
        if lang == "python":
            out.append(("file", text.splitlines()[0][len(MARK):].strip(), text))
        elif lang == "bash":
            out += [("run", line.strip(), None) for line in text.splitlines() if line.strip()]
        elif lang == "text":
            out.append(("output", None, text))
    return out


def test_every_block_is_marked():
    """Every Python block is a file (its first line names it) and every command is
    one of the package's; the page covers a landscape, a claim and a rule."""
    for m in FENCE.finditer(TUTORIAL.read_text()):
        lang, text = m.group(1), m.group(2)
        assert lang in ("python", "bash", "text"), lang
        if lang == "python":
            assert text.startswith(MARK), text.splitlines()[0]
        if lang == "bash":
            for line in filter(str.strip, text.splitlines()):
                assert line.split()[0] in ("testbed", "python"), line
    files = [s[1] for s in steps() if s[0] == "file"]
    assert {"my_testbed/ridge.py", "my_testbed/ridge_gd_rate.py",
            "my_testbed/decayed_gd.py"} <= set(files)


def _command(line: str, env: dict) -> list:
    argv = shlex.split(line)
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    script = shutil.which("testbed", path=env["PATH"])
    return [script, *argv[1:]] if script else [sys.executable, "-m", "testbed.cli", *argv[1:]]


def _expected_lines(text: str) -> list:
    """The lines of a shown output that must appear: verdict lines (their first two
    words) and the summary."""
    keep = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("PASS", "FAIL"):
            keep.append(" ".join(words[:2]))
        elif line.startswith("verified "):
            keep.append(line.strip())
    return keep


def test_tutorial_runs_as_written(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TESTBED_FUNCTIONS", "TESTBED_RESULTS", "TESTBED_PERTURB")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("TESTBED_CACHE", str(tmp_path / "cache"))
    last = None
    for kind, what, text in steps():
        if kind == "file":
            path = tmp_path / what
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif kind == "run":
            proc = subprocess.run(_command(what, env), cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, (what, proc.stdout[-3000:], proc.stderr[-3000:])
            last = proc.stdout
        elif last is not None:
            lines = [" ".join(line.split()[:2]) for line in last.splitlines()] + \
                [line.strip() for line in last.splitlines()]
            for expected in _expected_lines(text):
                assert expected in lines, (expected, last[-3000:])
            last = None
    report = tmp_path / "report"
    page = (report / "README.md").read_text()
    assert "## ridge-gd-rate" in page and "![ridge-gd-rate](ridge-gd-rate.png)" in page
    assert "my_testbed/ridge_gd_rate.py" in page
    assert (report / "ridge-gd-rate.png").stat().st_size > 5_000
    assert '"ridge-gd-rate"' in (report / "claims.json").read_text()


def test_tutorial_claim_fails_under_a_wrong_prediction(tmp_path, clean_registry):
    """The page says its criterion fails under a wrong prediction: it does."""
    for kind, what, text in steps():
        if kind == "file" and what.startswith("my_testbed/"):
            (tmp_path / what).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / what).write_text(text)
    testbed.add_folder(tmp_path / "my_testbed")
    from testbed import claims
    claim = claims.get("ridge-gd-rate")
    params = claim.SCALES["quick"]
    data = claim.experiment(params)
    assert claim.check(data, claim.predict(params), params).status == "pass"
    wrong = {"rate": np.abs(1.0 - 1.9 * np.array(params["etas"]))}
    assert claim.check(data, wrong, params).status == "fail"
