"""The exercise checker catching the course notes' own slips (N2', N8', N10).

Run:  python examples/exercise_checker.py

A checker that only says "wrong" teaches little; symgrad's says what the right
derivative is, how the claim differs, and at which point they disagree.  The
notes contain three real slips, and each is caught here; the right versions
pass.  The script asserts every verdict, so a checker that missed a slip (or
flagged a right answer) makes it fail.
"""

from __future__ import annotations

import textwrap

import numpy as np

import symgrad as sg


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def show(report, expect_right: bool) -> None:
    """Print the checker's explanation and insist on its verdict."""
    print(textwrap.indent(str(report), "  "))
    assert bool(report) is expect_right, f"the checker should say {'right' if expect_right else 'wrong'}"


def n2_prime() -> None:
    section("N2'  the notes write Q = 3*a**3 * b**2 but keep dQ/db = -2*b")
    a, b = sg.symbols("a b")
    report = sg.check(3 * a**3 * b**2, -2 * b, wrt=b, at={"a": 2.0, "b": 6.0})
    show(report, expect_right=False)
    (component,) = report.components
    assert component.correct_text == "6*a**3*b"
    assert float(component.correct_value) == 6 * 2.0**3 * 6.0 == 288.0
    print("  ...and the claim is right for the function the notes meant, Q = 3*a**3 - b**2:")
    show(sg.check(3 * a**3 - b**2, -2 * b, wrt=b), expect_right=True)


def n8_prime() -> None:
    section("N8'  L = (z1 + z2)/3, yet the notes conclude dL/dx = (6, 8)")

    def loss_third(x):
        z = 2 * (x + 2) ** 2
        return (z[0] + z[1]) / 3

    def loss_mean(x):
        return sg.mean(2 * (x + 2) ** 2)

    x0 = np.array([1.0, 2.0])
    report = sg.check(loss_third, np.array([6.0, 8.0]), wrt="x", at={"x": x0})
    show(report, expect_right=False)
    np.testing.assert_allclose(report.components[0].correct_value, 4 * (x0 + 2) / 3)  # (4, 16/3)
    print("  ...(6, 8) is the gradient of the mean:")
    show(sg.check(loss_mean, np.array([6.0, 8.0]), wrt="x", at={"x": x0}), expect_right=True)


def n10() -> None:
    section("N10  dL/dW of L = (y - (W*x + b))**2: the notes write 2*(y - (W*x + b))*W*x")
    W, b, x, y = sg.symbols("W b x y")
    L = (y - (W * x + b)) ** 2
    report = sg.check(L, 2 * (y - (W * x + b)) * W * x, wrt=W)
    show(report, expect_right=False)
    print("  ...the right one, -2*(y - (W*x + b))*x, and dL/db = -2*(y - (W*x + b)):")
    right = sg.check(L, {"W": -2 * (y - (W * x + b)) * x, "b": -2 * (y - (W * x + b))})
    show(right, expect_right=True)
    assert [c.variable for c in right.components] == ["W", "b"]


def formulas_as_text() -> None:
    section("Claims typed as text (what `symgrad check` on the command line does)")
    report = sg.check("x1**3 + x2**2 + 4*x1*x2 + 5", {"x1": "3*x1**2 + 4*x2", "x2": "2*x2 + 4*x1"})
    show(report, expect_right=True)
    report = sg.check("x1**3 + x2**2 + 4*x1*x2 + 5", "3*x1**2", wrt="x1", at={"x1": 3, "x2": 4})
    show(report, expect_right=False)
    assert float(report.components[0].correct_value) == 43.0


if __name__ == "__main__":
    n2_prime()
    n8_prime()
    n10()
    formulas_as_text()
    print("\nall checks passed")
