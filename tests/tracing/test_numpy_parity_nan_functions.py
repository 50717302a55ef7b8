"""``np.isnan`` / ``np.isinf`` / ``np.isfinite`` and ``np.fmax`` / ``np.fmin`` (and their ``.reduce``) as numpy's.

The class tests were refused ("symgrad does not support 'numpy.isnan'"), and ``x != x`` is no
substitute: the graph takes a value to equal itself (``x - x`` is 0, as in sympy).  ``fmax`` and
``fmin`` were ``maximum`` and ``minimum``, which propagate a nan where numpy's take the other
operand (``np.fmax(nan, 1.0)`` is 1.0; it was nan), and ``np.fmax.reduce`` skips nans.
"""

import shutil

import numpy as np
import pytest

import symgrad as sg

BACKENDS = ["numpy"] + (["c"] if shutil.which("cc") or shutil.which("gcc") else [])
NAN, INF = np.nan, np.inf
V = np.array([NAN, 1.5, INF, -INF, -0.0, 0.0, -2.0, 5e-324, 1e308])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_class_tests_are_numpys(name, backend):
    test = getattr(np, name)
    f = sg.jit(lambda x: test(x) * 1.0, backend=backend)  # numpy's bool array times 1.0
    np.testing.assert_array_equal(f(V), test(V) * 1.0)
    assert [f(float(v)) for v in V] == list(test(V) * 1.0)  # the one-point path
    clean = sg.jit(lambda x: np.where(np.isnan(x), 0.0, x), backend=backend)
    np.testing.assert_array_equal(clean(V), np.where(np.isnan(V), 0.0, V))
    # a bool array: + is numpy's logical or
    either = sg.jit(lambda x: np.isnan(x) + np.isinf(x), backend=backend)
    np.testing.assert_array_equal(either(V), (np.isnan(V) + np.isinf(V)).astype(float))


def test_class_tests_have_zero_derivatives_and_read_back():
    x = sg.symbols("x")
    assert sg.grad(lambda x: np.where(np.isfinite(x), x**2, 0.0))(3.0) == 6.0
    assert str(sg.diff(sg.where(sg.isfinite(x), x**2, 0), x)) == "where(isfinite(x), 2*x, 0)"
    assert sg.parse_formula("isnan(x) + isinf(x)").value is sg.isnan(x) + sg.isinf(x)
    assert sg.to_sympy(sg.isfinite(x)) == 1  # a real symbol is finite, as sympy's


A = np.array([NAN, 1.0, NAN, -2.0, 4.0, INF, -INF])
B = np.array([1.0, NAN, NAN, 3.0, -1.0, NAN, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_and_fmin_take_the_operand_that_is_not_nan(name, backend):
    fn = getattr(np, name)
    np.testing.assert_array_equal(sg.jit(fn, backend=backend)(A, B), fn(A, B))
    m = np.array([[NAN, 1.0, 2.0], [NAN, NAN, NAN], [3.0, NAN, -1.0], [0.5, 7.0, -3.0]])
    rows = sg.jit(lambda a: fn.reduce(a, axis=1), shapes=[(4, 3)], backend=backend)
    np.testing.assert_array_equal(rows(m), fn.reduce(m, axis=1))
    whole = sg.jit(lambda a: fn.reduce(a, axis=None), shapes=[(4, 3)], backend=backend)
    assert whole(m) == fn.reduce(m, axis=None)


def test_fmax_derivatives_follow_the_operand_taken():
    grad = sg.grad(lambda u, v: np.fmax(u, v), argnums=(0, 1))
    assert grad(1.0, 2.0) == (0.0, 1.0) and grad(3.0, 2.0) == (1.0, 0.0)
    assert grad(2.0, 2.0) == (0.5, 0.5)  # a tie shares it, as maximum's (JAX's convention)
