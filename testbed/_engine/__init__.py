"""The engine's internals, which users do not import: compile options
(:mod:`.jit`), per-replica random streams (:mod:`.rng`), BLAS threads (:mod:`.blas`),
compiled-code instances and generated modules (:mod:`.codegen`, :mod:`.templates`),
the ensemble runner (:mod:`.runner`) and its vectorised GD path (:mod:`.lanes`).
What user kernels and rules need from here is re-exported by :mod:`testbed.kernel`."""
from . import jit  # noqa: E402,F401  (sets Numba's cache folder before any kernel is compiled)
