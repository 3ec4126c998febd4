"""Per-replica random streams for Numba kernels.

Every stream is a pure function of ``(seed, replica)``: replica ``r`` of a run
with seed ``s`` draws the same numbers whatever the number of replicas and
whatever the thread that runs it, so ensembles on any number of threads are
reproducible.  Nothing here depends on a thread id or on global state.

* Generator: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom
  number generators", 2018/2021).  State ``s`` is four uint64 words; the output
  is ``rotl(s1 * 5, 7) * 9`` followed by the linear update
  ``t = s1 << 17; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
  s3 = rotl(s3, 45)``.  Period 2^256 - 1.
* Seeding: splitmix64 (Steele, Lea & Flood 2014), whose finaliser
  ``mix(z) = z'' ^ (z'' >> 31)`` with ``z' = (z ^ z >> 30) * 0xBF58476D1CE4E5B9``,
  ``z'' = (z' ^ z' >> 27) * 0x94D049BB133111EB`` is a bijection of uint64.
  ``key = mix(mix(seed + g) ^ replica)`` (``g = 0x9E3779B97F4A7C15``) and the
  state is the splitmix64 sequence ``mix(key + k g)``, k = 1..4.  For a fixed
  seed distinct replicas give distinct keys; neighbouring seeds or replicas give
  unrelated states; the state is never all zero (``mix`` is a bijection with
  ``mix(0) = 0`` and the four inputs differ, so at most one word is zero).
* ``uniform``: the top 53 bits times 2^-53, in [0, 1).
* ``normal``: the ziggurat method (Marsaglia & Tsang, J. Stat. Softw. 5(8),
  2000) with 256 layers of equal area ``v`` under ``f(x) = exp(-x^2/2)``,
  ``x_1 = r = 3.6541528853610088``; with Doornik's (2005) remedy the layer index
  (low 8 bits) and the signed abscissa (top 53 bits) come from disjoint bits of
  one 64-bit draw.  The wedges are resolved by rejection against ``f`` and the
  tail ``|x| > r`` by Marsaglia's (1964) exact method, so the output is exactly
  N(0, 1) up to floating-point rounding (abscissae on a 2^-52 grid per layer).
* ``uniform_ball``: ``radius * U^(1/d) * g / |g|`` with ``g ~ N(0, I_d)``,
  uniform in the d-ball (the radius has law ``P(|u| <= s radius) = s^d``).
"""
import math

import numpy as np

from . import calls
from .jit import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U5, _U7, _U9 = np.uint64(5), np.uint64(7), np.uint64(9)
_U11, _U17, _U27 = np.uint64(11), np.uint64(17), np.uint64(27)
_U30, _U31, _U45 = np.uint64(30), np.uint64(31), np.uint64(45)
_U64 = np.uint64(64)
_U1, _U56 = np.uint64(1), np.uint64(56)
_BYTE_INDEX = np.uint64(0x0001020304050607)   # 2^(8k) times this has k in its top byte
_LOW8 = np.uint64(0xFF)
_TWO_M53 = 2.0 ** -53


# --- ziggurat tables (computed once, NumPy/stdlib only) ----------------------
def _ziggurat_tables(n=256, r=3.6541528853610088):
    """Right edges x[0..n] of n equal-area layers under exp(-x^2/2).

    Layer 0 is the base box [0, r] x [0, f(r)] plus the tail; its "width"
    x[0] = v / f(r) makes its area v.  Layer i >= 1 is the box
    [0, x[i]] x [f(x[i]), f(x[i+1])] of area v, and x[n] = 0.
    """
    f = lambda t: math.exp(-0.5 * t * t)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2.0))
    x = np.zeros(n + 1)
    x[0], x[1] = v / f(r), r
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(v / x[i] + f(x[i])))
    x[n] = 0.0
    scale = 2.0 ** 52                      # |j| < 2^52 for the signed abscissa
    k = np.floor(x[1:] / x[:-1] * scale).astype(np.int64)   # fast-path bound
    w = x[:-1] / scale                     # abscissa = j * w[i]
    fx = np.exp(-0.5 * x * x)              # f at the layer edges
    return k, w, fx, r


_ZK, _ZW, _ZF, _ZR = _ziggurat_tables()


# --- generator ---------------------------------------------------------------
# The hot draws are inlined at Numba-IR level (inline="always"): as ordinary calls
# each one pays a refcount incref/decref on ``state``, which halves throughput.
@njit
def _mix64(z):
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


@njit
def _rotl(x, k):
    return (x << k) | (x >> (_U64 - k))


@njit
def seed_state(seed, replica, state):
    """Fill ``state`` (uint64[4]) for stream (seed, replica) of xoshiro256**."""
    key = _mix64(_mix64(np.uint64(seed) + _GAMMA) ^ np.uint64(replica))
    acc = np.uint64(0)
    for k in range(4):
        key += _GAMMA
        state[k] = _mix64(key)
        acc |= state[k]
    if acc == np.uint64(0):   # unreachable (see module docstring); a guard
        state[0] = _GAMMA


@njit(inline="always")
def _xoshiro(s0, s1, s2, s3):
    """One xoshiro256** step on the state words: (output, new s0, s1, s2, s3)."""
    result = _rotl(s1 * _U5, _U7) * _U9
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    return result, s0, s1, s2, _rotl(s3, _U45)


@njit(inline="always")
def next_u64(state):
    """Next xoshiro256** output; ``state`` is updated in place."""
    result, state[0], state[1], state[2], state[3] = _xoshiro(state[0], state[1], state[2],
                                                              state[3])
    return result


@njit(inline="always")
def uniform(state):
    """Uniform float64 in [0, 1) with 53 random bits."""
    return np.float64(next_u64(state) >> _U11) * _TWO_M53


@njit(inline="always")
def _normal_slow(state, u):
    """Ziggurat from a draw ``u`` that missed the fast path: tail, wedge, retry. Written
    as a loop with one draw site, each pass taking the next draw for its phase
    (compiled, each site inlines the generator: four sites compiled 0.2 s slower)."""
    phase = 0         # 0 test u, 1 and 2 the tail's two uniforms, 3 the wedge, 4 retry
    i, j, z, a = 0, np.int64(0), 0.0, 0.0
    while True:
        if phase == 0:
            i = np.intp(u & _LOW8)
            j = np.int64(u) >> 11
            z = j * _ZW[i]
            if abs(j) < _ZK[i]:       # box (only on a retry)
                return z
            phase = 1 if i == 0 else 3
        v = next_u64(state)
        x = np.float64(v >> _U11) * _TWO_M53          # uniform(state) of this draw
        if phase == 1:    # Marsaglia (1964): exact sample from the tail |x| > r
            a = -math.log1p(-x) / _ZR
            phase = 2
        elif phase == 2:
            b = -math.log1p(-x)
            if b + b > a * a:
                return -(_ZR + a) if j < 0 else _ZR + a
            phase = 1
        elif phase == 3:  # wedge of layer i: uniform height in [f(x_i), f(x_i+1)]
            if _ZF[i] + x * (_ZF[i + 1] - _ZF[i]) < math.exp(-0.5 * z * z):
                return z
            phase = 4
        else:
            u = v
            phase = 0


@njit(inline="always")
def normal(state):
    """Standard normal variate (256-layer ziggurat)."""
    u = next_u64(state)
    i = np.intp(u & _LOW8)
    j = np.int64(u) >> 11              # signed, |j| <= 2^52, bits disjoint from i
    if abs(j) < _ZK[i]:
        return j * _ZW[i]              # inside the box: the fast path
    return _normal_slow(state, u)


@njit
def _normal_rows(S, Z, u, miss, words, state):
    """``Z[i, r]`` = lane r's next :func:`normal`, rows in order, for every lane r of
    ``S`` at once, bit for bit.

    ``S`` (uint64, (4, m)) holds lane r's xoshiro256** state in column r and is
    updated in place: lane r draws the same numbers in the same order as
    :func:`normal` on its own stream (row 0 first); only the loop order differs. For
    each row, the draw and the ziggurat's fast path run in one loop across lanes
    without branches (which LLVM vectorises: shifts, rotations, two table gathers),
    and the lanes that missed the fast path (1.5% of draws) finish in lane order
    through :func:`_normal_slow` on a copy of their state. Scratch: ``u`` (uint64,
    m), ``miss`` (uint8, m rounded up to a multiple of 8, zero past m), ``words``
    (``miss.view(np.uint64)``, made by the caller; the view compiled in here took
    0.1 s) and ``state`` (uint64, 4). The missed lanes are found a word at a time from
    its lowest set bit, without a branch per lane (10% more normals per second than
    testing the word's eight bytes in turn).
    """
    m = Z.shape[1]
    s0, s1, s2, s3 = S[0], S[1], S[2], S[3]
    for row in range(Z.shape[0]):
        z = Z[row]
        for r in range(m):
            v, s0[r], s1[r], s2[r], s3[r] = _xoshiro(s0[r], s1[r], s2[r], s3[r])
            i = np.intp(v & _LOW8)
            j = np.int64(v) >> 11
            z[r] = j * _ZW[i]
            u[r] = v
            miss[r] = abs(j) >= _ZK[i]
        for w in range(words.shape[0]):
            x = words[w]               # byte k is miss[8w + k] (little-endian), 0 or 1
            while x != 0:
                b = x & (~x + _U1)     # the lowest set bit, 2^(8k): the next lane missed
                r = 8 * w + np.intp((b * _BYTE_INDEX) >> _U56)   # top byte of the product: k
                x ^= b
                for k in range(4):
                    state[k] = S[k, r]
                z[r] = _normal_slow(state, u[r])
                for k in range(4):
                    S[k, r] = state[k]


# compiled once for all callers and called through its symbol (testbed._engine.calls):
# inlined into noisy GD's lanes, it was compiled again into every landscape's instance
normal_rows = calls.by_symbol(_normal_rows)


@njit
def fill_normal(state, out):
    """Fill the float64 array ``out`` with standard normals."""
    for n in range(out.size):
        out[n] = normal(state)


@njit
def uniform_ball(state, out, radius):
    """Fill ``out`` with a point uniform in the ball of ``radius`` in R^len(out)."""
    d = out.size
    if d == 0:
        return
    nrm2 = 0.0
    while nrm2 == 0.0:
        for n in range(d):
            g = normal(state)
            out[n] = g
            nrm2 += g * g
    scale = radius * uniform(state) ** (1.0 / d) / math.sqrt(nrm2)
    for n in range(d):
        out[n] *= scale
