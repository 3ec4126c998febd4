"""What the SAM-family rules share: the Euclidean norm, scaled by the largest entry so
that it neither overflows nor underflows, so the normalised ascent rho g / |g| is
defined for every finite non-zero g (NaN in, NaN out)."""
import math

from .._engine.jit import njit


@njit
def norm2(v):
    """|v|_2 = m sqrt(sum (v_i / m)^2), m = max |v_i|."""
    m = 0.0
    for i in range(v.shape[0]):
        a = abs(v[i])
        if not a <= m:          # also catches NaN
            if a != a:
                return a
            m = a
    if m == 0.0 or math.isinf(m):
        return m
    s = 0.0
    for i in range(v.shape[0]):
        q = v[i] / m
        s += q * q
    return m * math.sqrt(s)
