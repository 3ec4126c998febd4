"""Generated oracles: derived derivatives and their stated accuracy, safe code
generation, and clear messages for wrong user kernels."""
import textwrap
import uuid

import numpy as np
import pytest
import sympy as sp

import testbed
from testbed import Param, TestbedError, symbolic


def user_landscape(tmp_path, body: str, d: int = 3, **kw):
    """Write a one-file user landscape into a fresh folder and load it."""
    name = "user_" + uuid.uuid4().hex[:8]
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.py").write_text(textwrap.dedent(f"""
        import numpy as np
        from testbed import from_kernels
        from testbed.kernel import njit
        """) + textwrap.dedent(body) + f"\nENTRY = from_kernels({name!r}, __name__)\n")
    testbed.add_folder(folder)
    return testbed.landscape(name, d=d, **kw)


SOFTPLUS = """
@njit
def value_grad(x, p, g):
    f = 0.0
    for i in range(x.shape[0]):
        e = np.exp(x[i] * (i + 1.0))
        f += np.log1p(e) + 0.1 * x[i] ** 4
        g[i] = (i + 1.0) * e / (1.0 + e) + 0.4 * x[i] ** 3
    return f
"""


def exact_softplus_hessian(x):
    i = np.arange(x.size) + 1.0
    s = 1.0 / (1.0 + np.exp(-x * i))
    return np.diag(i * i * s * (1 - s) + 1.2 * x ** 2)


def test_eigenvalue_bounds_include_the_error_of_a_derived_hvp(tmp_path):
    """Where the HVP is a finite difference, every Lanczos bound includes its relative
    error times the spectral scale, and the truth lies within the bound."""
    from testbed import curvature
    from testbed._engine.templates.oracle import FD_HVP_REL_ERROR
    L = user_landscape(tmp_path, SOFTPLUS, d=4)
    x = np.array([0.3, -0.2, 0.1, 0.5])
    assert curvature.hvp_error(L) == FD_HVP_REL_ERROR
    eig = curvature.top_eigenvalues(L, x, k=2, tol=1e-6)
    truth = np.sort(np.diag(exact_softplus_hessian(x)))[::-1][:2]
    assert np.all(eig.bounds >= FD_HVP_REL_ERROR * np.abs(eig.values).max())
    assert np.all(np.abs(eig.values - truth) <= eig.bounds)
    assert curvature.hvp_error(testbed.landscape("quadratic", d=3)) == 0.0


def test_derived_hvp_and_hessian_meet_their_stated_accuracy(tmp_path):
    L = user_landscape(tmp_path, SOFTPLUS, d=4)
    assert any("central difference" in s for s in L.oracle.DERIVED)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, v = rng.standard_normal(4), rng.standard_normal(4)
        H = exact_softplus_hessian(x)
        hv = L.hvp(x, v)
        # the module docstring states ~1e-10 relative; allow a 100x margin
        assert np.linalg.norm(hv - H @ v) <= 1e-8 * np.linalg.norm(H @ v)
        Hd = L.hessian(x)
        np.testing.assert_array_equal(Hd, Hd.T)
        assert np.max(np.abs(Hd - H)) <= 1e-8 * np.max(np.abs(H))


def test_wrong_gradient_is_refused(tmp_path):
    L = user_landscape(tmp_path, """
        @njit
        def value_grad(x, p, g):
            f = 0.0
            for i in range(x.shape[0]):
                f += x[i] ** 4
                g[i] = 3.0 * x[i] ** 3
            return f
        """)
    with pytest.raises(TestbedError, match="disagrees with finite differences"):
        L.grad(np.ones(3))


def test_nan_kernel_is_refused(tmp_path):
    L = user_landscape(tmp_path, """
        @njit
        def value_grad(x, p, g):
            g[:] = np.nan
            return np.nan
        """)
    with pytest.raises(TestbedError, match="non-finite value or gradient"):
        L.value(np.zeros(3))


def test_array_valued_kernel_is_refused(tmp_path):
    L = user_landscape(tmp_path, """
        @njit
        def value_grad(x, p, g):
            g[:] = x
            return x * x
        """)
    with pytest.raises(TestbedError, match="as a scalar"):
        L.value(np.zeros(3))


def test_kernel_that_does_not_compile_is_named(tmp_path):
    L = user_landscape(tmp_path, """
        @njit
        def value_grad(x, p, g):
            return undefined_name(x)
        """)
    with pytest.raises(TestbedError, match="kernel value_grad of landscape"):
        L.value(np.zeros(3))


def test_sympy_symbol_names_that_are_python_keywords():
    lam, x = sp.symbols("lambda x")
    L = symbolic("keyword_names_" + uuid.uuid4().hex[:6], lam * x ** 2 / 2, (x,),
                 {lam: Param(3.0)}).bind()
    assert L.value([2.0]) == 6.0
    assert L.grad([2.0])[0] == 6.0
    assert L.hessian([2.0])[0, 0] == 3.0


def test_sympy_kernels_equal_lambdify():
    x, y, a = sp.symbols("x y a")
    expr = sp.sin(a * x) * sp.exp(y) + x ** 3 * y ** 2 - sp.log(1 + x ** 2)
    L = symbolic("lambdify_twin_" + uuid.uuid4().hex[:6], expr, (x, y), {a: Param(1.7)}).bind()
    f = sp.lambdify((x, y, a), expr)
    grad = sp.lambdify((x, y, a), [sp.diff(expr, c) for c in (x, y)])
    hess = sp.lambdify((x, y, a), sp.hessian(expr, (x, y)))
    rng = np.random.default_rng(1)
    for pt in rng.standard_normal((10, 2)):
        np.testing.assert_allclose(L.value(pt), f(*pt, 1.7), rtol=1e-13)
        np.testing.assert_allclose(L.grad(pt), grad(*pt, 1.7), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(L.hessian(pt), np.array(hess(*pt, 1.7)), rtol=1e-12,
                                   atol=1e-14)
        v = rng.standard_normal(2)
        np.testing.assert_allclose(L.hvp(pt, v), np.array(hess(*pt, 1.7)) @ v, rtol=1e-12,
                                   atol=1e-13)


def test_underivable_functions_are_refused_up_front():
    x, y = sp.symbols("x y")
    for expr in (sp.Abs(x) + y ** 2, sp.gamma(x) + y ** 2):
        with pytest.raises(TestbedError, match="first two derivatives"):
            symbolic("underivable_" + uuid.uuid4().hex[:6], expr, (x, y))


def test_same_file_name_in_two_folders_loads_both(tmp_path):
    names = []
    for k in range(2):
        folder = tmp_path / f"folder{k}"
        folder.mkdir()
        name = f"same_file_{k}_" + uuid.uuid4().hex[:6]
        names.append(name)
        (folder / "my_funcs.py").write_text(textwrap.dedent(f"""
            import sympy as sp
            from testbed import symbolic
            x = sp.Symbol("x")
            ENTRY = symbolic({name!r}, (x - {k}) ** 2, (x,))
            """))
        testbed.add_folder(folder)
    assert set(names) <= set(testbed.landscapes())
