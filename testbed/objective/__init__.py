"""What a loss landscape is: :class:`Landscape` (a family f(x; p) with its declared
parameters, critical points and provenance), :class:`Param`, :class:`CriticalPoint`;
landscapes from SymPy (:func:`symbolic`) or hand-written Numba kernels
(:func:`from_kernels`); the registry of the catalogue and users' folders
(:mod:`.registry`); the compiled oracle, with what the kernels lack derived
(:mod:`.oracle`); the checks of hand-written kernels on first use (:mod:`.checks`).
The public names are re-exported by :mod:`testbed` (this package exports none
itself, so no name shadows one of its modules)."""
