"""A parameter with a default that ``shapes=`` declares by name or position is traced, as a list of shapes traces it.

``shapes={"y": None}`` for ``f(x, y=2.0)`` was refused as "not an argument of the
function (x)" (and ``{1: None}`` as "the function takes 1 argument(s)"), while
``shapes=[None, None]`` traced y; JAX differentiates with respect to any
positional argument given.
"""

import numpy as np
import pytest

import symgrad as sg


def f(x, y=2.0):
    return x**2 * y


@pytest.mark.parametrize("shapes", [{"y": None}, {1: None}, [None, None]])
def test_a_declared_parameter_with_a_default_is_an_argument(shapes):
    g = sg.grad(f, argnums=1, shapes=shapes)
    assert g(3.0, 4.0) == 9.0  # jax.grad(f, argnums=1)(3.0, 4.0)
    assert g(3.0, y=4.0) == 9.0


def test_a_declared_array_parameter_with_a_default():
    g = sg.grad(lambda x, w=None: sg.sum(w * x), argnums=(0, 1), shapes={"w": (2,)})
    gx, gw = g(3.0, np.array([1.0, 2.0]))
    assert gx == 3.0
    np.testing.assert_array_equal(gw, [3.0, 3.0])


def test_undeclared_defaults_stay_defaults():
    assert sg.grad(f)(3.0) == 12.0
    assert sg.grad(f, shapes={"x": None})(3.0) == 12.0
    with pytest.raises(sg.InputError, match="not an argument of the function"):
        sg.grad(f, shapes={"z": None})
