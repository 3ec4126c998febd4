"""First-use checks of a landscape's compiled kernels, so that a wrong user kernel
fails with a message instead of a wrong result.

At a few seeded points (inside the declared domain, else N(0, 1/4) around the
origin) the value must be a finite scalar, and the gradient must agree with a
central difference of the value along each coordinate (d <= 50) or along three
random directions v: |g.v - D_v f| <= 1e-5 (1 + |g| |v|). That is far above the
difference's own error (h^2 |D^3 f| / 6 + u |f| / h, about 1e-10 at h = u^(1/3))
and far below the error of a wrong derivative. For piecewise-smooth functions (ReLU
networks) a kink within h of x spoils the difference, so a disagreement is retried
at h/100 and h/10^4 before it is reported.

A hand-written ``value_grad_lanes`` (the columns-at-once kernel of noisy GD's
vectorised backend) must equal ``value_grad`` at every column bit for bit; it is
checked at those points (and a column of zeros) before its first use.

This check is cheap and coarse by design; :mod:`testbed.verify` (``testbed verify``)
checks what it cannot see: the gradient to the central difference's own accuracy,
Hessian and HVP kernels, and the declared critical points.
"""
from __future__ import annotations

import numpy as np

from ..errors import TestbedError

_DONE: set = set()
FD_TOL = 1e-5


def _points(L, k=3):
    rng = np.random.default_rng(12345)
    if L.domain is not None:
        lo, hi = (np.broadcast_to(np.asarray(b, float), (L.d,)) for b in L.domain)
        return lo + (hi - lo) * rng.uniform(0.1, 0.9, size=(k, L.d))
    return 0.5 * rng.standard_normal((k, L.d))


def compile_error(L, what, exc) -> TestbedError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TestbedError(
        f"kernel {what} of landscape {L.name!r} failed ({first}); kernels are Numba "
        f"functions value_grad(x, p, g) -> float (writing g in place), hessian(x, p, H), "
        f"hvp(x, p, v, out) over float64 arrays")


def _directional(oracle, p, x, v, h) -> float:
    """Central difference of f along v, f taken from value_grad (the kernel this check
    compiles anyway; a separate ``value`` kernel need not be compiled for it)."""
    g = np.empty(x.shape[0])
    return (oracle.value_grad(x + h * v, p, g) - oracle.value_grad(x - h * v, p, g)) / (2 * h)


def check_kernels(L, oracle) -> None:
    """Validate value and gradient of a bound landscape once per (name, d, p)."""
    key = (L.name, L.d, L.p.tobytes())
    if key in _DONE:
        return
    from numba.core.errors import NumbaError
    for x in _points(L):
        g = np.zeros(L.d)
        try:
            f = oracle.value_grad(x, L.p, g)
        except NumbaError as exc:
            raise compile_error(L, "value_grad", exc) from None
        if np.ndim(f) != 0:
            raise TestbedError(f"value_grad of landscape {L.name!r} must return the value "
                               f"as a scalar; it returned shape {np.shape(f)}")
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            raise TestbedError(f"landscape {L.name!r} returned a non-finite value or "
                               f"gradient at x = {x.tolist()}; fix the kernel or declare a "
                               f"domain=... on which it is defined")
        dirs = np.eye(L.d) if L.d <= 50 else np.random.default_rng(7).standard_normal((3, L.d))
        for i, v in enumerate(dirs):
            h0 = np.finfo(float).eps ** (1 / 3) * max(1.0, float(np.linalg.norm(x)))
            h0 /= np.linalg.norm(v)
            gv = float(g @ v)
            tol = FD_TOL * (1 + np.linalg.norm(g) * np.linalg.norm(v))
            # a kink (ReLU) within h of x spoils one difference: retry at smaller steps
            fds = [_directional(oracle, L.p, x, v, h0 * s) for s in (1.0, 1e-2, 1e-4)]
            if min(abs(gv - fd) for fd in fds) > tol:
                where = f"coordinate {i}" if L.d <= 50 else "a random direction"
                raise TestbedError(
                    f"the gradient of landscape {L.name!r} disagrees with finite "
                    f"differences at x = {np.round(x, 4).tolist()[:8]}, along {where}: "
                    f"kernel {gv:.6g}, central difference {fds[0]:.6g}; check value_grad")
    _DONE.add(key)


_LANES_DONE: set = set()


def check_lanes(L, oracle) -> None:
    """Raise unless a hand-written ``value_grad_lanes`` equals ``value_grad`` bit for bit
    at the check points (once per (name, d, p); SymPy landscapes generate both from
    the same expressions)."""
    key = (L.name, L.d, L.p.tobytes())
    if L.kernels[0] != "module" or key in _LANES_DONE:
        return
    from numba.core.errors import NumbaError
    X = np.vstack([_points(L), np.zeros(L.d)])
    B = np.ascontiguousarray(X.T)
    G, F = np.empty_like(B), np.empty(B.shape[1])
    try:
        oracle.value_grad_lanes(B, L.p, G, F)
    except NumbaError as exc:
        raise compile_error(L, "value_grad_lanes", exc) from None
    for r, x in enumerate(X):
        g = np.empty(L.d)
        f = oracle.value_grad(x, L.p, g)
        if not (np.array_equal(np.float64(f).view(np.int64), F[r].view(np.int64))
                and np.array_equal(g.view(np.int64), G[:, r].view(np.int64))):
            raise TestbedError(
                f"value_grad_lanes of landscape {L.name!r} differs from value_grad at "
                f"x = {np.round(x, 4).tolist()[:8]} (f {F[r]!r} against {f!r}); it must "
                f"do the same operations in the same order on each column B[:, r]")
    _LANES_DONE.add(key)
