"""A compiled function called inside another trace with symbolic arrays broadcasts as it does over numeric arrays.

``jax.grad(lambda x: jnp.sum(jax.jit(lambda z: z**2)(x)))(jnp.arange(3.0))`` is
``[0, 2, 4]``: JAX retraces the jitted function for the new shape.  symgrad's
compiled ``g`` evaluates ``g(np.ones(3))`` elementwise (a batch of scalars), so
``g(x)`` on a symbolic ``x`` of shape (3,) is that batch too, per element,
shaped ``batch + out_shape`` as the numeric call's result; it was a ShapeError
(declared shape (), got a symbolic (3,)).
"""

import numpy as np
import pytest

import symgrad as sg


def test_grad_through_a_scalar_compiled_function_of_a_vector():
    g = sg.compile(lambda z: z**2)
    dg = sg.grad(lambda x: sg.sum(g(x)), shapes={"x": (3,)})
    np.testing.assert_allclose(dg(np.arange(3.0)), [0.0, 2.0, 4.0])  # jax.grad's value


def test_the_traced_result_has_the_numeric_call_structure():
    k = sg.compile(lambda z: {"sq": z**2, "pair": (z, sg.sin(z))})
    x = np.array([[0.5, 1.0, 2.0], [-1.0, 0.0, 3.0]])
    outer = sg.compile(lambda v: k(v), shapes={"v": (2, 3)})
    got, expected = outer(x), k(x)
    assert set(got) == {"sq", "pair"} and isinstance(got["pair"], tuple)
    for a, b in [
        (got["sq"], expected["sq"]),
        (got["pair"][0], expected["pair"][0]),
        (got["pair"][1], expected["pair"][1]),
    ]:
        assert np.shape(a) == np.shape(b) == (2, 3)
        np.testing.assert_allclose(a, b)


def test_arguments_broadcast_together_with_numbers_and_numeric_arrays():
    h = sg.compile(lambda a, b: a * b + b)
    jac = sg.jacobian(lambda v: h(v, 2.0), shapes={"v": (2,)})
    np.testing.assert_allclose(jac(np.array([1.0, 3.0])), 2.0 * np.eye(2))  # jax.jacobian's value
    outer = sg.compile(lambda u, w: h(u, w), shapes={"u": (2, 1), "w": (3,)})
    u, w = np.array([[1.0], [2.0]]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(outer(u, w), h(u, w))
    with_numbers = sg.compile(lambda v: h(v, np.array([1.0, 10.0])), shapes={"v": (2,)})
    np.testing.assert_allclose(with_numbers(np.array([3.0, 4.0])), [4.0, 50.0])


def test_a_declared_argument_shape_is_the_core_of_a_batch():
    d = sg.compile(lambda v: v * sg.sum(v), shapes={"v": (3,)})
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(sg.compile(lambda a: d(a), shapes={"a": (2, 3)})(m), d(m))
    jac = sg.jacobian(lambda a: d(a), shapes={"a": (2, 3)})(m)
    assert jac.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(jac[1, :, 0, :], np.zeros((3, 3)))  # rows of the batch do not mix
    np.testing.assert_allclose(jac[0, :, 0, :], sg.jacobian(d)(m[0]))


def test_shapes_that_do_not_fit_are_a_shape_error_naming_them():
    d = sg.compile(lambda v: sg.sum(v), shapes={"v": (3,)})
    with pytest.raises(
        sg.ShapeError, match=r"argument 'v' must have shape batch \+ \(3,\), got a symbolic array of shape \(2,\)"
    ):
        sg.grad(lambda a: d(a), shapes={"a": (2,)})
    h = sg.compile(lambda a, b: a * b)
    with pytest.raises(sg.ShapeError, match=r"do not broadcast \(a: \(2,\), b: \(3,\)\)"):
        sg.compile(lambda u, w: h(u, w), shapes={"u": (2,), "w": (3,)})


def test_grad_vmap_and_exact_shapes_still_work():
    g = sg.compile(lambda z: z**2)
    assert sg.grad(g)(3.0) == 6.0
    np.testing.assert_allclose(sg.vmap(g)(np.arange(3.0)), [0.0, 1.0, 4.0])
    np.testing.assert_allclose(sg.vmap(sg.grad(g))(np.arange(3.0)), [0.0, 2.0, 4.0])
    d = sg.compile(lambda v: sg.sum(v**2), shapes={"v": (3,)})
    np.testing.assert_allclose(sg.grad(lambda a: d(a), shapes={"a": (3,)})(np.ones(3)), [2.0, 2.0, 2.0])
    assert sg.grad(lambda x: g(x) * x)(2.0) == 12.0


def test_a_dataset_function_inside_a_trace_still_takes_one_sample():
    L = sg.compile(lambda w, x: (w * x - 1.0) ** 2, data="x")
    R = sg.grad(lambda w, x: L(w, x) + w**2, data="x")
    np.testing.assert_allclose(R(0.5, np.array([1.0, 2.0])), np.mean([2 * (0.5 - 1), 4 * (1 - 1)]) + 1.0)
    with pytest.raises(sg.ShapeError, match=r"argument 'x' of a function over a dataset .* takes one sample"):
        sg.compile(lambda w, v: L(w, v), shapes={"v": (2,)})


def test_a_symbolic_array_with_no_elements_composes_too():
    g = sg.compile(lambda z: z**2)
    grads = sg.grad(lambda x: sg.sum(g(x)), shapes={"x": (0,)})(np.zeros(0))  # jax.grad's value: []
    assert grads.shape == (0,)
    assert sg.compile(lambda m: g(m), shapes={"m": (2, 0)})(np.zeros((2, 0))).shape == (2, 0)  # as g(np.zeros((2, 0)))
    # each was an InputError 'argument z must be numeric, got an array of dtype object': a traced
    # array holding no node was taken for a numeric one
