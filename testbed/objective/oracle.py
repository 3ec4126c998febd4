"""The compiled oracle of a landscape: its kernels, whatever they lack derived, and
the spectral kernels, as one instance of :mod:`testbed._engine.templates.oracle`
(which documents each derivation and its accuracy).

The kernels come from a SymPy expression (``value``, ``value_grad``, ``hessian``,
``hvp``, ``lane`` / ``lane_exact`` / ``lane_params``, the inlined GD steps of the
vectorised backend
:mod:`testbed._engine.templates.lanes`, and ``value_grad_lanes``, printed with common
subexpressions eliminated into a generated module) or
from a module of hand-written Numba functions, which may also define
``value_grad_batch(x, p, idx, g) -> f_B`` and ``n_samples(p)`` for finite sums
f = (1/n) sum_j f_j, ``hvp_prepare(x, p) -> state`` / ``hvp_prepared(x, p, state,
v, out)``, which split off the work that many products at one point share, and
``value_grad_lanes(B, p, G, F)``, ``value_grad`` at every column of B at once
(F[r], G[:, r] at B[:, r], equal to ``value_grad`` bit for bit: the same operations
in the same order, the loop over columns innermost so that it vectorises), which
noisy GD's vectorised backend :mod:`testbed._engine.templates.noisy_lanes` uses, and
``CALLED``, the names of its kernels that the engine's kernels call by symbol
(:mod:`testbed._engine.calls`) rather than compile again inside each of them (for
kernels as large as a network's passes). The oracle's ``DERIVED`` tuple says what was
derived and how.
"""
from __future__ import annotations

import inspect

import sympy as sp

from .._engine import calls, codegen
from .._engine.templates import oracle as template
from ..errors import TestbedError
from .symbolic import printer

KERNEL_NAMES = ("value", "value_grad", "hessian", "hvp", "hvp_prepare", "hvp_prepared")
PASS_THROUGH = ("value_grad_batch", "value_grad_inputs", "n_samples", "lane", "lane_exact",
                "lane_params", "lane_rows", "value_grad_lanes")

_MODULES: dict = {}


def oracle_module(landscape):
    """The oracle of ``landscape`` (memoised per process, compiled code cached on disk)."""
    try:
        return _MODULES[landscape.kernels]
    except KeyError:
        module = _MODULES[landscape.kernels] = _build(landscape)
        return module


def _build(landscape):
    kind = landscape.kernels[0]
    if kind == "sympy":
        _, expr, coords, psyms = landscape.kernels
        key = f"sympy|{sp.srepr(expr)}|{coords}|{psyms}"
        kernels = codegen.generated("sym", key, lambda: _sympy_source(expr, coords, psyms))
    elif kind == "module":
        kernels = codegen.import_path(landscape.kernels[1], landscape.source or None)
        path = inspect.getsourcefile(kernels)
        key = f"module|{kernels.__name__}|{path}|{codegen.file_hash(path)}"
    else:
        raise ValueError(f"unknown kernel kind {kind!r}")
    return _instance(kernels, key)


def _instance(kernels, key):
    """The oracle template bound to ``kernels``, with what they lack derived."""
    have = {n for n in KERNEL_NAMES if hasattr(kernels, n)}
    if {"hvp_prepare", "hvp_prepared"} - have:
        have -= {"hvp_prepare", "hvp_prepared"}
    if "value_grad" not in have:
        raise TestbedError(f"kernel module {kernels.__name__} ({kernels.__file__}) must "
                           f"define a Numba function value_grad(x, p, g) -> f")
    bindings = {n: getattr(kernels, n) for n in (*have, *PASS_THROUGH) if hasattr(kernels, n)}
    for n in getattr(kernels, "CALLED", ()):
        if n not in bindings:
            raise TestbedError(f"kernel module {kernels.__name__} lists {n!r} in CALLED "
                               f"but defines no such kernel")
        bindings[n] = calls.by_symbol(bindings[n])
    derived, chosen = [], {}
    if "value" not in have:
        chosen["value"] = "derived_value"
    if "hvp" not in have:
        if "hessian" in have:
            chosen["hvp"] = "derived_hvp_from_hessian"
            derived.append("hvp (exact, from the Hessian)")
        else:
            chosen["hvp"] = "derived_hvp_difference"
            derived.append(f"hvp (central difference of the gradient, rel. error "
                           f"~{template.FD_HVP_REL_ERROR:g})")
    if "hessian" not in have:
        chosen["hessian"] = "derived_hessian"
        derived.append("hessian (columns of hvp, symmetrised)")
    if "hvp_prepare" not in have:
        chosen.update(hvp_prepare="derived_hvp_prepare", hvp_prepared="derived_hvp_prepared")
    key += "|" + ",".join(f"{k}={v}" for k, v in sorted(chosen.items()))
    module = codegen.instantiate(template, key, bindings)
    for name, impl in chosen.items():
        setattr(module, name, getattr(module, impl))
    module.DERIVED = tuple(derived)
    module.KERNELS = kernels
    return module


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
    out = ["import math", "import numpy as np", "from testbed._engine.jit import njit", ""]
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
    # the lanes backend's steps (templates/lanes.py): x = B[:, r], the parameters as a
    # tuple q; lane: B[:, r] <- (x - e g) - (f - f) (NaN from a non-finite f on, see
    # there); lane_exact: B[:, r] <- x - e g, the generic runner's step
    for name, z in (("lane", " - (_f - _f)"), ("lane_exact", "")):
        out += ["@njit(inline='always')", f"def {name}(R, r, q, e):"]
        out += [f"    {c} = R[{i}][r]" for i, c in enumerate(coords)]
        out += [f"    {s} = q[{i}]" for i, s in enumerate(psyms)]
        out += _body([expr, *grad], ["_f"] + [f"_g{i}" for i in range(d)])
        out += [f"    R[{i}][r] = ({c} - e * _g{i}){z}" for i, c in enumerate(coords)]
        out += ["    return _f", ""]
    # value_grad across lanes (templates/noisy_lanes.py): column r of B is a point; its
    # f and g from the same expressions as value_grad, the loop over r innermost
    out += ["@njit", "def value_grad_lanes(B, p, G, F):"]
    out += [f"    {s} = p[{i}]" for i, s in enumerate(psyms)]
    out += ["    for r in range(B.shape[1]):"]
    out += [f"        {c} = B[{i}, r]" for i, c in enumerate(coords)]
    out += ["    " + line for line in _body([expr, *grad], ["F[r]"] + [f"G[{i}, r]"
                                                              for i in range(d)])]
    out.append("")
    out += ["@njit(inline='always')", "def lane_rows(B):",
            "    return (" + "".join(f"B[{i}], " for i in range(d)) + ")", ""]
    items = "".join(f"p[{i}], " for i in range(len(psyms)))
    out += ["@njit(inline='always')", "def lane_params(p):", f"    return ({items})", ""]
    return "\n".join(out) + "\n"
