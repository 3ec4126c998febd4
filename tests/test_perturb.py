"""Inputs perturbed at the level of rounding (testbed.perturb): off by default, the
same in every process, of the size asked for, and refused outside its range."""
import numpy as np
import pytest

import testbed
from testbed import TestbedError, perturb


def test_off_by_default(monkeypatch):
    monkeypatch.delenv(perturb.ENV, raising=False)
    a = np.linspace(-1, 1, 7)
    assert perturb.inputs(a) is a and perturb.level() == 0.0


def test_relative_size_and_determinism(monkeypatch):
    monkeypatch.setenv(perturb.ENV, "1e-15")
    a = np.linspace(1, 2, 1000)
    b = perturb.inputs(a)
    rel = np.abs(b / a - 1)
    assert 0 < rel.max() <= 1e-15 + 2 * 2.0**-52      # eps, plus the rounding of the product
    np.testing.assert_array_equal(b, perturb.inputs(a))        # same stream every time
    assert not np.array_equal(b, perturb.inputs(a, salt=1))


@pytest.mark.parametrize("text", ["-1e-16", "1e-3", "abc", "nan"])
def test_out_of_range_is_refused(monkeypatch, text):
    monkeypatch.setenv(perturb.ENV, text)
    with pytest.raises(TestbedError, match=perturb.ENV):
        perturb.level()


def test_run_perturbs_starting_points_and_records_it(monkeypatch):
    L = testbed.landscape("quadratic", d=3)
    plain = testbed.run(L, "gd", np.ones(3), steps=1, eta=0.1)
    monkeypatch.setenv(perturb.ENV, "1e-12")
    moved = testbed.run(L, "gd", np.ones(3), steps=1, eta=0.1)
    assert moved.meta["perturb"] == 1e-12 and plain.meta["perturb"] == 0.0
    assert 0 < np.max(np.abs(moved.x - plain.x)) < 1e-11


def test_network_data_is_perturbed(monkeypatch):
    from testbed import nets
    X = np.linspace(0.5, 1.5, 12).reshape(6, 2)
    Y = np.ones((6, 1))
    plain = nets.feedforward((2, 1), X, Y).p
    monkeypatch.setenv(perturb.ENV, "1e-12")
    moved = nets.feedforward((2, 1), X, Y).p
    assert 0 < np.max(np.abs(moved - plain)) < 2e-12
