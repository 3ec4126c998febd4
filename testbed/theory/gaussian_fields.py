r"""Critical points of isotropic Gaussian fields in high dimension: the shifted
semicircle law (Bray & Dean 2007; Dauphin et al. 2014, sec. 2), derived here for the
squared-exponential covariance
:math:`C(r) = \sigma^2 \exp(-\lVert r \rVert^2 / (2 \ell^2))`.

**Derivation** (self-contained; Gaussian conditioning, checked numerically in
tests/test_gaussian_fields.py). Differentiating :math:`C` at :math:`r = 0`:
:math:`\operatorname{Var} f = \sigma^2`,
:math:`\operatorname{Cov}(\partial_i f, \partial_j f) = \sigma^2/\ell^2\, \delta_{ij}`,
:math:`\operatorname{Cov}(f, \partial_{ij} f) = -\sigma^2/\ell^2\, \delta_{ij}`,
:math:`\operatorname{Cov}(\partial_{ij} f, \partial_{kl} f) = \sigma^2/\ell^4\,
(\delta_{ij} \delta_{kl} + \delta_{ik} \delta_{jl} + \delta_{il} \delta_{jk})`, and
the gradient is independent of :math:`(f, H)` (odd derivatives of an even kernel
vanish at 0). Removing the part of the Hessian covariance that :math:`f` explains
(:math:`\sigma^2/\ell^4\, \delta_{ij} \delta_{kl}`) leaves
:math:`\sigma^2/\ell^4\, (\delta_{ik} \delta_{jl} + \delta_{il} \delta_{jk})`:
exactly a GOE. So, exactly,

.. math::

    H \mid (f = u) = -\frac{u}{\ell^2} I + \frac{\sigma}{\ell^2} G,
    \qquad G \sim \text{GOE}(d)

(off-diagonal entries :math:`N(0, 1)`, diagonal :math:`N(0, 2)`). At a critical
point the condition :math:`\nabla f = 0` is independent of :math:`(f, H)` and only
adds the Kac-Rice weight :math:`|\det H|`, which moves the eigenvalue density at
order :math:`1/d` (a large deviation of the GOE spectrum costs :math:`O(d^2)`, the
determinant weighs :math:`O(d)`). To leading order in :math:`d`, at a critical point
of height :math:`u`:

- the Hessian spectrum is a semicircle of centre :math:`-u/\ell^2`, radius
  :math:`R = 2 \sigma \sqrt{d} / \ell^2`;
- the mean eigenvalue :math:`\operatorname{tr} H / d` has conditional mean
  :math:`-u/\ell^2` (exactly, at any point);
- the index fraction is :math:`\alpha(u) = F_{sc}(u / (2 \sigma \sqrt{d}))`, where
  :math:`F_{sc}(t) = \frac12 + (t \sqrt{1 - t^2} + \arcsin t) / \pi` on
  :math:`[-1, 1]` (0 below, 1 above) is the semicircle's distribution function:
  :math:`\alpha` depends on :math:`u / (\sigma \sqrt{d})` only;
- below :math:`u_{th} = -2 \sigma \sqrt{d}` critical points are minima;
  :math:`\alpha(0) = 1/2`.

This is the structure Bray & Dean state (critical points concentrate on a monotone
curve in the (energy, index) plane, with a shifted-semicircle Hessian); their
normalisation (covariance :math:`N F(\lVert x - y \rVert^2 / N)`, energies
:math:`O(N)`) differs, so the checks rest on the formulas above, not on their
notation.

**Finite-size corrections** used by the claims (standard random-matrix facts, cited,
and two derived here):

- GOE counting: the number of eigenvalues below a level has variance
  :math:`\sim \log(d) / \pi^2` in the bulk (Dyson-Mehta; Costin-Lebowitz), so a
  single index fraction scatters by :math:`\sim \sqrt{\log d} / (\pi d)` around
  :math:`F_{sc}`;
- the edge: the extreme eigenvalues fluctuate on the scale :math:`R d^{-2/3}`
  (Tracy-Widom), i.e. :math:`t` moves by :math:`\sim d^{-2/3}`, so near
  :math:`|t| = 1` :math:`\alpha` scatters by :math:`\sim F_{sc}'(t) d^{-2/3}`;
- the Kac-Rice weight :math:`|\det H|` tilts the trace of the GOE part,
  :math:`\operatorname{tr} G / d \sim N(0, 2/d)`, by
  :math:`\exp(s \sigma \sum_i 1/\mu_i)` (:math:`\mu_i` the Hessian's eigenvalues),
  moving the spectrum's centre from :math:`-u/\ell^2` to
  :math:`-(u/\ell^2)(1 + 1/d)` inside the bulk (the principal value of the
  semicircle's Stieltjes transform at 0 is :math:`2c/R^2` for centre :math:`c`,
  radius :math:`R`);
- random features (:math:`K` of them):
  :math:`\operatorname{tr} H / d = -f / \ell^2 + e` with
  :math:`e = -\sum_k A_k \cos(\theta_k) (\lVert w_k \rVert^2 \ell^2 / d - 1) /
  \ell^2`, a field of standard deviation :math:`\sigma \sqrt{2/d} / \ell^2`
  (:math:`\lVert w_k \rVert^2 \ell^2` is chi-square with :math:`d` degrees of
  freedom), uncorrelated with :math:`f`: it adds per-point scatter
  :math:`\sigma \sqrt{2/d} / \ell^2` to the mean eigenvalue but no bias to its slope
  on :math:`-u`; and the conditional shift
  :math:`-(u/\ell^2) (1/K) \sum_k w_k w_k^T \ell^2` carries a Marchenko-Pastur
  spread of variance :math:`u^2 d / (K \ell^4)` on top of the semicircle's
  :math:`\sigma^2 d / \ell^4`, which widens the spectrum by the factor
  :math:`\sqrt{1 + 4 t^2 d / K}` (see :func:`alpha_rff`).
"""
from __future__ import annotations

import math

import numpy as np


def semicircle_cdf(t):
    r""":math:`F_{sc}(t)`: the fraction of a unit-radius semicircle's mass below
    :math:`t`."""
    t = np.clip(np.asarray(t, dtype=float), -1.0, 1.0)
    return 0.5 + (t * np.sqrt(1.0 - t * t) + np.arcsin(t)) / math.pi


def semicircle_density(x, centre=0.0, radius=1.0):
    """Density of the semicircle law of the given centre and radius at x."""
    y = (np.asarray(x, dtype=float) - centre) / radius
    inside = np.abs(y) < 1.0
    return np.where(inside, 2.0 / (math.pi * radius) * np.sqrt(np.clip(1.0 - y * y, 0, 1)),
                    0.0)


def semicircle_cdf_inverse(alpha, tol=1e-13):
    r""":math:`t` with :math:`F_{sc}(t) = \alpha` (bisection; :math:`\alpha \in [0, 1]`)."""
    a = np.asarray(alpha, dtype=float)
    lo, hi = -np.ones_like(a), np.ones_like(a)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = semicircle_cdf(mid) < a
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        if np.max(hi - lo) < tol:
            break
    return 0.5 * (lo + hi)


def scaled_energy(u, d, sigma=1.0):
    r""":math:`t = u / (2 \sigma \sqrt{d})`: the energy in units of the threshold
    :math:`|u_{th}|`."""
    return np.asarray(u, dtype=float) / (2.0 * sigma * math.sqrt(d))


def alpha(u, d, sigma=1.0):
    r"""Predicted index fraction at a critical point of height :math:`u`:
    :math:`\alpha(u) = F_{sc}(u / (2 \sigma \sqrt{d}))`."""
    return semicircle_cdf(scaled_energy(u, d, sigma))


def energy_of_index(a, d, sigma=1.0):
    r"""The inverse curve: :math:`u(\alpha) = 2 \sigma \sqrt{d}\, F_{sc}^{-1}(\alpha)`."""
    return 2.0 * sigma * math.sqrt(d) * semicircle_cdf_inverse(a)


def threshold_energy(d, sigma=1.0):
    r""":math:`u_{th} = -2 \sigma \sqrt{d}`: below it, critical points are minima."""
    return -2.0 * sigma * math.sqrt(d)


def hessian_centre(u, ell=1.0):
    r"""Centre of the conditional Hessian spectrum (and its mean eigenvalue):
    :math:`-u/\ell^2`."""
    return -np.asarray(u, dtype=float) / ell**2


def hessian_radius(d, sigma=1.0, ell=1.0):
    r"""Radius of the semicircle: :math:`2 \sigma \sqrt{d} / \ell^2`."""
    return 2.0 * sigma * math.sqrt(d) / ell**2


def alpha_rff(u, d, K, sigma=1.0):
    r""":math:`\alpha(u)` with the random-feature widening of the spectrum (first order
    in :math:`d/K`): :math:`F_{sc}(t / \sqrt{1 + 4 t^2 d / K})`. Tends to
    :func:`alpha` as :math:`K / d` grows."""
    t = scaled_energy(u, d, sigma)
    return semicircle_cdf(t / np.sqrt(1.0 + 4.0 * t * t * d / K))


def goe(d, rng, size=None):
    r"""GOE matrices (off-diagonal :math:`N(0, 1)`, diagonal :math:`N(0, 2)`), shape
    (size, d, d), or one (d, d) matrix when ``size`` is None."""
    n = 1 if size is None else size
    A = rng.standard_normal((n, d, d))
    G = (A + np.swapaxes(A, 1, 2)) / math.sqrt(2.0)
    return G[0] if size is None else G


def rff_covariance_sd(r, ell=1.0, sigma=1.0, K=1):
    r"""Standard deviation of the random-feature covariance estimator
    :math:`\sigma^2 \frac{1}{K} \sum_k \cos(w_k \cdot r)` about
    :math:`\sigma^2 k(r)`, :math:`k(r) = \exp(-\lVert r \rVert^2 / (2 \ell^2))`:
    :math:`\sigma^2 (1 - k(r)^2) / \sqrt{2K}` (exact)."""
    k = np.exp(-np.asarray(r, dtype=float) ** 2 / (2.0 * ell**2))
    return sigma**2 * (1.0 - k * k) / math.sqrt(2.0 * K)
