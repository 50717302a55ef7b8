"""Taylor-mode higher derivatives, checked against sympy, plus the size bound that motivates them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
import sympy as sp

from symgrad.diff.policy import diff_spec
from symgrad.diff.reverse import gradient_nodes
from symgrad.diff.taylor import nth_derivative, taylor_coefficients
from symgrad.ir import Node, toposort
from symgrad.ir import builders as B
from symgrad.ir.evaluate import evaluate as reference
from symgrad.tracing import functions as sg

X = sg.symbols("x")
SX = sp.Symbol("x", real=True)


def evaluate(node: Node, env: dict[Node, float]) -> float:
    """A node's value from the reference interpreter (the table's numpy implementations, no codegen)."""
    return float(reference([node], env)[0])


def op_count(node: Node) -> int:
    return sum(1 for n in toposort([node]) if n.op not in ("const", "sym"))


def _f(x):
    return sg.exp(sg.sin(x)) * x**2 / (1 + x**2)


# name -> (symgrad builder, the same expression in sympy, points)
CASES: dict[str, tuple[Callable[[Node], Node], sp.Expr, list[float]]] = {
    "exp_sin_rational": (_f, sp.exp(sp.sin(SX)) * SX**2 / (1 + SX**2), [-1.3, 0.4, 2.1]),
    "sin_cos": (lambda x: sg.sin(x) * sg.cos(x), sp.sin(SX) * sp.cos(SX), [-0.7, 0.2, 1.9]),
    "exp_over_quadratic": (lambda x: sg.exp(x) / (1 + x**2), sp.exp(SX) / (1 + SX**2), [-1.1, 0.3, 1.7]),
    "log_quadratic": (lambda x: sg.log(1 + x**2), sp.log(1 + SX**2), [-0.9, 0.5, 2.3]),
    "sqrt_quadratic": (lambda x: sg.sqrt(1 + x**2), sp.sqrt(1 + SX**2), [-1.4, 0.1, 0.8]),
    "tanh": (sg.tanh, sp.tanh(SX), [-0.6, 0.25, 1.2]),
    "arctan": (sg.arctan, sp.atan(SX), [-1.5, 0.35, 0.9]),
    "sigmoid": (sg.sigmoid, 1 / (1 + sp.exp(-SX)), [-2.0, 0.15, 1.1]),
    "cubic": (lambda x: (x - 3) * (x - 6) * (x - 4), (SX - 3) * (SX - 6) * (SX - 4), [-1.0, 2.5, 5.0]),
    "where": (
        lambda x: sg.where(x > 0, x**3, -(x**2)),
        sp.Piecewise((SX**3, SX > 0), (-(SX**2), True)),
        [-1.2, -0.4, 0.6, 1.5],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("k", range(1, 9))
def test_nth_derivative_matches_sympy(name: str, k: int) -> None:
    build, expr, points = CASES[name]
    got = nth_derivative(build(X), X, k)
    want = sp.diff(expr, SX, k)
    for v in points:
        expected = float(want.subs(SX, v))
        assert evaluate(got, {X: v}) == pytest.approx(expected, rel=1e-9, abs=1e-9), (name, k, v)


@pytest.mark.parametrize("k", range(1, 9))
def test_power_at_zero_is_exact(k: int) -> None:
    """Integer powers expand by Cauchy products: no division by the base, so no 0/0 at x = 0."""
    got = nth_derivative(X**5, X, k)
    expected = math.factorial(5) // math.factorial(5 - k) * 0 ** (5 - k) if k <= 5 else 0
    assert evaluate(got, {X: 0.0}) == expected
    if k >= 5:
        assert got.op == "const" and got.value == expected


def test_cubic_third_derivative_is_constant() -> None:
    f = (X - 3) * (X - 6) * (X - 4)
    assert nth_derivative(f, X, 3) is B.as_node(6)
    assert nth_derivative(f, X, 4) is B.as_node(0)


def test_coefficients_are_scaled_derivatives() -> None:
    assert taylor_coefficients(X**3, X, 0) == [X**3]
    assert nth_derivative(X**3, X, 0) is X**3
    coeffs = taylor_coefficients(sg.exp(2 * X), X, 5)
    assert coeffs[0] is sg.exp(2 * X)
    for j, c in enumerate(coeffs):
        assert evaluate(c, {X: 0.3}) == pytest.approx(2**j * math.exp(0.6) / math.factorial(j))


def test_constant_and_other_symbols() -> None:
    y = sg.symbols("y")
    assert taylor_coefficients(y**2, X, 3)[1:] == [B.as_node(0)] * 3
    got = nth_derivative(sg.sin(y * X) * y, X, 4)
    assert evaluate(got, {X: 0.7, y: 1.3}) == pytest.approx(1.3**5 * math.sin(1.3 * 0.7))


def test_symbolic_and_variable_exponents() -> None:
    a = sg.symbols("a")
    got = nth_derivative(X**a, X, 3)
    assert evaluate(got, {X: 1.7, a: 2.5}) == pytest.approx(2.5 * 1.5 * 0.5 * 1.7**-0.5)
    got = nth_derivative(X**X, X, 4)
    want = float(sp.diff(SX**SX, SX, 4).subs(SX, 1.3))
    assert evaluate(got, {X: 1.3}) == pytest.approx(want, rel=1e-9)


def test_generic_rule_ops() -> None:
    """Ops without a dedicated rule go through their table partials (two-operand ones too)."""
    exprs = [
        (sg.arctan2(X, 1 + X**2), sp.atan2(SX, 1 + SX**2)),
        (sg.maximum(X**2, 2 * X), sp.Max(SX**2, 2 * SX)),
        (sg.cosh(sg.sinh(X)), sp.cosh(sp.sinh(SX))),
        (sg.tan(X), sp.tan(SX)),
        (sg.expm1(X) + sg.log1p(X), sp.exp(SX) - 1 + sp.log(1 + SX)),
        (sg.arcsin(X / 2), sp.asin(SX / 2)),
        (sg.abs(X) * X, sp.Abs(SX) * SX),
    ]
    for node, expr in exprs:
        for k in (3, 5):
            want = float(sp.diff(expr, SX, k).subs(SX, 0.8))
            assert evaluate(nth_derivative(node, X, k), {X: 0.8}) == pytest.approx(want, rel=1e-9), (node, k)


def test_zero_partials_stop_the_series() -> None:
    """stop_gradient and comparisons have zero partials: they act as constants."""
    assert evaluate(nth_derivative(sg.stop_gradient(X) * X**2, X, 2), {X: 0.8}) == pytest.approx(1.6)
    assert nth_derivative(sg.stop_gradient(X) * X**2, X, 3) is B.as_node(0)
    assert nth_derivative((X > 0) * X, X, 2) is B.as_node(0)


def test_diff_spec_uses_taylor_for_long_runs() -> None:
    f = _f(X)
    assert diff_spec(f, [X, 3]) is nth_derivative(f, X, 3)
    (g,) = gradient_nodes(f, [X])
    (g,) = gradient_nodes(g, [X])
    second = diff_spec(f, [X, X])  # the smaller graph of reverse-twice and Taylor mode
    smaller = min((g, nth_derivative(f, X, 2)), key=lambda e: len(toposort([e])))
    assert second is smaller
    assert evaluate(second, {X: 0.6}) == pytest.approx(evaluate(g, {X: 0.6}), rel=1e-12)
    y = sg.symbols("y")
    mixed = diff_spec(f * sg.sin(y * X), [X, 3, y, X])
    want = sp.diff(sp.exp(sp.sin(SX)) * SX**2 / (1 + SX**2) * sp.sin(SX * sp.Symbol("y")), SX, 3, "y", SX)
    assert evaluate(mixed, {X: 0.6, y: 1.1}) == pytest.approx(float(want.subs({SX: 0.6, "y": 1.1})), rel=1e-9)


def test_eighth_derivative_stays_small() -> None:
    f = _f(X)
    start = time.perf_counter()
    d8 = nth_derivative(f, X, 8)
    elapsed = time.perf_counter() - start
    print(f"8th derivative of {f}: {op_count(d8)} op nodes, built in {elapsed * 1e3:.1f} ms")
    assert op_count(d8) <= 300
