"""Reverse mode carries a number apart through sums and ``c*t`` nodes, and builds each term once.

A sum of squares is the common case: each square's adjoint is a number, its
partial ``2*base`` would distribute into a new sum, and the next ``c*t`` would
distribute that again; only the last of those sums is kept.  The tests count
the nodes a gradient creates against the nodes it keeps, check the numbers
multiplied apart cannot overflow where the eager products did not, and hold
the results to the values the derivatives must have.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from oracle import nodes_created

import symgrad as sg
from symgrad.diff.reverse import gradient_nodes
from symgrad.ir.node import toposort


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


@pytest.mark.parametrize("n", [50, 300])
def test_a_sum_of_squares_gradient_builds_few_nodes_it_throws_away(n):
    xs = sg.symbols("x", shape=(n,))
    wrt = [xs[i] for i in range(n)]
    f = rosenbrock(xs)
    created, _, grad = nodes_created(lambda: gradient_nodes(f, wrt))
    forward = set(toposort([f]))
    kept = sum(1 for m in toposort(grad) if m not in forward)
    # eager scaling created 2.1-2.3 nodes per node kept (each 2*base and 200*base built, then copied);
    # carried apart, and collected without building the terms that collect (2*x + 200*x), none is thrown away
    assert created < 1.05 * kept, (created, kept)


def test_the_gradient_of_a_sum_of_squares_is_its_formula():
    x = sg.symbols("x", shape=(4,))
    g = sg.gradient(rosenbrock(x), list(x))
    v = np.array([0.3, -1.2, 2.5, 0.7])
    want = np.zeros(4)
    for i in range(3):
        want[i] += -400 * v[i] * (v[i + 1] - v[i] ** 2) - 2 * (1 - v[i])
        want[i + 1] += 200 * (v[i + 1] - v[i] ** 2)
    got = sg.lambdify(list(x), g)(*v)
    np.testing.assert_allclose(np.asarray(got, dtype=float).ravel(), want, rtol=1e-13)
    # the very expressions sympy's diff gives (sympy's == is structural): -400*x[1]*(-x[1]**2 + x[2]), the number
    # a coefficient of the product, not distributed over the sum to 2*x[1]*(200*x[1]**2 - 200*x[2])
    xs = [sg.to_sympy(x[i]) for i in range(4)]
    assert [sg.to_sympy(g[i]) for i in range(4)] == [sympy.diff(rosenbrock(xs), v) for v in xs]


def test_numbers_carried_apart_do_not_overflow_where_the_eager_products_did_not():
    """d/ds of 1e-300*x*(1e200*(1e200*s + ...) + ...) is 1e100*x: 1e200*1e200 alone is inf."""
    x, s, a, b, c, d, e, f, g, h = sg.symbols("x s a b c d e f g h")
    inner = 1e200 * s + e + f + g + h  # five terms: a number times it stays factored
    outer = 1e200 * inner + a + b + c + d
    y = x * (1e-300 * outer)
    assert str(sg.diff(y, s)) == "1e+100*x"
    assert float(sg.lambdify([x], sg.diff(y, s))(3.0)) == pytest.approx(3e100, rel=1e-12)
    tiny = 1e-200 * (1e-200 * s + e + f + g + h) + a + b + c + d
    assert str(sg.diff(x * (1e300 * tiny), s)) == "1e-100*x"  # and 1e-200*1e-200 alone is 0


@pytest.mark.parametrize("scale", [-0.9, 1e-3, 3.0])
def test_a_chain_of_scaled_sums_differentiates_like_its_forward_mode(scale):
    x = sg.symbols("x")
    y = x
    for k in range(12):
        y = scale * y + 0.5 * sg.sin(y) + (x if k % 3 == 0 else 0)
    reverse = sg.lambdify([x], sg.diff(y, x))
    forward = sg.jvp(lambda t: _chain(t, scale), (0.4,), (1.0,))[1]
    np.testing.assert_allclose(float(reverse(0.4)), float(forward), rtol=1e-12)


def _chain(t, scale):
    y = t
    for k in range(12):
        y = scale * y + 0.5 * sg.sin(y) + (t if k % 3 == 0 else 0)
    return y
