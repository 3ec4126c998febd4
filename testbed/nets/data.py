"""Small data sets that need no download.

- :func:`digits`: the 8x8 handwritten digits that scikit-learn ships
  (``sklearn.datasets.load_digits``: 1797 images, 64 pixels with values 0..16);
- :func:`teacher_student`: Gaussian inputs labelled by a random "teacher" network;
- :func:`moons`, :func:`circles`, :func:`spirals`: 2-D classification sets drawn
  with NumPy (seeded).

Each returns ``(X, Y)`` as float64 arrays, X (n, n_in) and Y (n, k); classification
targets are one-hot rows (:func:`one_hot`), as the squared loss and cross-entropy both
expect.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from ..errors import TestbedError


def _count(value, what, low=1, high=None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise TestbedError(f"{what} must be an integer in {rng}, got {value!r}")
    return int(value)


def one_hot(labels, k=None) -> np.ndarray:
    r"""Rows :math:`e_{\text{label}}` of the :math:`k \times k` identity; labels must be
    integers in :math:`[0, k)` (default :math:`k`: the largest label + 1)."""
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise TestbedError(f"labels must be a 1-D array, got shape {lab.shape}")
    if lab.dtype.kind == "f":
        if not np.all(np.isfinite(lab)):
            raise TestbedError("labels contain NaN or inf")
        if np.any(lab != np.round(lab)):
            raise TestbedError("labels must be whole numbers (class indices)")
    elif lab.dtype.kind not in "iub":
        raise TestbedError(f"labels must be integers, got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    k = int(lab.max()) + 1 if k is None and lab.size else k
    k = _count(k, "the number of classes k")
    bad = (lab < 0) | (lab >= k)
    if bad.any():
        raise TestbedError(f"label {int(lab[bad][0])} (sample {int(np.argmax(bad))}) is out "
                           f"of range for k = {k} classes [0, {k})")
    Y = np.zeros((lab.size, k))
    Y[np.arange(lab.size), lab] = 1.0
    return Y


@functools.lru_cache(maxsize=2)
def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:                               # pragma: no cover
        raise TestbedError("the digits data set comes with scikit-learn: "
                           "pip install scikit-learn") from None
    d = load_digits()
    X = np.ascontiguousarray(d.data, dtype=np.float64)
    y = np.asarray(d.target, dtype=np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def digits(n=1797, standardize=False, permute_seed=None):
    """The first ``n`` of scikit-learn's 1797 8x8 digit images (after a seeded
    permutation if ``permute_seed`` is given): X = pixels / 16 in [0, 1], and, with
    ``standardize``, each pixel centred and scaled by its standard deviation over
    these n (constant pixels left at 0); Y one-hot over the 10 classes."""
    Xall, yall = _load_digits()
    n = _count(n, "n (digits samples)", 1, Xall.shape[0])
    order = np.arange(Xall.shape[0])
    if permute_seed is not None:
        order = np.random.default_rng(permute_seed).permutation(Xall.shape[0])
    X = Xall[order[:n]] / 16.0
    if standardize:
        mu = X.mean(axis=0)
        sd = X.std(axis=0)
        X = (X - mu) / np.where(sd > 0, sd, 1.0)
    return np.ascontiguousarray(X), one_hot(yall[order[:n]], 10)


def teacher_student(n, blocks, seed=0, noise=0.0, scheme="lecun"):
    """Inputs X ~ N(0, I) (n, n_in) and targets Y = teacher(X) + noise * N(0, 1),
    the teacher being the network ``blocks`` at ``init_params(blocks, seed, scheme)``.
    Returns (X, Y, teacher parameters)."""
    from . import mlp as _k
    from .layout import _io, check_blocks, init_params, pack
    blocks = check_blocks(blocks)
    n = _count(n, "n (samples)")
    if not (isinstance(noise, numbers.Real) and np.isfinite(noise) and noise >= 0):
        raise TestbedError(f"noise must be a finite number >= 0, got {noise!r}")
    theta = init_params(blocks, seed, scheme)
    rng = np.random.default_rng([int(seed), 1])
    X = rng.standard_normal((n, _io(blocks[0])[0]))
    k = _io(blocks[-1])[1]
    p = pack(blocks, X, np.zeros((n, k)))
    Y = _k.outputs(theta, p, X)
    if noise > 0:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return X, Y, theta


def _noise_and_n(n, noise, n_classes):
    n = _count(n, "n (samples)", n_classes)
    if not (isinstance(noise, numbers.Real) and np.isfinite(noise) and noise >= 0):
        raise TestbedError(f"noise must be a finite number >= 0, got {noise!r}")
    return n


def moons(n=200, noise=0.1, seed=0):
    """Two interleaving half circles (scikit-learn's make_moons construction): class 0
    on (cos t, sin t), class 1 on (1 - cos t, 1/2 - sin t), t uniform on [0, pi] in
    equal steps, plus N(0, noise^2) jitter."""
    n = _noise_and_n(n, noise, 2)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    return X, one_hot(y, 2)


def circles(n=200, noise=0.05, factor=0.5, seed=0):
    """Two concentric circles, radius 1 (class 0) and ``factor`` (class 1), angles in
    equal steps, plus N(0, noise^2) jitter."""
    n = _noise_and_n(n, noise, 2)
    if not (isinstance(factor, numbers.Real) and 0 < factor < 1):
        raise TestbedError(f"factor must be in (0, 1), got {factor!r}")
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], factor * np.c_[np.cos(t1), np.sin(t1)]])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    return X, one_hot(y, 2)


def spirals(n=300, classes=3, turns=1.0, noise=0.05, seed=0):
    """``classes`` interleaved spiral arms: arm c at radius r in (0, 1] and angle
    2 pi (turns r + c / classes), plus N(0, noise^2) jitter (Karpathy's CS231n toy)."""
    classes = _count(classes, "classes", 2)
    n = _noise_and_n(n, noise, classes)
    rng = np.random.default_rng(seed)
    counts = [n // classes + (1 if c < n % classes else 0) for c in range(classes)]
    pts, lab = [], []
    for c, m in enumerate(counts):
        r = np.linspace(1.0 / m, 1.0, m)
        ang = 2 * np.pi * (turns * r + c / classes)
        pts.append(np.c_[r * np.cos(ang), r * np.sin(ang)])
        lab.append(np.full(m, c, np.int64))
    X = np.concatenate(pts) + noise * rng.standard_normal((n, 2))
    return X, one_hot(np.concatenate(lab), classes)

__all__ = ["circles", "digits", "moons", "one_hot", "spirals", "teacher_student"]
