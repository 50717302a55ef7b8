"""``sg.jacobian(fn, 1)`` and ``sg.hessian(fn, 1)`` take argnums by position, as ``jax.jacobian``/``jax.hessian`` do.

The second positional argument used to be the expression form's ``wrt``, which
a function ignored: the derivative was silently taken with respect to argument 0.
"""

import numpy as np
import pytest

import symgrad as sg


def f(x, y):
    return x**2 * y


@pytest.mark.parametrize("jac", [sg.jacobian, sg.jacfwd, sg.jacrev])
def test_jacobian_takes_argnums_by_position(jac):
    assert jac(f, 1)(2.0, 3.0) == 4.0  # jax.jacobian(f, 1)(2.0, 3.0) == 4.0
    assert jac(f, (1, 0))(2.0, 3.0) == (4.0, 12.0)


def test_hessian_takes_argnums_by_position():
    assert sg.hessian(f, 1)(2.0, 3.0) == 0.0  # jax.hessian(f, 1): d2(x**2 y)/dy2
    assert sg.hessian(f, (0, 1))(2.0, 3.0) == ((6.0, 4.0), (4.0, 0.0))


def test_positional_shapes_follow_argnums():
    g = sg.jacobian(lambda x, v: v * x, 1, {"v": (2,)})
    np.testing.assert_array_equal(g(3.0, np.ones(2)), 3.0 * np.eye(2))


def test_expressions_keep_wrt_and_refuse_function_options():
    x, y = sg.symbols("x y")
    assert str(sg.jacobian(np.array([x * y]), [x, y])[0, 1]) == "x"
    assert str(sg.hessian(x**2 * y, [x, y])[0, 1]) == "2*x"
    with pytest.raises(sg.InputError, match="of expressions"):
        sg.hessian(x**2 * y, [x, y], argnums=1)
    for transform, e in [(sg.jacobian, np.array([x * y])), (sg.hessian, x**2 * y)]:
        with pytest.raises(sg.InputError, match=r"takes the expression and wrt, got 1 more positional"):
            transform(e, [x, y], 0)  # was Python's TypeError naming _expression_jacobian/_expression_hessian
