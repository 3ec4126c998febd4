r"""Merging models by averaging their parameters: uniform and greedy soups (Wortsman
et al. 2022), spherical interpolation (SLERP) per tensor, and the merge after
permutation alignment (Ainsworth et al. 2023).

- **Uniform soup** (Wortsman, Ilharco, Gadre, Roelofs, Gontijo-Lopes, Morcos,
  Namkoong, Farhadi, Carmon, Kornblith & Schmidt 2022, "Model soups", ICML,
  arXiv:2203.05482; code mlfoundations/model-soups): :math:`\frac1K \sum_k
  \theta_k`.
- **Greedy soup** (same): ingredients sorted by held-out score, best first; the soup
  starts as the best; each next ingredient is tried as the running average
  :math:`(n\,\theta_{soup} + \theta_{new})/(n+1)` and kept iff the held-out score of
  that average is **strictly** greater than the best so far. So the soup's held-out
  score is at least the best ingredient's, by construction.
- **SLERP** (Shoemake 1985; as arcee-ai/mergekit's slerp merge applies it to models):
  for tensors :math:`v_0, v_1`, :math:`\hat v_i = v_i / \lVert v_i \rVert` (left as is
  when :math:`\lVert v_i \rVert \le 10^{-8}`), :math:`\cos\Omega = \langle \hat v_0,
  \hat v_1 \rangle`; if :math:`|\cos\Omega| > 0.9995` the lerp :math:`(1-t) v_0 +
  t v_1`, else :math:`\frac{\sin((1-t)\Omega)}{\sin\Omega} v_0 +
  \frac{\sin(t\Omega)}{\sin\Omega} v_1` -- the angle from the normalised tensors,
  the coefficients applied to the unnormalised ones. For networks, per tensor
  (each weight matrix and each bias separately), not on the flattened model.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from .errors import TestbedError
from .objective.landscape import Landscape

__all__ = ["DOT_THRESHOLD", "NORM_EPS", "Soup", "aligned_soup", "greedy_soup", "slerp",
           "slerp_model", "uniform_soup"]

DOT_THRESHOLD = 0.9995       # mergekit: above, the tensors are treated as colinear
NORM_EPS = 1e-8              # mergekit: tensors shorter than this are not normalised


def _stack(xs, name="xs") -> np.ndarray:
    try:
        X = np.array(xs, dtype=np.float64)
    except (TypeError, ValueError):
        raise TestbedError(f"{name} must be K parameter vectors of one shape (K, d); got "
                           f"pieces of different shapes or non-numbers") from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise TestbedError(f"{name} must have shape (K, d) with K >= 1, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise TestbedError(f"{name} contains NaN or inf")
    return X


def uniform_soup(xs) -> np.ndarray:
    r"""The uniform soup :math:`\frac1K \sum_k \theta_k`.

    Parameters
    ----------
    xs : array (K, d)
        The ingredients.

    Returns
    -------
    array (d,)
    """
    return _stack(xs).mean(axis=0)


@dataclasses.dataclass(frozen=True)
class Soup:
    """A greedy soup.

    Attributes
    ----------
    x : array (d,)
        The soup.
    kept : tuple of int
        Indices (into the ingredients) of those in the soup, in the order added.
    scores : array (K,)
        Each ingredient's held-out score.
    score : float
        The soup's held-out score (>= max(scores)).
    """
    x: np.ndarray
    kept: tuple
    scores: np.ndarray
    score: float


def _scorer(score):
    if isinstance(score, Landscape):
        from .nets.metrics import accuracy
        return lambda x: accuracy(score, x)
    if not callable(score):
        raise TestbedError(f"score must be a callable x -> held-out score or a network "
                           f"landscape on held-out data (its accuracy), got {score!r}")

    def checked(x):
        s = score(x)
        if not isinstance(s, numbers.Real) or math.isnan(s):
            raise TestbedError(f"score must return a number, got {s!r}")
        return float(s)
    return checked


def greedy_soup(xs, score) -> Soup:
    r"""Wortsman et al.'s greedy soup: add ingredients, best held-out score first, to a
    running average, keeping each only if the average's held-out score is strictly
    greater than the best so far.

    Parameters
    ----------
    xs : array (K, d)
        The ingredients (models fine-tuned from one initialisation).
    score : callable or Landscape
        ``score(x) -> float``, higher is better (held-out accuracy); or a network
        landscape on held-out data, scored by :func:`testbed.nets.metrics.accuracy`.

    Returns
    -------
    Soup
        With ``score >= max(scores)`` by construction.
    """
    X = _stack(xs)
    fn = _scorer(score)
    scores = np.array([fn(x) for x in X])
    order = np.argsort(-scores, kind="stable")
    soup = X[order[0]].copy()
    kept = [int(order[0])]
    best = float(scores[order[0]])
    for k in order[1:]:
        n = len(kept)
        candidate = soup * (n / (n + 1)) + X[k] / (n + 1)
        s = fn(candidate)
        if s > best:
            soup, best = candidate, s
            kept.append(int(k))
    return Soup(x=soup, kept=tuple(kept), scores=scores, score=best)


def _t(t) -> float:
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0.0 <= t <= 1.0:
        raise TestbedError(f"t must be a number in [0, 1], got {t!r}")
    return float(t)


def slerp(v0, v1, t) -> np.ndarray:
    r"""Spherical interpolation of two tensors as mergekit computes it: the angle
    :math:`\Omega` from the normalised tensors, the coefficients
    :math:`\sin((1-t)\Omega)/\sin\Omega` and :math:`\sin(t\Omega)/\sin\Omega` applied to
    the unnormalised ones; the lerp :math:`(1-t) v_0 + t v_1` when
    :math:`|\cos\Omega| > 0.9995`.

    Parameters
    ----------
    v0, v1 : arrays of one shape
    t : float
        In [0, 1].

    Returns
    -------
    array
        Of the tensors' shape; :math:`v_0` at t = 0 and :math:`v_1` at t = 1 (to
        rounding). If :math:`\lVert v_0 \rVert = \lVert v_1 \rVert` it keeps that norm
        and makes the angle :math:`t\Omega` with :math:`v_0`.
    """
    a = np.asarray(v0, dtype=np.float64)
    b = np.asarray(v1, dtype=np.float64)
    if a.shape != b.shape:
        raise TestbedError(f"slerp needs tensors of one shape, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise TestbedError("slerp: tensors contain NaN or inf")
    t = _t(t)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua = a / na if na > NORM_EPS else a
    ub = b / nb if nb > NORM_EPS else b
    dot = float(np.sum(ua * ub))
    if abs(dot) > DOT_THRESHOLD:
        return (1.0 - t) * a + t * b
    omega = math.acos(dot)
    s = math.sin(omega)
    return (math.sin((1.0 - t) * omega) / s) * a + (math.sin(t * omega) / s) * b


def slerp_model(net, x0, x1, t) -> np.ndarray:
    """:func:`slerp` applied per tensor (each weight matrix and each bias, or each
    LayerNorm gamma / beta) of a network, mergekit's convention.

    Parameters
    ----------
    net : Landscape or list of blocks
        A network (:mod:`testbed.nets`).
    x0, x1 : array (d,)
    t : float
        In [0, 1].

    Returns
    -------
    array (d,)
    """
    from .nets import layout
    pieces = layout.layout(net)
    d = layout.param_count(layout.blocks(net))
    for name, x in (("x0", x0), ("x1", x1)):
        if np.shape(x) != (d,):
            raise TestbedError(f"{name} has shape {np.shape(x)}, but the network has {d} "
                               f"parameters")
    X = _stack([x0, x1], "x0, x1")
    out = np.empty(d)
    for p in pieces:
        sl = slice(p.offset, p.offset + p.size)
        out[sl] = slerp(X[0, sl], X[1, sl], t)
    return out


def aligned_soup(net, xs, reference=0, *, method="weight", X=None, seed=0):
    r"""The uniform soup after aligning every model to one reference by permuting its
    hidden units (Ainsworth et al. 2023): :math:`\frac1K \sum_k \pi_k(\theta_k)`,
    :math:`\pi_{ref}` the identity.

    Parameters
    ----------
    net : Landscape or list of blocks
        A plain MLP (:func:`testbed.align.mlp_blocks`).
    xs : array (K, d)
        The models.
    reference : int
        The index of the model the others are aligned to.
    method : {"weight", "activation"}
        :func:`testbed.align.weight_matching` (with ``seed``) or
        :func:`testbed.align.activation_matching` (on inputs ``X``, default the
        network's own).

    Returns
    -------
    (array (d,), list of Alignment)
        The soup, and each model's alignment (None for the reference).
    """
    from . import align
    Xs = _stack(xs)
    if isinstance(reference, bool) or not isinstance(reference, numbers.Integral) \
            or not 0 <= reference < Xs.shape[0]:
        raise TestbedError(f"reference must be an index in [0, {Xs.shape[0]}), got "
                           f"{reference!r}")
    if method not in ("weight", "activation"):
        raise TestbedError(f"method must be 'weight' or 'activation', got {method!r}")
    ref = Xs[reference]
    aligned, alignments = [], []
    for k, x in enumerate(Xs):
        if k == reference:
            aligned.append(ref)
            alignments.append(None)
            continue
        a = (align.weight_matching(net, ref, x, seed=seed) if method == "weight"
             else align.activation_matching(net, ref, x, X))
        aligned.append(a.x)
        alignments.append(a)
    return uniform_soup(aligned), alignments
