"""Landscapes from SymPy expressions.

``symbolic(name, expr, coords, params)`` checks the expression once (every free symbol
declared, every function printable as Numba-compatible Python) and returns a
:class:`~testbed.objective.landscape.Landscape` whose value, gradient, Hessian and
Hessian-vector product are all exact: SymPy differentiates, common subexpressions are
eliminated, and the code is written into a real module in ``$TESTBED_CACHE/kernels``
so that Numba's disk cache works across processes.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..errors import TestbedError
from .landscape import Landscape, Param


class _Printer(PythonCodePrinter):
    """Python printer for Numba: ``math.*`` calls, small integer powers unrolled (so
    loops over replicas vectorise), unsupported functions refused."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "strict": True})

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.as_base_exp()
        if exp.is_Integer and 2 <= int(exp) <= 4:
            b = self.parenthesize(base, 100)
            return "(" + "*".join([b] * int(exp)) + ")"
        if exp.is_Integer and -4 <= int(exp) <= -1:
            b = self.parenthesize(base, 100)
            return "(1.0/(" + "*".join([b] * -int(exp)) + "))"
        return super()._print_Pow(expr, rational=rational)


def printer() -> _Printer:
    """The SymPy printer that writes the generated kernels (Numba-compatible Python)."""
    return _Printer()


def symbolic(name: str, expr, coords, params: dict | None = None, **kw) -> Landscape:
    r"""A landscape from a SymPy expression, with exact derivatives.

    Parameters
    ----------
    name : str
        The catalogue name.
    expr : sympy expression
        :math:`f` in the coordinates and the parameters (elementary functions only).
    coords : sequence of sympy symbols
        The coordinates :math:`x_1, \dots, x_d`, in order.
    params : dict, optional
        SymPy symbol (or its name) -> :class:`Param` (default and domain).
    **kw
        critical_points, domain, tags, paper, description (see :class:`Landscape`).

    Returns
    -------
    Landscape
        Its value, gradient, Hessian and Hessian-vector product are generated from
        ``expr`` (common subexpressions eliminated) into one cached module.

    Raises
    ------
    TestbedError
        For a free symbol that is neither a coordinate nor a parameter, an undefined
        function, or a function whose derivatives cannot be compiled.
    """
    expr = sp.sympify(expr)
    coords = tuple(coords)
    params = dict(params or {})
    psyms = tuple(sp.Symbol(k) if isinstance(k, str) else k for k in params)
    declared = set(coords) | set(psyms)
    free = expr.free_symbols - declared
    if free:
        raise TestbedError(
            f"landscape {name!r}: symbol(s) {sorted(map(str, free))} appear in the "
            f"expression but are neither coordinates nor declared parameters; add them "
            f"to params={{...}} with a Param(default, low, high)")
    undefined = [str(f.func) for f in expr.atoms(sp.Function)
                 if isinstance(f, sp.core.function.AppliedUndef)]
    if undefined:
        raise TestbedError(f"landscape {name!r}: undefined function(s) {undefined} in the "
                           f"expression; write them out in elementary functions")
    try:   # the derivatives must print too (Abs'' is a DiracDelta, gamma' a polygamma)
        for d1 in (sp.diff(expr, c) for c in coords):
            printer().doprint(d1)
            for c in coords:
                printer().doprint(sp.diff(d1, c))
    except Exception as exc:  # sympy's PrintMethodNotImplementedError and friends
        raise TestbedError(
            f"landscape {name!r}: the expression uses a function Numba kernels cannot "
            f"be generated for, in it or its first two derivatives "
            f"({exc.args[0].splitlines()[0]}); use smooth elementary functions "
            f"(polynomials, exp, log, trig, hyperbolic, sqrt)") from None
    for k, v in params.items():
        if not isinstance(v, Param):
            raise TestbedError(f"landscape {name!r}: parameter {str(k)!r} must be declared as "
                               f"Param(default, low, high), got {v!r}")
    return Landscape(name, kernels=("sympy", expr, coords, psyms), dim=len(coords),
                     params={str(s): v for s, v in zip(psyms, params.values())}, **kw)
