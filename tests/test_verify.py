"""testbed.verify catches a user's kernel mistakes that the first-use check cannot
see, with a message naming the entry and what is wrong: a Hessian kernel that
disagrees with the gradient, an HVP that is not linear in v, a kernel that adds into
its output, a gradient wrong below the first-use check's tolerance, declared critical
points that are not what they say, an undeclared critical point in the domain, and a
kernel that raises; a correct kernel passes, whatever the oracle had to derive."""
import numpy as np
import pytest

import testbed
from testbed import verify
from testbed.objective import registry
from testbed.objective.landscape import Param

KERNELS = '''
import math
import numpy as np
from testbed import CriticalPoint, Param, from_kernels
from testbed.kernel import njit


@njit
def value_grad(x, p, g):
    """sum log cosh x_i + sum (x_i - x_(i+1))^2 / 2 (+ p[0] sum x_i, p[0] = 0 by default)."""
    f = 0.0
    for i in range(x.shape[0]):
        f += math.log(math.cosh(x[i])) + p[0] * x[i]
        g[i] = math.tanh(x[i]) + p[0]
    for i in range(x.shape[0] - 1):
        r = x[i] - x[i + 1]
        f += 0.5 * r * r
        g[i] += r
        g[i + 1] -= r
    return f
{extra}

def _points(d, shift):
    return [CriticalPoint(tuple([0.0] * d), 0.0, 0)]


ENTRY = from_kernels("{name}", __name__, critical_points=_points,
                     params={{"shift": Param(0.0, -1.0, 1.0, doc="linear tilt")}})
'''

HESSIAN = '''
@njit
def hessian(x, p, H):
    d = x.shape[0]
    H[:, :] = 0.0
    for i in range(d):
        c = 1.0 / math.cosh(x[i])
        H[i, i] = c * c + (1.0 if i == 0 or i == d - 1 else 2.0)
        if i + 1 < d:
            H[i, i + 1] = -1.0
            H[i + 1, i] = -1.0
    H[0, 0] *= {factor}
'''

HVP = '''
@njit
def hvp(x, p, v, out):
    d = x.shape[0]
    for i in range(d):
        c = 1.0 / math.cosh(x[i])
        {assign} (c * c + (1.0 if i == 0 or i == d - 1 else 2.0)) * v[i] {nonlinear}
        if i > 0:
            out[i] -= v[i - 1]
        if i + 1 < d:
            out[i] -= v[i + 1]
'''

VARIANTS = {
    "chain_exact": HESSIAN.format(factor="1.0") + HVP.format(assign="out[i] =", nonlinear=""),
    "chain_derived": "",
    "chain_bad_hessian": HESSIAN.format(factor="1.01"),
    "chain_nonlinear_hvp": HVP.format(assign="out[i] =", nonlinear="* (1.0 + 0.1 * v[i] * v[i])"),
    "chain_accumulating_hvp": HVP.format(assign="out[i] +=", nonlinear=""),
    "chain_gradient_off": '''
@njit
def value(x, p):
    g = np.empty(x.shape[0])
    return value_grad(x, p, g) + 2e-6 * x[0]
''',
}


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    """Each variant in a file of a user's folder (the registry restored afterwards)."""
    folder = tmp_path_factory.mktemp("kernels")
    for name, extra in VARIANTS.items():
        (folder / f"{name}.py").write_text(KERNELS.format(name=name, extra=extra))
    registry.names()                                   # the catalogue, loaded first
    saved = dict(registry._ENTRIES)
    testbed.add_folder(folder)
    yield {name: testbed.landscape(name, d=5) for name in VARIANTS}
    registry._ENTRIES.clear()
    registry._ENTRIES.update(saved)


def failing(report):
    return {c.name: c.detail for c in report.failures}


@pytest.mark.parametrize("name", ["chain_exact", "chain_derived"])
def test_a_correct_kernel_passes(entries, name):
    report = verify.landscape(entries[name])
    assert report.passed, report.table()
    assert report["HVP = H v"].passed and report["HVP linear in v"].passed


def test_what_was_derived_is_named(entries):
    assert verify.provenance(entries["chain_exact"]) == {
        "hvp": "exact", "hessian": "exact", "hvp_from": "the hvp kernel",
        "hessian_from": "the hessian kernel", "mirrored": False, "source": "hand-written"}
    derived = verify.provenance(entries["chain_derived"])
    assert derived["hvp"] == derived["hessian"] == "difference" and derived["mirrored"]
    assert verify.describe(entries["chain_derived"]) == (
        "hand-written value_grad; Hessian: columns of a central-difference HVP; "
        "HVP: a central difference of the gradient")
    assert verify.provenance(entries["chain_nonlinear_hvp"])["hessian_from"] == \
        "columns of the hvp kernel"
    assert verify.provenance(entries["chain_bad_hessian"])["hvp_from"] == \
        "H v of the hessian kernel"
    assert verify.describe(testbed.landscape("himmelblau")).startswith("SymPy")


def test_hessian_that_disagrees_with_the_gradient(entries):
    report = verify.landscape(entries["chain_bad_hessian"])
    fails = failing(report)
    assert "the Hessian (the hessian kernel) disagrees with the gradient" in fails["Hessian"]
    assert "entry (0, 0)" in fails["Hessian"]
    assert "FAIL chain_bad_hessian (d=5, shift=0): Hessian:" in report.table()


def test_hvp_not_linear_in_v(entries):
    fails = failing(verify.landscape(entries["chain_nonlinear_hvp"]))
    assert "not linear in v" in fails["HVP linear in v"]


def test_hvp_that_adds_into_its_output(entries):
    fails = failing(verify.landscape(entries["chain_accumulating_hvp"]))
    assert "hvp" in fails["outputs written"] and "before" in fails["outputs written"]


def test_gradient_wrong_below_the_first_use_tolerance(entries):
    L = entries["chain_gradient_off"]
    L.grad(np.zeros(5))                    # passes the first-use check (1e-5 relative)
    fails = failing(verify.landscape(L))
    assert "coordinate 0" in fails["gradient"] and "disagrees" in fails["gradient"]


POINTS = '''
import sympy as sp
from testbed import CriticalPoint, symbolic

x, y = sp.symbols("x y", real=True)
F = x**4 / 4 - x**2 / 2 + (1 + x**2) * y**2 / 2
GOOD = [CriticalPoint((-1.0, 0.0), -0.25, 0), CriticalPoint((1.0, 0.0), -0.25, 0),
        CriticalPoint((0.0, 0.0), 0.0, 1)]
BOX = ((-2.0, -2.0), (2.0, 2.0))
RIDGE_OK = symbolic("ridge_ok", F, (x, y), critical_points=GOOD, domain=BOX)
NOT_CRITICAL = symbolic("ridge_not_critical", F, (x, y), domain=BOX,
                        critical_points=GOOD[:2] + [CriticalPoint((0.0, 0.1), 0.0, 1)])
WRONG_ENERGY = symbolic("ridge_wrong_energy", F, (x, y), domain=BOX,
                        critical_points=GOOD[:2] + [CriticalPoint((0.0, 0.0), 0.5, 1)])
WRONG_INDEX = symbolic("ridge_wrong_index", F, (x, y), domain=BOX,
                       critical_points=GOOD[:2] + [CriticalPoint((0.0, 0.0), 0.0, 0)])
WRONG_DEGENERACY = symbolic("ridge_wrong_degeneracy", F, (x, y), domain=BOX,
                            critical_points=GOOD[:2] + [CriticalPoint((0.0, 0.0), 0.0, 1, True)])
MISSING = symbolic("ridge_missing", F, (x, y), critical_points=GOOD[:2], domain=BOX)
OUTSIDE = symbolic("ridge_outside", F, (x, y), critical_points=GOOD,
                   domain=((-0.5, -2.0), (2.0, 2.0)))
TWICE = symbolic("ridge_twice", F, (x, y), critical_points=GOOD + GOOD[:1], domain=BOX)
RAISES = symbolic("ridge_raises", F, (x, y), critical_points=lambda d: [1 / 0], domain=BOX)
'''


@pytest.fixture(scope="module")
def ridges(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ridges")
    (folder / "ridges.py").write_text(POINTS)
    registry.names()                                   # the catalogue, loaded first
    saved = dict(registry._ENTRIES)
    testbed.add_folder(folder)
    yield lambda name: testbed.landscape(name)
    registry._ENTRIES.clear()
    registry._ENTRIES.update(saved)


def test_correct_declarations_pass(ridges):
    report = verify.landscape(ridges("ridge_ok"))
    assert report.passed, report.table()
    coverage = report["no undeclared critical point"].reason
    assert "726 starts (24^2 grid + 150 random)" in coverage and "converged" in coverage


@pytest.mark.parametrize("name, row, words", [
    ("ridge_not_critical", "declared points critical",
     "declared point #2 at (0, 0.1): |grad f| = 0.1 -- not a critical point"),
    ("ridge_wrong_energy", "declared energies", "declared 0.5"),
    ("ridge_wrong_index", "declared Morse indices", "index 1"),
    ("ridge_wrong_degeneracy", "declared degeneracy", "non-degenerate"),
    ("ridge_missing", "no undeclared critical point", "undeclared critical point(s)"),
    ("ridge_outside", "declared points in the domain", "outside the domain"),
    ("ridge_twice", "declared points distinct", "#0 and #3"),
])
def test_wrong_declarations_are_named(ridges, name, row, words):
    report = verify.landscape(ridges(name))
    fails = failing(report)
    assert row in fails and words in fails[row], report.table()
    assert f"FAIL {name} (d=2): {row}:" in report.table()


def test_tutorial_failure_line_is_what_verify_prints(ridges):
    """docs/tutorial.md shows this failure line (for its own entry name)."""
    line = [s for s in verify.landscape(ridges("ridge_not_critical")).table().splitlines()
            if "FAIL" in s and "critical:" in s][0]
    assert line.endswith("declared points critical: declared point #2 at (0, 0.1): "
                         "|grad f| = 0.1 -- not a critical point")


def test_parameter_domains(entries, monkeypatch):
    L = entries["chain_derived"]
    [row] = verify.parameter_domains(L)
    assert row.passed and row.measured == "3 of 3 refused"
    monkeypatch.setattr(Param, "check", lambda self, name, value, what="": np.asarray(value))
    [row] = verify.parameter_domains(L)
    assert row.passed is False and "binding shift = NaN was accepted" in row.detail


def test_a_declaration_that_raises_is_a_failing_row(ridges):
    """An exception in the user's code fails its checks, named, and the others run."""
    report = verify.landscape(ridges("ridge_raises"))
    fails = failing(report)
    assert fails["declared points"] == "ZeroDivisionError: division by zero"
    assert fails["completeness"] == "ZeroDivisionError: division by zero"
    assert report["gradient"].passed and report["HVP linear in v"].passed


def test_entries_by_name():
    [report] = verify.entries(["strict_saddle"], d=3)
    assert report.entry.startswith("strict_saddle (d=3") and report.passed
    assert report.as_dict()["checks"][0]["name"] == "outputs written"


def test_high_dimensions_without_dense_hessians():
    """Above DENSE_MAX, checks along random directions; what needs the dense Hessian
    is reported as not checked, never skipped silently."""
    L = testbed.landscape("strict_saddle", d=verify.DENSE_MAX + 1)
    report = verify.landscape(L, n_points=1)
    assert report.passed, report.table()
    assert report["gradient"].passed and report["Hessian symmetric"].passed
    assert report["declared Morse indices"].passed is None
    assert "not checked at d = 1001" == report["declared degeneracy"].detail
