"""The partial-derivative exercises of the course notes (N5, N6, N7).

Run:  python examples/partial_derivatives.py

For each exercise: the formulas symgrad derives, their values at the notes'
point, and two independent checks — the notes' hand-derived formulas evaluated
in plain Python, and central finite differences — so a wrong result makes the
script fail.
"""

from __future__ import annotations

import math

import numpy as np

import symgrad as sg


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def central_difference(f, point: list[float], i: int, h: float = 1e-6) -> float:
    """(f(p + h e_i) - f(p - h e_i)) / 2h: a check that knows nothing of symgrad."""
    up, down = list(point), list(point)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


def report(names: list[str], formulas, values, hand: list[float], fn, point: list[float]) -> None:
    """Print each partial derivative and check it against the hand value and finite differences."""
    for i, (name, formula, value) in enumerate(zip(names, formulas, values)):
        fd = central_difference(fn, point, i)
        print(f"  d/d{name} = {formula!s:28} = {value:g}   (notes: {hand[i]:g}, finite difference: {fd:.6f})")
        assert value == hand[i], (name, value, hand[i])
        assert math.isclose(value, fd, rel_tol=1e-6, abs_tol=1e-6), (name, value, fd)


def n5() -> None:
    section("N5  y = 3*x**2 + 15 at x = 3")

    def y(x):
        return 3 * x**2 + 15

    x = sg.symbols("x")
    dy = sg.diff(y(x), x)
    value = sg.grad(y)(3.0)
    report(["x"], [dy], [value], [6 * 3.0], y, [3.0])


def n6() -> None:
    section("N6  y = x1**3 + x2**2 + 4*x1*x2 + 5 at (3, 4)")

    def y(x1, x2):
        return x1**3 + x2**2 + 4 * x1 * x2 + 5

    g = sg.grad(y, argnums=(0, 1))
    x1, x2 = 3.0, 4.0
    report(["x1", "x2"], g.outputs, g(x1, x2), [3 * x1**2 + 4 * x2, 2 * x2 + 4 * x1], y, [x1, x2])
    H = np.array(sg.hessian(y, argnums=(0, 1))(x1, x2))
    print("  Hessian [[6*x1, 4], [4, 2]] at (3, 4):\n", H)
    np.testing.assert_array_equal(H, [[6 * x1, 4.0], [4.0, 2.0]])


def n7() -> None:
    section("N7  z = 3*x**5 + 2*u**2*k*x + l*x + l at x=2, u=4, k=3, l=1")

    def z(x, u, k, l):
        return 3 * x**5 + 2 * u**2 * k * x + l * x + l

    g = sg.grad(z, argnums=(0, 1, 2, 3))
    x, u, k, l = 2.0, 4.0, 3.0, 1.0
    hand = [15 * x**4 + 2 * u**2 * k + l, 4 * u * k * x, 2 * u**2 * x, x + 1]  # 337, 96, 64, 3
    report(["x", "u", "k", "l"], g.outputs, g(x, u, k, l), hand, z, [x, u, k, l])

    xs, us, ks, ls = sg.symbols("x u k l")
    grads = sg.gradient(z(xs, us, ks, ls), [xs, us, ks, ls])
    batch = sg.compile(grads, inputs=[xs, us, ks, ls])(np.array([2.0, 1.0]), 4.0, 3.0, 1.0)
    print("  the same gradient at x = 2 and x = 1 in one batched call (a row per point):\n", batch)
    np.testing.assert_array_equal(batch[0], hand)
    np.testing.assert_array_equal(batch[1], [15 + 2 * u**2 * k + l, 4 * u * k, 2 * u**2, 2])


if __name__ == "__main__":
    n5()
    n6()
    n7()
    print("\nall checks passed")
