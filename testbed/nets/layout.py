r"""Architectures, the layout of the flat parameter vector, and initialisation.

An architecture is a list of blocks (:class:`Dense`, :class:`Residual`, :class:`Norm`).
The parameter vector :math:`x` holds, block after block, a weight matrix :math:`W`
(out, in) in row-major order followed by its bias :math:`b` (out) -- the layout of
PyTorch's ``nn.Linear`` -- or, for an affine LayerNorm, :math:`\gamma` then
:math:`\beta`. So row :math:`i` of :math:`W` is the "filter" of output neuron
:math:`i` in Li et al.'s (2018) filter normalisation.

:func:`layout` lists the pieces (:class:`Block`: name, offset, size, shape, kind with
kind in {"weight", "bias", "norm"}); :func:`init_params` draws a starting point;
:func:`pack` writes architecture, loss and data into the landscape's parameter vector
p (format in :mod:`testbed.nets.mlp`).
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from .. import perturb
from ..errors import TestbedError
from . import mlp as _k

ACTIVATIONS = {"identity": _k.IDENTITY, "linear": _k.IDENTITY, "tanh": _k.TANH,
               "relu": _k.RELU, "softplus": _k.SOFTPLUS, "elu": _k.ELU, "gelu": _k.GELU,
               "sigmoid": _k.SIGMOID}
LOSSES = {"mse": _k.MSE, "mse_entries": _k.MSE_ENTRIES, "ce": _k.CE,
          "cross_entropy": _k.CE}
_ACT_NAMES = {v: k for k, v in ACTIVATIONS.items() if k != "linear"}
_LOSS_NAMES = {_k.MSE: "mse", _k.MSE_ENTRIES: "mse_entries", _k.CE: "ce"}


def _width(value, what) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise TestbedError(f"{what} must be a positive integer (a layer of size zero has "
                           f"no neurons), got {value!r}")
    return int(value)


def _act(name) -> str:
    name = "identity" if name is None else name
    if name not in ACTIVATIONS:
        raise TestbedError(f"unknown activation {name!r}; choose from "
                           f"{sorted(ACTIVATIONS)}")
    return name


@dataclasses.dataclass(frozen=True)
class Dense:
    r"""A dense layer, :math:`H \leftarrow \text{act}(H W^T + b)`: :math:`W` (n_out,
    n_in), :math:`b` (n_out) if ``bias``; ``act`` one of identity, tanh, relu,
    softplus, elu, gelu, sigmoid."""
    n_in: int
    n_out: int
    act: str = "tanh"
    bias: bool = True

    def __post_init__(self):
        _width(self.n_in, "Dense n_in")
        _width(self.n_out, "Dense n_out")
        _act(self.act)


@dataclasses.dataclass(frozen=True)
class Residual:
    r"""A residual block, :math:`H \leftarrow H + \text{act}(H W^T + b)`: a skip
    connection around one dense layer of equal widths (:math:`W` (width, width),
    :math:`b` (width))."""
    width: int
    act: str = "relu"
    bias: bool = True

    def __post_init__(self):
        _width(self.width, "Residual width")
        _act(self.act)


@dataclasses.dataclass(frozen=True)
class Norm:
    r"""LayerNorm over the features of each sample:
    :math:`(h - \text{mean}(h)) / \sqrt{\text{var}(h) + 10^{-5}}`, then, if
    ``affine``, times :math:`\gamma` plus :math:`\beta` (both of length ``width``)."""
    width: int
    affine: bool = False

    def __post_init__(self):
        _width(self.width, "Norm width")


@dataclasses.dataclass(frozen=True)
class Block:
    """One piece of the parameter vector, ``x[offset:offset + size].reshape(shape)``,
    of kind ``"weight"``, ``"bias"`` or ``"norm"``."""
    name: str
    offset: int
    size: int
    shape: tuple
    kind: str          # "weight", "bias" or "norm"


def mlp(widths, act="tanh", bias=True, out_act="identity") -> list:
    """Dense layers ``widths[0] -> widths[1] -> ... -> widths[-1]``; ``act`` after every
    layer but the last, which gets ``out_act`` (identity: the outputs are logits or
    regression values)."""
    widths = list(widths)
    if len(widths) < 2:
        raise TestbedError(f"an MLP needs at least an input and an output width, got "
                           f"{widths}")
    for i, w in enumerate(widths):
        _width(w, f"width {i} of {widths}")
    n = len(widths) - 1
    return [Dense(widths[i], widths[i + 1], act if i < n - 1 else out_act, bias)
            for i in range(n)]


def _io(block) -> tuple[int, int]:
    if isinstance(block, Dense):
        return block.n_in, block.n_out
    if isinstance(block, (Residual, Norm)):
        return block.width, block.width
    raise TestbedError(f"unknown block {block!r}; use Dense, Residual or Norm")


def _n_params(block) -> int:
    if isinstance(block, Dense):
        return block.n_out * block.n_in + (block.n_out if block.bias else 0)
    if isinstance(block, Residual):
        return block.width * block.width + (block.width if block.bias else 0)
    return 2 * block.width if block.affine else 0


def check_blocks(blocks) -> list:
    blocks = list(blocks)
    if not blocks:
        raise TestbedError("a network needs at least one block")
    for i in range(1, len(blocks)):
        if _io(blocks[i - 1])[1] != _io(blocks[i])[0]:
            raise TestbedError(f"block {i} ({blocks[i]}) takes width {_io(blocks[i])[0]} "
                               f"but block {i - 1} gives {_io(blocks[i - 1])[1]}")
    return blocks


def param_count(blocks) -> int:
    return sum(_n_params(b) for b in check_blocks(blocks))


def _loss_code(loss) -> int:
    if loss not in LOSSES:
        raise TestbedError(f"unknown loss {loss!r}; choose from {sorted(LOSSES)} (mse: "
                           f"1/(2n) sum_j |f_j - y_j|^2 as Cohen et al.; mse_entries: half "
                           f"the mean over all n*k entries; ce: softmax cross-entropy)")
    return LOSSES[loss]


def check_data(X, Y, loss="mse") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 copies of inputs X (n, n_in) and targets Y (n, k)."""
    X = np.array(X, dtype=np.float64, copy=True)
    Y = np.array(Y, dtype=np.float64, copy=True)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or Y.ndim != 2:
        raise TestbedError(f"data must be X (n, n_in) and Y (n, k); got shapes {X.shape} "
                           f"and {Y.shape}")
    if X.shape[0] != Y.shape[0]:
        raise TestbedError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
    if X.shape[0] < 1 or X.shape[1] < 1 or Y.shape[1] < 1:
        raise TestbedError(f"empty data set: X {X.shape}, Y {Y.shape}")
    for name, arr in (("X", X), ("Y", Y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise TestbedError(f"data {name} contains NaN or inf (first at sample {i}, "
                               f"column {j}); clean or drop those samples")
    if _loss_code(loss) == _k.CE and np.any(Y < 0):
        raise TestbedError("cross-entropy targets Y must be non-negative (one-hot rows or "
                           "class probabilities)")
    return X, Y


def pack(blocks, X, Y, loss="mse") -> np.ndarray:
    """The landscape parameter vector p: header, block table, then X and Y."""
    blocks = check_blocks(blocks)
    X, Y = check_data(X, Y, loss)
    n, n_in = X.shape
    k = Y.shape[1]
    if _io(blocks[0])[0] != n_in:
        raise TestbedError(f"the first block takes width {_io(blocks[0])[0]} but the data "
                           f"have {n_in} input features")
    if _io(blocks[-1])[1] != k:
        raise TestbedError(f"the last block gives width {_io(blocks[-1])[1]} but the "
                           f"targets have {k} columns")
    nb = len(blocks)
    x_off = _k.HEADER + _k.BLOCK * nb
    y_off = x_off + n * n_in
    p = np.empty(y_off + n * k)
    wmax = max(max(_io(b)) for b in blocks)
    p[:_k.HEADER] = [_k.MAGIC, n, n_in, k, _loss_code(loss), nb, param_count(blocks),
                     x_off, y_off, wmax]
    off = 0
    for l, b in enumerate(blocks):
        i, o = _io(b)
        if isinstance(b, Dense):
            row = (_k.DENSE, i, o, ACTIVATIONS[b.act], int(b.bias), off)
        elif isinstance(b, Residual):
            row = (_k.RESIDUAL, i, o, ACTIVATIONS[b.act], int(b.bias), off)
        else:
            row = (_k.NORM_AFFINE if b.affine else _k.NORM, i, o, 0, 0, off)
        p[_k.HEADER + _k.BLOCK * l:_k.HEADER + _k.BLOCK * (l + 1)] = row
        off += _n_params(b)
    p[x_off:y_off] = perturb.inputs(X, salt=1).ravel()   # no change unless asked
    p[y_off:] = Y.ravel()
    return p


def _packed(obj) -> np.ndarray:
    """p of a bound network landscape, or p itself."""
    p = getattr(obj, "p", obj)
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.shape[0] < _k.HEADER or p[0] != _k.MAGIC:
        raise TestbedError("not a network landscape (its parameter vector lacks the "
                           "testbed.nets header); build one with testbed.nets.network")
    return p


def blocks(obj) -> list:
    """The architecture (list of blocks) of a network landscape, or of a list of blocks."""
    if isinstance(obj, (list, tuple)):
        return check_blocks(obj)
    p = _packed(obj)
    out = []
    for l in range(int(p[5])):
        kind, i, o, act, bias, _ = (int(v) for v in
                                    p[_k.HEADER + _k.BLOCK * l:_k.HEADER + _k.BLOCK * (l + 1)])
        if kind == _k.DENSE:
            out.append(Dense(i, o, _ACT_NAMES[act], bool(bias)))
        elif kind == _k.RESIDUAL:
            out.append(Residual(i, _ACT_NAMES[act], bool(bias)))
        else:
            out.append(Norm(i, kind == _k.NORM_AFFINE))
    return out


def loss_name(obj) -> str:
    return _LOSS_NAMES[int(_packed(obj)[4])]


def data(obj) -> tuple[np.ndarray, np.ndarray]:
    """The data (X, Y) packed in a network landscape (copies)."""
    p = _packed(obj)
    n, n_in, k = int(p[1]), int(p[2]), int(p[3])
    xo, yo = int(p[7]), int(p[8])
    return p[xo:xo + n * n_in].reshape(n, n_in).copy(), p[yo:yo + n * k].reshape(n, k).copy()


def layout(obj) -> list[Block]:
    """The pieces of the parameter vector of a network landscape (or of a list of
    blocks), in order: for block l, ``layer{l}.W`` (kind "weight", shape (out, in))
    and ``layer{l}.b`` (kind "bias"), or ``layer{l}.gamma`` / ``layer{l}.beta``
    (kind "norm")."""
    out = []
    off = 0
    for l, b in enumerate(blocks(obj)):
        if isinstance(b, (Dense, Residual)):
            i, o = _io(b)
            out.append(Block(f"layer{l}.W", off, o * i, (o, i), "weight"))
            off += o * i
            if b.bias:
                out.append(Block(f"layer{l}.b", off, o, (o,), "bias"))
                off += o
        elif b.affine:
            out.append(Block(f"layer{l}.gamma", off, b.width, (b.width,), "norm"))
            out.append(Block(f"layer{l}.beta", off + b.width, b.width, (b.width,), "norm"))
            off += 2 * b.width
    return out


SCHEMES = ("pytorch", "lecun", "he")


def init_params(obj, seed=0, scheme="pytorch") -> np.ndarray:
    r"""A starting point for a network landscape (or a list of blocks).

    Parameters
    ----------
    obj : Landscape or list of blocks
    seed : int or sequence of int
        Draws come from ``numpy.random.default_rng(seed)``, block by block, :math:`W`
        before :math:`b`. A sequence gives one row per seed.
    scheme : {"pytorch", "lecun", "he"}
        - ``pytorch``: PyTorch's default ``nn.Linear`` initialisation, :math:`W` and
          :math:`b` uniform on :math:`[-1/\sqrt{\text{fan\_in}},
          1/\sqrt{\text{fan\_in}}]` (kaiming_uniform with :math:`a = \sqrt 5`);
        - ``lecun``: :math:`W \sim N(0, 1/\text{fan\_in})`, :math:`b = 0`;
        - ``he``: :math:`W \sim N(0, 2/\text{fan\_in})`, :math:`b = 0`.

        LayerNorm :math:`\gamma = 1`, :math:`\beta = 0`.

    Returns
    -------
    array (d,), or (N, d) for N seeds
        Ready for :func:`testbed.run`.
    """
    if scheme not in SCHEMES:
        raise TestbedError(f"unknown initialisation {scheme!r}; choose from {SCHEMES}")
    if not isinstance(seed, numbers.Integral):
        seeds = list(seed)
        return np.stack([init_params(obj, s, scheme) for s in seeds]) if seeds else \
            np.zeros((0, param_count(blocks(obj))))
    rng = np.random.default_rng(int(seed))
    arch = blocks(obj)
    x = np.zeros(param_count(arch))
    pieces = {p.name: p for p in layout(arch)}
    for l, b in enumerate(arch):
        if isinstance(b, Norm):
            if b.affine:
                g = pieces[f"layer{l}.gamma"]
                x[g.offset:g.offset + g.size] = 1.0
            continue
        W = pieces[f"layer{l}.W"]
        fan_in = W.shape[1]
        if scheme == "pytorch":
            bound = 1.0 / np.sqrt(fan_in)
            x[W.offset:W.offset + W.size] = rng.uniform(-bound, bound, W.size)
            if b.bias:
                bb = pieces[f"layer{l}.b"]
                x[bb.offset:bb.offset + bb.size] = rng.uniform(-bound, bound, bb.size)
        else:
            std = np.sqrt((1.0 if scheme == "lecun" else 2.0) / fan_in)
            x[W.offset:W.offset + W.size] = std * rng.standard_normal(W.size)
    return x
