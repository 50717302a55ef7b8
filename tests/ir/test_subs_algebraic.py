"""``subs`` of a sum or product inside larger sums and products, as sympy's algebraic ``subs``."""

from __future__ import annotations

import sympy as sp

import symgrad as sg

OURS = sg.symbols("a b c d x y z w")
THEIRS = sp.symbols("a b c d x y z w")

# (expression, old, new), each built with m (symgrad or sympy)
CASES = [
    lambda a, b, c, d, x, y, z, w, m: (a + b + c, a + b, d),  # c + d
    lambda a, b, c, d, x, y, z, w, m: (a + b + c + d, -b - c, x),  # a + d - x
    lambda a, b, c, d, x, y, z, w, m: (a + 2, a + 3, y),  # y - 1
    lambda a, b, c, d, x, y, z, w, m: (a + 2, -a - 3, y),  # -y - 1
    lambda a, b, c, d, x, y, z, w, m: (m.sin(x + y) + x + y, x + y, z),  # z + sin(z)
    lambda a, b, c, d, x, y, z, w, m: (x * y * z, x * y, 2),  # 2*z
    lambda a, b, c, d, x, y, z, w, m: (2 * x * y * z, x * y, w),
    lambda a, b, c, d, x, y, z, w, m: (x * y * z, 2 * x * y, w),  # unchanged: old's number is not node's
    lambda a, b, c, d, x, y, z, w, m: (x**2 * y, x * y, z),  # x*z
    lambda a, b, c, d, x, y, z, w, m: (x**4, x**2, y),  # y**2
    lambda a, b, c, d, x, y, z, w, m: (x**3, x**2, y),  # unchanged
    lambda a, b, c, d, x, y, z, w, m: (x**-2, x**2, y),  # 1/y
    lambda a, b, c, d, x, y, z, w, m: (2 * a + 2 * b + c, a + b, d),  # unchanged: terms match exactly or not at all
    lambda a, b, c, d, x, y, z, w, m: ((a + b) ** 2 + a + b, a + b, d),  # d**2 + d
    lambda a, b, c, d, x, y, z, w, m: ((x * y) ** 2 * z, x * y, w),  # w**2*z
    lambda a, b, c, d, x, y, z, w, m: (3 * x * y, 3 * x, w),
    lambda a, b, c, d, x, y, z, w, m: (a + 2 * b + c, a + 2 * b, d),
    lambda a, b, c, d, x, y, z, w, m: (x + y, -x - y, z),  # -z
    lambda a, b, c, d, x, y, z, w, m: (m.exp(x * y * z) + x * y, x * y, w),
    lambda a, b, c, d, x, y, z, w, m: (-(c**6) * y, -c, w),  # -w**6*y: c is -w
    lambda a, b, c, d, x, y, z, w, m: (-c / d**2, -d, w),  # -c/w**2
    lambda a, b, c, d, x, y, z, w, m: (-(x**2) * y**2, -x * y, w),  # -w**2
    lambda a, b, c, d, x, y, z, w, m: (2 * x**2, 2 * x, w),  # w*x: 2*x goes in once
    lambda a, b, c, d, x, y, z, w, m: (3 * x**4, 3 * x**2, w),  # w*x**2
    lambda a, b, c, d, x, y, z, w, m: (-2 / x**2, -2 * x, w),  # unchanged
    lambda a, b, c, d, x, y, z, w, m: (1 / (x * y), x * y, z),  # 1/z
    lambda a, b, c, d, x, y, z, w, m: (x**-2 * y**-3, x * y, z),  # 1/(y*z**2)
    lambda a, b, c, d, x, y, z, w, m: (y**2 / x, x * y, z),  # unchanged: the exponents differ in sign
]


def test_sums_and_products_are_replaced_where_sympy_replaces_them():
    for case in CASES:
        e, old, new = case(*OURS, sg)
        e_sp, old_sp, new_sp = case(*THEIRS, sp)
        assert str(e.subs(old, new)) == str(e_sp.subs(old_sp, new_sp))


def test_values_agree_after_an_algebraic_substitution():
    a, b, c, d, x, y, _, w = OURS
    e = (a + b + c) * sg.exp(a + b) + x**2 * y
    out = e.subs({a + b: d, x * y: w})
    f = sg.lambdify([c, d, x, w], out)
    assert abs(f(0.5, 0.25, 2.0, 3.0) - ((0.5 + 0.25) * 2.718281828459045**0.25 + 2.0 * 3.0)) < 1e-12


def test_a_product_key_with_a_number_keeps_the_value():
    """e.subs(old, w) with w := old's value is e: the number of old comes out as often as old goes in."""
    _, _, c, d, x, y, _, w = OURS
    for e, old in [
        (-(c**6) * y, -c),
        (-c / d**2, -d),
        (2 * x**2, 2 * x),
        (3 * x**4 * y, 3 * x**2),
        (-(x**3), -x),
        (-(x**-2) * y**-3, -x * y),
    ]:
        out = e.subs(old, w)
        f, g, v = sg.lambdify([c, d, x, y, w], out), sg.lambdify([c, d, x, y], e), sg.lambdify([c, d, x, y], old)
        point = (0.7, 1.3, 1.9, 0.6)
        assert abs(f(*point, v(*point)) - g(*point)) < 1e-12, (e, old, out)


def test_a_product_holding_a_base_twice_keeps_both_factors():
    """sqrt(x)*x**(3/2) stays two factors of x (x**2 would be defined at x < 0): replacing another factor keeps both."""
    *_, x, y, _, w = OURS
    e = sg.sqrt(x) * x ** sg.parse_formula("3/2").value * y**2
    for old in [y**2, x * y, sg.sqrt(x), x ** sg.parse_formula("3/2").value]:
        out = e.subs(old, w)
        f, g, v = sg.lambdify([x, y, w], out), sg.lambdify([x, y], e), sg.lambdify([x, y], old)
        for point in [(0.7, 1.3), (1.9, -0.6), (2.5, 0.4)]:
            assert abs(f(*point, v(*point)) - g(*point)) < 1e-12, (old, out)
