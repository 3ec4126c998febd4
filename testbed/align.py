r"""Permutation alignment of the hidden units of MLPs (Ainsworth, Hayase & Srinivasa
2023, "Git Re-Basin: Merging Models modulo Permutation Symmetries", ICLR,
arXiv:2209.04836; code samuela/git-re-basin, weight_matching.py; Entezari, Sedghi,
Saukh & Neyshabur 2022 for the permutation conjecture).

A plain MLP of Dense layers :math:`W_\ell` (out, in), :math:`b_\ell`,
:math:`\ell = 0, \dots, L-1`, with an elementwise activation computes the same
function after its hidden units are permuted: with a permutation :math:`\pi_\ell`
of the outputs of layer :math:`\ell < L - 1` (:math:`\pi_{-1}`, :math:`\pi_{L-1}` the
identity: inputs and outputs are not permuted),

.. math:: W'_\ell[a, c] = W_\ell[\pi_\ell(a), \pi_{\ell-1}(c)], \qquad
          b'_\ell[a] = b_\ell[\pi_\ell(a)],

i.e. :math:`\pi_\ell` acts on the rows of :math:`W_\ell` and on :math:`b_\ell` (the
outgoing side of the units) and on the columns of :math:`W_{\ell+1}`. Unit a of the
permuted network is unit :math:`\pi_\ell(a)` of the original.

**Weight matching** maximises :math:`J(\pi) = \sum_\ell \langle W^A_\ell,
W'^B_\ell\rangle + \langle b^A_\ell, b'^B_\ell \rangle` (= :math:`x_A \cdot x_B'`) by
coordinate descent: for one :math:`\ell` at a time, the others fixed, the terms
that involve :math:`\pi_\ell` are :math:`\sum_a C[a, \pi_\ell(a)]` with

.. math:: C = W^A_\ell (W^B_\ell[:, \pi_{\ell-1}])^T + b^A_\ell (b^B_\ell)^T
          + (W^A_{\ell+1})^T W^B_{\ell+1}[\pi_{\ell+1}, :],

a linear assignment problem (``scipy.optimize.linear_sum_assignment(C,
maximize=True)``). Layers are visited in a random order each sweep (seeded), from
identity permutations; a layer's permutation changes only when its assignment
improves :math:`J` by more than :math:`10^{-12} \max(1, |J|)` (git-re-basin: an
absolute 1e-12; relative here so rounding in large sums cannot cycle), so
:math:`J` never decreases and the sweeps stop when one changes nothing (at most
``max_iter``, 100 as theirs).

**Activation matching** (their Algorithm 1; Entezari et al.): for each hidden layer
separately, the Pearson correlation :math:`C[a, b]` of unit a of A and unit b of B
over the data (post-activation), one assignment per layer maximising
:math:`\sum_a C[a, \pi_\ell(a)]` (a unit with constant activation correlates 0).
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np
from scipy.optimize import linear_sum_assignment

from .errors import TestbedError
from .nets import layout as _layout
from .nets import mlp as _kernels
from .nets.layout import Dense

__all__ = ["Alignment", "IMPROVEMENT", "activation_matching", "check_compatible",
           "hidden_activations", "hidden_widths", "identity", "mlp_blocks", "permute",
           "weight_matching"]

IMPROVEMENT = 1e-12          # relative improvement of J that counts as a change


@dataclasses.dataclass(frozen=True)
class Alignment:
    """Model B aligned to model A.

    Attributes
    ----------
    perms : tuple of int arrays
        One per hidden layer: unit a of the aligned network is unit ``perms[l][a]``
        of B.
    x : array (d,)
        B's parameters permuted (:func:`permute`): the same function as B.
    method : str
        ``"weight"`` or ``"activation"``.
    objective : tuple of float
        Weight matching: :math:`J` at the identity and after each sweep
        (non-decreasing). Activation matching: the mean matched correlation of each
        layer.
    sweeps : int
        Sweeps done (weight matching; 0 for activation matching).
    converged : bool
        Whether the last sweep changed nothing (weight matching; True for activation
        matching).
    """
    perms: tuple
    x: np.ndarray
    method: str
    objective: tuple
    sweeps: int
    converged: bool


def _describe(arch) -> str:
    return f"{arch[0].n_in}-" + "-".join(f"{b.n_out}:{b.act}" for b in arch) \
        if all(isinstance(b, Dense) for b in arch) else repr(arch)


def mlp_blocks(net) -> list:
    """The blocks of a plain MLP, checked.

    Parameters
    ----------
    net : Landscape or list of blocks
        A network landscape (:mod:`testbed.nets`) or its architecture.

    Returns
    -------
    list of Dense
        With at least one hidden layer.

    Raises
    ------
    TestbedError
        For a Residual or Norm block, a single layer, or not a network.
    """
    arch = _layout.blocks(net)
    for i, b in enumerate(arch):
        if not isinstance(b, Dense):
            raise TestbedError(f"permutation alignment handles plain MLPs of Dense layers; "
                               f"block {i} is {b!r}")
    if len(arch) < 2:
        raise TestbedError("a network with one Dense layer has no hidden units to permute")
    return arch


def check_compatible(net, net_b) -> list:
    """The architecture two networks share (alignment and merging need one).

    Parameters
    ----------
    net, net_b : Landscape or list of blocks
        Plain MLPs (``net_b`` None: only ``net`` is checked).

    Returns
    -------
    list of Dense

    Raises
    ------
    TestbedError
        Naming both architectures when they differ.
    """
    a = mlp_blocks(net)
    if net_b is None:
        return a
    b = mlp_blocks(net_b)
    if a != b:
        raise TestbedError(f"incompatible networks: A is {_describe(a)}, B is "
                           f"{_describe(b)}; alignment and merging need one architecture")
    return a


def hidden_widths(net) -> list[int]:
    """The widths of the hidden layers.

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP.

    Returns
    -------
    list of int
        The outputs of every Dense layer but the last.
    """
    return [b.n_out for b in mlp_blocks(net)[:-1]]


def _params(arch, x, name="x") -> np.ndarray:
    d = _layout.param_count(arch)
    try:
        v = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TestbedError(f"{name} must be an array of numbers, got {x!r}") from None
    if v.shape != (d,):
        raise TestbedError(f"{name} has shape {v.shape}, but the network "
                           f"{_describe(arch)} has {d} parameters: incompatible networks")
    if not np.all(np.isfinite(v)):
        raise TestbedError(f"{name} contains NaN or inf")
    return v


def _pieces(arch, x):
    """Per layer (W view (out, in), b view (out,) or None) into x."""
    table = {p.name: p for p in _layout.layout(arch)}
    out = []
    for l in range(len(arch)):
        W = table[f"layer{l}.W"]
        b = table.get(f"layer{l}.b")
        out.append((x[W.offset:W.offset + W.size].reshape(W.shape),
                    None if b is None else x[b.offset:b.offset + b.size]))
    return out


def identity(net) -> tuple:
    """The identity permutations.

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP.

    Returns
    -------
    tuple of int arrays
        ``arange(width)`` per hidden layer.
    """
    return tuple(np.arange(w) for w in hidden_widths(net))


def _check_perms(arch, perms) -> list:
    widths = [b.n_out for b in arch[:-1]]
    perms = list(perms)
    if len(perms) != len(widths):
        raise TestbedError(f"one permutation per hidden layer is needed ({len(widths)}), "
                           f"got {len(perms)}")
    out = []
    for l, (p, w) in enumerate(zip(perms, widths)):
        p = np.asarray(p)
        if p.shape != (w,) or p.dtype.kind not in "iu" or not np.array_equal(np.sort(p),
                                                                             np.arange(w)):
            raise TestbedError(f"perms[{l}] must be a permutation of 0..{w - 1}, got {p!r}")
        out.append(p.astype(np.int64))
    return out


def permute(net, x, perms) -> np.ndarray:
    r"""The parameters with hidden units permuted: :math:`W'_\ell = W_\ell[\pi_\ell][:,
    \pi_{\ell-1}]`, :math:`b'_\ell = b_\ell[\pi_\ell]`; the same function.

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP.
    x : array (d,)
    perms : sequence of int arrays
        One permutation of each hidden layer's units.

    Returns
    -------
    array (d,)
    """
    arch = mlp_blocks(net)
    x = _params(arch, x)
    perms = _check_perms(arch, perms)
    out = x.copy()
    src, dst = _pieces(arch, x), _pieces(arch, out)
    for l, ((W, b), (W2, b2)) in enumerate(zip(src, dst)):
        rows = perms[l] if l < len(perms) else np.arange(W.shape[0])
        cols = perms[l - 1] if l > 0 else np.arange(W.shape[1])
        W2[...] = W[rows][:, cols]
        if b is not None:
            b2[...] = b[rows]
    return out


def _cost(A, B, perms, l):
    """C[a, b] = the terms of J that pair unit a of A with unit b of B at layer l."""
    WA, bA = A[l]
    WB, bB = B[l]
    WB = WB[:, perms[l - 1]] if l > 0 else WB
    C = WA @ WB.T
    if bA is not None:
        C += np.outer(bA, bB)
    WA1 = A[l + 1][0]
    WB1 = B[l + 1][0]
    if l + 1 < len(perms):
        WB1 = WB1[perms[l + 1], :]
    return C + WA1.T @ WB1


def weight_matching(net, xa, xb, *, net_b=None, seed=0, max_iter=100) -> Alignment:
    r"""Align B to A by weight matching (Ainsworth et al. 2023): coordinate descent on
    :math:`J(\pi) = x_A \cdot x_B'` over one hidden layer's permutation at a time, each a
    linear assignment; see the module docstring.

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP (the architecture of A).
    xa, xb : array (d,)
        Parameters of A and B.
    net_b : Landscape or list of blocks, optional
        B's architecture, when it comes from another landscape: it must be A's.
    seed : int >= 0
        The random order of the layers in each sweep
        (``numpy.random.default_rng(seed)``).
    max_iter : int
        The most sweeps.

    Returns
    -------
    Alignment
        ``x`` is B permuted; ``objective`` J at the identity and after each sweep.

    Raises
    ------
    TestbedError
        For networks that are not plain MLPs, of different architectures, or
        parameter vectors of the wrong length.
    """
    arch = check_compatible(net, net_b)
    xa, xb = _params(arch, xa, "xa"), _params(arch, xb, "xb")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TestbedError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) \
            or max_iter < 1:
        raise TestbedError(f"max_iter must be a positive integer, got {max_iter!r}")
    rng = np.random.default_rng(seed)
    perms = list(identity(arch))
    A, B = _pieces(arch, xa), _pieces(arch, xb)
    history = [float(xa @ permute(arch, xb, perms))]
    converged = False
    sweeps = 0
    while sweeps < max_iter and not converged:
        sweeps += 1
        converged = True
        for l in rng.permutation(len(perms)):
            C = _cost(A, B, perms, l)
            rows = np.arange(C.shape[0])
            old = C[rows, perms[l]].sum()
            _, cols = linear_sum_assignment(C, maximize=True)
            new = C[rows, cols].sum()
            if new > old + IMPROVEMENT * max(1.0, abs(history[-1])):
                perms[l] = cols.astype(np.int64)
                converged = False
        history.append(float(xa @ permute(arch, xb, perms)))
    return Alignment(perms=tuple(perms), x=permute(arch, xb, perms), method="weight",
                     objective=tuple(history), sweeps=sweeps, converged=converged)


def hidden_activations(net, x, X) -> list[np.ndarray]:
    """The hidden layers' activations (after the nonlinearity).

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP.
    x : array (d,)
    X : array (m, n_in)
        Inputs.

    Returns
    -------
    list of arrays (m, width)
        One per hidden layer.
    """
    arch = mlp_blocks(net)
    x = _params(arch, x)
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != arch[0].n_in or X.shape[0] < 1:
        raise TestbedError(f"inputs must have shape (m, {arch[0].n_in}), got {X.shape}")
    out = []
    for l in range(len(arch) - 1):
        head = arch[:l + 1]
        p = _layout.pack(head, X, np.zeros((X.shape[0], arch[l].n_out)), "mse")
        d = _layout.param_count(head)
        out.append(_kernels.outputs(np.ascontiguousarray(x[:d]), p, X))
    return out


def _correlation(ZA, ZB) -> np.ndarray:
    A = ZA - ZA.mean(axis=0)
    B = ZB - ZB.mean(axis=0)
    sa = np.sqrt(np.mean(A * A, axis=0))
    sb = np.sqrt(np.mean(B * B, axis=0))
    A = A / np.where(sa > 0, sa, 1.0)           # constant units: zero columns
    B = B / np.where(sb > 0, sb, 1.0)
    return A.T @ B / ZA.shape[0]


def activation_matching(net, xa, xb, X=None, *, net_b=None) -> Alignment:
    r"""Align B to A by activation matching: per hidden layer, the assignment that
    maximises the summed Pearson correlation of matched units' activations on X.

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP (a landscape, if X is not given: its own inputs are used).
    xa, xb : array (d,)
    X : array (m, n_in), optional
        Inputs the activations are computed on.
    net_b : Landscape or list of blocks, optional
        B's architecture, which must be A's.

    Returns
    -------
    Alignment
        ``objective``: each layer's mean matched correlation.
    """
    arch = check_compatible(net, net_b)
    xa, xb = _params(arch, xa, "xa"), _params(arch, xb, "xb")
    if X is None:
        if isinstance(net, (list, tuple)):
            raise TestbedError("activation matching needs inputs: pass X, or a network "
                               "landscape whose own inputs are used")
        X = _layout.data(net)[0]
    perms, score = [], []
    for ZA, ZB in zip(hidden_activations(arch, xa, X), hidden_activations(arch, xb, X)):
        C = _correlation(ZA, ZB)
        rows, cols = linear_sum_assignment(C, maximize=True)
        perms.append(cols.astype(np.int64))
        score.append(float(C[rows, cols].mean()))
    return Alignment(perms=tuple(perms), x=permute(arch, xb, perms), method="activation",
                     objective=tuple(score), sweeps=0, converged=True)
