"""``str()`` puts terms and factors in sympy's order: the same expression built in both prints the same."""

from __future__ import annotations

import math

import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg

X = sg.symbols("x y z w b")
S = sp.symbols("x y z w b")


def _both(build):
    return str(build(*X, sg)), str(build(*S, sp))


# (built with the module m: symgrad or sympy), textbook derivatives among them
CASES = [
    lambda x, y, z, w, b, m: (x * m.sin(x)).diff(x),  # x*cos(x) + sin(x)
    lambda x, y, z, w, b, m: (m.exp(x) * m.sin(x)).diff(x),
    lambda x, y, z, w, b, m: (m.sin(x) * m.cos(x)).diff(x),
    lambda x, y, z, w, b, m: (1 / (1 + m.exp(-x))).diff(x),  # exp(-x)/(1 + exp(-x))**2
    lambda x, y, z, w, b, m: m.tanh(w * x + b).diff(w),  # x*(1 - tanh(b + w*x)**2)
    lambda x, y, z, w, b, m: (x**3 - 13 * x**2 + 54 * x).diff(x),  # 3*x**2 - 26*x + 54
    lambda x, y, z, w, b, m: (x / (1 + x**2)).diff(x),
    lambda x, y, z, w, b, m: ((1 - x) ** 2 + 100 * (y - x**2) ** 2).diff(x),
    lambda x, y, z, w, b, m: x**4 - 2 * x + 1,
    lambda x, y, z, w, b, m: (1 - x) ** 2,
    lambda x, y, z, w, b, m: 1 - x * y,  # -x*y + 1: only -c*t with one factor follows the number
    lambda x, y, z, w, b, m: 2 - 3 * x**2,
    lambda x, y, z, w, b, m: x**-2 + 1,  # 1 + x**(-2)
    lambda x, y, z, w, b, m: 3 / x**2 - x,
    lambda x, y, z, w, b, m: 2 * m.pi * x + 1,
    lambda x, y, z, w, b, m: m.exp(-x) + m.exp(x),
    lambda x, y, z, w, b, m: m.exp(2 * x) + m.exp(x) + 1,
    lambda x, y, z, w, b, m: x**y + x**2,
    lambda x, y, z, w, b, m: m.sqrt(x) + x + x**2 + x ** (sp.Rational(3, 2) if m is sp else 1.5),
    lambda x, y, z, w, b, m: m.log(x) * m.exp(x) * m.sin(x) * x * y,
    lambda x, y, z, w, b, m: (y - 5) * (m.exp(x) - 2),
    lambda x, y, z, w, b, m: x * y * (2 * x + 5) * (x + 2),
    lambda x, y, z, w, b, m: m.cos(y) + 3 * y - y * z + 5,
    lambda x, y, z, w, b, m: 1 / (x + z) + y + z,
    lambda x, y, z, w, b, m: m.tanh(x) + m.sinh(x) + m.cosh(x) + m.tan(x),
    lambda x, y, z, w, b, m: z * (x + 1) * (y**2) ** x,  # a power's base keys whole: (y**2)**x is a Pow, not a y
    lambda x, y, z, w, b, m: y - (-2 * x) ** y,  # and -2*x a Mul of -2 and x
    lambda x, y, z, w, b, m: (10 * z) ** z * z ** (2 * z),
    lambda x, y, z, w, b, m: x + z + 2 * z / (3 * m.pi),  # a factor without symbols is part of the coefficient
    lambda x, y, z, w, b, m: m.sqrt(m.pi) - x + m.pi,  # -x + sqrt(pi) + pi: numbers last, by value
    lambda x, y, z, w, b, m: m.pi ** (sp.Rational(3, 2) if m is sp else 1.5) - m.pi * x * y + w,
]


def test_the_cases_print_as_sympy_prints_them():
    for build in CASES:
        ours, theirs = _both(build)
        assert ours == theirs


def test_an_undefined_function_of_a_number_is_a_base_not_a_number():
    """sympy cannot evaluate f(1/pi), so it orders as a function: f before g."""
    f = sg.custom_function(lambda t: t**2, name="f")
    g = sg.custom_function(lambda t: t**3, name="g")
    x = X[0]
    theirs = sp.Function("g")(S[0]) + sp.Function("f")(1 / sp.pi) + S[1]
    assert str(g(x) + f(1 / sg.pi) + X[1]) == str(theirs) == "y + f(1/pi) + g(x)"


def test_a_negative_symbolic_power_goes_under_the_bar_and_reads_back():
    """sympy prints x*y**(-z) as x/y**z (its exponent's number is negative); the text reads back as the node."""
    for build in (
        lambda x, y, z, m: x * y ** (-z),
        lambda x, y, z, m: 2 * y ** (-z),
        lambda x, y, z, m: x * y ** (-2 * z) / (x + 1),
        lambda x, y, z, m: x * y ** (-z / 2),
        lambda x, y, z, m: x * y ** (-z) * z ** (-x),
        lambda x, y, z, m: x * y ** (-m.sin(z)),
        lambda x, y, z, m: y ** (-z) + x,  # a lone power in a sum keeps its exponent: x + y**(-z)
    ):
        ours = build(*X[:3], sg)
        assert str(ours) == str(build(*S[:3], sp))
        assert sg.parse_formula(str(ours)).value is ours
    x, y = X[:2]
    assert (y**x) ** -1 is y ** (-x)  # what x/y**z reads back through


def test_an_integer_power_of_exp_is_exp_of_the_multiple():
    """exp(x)**2 is exp(2*x) and 1/exp(x) is exp(-x), as sympy writes them; exp(-x) keeps the digits 1/exp(x) lost."""
    for build in (
        lambda x, m: m.exp(x) ** 2,
        lambda x, m: 1 / m.exp(x),
        lambda x, m: x / m.exp(x),
        lambda x, m: m.exp(x) * m.exp(x),
        lambda x, m: (m.exp(x) ** 3).diff(x),
    ):
        assert str(build(X[0], sg)) == str(build(S[0], sp))
    x = X[0]
    f = sg.lambdify([x], [1 / sg.exp(x), sg.log(sg.exp(x) ** 2)])
    small, doubled = f(720.0)
    assert small == math.exp(-720.0) > 0  # 1/exp(720) was 1/inf = 0
    assert doubled == 1440.0  # log(exp(x)**2) was log(inf)


def test_a_power_alone_prints_its_negative_exponent():
    x = X[0]
    assert str(x**-2) == "x**(-2)"
    assert str(x**-1) == "1/x"
    assert str(x**-0.5) == "1/sqrt(x)"
    assert str(x**-1.5) == "x**(-3/2)"
    assert str(2 * x**-2) == "2/x**2"
    assert sg.parse_formula(str(x**-2)).value is x**-2


_FACTORS = [
    lambda x, y, z, m: x,
    lambda x, y, z, m: y,
    lambda x, y, z, m: z,
    lambda x, y, z, m: x**2,
    lambda x, y, z, m: y**3,
    lambda x, y, z, m: 1 / z,
    lambda x, y, z, m: m.sin(x),
    lambda x, y, z, m: m.cos(y),
    lambda x, y, z, m: m.exp(z),
    lambda x, y, z, m: m.log(x),
    lambda x, y, z, m: m.sqrt(y),
    lambda x, y, z, m: x + 1,
    lambda x, y, z, m: m.tanh(x * y),
]

_term = st.tuples(
    st.integers(-9, 9).filter(bool),
    st.lists(st.sampled_from(range(len(_FACTORS))), min_size=0, max_size=3, unique=True),
)


def _build(terms, x, y, z, m):
    total = 0
    for coeff, picks in terms:
        t = coeff
        for i in picks:
            t = t * _FACTORS[i](x, y, z, m)
        total = total + t
    return total


@settings(max_examples=300, deadline=None)
@given(st.lists(_term, min_size=1, max_size=5))
def test_random_sums_of_products_print_as_sympy(terms):
    ours = _build(terms, *X[:3], sg)
    theirs = _build(terms, *S[:3], sp)
    assert str(ours) == str(theirs)


def test_deep_expressions_print_without_recursion():
    """Sort keys nest like the expression: two 3,000-deep chains compared level by level hit the recursion limit."""
    x, y = X[:2]
    a, b = x, y
    for _ in range(3000):
        a, b = sg.sin(a), sg.sin(b)
    for e in (a * b, a + b + x, sg.diff(a * b, x)):
        text = str(e)
        assert text.count("sin(") >= 3000
    assert str(sg.sin(sg.sin(x)) * sg.sin(sg.sin(y))) == "sin(sin(x))*sin(sin(y))"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(-3, 3), min_size=6, max_size=6), min_size=2, max_size=8))
def test_sparse_monomial_keys_order_as_dense_vectors(vectors):
    """A sum orders its terms by exponent vectors over its bases; the sparse key must sort as the dense vectors."""
    from symgrad.ir.print_order import _lex_key

    def sparse(v):
        return _lex_key([(i, e) for i, e in enumerate(v) if e != 0])

    assert sorted(vectors, key=sparse) == sorted(vectors)
