"""Second derivatives of a fractional power of a vanishing base are finite on every path (Taylor mode divides by no base)."""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad as sg


@pytest.mark.parametrize(
    "make", [lambda x, y: (x**2) ** 2.5, lambda x, y: (x**2 + y**2) ** 2.5, lambda x, y: (x**2 + y**2) ** 2.25 * x]
)
def test_second_derivatives_of_a_fractional_power_of_a_vanishing_base_are_finite_on_every_path(make):
    """Taylor mode's series of a fractional power divide by nothing, as reverse mode's chain rule: no 0/0 at a zero base.

    ``(x**2)**2.5`` is |x|**5: its second derivative is 0 at 0, and so it must be on every path to it
    (sg.diff, the method, sg.hessian, sg.derivative), as sympy's limit and the nested reverse sweeps say.
    """
    x, y = sg.symbols("x y")
    e = make(x, y)
    sx, sy = sp.symbols("x y", real=True)
    want = sp.diff(make(sx, sy), sx, 2)
    for p in [(0.0, 0.0), (0.7, -0.3), (-1.2, 0.0)]:
        expected = (
            float(sp.limit(want.subs(sy, p[1]), sx, p[0]))
            if p == (0.0, 0.0)
            else float(want.subs({sx: p[0], sy: p[1]}))
        )
        for d in (sg.diff(e, x, 2), e.diff(x, 2), sg.diff(sg.diff(e, x), x)):
            assert float(sg.lambdify([x, y], d)(*p)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert float(sg.hessian(lambda a, b: make(a, b))(*p)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert float(sg.derivative(lambda a, b: make(a, b), 2)(*p)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
