"""The compiled oracle of a landscape: one generated module with ``value``,
``value_grad``, ``hessian`` and ``hvp`` (and, for SymPy landscapes, ``lane``, a
scalar-argument kernel that loops over replicas can inline and vectorise; for
finite-sum landscapes f = (1/n) sum_j f_j, the kernel module's
``value_grad_batch(x, p, idx, g) -> f_B`` (mean over the samples idx) and
``n_samples(p)``, which mini-batch rules need). ``hvp_prepare(x, p) -> state`` and
``hvp_prepared(x, p, state, v, out)`` split off the work that many products at one
point share (Lanczos); a kernel module may define both, else they are plain ``hvp``.

What a hand-written kernel module does not provide is derived here, and said so in
the module's ``DERIVED`` tuple:

- ``value(x, p)`` from ``value_grad`` (exact);
- ``hvp`` from ``hessian`` (exact), else by a central difference of the gradient,
  Hv ~ (g(x + h v) - g(x - h v)) / (2h) with h = eps^(1/3) max(1, |x|) / |v|:
  truncation error h^2/6 |D^3 f[v, v, .]| plus rounding eps |g| / h, i.e. a relative
  error of about 1e-10 for smooth functions of unit scale, enough for Lanczos, not
  for identities at 1e-12;
- ``hessian`` from ``hvp`` column by column (through ``hvp_prepare`` /
  ``hvp_prepared``, so the products share their per-point work), then symmetrised
  (exact if hvp is).
"""
from __future__ import annotations

import inspect

import sympy as sp

from . import _spectral_templates
from ._codegen import file_hash, functions_source, import_path, load_generated, source_hash
from .symbolic import printer

_DERIVED_HVP = '''
@njit
def hvp(x, p, v, out):
    d = x.shape[0]
    vn = 0.0
    xn = 0.0
    for i in range(d):
        vn += v[i] * v[i]
        xn += x[i] * x[i]
    if vn == 0.0:
        out[:] = 0.0
        return
    h = 6.0554544523933395e-06 * max(1.0, math.sqrt(xn)) / math.sqrt(vn)
    xp = x + h * v
    xm = x - h * v
    gp = np.empty(d)
    gm = np.empty(d)
    value_grad(xp, p, gp)
    value_grad(xm, p, gm)
    for i in range(d):
        out[i] = (gp[i] - gm[i]) / (2.0 * h)
'''

_DERIVED_HESSIAN = '''
@njit
def hessian(x, p, H):
    d = x.shape[0]
    e = np.zeros(d)
    col = np.empty(d)
    state = hvp_prepare(x, p)
    for j in range(d):
        e[j] = 1.0
        hvp_prepared(x, p, state, e, col)
        e[j] = 0.0
        for i in range(d):
            H[i, j] = col[i]
    for i in range(d):
        for j in range(i):
            s = 0.5 * (H[i, j] + H[j, i])
            H[i, j] = s
            H[j, i] = s
'''

_HVP_FROM_HESSIAN = '''
@njit
def hvp(x, p, v, out):
    d = x.shape[0]
    H = np.empty((d, d))
    hessian(x, p, H)
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += H[i, j] * v[j]
        out[i] = s
'''

_VALUE_FROM_GRAD = '''
@njit
def value(x, p):
    g = np.empty(x.shape[0])
    return value_grad(x, p, g)
'''

_PREPARED_DEFAULT = '''
@njit
def hvp_prepare(x, p):
    return np.empty(0)


@njit
def hvp_prepared(x, p, state, v, out):
    hvp(x, p, v, out)
'''

_HEADER = "import math\nimport numpy as np\nfrom testbed._jit import njit\n"


_SPECTRAL = functions_source(_spectral_templates, ("lanczos", "top_eigenvalues", "sharpness"))


_MODULES: dict = {}


def oracle_module(landscape):
    """The generated oracle module of ``landscape`` (cached per process and on disk)."""
    try:
        return _MODULES[landscape.kernels]
    except KeyError:
        module = _MODULES[landscape.kernels] = _build(landscape)
        return module


def _build(landscape):
    kind = landscape.kernels[0]
    if kind == "sympy":
        _, expr, coords, psyms = landscape.kernels
        key = f"sympy|{sp.srepr(expr)}|{coords}|{psyms}|{source_hash(_spectral_templates)}"
        return load_generated("sym", key, lambda: _sympy_source(expr, coords, psyms))
    if kind == "module":
        module = import_path(landscape.kernels[1], landscape.source or None)
        path = inspect.getsourcefile(module)
        key = (f"module|{module.__name__}|{path}|{file_hash(path)}|"
               f"{source_hash(_spectral_templates)}")
        return load_generated("mod", key, lambda: _module_source(module, path))
    raise ValueError(f"unknown kernel kind {kind!r}")


def _module_source(module, path) -> str:
    have = {n for n in ("value", "value_grad", "hessian", "hvp", "value_grad_batch",
                        "n_samples", "hvp_prepare", "hvp_prepared") if hasattr(module, n)}
    if {"hvp_prepare", "hvp_prepared"} - have:
        have -= {"hvp_prepare", "hvp_prepared"}
    if "value_grad" not in have:
        from .errors import TestbedError
        raise TestbedError(f"kernel module {module.__name__} ({path}) must define a Numba "
                           f"function value_grad(x, p, g) -> f")
    lines = [_HEADER, "from testbed._codegen import import_path",
             f"_m = import_path({module.__name__!r}, {str(path)!r})"]
    lines += [f"{n} = _m.{n}" for n in sorted(have)]
    derived = []
    if "value" not in have:
        lines.append(_VALUE_FROM_GRAD)
    if "hvp" not in have:
        if "hessian" in have:
            lines.append(_HVP_FROM_HESSIAN)
            derived.append("hvp (exact, from the Hessian)")
        else:
            lines.append(_DERIVED_HVP)
            derived.append("hvp (central difference of the gradient, rel. error ~1e-10)")
    if "hessian" not in have:
        lines.append(_DERIVED_HESSIAN)
        derived.append("hessian (columns of hvp, symmetrised)")
    if "hvp_prepare" not in have:
        lines.append(_PREPARED_DEFAULT)
    lines.append(f"DERIVED = {tuple(derived)!r}")
    return "\n".join(lines) + "\n" + _SPECTRAL


def _unpack(coords, psyms) -> list[str]:
    lines = [f"    {c} = x[{i}]" for i, c in enumerate(coords)]
    lines += [f"    {s} = p[{i}]" for i, s in enumerate(psyms)]
    return lines


def _body(exprs, targets) -> list[str]:
    pr = printer()
    subs, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_c"))
    lines = [f"    {s} = {pr.doprint(e)}" for s, e in subs]
    lines += [f"    {t} = {pr.doprint(e)}" for t, e in zip(targets, reduced)]
    return lines


def _sympy_source(expr, coords, psyms) -> str:
    d = len(coords)
    # rename to safe identifiers (a user may call a symbol 'lambda' or 'x.1')
    new_c = [sp.Symbol(f"_x{i}", real=True) for i in range(d)]
    new_p = [sp.Symbol(f"_p{i}", real=True) for i in range(len(psyms))]
    expr = expr.xreplace(dict(zip((*coords, *psyms), (*new_c, *new_p))))
    coords, psyms = new_c, new_p
    grad = [sp.diff(expr, c) for c in coords]
    hess = {(i, j): sp.diff(grad[i], coords[j]) for i in range(d) for j in range(i, d)}
    unpack = _unpack(coords, psyms)
    out = [_HEADER]
    out += ["@njit", "def value(x, p):", *unpack, *_body([expr], ["_f"]), "    return _f", ""]
    out += ["@njit", "def value_grad(x, p, g):", *unpack,
            *_body([expr, *grad], ["_f"] + [f"g[{i}]" for i in range(d)]),
            "    return _f", ""]
    hkeys = list(hess)
    out += ["@njit", "def hessian(x, p, H):", *unpack,
            *_body([hess[k] for k in hkeys], [f"H[{i}, {j}]" for i, j in hkeys])]
    out += [f"    H[{j}, {i}] = H[{i}, {j}]" for i, j in hkeys if i != j] + [""]
    out += ["@njit", "def hvp(x, p, v, out):", *unpack,
            *_body([hess[k] for k in hkeys], [f"_h{i}_{j}" for i, j in hkeys])]
    for i in range(d):
        terms = [f"_h{min(i, j)}_{max(i, j)} * v[{j}]" for j in range(d)]
        out.append(f"    out[{i}] = " + " + ".join(terms))
    out.append("")
    # scalar lane kernel: arguments are the coordinates then the parameters
    args = ", ".join([str(c) for c in coords] + [str(s) for s in psyms])
    out += ["@njit(inline='always')", f"def lane({args}):",
            *_body([expr, *grad], ["_f"] + [f"_g{i}" for i in range(d)]),
            "    return (_f, " + ", ".join(f"_g{i}" for i in range(d)) + ")", ""]
    out.append(_PREPARED_DEFAULT)
    out.append("DERIVED = ()")
    return "\n".join(out) + "\n" + _SPECTRAL
