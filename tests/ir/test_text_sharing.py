"""Printing large shared graphs: let-bindings keep ``str()`` the size of the graph, not of the tree.

The 24th derivative of ``exp(sin(x))`` is a graph of about 600 nodes whose text
written out doubles per order (262 MB at order 24).  Past ``TEXT_LIMIT``
characters each shared subexpression is printed once as ``t0 = ...``; the text
is checked to read back (through the formula parser) as the same function.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from oracle import Y, examples, smooth_expressions

import symgrad as sg
from symgrad.ir.text import TEXT_LIMIT
from symgrad.tracing.functions import symbols

X = sg.symbols("x")


def read_back(text: str):
    """The expression a let-bound text stands for: each ``name = formula`` line substituted into the next."""
    *lets, last = text.split("\n")
    env: dict = {}
    for line in lets:
        name, formula = line.split(" = ", 1)
        env[symbols(name)] = sg.parse_formula(formula).value.subs(env)
    return sg.parse_formula(last).value.subs(env)


def test_small_expressions_print_inline():
    d = sg.diff(sg.exp(sg.sin(X)), X, 4)
    assert "\n" not in str(d) and str(d).count("exp(sin(x))") > 1


@pytest.mark.parametrize("order", [16, 24])
def test_high_derivatives_print_with_let_bindings(order):
    d = sg.diff(sg.exp(sg.sin(X)), X, order)
    start = time.perf_counter()
    text = str(d)
    assert time.perf_counter() - start < 5  # a bound, not a benchmark: the tree's text would be 262 MB at 24
    assert len(text) < TEXT_LIMIT and text.startswith("t0 = ")
    back = read_back(text)
    pts = np.linspace(-2.0, 2.0, 9)
    np.testing.assert_allclose(sg.lambdify([X], back)(pts), sg.lambdify([X], d)(pts), rtol=1e-9)


def test_temporaries_never_take_a_symbols_name():
    t0, t1 = sg.symbols("t0 t1")
    d = sg.diff(sg.exp(sg.sin(X) * t0 + t1), X, 16)
    text = str(d)
    lets = [line.split(" = ")[0] for line in text.split("\n")[:-1]]
    assert lets and "t0" not in lets and "t1" not in lets
    pts = np.linspace(-1.0, 1.0, 5)
    got = sg.lambdify([X, t0, t1], read_back(text))(pts, 0.7, -0.2)
    np.testing.assert_allclose(got, sg.lambdify([X, t0, t1], d)(pts, 0.7, -0.2), rtol=1e-9)


def test_a_big_unshared_sum_prints_whole():
    a = sg.symbols("a", shape=(3000,))
    s = sg.sum(a**2)
    text = str(s)
    assert "\n" not in text and text.count("**2") == 3000


def test_logsumexp_and_max_print_in_linear_size():
    a = sg.symbols("a", shape=(4000,))
    assert str(sg.logsumexp(a)) == "logsumexp(a)"
    assert len(str(sg.max(a))) < 40 * 4000


# -- the text reads back as the same expression -------------------------------------------------------


def test_fraction_exponents_under_a_division_bar_are_parenthesised():
    x, y = sg.symbols("x y")
    assert str(2 * x**-1.5) == "2/x**(3/2)"  # was 2/x**3/2, which reads as (2/x**3)/2
    assert str(y * x ** (-3 / 4)) == "y/x**(3/4)"
    assert str(y * (x * y) ** -1.5) == "y/(x*y)**(3/2)"
    assert str(y * x**-0.3) == "y/x**0.3"
    assert str(x**-1.5) == "x**(-3/2)"  # a lone negative power, as sympy prints it


@given(smooth_expressions(max_leaves=6), smooth_expressions(max_leaves=4))
@settings(max_examples=examples(150), deadline=None)
def test_str_reads_back_through_the_formula_parser(pair, other):
    """parse_formula(str(e)) is e itself, or (where sympy-style text loses a rounding) the same values."""
    for expr in (pair[0], pair[0] / (1 + other[0] ** 2), sg.sqrt(1 + pair[0] ** 2) ** -3):
        if not isinstance(expr, sg.Node):
            continue
        back = sg.parse_formula(str(expr)).value
        if back is expr:
            continue
        pts = np.array([0.3, 0.7, 1.3, 1.9])
        with np.errstate(all="ignore"):
            want = np.broadcast_to(sg.lambdify([X, Y], expr)(pts, pts[::-1]), pts.shape)
            got = np.broadcast_to(sg.lambdify([X, Y], back)(pts, pts[::-1]), pts.shape)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


# -- let-bindings are used where the shared node is printed ------------------------------------------


def test_a_shared_reciprocal_is_printed_once():
    """x/e and y/e print e under the bar: e itself is bound, not 1/e (whose name the bar never reads)."""
    x, y = sg.symbols("x y")
    e = x
    for _ in range(16):
        e = x / e + y / e + 1  # 68 nodes; the text doubled per step (1.4 MB here, 2**n copies of the innermost term)
    start = time.perf_counter()
    text = str(e)
    assert time.perf_counter() - start < 5
    assert len(text) < 1000, len(text)
    pts = np.linspace(0.5, 2.0, 7)
    np.testing.assert_allclose(sg.lambdify([x, y], read_back(text))(pts, 1.3), sg.lambdify([x, y], e)(pts, 1.3))


def test_a_shared_term_of_a_sum_is_printed_by_name():
    x = sg.symbols("x")
    e = x
    for _ in range(160):
        m = x * sg.exp(e)
        e = m + sg.sin(m)  # m is a term of the sum and the argument of sin
    text = str(e)
    assert len(text) < 20 * 640, len(text)  # about the graph's size, not its square
    pts = np.linspace(-2.0, -0.5, 5)
    np.testing.assert_allclose(sg.lambdify([x], read_back(text))(pts), sg.lambdify([x], e)(pts), rtol=1e-12)


@pytest.mark.parametrize(
    "make", [lambda x: sg.E * x, lambda x: x + float("inf"), lambda x: sg.where(x > 0, x, float("nan"))]
)
def test_named_and_non_finite_constants_read_back(make):
    """str() prints sg.E as E and non-finite constants as inf and nan: the parser reads them as those numbers."""
    x = sg.symbols("x")
    e = make(x)
    back = sg.parse_formula(str(e)).value
    assert back.free_symbols == {x}
    pts = np.array([-1.5, 0.5, 2.0])
    np.testing.assert_array_equal(sg.lambdify([x], back)(pts), sg.lambdify([x], e)(pts))
