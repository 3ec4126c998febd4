"""Classic 2-D test functions of optimisation, with every critical point declared.

- rosenbrock: f = (a - x)^2 + b (y - x^2)^2 (Rosenbrock 1960, "An automatic method
  for finding the greatest or least value of a function", Comput. J. 3:175-184).
  A curved narrow valley; the only critical point is the minimum (a, a^2), f = 0.
- himmelblau: f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2 (Himmelblau 1972, Applied
  Nonlinear Programming, McGraw-Hill). 4 minima (f = 0), 4 saddles, 1 maximum.
- six_hump_camel: f = (4 - 2.1 x^2 + x^4/3) x^2 + x y + (4 y^2 - 4) y^2 (Dixon &
  Szego 1978, Towards Global Optimisation 2, North-Holland). 15 critical points, all
  in [-3, 3] x [-2, 2]: 6 minima (global f = -1.0316 at +-(0.0898, -0.7127)),
  7 saddles (one at the origin), 2 maxima; symmetric under (x, y) -> (-x, -y).

How the coordinates were computed (once, offline): eliminate y from grad f = 0 by the
resultant in y (exact rational coefficients); its real roots in x (sympy.real_roots;
degree 9 for Himmelblau, 15 for the camel, all roots real and each giving exactly
one point) were polished together with y by mpmath Newton at 50 digits, classified by
the Hessian and rounded to float64. Since the resultant's roots are all accounted
for, these are all the critical points in the whole plane.
"""
import sympy as sp

from testbed import CriticalPoint, Param, symbolic

x, y = sp.symbols("x y", real=True)
a, b = sp.symbols("a b", real=True)


def _rosenbrock_points(d, a, b):
    return [CriticalPoint((a, a * a), 0.0, 0)]


ROSENBROCK = symbolic(
    "rosenbrock", (a - x) ** 2 + b * (y - x**2) ** 2, (x, y),
    params={a: Param(1.0, -1.7, 1.7, "minimum at (a, a^2); |a| <= 1.7 keeps it in the domain"),
            b: Param(100.0, 0.0, exclusive_low=True, doc="valley steepness (b > 0)")},
    critical_points=_rosenbrock_points,
    domain=((-2.0, -1.0), (2.0, 3.0)),
    tags=("classic", "valley", "ill-conditioned"),
    paper="Rosenbrock 1960, Comput. J. 3:175",
    description="(a - x)^2 + b (y - x^2)^2: a curved, narrow valley to the minimum (a, a^2)",
)

# (x, y, energy, index) from the resultant computation above
_HIMMELBLAU = [
    (3.0, 2.0, 0.0, 0),
    (3.5844283403304917, -1.8481265269644036, 0.0, 0),
    (-2.805118086952745, 3.131312518250573, 0.0, 0),
    (-3.779310253377747, -3.2831859912861696, 0.0, 0),
    (3.385154183607021, 0.07385187983774928, 13.31192627040559, 1),
    (0.08667750455539636, 2.884254701174776, 67.71915008752615, 1),
    (-3.0730257507643897, -0.08135304428796751, 104.0151629175581, 1),
    (-0.12796134673068008, -1.9537149802445763, 178.33723920192747, 1),
    (-0.2708445906673476, -0.9230385564799815, 181.6165215225827, 2),
]

HIMMELBLAU = symbolic(
    "himmelblau", (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2, (x, y),
    critical_points=[CriticalPoint((px, py), e, i) for px, py, e, i in _HIMMELBLAU],
    domain=((-5.0, -5.0), (5.0, 5.0)),
    tags=("classic", "multimodal"),
    paper="Himmelblau 1972, Applied Nonlinear Programming",
    description="(x^2 + y - 11)^2 + (x + y^2 - 7)^2: 4 equal minima, 4 saddles, 1 maximum",
)

# one of each symmetric pair (x, y) / (-x, -y), from the resultant computation above
_CAMEL = [
    (0.08984201310031806, -0.7126564030207396, -1.0316284534898774, 0),
    (1.703606714969981, -0.7960835686726251, -0.21546382438371764, 0),
    (1.1092053368047865, -0.7682680925095399, 0.5437186009781851, 1),
    (1.6071047529201972, 0.5686514548841314, 2.1042503103112584, 0),
    (1.6380679841897785, 0.22867406904439408, 2.2293571975307147, 1),
    (1.2960702671671092, 0.6050843880386585, 2.22947081802986, 1),
    (1.2302298765166526, 0.16233458445899496, 2.496295351023577, 2),
]

SIX_HUMP_CAMEL = symbolic(
    "six_hump_camel",
    (4 - sp.Rational(21, 10) * x**2 + x**4 / 3) * x**2 + x * y + (4 * y**2 - 4) * y**2,
    (x, y),
    critical_points=[CriticalPoint((0.0, 0.0), 0.0, 1)]
    + [CriticalPoint((s * px, s * py), e, i) for px, py, e, i in _CAMEL for s in (1.0, -1.0)],
    domain=((-3.0, -2.0), (3.0, 2.0)),
    tags=("classic", "multimodal"),
    paper="Dixon & Szego 1978, Towards Global Optimisation 2",
    description="six-hump camel: 6 minima (global -1.0316), 7 saddles, 2 maxima",
)
