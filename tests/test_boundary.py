"""Arguments are validated at the boundary, before compiled code sees them: random bad
arguments thrown at run, the events and the measurements give either a TestbedError
that names the argument or a valid result, never a crash or a silent wrong answer."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import testbed
from testbed import TestbedError, curvature, events, measure, projections

D = 3


@pytest.fixture(scope="module")
def L():
    L = testbed.landscape("quadratic", d=D)
    testbed.run(L, "gd", np.ones(D), steps=2, eta=0.1)          # compiled once
    testbed.run(L, "adam", np.ones(D), steps=2, eta=0.1)
    testbed.run(L, "gd", np.ones(D), steps=2, eta=0.1, event=events.escape(0, 1.0))
    return L


ints = st.one_of(st.integers(-2**65, 2**65), st.sampled_from([0, -1, 2**63, 2**64 - 1]))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -1.0, 1.5, math.inf, math.nan]))
anything = st.one_of(ints, floats, st.none(), st.booleans(), st.text(max_size=3),
                     st.lists(st.floats(-2, 2), max_size=4))


def _valid_or_named(call, *names):
    try:
        return call()
    except TestbedError as exc:
        assert any(n in str(exc) for n in names), (names, str(exc))
        return None


@settings(max_examples=60)
@given(n=st.one_of(st.none(), st.integers(-3, 40), st.sampled_from([2**63, 2.0])),
       steps=st.one_of(st.integers(-3, 40), st.sampled_from([2**62 + 1, 2**64, 3.0])),
       seed=ints, stride=ints)
def test_run_counts_and_seeds(L, n, steps, seed, stride):
    res = _valid_or_named(lambda: testbed.run(L, "gd", np.ones(D), steps=steps, n=n,
                                              seed=seed, stride=stride, eta=0.1),
                          "n ", "steps", "seed", "stride", "n =", "x0")
    if res is not None:
        assert res.x.shape == ((1 if n is None else n), D)
        assert 0 < n if n is not None else True
        assert -2**63 <= seed < 2**63


@settings(max_examples=60)
@given(eta=floats, beta1=floats, beta2=floats, eps=floats)
def test_adam_hyper_parameters_in_their_domains(L, eta, beta1, beta2, eps):
    res = _valid_or_named(lambda: testbed.run(L, "adam", np.ones(D), steps=2, eta=eta,
                                              beta1=beta1, beta2=beta2, eps=eps),
                          "'eta'", "'beta1'", "'beta2'", "'eps'")
    if res is not None:
        assert eta > 0 and 0 <= beta1 < 1 and 0 <= beta2 < 1 and eps >= 0


@settings(max_examples=60)
@given(coord=anything, radius=anything)
def test_escape_event_coordinates_are_checked(L, coord, radius):
    def go():
        return testbed.run(L, "gd", np.ones(D), steps=3, n=2, eta=0.1,
                           event=events.escape(coord, radius))
    res = _valid_or_named(go, "coordinate", "radius")
    if res is not None:
        assert 0 <= coord < D and radius > 0


@settings(max_examples=40)
@given(x0=st.one_of(st.lists(floats, min_size=0, max_size=5), anything))
def test_starting_points_are_checked(L, x0):
    res = _valid_or_named(lambda: testbed.run(L, "gd", x0, steps=2, eta=0.1),
                          "x0", "coordinates")
    if res is not None:
        assert np.asarray(x0, float).shape == (D,) and np.all(np.isfinite(x0))


@settings(max_examples=40)
@given(x=st.one_of(st.lists(floats, min_size=0, max_size=5), anything), k=anything)
def test_measurements_check_point_and_sizes(L, x, k):
    for call, names in (
            (lambda: measure.top_eigenvalues(L, x, k=k), ("x", "k ", "k =", "point")),
            (lambda: measure.classify(L, x), ("x", "point")),
            (lambda: curvature.top_eigenvalues(L, x, k=k), ("x", "k", "point"))):
        out = _valid_or_named(call, *names)
        if out is not None:
            assert np.asarray(x, float).shape == (D,)


@settings(max_examples=30)
@given(radius=anything, low=anything, high=anything)
def test_projection_parameters_are_checked(L, radius, low, high):
    for make, names in ((lambda: projections.ball(radius), ("radius",)),
                        (lambda: projections.box(low, high), ("box",))):
        proj = _valid_or_named(make, *names)
        if proj is not None:
            assert not np.any(np.isnan(proj.params))
