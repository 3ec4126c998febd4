r"""Classification metrics of network landscapes, at one parameter vector or many.

The predicted class of a sample is the index of its largest output (logit), the
true class the index of its largest target entry (one-hot rows); ties go to the
first index (``numpy.argmax``). Accuracy is the fraction of samples where they
agree, error :math:`1 -` accuracy (Frankle et al. 2020 and Wortsman et al. 2022
report test error and held-out accuracy in this sense).
"""
from __future__ import annotations

import numpy as np

from ..errors import TestbedError
from .layout import blocks, loss_name
from .layout import data as packed_data

__all__ = ["accuracy", "error", "on_data"]


def _classes(L, X, Y):
    """Inputs and true classes: the landscape's own data, or (X, Y) given."""
    arch = blocks(L)
    if (X is None) != (Y is None):
        raise TestbedError("pass both X and Y (other data) or neither (the network's own)")
    if X is None:
        X, Y = packed_data(L)
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    k = int(L.p[3])
    if Y.ndim != 2 or Y.shape[1] != k or X.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise TestbedError(f"data must be X (m, n_in) and one-hot Y (m, {k}) with as many "
                           f"rows; got {X.shape} and {Y.shape}")
    if k < 2:
        raise TestbedError(f"accuracy needs a classifier (k >= 2 outputs); network "
                           f"{L.name!r} has {k}")
    return arch, X, np.argmax(Y, axis=1)


def accuracy(L, x, X=None, Y=None):
    r"""The fraction of samples whose predicted class is the true one.

    Parameters
    ----------
    L : Landscape
        A network landscape (:mod:`testbed.nets`) with k >= 2 outputs.
    x : array (d,) or (..., d)
        Parameters: one network, or a stack (points along a path, an ensemble).
    X, Y : arrays (m, n_in), (m, k), optional
        Data (one-hot rows); default the network's own.

    Returns
    -------
    float, or array (...) for a stack
    """
    from . import outputs
    _, X, labels = _classes(L, X, Y)
    P = np.asarray(x, dtype=np.float64)
    if P.ndim < 1 or P.shape[-1] != L.d:
        raise TestbedError(f"x must have shape (..., {L.d}) for network {L.name!r}, got "
                           f"{P.shape}")
    flat = P.reshape(-1, L.d)
    acc = np.array([np.mean(np.argmax(outputs(L, row, X), axis=1) == labels)
                    for row in flat])
    return float(acc[0]) if P.ndim == 1 else acc.reshape(P.shape[:-1])


def error(L, x, X=None, Y=None):
    """The classification error, 1 - :func:`accuracy`.

    Parameters
    ----------
    L, x, X, Y
        As for :func:`accuracy`.

    Returns
    -------
    float, or array (...) for a stack
    """
    return 1.0 - accuracy(L, x, X, Y)


def on_data(L, X, Y, name=None):
    """The same network and loss as ``L`` on other data (a test or validation set), as
    a bound landscape: its value at x is the loss on (X, Y), its :func:`accuracy`
    the accuracy there.

    Parameters
    ----------
    L : Landscape
        A network landscape.
    X, Y : arrays (m, n_in), (m, k)
    name : str, optional

    Returns
    -------
    Landscape
    """
    from . import network
    return network(blocks(L), X, Y, loss_name(L), name=name)
