"""Numerical edge cases follow numpy, values and warnings policy, on the scalar and the array path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg

CASES = [
    ("log(-1)", lambda x: sg.log(x), np.log, -1.0),
    ("log(0)", lambda x: sg.log(x), np.log, 0.0),
    ("sqrt(-1)", lambda x: sg.sqrt(x), np.sqrt, -1.0),
    ("1/0", lambda x: 1 / x, lambda x: np.float64(1.0) / x, 0.0),
    ("exp-overflow", lambda x: sg.exp(x), np.exp, 1000.0),
    ("mul-overflow", lambda x: x * x, lambda x: x * x, 1e200),
    ("arccos(2)", lambda x: sg.arccos(x), np.arccos, 2.0),
]
IDS = [c[0] for c in CASES]


def _numpy(npfn, x):
    with np.errstate(all="ignore"):
        return np.float64(npfn(np.float64(x)))


@pytest.mark.parametrize("name, fn, npfn, x", CASES, ids=IDS)
def test_default_policy_values_and_warnings_match_numpy(name, fn, npfn, x):
    f = sg.compile(fn)
    expected = _numpy(npfn, x)
    for arg in (x, np.array([x])):
        with warnings.catch_warnings(record=True) as ours:
            warnings.simplefilter("always")
            got = np.float64(np.asarray(f(arg)).reshape(-1)[0])
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            npfn(np.array([np.float64(x)]))
        np.testing.assert_array_equal(got, expected)
        assert {type(w.message) for w in ours} == {type(w.message) for w in theirs}, name


@pytest.mark.parametrize("name, fn, npfn, x", CASES, ids=IDS)
def test_errstate_raise_raises_floating_point_error_like_numpy(name, fn, npfn, x):
    f = sg.compile(fn)
    with np.errstate(all="raise"):
        with pytest.raises(FloatingPointError):
            npfn(np.array([np.float64(x)]))
        with pytest.raises(FloatingPointError):
            f(np.array([x]))
        with pytest.raises(FloatingPointError):
            f(x)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(np.float64(f(x)), _numpy(npfn, x))


def test_nan_and_inf_inputs_propagate_without_warnings():
    f = sg.compile(lambda x: 2 * x + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(np.inf) == np.inf and np.isnan(f(np.nan))
        np.testing.assert_array_equal(f(np.array([np.inf, -np.inf])), [np.inf, -np.inf])


# Kinks: JAX's conventions, stated in ops.py and the README.
@pytest.mark.parametrize("path", [float, lambda v: np.array([v])])
def test_kink_conventions(path):
    def d(fn, *args, argnums=0):
        out = sg.grad(fn, argnums=argnums)(*(path(a) for a in args))
        return (
            np.asarray(out, dtype=float).reshape(-1)
            if not isinstance(out, tuple)
            else [float(np.squeeze(o)) for o in out]
        )

    assert d(sg.abs, 0.0)[0] == 1.0  # d|x|/dx = 1 at 0
    assert d(sg.relu, 0.0)[0] == 0.0  # relu'(0) = 0
    assert d(sg.sign, 0.0)[0] == 0.0
    assert d(lambda x: sg.where(x > 0, 1.0, 0.0) * 3, 0.0)[0] == 0.0  # comparisons have derivative 0
    assert d(sg.maximum, 1.0, 1.0, argnums=(0, 1)) == [0.5, 0.5]  # ties split equally
    assert d(sg.minimum, 1.0, 1.0, argnums=(0, 1)) == [0.5, 0.5]
    assert d(lambda x: sg.clip(x, 0.0, 1.0), 1.0)[0] == 0.5
    # away from the kinks, the ordinary derivatives
    assert d(sg.abs, -2.0)[0] == -1.0 and d(sg.relu, 2.0)[0] == 1.0
    assert d(sg.maximum, 2.0, 1.0, argnums=(0, 1)) == [1.0, 0.0]
