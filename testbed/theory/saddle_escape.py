"""Escape of (noisy) gradient descent from the strict saddle of benchmark B1.

B1 is f(x) = sum_i (lambda_i x_i^2/2 + q x_i^4/4) with lambda_1 = -gamma < 0, run as
x <- x - eta grad f(x) + sigma xi, xi ~ N(0, I), x(0) = 0; escape step T = first t
with |x_1(t)| > R. f is separable and the noise independent per coordinate, so x_1
alone is an exact 1-D Markov chain  x <- phi(x) + sigma xi,  phi(x) = x + eta(gamma x - q x^3).

Koenigs coordinate. 0 is a repelling fixed point of phi, multiplier mu = 1 + eta gamma.
If phi' > 0 on [0, R] (checked; else TestbedError) and R < sqrt(gamma/q), phi has an
increasing inverse psi there with 0 < psi(x) < x, and h(x) = lim_n mu^n psi^n(x) solves
h(phi(x)) = mu h(x), h odd, increasing, h(x) = x + c3 x^3 + c5 x^5 + O(x^7) with
c3 = eta q/(mu(mu^2-1)), c5 = 3 eta q mu c3/(mu^4-1). Numerically: pull back with psi
(Newton) until |z| < 1e-3 sqrt(gamma/q), then h = mu^n (z + c3 z^3 + c5 z^5)
(relative error ~(q z^2/gamma)^3 ~ 1e-18). Deterministic GD is then exact:
h(x_t) = mu^t h(delta), so the first t with x_t > R is floor(ln(h(R)/h(delta))/ln mu) + 1
(= ceil unless that ratio is an integer, where the strict '>' needs the +1).

Noisy chain. With y = h(x) the step is exactly y' = mu y + sigma h'(x~) xi (x~ a
mean-value point). Replacing h' by 1 gives the linear chain y_t = sigma sum_{j<t}
mu^(t-1-j) xi_j ~ N(0, v_t), v_t = sigma^2 (mu^(2t)-1)/(mu^2-1); equivalently
Y_t = y_t mu^-t ~ N(0, s^2 (1-mu^-2t)) -> Y ~ N(0, s^2), s = sigma/sqrt(mu^2-1).
|x_t| > R <=> |y_t| > H := h(R) exactly, and |y_t| grows monotonically once it is
large (un-crossing H would need a noise of ~(mu-1)H/sigma standard deviations), so
    P(T <= t) = P(|y_t| > H) = 2 Phibar(H mu^-t / (s sqrt(1 - mu^-2t))),
with P(T <= 0) = 0; the pmf is its first difference (discreteness exact), and mean/std
are those of the pmf on [0, t_max], conditional on escape; p_not_escaped = P(T > t_max).
For t -> inf this is T = ceil(log_mu(H/|Y|)): E T ~ (ln(H/s) + (gamma_E + ln 2)/2)/ln mu
+ 1/2, sd T ~ sqrt(pi^2/8)/ln mu.

Error sources (all tiny for B1, see the fields of EscapeDistribution):
 * h' - 1 <= kappa x^2 on [0, R]. Along a path that escapes at T, x_j <= H mu^(j-T), so
   the neglected part of Y has relative size ~ sigma kappa H/sqrt(mu^2-1), i.e. a
   zero-mean jitter of T of order `model_error_steps` (~2e-3 steps for B1); the
   Ito-type drift sigma^2 h''/2 is of relative order sigma^2 kappa T (~1e-6).
 * Late steps: at |y| ~ H the per-step noise/drift ratio is sigma h'(R)/((mu-1) H)
   (`late_noise_ratio`, ~2e-3 for B1): the crossing step is set by Y, not late noise.

Naive recipe: step k at which the linear noise std sigma sqrt(sum_{j<k} mu^2j) reaches
R, k = ln(1 + R^2 (mu^2-1)/sigma^2)/(2 ln mu). It is ~10% low for B1 because (a) it
uses R, whereas the cubic term slows the last steps, the linear-equivalent threshold
being H = h(R) > R, and (b) the first passage of |N(0, v_t)| through H is not the time
sqrt(v_t) = H: E ln|Z| = -(gamma_E + ln 2)/2 < 0 (|Z| is usually below 1 sd), so a
typical trajectory needs ~0.64/ln mu more steps, plus 1/2 for the integer ceiling.
B1 (eta 0.1, sigma 1e-4, R 0.5): naive 81.18; (a) adds ln(H/R)/ln mu = 1.30, (b) 7.16,
giving the predicted mean 89.64 (sd 11.66). Monte Carlo of the exact chain, 1.6e7 paths:
mean 89.640 +- 0.003, sd 11.651 +- 0.004 (both within 1.7 s.e.). With common noise the
linear y-chain and the exact chain escape at the same step on 99.8% of paths (mean
difference -7e-5 +- 4e-5 steps), so the model error is far below any sampling error.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.stats import norm

from ..errors import TestbedError

def _check(eta: float, gamma: float, quartic: float, xmax: float) -> float:
    """Validate the map on [0, xmax]; return mu = 1 + eta*gamma."""
    if not (eta > 0 and gamma > 0 and quartic >= 0):
        raise TestbedError(f"need eta > 0, gamma > 0, quartic >= 0; got {eta}, {gamma}, {quartic}")
    if quartic > 0 and quartic * xmax ** 2 >= gamma:
        raise TestbedError(f"|x| = {xmax} reaches the fixed point sqrt(gamma/quartic) of phi; "
                           "the radius must lie strictly below it")
    mu = 1.0 + eta * gamma
    if mu - 3.0 * eta * quartic * xmax ** 2 <= 0:
        raise TestbedError(f"phi'(x) <= 0 at |x| = {xmax}: phi is not monotone on [0, {xmax}], "
                           "so the Koenigs inverse branch is undefined; reduce eta or the radius")
    return mu


def _koenigs(x, eta, gamma, quartic):
    """h(x) and h'(x) (arrays) by pull-back with psi = phi^-1 on the increasing branch."""
    x = np.asarray(x, dtype=float)
    a = np.abs(x)
    mu = _check(eta, gamma, quartic, float(a.max()) if a.size else 0.0)
    c3 = eta * quartic / (mu * (mu * mu - 1.0))
    c5 = 3.0 * eta * quartic * mu * c3 / (mu ** 4 - 1.0)
    small = 1e-3 * math.sqrt(gamma / quartic) if quartic > 0 else math.inf
    z, dz, n = a.copy(), np.ones_like(a), 0   # dz = d psi^n / dx
    while z.size and z.max() >= small:
        y = z / mu                              # Newton on the concave increasing g(y) = phi(y) - z:
        for _ in range(100):                    # from g(z/mu) <= 0 it rises monotonically to the root
            step = (mu * y - eta * quartic * y ** 3 - z) / (mu - 3.0 * eta * quartic * y ** 2)
            y = y - step
            if np.all(np.abs(step) <= 1e-15 * y):
                break
        z = y
        dz = dz / (mu - 3.0 * eta * quartic * z ** 2)
        n += 1
    scale = mu ** n
    z2 = z * z
    h = scale * z * (1.0 + z2 * (c3 + c5 * z2))
    dh = scale * (1.0 + z2 * (3.0 * c3 + 5.0 * c5 * z2)) * dz
    return np.sign(x) * h, dh


def koenigs_h(x, eta: float, gamma: float = 1.0, quartic: float = 1.0):
    """Koenigs coordinate h of phi(x) = x + eta(gamma x - quartic x^3) at 0: h(phi(x)) = mu h(x)."""
    h, _ = _koenigs(x, eta, gamma, quartic)
    return float(h) if h.ndim == 0 else h


def deterministic_escape_step(delta: float, eta: float, radius: float, gamma: float = 1.0,
                              quartic: float = 1.0, t_max: int = 10 ** 7) -> int:
    """First t with |x_t| > radius for x_{t+1} = phi(x_t), x_0 = delta, by iterating phi."""
    _check(eta, gamma, quartic, radius)
    x, t = abs(float(delta)), 0
    if x == 0.0:
        raise TestbedError("delta = 0 is the fixed point: deterministic GD never escapes")
    while x <= radius:
        x, t = x + eta * (gamma * x - quartic * x ** 3), t + 1
        if t > t_max:
            raise TestbedError(f"no escape within t_max = {t_max} steps")
    return t


def deterministic_escape_estimate(delta, eta: float, radius: float, gamma: float = 1.0,
                                  quartic: float = 1.0):
    """Closed form of deterministic_escape_step: floor(ln(h(R)/h(delta))/ln mu) + 1
    (0 if |delta| > R); delta may be an array (then an int array is returned)."""
    mu = _check(eta, gamma, quartic, radius)
    d = np.abs(np.asarray(delta, dtype=float))
    if np.any(d == 0.0):
        raise TestbedError("delta = 0 is the fixed point: deterministic GD never escapes")
    inside = d <= radius
    h = koenigs_h(np.append(d[inside], radius), eta, gamma, quartic)
    steps = np.zeros(d.shape, dtype=int)
    steps[inside] = np.floor(np.log(h[-1] / h[:-1]) / math.log(mu)).astype(int) + 1
    return int(steps) if steps.ndim == 0 else steps


def naive_escape_estimate(eta: float, sigma: float, radius: float, gamma: float = 1.0) -> float:
    """Naive linearised escape step: sigma sqrt(sum_{j<k} mu^2j) = radius, solved for real k."""
    mu = 1.0 + eta * gamma
    return math.log1p(radius ** 2 * (mu * mu - 1.0) / sigma ** 2) / (2.0 * math.log(mu))


@dataclasses.dataclass(frozen=True)
class EscapeDistribution:
    """Predicted law of the escape step T on t = 0..t_max (see the module docstring)."""
    t: np.ndarray
    pmf: np.ndarray            # P(T = t)
    cdf: np.ndarray            # P(T <= t)
    mean: float                # E[T | T <= t_max]
    std: float                 # sd[T | T <= t_max]
    p_not_escaped: float       # P(T > t_max)
    h_radius: float            # H = h(R), the linear-equivalent threshold
    y_scale: float             # s = sigma/sqrt(mu^2 - 1), sd of Y = lim y_t mu^-t
    model_error_steps: float   # order of the T jitter from neglecting h' - 1
    late_noise_ratio: float    # noise/drift per step in y at the threshold

    def __getitem__(self, key):  # dict-style access as well
        return getattr(self, key)


def noisy_escape_distribution(eta: float, sigma: float, radius: float, gamma: float = 1.0,
                              quartic: float = 1.0, t_max: int = 1000) -> EscapeDistribution:
    """Law of the first t with |x_t| > radius for x <- phi(x) + sigma xi, x_0 = 0."""
    if not (sigma > 0 and t_max >= 1):
        raise TestbedError(f"need sigma > 0 and t_max >= 1; got {sigma}, {t_max}")
    mu = _check(eta, gamma, quartic, radius)
    grid = np.linspace(radius / 64, radius, 64)
    hg, dhg = _koenigs(grid, eta, gamma, quartic)
    H, dH = float(hg[-1]), float(dhg[-1])
    kappa = float(np.max((dhg - 1.0) / grid ** 2))
    s = sigma / math.sqrt(mu * mu - 1.0)
    t = np.arange(t_max + 1)
    lnmu = math.log(mu)
    with np.errstate(divide="ignore"):
        u = H * np.exp(-t * lnmu) / (s * np.sqrt(-np.expm1(-2.0 * t * lnmu)))   # u[0] = inf
    cdf = 2.0 * norm.sf(u)
    pmf = np.diff(cdf, prepend=0.0)
    p_not = math.erf(u[-1] / math.sqrt(2.0))   # P(|Z| < u), accurate when tiny
    mass = pmf.sum()
    if mass <= 0:
        raise TestbedError(f"escape before t_max = {t_max} has probability 0; raise t_max")
    mean = float(np.dot(t, pmf) / mass)
    std = float(math.sqrt(np.dot((t - mean) ** 2, pmf) / mass))
    return EscapeDistribution(t, pmf, cdf, mean, std, p_not, H, s,
                              sigma * kappa * H / (math.sqrt(mu * mu - 1.0) * lnmu),
                              sigma * dH / ((mu - 1.0) * H))
