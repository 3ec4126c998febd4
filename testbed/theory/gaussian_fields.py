"""Critical points of isotropic Gaussian fields in high dimension: the shifted
semicircle law (Bray & Dean 2007; Dauphin et al. 2014, sec. 2), derived here for the
squared-exponential covariance C(r) = sigma^2 exp(-|r|^2 / (2 ell^2)).

Derivation (self-contained; Gaussian conditioning, checked numerically in
tests/test_gaussian_fields.py). Differentiating C at r = 0: Var f = sigma^2,
Cov(d_i f, d_j f) = sigma^2/ell^2 delta_ij, Cov(f, d_ij f) = -sigma^2/ell^2 delta_ij,
Cov(d_ij f, d_kl f) = sigma^2/ell^4 (delta_ij delta_kl + delta_ik delta_jl +
delta_il delta_jk), and the gradient is independent of (f, H) (odd derivatives of an
even kernel vanish at 0). Removing the part of the Hessian covariance that f
explains (sigma^2/ell^4 delta_ij delta_kl) leaves sigma^2/ell^4 (delta_ik delta_jl +
delta_il delta_jk): exactly a GOE. So, exactly,

    H | (f = u)  =  -(u / ell^2) I + (sigma / ell^2) G,   G ~ GOE(d)

(off-diagonal entries N(0, 1), diagonal N(0, 2)). At a critical point the condition
grad f = 0 is independent of (f, H) and only adds the Kac-Rice weight |det H|, which
moves the eigenvalue density at order 1/d (a large deviation of the GOE spectrum
costs O(d^2), the determinant weighs O(d)). To leading order in d, at a critical
point of height u:

- the Hessian spectrum is a semicircle of centre -u/ell^2, radius R = 2 sigma sqrt(d)/ell^2;
- the mean eigenvalue tr H / d has conditional mean -u/ell^2 (exactly, at any point);
- the index fraction is alpha(u) = F_sc(u / (2 sigma sqrt(d))), where
  F_sc(t) = 1/2 + (t sqrt(1 - t^2) + arcsin t) / pi on [-1, 1] (0 below, 1 above) is
  the semicircle's distribution function: alpha depends on u / (sigma sqrt(d)) only;
- below u_th = -2 sigma sqrt(d) critical points are minima; alpha(0) = 1/2.

This is the structure Bray & Dean state (critical points concentrate on a monotone
curve in the (energy, index) plane, with a shifted-semicircle Hessian); their
normalisation (covariance N F(|x - y|^2 / N), energies O(N)) differs, so the checks
rest on the formulas above, not on their notation.

Finite-size corrections used by the claims (standard random-matrix facts, cited, and
two derived here):

- GOE counting: the number of eigenvalues below a level has variance
  ~ log(d) / pi^2 in the bulk (Dyson-Mehta; Costin-Lebowitz), so a single index
  fraction scatters by ~ sqrt(log d) / (pi d) around F_sc;
- the edge: the extreme eigenvalues fluctuate on the scale R d^(-2/3) (Tracy-Widom),
  i.e. t moves by ~ d^(-2/3), so near |t| = 1 alpha scatters by ~ F_sc'(t) d^(-2/3);
- the Kac-Rice weight |det H| tilts the trace of the GOE part, tr G / d ~ N(0, 2/d),
  by exp(s sigma sum_i 1/mu_i) (mu_i the Hessian's eigenvalues), moving the spectrum's
  centre from -u/ell^2 to -(u/ell^2)(1 + 1/d) inside the bulk (the principal value of
  the semicircle's Stieltjes transform at 0 is 2c/R^2 for centre c, radius R);
- random features (K of them): tr H / d = -f / ell^2 + e with
  e = -sum_k A_k cos(theta_k) (|w_k|^2 ell^2 / d - 1) / ell^2, a field of standard
  deviation sigma sqrt(2 / d) / ell^2 (|w_k|^2 ell^2 is chi-square with d degrees of
  freedom), uncorrelated with f: it adds per-point scatter sigma sqrt(2/d)/ell^2 to
  the mean eigenvalue but no bias to its slope on -u; and the conditional shift
  -(u/ell^2) (1/K) sum_k w_k w_k^T ell^2 carries a Marchenko-Pastur spread of
  variance u^2 d / (K ell^4) on top of the semicircle's sigma^2 d / ell^4, which
  widens the spectrum by the factor sqrt(1 + 4 t^2 d / K) (see :func:`alpha_rff`).
"""
from __future__ import annotations

import math

import numpy as np


def semicircle_cdf(t):
    """F_sc(t): the fraction of a unit-radius semicircle's mass below t."""
    t = np.clip(np.asarray(t, dtype=float), -1.0, 1.0)
    return 0.5 + (t * np.sqrt(1.0 - t * t) + np.arcsin(t)) / math.pi


def semicircle_density(x, centre=0.0, radius=1.0):
    """Density of the semicircle law of the given centre and radius at x."""
    y = (np.asarray(x, dtype=float) - centre) / radius
    inside = np.abs(y) < 1.0
    return np.where(inside, 2.0 / (math.pi * radius) * np.sqrt(np.clip(1.0 - y * y, 0, 1)),
                    0.0)


def semicircle_cdf_inverse(alpha, tol=1e-13):
    """t with F_sc(t) = alpha (bisection; alpha in [0, 1])."""
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
    """t = u / (2 sigma sqrt(d)): the energy in units of the threshold |u_th|."""
    return np.asarray(u, dtype=float) / (2.0 * sigma * math.sqrt(d))


def alpha(u, d, sigma=1.0):
    """Predicted index fraction at a critical point of height u."""
    return semicircle_cdf(scaled_energy(u, d, sigma))


def energy_of_index(a, d, sigma=1.0):
    """The inverse curve: u(alpha) = 2 sigma sqrt(d) F_sc^-1(alpha)."""
    return 2.0 * sigma * math.sqrt(d) * semicircle_cdf_inverse(a)


def threshold_energy(d, sigma=1.0):
    """u_th = -2 sigma sqrt(d): below it, critical points are minima."""
    return -2.0 * sigma * math.sqrt(d)


def hessian_centre(u, ell=1.0):
    """Centre of the conditional Hessian spectrum (and its mean eigenvalue): -u/ell^2."""
    return -np.asarray(u, dtype=float) / ell**2


def hessian_radius(d, sigma=1.0, ell=1.0):
    """Radius of the semicircle: 2 sigma sqrt(d) / ell^2."""
    return 2.0 * sigma * math.sqrt(d) / ell**2


def alpha_rff(u, d, K, sigma=1.0):
    """alpha(u) with the random-feature widening of the spectrum (first order in d/K):
    F_sc(t / sqrt(1 + 4 t^2 d / K)). Tends to :func:`alpha` as K / d grows."""
    t = scaled_energy(u, d, sigma)
    return semicircle_cdf(t / np.sqrt(1.0 + 4.0 * t * t * d / K))


def goe(d, rng, size=None):
    """GOE matrices (off-diagonal N(0, 1), diagonal N(0, 2)), shape (size, d, d)."""
    n = 1 if size is None else size
    A = rng.standard_normal((n, d, d))
    G = (A + np.swapaxes(A, 1, 2)) / math.sqrt(2.0)
    return G[0] if size is None else G


def rff_covariance_sd(r, ell=1.0, sigma=1.0, K=1):
    """Standard deviation of the random-feature covariance estimator
    sigma^2 (1/K) sum_k cos(w_k . r) about sigma^2 exp(-|r|^2/(2 ell^2)):
    sigma^2 (1 - k(r)^2) / sqrt(2K) (exact)."""
    k = np.exp(-np.asarray(r, dtype=float) ** 2 / (2.0 * ell**2))
    return sigma**2 * (1.0 - k * k) / math.sqrt(2.0 * K)
