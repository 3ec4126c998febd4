r"""Escape of (noisy) gradient descent from the strict saddle of benchmark B1.

B1 is :math:`f(x) = \sum_i (\lambda_i x_i^2/2 + q x_i^4/4)` with
:math:`\lambda_1 = -\gamma < 0`, run as
:math:`x \leftarrow x - \eta \nabla f(x) + \sigma \xi`, :math:`\xi \sim N(0, I)`,
:math:`x(0) = 0`; escape step :math:`T` = first :math:`t` with
:math:`|x_1(t)| > R`. :math:`f` is separable and the noise independent per
coordinate, so :math:`x_1` alone is an exact 1-D Markov chain

.. math::

    x \leftarrow \phi(x) + \sigma \xi, \qquad \phi(x) = x + \eta (\gamma x - q x^3).

**Koenigs coordinate.** 0 is a repelling fixed point of :math:`\phi`, multiplier
:math:`\mu = 1 + \eta \gamma`. If :math:`\phi' > 0` on :math:`[0, R]` (checked;
else TestbedError) and :math:`R < \sqrt{\gamma/q}`, :math:`\phi` has an increasing
inverse :math:`\psi` there with :math:`0 < \psi(x) < x`, and
:math:`h(x) = \lim_n \mu^n \psi^n(x)` solves :math:`h(\phi(x)) = \mu h(x)`,
:math:`h` odd, increasing, :math:`h(x) = x + c_3 x^3 + c_5 x^5 + O(x^7)` with
:math:`c_3 = \eta q / (\mu (\mu^2 - 1))`,
:math:`c_5 = 3 \eta q \mu c_3 / (\mu^4 - 1)`. Numerically: pull back with
:math:`\psi` (Newton) until :math:`|z| < 10^{-3} \sqrt{\gamma/q}`, then
:math:`h = \mu^n (z + c_3 z^3 + c_5 z^5)` (relative error
:math:`\sim (q z^2/\gamma)^3 \sim 10^{-18}`). Deterministic GD is then exact:
:math:`h(x_t) = \mu^t h(\delta)`, so the first :math:`t` with :math:`x_t > R` is
:math:`\lfloor \ln(h(R)/h(\delta)) / \ln \mu \rfloor + 1` (= ceil unless that ratio
is an integer, where the strict '>' needs the +1).

**Noisy chain.** With :math:`y = h(x)` the step is exactly
:math:`y' = \mu y + \sigma h'(\tilde x) \xi` (:math:`\tilde x` a mean-value point).
Replacing :math:`h'` by 1 gives the linear chain
:math:`y_t = \sigma \sum_{j<t} \mu^{t-1-j} \xi_j \sim N(0, v_t)`,
:math:`v_t = \sigma^2 (\mu^{2t} - 1)/(\mu^2 - 1)`; equivalently
:math:`Y_t = y_t \mu^{-t} \sim N(0, s^2 (1 - \mu^{-2t})) \to Y \sim N(0, s^2)`,
:math:`s = \sigma / \sqrt{\mu^2 - 1}`. :math:`|x_t| > R \iff |y_t| > H := h(R)`
exactly, and :math:`|y_t|` grows monotonically once it is large (un-crossing
:math:`H` would need a noise of :math:`\sim (\mu - 1) H / \sigma` standard
deviations), so

.. math::

    P(T \le t) = P(|y_t| > H)
        = 2 \bar\Phi\Big(\frac{H \mu^{-t}}{s \sqrt{1 - \mu^{-2t}}}\Big),

with :math:`P(T \le 0) = 0`; the pmf is its first difference (discreteness exact),
and mean/std are those of the pmf on :math:`[0, t_{\max}]`, conditional on escape;
``p_not_escaped`` :math:`= P(T > t_{\max})`. For :math:`t \to \infty` this is
:math:`T = \lceil \log_\mu (H/|Y|) \rceil`:
:math:`\mathbb{E} T \approx (\ln(H/s) + (\gamma_E + \ln 2)/2) / \ln \mu + 1/2`,
:math:`\operatorname{sd} T \approx \sqrt{\pi^2/8} / \ln \mu`.

**Error sources** (all tiny for B1, see the fields of :class:`EscapeDistribution`):

- :math:`h' - 1 \le \kappa x^2` on :math:`[0, R]`. Along a path that escapes at
  :math:`T`, :math:`x_j \le H \mu^{j-T}`, so the neglected part of :math:`Y` has
  relative size :math:`\sim \sigma \kappa H / \sqrt{\mu^2 - 1}`, i.e. a zero-mean
  jitter of :math:`T` of order ``model_error_steps`` (:math:`\sim 2 \cdot 10^{-3}`
  steps for B1); the Ito-type drift :math:`\sigma^2 h''/2` is of relative order
  :math:`\sigma^2 \kappa T` (:math:`\sim 10^{-6}`).
- Late steps: at :math:`|y| \sim H` the per-step noise/drift ratio is
  :math:`\sigma h'(R) / ((\mu - 1) H)` (``late_noise_ratio``,
  :math:`\sim 2 \cdot 10^{-3}` for B1): the crossing step is set by :math:`Y`, not
  late noise.

**Naive recipe**: the step :math:`k` at which the linear noise std
:math:`\sigma \sqrt{\sum_{j<k} \mu^{2j}}` reaches :math:`R`,
:math:`k = \ln(1 + R^2 (\mu^2 - 1)/\sigma^2) / (2 \ln \mu)`. It is ~10% low for B1
because (a) it uses :math:`R`, whereas the cubic term slows the last steps, the
linear-equivalent threshold being :math:`H = h(R) > R`, and (b) the first passage of
:math:`|N(0, v_t)|` through :math:`H` is not the time :math:`\sqrt{v_t} = H`:
:math:`\mathbb{E} \ln |Z| = -(\gamma_E + \ln 2)/2 < 0` (:math:`|Z|` is usually below
1 sd), so a typical trajectory needs :math:`\sim 0.64 / \ln \mu` more steps, plus 1/2
for the integer ceiling. B1 (:math:`\eta = 0.1`, :math:`\sigma = 10^{-4}`,
:math:`R = 0.5`): naive 81.18; (a) adds :math:`\ln(H/R)/\ln \mu = 1.30`, (b) 7.16,
giving the predicted mean 89.64 (sd 11.66). Monte Carlo of the exact chain,
:math:`1.6 \cdot 10^7` paths: mean 89.640 ± 0.003, sd 11.651 ± 0.004 (both within 1.7
s.e.). With common noise the linear :math:`y`-chain and the exact chain escape at the
same step on 99.8% of paths (mean difference :math:`-7 \cdot 10^{-5} \pm 4 \cdot
10^{-5}` steps), so the model error is far below any sampling error.
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
    r"""Koenigs coordinate :math:`h` of :math:`\phi(x) = x + \eta(\gamma x - q x^3)`
    (``q = quartic``) at 0: :math:`h(\phi(x)) = \mu h(x)`, :math:`\mu = 1 + \eta \gamma`."""
    h, _ = _koenigs(x, eta, gamma, quartic)
    return float(h) if h.ndim == 0 else h


def deterministic_escape_step(delta: float, eta: float, radius: float, gamma: float = 1.0,
                              quartic: float = 1.0, t_max: int = 10 ** 7) -> int:
    r"""First :math:`t` with :math:`|x_t| > R` (``R = radius``) for
    :math:`x_{t+1} = \phi(x_t)`, :math:`x_0 = \delta`, by iterating :math:`\phi`."""
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
    r"""Closed form of :func:`deterministic_escape_step`:
    :math:`\lfloor \ln(h(R)/h(\delta)) / \ln \mu \rfloor + 1` (0 if
    :math:`|\delta| > R`); ``delta`` may be an array (then an int array is returned)."""
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
    r"""Naive linearised escape step: :math:`\sigma \sqrt{\sum_{j<k} \mu^{2j}} = R`,
    solved for real :math:`k`."""
    mu = 1.0 + eta * gamma
    return math.log1p(radius ** 2 * (mu * mu - 1.0) / sigma ** 2) / (2.0 * math.log(mu))


@dataclasses.dataclass(frozen=True)
class EscapeDistribution:
    r"""Predicted law of the escape step :math:`T` on :math:`t = 0, \dots, t_{\max}`
    (see the module docstring): ``t``, ``pmf``, ``cdf``; ``mean`` and ``std``
    conditional on :math:`T \le t_{\max}`; ``p_not_escaped`` :math:`= P(T > t_{\max})`;
    ``h_radius`` :math:`= H = h(R)`; ``y_scale`` :math:`= s = \sigma / \sqrt{\mu^2 - 1}`;
    the error indicators ``model_error_steps`` and ``late_noise_ratio``."""
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
    r"""Law of the first :math:`t` with :math:`|x_t| > R` for
    :math:`x \leftarrow \phi(x) + \sigma \xi`, :math:`x_0 = 0` (module docstring)."""
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


# ---- Strict saddles in R^d: deterministic GD and one uniform-ball perturbation -------
#
# Additions for the claims gd-saddle-escape and perturbed-gd-escape (the functions
# above are unchanged). The landscape is strict_saddle, f = sum_i lam_i x_i^2/2 + x_i^4/4
# with lam_1 = -gamma < 0: coordinate 1 evolves under GD as the 1-D map phi above
# (quartic = 1), independently of the others.
#
# Exact escape-time law after a perturbation [D]. On [0, R] (R below the minimum
# sqrt(gamma/quartic), phi' > 0) phi is an increasing bijection onto [0, phi(R)] with
# phi(x) > x, so the orbit of |x_1(0)| increases while it stays in [0, R] and
#     T > t  <=>  |x_1(0)| <= a_t := psi^t(R)     (psi = phi^-1 on that branch),
# with a_t = h^-1(h(R) mu^-t) in the Koenigs coordinate (a_t = R mu^-t when quartic = 0).
# For xi uniform in the ball B_0(r) of R^d, u = xi_1/r has density
# prop. to (1 - u^2)^((d-1)/2), so u^2 ~ Beta(1/2, (d+1)/2) and
#     P(T <= t) = P(|xi_1| > a_t) = 1 - I_{z_t}(1/2, (d+1)/2),  z_t = min{1, (a_t/r)^2}.
# Uniform on the sphere gives Beta(1/2, (d-1)/2); N(0, r^2/d I) gives
# P(|xi_1| > a) = 2 Phibar(a sqrt(d)/r). Mean and variance follow from
# E T = sum_{t>=0} P(T > t), E T^2 = sum_{t>=0} (2t + 1) P(T > t); P(T > t) is evaluated
# as I_{z_t} directly (no cancellation in the tail).

_LAWS = ("ball", "sphere", "gaussian")


def saddle_gamma(lam1) -> float:
    r""":math:`\gamma = -\lambda_1`, the escape rate of the strict saddle at 0;
    TestbedError unless :math:`\lambda_1 < 0` (with :math:`\lambda_1 \ge 0` the origin
    is not a strict saddle along :math:`x_1`)."""
    lam1 = float(lam1)
    if not (math.isfinite(lam1) and lam1 < 0):
        raise TestbedError(f"lam_1 = {lam1} is not negative: the origin is not a strict saddle "
                           "along x_1, so there is nothing to escape; declare lam_1 < 0")
    return -lam1


def linear_escape_estimate(delta, eta: float, radius: float, gamma: float = 1.0):
    r"""P1 law 1 (quadratic saddle):
    :math:`\lceil \ln(R/\delta) / \ln(1 + \eta \gamma) \rceil`; exact when the quartic
    term is absent (up to the strict '>' when the ratio is a power of :math:`\mu`)."""
    _check(eta, gamma, 0.0, radius)
    d = np.abs(np.asarray(delta, dtype=float))
    if np.any(d == 0.0):
        raise TestbedError("delta = 0 is the fixed point: deterministic GD never escapes")
    out = np.ceil(np.log(radius / d) / math.log1p(eta * gamma)).astype(int)
    return int(out) if out.ndim == 0 else out


def quartic_escape_estimate(delta, eta: float, radius: float, gamma: float = 1.0,
                            quartic: float = 1.0):
    r"""P1 law 2 (real-valued, from the gradient flow's quartic correction):
    :math:`[\ln(R/\delta) + \frac12 \ln((\gamma/q)/(\gamma/q - R^2))] / \ln(1 + \eta
    \gamma)`."""
    _check(eta, gamma, quartic, radius)
    d = np.abs(np.asarray(delta, dtype=float))
    if np.any(d == 0.0):
        raise TestbedError("delta = 0 is the fixed point: deterministic GD never escapes")
    corr = 0.0 if quartic == 0 else 0.5 * math.log((gamma / quartic)
                                                  / (gamma / quartic - radius ** 2))
    out = (np.log(radius / d) + corr) / math.log1p(eta * gamma)
    return float(out) if out.ndim == 0 else out


def inverse_orbit(radius: float, t_max: int, eta: float, gamma: float = 1.0,
                  quartic: float = 1.0) -> np.ndarray:
    r""":math:`a_t = \psi^t(R)`, :math:`t = 0, \dots, t_{\max}` (:math:`\psi =
    \phi^{-1}` on the increasing branch): the 1-D orbit from :math:`|x_0|` stays in
    :math:`[0, R]` up to step :math:`t` iff :math:`|x_0| \le a_t`."""
    mu = _check(eta, gamma, quartic, radius)
    a = np.empty(int(t_max) + 1)
    a[0] = z = float(radius)
    for t in range(1, a.size):
        y = z / mu                       # Newton from below on phi(y) = z (see _koenigs)
        for _ in range(100):
            step = (mu * y - eta * quartic * y ** 3 - z) / (mu - 3.0 * eta * quartic * y * y)
            y -= step
            if abs(step) <= 1e-16 * y:
                break
        a[t] = z = y
    return a


def coordinate_tail(a, r: float, d: int, law: str = "ball"):
    r""":math:`(P(|\xi_1| > a), P(|\xi_1| \le a))` for :math:`\xi` uniform in the ball
    :math:`B_0(r)` of :math:`\mathbb{R}^d` (``ball``), uniform on its sphere
    (``sphere``) or :math:`N(0, r^2/d\, I)` (``gaussian``); both returned so that
    either side is accurate where it is small. With :math:`u = \xi_1 / r`,
    :math:`u^2 \sim \text{Beta}(1/2, (d+1)/2)` in the ball and
    :math:`\text{Beta}(1/2, (d-1)/2)` on the sphere."""
    from scipy.special import betainc, betaincc
    if not (r > 0 and math.isfinite(r)):
        raise TestbedError(f"perturbation radius r must be positive and finite, got {r}")
    if law not in _LAWS:
        raise TestbedError(f"unknown perturbation law {law!r}; choose from {_LAWS}")
    if not (isinstance(d, (int, np.integer)) and d >= (2 if law == "sphere" else 1)):
        raise TestbedError(f"dimension d must be an integer >= {2 if law == 'sphere' else 1}, "
                           f"got {d!r}")
    a = np.asarray(a, dtype=float)
    if law == "gaussian":
        s = a * math.sqrt(d) / r
        return 2.0 * norm.sf(s), 1.0 - 2.0 * norm.sf(s)
    b = (d + 1) / 2.0 if law == "ball" else (d - 1) / 2.0
    z = np.minimum(1.0, (a / r) ** 2)
    return betaincc(0.5, b, z), betainc(0.5, b, z)


@dataclasses.dataclass(frozen=True)
class PerturbedEscapeLaw:
    r"""Law of the escape step :math:`T` after one perturbation :math:`\xi` at the
    saddle (:func:`perturbed_escape_distribution`): ``t`` (:math:`0, \dots, t_{\max}`),
    ``cdf``, ``pmf``, ``survival`` (:math:`P(T > t)`, accurate in the tail),
    ``thresholds`` (:math:`a_t = \psi^t(R)`), ``mean``, ``var`` (of the whole law),
    ``median``, the dimension ``d`` and the perturbation ``law``."""
    t: np.ndarray              # 0..t_max
    cdf: np.ndarray            # P(T <= t)
    pmf: np.ndarray            # P(T = t)
    survival: np.ndarray       # P(T > t), accurate in the tail
    thresholds: np.ndarray     # a_t = psi^t(R)
    mean: float                # E T (tail beyond t_max below 1e-17)
    var: float                 # Var T
    median: int                # smallest t with P(T <= t) >= 1/2
    d: int
    law: str

    def __getitem__(self, key):
        return getattr(self, key)


def perturbed_escape_distribution(d: int, r: float, eta: float, radius: float,
                                  gamma: float = 1.0, quartic: float = 1.0,
                                  law: str = "ball", t_max: int | None = None
                                  ) -> PerturbedEscapeLaw:
    r"""Exact law of :math:`T` = first :math:`t` with :math:`|x_1(t)| > R` for GD
    started at :math:`x(0) = \xi` on the strict saddle, :math:`\xi` drawn by
    :func:`coordinate_tail`'s ``law`` with radius :math:`r`:

    .. math::

        P(T \le t) = P(|\xi_1| > a_t), \qquad a_t = \psi^t(R),

    since on :math:`[0, R]` the map :math:`\phi` is increasing with
    :math:`\phi(x) > x`. ``t_max`` (default: until :math:`P(T > t) < 10^{-17}`) only
    truncates the returned arrays; mean and variance always use the whole law
    (:math:`\mathbb{E} T = \sum_{t \ge 0} P(T > t)`). Needs :math:`0 < r < R`."""
    if not (r > 0 and math.isfinite(r)):
        raise TestbedError(f"perturbation radius r must be positive and finite, got {r}")
    if r >= radius:
        raise TestbedError(f"perturbation radius r = {r} must lie below the escape radius "
                           f"R = {radius} (else the perturbation alone can escape)")
    mu = _check(eta, gamma, quartic, radius)
    # enough steps for P(T > t) <= c sqrt(d) a_t / r < 1e-17 (a_t <= radius mu^-t)
    need = int(math.ceil(math.log(radius * (math.sqrt(d) + 1.0) * 1e17 / r) / math.log(mu)))
    n = max(need, 0 if t_max is None else int(t_max))
    a = inverse_orbit(radius, n, eta, gamma, quartic)
    tail, surv = coordinate_tail(a, r, d, law)
    t = np.arange(n + 1)
    mean = float(np.sum(surv))
    var = float(np.sum((2 * t + 1) * surv) - mean * mean)
    median = int(np.argmax(tail >= 0.5))
    m = n + 1 if t_max is None else int(t_max) + 1
    pmf = np.diff(tail[:m], prepend=0.0)
    return PerturbedEscapeLaw(t[:m], tail[:m], pmf, surv[:m], a[:m], mean, var, median,
                              int(d), law)


def mean_escape_slope(ds, r: float, eta: float, radius: float, gamma: float = 1.0,
                      quartic: float = 1.0, law: str = "ball", n=None):
    r"""Exact expected least-squares slope of the mean escape step on :math:`\ln d`
    over the dimensions ``ds`` (the slope of :math:`\mathbb{E} T_d` on :math:`\ln d`),
    and, given replica counts ``n`` (one per :math:`d`), the standard deviation of the
    slope fitted to sample means,
    :math:`\sqrt{\sum_k w_k^2 \operatorname{Var} T_k / n_k}`,
    :math:`w_k = (\ln d_k - \overline{\ln d}) / S_{xx}`. Asymptotically
    (:math:`d \to \infty`) the slope is :math:`1 / (2 \ln(1 + \eta \gamma))`, since
    :math:`\mathbb{E} \ln(1/u_1^2) = \psi_0((d+2)/2) - \psi_0(1/2) = \ln d + O(1)`
    (:math:`\psi_0` the digamma function)."""
    ds = [int(v) for v in ds]
    if len(ds) < 2 or len(set(ds)) < 2:
        raise TestbedError(f"need at least two distinct dimensions, got {ds}")
    x = np.log(np.asarray(ds, dtype=float))
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    laws = [perturbed_escape_distribution(d, r, eta, radius, gamma, quartic, law)
            for d in ds]
    slope = float(np.dot(w, [lw.mean for lw in laws]))
    if n is None:
        return slope, None
    n = np.broadcast_to(np.asarray(n, dtype=float), (len(ds),))
    sd = float(math.sqrt(np.sum(w ** 2 * np.array([lw.var for lw in laws]) / n)))
    return slope, sd


def pgd_saddle_return_probability(d: int, r: float, eta: float, t_thres: float,
                                  f_thres: float, gamma: float = 1.0,
                                  lam_stable: float = 1.0) -> float:
    r"""Probability that perturbed GD (Jin et al. 2017, Algorithm 2) started exactly at
    the saddle of ``strict_saddle``
    (:math:`\lambda = (-\gamma, \lambda_s, \dots, \lambda_s)`,
    :math:`\lambda_s` = ``lam_stable``) returns the saddle itself: its first
    perturbation :math:`\xi \sim \text{Uniform}(B_0(r))` is followed by
    :math:`t_{\text{thres}}` GD steps and the test
    :math:`f(x_{t_{\text{thres}}}) - f(0) > -f_{\text{thres}}`.

    Linearised (the quartic terms change :math:`f` by a relative
    :math:`O(r^2 (1 + \eta \gamma)^{2 t_{\text{thres}}})` at the decision boundary,
    :math:`\sim 10^{-10}` for the claim's constants):
    :math:`x_1 \to \mu^t \xi_1`, :math:`x_i \to c^{t/t_{\text{thres}}} \xi_i` with
    :math:`\mu = 1 + \eta \gamma`, :math:`c = (1 - \eta \lambda_s)^{t_{\text{thres}}}`,
    so the saddle is returned iff

    .. math::

        \xi_1^2 (\gamma \mu^{2 t_{\text{thres}}} + \lambda_s c^2)
            < \lambda_s c^2 \lVert \xi \rVert^2 + 2 f_{\text{thres}}.

    With :math:`\xi = r \rho v` (:math:`\rho^d \sim U(0, 1)`,
    :math:`v_1^2 \sim \text{Beta}(1/2, (d-1)/2)` independent) that is
    :math:`v_1^2 < z(\rho) = (\lambda_s c^2 + 2 f_{\text{thres}} / (r \rho)^2) /
    (\gamma \mu^{2 t_{\text{thres}}} + \lambda_s c^2)`, averaged over :math:`\rho` by
    quadrature [D]."""
    from scipy import integrate
    from scipy.special import betainc
    if not (isinstance(d, (int, np.integer)) and d >= 2):
        raise TestbedError(f"need an integer dimension d >= 2, got {d!r}")
    if not (r > 0 and eta > 0 and t_thres > 0 and f_thres >= 0 and lam_stable > 0):
        raise TestbedError(f"need r, eta, t_thres, lam_stable > 0 and f_thres >= 0; got "
                           f"{r}, {eta}, {t_thres}, {lam_stable}, {f_thres}")
    saddle_gamma(-gamma)
    mu2 = (1.0 + eta * gamma) ** (2.0 * t_thres)
    c2 = (1.0 - eta * lam_stable) ** (2.0 * t_thres)
    b = (d - 1) / 2.0

    def z_of(u):                          # u = rho^d ~ U(0, 1)
        rho2 = u ** (2.0 / d) if u > 0 else 0.0
        extra = 2.0 * f_thres / (r * r * rho2) if rho2 > 0 else math.inf
        return min(1.0, (lam_stable * c2 + extra) / (gamma * mu2 + lam_stable * c2))

    if f_thres == 0:
        return float(betainc(0.5, b, z_of(1.0)))
    val, _ = integrate.quad(lambda u: betainc(0.5, b, z_of(u)), 0.0, 1.0, limit=200,
                            epsabs=1e-14, epsrel=1e-10)
    return float(val)


# ---- Noisy and mini-batch GD started off the stable manifold; the saddle chain -------

import functools  # noqa: E402  (used by this section only)
#
# Additions for the claims sgd-escapes-faster and gd-exponential-escape (the functions
# above are unchanged).
#
# 1. Start at x_1(0) = delta [D]. In the Koenigs coordinate y = h(x_1) the noisy step is
# y' = mu y + h'(x~) eps, so with h' -> 1 (the approximation of
# noisy_escape_distribution, same error fields) Y_t = y_t mu^-t = h(delta) + Z_t,
# Z_t = sum_{j<t} mu^-(j+1) eps_j, and, as there, P(T <= t) = P(|y_t| > H) =
# P(|h(delta) + Z_t| > H mu^-t) for t >= 1 (|y| cannot fall back below H once above it
# unless one noise exceeds ~(mu - 1) H). Gaussian eps ~ N(0, sigma^2):
# Z_t ~ N(0, s^2 (1 - mu^-2t)), s = sigma/sqrt(mu^2 - 1), so Y ~ N(h(delta), s^2): noise
# dominates the start once s > h(delta), i.e. sigma > h(delta) sqrt(mu^2 - 1).
# Deterministic GD is the sigma -> 0 limit, T_GD = floor(log_mu(H/h(delta))) + 1.
#
# 2. Mini-batch noise: eps takes finitely many values (a finite-sum objective whose
# per-sample gradients differ by constants, sampled in batches). Z_t is then a finite
# weighted sum of independent discrete variables; its law is computed on a grid of
# spacing dz = s/cells_per_sd by adding one term per step, each atom's mass split
# linearly between the two nearest nodes (mean exact, variance error <= dz^2/4 per
# step). Terms with mu^-t max|eps| < dz are skipped (they move Z by less than one cell;
# their total variance is below dz^2/(mu^2 - 1)). The CDF of Z between nodes is
# interpolated linearly (error below one cell's mass, ~dz times the density).

def noisy_escape_distribution_from(delta: float, eta: float, sigma: float, radius: float,
                                   gamma: float = 1.0, quartic: float = 1.0,
                                   t_max: int = 1000) -> EscapeDistribution:
    r"""Law of the first :math:`t` with :math:`|x_t| > R` for
    :math:`x \leftarrow \phi(x) + \sigma \xi` started at :math:`x_0 = \delta`
    (:math:`|\delta| < R`):
    :math:`P(T \le t) = P(|N(h(\delta), s^2 (1 - \mu^{-2t}))| > H \mu^{-t})`.
    :math:`\delta = 0` gives :func:`noisy_escape_distribution`."""
    if not (sigma > 0 and t_max >= 1):
        raise TestbedError(f"need sigma > 0 and t_max >= 1; got {sigma}, {t_max}")
    if not abs(delta) < radius:
        raise TestbedError(f"start |delta| = {abs(delta)} must lie inside the escape radius "
                           f"{radius} (else T = 0)")
    mu = _check(eta, gamma, quartic, radius)
    H, dH, kappa = _threshold(float(eta), float(gamma), float(quartic), float(radius))
    h0 = koenigs_h(float(delta), eta, gamma, quartic) if delta != 0 else 0.0
    s = sigma / math.sqrt(mu * mu - 1.0)
    t = np.arange(t_max + 1)
    lnmu = math.log(mu)
    c = H * np.exp(-t * lnmu)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = s * np.sqrt(-np.expm1(-2.0 * t * lnmu))
        cdf = norm.sf((c - h0) / sd) + norm.sf((c + h0) / sd)
    cdf[0] = 0.0
    p_not = float(norm.cdf((c[-1] - h0) / sd[-1]) - norm.cdf((-c[-1] - h0) / sd[-1]))
    return _distribution(t, cdf, p_not, H, s, sigma, kappa, dH, mu, t_max)


def discrete_noise_escape_distribution(delta: float, eta: float, atoms, probs, radius: float,
                                       gamma: float = 1.0, quartic: float = 1.0,
                                       t_max: int = 1000, cells_per_sd: int = 1000
                                       ) -> EscapeDistribution:
    r"""Law of the first :math:`t` with :math:`|x_t| > R` for
    :math:`x \leftarrow \phi(x) + \epsilon_t`, :math:`x_0 = \delta`, with
    :math:`\epsilon_t` i.i.d. taking the values ``atoms`` with probabilities ``probs``
    (mean 0): the exact law of
    :math:`Z_t = \sum_{j<t} \mu^{-(j+1)} \epsilon_j` on a grid (derivation in the
    source comments above this function), then
    :math:`P(T \le t) = P(|h(\delta) + Z_t| > H \mu^{-t})`."""
    atoms = np.asarray(atoms, dtype=float).reshape(-1)
    probs = np.asarray(probs, dtype=float).reshape(-1)
    if atoms.shape != probs.shape or atoms.size == 0:
        raise TestbedError("atoms and probs must be non-empty and of equal length")
    if np.any(probs < 0) or abs(probs.sum() - 1.0) > 1e-12:
        raise TestbedError(f"probs must be non-negative and sum to 1, got sum {probs.sum()}")
    b = float(np.max(np.abs(atoms)))
    if not (np.all(np.isfinite(atoms)) and b > 0):
        raise TestbedError("atoms must be finite and not all zero")
    if abs(float(probs @ atoms)) > 1e-12 * b:
        raise TestbedError(f"the noise must have mean 0, got {float(probs @ atoms)}")
    if not (abs(delta) < radius and t_max >= 1 and cells_per_sd >= 10):
        raise TestbedError("need |delta| < radius, t_max >= 1 and cells_per_sd >= 10")
    mu = _check(eta, gamma, quartic, radius)
    H, dH, kappa = _threshold(float(eta), float(gamma), float(quartic), float(radius))
    h0 = koenigs_h(float(delta), eta, gamma, quartic) if delta != 0 else 0.0
    sigma = math.sqrt(float(probs @ atoms ** 2))
    s = sigma / math.sqrt(mu * mu - 1.0)
    dz = s / cells_per_sd
    half = min(b / (mu - 1.0), 40.0 * b / math.sqrt(mu * mu - 1.0))  # Hoeffding: lost < e^-800
    n = int(math.ceil(half / dz)) + 2
    p = np.zeros(2 * n + 1)
    p[n] = 1.0
    edges = (np.arange(2 * n + 2) - n - 0.5) * dz
    lnmu = math.log(mu)
    cdf = np.zeros(t_max + 1)
    p_not = 1.0
    for t in range(1, t_max + 1):
        w = math.exp(-t * lnmu)                       # weight of eps_{t-1} in Z_t
        if w * b >= dz:
            p = sum(q * _shift(p, a * w / dz) for a, q in zip(atoms, probs) if q > 0)
        F = np.concatenate(([0.0], np.cumsum(p)))
        c = H * math.exp(-t * lnmu)
        below = np.interp(-c - h0, edges, F)          # P(Z < -c - h0)
        above = F[-1] - np.interp(c - h0, edges, F)   # P(Z > c - h0)
        cdf[t] = below + above
        p_not = F[-1] - cdf[t]
    return _distribution(np.arange(t_max + 1), cdf, max(p_not, 0.0), H, s, sigma, kappa,
                         dH, mu, t_max)


def _shift(p, x):
    """p moved by x cells (real), each mass split linearly between two nodes; zero fill."""
    k = math.floor(x)
    frac = x - k
    out = np.zeros_like(p)
    for kk, wt in ((k, 1.0 - frac), (k + 1, frac)):
        if wt == 0.0 or abs(kk) >= p.size:
            continue
        if kk >= 0:
            out[kk:] += wt * p[:p.size - kk]
        else:
            out[:kk] += wt * p[-kk:]
    return out


@functools.lru_cache(maxsize=256)
def _threshold(eta, gamma, quartic, radius):
    """H = h(R), h'(R) and kappa = max (h' - 1)/x^2 on [0, R] (as in noisy_escape_distribution)."""
    grid = np.linspace(radius / 64, radius, 64)
    hg, dhg = _koenigs(grid, eta, gamma, quartic)
    return float(hg[-1]), float(dhg[-1]), float(np.max((dhg - 1.0) / grid ** 2))


def _distribution(t, cdf, p_not, H, s, sigma, kappa, dH, mu, t_max) -> EscapeDistribution:
    pmf = np.diff(cdf, prepend=0.0)
    mass = pmf.sum()
    if mass <= 0:
        raise TestbedError(f"escape before t_max = {t_max} has probability 0; raise t_max")
    mean = float(np.dot(t, pmf) / mass)
    std = float(math.sqrt(max(np.dot((t - mean) ** 2, pmf) / mass, 0.0)))
    lnmu = math.log(mu)
    return EscapeDistribution(t, pmf, cdf, mean, std, p_not, H, s,
                              sigma * kappa * H / (math.sqrt(mu * mu - 1.0) * lnmu),
                              sigma * dH / ((mu - 1.0) * H))


# 3. The saddle chain (catalogue entry saddle_chain, functions/du_saddles.py) [D]:
# f = sum_i m(x_{i-1}) x_i^2/2 + beta x_i^4/4, m(x_0) := -gamma,
# m(u) = -gamma + (L + gamma)(1 - u^2/a^2)^2, a^2 = gamma/beta. Once x_{i-1} sits at a,
# x_i follows the 1-D map phi (quartic = beta) exactly; its Koenigs phase t_i* is
# defined by h(x_i(t)) = mu^(t - t_i*) h(theta), so the first step with |x_i| > theta is
# floor(t_i*) + 1 (theta < a). While x_{i+1} is tiny it is linear:
# ln|x_{i+1}(t)| = ln|x_{i+1}(0)| + sum_{s<t} ln(1 - eta m(x_i(s))), and because x_i
# runs along one fixed orbit shifted by t_i*, that sum equals
# t_i* ln(1 - eta L) + (t - t_i*) ln mu + C once x_i has settled at a, with C a
# transition constant of that orbit (computed below; its dependence on the fractional
# part of t_i* is exponentially small). Reading off x_{i+1}'s Koenigs phase:
#     t_{i+1}* = (1 + kappa) t_i* + (ln h(theta) - ln|x_{i+1}(0)| - C) / ln mu,
#     kappa = ln(1/(1 - eta L)) / ln(1 + eta gamma),
# t_1* = log_mu(h(theta)/h(|x_1(0)|)). With equal |x_i(0)| the passage times
# T_i = t_i* - t_{i-1}* obey T_{i+1} = (1 + kappa) T_i exactly: geometric growth.
# Neglected: the couplings m'(x_i) x_{i+1}^2 / 2 while x_{i+1} is small and the
# difference between x_i's early contraction and the orbit's (both O(x(0)^2), ~1e-5
# steps for x(0) ~ 1e-3), and settling tails (decaying like (1 - 2 eta gamma)^(2t)).

def chain_kappa(eta: float, gamma: float, L: float) -> float:
    r""":math:`\kappa = \ln(1/(1 - \eta L)) / \ln(1 + \eta \gamma)`: the extra escape
    steps per step of contraction of the next direction."""
    if not (eta > 0 and gamma > 0 and L > 0 and eta * L < 1):
        raise TestbedError(f"need eta, gamma, L > 0 and eta L < 1; got {eta}, {gamma}, {L}")
    return math.log(1.0 / (1.0 - eta * L)) / math.log1p(eta * gamma)


def chain_transition_constant(phase: float, eta: float, gamma: float, L: float,
                              beta: float, theta: float) -> float:
    r""":math:`C` for an orbit of :math:`x_i` whose Koenigs phase has fractional part
    ``phase``: :math:`\sum_s \ln(1 - \eta m(x_i(s))) - t^* \ln(1 - \eta L) - (N - t^*)
    \ln(1 + \eta \gamma)`."""
    chain_kappa(eta, gamma, L)
    mu = _check(eta, gamma, beta, theta)
    lnmu = math.log(mu)
    a2 = gamma / beta
    c = L + gamma
    t_star = math.ceil(50.0 / lnmu) + (phase % 1.0)   # x(0) ~ theta e^-50: linear to 1e-43
    x = koenigs_h(theta, eta, gamma, beta) * math.exp(-t_star * lnmu)
    total, n = 0.0, 0
    while True:
        w = 1.0 - x * x / a2
        total += math.log1p(-eta * (-gamma + c * w * w))
        x = x + eta * (gamma * x - beta * x ** 3)
        n += 1
        if n > t_star and c * w * w < 1e-20 * gamma:
            break
        if n > t_star + 10 ** 5:
            raise TestbedError("the orbit did not settle at a; check eta gamma < 1")
    return total - t_star * math.log1p(-eta * L) - (n - t_star) * lnmu


def chain_crossing_phases(x0, eta: float, gamma: float, L: float, beta: float,
                          theta: float):
    r"""Predicted Koenigs phases :math:`t_i^*` (:math:`i = 1, \dots, d`) of GD on
    ``saddle_chain`` from :math:`x(0) = x_0`, and the predicted first steps with
    :math:`|x_i| > \theta`, :math:`\lfloor t_i^* \rfloor + 1`."""
    x0 = np.abs(np.asarray(x0, dtype=float).reshape(-1))
    mu = _check(eta, gamma, beta, theta)
    kappa = chain_kappa(eta, gamma, L)
    if not (0 < theta < math.sqrt(gamma / beta)):
        raise TestbedError(f"theta must lie in (0, a), a = {math.sqrt(gamma / beta)}")
    if np.any(x0 == 0) or x0[0] >= theta:
        raise TestbedError("every |x_i(0)| must be positive and |x_1(0)| below theta")
    lnmu = math.log(mu)
    h_theta = koenigs_h(theta, eta, gamma, beta)
    phases = np.empty(x0.size)
    phases[0] = math.log(h_theta / koenigs_h(x0[0], eta, gamma, beta)) / lnmu
    for i in range(1, x0.size):
        C = chain_transition_constant(phases[i - 1], eta, gamma, L, beta, theta)
        phases[i] = ((1.0 + kappa) * phases[i - 1]
                     + (math.log(h_theta) - math.log(x0[i]) - C) / lnmu)
    return phases, np.floor(phases).astype(np.int64) + 1
