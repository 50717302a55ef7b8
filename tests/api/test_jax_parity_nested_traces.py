"""A transformation called inside a traced function: its own arguments are never the enclosing trace's.

Symbols are one node per name, so an inner ``lambda x`` traced while an outer
``x`` is being traced used to get the outer ``x`` itself: a value closed over from
the outer function (``y = x ** 2``) was then differentiated with respect to the
inner argument, a silently wrong derivative (``jax.grad`` keeps the two apart).
Now the inner trace names its symbols apart, and a closure over the outer trace's
values is differentiated at those values held fixed, as ``jax.grad`` of a closure.
"""

import math

import numpy as np
import pytest

import symgrad as sg


def test_a_closure_over_an_enclosing_traced_value_is_held_fixed():
    def f(x):
        y = x**2
        return sg.grad(lambda x: sg.sin(x) * y)(1.0)  # d/dt sin(t) y at t=1: cos(1) x**2

    assert sg.jit(f)(3.0) == pytest.approx(9 * math.cos(1.0), rel=1e-14)
    assert sg.grad(f)(3.0) == pytest.approx(6 * math.cos(1.0), rel=1e-14)


def test_a_closure_evaluated_at_the_outer_argument():
    # d/dy [d/dx x**2 y at x = y] = d/dy 2 y**2 = 4 y (jax.grad gives 12 at 3)
    assert sg.grad(lambda y: sg.grad(lambda x: x**2 * y)(y))(3.0) == pytest.approx(12.0, rel=1e-14)
    # a Hessian of a closure, on vectors: H(w) of sum(w * x)**2 is 2 x x^T, then its trace is 2 |x|**2
    x0 = np.array([0.5, -1.25, 2.0])
    g = sg.jit(lambda x: sg.trace(sg.hessian(lambda w: sg.sum(w * x) ** 2, shapes={"w": (3,)})(x)), shapes=[(3,)])
    assert g(x0) == pytest.approx(2 * float(x0 @ x0), rel=1e-14)


def test_a_closure_through_jvp_and_vjp():
    def f(x):
        y = x**2
        tangent = sg.jvp(lambda t: sg.sin(t) * y, (1.0,), (1.0,))[1]
        _, back = sg.vjp(lambda t: sg.exp(t) * y, 0.5)
        return tangent + back(2.0)[0]

    want = lambda x: math.cos(1.0) * x**2 + 2 * math.exp(0.5) * x**2
    assert sg.jit(f)(3.0) == pytest.approx(want(3.0), rel=1e-14)
    assert sg.grad(f)(3.0) == pytest.approx((want(3.0 + 1e-6) - want(3.0 - 1e-6)) / 2e-6, rel=1e-8)


def test_a_closure_cannot_outlive_the_trace_it_closes_over():
    kept = []

    def f(x):
        inner = sg.grad(lambda t: sg.sin(t) * x)
        kept.append(inner)
        return inner(0.5)

    assert sg.jit(f)(2.0) == pytest.approx(2 * math.cos(0.5), rel=1e-14)
    with pytest.raises(sg.TraceError, match=r"closes over.*depending on x.*after that function has returned"):
        kept[0](0.5)


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
