"""A user's folder (``--folder``, ``TESTBED_FUNCTIONS``, ``testbed.add_folder``):
landscapes, claims and update rules beside the shipped ones, and one clear message
for each bad input -- a folder that does not exist or defines nothing, a file with a
syntax error or that raises (named with its line; the rest loads), a name given twice
(both files named), a claim or a rule missing a part. All folders are tmp_path
folders outside the package."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import testbed
from testbed import claims, rules
from testbed.cli import main
from testbed.errors import TestbedError
from testbed.objective import registry
from testbed.objective.registry import FolderWarning

LANDSCAPE = '''
import sympy as sp
from testbed import CriticalPoint, symbolic
x, y = sp.symbols("x y", real=True)
{var} = symbolic("{name}", (x - 1)**2 / 2 + (y + 2)**2, (x, y),
                 critical_points=[CriticalPoint((1.0, -2.0), 0.0, 0)])
'''

CLAIM = '''
import numpy as np
import testbed
from testbed.claims import Verdict, close

ID = "{id}"
PAPER = "nobody (2026), a test claim"
CLAIM = "GD with step eta on 1/2 |x|^2 multiplies x by (1 - eta) per step"
SCALES = {{"quick": {{"eta": 0.1, "steps": 10, "seed": 0}},
          "paper": {{"eta": 0.1, "steps": 20, "seed": 0}}}}
CALLS = []


def experiment(params):
    CALLS.append(params)
    L = testbed.landscape("quadratic", d=2, lam=[1.0, 1.0])
    res = testbed.run(L, "gd", [1.0, 1.0], steps=params["steps"], eta=params["eta"])
    return {{"x": res.x[0]}}


def predict(params):
    return {{"x": (1.0 - params["eta"]) ** params["steps"]}}


def check(data, prediction, params):
    return Verdict([close("x0", data["x"][0], prediction["x"], 1e-12,
                          "rounding of a few steps")])
{draw}
'''

DRAW = '''
def draw(data, prediction, params, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [data["x"][0], prediction["x"]])
    fig.savefig(path)
    plt.close(fig)
'''

RULE = '''
from testbed import Param
from testbed.rules._api import value_grad

HYPER = {"eta": Param(None, 0.0, exclusive_low=True, doc="step size")}
STATE = 0
SCALARS = 0


def init(x, s, c, h, p, rng):
    pass


def step(t, x, g, s, c, h, p, rng):
    f = value_grad(x, p, g)
    for i in range(x.shape[0]):
        x[i] -= 0.5 * h[0] * g[i]
    return f
'''


@pytest.fixture(autouse=True)
def _fresh_registry(clean_registry):
    """Every test here starts and ends with the registry as the catalogue left it."""
    yield


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_RESULTS", str(tmp_path / "res"))
    return tmp_path / "res"


def write(folder, **files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- bad input: one clear message each ------------------------------------------------

def test_folder_that_does_not_exist(tmp_path, capsys):
    with pytest.raises(TestbedError, match="'.*nowhere' does not exist"):
        testbed.add_folder(tmp_path / "nowhere")
    code, _, err = run_cli(capsys, "list", "--folder", str(tmp_path / "nowhere"))
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_folder_that_is_a_file(tmp_path):
    (tmp_path / "f.py").write_text("")
    with pytest.raises(TestbedError, match="is a file, not a folder"):
        testbed.add_folder(tmp_path / "f.py")


def test_folder_without_python_files(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(TestbedError, match="holds no .py file"):
        testbed.add_folder(tmp_path)


def test_folder_that_defines_nothing(tmp_path):
    write(tmp_path, helpers="def helper():\n    return 1\n")
    with pytest.raises(TestbedError, match="defines no landscape .* claim or update rule "
                                           "in its 1 .py file"):
        testbed.add_folder(tmp_path)


def test_syntax_error_names_file_and_line_and_the_rest_loads(tmp_path):
    write(tmp_path, good_xyz=LANDSCAPE.format(var="A", name="good_xyz"),
          broken_xyz="import numpy\n\ndef f(:\n    pass\n")
    with pytest.warns(FolderWarning) as caught:
        added = testbed.add_folder(tmp_path)
    [w] = caught
    assert f"{tmp_path / 'broken_xyz.py'}:3: syntax error" in str(w.message)
    assert added["landscapes"] == ["good_xyz"]
    assert "good_xyz" in testbed.landscapes()
    assert any("broken_xyz.py:3" in p for p in registry.problems())
    with warnings.catch_warnings():                    # reported once, not on every use
        warnings.simplefilter("error")
        testbed.add_folder(tmp_path)


def test_exception_on_import_names_file_and_line(tmp_path):
    write(tmp_path, good_xyz=LANDSCAPE.format(var="A", name="good_xyz"),
          raises_xyz="import math\nX = math.sqrt(-1)\n")
    with pytest.warns(FolderWarning, match=r"raises_xyz.py:2: ValueError on import: math "
                                           r"domain error"):
        testbed.add_folder(tmp_path)
    assert "good_xyz" in testbed.landscapes()


def test_two_entries_with_one_name_both_files_named_after_the_rest(tmp_path):
    write(tmp_path, a_xyz=LANDSCAPE.format(var="A", name="twice_xyz"),
          b_xyz=LANDSCAPE.format(var="B", name="twice_xyz"),
          c_xyz=LANDSCAPE.format(var="C", name="other_xyz"))
    with pytest.raises(TestbedError) as err:
        testbed.add_folder(tmp_path)
    assert "a_xyz.py" in str(err.value) and "b_xyz.py" in str(err.value)
    assert "other_xyz" in testbed.landscapes()        # the rest was loaded
    with pytest.raises(TestbedError, match="twice_xyz"):
        testbed.add_folder(tmp_path)                  # and it is reported on every use


def test_claim_missing_parts_is_refused_by_name(tmp_path):
    text = CLAIM.format(id="partial-xyz", draw="").replace("def predict", "def _predict")
    write(tmp_path, partial_xyz=text, land_xyz=LANDSCAPE.format(var="A", name="land_xyz"))
    with pytest.warns(FolderWarning, match=r"partial_xyz.py: claim module lacks predict, "
                                           r"draw\. A claim module defines ID"):
        testbed.add_folder(tmp_path)
    assert "partial-xyz" not in claims.ids()


def test_claim_with_a_bad_part(tmp_path):
    text = CLAIM.format(id="scales-xyz", draw=DRAW).replace('"paper":', '"full":')
    write(tmp_path, scales_xyz=text)
    with pytest.warns(FolderWarning, match="SCALES must map 'quick' and 'paper'"):
        with pytest.raises(TestbedError, match="defines no landscape"):
            testbed.add_folder(tmp_path)


def test_claim_id_colliding_with_a_shipped_one(tmp_path):
    write(tmp_path, mine=CLAIM.format(id="quadratic-stability", draw=DRAW))
    with pytest.raises(TestbedError) as err:
        testbed.add_folder(tmp_path)
    msg = str(err.value)
    assert "claim id 'quadratic-stability' is declared twice" in msg
    assert "testbed/claims/quadratic_stability.py" in msg and str(tmp_path / "mine.py") in msg
    assert claims.get("quadratic-stability").__name__ == "testbed.claims.quadratic_stability"


def test_two_user_claims_with_one_id(tmp_path):
    write(tmp_path / "a", one=CLAIM.format(id="same-xyz", draw=DRAW))
    write(tmp_path / "b", two=CLAIM.format(id="same-xyz", draw=DRAW))
    testbed.add_folder(tmp_path / "a")
    with pytest.raises(TestbedError, match=r"'same-xyz' is declared twice: in .*one.py and "
                                           r"in .*two.py"):
        testbed.add_folder(tmp_path / "b")


def test_rule_named_like_a_shipped_one(tmp_path):
    write(tmp_path, gd=RULE)
    with pytest.raises(TestbedError) as err:
        testbed.add_folder(tmp_path)
    assert "update rule 'gd' is declared twice" in str(err.value)
    assert "testbed/rules/gd.py" in str(err.value) and str(tmp_path / "gd.py") in str(err.value)
    assert rules.get("gd").__name__ == "testbed.rules.gd"


@pytest.mark.parametrize("change, words", [
    (("STATE = 0\n", ""), "update-rule module lacks STATE"),
    (("def step(", "@njit\ndef step("), "step must be a plain Python function"),
    (("SCALARS = 0\n", "SCALARS = 0\nID = 'x'\n"), "parts of both a claim"),
])
def test_rule_missing_or_wrong_part(tmp_path, change, words):
    njit = "from testbed import Param\nfrom testbed.kernel import njit"
    text = RULE.replace(*change).replace("from testbed import Param", njit)
    write(tmp_path, half_rule_xyz=text, land_xyz=LANDSCAPE.format(var="A", name="land_xyz"))
    with pytest.warns(FolderWarning, match=words):
        testbed.add_folder(tmp_path)
    assert "half_rule_xyz" not in rules.names()


# -- what a folder adds ------------------------------------------------------------------

def test_user_rule_runs_by_name(tmp_path, capsys):
    write(tmp_path, half_gd_xyz=RULE, land_xyz=LANDSCAPE.format(var="A", name="land_xyz"))
    assert testbed.add_folder(tmp_path) == {"claims": [], "landscapes": ["land_xyz"],
                                            "rules": ["half_gd_xyz"]}
    assert "half_gd_xyz" in rules.names()
    L = testbed.landscape("quadratic", d=2, lam=[1.0, 1.0])
    res = testbed.run(L, "half_gd_xyz", [1.0, 1.0], steps=3, eta=0.2)
    assert np.allclose(res.x, 0.9**3) and res.meta["rule"] == "half_gd_xyz"
    with pytest.raises(TestbedError, match="needs eta"):
        testbed.run(L, "half_gd_xyz", [1.0, 1.0], steps=3)
    code, out, _ = run_cli(capsys, "list", "--json", "--folder", str(tmp_path))
    assert code == 0 and "half_gd_xyz" in json.loads(out)["rules"]


def test_user_files_import_each_other(tmp_path):
    write(tmp_path, consts_xyz="CENTER = 3.0\n",
          uses_xyz=LANDSCAPE.format(var="A", name="uses_xyz").replace(
              "from testbed import", "from .consts_xyz import CENTER\nfrom testbed import"))
    write(tmp_path / "sub", deeper_xyz=LANDSCAPE.format(var="B", name="deeper_xyz"))
    assert testbed.add_folder(tmp_path)["landscapes"] == ["deeper_xyz", "uses_xyz"]
    assert registry.entry("deeper_xyz").source == str(tmp_path.resolve() / "sub" / "deeper_xyz.py")


def test_a_copy_of_an_entry_is_not_a_second_declaration(tmp_path):
    write(tmp_path, copies_xyz="import testbed\nL = testbed.landscape('himmelblau')\n"
          + LANDSCAPE.format(var="A", name="copies_xyz")
          + "A5 = A.bind()\n")
    assert testbed.add_folder(tmp_path)["landscapes"] == ["copies_xyz"]


def test_user_claim_in_check_and_list(tmp_path, capsys, results):
    write(tmp_path, my_claim_xyz=CLAIM.format(id="my-claim-xyz", draw=DRAW))
    code, out, _ = run_cli(capsys, "check", "my-claim-xyz", "--folder", str(tmp_path))
    assert code == 0 and out.startswith("PASS") and "my-claim-xyz" in out
    code, out, _ = run_cli(capsys, "list", "--json")
    listed = {c["id"]: c for c in json.loads(out)["claims"]}
    assert listed["my-claim-xyz"]["source"] == str(tmp_path.resolve() / "my_claim_xyz.py")
    assert "quadratic-stability" in listed


def test_user_claim_in_figures_and_report(tmp_path, capsys, results):
    folder = write(tmp_path / "mine", my_claim_xyz=CLAIM.format(id="my-claim-xyz", draw=DRAW))
    out = tmp_path / "figs"
    code, stdout, err = run_cli(capsys, "figures", "my-claim-xyz", "quadratic-stability",
                                "--scale", "quick", "--out", str(out), "--folder", str(folder))
    assert code == 0, stdout + err
    assert (out / "my-claim-xyz.png").exists() and (out / "quadratic-stability.png").exists()
    records = {r["id"]: r for r in json.loads((out / "claims.json").read_text())["claims"]}
    assert records["my-claim-xyz"]["status"] == "pass"
    assert records["my-claim-xyz"]["source"].endswith("my_claim_xyz.py")
    assert "source" not in records["quadratic-stability"]
    page = (out / "README.md").read_text()
    assert "| [`my-claim-xyz`](#my-claim-xyz) | pass |" in page
    assert "A user's claim, from `" in page and "![my-claim-xyz](my-claim-xyz.png)" in page


def test_editing_a_user_claim_recomputes_it(tmp_path, results):
    folder = write(tmp_path, cached_xyz=CLAIM.format(id="cached-xyz", draw=DRAW))
    testbed.add_folder(folder)
    from testbed.claims._base import evaluate
    claim = claims.get("cached-xyz")
    assert evaluate(claim, "quick")["status"] == "pass"
    assert evaluate(claim, "quick")["status"] == "pass"
    assert len(claim.CALLS) == 1                       # the second came from the cache
    (folder / "cached_xyz.py").write_text((folder / "cached_xyz.py").read_text() + "\n# edited\n")
    evaluate(claim, "quick")
    assert len(claim.CALLS) == 2                       # the folder's code is in the key


def test_testbed_functions_variable(tmp_path):
    write(tmp_path, env_claim_xyz=CLAIM.format(id="env-claim-xyz", draw=DRAW),
          env_land_xyz=LANDSCAPE.format(var="A", name="env_land_xyz"))
    env = {**os.environ, "TESTBED_FUNCTIONS": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "testbed.cli", "list", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert "env_land_xyz" in [e["name"] for e in data["landscapes"]]
    assert "env-claim-xyz" in [c["id"] for c in data["claims"]]


def test_verify_counts_a_file_that_did_not_load(tmp_path, capsys):
    write(tmp_path, good_xyz=LANDSCAPE.format(var="A", name="good_xyz"),
          broken_xyz="def f(:\n")
    code, out, err = run_cli(capsys, "verify", "--folder", str(tmp_path))
    assert code == 1
    assert "PASS good_xyz (d=2)" in out and "1 passed, 0 failed" in out
    assert f"not loaded: {tmp_path.resolve() / 'broken_xyz.py'}:1: syntax error" in out
    assert err.startswith("testbed: warning: ") and "broken_xyz.py:1" in err


def test_readme_rule_example_runs_as_written(tmp_path):
    """The README's one-file rule (sign descent) in a folder outside the package, run
    by the README's snippet in a fresh process: each coordinate moves eta per step
    toward the minimum of the quadratic until it oscillates within eta of it."""
    import re
    from pathlib import Path
    text = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    rule = next(b for b in blocks if b.startswith("# my_rules/sign_gd.py"))
    snippet = next(b for b in blocks if 'add_folder("my_rules")' in b)
    (tmp_path / "my_rules").mkdir()
    (tmp_path / "my_rules" / "sign_gd.py").write_text(rule)
    script = snippet + "\nprint(repr(res.x[0].tolist()), res.meta['rule'])\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={**os.environ, "TESTBED_FUNCTIONS": ""})
    x, name = out.stdout.strip().rsplit(" ", 1)
    assert name == "sign_gd"
    assert np.all(np.abs(np.array(eval(x))) <= 0.01 + 1e-12)
