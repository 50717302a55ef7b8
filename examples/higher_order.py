"""Hessians and higher-order derivatives (notes N6, N19 and beyond).

Run:  python examples/higher_order.py

PyTorch gets a second derivative by differentiating the graph of the first
(``create_graph=True``); symgrad builds derivative graphs of any order directly,
and for a high derivative in one variable uses Taylor mode, so the formula
does not swell.  Each result is checked against sympy, an independent
computer-algebra system, so a wrong result makes the script fail.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

import symgrad as sg


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def hessian() -> None:
    section("A Hessian: f = sin(x*y) + x**2*exp(y) at (1, 0.5)")
    x, y = sg.symbols("x y")
    f = sg.sin(x * y) + x**2 * sg.exp(y)
    H = sg.hessian(f, [x, y])
    for i, row in enumerate(H):
        print(f"  row {i}:", ",  ".join(str(sg.simplify(e)) for e in row))
    value = sg.compile(H, inputs=[x, y])(1.0, 0.5)
    print("  at (1, 0.5):\n", value)
    X, Y = sp.symbols("x y")
    expect = sp.hessian(sp.sin(X * Y) + X**2 * sp.exp(Y), (X, Y)).subs({X: 1, Y: sp.Rational(1, 2)})
    np.testing.assert_allclose(value, np.array(expect.evalf(), dtype=float), rtol=1e-13)
    assert H[0, 1] is H[1, 0], "a Hessian entry is built once and mirrored"


def eighth_derivative() -> None:
    section("d^8/dx^8 of exp(x)*sin(x): a formula, not a blow-up")
    x = sg.symbols("x")
    d8 = sg.diff(sg.exp(x) * sg.sin(x), x, 8)
    at = sg.compile(d8, inputs=[x])(0.7)
    X = sp.Symbol("x")
    print(f"  d^8/dx^8 exp(x)*sin(x) = {d8}   (sympy: {sp.diff(sp.exp(X) * sp.sin(X), X, 8)})")
    print(f"  at x = 0.7: {at:.12f}")
    assert math.isclose(at, 16 * math.exp(0.7) * math.sin(0.7), rel_tol=1e-14)

    g = sg.exp(sg.sin(x))
    d8g = sg.diff(g, x, 8)
    expect = float(sp.diff(sp.exp(sp.sin(X)), X, 8).subs(X, sp.Rational(1, 3)))
    got = sg.compile(d8g, inputs=[x])(1 / 3)
    print(f"  d^8/dx^8 exp(sin(x)) at 1/3: {got:.10f} (sympy: {expect:.10f});", sg.operation_count([d8g]), "operations")
    assert math.isclose(got, expect, rel_tol=1e-11)


def mixed_partial() -> None:
    section("A mixed partial: d^3 f / dx^2 dy of f = x**3*y**2*sin(y)")
    x, y = sg.symbols("x y")
    mixed = sg.diff(x**3 * y**2 * sg.sin(y), x, x, y)
    print("  d^3f/dx^2dy =", sg.simplify(mixed))
    X, Y = sp.symbols("x y", real=True)  # symgrad's symbols are real, as sg.to_sympy gives them
    oracle = sp.diff(X**3 * Y**2 * sp.sin(Y), X, X, Y)
    assert sp.simplify(sg.to_sympy(mixed) - oracle) == 0, (sg.to_sympy(mixed), oracle)
    at = sg.compile(mixed, inputs=[x, y])(1.5, 2.0)
    expect = float(oracle.subs({X: 1.5, Y: 2.0}))
    print(f"  at (1.5, 2): {at:.12f} (sympy: {expect:.12f})")
    assert math.isclose(at, expect, rel_tol=1e-13)
    third = sg.derivative(lambda x, y: x**3 * y**2 * sg.sin(y), 3, argnums=(0, 1))
    tensor = np.array(third(1.5, 2.0))
    print("  the full third-derivative tensor has shape", tensor.shape, "and the entry [0, 0, 1] =", tensor[0, 0, 1])
    assert math.isclose(float(tensor[0, 0, 1]), expect, rel_tol=1e-13)
    assert tensor[0, 0, 1] == tensor[0, 1, 0] == tensor[1, 0, 0]


def n19() -> None:
    section("N19  d^2/dx^2 (3x^2 + 15) = 6;  d^3/dx^3 (x-3)(x-6)(x-4) = 6")
    x = sg.symbols("x")
    second, third = sg.diff(3 * x**2 + 15, x, 2), sg.diff((x - 3) * (x - 6) * (x - 4), x, 3)
    print("  ", second, "and", third)
    assert second == 6 and third == 6


if __name__ == "__main__":
    hessian()
    eighth_derivative()
    mixed_partial()
    n19()
    print("\nall checks passed")
