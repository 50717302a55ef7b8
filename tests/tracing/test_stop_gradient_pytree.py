"""``sg.stop_gradient`` of a pytree of arrays stops each leaf, as ``jax.lax.stop_gradient(params)`` does.

It used to read every list/tuple as one array: a dict was a TraceError, and a
tuple of arrays of different shapes (``(W, b)``) could not be made an array.
A list of numbers or symbols is still one array, as numpy reads it.
"""

import collections

import numpy as np

import symgrad as sg


def test_a_dict_of_parameters_is_stopped_leaf_by_leaf():
    # d/dW sum(W * stop(W)) + b * stop(b) = stop(W) = W;  d/db = b
    def f(p):
        q = sg.stop_gradient(p)
        return sg.sum(p["W"] * q["W"]) + p["b"] * q["b"]

    W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    g = sg.grad(f, shapes={"p": {"W": (2, 3), "b": None}})({"W": W, "b": 3.0})
    np.testing.assert_allclose(g["W"], W)
    assert float(g["b"]) == 3.0


def test_tuples_and_namedtuples_of_arrays_keep_their_structure():
    P = collections.namedtuple("P", "w b")

    def f(p):
        q = sg.stop_gradient(p)
        assert isinstance(q, P)
        return sg.sum(q.w * p.w**2) + q.b * p.b

    w = np.array([1.0, -2.0])
    g = sg.grad(f, shapes={"p": P((2,), None)})(P(w, 4.0))
    np.testing.assert_allclose(g.w, 2 * w * w)  # stop(w) * 2w
    assert float(g.b) == 4.0
    ragged = sg.grad(lambda t: sg.sum(sg.stop_gradient(t)[0] * t[0]) + t[1], shapes={"t": ((2,), None)})((w, 4.0))
    np.testing.assert_allclose(ragged[0], w)


def test_a_list_of_scalars_is_still_one_array():
    f = sg.grad(lambda a, b: sg.sum(sg.stop_gradient([a, b]) * a), argnums=(0, 1))
    assert f(2.0, 3.0) == (5.0, 0.0)
    assert sg.stop_gradient([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
