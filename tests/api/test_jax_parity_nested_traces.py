"""A transformation called inside a traced function: its own arguments are never the enclosing trace's.

Symbols are one node per name, so an inner ``lambda x`` traced while an outer
``x`` is being traced used to get the outer ``x`` itself: a value closed over from
the outer function (``y = x ** 2``) was then differentiated with respect to the
inner argument, a silently wrong derivative (``jax.grad`` keeps the two apart).
symgrad compiles each transformation on its own, so such a closure is now a
TraceError saying to pass the value as an argument; nesting without one works.
"""

import math

import numpy as np
import pytest

import symgrad as sg


def test_a_closure_over_an_enclosing_traced_value_is_refused_not_miscomputed():
    def f(x):
        y = x**2
        return sg.grad(lambda x: sg.sin(x) * y)(1.0)  # d/dt sin(t) y at t=1: cos(1) x**2

    for transform in (sg.grad, sg.jit):
        with pytest.raises(sg.TraceError, match=r"closes over.*depending on x.*as an argument"):
            transform(f)(3.0)


def test_a_closure_through_jvp_is_refused_too():
    def f(x):
        y = x**2
        return sg.jvp(lambda x: sg.sin(x) * y, (1.0,), (1.0,))[1]

    with pytest.raises(sg.TraceError, match="closes over"):
        sg.jit(f)(3.0)


def test_the_value_passed_as_an_argument_gives_the_derivative():
    def f(x):
        y = x**2
        return sg.grad(lambda x, y: sg.sin(x) * y)(1.0, y)

    assert sg.jit(f)(3.0) == pytest.approx(9 * math.cos(1.0))
    assert sg.grad(f)(3.0) == pytest.approx(6 * math.cos(1.0))


def test_inner_and_outer_arguments_of_one_name_stay_apart():
    # d/dx (3 x**2 * x) = 9 x**2; the inner x is a symbol of its own, given the outer x
    inner = sg.grad(lambda x: sg.grad(lambda x: x**3)(x) * x)
    assert inner(2.0) == pytest.approx(36.0)
    # vectors, and a jvp whose tangent (x_dot) is also an outer argument's name
    x0, v = np.array([0.3, -0.7]), np.array([1.5, 2.0])
    g = sg.jit(
        lambda x, x_dot: sg.jvp(lambda x: sg.sin(x) * x, (x,), (x_dot,), shapes={"x": (2,)})[1], shapes=[(2,), (2,)]
    )
    np.testing.assert_allclose(g(x0, v), (np.cos(x0) * x0 + np.sin(x0)) * v)
