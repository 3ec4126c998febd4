"""testbed: loss landscapes and the dynamics of gradient methods on them.

Public namespace:

- landscapes: :func:`landscape` (a catalogue entry, bound), :func:`landscapes`
  (the names), :func:`symbolic` (from SymPy), :func:`from_kernels` (from Numba
  functions), :class:`Landscape`, :class:`Param`, :class:`CriticalPoint`,
  :func:`add_folder` (your own catalogue folder), :func:`register`;
- dynamics: :func:`run` (an ensemble of one update rule), :mod:`testbed.rules`
  (gd, heavy_ball, nesterov, noisy_gd, perturbed_gd, sam, adam, newton, sfn,
  projected_gd, gradient_flow, gradient_ascent, sgd), :mod:`testbed.events`,
  :mod:`testbed.projections`, :class:`Result`;
- measurements: :mod:`testbed.measure` (Hessian spectra, critical-point
  classification), :mod:`testbed.curvature` (Lanczos with error bounds, Hutchinson
  traces, spectral densities), :mod:`testbed.critical` (critical points of every
  index), :mod:`testbed.slices` (Li et al.'s slices and directions);
- networks as landscapes: :mod:`testbed.nets`; extension points for kernels and
  rules: :mod:`testbed.kernel`; theory the claims compare against:
  :mod:`testbed.theory`;
- claims: :mod:`testbed.claims` (``testbed check``), benchmarks :mod:`testbed.bench`.
"""
from . import _engine  # noqa: F401  (first: Numba's cache folder is set there)
from ._version import __version__
from .ensemble import run
from .errors import TestbedError
from .objective.landscape import CriticalPoint, Landscape, Param, from_kernels
from .objective.registry import add_folder, landscape, names as landscapes, register
from .objective.symbolic import symbolic
from .result import Result

__all__ = ["__version__", "run", "TestbedError", "CriticalPoint", "Landscape", "Param",
           "from_kernels", "add_folder", "landscape", "landscapes", "register", "Result",
           "symbolic"]
