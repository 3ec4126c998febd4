"""The digits MLPs of the mode-connectivity, weight-matching and model-soups claims
(P1's calibrated recipe, claims-part1.md sec. 5 and 6; Garipov et al. 2018,
Ainsworth et al. 2023, Wortsman et al. 2022).

Data: scikit-learn's 8x8 digits (pixels / 16, one-hot targets) split by the seeded
permutation ``SPLIT_SEED`` = 123 (:func:`testbed.nets.splits.split`) into
``n_train`` training, ``n_val`` held-out and ``n_test`` test images (P1: 1000 / 300 /
497). Network: a ReLU MLP 64 -> ``hidden`` -> 10 with biases, cross-entropy on the
training set; He initialisation (W ~ N(0, 2 / fan_in), b = 0), network k of a list
of seeds drawing its initialisation from ``numpy.random.default_rng(seed_k)``.

Training: the engine's rule ``sgd_momentum`` (PyTorch's SGD with momentum,
buf <- mu buf + g_B, x <- x - lr buf, the training set reshuffled every epoch),
all the networks of one call as one ensemble, replica k drawing its batches from
the stream (stream seed, k); ``epochs`` epochs are ``epochs * ceil(n / batch)``
steps.
"""
from __future__ import annotations

import math

import numpy as np

SPLIT_SEED = 123


def sets(params, hidden=None) -> dict:
    """The network on the training set and the same network on the held-out and test
    sets.

    Parameters
    ----------
    params : dict
        ``n_train``, ``n_val``, ``n_test`` and ``hidden`` (the hidden widths).
    hidden : sequence of int, optional
        Other hidden widths than ``params["hidden"]``.

    Returns
    -------
    dict
        ``train``, ``val``, ``test``: bound landscapes (mean cross-entropy on each
        set; :func:`testbed.nets.metrics.accuracy` of each is its accuracy), and
        ``X_train`` (the training inputs, for activation matching).
    """
    from ..nets import data, feedforward
    from ..nets.metrics import on_data
    from ..nets.splits import split
    widths = tuple(params["hidden"] if hidden is None else hidden)
    X, Y = data.digits()
    (Xtr, Ytr), (Xva, Yva), (Xte, Yte) = split(
        X, Y, (params["n_train"], params["n_val"], params["n_test"]), seed=SPLIT_SEED)
    name = f"digits-relu-{'-'.join(map(str, widths))}"
    L = feedforward((64, *widths, 10), Xtr, Ytr, act="relu", loss="ce",
                    name=f"{name}-train{params['n_train']}")
    return {"train": L, "val": on_data(L, Xva, Yva, name=f"{name}-val"),
            "test": on_data(L, Xte, Yte, name=f"{name}-test"), "X_train": Xtr}


def init(L, seeds) -> np.ndarray:
    """He initialisations (N, d), one row per seed."""
    from ..nets import init_params
    return np.atleast_2d(init_params(L, seed=[int(s) for s in seeds], scheme="he"))


def steps(L, epochs, batch) -> int:
    """``epochs`` passes over the landscape's samples in batches of ``batch``."""
    n = int(L.oracle.n_samples(L.p))
    return int(epochs) * math.ceil(n / int(batch))


def train(L, X0, epochs, params, seed, lr=None):
    """The rows of ``X0`` trained as one ensemble with ``sgd_momentum``.

    Parameters
    ----------
    L : Landscape
        The training landscape.
    X0 : array (N, d)
        Starting points.
    epochs : int
    params : dict
        ``lr``, ``momentum``, ``batch``.
    seed : int
        The stream seed: replica k draws its batches from (seed, k).
    lr : float or array (N,), optional
        Step size per replica (default ``params["lr"]``).

    Returns
    -------
    (array (N, d), array (N,) of bool)
        The trained parameters and which replicas diverged.
    """
    from .. import run
    if int(epochs) == 0:
        return np.array(X0, dtype=float), np.zeros(len(X0), bool)
    res = run(L, "sgd_momentum", X0, steps(L, epochs, params["batch"]), seed=seed,
              observe=(), eta=params["lr"] if lr is None else lr,
              momentum=params["momentum"], batch=params["batch"])
    return res.x, np.asarray(res.diverged, bool)


def along(nets, points) -> dict:
    """Training loss and test error at points of paths.

    Parameters
    ----------
    nets : dict
        From :func:`sets`.
    points : array (..., d)

    Returns
    -------
    dict
        ``loss`` (training cross-entropy) and ``error`` (test error), arrays (...).
    """
    from ..nets.metrics import error
    from ..paths import losses
    return {"loss": losses(nets["train"], points),
            "error": np.asarray(error(nets["test"], points))}
