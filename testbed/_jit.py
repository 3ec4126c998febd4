"""Moved to :mod:`testbed.kernel` (``from testbed.kernel import njit``); kept so that
kernel files written for testbed 0.1 still load, with a warning."""
import warnings

from .kernel import njit  # noqa: F401

warnings.warn("testbed._jit has moved: use 'from testbed.kernel import njit'",
              DeprecationWarning, stacklevel=2)
