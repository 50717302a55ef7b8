"""Comparisons, ``==``/``!=`` and logical operators on symbolic values: numpy's semantics, never a wrong number.

Arrays of symbols (``shapes=`` arguments, ``sg.symbols(..., shape=)``) are
:class:`symgrad.ir.array.SymbolicArray`, whose ufuncs go through symgrad, so
``x > 0`` on an array is an array of conditions; ``==`` inside a traced
function is numpy's elementwise condition, while on plain expressions it stays
sympy's structural test.  Every value is checked against numpy itself on the
numpy and C backends.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from oracle import central_jacobian

import symgrad as sg
from symgrad.api import products
from symgrad.ir.array import SymbolicArray

BACKENDS = ["numpy"] + (["c"] if shutil.which("cc") or shutil.which("gcc") else [])
V = np.array([1.5, -2.0, 0.25, -0.75])


ELEMENTWISE = {
    "where": (lambda x: sg.where(x > 0, x**2, -x), lambda x: np.where(x > 0, x**2, -x)),
    "np.where": (lambda x: np.where(x >= 0.5, np.sin(x), 2 * x), lambda x: np.where(x >= 0.5, np.sin(x), 2 * x)),
    "maximum": (lambda x: np.maximum(x, 0.0) * x, lambda x: np.maximum(x, 0.0) * x),
    "minimum": (lambda x: np.minimum(x, 0.1), lambda x: np.minimum(x, 0.1)),
    "fmax": (lambda x: np.fmax(x, -1.0), lambda x: np.fmax(x, -1.0)),
    "fmin": (lambda x: np.fmin(x, 1.0), lambda x: np.fmin(x, 1.0)),
    "clip": (lambda x: np.clip(x, -1.0, 1.0) * 3, lambda x: np.clip(x, -1.0, 1.0) * 3),
    "clip method": (lambda x: x.clip(-1.0, 1.0) * 3, lambda x: x.clip(-1.0, 1.0) * 3),
    "clip method max": (lambda x: x.clip(max=0.5), lambda x: x.clip(max=0.5)),
    "clip min= max=": (lambda x: np.clip(x, min=-1.0, max=0.5), lambda x: np.clip(x, min=-1.0, max=0.5)),
    "sign": (lambda x: np.sign(x) * x**3, lambda x: np.sign(x) * x**3),
    "accumulate": (lambda x: np.maximum.accumulate(x) * x, lambda x: np.maximum.accumulate(x) * x),
    "logical": (
        lambda x: np.where((x > -1) & (x < 1) | (x < -1.5), x, 0.0),
        lambda x: np.where((x > -1) & (x < 1) | (x < -1.5), x, 0.0),
    ),
    "not": (lambda x: np.where(~(x > 0), x * 2, x), lambda x: np.where(~(x > 0), x * 2, x)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_comparisons_on_array_arguments_follow_numpy(name, backend):
    ours, theirs = ELEMENTWISE[name]
    f = sg.compile(ours, shapes=[(4,)], backend=backend)
    np.testing.assert_allclose(f(V), theirs(V), rtol=1e-14)
    jac = sg.jacobian(ours, shapes=[(4,)], backend=backend)(V)
    np.testing.assert_allclose(jac, central_jacobian(theirs, V), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issues_reproducers(backend):
    g = sg.grad(lambda x: np.sum(sg.where(x > 0, x, 0.0)), shapes=[(3,)], backend=backend)
    np.testing.assert_array_equal(g(np.array([1.0, -2.0, 3.0])), [1.0, 0.0, 1.0])
    j = sg.jacobian(lambda x: np.maximum(x, 0.0), shapes=[(3,)], backend=backend)
    np.testing.assert_array_equal(j(np.array([1.0, -2.0, 3.0])), np.diag([1.0, 0.0, 1.0]))
    r = sg.grad(lambda x: np.maximum.reduce(x) + np.minimum.reduce(x), shapes=[(3,)], backend=backend)
    np.testing.assert_array_equal(r(np.array([1.0, -2.0, 3.0])), [0.0, 1.0, 1.0])


def test_array_symbols_compare_elementwise_outside_tracing():
    v = sg.symbols("v", shape=3)
    cond = v > 0
    assert isinstance(cond, SymbolicArray) and cond.shape == (3,)
    assert str(cond[1]) == "v[1] > 0"
    f = sg.compile(sg.where(cond, v, 0), inputs=[v])
    np.testing.assert_array_equal(f(np.array([-1.0, 2.0, 0.0])), [0.0, 2.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_equality_inside_traced_functions_is_numpys(backend):
    vg = sg.value_and_grad(lambda x, y: np.sum(x == y) + 0.0, backend=backend)
    assert vg(2.0, 2.0) == (1.0, 0.0)
    assert vg(2.0, 3.0)[0] == 0.0
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([1.0, 0.0, 3.0, 0.0, 0.0, 0.0])
    count = sg.compile(lambda a, b: np.sum(a != b) + 0.0, shapes=[(6,), (6,)], backend=backend)
    assert count(x, y) == np.sum(x != y) == 4
    same = sg.compile(lambda a, b: np.sum(a == b) + 0.0, shapes=[(6,), (6,)], backend=backend)
    assert same(x, y) == np.sum(x == y) == 2
    pick = sg.grad(lambda a: sg.where(a == 1.0, 5 * a, a**2), backend=backend)
    assert pick(1.0) == 5.0 and pick(3.0) == 6.0


def test_equality_of_expressions_stays_structural():
    x, y = sg.symbols("x y")
    assert (x == y) is False and (x != y) is True
    assert ((x + 1) == (1 + x)) is True
    assert (sg.diff(x**2, x) == 2 * x) is True
    assert x.equals(x) and not x.equals(y) and not x.equals("x")
    assert (sg.sin(x) in [y, sg.sin(x)]) is True


def test_sg_equal_and_not_equal_are_elementwise_functions():
    x, y = sg.symbols("x y")
    f = sg.compile([sg.equal(x, y), sg.not_equal(x, y)], inputs=[x, y])
    assert f(2.0, 2.0) == (1.0, 0.0) and f(1.0, 2.0) == (0.0, 1.0)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0]), np.array([1.0, 3.0]))[0], [1.0, 0.0])
    assert f(float("nan"), float("nan")) == (0.0, 1.0)  # numpy: nan == nan is False


def test_remainder_and_floor_division_say_what_they_are():
    for fn in (lambda x, y: x % y, lambda x, y: x // y, lambda x: 3.0 % x):
        with pytest.raises(sg.UnsupportedOpError) as info:
            sg.grad(fn)
        assert "shapes=" not in str(info.value)
    with pytest.raises(sg.UnsupportedOpError, match="numpy.remainder"):
        sg.grad(lambda v: np.sum(v % 2.0), shapes=[(3,)])


def test_numpy_functions_passed_directly_are_named():
    with pytest.raises(sg.UnsupportedOpError, match="numpy.sort"):
        sg.jacobian(np.sort, shapes=[(3,)])
    np.testing.assert_allclose(sg.jacobian(np.sin, shapes=[(2,)])(np.array([0.1, 0.2])), np.diag(np.cos([0.1, 0.2])))


def test_hvp_with_a_new_vector_reuses_the_compiled_kernel(monkeypatch):
    builds = []
    real = products._hvp_build
    monkeypatch.setattr(products, "_hvp_build", lambda *a: builds.append(1) or real(*a))

    def f(v):
        return np.sum(v**3) * v[0]

    x = np.linspace(0.5, 2.0, 5)
    hess = sg.hessian(f, shapes=[(5,)])(x)
    for k in range(4):
        p = np.arange(5.0) - k
        np.testing.assert_allclose(sg.hvp(f, (x,), (p,), shapes=[(5,)]), hess @ p, rtol=1e-12)
    assert len(builds) == 1
    sg.hvp(f, (x,), (x,), shapes=[(5,)], backend="numpy", dtype="float32")  # other options: compiled anew
    assert len(builds) == 2


def test_clip_takes_one_name_for_each_bound():
    x = sg.symbols("x", shape=(2,))
    with pytest.raises(sg.InputError, match="a_min= or min="):
        np.clip(x, 0.0, 1.0, min=0.0)
    with pytest.raises(sg.UnsupportedOpError, match=r"clip\(out=\.\.\.\)"):
        np.clip(x, 0.0, 1.0, out=np.empty(2))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x[x > 0],  # a mask: how many elements it picks is known only at run time
        lambda x: x[:, x[0] > 0],
        lambda x: x[[x[0, 0] > 0]],
        lambda x: x[x[0, 0]],  # a traced index
        lambda x: x.__setitem__(x > 0, 0.0),
    ],
)
def test_indexing_with_a_symbolic_mask_or_index_is_a_trace_error_pointing_to_where(fn):
    with pytest.raises(sg.TraceError, match=r"symbolic value x\[0, 0\].*sg\.where"):
        sg.compile(fn, shapes=[(2, 3)])


def test_indexing_errors_of_the_traced_code_itself_stay_numpys():
    with pytest.raises(IndexError) as info:
        sg.compile(lambda x: x[5], shapes=[(2, 3)])
    assert not isinstance(info.value, sg.SymgradError)
    f = sg.compile(lambda x: x[np.array([True, False])] * 2, shapes=[(2, 3)])  # a numeric mask is numpy's
    np.testing.assert_array_equal(f(np.ones((2, 3))), [[2.0, 2.0, 2.0]])


def _add_in_place(a):
    a += 1.0
    return a


def _scale_in_place(a):
    a[1:] *= a[:-1]  # overlapping: the right-hand side is read before anything is written, as numpy
    a[:, 0] -= np.sin(a[:, 1])
    a /= a.sum()
    return a


def _matmul_in_place(a):
    b = a.copy()
    b @= a
    return b


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", [_add_in_place, _scale_in_place, _matmul_in_place])
def test_in_place_operators_on_symbolic_arrays_follow_numpy(fn, backend):
    m = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [0.75, 1.0, 3.0]])
    f = sg.compile(fn, shapes=[(3, 3)], backend=backend)
    np.testing.assert_allclose(f(m), fn(m.copy()), rtol=1e-14)
    jac = sg.jacobian(fn, shapes=[(3, 3)], backend=backend)(m)
    np.testing.assert_allclose(jac, central_jacobian(lambda x: fn(x.copy()), m), rtol=1e-6, atol=1e-8)


def _or_in_place(x):
    a = x > 0
    a += x < 1  # a stays a boolean array, as numpy's bool buffer: the + after it is a logical or
    return a + (x > 0)


def _bitwise_or_in_place(x):
    a = x > 0
    a |= x < 1
    return a + (x > 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", [_or_in_place, _bitwise_or_in_place])
def test_in_place_operators_keep_a_boolean_array_boolean(fn, backend):
    f = sg.compile(fn, shapes=[(4,)], backend=backend)
    np.testing.assert_array_equal(f(V), np.asarray(fn(V), dtype=float))


def test_in_place_into_a_float_buffer_is_refused_by_name():
    def fn(a):
        x = np.zeros(3)
        x += a
        return x

    with pytest.raises(sg.UnsupportedOpError, match=r"numpy\.add\(out=\.\.\.\)"):
        sg.compile(fn, shapes=[(3,)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: (x > 0) + (x < 0.5),  # numpy: a boolean array, True + True is True
        lambda x: ((x > -1) & (x < 1)) + (x > 1.2),
        lambda x: np.add(x > 0, np.array([True, False, False, True])),
        lambda x: ((x > 0) + (x < 0.5)) * x,
        lambda x: (x > 0) + (x < 0.5) + 1.0,  # a number added: arithmetic again
        lambda x: np.sum(x > -1) + np.sum(x < 1),  # counts stay counts
        lambda x: (x[2] > 0) + (x < 0.5),  # a condition plus an array of them: through the node's own +
        lambda x: (x < 0.5) + (x[2] > 0),
        lambda x: (x[2] > 0) + x,  # a condition plus numbers: arithmetic
        lambda x: np.add.outer(x > 0, x < 0.5),  # the ufunc's outer, as its call
    ],
)
def test_adding_boolean_arrays_is_numpys_logical_or(fn, backend):
    f = sg.compile(fn, shapes=[(4,)], backend=backend)
    np.testing.assert_array_equal(f(V), np.asarray(fn(V), dtype=float))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "fn",
    [
        # numpy types these float: their 0/1 values add up (an indicator count), no logical or
        lambda x: np.where(x > 0, 1.0, 0.0) + np.where(x < 0.5, 1.0, 0.0),
        lambda x: sg.where(x > 0, 1.0, 0.0) + sg.where(x < 0.5, 1.0, 0.0),
        lambda x: (x > 0) * 1.0 + (x < 0.5) * 1.0,
        lambda x: ((x > 0) + 0.0) + ((x < 0.5) + 0.0),
        lambda x: np.where(x > 0, 1.0, 0.0) + (x < 0.5),
        # and these are boolean still: views and logical operations of conditions
        lambda x: (x > 0)[::-1] + (x < 0.5)[::-1],
        lambda x: np.logical_not(x > 0) + (x < 0.5),
        lambda x: ~(x > 0) + (x < 0.5),
        lambda x: np.logical_xor(x > 0, x < 0.5) + (x > 1.2),
    ],
)
def test_adding_float_indicator_arrays_sums_them_as_numpy(fn, backend):
    f = sg.compile(fn, shapes=[(4,)], backend=backend)
    np.testing.assert_array_equal(f(V), np.asarray(fn(V), dtype=float))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "fn",
    [
        # numpy keeps bool for these: a + of two is a logical or, as numpy's (it counted: 2 where numpy gives True)
        lambda x: np.maximum(x > 0, x > 1) + (x > 0),
        lambda x: np.minimum(x > 0, x < 1) + (x > 0),
        lambda x: np.where(x > 0, x > 1, False) + (x > 1),
        lambda x: (x > 0) * (x < 1) + (x > 0),
        lambda x: np.abs(x > 0) + (x > 0),
        lambda x: np.outer(x > 0, x > 0) + np.outer(x > 0, x > 0),
        lambda x: np.multiply.outer(x > 0, x < 1) + (x > 0),
        lambda x: np.kron(x > 0, x < 1) + np.kron(x < 1, x > 0),
        lambda x: np.inner(x > 0, x > -1),  # numpy's implementation on object arrays: a count, numpy's True
        lambda x: np.stack([x > 0, x < 1]) + (x > 0),
        lambda x: np.concatenate([x > 0, x < 1]) + np.concatenate([x < 1, x > 0]),
        lambda x: np.reshape(x > 0, (2, 2)) + np.reshape(x < 1, (2, 2)),
        lambda x: np.transpose(np.outer(x > 0, x < 1)) + np.outer(x > 0, x < 1),
        lambda x: np.flip(x > 0) + (x < 1),
        lambda x: np.max(x > 0) + (x < 1),  # a boolean scalar plus a boolean array
        lambda x: np.diff(x > 0) + np.diff(x < 1),  # numpy's diff of bools is not_equal
        # and numbers for these: counts and means add up
        lambda x: np.sum(x > 0) + np.sum(x > -1),
        lambda x: np.cumsum(x > 0) + (x > 0),
        lambda x: np.add.reduce(x > 0) + (x > 0),
        lambda x: np.mean(x > 0) + (x > 0),
        lambda x: np.where(x > 0, x > 1, 0.5) + (x > 1),
        lambda x: np.maximum(x > 0, 0.5) + (x > 0),
    ],
)
def test_numpy_functions_of_boolean_arrays_are_typed_as_numpys(fn, backend):
    f = sg.compile(fn, shapes=[(4,)], backend=backend)
    np.testing.assert_array_equal(f(V), np.asarray(fn(V), dtype=float))
    # a boolean's derivative is 0: the gradient of its products with x is the booleans themselves
    grad = sg.grad(lambda x: np.sum(fn(x) * x[0]), shapes=[(4,)], backend=backend)(V)
    np.testing.assert_allclose(grad, central_jacobian(lambda x: np.sum(fn(x) * x[0]), V), atol=1e-8)
