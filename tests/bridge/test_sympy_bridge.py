"""The sympy bridge: round trips, deep graphs, LaTeX, deep simplification, and what it refuses."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from symgrad.errors import InputError, UnsupportedOpError
from symgrad.ir import Node, const, symbol, toposort
from symgrad.ir import builders as B
from symgrad.ir.custom import E, pi
from symgrad.ir.evaluate import evaluate as reference
from symgrad.sympy_bridge import from_sympy, latex, simplify, to_sympy

x, y = symbol("x"), symbol("y")
X, Y = sp.symbols("x y", real=True)


def call(name, *args):
    return B.call(name, *args)


def evaluate(node: Node, env: dict[str, float]) -> float:
    """A node's value from the reference interpreter, with symbols' values given by name."""
    return float(reference([node], {n: env[n.name] for n in toposort([node]) if n.op == "sym"})[0])


ROUND_TRIP = {
    "polynomial": lambda: x**2 + 3 * x * y + 1,
    "quotient": lambda: x / y,
    "difference": lambda: x - y,
    "rational": lambda: x * Fraction(1, 3) + Fraction(5, 2),
    "float": lambda: 0.1 * x + 2.5,
    "sqrt": lambda: B.pow(x, Fraction(1, 2)),
    "inverse sqrt": lambda: B.pow(x + y, Fraction(-1, 2)),
    "symbolic power": lambda: x**y,
    "sin": lambda: call("sin", x),
    "cos of product": lambda: call("cos", x * y),
    "tan": lambda: call("tan", x),
    "arcsin": lambda: call("arcsin", x),
    "arccos": lambda: call("arccos", x),
    "arctan": lambda: call("arctan", x),
    "arctan2": lambda: call("arctan2", y, x),
    "sinh": lambda: call("sinh", x),
    "cosh": lambda: call("cosh", x),
    "tanh": lambda: call("tanh", x),
    "exp": lambda: call("exp", x),
    "exp of negation": lambda: call("exp", -x),
    "log": lambda: call("log", x),
    "abs": lambda: call("abs", x),
    "sign": lambda: call("sign", x),
    "maximum": lambda: call("maximum", x, y),
    "minimum": lambda: call("minimum", x, y),
    "relu": lambda: call("relu", x),
    "lt": lambda: call("lt", x, y),
    "le": lambda: call("le", x, 0),
    "gt": lambda: call("gt", x, y),
    "ge": lambda: call("ge", x, y),
    "where": lambda: B.where(call("gt", x, 0), x, y**2),
    "where on a value": lambda: B.where(x, y, 2),
    "where on a difference": lambda: B.where(x - y, 1, 2),
    "nested where": lambda: B.where(call("lt", x, 0), -x, B.where(call("gt", x, 1), 1, x**2)),
    "array elements": lambda: symbol("a", (0,)) * symbol("a", (0, 1)) + call("sin", symbol("a", (0,))),
    "infinity": lambda: x * math.inf,
    "mixed": lambda: call("exp", call("sin", x) * y) / (1 + x**2),
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_round_trip_gives_the_same_node(name):
    e = ROUND_TRIP[name]()
    assert from_sympy(to_sympy(e)) is e


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: x**2 + 3 * x * y + 1, X**2 + 3 * X * Y + 1),
        (lambda: x / (1 + y), X / (1 + Y)),
        (lambda: B.pow(x, Fraction(1, 2)), sp.sqrt(X)),
        (lambda: call("arctan2", y, x), sp.atan2(Y, X)),
        (lambda: call("sigmoid", x), 1 / (1 + sp.exp(-X))),
        (lambda: call("expm1", x), sp.exp(X) - 1),
        (lambda: call("log1p", x), sp.log(1 + X)),
        (lambda: call("stop_gradient", x) * y, X * Y),
        (lambda: call("relu", x), sp.Max(X, 0)),
        (lambda: call("abs", x - y), sp.Abs(X - Y)),
        (lambda: B.where(call("gt", x, y), x, y), sp.Piecewise((X, X > Y), (Y, True))),
        (lambda: call("le", x, 1), sp.Piecewise((1, X <= 1), (0, True))),
        (lambda: 0.25 * x + Fraction(1, 3), X / 4 + sp.Rational(1, 3)),
    ],
)
def test_to_sympy_matches_the_expected_expression(build, expected):
    assert sp.simplify(to_sympy(build()) - expected) == 0


def test_constants_keep_their_kind():
    assert to_sympy(const(3)) == sp.Integer(3) and isinstance(to_sympy(const(3)), sp.Integer)
    assert to_sympy(const(Fraction(2, 7))) == sp.Rational(2, 7)
    assert isinstance(to_sympy(const(0.1)), sp.Float) and float(to_sympy(const(0.1))) == 0.1
    assert to_sympy(const(math.nan)) is sp.nan
    assert to_sympy(const(math.inf)) is sp.oo and to_sympy(const(-math.inf)) == -sp.oo
    assert to_sympy(2) == 2 and to_sympy(0.5) == sp.Float(0.5)


def test_symbols_are_real_and_array_elements_print_with_their_index():
    assert to_sympy(x).is_real
    assert str(to_sympy(symbol("a", (0,)))) == "a[0]"
    assert str(to_sympy(symbol("a", (0, 1)))) == "a[0, 1]"
    assert sp.simplify(sp.sqrt(to_sympy(x) ** 2)) == sp.Abs(X)  # real symbols: no complex branch


def test_from_sympy_accepts_symbols_with_or_without_assumptions():
    assert from_sympy(sp.Symbol("x")) is x
    assert from_sympy(sp.Symbol("x", positive=True)) is x
    assert from_sympy(sp.Symbol("a[2]")) is symbol("a", (2,))
    assert from_sympy(sp.Symbol("a[0, 1]")) is symbol("a", (0, 1))
    assert from_sympy(sp.Symbol("w[3,4]")) is symbol("w", (3, 4))


def test_from_sympy_builds_canonical_nodes():
    assert from_sympy(X + X) is B.mul(2, x)
    assert from_sympy(sp.Add(X, X, evaluate=False)) is B.mul(2, x)
    assert from_sympy(sp.Mul(X, X, evaluate=False)) is x**2
    assert from_sympy(sp.Pow(sp.E, X, evaluate=False)) is call("exp", x)
    assert from_sympy(sp.pi * X) is B.mul(pi, x)
    assert from_sympy(sp.Rational(1, 3)) is const(Fraction(1, 3))
    assert from_sympy(sp.oo) is const(math.inf) and from_sympy(-sp.oo) is const(-math.inf)
    assert math.isnan(from_sympy(sp.nan).value)
    assert from_sympy(3) is const(3) and from_sympy(2.5) is const(2.5)


def test_sympy_pi_and_e_come_back_as_the_named_constants():
    """to_sympy gives sg.pi and sg.E as sympy's pi and E; from_sympy made them floats, so simplify lost the names."""
    e = B.add(B.mul(2, pi, x), call("sin", B.mul(E, y)))
    assert from_sympy(to_sympy(e)) is e
    assert str(simplify(B.mul(pi, x) + B.mul(pi, x))) == str(2 * sp.pi * X)
    assert from_sympy(sp.exp(1)) is E
    assert from_sympy(sp.GoldenRatio) is const(float(sp.GoldenRatio))  # a constant symgrad has no name for


@pytest.mark.parametrize(
    "expr, value",
    [
        (sp.Derivative(sp.sin(X) * Y, X), sp.diff(sp.sin(X) * Y, X)),
        (sp.Derivative(X**3 * Y, (X, 2), Y) + 1, sp.diff(X**3 * Y, X, 2, Y) + 1),
        (sp.Subs(X**2 + Y, X, Y + 1), (X**2 + Y).subs(X, Y + 1)),
        (sp.Subs(sp.Derivative(sp.sin(X * Y), X), X, 0) * X, sp.diff(sp.sin(X * Y), X).subs(X, 0) * X),
    ],
)
def test_a_derivative_or_substitution_converts_as_its_value(expr, value):
    """An unevaluated sympy Derivative or Subs stands for a value, sympy's diff or subs: from_sympy refused them."""
    node = from_sympy(expr)
    for px, py in [(0.3, -1.2), (1.7, 0.4)]:
        want = float(value.subs({X: px, Y: py}))
        assert math.isclose(evaluate(node, {"x": px, "y": py}), want, rel_tol=1e-12, abs_tol=1e-12)


def test_from_sympy_maps_functions_sympy_has_and_symgrad_lacks():
    assert from_sympy(sp.log(X, 2)) is B.mul(1 / math.log(2), call("log", x))
    assert from_sympy(sp.cot(X)) is B.pow(call("tan", x), -1)
    assert from_sympy(sp.sec(X)) is B.pow(call("cos", x), -1)
    assert from_sympy(sp.Max(X, Y, 3)) is call("maximum", call("maximum", 3, x), y)
    assert from_sympy(sp.Min(X, 0)) is call("minimum", 0, x)
    assert from_sympy(sp.Function("sigmoid")(X)) is call("sigmoid", x)
    for f, v in [(sp.asinh, 0.7), (sp.acosh, 1.7), (sp.atanh, 0.3)]:
        assert evaluate(from_sympy(f(X)), {"x": v}) == pytest.approx(float(f(v)))


@pytest.mark.parametrize(
    "expr",
    [
        sp.Eq(X, Y),
        sp.Ne(X, Y),
        sp.And(X > 0, Y < 1),
        sp.Or(X > 0, Y < 1),
        sp.Not(X > 0),
        sp.Piecewise((X, sp.Eq(X, 0)), (Y, sp.And(X > 0, Y > 0)), (1, True)),
        sp.Piecewise((X + 1, sp.Ne(X, Y)), (2 * Y, True)),
        sp.Piecewise((X, sp.Or(X < -1, Y >= 2)), (-X, True)),
        sp.Piecewise((X, sp.ITE(X > 1, Y > 0, X < -1)), (1, True)),
    ],
)
def test_logic_keeps_its_meaning(expr):
    node = from_sympy(expr)
    for vx in (-2.0, -1.0, 0.0, 0.5, 1.0, 3.0):
        for vy in (-1.0, 0.0, 1.0, 2.5):
            want = expr.subs({X: vx, Y: vy})
            want = float(bool(want)) if isinstance(want, sp.logic.boolalg.Boolean) else float(want)
            assert evaluate(node, {"x": vx, "y": vy}) == want, (vx, vy)


def test_a_piecewise_without_a_default_is_nan_elsewhere():
    node = from_sympy(sp.Piecewise((X, X > 0)))
    assert evaluate(node, {"x": 2.0}) == 2.0
    assert math.isnan(evaluate(node, {"x": -2.0}))


def test_containers_keep_their_type_and_shape():
    arr = np.array([[x, 1], [y, x * y]], dtype=object)
    s = to_sympy(arr)
    assert isinstance(s, np.ndarray) and s.shape == (2, 2) and s.dtype == object
    assert s[1, 1] == X * Y and s[0, 1] == 1
    assert to_sympy([x, (y, 2)]) == [X, (Y, 2)]
    back = from_sympy(s)
    assert back.shape == (2, 2) and back[1, 1] is x * y
    m = from_sympy(sp.Matrix([[X, 1], [Y, X * Y]]))
    assert isinstance(m, np.ndarray) and m.shape == (2, 2) and m[1, 1] is x * y and m[0, 1] is const(1)
    assert from_sympy(sp.Array([[[X]]])).shape == (1, 1, 1)
    assert from_sympy([X, (Y, 2)]) == [x, (y, const(2))]


def test_a_100000_node_chain_converts_both_ways():
    e = x
    for _ in range(100_000):
        e = call("sin", e)
    s = to_sympy(e)
    depth, inner = 0, s
    while inner.args:
        inner, depth = inner.args[0], depth + 1
    assert depth == 100_000 and inner == X
    assert from_sympy(s) is e


def test_a_deep_chain_of_selects_converts_both_ways():
    # sympy folds a Piecewise in a condition exponentially and recurses on depth: neither may happen here
    e = x
    for _ in range(5000):
        e = B.where(call("gt", e, y), e * 2, e + 1)
    assert from_sympy(to_sympy(e)) is e


def test_latex():
    assert r"\frac{x}{y + 1}" == latex(x / (1 + y))
    assert r"\sin" in latex(call("sin", x))
    assert "a[0]" in latex(symbol("a", (0,)) ** 2)
    vector = latex(np.array([x, y**2], dtype=object))
    assert r"\begin{matrix}" in vector and "y^{2}" in vector
    assert r"\\" in latex(np.array([[x, 1], [y, 2]], dtype=object))
    assert r"\begin{cases}" in latex(B.where(call("gt", x, 0), x, 0))
    assert x._repr_latex_() == "$x$"


def test_simplify_finds_global_identities():
    assert simplify(B.add(B.pow(call("sin", x), 2), B.pow(call("cos", x), 2))) is const(1)
    assert simplify(call("sigmoid", x) + call("sigmoid", -x)) is const(1)
    assert simplify(B.pow(x**2, Fraction(1, 2))) is call("abs", x)
    assert simplify(call("log", call("exp", x) * call("exp", y))) is x + y
    assert simplify((x**2 - 1) / (x - 1)) is x + 1


def test_simplify_never_grows_and_keeps_what_sympy_cannot_shorten():
    for e in [call("sigmoid", x), call("sin", x) * call("cos", x) * 16, B.where(call("gt", x, 0), x, y)]:
        out = simplify(e)
        assert len(toposort([out])) <= len(toposort([e]))
    assert simplify(call("sigmoid", x)) is call("sigmoid", x)


def test_simplify_keeps_stop_gradient():
    sg = call("stop_gradient", x)
    out = simplify(sg * x + B.pow(call("sin", x), 2) + B.pow(call("cos", x), 2))
    assert out is sg * x + 1


def test_simplify_leaves_large_or_deeply_nested_expressions_alone():
    big = B.add(*(B.pow(call("sin", x), k) for k in range(1, 40)))
    assert simplify(big) is big
    assert simplify(big, max_size=10) is big
    nested = x
    for _ in range(30):  # sympy's simplify doubles its work per level of nested functions
        nested = call("sin", nested)
    assert simplify(nested) is nested
    e = x
    for _ in range(100_000):
        e = e * 2 + call("sin", e)
    assert simplify(e) is e


def test_simplify_maps_over_containers():
    one = B.add(B.pow(call("sin", x), 2), B.pow(call("cos", x), 2))
    out = simplify(np.array([one, x], dtype=object))
    assert isinstance(out, np.ndarray) and out[0] is const(1) and out[1] is x
    assert simplify([one, (one, 2)]) == [const(1), (const(1), 2)]


def test_from_sympy_refuses_strings():
    with pytest.raises(TypeError, match="not a string"):
        from_sympy("x + 1")
    with pytest.raises(TypeError, match="not a string"):
        from_sympy([X, "__import__('os')"])


def test_from_sympy_refuses_other_values_with_a_symgrad_error():
    """README: every error a user can trigger is one of symgrad's own; these were plain TypeErrors."""
    with pytest.raises(InputError, match="not a string"):
        from_sympy("x + 1")
    with pytest.raises(InputError, match="not object"):
        from_sympy([X, object()])


@pytest.mark.parametrize(
    "expr, name",
    [
        (sp.I * X, "ImaginaryUnit"),
        (sp.zoo, "ComplexInfinity"),
        (sp.Heaviside(X), "Heaviside"),
        (sp.floor(X), "floor"),
        (sp.Function("f")(X), "f"),
        (sp.Derivative(sp.Function("f")(X), X), "Derivative"),
    ],
)
def test_unsupported_sympy_names_what_it_met(expr, name):
    with pytest.raises(UnsupportedOpError, match=name):
        from_sympy(expr)


def test_other_objects_are_type_errors():
    with pytest.raises(TypeError):
        from_sympy(object())
    with pytest.raises(TypeError):
        to_sympy("x")


def test_a_dummy_is_not_the_symbol_of_its_name():
    """sympy's Dummy('x') and Symbol('x') are different variables: x - Dummy('x') is not 0 (it was, merged by name)."""
    x = sp.Symbol("x", real=True)
    d, d2 = sp.Dummy("x", real=True), sp.Dummy("x", real=True)
    e = from_sympy(x - d)
    assert e is not from_sympy(sp.Integer(0))
    assert len(e.free_symbols) == 2
    assert from_sympy(d - d) is from_sympy(sp.Integer(0))  # one Dummy is one variable
    assert len(from_sympy(d - d2).free_symbols) == 2  # two Dummies of one name are two


def test_simplify_keeps_values_where_sympy_moves_a_root_onto_a_negative_base():
    """sympy makes sqrt(Abs(x))*sqrt(Abs(y)) Abs(sqrt(x)*sqrt(y)), equal over the complex numbers; symgrad's
    sqrt(x) is nan for x < 0, so that answer would be nan where the input has a value."""
    import symgrad

    half = Fraction(1, 2)
    for e in [
        B.mul(B.pow(call("abs", x), half), B.pow(call("abs", y), half)),
        B.mul(B.pow(B.pow(x, 2), Fraction(1, 4)), B.pow(B.pow(y, 2), Fraction(1, 4))),
    ]:
        out = simplify(e)
        f, g = symgrad.lambdify([x, y], e), symgrad.lambdify([x, y], out)
        for point in [(-1.3, -0.7), (-2.0, 0.5), (0.4, 1.5)]:
            want = np.sqrt(abs(point[0] * point[1]))
            assert abs(f(*point) - want) < 1e-12 and abs(g(*point) - want) < 1e-12, (e, out)
