r"""A landscape checked against its own declarations: ``testbed verify``, and the
catalogue's tests, which call these same checks.

Each check is a row: measured against a tolerance, with the reason for the
tolerance. For a bound landscape, at a few seeded points x (uniform in the middle 90%
of its domain box, else in [-2, 2]^d) and seeded directions v:

- **outputs written**: ``value_grad``, ``hessian`` and ``hvp`` give the same results
  into outputs filled with NaN and with zeros (a kernel that reads ``g``, ``H`` or
  ``out`` before writing it is wrong on whatever memory it is handed).
- **gradient**: against the central difference of f along each coordinate,
  D_h = (f(x + h e) - f(x - h e)) / (2h), h = eps^(1/3) max(1, \|x\|_inf). Its error is
  a truncation c h^2 (estimated, from the difference at 2h, as \|D_h - D_2h\| / 3) plus
  rounding: kernels are taken to be accurate to :data:`ROUND` = 256 eps of the scale
  1 + \|f\| (a sum of up to ~10^4 terms, rounding as a random walk), giving
  ROUND (1 + \|f\|) / h. The tolerance is :data:`SAFETY` = 10 times the sum (the
  estimate is of the leading term only).
- **Hessian**: against the central difference of the gradient (same step, same
  bound), plus the Hessian kernel's own error: rounding where it is exact (a kernel,
  or columns of an exact HVP), and where it is derived from a central-difference HVP
  (:mod:`testbed._engine.templates.oracle`: step h_d = eps^(1/3) max(1, \|x\|_2)), that
  difference's truncation (the estimate scaled by (h_d / h)^2) and rounding.
- **Hessian symmetric**: exactly where it is symmetric by construction (SymPy
  kernels mirror it, derived ones are symmetrised); to rounding, SAFETY ROUND
  (1 + max\|H\|), for a hand-written Hessian kernel.
- **HVP = H v** and **HVP linear in v** (hvp(a u + b w) = a hvp(u) + b hvp(w),
  a = 0.7, b = -1.3): the errors of each side summed -- rounding of an exact product,
  ROUND (1 + max\|H\|) \|v\|_1; for a central-difference HVP (no Hessian or HVP kernel),
  its truncation along v (estimated at its own step h_v = eps^(1/3) max(1, \|x\|_2) /
  \|v\|_2) and rounding; for H v, the Hessian's error times \|v\|.
- **declared critical points**, each where and what it says: finite, of shape (d,),
  inside the domain and distinct (more than :data:`DISTINCT` apart); critical,
  \|grad f\|_inf <= :data:`DIGITS` max(1, \|x\|_inf) max(1, max\|H\|) + ROUND (1 + max\|g\|)
  (a location rounded to 9 significant digits moves the gradient by \|H\| dx); energy
  within DIGITS max(1, \|E\|); Morse index and degeneracy from the Hessian's
  eigenvalues with the threshold s = :data:`SINGULAR` max(1, max\|lambda\|) of
  :func:`testbed.measure.classify`.
- **no undeclared critical point in the domain** (only where a domain is declared:
  declaring ``domain=(low, high)`` claims that every critical point in it is
  declared): Newton's method (:func:`testbed.critical.search`, pseudo-inverse steps
  capped at a quarter of the domain's shortest side, :data:`SEARCH_ITERS` iterations)
  from a grid of about :data:`GRID_STARTS` points (where d is small enough for 3 or
  more per axis) and :data:`RANDOM_STARTS` seeded uniform starts. Converged points
  (\|grad f\|_2 < 1e-10 max(1, max\|H\|)) inside the domain must lie within 1e-6 of a
  declared point (1e-3 of a degenerate one, which Newton approaches only linearly);
  every non-degenerate declared point must be reached (the search's own check). Where
  the entry is tagged ``degenerate`` or ``critical-manifold`` (critical points that
  are not isolated) an undeclared point must be degenerate, at the energy of a
  declared degenerate point. The row states the coverage: starts, how many converged.
  The search runs up to d = :data:`SEARCH_MAX_D`; beyond, it is reported as not
  checked.
- **parameter domains enforced**: binding each parameter just outside its declared
  domain, to NaN, or (integers) to a fraction is refused.

Above d = :data:`DENSE_MAX` no dense Hessian is formed: the derivatives are checked
along 8 seeded random directions (the HVP against differences of the gradient, its
symmetry as u.Hw = w.Hu), and the Morse indices, degeneracy and the search are
reported as not checked.

:func:`landscape` runs them all on one bound landscape; :func:`entries` on catalogue
entries by name (each bound with its defaults).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np

from .errors import TestbedError

EPS = float(np.finfo(float).eps)
STEP = EPS ** (1.0 / 3.0)    # central-difference step, relative to max(1, |x|)
ROUND = 256 * EPS            # a kernel's rounding, relative to the scale 1 + |output|
SAFETY = 10.0                # on error estimates of the leading term only
DIGITS = 1e-9                # declared locations and energies: 9 significant digits
SINGULAR = 1e-8              # eigenvalue threshold, relative (testbed.measure.classify)
DISTINCT = 1e-8              # declared points closer than this are one point
GRID_STARTS = 600            # completeness search: about this many grid starts ...
RANDOM_STARTS = 150          # ... plus these seeded uniform ones
SEARCH_ITERS = 80
SEARCH_MAX_D = 50            # the search runs up to this dimension
MATCH, MATCH_DEGENERATE = 1e-6, 1e-3
DENSE_MAX = 1000             # above this d, derivatives are checked along directions
_LINEAR = (0.7, -1.3)


@dataclasses.dataclass
class Check:
    """One row: ``measured`` against ``tolerance`` (the reason for it in ``reason``);
    ``passed`` True, False, or None where the check does not apply; ``detail`` says
    where (and, on a failure, what is wrong)."""
    name: str
    measured: object
    tolerance: object
    reason: str
    passed: bool | None
    detail: str = ""
    ratio: float = dataclasses.field(default=0.0, repr=False)   # measured / tolerance

    def as_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "ratio"}


@dataclasses.dataclass
class Report:
    """The checks of one landscape (as bound: ``entry`` names it with its binding)."""
    entry: str
    kernels: str
    checks: list
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list:
        return [c for c in self.checks if c.passed is False]

    def __getitem__(self, name) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check {name!r}; have {[c.name for c in self.checks]}")

    def as_dict(self) -> dict:
        return {"entry": self.entry, "kernels": self.kernels, "passed": self.passed,
                "seconds": round(self.seconds, 3),
                "checks": [c.as_dict() for c in self.checks]}

    def table(self) -> str:
        """The report as text: a header, one row per check, then each failure."""
        rows = [("check", "measured", "tolerance", "ok", "why this tolerance")]
        rows += [(c.name, _fmt(c.measured), _fmt(c.tolerance),
                  {True: "yes", False: "NO", None: "n/a"}[c.passed], c.reason)
                 for c in self.checks]
        w = [max(len(r[k]) for r in rows) for k in range(4)]
        status = "PASS" if self.passed else "FAIL"
        out = [f"{status} {self.entry}  ({self.seconds:.1f} s; {self.kernels})"]
        out += ["  " + "  ".join(r[k].ljust(w[k]) for k in range(4)) + "  " + r[4]
                for r in rows]
        out += [f"  FAIL {self.entry}: {c.name}: {c.detail}" for c in self.failures]
        return "\n".join(out)


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)


def _row(name, errors, tolerances, reason, detail_of) -> Check:
    """The worst of many (error, tolerance) pairs: the one with the largest ratio;
    passes when every error is within its tolerance. ``detail_of(k)`` describes
    element k (the flat index of the worst)."""
    e = np.asarray(errors, dtype=float).ravel()
    t = np.asarray(tolerances, dtype=float).ravel() * np.ones_like(e)
    if e.size == 0:
        return Check(name, "none", "-", reason, None, "nothing to compare")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isfinite(e), e / t, np.inf)
    ratio = np.where(np.isnan(ratio), 0.0, ratio)          # 0 / 0: an exact match
    k = int(np.argmax(ratio))
    ok = bool(ratio[k] <= 1.0)
    return Check(name, float(e[k]), float(t[k]), reason, ok, detail_of(k),
                 float(ratio[k]))


def _worst(rows: list) -> Check:
    """Of one check made at several points, the row to report: the first failure,
    else the one closest to its tolerance."""
    failed = [r for r in rows if r.passed is False]
    if failed:
        return failed[0]
    decided = [r for r in rows if r.passed is not None]
    return max(decided, key=lambda r: r.ratio) if decided else rows[0]


def _pt(x) -> str:
    x = np.asarray(x, dtype=float)
    text = ", ".join(f"{v:.6g}" for v in x[:6])
    return f"({text}{', ...' if x.size > 6 else ''})"


# -- what the oracle derived ------------------------------------------------------------

def provenance(L) -> dict:
    """How the oracle of ``L`` computes each derivative: ``hessian`` and ``hvp`` are
    ``"exact"`` (a kernel, or exactly from one) or ``"difference"`` (from a central
    difference of the gradient), ``hessian_from`` and ``hvp_from`` say from what;
    ``mirrored`` says whether the Hessian is symmetric by construction (SymPy
    kernels, or derived and symmetrised)."""
    K = L.oracle.KERNELS
    have = {n for n in ("hessian", "hvp", "hvp_prepare", "hvp_prepared") if hasattr(K, n)}
    if L.kernels[0] == "sympy":
        return {"hvp": "exact", "hessian": "exact", "hvp_from": "SymPy",
                "hessian_from": "SymPy", "mirrored": True, "source": "SymPy"}
    prepared = {"hvp_prepare", "hvp_prepared"} <= have
    if "hessian" in have:
        hessian_from = "the hessian kernel"
    elif "hvp" in have or prepared:
        hessian_from = "columns of the hvp kernel"
    else:
        hessian_from = "columns of a central-difference HVP"
    hvp_from = ("the hvp kernel" if "hvp" in have else "H v of the hessian kernel"
                if "hessian" in have else "a central difference of the gradient")
    return {"hvp": "difference" if hvp_from.startswith("a central") else "exact",
            "hessian": "difference" if hessian_from.endswith("central-difference HVP")
            else "exact",
            "hvp_from": hvp_from, "hessian_from": hessian_from,
            "mirrored": "hessian" not in have, "source": "hand-written"}


def describe(L) -> str:
    """One line: where the kernels come from and what was derived."""
    prov = provenance(L)
    if prov["source"] == "SymPy":
        return "SymPy: value, gradient, Hessian and HVP exact"
    return (f"hand-written value_grad; Hessian: {prov['hessian_from']}; "
            f"HVP: {prov['hvp_from']}")


# -- derivatives at a point -------------------------------------------------------------

def _difference(fun, x, v, h):
    """The central difference of ``fun`` along v at step h, and the estimate
    |D_h - D_2h| / 3 of its truncation (its leading term c h^2)."""
    d1 = (np.asarray(fun(x + h * v)) - np.asarray(fun(x - h * v))) / (2 * h)
    d2 = (np.asarray(fun(x + 2 * h * v)) - np.asarray(fun(x - 2 * h * v))) / (4 * h)
    return d1, np.abs(d1 - d2) / 3.0


class _Oracle:
    """Direct calls of a bound landscape's compiled kernels."""

    def __init__(self, L):
        self.o, self.p, self.d = L.oracle, L.p, L.d

    def value(self, x):
        return float(self.o.value(np.ascontiguousarray(x), self.p))

    def grad(self, x):
        g = np.empty(self.d)
        self.o.value_grad(np.ascontiguousarray(x), self.p, g)
        return g

    def hessian(self, x):
        H = np.empty((self.d, self.d))
        self.o.hessian(np.ascontiguousarray(x), self.p, H)
        return H

    def hvp(self, x, v):
        out = np.empty(self.d)
        self.o.hvp(np.ascontiguousarray(x), self.p, np.ascontiguousarray(v), out)
        return out


def _hvp_error(o, prov, x, v, g_scale, h_scale):
    """A bound on |hvp(x, v) - H(x) v| componentwise: the rounding of an exact
    product, plus for a central-difference HVP its truncation (estimated at its own
    step) and rounding."""
    vn = float(np.linalg.norm(v))
    rounding = ROUND * h_scale * float(np.abs(v).sum())
    if prov["hvp"] == "exact" or vn == 0.0:
        return rounding
    h = STEP * max(1.0, float(np.linalg.norm(x))) / vn
    _, trunc = _difference(o.grad, x, v, h)
    return rounding + trunc + ROUND * g_scale / h


def outputs_written(L, x) -> Check:
    """value_grad, hvp and (up to d = DENSE_MAX) hessian give the same into outputs
    prefilled with NaN and with zeros."""
    o, p, d = L.oracle, L.p, L.d
    x = np.ascontiguousarray(x, dtype=float)
    v = np.linspace(-1.0, 1.0, d)
    kernels = [("value_grad", (d,), lambda out: o.value_grad(x, p, out)),
               ("hvp", (d,), lambda out: o.hvp(x, p, v, out))]
    if d <= DENSE_MAX:
        kernels.append(("hessian", (d, d), lambda out: o.hessian(x, p, out)))
    bad = []
    for name, shape, call in kernels:
        results = []
        for fill in (np.nan, 0.0):
            out = np.full(shape, fill)
            call(out)
            results.append(out)
        if not np.array_equal(results[0], results[1], equal_nan=False):
            bad.append(name)
    detail = (f"at x = {_pt(x)}, {', '.join(bad)} gave other results into an output "
              f"filled with NaN than into zeros: the kernel reads g, H or out before "
              f"writing every entry (set them, do not add to them)") if bad else f"at x = {_pt(x)}"
    return Check("outputs written", len(bad), 0, "exact: a kernel must set every entry "
                 "of its output", not bad, detail, float(len(bad)))


def derivatives(L, x, v=None, *, seed=0) -> list:
    """The derivative checks of ``L`` at ``x`` (see the module docstring): gradient,
    Hessian, its symmetry, HVP = H v and the HVP's linearity, with ``v`` (default: a
    seeded normal vector) the direction of the HVP checks.

    Parameters
    ----------
    L : Landscape
        Bound.
    x : array (d,)
        The point.
    v : array (d,), optional
        The direction of the HVP check.
    seed : int
        Seeds the directions drawn here.

    Returns
    -------
    list of Check
    """
    o = _Oracle(L)
    prov = provenance(L)
    d = L.d
    x = np.ascontiguousarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(d) if v is None else np.ascontiguousarray(v, dtype=float)
    where = f"at x = {_pt(x)}"
    f, g = o.value(x), o.grad(x)
    g_scale = 1.0 + float(np.abs(g).max())
    h = STEP * max(1.0, float(np.abs(x).max()))
    dense = d <= DENSE_MAX
    dirs = np.eye(d) if dense else rng.standard_normal((8, d)) / math.sqrt(d)
    rows = [outputs_written(L, x)]

    # gradient against differences of f
    fd, trunc = zip(*(_difference(o.value, x, e, h) for e in dirs))
    fd, trunc = np.array(fd), np.array(trunc)
    gd = dirs @ g
    along = "coordinate" if dense else "direction"
    rows.append(_row(
        "gradient", np.abs(gd - fd), SAFETY * (trunc + ROUND * (1 + abs(f)) / h),
        f"central difference of f, h = {h:.1e}: truncation |D_h - D_2h|/3 + rounding "
        f"256 eps (1 + |f|)/h, x{SAFETY:g}",
        lambda k: f"{where}, {along} {k}: kernel {gd[k]:.10g}, central difference "
                  f"{fd[k]:.10g}: the gradient of value_grad disagrees with its value"))

    # Hessian against differences of the gradient
    cols = [_difference(o.grad, x, e, h) for e in dirs]
    Dg = np.array([c[0] for c in cols]).T          # (d, n_dirs): column j along dirs[j]
    Tg = np.array([c[1] for c in cols]).T
    if dense:
        H = o.hessian(x)
        h_scale = 1.0 + float(np.abs(H).max())
        HD = H @ dirs.T
    else:
        HD = np.array([o.hvp(x, e) for e in dirs]).T
        h_scale = 1.0 + float(np.abs(HD).max())
    if prov["hessian"] == "exact":
        kernel_err = ROUND * h_scale
        what = "kernel exact (rounding 256 eps (1 + max|H|))"
    else:
        hd = STEP * max(1.0, float(np.linalg.norm(x)))
        kernel_err = Tg * (hd / h) ** 2 + ROUND * g_scale / hd
        if dense:
            kernel_err = np.maximum(kernel_err, kernel_err.T)     # symmetrised
        what = f"itself a central difference (step {hd:.1e}): its truncation and rounding"
    rows.append(_row(
        "Hessian", np.abs(HD - Dg), SAFETY * (Tg + ROUND * g_scale / h + kernel_err),
        f"central difference of the gradient, h = {h:.1e} (truncation + rounding), plus "
        f"the Hessian's error, {what}; x{SAFETY:g}",
        lambda k: f"{where}, entry {divmod(k, Dg.shape[1])}: Hessian "
                  f"{HD.ravel()[k]:.10g}, central difference of the gradient "
                  f"{Dg.ravel()[k]:.10g}: the Hessian ({prov['hessian_from']}) disagrees "
                  f"with the gradient"))

    # symmetry
    if dense:
        asym = np.abs(H - H.T)
        tol = 0.0 if prov["mirrored"] else SAFETY * ROUND * h_scale
        rows.append(_row(
            "Hessian symmetric", asym, tol,
            "exact: symmetric by construction" if prov["mirrored"] else
            "rounding of H_ij and H_ji computed apart: 2560 eps (1 + max|H|)",
            lambda k: f"{where}, entries {divmod(k, d)} and their transpose differ by "
                      f"{asym.ravel()[k]:.3g}: the Hessian kernel is not symmetric"))
    else:
        u, w = dirs[0], dirs[1]
        a, b = float(u @ o.hvp(x, w)), float(w @ o.hvp(x, u))
        tol = SAFETY * ROUND * h_scale * d + 2 * SAFETY * float(np.abs(
            _hvp_error(o, prov, x, u, g_scale, h_scale)).max()) * math.sqrt(d)
        rows.append(_row("Hessian symmetric", abs(a - b), tol,
                         "u.Hw = w.Hu to |u| |err Hw| + |w| |err Hu| (the HVP's error "
                         "bounds) + rounding of the products; x10", lambda k: f"{where}: u.Hw = "
                         f"{a:.10g}, w.Hu = {b:.10g}: the HVP ({prov['hvp_from']}) is "
                         f"not symmetric"))

    # HVP against H v, and linear in v
    hv = o.hvp(x, v)
    e_v = _hvp_error(o, prov, x, v, g_scale, h_scale)
    if dense:
        ref = H @ v
        e_ref = (kernel_err * np.abs(v)[None, :]).sum(axis=1) if np.ndim(kernel_err) \
            else kernel_err * float(np.abs(v).sum())
        hvp_err = ("exact" if prov["hvp"] == "exact"
                   else "a central difference (truncation + rounding)")
        hv_err = ("exact" if prov["hessian"] == "exact"
                  else "from a central-difference Hessian")
        rows.append(_row(
            "HVP = H v", np.abs(hv - ref), SAFETY * (e_v + e_ref),
            f"errors of both sides: HVP {hvp_err}, H v {hv_err} (+ rounding 256 eps "
            f"(1 + max|H|) |v|_1); x{SAFETY:g}",
            lambda k: f"{where}, component {k}: hvp {hv[k]:.10g}, H v {ref[k]:.10g}: "
                      f"the HVP ({prov['hvp_from']}) disagrees with the Hessian "
                      f"({prov['hessian_from']})"))
    a, b = _LINEAR
    u, w = rng.standard_normal(d), rng.standard_normal(d)
    z = a * u + b * w
    lin = o.hvp(x, z) - a * o.hvp(x, u) - b * o.hvp(x, w)
    tol = SAFETY * (_hvp_error(o, prov, x, z, g_scale, h_scale)
                    + abs(a) * _hvp_error(o, prov, x, u, g_scale, h_scale)
                    + abs(b) * _hvp_error(o, prov, x, w, g_scale, h_scale))
    rows.append(_row(
        "HVP linear in v", np.abs(lin), tol,
        f"hvp(a u + b w) - a hvp(u) - b hvp(w), a = {a}, b = {b}: the three HVPs' errors "
        f"(rounding{'' if prov['hvp'] == 'exact' else ', truncation of the differences'}); "
        f"x{SAFETY:g}",
        lambda k: f"{where}, component {k}: hvp(a u + b w) - a hvp(u) - b hvp(w) = "
                  f"{lin[k]:.3g}: the HVP ({prov['hvp_from']}) is not linear in v"))
    return rows


# -- declared critical points -------------------------------------------------------------

def _domain(L):
    if L.domain is None:
        return None
    lo, hi = (np.broadcast_to(np.asarray(b, dtype=float), (L.d,)).copy() for b in L.domain)
    return lo, hi


def declared_points(L) -> list:
    """Every declared critical point where and what it says: well formed, inside the
    domain, distinct, critical, at its energy, of its index and degeneracy."""
    cps = L.critical_points()
    n = len(cps)
    count = Check("critical points declared", n, ">= 1", "declared with critical_points=...",
                  True if n else None, "" if n else "none declared: nothing to check")
    if not n:
        return [count]
    o = _Oracle(L)
    rows = [count]
    X = []
    shape_bad = []
    for k, cp in enumerate(cps):
        x = np.asarray(cp.x, dtype=float)
        if x.shape != (L.d,) or not np.all(np.isfinite(x)):
            shape_bad.append(f"#{k} {cp.x!r}")
        X.append(x)
    rows.append(Check("declared points well formed", len(shape_bad), 0,
                      f"exact: finite, of shape ({L.d},)", not shape_bad,
                      "; ".join(shape_bad[:3]) + (": not finite or not of shape "
                                                   f"({L.d},)" if shape_bad else "")))
    if shape_bad:
        return rows
    X = np.array(X)
    box = _domain(L)
    if box is not None:
        lo, hi = box
        outside = [k for k in range(n) if not np.all((X[k] >= lo) & (X[k] <= hi))]
        malformed = not np.all(lo < hi)
        rows.append(Check(
            "declared points in the domain", len(outside) + int(malformed), 0,
            "exact: low <= x <= high, with low < high", not (outside or malformed),
            "the domain has low >= high somewhere" if malformed else
            f"#{outside[0]} at {_pt(X[outside[0]])} is outside the domain" if outside else ""))
    if n > 1:
        dist = min(np.abs(X[i] - X[j]).max() for i, j in itertools.combinations(range(n), 2))
        pair = next((i, j) for i, j in itertools.combinations(range(n), 2)
                    if np.abs(X[i] - X[j]).max() == dist)
        rows.append(Check("declared points distinct", float(dist), f"> {DISTINCT:g}",
                          "closer points are one point declared twice",
                          bool(dist > DISTINCT), f"#{pair[0]} and #{pair[1]} at "
                          f"{_pt(X[pair[0]])}"))
    dense = L.d <= DENSE_MAX
    probes = np.random.default_rng(0).standard_normal((8, L.d)) / math.sqrt(L.d)
    grads, gtol, errs, etol, index_bad, degen_bad = [], [], [], [], [], []
    for k, (cp, x) in enumerate(zip(cps, X)):
        g, f = o.grad(x), o.value(x)
        if dense:
            H = o.hessian(x)
            ev = np.linalg.eigvalsh(H) if np.all(np.isfinite(H)) else np.full(L.d, np.nan)
            scale = max(1.0, float(np.abs(H).max()))
            s = SINGULAR * max(1.0, float(np.abs(ev).max()))
            index, degenerate = int(np.sum(ev < -s)), bool(np.any(np.abs(ev) <= s))
            if index != cp.index or not np.all(np.isfinite(ev)):
                index_bad.append((k, index, ev))
            if degenerate != cp.degenerate:
                degen_bad.append((k, degenerate, ev))
        else:                   # |H| estimated from products with random unit vectors
            scale = max([1.0] + [float(np.abs(o.hvp(x, v)).max()) for v in probes])
        grads.append(float(np.abs(g).max()))
        gtol.append(DIGITS * max(1.0, float(np.abs(x).max())) * scale
                    + ROUND * (1.0 + float(np.abs(g).max())))
        errs.append(abs(f - cp.energy))
        etol.append(DIGITS * max(1.0, abs(cp.energy)))

    def at(k):
        return f"declared point #{k} at {_pt(X[k])}"
    rows.append(_row(
        "declared points critical", grads, gtol,
        "|grad f|_inf <= 1e-9 max(1,|x|) max(1,max|H|) + rounding: a location rounded to "
        "9 digits moves the gradient by |H| dx",
        lambda k: f"{at(k)}: |grad f| = {grads[k]:.3g}"
                  f"{' -- not a critical point' if grads[k] > gtol[k] else ''}"))
    rows.append(_row(
        "declared energies", errs, etol,
        "declared to 9 significant digits: 1e-9 max(1, |E|); f's rounding is far below",
        lambda k: f"{at(k)}: f = {o.value(X[k]):.12g}, declared {cps[k].energy:.12g}"))
    if not dense:
        return rows + [Check(row, "-", "-", f"dense eigenvalues only up to d = {DENSE_MAX}",
                             None, f"not checked at d = {L.d}")
                       for row in ("declared Morse indices", "declared degeneracy")]
    first = index_bad[0] if index_bad else None
    rows.append(Check(
        "declared Morse indices", f"{len(index_bad)} of {n} differ", 0,
        f"exact: eigenvalues below -{SINGULAR:g} max(1, max|lambda|) counted "
        f"(testbed.measure.classify)", not index_bad,
        f"{at(first[0])}: index {first[1]} (eigenvalues {_pt(first[2])}), declared "
        f"{cps[first[0]].index}" if first else ""))
    first = degen_bad[0] if degen_bad else None
    kind = {True: "degenerate", False: "non-degenerate"}
    rows.append(Check(
        "declared degeneracy", f"{len(degen_bad)} of {n} differ", 0,
        f"exact: degenerate iff some |lambda| <= {SINGULAR:g} max(1, max|lambda|)",
        not degen_bad,
        f"{at(first[0])}: {kind[first[1]]} (eigenvalues {_pt(first[2])}), declared "
        f"{kind[cps[first[0]].degenerate]}" if first else ""))
    return rows


# -- completeness: no undeclared critical point in the domain ---------------------------------

def _starts(lo, hi, d, seed):
    """A grid of about GRID_STARTS points (where 3 or more per axis fit) and
    RANDOM_STARTS seeded uniform points in the box."""
    per_axis = int(math.floor(GRID_STARTS ** (1.0 / d) + 1e-9))
    parts, grid = [], 0
    if per_axis >= 3:
        axes = [np.linspace(a, b, per_axis + 2)[1:-1] for a, b in zip(lo, hi)]
        parts.append(np.array(list(itertools.product(*axes))))
        grid = len(parts[0])
    rng = np.random.default_rng(seed)
    parts.append(lo + (hi - lo) * rng.random((RANDOM_STARTS, d)))
    return np.vstack(parts), grid, per_axis


def completeness(L, *, seed=0) -> list:
    """A seeded Newton search of the declared domain: every critical point it finds is
    declared, and it reaches every non-degenerate declared point (module docstring)."""
    name = "no undeclared critical point"
    box = _domain(L)
    if box is None:
        return [Check(name, "-", "-", "not claimed: no domain declared (declaring "
                      "domain=(low, high) claims every critical point in it is declared)",
                      None, "no domain declared")]
    if L.d > SEARCH_MAX_D:
        return [Check(name, "-", "-", f"Newton's search (dense Hessians, starts that cover "
                      f"the box) only up to d = {SEARCH_MAX_D}", None,
                      f"not checked at d = {L.d}")]
    from .critical import search
    lo, hi = box
    cps = L.critical_points()
    X = np.array([cp.x for cp in cps], dtype=float).reshape(len(cps), L.d)
    o = _Oracle(L)
    scale = max([1.0] + [float(np.abs(o.hessian(x)).max()) for x in X])
    starts, grid, per_axis = _starts(lo, hi, L.d, seed)
    res = search(L, starts, "newton", SEARCH_ITERS, max_step=0.25 * float(np.min(hi - lo)),
                 gtol=1e-10 * scale)
    inside = np.all((res.x >= lo - 1e-9) & (res.x <= hi + 1e-9), axis=1)
    ok = res.converged & inside
    found = res.x[ok]
    coverage = (f"{len(starts)} starts ({f'{per_axis}^{L.d} grid + ' if grid else ''}"
                f"{RANDOM_STARTS} random), Newton <= {SEARCH_ITERS} iterations: "
                f"{int(ok.sum())} converged in the domain ({100 * ok.mean():.0f}%)")
    radius = np.array([MATCH_DEGENERATE if cp.degenerate else MATCH for cp in cps])
    if len(cps):
        dist = np.abs(found[:, None, :] - X[None, :, :]).max(axis=2)
        matched = dist < radius[None, :]
    else:
        matched = np.zeros((len(found), 0), bool)
    rows = [Check("search coverage", f"{int(ok.sum())} of {len(starts)}", ">= 1",
                  coverage, bool(ok.any()),
                  "" if ok.any() else "the search found no critical point at all")]
    missed = [k for k, cp in enumerate(cps) if not cp.degenerate and not matched[:, k].any()]
    nondeg = sum(not cp.degenerate for cp in cps)
    rows.append(Check(
        "search reaches declared points", f"{nondeg - len(missed)} of {nondeg}", "all",
        "Newton is attracted to every non-degenerate critical point: missing one means "
        "too weak a search", not missed,
        f"declared #{missed[0]} at {_pt(X[missed[0]])} was not reached" if missed else ""))
    extra = found[~matched.any(axis=1)] if len(found) else found
    keep = []
    for x in extra:                                     # distinct undeclared points
        if all(np.abs(x - y).max() > MATCH for y in keep):
            keep.append(x)
    if {"degenerate", "critical-manifold"} & set(L.tags):
        energies = np.array([cp.energy for cp in cps if cp.degenerate])
        off = []
        for x in keep:
            H = o.hessian(x)
            flat = np.abs(np.linalg.eigvalsh(H)).min() < 1e-5 * max(1.0, np.abs(H).max())
            near = energies.size and np.abs(energies - o.value(x)).min() < 1e-8
            if not (flat and near):
                off.append(x)
        rows.append(Check(
            name, f"{len(off)} off the critical sets", 0,
            f"tagged {'/'.join(sorted({'degenerate', 'critical-manifold'} & set(L.tags)))}: "
            f"an undeclared point must be degenerate (|lambda|min < 1e-5 max(1,max|H|)) at "
            f"a declared degenerate point's energy (1e-8); {coverage}", not off,
            f"undeclared critical point at {_pt(off[0])}, f = {o.value(off[0]):.6g}"
            if off else f"{len(keep)} undeclared points, all on declared critical sets"))
    else:
        rows.append(Check(
            name, len(keep), 0, f"converged points within 1e-6 of a declared one (1e-3 if "
            f"degenerate); {coverage}", not keep,
            f"{len(keep)} undeclared critical point(s) in the domain, e.g. at "
            f"{_pt(keep[0])} (f = {o.value(keep[0]):.6g}): declare them" if keep else ""))
    return rows


# -- parameters ---------------------------------------------------------------------------------

def _outside(spec, base):
    """Values of a parameter that its domain must refuse, with a description."""
    vals = [(math.nan, "NaN")]
    if math.isfinite(spec.low):
        bad = spec.low if spec.exclusive_low else spec.low - max(1.0, abs(spec.low))
        vals.append((bad, f"{bad:g}, below its domain {spec.domain()}"))
    if math.isfinite(spec.high):
        bad = spec.high if spec.exclusive_high else spec.high + max(1.0, abs(spec.high))
        vals.append((bad, f"{bad:g}, above its domain {spec.domain()}"))
    if spec.integer:
        frac = (max(spec.low, 0.0) if math.isfinite(spec.low) else 0.0) + 0.5
        vals.append((frac, f"{frac:g}, not a whole number"))
    out = []
    for value, text in vals:
        if spec.vector:
            arr = np.array(base, dtype=float, copy=True)
            arr[0] = value
            out.append((arr, f"entry 0 = {text}"))
        else:
            out.append((value, text))
    return out


def parameter_domains(L) -> list:
    """Binding a parameter outside its declared domain is refused."""
    tried, accepted = 0, []
    for key, spec in L.params.items():
        for value, text in _outside(spec, L.values.get(key)):
            tried += 1
            try:
                L.bind(d=L.d, **{key: value})
            except TestbedError:
                continue
            accepted.append(f"{key} = {text}")
    if not tried:
        return [Check("parameter domains enforced", "no parameters", "-",
                      "nothing to enforce", None, "")]
    return [Check("parameter domains enforced", f"{tried - len(accepted)} of {tried} refused",
                  "all", "each parameter bound just outside its domain, to NaN, and "
                  "(integers) to a fraction", not accepted,
                  f"binding {accepted[0]} was accepted" if accepted else "")]


# -- whole landscapes -----------------------------------------------------------------------

def points(L, k=3, seed=0) -> np.ndarray:
    """k seeded points: uniform in the middle 90% of the domain box, else in [-2, 2]^d."""
    rng = np.random.default_rng(seed)
    box = _domain(L)
    lo, hi = box if box is not None else (-2.0 * np.ones(L.d), 2.0 * np.ones(L.d))
    return lo + (hi - lo) * rng.uniform(0.05, 0.95, size=(k, L.d))


def _label(L) -> str:
    parts = [f"d={L.d}"]
    for k, v in L.values.items():
        if v.ndim == 0:
            parts.append(f"{k}={float(v):g}")
        else:
            parts.append(f"{k}=[{', '.join(f'{t:g}' for t in v[:4])}"
                         f"{', ...' if v.size > 4 else ''}]")
    return f"{L.name} ({', '.join(parts)})"


def _failed(group: str, exc: BaseException) -> Check:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return Check(group, type(exc).__name__, "no exception", "the check could not run",
                 False, f"{type(exc).__name__}: {first}")


def _derivative_rows(L, n_points, seed) -> list:
    per_point = [derivatives(L, x, seed=seed + k)
                 for k, x in enumerate(points(L, n_points, seed))]
    return [_worst([p[j] for p in per_point]) for j in range(len(per_point[0]))]


def landscape(L, *, n_points=3, seed=0) -> Report:
    """Every check of :mod:`testbed.verify` on the bound landscape ``L``.

    Parameters
    ----------
    L : Landscape
        Bound (``testbed.landscape(name, ...)``).
    n_points : int
        Seeded points at which the derivatives are checked.
    seed : int
        Seeds the points, the directions and the completeness search.

    Returns
    -------
    Report
        One row per check (the worst point for the derivative checks); ``passed`` is
        False if any fails. A kernel that raises is reported as a failing row, never
        raised.

    Raises
    ------
    TestbedError
        If ``n_points`` is not a positive integer.
    """
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1:
        raise TestbedError(f"n_points must be a positive integer, got {n_points!r}")
    start = time.perf_counter()
    try:
        kernels = describe(L)
    except Exception as exc:            # noqa: BLE001 - a user's kernel: reported as a row
        return Report(_label(L), "not loaded", [_failed("kernels load", exc)],
                      time.perf_counter() - start)
    rows = []
    for group, run in (("derivatives", lambda: _derivative_rows(L, n_points, seed)),
                       ("declared points", lambda: declared_points(L)),
                       ("completeness", lambda: completeness(L, seed=seed)),
                       ("parameter domains", lambda: parameter_domains(L))):
        try:
            rows += run()
        except Exception as exc:        # noqa: BLE001 - reported as a failing row
            rows.append(_failed(group, exc))
    return Report(_label(L), kernels, rows, time.perf_counter() - start)


def entries(names=None, *, d=5, n_points=3, seed=0) -> list:
    """:func:`landscape` on catalogue entries (default: all), each bound with its
    defaults, in ``d`` dimensions where the entry works in any d.

    Parameters
    ----------
    names : list of str, optional
        Catalogue names (``testbed.landscapes()``, yours included).
    d : int
        The dimension of entries that work in any d.
    n_points, seed
        As for :func:`landscape`.

    Returns
    -------
    list of Report
    """
    from .objective.registry import entry, names as all_names
    out = []
    for name in (all_names() if names is None else names):
        e = entry(name)
        try:
            L = e.bind(d=None if e.dim else d)
        except TestbedError as exc:
            out.append(Report(name, "not bound", [Check(
                "binds with its defaults", "refused", "bound", "every check needs a "
                "binding", False, str(exc))]))
            continue
        out.append(landscape(L, n_points=n_points, seed=seed))
    return out


__all__ = ["Check", "Report", "completeness", "declared_points", "derivatives", "describe",
           "entries", "landscape", "outputs_written", "parameter_domains", "points",
           "provenance", "DENSE_MAX", "DIGITS", "EPS", "ROUND", "SAFETY", "SEARCH_MAX_D",
           "SINGULAR", "STEP"]
