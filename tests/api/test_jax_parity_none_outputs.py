"""None in outputs and aux is a pytree node with no leaves, given back as None, as in JAX.

``jax.value_and_grad(lambda x: (x**2, None), has_aux=True)(1.0)`` is
``((1.0, None), 2.0)`` and ``jax.jit(lambda x: (x, None))(1.0)`` is ``(1.0, None)``;
symgrad refused both with a TraceError (a traced function must return numbers,
... not NoneType).
"""

import numpy as np
import pytest

import symgrad as sg


def test_an_aux_of_none():
    assert sg.value_and_grad(lambda x: (x**2, None), has_aux=True)(1.0) == ((1.0, None), 2.0)
    assert sg.grad(lambda x: (x**2, None), has_aux=True)(3.0) == (6.0, None)
    g, aux = sg.grad(lambda x: (x**2, None), has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0])
    assert aux is None


def test_an_aux_pytree_holding_none():
    g, aux = sg.grad(lambda x: (x**2, {"a": None, "b": x}), has_aux=True)(1.0)
    assert g == 2.0 and aux == {"a": None, "b": 1.0}
    jac, aux = sg.jacobian(lambda v: (v * 2.0, [None, v[0]]), shapes={"v": (2,)}, has_aux=True)(np.ones(2))
    np.testing.assert_allclose(jac, 2.0 * np.eye(2))
    assert aux[0] is None and aux[1] == 1.0


def test_none_in_compiled_outputs():
    f = sg.compile(lambda x: (x, None))
    assert f(1.0) == (1.0, None)  # the scalar path
    out = f(np.array([1.0, 2.0]))  # the array path
    np.testing.assert_allclose(out[0], [1.0, 2.0])
    assert out[1] is None
    assert sg.compile(lambda x: None)(1.0) is None
    nested = sg.compile(lambda x: [None, {"a": x, "n": None}])(2.0)
    assert nested == [None, {"a": 2.0, "n": None}]


def test_none_outputs_through_the_transformations():
    jac = sg.jacobian(lambda v: {"a": v, "n": None}, shapes={"v": (2,)})(np.ones(2))
    assert set(jac) == {"a", "n"} and jac["n"] is None
    np.testing.assert_allclose(jac["a"], np.eye(2))
    mapped = sg.vmap(lambda x: (x, None))(np.ones(2))
    np.testing.assert_allclose(mapped[0], [1.0, 1.0])
    assert mapped[1] is None
    out, back = sg.vjp(lambda x: (x**2, None), 3.0)
    assert out == (9.0, None) and back((1.0, None)) == (6.0,)
    k = sg.compile(lambda z: (z**2, None))
    assert sg.grad(lambda x: k(x)[0] + (k(x)[1] is None))(3.0) == 6.0  # inside a trace too


def test_an_aux_of_none_over_a_dataset():
    g, aux = sg.grad(lambda w, x: ((w * x) ** 2, None), has_aux=True, data="x")(2.0, np.array([1.0, 3.0]))
    assert g == pytest.approx(np.mean([2 * 2.0 * 1.0, 2 * 2.0 * 9.0])) and aux is None


def test_a_dataset_formula_writes_none_as_none():
    L = sg.compile(lambda w, x: ((w * x) ** 2, None, {"n": None, "a": w * x}), data="x")
    assert L.formula == "(mean(w**2*x**2), None, {'n': None, 'a': mean(w*x)})"  # was (), the empty tuple's text


def test_grad_of_a_function_returning_none_is_a_diff_error():
    with pytest.raises(sg.DiffError, match="returns None"):
        sg.grad(lambda x: None)


def test_an_expression_is_still_never_none():
    x = sg.symbols("x")
    with pytest.raises(sg.TraceError, match="not NoneType"):
        sg.diff(None, x)
    with pytest.raises(sg.TraceError, match="not NoneType"):
        sg.jacobian([x, None], [x])
    with pytest.raises(sg.InputError, match="one output; this one returns None"):
        sg.check(lambda x: None, 1.0, wrt="x")
