"""Small neural networks as landscapes.

A network with its data set and loss is one more :class:`~testbed.Landscape`: the
coordinates x are the flat parameter vector (layout in :mod:`testbed.nets.layout`),
the data live in the packed parameter vector p, and the kernels
(:mod:`testbed.nets.mlp`) give the loss, its exact gradient (backpropagation), exact
Hessian-vector products (Pearlmutter's R-operator) and Hessian, and the mini-batch
gradient ``value_grad_batch`` that the ``sgd`` rule uses. So every rule, observer
and measurement works on a network unchanged::

    from testbed import nets, run
    X, Y = nets.data.digits(1000)
    L = nets.feedforward((64, 32, 32, 10), X, Y, act="tanh", loss="mse_entries")
    x0 = nets.init_params(L, seed=range(8))          # 8 networks, (8, d)
    res = run(L, "gd", x0, steps=2000, eta=1.5, stride=20,
              observe=("loss", "sharpness"))

Every network shares one compiled oracle (the architecture is read from p), so a
new architecture or data set costs no compilation.
"""
from __future__ import annotations

import numpy as np

from .._engine import blas as _blas
from ..errors import TestbedError
from ..objective.landscape import Landscape
from . import data, layout, metrics, mlp, splits
from .layout import (Block, Dense, Norm, Residual, blocks, init_params, loss_name, pack,
                     param_count)
from .layout import data as packed_data
from .layout import mlp as mlp_blocks
from .metrics import accuracy, error, on_data
from .splits import split

# The submodules mlp (kernels), layout and data keep their names in this namespace
# (``import testbed.nets.mlp`` must give the module), hence ``feedforward`` for the
# factory and ``layout.layout`` for the parameter layout.
__all__ = ["blas_threads", "landscape_entry", "network", "feedforward", "digits_mlp", "outputs", "collapsed_point",
           "init_params", "blocks", "param_count", "pack", "Dense", "Residual", "Norm",
           "Block", "data", "layout", "mlp", "mlp_blocks", "packed_data", "loss_name",
           "KERNELS", "metrics", "splits", "accuracy", "error", "on_data", "split"]

KERNELS = "testbed.nets.mlp"

def blas_threads(k=None):
    """Set the thread count of the BLAS inside the network kernels (None: report
    only); returns the previous count. Importing testbed.nets sets it to 1 unless
    one of OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS, BLIS_NUM_THREADS
    is set; a single network on an otherwise idle machine may gain from more
    (benchmark B4)."""
    return _blas.threads(k)


if not _blas.env_set():
    blas_threads(1)


def _describe(arch) -> str:
    parts = []
    for b in arch:
        if isinstance(b, Dense):
            parts.append(f"{b.n_out}{'' if b.act == 'identity' else ':' + b.act}")
        elif isinstance(b, Residual):
            parts.append(f"res{b.width}:{b.act}")
        else:
            parts.append(f"norm{b.width}{'+affine' if b.affine else ''}")
    first = arch[0]
    n_in = first.n_in if isinstance(first, Dense) else first.width
    return f"{n_in}-" + "-".join(parts)


def landscape_entry(name, arch, make_data, loss="mse", params=None, critical_points=(),
                    tags=(), paper="", description="") -> Landscape:
    """An unbound catalogue entry for the network ``arch``, for a file in
    ``functions/`` or your own folder.

    Parameters
    ----------
    name : str
        The catalogue name.
    arch : list of blocks
        :class:`Dense`, :class:`Residual` and :class:`Norm` blocks.
    make_data : callable
        ``make_data(**values) -> (X, Y)`` for bound parameter values; called lazily,
        when p is first needed, so declaring an entry costs nothing at import.
    loss : {"mse", "mse_entries", "ce"}
    params : dict of str to Param, optional
        The parameters ``make_data`` takes (a data seed, a sample count).
    critical_points, tags, paper, description
        As for :class:`~testbed.Landscape`.

    Returns
    -------
    Landscape
        Unbound, of dimension the architecture's parameter count.
    """
    arch = list(arch)
    d = param_count(arch)

    def _pack(dim, **values):
        X, Y = make_data(**values)
        return pack(arch, X, Y, loss)

    return Landscape(name, kernels=("module", KERNELS), params=params or {}, dim=d,
                     critical_points=critical_points, tags=("network", *tags),
                     paper=paper, description=description or
                     f"network {_describe(arch)}, loss {loss}", pack=_pack)


def network(arch, X, Y, loss="mse", name=None, critical_points=(), tags=(), paper="",
            description="") -> Landscape:
    r"""The bound landscape of a network on its data: the loss as a function of the
    flat parameter vector.

    Parameters
    ----------
    arch : list of blocks
        :class:`Dense`, :class:`Residual` and :class:`Norm` blocks, in order.
    X : array (n, n_in)
        Inputs.
    Y : array (n, k)
        Targets (one-hot rows for classification).
    loss : {"mse", "mse_entries", "ce"}
        With outputs :math:`F` (n, k): ``"mse"``
        :math:`\frac{1}{2n} \sum_j \lVert F_j - Y_j \rVert^2`, ``"mse_entries"``
        :math:`\frac{1}{2nk} \sum_{j,c} (F_{jc} - Y_{jc})^2`, ``"ce"`` the mean
        cross-entropy of the softmax of :math:`F`.
    name : str, optional
        Default: the architecture, loss and sample count.
    critical_points, tags, paper, description
        As for :class:`~testbed.Landscape`.

    Returns
    -------
    Landscape
        Bound, with exact gradients (backpropagation), Hessian-vector products
        (Pearlmutter's R-operator) and Hessians.

    Raises
    ------
    TestbedError
        For blocks whose widths do not chain, or data of the wrong shape or not
        finite.
    """
    arch = list(arch)
    p = pack(arch, X, Y, loss)          # validates everything now
    n = int(p[1])
    name = name or f"net[{_describe(arch)}|{loss}|n={n}]"
    L = Landscape(name, kernels=("module", KERNELS), params={}, dim=param_count(arch),
                  critical_points=critical_points, tags=("network", *tags), paper=paper,
                  description=description or f"network {_describe(arch)}, loss {loss}, "
                                             f"{n} samples",
                  pack=lambda d: p)
    return L.bind()


def feedforward(widths, X, Y, act="tanh", loss="mse", bias=True, out_act="identity",
                name=None) -> Landscape:
    """A fully connected network ``widths[0] -> ... -> widths[-1]`` (``act`` between
    layers, ``out_act`` after the last, biases if ``bias``) as a bound landscape on
    ``(X, Y)``; ``loss`` and ``name`` as for :func:`network`."""
    return network(mlp_blocks(widths, act, bias, out_act), X, Y, loss, name=name)


def digits_mlp(widths=(64, 32, 32, 10), n=1000, act="tanh", loss="mse_entries",
               standardize=False) -> Landscape:
    """The first ``n`` scikit-learn digits (pixels / 16, one-hot targets) and an MLP
    of the given ``widths``, activation and loss (:func:`feedforward`): by default
    benchmark B4's network (64-32-32-10 tanh, half the mean squared error over all
    n x 10 entries)."""
    X, Y = data.digits(n, standardize=standardize)
    return feedforward(widths, X, Y, act=act, loss=loss,
                       name=f"digits_mlp[{'-'.join(map(str, widths))}:{act}|{loss}|n={n}]")


def outputs(L, x, X=None) -> np.ndarray:
    """The network's outputs (m, k) at parameters ``x`` on inputs ``X`` (m, n_in)
    (default: its own data)."""
    p = L.p
    blocks(L)                                    # checks that L is a network
    x = L._point(x)
    if X is None:
        X = packed_data(L)[0]
    X = np.ascontiguousarray(X, dtype=np.float64)
    n_in = int(p[2])
    if X.ndim != 2 or X.shape[1] != n_in:
        raise TestbedError(f"inputs must have shape (m, {n_in}), got {X.shape}")
    return mlp.outputs(x, p, X)


def collapsed_point(L):
    r"""(x, energy): all weights and biases zero except the last layer's bias, which
    fits the mean target (squared loss) or the class frequencies (cross-entropy);
    LayerNorm gamma = 1. Every hidden state is then the same for all samples, so every
    gradient term is a sample-independent factor times :math:`\sum_j (f_j - y_j) = 0` (or its
    cross-entropy analogue): an exact critical point of any architecture whose last
    block is a Dense layer with bias. With two or more hidden Dense layers every
    second derivative that involves the input passes through a zero weight matrix, so
    the Hessian is zero except on the last layer (Gauss-Newton, PSD): Morse index 0,
    degenerate. (With one hidden layer the first/last-layer cross block
    :math:`\sum_j r_j x_j^T` makes it a saddle.)"""
    arch = blocks(L)
    last = arch[-1]
    if not (isinstance(last, Dense) and last.bias):
        raise TestbedError("the collapsed point needs a last Dense layer with bias")
    X, Y = packed_data(L)
    x = np.zeros(param_count(arch))
    pieces = {p.name: p for p in layout.layout(arch)}
    for l, b in enumerate(arch):
        if isinstance(b, Norm) and b.affine:
            g = pieces[f"layer{l}.gamma"]
            x[g.offset:g.offset + g.size] = 1.0
    bl = pieces[f"layer{len(arch) - 1}.b"]
    ybar = Y.mean(axis=0)
    kind = loss_name(L)
    if kind == "ce":
        sbar = Y.sum(axis=1).mean()
        q = ybar / sbar
        if np.any(q <= 0):
            raise TestbedError("a class has no samples: the collapsed point of the "
                               "cross-entropy is at infinity")
        b = np.log(q)
        energy = float(-np.sum(ybar * b))
    else:
        b = ybar
        R = Y - ybar
        scale = 1.0 / Y.shape[0] if kind == "mse" else 1.0 / Y.size
        energy = float(0.5 * scale * np.sum(R * R))
    x[bl.offset:bl.offset + bl.size] = b
    return x, energy
