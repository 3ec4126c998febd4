r"""Numba kernels of a small neural network as a landscape over its flat parameter
vector x, with the data set packed into the landscape's parameter vector p.

The kernel contract of :class:`testbed.Landscape` holds: ``value_grad(x, p, g) -> f``,
``hvp(x, p, v, out)`` with ``hvp_prepare`` / ``hvp_prepared`` (the Hessian is derived
from them by the oracle), and, since the loss is a finite sum
:math:`f = \frac{1}{n} \sum_j f_j` over samples, ``value_grad_batch(x, p, idx, g) ->
f_B`` (the mean over the samples ``idx``) and ``n_samples(p)``; for adversarial
training and attacks, ``value_grad_inputs(x, p, Xb, Yb, g, gx) -> f_B`` on a batch of
inputs of the caller's (its gradient with respect to the inputs into gx, by the same
backward pass carried through the first block). One kernel module
serves every architecture (the architecture is read from p), so all networks share
one compiled oracle and one compiled runner per update rule.

Packed p (float64; integers stored exactly): a header of ``HEADER`` fields::

    p[0] MAGIC, p[1] n (samples), p[2] input width, p[3] output width k,
    p[4] loss code, p[5] number of blocks, p[6] d (parameter count),
    p[7] offset of X, p[8] offset of Y, p[9] largest width,

then ``BLOCK`` fields per block (kind, width in, width out, activation code, has-bias,
offset of its parameters in x), then X (n, input width) and Y (n, k), row-major
(written by :func:`testbed.nets.layout.pack`).

Blocks act on the batch :math:`H` (m, width), one sample per row:

- DENSE: :math:`H \leftarrow \text{act}(H W^T + b)`, :math:`W` (out, in) row-major
  in x, then :math:`b` (out);
- RESIDUAL: :math:`H \leftarrow H + \text{act}(H W^T + b)` (in = out), same parameter
  layout;
- NORM: :math:`H \leftarrow (H - \text{mean}) / \sqrt{\text{var} + \text{EPS}}` per
  sample (LayerNorm, biased variance, EPS = 1e-5 as in PyTorch); NORM_AFFINE then
  multiplies by :math:`\gamma` and adds :math:`\beta` (:math:`\gamma` then
  :math:`\beta` in x).

Losses on the output :math:`F` (m, k) with targets :math:`Y`:

- MSE (Cohen et al. 2021's 'mse'):
  :math:`\frac{1}{2m} \sum_j \lVert F_j - Y_j \rVert^2`;
- MSE_ENTRIES: :math:`\frac{1}{2 m k} \sum_{j,o} (F_{jo} - Y_{jo})^2` (half the mean
  over all entries);
- CE: softmax cross-entropy
  :math:`\frac{1}{m} \sum_j (s_j \operatorname{logsumexp}(F_j) - Y_j \cdot F_j)`,
  :math:`s_j = \sum_o Y_{jo}` (= 1 for one-hot or probability targets).

Derivatives are exact. The gradient is reverse mode (backpropagation). The
Hessian-vector product is Pearlmutter's (1994) R-operator, forward-over-reverse: one
forward pass carries the tangents :math:`Z' = R\{Z\}`, :math:`H' = R\{H\}` of every
layer along :math:`v`, and one reverse pass carries the adjoints
:math:`D = \partial L / \partial H` and their tangents :math:`R\{D\}`; then
:math:`Hv = R\{\nabla f\}`. It costs about two gradients and has the rounding error
of one. The oracle assembles the Hessian from d such products (columns, sharing one
forward and plain backward pass) and symmetrises it: for small networks.
``hvp_prepare`` / ``hvp_prepared`` split off the primal forward pass and the plain
backward pass (the adjoints D, which do not depend on v), for many products at one
point (Lanczos): on B4's network 20 products cost 35% less than 20 calls of ``hvp``.

Matrix products call BLAS dgemm directly (``gemm``, through the same entry point
NumPy-style ``np.dot`` uses inside Numba, with transposes and accumulation as
flags, so no temporaries); activations run in plain loops (tanh through a
branch-free exp, so that they vectorise).
"""
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.linalg import ensure_blas

from testbed._engine import calls
from testbed.kernel import njit

ensure_blas()

# called by symbol from the kernels that use them (testbed._engine.calls): linked,
# each would be compiled again inside every runner, sharpness and curve kernel
CALLED = ("value", "value_grad", "value_grad_batch", "value_grad_inputs", "hvp",
          "hvp_prepare", "hvp_prepared")
MAGIC = 7131.0
HEADER = 10
BLOCK = 6
EPS = 1e-5

# block kinds
DENSE, RESIDUAL, NORM, NORM_AFFINE = 0, 1, 2, 3
# activation codes
IDENTITY, TANH, RELU, SOFTPLUS, ELU, GELU, SIGMOID = 0, 1, 2, 3, 4, 5, 6
# loss codes
MSE, MSE_ENTRIES, CE = 0, 1, 2

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT2PI = 0.3989422804014327


# --------------------------------------------------------------------------------------
# BLAS
# --------------------------------------------------------------------------------------
@intrinsic
def gemm(typingctx, ta, tb, M, N, K, alpha, A, ao, B, bo, beta, C, co):
    """C[co:co + M N] = alpha op(A) op(B) + beta C for row-major matrices stored in the
    flat float64 arrays A, B, C from offsets ao, bo, co: op(A) is M x K (A stored
    K x M when ``ta``), op(B) is K x N (B stored N x K when ``tb``), C is M x N.

    Emits one call of Numba's ``numba_xxgemm`` (the dgemm of SciPy's BLAS that
    ``np.dot`` uses in compiled code) on the column-major view C^T = op(B)^T op(A)^T.
    One small call per product keeps the compiled code, and its compile time, small."""
    sig = types.int32(ta, tb, M, N, K, alpha, A, ao, B, bo, beta, C, co)

    def codegen(context, builder, signature, args):
        tys = signature.args
        intp = context.get_value_type(types.intp)
        char = ir.IntType(8)
        voidp = char.as_pointer()

        def ival(i):
            return context.cast(builder, args[i], tys[i], types.intp)

        def slot(i):
            value = context.cast(builder, args[i], tys[i], types.float64)
            return builder.bitcast(cgutils.alloca_once_value(builder, value), voidp)

        def ptr(i):
            data = context.make_array(tys[i])(context, builder, args[i]).data
            return builder.bitcast(builder.gep(data, [ival(i + 1)]), voidp)

        m, n, k = ival(2), ival(3), ival(4)
        t_a = context.cast(builder, args[0], tys[0], types.boolean)
        t_b = context.cast(builder, args[1], tys[1], types.boolean)
        yes, no = ir.Constant(char, ord("t")), ir.Constant(char, ord("n"))
        fnty = ir.FunctionType(ir.IntType(32), [char, char, char, intp, intp, intp, voidp,
                                                voidp, intp, voidp, intp, voidp, voidp, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        return builder.call(fn, [ir.Constant(char, ord("d")),
                                 builder.select(t_b, yes, no), builder.select(t_a, yes, no),
                                 n, m, k, slot(5),
                                 ptr(8), builder.select(t_b, k, n),
                                 ptr(6), builder.select(t_a, m, k),
                                 slot(10), ptr(11), n])
    return sig, codegen


# --------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------
@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma: one instruction where the CPU has FMA)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        f = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(f, [context.cast(builder, v, t, types.float64)
                                for v, t in zip(args, signature.args)])
    return sig, codegen


@intrinsic
def _pow2(typingctx, k):
    """2.0 ** k, exactly, for an integer-valued float k in [-1022, 1023] (the bits
    (k + 1023) << 52 read as a double)."""
    sig = types.float64(types.float64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        e = builder.add(builder.fptosi(args[0], i64), ir.Constant(i64, 1023))
        return builder.bitcast(builder.shl(e, ir.Constant(i64, 52)), ir.DoubleType())
    return sig, codegen


@njit(inline="always")
def _exp_neg(y):
    """exp(y) for y in [-40, 0] without a library call, so that loops over it
    vectorise: y = k ln2 + r (Cody-Waite, |r| <= ln2 / 2), exp(r) by its degree-13
    Taylor polynomial (truncation < 5e-18 relative; Horner with fused multiply-adds),
    times 2^k exactly. About one unit in the last place (tests/test_nets.py)."""
    k = math.floor(y * _INV_LN2 + 0.5)
    r = _fma(-k, _LN2_LO, _fma(-k, _LN2_HI, y))
    q = 1.0 / 6227020800.0
    q = _fma(q, r, 1.0 / 479001600.0)
    q = _fma(q, r, 1.0 / 39916800.0)
    q = _fma(q, r, 1.0 / 3628800.0)
    q = _fma(q, r, 1.0 / 362880.0)
    q = _fma(q, r, 1.0 / 40320.0)
    q = _fma(q, r, 1.0 / 5040.0)
    q = _fma(q, r, 1.0 / 720.0)
    q = _fma(q, r, 1.0 / 120.0)
    q = _fma(q, r, 1.0 / 24.0)
    q = _fma(q, r, 1.0 / 6.0)
    q = _fma(q, r, 0.5)
    q = _fma(q, r, 1.0)
    q = _fma(q, r, 1.0)
    return q * _pow2(k)


@njit(inline="always")
def _tanh(z):
    """tanh z = sign(z) (1 - e) / (1 + e), e = exp(-2|z|), for |z| >= 1/4 (where
    1 - e >= 0.39 loses at most 1.4 bits; |z| is capped at 20, beyond which the
    result is +-1 to double precision); below 1/4 the Taylor series
    z (1 + c3 z^2 + ... + c23 z^22) (next term < 6e-20 relative). Both branches are
    computed and one is selected, so that loops over it vectorise; NaN stays NaN.
    Agrees with libm's tanh to about 2 units in the last place (tests/test_nets.py)
    and is several times faster."""
    a = abs(z)
    u = z * z
    q = -3.927832388331683e-05
    q = _fma(q, u, 9.691537956929451e-05)
    q = _fma(q, u, -0.00023912911424355248)
    q = _fma(q, u, 0.000590027440945586)
    q = _fma(q, u, -0.0014558343870513183)
    q = _fma(q, u, 0.003592128036572481)
    q = _fma(q, u, -0.008863235529902197)
    q = _fma(q, u, 0.021869488536155203)
    q = _fma(q, u, -0.05396825396825397)
    q = _fma(q, u, 0.13333333333333333)
    q = _fma(q, u, -0.3333333333333333)
    small = _fma(z, u * q, z)
    e = _exp_neg(-2.0 * min(a, 20.0))
    t = (1.0 - e) / (1.0 + e)
    big = t if z >= 0.0 else -t
    return big if a >= 0.25 else small      # NaN -> small = NaN


@njit
def act_forward(code, Z, S):
    """S = act(Z), elementwise over the flat arrays Z and S."""
    n = Z.shape[0]
    if code == IDENTITY:
        for i in range(n):
            S[i] = Z[i]
    elif code == TANH:
        for i in range(n):
            S[i] = _tanh(Z[i])
    elif code == RELU:
        for i in range(n):
            S[i] = Z[i] if not Z[i] <= 0.0 else 0.0       # NaN passes through
    elif code == SOFTPLUS:
        for i in range(n):
            z = Z[i]
            S[i] = max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    elif code == ELU:
        for i in range(n):
            z = Z[i]
            S[i] = z if z > 0.0 else math.expm1(z)
    elif code == GELU:
        for i in range(n):
            z = Z[i]
            S[i] = z * 0.5 * math.erfc(-z * _INV_SQRT2)
    else:                                   # SIGMOID
        for i in range(n):
            z = Z[i]
            e = math.exp(-abs(z))
            S[i] = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


@njit
def _sigmoid(z):
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


@njit
def _d1(code, z, s):
    """act'(z), given s = act(z)."""
    if code == IDENTITY:
        return 1.0
    if code == TANH:
        return 1.0 - s * s
    if code == RELU:
        return 1.0 if not z <= 0.0 else 0.0         # NaN passes through
    if code == SOFTPLUS:
        return _sigmoid(z)
    if code == ELU:
        return 1.0 if z > 0.0 else s + 1.0
    if code == GELU:
        return 0.5 * math.erfc(-z * _INV_SQRT2) + z * _INV_SQRT2PI * math.exp(-0.5 * z * z)
    return s * (1.0 - s)                    # SIGMOID


@njit
def _d2(code, z, s):
    """act''(z), given s = act(z) (0 for identity; 0 for relu away from its kink)."""
    if code == TANH:
        return -2.0 * s * (1.0 - s * s)
    if code == SOFTPLUS:
        q = _sigmoid(z)
        return q * (1.0 - q)
    if code == ELU:
        return 0.0 if z > 0.0 else s + 1.0
    if code == GELU:
        return _INV_SQRT2PI * math.exp(-0.5 * z * z) * (2.0 - z * z)
    if code == SIGMOID:
        return s * (1.0 - s) * (1.0 - 2.0 * s)
    return 0.0


@njit
def act_mul_d1(code, Z, S, D, out):
    """out = D act'(Z) elementwise (the adjoint, and also the forward tangent, of act)."""
    n = Z.shape[0]
    if code == TANH:
        for i in range(n):
            out[i] = D[i] * (1.0 - S[i] * S[i])
    elif code == RELU:
        for i in range(n):
            out[i] = D[i] if not Z[i] <= 0.0 else 0.0     # NaN passes through
    elif code == IDENTITY:
        for i in range(n):
            out[i] = D[i]
    else:
        for i in range(n):
            out[i] = D[i] * _d1(code, Z[i], S[i])


@njit
def act_r_tangent(code, Z, S, Zd, D, RD, RDZ):
    """RDZ = RD act'(Z) + D act''(Z) Zd: the tangent of the adjoint D act'(Z) (whose
    value the plain backward pass, :func:`act_mul_d1`, gives)."""
    n = Z.shape[0]
    if code == TANH:
        for i in range(n):
            s = S[i]
            a = 1.0 - s * s
            RDZ[i] = a * (RD[i] - 2.0 * s * D[i] * Zd[i])
    elif code == RELU:
        for i in range(n):
            RDZ[i] = RD[i] if not Z[i] <= 0.0 else 0.0     # NaN passes through
    elif code == IDENTITY:
        for i in range(n):
            RDZ[i] = RD[i]
    else:
        for i in range(n):
            RDZ[i] = RD[i] * _d1(code, Z[i], S[i]) + D[i] * _d2(code, Z[i], S[i]) * Zd[i]


# --------------------------------------------------------------------------------------
# small flat-array helpers (row-major m x w blocks)
# --------------------------------------------------------------------------------------
@njit
def _copy(dst, d0, src, s0, n):
    """dst[d0:d0 + n] = src[s0:s0 + n] (explicit loops: Numba's slice assignment and
    array expressions cost seconds of compilation each)."""
    for i in range(n):
        dst[d0 + i] = src[s0 + i]


@njit
def _sum_to(dst, d0, a, a0, b, b0, n):
    """dst[d0:d0 + n] = a[a0:a0 + n] + b[b0:b0 + n]."""
    for i in range(n):
        dst[d0 + i] = a[a0 + i] + b[b0 + i]


@njit
def _fill(dst, d0, n, value):
    for i in range(n):
        dst[d0 + i] = value


@njit
def _add_rows(Z, b, m, w):
    """Z[i, :] += b for every row i."""
    for i in range(m):
        for j in range(w):
            Z[i * w + j] += b[j]


@njit
def _colsum(D, m, w, out, acc):
    """out = (acc ? out : 0) + sum over rows of D."""
    if not acc:
        _fill(out, np.int64(0), w, 0.0)
    for i in range(m):
        for j in range(w):
            out[j] += D[i * w + j]


@njit
def _colsum_prod(A, B, m, w, out, acc):
    """out = (acc ? out : 0) + sum over rows of A * B."""
    if not acc:
        _fill(out, np.int64(0), w, 0.0)
    for i in range(m):
        for j in range(w):
            out[j] += A[i * w + j] * B[i * w + j]


@njit
def _ln_forward(H, m, w, U, r):
    """U = (H - mean) r per row, r = 1 / sqrt(var + EPS) (biased variance)."""
    for i in range(m):
        o = i * w
        mu = 0.0
        for j in range(w):
            mu += H[o + j]
        mu /= w
        var = 0.0
        for j in range(w):
            c = H[o + j] - mu
            U[o + j] = c
            var += c * c
        ri = 1.0 / math.sqrt(var / w + EPS)
        r[i] = ri
        for j in range(w):
            U[o + j] *= ri


@njit
def _ln_tangent(Hd, U, r, m, w, Ud, rd):
    """U' = r (H' - mean(H') - U mean(U H')), r' = -r^2 mean(U H') (mean(U) = 0)."""
    for i in range(m):
        o = i * w
        s1 = 0.0
        s2 = 0.0
        for j in range(w):
            s1 += Hd[o + j]
            s2 += U[o + j] * Hd[o + j]
        s1 /= w
        s2 /= w
        rd[i] = -r[i] * r[i] * s2
        for j in range(w):
            Ud[o + j] = r[i] * (Hd[o + j] - s1 - U[o + j] * s2)


@njit
def _ln_adjoint(D, gam, aff, U, r, m, w, Din):
    """Din = r (Du - mean(Du) - U mean(U Du)) with Du = D gam (or D): the Jacobian of
    the normalisation is r (I - 11^T / w - U U^T / w), symmetric."""
    for i in range(m):
        o = i * w
        s1 = 0.0
        s2 = 0.0
        for j in range(w):
            du = D[o + j] * gam[j] if aff else D[o + j]
            s1 += du
            s2 += du * U[o + j]
        s1 /= w
        s2 /= w
        for j in range(w):
            du = D[o + j] * gam[j] if aff else D[o + j]
            Din[o + j] = r[i] * (du - s1 - U[o + j] * s2)


@njit
def _ln_r_adjoint(D, RD, gam, vg, aff, U, Ud, r, rd, m, w, Din, RDin):
    """Din as in _ln_adjoint and its tangent: with J = r (P - U U^T / w),
    R{Din} = J R{Du} + (r'/r) Din - r (U' mean(U Du) + U mean(U' Du)),
    R{Du} = RD gam + D v_gam."""
    for i in range(m):
        o = i * w
        s1 = 0.0
        s2 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        for j in range(w):
            du = D[o + j] * gam[j] if aff else D[o + j]
            rdu = RD[o + j] * gam[j] + D[o + j] * vg[j] if aff else RD[o + j]
            s1 += du
            s2 += du * U[o + j]
            t1 += rdu
            t2 += rdu * U[o + j]
            t3 += du * Ud[o + j]
        s1 /= w
        s2 /= w
        t1 /= w
        t2 /= w
        t3 /= w
        ri = r[i]
        q = rd[i] / ri
        for j in range(w):
            du = D[o + j] * gam[j] if aff else D[o + j]
            rdu = RD[o + j] * gam[j] + D[o + j] * vg[j] if aff else RD[o + j]
            dh = ri * (du - s1 - U[o + j] * s2)
            Din[o + j] = dh
            RDin[o + j] = (q * dh + ri * (rdu - t1 - U[o + j] * t2)
                           - ri * (Ud[o + j] * s2 + U[o + j] * t3))


# --------------------------------------------------------------------------------------
# header and workspace
# --------------------------------------------------------------------------------------
@njit
def n_samples(p):
    """The number of samples n of the finite sum f = (1/n) sum_j f_j."""
    return int(p[1])


@njit
def _block(p, l):
    o = HEADER + BLOCK * l
    return int(p[o]), int(p[o + 1]), int(p[o + 2]), int(p[o + 3]), int(p[o + 4]), int(p[o + 5])


@njit
def _scale(p, m):
    """The factor of the summed per-sample losses for a batch of m samples."""
    if int(p[4]) == MSE_ENTRIES:
        return 1.0 / (m * p[3])
    return 1.0 / m


@njit
def _plan(p, m, n_adj, tangents):
    """Offsets, in one flat workspace, of each block's Z (pre-activation; U for NORM),
    S (activation), A (output) and R (NORM: 1/std per row) for m rows; the same again
    for their tangents when ``tangents`` (at offset T); then ``n_adj`` adjoint
    buffers of m x (largest width) from offset ``adj``. (Callers pass np.int64 and
    np.bool_ values: literal constants would compile it once per constant, as for
    the flags of :func:`_colsum_prod` and the offsets of :func:`_fill`.)"""
    nb = int(p[5])
    off = np.empty((4, nb), np.int64)       # rows: Z, S, A, R
    t = 0
    for l in range(nb):
        kind, n_i, n_o, act, bias, po = _block(p, l)
        off[0, l] = t
        t += m * n_o
        if kind == DENSE:
            off[1, l] = t
            off[2, l] = t
            t += m * n_o
        elif kind == RESIDUAL:
            off[1, l] = t
            off[2, l] = t + m * n_o
            t += 2 * m * n_o
        elif kind == NORM:
            off[1, l] = off[0, l]
            off[2, l] = off[0, l]           # the output is U itself
        else:
            off[1, l] = off[0, l]
            off[2, l] = t
            t += m * n_o
        off[3, l] = t
        if kind == NORM or kind == NORM_AFFINE:
            t += m
    T = t
    adj = 2 * t if tangents else t
    return off, T, adj, adj + n_adj * m * int(p[9])


# --------------------------------------------------------------------------------------
# forward, loss, backward
# --------------------------------------------------------------------------------------
@njit
def _forward_pass(x, p, src, s0, m, ws, off):
    """Every block's Z, S, A (and R) for the m inputs src[s0:s0 + m n_in]; the last
    block's A is the output F."""
    for l in range(int(p[5])):
        kind, n_i, n_o, act, bias, po = _block(p, l)
        H = src if l == 0 else ws
        h0 = s0 if l == 0 else off[2, l - 1]
        z0, a0, mn = off[0, l], off[2, l], m * n_o
        if kind == DENSE or kind == RESIDUAL:
            gemm(False, True, m, n_o, n_i, 1.0, H, h0, x, po, 0.0, ws, z0)
            if bias:
                _add_rows(ws[z0:z0 + mn], x[po + n_o * n_i:po + n_o * n_i + n_o], m, n_o)
            s0_ = off[1, l]
            act_forward(act, ws[z0:z0 + mn], ws[s0_:s0_ + mn])
            if kind == RESIDUAL:
                _sum_to(ws, a0, H, h0, ws, s0_, mn)
        else:
            _ln_forward(H[h0:h0 + mn], m, n_o, ws[z0:z0 + mn], ws[off[3, l]:off[3, l] + m])
            if kind == NORM_AFFINE:
                gam = x[po:po + n_o]
                bet = x[po + n_o:po + 2 * n_o]
                for i in range(m):
                    for j in range(n_o):
                        ws[a0 + i * n_o + j] = ws[z0 + i * n_o + j] * gam[j] + bet[j]


# called by symbol (testbed._engine.calls) from value_grad, value, outputs and
# hvp_prepare, which each compiled it again when it was linked
_forward = calls.by_symbol(_forward_pass)


@njit
def _loss(code, F, Y, m, k, scale, D):
    """The loss of outputs F against targets Y (flat m x k) and D = dL/dF."""
    f = 0.0
    if code == CE:
        for i in range(m):
            o = i * k
            mx = F[o]
            for j in range(1, k):
                mx = max(mx, F[o + j])
            se = 0.0
            for j in range(k):
                e = math.exp(F[o + j] - mx)
                D[o + j] = e
                se += e
            sy = 0.0
            yf = 0.0
            for j in range(k):
                sy += Y[o + j]
                yf += Y[o + j] * F[o + j]
            f += sy * (mx + math.log(se)) - yf
            for j in range(k):
                D[o + j] = scale * (sy * D[o + j] / se - Y[o + j])
        return scale * f
    for i in range(m * k):
        r = F[i] - Y[i]
        f += r * r
        D[i] = scale * r
    return 0.5 * scale * f


# _value_grad, _hvp_after_passes and hvp_prepared are inlined (Numba IR) into their
# callers: compiled as libraries of their own, each would be compiled again inside
# every caller's (B4's first run: 20.1 s -> 18.4 s from an empty cache)
@njit(inline='always')
def _value_grad(x, p, src, s0, Y, y0, m, g, gx, inputs):
    """The mean loss of the m inputs src[s0:] against Y[y0:], its parameter gradient
    into g and, when ``inputs``, its gradient with respect to the inputs into
    gx[0:m n_in] (the adjoint carried through block 0 as through the others)."""
    off, T, adj, total = _plan(p, m, np.int64(3), np.bool_(False))
    ws = np.empty(total)
    _forward(x, p, src, s0, m, ws, off)
    nb = int(p[5])
    k = int(p[3])
    big = m * int(p[9])
    cur, nxt, dz = adj, adj + big, adj + 2 * big
    fo = off[2, nb - 1]
    f = _loss(int(p[4]), ws[fo:fo + m * k], Y[y0:y0 + m * k], m, k, _scale(p, m),
              ws[cur:cur + m * k])
    for l in range(nb - 1, -1, -1):
        kind, n_i, n_o, act, bias, po = _block(p, l)
        H = src if l == 0 else ws
        h0 = s0 if l == 0 else off[2, l - 1]
        z0, mn, mi = off[0, l], m * n_o, m * n_i
        if kind == DENSE or kind == RESIDUAL:
            act_mul_d1(act, ws[z0:z0 + mn], ws[off[1, l]:off[1, l] + mn], ws[cur:cur + mn],
                       ws[dz:dz + mn])
            gemm(True, False, n_o, n_i, m, 1.0, ws, dz, H, h0, 0.0, g, po)
            if bias:
                _colsum(ws[dz:dz + mn], m, n_o, g[po + n_o * n_i:po + n_o * n_i + n_o], False)
            if l > 0 or inputs:
                out, o0 = (ws, nxt) if l > 0 else (gx, 0)
                beta = 0.0
                if kind == RESIDUAL:
                    _copy(out, o0, ws, cur, mi)
                    beta = 1.0
                gemm(False, False, m, n_i, n_o, 1.0, ws, dz, x, po, beta, out, o0)
        else:
            aff = kind == NORM_AFFINE
            if aff:
                _colsum_prod(ws[cur:cur + mn], ws[z0:z0 + mn], m, n_o, g[po:po + n_o],
                             np.bool_(False))
                _colsum(ws[cur:cur + mn], m, n_o, g[po + n_o:po + 2 * n_o], False)
            if l > 0 or inputs:
                out, o0 = (ws, nxt) if l > 0 else (gx, 0)
                _ln_adjoint(ws[cur:cur + mn], x[po:po + n_o], aff, ws[z0:z0 + mn],
                            ws[off[3, l]:off[3, l] + m], m, n_o, out[o0:o0 + mi])
        cur, nxt = nxt, cur
    return f


@njit
def value_grad(x, p, g):
    """The full-batch loss f(x); its gradient is written into g."""
    return _value_grad(x, p, p, int(p[7]), p, int(p[8]), int(p[1]), g, g, False)


@njit
def value(x, p):
    """The full-batch loss f(x)."""
    m = int(p[1])
    k = int(p[3])
    off, T, adj, total = _plan(p, m, np.int64(1), np.bool_(False))
    ws = np.empty(total)
    _forward(x, p, p, int(p[7]), m, ws, off)
    fo = off[2, int(p[5]) - 1]
    y0 = int(p[8])
    return _loss(int(p[4]), ws[fo:fo + m * k], p[y0:y0 + m * k], m, k, _scale(p, m),
                 ws[adj:adj + m * k])


@njit
def value_grad_batch(x, p, idx, g):
    """The mean loss over the samples ``idx`` (indices in 0..n-1, repeats allowed) and
    its gradient (written into g)."""
    m = idx.shape[0]
    Xb = np.empty(m * int(p[2]))
    Yb = np.empty(m * int(p[3]))
    gather_rows(p, idx, Xb, Yb)
    return _value_grad(x, p, Xb, 0, Yb, 0, m, g, g, False)


@njit
def value_grad_inputs(x, p, Xb, Yb, g, gx):
    """The mean loss over the m rows of a batch of inputs and targets, with its
    gradients with respect to the parameters (into g) and to the inputs (into gx).

    ``Xb`` holds the m inputs row-major, flat (length m n_in, n_in = p[2]); ``Yb`` the
    targets, flat (m k); ``gx`` (length m n_in) receives d f_B / d Xb, the gradient of
    the *mean* loss (the gradient of the summed loss of sample j is m gx[j]). The inputs
    need not be the landscape's own: adversarial rules and attacks perturb them."""
    n_in = int(p[2])
    m = Xb.shape[0] // n_in
    return _value_grad(x, p, Xb, 0, Yb, 0, m, g, gx, True)


@njit
def gather_rows(p, idx, Xb, Yb):
    """Xb, Yb (flat, row-major) = the inputs and targets of the samples ``idx`` of the
    data packed in p (the batch of :func:`value_grad_batch`)."""
    n_in = int(p[2])
    k = int(p[3])
    x0 = int(p[7])
    y0 = int(p[8])
    for i in range(idx.shape[0]):
        j = idx[i]
        _copy(Xb, i * n_in, p, x0 + j * n_in, n_in)
        _copy(Yb, i * k, p, y0 + j * k, k)


@njit
def outputs(x, p, X):
    """The network's outputs (m, k) at parameters x on inputs X (m, input width)."""
    m = X.shape[0]
    k = int(p[3])
    off, T, adj, total = _plan(p, m, np.int64(0), np.bool_(False))
    ws = np.empty(total)
    _forward(x, p, np.ascontiguousarray(X).reshape(-1), 0, m, ws, off)
    fo = off[2, int(p[5]) - 1]
    return ws[fo:fo + m * k].copy().reshape(m, k)


# --------------------------------------------------------------------------------------
# Hessian-vector product: R-operator (forward-over-reverse)
# --------------------------------------------------------------------------------------
@njit
def _tangent_pass(x, v, p, src, s0, m, ws, off, T):
    """Forward tangents along v: ws[q + T] = R{ws[q]} for every Z, S, A, R."""
    for l in range(int(p[5])):
        kind, n_i, n_o, act, bias, po = _block(p, l)
        H = src if l == 0 else ws
        h0 = s0 if l == 0 else off[2, l - 1]
        hd = off[2, l - 1] + T if l > 0 else 0
        z0, s0_, a0, mn = off[0, l], off[1, l], off[2, l], m * n_o
        if kind == DENSE or kind == RESIDUAL:
            gemm(False, True, m, n_o, n_i, 1.0, H, h0, v, po, 0.0, ws, z0 + T)
            if l > 0:
                gemm(False, True, m, n_o, n_i, 1.0, ws, hd, x, po, 1.0, ws, z0 + T)
            if bias:
                _add_rows(ws[z0 + T:z0 + T + mn], v[po + n_o * n_i:po + n_o * n_i + n_o],
                          m, n_o)
            act_mul_d1(act, ws[z0:z0 + mn], ws[s0_:s0_ + mn], ws[z0 + T:z0 + T + mn],
                       ws[s0_ + T:s0_ + T + mn])
            if kind == RESIDUAL:
                if l > 0:
                    _sum_to(ws, a0 + T, ws, hd, ws, s0_ + T, mn)
                else:
                    _copy(ws, a0 + T, ws, s0_ + T, mn)
        else:
            r0 = off[3, l]
            if l > 0:
                _ln_tangent(ws[hd:hd + mn], ws[z0:z0 + mn], ws[r0:r0 + m], m, n_o,
                            ws[z0 + T:z0 + T + mn], ws[r0 + T:r0 + T + m])
            else:
                _fill(ws, z0 + T, mn, 0.0)
                _fill(ws, r0 + T, m, 0.0)
            if kind == NORM_AFFINE:
                gam = x[po:po + n_o]
                vg = v[po:po + n_o]
                vb = v[po + n_o:po + 2 * n_o]
                for i in range(m):
                    for j in range(n_o):
                        q = i * n_o + j
                        ws[a0 + T + q] = ws[z0 + T + q] * gam[j] + ws[z0 + q] * vg[j] + vb[j]


# called by symbol from hvp_prepared (as _forward)
_tangent = calls.by_symbol(_tangent_pass)


@njit
def _adjoints(p, m, base):
    """Offsets, from ``base`` in the workspace of the Hessian-vector products, of each
    block's plain adjoint D = dL/dA (rows: 0) and, for dense and residual blocks above
    the first, D act'(Z) (rows: 1), m x n_out each; and the workspace's end."""
    nb = int(p[5])
    o = np.empty((2, nb), np.int64)
    t = base
    for l in range(nb):
        n_o = _block(p, l)[2]
        o[0, l] = t
        o[1, l] = t + m * n_o
        t += 2 * m * n_o
    return o, t


@njit(inline='always')
def _plain_backward(x, p, Y, y0, m, ws, off, pl):
    """The backward pass of the loss at the primal forward pass in ws, every block's
    adjoints kept at the offsets ``pl`` (:func:`_adjoints`): the part of a
    Hessian-vector product that does not depend on v (the same operations as
    :func:`_value_grad`'s backward pass)."""
    nb = int(p[5])
    k = int(p[3])
    fo = off[2, nb - 1]
    t = pl[0, nb - 1]
    _loss(int(p[4]), ws[fo:fo + m * k], Y[y0:y0 + m * k], m, k, _scale(p, m),
          ws[t:t + m * k])
    for l in range(nb - 1, 0, -1):
        kind, n_i, n_o, act, bias, po = _block(p, l)
        z0, mn, mi = off[0, l], m * n_o, m * n_i
        cur, dz, nxt = pl[0, l], pl[1, l], pl[0, l - 1]
        if kind == DENSE or kind == RESIDUAL:
            act_mul_d1(act, ws[z0:z0 + mn], ws[off[1, l]:off[1, l] + mn], ws[cur:cur + mn],
                       ws[dz:dz + mn])
            beta = 0.0
            if kind == RESIDUAL:
                _copy(ws, nxt, ws, cur, mi)
                beta = 1.0
            gemm(False, False, m, n_i, n_o, 1.0, ws, dz, x, po, beta, ws, nxt)
        else:
            _ln_adjoint(ws[cur:cur + mn], x[po:po + n_o], kind == NORM_AFFINE,
                        ws[z0:z0 + mn], ws[off[3, l]:off[3, l] + m], m, n_o, ws[nxt:nxt + mi])


@njit(inline='always')
def _hvp_after_passes(x, p, src, s0, Y, y0, m, v, out, ws, off, T, adj, pl):
    """Hv given the primal forward and backward passes in ws (:func:`hvp_prepare`):
    the forward tangents, then the tangents of the adjoints, R{D}, block by block."""
    _tangent(x, v, p, src, s0, m, ws, off, T)
    nb = int(p[5])
    k = int(p[3])
    big = m * int(p[9])
    rcur, rnxt, rdz, spare = adj, adj + big, adj + 2 * big, adj + 3 * big
    fo = off[2, nb - 1]
    top = pl[0, nb - 1]
    scale = _scale(p, m)
    # R{dL/dF}: scale F' (squared loss); scale s_j (q F' - q (q . F')) (cross-entropy),
    # with q the softmax, recovered from D = scale (s_j q - Y_j)
    for i in range(m):
        o = i * k
        if int(p[4]) == CE:
            sy = 0.0
            for j in range(k):
                sy += Y[y0 + o + j]
            qf = 0.0
            for j in range(k):
                q = (ws[top + o + j] / scale + Y[y0 + o + j]) / sy if sy != 0.0 else 0.0
                ws[rcur + o + j] = q
                qf += q * ws[fo + T + o + j]
            for j in range(k):
                ws[rcur + o + j] = scale * sy * ws[rcur + o + j] * (ws[fo + T + o + j] - qf)
        else:
            for j in range(k):
                ws[rcur + o + j] = scale * ws[fo + T + o + j]
    for l in range(nb - 1, -1, -1):
        kind, n_i, n_o, act, bias, po = _block(p, l)
        H = src if l == 0 else ws
        h0 = s0 if l == 0 else off[2, l - 1]
        hd = off[2, l - 1] + T if l > 0 else 0
        z0, mn, mi = off[0, l], m * n_o, m * n_i
        cur, dz = pl[0, l], pl[1, l]
        if kind == DENSE or kind == RESIDUAL:
            s0_ = off[1, l]
            act_r_tangent(act, ws[z0:z0 + mn], ws[s0_:s0_ + mn], ws[z0 + T:z0 + T + mn],
                          ws[cur:cur + mn], ws[rcur:rcur + mn], ws[rdz:rdz + mn])
            gemm(True, False, n_o, n_i, m, 1.0, ws, rdz, H, h0, 0.0, out, po)
            if l > 0:
                gemm(True, False, n_o, n_i, m, 1.0, ws, dz, ws, hd, 1.0, out, po)
            if bias:
                _colsum(ws[rdz:rdz + mn], m, n_o, out[po + n_o * n_i:po + n_o * n_i + n_o],
                        False)
            if l > 0:
                beta = 0.0
                if kind == RESIDUAL:
                    _copy(ws, rnxt, ws, rcur, mi)
                    beta = 1.0
                gemm(False, False, m, n_i, n_o, 1.0, ws, rdz, x, po, beta, ws, rnxt)
                gemm(False, False, m, n_i, n_o, 1.0, ws, dz, v, po, 1.0, ws, rnxt)
        else:
            aff = kind == NORM_AFFINE
            r0 = off[3, l]
            if aff:
                og = out[po:po + n_o]
                _colsum_prod(ws[rcur:rcur + mn], ws[z0:z0 + mn], m, n_o, og, np.bool_(False))
                _colsum_prod(ws[cur:cur + mn], ws[z0 + T:z0 + T + mn], m, n_o, og, np.bool_(True))
                _colsum(ws[rcur:rcur + mn], m, n_o, out[po + n_o:po + 2 * n_o], False)
            if l > 0:       # the plain part, written to a spare buffer, is in pl already
                _ln_r_adjoint(ws[cur:cur + mn], ws[rcur:rcur + mn], x[po:po + n_o],
                              v[po:po + n_o], aff, ws[z0:z0 + mn], ws[z0 + T:z0 + T + mn],
                              ws[r0:r0 + m], ws[r0 + T:r0 + T + m], m, n_o,
                              ws[spare:spare + mi], ws[rnxt:rnxt + mi])
        rcur, rnxt = rnxt, rcur


@njit
def hvp_prepare(x, p):
    """The state of repeated Hessian-vector products at one point x: the workspace
    holding the primal forward pass and the plain backward pass (about half the cost
    of a product), for :func:`hvp_prepared`. Lanczos multiplies by H(x) n_iter times
    at the same x."""
    m = int(p[1])
    off, T, adj, total = _plan(p, m, np.int64(4), np.bool_(True))
    pl, end = _adjoints(p, m, total)
    ws = np.empty(end)
    _forward(x, p, p, int(p[7]), m, ws, off)
    _plain_backward(x, p, p, int(p[8]), m, ws, off, pl)
    return ws


@njit(inline='always')
def hvp_prepared(x, p, state, v, out):
    """H(x) v from the state of :func:`hvp_prepare` at the same x. The product writes
    its tangents to other parts of the workspace than the forward and plain backward
    passes it reads, so any number of products may follow one preparation."""
    m = int(p[1])
    off, T, adj, total = _plan(p, m, np.int64(4), np.bool_(True))
    pl, end = _adjoints(p, m, total)
    _hvp_after_passes(x, p, p, int(p[7]), p, int(p[8]), m, v, out, state, off, T, adj,
                      pl)


@njit
def hvp(x, p, v, out):
    """The exact Hessian-vector product H(x) v of the full-batch loss (R-operator): the
    primal forward and plain backward passes of :func:`hvp_prepare`, then
    :func:`hvp_prepared`."""
    hvp_prepared(x, p, hvp_prepare(x, p), v, out)
