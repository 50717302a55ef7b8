"""``sg.operation_count`` takes what ``sg.compile`` takes: an expression, an array, a pytree, a compiled function.

It took only a list of nodes: ``sg.operation_count(x**2 + sg.sin(x))`` raised Python's
"'Node' object is not iterable", a dict output "unhashable type", a Compiled "not iterable".
"""

import numpy as np
import pytest

import symgrad as sg

X, Y = sg.symbols("x y")


@pytest.mark.parametrize(
    "outputs, count",
    [
        (X**2 + sg.sin(X), 3),  # pow, sin, add
        (X * Y * sg.exp(X), 3),  # exp, and the 3-factor product counts 2
        ([X**2, sg.sin(X)], 2),
        ((X**2, {"k": sg.sin(Y), "n": None}), 2),
        (sg.symbols("a", shape=(2,)) ** 2, 2),
        (3.0, 0),
        (X, 0),
        (sg.sin(X) + sg.sin(X) ** 2, 3),  # sin once (shared), its square, the sum
    ],
)
def test_counts_expressions_arrays_and_pytrees(outputs, count):
    assert sg.operation_count(outputs) == count


def test_a_compiled_function_counts_its_outputs():
    g = sg.grad(lambda x, y: x**2 * sg.sin(y), argnums=(0, 1))
    assert sg.operation_count(g) == sg.operation_count(list(g.outputs))
    h = sg.hessian(lambda v: sg.sum(v**3), shapes={"v": (3,)})
    assert sg.operation_count(h) == 3  # the diagonal 6*v_i; the zeros cost nothing
    np.testing.assert_allclose(h(np.array([1.0, 2.0, -1.0])), np.diag([6.0, 12.0, -6.0]))


def test_to_sympy_of_a_compiled_function_points_to_its_outputs():
    with pytest.raises(sg.InputError, match=r"not Compiled: give its \.outputs"):
        sg.to_sympy(sg.grad(lambda x: x**3))


def test_diff_of_a_dict_of_expressions_differentiates_each_value():
    """sg.diff({'a': x**2}, x) raised Python's "unhashable type: 'dict'" from the graph walk."""
    out = sg.diff({"a": X**2, "b": [sg.sin(X), X * Y]}, X)
    assert out["a"] is 2 * X
    assert list(out["b"]) == [sg.cos(X), Y]
