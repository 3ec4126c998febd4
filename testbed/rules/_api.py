"""The names an update rule may use, and the contract it follows.

An update rule is a module in :mod:`testbed.rules` (or a user's module) with

- ``HYPER``: ordered dict of hyper-parameter names to defaults (None: required);
- ``STATE``: the number of length-d state vectors it keeps (``s`` has shape (STATE, d));
- ``SCALARS``: the number of per-replica scalars it keeps after ``c[0]``
  (``c[0]`` is reserved: a rule sets it to 1 to say "this replica is finished");
- optionally ``NEEDS``: oracle functions beyond the always-present ones (for example
  ``("value_grad_batch", "n_samples")`` for mini-batch rules on finite sums);
- ``init(x, s, c, h, p, rng)`` and ``step(t, x, g, s, c, h, p, rng) -> f``, plain
  Python functions in Numba's subset. ``step`` advances ``x`` in place from x_t to
  x_{t+1}, leaves in ``g`` the gradient it used, and returns f at the point where it
  evaluated it (the runner flags divergence when that is not finite).

The functions are compiled together with a landscape's kernels (the source is copied
into a generated module, see :mod:`testbed._codegen`), where these names are bound:

- ``value_grad(x, p, g) -> f``, ``hessian(x, p, H)``, ``hvp(x, p, v, out)``: the
  landscape's oracle; on finite sums also ``value_grad_batch(x, p, idx, g) -> f_B``
  and ``n_samples(p)``, and on the networks of :mod:`testbed.nets`
  ``value_grad_inputs(x, p, Xb, Yb, g, gx) -> f_B`` (the mean loss on a batch of
  inputs Xb, flat row-major, with its input gradient into gx);
- ``project(x, q)``: the projection chosen for the run (identity by default);
- ``normal(rng)``, ``uniform(rng)``, ``uniform_ball(rng, out, radius)``: the replica's
  random stream (:mod:`testbed._rng`); ``np`` and ``math``.

The placeholders below only exist so that rule modules read as ordinary Python.
"""
import math  # noqa: F401  (re-exported for rule modules)

import numpy as np  # noqa: F401

from .._engine.rng import normal, uniform, uniform_ball  # noqa: F401


def _bound_at_compile_time(*args):
    raise RuntimeError("update-rule functions run only inside a compiled ensemble; "
                       "use testbed.run(...)")


value_grad = hessian = hvp = project = _bound_at_compile_time
value_grad_batch = n_samples = value_grad_inputs = _bound_at_compile_time
