"""Zhu, Wang, Wang, Zhou & Ge (2023), "Understanding Edge-of-Stability Training
Dynamics with a Minimalist Example": f(x, y) = (x^2 y^2 - 1)^2 / 4.

Its minima are the hyperbola x y = +-1, a valley of flat directions along which the
sharpness (the top Hessian eigenvalue, 2 (x^2 + y^2) on the valley) varies, so GD
with step eta can only settle where 2 (x^2 + y^2) < 2 / eta. Every point of the axes
{x y = 0} is a critical point (f = 1/4): a degenerate line of local maxima along
the normal direction with one zero eigenvalue, except the origin where the Hessian
vanishes.
"""
import sympy as sp

from testbed import CriticalPoint, symbolic

x, y = sp.symbols("x y", real=True)

EOS_MINIMALIST = symbolic(
    "eos_minimalist", (x**2 * y**2 - 1) ** 2 / 4, (x, y),
    critical_points=[
        CriticalPoint((0.0, 0.0), 0.25, 0, degenerate=True),
        CriticalPoint((1.0, 0.0), 0.25, 1, degenerate=True),
        CriticalPoint((0.0, 2.0), 0.25, 1, degenerate=True),
        CriticalPoint((1.0, 1.0), 0.0, 0, degenerate=True),
        CriticalPoint((2.0, -0.5), 0.0, 0, degenerate=True),
    ],
    domain=((-3.0, -3.0), (3.0, 3.0)),
    tags=("edge-of-stability", "valley", "degenerate", "critical-manifold"),
    paper="Zhu et al. 2023, arXiv:2210.03294",
    description="(x^2 y^2 - 1)^2 / 4: sharpness along the valley xy = 1 is 2(x^2 + y^2)",
)
